"""Waiting for a program to settle, and telling a real sleep from spinning or polling.

Blocking specs ask one question: once the program has had its chance, does it exit, or does it
sleep in the call it should sleep in? A program that does neither is wrong in one of two ways
the kernel shows at once, and the spec fails then rather than at its deadline:

- it **spins**: it burns CPU (SPIN_TICKS clock ticks) without ever sleeping in that call;
- it **polls**: it is seen asleep in a timed nap (nanosleep, poll, select, ...) again and again,
  waking in between (its voluntary context switches grow), never in that call.

``idle`` then checks that a sleeping program stays asleep: over IDLE_WINDOW, the time it ran
plus the time it waited for a CPU (its threads' /proc/PID/task/TID/schedstat, in nanoseconds)
is at most IDLE_SHARE of the window. A program asleep in the kernel does neither; one that spins
does one or the other the whole window, however busy the machine. Where schedstat shows nothing
(a kernel without it), the check falls back to IDLE_TICKS clock ticks over TICKS_WINDOW. These
constants hold for every mechanism.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from conformance.deadline import Deadline
from conformance.kernel import observe, waits
from conformance.outcomes import Sentence, SpecDeadlock, SpecFailure, SpecTimeout
from conformance.run.process import Proc

#: CPU a program may burn before it sleeps, in clock ticks (starting up costs Python a few).
SPIN_TICKS = 30
#: Calls a program sleeps in when it polls: try without blocking, nap, try again.
NAP_CALLS = frozenset({"nanosleep", "clock_nanosleep", "select", "pselect6", "poll", "ppoll", "epoll_wait", "epoll_pwait"})
#: A program seen napping this many times, over at least NAP_SPAN seconds, waking in between,
#: and never in the call it should sleep in, polls.
NAPS = 3
NAP_SPAN = 0.2
#: A sleeping program runs or waits to run at most IDLE_SHARE of IDLE_WINDOW seconds (schedstat's
#: nanoseconds: the window was 0.3 s when it counted clock ticks of 10 ms).
IDLE_WINDOW = 0.04
IDLE_SHARE = 0.1
#: Without schedstat: at most IDLE_TICKS clock ticks of CPU over TICKS_WINDOW seconds.
TICKS_WINDOW = 0.3
IDLE_TICKS = 2


def voluntary_switches(pid: int) -> int | None:
    """How many times PID has gone to sleep of its own accord (/proc/PID/status)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("voluntary_ctxt_switches:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def settle(
    proc: Proc,
    calls: Iterable[str],
    timeout: float | Deadline,
    *,
    pid: int | None = None,
    who: str = "",
    fix: str = "",
    spin_ticks: int | None = SPIN_TICKS,
) -> observe.Blocked | None:
    """Wait until PID (default: PROC's own) exits (None) or sleeps in one of CALLS (the evidence).

    Fails at once, with FIX as the advice, when it spins (burns SPIN_TICKS of CPU first; None
    leaves that out, for a program with real work to do before it blocks) or polls; times out
    at TIMEOUT saying what it does instead. WHO names it in messages.
    """
    calls = frozenset(calls)
    pid = pid or proc.pid
    who = who or (proc.label if pid == proc.pid else Sentence("pid %(pid)s (started by %(program)s)", pid=pid, program=proc.label))
    fix = fix or Sentence("Let the call block instead.")
    wanted = "/".join(sorted(calls))
    naps: list[tuple[float, str, int | None]] = []
    start = observe.cpu_ticks(pid) or 0

    def gone() -> bool:
        return proc.poll() is not None if pid == proc.pid else observe.state(pid) in (None, "Z", "X")

    def settled():
        if gone():
            return "exited"
        blocked = observe.blocked_now(pid, calls)
        if blocked:
            return blocked
        if spin_ticks is not None and (observe.cpu_ticks(pid) or start) - start > spin_ticks:
            return "spinning"
        if observe.state(pid) == "S":
            sc = observe.syscall(pid)
            if sc is not None and sc.name in NAP_CALLS:
                naps.append((observe.monotonic(), sc.name, voluntary_switches(pid)))
                first, last = naps[0], naps[-1]
                woke = first[2] is not None and last[2] is not None and last[2] - first[2] >= NAPS
                if len(naps) >= NAPS and last[0] - first[0] >= NAP_SPAN and woke:
                    return "polling"
        return None

    deadline = Deadline.of(timeout)
    try:
        outcome = waits.wait_until(settled, deadline, Sentence("%(who)s (pid %(pid)s) exiting or sleeping in %(calls)s", who=who, pid=pid, calls=wanted))
    except SpecDeadlock as proof:  # the kernel proved it never will: that proof, with this wait's advice
        raise proof.again(fix=proof.fix or fix, procs=proof.procs or [proc]) from None
    except SpecTimeout:
        raise SpecTimeout(
            Sentence("%(who)s (pid %(pid)s) neither exited nor slept in %(calls)s within %(within)s.", who=who, pid=pid, calls=wanted, within=str(deadline)),
            evidence=[observe.describe(pid)],
            fix=fix,
            procs=[proc],
        ) from None
    if outcome == "polling":
        seen = "/".join(sorted({name for _, name, _ in naps}))
        raise SpecFailure(
            Sentence("%(who)s (pid %(pid)s) never sleeps in %(calls)s: it was seen asleep in %(naps)s "
                     "%(times)s times, so it polls (tries, naps, tries again).", who=who, pid=pid, calls=wanted, naps=seen, times=len(naps)),
            fix=fix,
            procs=[proc],
        )
    if outcome == "spinning":
        raise SpecFailure(
            Sentence("%(who)s (pid %(pid)s) used over %(ticks)s clock ticks of CPU without ever sleeping in %(calls)s: it spins.",
                     who=who, pid=pid, ticks=spin_ticks, calls=wanted),
            evidence=[observe.describe(pid)],
            fix=fix,
            procs=[proc],
        )
    return None if outcome == "exited" else outcome


def asleep_in(
    proc: Proc,
    calls: Iterable[str],
    timeout: float | Deadline,
    *,
    pid: int | None = None,
    who: str = "",
    fix: str = "",
    spin_ticks: int | None = SPIN_TICKS,
) -> observe.Blocked:
    """As settle, but exiting first fails too: the program should sleep in one of CALLS."""
    calls = frozenset(calls)
    blocked = settle(proc, calls, timeout, pid=pid, who=who, fix=fix, spin_ticks=spin_ticks)
    if blocked is None:
        if pid in (None, proc.pid):
            proc.wait(5)  # a stub that says `not implemented` ends the spec here
            how = proc.status.ended if proc.status else Sentence("exited")
        else:
            how = Sentence("(pid %(pid)s) exited", pid=pid)
        raise SpecFailure(Sentence("%(who)s %(how)s instead of sleeping in %(calls)s.", who=who or proc.label, how=how, calls="/".join(sorted(calls))),
                          fix=fix, procs=[proc])
    return blocked


def scheduled_ns(pid: int) -> int | None:
    """Nanoseconds PID's threads have run plus waited on a run queue (/proc/PID/task/*/schedstat);
    None when PID has gone or the kernel keeps no such account (every field 0)."""
    total, seen = 0, False
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return None
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                ran, waited, slices = (int(x) for x in f.read().split()[:3])
        except (OSError, ValueError):
            continue  # a thread that ended meanwhile
        total += ran + waited
        seen = seen or ran > 0 or slices > 0
    return total if seen else None


def idle(proc: Proc, *, pid: int | None = None, who: str = "", fix: str = "", window: float = IDLE_WINDOW) -> None:
    """PID (default: PROC's own) runs or waits to run at most IDLE_SHARE of WINDOW: it really
    sleeps (see the module's docstring).

    Nothing to judge if it exits meanwhile (the spec goes on to see why).
    """
    pid = pid or proc.pid
    before = scheduled_ns(pid)
    if before is None:
        used = proc.cpu_ticks_over(TICKS_WINDOW, pid=pid)
        if used is not None and used > IDLE_TICKS:
            _spins(proc, pid, who, fix, Sentence("used %(ticks)s clock ticks of CPU in %(window)s s", ticks=used, window=TICKS_WINDOW))
        return
    proc.exited_within(window)
    after = scheduled_ns(pid)
    if after is not None and after - before > IDLE_SHARE * window * 1e9:
        ran, of = format((after - before) / 1e6, ".0f"), format(window * 1000, ".0f")
        _spins(proc, pid, who, fix, Sentence("ran or waited for a CPU %(ran)s ms of %(window)s ms", ran=ran, window=of))


def _spins(proc: Proc, pid: int, who: str, fix: str, how: str) -> None:
    raise SpecFailure(
        Sentence("%(who)s (pid %(pid)s) %(how)s while it should sleep: it spins, looking again and again instead of waiting in the kernel.",
                 who=who or proc.label, pid=pid, how=how),
        evidence=[observe.describe(pid)],
        fix=fix,
        procs=[proc],
    )


__all__ = ["IDLE_SHARE", "IDLE_TICKS", "IDLE_WINDOW", "NAPS", "NAP_CALLS", "NAP_SPAN", "SPIN_TICKS", "TICKS_WINDOW", "asleep_in", "idle", "scheduled_ns", "settle", "voluntary_switches"]
