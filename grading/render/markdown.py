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

from . import i18n, timeline
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
CUT = i18n.N_("_The rest of this report is cut: the whole is in the HTML report and the JSON run record._")


def render(record: RunRecord, show_hidden: bool = False) -> str:
    record = i18n.localized(visible_record(record))
    for transcript_limit in (4000, 1500, 400):
        out = document(_render(record, show_hidden, transcript_limit))
        if len(out) <= LIMIT:
            return out
    return document(_render(record, show_hidden, 0), LIMIT, M(i18n.of(record)._(CUT)))


M = Markdown


def _render(record: RunRecord, show_hidden: bool, transcript_limit: int) -> list[Markdown]:
    view = View(record, show_hidden)
    t = view.t
    blank = M("")
    out: list[Markdown] = []
    out.append(M(t._("## IPC conformance: %(name)s", name="{}")).format(view.name))
    out.append(blank)
    if view.title:
        out.append(M(t._("Rubric: **%(title)s**", title="{}")).format(view.title))
        out.append(blank)
    if record.error:
        out.append(M(t._("> **This submission could not be graded:** %(reason)s Score: 0.", reason="{}")).format(one_sentence(record.error)))
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
    out.append(M(t._("**Total: %(total)s**", total="{}")).format(view.total_line()))
    if view.hidden:
        out.append(blank)
        out.append(M("_{}_").format(view.hidden_note()))
    out.append(blank)
    out.append(M(t._("| mechanism | points | passed |")))
    out.append(M("| --- | ---: | --- |"))
    for g in view.groups():
        if not g.specs:
            out.append(M("| {} | {} | {} |").format(g.mechanism, t._("hidden"), t.ngettext("%(n)d hidden spec", "%(n)d hidden specs", g.hidden)))
            continue
        passed = sum(1 for s in g.specs if s.status == "passed")
        more = M(" (+{})").format(t._("%(n)d hidden", n=g.hidden)) if g.hidden else M("")
        out.append(M("| {} | {}/{} | {}{} {} |").format(
            g.mechanism, points(g.got), points(g.out_of), t.ngettext("%(passed)d of %(n)d spec", "%(passed)d of %(n)d specs", len(g.specs), passed=passed),
            more, _bar(percent(g.got, g.out_of))))
    out.append(blank)
    out.append(M(t._("<details><summary>Every spec</summary>")))
    out.append(blank)
    out.append(M(t._("| | spec | status | points | behaviour |")))
    out.append(M("| --- | --- | --- | ---: | --- |"))
    for s in view.specs:
        tag = M(" **{}**").format(t._("required")) if s.required else M("")
        if show_hidden and s.hidden:
            tag = M("{} _({})_").format(tag, s.visibility.replace("_", " "))
        out.append(M("| {} | {}{} | {} | {}/{} | {} |").format(
            M(s.info.icon), code(s.id, cell=True), tag, status_words(s.status, t.language), points(s.points), points(s.max_points), s.title))
    out.append(blank)
    out.append(M("</details>"))
    missing = view.not_implemented()
    if missing:
        out.append(blank)
        out.append(M(t._("### Not implemented")))
        out.append(blank)
        for mechanism, (n, why) in missing.items():
            out.append(M("- **{}** ({}): {}").format(mechanism, t.ngettext("%(n)d spec", "%(n)d specs", n), why))
    problems = view.problems()
    if problems:
        out.append(blank)
        out.append(M(t._("### What went wrong")))
        for s in problems:
            out.append(blank)
            out.extend(_failure(s, transcript_limit, t))
    times = time_fields(record)
    if times:
        out.append(blank)
        out.append(M(t._("<sub>Graded %(at)s in %(duration)s by %(grader)s.</sub>", at="{at}", duration="{duration}", grader="{grader}")).format(
            at=times.get("started_at", ""), duration=times.get("duration_s", "?"), grader=_grader(record)))
    return out


def _failure(s: SpecResult, transcript_limit: int, t: i18n.Translator) -> list[Markdown]:
    f = failure(s, t.language)
    blank = M("")
    req = M(" ({})").format(t._("required")) if s.required else M("")
    out = [M("<details><summary>{} <code>{}</code>{}: {}</summary>").format(M(s.info.icon), html(s.id), req, html(s.title)), blank]
    out.append(M(t._("**Expected:** %(text)s", text="{}")).format(f.expected))
    out.append(blank)
    out.append(M(t._("**Observed:**")))
    out.append(blank)
    out.extend(fence(truncate(f.observed or t._("(no details)"), 4000, t._("the HTML report"))))
    if f.evidence:
        out.append(blank)
        out.append(M(t._("**What the kernel showed:**")))
        out.append(blank)
        out.extend(M("- {}").format(line) for line in f.evidence)
    if f.fix:
        out.append(blank)
        out.append(M(t._("**Fix:** %(text)s", text="{}")).format(f.fix))
    if f.hint:
        out.append(blank)
        out.append(M(t._("**Hint:** %(text)s", text="{}")).format(f.hint))
    if transcript_limit and s.timeline and s.timeline.get("lanes"):  # dropped with the transcripts
        out.append(blank)
        out.append(M(t._("**What happened, in time:**")))
        out.append(blank)
        out.extend(fence("\n".join(timeline.text(s.timeline, lines=6, t=t))))
    if f.transcript and transcript_limit:
        out.append(blank)
        out.append(M(t._("**Transcript:**")))
        out.append(blank)
        out.extend(fence(truncate(f.transcript, transcript_limit, t._("the HTML report"))))
    elif f.transcript:
        out.append(blank)
        out.append(M(t._("_The transcript is in the HTML report._")))
    out.append(blank)
    out.append(M("</details>"))
    return out


def _grader(record: RunRecord) -> str:
    g = record.meta.get("grader") or {}
    return f"{g.get('name', 'ipc-conformance')} {g.get('version', '')}".strip()


def _bar(pct: float, width: int = 10) -> Markdown:
    full = int(round(pct / 100 * width))
    return M("`" + "█" * full + "░" * (width - full) + "`")
