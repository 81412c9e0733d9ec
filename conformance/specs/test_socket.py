"""Specs for `socket`: TCP, UDP and Unix-domain sockets, on one host and across two.

socket(7), tcp(7), udp(7), unix(7), shutdown(2), setsockopt(2) (SO_REUSEADDR), ip-netns(8).
The seeds: a socket is a communication endpoint named by an address and a port; unlike every
other IPC here it has no machine boundary, so a process on another host reaches it by IP address
plus port. TCP is a connected byte stream (no message boundaries: a recv returns whatever has
arrived), UDP carries datagrams (one send is one message), and a server serves many clients.

Every port comes from the server's `listening PORT` line (the server binds port 0); every Unix
socket path lives in the spec's own directory. Where the grader itself plays client or server
it uses its own sockets, closed when the spec ends; the kernel's view of the implementation's
sockets comes from /proc/PID/fd and /proc/PID/net (conformance.netstat).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import select
import shutil
import signal
import socket
import stat
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from conformance import netstat, observe, sandbox
from conformance.deadline import Deadline
from conformance.outcomes import HarnessBroken, SpecFailure, SpecTimeout, Unsupported
from conformance.process import ExitStatus
from conformance.spec import spec
from conformance.strategies import (
    describe_bytes,
    first_difference,
    payloads,
    sized_bytes,
    spec_settings,
)

MiB = 1 << 20
#: How long a program gets to do one step: print `listening`, answer one small request, exit.
STEP_DEADLINE = 5
#: How long a client may take to pass up to 1 MiB through a server and exit.
EXIT_DEADLINE = 10
#: The whole budget for 16 MiB through a client (Python moves it in well under a second).
LARGE_DEADLINE = 30
#: Measurement window for progress of a large transfer; STALL_WINDOWS of them without any
#: progress while the client sleeps is a deadlock.
STALL_WINDOW = 0.5
STALL_WINDOWS = 3
#: The grader's echo peer for the large payload keeps its socket buffers this small, so a
#: client that sends everything before it reads stalls on any machine (the kernel doubles it).
PEER_BUFFER = 64 << 10
LARGE_PAYLOAD = 16 * MiB
#: The contract's UDP reply timeout is 2 s; accepted: from UDP_TIMEOUT_MIN to UDP_TIMEOUT_MAX
#: (the upper bound is scaled like every deadline).
UDP_TIMEOUT_MIN = 1.5
UDP_TIMEOUT_MAX = 6
MANY_CLIENTS = 200
#: Descriptors a server may gain over MANY_CLIENTS clients before it counts as a leak (a
#: lazily opened file, a thread pool's pipe): a leak of one per client shows as 200.
FD_SLACK = 10
#: How long a server gets, after its last client saw EOF, to have closed that connection.
CLOSE_DEADLINE = 2

LOCALHOST = "127.0.0.1"
#: Seeds of the pseudo-random payloads that are not drawn by Hypothesis (printed on failure).
LARGE_SEED = 16
ACROSS_SEED = 213
ACROSS_PAYLOAD = 256 << 10
#: The exit status of a program whose supervisor could not enter its network namespace.
ENTER_NETNS_FAILED = 126


# --- the grader's own sockets ---------------------------------------------------------------


class EchoPeer:
    """A TCP echo server inside the grader, for one client, with small fixed socket buffers.

    It counts what it received and sent, so a stalled transfer can be told apart from a slow
    one, and says whether it is blocked sending (the client is not reading).
    """

    def __init__(self, buffer: int = PEER_BUFFER) -> None:
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # set before listen(2): accepted sockets inherit them, and a fixed size turns off the
        # kernel's buffer autotuning, so how much the connection holds does not vary by machine
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, buffer)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, buffer)
        self.listener.bind((LOCALHOST, 0))
        self.listener.listen(1)
        self.port = self.listener.getsockname()[1]
        self.conn: socket.socket | None = None
        self.received = 0
        self.sent = 0
        self.sending = False
        self.eof = False
        self.error: str | None = None
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        try:
            conn, _ = self.listener.accept()
        except OSError:
            return
        self.conn = conn
        try:
            while True:
                data = conn.recv(1 << 16)
                if not data:
                    self.eof = True
                    break
                self.received += len(data)
                view = memoryview(data)
                self.sending = True
                while view:
                    n = conn.send(view)
                    self.sent += n
                    view = view[n:]
                self.sending = False
            conn.shutdown(socket.SHUT_WR)
        except OSError as exc:
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            self.sending = False

    @property
    def progress(self) -> tuple[int, int, bool]:
        return (self.received, self.sent, self.eof)

    def close(self) -> None:
        for sock in (self.conn, self.listener):
            if sock is None:
                continue
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # wakes the thread from accept/recv/send
            sock.close()
        self._thread.join(STEP_DEADLINE)


class GraderSockets:
    """The sockets and peers the grader opens during one spec; all closed when it ends."""

    def __init__(self) -> None:
        self._stack = contextlib.ExitStack()

    def own(self, sock: socket.socket) -> socket.socket:
        self._stack.callback(sock.close)
        return sock

    def connect_tcp(self, port: int, host: str = LOCALHOST, who: str = "the server") -> socket.socket:
        sock = self.own(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
        sock.settimeout(Deadline(STEP_DEADLINE).remaining())
        try:
            sock.connect((host, port))
        except OSError as exc:
            raise SpecFailure(f"the grader could not connect to {who} at {host}:{port}: {_errno(exc)}.") from None
        return sock

    def connect_unix(self, path: str, who: str = "the server") -> socket.socket:
        sock = self.own(socket.socket(socket.AF_UNIX, socket.SOCK_STREAM))
        sock.settimeout(Deadline(STEP_DEADLINE).remaining())
        try:
            sock.connect(path)
        except OSError as exc:
            raise SpecFailure(f"the grader could not connect to {who} at {path}: {_errno(exc)}.") from None
        return sock

    def tcp_listener(self) -> socket.socket:
        sock = self.own(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
        sock.bind((LOCALHOST, 0))
        sock.listen(1)
        return sock

    def udp(self) -> socket.socket:
        sock = self.own(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
        sock.bind((LOCALHOST, 0))
        return sock

    def echo_peer(self) -> EchoPeer:
        peer = EchoPeer()
        self._stack.callback(peer.close)
        return peer

    def close(self) -> None:
        self._stack.close()


def _errno(exc: OSError) -> str:
    if isinstance(exc, socket.timeout):
        return "no answer before the deadline"
    name = errno.errorcode.get(exc.errno or 0)
    return f"{name} ({exc.strerror})" if name else str(exc)


@contextlib.contextmanager
def _talking_to(proc, what: str):
    """Turn a failure of the grader's own socket I/O with PROC into a finding about PROC."""
    try:
        yield
    except OSError as exc:
        raise SpecFailure(f"{what}: {_errno(exc)}; {observe.describe(proc.pid)}.\n{proc.transcript()}") from None


def _wait_readable(sock: socket.socket, proc, timeout: float) -> bool:
    """Wait until SOCK has something to read (or accept); False at the deadline or if PROC exits first."""
    deadline = Deadline.of(timeout)
    try:
        pidfd = os.pidfd_open(proc.pid)
    except OSError:
        pidfd = None
    try:
        ready, _, _ = select.select([sock, *([pidfd] if pidfd is not None else [])], [], [], deadline.remaining())
        if sock in ready:
            return True
        if not ready:
            return False
        # the program exited; what it sent before that may still be on its way
        ready, _, _ = select.select([sock], [], [], 0)
        return bool(ready)
    finally:
        if pidfd is not None:
            os.close(pidfd)


def _exited_or_silent(proc, what: str) -> SpecFailure:
    """The finding when PROC sent nothing: its exit (a stub's `not implemented` raises), or silence."""
    if proc.poll() is not None:
        proc.wait(STEP_DEADLINE)  # a stub's `not implemented` ends the spec here
        return SpecFailure(f"{proc.label} exited ({proc.status}) before {what}.\n{proc.transcript()}")
    return SpecFailure(f"{proc.label} did not {what} within {STEP_DEADLINE} s; {observe.describe(proc.pid)}.\n{proc.transcript()}")


def _send(sock: socket.socket, data: bytes, proc, shut: bool = False) -> None:
    """The grader sends DATA to PROC (then its EOF, if SHUT); a reset is PROC's doing."""
    with _talking_to(proc, f"the grader sending {data[:40]!r} to {proc.label} failed"):
        sock.sendall(data)
        if shut:
            sock.shutdown(socket.SHUT_WR)


def _recv_until_eof(sock: socket.socket, timeout: float, stuck=None) -> tuple[bytes, bool]:
    """Everything SOCK receives until the peer's EOF, and whether EOF came before the deadline.

    STUCK, if given, is asked after each STALL_WINDOW without data; STALL_WINDOWS yeses in a
    row end the wait early: the kernel shows that nothing will come.
    """
    deadline = Deadline.of(timeout)
    out = bytearray()
    still = 0
    while True:
        remaining = deadline.remaining()
        if remaining <= 0:
            return bytes(out), False
        sock.settimeout(min(remaining, Deadline(STALL_WINDOW).remaining()) if stuck else remaining)
        try:
            data = sock.recv(1 << 16)
        except socket.timeout:
            still = still + 1 if stuck and stuck() else 0
            if still >= STALL_WINDOWS:
                return bytes(out), False
            continue
        except OSError:
            return bytes(out), True  # reset: the peer has gone, which ends the stream too
        if not data:
            return bytes(out), True
        out += data
        still = 0


def _recv_exact(sock: socket.socket, n: int, timeout: float) -> bytes:
    """Up to N bytes from SOCK: fewer only at EOF or the deadline."""
    deadline = Deadline.of(timeout)
    out = bytearray()
    while len(out) < n:
        remaining = deadline.remaining()
        if remaining <= 0:
            break
        sock.settimeout(remaining)
        try:
            data = sock.recv(n - len(out))
        except (socket.timeout, OSError):
            break
        if not data:
            break
        out += data
    return bytes(out)


@pytest.fixture
def grader_sockets():
    """The grader's own sockets for this spec, closed at its end even when it fails."""
    sockets = GraderSockets()
    yield sockets
    sockets.close()


# --- the implementation's servers ------------------------------------------------------------


def _listening_port(server) -> int:
    """The port from SERVER's `listening PORT` line."""
    m = server.expect_line(r"listening\s+(\S+)", STEP_DEADLINE, what="`listening PORT`")
    text = m.group(1)
    if not re.fullmatch(r"[0-9]{1,5}", text) or not 0 < int(text) < 65536:
        raise SpecFailure(
            f"{server.label} printed `listening {text}`; expected the port it is bound to, a number "
            f"from 1 to 65535 (bind to port 0, then ask getsockname(2) which port you got).\n{server.transcript()}"
        )
    return int(text)


def _listening_path(server, path: str) -> None:
    m = server.expect_line(r"listening\s+(.*)", STEP_DEADLINE, what=f"`listening {path}`")
    if m.group(1) != path:
        raise SpecFailure(
            f"{server.label} printed `listening {m.group(1)}`; expected `listening {path}`, the PATH "
            f"it was given.\n{server.transcript()}"
        )


def _start_tcp_server(side, *args: str):
    server = side.spawn("tcp-server", *args)
    return server, _listening_port(server)


def _start_unix_server(side, path: str):
    server = side.spawn("unix-server", path)
    _listening_path(server, path)
    return server


class Servers:
    """Servers started once per spec and reused by every Hypothesis example."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self._running: dict[tuple[str, str], tuple[object, object]] = {}

    def get(self, side, kind: str):
        """The port (tcp, udp) or path (unix) of SIDE's server of KIND, started on first use."""
        return self.started(side, kind)[1]

    def started(self, side, kind: str):
        """(process, port or path) of SIDE's server of KIND, started on first use."""
        key = (side.who, kind)
        if key in self._running:
            proc, where = self._running[key]
            if proc.poll() is not None:
                raise SpecFailure(
                    f"{proc.label} exited ({proc.status}) after serving earlier clients; a server "
                    f"serves clients until it is told to stop.\n{proc.transcript()}"
                )
            return proc, where
        if kind == "unix":
            where = str(self.tmp / f"{'ref' if side.who == 'the reference' else 'impl'}.sock")
            proc = _start_unix_server(side, where)
        else:
            proc = side.spawn(f"{kind}-server")
            where = _listening_port(proc)
        self._running[key] = (proc, where)
        return proc, where


@pytest.fixture
def servers(ipc_tmp) -> Servers:
    return Servers(ipc_tmp)


def _pairings(impl, reference):
    """(client side, server side): yours against the reference both ways, then your own pair."""
    return [(impl, reference), (reference, impl), (impl, impl)]


def _pair_name(client, server, kind: str, where) -> str:
    return f"{client.who} `socket {kind}-client` against {server.who} `socket {kind}-server` ({where})"


def _stream_roundtrip(client, server, args, data: bytes, what: str) -> None:
    """CLIENT's program with ARGS passes DATA through SERVER (a running Proc) and back, or fails."""
    run = client.spawn(*args, capture_limit=len(data) + 4096)
    run.feed(data)
    try:
        _wait_moving(run, Deadline(EXIT_DEADLINE), lambda: (run.fed, run.stdout.length), others=server.tree)
    except Stalled:
        raise SpecFailure(
            f"{what}: deadlock. The client took {run.fed} of {len(data)} bytes from its stdin and "
            f"printed {run.stdout.length} bytes of the echo, then nothing moved for "
            f"{STALL_WINDOW * STALL_WINDOWS:g} s while client and server slept. Client: "
            f"{_threads_doing(run.pid)}. Server: {'; '.join(_threads_doing(p) for p in server.tree())}. "
            f"A client must read the echo while it still sends, and a server must send what it "
            f"read before it reads more.\n{run.transcript()}\n{server.transcript()}"
        ) from None
    run.wait(STEP_DEADLINE)
    _check_output(run, data, what)


def _check_output(proc, expected: bytes, what: str) -> None:
    if not proc.stdout.matches(expected):
        got = proc.stdout.data
        early = (
            " The client stopped before the server's EOF: one recv() returns what has arrived so "
            "far, so loop until it returns 0."
            if proc.stdout.complete and len(got) < len(expected) and expected.startswith(got) and proc.status.ok
            else ""
        )
        raise SpecFailure(
            f"{what}: sent {describe_bytes(expected)}; what came back differs: "
            f"{first_difference(expected, got)}.{early}\n{proc.transcript()}"
        )
    if not proc.status.ok:
        raise SpecFailure(f"{what}: the data came back but the client {proc.status}; expected exit status 0.\n{proc.transcript()}")


# --- evidence from the kernel ----------------------------------------------------------------


def _held(proc, tables=netstat.TABLES) -> list[netstat.Held]:
    return netstat.held(proc.tree(), tables)


def _list_held(held: list[netstat.Held], limit: int = 6) -> str:
    if not held:
        return "no socket at all"
    shown = "; ".join(str(h) for h in held[:limit])
    return shown + (f"; and {len(held) - limit} more" if len(held) > limit else "")


def _fd_count(proc) -> int:
    return sum(len(observe.fds(pid)) for pid in proc.tree())


def _threads_doing(pid: int) -> str:
    """What each thread of PID is doing, for a message: `main thread in accept4, 1 thread in recvfrom`."""
    tids = observe.threads(pid)
    parts = []
    for tid in tids:
        try:
            sc = observe.syscall(pid, tid if len(tids) > 1 else None)
        except observe.NOT_SHOWN:
            return observe.describe(pid)
        what = "running" if sc is None or sc.running else f"in {sc}"
        parts.append(f"{'main thread' if tid == pid else f'thread {tid}'} {what}")
    return f"pid {pid}: " + ", ".join(parts) if parts else observe.describe(pid)


class Stalled(Exception):
    """Nothing moved for STALL_WINDOWS windows while every process involved slept."""


def _wait_moving(client, deadline: Deadline, progress, others=list) -> None:
    """Wait for CLIENT to exit while data moves; Stalled as soon as it is clearly deadlocked.

    PROGRESS() returns counters of the transfer. A deadlock is no change in them over
    STALL_WINDOWS measurement windows while CLIENT and every process in OTHERS (a callable
    returning pids) sleep: a starved process would be runnable, not asleep.
    """
    last, still = None, 0
    while not client.exited_within(STALL_WINDOW):
        now = progress()
        asleep = observe.asleep(client.pid) and all(observe.asleep(pid) for pid in others())
        still = still + 1 if now == last and asleep else 0
        last = now
        if still >= STALL_WINDOWS:
            raise Stalled()
        if deadline.expired():
            raise SpecTimeout(
                f"{client.label} did not finish within {deadline}: it took {client.fed} bytes from "
                f"stdin and printed {client.stdout.length}; {_threads_doing(client.pid)}.\n{client.transcript()}"
            )


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
        what = _pair_name(client, server, "tcp", f"port {port}")
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
        _wait_moving(client, Deadline(LARGE_DEADLINE), lambda: (client.fed, *peer.progress, client.stdout.length))
    except Stalled:
        raise SpecFailure(
            f"deadlock: for {STALL_WINDOW * STALL_WINDOWS:g} s nothing moved. Your client took "
            f"{client.fed} of {len(payload)} bytes from its stdin, the grader's echo server "
            f"received {peer.received} bytes and sent {peer.sent} back"
            + (" and is blocked sending more" if peer.sending else "")
            + f", and your client printed {client.stdout.length} bytes of them; "
            f"{_threads_doing(client.pid)}. A client that reads nothing until it has sent "
            f"everything stops once the socket buffers fill both ways: the server cannot send, "
            f"so it stops reading. (Payload: {len(payload)} pseudo-random bytes, seed {LARGE_SEED}.)"
            f"\n{client.transcript()}"
        ) from None
    client.wait(STEP_DEADLINE)
    if not client.stdout.matches(payload):
        raise SpecFailure(
            f"{client.label} sent {len(payload)} bytes (pseudo-random, seed {LARGE_SEED}) to an echo "
            f"server; what it printed differs: {first_difference(payload, client.stdout.data)}"
            + ("" if client.stdout.complete else " (the grader keeps only part of the output)")
            + f".\n{client.transcript()}"
        )
    if not client.status.ok:
        raise SpecFailure(f"{client.label} passed 16 MiB but {client.status}; expected exit status 0.\n{client.transcript()}")


@spec(
    "socket.tcp-concurrent-clients",
    points=2,
    hint="Serve each accepted connection in its own thread or process, or multiplex them all "
    "with poll/select: never block in recv() on one client while others wait.",
)
def test_tcp_concurrent_clients(impl, grader_sockets):
    """While one client is connected and idle, the TCP server still serves another."""
    server, port = _start_tcp_server(impl)
    idle = grader_sockets.connect_tcp(port, who=server.label)
    _send(idle, b"first client\n", server)
    if _recv_exact(idle, 13, STEP_DEADLINE) != b"first client\n":
        raise SpecFailure(f"{server.label} did not echo `first client` to its first client within {STEP_DEADLINE} s.\n{server.transcript()}")
    # the first client now stays connected and sends nothing
    second = grader_sockets.connect_tcp(port, who=server.label)
    _send(second, b"second client\n", server, shut=True)

    def not_accepted() -> bool:  # its connection waits in the accept queue while the server sleeps
        queued = any(s.listening and s.rx_queue for s in netstat.on_port(port, pid=server.pid))
        return queued and all(observe.asleep(pid) for pid in server.tree())

    got, eof = _recv_until_eof(second, STEP_DEADLINE, stuck=not_accepted)
    if got != b"second client\n" or not eof:
        waiting = [s for s in netstat.on_port(port, pid=server.pid) if s.listening and s.rx_queue]
        queued = (
            f"; the kernel shows {waiting[0].rx_queue} connection(s) waiting in the accept queue "
            f"of the listening socket, never accepted" if waiting else ""
        )
        raise SpecFailure(
            f"with one client connected and idle, a second client sent `second client` and its EOF; "
            f"it got back {got!r}{'' if eof else ' and no EOF'}{queued}. "
            f"Your server: {_threads_doing(server.pid)}. A server that serves one client at a time "
            f"is still busy with the idle one: serve each client in its own thread or process, or "
            f"with poll/select.\n{server.transcript()}"
        )
    _send(idle, b"still here\n", server)
    if _recv_exact(idle, 11, STEP_DEADLINE) != b"still here\n":
        raise SpecFailure(
            f"after serving a second client, {server.label} no longer echoes to the first, which is "
            f"still connected.\n{server.transcript()}"
        )


@spec(
    "socket.tcp-many-clients-no-leak",
    points=2,
    hint="close() each connection's socket when its client is done (in the parent too, if you "
    "fork per client): a server that runs for days must not keep one descriptor per client.",
)
def test_tcp_many_clients_no_leak(impl, grader_sockets):
    """After 200 clients one after another, the TCP server holds no more descriptors than before."""
    server, port = _start_tcp_server(impl)

    def one_client(i: int) -> None:
        message = f"client {i}\n".encode()
        with _talking_to(server, f"client {i + 1} of {MANY_CLIENTS} (one after another) connecting to port {port}"):
            sock = socket.create_connection((LOCALHOST, port), timeout=Deadline(STEP_DEADLINE).remaining())
        with sock:
            _send(sock, message, server, shut=True)
            got, eof = _recv_until_eof(sock, STEP_DEADLINE)
        if got != message or not eof:
            raise SpecFailure(
                f"client {i + 1} of {MANY_CLIENTS} (one after another) sent {message!r} and its EOF and "
                f"got back {got!r}{'' if eof else ' and no EOF'} within {STEP_DEADLINE} s; "
                f"{_threads_doing(server.pid)}.\n{server.transcript()}"
            )

    one_client(0)  # a first client may make a server open what it keeps for good
    before = _fd_count(server)
    for i in range(1, MANY_CLIENTS + 1):
        one_client(i)
    try:
        observe.wait_until(lambda: _fd_count(server) <= before + FD_SLACK, CLOSE_DEADLINE, "the fds to close")
    except SpecTimeout:
        after = _fd_count(server)
        sockets = [h for h in _held(server) if not (h.socket and h.socket.listening)]
        states: dict[str, int] = {}
        for h in sockets:
            states[h.socket.state if h.socket else "unknown"] = states.get(h.socket.state if h.socket else "unknown", 0) + 1
        raise SpecFailure(
            f"{MANY_CLIENTS} clients connected one after another, each sent a line and its EOF, got "
            f"its echo and EOF, and closed. Your server held {before} descriptors before them and "
            f"{after} after: it keeps {len(sockets)} connection sockets ("
            + ", ".join(f"{n} {s}" for s, n in sorted(states.items()))
            + f"), for example {_list_held(sockets, 3)}. Close each connection's socket once its client "
            f"is done.\n{server.transcript()}"
        ) from None


@spec(
    "socket.tcp-eof",
    points=2,
    hint="When recv() returns 0 the client has sent everything: send what is left, then close() "
    "the connection, so the client's read returns 0 too.",
)
def test_tcp_eof(impl, grader_sockets):
    """The TCP server closes its side once the client has sent EOF and had its echo."""
    server, port = _start_tcp_server(impl)
    sock = grader_sockets.connect_tcp(port, who=server.label)
    _send(sock, b"last words\n", server, shut=True)
    got, eof = _recv_until_eof(sock, STEP_DEADLINE)
    if not eof:
        mine = sock.getsockname()[1]
        ends = [h for h in _held(server, ("tcp", "tcp6")) if h.socket and h.socket.remote_port == mine]
        why = (
            f"; the kernel shows your server's end of this connection ({ends[0]}): "
            + (
                "CLOSE_WAIT means it has received the client's EOF (FIN) but never closed the socket"
                if ends[0].socket.state == "CLOSE_WAIT"
                else "still open"
            )
            if ends
            else ""
        )
        raise SpecFailure(
            f"the grader connected, sent `last words` and shut down its sending side; within "
            f"{STEP_DEADLINE} s the echo {got!r} came back but the server never closed its side{why}. "
            f"{_threads_doing(server.pid)}.\n{server.transcript()}"
        )
    if got != b"last words\n":
        raise SpecFailure(
            f"the grader sent `last words` and its EOF; the server echoed {got!r} and closed. Echo "
            f"every byte before closing.\n{server.transcript()}"
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
    if not _wait_readable(listener, client, STEP_DEADLINE):
        raise _exited_or_silent(client, f"connect to port {port}")
    conn, _ = listener.accept()
    grader_sockets.own(conn)
    got, eof = _recv_until_eof(conn, STEP_DEADLINE)
    if not eof:
        raise SpecFailure(
            f"{client.label} sent {got!r} but no EOF within {STEP_DEADLINE} s of its stdin closing, so a "
            f"server never learns that the request is complete; {_threads_doing(client.pid)}. Call "
            f"shutdown(SHUT_WR) at the end of stdin.\n{client.transcript()}"
        )
    if got != request:
        raise SpecFailure(f"{client.label} sent {got!r}; its stdin was {request!r}.\n{client.transcript()}")
    with _talking_to(client, "the grader's server sent its reply after the client's EOF"):
        conn.sendall(reply)
    conn.close()
    status = client.wait(STEP_DEADLINE)
    if client.stdout.data != reply or not status.ok:
        raise SpecFailure(
            f"after {client.label} sent its EOF, the grader's server replied {reply!r} and closed; the "
            f"client printed {client.stdout.data!r} and {status}. Expected the reply and exit status 0: "
            f"keep reading until recv() returns 0 after shutdown(SHUT_WR) (close() would end both "
            f"directions).\n{client.transcript()}"
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
    client = impl.run("tcp-client", LOCALHOST, str(port), input=b"hello?\n", timeout=STEP_DEADLINE)
    if client.status.code != 1 or b"connection refused" not in client.stderr.data.lower():
        raise SpecFailure(
            f"{client.label} connected to port {port}, where nobody listens; it {client.status} with "
            f"stderr {client.stderr.data[-200:]!r}. Expected exit status 1 and `connection refused` "
            f"on stderr.\n{client.transcript()}"
        )


@spec(
    "socket.tcp-restart-same-port",
    points=2,
    hint="setsockopt(SO_REUSEADDR, 1) on the listening socket before bind(): the killed server's "
    "connections linger in FIN_WAIT2/TIME_WAIT and otherwise block the port for a minute.",
)
def test_tcp_restart_same_port(impl, grader_sockets):
    """A TCP server killed with connections open can be restarted on the same port at once."""
    first, port = _start_tcp_server(impl)
    # an accepted connection outlives a killed server in the kernel (FIN_WAIT2, then TIME_WAIT)
    sock = grader_sockets.connect_tcp(port, who=first.label)
    _send(sock, b"open\n", first)
    if _recv_exact(sock, 5, STEP_DEADLINE) != b"open\n":
        raise SpecFailure(f"{first.label} did not echo `open` within {STEP_DEADLINE} s.\n{first.transcript()}")
    first.send_signal(signal.SIGKILL)
    first.wait(STEP_DEADLINE, check_implemented=False)
    lingering = [s for s in netstat.on_port(port) if not s.listening]
    again = impl.spawn("tcp-server", "--port", str(port))
    try:
        got = _listening_port(again)
    except SpecFailure:
        if again.poll() is None:
            raise
        raise SpecFailure(
            f"{first.label} was killed (SIGKILL) with a connection open on port {port} and started "
            f"again at once with --port {port}; the restarted server {again.status} with stderr "
            f"{again.stderr.data[-200:]!r}. The kernel still lists the old connections on that port: "
            + ("; ".join(str(s) for s in lingering[:3]) or "none")
            + ". Set SO_REUSEADDR on the listening socket before bind(2)."
            f"\n{again.transcript()}"
        ) from None
    if got != port:
        raise SpecFailure(f"restarted with --port {port}, your server printed `listening {got}`.\n{again.transcript()}")
    sock = grader_sockets.connect_tcp(port, who=again.label)
    _send(sock, b"again\n", again, shut=True)
    echoed, _ = _recv_until_eof(sock, STEP_DEADLINE)
    if echoed != b"again\n":
        raise SpecFailure(f"the restarted server on port {port} echoed {echoed!r} to `again`.\n{again.transcript()}")


@spec(
    "socket.servers-exit-on-sigterm",
    points=1,
    hint="Handle SIGTERM (or let its default action end you) in a way that ends the whole "
    "server, also while threads wait on clients, with exit status 0.",
)
def test_servers_exit_on_sigterm(impl, grader_sockets, ipc_tmp):
    """On SIGTERM each server exits with status 0, even with a client connected."""
    tcp, port = _start_tcp_server(impl)
    _send(grader_sockets.connect_tcp(port, who=tcp.label), b"idle\n", tcp)
    udp = impl.spawn("udp-server")
    _listening_port(udp)
    unix = _start_unix_server(impl, str(ipc_tmp / "term.sock"))
    _send(grader_sockets.connect_unix(str(ipc_tmp / "term.sock"), who=unix.label), b"idle\n", unix)
    for server in (tcp, udp, unix):
        server.send_signal(signal.SIGTERM)
    for server in (tcp, udp, unix):
        if not server.exited_within(STEP_DEADLINE):
            raise SpecFailure(
                f"{server.label} did not exit within {STEP_DEADLINE} s of SIGTERM; {_threads_doing(server.pid)}."
                f"\n{server.transcript()}"
            )
        status = server.wait(STEP_DEADLINE)
        if not status.ok:
            raise SpecFailure(f"on SIGTERM {server.label} {status}; expected exit status 0.\n{server.transcript()}")


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
        run = client.run("udp-client", LOCALHOST, str(port), input=text, timeout=EXIT_DEADLINE)
        _check_output(run, text, _pair_name(client, server, "udp", f"port {port}"))


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
        if not _wait_readable(peer, client, STEP_DEADLINE):
            raise _exited_or_silent(
                client, f"send datagram {i + 1} (the grader's UDP server got {i}; stdin had {len(lines)} lines of {sizes} bytes)"
            )
        datagram, sender = peer.recvfrom(1 << 17)
        if datagram != line:
            joined = b"\n" in datagram
            raise SpecFailure(
                f"datagram {i + 1} from {client.label} has {len(datagram)} bytes; line {i + 1} of its "
                f"stdin has {len(line)}"
                + (" (the datagram holds a newline: several lines were sent as one)" if joined else "")
                + ". Send each line, without its newline, as one datagram.\n" + client.transcript()
            )
        peer.sendto(datagram, sender)
    client.wait(STEP_DEADLINE)
    printed = client.stdout.data.split(b"\n")
    if printed[-1] == b"":
        printed.pop()
    if printed != lines:
        raise SpecFailure(
            f"the grader's server echoed {len(lines)} datagrams of {sizes} bytes to {client.label}, which "
            f"printed {len(printed)} lines of {', '.join(str(len(p)) for p in printed[:12])} bytes. "
            f"Print each reply as one line, as soon as it arrives, and receive into a buffer of 64 KiB."
            f"\n{client.transcript()}"
        )
    # the grader's client against your server: each datagram must come back whole and alone
    server = impl.spawn("udp-server")
    port = _listening_port(server)
    sock = grader_sockets.udp()
    for i, line in enumerate(lines):
        sock.sendto(line, (LOCALHOST, port))
        if not _wait_readable(sock, server, STEP_DEADLINE):
            raise _exited_or_silent(server, f"echo datagram {i + 1} ({len(line)} bytes)")
        reply, _ = sock.recvfrom(1 << 17)
        if reply != line:
            raise SpecFailure(
                f"the grader sent {server.label} a datagram of {len(line)} bytes and got back one of "
                f"{len(reply)}: {first_difference(line, reply)}. Receive each datagram whole (a 64 KiB "
                f"buffer) and send it back with one sendto().\n{server.transcript()}"
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
    if not _wait_readable(silent, client, STEP_DEADLINE):
        raise _exited_or_silent(client, f"send the line `anyone there?` as a datagram to port {port}")
    sent = time.monotonic()
    silent.recv(1 << 16)
    limit = Deadline(UDP_TIMEOUT_MAX)
    if not client.exited_within(limit):
        raise SpecFailure(
            f"{client.label} sent its datagram to a server that never answers and was still waiting "
            f"{limit} later; {observe.describe(client.pid)}. Give up after 2 s: exit 1 with `timeout`."
            f"\n{client.transcript()}"
        )
    waited = time.monotonic() - sent
    status = client.wait(STEP_DEADLINE)
    if waited < UDP_TIMEOUT_MIN:
        raise SpecFailure(
            f"{client.label} gave up {waited:.2f} s after sending its datagram ({status}); the contract "
            f"says to wait 2 seconds for a reply.\n{client.transcript()}"
        )
    if status.code != 1 or b"timeout" not in client.stderr.data.lower():
        raise SpecFailure(
            f"{client.label} got no reply and {status} after {waited:.2f} s with stderr "
            f"{client.stderr.data[-200:]!r}; expected exit status 1 and `timeout` on stderr.\n{client.transcript()}"
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
    sandbox.give(Path(path), run_context.sandbox)  # left by the program's own user, as it would be
    server = impl.spawn("unix-server", path)
    try:
        _listening_path(server, path)
    except SpecFailure:
        if server.poll() is None:
            raise
        raise SpecFailure(
            f"{server.label} found a stale socket file at {path} (nobody listens on it: connect(2) is "
            f"refused) and {server.status} with stderr {server.stderr.data[-200:]!r}. Remove a stale "
            f"socket file before bind(2).\n{server.transcript()}"
        ) from None
    sock = grader_sockets.connect_unix(path, who=server.label)
    _send(sock, b"fresh\n", server, shut=True)
    got, _ = _recv_until_eof(sock, STEP_DEADLINE)
    if got != b"fresh\n":
        raise SpecFailure(f"{server.label} at {path} echoed {got!r} to `fresh`.\n{server.transcript()}")


@spec(
    "socket.unix-cleanup",
    points=1,
    hint="unlink() PATH before the server exits, also when SIGTERM ends it (handle SIGTERM, "
    "clean up, exit 0).",
)
def test_unix_cleanup(impl, ipc_tmp, grader_sockets):
    """A Unix server removes its socket file at PATH when SIGTERM ends it."""
    path = str(ipc_tmp / "clean.sock")
    server = _start_unix_server(impl, path)
    sock = grader_sockets.connect_unix(path, who=server.label)
    _send(sock, b"bye\n", server, shut=True)
    _recv_until_eof(sock, STEP_DEADLINE)
    server.send_signal(signal.SIGTERM)
    status = server.wait(STEP_DEADLINE)
    if os.path.lexists(path):
        raise SpecFailure(
            f"{server.label} {status} on SIGTERM and left its socket file {path} behind; the next "
            f"server finds a stale file there. Remove PATH before exiting.\n{server.transcript()}"
        )


# --- the kernel's view ------------------------------------------------------------------------


def _require_socket(proc, test, wanted: str) -> netstat.Held:
    """Wait until PROC (or a child) holds a socket for which TEST is true; fail with what it holds."""
    def found():
        return next((h for h in _held(proc) if h.socket and test(h.socket)), None)

    try:
        return proc.wait_for(found, STEP_DEADLINE, f"{proc.label} holding a {wanted}")
    except SpecTimeout:
        raise SpecFailure(
            f"{proc.label} (pid {proc.pid}) holds no {wanted}. /proc/{proc.pid}/fd and "
            f"/proc/{proc.pid}/net show {_list_held(_held(proc))}.\n{proc.transcript()}"
        ) from None


@spec(
    "socket.uses-sockets",
    points=2,
    hint="Use socket(2) with the family the role names: AF_INET or AF_INET6 with SOCK_STREAM for "
    "TCP, SOCK_DGRAM for UDP, AF_UNIX with SOCK_STREAM for the Unix pair.",
)
def test_uses_sockets(impl, ipc_tmp):
    """Each program holds a real socket of its family, as /proc/PID/fd and /proc/PID/net show."""
    tcp, port = _start_tcp_server(impl)
    _require_socket(tcp, lambda s: s.protocol == "tcp" and s.listening and s.local_port == port, f"TCP socket listening on port {port}")
    client = impl.spawn("tcp-client", LOCALHOST, str(port))  # stdin stays open: it stays connected
    _require_socket(client, lambda s: s.protocol == "tcp" and s.state == "ESTABLISHED" and s.remote_port == port, f"TCP connection to port {port}")
    client.close_stdin()
    client.wait(STEP_DEADLINE)

    udp = impl.spawn("udp-server")
    uport = _listening_port(udp)
    _require_socket(udp, lambda s: s.protocol == "udp" and s.local_port == uport, f"UDP socket bound to port {uport}")
    uclient = impl.spawn("udp-client", LOCALHOST, str(uport))
    uclient.write(b"ping\n")  # a client may open its socket for the first line
    _require_socket(uclient, lambda s: s.protocol == "udp", "UDP socket")
    uclient.close_stdin()
    uclient.wait(STEP_DEADLINE)

    path = str(ipc_tmp / "uses.sock")
    unix = _start_unix_server(impl, path)
    _require_socket(unix, lambda s: s.table == "unix" and s.unix_type == "stream" and s.listening and s.local == path, f"Unix stream socket listening at {path}")
    uxclient = impl.spawn("unix-client", path)
    _require_socket(uxclient, lambda s: s.table == "unix" and s.unix_type == "stream" and s.state == "CONNECTED", "connected Unix stream socket")
    uxclient.close_stdin()
    uxclient.wait(STEP_DEADLINE)


# --- across a network boundary ------------------------------------------------------------------


class _IpFailed(Exception):
    pass


@dataclass
class NetnsPair:
    """Two network namespaces joined by a veth pair: two hosts, each with its own address."""

    server_ns: str
    client_ns: str
    server_addr: str
    client_addr: str

    def spawn(self, side, ns: str, *args: str, capture_limit: int = 8 << 20):
        """Start SIDE's program inside namespace NS, supervised like any other.

        The supervisor enters the namespace between fork and exec (setns(2)), before it drops
        to the sandbox's user, so the pid is the program's own; `ip netns exec` would need
        the program to start as root.
        """
        return side.supervisor.spawn(
            side.argv(*args),
            cwd=str(side.manifest.cwd),
            label=f"{side.label(args)} on host {self.server_addr if ns == self.server_ns else self.client_addr}",
            capture_limit=capture_limit,
            netns=self.path(ns),
        )

    @staticmethod
    def path(ns: str) -> str:
        for run_dir in ("/run/netns", "/var/run/netns"):
            if os.path.exists(f"{run_dir}/{ns}"):
                return f"{run_dir}/{ns}"
        raise HarnessBroken(f"network namespace {ns} has no file under /run/netns")

    def in_namespace(self, pid: int, ns: str) -> bool:
        link = f"/proc/{pid}/ns/net"
        try:
            return observe.guarded(pid, "fds", link, lambda: os.stat(link).st_ino) == os.stat(self.path(ns)).st_ino
        except OSError:
            return False


#: What `ip netns add` and a veth pair need: unshare(CLONE_NEWNET) and a bind mount under
#: /run/netns (CAP_SYS_ADMIN), then links and addresses (CAP_NET_ADMIN).
NETNS_CAPS = {"CAP_SYS_ADMIN": 21, "CAP_NET_ADMIN": 12}


def _missing_caps() -> list[str]:
    """The capabilities of NETNS_CAPS this process lacks (effective set)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("CapEff:"):
                bits = int(line.split()[1], 16)
                return [name for name, bit in NETNS_CAPS.items() if not bits >> bit & 1]
    except (OSError, ValueError):
        pass
    return list(NETNS_CAPS)


def _ip(ip: str, *args: str) -> str:
    try:
        done = subprocess.run([ip, *args], capture_output=True, text=True, timeout=Deadline(STEP_DEADLINE).remaining())
    except subprocess.TimeoutExpired:
        raise _IpFailed(f"`ip {' '.join(args)}` did not finish within {STEP_DEADLINE} s") from None
    if done.returncode != 0:
        raise _IpFailed(f"`ip {' '.join(args)}` failed: {done.stderr.strip() or f'exit status {done.returncode}'}")
    return done.stdout


def _remove_netns(ip: str, ns: str) -> None:
    """End what still runs in NS (only the spec's own programs can be there), then delete it."""
    with contextlib.suppress(_IpFailed):
        for pid in _ip(ip, "netns", "pids", ns).split():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), signal.SIGKILL)
    with contextlib.suppress(_IpFailed):
        _ip(ip, "netns", "delete", ns)


@pytest.fixture
def netns_pair(names):
    """Two network namespaces named for this run and worker, deleted after the spec, always."""
    ip = shutil.which("ip")
    if ip is None:
        raise Unsupported("network namespaces need `ip` from iproute2, which is not installed here")
    missing = _missing_caps()
    if missing:
        raise Unsupported(
            f"two hosts need network namespaces, which need {' and '.join(NETNS_CAPS)}; this grader "
            f"(uid {os.geteuid()}) lacks {' and '.join(missing)} (a container with Docker's default "
            f"capabilities, or an ordinary user)"
        )
    tag = names.posix("net").lstrip("/")
    digest = hashlib.sha256(tag.encode()).digest()
    x, y = digest[0], digest[1] & 0xFC  # a private /30 per spec: .y+1 the server, .y+2 the client
    veth = "v" + digest[2:6].hex()  # interface names stay under IFNAMSIZ (16)
    pair = NetnsPair(f"{tag}-srv", f"{tag}-cli", f"10.213.{x}.{y + 1}", f"10.213.{x}.{y + 2}")
    created: list[str] = []
    try:
        for ns in (pair.server_ns, pair.client_ns):
            _ip(ip, "netns", "add", ns)
            created.append(ns)
        _ip(ip, "link", "add", f"{veth}s", "netns", pair.server_ns, "type", "veth", "peer", "name", f"{veth}c", "netns", pair.client_ns)
        for ns, dev, addr in ((pair.server_ns, f"{veth}s", pair.server_addr), (pair.client_ns, f"{veth}c", pair.client_addr)):
            _ip(ip, "-n", ns, "addr", "add", f"{addr}/30", "dev", dev)
            _ip(ip, "-n", ns, "link", "set", dev, "up")
            _ip(ip, "-n", ns, "link", "set", "lo", "up")
    except _IpFailed as exc:
        for ns in created:
            _remove_netns(ip, ns)
        raise Unsupported(f"cannot create two network namespaces joined by a veth pair here: {exc}") from None
    try:
        yield pair
    finally:
        for ns in created:
            _remove_netns(ip, ns)


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
        port = _listening_port(server)
    except SpecFailure:
        if server.poll() == ExitStatus(ENTER_NETNS_FAILED) and not server.stderr.length:
            raise HarnessBroken(f"the server could not be started in network namespace {net.server_ns}") from None
        raise
    if not net.in_namespace(server.pid, net.server_ns):
        raise HarnessBroken(f"the server (pid {server.pid}) does not run in network namespace {net.server_ns}")
    client = net.spawn(impl, net.client_ns, "tcp-client", net.server_addr, str(port), capture_limit=len(payload) + 4096)
    client.feed(payload)
    what = (
        f"{client.label} sent {len(payload)} bytes (pseudo-random, seed {ACROSS_SEED}) to "
        f"{net.server_addr}:{port}, where {server.label} listens with --host 0.0.0.0"
    )
    if not client.exited_within(EXIT_DEADLINE):
        raise SpecTimeout(f"{what}; it did not finish within {EXIT_DEADLINE} s: {_threads_doing(client.pid)}.\n{client.transcript()}")
    client.wait(STEP_DEADLINE)
    if not client.stdout.matches(payload) or not client.status.ok:
        listening = [h for h in _held(server, ("tcp", "tcp6")) if h.socket and h.socket.listening]
        where = (
            f" The server's listening socket, as the kernel on its host shows it: {listening[0]}"
            + (
                f": bound to {listening[0].socket.local_addr} only, so no other host reaches it."
                if listening[0].socket.local_addr not in ("0.0.0.0", "::")
                else "."
            )
            if listening
            else ""
        )
        raise SpecFailure(
            f"{what}; it {client.status}, and what came back differs: "
            f"{first_difference(payload, client.stdout.data)}.{where}\n{client.transcript()}\n{server.transcript()}"
        )
