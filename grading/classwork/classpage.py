"""The class page (HTML): the score distribution, each mechanism's spread, every spec's pass rate,
the submissions not graded to the end, the pairs similarity flagged (when it was checked: for
instructors only) and every submission, from the entries of gradebook.py. Pure and
deterministic: rows sorted by submission id, no time fields. The page is
render/templates/class.html, autoescaped (render/pages.py); this module gives it its numbers.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from conformance.record import mechanism_order

from ..late import final_score
from ..render import i18n, pages
from ..render.present import one_sentence, percent, points
from .gradebook import HARNESS, Entry, maxima, mechanisms, out_of, pass_rates, subtotal

if TYPE_CHECKING:
    from .similarity.model import Summary


def render(entries: Sequence[Entry], title: str = "", links: bool = True, similarity: Summary | None = None, language: str | None = None) -> str:
    """The class page: pass rate of every spec, the score distribution, what broke the harness,
    the pairs SIMILARITY flagged (when given), and every submission (linking to its own report,
    and to the side-by-side views, when LINKS). In LANGUAGE, by default the records' (the
    rubric's ``language``); the similarity section, for instructors only, stays in English."""
    entries = sorted(entries, key=lambda en: en.id)
    t = i18n.translator(language if language is not None else _language(entries))
    counts: dict[str, int] = {}
    for en in entries:
        counts[en.status] = counts.get(en.status, 0) + 1
    scored = [percent(final_score(en.record), en.record.max_score) for en in entries if en.record.max_score]  # after the late policy
    scores = None
    if scored:
        scores = {"mean": statistics.fmean(scored), "median": statistics.median(scored), "lowest": min(scored), "highest": max(scored)}
    tops = maxima(entries)
    figures = []
    for m, top in tops.items():
        graded = [en.record for en in entries if not en.record.error and out_of(en.record, m)]
        got = [subtotal(r, m) for r in graded]
        figures.append({
            "mechanism": m,
            "mean": t._("mean %(got)s/%(top)s", got=points(round(statistics.fmean(got), 2)), top=points(top)) if got else t._("graded by none"),
            "graded": len(got),
            "histogram": histogram([percent(subtotal(r, m), out_of(r, m)) for r in graded], bins=5, width=320, height=160,
                                   label=t._("%(mechanism)s: %% of its maximum", mechanism=m)),
        })
    mechs = mechanisms(entries)
    rows = []
    for en in entries:
        rec = en.record
        note = (rec.meta.get("late") or {}).get("note")
        rows.append({
            "id": en.id,
            "total": final_score(rec),
            "max": rec.max_score,
            "late": t.sentence(note) if note and final_score(rec) != rec.score else None,
            "cells": [(subtotal(rec, m), out_of(rec, m)) if any(s.mechanism == m for s in rec.specs) else None for m in mechs],
            "status": en.status,
        })
    return pages.render(
        "class.html",
        title=title,
        links=links,
        entries=entries,
        counts=sorted(counts.items()),
        scores=scores,
        distribution=histogram(scored, label=t._("score (%(percent)s of the maximum)", percent="%")),
        figures=figures,
        rates=[(spec_id, t.title(SimpleNamespace(id=spec_id, title=spec_title)), passed, graded) for spec_id, spec_title, passed, graded in pass_rates(entries)],
        reasons={en.id: _reason(en, t) for en in entries},
        broke=[en for en in entries if en.status in HARNESS],
        regrades=[(en.id, en.record.regrade) for en in entries if en.record.regrade],
        similarity=similarity,
        references=", ".join(similarity.references) if similarity is not None else "",
        similar_mechanisms=_similar_mechanisms(similarity, mechs),
        mechanisms=mechs,
        tops=tops,
        rows=rows,
        lang=t.language,
        _=t._,
        ngettext=t.ngettext,
    )


def _language(entries: Sequence[Entry]) -> str:
    """The language the ENTRIES' reports are in (the rubric's, in every record), English when they differ."""
    languages = {i18n.language_of(en.record) for en in entries}
    return languages.pop() if len(languages) == 1 else "en"


def _reason(entry: Entry, t: i18n.Translator) -> str:
    """Why ENTRY was not graded to the end (Entry.reason), in T's language."""
    rec = entry.record
    said = i18n.localized(i18n.rendered_in(rec, t.language))  # the record's sentences, from its words
    if rec.error:
        return one_sentence(said.error or "")
    if rec.meta.get("interrupt_note"):
        return one_sentence(said.meta["interrupt_note"])
    broken = [s.id for s in rec.specs if s.status == "broken"]
    return t._("the grader failed on %(specs)s", specs=", ".join(broken)) if broken else ""


def _similar_mechanisms(summary: Summary | None, graded: Sequence[str]) -> list[str]:
    """The mechanisms the flagged pairs share code for, in the registry's order: only those the
    class was graded on (the rubric's), a column each."""
    if summary is None:
        return []
    return sorted({m.mechanism for p in summary.pairs for m in p.matches if m.mechanism in graded}, key=lambda m: (mechanism_order(m), m))


@dataclass
class Histogram:
    """An SVG bar chart of scores (percentages) in equal bins, as templates/macros.html draws it."""

    label: str
    count: int
    width: int
    height: int
    left: int = 40
    top: int = 16
    bottom: int = 36
    peak: int = 1
    bars: list[dict[str, Any]] = field(default_factory=list)

    @property
    def plot_width(self) -> int:
        return self.width - self.left - 10

    @property
    def bottom_y(self) -> int:
        """Where the bars stand (the x axis)."""
        return self.height - self.bottom

    @property
    def right(self) -> int:
        return self.left + self.plot_width


def histogram(scores: Sequence[float], bins: int = 10, width: int = 640, height: int = 240, label: str = "score (% of the maximum)") -> Histogram:
    """SCORES (percentages) in BINS equal bins, captioned LABEL: each bar's place and size."""
    counts = [0] * bins
    for s in scores:
        counts[min(int(s * bins / 100), bins - 1)] += 1
    h = Histogram(label=label, count=len(scores), width=width, height=height, peak=max(counts, default=0) or 1)
    plot_h = h.bottom_y - h.top
    slot = h.plot_width / bins
    for i, n in enumerate(counts):
        tall = plot_h * n / h.peak
        h.bars.append({
            "n": n,
            "x": h.left + i * slot + 3,
            "y": h.top + plot_h - tall,
            "width": slot - 6,
            "height": tall,
            "middle": h.left + i * slot + slot / 2,
            "range": f"{i * 100 // bins}–{(i + 1) * 100 // bins}",
        })
    return h
