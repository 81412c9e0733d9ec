"""Schedule control for a run: what the controller prepares once (the library, and for a built
submission the build with scheduling points), what each worker takes of it, and each spec's
``Setup`` (control.py).

``prepare`` returns plain data (the run carries it to the workers, as it carries the ordinary
build): ``library`` (its directory, or None and ``why``), ``instrumented`` (build.Instrumented,
for a submission with a build), ``fingerprint`` (the submission's, for the seeds) and
``words`` (a sentence for the report's header).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from conformance import locate

from ..manifest import Manifest
from .build import Instrumented, instrumented, kind_of
from .control import NO_LIBRARY, NOT_MADE, NOT_PREPARED, Setup, fingerprint
from .library import Library, Unavailable, ensure


def prepare(manifest: Manifest, stage: Callable[[str], Path] | None, user: int | None, env: dict[str, str]) -> dict[str, Any]:
    """In the controller, before any spec. STAGE(what) makes a fresh staged copy of the
    submission (None: it could not be staged)."""
    try:
        lib = ensure()
    except (Unavailable, OSError) as exc:
        return {"library": None, "why": str(exc), "instrumented": None, "fingerprint": "", "words": f"not available: {exc}"}
    data: dict[str, Any] = {"library": str(lib.root), "why": "", "instrumented": None, "fingerprint": ""}
    if manifest.error is not None:
        data["words"] = "available"
        return data
    data["fingerprint"] = fingerprint(manifest.root)
    words = f"available (library {lib.path})"
    if manifest.build and stage is not None and set(manifest.programs) & controlled_mechanisms():
        inst = instrumented(manifest, stage("impl-sched"), lib, user, env)
        data["instrumented"] = inst.to_data()
        if inst.built is None:
            words += f"; {inst.note}: controlled specs of built programs run without control"
        else:
            words += f"; the build run again with scheduling points ({inst.seconds} s)" + (f"; {inst.note}" if inst.note else "")
    data["words"] = words
    return data


#: A spec that asks for the ``schedules`` fixture (plugin/fixtures.py).
_ASKS = re.compile(r"def test_\w+\([^)]*\bschedules\b")


def controlled_mechanisms() -> set[str]:
    """The mechanisms with a spec under schedule control: a submission with none of their
    programs is not built a second time."""
    return {p.stem.removeprefix("test_") for p in locate.specs_dir().glob("test_*.py") if _ASKS.search(p.read_text())}


def for_worker(data: dict[str, Any] | None, restage: Callable[[Path], Path] | None) -> dict[str, Any] | None:
    """DATA in a worker: its own copy of the instrumented build (RESTAGE(built) makes one)."""
    if data is None:
        return None
    inst = Instrumented.from_data(data.get("instrumented"))
    if inst is not None and inst.built and restage is not None:
        inst.built = str(restage(Path(inst.built)))
        data = {**data, "instrumented": inst.to_data()}
    return data


def setup(data: dict[str, Any] | None, manifest: Manifest, uid: int | None, gid: int | None, socket_dir: Callable[[], Path]) -> Setup:
    """A spec's Setup from the run's DATA and the submission's MANIFEST (as staged here)."""
    if data is None:
        return Setup(None, NOT_PREPARED, None, {}, uid, gid, socket_dir, "")
    if data.get("library") is None:
        return Setup(None, data.get("why") or NO_LIBRARY, None, {}, uid, gid, socket_dir, data.get("fingerprint", ""))
    lib = Library(Path(data["library"]))
    inst = Instrumented.from_data(data.get("instrumented"))
    controlled = manifest
    kinds: dict[str, str] = {}
    why = ""
    if manifest.error is None and manifest.build:
        if inst is None or inst.built is None:
            controlled = None
            why = inst.note if inst is not None else NOT_MADE
        else:
            controlled = Manifest.from_data(manifest.to_data())
            controlled.run_root = Path(inst.built)
            kinds = dict(inst.programs)
    if controlled is not None and not kinds:
        kinds = {m: kind_of(controlled, m) for m in controlled.programs}
    return Setup(lib, why, controlled, kinds, uid, gid, socket_dir, data.get("fingerprint", ""))


__all__ = ["controlled_mechanisms", "for_worker", "prepare", "setup"]
