"""The terminal report: each spec with its status and points, per-mechanism subtotals, the total,
then each failure with what was expected, what was observed, and its hint.

rich draws the spec table and paints the statuses (in the status table's colours,
conformance/record.py); without colour (NO_COLOR, not a terminal, ``--text``) the report is
plain text. Every other line is wrapped to the terminal's width at its spaces, each
continuation indented (``fit``, textwrap: rich wraps without a hanging indent).

One boundary makes it inert: every line is made visible as it is joined (``_text``), and what
rich draws (the table, a painted warning) is drawn from text made visible first; the report is
``inert.Drawn``, which ipc-grade's terminal stream writes as it is (inert.py).
"""

from __future__ import annotations

import functools
import io
import textwrap
import unicodedata
from typing import Any

from conformance.record import STATUS, STATUSES, RunRecord, SpecResult

from . import i18n, timeline
from .inert import Drawn, visible_record
from .present import View, clean, message_text, points

#: Lines of a failure message shown here; the rest is in the other reports.
MESSAGE_LINES = 12


class _Drawn(str):
    """A line rich has laid out already (a row of the table, a painted warning): never refitted."""


def render(record: RunRecord, color: bool = False, show_hidden: bool = False, columns: int | None = None) -> str:
    """The report; COLOR paints statuses; COLUMNS (a terminal's width) wraps every longer line at
    its spaces, the continuation indented (a word longer than COLUMNS, such as a path, stays
    whole), and draws the table within it."""
    record = i18n.localized(visible_record(record))
    view = View(record, show_hidden)
    t = view.t
    lines: list[str] = []
    lines.append(t._("Implementation: %(name)s (%(path)s)", name=clean(view.name), path=clean(record.implementation.get("path", ""))))
    if view.title:
        lines.append(t._("Rubric: %(title)s", title=clean(view.title)))
    if record.meta.get("isolation"):
        lines.append(t._("Isolation: %(isolation)s", isolation=record.meta["isolation"]))
    if record.meta.get("programs_run_as"):
        lines.append(t._("Programs ran as: %(user)s", user=record.meta["programs_run_as"]))
    lines.extend(_Drawn(_paint(piece, "failed", color)) for w in view.warnings() for piece in fit(w, columns))
    lines.extend(view.evidence_notes())
    build = view.build_failure()
    if build:
        lines.append(build[0])
        lines.extend(f"    {line}" for line in build[1].splitlines()[-15:])
    if record.error and not record.specs:  # nothing ran: the reason is the report
        lines.append(t._("Could not grade: %(reason)s", reason=clean(record.error)))
        lines.append(t._("Total: %(total)s  (nothing was graded)", total=view.total_line()))
        return _text(lines, columns)
    if record.error:
        lines.append(t._("Could not grade normally: %(reason)s", reason=clean(record.error)))
    lines.append("")
    lines.extend(_table(view, show_hidden, color, columns))
    lines.append("")
    counts = ", ".join(t._("%(n)d %(status)s", n=n, status=_status(status, t) if status != "hidden" else t._("hidden")) for status, n in _counts(view).items() if n)
    lines.append(t._("Total: %(total)s  (%(counts)s)", total=view.total_line(), counts=counts or t._("no specs ran")))
    if view.hidden:
        lines.append(view.hidden_note())
    missing = view.not_implemented()
    if missing:
        lines.append("")
        lines.append(t._("Not implemented:"))
        for mechanism, (n, why) in missing.items():
            lines.append(f"- {mechanism} ({t.ngettext('%(n)d spec', '%(n)d specs', n)}): {why}")
    problems = view.problems()
    if problems:
        lines.append("")
        lines.append(t._("What went wrong:"))
        for s in problems:
            lines.extend(_problem(s, t))
    return _text(lines, columns)


def _text(lines: list[str], columns: int | None) -> Drawn:
    """LINES, each made visible (clean) unless rich drew it from visible text, and fitted."""
    return Drawn("".join(piece + "\n" for line in lines for piece in ([line] if isinstance(line, _Drawn) else fit(clean(line), columns))))


@functools.cache
def _style(status: str) -> Any:
    """STATUS's colour as a rich style: the status table's ANSI colour (31 red, 32 green, ...)."""
    from rich.color import Color
    from rich.style import Style

    sgr = int(STATUS[status].color)
    return Style(color=Color.from_ansi(sgr - 30 if sgr < 90 else sgr - 82))


def _paint(text: str, status: str, color: bool) -> str:
    """TEXT, made visible, in STATUS's colour (rich writes the terminal's codes), or as it is
    without COLOR."""
    text = clean(text)
    if not color or status not in STATUS:
        return text
    from rich.color import ColorSystem

    return _style(status).render(text, color_system=ColorSystem.STANDARD)


def _table(view: View, show_hidden: bool, color: bool, columns: int | None) -> list[_Drawn]:
    """Every spec the reader may see with its status and points, and each mechanism's subtotal,
    as rich draws them: within COLUMNS when the table can be (a spec id is never broken)."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    t = view.t
    rows: list[tuple[str, str, str]] = []
    for group in view.groups():
        for s in group.specs:
            rows.append((clean(s.id), clean(s.status), clean(f"{points(s.points)}/{points(s.max_points)}{_marks(s, show_hidden, t)}")))
        more = "  (+" + t.ngettext("%(n)d hidden spec", "%(n)d hidden specs", group.hidden) + ")" if group.hidden else ""
        rows.append(("", clean(t._("%(mechanism)s subtotal", mechanism=group.mechanism)), f"{points(group.got)}/{points(group.out_of)}{more}"))
    # a status as this language says it (English: the status itself), painted by the status
    rows = [(spec_id, _status(status, t) if status in STATUS else status, worth, status) for spec_id, status, worth in rows]
    table = Table(box=None, header_style="", show_edge=False, pad_edge=False, padding=(0, 1))
    table.add_column(t._("spec"), min_width=max((len(s.id) for s in view.specs), default=20), no_wrap=True)
    table.add_column(t._("status"), min_width=15, no_wrap=True)
    table.add_column(t._("points"))
    for spec_id, shown, worth, status in rows:
        table.add_row(spec_id, Text(shown, style=_style(status)) if color and status in STATUS else shown, worth)
    # its width, known without asking rich to measure every cell (which costs as much as drawing
    # it): the two columns that never wrap, and the points column whole or at its longest word
    fixed = max([table.columns[0].min_width or 0, 4] + [len(r[0]) for r in rows]) + max([15] + [cell_len(r[1]) for r in rows]) + 4
    natural = fixed + max([cell_len(t._("points"))] + [cell_len(r[2]) for r in rows])
    narrowest = fixed + max([cell_len(t._("points"))] + [cell_len(word) for r in rows for word in r[2].split()])
    width = natural if columns is None or columns >= natural else max(columns, narrowest)
    console = Console(file=io.StringIO(), width=width, color_system="standard" if color else None, force_terminal=color,
                      no_color=not color, force_jupyter=False, highlight=False, markup=False, emoji=False)
    console.print(table)
    return [_Drawn(line.rstrip(" ")) for line in console.file.getvalue().splitlines()]


def fit(line: str, columns: int | None) -> list[str]:
    """LINE in pieces of at most COLUMNS, broken at spaces; each continuation is indented two
    more than the line. A wide character (Hangul) takes two columns."""
    if columns is None or cell_len(line) <= columns:
        return [line]
    indent = " " * (len(line) - len(line.lstrip(" ")))
    if cell_len(line) != len(line):
        return _fit_wide(line, columns, indent)
    return textwrap.wrap(
        line,
        columns,
        initial_indent="",
        subsequent_indent=indent + "  ",
        break_long_words=False,
        break_on_hyphens=False,
    ) or [line]


def _fit_wide(line: str, columns: int, indent: str) -> list[str]:
    """``fit`` for a line with wide characters, which textwrap counts as one column: greedily, word
    by word, each piece measured in cells (a word wider than COLUMNS stays whole)."""
    pieces, current, prefix = [], "", indent
    for word in line.lstrip(" ").split(" "):
        trial = f"{current} {word}" if current else word
        if current and cell_len(prefix + trial) > columns:
            pieces.append(prefix + current)
            prefix, current = indent + "  ", word
        else:
            current = trial
    return [*pieces, prefix + current]


def _status(status: str, t: i18n.Translator) -> str:
    """STATUS as the table and the counts show it: the status itself in English, its short name in another language."""
    return t.status_id(status) if status in STATUS else status


def _marks(spec: SpecResult, show_hidden: bool, t: i18n.Translator) -> str:
    marks = []
    if spec.required:
        marks.append(t._("required"))
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


def _problem(s: SpecResult, t: i18n.Translator) -> list[str]:
    required = ", " + t._("required") if s.required else ""
    out = [f"- {s.id} ({_status(s.status, t)}{required}): {clean(s.title)}"]
    message = clean(message_text(s.parts, t.language)).strip().splitlines()
    for line in message[:MESSAGE_LINES]:
        out.append(f"    {line}")
    if len(message) > MESSAGE_LINES:
        out.append("    " + t.ngettext("[... %(n)d more line in the HTML report and the JSON record]", "[... %(n)d more lines in the HTML report and the JSON record]",
                                     len(message) - MESSAGE_LINES))
    if s.advice:
        out.append("    " + t._("hint: %(hint)s", hint=clean(s.advice)))
    if s.timeline and s.timeline.get("lanes"):
        out.append("    " + t._("in time:"))
        out.extend(f"      {line}" for line in timeline.text(s.timeline, lines=4, t=t))
    return out


def cell_len(text: str) -> int:
    """TEXT's width on a terminal: an East Asian wide or fullwidth character (Hangul) takes two cells."""
    return sum(2 if unicodedata.east_asian_width(c) in ("W", "F") else 1 for c in text)
