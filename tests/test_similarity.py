"""Similarity in a class (`ipc-grade similarity`, `ipc-grade batch --similarity`), black-box.

The class: alice handed in the Python reference, gina the C reference; bob the Python template,
hal the C one (where the grader has one); erin the reference's pipe and msgq with every
identifier renamed and every comment gone; carol, dan and frank wrote their own programs
(tests/fixtures/similarity), except that dan's signal program is carol's signals.py renamed to
sig.py, re-indented, with renamed identifiers and its functions in another order. Who is
flagged: alice and gina against their references, erin against the Python reference on pipe and
msgq, carol and dan on signal; nobody else.
"""

from __future__ import annotations

import ast
import builtins
import csv
import io
import json
import shutil
import subprocess
import sys
import tokenize
import tomllib
from pathlib import Path

import pytest
from harness import _env

from conformance import locate
from conformance.record import MECHANISMS
from grading.classwork import similarity
from grading.classwork.submissions import Submission

FIXTURES = Path(__file__).parent / "fixtures" / "similarity"
PY = "reference (Python)"
C = "reference (C)"


def renamed(source: str) -> str:
    """SOURCE with every name it defines (functions, classes, arguments, variables) renamed and
    every comment emptied: a copy that hides where it comes from."""
    defined = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            defined.add(node.name)
        elif isinstance(node, ast.arg):
            defined.add(node.arg)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            defined.add(node.id)
    mapping = {name: f"q{n}_{name[::-1]}" for n, name in enumerate(sorted(defined - set(dir(builtins)) - {"main"}))}
    tokens = []
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.NAME and tok.string in mapping:
            tok = tok._replace(string=mapping[tok.string])
        elif tok.type == tokenize.COMMENT:
            tok = tok._replace(string="#")
        tokens.append(tok)
    return tokenize.untokenize(tokens)


def c_reference() -> Path:
    path = locate.bundled("reference") / "c"
    if not (path / "ipc.toml").is_file():
        pytest.skip("the C reference is not bundled with this install")
    return path


@pytest.fixture(scope="module")
def klass(tmp_path_factory) -> Path:
    subs = tmp_path_factory.mktemp("class") / "submissions"
    subs.mkdir()
    reference = locate.bundled("reference")
    shutil.copytree(reference, subs / "alice", ignore=shutil.ignore_patterns("c"))
    shutil.copytree(c_reference(), subs / "gina")
    template = locate.bundled("student_template")
    shutil.copytree(template, subs / "bob", ignore=shutil.ignore_patterns("c"))
    if (template / "c" / "ipc.toml").is_file():  # hal: the C template as it is handed out
        shutil.copytree(template / "c", subs / "hal")
    for name in ("carol", "dan", "frank"):
        shutil.copytree(FIXTURES / name, subs / name)
    erin = subs / "erin"
    erin.mkdir()
    (erin / "ipc.toml").write_text('[programs]\npipe = "python3 pipe.py"\nmsgq = "python3 msgq.py"\n')
    for name in ("pipe.py", "msgq.py"):
        (erin / name).write_text(renamed((reference / name).read_text()))
    return subs


def run(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grading.cli", *args], check=False, capture_output=True, text=True, timeout=timeout, env=_env(env))


@pytest.fixture(scope="module")
def checked(klass, tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    out = tmp_path_factory.mktemp("similarity")
    proc = run("similarity", str(klass), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    return out, proc


def flagged(out: Path) -> dict[tuple[str, str], dict[str, int]]:
    """(a, b) -> {mechanism: score} of every flagged mechanism in OUT/similarity.json."""
    data = json.loads((out / "similarity.json").read_text())
    return {(p["a"], p["b"]): {m["mechanism"]: max(m["score_a"], m["score_b"]) for m in p["mechanisms"] if m["flagged"]} for p in data["pairs"]}


def test_the_copies_are_flagged_and_the_honest_ones_are_not(checked, klass):
    out, proc = checked
    found = flagged(out)
    assert set(found) == {("alice", PY), ("gina", C), ("erin", PY), ("carol", "dan")}, found
    for who, ref, manifest in (("alice", PY, klass / "alice"), ("gina", C, klass / "gina")):
        programs = set(tomllib.loads((manifest / "ipc.toml").read_text())["programs"]) & set(MECHANISMS)
        assert set(found[(who, ref)]) == programs and min(found[(who, ref)].values()) >= 95
    assert set(found[("erin", PY)]) == {"pipe", "msgq"} and min(found[("erin", PY)].values()) >= 90
    assert set(found[("carol", "dan")]) == {"signal"} and found[("carol", "dan")]["signal"] >= 70
    assert any(line.split()[:2] == ["carol", "dan"] and "signal" in line for line in proc.stdout.splitlines())
    assert "4 pairs flagged" in proc.stderr


def test_honest_implementations_stay_far_below_the_threshold(klass):
    """At 30% (the default is 50%) the honest ones are still not flagged: a margin, not luck."""
    subs = [(n, klass / n) for n in ("bob", "carol", "frank")] + [("dan", _without_signal(klass / "dan"))]
    result = similarity.check_class([Submission(n, p) for n, p in subs], threshold=30)
    assert result.summary.pairs == ()


def test_the_python_and_c_references_are_independent():
    reference = locate.bundled("reference")
    template = locate.bundled("student_template")
    result = similarity.compare([("python", reference), ("c", c_reference())], templates=[template], threshold=10)
    assert result.summary.pairs == ()


def test_template_code_does_not_count(tmp_path):
    """Two students who kept a course's (long) given code and each wrote their own part."""
    template = tmp_path / "template"
    template.mkdir()
    (template / "ipc.toml").write_text('[programs]\npipe = "python3 pipe.py"\n')
    given = (locate.bundled("reference") / "pipe.py").read_text()
    (template / "pipe.py").write_text(given)
    for name, own in (("one", "carol"), ("two", "frank")):
        shutil.copytree(template, tmp_path / name)
        (tmp_path / name / "pipe.py").write_text(given + "\n\n" + (FIXTURES / own / "pipe.py").read_text())
    subs = [("one", tmp_path / "one"), ("two", tmp_path / "two")]
    assert similarity.compare(subs, templates=[template]).summary.pairs == ()
    unfiltered = similarity.compare(subs).summary  # only the template's removal clears them
    assert [(p.a, p.b) for p in unfiltered.pairs] == [("one", "two")]


def test_copies_of_the_reference_are_findings_against_it_not_pairs(tmp_path):
    reference = locate.bundled("reference")
    for name in ("ann", "ben", "cat"):
        shutil.copytree(reference, tmp_path / name, ignore=shutil.ignore_patterns("c"))
    subs = [(n, tmp_path / n) for n in ("ann", "ben", "cat")]
    pairs = similarity.compare(subs, references=[(PY, reference)]).summary.pairs
    assert [(p.a, p.b) for p in pairs] == [("ann", PY), ("ben", PY), ("cat", PY)]


def test_the_same_class_gives_the_same_table(checked, klass, tmp_path):
    """Another process, another hash seed, one process instead of one per CPU: the same bytes."""
    out, _ = checked
    proc = run("similarity", str(klass), "--out", str(tmp_path), "--jobs", "1", env={**_env(), "PYTHONHASHSEED": "12345"})
    assert proc.returncode == 0, proc.stderr
    files = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    for rel in files:
        assert (out / rel).read_bytes() == (tmp_path / rel).read_bytes(), rel


def test_the_side_by_side_view_marks_the_shared_code(checked):
    out, _ = checked
    pair = next(p for p in json.loads((out / "similarity.json").read_text())["pairs"] if p["b"] == "dan")
    html = (out / pair["page"]).read_text()
    assert "<h1>Similarity: carol and dan</h1>" in html
    assert "signals.py" in html and "sig.py" in html
    assert "<mark>" in html and "os.kill(target, num)" in html  # dan's copy, in his own words
    assert "script" not in html.lower()


def test_program_files_follow_the_manifest_and_what_it_includes(tmp_path):
    assert similarity.program_files(c_reference(), "./pipe") == ["pipe.c", "common.h", "common.c"]
    (tmp_path / "main.py").write_text("import helper\nfrom pkg import part\nimport os\n")
    (tmp_path / "helper.py").write_text("from . import deeper\n")
    (tmp_path / "deeper.py").write_text("X = 1\n")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "part.py").write_text("Y = 2\n")
    (tmp_path / "secret.py").symlink_to("/etc/passwd")
    (tmp_path / "linked.py").write_text("import secret\n")
    assert similarity.program_files(tmp_path, "python3 -u main.py") == ["main.py", "helper.py", "pkg/__init__.py", "pkg/part.py", "deeper.py"]
    assert similarity.program_files(tmp_path, "python3 linked.py") == ["linked.py"]  # a link is never followed
    assert similarity.program_files(tmp_path, "python3 secret.py") == []
    assert similarity.program_files(tmp_path, "python3 ../main.py") == []
    assert similarity.program_files(tmp_path, "./missing") == []


def test_batch_puts_it_in_the_gradebook_and_class_page_never_in_a_report(tmp_path):
    subs = tmp_path / "submissions"
    subs.mkdir()
    shutil.copytree(locate.bundled("reference"), subs / "alice", ignore=shutil.ignore_patterns("c"))
    shutil.copytree(FIXTURES / "frank", subs / "frank")
    out = tmp_path / "out"
    proc = run("batch", str(subs), "--out", str(out), "--similarity", "-k", "no_spec_has_this_name", timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "similarity: 2 submissions compared" in proc.stderr
    rows = {r["id"]: r for r in csv.DictReader((out / "gradebook.csv").open())}
    assert rows["alice"]["similarity"].startswith(f"{PY}: pipe 100%")
    assert rows["frank"]["similarity"] == ""
    page = (out / "class.html").read_text()
    assert "Similarity (instructors only)" in page and 'href="similarity/001-alice-reference-Python.html"' in page
    assert (out / "similarity" / "001-alice-reference-Python.html").is_file()
    for report in (out / "submissions").rglob("*"):
        if report.is_file() and report.name != "record.json":
            text = report.read_text().lower()
            assert "similar" not in text and "reference (python)" not in text, report


def test_similarity_of_a_merged_class_rewrites_its_gradebook_and_page(klass, tmp_path):
    from conformance import record as run_record
    from grading.classwork import gradebook, results

    entries = [gradebook.Entry(n, run_record.failed_run({"path": n, "name": n}, "not graded here")) for n in ("carol", "dan")]
    out = tmp_path / "merged"
    for en in entries:
        run_record.write(out / "submissions" / en.id / "record.json", en.record)
    results.write_batch(out, entries, shard=None, rubric=None, merged_from=["0/2", "1/2"])
    assert "similarity" not in (out / "gradebook.csv").read_text()
    before = (out / "batch.json").read_text()
    for n in ("carol", "dan"):
        shutil.copytree(klass / n, tmp_path / "subs" / n)
    proc = run("similarity", str(tmp_path / "subs"), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    rows = {r["id"]: r for r in csv.DictReader((out / "gradebook.csv").open())}
    assert rows["carol"]["similarity"].startswith("dan: signal ") and rows["dan"]["similarity"].startswith("carol: signal ")
    assert "Similarity (instructors only)" in (out / "class.html").read_text()
    assert (out / "batch.json").read_text() == before


@pytest.mark.parametrize(
    "args, message",
    [
        (["batch", "SUBS", "--out", "OUT", "--similarity", "--shard", "0/2"], "--similarity compares the whole class"),
        (["batch", "SUBS", "--out", "OUT", "--similarity-threshold", "0"], "--similarity-threshold 0: give a percentage"),
        (["similarity", "SUBS", "--threshold", "101"], "--threshold 101: give a percentage"),
        (["similarity", "NOWHERE"], "NOWHERE is not a directory"),
    ],
)
def test_usage_errors(tmp_path, args, message):
    (tmp_path / "subs").mkdir()
    args = [a.replace("SUBS", str(tmp_path / "subs")).replace("OUT", str(tmp_path / "out")) for a in args]
    proc = run(*args)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr


def _without_signal(root: Path) -> Path:
    """A copy of ROOT (dan) without its signal program, carol's."""
    target = root.parent.parent / "dan-own"
    if not target.exists():
        shutil.copytree(root, target)
        manifest = (target / "ipc.toml").read_text()
        (target / "ipc.toml").write_text("\n".join(line for line in manifest.splitlines() if not line.startswith("signal")) + "\n")
    return target
