"""Markdown for GitHub: a job summary ($GITHUB_STEP_SUMMARY) or a pull-request comment.

The total, a table of per-mechanism subtotals, a table of every spec, then each failure in a
collapsed <details> block with what was expected, what was observed, the hint, what each process
did in time (a few lines; the HTML report draws it) and the transcript. Fits a PR comment (GitHub's limit is 65,536 characters): long transcripts are cut
first, then dropped, with a note saying where the whole text is.
"""

from __future__ import annotations

import re

from conformance.record import RunRecord, SpecResult

from . import timeline
from .present import (
    View,
    clean,
    failure,
    one_sentence,
    percent,
    points,
    says_more,
    status_words,
    time_fields,
    truncate,
)

LIMIT = 60_000


def render(record: RunRecord, show_hidden: bool = False) -> str:
    for transcript_limit in (4000, 1500, 400, 0):
        text = _render(record, show_hidden, transcript_limit)
        if len(text) <= LIMIT:
            return text
    return truncate(text, LIMIT - 200, "the HTML report and the JSON run record")


def _render(record: RunRecord, show_hidden: bool, transcript_limit: int) -> str:
    view = View(record, show_hidden)
    out: list[str] = []
    title = f"IPC conformance: {_inline(view.name)}"
    out.append(f"## {title}")
    out.append("")
    if view.title:
        out.append(f"Rubric: **{_inline(view.title)}**")
        out.append("")
    if record.error:
        out.append(f"> **This submission could not be graded:** {_inline(one_sentence(record.error))} Score: 0.")
        out.append("")
        rest = clean(record.error).strip()
        if says_more(record.error):
            out.extend(_fenced(truncate(rest, 4000, "the JSON run record")))
            out.append("")
    for note in view.warnings() + view.evidence_notes():
        out.append(f"> {_inline(note)}")
        out.append("")
    build = view.build_failure()
    if build:
        out.append(f"> **{_inline(build[0])}**")
        out.append("")
        out.extend(_fenced(truncate(build[1], 4000, "the JSON run record")))
        out.append("")
    out.append(f"**Total: {view.total_line()}**")
    if view.hidden:
        out.append("")
        out.append(f"_{view.hidden_note()}_")
    out.append("")
    out.append("| mechanism | points | passed |")
    out.append("| --- | ---: | --- |")
    for g in view.groups():
        if not g.specs:
            out.append(f"| {g.mechanism} | hidden | {g.hidden} hidden spec{'s' if g.hidden != 1 else ''} |")
            continue
        passed = sum(1 for s in g.specs if s.status == "passed")
        more = f" (+{g.hidden} hidden)" if g.hidden else ""
        out.append(f"| {g.mechanism} | {points(g.got)}/{points(g.out_of)} | {passed} of {len(g.specs)} spec{'s' if len(g.specs) != 1 else ''}{more} {_bar(percent(g.got, g.out_of))} |")
    out.append("")
    out.append("<details><summary>Every spec</summary>")
    out.append("")
    out.append("| | spec | status | points | behaviour |")
    out.append("| --- | --- | --- | ---: | --- |")
    for s in view.specs:
        tag = " **required**" if s.required else ""
        if show_hidden and s.hidden:
            tag += f" _({s.visibility.replace('_', ' ')})_"
        out.append(f"| {s.info.icon} | `{s.id}`{tag} | {status_words(s.status)} | {points(s.points)}/{points(s.max_points)} | {_inline(s.title)} |")
    out.append("")
    out.append("</details>")
    missing = view.not_implemented()
    if missing:
        out.append("")
        out.append("### Not implemented")
        out.append("")
        for mechanism, (n, why) in missing.items():
            out.append(f"- **{mechanism}** ({n} spec{'s' if n != 1 else ''}): {_inline(why)}")
    problems = view.problems()
    if problems:
        out.append("")
        out.append("### What went wrong")
        for s in problems:
            out.append("")
            out.extend(_failure(s, transcript_limit))
    times = time_fields(record)
    if times:
        out.append("")
        out.append(f"<sub>Graded {times.get('started_at', '')} in {times.get('duration_s', '?')} by {_grader(record)}.</sub>")
    return "\n".join(out) + "\n"


def _failure(s: SpecResult, transcript_limit: int) -> list[str]:
    f = failure(s)
    req = " (required)" if s.required else ""
    out = [f"<details><summary>{s.info.icon} <code>{s.id}</code>{req}: {_html(s.title)}</summary>", ""]
    out.append(f"**Expected:** {_inline(f.expected)}")
    out.append("")
    out.append("**Observed:**")
    out.append("")
    out.extend(_fenced(truncate(f.observed or "(no details)", 4000, "the HTML report")))
    if f.evidence:
        out.append("")
        out.append("**What the kernel showed:**")
        out.append("")
        out.extend(f"- {_inline(line)}" for line in f.evidence)
    if f.fix:
        out.append("")
        out.append(f"**Fix:** {_inline(f.fix)}")
    if f.hint:
        out.append("")
        out.append(f"**Hint:** {_inline(f.hint)}")
    if transcript_limit and s.timeline and s.timeline.get("lanes"):  # dropped with the transcripts
        out.append("")
        out.append("**What happened, in time:**")
        out.append("")
        out.extend(_fenced("\n".join(timeline.text(s.timeline, lines=6))))
    if f.transcript and transcript_limit:
        out.append("")
        out.append("**Transcript:**")
        out.append("")
        out.extend(_fenced(truncate(f.transcript, transcript_limit, "the HTML report")))
    elif f.transcript:
        out.append("")
        out.append("_The transcript is in the HTML report._")
    out.append("")
    out.append("</details>")
    return out


def _grader(record: RunRecord) -> str:
    g = record.meta.get("grader") or {}
    return f"{g.get('name', 'ipc-conformance')} {g.get('version', '')}".strip()


def _bar(pct: float, width: int = 10) -> str:
    full = int(round(pct / 100 * width))
    return "`" + "█" * full + "░" * (width - full) + "`"


def _fenced(text: str) -> list[str]:
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return [f"{fence}text", clean(text), fence]


def _html(text: str) -> str:
    return clean(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _inline(text: str) -> str:
    """TEXT inside a table cell or paragraph: one line, no pipes or HTML that would break it."""
    flat = " ".join(clean(text).split())
    return _html(flat).replace("|", "\\|")
