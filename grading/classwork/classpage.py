"""The class page (HTML): the score distribution, each mechanism's spread, every spec's pass rate,
the submissions not graded to the end, the pairs similarity flagged (when it was checked: for
instructors only) and every submission, from the entries of gradebook.py. Pure and
deterministic: rows sorted by submission id, no time fields.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import TYPE_CHECKING

from conformance.record import mechanism_order

from ..late import final_score
from ..render.html import bar, e, page
from ..render.present import percent, points
from .gradebook import HARNESS, Entry, maxima, mechanisms, out_of, pass_rates, subtotal

if TYPE_CHECKING:
    from .similarity.model import Summary


def render(entries: Sequence[Entry], title: str = "", links: bool = True, similarity: Summary | None = None) -> str:
    """The class page: pass rate of every spec, the score distribution, what broke the harness,
    the pairs SIMILARITY flagged (when given), and every submission (linking to its own report,
    and to the side-by-side views, when LINKS)."""
    entries = sorted(entries, key=lambda en: en.id)
    b: list[str] = []
    b.append(f"<h1>Class report{': ' + e(title) if title else ''}</h1>")
    counts: dict[str, int] = {}
    for en in entries:
        counts[en.status] = counts.get(en.status, 0) + 1
    b.append(f'<p class="sub">{len(entries)} submissions · ' + " · ".join(f"{n} {e(s)}" for s, n in sorted(counts.items())) + "</p>")
    scored = [percent(final_score(en.record), en.record.max_score) for en in entries if en.record.max_score]  # after the late policy
    if scored:
        b.append(
            f'<p class="note">Score (percent of the maximum): mean {statistics.fmean(scored):.1f}, '
            f"median {statistics.median(scored):.1f}, lowest {min(scored):.1f}, highest {max(scored):.1f}</p>"
        )

    b.append("<h2>Score distribution</h2>")
    b.append(histogram(scored))

    tops = maxima(entries)
    if tops:
        b.append("<h2>Mechanisms</h2>")
        b.append('<p class="sub">Each mechanism\'s points out of its maximum, over the submissions that graded it, and how they spread.</p>')
        b.append('<div style="display: flex; flex-wrap: wrap; gap: 0 24px">')
        for m, top in tops.items():
            graded = [en.record for en in entries if not en.record.error and out_of(en.record, m)]
            got = [subtotal(r, m) for r in graded]
            mean = f"mean {points(round(statistics.fmean(got), 2))}/{points(top)}" if got else "graded by none"
            b.append(
                f'<figure class="mechanism"><figcaption><b>{e(m)}</b>: {e(mean)} · {len(got)} graded</figcaption>'
                f"{histogram([percent(subtotal(r, m), out_of(r, m)) for r in graded], bins=5, width=320, height=160, label=f'{m}: % of its maximum')}</figure>"
            )
        b.append("</div>")

    b.append("<h2>Specs, hardest first</h2>")
    b.append('<p class="sub">The share of the submissions that graded it which passed each spec: the behaviours the class misunderstands come first.</p>')
    b.append('<table><thead><tr><th>spec</th><th class="num">passed</th><th>rate</th><th>behaviour</th></tr></thead><tbody>')
    for spec_id, title_, passed, graded in pass_rates(entries):
        rate = percent(passed, graded)
        b.append(
            f"<tr><td><code>{e(spec_id)}</code></td><td class=\"num\">{passed} of {graded}</td>"
            f"<td>{bar(rate)}</td><td>{e(title_)}</td></tr>"
        )
    b.append("</tbody></table>")

    broke = [en for en in entries if en.status in HARNESS]
    b.append("<h2>Submissions not graded to the end</h2>")
    b.append('<p class="sub">The harness failed on them, or their archive could not be unpacked: each needs a look.</p>')
    if broke:
        b.append("<table><thead><tr><th>submission</th><th>status</th><th>why</th></tr></thead><tbody>")
        for en in broke:
            b.append(f"<tr><td>{_link(en.id, links)}</td><td>{e(en.status)}</td><td>{e(en.reason)}</td></tr>")
        b.append("</tbody></table>")
    else:
        b.append("<p>None: every submission was graded to the end.</p>")

    if similarity is not None:
        b.append(similarity_section(similarity, links))

    mechs = mechanisms(entries)
    b.append("<h2>Every submission</h2>")
    head = "".join(f'<th class="num">{e(m)} /{e(points(tops[m]))}</th>' for m in mechs)
    b.append(f'<table><thead><tr><th>submission</th><th class="num">total</th>{head}<th>status</th></tr></thead><tbody>')
    for en in entries:
        rec = en.record
        cells = "".join(
            f'<td class="num">{e(points(subtotal(rec, m))) + "/" + e(points(out_of(rec, m))) if any(s.mechanism == m for s in rec.specs) else ""}</td>' for m in mechs
        )
        note = (rec.meta.get("late") or {}).get("note")
        total = f"{e(points(final_score(rec)))}/{e(points(rec.max_score))}" + (f' <span title="{e(note)}">(late)</span>' if note and final_score(rec) != rec.score else "")
        b.append(
            f'<tr><td>{_link(en.id, links)}</td><td class="num">{total}</td>{cells}<td>{e(en.status)}</td></tr>'
        )
    b.append("</tbody></table>")
    return page(f"Class report{': ' + title if title else ''}", "\n".join(b))


def similarity_section(summary: Summary, links: bool = True) -> str:
    """The flagged pairs: each pair's score per mechanism (bold where flagged) and a link to
    its side-by-side view."""
    b = ["<h2>Similarity (instructors only)</h2>"]
    refs = ", ".join(summary.references) or "no bundled reference"
    template = "Code of the template does not count." if summary.template else "No template was found: its code counts."
    b.append(
        f'<p class="sub">{len(summary.submissions)} submissions compared per mechanism with each other and with {e(refs)}. '
        f"{template} Between two submissions, code a reference has does not count either. A score is the share of one "
        "side's code that the other has too, whatever its identifiers, strings, comments and layout (copydetect's "
        f"winnowing, k = {summary.noise}, window {summary.window}); a mechanism is flagged at {summary.threshold}% of "
        f"either side's code, if that is at least {summary.min_shared} characters once normalised.</p>"
    )
    for note in summary.notes:
        b.append(f'<p class="note">{e(note)}</p>')
    if not summary.pairs:
        b.append("<p>No pair flagged.</p>")
        return "\n".join(b)
    mechs = sorted({m.mechanism for p in summary.pairs for m in p.matches}, key=lambda m: (mechanism_order(m), m))
    head = "".join(f'<th class="num">{e(m)}</th>' for m in mechs)
    b.append(f'<table><thead><tr><th>submission</th><th>shares code with</th><th class="num">score</th>{head}<th>view</th></tr></thead><tbody>')
    for p in summary.pairs:
        cells = []
        for mech in mechs:
            m = p.match(mech)
            if m is None:
                cells.append('<td class="num"></td>')
                continue
            text = f"{m.score}%"
            title_ = f"{m.score_a}% of {p.a}'s code, {m.score_b}% of {p.b}'s"
            cells.append(f'<td class="num" title="{e(title_)}">' + (f"<strong>{text}</strong>" if m.flagged else text) + "</td>")
        other = f"{e(p.b)}" if p.reference else _link(p.b, links)
        view = f'<a href="{e(p.page)}" style="white-space: nowrap">side by side</a>' if links else ""
        b.append(
            f'<tr><td>{_link(p.a, links)}</td><td>{other}</td><td class="num"><strong>{p.score}%</strong></td>{"".join(cells)}<td>{view}</td></tr>'
        )
    b.append("</tbody></table>")
    return "\n".join(b)


def _link(submission: str, links: bool) -> str:
    if not links:
        return e(submission)
    return f'<a href="submissions/{e(submission)}/report.html">{e(submission)}</a>'


def histogram(scores: Sequence[float], bins: int = 10, width: int = 640, height: int = 240, label: str = "score (% of the maximum)") -> str:
    """An inline SVG bar chart of SCORES (percentages) in BINS equal bins, captioned LABEL."""
    left, bottom, top = 40, 36, 16
    counts = [0] * bins
    for s in scores:
        counts[min(int(s * bins / 100), bins - 1)] += 1
    peak = max(counts, default=0) or 1
    plot_w, plot_h = width - left - 10, height - bottom - top
    slot = plot_w / bins
    parts = [
        f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{e(label)}: {len(scores)} submissions">',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#57606a"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#57606a"/>',
    ]
    for i, n in enumerate(counts):
        h = plot_h * n / peak
        x = left + i * slot + 3
        y = top + plot_h - h
        parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{slot - 6:.1f}" height="{h:.1f}" fill="#1a7f37"><title>{n} submissions</title></rect>')
        if n:
            parts.append(f'<text x="{x + (slot - 6) / 2:.1f}" y="{y - 4:.1f}" text-anchor="middle">{n}</text>')
        parts.append(f'<text x="{left + i * slot + slot / 2:.1f}" y="{top + plot_h + 16:.1f}" text-anchor="middle">{i * 100 // bins}–{(i + 1) * 100 // bins}</text>')
    parts.append(f'<text x="{left + plot_w / 2:.1f}" y="{height - 4}" text-anchor="middle">{e(label)}</text>')
    parts.append(f'<text x="{left - 8}" y="{top + 10}" text-anchor="end">{peak}</text>')
    parts.append(f'<text x="{left - 8}" y="{top + plot_h}" text-anchor="end">0</text>')
    parts.append("</svg>")
    return "\n".join(parts)

