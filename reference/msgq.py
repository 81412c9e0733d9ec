"""Reference `msgq`: System V message queues with typed messages (contract section 3).

    msgq send KEY TYPE [--nowait]                              stdin -> one message of TYPE
    msgq recv KEY TYPE [--nowait] [--max-bytes N] [--truncate] one message -> `TYPE LENGTH` + body
    msgq rm KEY                                                remove the queue

The kernel keeps the messages (msgget(2), msgsnd(2), msgrcv(2), msgctl(2), sysvipc(7)): the
sender does not wait for a receiver, a message outlives the process that sent it, and msgrcv
chooses by type. TYPE 0 takes the oldest message; TYPE > 0 the oldest message of exactly that
type; TYPE < 0 the oldest message of the lowest type that is at most |TYPE|. Within one type
the order is first in, first out. A full queue (msg_qbytes bytes queued) puts msgsnd to sleep,
an empty one puts msgrcv to sleep, unless IPC_NOWAIT.
"""

import errno
import sys

import sysv_ipc

#: The largest message a sender accepts (the contract's limit; Linux's default MSGMAX too).
MAX_MESSAGE = 8192


class Usage(Exception):
    """The command line is wrong: exit 2."""


def fail(message, code=1):
    sys.stderr.write(f"msgq: {message}\n")
    sys.stderr.flush()
    return code


def parse(args, flags, valued):
    """Split ARGS into positional words and options; FLAGS take no value, VALUED take one.

    A word like `-3` is positional: a negative TYPE is a value, not an option.
    """
    words, options = [], {}
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in flags:
            options[arg] = True
        elif arg in valued:
            if i + 1 == len(args):
                raise Usage(f"{arg} needs a value")
            options[arg] = args[i + 1]
            i += 1
        elif arg.startswith("--"):
            raise Usage(f"unknown option {arg}")
        else:
            words.append(arg)
        i += 1
    return words, options


def parse_key(word):
    try:
        key = int(word, 10)
    except ValueError:
        raise Usage(f"KEY must be a decimal number, not {word!r}") from None
    if key == sysv_ipc.IPC_PRIVATE or not sysv_ipc.KEY_MIN <= key <= sysv_ipc.KEY_MAX:
        raise Usage(f"KEY {key} is not a usable System V key")
    return key


def msgmax():
    """The kernel's largest message (MSGMAX) in this IPC namespace."""
    try:
        with open("/proc/sys/kernel/msgmax") as f:
            return max(int(f.read()), MAX_MESSAGE)
    except (OSError, ValueError):
        return 1 << 16


def send(args):
    words, options = parse(args, {"--nowait"}, set())
    if len(words) != 2:
        raise Usage("send KEY TYPE [--nowait]")
    key = parse_key(words[0])
    try:
        mtype = int(words[1], 10)
    except ValueError:
        mtype = 0
    if mtype <= 0 or mtype >= 1 << 63:  # mtype is a C long and must be > 0
        return fail(f"TYPE must be a positive integer, not {words[1]!r}; nothing sent")
    body = sys.stdin.buffer.read(MAX_MESSAGE + 1)
    if len(body) > MAX_MESSAGE:
        return fail(f"message too long: more than {MAX_MESSAGE} bytes; nothing sent", 4)
    # msgget(key, IPC_CREAT | 0600): the existing queue with KEY, or a new one
    queue = sysv_ipc.MessageQueue(key, sysv_ipc.IPC_CREAT, mode=0o600, max_message_size=MAX_MESSAGE)
    try:
        # msgsnd sleeps while the queue is full; IPC_NOWAIT makes it fail with EAGAIN instead
        queue.send(body, block=not options.get("--nowait", False), type=mtype)
    except sysv_ipc.BusyError:
        return fail("the queue is full (--nowait)", 3)
    except sysv_ipc.ExistentialError:
        return fail("the queue was removed while sending")
    return 0


def recv(args):
    words, options = parse(args, {"--nowait", "--truncate"}, {"--max-bytes"})
    if len(words) != 2:
        raise Usage("recv KEY TYPE [--nowait] [--max-bytes N] [--truncate]")
    key = parse_key(words[0])
    try:
        mtype = int(words[1], 10)
    except ValueError:
        raise Usage(f"TYPE must be an integer, not {words[1]!r}") from None
    try:
        limit = int(options.get("--max-bytes", str(MAX_MESSAGE)), 10)
    except ValueError:
        raise Usage("--max-bytes takes a number of bytes") from None
    if limit < 1:
        raise Usage("--max-bytes must be at least 1")
    truncate = options.get("--truncate", False)
    # Without --truncate, msgrcv gets a buffer of LIMIT bytes: a longer message fails with
    # E2BIG and stays queued. sysv_ipc has no MSG_NOERROR, so for --truncate the buffer holds
    # any message (MSGMAX) and only its first LIMIT bytes are printed: the rest is discarded,
    # as MSG_NOERROR would.
    size = max(limit, msgmax()) if truncate else limit
    try:
        queue = sysv_ipc.MessageQueue(key, 0, max_message_size=size)  # msgget(key, 0)
    except sysv_ipc.ExistentialError:
        return fail(f"no such queue with key {key}")
    try:
        body, got = queue.receive(block=not options.get("--nowait", False), type=mtype)
    except sysv_ipc.BusyError:
        return fail(f"no message of type {mtype} (--nowait)", 3)
    except sysv_ipc.ExistentialError:  # EIDRM: removed while we slept in msgrcv
        return fail("the queue was removed while waiting")
    except OSError as exc:
        if exc.errno == errno.E2BIG:  # longer than LIMIT: the kernel leaves it in the queue
            return fail(f"message too long: more than {limit} bytes; it stays in the queue", 4)
        raise
    body = body[:limit]
    out = sys.stdout.buffer
    out.write(f"{got} {len(body)}\n".encode() + body)
    out.flush()
    return 0


def rm(args):
    words, _ = parse(args, set(), set())
    if len(words) != 1:
        raise Usage("rm KEY")
    key = parse_key(words[0])
    try:
        sysv_ipc.MessageQueue(key, 0).remove()  # msgctl(IPC_RMID)
    except sysv_ipc.ExistentialError:
        return fail(f"no such queue with key {key}")
    return 0


def main(argv):
    roles = {"send": send, "recv": recv, "rm": rm}
    try:
        if not argv or argv[0] not in roles:
            raise Usage("send KEY TYPE | recv KEY TYPE | rm KEY")
        return roles[argv[0]](argv[1:])
    except Usage as exc:
        return fail(f"usage: msgq {exc}", 2)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
