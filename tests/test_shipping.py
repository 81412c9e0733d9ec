"""What ships is what was tested: the grader installed from its wheel as a user installs it
(`pip install .`, not editable), and the kits built from that installation run in their real
layouts. Gradescope: the bundle's setup.sh (minus the package manager) installs the wheel the bundle
carries, pinned, and proves it grades; run_autograder grades a fake /autograder for the reference,
the template, a submission with no manifest and one whose build fails, each leaving a valid
results.json; the same under Docker's default capabilities on one CPU, with the rubric's late
policy applied from submission_metadata.json; a bundle whose grader cannot grade fails setup.sh.
PrairieLearn: the entrypoint grades a fake /grade tree with the example question's own rubric.

The slow tier (pytest -m slow): a wheel build, two installs and a few gradings of two specs
(about a minute, shared by the xdist workers). scripts/ship_check.py does the same for real, at
/autograder and /grade, in CI.
"""

from __future__ import annotations

import fcntl
import io
import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
import zipfile
from pathlib import Path

import pytest
from harness import ROOT, _env
from test_kits import ENTRYPOINT, KITS, QUESTION, RUBRIC, _docker_caps, _system_python, needs_docker_caps

from conformance import locate

pytestmark = pytest.mark.slow

REFERENCE = locate.bundled("reference")
LOAD_EVERY_ENTRY_POINT = (
    "from importlib import metadata\n"
    "for ep in metadata.distribution('ipc-conformance').entry_points:\n"
    "    ep.load(); print(ep.group, ep.name, ep.value)"
)
TEMPLATE = locate.bundled("student_template")


# --- what ships: the grader installed from its wheel, as a user installs it ------------------


def _shared(tmp_path_factory, name: str) -> tuple[Path, Path]:
    """A directory every xdist worker shares, and its lock: an expensive fixture made once."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    (shared / name).mkdir(exist_ok=True)
    return shared / name, shared / f"{name}.lock"


@pytest.fixture(scope="session")
def installed(tmp_path_factory) -> Path:
    """The grader as `pip install .` leaves it: a wheel built from the checkout, installed (not
    editable) into a fresh venv on the system's Python. Its bin/ holds ipc-grade."""
    base, lockfile = _shared(tmp_path_factory, "installed")
    with open(lockfile, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        venv = base / "venv"
        if not (venv / "ok").exists():
            from grading.kits import wheel

            whl = wheel.from_checkout(ROOT, base / "dist")
            python = _system_python() or sys.executable
            subprocess.run([python, "-m", "venv", str(venv)], check=True, timeout=120)
            done = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(whl)], capture_output=True, text=True, timeout=600)
            assert done.returncode == 0, done.stderr[-3000:]
            (venv / "ok").write_text(str(whl))
    return venv


def test_the_installation_is_not_editable_and_every_entry_point_loads(installed):
    ask = "from importlib import metadata; print(metadata.distribution('ipc-conformance').read_text('direct_url.json') or '')"
    direct = subprocess.run([str(installed / "bin" / "python"), "-c", ask], capture_output=True, text=True, check=True).stdout
    assert '"editable": true' not in direct
    groups = subprocess.run(
        [str(installed / "bin" / "python"), "-I", "-c", LOAD_EVERY_ENTRY_POINT],
        capture_output=True, text=True, check=True, cwd="/",
    ).stdout.splitlines()
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    expected = {f"pytest11 {n} {v}" for n, v in declared["entry-points"]["pytest11"].items()} | {f"console_scripts {n} {v}" for n, v in declared["scripts"].items()}
    assert set(groups) == expected


# --- Gradescope ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def kit(tmp_path_factory, installed) -> dict:
    """The bundle built by the installed grader (not the checkout), unpacked as Gradescope's
    source, and setup.sh run once for every worker."""
    base, lockfile = _shared(tmp_path_factory, "gradescope-kit")
    with open(lockfile, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the xdist way to share one expensive fixture
        info = base / "kit.json"
        if not info.exists():
            (base / "course.toml").write_text(RUBRIC)
            zip_path = base / "autograder.zip"
            made = subprocess.run(
                [str(installed / "bin" / "ipc-grade"), "gradescope-bundle", "--rubric", str(base / "course.toml"), "--out", str(zip_path)],
                capture_output=True, text=True, timeout=120, env=_env(), cwd=base,
            )
            assert made.returncode == 0, made.stderr
            source = base / "source"
            with zipfile.ZipFile(zip_path) as zf:
                zf.extractall(source)
            for script in ("setup.sh", "run_autograder"):
                (source / script).chmod(0o755)  # Gradescope runs them as executables
            home = base / "ipc-grader"
            env = {**_env(), "AUTOGRADER_ROOT": str(base / "unused"), "IPC_SKIP_PACKAGES": "1", "IPC_GRADER_HOME": str(home)}
            if _system_python() is None:
                env["IPC_GRADER_PYTHON"] = sys.executable
            start = time.monotonic()
            # as Gradescope does: from the source folder, with its absolute path
            done = subprocess.run(["bash", str(source / "setup.sh")], capture_output=True, text=True, timeout=600, env={**env, "AUTOGRADER_ROOT": str(base)}, cwd=source)
            assert done.returncode == 0, done.stderr[-4000:]
            info.write_text(json.dumps({"zip": str(zip_path), "source": str(source), "home": str(home), "setup_s": time.monotonic() - start, "log": done.stdout[-4000:] + done.stderr[-4000:]}))
    return json.loads(info.read_text())


def test_the_bundle_carries_the_installed_wheel(kit, installed):
    """The grader travels as the wheel pip installed, repacked file for file (no project written
    by hand), with the installer and the pins that wheel holds beside it."""
    with zipfile.ZipFile(kit["zip"]) as zf:
        names = set(zf.namelist())
        wheels = [n for n in names if n.endswith(".whl")]
        assert names == {"setup.sh", "run_autograder", "rubric.toml", "grader/install.sh", "grader/constraints.txt", *wheels} and len(wheels) == 1
        carried = zipfile.ZipFile(io.BytesIO(zf.read(wheels[0])))
        assert zf.read("grader/install.sh") == carried.read("grading/kits/install.sh")
        assert zf.read("grader/constraints.txt") == carried.read("grading/kits/constraints.txt")
    built = zipfile.ZipFile(Path((installed / "ok").read_text()))
    # every file of the wheel pip installed, byte for byte (RECORD is written anew)
    same = lambda z: {n: z.read(n) for n in z.namelist() if not n.endswith("/RECORD")}  # noqa: E731
    assert same(carried) == same(built)
    entry_points = next(n for n in carried.namelist() if n.endswith("entry_points.txt"))
    assert b"grading.plugin" in carried.read(entry_points) and b"conformance.plugin" in carried.read(entry_points)


def test_setup_proves_the_grader_grades(kit):
    """install.sh ends with the selftest: the bundled reference on each mechanism's quick spec."""
    from conformance.record import MECHANISMS

    for m in MECHANISMS.values():
        assert f"{m.smoke}: passed" in kit["log"], m.smoke
    assert "selftest: passed: this grader grades here" in kit["log"] and "the rubric" in kit["log"]


def test_a_bundle_whose_grader_cannot_grade_fails_setup(kit, tmp_path):
    """The bug that once gave every student 0: the wheel without grading.plugin's entry point.
    setup.sh must stop, naming what is missing, before any student submits."""
    source = tmp_path / "source"
    shutil.copytree(kit["source"], source)
    wheel_path = next((source / "grader").glob("*.whl"))
    old = zipfile.ZipFile(io.BytesIO(wheel_path.read_bytes()))
    with zipfile.ZipFile(wheel_path, "w") as new:
        for info in old.infolist():
            data = old.read(info)
            if info.filename.endswith("entry_points.txt"):
                data = b"\n".join(line for line in data.splitlines() if b"grading.plugin" not in line) + b"\n"
            new.writestr(info, data)
    env = {**_env(), "AUTOGRADER_ROOT": str(tmp_path), "IPC_SKIP_PACKAGES": "1", "IPC_GRADER_HOME": str(tmp_path / "home")}
    if _system_python() is None:
        env["IPC_GRADER_PYTHON"] = sys.executable
    done = subprocess.run(["bash", str(source / "setup.sh")], capture_output=True, text=True, timeout=600, env=env, cwd=source)
    assert done.returncode != 0
    assert "pytest does not offer --ipc-json" in done.stderr and "cannot grade on this machine" in done.stderr, done.stderr[-3000:]


def test_setup_installs_the_pinned_grader_on_the_systems_python(kit):
    home = Path(kit["home"])
    pins = dict(line.split("==") for line in (KITS / "constraints.txt").read_text().splitlines() if line and not line.startswith("#"))
    frozen = subprocess.run([str(home / "bin" / "python"), "-m", "pip", "freeze"], capture_output=True, text=True, check=True).stdout
    from packaging.utils import canonicalize_name

    installed = {canonicalize_name(n): v for n, _, v in (line.partition("==") for line in frozen.splitlines() if "==" in line)}
    assert {n: installed.get(n) for n in pins} == pins
    # never a Python under /root that happened to come first on PATH
    base = subprocess.run([str(home / "bin" / "python"), "-c", "import sys; print(sys.base_prefix)"], capture_output=True, text=True, check=True).stdout.strip()
    if _system_python() is not None:
        assert not base.startswith("/root"), base
    version = subprocess.run([str(home / "bin" / "ipc-grade"), "--version"], capture_output=True, text=True, check=True).stdout
    assert version.startswith("ipc-grade 0.") and "contract version" in version


def _gradescope(kit: dict, root: Path, submission: Path | None, *, metadata: dict | None = None, docker: bool = False, manifest: str | None = None) -> dict:
    """Lay out ROOT as Gradescope's /autograder, run run_autograder, return results.json."""
    source = root / "source"
    shutil.copytree(kit["source"], source, symlinks=True)
    work = root / "submission"
    work.mkdir()
    if submission is not None:
        shutil.copytree(submission, work / "my-work", ignore=shutil.ignore_patterns("__pycache__"))  # a folder inside, as a zip upload gives
    if manifest is not None:
        (work / "my-work").mkdir(exist_ok=True)
        (work / "my-work" / "ipc.toml").write_text(manifest)
    if metadata is not None:
        (root / "submission_metadata.json").write_text(json.dumps(metadata))
    env = {**_env(), "AUTOGRADER_ROOT": str(root), "IPC_GRADER_HOME": kit["home"]}
    cmd = f"bash {source / 'run_autograder'}"
    proc = subprocess.run(_docker_caps(cmd) if docker else ["bash", "-c", cmd], capture_output=True, text=True, timeout=300, env=env, cwd=source)
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads((root / "results" / "results.json").read_text())
    # Gradescope's format: a number score, tests with numbers and known visibilities
    assert isinstance(doc["score"], (int, float)) and isinstance(doc["tests"], list) and doc["output"]
    for t in doc["tests"]:
        assert isinstance(t["score"], (int, float)) and isinstance(t["max_score"], (int, float)) and t["name"]
        assert t.get("visibility", "visible") in ("visible", "hidden", "after_due_date", "after_published")
    return doc


def _metadata(created: str) -> dict:
    return {"created_at": created, "assignment": {"due_date": "2026-03-05T23:59:00.000000-05:00"}, "previous_submissions": []}


def test_gradescope_grades_the_reference_in_full(kit, tmp_path):
    doc = _gradescope(kit, tmp_path, REFERENCE, metadata=_metadata("2026-03-01T20:00:00.000000-05:00"))
    assert doc["score"] == 10 and {t["status"] for t in doc["tests"]} == {"passed"} and len(doc["tests"]) == 2
    assert "On time" in doc["output"]


def test_gradescope_grades_the_template_as_not_implemented(kit, tmp_path):
    doc = _gradescope(kit, tmp_path, TEMPLATE, metadata=_metadata("2026-03-01T20:00:00-05:00"))
    assert doc["score"] == 0 and len(doc["tests"]) == 2 and all(t["score"] == 0 for t in doc["tests"])


def test_gradescope_without_a_manifest_says_so(kit, tmp_path):
    (tmp_path / "upload").mkdir()
    (tmp_path / "upload" / "pipe.py").write_text("print('hello')\n")
    root = tmp_path / "autograder"
    doc = _gradescope(kit, root, tmp_path / "upload", metadata=_metadata("2026-03-01T20:00:00-05:00"))
    assert doc["score"] == 0 and "ipc.toml" in doc["output"]


def test_gradescope_with_a_failed_build_shows_its_log(kit, tmp_path):
    work = tmp_path / "upload"
    work.mkdir()
    (work / "ipc.toml").write_text('[implementation]\nname = "broken"\nbuild = "make"\n[programs]\npipe = "./pipe"\n')
    (work / "Makefile").write_text("pipe: pipe.c\n\tcc -o pipe pipe.c\n")
    (work / "pipe.c").write_text("int main(void) { return 0 }\n")  # a missing semicolon
    doc = _gradescope(kit, tmp_path / "autograder", work, metadata=_metadata("2026-03-01T20:00:00-05:00"))
    assert doc["score"] == 0 and "The build `make` failed" in doc["output"] and "error" in doc["output"]


@needs_docker_caps
def test_gradescope_under_dockers_capabilities_applies_the_late_policy(kit, tmp_path):
    # due 2026-03-01T23:59-05:00 (the rubric's, which wins over the assignment's): 1 day 1 minute late is 2 days
    doc = _gradescope(kit, tmp_path, REFERENCE, metadata=_metadata("2026-03-03T00:00:00-05:00"), docker=True)
    assert {t["status"] for t in doc["tests"]} == {"passed"} and sum(t["score"] for t in doc["tests"]) == 10
    assert doc["score"] == 8 and "Late" in doc["output"] and "20%" in doc["output"]


@needs_docker_caps
def test_gradescope_under_dockers_capabilities_without_a_manifest(kit, tmp_path):
    doc = _gradescope(kit, tmp_path, None, docker=True)
    assert doc["score"] == 0 and "ipc.toml" in doc["output"]


# --- PrairieLearn ----------------------------------------------------------------------------


def _prairielearn(kit: dict, root: Path, files: dict[str, Path], *, docker: bool = False, grader: str | None = None) -> tuple[dict, float]:
    """Lay out ROOT as PrairieLearn's /grade (the question's tests/, the student's files), run
    the entrypoint, return results.json and the seconds it took."""
    shutil.copytree(QUESTION / "tests", root / "tests")
    (root / "student").mkdir()
    for name, src in files.items():
        shutil.copy2(src, root / "student" / name)
    env = {**_env(), "IPC_PL_ROOT": str(root), "IPC_GRADE": grader or str(Path(kit["home"]) / "bin" / "ipc-grade")}
    cmd = f"bash {ENTRYPOINT}"
    start = time.monotonic()
    proc = subprocess.run(_docker_caps(cmd) if docker else ["bash", "-c", cmd], capture_output=True, text=True, timeout=300, env=env, cwd=root)
    took = time.monotonic() - start
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads((root / "results" / "results.json").read_text())
    assert isinstance(doc["gradable"], bool) and 0 <= doc["score"] <= 1 and isinstance(doc["tests"], list)
    return doc, took


@needs_docker_caps
def test_prairielearn_grades_the_example_question_within_its_timeout(kit, tmp_path):
    upload = QUESTION.joinpath("question.html").read_text().split('file-names="')[1].split('"')[0]
    names = [n.strip() for n in upload.split(",")]
    doc, took = _prairielearn(kit, tmp_path, {n: REFERENCE / n for n in names}, docker=True)
    assert doc["gradable"] and doc["score"] == 1.0, doc["message"]
    info = json.loads((QUESTION / "info.json").read_text())["externalGradingOptions"]
    session = float(info["environment"]["IPC_SESSION_TIMEOUT"])
    assert session <= info["timeout"] - 15 and info["timeout"] <= 600
    assert took < session, f"the question's rubric took {took:.0f} s on one CPU; PrairieLearn allows {info['timeout']} s"


def test_prairielearn_without_a_manifest_is_not_gradable(kit, tmp_path):
    doc, _ = _prairielearn(kit, tmp_path, {"pipe.py": REFERENCE / "pipe.py"})
    assert doc["gradable"] is False and doc["score"] == 0 and doc["format_errors"]


def test_prairielearn_without_the_grader_still_writes_results(kit, tmp_path):
    doc, _ = _prairielearn(kit, tmp_path, {"ipc.toml": REFERENCE / "ipc.toml"}, grader=str(tmp_path / "no-such-grader"))
    assert doc["gradable"] is False and "not installed" in doc["message"]
