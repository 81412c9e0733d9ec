"""One self-contained HTML page per run: no script, no network (a Content-Security-Policy
forbids every fetch), readable offline and as a CI artifact.

A header with the total (or why the run could not grade), a bar per mechanism, a table of
every spec, then each failure with what was expected, what was observed, the hint and the
transcript: templates/report.html, rendered by pages.py (autoescaped).
"""

from __future__ import annotations

from typing import Any

from conformance.record import RunRecord

from . import i18n, pages, timeline
from .inert import visible_record
from .present import View, failure, time_fields


def render(record: RunRecord, show_hidden: bool = False) -> str:
    record = i18n.localized(visible_record(record))
    view = View(record, show_hidden)
    t = view.t
    heading = [record.implementation.get("path", "")] + ([t._("rubric: %(title)s", title=view.title)] if view.title else [])
    return pages.render(
        "report.html",
        record=record,
        view=view,
        show_hidden=show_hidden,
        heading=[h for h in heading if h],
        build=view.build_failure(),
        missing=view.not_implemented(),
        failures=[_failure(s, t.language) for s in view.problems()],
        grader=record.meta.get("grader") or {},
        times=time_fields(record),
        lang=t.language,
        _=t._,
        ngettext=t.ngettext,
    )


def _failure(s: Any, language: str) -> dict[str, Any]:
    """What a failure's section shows: its parts, and the picture of its timeline with the steps
    to do it by hand."""
    drawn = bool(s.timeline and s.timeline.get("lanes"))
    return {
        "spec": s,
        "f": failure(s, language),
        "picture": pages.safe(timeline.svg(s.timeline, s.status, key=s.id, t=i18n.translator(language))) if drawn else None,
        "steps": timeline.replay(s.timeline, t=i18n.translator(language))[:20] if drawn else [],
    }
