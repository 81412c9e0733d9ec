"""The grader as ipc-grade sees it: a program it runs, never a module it imports.

ipc-grade grades in a child `pytest --impl` so that nothing a submission does can keep it from
writing a report. What else it needs of the grader, the spec catalogue (to check a rubric) and
the bundled implementations, it asks the same way, so that the reports stay a pure function of
the run record (docs/adding-a-mechanism.md draws the picture).
"""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from .rubric import SpecInfo

DISTRIBUTION = "ipc-conformance"


class GraderMissing(RuntimeError):
    """The grader's own package cannot answer: it is not installed beside this one."""


def _ask(module: str, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        said = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise GraderMissing(f"`{sys.executable} -m {module} {' '.join(args)}` failed ({said}); reinstall {DISTRIBUTION}")
    return done.stdout


def catalogue() -> list[SpecInfo]:
    """Every spec the grader knows, from its specs' own markers."""
    return [SpecInfo.of(entry) for entry in json.loads(_ask("conformance.catalogue", "--json"))]


def bundled(name: str) -> Path:
    """The directory of the grader's bundled NAME (``reference`` or ``student_template``)."""
    return Path(_ask("conformance.locate", name).strip())


def version() -> str:
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "unknown"
