"""Specs for `socket`: TCP, UDP and Unix-domain sockets, on one host and across two.

socket(7), tcp(7), udp(7), unix(7), shutdown(2), setsockopt(2) (SO_REUSEADDR), ip-netns(8).
The seeds: a socket is a communication endpoint named by an address and a port; unlike every
other IPC here it has no machine boundary, so a process on another host reaches it by IP address
plus port. TCP is a connected byte stream (no message boundaries: a recv returns whatever has
arrived), UDP carries datagrams (one send is one message), and a server serves many clients.

Every port comes from the server's `listening PORT` line (the server binds port 0); every Unix
socket path lives in the spec's own directory. Where the grader itself plays client or server
it uses its own sockets (conformance.peers), closed when the spec ends; the kernel's view of
the implementation's sockets comes from /proc/PID/fd and /proc/PID/net (conformance.netstat).
"""

from __future__ import annotations

import os
import signal
import socket
import stat
import time
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from conformance import deadline
from conformance.deadline import Deadline
from conformance.outcomes import HarnessBroken, Sentence, SpecFailure, SpecTimeout, needs, one_after_another
from conformance.spec import spec
from conformance.specs.support import (
    LOCALHOST,
    STALL_WINDOW,
    STALL_WINDOWS,
    ExitStatus,
    Held,
    Stalled,
    asleep,
    describe,
    describe_bytes,
    fds,
    first_difference,
    give_to_programs,
    on_port,
    payloads,
    peers,
    sized_bytes,
    spec_settings,
    threads_doing,
    wait_until,
)

MiB = 1 << 20
#: The whole budget for 16 MiB through a client (Python moves it in well under a second). No
#: preset is that long: the client and the grader's echo peer each copy the payload twice, at
#: small socket buffers, on a machine that other gradings share.
LARGE_DEADLINE = 3 * deadline.EXIT
LARGE_PAYLOAD = 16 * MiB
#: The contract's UDP reply timeout is 2 s; accepted: from UDP_TIMEOUT_MIN to UDP_TIMEOUT_MAX
#: (the upper bound is scaled like every deadline). These bound the contract's timeout, not a
#: step of the grader's, so they are the contract's numbers rather than a preset.
UDP_TIMEOUT_MIN = 1.5
UDP_TIMEOUT_MAX = 6
MANY_CLIENTS = 200
#: Under schedule control (docs/schedules.md): clients connected at once, the rounds in which
#: each sends a line of its own and reads its echo, and the budget of schedules (the
#: calibration's, with its margin).
SCHEDULED_CLIENTS = 2
SCHEDULED_ROUNDS = 3
CONCURRENT_SCHEDULES = 24
#: Descriptors a server may gain over MANY_CLIENTS clients before it counts as a leak (a
#: lazily opened file, a thread pool's pipe): a leak of one per client shows as 200.
FD_SLACK = 10
#: How long a server gets, after its last client saw EOF, to have closed that connection: a
#: window in which closing is due at once, shorter than any step.
CLOSE_DEADLINE = 2

#: Seeds of the pseudo-random payloads that are not drawn by Hypothesis (printed on failure).
LARGE_SEED = 16
ACROSS_SEED = 213
ACROSS_PAYLOAD = 256 << 10
#: The exit status of a program whose supervisor could not enter its network namespace.
ENTER_NETNS_FAILED = 126


@pytest.fixture
def grader_sockets():
    """The grader's own sockets for this spec, closed at its end even when it fails."""
    sockets = peers.GraderSockets()
    yield sockets
    sockets.close()


@pytest.fixture
def servers(ipc_tmp) -> peers.Servers:
    return peers.Servers(ipc_tmp)


@pytest.fixture
def netns_pair(names):
    """Two network namespaces named for this run and worker, deleted after the spec, always."""
    with peers.netns_pair(names.posix("net").lstrip("/")) as pair:
        yield pair


# --- round trips -----------------------------------------------------------------------------


def _pairings(impl, reference):
    """(client side, server side): yours against the reference both ways, then your own pair."""
    return [(impl, reference), (reference, impl), (impl, impl)]


def _pair_name(client, server, kind: str, where) -> str:
    client_role, server_role = f"{kind}-client", f"{kind}-server"
    return Sentence("%(client)s against %(server)s (%(where)s)", client=client.label([client_role], "socket"), server=server.label([server_role], "socket"), where=where)


def _port(port: int) -> str:
    return Sentence("port %(port)s", port=port)


def _counted(count: int, one: str) -> str:
    """``1 line``, ``3 connections``: ONE is "line" or "connection"."""
    if one == "line":
        return Sentence("%(count)s line", count=count) if count == 1 else Sentence("%(count)s lines", count=count)
    return Sentence("%(count)s connection", count=count) if count == 1 else Sentence("%(count)s connections", count=count)


def _stream_roundtrip(client, server, args, data: bytes, what: str) -> None:
    """CLIENT's program with ARGS passes DATA through SERVER (a running Proc) and back, or fails."""
    run = client.spawn(*args, capture_limit=len(data) + 4096)
    run.feed(data)
    try:
        peers.wait_moving(run, Deadline(deadline.EXIT), lambda: (run.fed, run.stdout.length), others=server.tree)
    except Stalled:
        raise SpecFailure(
            Sentence("%(what)s: deadlock. The client took %(fed)s of %(total)s bytes from its stdin and "
                     "printed %(printed)s bytes of the echo, then nothing moved for "
                     "%(seconds)s s while client and server slept.",
                     what=what, fed=run.fed, total=len(data), printed=run.stdout.length, seconds=format(STALL_WINDOW * STALL_WINDOWS, "g")),
            evidence=[Sentence("Client: %(threads)s.", threads=threads_doing(run.pid)),
                      Sentence("Server: %(threads)s.", threads=one_after_another([threads_doing(p) for p in server.tree()], "; "))],
            fix=Sentence("A client must read the echo while it still sends, and a server must send what it "
                         "read before it reads more."),
            procs=[run, server],
        ) from None
    run.wait(deadline.STEP)
    _check_output(run, data, what)


def _check_output(proc, expected: bytes, what: str) -> None:
    if not proc.stdout.matches(expected):
        got = proc.stdout.data
        early = (
            Sentence("The client stopped before the server's EOF: one recv() returns what has arrived so "
                     "far, so loop until it returns 0.")
            if proc.stdout.complete and len(got) < len(expected) and expected.startswith(got) and proc.status.ok
            else ""
        )
        raise SpecFailure(
            Sentence("%(what)s: sent %(data)s; what came back differs: %(difference)s.",
                     what=what, data=describe_bytes(expected), difference=first_difference(expected, got)),
            fix=early,
            procs=[proc],
        )
    if not proc.status.ok:
        raise SpecFailure(
            Sentence("%(what)s: the data came back but the client %(status)s.", what=what, status=proc.status.words()),
            expected=Sentence("exit status 0"),
            procs=[proc],
        )


def _fd_count(proc) -> int:
    return sum(len(fds(pid)) for pid in proc.tree())


# --- TCP --------------------------------------------------------------------------------------


@spec(
    "socket.tcp-roundtrip",
    points=3,
    hint="Client: send stdin, shutdown(SHUT_WR), then copy what arrives to stdout until recv() "
    "returns 0. Server: echo every byte, loop on send() until all is sent, close at EOF.",
)
@spec_settings(max_examples=6)
@given(data=payloads([65535, 65536, 65537, 300_000, MiB]))
@example(data=b"")
@example(data=sized_bytes(MiB, 1))
def test_tcp_roundtrip(impl, reference, servers, data):
    """Bytes a TCP client sends come back from the echo server byte for byte (0 B to 1 MiB)."""
    for client, server in _pairings(impl, reference):
        proc, port = servers.started(server, "tcp")
        what = _pair_name(client, server, "tcp", _port(port))
        _stream_roundtrip(client, proc, ("tcp-client", LOCALHOST, str(port)), data, what)


@spec(
    "socket.tcp-large-payload",
    points=2,
    hint="Send and receive at the same time (a sending thread, or poll/select): the server echoes "
    "while you still send, and once both directions' buffers are full a client that only sends "
    "waits for ever.",
    timeout=60,
)
def test_tcp_large_payload(impl, grader_sockets):
    """16 MiB pass through the TCP client to an echo server and back without deadlock."""
    payload = sized_bytes(LARGE_PAYLOAD, LARGE_SEED)
    peer = grader_sockets.echo_peer()
    client = impl.spawn("tcp-client", LOCALHOST, str(peer.port), capture_limit=MiB)
    client.feed(payload)
    try:
        peers.wait_moving(client, Deadline(LARGE_DEADLINE), lambda: (client.fed, *peer.progress, client.stdout.length))
    except Stalled:
        moved = dict(seconds=format(STALL_WINDOW * STALL_WINDOWS, "g"), fed=client.fed, total=len(payload), received=peer.received,
                     sent=peer.sent, printed=client.stdout.length, seed=LARGE_SEED)
        raise SpecFailure(
            Sentence("deadlock: for %(seconds)s s nothing moved. Your client took "
                     "%(fed)s of %(total)s bytes from its stdin, the grader's echo server "
                     "received %(received)s bytes and sent %(sent)s back and is blocked sending more"
                     ", and your client printed %(printed)s bytes of them. (Payload: "
                     "%(total)s pseudo-random bytes, seed %(seed)s.)", **moved)
            if peer.sending
            else Sentence("deadlock: for %(seconds)s s nothing moved. Your client took "
                          "%(fed)s of %(total)s bytes from its stdin, the grader's echo server "
                          "received %(received)s bytes and sent %(sent)s back"
                          ", and your client printed %(printed)s bytes of them. (Payload: "
                          "%(total)s pseudo-random bytes, seed %(seed)s.)", **moved),
            evidence=[threads_doing(client.pid)],
            fix=Sentence("A client that reads nothing until it has sent everything stops once the socket "
                         "buffers fill both ways: the server cannot send, so it stops reading."),
            procs=[client],
        ) from None
    client.wait(deadline.STEP)
    if not client.stdout.matches(payload):
        differs = dict(program=client.label, count=len(payload), seed=LARGE_SEED, difference=first_difference(payload, client.stdout.data))
        raise SpecFailure(
            Sentence("%(program)s sent %(count)s bytes (pseudo-random, seed %(seed)s) to an echo "
                     "server; what it printed differs: %(difference)s.", **differs)
            if client.stdout.complete
            else Sentence("%(program)s sent %(count)s bytes (pseudo-random, seed %(seed)s) to an echo "
                          "server; what it printed differs: %(difference)s (the grader keeps only part of the output).", **differs),
            procs=[client],
        )
    if not client.status.ok:
        raise SpecFailure(Sentence("%(program)s passed 16 MiB but %(status)s.", program=client.label, status=client.status.words()),
                          expected=Sentence("exit status 0"), procs=[client])
    if peer.received != len(payload):  # counted before the peer echoes: all of it, once the client printed it all
        # its output is the payload, but the payload did not go through the grader's server
        raise SpecFailure(
            Sentence("%(program)s printed the %(count)s bytes it was given, but the grader's echo server received "
                     "%(received)s of them: they did not go through the TCP connection.",
                     program=client.label, count=len(payload), received=peer.received),
            expected=Sentence("every byte sent to the server at port %(port)s and printed as it comes back", port=peer.port),
            procs=[client],
        )


@spec(
    "socket.tcp-concurrent-clients",
    points=2,
    hint="Serve each accepted connection in its own thread or process, or multiplex them all "
    "with poll/select: never block in recv() on one client while others wait.",
)
def test_tcp_concurrent_clients(impl, grader_sockets, schedules):
    """While one client is connected and idle, the TCP server still serves another.

    Then, under schedules of the grader's (docs/schedules.md), SCHEDULED_CLIENTS clients send a
    line each at once, SCHEDULED_ROUNDS times: however the server's threads interleave, each
    gets back its own lines, and only those.
    """
    server, port = peers.start_tcp_server(impl)
    idle = grader_sockets.connect_tcp(port, who=server.label)
    peers.send(idle, b"first client\n", server)
    if peers.recv_exact(idle, 13, deadline.STEP) != b"first client\n":
        raise SpecFailure(Sentence("%(program)s did not echo `first client` to its first client within %(seconds)s s.",
                                   program=server.label, seconds=deadline.STEP), procs=[server])
    # the first client now stays connected and sends nothing
    second = grader_sockets.connect_tcp(port, who=server.label)
    peers.send(second, b"second client\n", server, shut=True)

    def not_accepted() -> bool:  # its connection waits in the accept queue while the server sleeps
        queued = any(s.listening and s.rx_queue for s in on_port(port, pid=server.pid))
        return queued and all(asleep(pid) for pid in server.tree())

    got, eof = peers.recv_until_eof(second, deadline.STEP, stuck=not_accepted)
    if got != b"second client\n" or not eof:
        waiting = [s for s in on_port(port, pid=server.pid) if s.listening and s.rx_queue]
        queued = (
            Sentence("the kernel shows %(connections)s waiting in the accept queue of the listening socket, never accepted",
                     connections=_counted(waiting[0].rx_queue, "connection")) if waiting else ""
        )
        raise SpecFailure(
            Sentence("with one client connected and idle, a second client sent `second client` and its EOF; "
                     "it got back %(got)s.", got=repr(got))
            if eof
            else Sentence("with one client connected and idle, a second client sent `second client` and its EOF; "
                          "it got back %(got)s and no EOF.", got=repr(got)),
            evidence=[queued, Sentence("Your server: %(threads)s.", threads=threads_doing(server.pid))],
            fix=Sentence("A server that serves one client at a time is still busy with the idle one: serve "
                         "each client in its own thread or process, or with poll/select."),
            procs=[server],
        )
    peers.send(idle, b"still here\n", server)
    if peers.recv_exact(idle, 11, deadline.STEP) != b"still here\n":
        raise SpecFailure(
            Sentence("after serving a second client, %(program)s no longer echoes to the first, which is "
                     "still connected.", program=server.label),
            procs=[server],
        )
    schedules.explore(
        lambda run: _echoes_under(run, grader_sockets), CONCURRENT_SCHEDULES,
        what=Sentence("%(clients)s clients each sending a line at once, %(rounds)s times, the server's threads one at a time",
                      clients=SCHEDULED_CLIENTS, rounds=SCHEDULED_ROUNDS),
    )


def _echoes_under(run, grader_sockets):
    """One schedule: SCHEDULED_CLIENTS connections; in each round every client sends a line of
    its own before the server goes on, and must get back exactly that line."""
    server = run.spawn("tcp-server")
    run.start()
    port = peers.listening_port(server)
    run.quiet(deadline.STEP)
    with run.hold():
        conns = [grader_sockets.connect_tcp(port, who=server.label) for _ in range(SCHEDULED_CLIENTS)]
    run.quiet(deadline.STEP)  # the connections accepted: the server waits for their lines
    for r in range(SCHEDULED_ROUNDS):
        lines = [f"client {i + 1} round {r + 1}\n".encode() for i in range(SCHEDULED_CLIENTS)]
        with run.hold():  # every line sent before the server goes on
            for conn, line in zip(conns, lines, strict=True):
                peers.send(conn, line, server)
        done = Sentence("%(clients)s clients connected at once; in each round every one sent a line of its own"
                        " before your server went on (round %(round)s of %(rounds)s)", clients=SCHEDULED_CLIENTS, round=r + 1, rounds=SCHEDULED_ROUNDS)
        for i, (conn, line) in enumerate(zip(conns, lines, strict=True)):
            got = peers.recv_exact(conn, len(line), deadline.STEP)
            if got != line:
                others = [x for j, x in enumerate(lines) if j != i]
                crossed = any(o[: len(got)] == got or got in o for o in others) if got else False
                raise SpecFailure(
                    Sentence("%(done)s; client %(client)s sent %(line)s and got back %(got)s: another client's line.",
                             done=done, client=i + 1, line=repr(line), got=repr(got))
                    if crossed
                    else Sentence("%(done)s; client %(client)s sent %(line)s and got back %(got)s.", done=done, client=i + 1, line=repr(line), got=repr(got)),
                    expected=Sentence("%(line)s: each client's own bytes, and only those", line=repr(line)),
                    fix=Sentence("Each connection needs a buffer of its own: a buffer shared by the threads (a global, "
                                 "a static array) is overwritten by another client's data between your recv and your send.")
                    if crossed else "",
                    procs=[server],
                )


@spec(
    "socket.tcp-many-clients-no-leak",
    points=2,
    hint="close() each connection's socket when its client is done (in the parent too, if you "
    "fork per client): a server that runs for days must not keep one descriptor per client.",
)
def test_tcp_many_clients_no_leak(impl, grader_sockets):
    """After 200 clients one after another, the TCP server holds no more descriptors than before."""
    server, port = peers.start_tcp_server(impl)

    def one_client(i: int) -> None:
        message = f"client {i}\n".encode()
        with peers.talking_to(server, Sentence("client %(n)s of %(clients)s (one after another) connecting to port %(port)s",
                                               n=i + 1, clients=MANY_CLIENTS, port=port)):
            sock = socket.create_connection((LOCALHOST, port), timeout=Deadline(deadline.STEP).remaining())
        with sock:
            got, eof = peers.ask(sock, message, server)
        if got != message or not eof:
            sent = dict(n=i + 1, clients=MANY_CLIENTS, message=repr(message), got=repr(got), seconds=deadline.STEP)
            raise SpecFailure(
                Sentence("client %(n)s of %(clients)s (one after another) sent %(message)s and its EOF and "
                         "got back %(got)s within %(seconds)s s.", **sent)
                if eof
                else Sentence("client %(n)s of %(clients)s (one after another) sent %(message)s and its EOF and "
                              "got back %(got)s and no EOF within %(seconds)s s.", **sent),
                evidence=[threads_doing(server.pid)],
                procs=[server],
            )

    one_client(0)  # a first client may make a server open what it keeps for good
    before = _fd_count(server)
    for i in range(1, MANY_CLIENTS + 1):
        one_client(i)
    try:
        wait_until(lambda: _fd_count(server) <= before + FD_SLACK, CLOSE_DEADLINE, Sentence("the fds to close"))
    except SpecTimeout:
        after = _fd_count(server)
        sockets = [h for h in peers.held(server) if not (h.socket and h.socket.listening)]
        states: dict[str, int] = {}
        for h in sockets:
            states[h.socket.state if h.socket else "unknown"] = states.get(h.socket.state if h.socket else "unknown", 0) + 1
        in_states = ", ".join(f"{n} {s}" for s, n in sorted(states.items()))
        raise SpecFailure(
            Sentence("Your server held %(before)s descriptors before them and %(after)s after: it keeps "
                     "%(count)s connection sockets (%(states)s).", before=before, after=after, count=len(sockets), states=in_states),
            done=Sentence("%(clients)s clients connected one after another, each sent a line and its EOF, "
                          "got its echo and EOF, and closed.", clients=MANY_CLIENTS),
            evidence=[Sentence("/proc/%(pid)s/fd and /proc/%(pid)s/net show, for example: %(held)s.", pid=server.pid, held=peers.list_held(sockets, 3))],
            fix=Sentence("Close each connection's socket once its client is done."),
            procs=[server],
        ) from None


@spec(
    "socket.tcp-eof",
    points=2,
    hint="When recv() returns 0 the client has sent everything: send what is left, then close() "
    "the connection, so the client's read returns 0 too.",
)
def test_tcp_eof(impl, grader_sockets):
    """The TCP server closes its side once the client has sent EOF and had its echo."""
    server, port = peers.start_tcp_server(impl)
    sock = grader_sockets.connect_tcp(port, who=server.label)
    got, eof = peers.ask(sock, b"last words\n", server)
    done = Sentence("The grader connected, sent `last words` and shut down its sending side.")
    if not eof:
        mine = sock.getsockname()[1]
        ends = [h for h in peers.held(server, ("tcp", "tcp6")) if h.socket and h.socket.remote_port == mine]
        why = (
            (
                Sentence("the kernel shows your server's end of this connection (%(end)s): "
                         "CLOSE_WAIT means it has received the client's EOF (FIN) but never closed the socket", end=str(ends[0]))
                if ends[0].socket.state == "CLOSE_WAIT"
                else Sentence("the kernel shows your server's end of this connection (%(end)s): still open", end=str(ends[0]))
            )
            if ends
            else ""
        )
        raise SpecFailure(
            Sentence("Within %(seconds)s s the echo %(got)s came back but the server never closed its side.", seconds=deadline.STEP, got=repr(got)),
            done=done,
            evidence=[why, threads_doing(server.pid)],
            procs=[server],
        )
    if got != b"last words\n":
        raise SpecFailure(
            Sentence("The server echoed %(got)s and closed.", got=repr(got)),
            done=Sentence("The grader sent `last words` and its EOF."),
            fix=Sentence("Echo every byte before closing."),
            procs=[server],
        )


@spec(
    "socket.tcp-client-half-close",
    points=1,
    hint="At EOF on stdin call shutdown(SHUT_WR), not close(): it tells the server you are done "
    "sending and keeps the socket open for the replies still to come.",
)
def test_tcp_client_half_close(impl, grader_sockets):
    """The TCP client half-closes at the end of stdin and still prints what arrives after that."""
    listener = grader_sockets.tcp_listener()
    port = listener.getsockname()[1]
    client = impl.spawn("tcp-client", LOCALHOST, str(port))
    request, reply = b"request\n", b"reply, sent after your EOF\n"
    client.feed(request)
    if not peers.wait_readable(listener, client, deadline.STEP):
        raise peers.exited_or_silent(client, Sentence("connect to port %(port)s", port=port))
    conn, _ = listener.accept()
    grader_sockets.own(conn)
    got, eof = peers.recv_until_eof(conn, deadline.STEP)
    if not eof:
        raise SpecFailure(
            Sentence("%(program)s sent %(got)s but no EOF within %(seconds)s s of its stdin closing, so a "
                     "server never learns that the request is complete.", program=client.label, got=repr(got), seconds=deadline.STEP),
            evidence=[threads_doing(client.pid)],
            fix=Sentence("Call shutdown(SHUT_WR) at the end of stdin."),
            procs=[client],
        )
    if got != request:
        raise SpecFailure(Sentence("%(program)s sent %(got)s; its stdin was %(stdin)s.", program=client.label, got=repr(got), stdin=repr(request)), procs=[client])
    with peers.talking_to(client, Sentence("the grader's server sent its reply after the client's EOF")):
        conn.sendall(reply)
    conn.close()
    status = client.wait(deadline.STEP)
    if client.stdout.data != reply or not status.ok:
        raise SpecFailure(
            Sentence("The client printed %(output)s and %(status)s.", output=repr(client.stdout.data), status=status.words()),
            done=Sentence("After %(program)s sent its EOF, the grader's server replied %(reply)s and closed.", program=client.label, reply=repr(reply)),
            expected=Sentence("the reply and exit status 0"),
            fix=Sentence("Keep reading until recv() returns 0 after shutdown(SHUT_WR) (close() would end both "
                         "directions)."),
            procs=[client],
        )


@spec(
    "socket.tcp-refused",
    points=1,
    hint="connect() fails with ECONNREFUSED when nobody listens: print `connection refused` on "
    "stderr and exit 1.",
)
def test_tcp_refused(impl, grader_sockets):
    """A TCP client whose server is not listening exits 1 with `connection refused`."""
    # a port bound by the grader but not listening: nobody else can take it, nobody answers
    holder = grader_sockets.own(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
    holder.bind((LOCALHOST, 0))
    port = holder.getsockname()[1]
    client = impl.spawn("tcp-client", LOCALHOST, str(port))
    client.feed(b"hello?\n")
    if not client.exited_within(deadline.STEP):
        doing = threads_doing(client.pid)
        raise SpecTimeout(
            Sentence("%(program)s connected to port %(port)s, where nobody listens, and did not exit within %(seconds)s s"
                     ": it sleeps in a timer, not in connect, so it tries again after connect() failed with ECONNREFUSED "
                     "instead of reporting the refusal.", program=client.label, port=port, seconds=deadline.STEP)
            if "nanosleep" in doing
            else Sentence("%(program)s connected to port %(port)s, where nobody listens, and did not exit within %(seconds)s s.",
                          program=client.label, port=port, seconds=deadline.STEP),
            expected=Sentence("exit status 1 and `connection refused` on stderr, at once"),
            evidence=[Sentence("Your client: %(threads)s.", threads=doing)],
            procs=[client],
        )
    client.wait(deadline.STEP)
    if client.status.code != 1 or b"connection refused" not in client.stderr.data.lower():
        raise SpecFailure(
            Sentence("%(program)s connected to port %(port)s, where nobody listens; it %(status)s with stderr %(stderr)s.",
                     program=client.label, port=port, status=client.status.words(), stderr=repr(client.stderr.data[-200:])),
            expected=Sentence("exit status 1 and `connection refused` on stderr"),
            procs=[client],
        )
    # the work this refusal is about: with a server listening, the client talks to it
    peer = grader_sockets.echo_peer()
    with needs("socket.tcp-roundtrip"):
        client = impl.run("tcp-client", LOCALHOST, str(peer.port), input=b"hello?\n", timeout=deadline.STEP)
        if client.stdout.data != b"hello?\n" or not client.status.ok or peer.received != 7:
            raise SpecFailure(
                Sentence("%(program)s to the grader's echo server at port %(port)s printed %(output)s and "
                         "%(status)s; the server received %(received)s bytes.", program=client.label, port=peer.port,
                         output=repr(client.stdout.data[:80]), status=client.status.words(), received=peer.received),
                expected=Sentence("b'hello?\\n' through the server, and exit status 0"),
                procs=[client],
            )


@spec(
    "socket.tcp-restart-same-port",
    points=2,
    hint="setsockopt(SO_REUSEADDR, 1) on the listening socket before bind(): the killed server's "
    "connections linger in FIN_WAIT2/TIME_WAIT and otherwise block the port for a minute.",
)
def test_tcp_restart_same_port(impl, grader_sockets):
    """A TCP server killed with connections open can be restarted on the same port at once."""
    first, port = peers.start_tcp_server(impl)
    # an accepted connection outlives a killed server in the kernel (FIN_WAIT2, then TIME_WAIT)
    sock = grader_sockets.connect_tcp(port, who=first.label)
    peers.send(sock, b"open\n", first)
    if peers.recv_exact(sock, 5, deadline.STEP) != b"open\n":
        raise SpecFailure(Sentence("%(program)s did not echo `open` within %(seconds)s s.", program=first.label, seconds=deadline.STEP), procs=[first])
    first.send_signal(signal.SIGKILL)
    first.wait(deadline.STEP, check_implemented=False)
    lingering = [s for s in on_port(port) if not s.listening]
    again = impl.spawn("tcp-server", "--port", str(port))
    try:
        got = peers.listening_port(again)
    except SpecFailure:
        if again.poll() is None:
            raise
        raise SpecFailure(
            Sentence("The restarted server %(status)s with stderr %(stderr)s.", status=again.status.words(), stderr=repr(again.stderr.data[-200:])),
            done=Sentence("%(program)s was killed (SIGKILL) with a connection open on port %(port)s and started "
                          "again at once with --port %(port)s.", program=first.label, port=port),
            evidence=[Sentence("The kernel still lists the old connections on that port: %(connections)s.", connections="; ".join(str(s) for s in lingering[:3]))
                      if lingering else Sentence("The kernel still lists the old connections on that port: none.")],
            fix=Sentence("Set SO_REUSEADDR on the listening socket before bind(2)."),
            procs=[again, first],
        ) from None
    if got != port:
        raise SpecFailure(Sentence("restarted with --port %(port)s, your server printed `listening %(got)s`.", port=port, got=got), procs=[again])
    sock = grader_sockets.connect_tcp(port, who=again.label)
    echoed, _ = peers.ask(sock, b"again\n", again)
    if echoed != b"again\n":
        raise SpecFailure(Sentence("the restarted server on port %(port)s echoed %(echoed)s to `again`.", port=port, echoed=repr(echoed)), procs=[again])


@spec(
    "socket.servers-exit-on-sigterm",
    points=1,
    hint="Handle SIGTERM (or let its default action end you) in a way that ends the whole "
    "server, also while threads wait on clients, with exit status 0.",
)
def test_servers_exit_on_sigterm(impl, grader_sockets, ipc_tmp):
    """On SIGTERM each server exits with status 0, even with a client connected."""
    tcp, port = peers.start_tcp_server(impl)
    peers.send(grader_sockets.connect_tcp(port, who=tcp.label), b"idle\n", tcp)
    udp = impl.spawn("udp-server")
    peers.listening_port(udp)
    unix = peers.start_unix_server(impl, str(ipc_tmp / "term.sock"))
    peers.send(grader_sockets.connect_unix(str(ipc_tmp / "term.sock"), who=unix.label), b"idle\n", unix)
    for server in (tcp, udp, unix):
        server.send_signal(signal.SIGTERM)
    for server in (tcp, udp, unix):
        if not server.finished_within(deadline.STEP):
            raise SpecFailure(
                Sentence("%(program)s did not exit within %(seconds)s s of SIGTERM.", program=server.label, seconds=deadline.STEP),
                evidence=[threads_doing(server.pid)],
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


# --- UDP --------------------------------------------------------------------------------------

#: Lines for UDP: any bytes but the newline, 1 to 300 of them.
udp_line = st.binary(min_size=1, max_size=300).map(lambda b: b.replace(b"\n", b" "))


@spec(
    "socket.udp-roundtrip",
    points=2,
    hint="Client: sendto() each line without its newline, recvfrom() the reply, print it with a "
    "newline. Server: recvfrom() a datagram, sendto() it back to the address it came from.",
)
@spec_settings(max_examples=5)
@given(lines=st.lists(udp_line, min_size=1, max_size=8))
@example(lines=[b"hello", b"world"])
def test_udp_roundtrip(impl, reference, servers, lines):
    """Each line a UDP client sends comes back from the echo server as one line, in order."""
    text = b"".join(line + b"\n" for line in lines)
    for client, server in _pairings(impl, reference):
        port = servers.get(server, "udp")
        run = client.run("udp-client", LOCALHOST, str(port), input=text, timeout=deadline.EXIT)
        _check_output(run, text, _pair_name(client, server, "udp", _port(port)))


BOUNDARY_SIZES = [1, 17, 512, 1472, 1473, 4096, 9000, 30000]


def _boundary_lines(seed: int = 7) -> list[bytes]:
    return [sized_bytes(n, seed + i).replace(b"\n", b"-") for i, n in enumerate(BOUNDARY_SIZES)]


@spec(
    "socket.udp-boundaries",
    points=2,
    hint="One sendto() per line and one recvfrom() per reply, into a buffer big enough for any "
    "datagram (64 KiB): a datagram is a message, never read it in parts or join two.",
)
def test_udp_boundaries(impl, grader_sockets):
    """Datagrams of different sizes keep their boundaries: one datagram per line, each way."""
    lines = _boundary_lines()
    sizes = ", ".join(str(n) for n in BOUNDARY_SIZES)
    # your client against the grader's server, which records every datagram it gets
    peer = grader_sockets.udp()
    port = peer.getsockname()[1]
    client = impl.spawn("udp-client", LOCALHOST, str(port), capture_limit=MiB)
    client.feed(b"".join(line + b"\n" for line in lines))
    for i, line in enumerate(lines):
        if not peers.wait_readable(peer, client, deadline.STEP):
            raise peers.exited_or_silent(
                client, Sentence("send datagram %(n)s (the grader's UDP server got %(got)s; stdin had %(lines)s lines of %(sizes)s bytes)",
                                 n=i + 1, got=i, lines=len(lines), sizes=sizes),
            )
        datagram, sender = peer.recvfrom(1 << 17)
        if datagram != line:
            joined = b"\n" in datagram
            sizes_of = dict(n=i + 1, program=client.label, got=len(datagram), line=len(line))
            raise SpecFailure(
                Sentence("datagram %(n)s from %(program)s has %(got)s bytes; line %(n)s of its stdin has %(line)s"
                         " (the datagram holds a newline: several lines were sent as one).", **sizes_of)
                if joined
                else Sentence("datagram %(n)s from %(program)s has %(got)s bytes; line %(n)s of its stdin has %(line)s.", **sizes_of),
                fix=Sentence("Send each line, without its newline, as one datagram."),
                procs=[client],
            )
        peer.sendto(datagram, sender)
    client.wait(deadline.STEP)
    printed = client.stdout.data.split(b"\n")
    if printed[-1] == b"":
        printed.pop()
    if printed != lines:
        together = len(lines) > 1 and b"".join(printed) == b"".join(lines)
        echoed = dict(count=len(lines), sizes=sizes, program=client.label, printed=_counted(len(printed), "line"),
                      lengths=", ".join(str(len(p)) for p in printed[:12]))
        raise SpecFailure(
            Sentence("the grader's server echoed %(count)s datagrams of %(sizes)s bytes to %(program)s, which "
                     "printed %(printed)s of %(lengths)s bytes. Every byte of the replies is there, run together: "
                     "a newline after each reply is missing.", **echoed)
            if together
            else Sentence("the grader's server echoed %(count)s datagrams of %(sizes)s bytes to %(program)s, which "
                          "printed %(printed)s of %(lengths)s bytes.", **echoed),
            fix=Sentence("Print each reply as one line, as soon as it arrives, and receive into a buffer of 64 KiB."),
            procs=[client],
        )
    # the grader's client against your server: each datagram must come back whole and alone
    server = impl.spawn("udp-server")
    port = peers.listening_port(server)
    sock = grader_sockets.udp()
    for i, line in enumerate(lines):
        sock.sendto(line, (LOCALHOST, port))
        if not peers.wait_readable(sock, server, deadline.STEP):
            raise peers.exited_or_silent(server, Sentence("echo datagram %(n)s (%(count)s bytes)", n=i + 1, count=len(line)))
        reply, _ = sock.recvfrom(1 << 17)
        if reply != line:
            raise SpecFailure(
                Sentence("the grader sent %(program)s a datagram of %(sent)s bytes and got back one of %(got)s: %(difference)s.",
                         program=server.label, sent=len(line), got=len(reply), difference=first_difference(line, reply)),
                fix=Sentence("Receive each datagram whole (a 64 KiB buffer) and send it back with one sendto()."),
                procs=[server],
            )


@spec(
    "socket.udp-timeout",
    points=1,
    hint="Wait for a reply at most 2 s (SO_RCVTIMEO, settimeout, or poll with a timeout); then "
    "print `timeout` on stderr and exit 1.",
)
def test_udp_timeout(impl, grader_sockets):
    """A UDP client that gets no reply gives up after about 2 s: exit 1 with `timeout`."""
    silent = grader_sockets.udp()  # bound, so no ICMP error comes back, and it never answers
    port = silent.getsockname()[1]
    client = impl.spawn("udp-client", LOCALHOST, str(port))
    client.feed(b"anyone there?\n")
    if not peers.wait_readable(silent, client, deadline.STEP):
        raise peers.exited_or_silent(client, Sentence("send the line `anyone there?` as a datagram to port %(port)s", port=port))
    sent = time.monotonic()
    silent.recv(1 << 16)
    limit = Deadline(UDP_TIMEOUT_MAX)
    if not client.finished_within(limit):
        raise SpecFailure(
            Sentence("%(program)s sent its datagram to a server that never answers and was still waiting %(limit)s later.",
                     program=client.label, limit=str(limit)),
            evidence=[describe(client.pid)],
            fix=Sentence("Give up after 2 s: exit 1 with `timeout`."),
            procs=[client],
        )
    waited = time.monotonic() - sent
    status = client.wait(deadline.STEP)
    if waited < UDP_TIMEOUT_MIN:
        raise SpecFailure(
            Sentence("%(program)s gave up %(waited)s s after sending its datagram (%(status)s).",
                     program=client.label, waited=format(waited, ".2f"), status=status.words()),
            expected=Sentence("it to wait 2 seconds for a reply, as the contract says"),
            procs=[client],
        )
    if status.code != 1 or b"timeout" not in client.stderr.data.lower():
        raise SpecFailure(
            Sentence("%(program)s got no reply and %(status)s after %(waited)s s with stderr %(stderr)s.",
                     program=client.label, status=status.words(), waited=format(waited, ".2f"), stderr=repr(client.stderr.data[-200:])),
            expected=Sentence("exit status 1 and `timeout` on stderr"),
            procs=[client],
        )


# --- Unix-domain ------------------------------------------------------------------------------


@spec(
    "socket.unix-roundtrip",
    points=2,
    hint="The TCP client and server over AF_UNIX: the same stream, the same shutdown and EOF; "
    "only the address is a path.",
)
@spec_settings(max_examples=5)
@given(data=payloads([65536, 300_000, MiB]))
@example(data=b"")
@example(data=sized_bytes(MiB, 2))
def test_unix_roundtrip(impl, reference, servers, data):
    """Bytes sent through a Unix-domain stream socket come back from the echo server byte for byte."""
    for client, server in _pairings(impl, reference):
        proc, path = servers.started(server, "unix")
        _stream_roundtrip(client, proc, ("unix-client", path), data, _pair_name(client, server, "unix", path))


@spec(
    "socket.unix-stale-path",
    points=1,
    hint="bind() fails with EADDRINUSE on a socket file a dead server left behind: if connect() "
    "to it is refused, nobody uses it, so unlink() it and bind again.",
)
def test_unix_stale_path(impl, ipc_tmp, grader_sockets, run_context):
    """A Unix server replaces a stale socket file left at PATH by a server that died."""
    path = str(ipc_tmp / "stale.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as dead:
        dead.bind(path)  # closed without unlink: what a killed server leaves behind
    if not stat.S_ISSOCK(os.lstat(path).st_mode):
        raise HarnessBroken(f"could not make a stale socket file at {path}")
    give_to_programs(Path(path), run_context.sandbox)  # left by the program's own user, as it would be
    server = impl.spawn("unix-server", path)
    try:
        peers.listening_path(server, path)
    except SpecFailure:
        if server.poll() is None:
            raise
        raise SpecFailure(
            Sentence("%(program)s found a stale socket file at %(path)s (nobody listens on it: connect(2) is "
                     "refused) and %(status)s with stderr %(stderr)s.", program=server.label, path=path,
                     status=server.status.words(), stderr=repr(server.stderr.data[-200:])),
            fix=Sentence("Remove a stale socket file before bind(2)."),
            procs=[server],
        ) from None
    sock = grader_sockets.connect_unix(path, who=server.label)
    got, _ = peers.ask(sock, b"fresh\n", server)
    if got != b"fresh\n":
        raise SpecFailure(Sentence("%(program)s at %(path)s echoed %(got)s to `fresh`.", program=server.label, path=path, got=repr(got)), procs=[server])


@spec(
    "socket.unix-cleanup",
    points=1,
    hint="unlink() PATH before the server exits, also when SIGTERM ends it (handle SIGTERM, "
    "clean up, exit 0).",
)
def test_unix_cleanup(impl, ipc_tmp, grader_sockets):
    """A Unix server removes its socket file at PATH when SIGTERM ends it."""
    path = str(ipc_tmp / "clean.sock")
    server = peers.start_unix_server(impl, path)
    sock = grader_sockets.connect_unix(path, who=server.label)
    peers.ask(sock, b"bye\n", server)
    server.send_signal(signal.SIGTERM)
    status = server.wait(deadline.STEP)
    if os.path.lexists(path):
        raise SpecFailure(
            Sentence("%(program)s %(ended)s on SIGTERM and left its socket file %(path)s behind; the next "
                     "server finds a stale file there.", program=server.label, ended=status.ended, path=path),
            fix=Sentence("Remove PATH before exiting."),
            procs=[server],
        )


# --- the kernel's view ------------------------------------------------------------------------


def _require_socket(proc, test, wanted: str) -> Held:
    """Wait until PROC (or a child) holds a socket for which TEST is true; fail with what it holds."""
    def found():
        return next((h for h in peers.held(proc) if h.socket and test(h.socket)), None)

    try:
        return proc.wait_for(found, deadline.STEP, Sentence("%(program)s held a %(socket)s", program=proc.label, socket=wanted))
    except SpecTimeout:
        raise SpecFailure(
            Sentence("%(program)s (pid %(pid)s) holds no %(socket)s.", program=proc.label, pid=proc.pid, socket=wanted),
            evidence=[Sentence("/proc/%(pid)s/fd and /proc/%(pid)s/net show %(held)s.", pid=proc.pid, held=peers.list_held(peers.held(proc)))],
            procs=[proc],
        ) from None


@spec(
    "socket.uses-sockets",
    points=2,
    hint="Use socket(2) with the family the role names: AF_INET or AF_INET6 with SOCK_STREAM for "
    "TCP, SOCK_DGRAM for UDP, AF_UNIX with SOCK_STREAM for the Unix pair.",
)
def test_uses_sockets(impl, ipc_tmp):
    """Each program holds a real socket of its family, as /proc/PID/fd and /proc/PID/net show."""
    tcp, port = peers.start_tcp_server(impl)
    _require_socket(tcp, lambda s: s.protocol == "tcp" and s.listening and s.local_port == port, Sentence("TCP socket listening on port %(port)s", port=port))
    client = impl.spawn("tcp-client", LOCALHOST, str(port))  # stdin stays open: it stays connected
    _require_socket(client, lambda s: s.protocol == "tcp" and s.state == "ESTABLISHED" and s.remote_port == port, Sentence("TCP connection to port %(port)s", port=port))
    client.close_stdin()
    client.wait(deadline.STEP)

    udp = impl.spawn("udp-server")
    uport = peers.listening_port(udp)
    _require_socket(udp, lambda s: s.protocol == "udp" and s.local_port == uport, Sentence("UDP socket bound to port %(port)s", port=uport))
    uclient = impl.spawn("udp-client", LOCALHOST, str(uport))
    uclient.write(b"ping\n")  # a client may open its socket for the first line
    _require_socket(uclient, lambda s: s.protocol == "udp", Sentence("UDP socket"))
    uclient.close_stdin()
    uclient.wait(deadline.STEP)

    path = str(ipc_tmp / "uses.sock")
    unix = peers.start_unix_server(impl, path)
    _require_socket(unix, lambda s: s.table == "unix" and s.unix_type == "stream" and s.listening and s.local == path, Sentence("Unix stream socket listening at %(path)s", path=path))
    uxclient = impl.spawn("unix-client", path)
    _require_socket(uxclient, lambda s: s.table == "unix" and s.unix_type == "stream" and s.state == "CONNECTED", Sentence("connected Unix stream socket"))
    uxclient.close_stdin()
    uxclient.wait(deadline.STEP)


# --- across a network boundary ------------------------------------------------------------------


@spec(
    "socket.tcp-across-hosts",
    points=2,
    hint="`--host 0.0.0.0` means every address of the machine: bind to it as given (not to "
    "127.0.0.1); the client connects to the HOST it is given.",
)
def test_tcp_across_hosts(netns_pair, impl):
    """A TCP client on one host reaches the server on another, by IP address and port."""
    net = netns_pair
    payload = sized_bytes(ACROSS_PAYLOAD, ACROSS_SEED)
    server = net.spawn(impl, net.server_ns, "tcp-server", "--host", "0.0.0.0")
    try:
        port = peers.listening_port(server)
    except SpecFailure:
        if server.poll() == ExitStatus(ENTER_NETNS_FAILED) and not server.stderr.length:
            raise HarnessBroken(f"the server could not be started in network namespace {net.server_ns}") from None
        raise
    if not net.in_namespace(server.pid, net.server_ns):
        raise HarnessBroken(f"the server (pid {server.pid}) does not run in network namespace {net.server_ns}")
    client = net.spawn(impl, net.client_ns, "tcp-client", net.server_addr, str(port), capture_limit=len(payload) + 4096)
    client.feed(payload)
    what = Sentence(
        "%(program)s sent %(count)s bytes (pseudo-random, seed %(seed)s) to %(addr)s:%(port)s, where %(server)s listens with --host 0.0.0.0",
        program=client.label, count=len(payload), seed=ACROSS_SEED, addr=net.server_addr, port=port, server=server.label,
    )
    if not client.finished_within(deadline.EXIT):
        still = [h.socket for h in peers.held(client, ("tcp", "tcp6")) if h.socket and h.socket.state == "ESTABLISHED"] if client.fed >= len(payload) else []
        raise client.not_finished(
            Sentence("%(what)s; it %(did_not_exit)s.", what=what, did_not_exit=client.did_not_exit(deadline.EXIT)),
            evidence=[
                threads_doing(client.pid),
                Sentence("All of its stdin went in, yet the kernel shows its end of the connection still ESTABLISHED (%(socket)s): "
                         "it never half-closed it (shutdown(SHUT_WR)), so the server never reads EOF and never ends its echo.",
                         socket=str(still[0])) if still else "",
                next((Sentence("The server's end of the connection is in CLOSE_WAIT (%(socket)s): the client's EOF came, and the server "
                               "never closed its side, so the client never reads EOF.", socket=str(h.socket))
                      for h in peers.held(server, ("tcp", "tcp6")) if h.socket and h.socket.state == "CLOSE_WAIT"), ""),
            ],
            procs=[client, server],
        )
    client.wait(deadline.STEP)
    if not client.stdout.matches(payload) or not client.status.ok:
        listening = [h for h in peers.held(server, ("tcp", "tcp6")) if h.socket and h.socket.listening]
        where = (
            (
                Sentence("The server's listening socket, as the kernel on its host shows it: %(socket)s: bound to %(addr)s only, "
                         "so no other host reaches it.", socket=str(listening[0]), addr=listening[0].socket.local_addr)
                if listening[0].socket.local_addr not in ("0.0.0.0", "::")
                else Sentence("The server's listening socket, as the kernel on its host shows it: %(socket)s.", socket=str(listening[0]))
            )
            if listening
            else ""
        )
        got = client.stdout.data
        early = client.status.ok and got and len(got) < len(payload) and payload.startswith(got)
        came_back = dict(what=what, status=client.status.words(), difference=first_difference(payload, got))
        raise SpecFailure(
            Sentence("%(what)s; it %(status)s, and what came back differs: %(difference)s. It exited 0 after a first part of the "
                     "echo: it stopped reading before EOF (one recv(2) returns what has arrived so far, not the whole echo).", **came_back)
            if early
            else Sentence("%(what)s; it %(status)s, and what came back differs: %(difference)s.", **came_back),
            evidence=[where],
            procs=[client, server],
        )
