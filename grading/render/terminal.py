"""The terminal report: each spec with its status and points, per-mechanism subtotals, the total,
then each failure with what was expected, what was observed, and its hint."""

from __future__ import annotations

import textwrap

from conformance.record import STATUS, STATUSES, RunRecord, SpecResult

from . import timeline
from .present import View, clean, points

#: Lines of a failure message shown here; the rest is in the other reports.
MESSAGE_LINES = 12


def render(record: RunRecord, color: bool = False, show_hidden: bool = False, columns: int | None = None) -> str:
    """The report; COLOR paints statuses; COLUMNS (a terminal's width) wraps every longer line at
    its spaces, the continuation indented (a word longer than COLUMNS, such as a path, stays whole)."""

    def paint(text: str, status: str) -> str:
        return f"\x1b[{STATUS[status].color}m{text}\x1b[0m" if color and status in STATUS else text

    view = View(record, show_hidden)
    lines: list[str] = []
    lines.append(f"Implementation: {clean(view.name)} ({clean(record.implementation.get('path', ''))})")
    if view.title:
        lines.append(f"Rubric: {clean(view.title)}")
    if record.meta.get("isolation"):
        lines.append(f"Isolation: {record.meta['isolation']}")
    if record.meta.get("programs_run_as"):
        lines.append(f"Programs ran as: {record.meta['programs_run_as']}")
    lines.extend(paint(piece, "failed") for w in view.warnings() for piece in fit(w, columns))
    lines.extend(view.evidence_notes())
    build = view.build_failure()
    if build:
        lines.append(build[0])
        lines.extend(f"    {line}" for line in build[1].splitlines()[-15:])
    if record.error and not record.specs:  # nothing ran: the reason is the report
        lines.append(f"Could not grade: {clean(record.error)}")
        lines.append(f"Total: {view.total_line()}  (nothing was graded)")
        return "".join(piece + "\n" for line in lines for piece in fit(line, columns))
    if record.error:
        lines.append(f"Could not grade normally: {clean(record.error)}")
    width = max((len(s.id) for s in view.specs), default=20)
    lines.append("")
    lines.append(f"{'spec':<{width}}  {'status':<15}  points")
    for group in view.groups():
        for s in group.specs:
            mark = _marks(s, show_hidden)
            lines.append(f"{s.id:<{width}}  {paint(f'{s.status:<15}', s.status)}  {points(s.points)}/{points(s.max_points)}{mark}")
        more = f"  (+{group.hidden} hidden spec{'s' if group.hidden != 1 else ''})" if group.hidden else ""
        label = f"{group.mechanism} subtotal"
        lines.append(f"{'':<{width}}  {label:<15}  {points(group.got)}/{points(group.out_of)}{more}")
    lines.append("")
    counts = ", ".join(f"{n} {status}" for status, n in _counts(view).items() if n)
    lines.append(f"Total: {view.total_line()}  ({counts or 'no specs ran'})")
    if view.hidden:
        lines.append(view.hidden_note())
    missing = view.not_implemented()
    if missing:
        lines.append("")
        lines.append("Not implemented:")
        for mechanism, (n, why) in missing.items():
            lines.append(f"- {mechanism} ({n} spec{'s' if n != 1 else ''}): {why}")
    problems = view.problems()
    if problems:
        lines.append("")
        lines.append("What went wrong:")
        for s in problems:
            lines.extend(_problem(s))
    return "".join(piece + "\n" for line in lines for piece in fit(line, columns))


def fit(line: str, columns: int | None) -> list[str]:
    """LINE in pieces of at most COLUMNS, broken at spaces; each continuation is indented two
    more than the line. A line with colour is left whole (only status cells, short)."""
    if columns is None or len(line) <= columns or "\x1b[" in line:
        return [line]
    indent = " " * (len(line) - len(line.lstrip(" ")))
    return textwrap.wrap(
        line,
        columns,
        initial_indent="",
        subsequent_indent=indent + "  ",
        break_long_words=False,
        break_on_hyphens=False,
    ) or [line]


def _marks(spec: SpecResult, show_hidden: bool) -> str:
    marks = []
    if spec.required:
        marks.append("required")
    if show_hidden and spec.hidden:
        marks.append(spec.visibility.replace("_", " "))
    return f"  [{', '.join(marks)}]" if marks else ""


def _counts(view: View) -> dict[str, int]:
    out = dict.fromkeys(STATUSES, 0)
    for s in view.specs:
        out[s.status] = out.get(s.status, 0) + 1
    if view.hidden:
        out["hidden"] = len(view.hidden)
    return out


def _problem(s: SpecResult) -> list[str]:
    required = ", required" if s.required else ""
    out = [f"- {s.id} ({s.status}{required}): {clean(s.title)}"]
    message = clean(s.parts.text()).strip().splitlines()
    for line in message[:MESSAGE_LINES]:
        out.append(f"    {line}")
    if len(message) > MESSAGE_LINES:
        out.append(f"    [... {len(message) - MESSAGE_LINES} more lines in the HTML report and the JSON record]")
    if s.advice:
        out.append(f"    hint: {clean(s.advice)}")
    if s.timeline and s.timeline.get("lanes"):
        out.append("    in time:")
        out.extend(f"      {line}" for line in timeline.text(s.timeline, lines=4))
    return out
