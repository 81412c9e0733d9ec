"""Kernel observation: what /proc, /proc/sysvipc and /dev/shm say about a process.

These are the grader's eyes. A spec asks the kernel, not the program's output, whether a
process is asleep and in which system call, which pipe ends it holds, and which IPC objects
exist. Every reader returns None (or an empty collection) for a process that has gone, since
a process can exit between any two reads.

What the kernel shows a process's own user only (its system call, wait channel and open
files) is read as that user (credentials.as_owner_of), so the evidence is the same whether
the grader is root with every capability, root in a container with Docker's defaults, or an
ordinary user. Evidence that cannot be read is never taken for an answer: a reader raises
EvidenceUnavailable (this machine does not show it to anyone: the spec is unsupported) or
Unreadable (the process hid it from its own user: the program's doing, so the spec fails).

Waiting until the kernel shows something (a call, a state, a condition) is waits.py's: this
module only reads, and deadlock.py reasons from what it reads.
"""

from __future__ import annotations

import os
import stat as stat_mod
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from conformance.deadline import Deadline
from conformance.outcomes import Sentence, SpecFailure, Unsupported

from . import credentials, syscalls

PROC = Path("/proc")

STATE_NAMES = {
    "R": Sentence("running"), "S": Sentence("sleeping"), "D": Sentence("in uninterruptible sleep"), "T": Sentence("stopped"),
    "t": Sentence("stopped by a tracer"), "Z": Sentence("a zombie"), "X": Sentence("dead"), "I": Sentence("idle"),
}


# --- evidence the kernel guards -----------------------------------------------------------

#: The guarded sources of evidence, by the name the run record uses, and what each holds.
SOURCES = {
    "syscall": "/proc/PID/syscall (the system call a process sleeps in)",
    "wchan": "/proc/PID/wchan (where in the kernel it sleeps)",
    "fds": "/proc/PID/fd and fdinfo (the files, pipe ends and sockets it holds)",
}

_unavailable: dict[str, str] = {}


def set_unavailable(reasons: dict[str, str]) -> None:
    """Record which SOURCES this machine does not show to the grader, and why (evidence.probe)."""
    _unavailable.clear()
    _unavailable.update(reasons)


def unavailable() -> dict[str, str]:
    return dict(_unavailable)


class EvidenceUnavailable(Unsupported):
    """This machine does not let the grader read a source of evidence any spec of it needs."""

    def __init__(self, source: str, reason: str) -> None:
        self.source = source
        super().__init__(
            f"evidence unavailable: the grader cannot read {SOURCES.get(source, source)} on this "
            f"machine ({reason}), and this spec draws its verdict from it"
        )


class Unreadable(SpecFailure):
    """A process hid a guarded source from its own user, which this machine otherwise shows."""

    def __init__(self, pid: int, source: str, path: str) -> None:
        self.pid, self.source = pid, source
        super().__init__(Sentence(
            "the kernel refuses to show %(path)s of pid %(pid)s (%(comm)s) even to its own user, although it shows it for other "
            "programs here, so the grader cannot see what this spec checks: the process made itself non-dumpable (prctl "
            "PR_SET_DUMPABLE, 0), changed its user, or runs a file it may not read. Drop that, and let the kernel show your process.",
            path=path, pid=pid, comm=comm(pid)))


#: What a reader raises when the kernel will not show it: for sentences in messages, catch these
#: and say less; never turn them into a verdict.
NOT_SHOWN = (EvidenceUnavailable, Unreadable)


#: How long a guarded source may stay refused before the refusal counts. A program started as
#: another user is briefly hidden even from that user: execve(2) closes the descriptor that
#: tells the grader it has started a moment before it makes the process dumpable again.
REFUSAL_GRACE = 0.5


def guarded(pid: int, source: str, path: str | Path, read):
    """READ() run as PID's own user; None if PID has gone; EvidenceUnavailable or Unreadable if
    the kernel will not say."""
    deadline: Deadline | None = None
    pacer = Pacer()
    while True:
        with credentials.as_owner_of(pid):  # looked up afresh: the process may change its user
            try:
                return read()
            except (FileNotFoundError, ProcessLookupError):
                return None
            except PermissionError:
                pass
        if source in _unavailable:
            raise EvidenceUnavailable(source, _unavailable[source])
        if state(pid) in (None, "Z", "X"):
            return None
        deadline = deadline or Deadline(REFUSAL_GRACE)
        if deadline.expired():
            raise Unreadable(pid, source, str(path))
        pacer.pause(deadline)


@dataclass(frozen=True)
class Stat:
    pid: int
    comm: str
    state: str
    ppid: int
    pgrp: int
    session: int
    utime: int
    stime: int
    num_threads: int

    @property
    def cpu_ticks(self) -> int:
        return self.utime + self.stime


def read_stat(pid: int) -> Stat | None:
    """/proc/PID/stat, parsed (the command name may hold spaces and parentheses)."""
    try:
        with open(f"{PROC}/{pid}/stat", "rb") as f:  # not pathlib: this is read many times a second
            raw = f.read().decode("utf-8", "replace")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    comm = raw[raw.index("(") + 1 : raw.rindex(")")]
    rest = raw[raw.rindex(")") + 2 :].split()
    return Stat(
        pid=pid,
        comm=comm,
        state=rest[0],
        ppid=int(rest[1]),
        pgrp=int(rest[2]),
        session=int(rest[3]),
        utime=int(rest[11]),
        stime=int(rest[12]),
        num_threads=int(rest[17]),
    )


def state(pid: int) -> str | None:
    st = read_stat(pid)
    return st.state if st else None


def cpu_ticks(pid: int) -> int | None:
    """User plus system CPU time of the whole process, in clock ticks."""
    st = read_stat(pid)
    return st.cpu_ticks if st else None


def comm(pid: int) -> str:
    st = read_stat(pid)
    return st.comm if st else "?"


def wchan(pid: int) -> str | None:
    """Where in the kernel PID sleeps (a function name), or None if that is not known."""
    path = PROC / str(pid) / "wchan"
    try:
        value = guarded(pid, "wchan", path, path.read_text)
    except NOT_SHOWN:
        return None  # a detail for messages only: never a verdict
    except OSError:
        return None
    value = (value or "").strip()
    return value if value and value != "0" else None


@dataclass(frozen=True)
class Syscall:
    """What /proc/PID/syscall says: the call a sleeping thread is in, or that it runs."""

    nr: int | None
    """None when the thread is running in user space (or the file said so)."""
    name: str | None
    args: tuple[int, ...] = ()

    @property
    def running(self) -> bool:
        return self.nr is None

    def __str__(self) -> str:
        if self.nr is None:
            return "running"
        return self.name or f"syscall {self.nr}"


def syscall(pid: int, tid: int | None = None) -> Syscall | None:
    """The system call thread TID (default: the main thread) of PID is in; None if gone.

    Raises EvidenceUnavailable or Unreadable when the kernel will not say (see guarded).
    """
    path = PROC / str(pid) / ("syscall" if tid is None else f"task/{tid}/syscall")
    try:
        text = guarded(pid, "syscall", path, path.read_text)
    except OSError as exc:  # e.g. a kernel built without it
        if "syscall" in _unavailable:
            raise EvidenceUnavailable("syscall", _unavailable["syscall"]) from exc
        raise EvidenceUnavailable("syscall", f"{path}: {exc.strerror}") from exc
    if text is None:
        return None
    raw = text.split()
    if not raw or raw[0] == "running":
        return Syscall(None, None)
    if raw[0] == "-1":  # blocked, but not in a system call (e.g. a page fault)
        return Syscall(-1, "not in a system call")
    nr = int(raw[0])
    table = syscalls.table() or {}
    return Syscall(nr, table.get(nr), tuple(int(a, 16) for a in raw[1:]))


def threads(pid: int) -> list[int]:
    try:
        return sorted(int(t) for t in os.listdir(PROC / str(pid) / "task"))
    except OSError:
        return []


def _all_stats() -> list[Stat]:
    out = []
    for entry in os.listdir(PROC):
        if entry.isdigit():
            st = read_stat(int(entry))
            if st:
                out.append(st)
    return out


def pids_of_user(uid: int) -> list[int]:
    """Every process whose real user is UID (the owner of /proc/PID is its effective user, or
    root for one that hides: so read Uid from /proc/PID/status)."""
    out = []
    for entry in os.listdir(PROC):
        if not entry.isdigit():
            continue
        ids = credentials.owner(int(entry), real=True)
        if ids is not None and ids[0] == uid:
            out.append(int(entry))
    return out


def children(pid: int) -> list[int]:
    """PID's children, in pid order (from its threads' children files, as descendants)."""
    kids = _children(pid)
    return sorted(kids if kids is not None else (st.pid for st in _all_stats() if st.ppid == pid))


def descendants(pid: int) -> list[int]:
    """Every process below PID in the tree (children, their children, ...), parents first.

    Read from each thread's /proc/PID/task/TID/children, which any user may read: a few files
    for a spec's few processes, where a scan of every /proc/PID/stat costs a millisecond on a
    busy machine (the timeline and the integrity guard ask many times a second). Without that
    file (a kernel built without CONFIG_PROC_CHILDREN), the scan."""
    out: list[int] = []
    todo = [pid]
    while todo:
        kids = _children(todo.pop(0))
        if kids is None:
            return _descendants_by_scan(pid)
        out.extend(kids)
        todo.extend(kids)
    return out


def children_of_thread(pid: int, tid: int) -> list[int]:
    """The children thread TID of process PID made, or was given as their subreaper: [] if it
    is gone or the kernel has no such file (descendants then scans)."""
    try:
        with open(f"{PROC}/{pid}/task/{tid}/children", "rb") as f:
            return [int(c) for c in f.read().split()]
    except OSError:
        return []


def _children(pid: int) -> list[int] | None:
    """PID's children, from every thread's children file ([] if PID is gone; None if the
    kernel has no such file)."""
    try:
        tasks = os.listdir(f"{PROC}/{pid}/task")
    except OSError:
        return []
    out: list[int] = []
    for tid in tasks:
        try:
            with open(f"{PROC}/{pid}/task/{tid}/children", "rb") as f:
                out.extend(int(c) for c in f.read().split())
        except FileNotFoundError:
            if not os.path.exists(f"{PROC}/{pid}/task/{tid}"):
                continue  # the thread ended
            return None
        except OSError:
            continue
    return out


def _descendants_by_scan(pid: int) -> list[int]:
    by_parent: dict[int, list[int]] = {}
    for st in _all_stats():
        by_parent.setdefault(st.ppid, []).append(st.pid)
    out: list[int] = []
    todo = list(by_parent.get(pid, []))
    while todo:
        p = todo.pop(0)
        out.append(p)
        todo.extend(by_parent.get(p, []))
    return out


# --- file descriptors ---------------------------------------------------------------------


@dataclass(frozen=True)
class Fd:
    fd: int
    target: str
    """What the /proc/PID/fd link says: ``pipe:[123]``, ``socket:[45]``, a path, ..."""
    kind: str
    """pipe, fifo, socket, file, dir, anon (anon_inode) or other."""
    inode: int | None
    access: str
    """r, w or rw, from the open flags in /proc/PID/fdinfo."""

    def __str__(self) -> str:
        end = {"r": "read end", "w": "write end", "rw": "read-write"}[self.access]
        return f"fd {self.fd} ({self.target}, {end})"


def _access(pid: int, fd: int) -> str:
    try:
        for line in (PROC / str(pid) / "fdinfo" / str(fd)).read_text().splitlines():
            if line.startswith("flags:"):
                mode = int(line.split()[1], 8) & os.O_ACCMODE
                return {os.O_RDONLY: "r", os.O_WRONLY: "w"}.get(mode, "rw")
    except OSError:
        pass
    return "rw"


def fds(pid: int) -> dict[int, Fd]:
    """The open file descriptors of PID and what each refers to (empty if PID has gone).

    Raises EvidenceUnavailable or Unreadable when the kernel will not say (see guarded).
    """
    return guarded(pid, "fds", PROC / str(pid) / "fd", lambda: read_fds(pid)) or {}


def read_fds(pid: int) -> dict[int, Fd]:
    """PID's file descriptors as this thread's credentials see them (OSError if they may not)."""
    base = PROC / str(pid) / "fd"
    out: dict[int, Fd] = {}
    entries = os.listdir(base)  # PermissionError: guarded decides what that means
    for entry in entries:
        fd = int(entry)
        try:
            target = os.readlink(base / entry)
        except FileNotFoundError:
            continue  # closed since the listing
        inode = None
        if target.startswith(("pipe:[", "socket:[")):
            kind = target.split(":", 1)[0]
            inode = int(target[target.index("[") + 1 : -1])
        elif target.startswith("anon_inode:"):
            kind = "anon"
        elif target.startswith("/"):
            try:
                st = os.stat(base / entry)
                inode = st.st_ino
                kind = (
                    "fifo" if stat_mod.S_ISFIFO(st.st_mode)
                    else "dir" if stat_mod.S_ISDIR(st.st_mode)
                    else "socket" if stat_mod.S_ISSOCK(st.st_mode)
                    else "file"
                )
            except OSError:
                kind = "file"
        else:
            kind = "other"
        out[fd] = Fd(fd, target, kind, inode, _access(pid, fd))
    return out


def pipe_ends(pids: Iterable[int]) -> dict[int, list[tuple[int, Fd]]]:
    """For each pipe inode open in PIDS: who holds it, as (pid, fd) pairs."""
    out: dict[int, list[tuple[int, Fd]]] = {}
    for pid in pids:
        for fd in fds(pid).values():
            if fd.kind in ("pipe", "fifo") and fd.inode is not None:
                out.setdefault(fd.inode, []).append((pid, fd))
    return out


# --- System V IPC and POSIX shared memory --------------------------------------------------


def sysvipc(kind: str) -> list[dict[str, int]]:
    """The rows of /proc/sysvipc/KIND (msg, shm or sem), each a dict keyed by column name.

    ``perms`` is printed in octal and parsed as such (0o600); every other column is decimal.
    """
    try:
        lines = (PROC / "sysvipc" / kind).read_text().splitlines()
    except OSError:
        return []
    if not lines:
        return []
    header = lines[0].split()
    rows = []
    for line in lines[1:]:
        values = line.split()
        rows.append({k: int(v, 8 if k == "perms" else 10) for k, v in zip(header, values, strict=False)})
    return rows


def dev_shm() -> list[str]:
    """Names in /dev/shm: POSIX shared memory objects, and semaphores as ``sem.NAME``."""
    try:
        return sorted(os.listdir("/dev/shm"))
    except OSError:
        return []


# --- pacing a poll, and what a process sleeps in -------------------------------------------


class Pacer:
    """Paces a /proc poll: yields the CPU at first, then waits a little longer each time.

    This is not synchronisation by sleeping: every round re-reads the kernel's state and the
    caller returns the moment the state is right. The pause only stops a poll from starving
    the process it watches on a two-core machine.
    """

    def __init__(self) -> None:
        self.rounds = 0
        self._event = threading.Event()

    def pause(self, deadline: Deadline) -> None:
        self.rounds += 1
        if self.rounds <= 50:
            os.sched_yield()
            return
        self._event.wait(min(0.0005 * 2 ** min(self.rounds - 50, 4), deadline.remaining()))


@dataclass(frozen=True)
class Blocked:
    """Evidence that a process sleeps in a system call."""

    pid: int
    tid: int
    syscall: Syscall
    wchan: str | None

    def __str__(self) -> str:
        return str(self.words())

    def words(self) -> Sentence:
        """This evidence as a sentence (a failure's evidence line)."""
        if self.wchan:
            return Sentence("pid %(pid)s sleeps in %(call)s (wait channel %(wchan)s)", pid=self.pid, call=str(self.syscall), wchan=self.wchan)
        return Sentence("pid %(pid)s sleeps in %(call)s", pid=self.pid, call=str(self.syscall))


def describe(pid: int) -> str:
    """One line on what PID is doing now, for failure messages (a Sentence)."""
    st = read_stat(pid)
    if st is None:
        return Sentence("pid %(pid)s has exited", pid=pid)
    said = {"pid": pid, "comm": st.comm, "state": STATE_NAMES.get(st.state, st.state), "ticks": st.cpu_ticks}
    if st.state not in ("S", "D"):
        return Sentence("pid %(pid)s (%(comm)s) is %(state)s, %(ticks)s CPU ticks used", **said)
    try:
        sc = syscall(pid)
    except NOT_SHOWN:
        if wc := wchan(pid):
            return Sentence("pid %(pid)s (%(comm)s) is %(state)s (its system call cannot be read) (wait channel %(wchan)s), %(ticks)s CPU ticks used", wchan=wc, **said)
        return Sentence("pid %(pid)s (%(comm)s) is %(state)s (its system call cannot be read), %(ticks)s CPU ticks used", **said)
    call, wc = (str(sc) if sc and not sc.running else ""), wchan(pid)
    if call and wc:
        return Sentence("pid %(pid)s (%(comm)s) is %(state)s in %(call)s (wait channel %(wchan)s), %(ticks)s CPU ticks used", call=call, wchan=wc, **said)
    if call or wc:
        return (Sentence("pid %(pid)s (%(comm)s) is %(state)s in %(call)s, %(ticks)s CPU ticks used", call=call, **said) if call
                else Sentence("pid %(pid)s (%(comm)s) is %(state)s (wait channel %(wchan)s), %(ticks)s CPU ticks used", wchan=wc, **said))
    return Sentence("pid %(pid)s (%(comm)s) is %(state)s, %(ticks)s CPU ticks used", **said)


def blocked_now(pid: int, names: Iterable[str]) -> Blocked | None:
    """Evidence that PID sleeps in one of the system calls NAMES right now, else None.

    One look, no waiting. The whole process must be asleep (every thread in S: see asleep),
    and some thread of it in one of NAMES. Raises EvidenceUnavailable or Unreadable when the
    kernel will not show the system call: a sleep whose call is unknown is never taken for one.
    """
    numbers = syscalls.numbers(set(names))
    tids = threads(pid) or [pid]
    states = [s for s in (state_of_thread(pid, t) for t in tids) if s]
    if not states or any(s != "S" for s in states):
        return None  # gone, or some thread still runs
    for tid in tids:
        sc = syscall(pid, tid if len(tids) > 1 else None)
        if sc and sc.nr in numbers:
            return Blocked(pid, tid, sc, wchan(pid))
    return None


def state_of_thread(pid: int, tid: int) -> str | None:
    try:
        raw = (PROC / str(pid) / "task" / str(tid) / "stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()[0]


def asleep(pid: int) -> bool:
    """Every thread of PID waits for an event (state S): nothing of it runs or waits to run.

    Not D (disk, kernel lock: it runs again on its own): a Python program starting on a cold
    page cache is in D in read(2) of its modules, before any pipe or child (pipe.uses-pipe
    once failed the reference so, as "a relay waiting for input without a child")."""
    states = [s for s in (state_of_thread(pid, t) for t in threads(pid)) if s]
    return bool(states) and all(s == "S" for s in states)


@dataclass(frozen=True)
class SignalSets:
    """A thread's signal sets from /proc/PID[/task/TID]/status, as sets of signal numbers."""

    pending: frozenset[int]
    """SigPnd: pending for this thread alone."""
    shared_pending: frozenset[int]
    """ShdPnd: pending for the whole process (kill(2) sends here)."""
    blocked: frozenset[int]
    ignored: frozenset[int]
    caught: frozenset[int]
    """SigCgt: signals with a handler installed."""


def _signal_set(mask: str) -> frozenset[int]:
    bits = int(mask, 16)
    return frozenset(i + 1 for i in range(bits.bit_length()) if bits >> i & 1)


def signal_sets(pid: int, tid: int | None = None) -> SignalSets | None:
    """The signal sets of thread TID (default: the main thread) of PID; None if gone."""
    path = PROC / str(pid) / ("status" if tid is None else f"task/{tid}/status")
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return None
    fields = {}
    for line in lines:
        key, _, value = line.partition(":")
        if key in ("SigPnd", "ShdPnd", "SigBlk", "SigIgn", "SigCgt"):
            fields[key] = _signal_set(value.strip())
    if len(fields) != 5:
        return None
    return SignalSets(fields["SigPnd"], fields["ShdPnd"], fields["SigBlk"], fields["SigIgn"], fields["SigCgt"])


def pending_signals(pid: int) -> frozenset[int] | None:
    """Every signal pending for PID: for the process, or for any of its threads; None if gone."""
    main = signal_sets(pid)
    if main is None:
        return None
    out = set(main.shared_pending) | main.pending
    for tid in threads(pid):
        sets = signal_sets(pid, tid)
        if sets is not None:
            out |= sets.pending
    return frozenset(out)


def clock_ticks_per_second() -> int:
    return os.sysconf("SC_CLK_TCK")


def monotonic() -> float:
    return time.monotonic()
