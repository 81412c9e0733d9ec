"""One self-contained HTML page per run: no script, no network (a Content-Security-Policy
forbids every fetch), readable offline and as a CI artifact.

A header with the total (or why the run could not grade), a bar per mechanism, a table of
every spec, then each failure with what was expected, what was observed, the hint and the
transcript: templates/report.html, rendered by pages.py (autoescaped).
"""

from __future__ import annotations

from typing import Any

from conformance.record import RunRecord

from . import pages, timeline
from .inert import visible_record
from .present import View, failure, time_fields


def render(record: RunRecord, show_hidden: bool = False) -> str:
    record = visible_record(record)
    view = View(record, show_hidden)
    heading = [record.implementation.get("path", "")] + ([f"rubric: {view.title}"] if view.title else [])
    return pages.render(
        "report.html",
        record=record,
        view=view,
        show_hidden=show_hidden,
        heading=[h for h in heading if h],
        build=view.build_failure(),
        missing=view.not_implemented(),
        failures=[_failure(s) for s in view.problems()],
        grader=record.meta.get("grader") or {},
        times=time_fields(record),
    )


def _failure(s: Any) -> dict[str, Any]:
    """What a failure's section shows: its parts, and the picture of its timeline with the steps
    to do it by hand."""
    drawn = bool(s.timeline and s.timeline.get("lanes"))
    return {
        "spec": s,
        "f": failure(s),
        "picture": pages.safe(timeline.svg(s.timeline, s.status, key=s.id)) if drawn else None,
        "steps": timeline.replay(s.timeline)[:20] if drawn else [],
    }
