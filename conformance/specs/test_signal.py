"""Specs for `signal catch`, `signal child` and `signal send`: handlers, uncatchable signals, waiting.

signal(7), sigaction(2), sigsuspend(2), sigwaitinfo(2), sigprocmask(2), kill(2). The seeds: a
signal is an event the kernel delivers to a process it names by pid; it may arrive at any time,
so it is asynchronous; the receiver handles it with a handler installed by sigaction, but
SIGKILL and SIGSTOP can be neither caught nor ignored; the seed's child waits with
sigpause(SIGUSR1) for the kill(pid, SIGUSR1) of its parent.

signal(7) on pending signals: a standard signal that is already pending is not queued again
(several become one delivery), while real-time signals are queued, one delivery per signal
sent. The catcher's output lines are read as the grader's evidence of deliveries; the kernel's
own view (/proc/PID/status: pending and blocked sets, /proc/PID/syscall, a strace of
rt_sigaction) says why when they are wrong.
"""

from __future__ import annotations

import re
import shutil
import signal
from collections import Counter
from dataclasses import dataclass, field

from conformance import deadline
from conformance.deadline import Deadline
from conformance.outcomes import HarnessBroken, Sentence, SpecDeadlock, SpecFailure, SpecTimeout, needs, one_after_another
from conformance.spec import spec
from conformance.specs.support import (
    Proc,
    SignalSets,
    asleep,
    blocked_now,
    children,
    describe,
    fds,
    monotonic,
    pending_signals,
    read_stat,
    settle,
    signal_name,
    signal_sets,
    spawn_traced,
    state,
    wait_until,
)

# Deadlines are the presets (conformance.deadline): STEP for a state, a line or a small program
# (`signal send`), EXIT for a run of `signal child` (it forks, signals and reaps its child),
# TRACE for the catcher started under strace.

#: A window specific to signal delivery, not a deadline nor an idle check (those are settle's):
#: a catcher that never sleeps cannot show it is done with the signals it was sent; it gets
#: this long to finish its lines before the marker is sent. A catcher that sleeps never waits here.
DELIVERY_WINDOW = 1
#: How many times `signal child --delay-ms 0` runs: the race it must never lose is narrow.
CHILD_RUNS = 30
#: The parent's delay in child-suspends (scaled with the deadlines): long enough to watch the child.
CHILD_DELAY_MS = 1500
#: How many of each signal the burst specs send while the catcher is stopped.
BURST = 5
#: Under schedule control (docs/schedules.md), the grader's signals are steps of the schedule,
#: placed among the catcher's own: SENT of each, and the budget of schedules each spec explores
#: (the calibration's, with a margin of 1.5: scripts/calibrate_schedules.py, docs/schedules.md).
#: Under 6 base seeds each, the catcher's race mutants first failed standard-coalesce at schedule
#: 44 at the latest (40 was too few), realtime-queued at 2; under 10 each, the child's at 23
#: (16 was too few).
SENT = 2
COALESCE_SCHEDULES = 66
CATCHER_SCHEDULES = 40
CHILD_SCHEDULES = 36

#: System calls in which a process waits for a signal itself (or for a signalfd / self-pipe).
SIGNAL_WAIT_CALLS = frozenset(
    {
        "rt_sigsuspend", "sigsuspend", "pause", "rt_sigtimedwait", "rt_sigtimedwait_time64",
        "ppoll", "ppoll_time64", "pselect6", "pselect6_time64", "poll", "select",
        "epoll_wait", "epoll_pwait", "epoll_pwait2",
    }
)
#: sigwaitinfo(2) and sigtimedwait(2): while a thread sleeps in one, /proc shows the signals it
#: waits for as unblocked.
SIGWAITINFO = frozenset({"rt_sigtimedwait", "rt_sigtimedwait_time64"})
#: A read that waits for a signal: on a signalfd, or on a self-pipe its handler writes to.
READ_WAIT_CALLS = frozenset({"read", "readv"})
WAITING_HINT = Sentence(
    "Wait in the kernel for the signal: sigsuspend(2) or pause(2) with a handler installed, or "
    "block the signals and call sigwaitinfo(2) (Python: signal.pause(), signal.sigwaitinfo())."
)

HANDLED = {
    "SIGUSR1": signal.SIGUSR1,
    "SIGUSR2": signal.SIGUSR2,
    "SIGHUP": signal.SIGHUP,
    "SIGINT": signal.SIGINT,
    "SIGRTMIN": signal.SIGRTMIN,
    "SIGTERM": signal.SIGTERM,
}
HANDLED_NUMBERS = frozenset(int(s) for s in HANDLED.values())
#: A pid has at most 7 digits (pid_max is at most 2**22); a longer number is no pid.
READY = re.compile(r"ready ([0-9]{1,7})")


# --- helpers -------------------------------------------------------------------------------


@dataclass
class Catcher:
    """A running `signal catch` whose `ready PID` line has been read."""

    proc: Proc
    pid: int
    startup: list[str] = field(default_factory=list)
    """The lines it printed before `ready`."""
    stopped_view: tuple[frozenset[int], SignalSets | None] = (frozenset(), None)
    """What the kernel held for it while it was stopped (pending; all its sets), for messages."""
    ready_sets: SignalSets | None = None
    """Its signal sets when it printed `ready` (which signals had a handler then)."""

    def send(self, sig: int) -> None:
        try:
            self.proc.kill(self.pid, sig)
        except ProcessLookupError:
            status = self.proc.wait(deadline.STEP)  # a stub's exit says: not implemented
            raise SpecFailure(
                Sentence("%(program)s (pid %(pid)s) %(ended)s before %(signal)s could be sent to it.",
                         program=self.proc.label, pid=self.pid, ended=status.ended if status else Sentence("exited"), signal=signal_name(sig)),
                procs=[self.proc],
            ) from None

    def next(self, what: str, timeout: float | Deadline = deadline.STEP) -> str:
        return self.proc.next_line(timeout, what=what).decode("utf-8", "replace").rstrip()


def _start(impl, role_proc: Proc | None = None, pid_ok=None, timeout: float | Deadline = deadline.STEP) -> Catcher:
    """Start `signal catch` (or use ROLE_PROC) and read its lines up to `ready PID`."""
    proc = role_proc or impl.spawn("catch", stdin="devnull")
    deadline_ = Deadline.of(timeout)
    startup: list[str] = []
    while True:
        line = proc.next_line(deadline_, what="`ready PID`").decode("utf-8", "replace").rstrip()
        if line.startswith("ready"):
            break
        startup.append(line)
        if len(startup) > 10:
            raise SpecFailure(Sentence("%(program)s printed %(count)s lines and no `ready PID` line.", program=proc.label, count=len(startup)), procs=[proc])
    m = READY.fullmatch(line)
    if not m:
        raise SpecFailure(
            Sentence("%(program)s printed %(line)s.", program=proc.label, line=repr(line[:80])),
            expected=Sentence("`ready PID` with its own process id in decimal, such as `ready %(pid)s`", pid=proc.pid),
            procs=[proc],
        )
    pid = int(m.group(1))
    ok = pid_ok(pid) if pid_ok else pid == proc.pid
    if not ok:
        raise SpecFailure(
            Sentence("%(program)s printed `ready %(printed)s`, but its process id is %(pid)s.", program=proc.label, printed=pid, pid=proc.pid),
            fix=Sentence("Print getpid(), the pid a sender must signal."),
            procs=[proc],
        )
    return Catcher(proc, pid, startup, ready_sets=signal_sets(pid))


def _startup_lines(c: Catcher, name: str) -> Sentence:
    """What the catcher printed before `ready` when the `cannot catch NAME` line is not among it,
    and whether it wrote about NAME on stderr instead of that line on stdout."""
    printed = Sentence("before `ready`, %(program)s printed %(lines)s.", program=c.proc.label, lines=str(c.startup))
    if name.encode() not in c.proc.stderr.data:
        return printed
    return one_after_another(
        [printed, Sentence("It wrote about %(signal)s on stderr instead: the line `cannot catch %(signal)s` goes to stdout.", signal=name)], " "
    )


def _expect_caught(c: Catcher, name: str, after: str) -> None:
    """The next line must be `caught NAME`."""
    try:
        line = c.next(Sentence("`caught %(signal)s` %(after)s", signal=name, after=after))
    except SpecFailure:
        status = c.proc.status
        had = c.ready_sets is not None and status is not None and status.signal in c.ready_sets.caught
        if had and status.signal == signal.SIGINT:
            raise SpecFailure(
                Sentence("%(after)s, %(program)s was %(status)s, though it had a handler for SIGINT when it printed `ready` "
                         "(SigCgt in /proc): Python's own, which raises KeyboardInterrupt and so ends the program.",
                         after=after, program=c.proc.label, status=status.words()),
                fix=Sentence("Install your own SIGINT handler (signal.signal(signal.SIGINT, ...)) that prints `caught SIGINT`."),
                procs=[c.proc],
            ) from None
        if status is not None and status.signal is not None and not had:
            raise SpecFailure(
                Sentence("%(after)s, %(program)s was %(status)s: no handler was in place, so the signal's "
                         "default action ended it.", after=after, program=c.proc.label, status=status.words()),
                fix=Sentence("Install the handler before printing `ready`, and keep it installed (sigaction(2) "
                             "without SA_RESETHAND; System V signal() resets it after one delivery)."),
                procs=[c.proc],
            ) from None
        raise
    if line != f"caught {name}":
        raise SpecFailure(Sentence("%(after)s, %(program)s printed %(line)s.", after=after, program=c.proc.label, line=repr(line[:80])),
                          expected=f"`caught {name}`", procs=[c.proc])


def _delivered(c: Catcher, what: str | Sentence) -> None:
    """Wait until the catcher has taken every handled signal pending for it and sleeps again.

    Once nothing it handles is pending and it sleeps, it has run (or is blocked in) everything
    those deliveries caused. A catcher that never sleeps (it spins) gets DELIVERY_WINDOW
    instead: whether it may spin is signal.waits-without-spinning's verdict (settle's), not
    this wait's, so it is not judged here.
    """

    def taken() -> bool:
        pending = pending_signals(c.pid)
        return pending is not None and not (pending & HANDLED_NUMBERS)

    c.proc.wait_for(taken, deadline.STEP, Sentence("%(program)s (pid %(pid)s) took its pending signals (%(what)s)", program=c.proc.label, pid=c.pid, what=what))
    try:
        c.proc.wait_for(lambda: asleep(c.pid), DELIVERY_WINDOW, Sentence("%(program)s went back to sleep", program=c.proc.label))
    except SpecTimeout:
        pass  # it spins (waits-without-spinning reports that); the window was its time to print


def _lines_until_marker(c: Catcher, what: str | Sentence) -> list[str]:
    """Send SIGUSR2 as a marker and return the lines printed before its `caught SIGUSR2`.

    Call it once the catcher has taken its signals (see _delivered): every line WHAT caused is then printed
    before the marker's, whatever order the catcher takes pending signals in.
    """
    c.send(signal.SIGUSR2)
    lines: list[str] = []
    while True:
        try:
            line = c.next(Sentence("`caught SIGUSR2` (sent after %(what)s, to mark the end of its output)", what=what))
        except SpecTimeout as exc:
            so_far = Sentence("The lines after `ready` so far: %(lines)s.", lines=str(lines))
            raise exc.again(observed=one_after_another([exc.observed, so_far], " "), procs=exc.procs or [c.proc]) from None
        if line == "caught SIGUSR2":
            return lines
        lines.append(line)
        if len(lines) > 200:
            raise SpecFailure(Sentence("%(program)s printed %(count)s lines for %(what)s; stopped reading.", program=c.proc.label, count=len(lines), what=what), procs=[c.proc])


def _burst(impl) -> tuple[Catcher, list[str]]:
    """Stop the catcher, send SIGUSR1 and SIGRTMIN BURST times each, continue it: its lines."""
    c = _start(impl)
    c.send(signal.SIGSTOP)
    c.proc.wait_state("T", deadline.STEP, pid=c.pid)
    for _ in range(BURST):
        c.send(signal.SIGUSR1)
    for _ in range(BURST):
        c.send(signal.SIGRTMIN)
    c.stopped_view = (pending_signals(c.pid) or frozenset(), signal_sets(c.pid))
    c.send(signal.SIGCONT)
    what = Sentence("%(count)s SIGUSR1 and %(count)s SIGRTMIN sent while it was stopped", count=BURST)
    _delivered(c, what)
    lines = _lines_until_marker(c, what)
    return c, lines


def _burst_done(c: Catcher) -> Sentence:
    return Sentence("stopped %(program)s with SIGSTOP, sent SIGUSR1 %(count)s times and SIGRTMIN %(count)s times, then SIGCONT:", program=c.proc.label, count=BURST)


def _times(n: int) -> Sentence:
    return {0: Sentence("no times"), 1: Sentence("once"), 2: Sentence("twice")}.get(n) or Sentence("%(count)s times", count=n)


def _stopped_sets(c: Catcher) -> list[str]:
    """What the kernel held for the catcher while it was stopped, as evidence sentences."""
    pending, sets = c.stopped_view
    names = lambda s: ", ".join(signal_name(n) for n in sorted(s & HANDLED_NUMBERS)) or Sentence("none")  # noqa: E731
    out = [Sentence("While it was stopped, the kernel held pending: %(pending)s.", pending=names(pending))]
    if sets is not None:
        out.append(Sentence("It had handlers (SigCgt) for: %(caught)s; blocked: %(blocked)s.", caught=names(sets.caught), blocked=names(sets.blocked)))
    return out


def _waits_for_signal(proc: Proc, pid: int, who: str) -> None:
    """PID (WHO, named without its pid) sleeps in a call that waits for a signal.

    settle.asleep_in fails it when it exits, spins or polls first. A read counts when it is on a
    signalfd or on a self-pipe (a pipe that is not the grader's): that one look is this spec's
    own, on top of the settled call.
    """
    limit = Deadline(deadline.STEP)
    try:
        blocked = settle.asleep_in(proc, SIGNAL_WAIT_CALLS | READ_WAIT_CALLS, limit, pid=pid, who=who, fix=WAITING_HINT)
    except SpecTimeout:
        # it neither exited, spun nor polled: it slept in some other call (a lock, a read of
        # input), which is the program's doing, not a deadline's
        raise SpecFailure(
            Sentence("%(who)s (pid %(pid)s) never slept in a call that waits for a signal (%(calls)s) within %(within)s.",
                     who=who, pid=pid, calls=", ".join(sorted(SIGNAL_WAIT_CALLS)), within=str(limit)),
            evidence=[describe(pid)],
            fix=one_after_another([Sentence("A timed sleep (nanosleep) or a lock is polling, not waiting for the signal."), WAITING_HINT], " "),
            procs=[proc],
        ) from None
    sc = blocked.syscall
    if sc.name in READ_WAIT_CALLS:
        fd = fds(pid).get(sc.args[0]) if sc.args else None
        if fd is None or not ("signalfd" in fd.target or (fd.kind == "pipe" and fd.inode not in proc.harness_pipes)):
            raise SpecFailure(
                Sentence("%(who)s (pid %(pid)s) sleeps in read on %(fd)s, not on a signalfd or a self-pipe: it waits for input, not for a signal.",
                         who=who, pid=pid, fd=str(fd) if fd else Sentence("an unknown fd")),
                evidence=[blocked.words()],
                fix=WAITING_HINT,
                procs=[proc],
            )


def _handles_signals(c: Catcher) -> None:
    """The catcher catches or blocks (to take with sigwaitinfo) some signal it is to handle: the
    work a spec about what it does not do (catch SIGKILL, spin) gives its point for. A program
    that prints the lines and sleeps handles nothing, and earns nothing."""

    def look() -> str | None:
        sets = signal_sets(c.pid)
        if sets is None or HANDLED_NUMBERS & (sets.caught | sets.blocked):
            return "handles"  # (gone: what comes next says so)
        if not asleep(c.pid):
            return None  # between two calls: look again
        # asleep in sigwaitinfo, the kernel shows the signals it waits for as unblocked
        return "handles" if blocked_now(c.pid, SIGWAITINFO) else "nothing"

    if wait_until(look, deadline.STEP, Sentence("%(program)s asleep or handling signals", program=c.proc.label)) == "handles":
        return
    with needs("signal.handles-usr1"):
        raise SpecFailure(
            Sentence("%(program)s (pid %(pid)s) printed `ready` but neither catches nor blocks any signal it is to handle (%(signals)s).",
                     program=c.proc.label, pid=c.pid, signals=", ".join(HANDLED)),
            evidence=[Sentence("/proc/%(pid)s/status: a handler (SigCgt) for none of them, and none blocked (SigBlk); %(process)s.", pid=c.pid, process=describe(c.pid))],
            fix=Sentence("Install the handlers (sigaction(2)), or block the signals to take them with sigwaitinfo(2), before printing `ready`."),
            procs=[c.proc],
        )


def _handles(impl, name: str) -> None:
    c = _start(impl)
    for n in (1, 2):
        c.send(HANDLED[name])
        _expect_caught(c, name, Sentence("after a second %(signal)s (sent with kill(2) to pid %(pid)s)", signal=name, pid=c.pid) if n == 2
                       else Sentence("after one %(signal)s (sent with kill(2) to pid %(pid)s)", signal=name, pid=c.pid))


# --- the uncatchable signals ---------------------------------------------------------------


@spec(
    "signal.sigkill-uncatchable",
    points=2,
    hint="Call sigaction(2) for SIGKILL: it fails with EINVAL, then print `cannot catch SIGKILL`. "
    "Nothing you do can stop SIGKILL from ending the process.",
)
def test_sigkill_uncatchable(impl):
    """The catcher reports that SIGKILL cannot be caught, and SIGKILL ends it at once (signal(7))."""
    c = _start(impl)
    _handles_signals(c)
    if "cannot catch SIGKILL" not in c.startup:
        raise SpecFailure(
            _startup_lines(c, "SIGKILL"),
            expected=Sentence("a line `cannot catch %(signal)s` once its attempt to install a handler for %(signal)s failed", signal="SIGKILL"),
            procs=[c.proc],
        )
    c.send(signal.SIGKILL)
    status = c.proc.wait(deadline.STEP)
    if status.signal != signal.SIGKILL:
        raise SpecFailure(Sentence("after SIGKILL, %(program)s %(ended)s.", program=c.proc.label, ended=status.ended),
                          expected=Sentence("killed by signal %(number)s (%(signal)s)", number=9, signal="SIGKILL"), procs=[c.proc])
    if "terminating" in c.proc.lines():
        raise SpecFailure(
            Sentence("%(program)s printed `terminating` although it got SIGKILL, which no handler sees.", program=c.proc.label),
            fix=Sentence("Print `terminating` for SIGTERM only."),
            procs=[c.proc],
        )


@spec(
    "signal.sigkill-attempted",
    points=1,
    hint="Really try: call sigaction(SIGKILL, &act, NULL) (Python: signal.signal(signal.SIGKILL, handler)) "
    "and print `cannot catch SIGKILL` when it fails; likewise for SIGSTOP. Do not just print the line.",
)
def test_sigkill_attempted(impl, ipc_tmp):
    """The catcher really asks the kernel to catch SIGKILL and SIGSTOP, and the kernel refuses (EINVAL)."""
    out = ipc_tmp / "catch.strace"
    traced = spawn_traced(impl, "catch", syscalls={"rt_sigaction"}, out=out, stdin="devnull")
    c = _start(impl, role_proc=traced.proc, pid_ok=traced.in_tree, timeout=deadline.TRACE)
    calls = traced.finish(deadline.STEP)
    for name in ("SIGKILL", "SIGSTOP"):
        about = [call for call in calls if call.name == "rt_sigaction" and call.arg(0) == name]
        attempts = [call for call in about if call.arg(1) not in (None, "NULL")]
        refused = [call for call in attempts if call.errno == "EINVAL"]
        if refused:
            continue
        seen = "; ".join(str(call) for call in about[:4]) or Sentence("none")
        raise SpecFailure(
            Sentence("it made no rt_sigaction(%(signal)s, <new action>, ...) call that the kernel refused with "
                     "EINVAL, so its `cannot catch %(signal)s` line (if any) is not the kernel's answer. Lines it "
                     "printed before `ready`: %(lines)s.", signal=name, lines=str(c.startup)),
            done=Sentence("traced `signal catch` with strace:"),
            evidence=[Sentence("Its rt_sigaction calls for %(signal)s: %(calls)s (a NULL new action only reads the current one).", signal=name, calls=seen)],
            procs=[c.proc],
        )


@spec(
    "signal.sigstop-uncatchable",
    points=2,
    hint="Try sigaction(2) for SIGSTOP and print `cannot catch SIGSTOP` when it fails. SIGSTOP "
    "always stops the process; SIGCONT resumes it, and your handlers must still be in place.",
)
def test_sigstop_uncatchable(impl):
    """The catcher reports that SIGSTOP cannot be caught; SIGSTOP stops it and SIGCONT resumes it, still handling SIGUSR1."""
    c = _start(impl)
    if "cannot catch SIGSTOP" not in c.startup:
        raise SpecFailure(
            _startup_lines(c, "SIGSTOP"),
            expected=Sentence("a line `cannot catch %(signal)s` once its attempt to install a handler for %(signal)s failed", signal="SIGSTOP"),
            procs=[c.proc],
        )
    c.send(signal.SIGSTOP)
    c.proc.wait_state("T", deadline.STEP, pid=c.pid)
    c.send(signal.SIGCONT)
    c.proc.wait_for(lambda: state(c.pid) not in ("T", "t"), deadline.STEP, Sentence("%(program)s resumed after SIGCONT", program=c.proc.label))
    c.send(signal.SIGUSR1)
    _expect_caught(c, "SIGUSR1", Sentence("after SIGSTOP, SIGCONT and then SIGUSR1"))


# --- handled signals -----------------------------------------------------------------------


@spec("signal.handles-usr1", points=1, hint="Install a handler for SIGUSR1 (sigaction(2)) before printing `ready`; print `caught SIGUSR1` for each delivery.")
def test_handles_usr1(impl):
    """Each SIGUSR1 sent to the catcher gives a `caught SIGUSR1` line."""
    _handles(impl, "SIGUSR1")


@spec("signal.handles-usr2", points=1, hint="Install a handler for SIGUSR2 (sigaction(2)) before printing `ready`; print `caught SIGUSR2` for each delivery.")
def test_handles_usr2(impl):
    """Each SIGUSR2 sent to the catcher gives a `caught SIGUSR2` line."""
    _handles(impl, "SIGUSR2")


@spec("signal.handles-hup", points=1, hint="Install a handler for SIGHUP (sigaction(2)) before printing `ready`; print `caught SIGHUP` for each delivery.")
def test_handles_hup(impl):
    """Each SIGHUP sent to the catcher gives a `caught SIGHUP` line."""
    _handles(impl, "SIGHUP")


@spec(
    "signal.handles-int",
    points=1,
    hint="Install your own handler for SIGINT before printing `ready` (in Python, replace the "
    "default one, which raises KeyboardInterrupt); print `caught SIGINT` for each delivery.",
)
def test_handles_int(impl):
    """Each SIGINT sent to the catcher gives a `caught SIGINT` line (Ctrl-C does not end it)."""
    _handles(impl, "SIGINT")


@spec(
    "signal.sigterm-graceful",
    points=1,
    hint="On SIGTERM print `terminating` (no `caught` line) and exit with status 0.",
)
def test_sigterm_graceful(impl):
    """On SIGTERM the catcher prints `terminating` and exits 0."""
    c = _start(impl)
    c.send(signal.SIGTERM)
    status = c.proc.wait(deadline.STEP)
    after = c.proc.lines()[len(c.startup) + 1 :]
    if status.signal == signal.SIGTERM:
        raise SpecFailure(Sentence("%(program)s was %(status)s: it has no handler for SIGTERM.", program=c.proc.label, status=status.words()), procs=[c.proc])
    if after != ["terminating"] or not status.ok:
        raise SpecFailure(
            Sentence("after SIGTERM, %(program)s printed %(lines)s and %(status)s.", program=c.proc.label, lines=str(after), status=status.words()),
            expected=Sentence("exactly the line `terminating` and exit status 0"),
            procs=[c.proc],
        )


@spec(
    "signal.waits-without-spinning",
    points=2,
    hint="Do not loop checking a flag: sleep in sigsuspend(2)/pause(2) (handlers) or sigwaitinfo(2) "
    "(blocked signals) until a signal comes.",
)
def test_waits_without_spinning(impl):
    """While no signal comes, the catcher sleeps in a signal-wait call and uses no CPU."""
    c = _start(impl)
    _handles_signals(c)  # a program that sleeps and handles nothing waits for no signal
    settle.idle(c.proc, pid=c.pid, fix=WAITING_HINT)
    _waits_for_signal(c.proc, c.pid, c.proc.label)


# --- pending signals: standard ones coalesce, real-time ones queue -------------------------


@spec(
    "signal.standard-coalesce",
    points=1,
    hint="A standard signal is pending or not: five SIGUSR1 sent while you cannot run are one "
    "delivery. Print one line per delivery, not a line per kill you imagine was sent.",
)
def test_standard_coalesce(impl, schedules):
    """Five SIGUSR1 sent while the catcher is stopped become one delivery: one `caught SIGUSR1` (signal(7)).

    Then, under schedules of the grader's, SIGUSR1 and SIGUSR2 come at moments the schedule
    chooses among the catcher's own steps: each is reported, however they fall.
    """
    _coalesced(impl)
    schedules.explore(
        lambda run: _sent_under(run, (signal.SIGUSR1, signal.SIGUSR2), each=1), COALESCE_SCHEDULES,
        what="SIGUSR1 and SIGUSR2 sent at moments the schedule chooses among the catcher's steps",
    )


def _coalesced(impl):
    c, lines = _burst(impl)
    count = lines.count("caught SIGUSR1")
    if count != 1:
        raise SpecFailure(
            Sentence("it printed `caught SIGUSR1` %(times)s. Its lines: %(lines)s.", times=_times(count), lines=str(lines)),
            done=_burst_done(c),
            expected=Sentence("exactly once, since a standard signal that is already pending is not queued again"),
            evidence=_stopped_sets(c),
            procs=[c.proc],
        )


@spec(
    "signal.realtime-queued",
    points=2,
    hint="Real-time signals queue: take each instance, e.g. with sigwaitinfo(2) on the blocked "
    "signals. Python runs a handler once for several instances that arrived before it could run.",
)
def test_realtime_queued(impl, schedules):
    """Five SIGRTMIN sent while the catcher is stopped are five deliveries: five `caught SIGRTMIN` (signal(7)).

    Then, under schedules of the grader's, SENT SIGRTMIN come at moments the schedule chooses
    among the catcher's own steps: each is reported once, however they fall.
    """
    _queued(impl)
    schedules.explore(
        lambda run: _sent_under(run, (signal.SIGRTMIN,), each=SENT), CATCHER_SCHEDULES,
        what=f"{SENT} SIGRTMIN sent at moments the schedule chooses among the catcher's steps",
    )


def _queued(impl):
    c, lines = _burst(impl)
    count = lines.count("caught SIGRTMIN")
    if count != BURST:
        handler = count < BURST and c.stopped_view[1] is not None and signal.SIGRTMIN in c.stopped_view[1].caught
        merged = count == 1 and "caught SIGUSR1" not in lines  # SIGUSR1 was pending with them: no line for it at all
        printed = (
            Sentence("it printed `caught SIGRTMIN` %(times)s for %(sent)s sent: a signal was lost. Its lines: %(lines)s.", times=_times(count), sent=BURST, lines=str(lines))
            if count < BURST
            else Sentence("it printed `caught SIGRTMIN` %(times)s. Its lines: %(lines)s.", times=_times(count), lines=str(lines))
        )
        together = Sentence("No `caught SIGUSR1` either, though SIGUSR1 was pending too: it printed one line for all the signals that woke it together.")
        raise SpecFailure(
            one_after_another([printed, together] if merged else [printed], " "),
            done=_burst_done(c),
            expected=Sentence("%(count)s times, since real-time signals are queued and each is delivered", count=BURST),
            evidence=_stopped_sets(c),
            fix=(
                Sentence("It takes SIGRTMIN with a handler: if that is a Python handler, Python runs it "
                         "once for all the instances delivered before it could run; block the signals and "
                         "take each one with signal.sigwaitinfo instead.")
                if handler
                else ""
            ),
            procs=[c.proc],
        )


def _sent_under(run, sigs, each):
    """One schedule of the catcher: EACH of SIGS sent by the grader, each send a step the schedule
    places among the catcher's once it has printed `ready`; then, once nothing more can happen,
    every signal sent must have been reported (a standard one at least once, a real-time one
    once per send), and SIGTERM ends it."""
    c = run.spawn("catch")
    ready = run.printed(c, "ready")
    sent = [s for s in sigs for _ in range(each)]
    for sig in sent:
        run.act(f"sends {signal_name(sig)} to the catcher", lambda sig=sig: _kill_quietly(c, sig), when=ready, pid=c.pid)
    run.start()
    done = Sentence("the grader sent %(signals)s to %(program)s, each at a moment the schedule chose after `ready`",
                    signals=", ".join(signal_name(s) for s in sent), program=c.label)
    if not run.quiet(deadline.STEP) or not run.acted():
        raise SpecTimeout(Sentence("%(program)s was still busy %(seconds)s s after %(done)s.", program=c.label, seconds=deadline.STEP, done=done), procs=[c])
    lines = [line.strip() for line in c.lines()]
    problems = []
    for sig in dict.fromkeys(sent):
        name = signal_name(sig)
        n, want = lines.count(f"caught {name}"), sent.count(sig)
        queued = sig >= signal.SIGRTMIN
        if (queued and n != want) or (not queued and not 1 <= n <= want):
            if n < (want if queued else 1):
                problems.append(Sentence("`caught %(signal)s` %(times)s for %(sent)s sent: a signal was lost", signal=name, times=_times(n), sent=_times(want)))
            else:
                problems.append(Sentence("`caught %(signal)s` %(times)s for %(sent)s sent", signal=name, times=_times(n), sent=_times(want)))
    if problems:
        raise SpecFailure(
            Sentence("once it had settled, %(program)s had printed %(problems)s. Its lines: %(lines)s.",
                     program=c.label, problems=one_after_another(problems, "; "), lines=str(lines[:12])),
            done=Sentence("%(sentence)s.", sentence=done),
            expected=Sentence("every signal sent reported: a real-time one once per send (they queue), a standard one at least once"),
            fix=Sentence("A signal that arrives while the program handles another must not be lost: a flag read and then cleared "
                         "in two steps loses one that comes in between. Block the signals and take them with sigwaitinfo(2), or "
                         "clear and read with the signals blocked."),
            procs=[c],
        )
    with run.hold():
        _kill_quietly(c, signal.SIGTERM)
    run.finish([c], deadline.STEP, Sentence("%(program)s, after SIGTERM", program=c.label))


def _kill_quietly(c, sig):
    try:
        c.kill(c.pid, sig)
    except ProcessLookupError:
        pass  # it ended: what it printed says why


# --- signal child --------------------------------------------------------------------------


def _child_run_problem(run: Proc, n: int, delay_ms: int = 0, limit: float = deadline.STEP) -> SpecFailure | None:
    """Why run N of `signal child --delay-ms DELAY_MS` is wrong, or None; RUN has exited (or
    does within LIMIT)."""
    status = run.wait(limit)  # and its output to the end
    lines = run.lines()
    want = ["child got SIGUSR1", "child exited 0"]
    if lines == want and status.ok:
        return None
    lost = any("SIGUSR1" in line and "killed" in line for line in lines)
    printed = (Sentence("run %(n)s of `signal child --delay-ms 0` printed %(lines)s and %(status)s.", n=n, lines=str(lines), status=status.words()) if n
               else Sentence("`signal child --delay-ms %(delay)s` printed %(lines)s and %(status)s.", delay=delay_ms, lines=str(lines), status=status.words()))
    died = Sentence("The child died of SIGUSR1's default action: the signal came before its handler was installed.")
    return SpecFailure(
        one_after_another([printed, died] if lost else [printed], " "),
        expected=Sentence("the lines %(lines)s and exit status 0", lines=str(want)),
        procs=[run],
    )


@spec(
    "signal.child-no-lost-signal",
    points=3,
    hint="Block SIGUSR1 (sigprocmask) BEFORE fork; the child then waits with sigsuspend(2) on a "
    "mask without SIGUSR1 (or sigwaitinfo), which unblocks and sleeps in one step. A handler "
    "installed after fork misses a signal that comes first.",
)
def test_child_no_lost_signal(impl, schedules):
    """With no delay, the child never loses a SIGUSR1 that arrives before it waits (30 runs in a row).

    Then under schedules of the grader's, one process at a time: whatever the order of the
    parent's kill and the child's steps, the child reports the signal.
    """
    # first the work: with a delay to see it by, a child waits for its parent's SIGUSR1 (a
    # program that prints the two lines at once has no child and sends no signal)
    delay_ms = int(CHILD_DELAY_MS * deadline.scale())
    shown = impl.spawn("child", "--delay-ms", str(delay_ms), stdin="devnull")
    with needs("signal.child-suspends"):
        shown.child(deadline.STEP, Sentence("its child, which waits for SIGUSR1"))
        problem = _child_run_problem(shown, 0, delay_ms, delay_ms / 1000 + deadline.EXIT)
        if problem:
            raise problem
    for n in range(1, CHILD_RUNS + 1):
        run = impl.spawn("child", "--delay-ms", "0", stdin="devnull")
        limit = Deadline(deadline.EXIT)
        if not run.finished_within(limit):
            kids = children(run.pid)  # one look, for the evidence
            raise SpecFailure(
                Sentence("run %(n)s of %(runs)s of `signal child --delay-ms 0` did not finish within %(within)s. "
                         "The SIGUSR1 came before the child waited for it and was lost.", n=n, runs=CHILD_RUNS, within=str(limit)),
                evidence=[
                    Sentence("%(sentence)s.", sentence=describe(run.pid)),
                    *(
                        Sentence("The child (pid %(pid)s): %(process)s, signals pending for it: %(signals)s.", pid=k, process=describe(k),
                                 signals=", ".join(signal_name(s) for s in sorted(pending_signals(k) or ())) or Sentence("none"))
                        for k in kids
                    ),
                ],
                fix=Sentence("Block SIGUSR1 before fork and wait with it unblocked atomically (sigsuspend/sigwaitinfo)."),
                procs=[run],
            )
        problem = _child_run_problem(run, n)
        if problem:
            raise problem
    schedules.explore(_child_under, CHILD_SCHEDULES, what="`signal child --delay-ms 0`, one process at a time")


def _child_under(run):
    """One schedule of `signal child --delay-ms 0`."""
    proc = run.spawn("child", "--delay-ms", "0")
    run.start()
    try:
        run.finish([proc], deadline.EXIT, "`signal child --delay-ms 0`")
    except SpecDeadlock as exc:
        if not any("a wait for a signal" in e for e in exc.evidence):
            raise
        raise SpecFailure(
            Sentence("under this schedule the child began to wait for SIGUSR1 when its parent's SIGUSR1 was already "
                     "delivered, so it sleeps for ever: it checked for the signal, the signal came, then it went to sleep."),
            expected=Sentence("the lines %(lines)s and exit status 0", lines=str(["child got SIGUSR1", "child exited 0"])),
            evidence=exc.evidence,
            fix=Sentence("Check and sleep in one step: keep SIGUSR1 blocked and wait with sigsuspend(2) on a mask without it "
                         "(or sigwaitinfo), never a flag check followed by pause()."),
            procs=exc.procs,
        ) from None
    problem = _child_run_problem(proc, 0)
    if problem:
        raise problem


@spec(
    "signal.child-suspends",
    points=2,
    hint="The child must sleep until SIGUSR1 comes: sigsuspend(2), pause(2) or sigwaitinfo(2), "
    "never a loop that checks a flag.",
)
def test_child_suspends(impl):
    """While the parent delays, the child sleeps in a signal-wait call and uses no CPU."""
    delay_ms = int(CHILD_DELAY_MS * deadline.scale())
    started = monotonic()
    run = impl.spawn("child", "--delay-ms", str(delay_ms), stdin="devnull")
    child = run.child(deadline.STEP)
    who = Sentence("the child of `signal child --delay-ms %(delay)s`", delay=delay_ms)
    try:
        settle.idle(run, pid=child, who=who, fix=WAITING_HINT)
        _waits_for_signal(run, child, who)
    except SpecFailure:
        if state(child) in (None, "Z"):
            took = monotonic() - started
            if took >= delay_ms / 1000:
                raise HarnessBroken(
                    f"the grader took {took:.2f} s to watch {who}, longer than the delay: this "
                    f"machine is too slow for this spec at --deadline-scale {deadline.scale()}"
                ) from None
            raise SpecFailure(
                Sentence("%(who)s exited %(seconds)s s after the start although the parent was to wait %(delay)s ms before sending SIGUSR1.",
                         who=who, seconds=format(took, ".2f"), delay=delay_ms),
                fix=Sentence("Honour --delay-ms."),
                procs=[run],
            ) from None
        raise
    status = run.wait(delay_ms / 1000 + deadline.EXIT)
    lines = run.lines()
    if lines != ["child got SIGUSR1", "child exited 0"] or not status.ok:
        raise SpecFailure(
            Sentence("`signal child --delay-ms %(delay)s` printed %(lines)s and %(status)s.", delay=delay_ms, lines=str(lines), status=status.words()),
            expected=Sentence("`child got SIGUSR1`, `child exited 0` and exit status 0"),
            procs=[run],
        )


# --- signal send ---------------------------------------------------------------------------


@spec(
    "signal.send-delivers",
    points=2,
    hint="Look the name up (SIGUSR1, SIGHUP, SIGRTMIN, ...) and call kill(PID, sig) COUNT times.",
)
def test_send_delivers(impl, reference):
    """`signal send PID NAME [COUNT]` delivers NAME to PID, COUNT times (checked with the reference catcher)."""
    c = _start(reference)
    for name in ("SIGUSR1", "SIGHUP"):
        send = impl.run("send", str(c.pid), name, timeout=deadline.STEP)
        if not send.status.ok:
            raise SpecFailure(Sentence("`signal send %(pid)s %(signal)s` %(status)s.", pid=c.pid, signal=name, status=send.status.words()),
                              expected=Sentence("exit status 0"), procs=[send])
        _expect_caught(c, name, Sentence("after `signal send %(pid)s %(signal)s` exited", pid=c.pid, signal=name))
    count = 3
    send = impl.run("send", str(c.pid), "SIGRTMIN", str(count), timeout=deadline.STEP)
    if not send.status.ok:
        raise SpecFailure(Sentence("`signal send %(pid)s %(signal)s %(count)s` %(status)s.", pid=c.pid, signal="SIGRTMIN", count=count, status=send.status.words()),
                          expected=Sentence("exit status 0"), procs=[send])
    _delivered(c, f"`signal send {c.pid} SIGRTMIN {count}`")
    lines = _lines_until_marker(c, f"`signal send {c.pid} SIGRTMIN {count}`")
    got = Counter(lines)
    if got != Counter({"caught SIGRTMIN": count}):
        raise SpecFailure(
            Sentence("after `signal send %(pid)s SIGRTMIN %(count)s`, the reference catcher (which takes every queued instance) printed %(lines)s.",
                     pid=c.pid, count=count, lines=str(lines)),
            expected=Sentence("`caught SIGRTMIN` %(count)s times", count=count),
            fix=Sentence("Send SIGRTMIN (signal %(number)s here) COUNT times.", number=int(signal.SIGRTMIN)),
            procs=[send, c.proc],
        )


@spec(
    "signal.send-no-such-process",
    points=1,
    hint="kill(2) fails with ESRCH for a pid with no process: print `no such process` on stderr and exit 1.",
)
def test_send_no_such_process(impl, reference, supervisor, ipc_tmp):
    """`signal send` to a pid with no process exits 1 with `no such process` (kill(2): ESRCH)."""
    # first the work this refusal is about: to a pid with a process, it sends the signal
    c = _start(reference)
    with needs("signal.send-delivers"):
        sent = impl.run("send", str(c.pid), "SIGUSR1", timeout=deadline.STEP)
        if not sent.status.ok:
            raise SpecFailure(Sentence("`signal send %(pid)s %(signal)s` %(status)s.", pid=c.pid, signal="SIGUSR1", status=sent.status.words()),
                              expected=Sentence("exit status 0"), procs=[sent])
        _expect_caught(c, "SIGUSR1", Sentence("after `signal send %(pid)s %(signal)s` exited", pid=c.pid, signal="SIGUSR1"))
    # any program every user may run will do: the grader's own Python may be out of reach of
    # the user programs run as
    true = shutil.which("true") or "/bin/true"
    for _ in range(10):
        gone = supervisor.spawn([true], cwd=str(ipc_tmp), label="a short-lived process", stdin="devnull", grader_chose=True)
        gone.wait(deadline.STEP, check_implemented=False)  # exited and reaped: its pid is free
        pid = gone.pid
        if read_stat(pid) is None:
            break
    else:
        raise SpecFailure(Sentence("could not find a free pid: every reaped child's pid was in use again at once"))
    send = impl.run("send", str(pid), "SIGUSR1", timeout=deadline.STEP)
    if send.status.code != 1 or b"no such process" not in send.stderr.data.lower():
        raise SpecFailure(
            Sentence("`signal send %(pid)s SIGUSR1` for a pid with no process %(status)s with stderr %(stderr)s.",
                     pid=pid, status=send.status.words(), stderr=repr(send.stderr.data[-200:])),
            expected=Sentence("exit status 1 and `no such process` on stderr"),
            procs=[send],
        )

