"""Similarity and integrity see what runs: the bundled reference hidden as data files and started
through a four-line runpy loader (tests/fixtures/hidden-copy) is an integrity finding in every
spec that loads it, scores nothing there, and is flagged by the similarity check, though no
manifest entry and no import names it (conformance/run/copies.py, integrity.py;
grading/classwork/similarity/).

A copy under the reference's own name (the reference's layout, as every mutant is) is reported
to student and instructor, and graded.
"""

from __future__ import annotations

import html
import shutil
from pathlib import Path

import pytest
from harness import ROOT, grade
from korean import english_in_korean

from conformance import locate
from conformance.run import copies
from grading import render
from grading.classwork import similarity

FIXTURE = ROOT / "tests" / "fixtures" / "hidden-copy"
SIMILAR = ROOT / "tests" / "fixtures" / "similarity"
#: A few specs of the two mechanisms the fixture hides.
SPECS = "pipe.uses-pipe or pipe.relay-roundtrip or msgq.typed-receive"


def hidden_copy(into: Path) -> Path:
    """The fixture: the loader and its manifest, and the reference's pipe.py and msgq.py as
    pipe.dat and msgq.dat, byte for byte."""
    impl = into / "hidden"
    shutil.copytree(FIXTURE, impl)
    reference = locate.bundled("reference")
    for name in ("pipe", "msgq"):
        shutil.copyfile(reference / f"{name}.py", impl / f"{name}.dat")
    return impl


def reference_files() -> dict:
    reference, template = locate.bundled("reference"), locate.bundled("student_template")
    return copies.reference_files([reference, reference / "c"], [template, template / "c"])


# --- what is a copy -----------------------------------------------------------------------------


def test_a_copy_is_found_under_any_name_and_nothing_honest_is(tmp_path):
    refs = reference_files()
    impl = hidden_copy(tmp_path)
    text = (locate.bundled("reference") / "fifo.py").read_text()
    (impl / "notes.txt").write_text("# my notes\n" + text.replace("    ", "  ").replace("def ", "def  ") + "\nextra = 1\n")
    found = {c["file"]: c for c in copies.find(impl, refs)}
    assert set(found) == {"pipe.dat", "msgq.dat", "notes.txt"}, found
    assert found["pipe.dat"]["identical"] and found["pipe.dat"]["reference"] == "pipe.py"
    assert not found["notes.txt"]["identical"] and found["notes.txt"]["reference"] == "fifo.py" and found["notes.txt"]["share"] >= 80
    assert copies.renamed(found["pipe.dat"])
    template = locate.bundled("student_template")
    for honest in (template, template / "c", SIMILAR / "carol", SIMILAR / "dan", SIMILAR / "frank"):
        if honest.is_dir():
            assert copies.find(honest, refs) == [], honest


# --- grading: the finding, and the points it costs ---------------------------------------------


def test_the_hidden_reference_scores_nothing_where_it_runs(tmp_path):
    impl = hidden_copy(tmp_path)
    rec, proc = grade(impl, "-k", SPECS, cwd=tmp_path)
    assert rec.specs and rec.score == 0, [(s.id, s.status) for s in rec.specs]
    for s in rec.specs:
        assert s.status == "failed", (s.id, s.status, s.message[:300])
        assert any(f"loaded {s.mechanism}.dat" in finding and "under another name" in finding for finding in s.integrity), s.integrity
    assert {c["file"] for c in rec.meta["copies"]} == {"pipe.dat", "msgq.dat"}
    assert rec.meta["loaded"] == {"pipe": ["loader.py", "pipe.dat"], "msgq": ["loader.py", "msgq.dat"]}
    for fmt in ("text", "markdown", "html", "junit", "gradescope", "prairielearn"):  # students see it, in every format
        assert "pipe.dat is a copy of the bundled reference's pipe.py" in html.unescape(render.render(fmt, rec)), fmt
    assert not english_in_korean(rec)  # and in Korean: the integrity finding, its fix, the header


def test_a_copy_under_the_references_own_name_is_reported_and_graded(tmp_path):
    """The reference's layout (every mutant's): the similarity check's plain case, not hiding."""
    impl = tmp_path / "copied"
    shutil.copytree(locate.bundled("reference"), impl, ignore=shutil.ignore_patterns("c"))
    rec, _ = grade(impl, "-k", "pipe.uses-pipe", cwd=tmp_path)
    assert [s.status for s in rec.specs] == ["passed"] and not rec.specs[0].integrity
    assert {"file": "pipe.py", "reference": "pipe.py", "identical": True, "share": 100} in rec.meta["copies"]
    assert "pipe.py is a copy of the bundled reference's pipe.py (byte for byte)." in render.render("text", rec)


def test_the_reference_itself_has_no_copy_finding(tmp_path):
    rec, _ = grade(locate.bundled("reference"), "-k", "pipe.uses-pipe", cwd=tmp_path)
    assert rec.meta["copies"] == [] and rec.score == rec.max_score > 0


# --- similarity ---------------------------------------------------------------------------------


def test_similarity_flags_the_hidden_reference(tmp_path):
    """`ipc-grade similarity` has no record: the file is found by what it holds."""
    subs = [("hidden", hidden_copy(tmp_path)), ("frank", SIMILAR / "frank")]
    result = similarity.compare(subs, references=[("reference (Python)", locate.bundled("reference"))], templates=[locate.bundled("student_template")])
    pairs = {(p.a, p.b): {m.mechanism: m.score for m in p.flagged} for p in result.summary.pairs}
    assert pairs == {("hidden", "reference (Python)"): {"pipe": 100, "msgq": 100}} or (
        set(pairs) == {("hidden", "reference (Python)")} and min(pairs[("hidden", "reference (Python)")].values()) >= 95
    ), pairs
    assert any("pipe.dat" in note for note in result.summary.notes)


def test_similarity_counts_what_the_programs_loaded(tmp_path):
    """A file no manifest names and that copies no reference (dan hides carol's signal program
    as data, run by a loader) counts once the record says the programs loaded it."""
    dan = tmp_path / "dan"
    dan.mkdir()
    shutil.copyfile(SIMILAR / "carol" / "signals.py", dan / "sig.dat")
    shutil.copyfile(FIXTURE / "loader.py", dan / "loader.py")
    (dan / "ipc.toml").write_text('[programs]\nsignal = "python3 loader.py sig"\n')
    subs = [("carol", SIMILAR / "carol"), ("dan", dan)]
    assert similarity.compare(subs).summary.pairs == ()  # what the manifest and the imports reveal: the loader
    pairs = similarity.compare(subs, loaded={"dan": {"signal": ["loader.py", "sig.dat"]}}).summary.pairs
    assert [(p.a, p.b, [m.mechanism for m in p.flagged]) for p in pairs] == [("carol", "dan", ["signal"])]


@pytest.mark.parametrize("name", ["pipe.dat", "lib/pipe"])
def test_a_named_data_file_is_read_as_the_language_it_holds(tmp_path, name):
    """`python3 pipe.dat`: a name pygments has no lexer for was left out ("no tokenizer")."""
    impl = tmp_path / "named"
    (impl / name).parent.mkdir(parents=True)
    shutil.copyfile(locate.bundled("reference") / "pipe.py", impl / name)
    (impl / "ipc.toml").write_text(f'[programs]\npipe = "python3 {name}"\n')
    pairs = similarity.compare([("named", impl)], references=[("reference (Python)", locate.bundled("reference"))]).summary.pairs
    assert [(p.a, p.b) for p in pairs] == [("named", "reference (Python)")]
