"""The terminal report: every spec with its status and points, subtotals, then what failed."""

from __future__ import annotations

from itertools import groupby

from .record import RunRecord, SpecResult

COLORS = {
    "passed": "32",
    "failed": "31",
    "timeout": "31",
    "not-implemented": "33",
    "unsupported": "36",
    "broken": "35",
}


def _fmt(points: float) -> str:
    return f"{points:g}"


def render(record: RunRecord, color: bool = False) -> str:
    def paint(text: str, status: str) -> str:
        return f"\x1b[{COLORS[status]}m{text}\x1b[0m" if color and status in COLORS else text

    lines: list[str] = []
    name = record.implementation.get("name", "")
    lines.append(f"Implementation: {name} ({record.implementation.get('path', '')})")
    if record.meta.get("isolation"):
        lines.append(f"Isolation: {record.meta['isolation']}")
    if record.error:
        lines.append(f"Could not grade normally: {record.error}")
    width = max((len(s.id) for s in record.specs), default=20)
    lines.append("")
    lines.append(f"{'spec':<{width}}  {'status':<15}  points")
    for mechanism, group in groupby(record.specs, key=lambda s: s.mechanism):
        specs = list(group)
        for s in specs:
            lines.append(f"{s.id:<{width}}  {paint(f'{s.status:<15}', s.status)}  {_fmt(s.points)}/{_fmt(s.max_points)}")
        got = sum(s.points for s in specs if s.counted)
        out_of = sum(s.max_points for s in specs if s.counted)
        lines.append(f"{'':<{width}}  {mechanism + ' subtotal':<15}  {_fmt(got)}/{_fmt(out_of)}")
    lines.append("")
    counts = ", ".join(f"{n} {status}" for status, n in record.counts().items() if n)
    lines.append(f"Total: {_fmt(record.score)}/{_fmt(record.max_score)}  ({counts or 'no specs ran'})")
    problems = [s for s in record.specs if s.status in ("failed", "timeout", "broken")]
    if problems:
        lines.append("")
        lines.append("What went wrong:")
        for s in problems:
            lines.extend(_problem(s))
    return "\n".join(lines) + "\n"


def _problem(s: SpecResult) -> list[str]:
    out = [f"- {s.id} ({s.status}): {s.title}"]
    message = s.message.strip().splitlines()
    for line in message[:12]:
        out.append(f"    {line}")
    if len(message) > 12:
        out.append(f"    [... {len(message) - 12} more lines in the JSON record]")
    if s.hint:
        out.append(f"    hint: {s.hint}")
    return out
