"""Reference `mqueue`: POSIX message queues with priorities (contract section 3).

    mqueue send NAME PRIORITY [--nowait] [--max-messages M] [--message-size S]
    mqueue recv NAME [--nowait]                  one message -> `PRIORITY LENGTH` + body
    mqueue unlink NAME                           remove the queue's name

The kernel keeps the messages (mq_overview(7), mq_open(3), mq_send(3), mq_receive(3)): the
sender does not wait for a receiver and a message outlives its sender. mq_receive always takes
the oldest message of the highest priority. A full queue (mq_maxmsg messages) puts mq_send to
sleep, an empty one puts mq_receive to sleep, unless the queue is opened O_NONBLOCK.
"""

import sys

import posix_ipc

#: Priorities run from 0 to MQ_PRIO_MAX - 1 (32767 on Linux).
PRIORITY_MAX = 32767
DEFAULT_MESSAGES = 10
DEFAULT_SIZE = 8192


class Usage(Exception):
    """The command line is wrong: exit 2."""


def fail(message, code=1):
    sys.stderr.write(f"mqueue: {message}\n")
    sys.stderr.flush()
    return code


def parse(args, flags, valued):
    """Split ARGS into positional words and options; FLAGS take no value, VALUED take one.

    A word like `-1` is positional (a priority out of range is an error, not an option).
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
            try:
                options[arg] = int(args[i + 1], 10)
            except ValueError:
                raise Usage(f"{arg} takes a number, not {args[i + 1]!r}") from None
            i += 1
        elif arg.startswith("--"):
            raise Usage(f"unknown option {arg}")
        else:
            words.append(arg)
        i += 1
    return words, options


def check_name(name):
    if not name.startswith("/") or "/" in name[1:] or len(name) < 2:
        raise Usage(f"NAME must be one slash and a name, like /queue, not {name!r}")
    return name


def send(args):
    words, options = parse(args, {"--nowait"}, {"--max-messages", "--message-size"})
    if len(words) != 2:
        raise Usage("send NAME PRIORITY [--nowait] [--max-messages M] [--message-size S]")
    name = check_name(words[0])
    try:
        priority = int(words[1], 10)
    except ValueError:
        priority = -1
    if not 0 <= priority <= PRIORITY_MAX:
        return fail(f"PRIORITY must be 0 to {PRIORITY_MAX}, not {words[1]!r}; nothing sent")
    body = sys.stdin.buffer.read()
    try:
        # mq_open(name, O_CREAT | O_WRONLY, 0600, attr): the attributes apply only to a new queue
        queue = posix_ipc.MessageQueue(
            name,
            posix_ipc.O_CREAT,
            mode=0o600,
            max_messages=options.get("--max-messages", DEFAULT_MESSAGES),
            max_message_size=options.get("--message-size", DEFAULT_SIZE),
            read=False,
        )
    except (ValueError, posix_ipc.Error) as exc:
        return fail(f"cannot open or create {name}: {exc}")
    try:
        if len(body) > queue.max_message_size:  # mq_send would fail with EMSGSIZE
            return fail(f"message too long: {len(body)} bytes, the queue takes {queue.max_message_size}", 4)
        try:
            # mq_send sleeps while the queue is full; a zero timeout fails at once instead
            queue.send(body, timeout=0 if options.get("--nowait") else None, priority=priority)
        except posix_ipc.BusyError:
            return fail("the queue is full (--nowait)", 3)
    finally:
        queue.close()
    return 0


def recv(args):
    words, options = parse(args, {"--nowait"}, set())
    if len(words) != 1:
        raise Usage("recv NAME [--nowait]")
    name = check_name(words[0])
    try:
        queue = posix_ipc.MessageQueue(name, 0, write=False)  # mq_open(name, O_RDONLY)
    except posix_ipc.ExistentialError:
        return fail(f"no such queue {name}")
    try:
        body, priority = queue.receive(timeout=0 if options.get("--nowait") else None)
    except posix_ipc.BusyError:
        return fail("the queue is empty (--nowait)", 3)
    finally:
        queue.close()
    out = sys.stdout.buffer
    out.write(f"{priority} {len(body)}\n".encode() + body)
    out.flush()
    return 0


def unlink(args):
    words, _ = parse(args, set(), set())
    if len(words) != 1:
        raise Usage("unlink NAME")
    name = check_name(words[0])
    try:
        posix_ipc.unlink_message_queue(name)  # mq_unlink
    except posix_ipc.ExistentialError:
        return fail(f"no such queue {name}")
    return 0


def main(argv):
    roles = {"send": send, "recv": recv, "unlink": unlink}
    try:
        if not argv or argv[0] not in roles:
            raise Usage("send NAME PRIORITY | recv NAME | unlink NAME")
        return roles[argv[0]](argv[1:])
    except Usage as exc:
        return fail(f"usage: mqueue {exc}", 2)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
