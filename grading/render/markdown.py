"""Markdown for GitHub: a job summary ($GITHUB_STEP_SUMMARY) or a pull-request comment.

The total, a table of per-mechanism subtotals, a table of every spec, then each failure in a
collapsed <details> block with what was expected, what was observed, the hint, what each process
did in time (a few lines; the HTML report draws it) and the transcript. Fits a PR comment
(GitHub's limit is 65,536 characters): long transcripts are cut first, then dropped, with a note
saying where the whole text is.

Every line is ``inert.Markdown``: this module's markup, with each value from the record escaped
as it goes in (``text``), or in a code span (``code``) or a fenced block (``fence``) nothing in
it can close; ``inert.document`` joins only such lines. Nothing from a submission becomes a
link, an image, a mention, HTML, emphasis, a heading, a table or a code fence.
"""

from __future__ import annotations

from conformance.record import RunRecord, SpecResult

from . import timeline
from .inert import Markdown, code, document, fence, html, visible_record
from .present import (
    View,
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
#: The last line of a report cut at LIMIT.
CUT = "_The rest of this report is cut: the whole is in the HTML report and the JSON run record._"


def render(record: RunRecord, show_hidden: bool = False) -> str:
    record = visible_record(record)
    for transcript_limit in (4000, 1500, 400):
        out = document(_render(record, show_hidden, transcript_limit))
        if len(out) <= LIMIT:
            return out
    return document(_render(record, show_hidden, 0), LIMIT, CUT)


M = Markdown


def _render(record: RunRecord, show_hidden: bool, transcript_limit: int) -> list[Markdown]:
    view = View(record, show_hidden)
    blank = M("")
    out: list[Markdown] = []
    out.append(M("## IPC conformance: {}").format(view.name))
    out.append(blank)
    if view.title:
        out.append(M("Rubric: **{}**").format(view.title))
        out.append(blank)
    if record.error:
        out.append(M("> **This submission could not be graded:** {} Score: 0.").format(one_sentence(record.error)))
        out.append(blank)
        if says_more(record.error):
            out.extend(fence(truncate(record.error.strip(), 4000, "the JSON run record")))
            out.append(blank)
    for note in view.warnings() + view.evidence_notes():
        out.append(M("> {}").format(note))
        out.append(blank)
    build = view.build_failure()
    if build:
        out.append(M("> **{}**").format(build[0]))
        out.append(blank)
        out.extend(fence(truncate(build[1], 4000, "the JSON run record")))
        out.append(blank)
    out.append(M("**Total: {}**").format(view.total_line()))
    if view.hidden:
        out.append(blank)
        out.append(M("_{}_").format(view.hidden_note()))
    out.append(blank)
    out.append(M("| mechanism | points | passed |"))
    out.append(M("| --- | ---: | --- |"))
    for g in view.groups():
        if not g.specs:
            out.append(M("| {} | hidden | {} hidden spec{} |").format(g.mechanism, g.hidden, "s" if g.hidden != 1 else ""))
            continue
        passed = sum(1 for s in g.specs if s.status == "passed")
        more = M(f" (+{g.hidden} hidden)") if g.hidden else M("")
        out.append(M("| {} | {}/{} | {} of {} spec{}{} {} |").format(
            g.mechanism, points(g.got), points(g.out_of), passed, len(g.specs), "s" if len(g.specs) != 1 else "", more, _bar(percent(g.got, g.out_of))))
    out.append(blank)
    out.append(M("<details><summary>Every spec</summary>"))
    out.append(blank)
    out.append(M("| | spec | status | points | behaviour |"))
    out.append(M("| --- | --- | --- | ---: | --- |"))
    for s in view.specs:
        tag = M(" **required**") if s.required else M("")
        if show_hidden and s.hidden:
            tag = M("{} _({})_").format(tag, s.visibility.replace("_", " "))
        out.append(M("| {} | {}{} | {} | {}/{} | {} |").format(
            M(s.info.icon), code(s.id, cell=True), tag, status_words(s.status), points(s.points), points(s.max_points), s.title))
    out.append(blank)
    out.append(M("</details>"))
    missing = view.not_implemented()
    if missing:
        out.append(blank)
        out.append(M("### Not implemented"))
        out.append(blank)
        for mechanism, (n, why) in missing.items():
            out.append(M("- **{}** ({} spec{}): {}").format(mechanism, n, "s" if n != 1 else "", why))
    problems = view.problems()
    if problems:
        out.append(blank)
        out.append(M("### What went wrong"))
        for s in problems:
            out.append(blank)
            out.extend(_failure(s, transcript_limit))
    times = time_fields(record)
    if times:
        out.append(blank)
        out.append(M("<sub>Graded {} in {} by {}.</sub>").format(times.get("started_at", ""), times.get("duration_s", "?"), _grader(record)))
    return out


def _failure(s: SpecResult, transcript_limit: int) -> list[Markdown]:
    f = failure(s)
    blank = M("")
    req = M(" (required)") if s.required else M("")
    out = [M("<details><summary>{} <code>{}</code>{}: {}</summary>").format(M(s.info.icon), html(s.id), req, html(s.title)), blank]
    out.append(M("**Expected:** {}").format(f.expected))
    out.append(blank)
    out.append(M("**Observed:**"))
    out.append(blank)
    out.extend(fence(truncate(f.observed or "(no details)", 4000, "the HTML report")))
    if f.evidence:
        out.append(blank)
        out.append(M("**What the kernel showed:**"))
        out.append(blank)
        out.extend(M("- {}").format(line) for line in f.evidence)
    if f.fix:
        out.append(blank)
        out.append(M("**Fix:** {}").format(f.fix))
    if f.hint:
        out.append(blank)
        out.append(M("**Hint:** {}").format(f.hint))
    if transcript_limit and s.timeline and s.timeline.get("lanes"):  # dropped with the transcripts
        out.append(blank)
        out.append(M("**What happened, in time:**"))
        out.append(blank)
        out.extend(fence("\n".join(timeline.text(s.timeline, lines=6))))
    if f.transcript and transcript_limit:
        out.append(blank)
        out.append(M("**Transcript:**"))
        out.append(blank)
        out.extend(fence(truncate(f.transcript, transcript_limit, "the HTML report")))
    elif f.transcript:
        out.append(blank)
        out.append(M("_The transcript is in the HTML report._"))
    out.append(blank)
    out.append(M("</details>"))
    return out


def _grader(record: RunRecord) -> str:
    g = record.meta.get("grader") or {}
    return f"{g.get('name', 'ipc-conformance')} {g.get('version', '')}".strip()


def _bar(pct: float, width: int = 10) -> Markdown:
    full = int(round(pct / 100 * width))
    return M("`" + "█" * full + "░" * (width - full) + "`")
