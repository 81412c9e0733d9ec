"""Rubrics: selection, points, visibility and required flags; every mistake names its line and
the fix; the plugin grades only what a rubric selects; the documented example is valid."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from dataclasses import dataclass

import pytest
from harness import ROOT, grade

from conformance import catalogue, locate
from conformance.record import RunRecord, SpecResult
from grading.rubric import KeyLines, RubricError, load, loads

EXAMPLE = ROOT / "docs" / "examples" / "pipes-and-queues.toml"


@dataclass(frozen=True)
class Meta:
    id: str
    mechanism: str
    points: float
    hint: str = ""


CATALOGUE = [
    Meta("pipe.a", "pipe", 3),
    Meta("pipe.b", "pipe", 1),
    Meta("msgq.c", "msgq", 2, "own hint"),
    Meta("msgq.d", "msgq", 2),
    Meta("fifo.e", "fifo", 5),
]


def rubric(text: str):
    return loads(textwrap.dedent(text), CATALOGUE, source="r.toml")


def error(text: str) -> str:
    with pytest.raises(RubricError) as info:
        rubric(text)
    return str(info.value)


def test_without_a_rubric_table_every_spec_counts_with_its_own_points():
    r = rubric("")
    assert {i: x.points for i, x in r.rules.items()} == {"pipe.a": 3, "pipe.b": 1, "msgq.c": 2, "msgq.d": 2, "fifo.e": 5}
    assert all(x.visibility == "visible" and not x.required for x in r.rules.values())


def test_mechanisms_select_and_spec_tables_add_or_leave_out():
    r = rubric(
        """
        mechanisms = ["pipe"]
        [spec."msgq.c"]
        points = 4
        [spec."pipe.b"]
        grade = false
        """
    )
    assert list(r.rules) == ["pipe.a", "msgq.c"]
    assert r.rules["msgq.c"].points == 4


def test_mechanism_points_total_visibility_required_and_hints():
    r = rubric(
        """
        title = "Lab"
        mechanisms = ["pipe", "msgq"]
        total = 100
        visibility = "after_published"
        [mechanism.pipe]
        points = 30
        required = true
        [mechanism.msgq]
        points = 10
        visibility = "hidden"
        [spec."pipe.b"]
        points = 3
        visibility = "visible"
        hint = "read the man page"
        required = false
        """
    )
    pts = {i: x.points for i, x in r.rules.items()}
    # pipe: a and b share 30 as 3:3; msgq: c and d share 10; then everything is scaled to 100
    assert pts == {"pipe.a": 37.5, "pipe.b": 37.5, "msgq.c": 12.5, "msgq.d": 12.5}
    assert r.max_points == 100 and r.title == "Lab"
    assert r.rules["pipe.a"].required and not r.rules["pipe.b"].required
    assert r.rules["pipe.a"].visibility == "after_published" and r.rules["pipe.b"].visibility == "visible"
    assert r.rules["msgq.c"].visibility == "hidden"
    assert r.rules["pipe.b"].hint == "read the man page" and r.rules["msgq.c"].hint is None


def test_scaled_points_add_up_to_the_total_exactly():
    r = rubric("total = 10\n[spec.\"pipe.b\"]\npoints = 2\n")  # 3 + 2 + 2 + 2 + 5 = 14 -> 10
    assert sum(x.points for x in r.rules.values()) == pytest.approx(10, abs=1e-9)
    assert r.max_points == 10


def test_apply_keeps_only_the_rubrics_specs_with_its_points():
    r = rubric('mechanisms = ["pipe"]\ntotal = 8\n[spec."pipe.a"]\nrequired = true\nhint = "new"\n')
    rec = RunRecord(
        implementation={"path": "/x", "name": "x"},
        specs=[
            SpecResult("pipe.a", "pipe", "A", "passed", 3, 3, hint="old"),
            SpecResult("pipe.b", "pipe", "B", "failed", 0, 1),
            SpecResult("msgq.c", "msgq", "C", "passed", 2, 2),
        ],
    )
    out = r.apply(rec)
    assert [s.id for s in out.specs] == ["pipe.a", "pipe.b"]
    assert (out.score, out.max_score) == (6, 8)
    assert out.specs[0].required and out.specs[0].hint == "new"
    assert out.meta["rubric"]["required"] == ["pipe.a"] and out.meta["rubric"]["total"] == 8


@pytest.mark.parametrize("other", ["passed", "failed"])
def test_a_total_is_shared_by_the_specs_this_machine_can_judge(other):
    """Under Docker's capabilities a spec may be unsupported (not counted): with a total, the
    specs that count share it, so correct work gets the total wherever it is graded (Gradescope
    knows only the total), and a failure costs its share of the same total."""
    r = rubric('mechanisms = ["pipe", "fifo"]\ntotal = 10\n')  # pipe.a 3, pipe.b 1, fifo.e 5
    rec = RunRecord(
        implementation={"path": "/x", "name": "x"},
        specs=[
            SpecResult("pipe.a", "pipe", "A", "passed", 3, 3),
            SpecResult("pipe.b", "pipe", "B", "unsupported", 0, 1),
            SpecResult("fifo.e", "fifo", "E", other, 5, 5),
        ],
    )
    out = r.apply(rec)
    assert out.max_score == 10 and out.score == (10 if other == "passed" else pytest.approx(3.75))
    assert "pipe.b could not be judged" in out.meta["rubric"]["rescaled"]
    # every spec judged: the rubric's own points, no note
    rec.specs[1].status = "passed"
    again = r.apply(rec)
    assert "rescaled" not in again.meta["rubric"] and [s.max_points for s in again.specs] == [r.rules[s.id].points for s in again.specs]


@pytest.mark.parametrize(
    "text, line, words",
    [
        ('mechanisms = ["pipe"]\n\n[spec."pipe.aa"]\npoints = 2\n', 3, ["unknown spec id 'pipe.aa'", "did you mean 'pipe.a'?", "python -m conformance.catalogue"]),
        ('[spec."pipe.a"]\n# comment\npoints = -2\n', 3, ["negative", "points are 0 or more", "grade = false"]),
        ('visibility = "visible"\n[spec."pipe.a"]\nvisibility = "hiden"\n', 3, ["unknown visibility 'hiden'", "did you mean 'hidden'?", "'visible', 'hidden', 'after_due_date', 'after_published'"]),
        ('mechanisms = ["pipe", "fifoo"]\n', 1, ["unknown mechanism 'fifoo'", "did you mean 'fifo'?"]),
        ('totl = 100\n', 1, ["unknown key 'totl'", "did you mean 'total'?"]),
        ('[spec."pipe.a"]\npoints = 1\nrequird = true\n', 3, ["unknown key 'requird'", "did you mean 'required'?"]),
        ('total = 0\n', 1, ["'total' is 0"]),
        ('total = 5\n[mechanism.fifoo]\npoints = 3\n', 2, ["[mechanism.fifoo] names an unknown mechanism", "did you mean 'fifo'?"]),
        ('mechanisms = ["pipe"]\n[mechanism.msgq]\npoints = 3\n', 2, ["'mechanisms' does not select", 'add "msgq" to mechanisms']),
        ('[spec."pipe.a"]\nrequired = "yes"\n', 2, ["must be true or false", "required = true"]),
        ('mechanisms = []\n', 1, ["selects no spec"]),
    ],
)
def test_a_bad_rubric_names_the_line_and_the_fix(text, line, words):
    message = error(text)
    assert f"r.toml, line {line}:" in message, message
    for word in words:
        assert word in message, (word, message)


def test_every_problem_is_reported_at_once():
    message = error('totl = 1\n[spec."pipe.zz"]\npoints = -1\n[spec."pipe.a"]\npoints = -1\n')
    assert message.count("r.toml, line") == 3


def test_bad_toml_and_missing_files_are_errors_not_tracebacks(tmp_path):
    assert "not valid TOML" in error("total = \n")
    with pytest.raises(RubricError, match="no such file"):
        load(tmp_path / "missing.toml", CATALOGUE)
    (tmp_path / "latin1.toml").write_bytes(b'title = "caf\xe9"\n')
    with pytest.raises(RubricError, match="not UTF-8"):
        load(tmp_path / "latin1.toml", CATALOGUE)


def test_key_lines_follow_tables_dotted_keys_and_skip_multiline_strings():
    lines = KeyLines('a = 1\nhint = """\nx = 2\n"""\n[spec."pipe.a"]\n  points = 3\nspec.\'pipe.b\'.grade = false\n[[arr]]\n')
    assert lines.line_of(("a",)) == 1
    assert lines.line_of(("x",)) is None
    assert lines.line_of(("spec", "pipe.a")) == 5 and lines.line_of(("spec", "pipe.a", "points")) == 6
    assert lines.line_of(("spec", "pipe.a", "spec", "pipe.b", "grade")) == 7
    assert lines.line_of(("spec", "pipe.a", "visibility")) == 5  # the nearest enclosing table


def test_the_documented_example_is_valid_against_the_real_specs():
    specs = catalogue.specs()
    r = load(EXAMPLE, specs)
    mechanisms = {s.mechanism for s in specs if s.id in r.rules}
    assert mechanisms <= {"pipe", "msgq", "mqueue"} and "pipe" in mechanisms
    assert r.max_points == 100
    assert r.rules["pipe.eof-on-close"].required and r.rules["msgq.typed-receive"].required
    assert r.rules["pipe.duplex-large-lines"].visibility == "hidden"
    assert "msgq.concurrent-receivers" not in r.rules


def test_the_rubric_knows_specs_from_their_markers_not_a_list(tmp_path):
    """Every spec id the catalogue reads from the markers is accepted, and only those."""
    ids = [s.id for s in catalogue.specs()]
    text = "".join(f'[spec."{i}"]\npoints = 1\n' for i in ids)
    assert list(loads(text, catalogue.specs()).rules) == ids
    with pytest.raises(RubricError, match="unknown spec id"):
        loads('[spec."pipe.no-such-behaviour"]\n', catalogue.specs())


# --- the plugin: `pytest --impl --rubric` ---------------------------------------------------


def test_pytest_grades_only_the_specs_the_rubric_selects(tmp_path):
    rubric_file = tmp_path / "two.toml"
    rubric_file.write_text(
        'title = "two pipe specs"\nmechanisms = []\ntotal = 10\n'
        '[spec."pipe.uses-pipe"]\nrequired = true\n'
        '[spec."pipe.duplex-two-pipes"]\nvisibility = "hidden"\n'
    )
    rec, proc = grade(locate.bundled("reference"), f"--rubric={rubric_file}", cwd=tmp_path)
    assert [s.id for s in rec.specs] == ["pipe.duplex-two-pipes", "pipe.uses-pipe"], proc.stdout[-2000:]
    assert "deselected" in proc.stdout
    assert rec.max_score == 10 and rec.score == 10
    uses = next(s for s in rec.specs if s.id == "pipe.uses-pipe")
    assert uses.required and uses.max_points == pytest.approx(20 / 3, abs=1e-3)
    assert rec.meta["rubric"]["title"] == "two pipe specs"
    # the grade table students see does not show the hidden spec
    assert "pipe.duplex-two-pipes" not in proc.stdout.split("IPC conformance grade")[-1]


def test_pytest_refuses_a_bad_rubric_with_the_line(tmp_path):
    rubric_file = tmp_path / "bad.toml"
    rubric_file.write_text('mechanisms = ["pipe"]\n[spec."pipe.eof-on-clos"]\npoints = 2\n')
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", f"--impl={locate.bundled('reference')}", f"--rubric={rubric_file}", "-p", "no:cacheprovider", "-q"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 4  # pytest's usage error
    assert "bad.toml, line 2: unknown spec id 'pipe.eof-on-clos'; did you mean 'pipe.eof-on-close'?" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_the_checked_rubric_a_child_grading_reads_is_the_rubric_in_every_field(tmp_path):
    """ipc-grade and batch check the rubric once and hand it to each grading they start
    (grader.write_checked, load_checked): every field a rubric sets comes back as it was (the
    broken policy once did not: a class graded with broken = "exclude" counted broken specs)."""
    import dataclasses

    from grading import grader

    path = tmp_path / "course.toml"
    path.write_text(textwrap.dedent('''\
        title = "Lab 3"
        total = 50
        mechanisms = ["pipe"]
        submission_limit = 3
        broken = "exclude"
        language = "ko"
        [late]
        due = 2026-03-01T23:59:00+09:00
        penalty_per_day = 10
        [spec."pipe.a"]
        points = 4
        visibility = "hidden"
        required = true
        hint = "pipe(2) before fork(2)"
        '''))
    rubric = load(path, CATALOGUE)
    assert not rubric.warnings
    back = grader.load_checked(grader.write_checked(rubric, tmp_path / "checked.json"))
    for f in dataclasses.fields(rubric):
        if f.name != "warnings":  # said once, by the process that checked it
            assert getattr(back, f.name) == getattr(rubric, f.name), f.name
    assert back.broken == "exclude" and back.language == "ko"
