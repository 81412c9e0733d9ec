"""Schedule control: the grader decides how the processes of a spec interleave.

An interposition library (ipcsched.c, built by library.py) gives the programs scheduling points
where their processes meet (semaphores, pipes, sockets, message queues, signals, fork, exit, and
for C built again with -fsanitize=thread's hooks, their accesses to shared memory; for Python,
the lines of the submission's files); a scheduler in the grader (scheduler.py) lets one task run
at a time between two points and chooses which by PCT (pct.py); an exploration (control.py) runs
a spec's scenario under a budget of schedules derived from a seed fixed by the spec and the
submission, so a regrade gives the same verdict and a failing schedule replays alone
(``--schedule SEED``). docs/schedules.md has the design, the guarantee and its calibration.

The wing sits in run/ (it starts and watches programs; it reads the kernel through kernel/).
"""

from __future__ import annotations

from .control import Controlled, Explorer, Setup, guarantee_words
from .pct import Plan
from .prepare import for_worker, prepare, setup

__all__ = ["Controlled", "Explorer", "Plan", "Setup", "for_worker", "guarantee_words", "prepare", "setup"]
