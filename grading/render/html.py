"""One self-contained HTML page per run: no script, no network (a Content-Security-Policy
forbids every fetch), readable offline and as a CI artifact.

A header with the total (or why the run could not grade), a bar per mechanism, a table of
every spec, then each failure with what was expected, what was observed, the hint and the
transcript.
"""

from __future__ import annotations

from html import escape

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

TRANSCRIPT_LIMIT = 30_000

CSS = """
:root { --pass: #1a7f37; --fail: #cf222e; --warn: #9a6700; --muted: #57606a; --line: #d0d7de; --bg: #f6f8fa; }
* { box-sizing: border-box; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: #1f2328; margin: 0; background: #fff; }
main { max-width: 1040px; margin: 0 auto; padding: 24px; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 32px 0 12px; border-bottom: 1px solid var(--line); padding-bottom: 6px; }
h3 { font-size: 16px; margin: 0 0 8px; }
.sub { color: var(--muted); margin: 0; }
.total { font-size: 34px; font-weight: 700; margin: 16px 0 4px; }
.banner { background: #ffebe9; border: 1px solid #ff8182; border-radius: 6px; padding: 12px 16px; margin: 16px 0; }
.note { background: var(--bg); border: 1px solid var(--line); border-radius: 6px; padding: 8px 12px; }
.bars { display: grid; grid-template-columns: max-content 1fr max-content; gap: 8px 14px; align-items: center; }
.bar { height: 18px; background: #eaeef2; border-radius: 9px; overflow: hidden; min-width: 200px; }
.fill { height: 100%; background: var(--pass); border-radius: 9px 0 0 9px; }
.fill.low { background: var(--fail); } .fill.mid { background: #d4a72c; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: var(--bg); font-weight: 600; }
td.num, th.num { text-align: right; white-space: nowrap; }
code { font: 13px/1.4 ui-monospace, "DejaVu Sans Mono", monospace; }
td:first-child code { white-space: nowrap; }
.chip { display: inline-block; padding: 0 8px; border-radius: 10px; font-size: 13px; font-weight: 600; color: #fff; white-space: nowrap; }
.s-passed { background: var(--pass); } .s-failed, .s-timeout { background: var(--fail); }
.s-not-implemented { background: #8c959f; } .s-unsupported { background: #0969da; } .s-broken { background: #8250df; }
.picture { overflow-x: auto; } .picture svg { max-width: 100%; height: auto; background: #fff; border: 1px solid var(--line); border-radius: 6px; }
.tag { font-size: 12px; color: var(--muted); border: 1px solid var(--line); border-radius: 10px; padding: 0 6px; margin-left: 6px; }
.failure { border: 1px solid var(--line); border-left: 4px solid var(--fail); border-radius: 6px; padding: 12px 16px; margin: 14px 0; }
.failure dt { font-weight: 600; margin-top: 8px; }
.failure dd { margin: 2px 0 0; }
pre { background: var(--bg); border: 1px solid var(--line); border-radius: 6px; padding: 8px 10px; margin: 4px 0; white-space: pre-wrap; overflow-wrap: anywhere; max-height: 360px; overflow: auto; font: 13px/1.4 ui-monospace, "DejaVu Sans Mono", monospace; }
footer { color: var(--muted); font-size: 13px; margin-top: 40px; border-top: 1px solid var(--line); padding-top: 8px; }
svg text { font: 12px system-ui, "DejaVu Sans", sans-serif; fill: #1f2328; }
"""

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def page(title: str, body: str) -> str:
    """A whole HTML document around BODY: inline CSS, no script, nothing fetched."""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{e(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n{body}\n</main>\n</body>\n</html>\n"
    )


def e(text: str) -> str:
    return escape(clean(str(text)), quote=True)


def chip(status: str) -> str:
    return f'<span class="chip s-{e(status)}">{e(status_words(status))}</span>'


def bar(pct: float) -> str:
    level = "low" if pct < 50 else "mid" if pct < 80 else ""
    return f'<div class="bar" role="img" aria-label="{pct:.0f}%"><div class="fill {level}" style="width: {pct:.1f}%"></div></div>'


def render(record: RunRecord, show_hidden: bool = False) -> str:
    view = View(record, show_hidden)
    b: list[str] = []
    b.append(f"<h1>IPC conformance: {e(view.name)}</h1>")
    sub = [e(record.implementation.get("path", ""))]
    if view.title:
        sub.append(f"rubric: {e(view.title)}")
    b.append(f'<p class="sub">{" · ".join(s for s in sub if s)}</p>')
    if record.error:
        b.append(
            f'<div class="banner" id="run-error"><strong>This submission could not be graded:</strong> '
            f"{e(one_sentence(record.error))} Score: 0.</div>"
        )
        if says_more(record.error):
            b.append(f"<pre>{e(truncate(record.error, TRANSCRIPT_LIMIT))}</pre>")
    for warning in view.warnings():
        b.append(f'<div class="banner">{e(warning)}</div>')
    for note in view.setting() + view.evidence_notes():
        b.append(f'<p class="note">{e(note)}</p>')
    build = view.build_failure()
    if build:
        b.append(f'<div class="banner" id="build"><strong>{e(build[0])}</strong></div><pre>{e(truncate(build[1], TRANSCRIPT_LIMIT))}</pre>')
    b.append(f'<p class="total">{e(view.total_line())}</p>')
    if view.hidden:
        b.append(f'<p class="note">{e(view.hidden_note())}</p>')

    b.append("<h2>By mechanism</h2>")
    b.append('<div class="bars">')
    for g in view.groups():
        if not g.specs:
            b.append(f"<div><strong>{e(g.mechanism)}</strong></div><div class=\"sub\">{g.hidden} hidden spec{'s' if g.hidden != 1 else ''}</div><div></div>")
            continue
        more = f" (+{g.hidden} hidden)" if g.hidden else ""
        b.append(f"<div><strong>{e(g.mechanism)}</strong>{e(more)}</div>{bar(percent(g.got, g.out_of))}<div>{e(points(g.got))}/{e(points(g.out_of))}</div>")
    b.append("</div>")

    b.append("<h2>Every spec</h2>")
    b.append('<table><thead><tr><th>spec</th><th>status</th><th class="num">points</th><th>behaviour</th></tr></thead><tbody>')
    for s in view.specs:
        tags = ""
        if s.required:
            tags += '<span class="tag">required</span>'
        if show_hidden and s.hidden:
            tags += f'<span class="tag">{e(s.visibility.replace("_", " "))}</span>'
        link = f'<a href="#{e(s.id)}"><code>{e(s.id)}</code></a>' if s.info.explained else f"<code>{e(s.id)}</code>"
        b.append(
            f"<tr><td>{link}{tags}</td><td>{chip(s.status)}</td><td class=\"num\">{e(points(s.points))}/{e(points(s.max_points))}</td><td>{e(s.title)}</td></tr>"
        )
    b.append("</tbody></table>")

    missing = view.not_implemented()
    if missing:
        b.append("<h2>Not implemented</h2><ul>")
        for mechanism, (n, why) in missing.items():
            b.append(f"<li><strong>{e(mechanism)}</strong> ({n} spec{'s' if n != 1 else ''}): {e(why)}</li>")
        b.append("</ul>")
    problems = view.problems()
    if problems:
        b.append("<h2>What went wrong</h2>")
        for s in problems:
            b.append(_failure(s, show_hidden))
    times = time_fields(record)
    grader = record.meta.get("grader") or {}
    foot = f"{e(grader.get('name', 'ipc-conformance'))} {e(grader.get('version', ''))}"
    if times:
        foot += f" · graded {e(times.get('started_at', ''))} in {e(times.get('duration_s', '?'))}"
    b.append(f"<footer>{foot}</footer>")
    return page(f"IPC conformance: {view.name}", "\n".join(b))


def _failure(s: SpecResult, show_hidden: bool = False) -> str:
    f = failure(s)
    req = '<span class="tag">required</span>' if s.required else ""
    parts = [
        f'<section class="failure" id="{e(s.id)}">',
        f"<h3><code>{e(s.id)}</code> {chip(s.status)}{req}</h3>",
        "<dl>",
        f"<dt>Expected</dt><dd>{e(f.expected)}</dd>",
        f"<dt>Observed</dt><dd><pre>{e(f.observed or '(no details)')}</pre></dd>",
    ]
    if f.evidence:
        parts.append("<dt>What the kernel showed</dt><dd><ul>" + "".join(f"<li>{e(line)}</li>" for line in f.evidence) + "</ul></dd>")
    if f.fix:
        parts.append(f"<dt>Fix</dt><dd>{e(f.fix)}</dd>")
    if f.hint:
        parts.append(f"<dt>Hint</dt><dd>{e(f.hint)}</dd>")
    if s.timeline and s.timeline.get("lanes"):
        parts.append(f'<dt>What happened, in time</dt><dd class="picture">{timeline.svg(s.timeline, s.status, key=s.id)}</dd>')
        steps = timeline.replay(s.timeline)
        if steps:
            parts.append("<dt>Try it by hand</dt><dd><ol>" + "".join(f"<li><code>{e(step)}</code></li>" for step in steps[:20]) + "</ol></dd>")
    if f.transcript:
        parts.append(f"<dt>Transcript</dt><dd><pre>{e(truncate(f.transcript, TRANSCRIPT_LIMIT))}</pre></dd>")
    if show_hidden and s.trace:  # the instructor's report: the grader's own traceback, to report it
        parts.append(f"<dt>The grader's traceback</dt><dd><details><summary>show</summary><pre>{e(truncate(s.trace, TRANSCRIPT_LIMIT))}</pre></details></dd>")
    parts.append("</dl></section>")
    return "\n".join(parts)
