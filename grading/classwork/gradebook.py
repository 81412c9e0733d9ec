"""A class's results as data: each submission's entry and its status, per-mechanism points, every
spec's pass rate, and the gradebook (CSV), from the run records of every submission (and, when
it was checked, the class's similarity: a column only this instructors' document shows). Pure
and deterministic: rows sorted by submission id, no time fields.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from conformance.record import RunRecord, mechanism_order

from ..late import final_score
from ..render.inert import csv_text
from ..render.present import one_sentence, points

if TYPE_CHECKING:
    from .similarity.model import Summary

#: Gradebook statuses (docs/batch.md): what happened to a submission as a whole.
GRADED = "graded"
BROKEN_SPECS = "graded-with-broken-specs"
NOT_GRADABLE = "not-gradable"
TIMEOUT = "timeout"
CRASHED = "crashed"
BAD_ARCHIVE = "bad-archive"
INTERRUPTED = "interrupted"
#: Statuses of a submission that was not graded to the end, which the instructor must look at:
#: the harness failed on it, its archive could not be unpacked, or Ctrl-C stopped the batch
#: before its grading ended (docs/batch.md). The class page lists them, the batch exits 1 (130
#: when interrupted), and lms.csv leaves their cells empty.
HARNESS = (CRASHED, TIMEOUT, BROKEN_SPECS, BAD_ARCHIVE, INTERRUPTED)


@dataclass
class Entry:
    id: str
    record: RunRecord

    @property
    def status(self) -> str:
        return status_of(self.record)

    @property
    def reason(self) -> str:
        rec = self.record
        if rec.error:
            return one_sentence(rec.error)
        if rec.meta.get("interrupt_note"):
            return one_sentence(rec.meta["interrupt_note"])
        broken = [s.id for s in rec.specs if s.status == "broken"]
        return f"the grader failed on {', '.join(broken)}" if broken else ""


def status_of(record: RunRecord) -> str:
    kind = record.meta.get("error_kind")
    if kind == INTERRUPTED:  # its verdicts reached stand, but it was not graded to the end
        return INTERRUPTED
    if record.error is None:
        return BROKEN_SPECS if any(s.status == "broken" for s in record.specs) else GRADED
    if kind is None:
        return NOT_GRADABLE  # the plugin's own: no manifest, a bad one, a failed build
    if kind == "session-timeout":
        return TIMEOUT
    if kind == BAD_ARCHIVE:
        return BAD_ARCHIVE
    return CRASHED


def mechanisms(entries: Sequence[Entry]) -> list[str]:
    """Every mechanism any record graded, in the registry's order."""
    seen = {s.mechanism for entry in entries for s in entry.record.specs}
    return sorted(seen, key=lambda m: (mechanism_order(m), m))


def subtotal(record: RunRecord, mechanism: str) -> float:
    if record.error:
        return 0.0
    return sum(s.points for s in record.specs if s.mechanism == mechanism and s.counted)


def out_of(record: RunRecord, mechanism: str) -> float:
    """What MECHANISM's counted specs were worth in RECORD (its maximum there)."""
    return sum(s.max_points for s in record.specs if s.mechanism == mechanism and s.counted)


def maxima(entries: Sequence[Entry]) -> dict[str, float]:
    """Each mechanism's maximum: the most any submission could get for it (the rubric's points;
    a spec unsupported for one submission lowers only that submission's own maximum)."""
    return {m: max((out_of(en.record, m) for en in entries), default=0.0) for m in mechanisms(entries)}


def gradebook(entries: Sequence[Entry], similarity: Summary | None = None) -> str:
    """One row per submission, sorted by id: id, total, max, a subtotal per mechanism, status,
    reason, regrade (why an instructor must regrade it: a spec the grader could not judge, which
    counts 0 points meanwhile; empty for most), failed_required (the rubric's required specs it
    did not pass, by id, space-separated); when a late policy was applied to some, `before_late` (the score it was graded) and
    `late` (what the policy decided), with `total` the score after it; with SIMILARITY, a last
    column `similarity`: whom the submission is flagged with. Every cell through inert.csv_cell:
    no text from a submission (its id, its reason) is read as a formula."""
    entries = sorted(entries, key=lambda en: en.id)
    mechs = mechanisms(entries)
    late = any(en.record.meta.get("late") for en in entries)
    rows = [["id", "total", "max", *mechs, "status", "reason", "regrade", "failed_required",
             *(["before_late", "late"] if late else []), *(["similarity"] if similarity else [])]]
    for en in entries:
        rec = en.record
        decided = rec.meta.get("late") or {}
        rows.append(
            [
                en.id,
                points(final_score(rec)),
                points(rec.max_score),
                *(points(subtotal(rec, m)) if any(s.mechanism == m for s in rec.specs) else "" for m in mechs),
                en.status,
                en.reason,
                rec.regrade or "",
                " ".join(s.id for s in rec.specs if s.required and s.status != "passed"),
                *([points(rec.score), _late_cell(decided)] if late else []),
                *([similarity.gradebook_cell(en.id)] if similarity else []),
            ]
        )
    return csv_text(rows)


def _late_cell(decided: dict) -> str:
    if not decided:
        return ""
    if decided.get("submission_limit"):
        return f"submission {decided['submission_limit']['number']} past the limit of {decided['submission_limit']['limit']}"
    if decided.get("days") is None:
        return "time or due date unknown"
    return f"{decided['days']} days late, -{decided.get('penalty_percent', 0):g}%" if decided["days"] else "on time"


def pass_rates(entries: Sequence[Entry]) -> list[tuple[str, str, int, int]]:
    """(spec id, title, passed, graded) for every spec, lowest pass rate first.

    A submission counts for a spec when it graded it (the run did not fail, the spec counted).
    """
    rates: dict[str, list] = {}
    for en in entries:
        if en.record.error:
            continue
        for s in en.record.specs:
            if not s.counted:
                continue
            row = rates.setdefault(s.id, [s.title, 0, 0])
            row[1] += s.status == "passed"
            row[2] += 1
    rows = [(spec_id, t, p, g) for spec_id, (t, p, g) in rates.items()]
    return sorted(rows, key=lambda r: (r[2] / r[3] if r[3] else 1.0, r[0]))

