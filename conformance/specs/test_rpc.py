"""Specs for `rpc server` and `rpc client`: remote procedure calls over TCP, at most once.

The seeds name RPC beside pipes and sockets as a way of message passing ("message passing 방식에는
pipe, socket, RPC 등이 있다"), and note that message passing may be synchronous or asynchronous.
What a textbook teaches with RPC is its hard part: the channel may lose or delay a reply, so a
client resends, and a resent request must be executed at most once; and a remote call may never
return, so a client must give up in time instead of hanging. socket(7), tcp(7), recv(2),
poll(2); the contract's section 3.9 has the wire format (records with a big-endian length and id).

The grader plays one side itself where it needs to control timing: its client resends an id,
holds a slow call open while others run, or splits a record across sends; its server answers
two calls in reverse order, never answers, or closes mid-call. Every port comes from the
server's `listening PORT` line or from the grader's own socket bound to port 0. Which side has
read what is the kernel's to say: a connection's receive queue in /proc/PID/net/tcp
(conformance.netstat), and whether the client sleeps in the kernel while it waits (settle).
"""

from __future__ import annotations

import contextlib
import select
import signal
import socket
import struct
import time

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from conformance import deadline
from conformance.deadline import Deadline
from conformance.outcomes import Sentence, SpecFailure, SpecTimeout, one_after_another
from conformance.spec import spec
from conformance.specs.support import (
    DEADLOCK_PERIOD,
    LOCALHOST,
    STALL_WINDOW,
    STALL_WINDOWS,
    NetSocket,
    asleep,
    first_difference,
    on_port,
    peers,
    poll_deadlock,
    settle,
    socket_table,
    spec_settings,
    threads_doing,
    wait_until,
)

#: Records (contract section 3.9): LENGTH of what follows it, then ID, both big-endian; a reply
#: adds a STATUS byte. A request has at least 4 bytes after LENGTH, a reply 5.
HEADER = struct.Struct("!II")
MAX_LENGTH = 1 << 20
OK, NO_SUCH_PROCEDURE, BAD_ARGUMENTS = 0, 1, 2
STATUS_NAMES = {OK: "ok", NO_SUCH_PROCEDURE: "no such procedure", BAD_ARGUMENTS: "bad arguments"}
#: The contract's client exit statuses: an error reply among the answers, no reply in time.
EXIT_ERROR_REPLY = 5
EXIT_TIMEOUT = 6
#: The longest `sleep` the contract allows: a call that stays in progress for the whole spec.
SLOW_MS = 60000
#: The client's --timeout in client-timeout, in ms, and the share of it a client must wait at
#: least (the grader measures from when its server got the request, a moment after it was sent).
#: These are the contract's numbers, not a step of the grader's, so they are not a preset.
CLIENT_TIMEOUT_MS = 1500
TIMEOUT_FLOOR = 0.7
#: Fast calls in concurrent-clients: this many clients, each making this many calls.
FAST_CLIENTS = 3
FAST_ROUNDS = 2
#: Under schedule control (docs/schedules.md): clients whose calls the server's threads take at
#: once, one thread at a time in the order the schedule chooses, and the budgets of schedules
#: (the calibration's, with its margin).
SCHEDULED_CLIENTS = 2
CONCURRENT_SCHEDULES = 24
RETRY_SCHEDULES = 24
#: Where a client waits for a reply (or, in a thread, for the thread that does): a receive, a
#: poll of its descriptors, or a condition variable.
RECV_CALLS = frozenset(
    {
        "recvfrom", "recvmsg", "recvmmsg", "read", "readv", "poll", "ppoll", "select",
        "pselect6", "epoll_wait", "epoll_pwait", "epoll_pwait2", "futex",
    }
)
WAITING_FIX = Sentence(
    "Wait for a reply in the kernel: a blocking recv(2), or poll(2)/select(2) with the time left "
    "until the nearest deadline as timeout; never a loop that tries again at once."
)


def _ms(seconds: float) -> int:
    """SECONDS, stretched like every deadline, as a client's --timeout in milliseconds."""
    return int(seconds * deadline.scale() * 1000)


# --- records -----------------------------------------------------------------------------


def request(request_id: int, body: bytes) -> bytes:
    return HEADER.pack(4 + len(body), request_id) + body


def reply(request_id: int, status: int, result: bytes) -> bytes:
    return HEADER.pack(5 + len(result), request_id) + bytes([status]) + result


def _hex(data: bytes, limit: int = 40) -> str:
    shown = data[:limit].hex(" ")
    if len(data) > limit:
        return Sentence("%(hex)s ... (%(count)s bytes)", hex=shown, count=len(data))
    return shown or Sentence("nothing")


def _length_note(raw: bytes) -> str:
    """What a LENGTH field that makes no sense probably is, for a message."""
    if len(raw) < 4:
        return ""
    big, little = struct.unpack("!I", raw[:4])[0], struct.unpack("<I", raw[:4])[0]
    if big > MAX_LENGTH and 0 < little <= MAX_LENGTH:
        return Sentence("Read little-endian it would be %(little)s: LENGTH and ID are big-endian (htonl, struct '!I').", little=little)
    return ""


def _noted(sentence: str, note: str) -> str:
    """SENTENCE, then NOTE (a _length_note, or "") after a space."""
    return one_after_another([sentence, note], " ") if note else sentence


def _describe_reply(payload: bytes) -> str:
    status = payload[0]
    name = STATUS_NAMES.get(status) or Sentence("not a status")
    return Sentence("status %(status)s (%(name)s), result %(result)s", status=status, name=name, result=repr(payload[1:]))


def _counted(count: int, one: str) -> str:
    """``1 request``, ``2 connections``, ``3 `count` calls``: ONE is "request", "connection" or "count"."""
    if one == "request":
        return Sentence("%(count)s request", count=count) if count == 1 else Sentence("%(count)s requests", count=count)
    if one == "count":
        return Sentence("%(count)s `count` call", count=count) if count == 1 else Sentence("%(count)s `count` calls", count=count)
    return Sentence("%(count)s connection", count=count) if count == 1 else Sentence("%(count)s connections", count=count)


def _connect_to(port: int) -> str:
    return Sentence("connect to the grader's server at port %(port)s", port=port)


def _calls_done(made) -> str:
    """``Calls, one per line: [...]``, cut at 600 characters."""
    calls, head = repr([c for c, _ in made]), len("Calls, one per line: ")
    if head + len(calls) + 1 <= 600:
        return Sentence("Calls, one per line: %(calls)s.", calls=calls)
    return Sentence("Calls, one per line: %(calls)s", calls=calls[: 600 - head])


class Conn:
    """The grader's end of one connection with PROC, read a whole record at a time."""

    def __init__(self, sock: socket.socket, proc, who: str) -> None:
        self.sock, self.proc, self.who = sock, proc, who
        self.buffer = bytearray()
        self.eof = False

    @property
    def port(self) -> int:
        return self.sock.getsockname()[1]

    def send(self, data: bytes) -> None:
        peers.send(self.sock, data, self.proc)

    def record(self, timeout: float | Deadline, minimum: int, stuck=None) -> tuple[int, bytes] | None:
        """The next whole record as (id, payload); None at EOF (``eof`` is then set) or at the
        deadline. STUCK, if given, is asked after each STALL_WINDOW without data; STALL_WINDOWS
        yeses in a row end the wait early: the kernel shows that nothing will come."""
        until = Deadline.of(timeout)
        still = 0
        while True:
            got = self._take(minimum)
            if got is not None:
                return got
            remaining = until.remaining()
            if self.eof or remaining <= 0:
                return None
            ready, _, _ = select.select([self.sock], [], [], min(remaining, STALL_WINDOW) if stuck else remaining)
            if not ready:
                still = still + 1 if stuck and stuck() else 0
                if still >= STALL_WINDOWS:
                    return None
                continue
            try:
                data = self.sock.recv(1 << 16)
            except OSError:
                data = b""  # reset: the peer has gone, which ends the stream too
            if not data:
                self.eof = True
            self.buffer += data

    def _take(self, minimum: int) -> tuple[int, bytes] | None:
        if len(self.buffer) < 4:
            return None
        length = struct.unpack_from("!I", self.buffer)[0]
        if not minimum <= length <= MAX_LENGTH:
            raise SpecFailure(
                Sentence("%(who)s sent a record whose LENGTH field reads %(length)s (bytes %(bytes)s).",
                         who=self.who, length=length, bytes=_hex(bytes(self.buffer[:12]))),
                expected=Sentence("a LENGTH from %(minimum)s to %(maximum)s: the number of bytes after it", minimum=minimum, maximum=MAX_LENGTH),
                fix=_length_note(bytes(self.buffer)),
                procs=[self.proc],
            )
        if len(self.buffer) < 4 + length:
            return None
        request_id = struct.unpack_from("!I", self.buffer, 4)[0]
        payload = bytes(self.buffer[8 : 4 + length])
        del self.buffer[: 4 + length]
        return request_id, payload

    def pending(self) -> bool:
        """Something has arrived that was not read yet (a reply the spec expects not to see)."""
        if self.buffer:
            return True
        ready, _, _ = select.select([self.sock], [], [], 0)
        return bool(ready)


@pytest.fixture
def grader_sockets():
    """The grader's own sockets for this spec, closed at its end even when it fails."""
    sockets = peers.GraderSockets()
    yield sockets
    sockets.close()


def _start_server(side):
    server = side.spawn("server")
    return server, peers.listening_port(server)


def _connect(grader_sockets, server, port: int) -> Conn:
    return Conn(grader_sockets.connect_tcp(port, who=server.label), server, server.label)


def _call(conn: Conn, request_id: int, body: bytes, doing: str) -> bytes:
    """The grader calls BODY with REQUEST_ID on CONN and returns the reply's payload, or fails."""
    conn.send(request(request_id, body))
    return _answer(conn, request_id, doing)


def _answer(conn: Conn, request_id: int, doing: str) -> bytes:
    """The payload of the next reply on CONN, which must carry REQUEST_ID."""
    got = conn.record(deadline.STEP, 5)
    if got is None:
        if conn.eof:
            raise SpecFailure(
                Sentence("%(done)s: %(who)s closed the connection instead of replying.", done=doing, who=conn.who),
                fix=Sentence("Answer every request with a reply record, an error reply included; close a "
                             "connection only when its client closes it."),
                procs=[conn.proc],
            )
        raise SpecFailure(
            Sentence("%(done)s: no reply from %(who)s within %(seconds)s s.", done=doing, who=conn.who, seconds=deadline.STEP),
            evidence=[Sentence("Your server: %(threads)s.", threads=threads_doing(conn.proc.pid))],
            procs=[conn.proc],
        )
    got_id, payload = got
    if got_id != request_id:
        raise SpecFailure(
            Sentence("%(done)s: the reply carries id %(id)s (%(reply)s).", done=doing, id=got_id, reply=_describe_reply(payload)),
            expected=Sentence("id %(id)s, the request's", id=request_id),
            procs=[conn.proc],
        )
    return payload


def _server_end(server, port: int, client_port: int) -> NetSocket | None:
    """The server's end of the connection from CLIENT_PORT, as the kernel lists it."""
    return next((s for s in on_port(port, pid=server.pid) if s.remote_port == client_port), None)


def _wait_read(server, port: int, conn: Conn, what: str, partial: bool = False) -> None:
    """Wait until SERVER has read everything CONN sent (its end's receive queue is empty); fail at
    once if it closes the connection instead (PARTIAL: what was sent is only part of a record)."""

    def consumed_or_closed():  # a closed end will read nothing more: no use waiting for it
        end = _server_end(server, port, conn.port)
        return end is None or end.state != "ESTABLISHED" or end.rx_queue == 0

    try:
        server.wait_for(consumed_or_closed, deadline.STEP, what)
        end = _server_end(server, port, conn.port)
        if end is None or end.state != "ESTABLISHED":
            closed = (
                Sentence("%(program)s closed the connection when it had been sent %(what)s, without a reply "
                         "(the kernel shows its end as %(state)s, at once).", program=server.label, what=what, state=end.state)
                if end
                else Sentence("%(program)s closed the connection when it had been sent %(what)s, without a reply "
                              "(the kernel lists its end no more).", program=server.label, what=what)
            )
            raise SpecFailure(
                one_after_another([closed, Sentence("TCP may deliver a record in several pieces.")], " ") if partial else closed,
                expected=Sentence("the server to wait for the rest of the record") if partial else Sentence("a reply on the same connection"),
                fix=Sentence("Keep what recv returned and call recv again until LENGTH and the whole record have come; "
                             "close a connection only when its client closes it.")
                if partial
                else Sentence("Answer every request with a reply; close a connection only when its client closes it."),
                procs=[server],
            )
    except SpecTimeout:
        end = _server_end(server, port, conn.port)
        raise SpecFailure(
            Sentence("%(program)s did not read %(what)s within %(seconds)s s.", program=server.label, what=what, seconds=deadline.STEP),
            evidence=[
                Sentence("the kernel shows its end of the connection as %(end)s", end=str(end)) if end else "",
                Sentence("Your server: %(threads)s.", threads=threads_doing(server.pid)),
            ],
            procs=[server],
        ) from None


def _client(side, port: int, *options: str):
    return side.spawn("client", LOCALHOST, str(port), *options)


def _accept(listener: socket.socket, client, grader_sockets, what: str) -> Conn:
    """The connection CLIENT makes to the grader's LISTENER (at once, if the kernel proves that
    it never will: every program of the spec asleep where nothing can wake it)."""
    until = Deadline(deadline.STEP)
    while not peers.wait_readable(listener, client, until.slice(DEADLOCK_PERIOD)):
        if client.poll() is not None or until.expired():
            raise peers.exited_or_silent(client, what)
        poll_deadlock(lambda: bool(select.select([listener], [], [], 0)[0]))
    conn, _ = listener.accept()
    return Conn(grader_sockets.own(conn), client, client.label)


def _requests(conn: Conn, n: int, client, doing: str) -> list[tuple[int, bytes]]:
    """N requests from CLIENT on CONN, or a failure saying how many came."""
    got = []

    def client_asleep() -> bool:
        return asleep(client.pid)

    while len(got) < n:
        rec = conn.record(deadline.STEP, 4, stuck=client_asleep)
        if rec is None:
            if (client.poll() is not None or conn.eof) and client.exited_within(deadline.STEP):
                client.wait(deadline.STEP)  # a stub's `not implemented` ends the spec here
            raise SpecFailure(
                Sentence("%(done)s: the grader's server got %(requests)s from %(program)s, then it closed the connection.",
                         done=doing, requests=_counted(len(got), "request"), program=client.label)
                if conn.eof
                else Sentence("%(done)s: the grader's server got %(requests)s from %(program)s, then nothing more.",
                              done=doing, requests=_counted(len(got), "request"), program=client.label),
                expected=Sentence("%(count)s requests, one per line of its stdin, each sent as soon as its line is read", count=n),
                evidence=[Sentence("Your client: %(threads)s.", threads=threads_doing(client.pid)) if client.poll() is None else ""],
                fix=Sentence("Send each call at once, without waiting for the replies to earlier calls.")
                if got and not conn.eof
                else "",
                procs=[client],
            )
        got.append(rec)
    return got


def _output_lines(proc) -> list[bytes]:
    lines = proc.stdout.data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return lines


# --- calls and their results ---------------------------------------------------------------

INT62 = 1 << 62
adds = st.tuples(st.integers(-INT62, INT62 - 1), st.integers(-INT62, INT62 - 1)).map(lambda ab: (b"add %d %d" % ab, b"ok %d" % sum(ab)))
echoes = st.binary(max_size=120).map(lambda x: x.replace(b"\n", b" ")).map(lambda x: (b"echo " + x, b"ok " + x))
sleeps = st.integers(0, 30).map(lambda ms: (b"sleep %d" % ms, b"ok %d" % ms))
counts = st.just((b"count", None))  # the counter's value: one more than the last, within a run
calls = st.lists(st.one_of(adds, echoes, sleeps, counts), min_size=1, max_size=8)


class RpcServers:
    """Servers started once per spec and reused by every Hypothesis example."""

    def __init__(self) -> None:
        self._running: dict[str, tuple] = {}

    def started(self, side):
        proc, port = self._running.get(side.who) or _start_server(side)
        if proc.poll() is not None:
            raise SpecFailure(
                Sentence("%(program)s %(ended)s after serving earlier clients.", program=proc.label, ended=proc.status.ended if proc.status else Sentence("exited")),
                expected=Sentence("it to serve clients until it is told to stop"),
                procs=[proc],
            )
        self._running[side.who] = (proc, port)
        return proc, port


@pytest.fixture
def rpc_servers() -> RpcServers:
    return RpcServers()


def _check_results(run, made: list[tuple[bytes, bytes | None]], what: str) -> None:
    """Each call's line printed its result, in call order. `count` prints the counter's new
    value: the run's `count` calls print consecutive values, one each, in call order when the
    server takes one connection's requests one at a time, in any order when it runs them at
    once, as the contract lets it."""
    got = _output_lines(run)
    counted: list[int] = []
    for i, (line, expected) in enumerate(made):
        printed = got[i] if i < len(got) else None
        if expected is None and printed is not None and printed.startswith(b"ok ") and printed[3:].isdigit() and len(printed) < 24:
            counted.append(int(printed[3:]))
            continue
        if printed != expected:
            joined = line.startswith(b"add ") and printed == b"ok " + b"".join(line[4:].split(b" "))
            call = dict(what=what, n=i + 1, calls=len(made), line=repr(line[:80]), status=run.status.words(),
                        printed=repr(printed[:120]) if printed is not None else Sentence("nothing"))
            raise SpecFailure(
                Sentence("%(what)s: call %(n)s of %(calls)s, %(line)s, printed %(printed)s (%(status)s). That is A and B joined, not added.", **call)
                if joined
                else Sentence("%(what)s: call %(n)s of %(calls)s, %(line)s, printed %(printed)s (%(status)s).", **call),
                expected="`" + expected.decode("utf-8", "replace") + "`" if expected else Sentence("``ok N`, the counter's new value`"),
                done=_calls_done(made),
                procs=[run],
            )
    if counted and sorted(counted) != list(range(min(counted), min(counted) + len(counted))):
        values = dict(what=what, calls=_counted(len(counted), "count"), values=", ".join(map(str, counted)))
        raise SpecFailure(
            Sentence("%(what)s: its %(calls)s printed %(values)s: two calls got the same value.", **values)
            if len(set(counted)) < len(counted)
            else Sentence("%(what)s: its %(calls)s printed %(values)s: a value was skipped.", **values),
            expected=Sentence("%(count)s consecutive values, one for each call (each `count` adds one to the counter)", count=len(counted)),
            done=_calls_done(made),
            procs=[run],
        )
    if len(got) > len(made):
        raise SpecFailure(Sentence("%(what)s: %(calls)s calls printed %(lines)s lines.", what=what, calls=len(made), lines=len(got)),
                          expected=Sentence("one line per call"), procs=[run])
    if not run.status.ok:
        raise SpecFailure(Sentence("%(what)s: every call was answered, but the client %(status)s.", what=what, status=run.status.words()),
                          expected=Sentence("exit status 0"), procs=[run])


@spec(
    "rpc.call-returns-result",
    points=3,
    hint="The server executes each request's procedure and replies with its result; the client "
    "sends each line as a request and prints `ok RESULT` for its reply. add takes two 64-bit "
    "integers; echo returns its argument byte for byte.",
)
@spec_settings(max_examples=5)
@given(made=calls)
@example(made=[(b"add 2 3", b"ok 5"), (b"add -7 4", b"ok -3"), (b"count", None), (b"count", None)])
@example(
    made=[
        (b"add 9223372036854775806 1", b"ok 9223372036854775807"),
        (b"add -9223372036854775808 0", b"ok -9223372036854775808"),
        (b"echo ", b"ok "),
        (b"echo a\x00b\xff c", b"ok a\x00b\xff c"),
        (b"sleep 5", b"ok 5"),
    ]
)
def test_call_returns_result(impl, reference, rpc_servers, made):
    """A call returns its result: `add`, `echo`, `sleep` and `count`, each line a call, each answer a line."""
    text = b"".join(line + b"\n" for line, _ in made)
    for client, server in ((impl, reference), (reference, impl), (impl, impl)):
        proc, port = rpc_servers.started(server)
        what = Sentence("%(client)s against %(server)s (%(where)s)", client=client.label(["client"], "rpc"),
                        server=server.label(["server"], "rpc"), where=Sentence("port %(port)s", port=port))
        run = client.run("client", LOCALHOST, str(port), "--timeout", str(_ms(deadline.STEP)), input=text, timeout=deadline.EXIT)
        _check_results(run, made, what)


# --- the wire -------------------------------------------------------------------------------

WIRE_ID = 0xDEADBEEF
WIRE_BYTES = bytes(range(256))
#: Large ids catch a client that keeps them in a signed 32-bit integer, or in host order.
CLIENT_FIRST_ID = 3_000_000_000


@spec(
    "rpc.wire-format",
    points=2,
    hint="LENGTH and ID are big-endian (htonl/ntohl, struct '!I'); read a record whole, looping on "
    "recv until LENGTH bytes have come, and keep what follows it for the next record.",
)
def test_wire_format(impl, grader_sockets):
    """Requests and replies follow the contract's framing to the byte, however the stream splits them."""
    # your server: a record split across sends, then the rest of it joined to a second one
    server, port = _start_server(impl)
    conn = _connect(grader_sockets, server, port)
    first, second = request(WIRE_ID, b"echo " + WIRE_BYTES), request(0, b"echo")
    conn.send(first[:3])
    _wait_read(server, port, conn, Sentence("the first 3 bytes of a request"), partial=True)
    conn.send(first[3:] + second)
    expected = reply(WIRE_ID, OK, WIRE_BYTES) + reply(0, OK, b"")
    got = peers.recv_exact(conn.sock, len(expected), deadline.STEP)
    if got != expected:
        replied = dict(program=server.label, bytes=_hex(got), difference=first_difference(expected, got))
        raise SpecFailure(
            _noted(Sentence("%(program)s replied %(bytes)s; %(difference)s.", **replied), _length_note(got))
            if got
            else Sentence("%(program)s replied %(bytes)s; %(difference)s. It read the first 3 bytes on their own and then the rest, "
                          "and answered neither request: it did not join the pieces into one record.", **replied),
            done=Sentence("The grader sent 3 bytes of a request (`echo` and the 256 byte values, id "
                          "%(id)s), waited until the server had read them, then sent the rest of it and a "
                          "second request (`echo`, id 0) in one send.", id=WIRE_ID),
            expected=Sentence("two replies: %(first)s ... (LENGTH %(length)s, ID %(id)s, status 0, the 256 bytes), then %(second)s",
                              first=_hex(expected[:16]), length=5 + len(WIRE_BYTES), id=WIRE_ID, second=_hex(expected[-9:])),
            fix=Sentence("Read LENGTH first, then loop on recv until that many bytes have come; bytes past "
                         "the record are the start of the next one."),
            procs=[server],
        )
    # your client: its requests to the byte, and a reply that arrives in pieces
    listener = grader_sockets.tcp_listener()
    lport = listener.getsockname()[1]
    client = _client(impl, lport, "--id", str(CLIENT_FIRST_ID), "--timeout", str(_ms(deadline.STEP)))
    client.feed(b"echo hello, world\necho second\n")
    cconn = _accept(listener, client, grader_sockets, _connect_to(lport))
    want = request(CLIENT_FIRST_ID, b"echo hello, world") + request(CLIENT_FIRST_ID + 1, b"echo second")
    sent = peers.recv_exact(cconn.sock, len(want), deadline.STEP)
    if sent != want:
        raise SpecFailure(
            _noted(Sentence("%(program)s sent %(bytes)s; %(difference)s.", program=client.label, bytes=_hex(sent, 48),
                            difference=first_difference(want, sent)), _length_note(sent)),
            done=Sentence("With `--id %(id)s` and the lines `echo hello, world` and `echo second`.", id=CLIENT_FIRST_ID),
            expected=Sentence("%(bytes)s: LENGTH, then ids %(first)s and %(second)s, big-endian, each followed by its line",
                              bytes=_hex(want, 48), first=CLIENT_FIRST_ID, second=CLIENT_FIRST_ID + 1),
            procs=[client],
        )
    answers = reply(CLIENT_FIRST_ID, OK, b"hello, world") + reply(CLIENT_FIRST_ID + 1, OK, b"second")
    cconn.send(answers[:3])
    mine = cconn.sock.getpeername()[1]

    def client_read():  # the client's end of the connection has nothing left to read
        return not any(s.local_port == mine and s.rx_queue for s in socket_table("tcp"))

    with contextlib.suppress(SpecTimeout):  # a client that reads only whole records may leave them queued
        wait_until(client_read, deadline.STEP, Sentence("the client reading the first 3 bytes"))
    cconn.send(answers[3:])
    status = client.wait(deadline.STEP)
    if _output_lines(client) != [b"ok hello, world", b"ok second"] or not status.ok:
        raise SpecFailure(
            Sentence("%(program)s printed %(output)s and %(status)s.", program=client.label, output=repr(client.stdout.data[:200]), status=status.words()),
            done=Sentence("The grader's server replied to both calls, the first reply in two pieces (3 bytes, "
                          "then the rest with the second reply in one send)."),
            expected=Sentence("`ok hello, world` and `ok second`, exit status 0"),
            fix=Sentence("Read LENGTH first, then loop on recv until that many bytes have come."),
            procs=[client],
        )


# --- concurrency ----------------------------------------------------------------------------


@spec(
    "rpc.concurrent-clients",
    points=3,
    hint="Serve each connection in its own thread (or multiplex them with poll/select) and hold "
    "no lock while a procedure runs: a `sleep` on one connection must not hold up another.",
)
def test_concurrent_clients(impl, grader_sockets, schedules):
    """Several clients at once are all served, and a slow call holds up no fast one of another client.

    Then, under schedules of the grader's (docs/schedules.md), SCHEDULED_CLIENTS clients call
    `count` at once: however the server's threads interleave, each gets a value of its own.
    """
    server, port = _start_server(impl)
    slow = _connect(grader_sockets, server, port)
    slow.send(request(1, b"sleep %d" % SLOW_MS))
    _wait_read(server, port, slow, Sentence("the first client's `sleep %(ms)s`", ms=SLOW_MS))
    started = time.monotonic()
    fast = [_connect(grader_sockets, server, port) for _ in range(FAST_CLIENTS)]

    def stuck(conn: Conn):
        def check() -> bool:  # its request waits unread (or unaccepted) while the server sleeps
            end = _server_end(server, port, conn.port)
            queued = any(s.listening and s.rx_queue for s in on_port(port, pid=server.pid))
            return (queued or (end is not None and end.rx_queue > 0)) and all(asleep(p) for p in server.tree())

        return check

    for r in range(FAST_ROUNDS):
        for i, conn in enumerate(fast):
            conn.send(request(100 + r, b"echo client %d call %d" % (i + 2, r + 1)))
        for i, conn in enumerate(fast):
            body = b"client %d call %d" % (i + 2, r + 1)
            got = conn.record(deadline.STEP, 5, stuck=stuck(conn))
            if got is None or got != (100 + r, bytes([OK]) + body):
                end = _server_end(server, port, conn.port)
                queued = [s for s in on_port(port, pid=server.pid) if s.listening and s.rx_queue]
                others = [b"client %d call %d" % (j + 2, r + 1) for j in range(FAST_CLIENTS) if j != i]
                crossed = got is not None and got[1][1:] in others
                if crossed:
                    fix = Sentence("Your server keeps one table of replies for all connections, so a request id another "
                                   "client used before is answered as its retry. Keep the replies per connection: ids "
                                   "of different connections are unrelated.")
                elif got is None and not conn.eof and (queued or (end is not None and end.rx_queue)):
                    fix = Sentence("A server that serves one connection at a time, or holds one lock around every call, "
                                   "makes all clients wait for the slowest: a thread per connection, no lock around the procedure.")
                else:
                    fix = ""
                if conn.eof:
                    outcome = Sentence("its connection was closed")
                elif got is None:
                    outcome = Sentence("got no reply")
                elif crossed:
                    outcome = Sentence("got the reply to another client's call with the same id, `%(reply)s`", reply=got[1][1:].decode())
                else:
                    outcome = Sentence("got %(got)s", got=repr(got))
                raise SpecFailure(
                    Sentence("client %(client)s sent `echo %(body)s` (id %(id)s) and %(outcome)s (%(seconds)s s after client 1's call began).",
                             client=i + 2, body=body.decode(), id=100 + r, outcome=outcome, seconds=format(time.monotonic() - started, ".1f")),
                    done=Sentence("Client 1 called `sleep %(ms)s` and your server read it; then %(clients)s more "
                                  "clients connected, and each called `echo`, %(rounds)s times.", ms=SLOW_MS, clients=FAST_CLIENTS, rounds=FAST_ROUNDS),
                    expected=Sentence("each fast call answered while the slow one is still in progress"),
                    evidence=[
                        Sentence("the kernel shows %(connections)s waiting in the accept queue, never accepted",
                                 connections=_counted(queued[0].rx_queue, "connection")) if queued else "",
                        (
                            Sentence("client %(client)s's connection was never accepted: its request waits in the kernel (%(end)s)", client=i + 2, end=str(end))
                            if end.inode == 0
                            else Sentence("client %(client)s's request lies unread in your server's receive queue (%(end)s)", client=i + 2, end=str(end))
                        )
                        if end and end.rx_queue
                        else "",
                        Sentence("Your server: %(threads)s.", threads=threads_doing(server.pid)),
                    ],
                    fix=fix,
                    procs=[server],
                )
    if slow.pending():
        got = slow.record(deadline.STEP, 5)
        early = dict(program=server.label, ms=SLOW_MS, seconds=format(time.monotonic() - started, ".1f"))
        raise SpecFailure(
            Sentence("%(program)s answered `sleep %(ms)s` (%(got)s) %(seconds)s s after it read it.", got=repr(got), **early)
            if got
            else Sentence("%(program)s closed the connection of `sleep %(ms)s` %(seconds)s s after it read it.", **early),
            expected=Sentence("the reply after %(ms)s ms: `sleep MS` waits MS milliseconds", ms=SLOW_MS),
            procs=[server],
        )
    schedules.explore(
        lambda run: _counts_under(run, grader_sockets), CONCURRENT_SCHEDULES,
        what=Sentence("%(clients)s clients calling `count` at once, the server's threads one at a time", clients=SCHEDULED_CLIENTS),
    )


def _server_under(run):
    """Your server under the schedule, started: its `listening PORT` read."""
    server = run.spawn("server")
    run.start()
    return server, peers.listening_port(server)


def _counts_under(run, grader_sockets):
    """One schedule: SCHEDULED_CLIENTS connections, each with a `count` sent before the server
    runs again; the answers must be SCHEDULED_CLIENTS different values."""
    server, port = _server_under(run)
    run.quiet(deadline.STEP)
    with run.hold():
        conns = [_connect(grader_sockets, server, port) for _ in range(SCHEDULED_CLIENTS)]
    run.quiet(deadline.STEP)  # the connections accepted: the server waits for their calls
    with run.hold():  # every call sent before the server goes on
        for conn in conns:
            conn.send(request(1, b"count"))
    done = Sentence("%(clients)s clients connected and each called `count` (id 1) at once", clients=SCHEDULED_CLIENTS)
    values = [_count(_answer(conn, 1, done), done, server) for conn in conns]
    if len(set(values)) != len(values):
        raise SpecFailure(
            Sentence("%(done)s; they got %(values)s: two calls of `count` returned the same value.", done=done, values=", ".join(map(str, values))),
            expected=Sentence("%(clients)s different values: each call adds one to the one counter", clients=SCHEDULED_CLIENTS),
            fix=Sentence("Every connection's thread updates the one counter: read, add and store it under one lock "
                         "(a mutex), and answer with the value it stored."),
            procs=[server],
        )
    for conn in conns:
        conn.sock.close()
    # the scenario ends here: the explorer kills the server. How it ends on SIGTERM is
    # rpc.server-exits-on-sigterm's to judge, never this spec's.


# --- errors ---------------------------------------------------------------------------------


@spec(
    "rpc.unknown-procedure",
    points=2,
    hint="A request the server cannot execute still gets a reply: status 1 (`no such procedure "
    "NAME`) or 2 (bad arguments), with its id; keep the connection open for the next call. The "
    "client prints `error MESSAGE` for it and exits 5 at the end.",
)
def test_unknown_procedure(impl, reference, grader_sockets):
    """An unknown procedure or bad arguments get an error reply, not a dropped connection."""
    server, port = _start_server(impl)
    conn = _connect(grader_sockets, server, port)
    steps = Sentence("The grader's client called `frobnicate 1 2` (id 5)")
    payload = _call(conn, 5, b"frobnicate 1 2", steps)
    if payload[0] != NO_SUCH_PROCEDURE or b"no such procedure" not in payload[1:]:
        raise SpecFailure(
            Sentence("%(done)s; the reply has %(reply)s.", done=steps, reply=_describe_reply(payload)),
            expected=Sentence("status 1 and the message `no such procedure frobnicate`"),
            procs=[server],
        )
    steps = Sentence("%(done)s, then `add 1 x` (id 6)", done=steps)
    payload = _call(conn, 6, b"add 1 x", steps)
    if payload[0] != BAD_ARGUMENTS:
        raise SpecFailure(Sentence("%(done)s; the reply has %(reply)s.", done=steps, reply=_describe_reply(payload)),
                          expected=Sentence("status 2, bad arguments"), procs=[server])
    steps = Sentence("%(done)s, then `echo still here` (id 7) on the same connection", done=steps)
    payload = _call(conn, 7, b"echo still here", steps)
    if payload != bytes([OK]) + b"still here":
        raise SpecFailure(Sentence("%(done)s; the reply has %(reply)s.", done=steps, reply=_describe_reply(payload)),
                          expected=Sentence("status 0, `still here`"), procs=[server])
    # your client, against the reference's server
    ref, rport = _start_server(reference)
    run = impl.run("client", LOCALHOST, str(rport), "--timeout", str(_ms(deadline.STEP)), input=b"frobnicate\necho after\n", timeout=deadline.EXIT)
    if _output_lines(run) != [b"error no such procedure frobnicate", b"ok after"] or run.status.code != EXIT_ERROR_REPLY:
        raise SpecFailure(
            Sentence("%(program)s printed %(output)s and %(status)s.", program=run.label, output=repr(run.stdout.data[:200]), status=run.status.words()),
            done=Sentence("Your client called `frobnicate`, then `echo after`, on the reference's server."),
            expected=Sentence("`error no such procedure frobnicate`, then `ok after`, and exit status %(code)s (an error reply came)", code=EXIT_ERROR_REPLY),
            procs=[run],
        )


# --- at most once ---------------------------------------------------------------------------


def _count(payload: bytes, doing: str, server) -> int:
    if payload[:1] != bytes([OK]) or not payload[1:].isdigit() or len(payload) > 21:
        raise SpecFailure(Sentence("%(done)s: the reply has %(reply)s.", done=doing, reply=_describe_reply(payload)),
                          expected=Sentence("status 0 and the counter's value"), procs=[server])
    return int(payload[1:])


@spec(
    "rpc.at-most-once",
    points=3,
    hint="Keep, for each connection, the reply to each request id it has sent; a request with an "
    "id seen before is a retry: send the kept reply again and do not execute it (at most once).",
)
def test_at_most_once(impl, grader_sockets, schedules):
    """A retried request with the same id is executed once, and gets the same reply.

    Then, under schedules of the grader's (docs/schedules.md), a request and its retry arrive
    together: however the server's threads interleave, it is executed once.
    """
    server, port = _start_server(impl)
    a = _connect(grader_sockets, server, port)
    done = Sentence("The grader's client called `count` with id 7")
    first = _call(a, 7, b"count", done)
    c = _count(first, done, server)
    done = Sentence("%(done)s (answer %(answer)s), then sent the same request again, a retry", done=done, answer=c)
    again = _call(a, 7, b"count", done)
    if again != first:
        again_value = _count(again, done, server) if again[:1] == bytes([OK]) else None
        raise SpecFailure(
            Sentence("%(done)s; the retry got %(reply)s: the server executed the request a second time.", done=done, reply=_describe_reply(again))
            if again_value == c + 1
            else Sentence("%(done)s; the retry got %(reply)s.", done=done, reply=_describe_reply(again)),
            expected=Sentence("the first reply again, byte for byte: %(reply)s", reply=_describe_reply(first)),
            fix=Sentence("A request whose id the connection has used before is not executed again: answer "
                         "it with the reply kept from the first time."),
            procs=[server],
        )
    done = Sentence("%(done)s, then `count` with a new id, 8", done=done)
    value = _count(_call(a, 8, b"count", done), done, server)
    if value != c + 1:
        raise SpecFailure(
            Sentence("%(done)s; it answered %(value)s.", done=done, value=value),
            expected=Sentence("%(value)s: the retry must not have counted", value=c + 1) if value == c + 2 else str(c + 1),
            procs=[server],
        )
    done = Sentence("%(done)s, then `count` with id 9 twice in one send (a retry before the reply)", done=done)
    a.send(request(9, b"count") * 2)
    r1 = _answer(a, 9, done)
    r2 = _answer(a, 9, done)
    if r1 != r2 or _count(r1, done, server) != c + 2:
        twice = r1 != r2 and r1[:1] == r2[:1] == bytes([OK])  # both executed: two values of the counter
        replies = dict(done=done, first=_describe_reply(r1), second=_describe_reply(r2))
        raise SpecFailure(
            Sentence("%(done)s; the replies have %(first)s and %(second)s: the server executed the request a second time.", **replies)
            if twice
            else Sentence("%(done)s; the replies have %(first)s and %(second)s.", **replies),
            expected=Sentence("both %(value)s: the second is a retry, answered from the first", value=c + 2),
            fix=Sentence("Keep the reply (or mark the id as in progress) before you send it: a retry that arrives "
                         "in between must find it, not execute the request again.") if twice else "",
            procs=[server],
        )
    a.sock.close()  # that client is done; the next one numbers its calls afresh
    b = _connect(grader_sockets, server, port)
    done = Sentence("%(done)s, then closed the connection and, from a new one, called `count` with id 7", done=done)
    value = _count(_call(b, 7, b"count", done), done, server)
    if value != c + 3:
        raise SpecFailure(
            Sentence("%(done)s; it answered %(value)s.", done=done, value=value),
            expected=Sentence("%(value)s: ids of different connections are unrelated, so this is a new call, executed", value=c + 3),
            fix=Sentence("Key the kept replies by connection and id, not by id alone: every client numbers its calls from its own --id."),
            procs=[server],
        )
    schedules.explore(
        lambda run: _retry_under(run, grader_sockets), RETRY_SCHEDULES,
        what=Sentence("`count` and its retry in one send, the server's threads one at a time"),
    )


def _retry_under(run, grader_sockets):
    """One schedule: `count` (id 9) and its retry in one send, then `count` (id 10): the retry
    gets the first reply, and the next call counts once more."""
    server, port = _server_under(run)
    run.quiet(deadline.STEP)
    with run.hold():
        conn = _connect(grader_sockets, server, port)
        conn.send(request(9, b"count") * 2)
    done = Sentence("The grader's client sent `count` with id 9 twice in one send (a retry before the reply)")
    r1, r2 = _answer(conn, 9, done), _answer(conn, 9, done)
    if r1 != r2:
        raise SpecFailure(
            Sentence("%(done)s; the replies have %(first)s and %(second)s: the server executed the request a second time.",
                     done=done, first=_describe_reply(r1), second=_describe_reply(r2)),
            expected=Sentence("the same reply twice: the second is a retry, answered from the first"),
            fix=Sentence("Keep the reply (or mark the id as in progress) before you send it: a retry that arrives "
                         "in between must find it, not execute the request again."),
            procs=[server],
        )
    done = Sentence("%(done)s, then `count` with id 10", done=done)
    conn.send(request(10, b"count"))
    value = _count(_answer(conn, 10, done), done, server)
    if value != _count(r1, done, server) + 1:
        raise SpecFailure(
            Sentence("%(done)s; it answered %(value)s after %(reply)s.", done=done, value=value, reply=_describe_reply(r1)),
            expected=Sentence("%(value)s: the retry must not have counted", value=_count(r1, done, server) + 1),
            procs=[server],
        )
    conn.sock.close()


# --- the client: matching, timeouts, a server that has gone -----------------------------------


@spec(
    "rpc.replies-matched-by-id",
    points=2,
    hint="Keep the calls waiting for a reply by id; take each reply to the call with its id (and "
    "ignore one that matches none), and print the results in the order of the calls.",
)
def test_replies_matched_by_id(impl, grader_sockets):
    """Replies are matched to calls by id even when they come back out of order."""
    listener = grader_sockets.tcp_listener()
    lport = listener.getsockname()[1]
    client = _client(impl, lport, "--id", "100", "--timeout", str(_ms(deadline.STEP)))
    client.feed(b"echo first\necho second\n")
    conn = _accept(listener, client, grader_sockets, _connect_to(lport))
    (id1, body1), (id2, body2) = _requests(conn, 2, client, Sentence("Your client was given the lines `echo first` and `echo second`"))
    if id1 == id2 or (body1, body2) != (b"echo first", b"echo second"):
        raise SpecFailure(
            Sentence("%(program)s sent %(first)s with id %(first_id)s and %(second)s with id %(second_id)s.",
                     program=client.label, first=repr(body1), first_id=id1, second=repr(body2), second_id=id2),
            expected=Sentence("`echo first` and `echo second`, with different ids"),
            procs=[client],
        )
    stray = (max(id1, id2) + 1000) % (1 << 32)
    conn.send(reply(stray, OK, b"stray") + reply(id2, OK, b"second") + reply(id1, OK, b"first"))
    status = client.wait(deadline.STEP)
    printed = _output_lines(client)
    if printed != [b"ok first", b"ok second"] or not status.ok:
        why = (
            Sentence("It printed the replies in the order they arrived: the reply to the second call came first.")
            if printed[:2] == [b"ok second", b"ok first"]
            else Sentence("It took the reply with an id it never used for one of its calls.") if b"ok stray" in printed else ""
        )
        raise SpecFailure(
            _noted(Sentence("%(program)s printed %(output)s and %(status)s.", program=client.label, output=repr(client.stdout.data[:200]),
                            status=status.words()), why),
            done=Sentence("The grader's server got `echo first` (id %(first)s) and `echo second` (id %(second)s), then "
                          "replied to id %(stray)s (which the client never used), to id %(second)s, then to id %(first)s.",
                          first=id1, second=id2, stray=stray),
            expected=Sentence("`ok first`, then `ok second`, and exit status 0"),
            procs=[client],
        )


@spec(
    "rpc.client-timeout",
    points=2,
    hint="Wait for each reply at most --timeout ms from when its call was sent (poll/select with "
    "the time left, or SO_RCVTIMEO); then print `timeout` on stderr and exit 6.",
)
def test_client_timeout(impl, grader_sockets):
    """A client whose server never answers gives up after its --timeout: exit 6 with `timeout`."""
    listener = grader_sockets.tcp_listener()
    lport = listener.getsockname()[1]
    client = _client(impl, lport, "--timeout", str(CLIENT_TIMEOUT_MS))
    client.feed(b"echo one\necho two\n")
    conn = _accept(listener, client, grader_sockets, _connect_to(lport))
    ((id1, _),) = _requests(conn, 1, client, Sentence("Your client was given `echo one` and `echo two`"))
    conn.send(reply(id1, OK, b"one"))
    _requests(conn, 1, client, Sentence("Your client was given `echo one` and `echo two`; the grader answered the first"))
    sent = time.monotonic()
    limit = Deadline(CLIENT_TIMEOUT_MS / 1000 + deadline.STEP)
    if not client.exited_within(limit):
        raise SpecFailure(
            Sentence("%(program)s with `--timeout %(ms)s` sent `echo two` to a server that never "
                     "answers, and was still waiting %(limit)s later.", program=client.label, ms=CLIENT_TIMEOUT_MS, limit=str(limit)),
            evidence=[Sentence("Your client: %(threads)s.", threads=threads_doing(client.pid))],
            fix=Sentence("Give up %(ms)s ms after sending the call: `timeout` on stderr, exit status %(code)s.", ms=CLIENT_TIMEOUT_MS, code=EXIT_TIMEOUT),
            procs=[client],
        )
    waited = time.monotonic() - sent
    status = client.wait(deadline.STEP)
    if waited < TIMEOUT_FLOOR * CLIENT_TIMEOUT_MS / 1000:
        raise SpecFailure(
            Sentence("%(program)s with `--timeout %(ms)s` gave up %(waited)s s after sending `echo two` (%(status)s).",
                     program=client.label, ms=CLIENT_TIMEOUT_MS, waited=format(waited, ".2f"), status=status.words()),
            expected=Sentence("it to wait %(ms)s ms for the reply", ms=CLIENT_TIMEOUT_MS),
            procs=[client],
        )
    if status.code != EXIT_TIMEOUT or b"timeout" not in client.stderr.data.lower() or _output_lines(client) != [b"ok one"]:
        raise SpecFailure(
            Sentence("%(program)s got no reply to `echo two` and %(status)s after %(waited)s s, having printed "
                     "%(output)s, with stderr %(stderr)s.", program=client.label, status=status.words(), waited=format(waited, ".2f"),
                     output=repr(client.stdout.data[:120]), stderr=repr(client.stderr.data[-200:])),
            expected=Sentence("`ok one` printed, `timeout` on stderr and exit status %(code)s", code=EXIT_TIMEOUT),
            procs=[client],
        )


@spec(
    "rpc.client-server-gone",
    points=1,
    hint="connect() refused: exit 1 with `connection refused`. recv() returning 0 means the server "
    "closed the connection: no reply will come, so exit 1 with `connection closed` at once.",
)
def test_client_server_gone(impl, grader_sockets):
    """A client whose server is gone exits 1 at once: `connection refused`, or `connection closed` mid-call."""
    patient = str(_ms(3 * deadline.STEP))  # a timeout the client must not wait for
    closed = grader_sockets.own(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
    closed.bind((LOCALHOST, 0))  # bound but not listening: a connect is refused
    client = _client(impl, closed.getsockname()[1], "--timeout", patient)
    client.feed(b"echo anyone?\n")
    status = client.wait(deadline.STEP)
    if status.code != 1 or b"refused" not in client.stderr.data.lower():
        raise SpecFailure(
            Sentence("%(program)s to a port where nobody listens %(status)s with stderr %(stderr)s.",
                     program=client.label, status=status.words(), stderr=repr(client.stderr.data[-200:])),
            expected=Sentence("exit status 1 with `connection refused`"),
            procs=[client],
        )
    listener = grader_sockets.tcp_listener()
    lport = listener.getsockname()[1]
    client = _client(impl, lport, "--timeout", patient)
    client.feed(b"echo anyone?\n", close=False)
    conn = _accept(listener, client, grader_sockets, _connect_to(lport))
    _requests(conn, 1, client, Sentence("Your client was given `echo anyone?`"))
    conn.sock.close()  # the server goes away with the call unanswered
    if not client.exited_within(deadline.STEP):
        raise SpecFailure(
            Sentence("%(program)s was still waiting %(seconds)s s after the server closed the connection "
                     "with its call unanswered (its --timeout is %(ms)s ms).", program=client.label, seconds=deadline.STEP, ms=patient),
            evidence=[Sentence("Your client: %(threads)s.", threads=threads_doing(client.pid))],
            fix=Sentence("recv() returning 0 is the server's EOF: no reply will ever come; exit 1 with `connection closed`."),
            procs=[client],
        )
    status = client.wait(deadline.STEP)
    if status.code != 1 or b"closed" not in client.stderr.data.lower():
        raise SpecFailure(
            Sentence("the server closed the connection with a call unanswered; %(program)s %(ended)s with stderr %(stderr)s.",
                     program=client.label, ended=status.ended, stderr=repr(client.stderr.data[-200:])),
            expected=Sentence("exit status 1 with `connection closed`"),
            procs=[client],
        )


# --- the kernel's view, and the server's end -------------------------------------------------


@spec(
    "rpc.uses-sockets",
    points=2,
    hint="Use a TCP socket (socket, connect, send, recv); while a call runs, let the client sleep "
    "in recv (or poll/select with a timeout) instead of trying again and again.",
)
def test_uses_sockets(impl):
    """Client and server hold the two ends of one TCP connection, and the client sleeps while its call runs."""
    server, port = _start_server(impl)
    client = _client(impl, port, "--timeout", str(2 * SLOW_MS))
    client.write(b"sleep %d\n" % SLOW_MS)  # stdin stays open: the client stays connected

    def connected():
        return next(
            (h for h in peers.held(client) if h.socket and h.socket.protocol == "tcp" and h.socket.state == "ESTABLISHED" and h.socket.remote_port == port),
            None,
        )

    try:
        mine = client.wait_for(connected, deadline.STEP, Sentence("it held a TCP connection to port %(port)s", port=port))
    except SpecTimeout:
        raise SpecFailure(
            Sentence("%(program)s (pid %(pid)s) holds no %(socket)s.", program=client.label, pid=client.pid,
                     socket=Sentence("TCP connection to port %(port)s", port=port)),
            evidence=[Sentence("/proc/%(pid)s/fd and /proc/%(pid)s/net show %(held)s.", pid=client.pid, held=peers.list_held(peers.held(client)))],
            procs=[client, server],
        ) from None

    def accepted():  # the kernel completes the handshake before the server's accept returns
        end = _server_end(server, port, mine.socket.local_port)
        return end is not None and end.inode in {h.fd.inode for h in peers.held(server)}

    try:
        server.wait_for(accepted, deadline.STEP, Sentence("it held its end of the connection from port %(port)s", port=mine.socket.local_port))
    except SpecTimeout:
        end = _server_end(server, port, mine.socket.local_port)
        raise SpecFailure(
            Sentence("%(program)s is connected to port %(port)s (%(socket)s), but %(server)s holds no socket of that connection.",
                     program=client.label, port=port, socket=str(mine), server=server.label),
            evidence=[
                Sentence("the kernel shows the connection waiting in the accept queue of the listening socket, never accepted.")
                if end is not None and not end.inode else "",
                Sentence("/proc/%(pid)s/fd and /proc/%(pid)s/net show %(held)s.", pid=server.pid, held=peers.list_held(peers.held(server))),
                Sentence("Your server: %(threads)s.", threads=threads_doing(server.pid)),
            ],
            procs=[client, server],
        ) from None
    who = Sentence("%(program)s, waiting for the reply to `sleep %(ms)s`", program=client.label, ms=SLOW_MS)
    settle.asleep_in(client, RECV_CALLS, deadline.STEP, who=who, fix=WAITING_FIX)
    settle.idle(client, who=who, fix=WAITING_FIX)


@spec(
    "rpc.server-exits-on-sigterm",
    points=1,
    hint="Handle SIGTERM: exit 0 at once, even while a connection's call is still running.",
)
def test_server_exits_on_sigterm(impl, grader_sockets):
    """On SIGTERM the server exits with status 0, even with a slow call in progress."""
    server, port = _start_server(impl)
    conn = _connect(grader_sockets, server, port)
    conn.send(request(1, b"sleep %d" % SLOW_MS))
    _wait_read(server, port, conn, f"`sleep {SLOW_MS}`")
    server.send_signal(signal.SIGTERM)
    if not server.exited_within(deadline.STEP):
        raise SpecFailure(
            Sentence("%(program)s did not exit within %(seconds)s s of SIGTERM, with `sleep %(ms)s` in progress.",
                     program=server.label, seconds=deadline.STEP, ms=SLOW_MS),
            evidence=[Sentence("Your server: %(threads)s.", threads=threads_doing(server.pid))],
            procs=[server],
        )
    status = server.wait(deadline.STEP)
    if not status.ok:
        raise SpecFailure(
            Sentence("on SIGTERM %(program)s %(ended)s: SIGTERM's default action ended it (no handler).", program=server.label, ended=status.ended)
            if status.signal == signal.SIGTERM
            else Sentence("on SIGTERM %(program)s %(ended)s.", program=server.label, ended=status.ended),
            expected=Sentence("exit status 0"), procs=[server],
        )
