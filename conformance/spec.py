"""The ``spec`` marker: a spec's grading data, declared once, on the spec.

    @spec("pipe.eof-on-close", points=2, hint="close every copy of the write end")
    def test_eof_on_close(impl):
        \"\"\"The relay exits once its stdin closes (pipe(7)).\"\"\"

The id is ``<mechanism>.<behaviour>``; the docstring's first line is the title students read.
Catalogues, reports and documentation are derived from these, never written twice.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import pytest

from .record import MECHANISMS

SPEC_MARKER_HELP = (
    "spec(id, *, points=1, hint='', timeout=60): an IPC conformance spec: its id "
    "(<mechanism>.<behaviour>), points, a hint shown on failure, and its time budget in seconds"
)

ID_PATTERN = re.compile(r"[a-z]+\.[a-z0-9]+(?:-[a-z0-9]+)*")
DEFAULT_TIMEOUT = 60.0

#: ``spec = conformance.spec.spec`` reads better on a spec than ``pytest.mark.spec``.
spec = pytest.mark.spec


@dataclass(frozen=True)
class SpecMeta:
    id: str
    mechanism: str
    title: str
    points: float
    hint: str
    timeout: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def spec_meta_of(function: Any, marker: pytest.Mark, where: str) -> SpecMeta:
    """SpecMeta from a spec's marker and docstring; ValueError naming WHERE and the fix."""
    if len(marker.args) != 1 or not isinstance(marker.args[0], str):
        raise ValueError(f"{where}: the spec marker takes one positional argument, the id, as in @spec(\"pipe.eof-on-close\", points=2)")
    spec_id = marker.args[0]
    unknown = set(marker.kwargs) - {"points", "hint", "timeout"}
    if unknown:
        raise ValueError(f"{where}: unknown spec marker argument(s) {', '.join(sorted(unknown))}; it takes points, hint and timeout")
    if not ID_PATTERN.fullmatch(spec_id):
        raise ValueError(f"{where}: spec id {spec_id!r} is not <mechanism>.<behaviour> in lower case with hyphens, such as 'pipe.eof-on-close'")
    mechanism = spec_id.split(".", 1)[0]
    if mechanism not in MECHANISMS:
        raise ValueError(f"{where}: spec id {spec_id!r} names unknown mechanism {mechanism!r}; known: {', '.join(MECHANISMS)}")
    points = marker.kwargs.get("points", 1)
    if isinstance(points, bool) or not isinstance(points, (int, float)) or points <= 0:
        raise ValueError(f"{where}: points for {spec_id} must be a positive number, not {points!r}")
    hint = marker.kwargs.get("hint", "")
    if not isinstance(hint, str):
        raise ValueError(f"{where}: hint for {spec_id} must be a string, not {hint!r}")
    timeout = marker.kwargs.get("timeout", DEFAULT_TIMEOUT)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise ValueError(f"{where}: timeout for {spec_id} must be a positive number of seconds, not {timeout!r}")
    doc = inspect.getdoc(function) or ""
    title = doc.strip().splitlines()[0].strip() if doc.strip() else ""
    if not title:
        raise ValueError(f"{where}: spec {spec_id} needs a docstring whose first line states the behaviour")
    return SpecMeta(spec_id, mechanism, title, float(points), hint, float(timeout))


def validate_items(items: Sequence[pytest.Item]) -> list[SpecMeta]:
    """The SpecMeta of each item; ValueError for a missing marker, bad metadata or a duplicate id."""
    metas: list[SpecMeta] = []
    seen: dict[str, str] = {}
    problems: list[str] = []
    for item in items:
        where = item.nodeid
        markers = list(item.iter_markers("spec"))
        if len(markers) != 1:
            problems.append(f"{where}: a spec needs exactly one spec marker, found {len(markers)}")
            continue
        if getattr(item, "callspec", None) is not None:
            problems.append(f"{where}: a spec is one behaviour: do not parametrize it (loop, or use Hypothesis)")
            continue
        try:
            meta = spec_meta_of(getattr(item, "function", None), markers[0], where)
        except ValueError as exc:
            problems.append(str(exc))
            continue
        if meta.id in seen:
            problems.append(f"duplicate spec id {meta.id!r}: {seen[meta.id]} and {where}")
            continue
        seen[meta.id] = where
        metas.append(meta)
    if problems:
        raise ValueError("bad spec metadata:\n  " + "\n  ".join(problems))
    return metas
