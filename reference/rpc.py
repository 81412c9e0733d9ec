"""Reference `rpc`: remote procedure calls over TCP, at most once (contract section 3.9).

    rpc server [--host H] [--port P]                 prints `listening PORT`; add, echo, sleep, count
    rpc client HOST PORT [--timeout MS] [--id N]     one call per stdin line, one result line per call

A request is a record: a 4-byte LENGTH, a 4-byte ID and the BODY (`NAME ARGUMENT`); a reply is
LENGTH, the request's ID, a STATUS byte and the result. Every integer is big-endian.

The seeds name RPC beside pipes and sockets as a way of message passing; what makes it more than
a socket is what a textbook teaches with it:

- At most once: a client that got no reply may send the same request again, so the server keeps
  the reply to each request id of a connection and answers a retry from it, never executing the
  call twice (the `count` procedure shows the difference).
- A remote call may never return: the client waits for each reply at most `--timeout` ms, and a
  connection the server closed is an error at once, not a wait.
- Calls are asynchronous messages: the client sends each call as soon as it reads it and matches
  replies to calls by id, whatever order they come back in; it prints results in call order.
- One connection per thread on the server, so a slow call holds up no other client.
- TCP is a stream: records are framed by their length and read whole (recv loops), never
  assumed to arrive in one recv(2) or one at a time.
"""

import collections
import os
import re
import select
import signal
import socket
import struct
import sys
import threading
import time

#: Records: LENGTH (of what follows it) and ID, big-endian; a reply adds a STATUS byte.
HEADER = struct.Struct("!II")
STATUS = struct.Struct("!B")
MAX_LENGTH = 1 << 20
OK, NO_SUCH_PROCEDURE, BAD_ARGUMENTS = 0, 1, 2
#: The contract's minimum: replies remembered per connection, for retries.
REMEMBERED = 256
BACKLOG = 128
CHUNK = 1 << 16
DEFAULT_TIMEOUT_MS = 5000
MAX_SLEEP_MS = 60000
INT64 = (-(1 << 63), (1 << 63) - 1)
INTEGER = re.compile(rb"-?[0-9]{1,19}")
#: The client's exit statuses (contract section 2): an error reply, no reply in time.
EXIT_TOO_LONG = 4
EXIT_ERROR_REPLY = 5
EXIT_TIMEOUT = 6
#: The longest stdin line a request can carry (LENGTH counts the ID's 4 bytes too), and the most
#: of an unknown procedure's name its error message repeats (contract 2.1).
MAX_BODY = MAX_LENGTH - 4
MAX_NAME_SHOWN = 1024


class Failure(Exception):
    """An error the program reports with a one-line reason on stderr and exit status 1."""

    def __init__(self, message, code=1):
        super().__init__(message)
        self.code = code


def fail(message, code=1):
    sys.stderr.write(f"rpc: {message}\n")
    sys.stderr.flush()
    return code


def write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def record(request_id, payload):
    """A record: LENGTH, ID, then PAYLOAD (a request's body, or a reply's status and result)."""
    return HEADER.pack(4 + len(payload), request_id) + payload


def take_record(buffer, minimum):
    """The first whole record in BUFFER (a bytearray), removed from it: (id, payload), or None
    while it has not all arrived. A length outside the contract's bounds is a protocol error."""
    if len(buffer) < 4:
        return None
    length = struct.unpack_from("!I", buffer)[0]
    if not minimum <= length <= MAX_LENGTH:
        raise Failure(f"protocol error: a record of length {length}")
    if len(buffer) < 4 + length:
        return None
    request_id = struct.unpack_from("!I", buffer, 4)[0]
    payload = bytes(buffer[8 : 4 + length])
    del buffer[: 4 + length]
    return request_id, payload


# --- the procedures -----------------------------------------------------------------------

counter = 0
counter_lock = threading.Lock()


def integer(text):
    if not INTEGER.fullmatch(text):
        return None
    value = int(text)
    return value if INT64[0] <= value <= INT64[1] else None


def add(argument):
    parts = argument.split(b" ") if argument is not None else []
    numbers = [integer(p) for p in parts]
    if len(numbers) != 2 or None in numbers or not INT64[0] <= sum(numbers) <= INT64[1]:
        return BAD_ARGUMENTS, b"bad arguments: add takes two 64-bit integers A B"
    return OK, b"%d" % sum(numbers)


def echo(argument):
    return OK, argument or b""


def sleep(argument):
    ms = integer(argument or b"")
    if ms is None or not 0 <= ms <= MAX_SLEEP_MS:
        return BAD_ARGUMENTS, b"bad arguments: sleep takes MS from 0 to 60000"
    time.sleep(ms / 1000)  # this connection's thread only: other clients go on meanwhile
    return OK, b"%d" % ms


def count(argument):
    global counter
    if argument:
        return BAD_ARGUMENTS, b"bad arguments: count takes none"
    with counter_lock:  # every connection's thread updates the one counter
        counter += 1
        return OK, b"%d" % counter


PROCEDURES = {b"add": add, b"echo": echo, b"sleep": sleep, b"count": count}


def execute(body):
    """(status, result) of the call BODY: `NAME` or `NAME ARGUMENT`."""
    name, space, argument = body.partition(b" ")
    procedure = PROCEDURES.get(name)
    if procedure is None:
        return NO_SUCH_PROCEDURE, b"no such procedure " + name[:MAX_NAME_SHOWN]
    return procedure(argument if space else None)


# --- the server ---------------------------------------------------------------------------


def serve(conn):
    """One client's connection: its requests in order, each answered once, retries from memory."""
    replies = collections.OrderedDict()  # request id -> the reply sent, for retries
    buffer = bytearray()
    with conn:  # closed when the client closes it, or breaks the protocol
        try:
            while True:
                data = conn.recv(CHUNK)
                if not data:
                    return
                buffer += data
                while (request := take_record(buffer, 4)) is not None:
                    request_id, body = request
                    reply = replies.get(request_id)
                    if reply is None:  # a new request: execute it, once
                        status, result = execute(body)
                        reply = record(request_id, STATUS.pack(status) + result)
                        replies[request_id] = reply
                        if len(replies) > REMEMBERED:
                            replies.popitem(last=False)
                    conn.sendall(reply)  # a retry gets the first reply again, byte for byte
        except (OSError, Failure):
            pass  # the client reset the connection or broke the protocol: drop it


def exit_on_signals():
    """SIGTERM (and SIGINT, SIGHUP) end the server with status 0, calls in progress or not."""

    def stop(signum, frame):
        raise SystemExit(0)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, stop)


def server(host, port):
    try:
        family, _, _, _, sockaddr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    except socket.gaierror as exc:
        raise Failure(f"cannot resolve {host}: {exc.strerror}") from None
    with socket.socket(family, socket.SOCK_STREAM) as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind(sockaddr)
        except OSError as exc:
            raise Failure(f"cannot bind {host}:{port}: {exc.strerror}") from None
        listener.listen(BACKLOG)
        print(f"listening {listener.getsockname()[1]}", flush=True)
        while True:
            conn, _ = listener.accept()
            threading.Thread(target=serve, args=(conn,), daemon=True).start()


# --- the client ---------------------------------------------------------------------------


class Call:
    __slots__ = ("id", "deadline", "reply")

    def __init__(self, call_id, deadline):
        self.id, self.deadline, self.reply = call_id, deadline, None


def client(host, port, timeout_ms, first_id):
    """Send each stdin line as a call at once; print the replies in call order, matched by id.

    One thread, one poll(2) on stdin and the socket, with the nearest reply deadline as its
    timeout: the client sleeps in the kernel until a line, a reply or a deadline comes.
    """
    try:
        family, _, _, _, sockaddr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        raise Failure(f"cannot resolve {host}: {exc.strerror}") from None
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.connect(sockaddr)
    except ConnectionRefusedError:
        raise Failure(f"connection refused by {host}:{port}") from None
    except OSError as exc:
        raise Failure(f"cannot connect to {host}:{port}: {exc.strerror}") from None
    with sock:
        calls = collections.deque()  # in call order; the head is the next to print
        waiting = {}  # id -> Call, for the calls with no reply yet
        lines = bytearray()
        next_id = first_id
        stdin_open = True
        replies = bytearray()
        errors = 0
        too_long = False
        poller = select.poll()
        poller.register(0, select.POLLIN)
        poller.register(sock.fileno(), select.POLLIN)
        while (stdin_open or waiting) and not too_long:
            now = time.monotonic()
            nearest = min((c.deadline for c in waiting.values()), default=None)
            if nearest is not None and nearest <= now:
                late = min(waiting.values(), key=lambda c: c.deadline)
                raise Failure(f"timeout: no reply to call {late.id} within {timeout_ms} ms", EXIT_TIMEOUT)
            wait_ms = None if nearest is None else max(1, int((nearest - now) * 1000) + 1)
            for fd, _ in poller.poll(wait_ms):
                if fd == 0:
                    data = os.read(0, CHUNK)
                    if not data:
                        stdin_open = False
                        poller.unregister(0)
                        if lines:  # a last line without its newline is a call too
                            lines += b"\n"
                    lines += data
                    while (end := lines.find(b"\n")) >= 0 and end <= MAX_BODY:
                        body = bytes(lines[:end])
                        del lines[: end + 1]
                        call = Call(next_id, time.monotonic() + timeout_ms / 1000)
                        calls.append(call)
                        waiting[call.id] = call
                        next_id = (next_id + 1) % (1 << 32)
                        try:
                            sock.sendall(record(call.id, body))  # at once: no waiting for earlier replies
                        except OSError:
                            raise Failure("connection closed by the server") from None
                    too_long = len(lines) > MAX_BODY  # a line no request can carry: none of it is sent
                else:
                    try:
                        data = sock.recv(CHUNK)
                    except OSError as exc:
                        raise Failure(f"connection closed by the server: {exc.strerror}") from None
                    if not data:  # the server has gone: no reply will ever come
                        raise Failure(f"connection closed by the server with {len(waiting)} call(s) unanswered")
                    replies += data
                    while (reply := take_record(replies, 5)) is not None:
                        reply_id, payload = reply
                        call = waiting.pop(reply_id, None)  # by id, not by arrival order
                        if call is not None:  # else a late duplicate: ignored
                            call.reply = payload
            while calls and calls[0].reply is not None:  # in call order, as soon as possible
                payload = calls.popleft().reply
                ok = payload[0] == OK
                errors += not ok
                write_all(1, (b"ok " if ok else b"error ") + payload[1:] + b"\n")
        if too_long:
            raise Failure("message too long", EXIT_TOO_LONG)
        return EXIT_ERROR_REPLY if errors else 0


# --- command line -------------------------------------------------------------------------

USAGE = "usage: rpc server [--host H] [--port P] | rpc client HOST PORT [--timeout MS] [--id N]"


class Usage(Exception):
    pass


def number(text, low, high, what):
    if not re.fullmatch(r"[0-9]{1,10}", text) or not low <= int(text) <= high:
        raise Usage(f"bad {what} {text!r}: expected {low} to {high}")
    return int(text)


def options(args, known):
    """The --options in ARGS (each with a value) and the positional words."""
    found, words = {}, []
    rest = list(args)
    while rest:
        word = rest.pop(0)
        if word.startswith("--"):
            if word not in known or not rest:
                raise Usage(f"unexpected {word!r}")
            found[word] = rest.pop(0)
        else:
            words.append(word)
    return found, words


def main(argv):
    # never die of SIGPIPE on a connection the peer closed: get EPIPE instead (contract section 2)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    role, args = (argv[0], argv[1:]) if argv else ("", [])
    try:
        if role == "server":
            found, words = options(args, ("--host", "--port"))
            if words:
                raise Usage(f"unexpected {words[0]!r}")
            exit_on_signals()
            return server(found.get("--host", "127.0.0.1"), number(found.get("--port", "0"), 0, 65535, "port"))
        if role == "client":
            found, words = options(args, ("--timeout", "--id"))
            if len(words) != 2:
                raise Usage("client takes HOST PORT")
            timeout_ms = number(found.get("--timeout", str(DEFAULT_TIMEOUT_MS)), 1, 3_600_000, "timeout")
            first_id = number(found.get("--id", "1"), 0, (1 << 32) - 1, "id")
            return client(words[0], number(words[1], 1, 65535, "port"), timeout_ms, first_id)
        raise Usage(f"unknown role {role!r}")
    except Usage as exc:
        return fail(f"{exc}\n{USAGE}", 2)
    except Failure as exc:
        return fail(str(exc), exc.code)
    except BrokenPipeError:
        return fail("broken pipe: stdout was closed")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
