"""Sockets as the kernel lists them: /proc/PID/net/{tcp,tcp6,udp,udp6,unix}, matched to fds.

A socket descriptor in /proc/PID/fd reads ``socket:[INODE]`` and says nothing more; the tables
under /proc/PID/net say what that inode is: its protocol, state, addresses and queues (proc(5),
tcp(7), udp(7), unix(7)). /proc/PID/net shows the network namespace of PID, so a program in
another namespace is seen as it sees itself.

Every reader returns an empty collection for a process that has gone.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterable
from dataclasses import dataclass

from conformance.outcomes import Sentence

from . import observe

INET_TABLES = ("tcp", "tcp6", "udp", "udp6")
TABLES = (*INET_TABLES, "unix")

#: include/net/tcp_states.h
TCP_STATES = {
    1: "ESTABLISHED",
    2: "SYN_SENT",
    3: "SYN_RECV",
    4: "FIN_WAIT1",
    5: "FIN_WAIT2",
    6: "TIME_WAIT",
    7: "CLOSE",
    8: "CLOSE_WAIT",
    9: "LAST_ACK",
    10: "LISTEN",
    11: "CLOSING",
    12: "NEW_SYN_RECV",
}
UNIX_TYPES = {1: "stream", 2: "dgram", 5: "seqpacket"}
UNIX_STATES = {0: "FREE", 1: "UNCONNECTED", 2: "CONNECTING", 3: "CONNECTED", 4: "DISCONNECTING"}
SO_ACCEPTCON = 0x10000
"""The flag a listening Unix socket shows in /proc/net/unix."""


@dataclass(frozen=True)
class NetSocket:
    """One row of a /proc/net table."""

    table: str
    """tcp, tcp6, udp, udp6 or unix."""
    inode: int
    state: str
    """TCP_STATES for tcp and udp (an unconnected UDP socket is CLOSE); LISTEN or
    UNIX_STATES for unix."""
    local: str
    """``127.0.0.1:5000``, ``[::1]:5000``, or the path of a Unix socket ('' if unnamed)."""
    remote: str
    local_port: int | None = None
    remote_port: int | None = None
    local_addr: str | None = None
    remote_addr: str | None = None
    tx_queue: int = 0
    rx_queue: int = 0
    """Bytes waiting to be read; for a listening TCP socket, connections waiting in accept()."""
    unix_type: str | None = None

    @property
    def family(self) -> str:
        return {"tcp": "AF_INET", "udp": "AF_INET", "tcp6": "AF_INET6", "udp6": "AF_INET6"}.get(self.table, "AF_UNIX")

    @property
    def protocol(self) -> str:
        """tcp, udp or unix."""
        return self.table.rstrip("6")

    @property
    def listening(self) -> bool:
        return self.state == "LISTEN"

    def __str__(self) -> str:
        if self.table == "unix":
            where = f" at {self.local}" if self.local else ""
            state = "listening" if self.listening else self.state.lower()
            return f"a Unix {self.unix_type or '?'} socket{where}, {state} (inode {self.inode})"
        ends = f"{self.local} -> {self.remote}" if self.remote_port else self.local
        return f"{self.table} {ends} {self.state} (inode {self.inode})"


def _addr(hex_addr: str) -> str:
    """An address from /proc/net/tcp: 32-bit words of hex, each in host byte order."""
    raw = b"".join(struct.pack("=I", int(hex_addr[i : i + 8], 16)) for i in range(0, len(hex_addr), 8))
    return socket.inet_ntop(socket.AF_INET if len(raw) == 4 else socket.AF_INET6, raw)


def _endpoint(field: str) -> tuple[str, int]:
    hex_addr, hex_port = field.split(":")
    return _addr(hex_addr), int(hex_port, 16)


def _show(addr: str, port: int) -> str:
    return f"[{addr}]:{port}" if ":" in addr else f"{addr}:{port}"


def _read(pid: int | None, name: str) -> list[str]:
    path = observe.PROC / (str(pid) if pid else "self") / "net" / name
    try:
        return path.read_text().splitlines()[1:]
    except OSError:
        return []


def table(name: str, pid: int | None = None) -> list[NetSocket]:
    """The rows of /proc/PID/net/NAME (PID None: this process's namespace)."""
    rows = []
    for line in _read(pid, name):
        try:
            rows.append(_parse_unix(line) if name == "unix" else _parse_inet(name, line))
        except (ValueError, IndexError, OSError):
            continue  # a row in a format we do not know: leave it out rather than guess
    return rows


def _parse_inet(name: str, line: str) -> NetSocket:
    f = line.split()
    (laddr, lport), (raddr, rport) = _endpoint(f[1]), _endpoint(f[2])
    tx, rx = (int(x, 16) for x in f[4].split(":"))
    return NetSocket(
        table=name,
        inode=int(f[9]),
        state=TCP_STATES.get(int(f[3], 16), f"state {f[3]}"),
        local=_show(laddr, lport),
        remote=_show(raddr, rport),
        local_port=lport,
        remote_port=rport,
        local_addr=laddr,
        remote_addr=raddr,
        tx_queue=tx,
        rx_queue=rx,
    )


def _parse_unix(line: str) -> NetSocket:
    # Num RefCount Protocol Flags Type St Inode [Path]; the path may hold spaces
    f = line.split(maxsplit=7)
    flags, kind, st = int(f[3], 16), int(f[4], 16), int(f[5], 16)
    path = f[7] if len(f) > 7 else ""
    return NetSocket(
        table="unix",
        inode=int(f[6]),
        state="LISTEN" if flags & SO_ACCEPTCON else UNIX_STATES.get(st, f"state {st}"),
        local=path,
        remote="",
        unix_type=UNIX_TYPES.get(kind, f"type {kind}"),
    )


def by_inode(pid: int, tables: Iterable[str] = TABLES) -> dict[int, NetSocket]:
    """Every socket in PID's network namespace in TABLES, keyed by inode."""
    out: dict[int, NetSocket] = {}
    for name in tables:
        for row in table(name, pid):
            if row.inode:  # TIME_WAIT and other orphaned sockets have inode 0
                out.setdefault(row.inode, row)
    return out


@dataclass(frozen=True)
class Held:
    """A socket descriptor a process holds, and what the kernel's tables say it is."""

    pid: int
    fd: observe.Fd
    socket: NetSocket | None
    """None when no table we read lists the inode (a netlink or raw socket, say)."""

    def __str__(self) -> str:
        return str(self.words())

    def words(self) -> Sentence:
        """This descriptor for a message: what the tables say it is, or that none lists it."""
        tables = f"/proc/{self.pid}/net/{{{','.join(TABLES)}}}"
        what = str(self.socket) if self.socket else Sentence("%(target)s, in none of %(tables)s", target=self.fd.target, tables=tables)
        return Sentence("pid %(pid)s fd %(fd)s: %(what)s", pid=self.pid, fd=self.fd.fd, what=what)


def held(pids: Iterable[int], tables: Iterable[str] = TABLES) -> list[Held]:
    """The socket descriptors PIDS hold, each matched to its row in /proc/PID/net."""
    tables = tuple(tables)
    out = []
    for pid in pids:
        fds = [fd for fd in observe.fds(pid).values() if fd.kind == "socket" and fd.inode is not None]
        if not fds:
            continue
        rows = by_inode(pid, tables)
        out.extend(Held(pid, fd, rows.get(fd.inode)) for fd in sorted(fds, key=lambda f: f.fd))
    return out


def on_port(port: int, tables: Iterable[str] = ("tcp", "tcp6"), pid: int | None = None) -> list[NetSocket]:
    """Every socket (including orphans with inode 0) whose local port is PORT."""
    return [row for name in tables for row in table(name, pid) if row.local_port == port]


__all__ = ["Held", "NetSocket", "TABLES", "TCP_STATES", "by_inode", "held", "on_port", "table"]
