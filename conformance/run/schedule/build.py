"""A C submission built a second time, with scheduling points at its accesses to shared memory,
for the controlled specs only; every other spec runs the ordinary build.

The build is the submission's own command (``make``), in a second staged copy, as the programs'
user, with two things changed: ``bin/`` of the library (library.py) first on PATH, where ``cc``
and ``gcc`` are the system's compiler with ``-fsanitize=thread -L LIB -Wl,-rpath,LIB`` added to
every call, and ``MAKEFLAGS=CC=LIB/bin/cc``, which GNU make takes as a command-line assignment,
stronger than the Makefile's own ``CC = ...``. A Makefile that ignores CFLAGS (flags written
into its rules) is instrumented all the same: the flags ride on the compiler itself. One that
calls a compiler by its full path (``/usr/bin/gcc``), or a build that is not make, may escape
both: each program is then looked at (elf.py), and one that does not need the library has
points at its IPC calls only, which the report says.

What the instrumented build is kept as: ``Instrumented`` (to_data/from_data travel to workers
like the ordinary build).
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from conformance.outcomes import Sentence

from ..manifest import Manifest, run_build
from . import elf
from .library import NAME, Library


@dataclass
class Instrumented:
    built: str | None
    """The staged copy, built with the points (None: none could be made)."""
    note: str = ""
    """Why not, or what escaped."""
    programs: dict[str, str] = field(default_factory=dict)
    """Per mechanism: "points" (shared accesses instrumented), "calls" (IPC calls only: the
    build did not take the flags), or "none" and why (a static program)."""
    seconds: float = 0.0

    def to_data(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_data(cls, data: dict[str, Any] | None) -> Instrumented | None:
        return None if data is None else cls(**data)


def build_env(env: dict[str, str], lib: Library) -> dict[str, str]:
    out = dict(env)
    out["PATH"] = os.pathsep.join([str(lib.bin), env.get("PATH", "")])
    out["MAKEFLAGS"] = f"CC={lib.bin / 'cc'}"
    return out


def instrumented(manifest: Manifest, staged: Path, lib: Library, user: int | None, env: dict[str, str]) -> Instrumented:
    """Run MANIFEST's build in STAGED (a fresh staged copy) with the points; look at what it made."""
    started = time.monotonic()
    copy = Manifest.from_data(manifest.to_data())
    copy.run_root = staged
    copy.problems = {}
    result = run_build(copy, user, build_env(env, lib))
    seconds = round(time.monotonic() - started, 2)
    if not result["ok"]:
        return Instrumented(None, f"the build with scheduling points failed ({result['status']}): {result['log'][-300:]}", seconds=seconds)
    programs = {m: kind_of(copy, m) for m in copy.programs}
    escaped = sorted(m for m, k in programs.items() if k != "points")
    note = f"the build did not add the points to {', '.join(escaped)}" if escaped else ""
    return Instrumented(str(staged), note, programs, seconds)


#: Why a program runs without control, as kind_of says it after "none: " (control.REASONS says
#: it again in words).
NO_PROGRAM = Sentence("no program")
STATIC = Sentence("a statically linked program, which no preloaded library reaches")


def kind_of(manifest: Manifest, mechanism: str) -> str:
    """How MECHANISM's program can be controlled: "points" (its shared accesses too), "calls"
    (its IPC calls), or "none: WHY"."""
    program = manifest.program(mechanism)
    if program is None:
        return f"none: {NO_PROGRAM}"
    if program.interpreter:
        return "points"  # Python: its lines (programs_site.py)
    first = program.argv[0]
    path = (manifest.cwd / first) if "/" in first else None
    if path is None:
        from shutil import which

        found = which(first)
        path = Path(found) if found else None
    if path is None or not path.exists():
        return "calls"
    exe = elf.inspect(path)
    if exe.script is not None:
        return "calls"
    if not exe.dynamic:
        return f"none: {STATIC}"
    return "points" if NAME in exe.needed else "calls"


__all__ = ["Instrumented", "build_env", "instrumented", "kind_of"]
