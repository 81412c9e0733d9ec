"""Deadlocks proven from kernel state: when nothing a spec waits for can ever happen.

A spec waits on the programs it started (a line, an exit, a state). If every one of their
processes sleeps in a call that has no timeout, and everything that could wake each of them is
held by a process of the spec that itself sleeps, or by the grader, which does nothing while it
waits, then the state can never change: the wait ends at once, not at its deadline, with the
wait-for graph in words (``Deadlock``, a SpecTimeout: where a spec lets a wait run out, it goes
on exactly as it would have at the deadline, only sooner; a spec that ends on one is *failed*:
outcomes.SpecDeadlock). Processes the spec's programs left behind (a child whose parent exited
without waiting for it, adopted by the grader, a child subreaper) are the spec's too: a wait for
a program's whole tree to end is proven hopeless by them as well.

What can wake a sleeping process, as the kernel shows it:

- read on a pipe or FIFO: a process holding a write end (/proc/PID/fd, fdinfo); write: one
  holding a read end (the grader drains stdout and stderr, so a write there is never stuck);
- wait4 and waitid: a change in one of its children;
- pause, sigsuspend, sigwaitinfo: a signal, which only a process of the spec could send;
- a stopped process, and the System V, POSIX queue and futex waits (semaphores) without a
  timeout: another process of the spec (a signal, a message, a post).

The reference's programs in a spec (a server the submission's client talks to) are the
grader's own code: one that does not sleep provably (a server in accept or recvfrom) leaves
the proof standing for a submission's process that only a signal could wake, as long as it is
not a program that sends signals (`signal send`, strace). For every other kind of sleeper it is
doubt, as before: it might write, send or post.

Anything else is doubt, and doubt means no verdict (the deadline still stands): a process that
runs or is in uninterruptible sleep, a call with a timeout (nanosleep, poll, select, epoll,
sockets, whose timeouts the kernel does not show), a FIFO still being opened, a signal pending
or a timer signal caught, data waiting in a pipe the grader reads, a pipe end held by a process
outside the spec, a grader thread still writing to a program or serving it (a peer). And the
state must hold still over a short window (context switches unchanged) before it counts.
Anchors: the Go runtime's "all goroutines are asleep - deadlock!", a JVM thread dump's deadlock
report, the kernel's hung-task detector.
"""

from __future__ import annotations

import fcntl
import os
import signal
import struct
import termios
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from conformance.outcomes import Sentence, SpecDeadlock, one_after_another

from . import observe

#: How often a wait looks for a deadlock, and how long the state must hold still to count.
PERIOD = 0.1
STILL = 0.05

READS = frozenset({"read", "readv", "pread64", "preadv", "preadv2"})
WRITES = frozenset({"write", "writev", "pwrite64", "pwritev", "pwritev2"})
CHILD_WAITS = frozenset({"wait4", "waitid"})
SIGNAL_WAITS = frozenset({"pause", "rt_sigsuspend", "rt_sigtimedwait", "rt_sigtimedwait_time64"})
#: Waits a message, a post or a signal from another process ends: (call, index of its
#: timeout argument, or None when it has none).
OTHER_WAITS = {
    "msgrcv": None,
    "msgsnd": None,
    "semop": None,
    "semtimedop": 3,
    "mq_timedreceive": 4,
    "mq_timedreceive_time64": 4,
    "mq_timedsend": 4,
    "mq_timedsend_time64": 4,
    "futex": 3,
}
TIMED_SIGNAL_WAITS = {"rt_sigtimedwait": 2, "rt_sigtimedwait_time64": 2}
FUTEX_CMD = 0x7F  # the operation, without FUTEX_PRIVATE_FLAG and FUTEX_CLOCK_REALTIME
FUTEX_WAITS = {0, 9}  # FUTEX_WAIT, FUTEX_WAIT_BITSET (FUTEX_WAIT_BITSET's timeout is absolute)
TIMER_SIGNALS = {signal.SIGALRM, signal.SIGVTALRM, signal.SIGPROF}
#: Signals the kernel sends for a socket's or a file's own events (O_ASYNC, out-of-band data):
#: a process waiting for one may be woken by whoever talks to it, not only by a sender.
IO_SIGNALS = {signal.SIGIO, signal.SIGURG}
#: Threads of the grader that cannot wake a sleeper this module judges: readers of programs'
#: output, the integrity watch, feeders (judged with the pipe they write), socket peers (a
#: process asleep on a socket is never judged). Any other thread started during a spec may act.
QUIET_THREADS = ("ipc-reader", "integrity", "ipc-feeder", "ipc-peer", "ipc-timeline")


class Deadlock(SpecDeadlock):
    """The programs can never do what the grader waits for: proven, not timed out."""


@dataclass
class Sleeper:
    pid: int
    who: str
    call: str
    on: str = ""
    """What it waits on, in words: `fd 3 (pipe:[5])`."""
    wakers: set[int | str] = field(default_factory=set)
    """The pids (or "grader", "the spec") that could wake it."""
    said: str = ""


# --- the spec being watched -----------------------------------------------------------------

_watched: list = []  # the Supervisor of the spec this process runs now (at most one)
_last = [0.0]
_before: set[threading.Thread] = set()  # threads that were there before the spec (pytest's, xdist's)


def watching(supervisor) -> None:
    """Look for deadlocks among SUPERVISOR's programs in every wait, until watching(None)."""
    _watched[:] = [supervisor] if supervisor is not None else []
    _before.clear()
    if supervisor is not None:
        _before.update(threading.enumerate())


def poll(done, about=None) -> None:
    """Called in a wait that expects the programs to act: raises Deadlock once proven (looks
    at most every PERIOD seconds). DONE() says whether what the wait waits for has happened:
    a proof found at the moment it came true (a producer that has just filled the buffer and
    gone to sleep, as the wait hoped) is no deadlock, and the wait returns as usual. ABOUT is
    the program when the wait is for its own exit or output, which only its own processes can
    bring about (a trusted program still awake does not stand in the way, see _snapshot)."""
    if not _watched:
        return
    now = time.monotonic()
    if now - _last[0] < PERIOD:
        return
    _last[0] = now
    proof = prove(_watched[0], about)
    if proof is not None and not done():
        raise proof


# --- the proof ------------------------------------------------------------------------------


def prove(supervisor, about=None) -> Deadlock | None:
    """A Deadlock if the programs of SUPERVISOR are provably stuck for good, else None (ABOUT:
    see poll)."""
    if _busy_grader(supervisor):
        return None
    relax = about is not None and about.subject
    first = _snapshot(supervisor, relax)
    if first is None:
        return None
    threading.Event().wait(STILL)  # the window: a wake-up in flight shows as a change
    second = _snapshot(supervisor, relax)
    if second is None or second[0] != first[0]:
        return None
    sleepers, awake = second[1], second[2]
    return Deadlock(
        Sentence("Deadlock: every process of your programs sleeps, and nothing can wake any of them (the reference's programs still awake "
                 "send no signal): what the grader waits for can never happen.") if awake
        else Sentence("Deadlock: every process of this spec sleeps, and nothing can wake any of them: what the grader waits for can never happen."),
        evidence=[s.said for s in sleepers],
        fix=_fix(sleepers, supervisor),
        procs=[p for p in supervisor.procs if p.alive()][-8:] or supervisor.procs[-8:],
    )


def _busy_grader(supervisor) -> bool:
    """A grader thread that may still act on a program: a peer, or a feeder that is not stuck
    behind a full pipe (one that is can only go on once its program reads, so it counts as the
    grader, waiting)."""
    for proc in supervisor.procs:
        if any(t.is_alive() for t in proc._threads if t.name == "ipc-feeder") and not _pipe_holds_data(proc.popen.stdin):
            return True
    for t in threading.enumerate():
        if t in _before or t is threading.current_thread() or not t.is_alive():
            continue
        if t.name.startswith(QUIET_THREADS):
            continue
        return True
    return False


def _snapshot(supervisor, relax: bool = False) -> tuple[tuple, list[Sleeper], list[int]] | None:
    """(what must hold still, the sleepers) if every process of the spec sleeps in a call
    whose wakers are all asleep or the grader; None at any doubt. RELAX (a wait for a
    submission's program's own exit or output): a trusted program that does not sleep
    provably is no doubt when it cannot wake any of the submission's processes: none of them
    waits for anything but a signal, from a process asleep or the grader, and it sends none."""
    roots = [p for p in supervisor.procs if p.alive()]
    me = os.getpid()
    started = {p.pid for p in supervisor.procs}
    adopted = [c for c in observe.children(me) if c not in started and observe.state(c) not in (None, "Z", "X")]
    if not roots and not adopted:
        return None
    if any(_unread(p) for p in supervisor.procs):
        return None
    who = {p.pid: p.label for p in roots}
    who.update((pid, Sentence("a process the spec's programs left behind (adopted by the grader)")) for pid in adopted)
    pids: list[int] = []
    for root in [*(p.pid for p in roots), *adopted]:
        for pid in [root, *observe.descendants(root)]:
            if pid not in pids and observe.state(pid) not in (None, "Z", "X"):
                pids.append(pid)
                who.setdefault(pid, Sentence("a child of %(parent)s", parent=_parent_label(pid, who)))
    spec = set(pids)
    trusted = set()  # the reference's programs and the harness's tools, with their children
    for p in roots:
        if not p.subject:
            trusted |= {p.pid, *observe.descendants(p.pid)}
    try:
        ends = observe.pipe_ends([*pids, me])
    except observe.NOT_SHOWN:
        return None
    stamp = []
    sleepers: list[Sleeper] = []
    awake: list[int] = []  # trusted programs that may still act, but never send a signal
    for pid in pids:
        sleeper = _classify(pid, who[pid], ends, spec, me)
        if sleeper is None:
            if relax and pid in trusted and not _may_signal(pid):
                awake.append(pid)
                continue
            return None
        stamp.append((pid, sleeper.call, _switches(pid)))
        sleepers.append(sleeper)
    if not sleepers or (awake and not any(s.pid not in trusted for s in sleepers)):
        return None  # with a trusted program awake, a submission's process must be the one stuck
    asleep = spec - set(awake)
    for s in sleepers:
        # every waker must be a process of the spec (all asleep, as just shown) or the grader;
        # with a trusted program awake, only a sleeper that nothing but a signal can wake
        allowed = {"grader", "signals"} | ({"the spec"} if not awake else set())
        if any(w not in asleep and w not in allowed for w in s.wakers):
            return None
    return tuple(stamp), sleepers, awake


def _may_signal(pid: int) -> bool:
    """Whether trusted process PID may send a signal: the reference's `signal send` (and any
    role named send, to be safe), a tracer."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = [a.decode("utf-8", "replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return True
    return not argv or "send" in argv[1:] or os.path.basename(argv[0]) in ("strace", "kill", "gdb")


def _parent_label(pid: int, who: dict[int, str]) -> str:
    st = observe.read_stat(pid)
    return who.get(st.ppid, Sentence("pid %(pid)s", pid=st.ppid)) if st else Sentence("the spec")


def _classify(pid: int, who: str, ends: dict, spec: set[int], me: int) -> Sleeper | None:
    tids = observe.threads(pid) or [pid]
    states = [observe.state_of_thread(pid, t) for t in tids]
    if any(s not in ("S", "T") for s in states if s):
        return None  # running, in uninterruptible sleep, traced: no verdict
    sets = observe.signal_sets(pid)
    if sets is None:
        return None
    pending = (sets.pending | sets.shared_pending) - sets.blocked
    if pending or TIMER_SIGNALS & (sets.caught - sets.blocked):
        return None  # a signal in flight, or one a timer may send and it would take
    if any(s == "T" for s in states if s):
        return None  # stopped: the grader may be the one who stopped it, and will go on with it
    if len(tids) > 1:
        return None  # several threads: which waits for which is beyond what this proves
    try:
        sc = observe.syscall(pid)
    except observe.NOT_SHOWN:
        return None
    if sc is None or sc.running or sc.name is None:
        return None
    name = sc.name
    if name in READS | WRITES:
        return _pipe_sleeper(pid, who, sc, ends, spec, me, reading=name in READS)
    if name in CHILD_WAITS:
        kids = observe.children(pid)
        if not kids or any(k not in spec for k in kids):
            return None
        names = ", ".join(f"pid {k}" for k in kids)
        return Sleeper(pid, who, name, wakers=set(kids),
                       said=Sentence("%(who)s (pid %(pid)s) waits in %(call)s for its child (%(children)s), itself asleep", who=who, pid=pid, call=name, children=names))
    if name in SIGNAL_WAITS:
        index = TIMED_SIGNAL_WAITS.get(name)
        if index is not None and (len(sc.args) <= index or sc.args[index] != 0):
            return None
        wakers = {"the spec"} if IO_SIGNALS & (sets.caught - sets.blocked) else {"signals"}
        return Sleeper(pid, who, name, wakers=wakers,
                       said=Sentence("%(who)s (pid %(pid)s) waits in %(call)s for a signal that no running process can send", who=who, pid=pid, call=name))
    if name in OTHER_WAITS:
        index = OTHER_WAITS[name]
        if name == "futex" and (len(sc.args) < 2 or sc.args[1] & FUTEX_CMD not in FUTEX_WAITS):
            return None
        if index is not None and (len(sc.args) <= index or sc.args[index] != 0):
            return None  # it has a timeout
        what = Sentence("a semaphore or lock (futex)") if name == "futex" else name
        return Sleeper(pid, who, name, wakers={"the spec"},
                       said=Sentence("%(who)s (pid %(pid)s) waits in %(what)s, with no timeout, for a process that is itself asleep", who=who, pid=pid, what=what))
    return None


def _pipe_sleeper(pid, who, sc, ends, spec, me, reading: bool) -> Sleeper | None:
    if not sc.args:
        return None
    fd = observe.fds(pid).get(sc.args[0])
    if fd is None or fd.kind not in ("pipe", "fifo") or fd.inode is None:
        return None
    wanted = ("w", "rw") if reading else ("r", "rw")
    holders = [(p, f) for p, f in ends.get(fd.inode, []) if f.access in wanted]
    if not holders:
        return None  # no writer means EOF, no reader EPIPE: it would not sleep
    wakers: set[int | str] = set()
    words = []
    for p, f in holders:
        if p == me:
            if not reading:
                return None  # the grader reads what programs write: it will make room
            wakers.add("grader")
            words.append(Sentence("the grader (fd %(fd)s), which writes nothing while it waits for the programs", fd=f.fd))
        else:
            wakers.add(p)
            words.append(Sentence("it itself (fd %(fd)s)", fd=f.fd) if p == pid else Sentence("pid %(pid)s (fd %(fd)s), itself asleep", pid=p, fd=f.fd))
    holders_said = one_after_another(words, "; ")
    if reading:
        said = Sentence("%(who)s (pid %(pid)s) waits to read from fd %(fd)s (%(pipe)s), whose only writers are: %(holders)s",
                        who=who, pid=pid, fd=fd.fd, pipe=fd.target, holders=holders_said)
    else:
        said = Sentence("%(who)s (pid %(pid)s) waits to write to fd %(fd)s (%(pipe)s), whose only readers are: %(holders)s",
                        who=who, pid=pid, fd=fd.fd, pipe=fd.target, holders=holders_said)
    return Sleeper(pid, who, sc.name, on=f"fd {fd.fd} ({fd.target})", wakers=wakers, said=said)


def _switches(pid: int) -> tuple[int | None, int | None]:
    voluntary = involuntary = None
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("voluntary_ctxt_switches:"):
                    voluntary = int(line.split()[1])
                elif line.startswith("nonvoluntary_ctxt_switches:"):
                    involuntary = int(line.split()[1])
    except (OSError, ValueError):
        pass
    return voluntary, involuntary


def _pipe_holds_data(stream) -> bool:
    """Bytes sit in the pipe of STREAM (either end), or it cannot be told."""
    if stream is None or stream.closed:
        return False
    try:
        return bool(struct.unpack("i", fcntl.ioctl(stream.fileno(), termios.FIONREAD, b"\0\0\0\0"))[0])
    except (OSError, ValueError):
        return True  # cannot tell: doubt


def _unread(proc) -> bool:
    """Output the program wrote that the grader has not read yet."""
    return _pipe_holds_data(proc.popen.stdout) or _pipe_holds_data(proc.popen.stderr)


def _fix(sleepers: Iterable[Sleeper], supervisor) -> str:
    """What to change, where the graph says: a program reading its input while the grader
    waits for output it has not printed (stdio's buffer), an end held by the reader itself."""
    fixes = []
    stdin_readers = {p.pid for p in supervisor.procs if p.alive() and p.stdout.length == 0}
    for s in sleepers:
        if "grader" in s.wakers and s.pid in stdin_readers:
            fixes.append(Sentence(
                "%(who)s printed nothing yet and now waits for more input: if it has written its "
                "reply, it is still in stdio's buffer. Flush after each line (fflush(stdout); "
                "print(..., flush=True)).", who=s.who,
            ))
        if s.pid in s.wakers:
            fixes.append(Sentence("%(who)s holds the other end of the pipe it waits on: close the ends it does not use right after fork.", who=s.who))
    return one_after_another(list(dict.fromkeys(fixes)), " ")


__all__ = ["Deadlock", "poll", "prove", "watching"]
