"""`ipc-grade` as users run it: every report from one run, exit statuses, runs that cannot
grade, the required-spec check, and the Gradescope bundle. Grades only a spec or two."""

from __future__ import annotations

import json
import os
import re
import resource
import shlex
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest
from harness import ROOT, _env, mutants

from conformance import locate
from conformance.record import MECHANISMS
from grading import render
from grading.cli.grade import parser as grade_parser

REFERENCE = locate.bundled("reference")
QUICK = "pipe.uses-pipe or pipe.broken-pipe"


def ipc_grade(*args: str, cwd: Path, timeout: float = 300, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "grading.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**_env(), **(env or {})},
    )


def cpu_seconds_of(run) -> tuple:
    """Run `run()` and return its result with the CPU seconds its child processes (and theirs,
    once reaped) spent. "At once" is judged by work done, not by wall time: on a loaded
    2-core CI runner a 0.8 s CPU start-up takes 3 s of wall time."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = run()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return result, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def report_args(out: Path) -> list[str]:
    return [a for name, f in render.FORMATS.items() for a in (f"--{name}", str(out / f.filename))]


def mutant(name: str, into: Path) -> Path:
    return next(m for m in mutants() if m.id == name).materialize(into)


def check_all(out: Path, reason: str | None = None) -> dict:
    """Every report in OUT parses; with REASON, each says it and scores 0."""
    docs = {
        "json": json.loads((out / "record.json").read_text()),
        "gradescope": json.loads((out / "gradescope.json").read_text()),
        "prairielearn": json.loads((out / "prairielearn.json").read_text()),
        "junit": ET.parse(out / "junit.xml").getroot(),
    }
    for f in render.FORMATS.values():
        assert (out / f.filename).stat().st_size > 0
    if reason:
        assert docs["json"]["score"] == 0 and reason in docs["json"]["error"]
        assert docs["gradescope"]["score"] == 0 and reason in docs["gradescope"]["output"]
        assert docs["prairielearn"]["score"] == 0 and reason in docs["prairielearn"]["message"]
        for name in ("report.md", "report.html", "report.txt"):
            assert reason in (out / name).read_text(), name
    return docs


def test_one_run_writes_every_format(tmp_path):
    out = tmp_path / "reports"
    proc = ipc_grade(str(mutant("pipe/parent-dies-of-sigpipe", tmp_path)), "-k", QUICK, "-j", "1", *report_args(out), cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    docs = check_all(out)
    assert {s["id"]: s["status"] for s in docs["json"]["specs"]} == {"pipe.broken-pipe": "failed", "pipe.uses-pipe": "passed"}
    assert docs["gradescope"]["score"] == 2
    assert "What went wrong:" in proc.stdout and "hint: A write to a pipe with no reader" in proc.stdout
    html = (out / "report.html").read_text()
    assert "<dt>Expected</dt>" in html and "<dt>Transcript</dt>" in html and "killed by signal 13 (SIGPIPE)" in html


def test_progress_is_shown_as_specs_are_decided(tmp_path):
    """Off a terminal, a plain line as the run starts and one per spec decided, with the count
    and the score so far (on a terminal, a live line drawn by rich)."""
    proc = ipc_grade(str(locate.bundled("reference")), "-k", QUICK, "-j", "1", cwd=tmp_path)
    lines = [line for line in proc.stderr.splitlines() if line.startswith("ipc-grade:")]
    assert lines[0].startswith("ipc-grade: grading "), proc.stderr
    assert any(line.startswith("ipc-grade: [1/2] ") and "passed" in line and "so far" in line for line in lines), lines
    assert any(line.startswith("ipc-grade: [2/2] ") for line in lines), lines


def test_a_run_that_cannot_start_still_writes_every_report(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "reports"
    proc = ipc_grade(str(empty), "-k", QUICK, "-j", "1", *report_args(out), cwd=tmp_path)
    assert proc.returncode == 4, "nothing could be graded"
    check_all(out, reason="no manifest")


def _spinner(tmp_path, **real):
    """An implementation whose programs spin for ever (nothing proves them stuck: they run),
    but for the mechanisms in REAL, which are the reference's."""
    impl = tmp_path / "spins"
    impl.mkdir()
    (impl / "spin.py").write_text("while True:\n    pass\n")
    reference = locate.bundled("reference")
    for name in real.values():
        shutil.copy(reference / name, impl / name)
    lines = [f'{m} = "python3 {real.get(m, "spin.py")}"' for m in MECHANISMS]
    (impl / "ipc.toml").write_text("[programs]\n" + "\n".join(lines) + "\n")
    return impl


def test_a_session_timeout_still_writes_every_report(tmp_path):
    out = tmp_path / "reports"
    proc = ipc_grade(str(_spinner(tmp_path)), "-k", "pipe.eof-on-close", "--session-timeout", "2", "-j", "1", *report_args(out), cwd=tmp_path)
    assert proc.returncode == 4, "no verdict was reached: nothing graded"
    docs = check_all(out, reason="did not finish within 2 s")
    assert docs["json"]["error_kind"] == "session-timeout"


def test_a_session_timeout_keeps_every_verdict_reached(tmp_path):
    """The run record is written as verdicts arrive: what was decided stands and counts, and
    every spec not reached is a timeout that says so."""
    out = tmp_path / "run.json"
    ipc_grade(str(_spinner(tmp_path, buffer="buffer.py")), "--session-timeout", "25", "-j", "1", "--json", str(out), "-q", cwd=tmp_path)
    rec = json.loads(out.read_text())
    assert rec["error"] is None and rec["error_kind"] == "session-timeout"
    by_id = {s["id"]: s for s in rec["specs"]}
    assert len(by_id) == rec["counts"]["passed"] + rec["counts"]["failed"] + rec["counts"]["timeout"] + rec["counts"]["unsupported"]
    assert any(s["status"] == "passed" and s["mechanism"] == "buffer" for s in by_id.values()) and rec["score"] > 0
    unreached = [s for s in by_id.values() if "before this spec was decided" in s["message"]]
    assert unreached and all(s["status"] == "timeout" for s in unreached)
    assert by_id.keys() >= {"socket.uses-sockets", "signal.handles-usr1"}


def test_required_check_exit_statuses(tmp_path):
    rubric = tmp_path / "r.toml"
    rubric.write_text('mechanisms = []\n[spec."pipe.broken-pipe"]\nrequired = true\n[spec."pipe.uses-pipe"]\n')
    common = ["--rubric", str(rubric), "--check-required", "-q", "-j", "1"]
    impl = mutant("pipe/parent-dies-of-sigpipe", tmp_path)
    caught = ipc_grade(str(impl), *common, cwd=tmp_path)
    assert caught.returncode == 3, caught.stderr
    assert "required check failed: 1 required spec(s) did not pass: pipe.broken-pipe" in caught.stderr
    # a spec that is not required may fail: the check passes
    rubric.write_text('mechanisms = []\n[spec."pipe.uses-pipe"]\nrequired = true\n[spec."pipe.broken-pipe"]\n')
    passed = ipc_grade(str(impl), *common, cwd=tmp_path)
    assert passed.returncode == 0, passed.stderr
    # without --check-required, a failing spec is exit status 1
    assert ipc_grade(str(impl), "--rubric", str(rubric), "-q", "-j", "1", cwd=tmp_path).returncode == 1
    # a run that could not grade is not a pass
    (tmp_path / "empty").mkdir()
    assert ipc_grade(str(tmp_path / "empty"), *common, cwd=tmp_path).returncode == 3  # nothing required passed


@pytest.mark.parametrize(
    "args, message",
    [
        (["--rubric", "missing.toml"], "no such file"),
        (["--json", "."], "is a directory"),
        (["--json", "a.json", "--html", "a.json"], "both name a.json"),
        (["--session-timeout", "0"], "positive number of seconds"),
        (["--html", "afile/report.html"], "cannot create a file"),
        (["-j", "abc"], "argument -j/--jobs: 'abc': give a whole number of workers, 0 or more"),
        (["--jobs", "-2"], "argument -j/--jobs: '-2'"),
        (["--deadline-scale", "abc"], "argument --deadline-scale: 'abc': give a positive number"),
        (["--deadline-scale", "-1"], "argument --deadline-scale: '-1': give a positive number"),
        (["--deadline-scale", "inf"], "argument --deadline-scale: 'inf'"),
        (["--session-timeout", "soon"], "argument --session-timeout: 'soon': give a positive number of seconds"),
        (["grade", "-j", "abc"], "argument -j/--jobs: 'abc'"),
        (["bacth"], "did you mean `ipc-grade batch`?"),
        (["batch", "afile", "--out", "o", "-j", "abc"], "argument -j/--jobs: 'abc': give 1 or more"),
        (["batch", "afile", "--out", "o", "--deadline-scale", "0"], "argument --deadline-scale: '0': give a positive number"),
        (["batch", "afile", "--out", "o", "--session-timeout", "-5"], "argument --session-timeout: '-5'"),
        (["replay", "pipe.uses-pipe", "--deadline-scale", "x"], "argument --deadline-scale: 'x'"),
        (["replay", "pipe.uses-pipe", "--session-timeout", "0"], "argument --session-timeout: '0'"),
        (["replay", "pipe.uses-pipe", "a", "--impl", "b"], "two implementations given"),
        (["similarity", "afile", "-j", "0"], "argument -j/--jobs: '0'"),
    ],
)
def test_usage_errors_exit_2_without_a_traceback(tmp_path, args, message):
    (tmp_path / "afile").write_text("a file, not a directory")
    proc = ipc_grade(*args, cwd=tmp_path, timeout=60)
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


@pytest.mark.parametrize("command", [[], ["batch", "afile", "--out", "o"], ["replay", "pipe.uses-pipe"]])
def test_a_bad_deadline_scale_in_the_environment_is_a_usage_error(tmp_path, command):
    (tmp_path / "afile").mkdir()
    proc = ipc_grade(*command, cwd=tmp_path, timeout=60, env={"IPC_DEADLINE_SCALE": "fast"})
    assert proc.returncode == 2 and "invalid deadline scale 'fast' from environment variable IPC_DEADLINE_SCALE: give a positive number" in proc.stderr, proc.stderr
    # the option wins over the variable (and a bad option is said as the option)
    proc = ipc_grade(*command, "--deadline-scale", "-3", cwd=tmp_path, timeout=60, env={"IPC_DEADLINE_SCALE": "fast"})
    assert proc.returncode == 2 and "argument --deadline-scale: '-3'" in proc.stderr and "IPC_DEADLINE_SCALE" not in proc.stderr, proc.stderr


def test_help_lists_every_command_and_the_grading_options(tmp_path):
    from grading.cli import COMMANDS

    proc = ipc_grade("--help", cwd=tmp_path, timeout=60)
    assert proc.returncode == 0, proc.stderr
    listed = proc.stdout[proc.stdout.index("commands:"):]
    for name in ("grade", "batch", "merge", "similarity", "replay", "new", "gradescope-bundle"):
        assert name in COMMANDS and re.search(rf"^\s+{re.escape(name)}\b", listed, re.M), (name, proc.stdout)
    for option in ("PATH", "--rubric", "-j N, --jobs N", "--deadline-scale", "--session-timeout", "--json FILE", "--check-required"):
        assert option in proc.stdout, option
    assert "130" in proc.stdout  # the exit statuses, Ctrl-C's too
    for name in COMMANDS:
        own = ipc_grade(name, "--help", cwd=tmp_path, timeout=60)
        assert own.returncode == 0 and own.stdout.startswith(f"usage: ipc-grade {name}" if name != "grade" else "usage: ipc-grade [grade]"), own.stdout + own.stderr


def test_grading_is_the_default_command(tmp_path):
    with_name = ipc_grade("grade", "no-such-dir", "-q", cwd=tmp_path, timeout=60)
    without = ipc_grade("no-such-dir", "-q", cwd=tmp_path, timeout=60)
    assert with_name.returncode == without.returncode == 4
    assert with_name.stderr == without.stderr


def test_a_path_with_nothing_to_grade_is_one_message_at_once(tmp_path):
    """No directory: one sentence in ipc-grade's words (PATH, not pytest's --impl), exit 4 in
    well under the time a grading run takes to start, and every report says it, score 0."""
    out = tmp_path / "reports"
    proc, cpu = cpu_seconds_of(lambda: ipc_grade("/no/such/dir", *report_args(out), cwd=tmp_path, timeout=60))
    assert proc.returncode == 4, proc.stderr
    assert cpu < 2, f"{cpu:.1f} s of CPU"
    assert proc.stdout == "" and proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith("ipc-grade: could not grade /no/such/dir: implementation directory /no/such/dir does not exist")
    assert "PATH" in proc.stderr and "--impl" not in proc.stderr
    docs = check_all(out, reason="/no/such/dir does not exist")
    assert "error_kind" not in docs["json"] and docs["json"]["manifest_unusable"]  # the submission's, not the grader's
    # every spec it would have graded is listed, failed for that reason: the maximum is known
    specs = docs["json"]["specs"]
    assert specs and {s["status"] for s in specs} == {"failed"} and docs["json"]["max_score"] > 0
    assert all("/no/such/dir does not exist" in s["message"] for s in specs)
    assert "--impl" not in (out / "report.md").read_text()


@pytest.mark.parametrize(
    "toml, reason",
    [
        ("[programs\npipe = 1\n", "is not valid TOML"),
        ('[program]\npipe = "python3 pipe.py"\n', "unknown section [program]"),
        (None, "`ipc-grade new DIR` starts one"),
    ],
)
def test_an_unusable_manifest_is_one_message_at_once(tmp_path, toml, reason):
    impl = tmp_path / "impl"
    impl.mkdir()
    if toml is not None:
        (impl / "ipc.toml").write_text(toml)
    out = tmp_path / "reports"
    proc, cpu = cpu_seconds_of(lambda: ipc_grade(str(impl), *report_args(out), cwd=tmp_path, timeout=60))
    assert proc.returncode == 4 and cpu < 2, f"{cpu:.1f} s of CPU: {proc.stderr}"
    assert proc.stderr.count("\n") == 1 and reason in proc.stderr, proc.stderr
    check_all(out, reason=reason)
    assert "Fix: Fix" not in (out / "report.txt").read_text() and "**Fix:** Fix" not in (out / "report.md").read_text()


def test_pytest_users_read_impl_and_one_fix(tmp_path):
    """Through pytest the same mistake names pytest's option, and each failure's fix is said once."""
    md = tmp_path / "report.md"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--impl=/no/such/dir", f"--ipc-markdown={md}", "-k", "pipe.uses-pipe", "-p", "no:cacheprovider", "-q"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, env=_env(),
    )
    assert proc.returncode == 1, proc.stdout[-3000:]
    text = md.read_text()
    assert "check the path given to --impl" in text
    assert "**Fix:** Correct ipc.toml" in text and "Fix ipc.toml" not in text


def test_without_a_path_it_grades_the_manifest_here(tmp_path):
    """In an implementation's directory `ipc-grade` grades it (the bundled reference is graded
    only where there is no ipc.toml); the progress knows the total before the first verdict."""
    here = tmp_path / "lab"
    shutil.copytree(REFERENCE, here)
    (tmp_path / "r.toml").write_text('mechanisms = []\n[spec."pipe.uses-pipe"]\n[spec."pipe.broken-pipe"]\n')
    proc = ipc_grade("--rubric", "../r.toml", "-j", "1", "--json", "run.json", cwd=here)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((here / "run.json").read_text())["implementation"]["path"] == str(here)
    lines = [line for line in proc.stderr.splitlines() if line.startswith("ipc-grade:")]
    assert lines[0] == f"ipc-grade: grading {here} (2 specs)", proc.stderr
    assert lines[1].startswith("ipc-grade: [1/2] "), proc.stderr


def test_a_bad_rubric_exits_2_naming_its_line(tmp_path):
    (tmp_path / "r.toml").write_text('title = "x"\n[spec."pipe.eof-on-close"]\npoints = -1\n')
    proc = ipc_grade("--rubric", "r.toml", cwd=tmp_path)
    assert proc.returncode == 2
    assert "r.toml, line 3: 'spec.pipe.eof-on-close.points' is negative" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_pytest_writes_the_reports_too(tmp_path):
    out = tmp_path / "reports"
    opts = [f"--ipc-{name}={out / f.filename}" for name, f in render.FORMATS.items() if name != "json"]
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", f"--impl={REFERENCE}", f"--ipc-json={out / 'record.json'}", *opts, "-k", "pipe.uses-pipe", "-p", "no:cacheprovider", "-q"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env=_env(),
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    docs = check_all(out)
    assert docs["gradescope"]["tests"][0]["name"].startswith("pipe.uses-pipe: ")


# --- the Gradescope bundle -----------------------------------------------------------------


@pytest.fixture(scope="module")
def autograder(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("bundle")
    rubric = tmp / "course.toml"
    rubric.write_text('mechanisms = []\ntotal = 10\n[spec."pipe.uses-pipe"]\n[spec."pipe.eof-on-close"]\nvisibility = "after_due_date"\n')
    zip_path = tmp / "autograder.zip"
    proc = ipc_grade("gradescope-bundle", "--rubric", str(rubric), "--out", str(zip_path), "--session-timeout", "120", cwd=tmp)
    assert proc.returncode == 0, proc.stderr
    return zip_path


def test_bundle_layout_and_scripts(autograder, tmp_path):
    with zipfile.ZipFile(autograder) as zf:
        names = zf.namelist()
        modes = {i.filename: i.external_attr >> 16 for i in zf.infolist()}
        zf.extractall(tmp_path)
    wheels = [n for n in names if n.startswith("grader/") and n.endswith(".whl")]
    assert set(names) == {"setup.sh", "run_autograder", "rubric.toml", "grader/install.sh", "grader/constraints.txt", *wheels} and len(wheels) == 1
    assert modes["setup.sh"] & 0o111 and modes["run_autograder"] & 0o111 and modes["grader/install.sh"] & 0o111
    # the grader travels as a wheel (from a checkout: the one pip builds), with the plugins'
    # entry points, its specs, the bundled reference and the template with its workflow
    with zipfile.ZipFile(tmp_path / wheels[0]) as wheel:
        inside = wheel.namelist()
        entry_points = wheel.read(next(n for n in inside if n.endswith(".dist-info/entry_points.txt"))).decode()
    assert "conformance.plugin" in entry_points and "grading.plugin" in entry_points and "grading.cli:main" in entry_points
    assert "conformance/specs/test_pipe.py" in inside and "conformance/bundled/reference/ipc.toml" in inside
    assert "conformance/bundled/student_template/.github/workflows/grade.yml" in inside
    assert "grading/kits/install.sh" in inside and "grading/kits/selftest.py" in inside
    assert (tmp_path / "grader" / "install.sh").read_bytes() == (ROOT / "grading" / "kits" / "install.sh").read_bytes()
    for script in ("setup.sh", "run_autograder"):
        subprocess.run(["bash", "-n", str(tmp_path / script)], check=True)
    run = (tmp_path / "run_autograder").read_text()
    # programs never run as root: by default (auto) each grading process, controller and every
    # xdist worker, runs them as a uid of its own from the sandbox pool (conformance/run/sandbox.py).
    # No shared account is made: one user for every worker would let a spec's kill(-1) of its
    # programs' user end another worker's programs.
    assert '--run-as "$RUN_AS"' in run and 'RUN_AS="${IPC_RUN_AS:-auto}"' in run
    assert "ipc-student" not in run and "useradd" not in (tmp_path / "setup.sh").read_text()
    assert "/autograder/results/results.json" not in run.replace('"$ROOT/results/results.json"', "")
    # the same inputs give the same bundle
    again = tmp_path / "again.zip"
    rubric = tmp_path / "rubric.toml"
    assert ipc_grade("gradescope-bundle", "--rubric", str(rubric), "--out", str(again), "--session-timeout", "120", cwd=tmp_path).returncode == 0
    assert again.read_bytes() == autograder.read_bytes()


def _run_autograder(autograder: Path, root: Path, submission: Path | None, env: dict) -> dict:
    (root / "source").mkdir(parents=True)
    with zipfile.ZipFile(autograder) as zf:
        zf.extractall(root / "source")
    (root / "submission").mkdir()
    if submission is not None:
        import shutil

        shutil.copytree(submission, root / "submission" / "my-work")  # a folder inside, as a zip upload gives
    proc = subprocess.run(
        ["bash", str(root / "source" / "run_autograder")],
        capture_output=True,
        text=True,
        timeout=300,
        env={**_env(), "AUTOGRADER_ROOT": str(root), **env},
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads((root / "results" / "results.json").read_text())


def test_run_autograder_grades_the_submission(autograder, tmp_path):
    ipc = str(Path(sys.executable).with_name("ipc-grade"))
    doc = _run_autograder(autograder, tmp_path, REFERENCE, {"IPC_GRADE": ipc, "IPC_RUN_AS": "auto"})
    assert doc["score"] == 10
    assert {t["name"].split(":")[0]: t["visibility"] for t in doc["tests"]} == {"pipe.eof-on-close": "after_due_date", "pipe.uses-pipe": "visible"}


def test_run_autograder_always_writes_results(autograder, tmp_path):
    doc = _run_autograder(autograder, tmp_path, None, {"IPC_GRADE": str(tmp_path / "no-such-grader"), "IPC_RUN_AS": "none"})
    assert doc["score"] == 0 and "could not grade" in doc["output"] and doc["tests"] == []


# --- the student's CI workflow -------------------------------------------------------------

WORKFLOW = ROOT / "student_template" / ".github" / "workflows" / "grade.yml"


def test_the_student_workflow_grades_reports_and_checks_required_specs():
    text = WORKFLOW.read_text()
    for needle in ("actions/checkout@v4", "actions/upload-artifact@v4", "$GITHUB_STEP_SUMMARY", "--check-required", "if: always()"):
        assert needle in text, needle
    # its ipc-grade command line is one ipc-grade accepts
    command = text[text.index("ipc-grade . "):text.index("|| status=$?")]
    words = shlex.split(command.replace("\\\n", " "))
    words = [w for w in words if w != '"${rubric[@]}"' and w != "${rubric[@]}"]
    args = grade_parser().parse_args(words[1:])
    assert args.check_required and args.markdown and args.junit and args.html
    try:
        import yaml
    except ImportError:
        return
    doc = yaml.safe_load(text)
    steps = doc["jobs"]["grade"]["steps"]
    assert steps[-1]["if"] == "always()" and steps[-1]["with"]["path"] == "reports/"


def test_a_crash_of_the_harness_still_gives_every_report(tmp_path, monkeypatch):
    """A plugin that dies inside pytest: the child ends without a record, and the reports say so."""
    (tmp_path / "crash_plugin.py").write_text("def pytest_sessionstart(session):\n    raise RuntimeError('the harness fell over')\n")
    monkeypatch.setenv("PYTHONPATH", f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    from grading.cli.session import grade

    rec = grade(REFERENCE, jobs="1", keyword="pipe.uses-pipe", extra_args=["-p", "crash_plugin"])
    assert rec.error.startswith("the grading run crashed") and rec.meta["error_kind"] == "crashed"
    out = tmp_path / "reports"
    assert render.write_all(rec, {name: out / f.filename for name, f in render.FORMATS.items()}) == []
    check_all(out, reason="the grading run crashed")
