"""The rubric's late policy and submission limit, applied to a graded run.

A rubric's ``[late]`` (rubric.LatePolicy) travels in the run record (meta ``rubric.late``), so
the policy needs only the submission time to be applied, wherever that is known:

- ``ipc-grade batch --roster`` reads it from the roster's ``submitted_at`` column (classwork/roster.py);
- the Gradescope kit reads ``created_at`` and the assignment's ``due_date`` from
  ``/autograder/submission_metadata.json`` (``gradescope_metadata``), and the earlier
  submissions from its ``previous_submissions`` (the submission limit).

Applying it adds meta ``late`` to the record: what was decided and a sentence every report
shows (present.View.warnings). The spec results are left as graded; the final score is
``final_score(record)``: the run's score less the penalty. Pure: no clock is read.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conformance.record import RunRecord

from .rubric import LatePolicy, parse_time, points


class MetadataError(ValueError):
    """submission_metadata.json cannot be used; the message says what is wrong with it."""


def policy_of(record: RunRecord) -> LatePolicy | None:
    """The late policy the record's rubric carries, or None."""
    data = (record.meta.get("rubric") or {}).get("late")
    if not data:
        return None
    try:
        return LatePolicy.of(data)
    except (KeyError, TypeError, ValueError):
        return None


def final_score(record: RunRecord) -> float:
    """The score after the late policy and the submission limit (the run's score without them)."""
    late = record.meta.get("late") or {}
    if isinstance(late.get("score"), (int, float)):
        return float(late["score"])
    return record.score


def apply(record: RunRecord, submitted_at: dt.datetime | None, *, due: dt.datetime | None = None, source: str = "") -> RunRecord:
    """RECORD with its rubric's late policy applied to a submission made at SUBMITTED_AT. The
    rubric's due date wins; DUE (the platform's own) serves when the rubric gives none.
    Unchanged without a policy. SOURCE says where the time came from (for the note)."""
    policy = policy_of(record)
    if policy is None:
        return record
    before = record.score
    due = policy.due or due
    late: dict[str, Any] = {"score_before": before, "score": before, "due_at": due.isoformat() if due else None}
    if submitted_at is None:
        late.update(days=None, penalty_percent=0.0, note="Late policy: the submission time is not known, so no late penalty was applied.")
    elif due is None:
        late.update(
            submitted_at=submitted_at.isoformat(), days=None, penalty_percent=0.0,
            note="Late policy: no due date is set (neither the rubric's [late] due nor the platform's), so no late penalty was applied.",
        )
    else:
        days = policy.days_late(submitted_at, due)
        pct = policy.penalty_percent(days)
        score = round(before * (1 - pct / 100), 6)
        when = f"submitted {submitted_at.isoformat(timespec='minutes')}" + (f" ({source})" if source else "")
        if days == 0:
            note = f"On time: {when}, due {due.isoformat(timespec='minutes')}; no late penalty."
        elif pct >= 100 and policy.max_days is not None and days > policy.max_days:
            note = (
                f"Late: {when}, {days} day{'s' if days != 1 else ''} after the due date {due.isoformat(timespec='minutes')}, "
                f"past the {policy.max_days}-day limit: score {points(before)} becomes 0."
            )
        else:
            note = (
                f"Late: {when}, {days} day{'s' if days != 1 else ''} after the due date {due.isoformat(timespec='minutes')}; "
                f"penalty {pct:g}% ({policy.penalty_per_day:g}% a day): score {points(before)} becomes {points(score)} "
                f"of {points(record.max_score)}."
            )
        late.update(submitted_at=submitted_at.isoformat(), days=days, penalty_percent=pct, score=score, note=note)
    return RunRecord(implementation=dict(record.implementation), specs=list(record.specs), error=record.error, meta={**record.meta, "late": late})


# --- Gradescope ----------------------------------------------------------------------------


@dataclass
class Metadata:
    """What the kit uses of Gradescope's submission_metadata.json (its documented fields:
    ``created_at``, ``assignment.due_date``, ``previous_submissions[].submission_time`` and
    ``.score``)."""

    submitted_at: dt.datetime | None
    due: dt.datetime | None
    previous: list[tuple[dt.datetime, float]] = field(default_factory=list)
    """Earlier submissions of this student, oldest first: (time, score)."""


def gradescope_metadata(path: str | os.PathLike[str]) -> Metadata:
    """The metadata in PATH; MetadataError says what is wrong (missing, not JSON, a bad time)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MetadataError(f"{path}: no such file (Gradescope writes it for every submission)") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise MetadataError(f"{path}: not readable JSON ({exc})") from None
    if not isinstance(data, dict):
        raise MetadataError(f"{path}: a JSON object was expected, not {type(data).__name__}")

    def when(value: Any, what: str) -> dt.datetime | None:
        if value in (None, ""):
            return None
        try:
            return parse_time(value)
        except ValueError as exc:
            raise MetadataError(f"{path}: {what}: {exc}") from None

    assignment = data.get("assignment") if isinstance(data.get("assignment"), dict) else {}
    previous = []
    for n, item in enumerate(data.get("previous_submissions") or []):
        if not isinstance(item, dict):
            raise MetadataError(f"{path}: previous_submissions[{n}] is not an object")
        moment = when(item.get("submission_time"), f"previous_submissions[{n}].submission_time")
        try:
            score = float(item.get("score") or 0.0)
        except (TypeError, ValueError):
            raise MetadataError(f"{path}: previous_submissions[{n}].score {item.get('score')!r} is not a number") from None
        if moment is not None:
            previous.append((moment, score))
    return Metadata(
        submitted_at=when(data.get("created_at"), "created_at"),
        due=when(assignment.get("due_date"), "assignment.due_date"),
        previous=sorted(previous, key=lambda p: p[0]),
    )


def apply_gradescope(record: RunRecord, meta: Metadata) -> RunRecord:
    """RECORD with the late policy (from META's times) and the submission limit applied."""
    record = apply(record, meta.submitted_at, due=meta.due, source="Gradescope")
    limit = (record.meta.get("rubric") or {}).get("submission_limit")
    if not limit or len(meta.previous) < int(limit):
        return record
    number = len(meta.previous) + 1
    kept_at, kept = meta.previous[int(limit) - 1]
    note = (
        f"Submission limit: this is submission {number}, and only the first {limit} count. It was graded for "
        f"your feedback; the score stays {points(kept)}, that of submission {limit} ({kept_at.isoformat(timespec='minutes')})."
    )
    late = dict(record.meta.get("late") or {"score_before": record.score})
    late["score"] = kept
    late["note"] = (late["note"] + " " if late.get("note") else "") + note
    late["submission_limit"] = {"limit": int(limit), "number": number, "kept_score": kept}
    return RunRecord(implementation=dict(record.implementation), specs=list(record.specs), error=record.error, meta={**record.meta, "late": late})
