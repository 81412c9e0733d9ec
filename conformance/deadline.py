"""Deadlines: the only timeouts a spec has are upper bounds for failing, all scaled at once.

Every wait in the harness takes a Deadline (or seconds, made into one). The global scale,
the deadline scale setting (``--deadline-scale`` or ``IPC_DEADLINE_SCALE``: conformance/settings.py,
set by the plugin), stretches every deadline on a slow machine without touching a spec.
"""

from __future__ import annotations

import time

#: The presets every spec takes its deadlines from, in seconds before the global scale. Each is
#: an upper bound for failing, never a wait: a spec goes on the moment its event happens.
STEP = 5
"""One step: a line printed, a state reached, a call entered, a small program done."""
EXIT = 10
"""A program finishing its job: a transfer of a few megabytes, a few processes forked."""
LONG = 20
"""A long job: many processes or many thousands of operations."""
TRACE = 15
"""A step under strace, which stops the program at every traced system call."""

_scale: float = 1.0


def set_scale(factor: float) -> None:
    global _scale
    _scale = factor


def scale() -> float:
    return _scale


class Deadline:
    """A point in monotonic time, SECONDS (times the global scale) from now."""

    __slots__ = ("seconds", "end")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds * _scale
        self.end = time.monotonic() + self.seconds

    @classmethod
    def of(cls, timeout: float | Deadline) -> Deadline:
        return timeout if isinstance(timeout, Deadline) else cls(timeout)

    def slice(self, seconds: float) -> Deadline:
        """A deadline SECONDS from now (not scaled: a polling slice), or this one if sooner."""
        part = Deadline.__new__(Deadline)
        part.end = min(self.end, time.monotonic() + seconds)
        part.seconds = part.end - time.monotonic()
        return part

    def remaining(self) -> float:
        return max(0.0, self.end - time.monotonic())

    def expired(self) -> bool:
        return time.monotonic() >= self.end

    def __repr__(self) -> str:
        return f"Deadline({self.seconds:.3g} s, {self.remaining():.3g} s left)"

    def __str__(self) -> str:
        return f"{self.seconds:.3g} s"
