"""`ipc-grade batch --roster ROSTER.csv`: submissions joined to students, for an LMS gradebook.

The roster is a CSV with a header row and one row per student. One column is required:

    submission     the submission's id in DIR (its directory or archive name, without .zip)

and these are used when present (the names of Canvas's gradebook export, so that an export with
a `submission` column added serves as the roster; case and spaces around names do not matter):

    Student        the student's name ("Last, First" in Canvas's export)
    ID             Canvas's user id
    SIS User ID    the institution's student number (Moodle: "ID number")
    SIS Login ID   the login (Moodle: "username")
    Section        the section
    submitted_at   when it was submitted, ISO 8601 with its offset (2026-03-02T08:15:00-05:00,
                   or Z): the rubric's late policy ([late], rubric.md) is applied to it

`lms_csv` writes OUT/lms.csv, one row per roster row, in the roster's order: the five columns
above, then one column, the assignment, with each student's final score (after the late
policy). Canvas's gradebook import reads exactly these columns (an assignment column named
"Title (123)" updates assignment 123; a new name creates an assignment); Moodle's CSV grade
import maps "SIS User ID" to ID number (or "SIS Login ID" to username) and the assignment column
to a grade item. A student without a submission, or whose submission was not graded to the end
(the harness crashed, timed out or broke a spec, or the archive could not be unpacked: the class
page lists them), gets an empty cell: both LMSs then leave the grade as it is, for the
instructor to set.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..late import final_score
from ..render.inert import csv_text
from ..rubric import parse_time, points
from .gradebook import HARNESS, Entry

#: The LMS columns, as Canvas's gradebook import names them, taken from the roster.
LMS_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")


class RosterError(ValueError):
    """The roster cannot be used; the message names the file, the line and the fix."""


@dataclass
class Roster:
    path: str
    rows: list[dict[str, str]] = field(default_factory=list)
    """Each student's LMS columns and 'submission' (and 'submitted_at' when given)."""

    def by_submission(self) -> dict[str, dict[str, str]]:
        return {r["submission"]: r for r in self.rows if r["submission"]}

    def submitted_at(self, ident: str) -> dt.datetime | None:
        row = self.by_submission().get(ident) or {}
        return parse_time(row["submitted_at"]) if row.get("submitted_at") else None

    @property
    def has_times(self) -> bool:
        return any(r.get("submitted_at") for r in self.rows)


def _key(name: str) -> str:
    return " ".join(name.replace("\ufeff", "").split()).casefold()


def load(path: str | os.PathLike[str]) -> Roster:
    """The roster at PATH; RosterError with the line and the fix."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise RosterError(f"--roster {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RosterError(f"--roster {path}: cannot be read as UTF-8 text ({exc})") from None
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if not header:
        raise RosterError(f"--roster {path}: empty; its first line must name the columns, one of them 'submission'")
    columns = {_key(h): n for n, h in enumerate(header)}
    if "submission" not in columns:
        raise RosterError(
            f"--roster {path}: line 1 has no 'submission' column (it has {', '.join(repr(h) for h in header)}); "
            "add one with each student's submission id (the name of their directory or archive in DIR)"
        )
    wanted = {c: columns.get(_key(c)) for c in (*LMS_COLUMNS, "submission", "submitted_at")}
    roster = Roster(str(path))
    seen: dict[str, int] = {}
    for line, row in enumerate(reader, start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) > len(header) and any(c.strip() for c in row[len(header):]):
            raise RosterError(f"--roster {path}, line {line}: {len(row)} cells for {len(header)} columns; quote a cell that holds a comma")
        values = {c: (row[n].strip() if n is not None and n < len(row) else "") for c, n in wanted.items()}
        ident = values["submission"]
        if ident in seen:
            raise RosterError(f"--roster {path}, line {line}: submission {ident!r} is also on line {seen[ident]}; one row per submission")
        if ident:
            seen[ident] = line
        if values["submitted_at"]:
            try:
                parse_time(values["submitted_at"])
            except ValueError as exc:
                raise RosterError(f"--roster {path}, line {line}: submitted_at: {exc}") from None
        roster.rows.append(values)
    return roster


def check(roster: Roster, ids: Sequence[str]) -> list[str]:
    """Notes on submissions in DIR that the roster does not name, and roster rows with no
    submission in DIR (graded nonetheless; their cells stay empty)."""
    known = roster.by_submission()
    notes = [f"submission {i!r} is not in the roster {roster.path}: it is graded, but has no row in lms.csv" for i in ids if i not in known]
    missing = sorted(set(known) - set(ids))
    if missing:
        notes.append(f"{len(missing)} roster rows have no submission in DIR ({', '.join(missing[:5])}{', ...' if len(missing) > 5 else ''}): empty cells in lms.csv")
    return notes


def lms_csv(roster: Roster, entries: Sequence[Entry], assignment: str) -> str:
    """The LMS gradebook (see the module's docstring): the roster's rows, the assignment's column.
    Every cell through inert.csv_cell: a roster field never reaches a spreadsheet as a formula."""
    graded = {en.id: en for en in entries}
    rows = [[*LMS_COLUMNS, assignment]]
    for row in roster.rows:
        en = graded.get(row["submission"])
        score = "" if en is None or en.status in HARNESS else points(final_score(en.record))
        rows.append([*(row[c] for c in LMS_COLUMNS), score])
    return csv_text(rows)
