"""Waiting on the kernel: until a process sleeps in a call, reaches a state, or a condition holds.

Each wait re-reads the kernel's state (observe.py) every round and returns the moment it is
right; its deadline is only an upper bound for failing (SpecTimeout, saying what the process
was doing instead). Every round also lets deadlock.py prove that what the wait waits for can
never happen, and then the wait ends at once (Deadlock, a SpecTimeout), not at its deadline.

Here, above both observe.py and deadlock.py, so that neither imports the other's waiting.
"""

from __future__ import annotations

from collections.abc import Iterable

from conformance.deadline import Deadline
from conformance.outcomes import Sentence, SpecTimeout

from . import deadlock
from .observe import Blocked, Pacer, blocked_now, describe, read_stat, state


class ProcessGone(Exception):
    """The process exited (or was never there) while we waited for it to block."""


def wait_until_blocked(
    pid: int, names: Iterable[str], deadline: Deadline | float, what: str = ""
) -> Blocked:
    """Return as soon as some thread of PID sleeps in one of the system calls NAMES.

    The whole process must be asleep (no thread running). Raises ProcessGone if PID exits,
    SpecTimeout (with what PID was doing) at the deadline, and what blocked_now raises when
    the system call cannot be read.
    """
    deadline = Deadline.of(deadline)
    wanted = set(names)
    pacer = Pacer()
    while True:
        st = read_stat(pid)
        if st is None or st.state in ("Z", "X"):
            raise ProcessGone(f"pid {pid} exited while we waited for it to block in {'/'.join(sorted(wanted))}")
        blocked = blocked_now(pid, wanted)
        if blocked:
            return blocked
        if deadline.expired():
            raise SpecTimeout(
                Sentence("%(who)s did not block in %(calls)s within %(within)s.", who=what or Sentence("pid %(pid)s", pid=pid),
                         calls=" or ".join(sorted(wanted)), within=str(deadline)),
                evidence=[describe(pid)],
            )
        deadlock.poll(lambda: read_stat(pid) is None or blocked_now(pid, wanted))
        pacer.pause(deadline)


def wait_for_state(pid: int, states: str, deadline: Deadline | float, what: str = "") -> str:
    """Return the state as soon as PID's state is one of STATES (e.g. "T")."""
    deadline = Deadline.of(deadline)
    pacer = Pacer()
    while True:
        s = state(pid)
        if s is None:
            raise ProcessGone(f"pid {pid} exited while we waited for state {states}")
        if s in states:
            return s
        if deadline.expired():
            raise SpecTimeout(Sentence("%(who)s did not reach state %(states)s within %(within)s.", who=what or Sentence("pid %(pid)s", pid=pid),
                                       states=states, within=str(deadline)), evidence=[describe(pid)])
        deadlock.poll(lambda: state(pid) in (None, *states))
        pacer.pause(deadline)


def wait_until(predicate, deadline: Deadline | float, what: str):
    """Poll PREDICATE (a function of no arguments reading kernel state) until it is truthy."""
    deadline = Deadline.of(deadline)
    pacer = Pacer()
    while True:
        value = predicate()
        if value:
            return value
        if deadline.expired():
            raise SpecTimeout(Sentence("Not within %(within)s.", within=str(deadline)), expected=what)
        deadlock.poll(predicate)
        pacer.pause(deadline)
