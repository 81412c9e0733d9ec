"""The grader's side of a socket conversation, for the socket specs.

The grader talks to an implementation's servers and clients with sockets of its own: a client
that connects, sends and reads until EOF (each wait with a deadline, and aware that the program
may exit first), a TCP echo server with small fixed buffers that counts what it moved, UDP
sockets bound on the loopback. Every socket and peer belongs to a ``GraderSockets`` and is closed
when the spec ends, whatever happened. A failure of the grader's own I/O with a program (a
reset, no answer) is a finding about that program, said in its terms.

The implementation's servers are started here too, and their `listening PORT` (or PATH) line
read; ``Servers`` keeps one per side and kind across Hypothesis's examples. A transfer that
stops moving while every process in it sleeps is a deadlock, told from a slow transfer over
STALL_WINDOWS measurement windows rather than at its deadline. ``netns_pair`` makes two hosts:
network namespaces joined by a veth pair, removed after the spec, always.
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
import subprocess
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from conformance import deadline
from conformance.deadline import Deadline
from conformance.kernel import deadlock, netstat, observe
from conformance.outcomes import HarnessBroken, Sentence, SpecFailure, SpecTimeout, Unsupported, one_after_another
from conformance.run.implementation import Implementation
from conformance.run.process import Proc

LOCALHOST = "127.0.0.1"
#: Who the grader connects to, by default, in a message.
SERVER = Sentence("the server")
#: Measurement window for progress of a transfer; STALL_WINDOWS of them without any progress
#: while every process involved sleeps is a deadlock (a starved process would be runnable).
#: A socket's own window, not settle's: what it measures is bytes moved, not CPU used, and a
#: socket buffer that fills takes a moment longer to drain than a sleeper takes to show idle.
STALL_WINDOW = 0.5
STALL_WINDOWS = 3
#: The grader's echo peer keeps its socket buffers this small, so a client that sends
#: everything before it reads stalls on any machine (the kernel doubles it).
PEER_BUFFER = 64 << 10


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
        self._thread = threading.Thread(target=self._serve, daemon=True, name="ipc-peer")
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
        self._thread.join(deadline.STEP)


class GraderSockets:
    """The sockets and peers the grader opens during one spec; all closed when it ends."""

    def __init__(self) -> None:
        self._stack = contextlib.ExitStack()

    def own(self, sock: socket.socket) -> socket.socket:
        self._stack.callback(sock.close)
        return sock

    def connect_tcp(self, port: int, host: str = LOCALHOST, who: str = SERVER) -> socket.socket:
        sock = self.own(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
        sock.settimeout(Deadline(deadline.STEP).remaining())
        try:
            sock.connect((host, port))
        except OSError as exc:
            where = f"{host}:{port}"
            raise SpecFailure(Sentence("the grader could not connect to %(who)s at %(where)s: %(error)s.", who=who, where=where, error=error_name(exc))) from None
        return sock

    def connect_unix(self, path: str, who: str = SERVER) -> socket.socket:
        sock = self.own(socket.socket(socket.AF_UNIX, socket.SOCK_STREAM))
        sock.settimeout(Deadline(deadline.STEP).remaining())
        try:
            sock.connect(path)
        except OSError as exc:
            raise SpecFailure(Sentence("the grader could not connect to %(who)s at %(where)s: %(error)s.", who=who, where=path, error=error_name(exc))) from None
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


def error_name(exc: OSError) -> str:
    """EXC as a message says it: its errno's name and text, or that no answer came in time."""
    if isinstance(exc, socket.timeout):
        return Sentence("no answer before the deadline")
    name = errno.errorcode.get(exc.errno or 0)
    return f"{name} ({exc.strerror})" if name else str(exc)


@contextlib.contextmanager
def talking_to(proc: Proc, what: str) -> Iterator[None]:
    """Turn a failure of the grader's own socket I/O with PROC into a finding about PROC."""
    try:
        yield
    except OSError as exc:
        raise SpecFailure(Sentence("%(what)s: %(error)s.", what=what, error=error_name(exc)), evidence=[observe.describe(proc.pid)], procs=[proc]) from None


def wait_readable(sock: socket.socket, proc: Proc, timeout: float | Deadline) -> bool:
    """Wait until SOCK has something to read (or accept); False at the deadline or if PROC exits first."""
    until = Deadline.of(timeout)
    try:
        pidfd = os.pidfd_open(proc.pid)
    except OSError:
        pidfd = None
    try:
        while True:  # a slice at a time, so that deadlock.py may prove nothing can come
            ready, _, _ = select.select([sock, *([pidfd] if pidfd is not None else [])], [], [], min(until.remaining(), deadlock.PERIOD))
            if ready or until.expired():
                break
            deadlock.poll(lambda: bool(select.select([sock], [], [], 0)[0]) or proc.poll() is not None)
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


def exited_or_silent(proc: Proc, what: str) -> SpecFailure:
    """The finding when PROC sent nothing: its exit (a stub's `not implemented` raises), or silence."""
    if proc.poll() is not None:
        proc.wait(deadline.STEP)  # a stub's `not implemented` ends the spec here
        return SpecFailure(Sentence("%(program)s %(ended)s before %(what)s.", program=proc.label, ended=proc.status.ended if proc.status else Sentence("exited"),
                                    what=what), procs=[proc])
    return SpecFailure(
        Sentence("%(program)s did not %(what)s within %(seconds)s s.", program=proc.label, what=what, seconds=deadline.STEP),
        evidence=[observe.describe(proc.pid)],
        procs=[proc],
    )


def send(sock: socket.socket, data: bytes, proc: Proc, shut: bool = False) -> None:
    """The grader sends DATA to PROC (then its EOF, if SHUT); a reset is PROC's doing."""
    shown = repr(data[:40])
    with talking_to(proc, Sentence("the grader sending %(data)s to %(program)s failed", data=shown, program=proc.label)):
        sock.sendall(data)
        if shut:
            sock.shutdown(socket.SHUT_WR)


def ask(sock: socket.socket, data: bytes, proc: Proc, timeout: float | Deadline = deadline.STEP) -> tuple[bytes, bool]:
    """The grader sends DATA and its EOF to PROC, then reads the answer: (what came, EOF came)."""
    send(sock, data, proc, shut=True)
    return recv_until_eof(sock, timeout)


def recv_until_eof(sock: socket.socket, timeout: float | Deadline, stuck: Callable[[], bool] | None = None) -> tuple[bytes, bool]:
    """Everything SOCK receives until the peer's EOF, and whether EOF came before the deadline.

    STUCK, if given, is asked after each STALL_WINDOW without data; STALL_WINDOWS yeses in a
    row end the wait early: the kernel shows that nothing will come.
    """
    until = Deadline.of(timeout)
    out = bytearray()
    still = 0
    while True:
        remaining = until.remaining()
        if remaining <= 0:
            return bytes(out), False
        sock.settimeout(min(remaining, Deadline(STALL_WINDOW).remaining()) if stuck else remaining)
        try:
            data = sock.recv(1 << 16)
        except TimeoutError:
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


def recv_exact(sock: socket.socket, n: int, timeout: float | Deadline) -> bytes:
    """Up to N bytes from SOCK: fewer only at EOF or the deadline."""
    until = Deadline.of(timeout)
    out = bytearray()
    while len(out) < n:
        remaining = until.remaining()
        if remaining <= 0:
            break
        sock.settimeout(remaining)
        try:
            data = sock.recv(n - len(out))
        except (TimeoutError, OSError):
            break
        if not data:
            break
        out += data
    return bytes(out)


# --- the implementation's servers ------------------------------------------------------------


def listening_port(server: Proc) -> int:
    """The port from SERVER's `listening PORT` line."""
    m = server.expect_line(r"listening\s+(\S+)", deadline.STEP, what="`listening PORT`")
    text = m.group(1)
    if not re.fullmatch(r"[0-9]{1,5}", text) or not 0 < int(text) < 65536:
        raise SpecFailure(
            Sentence("%(program)s printed `listening %(text)s`.", program=server.label, text=text),
            expected=Sentence("the port it is bound to, a number from 1 to 65535"),
            fix=Sentence("Bind to port 0, then ask getsockname(2) which port you got."),
            procs=[server],
        )
    return int(text)


def listening_path(server: Proc, path: str) -> None:
    """SERVER's `listening PATH` line names PATH, the path it was given."""
    m = server.expect_line(r"listening\s+(.*)", deadline.STEP, what=f"`listening {path}`")
    if m.group(1) != path:
        raise SpecFailure(
            Sentence("%(program)s printed `listening %(text)s`.", program=server.label, text=m.group(1)),
            expected=Sentence("`listening %(path)s`, the PATH it was given", path=path),
            procs=[server],
        )


def start_tcp_server(side: Implementation, *args: str) -> tuple[Proc, int]:
    """SIDE's `tcp-server ARGS`, once it listens, and its port."""
    server = side.spawn("tcp-server", *args)
    return server, listening_port(server)


def start_unix_server(side: Implementation, path: str) -> Proc:
    """SIDE's `unix-server PATH`, once it listens."""
    server = side.spawn("unix-server", path)
    listening_path(server, path)
    return server


class Servers:
    """Servers started once per spec and reused by every Hypothesis example."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self._running: dict[tuple[str, str], tuple[Proc, int | str]] = {}

    def get(self, side: Implementation, kind: str) -> int | str:
        """The port (tcp, udp) or path (unix) of SIDE's server of KIND, started on first use."""
        return self.started(side, kind)[1]

    def started(self, side: Implementation, kind: str) -> tuple[Proc, int | str]:
        """(process, port or path) of SIDE's server of KIND, started on first use."""
        key = (side.who, kind)
        if key in self._running:
            proc, where = self._running[key]
            if proc.poll() is not None:
                raise SpecFailure(
                    Sentence("%(program)s %(ended)s after serving earlier clients.", program=proc.label, ended=proc.status.ended if proc.status else Sentence("exited")),
                    expected=Sentence("it to serve clients until it is told to stop"),
                    procs=[proc],
                )
            return proc, where
        if kind == "unix":
            where = str(self.tmp / f"{'ref' if side.who == 'the reference' else 'impl'}.sock")
            proc = start_unix_server(side, where)
        else:
            proc = side.spawn(f"{kind}-server")
            where = listening_port(proc)
        self._running[key] = (proc, where)
        return proc, where


# --- watching a transfer ---------------------------------------------------------------------


def threads_doing(pid: int) -> str:
    """What each thread of PID is doing, for a message: `main thread in accept4, 1 thread in recvfrom`."""
    tids = observe.threads(pid)
    parts = []
    for tid in tids:
        try:
            sc = observe.syscall(pid, tid if len(tids) > 1 else None)
        except observe.NOT_SHOWN:
            return observe.describe(pid)
        call = str(sc) if sc is not None and not sc.running else ""
        if tid == pid:
            parts.append(Sentence("main thread in %(call)s", call=call) if call else Sentence("main thread running"))
        else:
            parts.append(Sentence("thread %(tid)s in %(call)s", tid=tid, call=call) if call else Sentence("thread %(tid)s running", tid=tid))
    return Sentence("pid %(pid)s: %(threads)s", pid=pid, threads=one_after_another(parts, ", ")) if parts else observe.describe(pid)


def held(proc: Proc, tables: Iterable[str] = netstat.TABLES) -> list[netstat.Held]:
    """The sockets PROC and its descendants hold, as /proc/PID/fd and /proc/PID/net show them."""
    return netstat.held(proc.tree(), tables)


def list_held(sockets: list[netstat.Held], limit: int = 6) -> str:
    """SOCKETS for a message: the first LIMIT of them, and how many more."""
    if not sockets:
        return Sentence("no socket at all")
    shown = one_after_another([h.words() for h in sockets[:limit]], "; ")
    return Sentence("%(shown)s; and %(n)s more", shown=shown, n=len(sockets) - limit) if len(sockets) > limit else shown


class Stalled(Exception):
    """Nothing moved for STALL_WINDOWS windows while every process involved slept."""


def wait_moving(client: Proc, until: Deadline, progress: Callable[[], object], others: Callable[[], Iterable[int]] = list) -> None:
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
        if until.expired():
            raise SpecTimeout(
                Sentence("%(program)s did not finish within %(within)s: it took %(fed)s bytes from stdin and printed %(printed)s.",
                         program=client.label, within=str(until), fed=client.fed, printed=client.stdout.length),
                evidence=[threads_doing(client.pid)],
                procs=[client],
            )


# --- two hosts --------------------------------------------------------------------------------

#: What `ip netns add` and a veth pair need: unshare(CLONE_NEWNET) and a bind mount under
#: /run/netns (CAP_SYS_ADMIN), then links and addresses (CAP_NET_ADMIN).
NETNS_CAPS = {"CAP_SYS_ADMIN": 21, "CAP_NET_ADMIN": 12}


@dataclass
class NetnsPair:
    """Two network namespaces joined by a veth pair: two hosts, each with its own address."""

    server_ns: str
    client_ns: str
    server_addr: str
    client_addr: str

    def spawn(self, side: Implementation, ns: str, *args: str, capture_limit: int = 8 << 20) -> Proc:
        """Start SIDE's program inside namespace NS, supervised like any other.

        The supervisor enters the namespace between fork and exec (setns(2)), before it drops
        to the sandbox's user, so the pid is the program's own; `ip netns exec` would need
        the program to start as root. Otherwise it starts as Implementation.spawn starts it.
        """
        return side.supervisor.spawn(
            side.argv(*args),
            cwd=str(side.manifest.cwd),
            label=Sentence("%(label)s on host %(host)s", label=side.label(args), host=self.server_addr if ns == self.server_ns else self.client_addr),
            capture_limit=capture_limit,
            netns=self.path(ns),
            grader_chose=side.chose_program(),
            subject=side.who == "your",
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


class _IpFailed(Exception):
    pass


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
        done = subprocess.run([ip, *args], capture_output=True, text=True, timeout=Deadline(deadline.STEP).remaining())
    except subprocess.TimeoutExpired:
        raise _IpFailed(f"`ip {' '.join(args)}` did not finish within {deadline.STEP} s") from None
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


@contextlib.contextmanager
def netns_pair(tag: str) -> Iterator[NetnsPair]:
    """Two network namespaces named after TAG (the run's and worker's), deleted afterwards, always.

    Unsupported where `ip` or the capabilities it needs are missing, or the namespaces cannot
    be made.
    """
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


__all__ = [
    "LOCALHOST",
    "NETNS_CAPS",
    "PEER_BUFFER",
    "STALL_WINDOW",
    "STALL_WINDOWS",
    "EchoPeer",
    "GraderSockets",
    "NetnsPair",
    "Servers",
    "Stalled",
    "ask",
    "error_name",
    "exited_or_silent",
    "held",
    "list_held",
    "listening_path",
    "listening_port",
    "netns_pair",
    "recv_exact",
    "recv_until_eof",
    "send",
    "start_tcp_server",
    "start_unix_server",
    "talking_to",
    "threads_doing",
    "wait_moving",
    "wait_readable",
]
