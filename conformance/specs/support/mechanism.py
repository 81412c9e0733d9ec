"""The kernel's evidence that a program used its mechanism: no point without the work.

A spec that grades output that should have gone through a mechanism (the bytes came back from
the relay) gives its points only when the kernel shows the mechanism in use; a spec that checks
an absence (no zombie, nothing left behind) or a refusal (exit 1 on bad input) gives its point
only when the same spec shows the program did the work the absence is about. `cat` is not a
relay: its output is right, but it has no child and no pipe.

Each look here is deterministic: the grader keeps the state it looks at from going away (the
relay's stdin stays open, so an honest relay can neither finish nor close its pipe), then waits
for the evidence, and fails as soon as the programs have settled without it (every process
asleep and the grader not feeding them: nothing will change), not at a deadline.
"""

from __future__ import annotations

import threading

from conformance.deadline import Deadline
from conformance.kernel import observe
from conformance.kernel.explain import pipe_holders
from conformance.outcomes import Sentence, SpecFailure, one_after_another
from conformance.run.process import Proc

from .settle import voluntary_switches

#: How long the programs must stay asleep, unchanged, before the grader takes it that they
#: have settled (two looks this far apart: a wake-up in between shows as a context switch).
STILL = 0.05


def _settled(proc: Proc, pids: list[int]) -> tuple | None:
    """What must hold still for PROC's tree (PIDS) to count as settled, or None while it may
    still change: a process running, or the grader still feeding it."""
    if proc.feeding() or not pids or not all(observe.asleep(p) for p in pids):
        return None
    return tuple((p, voluntary_switches(p)) for p in pids)



def _pipes_between(proc: Proc, down_only: bool) -> tuple[int, int] | None:
    """(a descendant, a pipe inode) where PROC holds one end of a pipe of its own and a
    descendant the other (the write end PROC's when DOWN_ONLY), or None."""
    kids = observe.descendants(proc.pid)
    if not kids:
        return None
    for ino, holders in pipe_holders([proc.pid, *kids], exclude=proc.harness_pipes).items():
        mine = {f.access for p, f in holders if p == proc.pid}
        for kid, f in holders:
            if kid == proc.pid:
                continue
            if "w" in mine and f.access in ("r", "rw"):
                return kid, ino
            if not down_only and "r" in mine and f.access in ("w", "rw"):
                return kid, ino
    return None


def pipe_to_child(proc: Proc, timeout: float | Deadline, *, who: str = "", down_only: bool = True) -> tuple[int, int]:
    """Wait until PROC and a process below it hold the two ends of one pipe of their own (not
    the grader's stdin, stdout or stderr): PROC the write end (DOWN_ONLY) or either. Returns
    (that process, the pipe's inode).

    Call it while PROC cannot finish (its stdin still open, or the grader still to answer it).
    SpecFailure, with what PROC's processes hold, as soon as they have settled without such a
    pipe (a process asleep makes none), or at TIMEOUT; or when PROC exits first.
    """
    deadline = Deadline.of(timeout)
    who = who or proc.label
    pacer = observe.Pacer()
    before = None
    rest = threading.Event()
    while True:
        found = _pipes_between(proc, down_only)
        if found:
            return found
        if proc.poll() is not None:
            proc.wait(5)  # a stub that says `not implemented` ends the spec here
            raise _no_pipe(proc, who, Sentence("%(program)s %(ended)s first", program=proc.label, ended=proc.status.ended if proc.status else Sentence("exited")))
        pids = proc.tree()
        now = _settled(proc, pids)
        if now is not None and now == before:
            raise _no_pipe(proc, who, Sentence("its processes all sleep, so none will make one"))
        if deadline.expired():
            raise _no_pipe(proc, who, Sentence("not within %(within)s", within=str(deadline)))
        if now is not None:
            before = now
            rest.wait(STILL)
        else:
            before = None
            pacer.pause(deadline)


def _no_pipe(proc: Proc, who: str, why: str) -> SpecFailure:
    pids = [p for p in proc.tree() if p != proc.pid]
    try:
        held = [Sentence("%(who)s holds %(fd)s", who=Sentence("the parent") if p == proc.pid else Sentence("pid %(pid)s", pid=p), fd=str(f))
                for h in pipe_holders([proc.pid, *pids], exclude=proc.harness_pipes).values() for p, f in h]
    except observe.NOT_SHOWN:
        held = []
    below = ", ".join(f"pid {p}" for p in pids)
    kids = Sentence("its processes below it: %(pids)s", pids=below) if pids else Sentence("it has no child process")
    return SpecFailure(
        Sentence("%(who)s (pid %(pid)s) shares no pipe of its own with a child (%(why)s): whatever it printed "
                 "did not go through a pipe between two processes, so it earns nothing here.", who=who, pid=proc.pid, why=why),
        expected=Sentence("%(who)s forks a child and the two hold the two ends of one pipe", who=who),
        evidence=[Sentence("%(children)s; the pipes they hold, leaving out the grader's own: %(pipes)s", children=kids,
                           pipes=one_after_another(held, "; ") if held else Sentence("none")), *(observe.describe(p) for p in proc.tree())],
        fix=Sentence("Create the pipe with pipe(2) before fork(2); the parent writes to it and the child reads it."),
        procs=[proc],
    )


__all__ = ["STILL", "pipe_to_child"]
