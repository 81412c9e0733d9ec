"""Which task runs next: PCT, probabilistic concurrency testing (Burckhardt, Kothari, Musuvathi
and Nagarakatte, ASPLOS 2010), and what a number of its schedules guarantees.

A schedule of depth d gives every task a random priority when it appears, all distinct and
above d, and draws d-1 change points among the k steps it expects. At each step the
highest-priority task that can run runs; at the i-th change point the task about to run drops
to priority d-i. For a program of n tasks and k steps, one such schedule finds a given bug of
depth d (d orderings that must all happen) with probability at least 1/(n k^(d-1)); S
independent schedules with probability at least 1-(1-p)^S.

A schedule of depth 0 is PCT of depth 2 that also lets go at each release and each wait: after
every post, unlock, write or signal, and just before every wait (sem_wait, read, pause, ...),
the task drops below every other with probability 1/2 (after a release, at that point or up to
three points later), so the others run before it goes on. PCT's bound says nothing of these schedules (the drops
are extra change points), and the report's bounds count only the others; they are there for the
races PCT's uniform change points seldom hit: a window that opens when a lock is given back and
closes one step later, or a check that is not atomic with the wait after it (a lost wake-up)
(docs/schedules.md, the calibration).

A schedule is one number, its seed: 40 bits of draw, the depth and the k its change points are
drawn among (``Plan``), so that ``--schedule SEED`` replays it alone, exactly.
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass

#: A task that takes this many steps in a row while others could run is taken for a spinner
#: (a loop that waits for another task without a scheduling point that waits) and drops below
#: every other: PCT assumes a task that waits lets the others run.
SPIN_STEPS = 20_000
#: A task that lets go after a release (depth 0) does so within this many points of it: a
#: window may close a step or two after the release (a Python `value = read` line between the
#: unlock and the write), which a drop at the release itself would never open.
DROP_WITHIN = 4
DRAW_BITS = 40
DEPTH_BITS = 4
STEPS_BITS = 20


@dataclass(frozen=True)
class Plan:
    draw: int
    depth: int
    steps: int
    """k: the steps the change points are drawn among (those the schedules before saw, with a margin)."""

    @property
    def seed(self) -> int:
        return self.draw << (DEPTH_BITS + STEPS_BITS) | self.depth << STEPS_BITS | min(self.steps, (1 << STEPS_BITS) - 1)

    @classmethod
    def of(cls, seed: int) -> Plan:
        steps = seed & ((1 << STEPS_BITS) - 1)
        depth = seed >> STEPS_BITS & ((1 << DEPTH_BITS) - 1)
        return cls(seed >> (DEPTH_BITS + STEPS_BITS), depth, steps)

    @property
    def yields(self) -> bool:
        """Depth 0: PCT of depth 2 that also lets go after releases (see the module)."""
        return self.depth == 0

    @property
    def pct_depth(self) -> int:
        return 2 if self.yields else max(self.depth, 1)

    def __str__(self) -> str:
        return f"{self.seed:#x}"


def draw(base: int, index: int) -> int:
    """Schedule INDEX's draw, from an exploration's BASE seed."""
    digest = hashlib.sha256(f"{base}:{index}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << DRAW_BITS) - 1)


class Pct:
    """The priorities of one schedule (Plan), as its tasks appear and its steps pass."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.rng = random.Random(plan.draw)
        d, k = plan.pct_depth, max(plan.steps, 1)
        changes = min(d - 1, k)
        self.change_points = sorted(self.rng.sample(range(1, k + 1), changes)) if changes > 0 else []
        self._lowered = 0

    def new_priority(self) -> float:
        """A new task's priority: random, distinct, above every change point's."""
        return self.plan.pct_depth + self.rng.random()

    def change_at(self, step: int) -> float | None:
        """The priority the task about to take STEP drops to, when STEP is a change point."""
        if step in self.change_points:
            return float(self.plan.pct_depth - 1 - self.change_points.index(step))
        return None

    def lets_go(self) -> bool:
        """After a release: does the task that made it drop below the others (depth 0 only)?"""
        return self.plan.yields and self.rng.random() < 0.5

    def drop_after(self) -> int | None:
        """After a release (depth 0 only): in how many more points (0 to DROP_WITHIN - 1) the task
        that made it drops below the others, with probability 1/2; else None."""
        return self.rng.randrange(DROP_WITHIN) if self.lets_go() else None

    def next_change(self, step: int) -> int | None:
        """The first change point after STEP, or None."""
        return next((c for c in self.change_points if c > step), None)

    def bottom(self) -> float:
        """A priority below every other (a spinner's, a task that yields)."""
        self._lowered += 1
        return -float(self._lowered)


def per_schedule(depth: int, tasks: int, steps: int) -> float:
    """PCT's bound: one schedule of DEPTH finds a bug of that depth with at least this probability."""
    if tasks < 1:
        return 0.0
    return 1.0 / (tasks * max(steps, 1) ** (depth - 1))


def at_least(p: float, schedules: int) -> float:
    """1 - (1 - P)^SCHEDULES: the chance that some of SCHEDULES independent tries succeed."""
    if schedules <= 0 or p <= 0:
        return 0.0
    if p >= 1:
        return 1.0
    return -math.expm1(schedules * math.log1p(-p))


def probability_words(p: float) -> str:
    """P as a report states it, rounded down (a bound is never rounded up): 0.999, 0.99995, 0.0041."""
    if p >= 1:
        return "1"
    if p <= 0:
        return "0"
    if p < 0.01:
        digits = 1 - math.floor(math.log10(p))  # two significant digits
    else:
        digits = 3
        while digits < 9 and p > 1 - 10**-digits:
            digits += 1
    return f"{math.floor(p * 10**digits) / 10**digits:.{digits}f}".rstrip("0").rstrip(".")


__all__ = ["SPIN_STEPS", "Pct", "Plan", "at_least", "draw", "per_schedule", "probability_words"]
