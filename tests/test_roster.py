"""Gradebooks for an LMS: `batch --roster` joins submissions to students and writes lms.csv in
Canvas's gradebook-import columns, with the rubric's late policy at the roster's times; `--only`
regrades a few submissions into an earlier batch; the class page shows each mechanism out of its
maximum, with a chart per mechanism."""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from harness import _env

from conformance import locate
from conformance.record import RunRecord, SpecResult, failed_run
from grading.classwork import classpage, gradebook, roster

#: Canvas's gradebook import: the student columns of its own export, then one column per
#: assignment ("Name (id)" updates that assignment). Moodle maps any of them at import.
CANVAS_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]

RUBRIC = """\
title = "Lab 1"
mechanisms = []
total = 10
[spec."pipe.uses-pipe"]
[spec."pipe.eof-on-close"]
[late]
due = 2026-03-01T23:59:00-05:00
penalty_per_day = 10
"""

ROSTER = """\
Student,ID,SIS User ID,SIS Login ID,Section,submission,submitted_at
"Doe, Alice",101,S1,alice,A,alice,2026-03-03T10:00:00-05:00
"Roe, Bob",102,S2,bob,A,bob,2026-03-01T10:00:00-05:00
"Poe, Carol",103,S3,carol,B,carol,
"Zed, Dan",104,S4,dan,B,,
"""


def _rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def _batch(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grading.cli", "batch", *args], capture_output=True, text=True, timeout=300, env=_env(), cwd=cwd)


@pytest.fixture(scope="module")
def klass(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("lms")
    cls = base / "cls"
    shutil.copytree(locate.bundled("reference"), cls / "alice", ignore=shutil.ignore_patterns("c", "__pycache__"))
    shutil.copytree(locate.bundled("student_template"), cls / "bob", ignore=shutil.ignore_patterns("c", "__pycache__"))
    (cls / "carol").mkdir()
    (cls / "carol" / "README").write_text("forgot the manifest\n")
    (base / "r.toml").write_text(RUBRIC)
    (base / "roster.csv").write_text("\ufeff" + ROSTER)  # Canvas's and Excel's exports start with a BOM
    proc = _batch("cls", "--out", "out", "--rubric", "r.toml", "--roster", "roster.csv", "--assignment", "Lab 1 (4242)", cwd=base)
    assert proc.returncode == 0, proc.stderr
    (base / "progress.txt").write_text(proc.stderr)
    return base


def test_lms_csv_has_canvas_columns_and_final_scores(klass):
    rows = _rows((klass / "out" / "lms.csv").read_text())
    assert rows[0] == [*CANVAS_COLUMNS, "Lab 1 (4242)"]
    # the roster's order; alice 2 days late (-20%), bob on time with nothing implemented,
    # carol without a manifest (her doing: 0), dan without a submission (empty: left as it is)
    assert rows[1:] == [
        ["Doe, Alice", "101", "S1", "alice", "A", "8"],
        ["Roe, Bob", "102", "S2", "bob", "A", "0"],
        ["Poe, Carol", "103", "S3", "carol", "B", "0"],
        ["Zed, Dan", "104", "S4", "dan", "B", ""],
    ]


def test_the_late_policy_is_on_each_report_and_in_the_gradebook(klass):
    assert "Late: submitted 2026-03-03T10:00-05:00 (the roster), 2 days after" in (klass / "out" / "submissions" / "alice" / "report.md").read_text()
    book = {r["id"]: r for r in csv.DictReader((klass / "out" / "gradebook.csv").open())}
    assert (book["alice"]["total"], book["alice"]["before_late"], book["alice"]["late"]) == ("8", "10", "2 days late, -20%")
    assert book["bob"]["late"] == "on time"
    # the class page counts the score after the policy: (80 + 0 + 0) / 3 percent
    page = (klass / "out" / "class.html").read_text()
    assert "mean 26.7" in page and "8/10 <span" in page
    # and so does the progress line, which an instructor watches as the batch runs
    assert "alice: 8/10 " in (klass / "progress.txt").read_text()


def test_only_regrades_a_few_into_the_batch(klass):
    alice = (klass / "out" / "submissions" / "alice" / "record.json").read_bytes()
    book = (klass / "out" / "gradebook.csv").read_bytes()
    proc = _batch("cls", "--out", "out", "--rubric", "r.toml", "--roster", "roster.csv", "--assignment", "Lab 1 (4242)", "--only", "bob", cwd=klass)
    assert proc.returncode == 0, proc.stderr
    assert "1/1 bob" in proc.stderr
    assert (klass / "out" / "submissions" / "alice" / "record.json").read_bytes() == alice
    assert (klass / "out" / "gradebook.csv").read_bytes() == book
    # refused: an id not in DIR, another rubric, no earlier batch
    assert _batch("cls", "--out", "out", "--rubric", "r.toml", "--only", "zoe", cwd=klass).returncode == 2
    other = _batch("cls", "--out", "out", "--only", "bob", cwd=klass)
    assert other.returncode == 2 and "another rubric" in other.stderr
    fresh = _batch("cls", "--out", "fresh", "--rubric", "r.toml", "--only", "bob", cwd=klass)
    assert fresh.returncode == 2 and "without --only first" in fresh.stderr


@pytest.mark.parametrize(
    "text, needle",
    [
        ("Student,ID\nx,1\n", "no 'submission' column"),
        ("submission\nalice\nalice\n", "also on line 2"),
        ("submission,submitted_at\nalice,2026-03-01 10:00\n", "no UTC offset"),
        ("", "empty"),
    ],
)
def test_a_bad_roster_names_its_line_and_the_fix(tmp_path, text, needle):
    (tmp_path / "r.csv").write_text(text)
    with pytest.raises(roster.RosterError) as exc:
        roster.load(tmp_path / "r.csv")
    assert needle in str(exc.value)


def test_a_roster_needs_only_the_submission_column(tmp_path):
    (tmp_path / "r.csv").write_text(" Submission ,sis user id\nalice,S1\n")
    r = roster.load(tmp_path / "r.csv")
    rec = RunRecord({"name": "alice", "path": "/x"}, [SpecResult("pipe.a", "pipe", "a", "passed", 2.0, 2.0)])
    broken = RunRecord({"name": "bob", "path": "/y"}, [SpecResult("pipe.a", "pipe", "a", "broken", 0.0, 2.0)])
    assert _rows(roster.lms_csv(r, [gradebook.Entry("alice", rec), gradebook.Entry("bob", broken)], "IPC")) == [
        [*CANVAS_COLUMNS, "IPC"],
        ["", "", "S1", "", "", "2"],
    ]
    assert roster.check(r, ["alice", "bob"]) == [f"submission 'bob' is not in the roster {tmp_path / 'r.csv'}: it is graded, but has no row in lms.csv"]


def test_the_class_page_shows_each_mechanism_out_of_its_maximum():
    def rec(name: str, pipe: float, msgq: float) -> gradebook.Entry:
        specs = [
            SpecResult("pipe.a", "pipe", "a", "passed" if pipe else "failed", pipe, 3.0),
            SpecResult("msgq.b", "msgq", "b", "passed" if msgq else "failed", msgq, 2.0),
        ]
        return gradebook.Entry(name, RunRecord({"name": name, "path": "/" + name}, specs))

    entries = [rec("a", 3.0, 2.0), rec("b", 0.0, 2.0), gradebook.Entry("c", failed_run({"name": "c", "path": "/c"}, "no ipc.toml."))]
    assert gradebook.maxima(entries) == {"pipe": 3.0, "msgq": 2.0}
    page = classpage.render(entries, "t")
    assert "<h2>Mechanisms</h2>" in page and page.count('<figure class="mechanism">') == 2
    assert "<b>pipe</b>: mean 1.5/3 · 2 graded" in page and 'aria-label="msgq: % of its maximum: 2 submissions"' in page
    assert '<th class="num">pipe /3</th>' in page and '<td class="num">0/3</td>' in page
