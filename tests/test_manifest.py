"""A broken manifest gives a message naming the file, the key and the fix; never a traceback."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest
from harness import grade

from conformance import locate
from conformance.run import manifest

PIPE = (locate.bundled("reference") / "pipe.py").read_text()


def write_impl(path, toml, files=None):
    path.mkdir(exist_ok=True)
    if toml is not None:
        (path / "ipc.toml").write_text(toml)
    for name, text in (files or {}).items():
        (path / name).write_text(text)
    return path


CASES = {
    "missing": (None, ["no manifest", "ipc.toml does not exist", "student_template/ipc.toml"]),
    "bad-toml": ("[programs\npipe = 1\n", ["is not valid TOML", "line 1"]),
    "unknown-key": ('[programs]\npipes = "python3 pipe.py"\n', ["unknown key 'programs.pipes'", "did you mean 'pipe'"]),
    "unknown-section": ('[program]\npipe = "python3 pipe.py"\n', ["unknown section [program]", "did you mean 'programs'"]),
    "not-a-string": ("[programs]\npipe = 3\n", ["'programs.pipe'", "must be a non-empty string"]),
    "bad-quotes": ('[programs]\npipe = "python3 \'pipe.py"\n', ["cannot be split into words", "quotes"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_manifest_mistakes_are_explained(tmp_path, case):
    toml, phrases = CASES[case]
    m = manifest.load(write_impl(tmp_path / "impl", toml), sys.executable)
    if case != "bad-quotes":
        manifest.check_programs(m)
    problem = m.error or m.problems.get("pipe", "")
    for phrase in phrases:
        assert phrase in problem, f"{phrase!r} not in {problem!r}"
    assert str(tmp_path / "impl" / "ipc.toml") in problem


def test_missing_program_is_named(tmp_path):
    m = manifest.load(write_impl(tmp_path / "impl", '[programs]\npipe = "python3 nothere.py"\nfifo = "./fifo"\n', {"fifo": "#!/bin/sh\n"}), sys.executable)
    manifest.check_programs(m)
    assert "nothere.py, which does not exist" in m.problems["pipe"]
    assert "not executable: chmod +x ./fifo" in m.problems["fifo"]


def test_python_means_the_programs_own_python(tmp_path):
    m = manifest.load(write_impl(tmp_path / "impl", '[programs]\npipe = "python3 -u pipe.py"\nfifo = "./fifo"\n', {"pipe.py": ""}), "/runtime/bin/python3")
    assert m.programs["pipe"].argv == ["/runtime/bin/python3", "-u", "pipe.py"] and m.programs["pipe"].interpreter
    assert not m.programs["fifo"].interpreter


@pytest.mark.parametrize(
    ("toml", "files", "status", "phrase"),
    [
        (None, {}, "failed", "no manifest"),
        ('[programs]\npipe = "python3 gone.py"\n', {}, "failed", "gone.py, which does not exist"),
        ('[implementation]\nbuild = "python3 build.py"\n[programs]\npipe = "./pipe"\n',
         {"build.py": "import sys\nprint('compile error: x.c:3: expected ;')\nsys.exit(2)\n"},
         "failed", "the build did not make ./pipe"),
        ('[programs]\nfifo = "python3 fifo.py"\n', {}, "not-implemented", "no [programs] entry for pipe"),
    ],
    ids=["no-manifest", "missing-program", "failed-build", "left-out"],
)
def test_bad_implementations_are_reported_per_spec(tmp_path, toml, files, status, phrase):
    impl = write_impl(tmp_path / "impl", toml, files)
    rec, proc = grade(impl, "-k", "relay-roundtrip or uses-pipe", cwd=tmp_path)
    assert "Traceback" not in proc.stdout + proc.stderr
    assert proc.returncode in (0, 1), proc.stdout[-2000:]
    assert {s.status for s in rec.specs} == {status}
    assert all(phrase in s.message for s in rec.specs), [s.message for s in rec.specs]
    assert rec.score == 0 and rec.max_score > 0
    assert (proc.returncode == 1) == (status == "failed"), "a broken submission fails pytest; one left out does not"
    if "manifest" in phrase:
        assert rec.error and phrase in rec.error


def test_build_runs_once_before_the_specs(tmp_path):
    shared = Path(tempfile.mkdtemp(prefix="ipc-build-count-"))  # the build runs as the programs' user
    shared.chmod(0o1777)
    counter = shared / "builds"
    impl = write_impl(
        tmp_path / "impl",
        '[implementation]\nbuild = "python3 build.py"\n[programs]\npipe = "python3 pipe.py"\n',
        {"build.py": f"open({str(counter)!r}, 'a').write('built\\n')\n", "pipe.py": PIPE},
    )
    rec, _ = grade(impl, "-k", "relay-roundtrip or uses-pipe", "-n", "2", cwd=tmp_path)
    assert counter.read_text() == "built\n"
    shutil.rmtree(shared)
    assert {s.status for s in rec.specs} == {"passed"}
    assert os.access(impl, os.R_OK)


def test_a_build_that_breaks_one_program_costs_only_its_mechanism(tmp_path):
    """The C reference with one syntax error in msgq.c: make fails, every other program is
    built and graded normally, msgq's specs fail saying why, and the log is shown once."""
    impl = tmp_path / "c"
    shutil.copytree(locate.bundled("reference") / "c", impl)
    source = impl / "msgq.c"
    source.write_text(source.read_text().replace("int main(", "int main(;", 1))
    rec, _ = grade(impl, "-k", "msgq.typed-receive or msgq.rm-removes or pipe.relay-roundtrip or shm.roundtrip", "-n", "2", cwd=tmp_path)
    by_id = {s.id: s for s in rec.specs}
    assert {i for i, s in by_id.items() if s.status == "passed"} == {"pipe.relay-roundtrip", "shm.roundtrip"}, {i: s.status for i, s in by_id.items()}
    for i in ("msgq.typed-receive", "msgq.rm-removes"):
        assert by_id[i].status == "failed" and "the build did not make ./msgq" in by_id[i].message
        assert "msgq.c" not in by_id[i].message, "the log is shown once, at the top, not under each spec"
    build = rec.meta["build"]
    assert not build["ok"] and build["cost"] == ["msgq"] and "msgq.c" in build["log"]
    assert rec.error is None and rec.score > 0
    from grading import render

    text = render.render("text", rec)
    assert text.count("msgq.c:") >= 1 and text.index("The build `make` failed") < text.index("msgq.typed-receive")
