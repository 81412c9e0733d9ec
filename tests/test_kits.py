"""The kits for the places courses grade (docs/kits.md), run in their real layouts.

Gradescope: the bundle's setup.sh (minus the package manager) builds the grader's environment,
pinned, and run_autograder grades a fake /autograder for the reference, the template, a
submission with no manifest and one whose build fails, each leaving a valid results.json; the
same under Docker's default capabilities on one CPU, with the rubric's late policy applied from
submission_metadata.json. PrairieLearn: the entrypoint grades a fake /grade tree with the example
question's own rubric. Then the pieces they are made of, each without a grading: the CPU count
behind --jobs auto, the late policy, GitHub Classroom's points, --version, the pins.

A grading here selects two specs (the question's rubric: 17), so the module costs one setup.sh
(some 10 s, shared by the xdist workers) and a few seconds per grading.
"""

from __future__ import annotations

import base64
import datetime as dt
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

from conformance import catalogue, locate
from conformance import record as run_record
from conformance.record import RunRecord, SpecResult, failed_run
from grading import cpus, late, render_classroom, render_gradescope, render_prairielearn
from grading.rubric import LatePolicy, RubricError, loads

REFERENCE = locate.bundled("reference")
TEMPLATE = locate.bundled("student_template")
KITS = ROOT / "grading" / "kits"
ENTRYPOINT = KITS / "prairielearn" / "entrypoint.sh"
QUESTION = KITS / "prairielearn" / "question"

#: Docker's default capability set (moby's oci/caps/defaults.go): what Gradescope's and
#: PrairieLearn's containers have. scripts/environments.py drops every other one the same way.
DOCKER_DEFAULT_CAPS = (
    "chown dac_override fowner fsetid kill setgid setuid setpcap net_bind_service net_raw sys_chroot mknod audit_write setfcap"
).split()

RUBRIC = """\
title = "kit test"
mechanisms = []
total = 10
[spec."pipe.uses-pipe"]
[spec."pipe.eof-on-close"]
[late]
due = 2026-03-01T23:59:00-05:00
penalty_per_day = 10
"""


def _docker_caps(cmd: str) -> list[str]:
    """CMD (a shell line) as root with Docker's default capabilities, on one CPU."""
    last = int(Path("/proc/sys/kernel/cap_last_cap").read_text())
    names = subprocess.run(["capsh", f"--decode={(1 << (last + 1)) - 1:x}"], capture_output=True, text=True, check=True).stdout
    drop = ",".join(c for c in names.split("=", 1)[1].strip().split(",") if c.removeprefix("cap_") not in DOCKER_DEFAULT_CAPS)
    one_cpu = ["taskset", "-c", str(min(os.sched_getaffinity(0)))] if shutil.which("taskset") else []
    return [*one_cpu, "capsh", f"--drop={drop}", "--", "-c", cmd]


needs_docker_caps = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("capsh") is None, reason="needs root and capsh (Debian's libcap2-bin) to take Docker's capabilities"
)


def _system_python() -> str | None:
    """What install.sh picks by itself, if this machine has one (else the test names this one)."""
    for candidate in ("/usr/bin/python3", "/usr/bin/python3.13", "/usr/bin/python3.12", "/usr/bin/python3.11"):
        if os.access(candidate, os.X_OK):
            ok = subprocess.run([candidate, "-c", "import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))"], capture_output=True)
            if ok.returncode == 0:
                return candidate
    return None


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
    direct = subprocess.run([str(installed / "bin" / "python"), "-c", "from importlib import metadata; print(metadata.distribution('ipc-conformance').read_text('direct_url.json') or '')"], capture_output=True, text=True, check=True).stdout
    assert '"editable": true' not in direct
    groups = subprocess.run(
        [str(installed / "bin" / "python"), "-I", "-c", "from importlib import metadata\nfor ep in metadata.distribution('ipc-conformance').entry_points:\n    ep.load(); print(ep.group, ep.name, ep.value)"],
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


def test_the_example_question_is_well_formed():
    info = json.loads((QUESTION / "info.json").read_text())
    assert info["gradingMethod"] == "External" and info["externalGradingOptions"]["entrypoint"] == "/usr/local/bin/ipc-grade-prairielearn"
    from grading.cli import load_rubric

    rubric = load_rubric(str(QUESTION / "tests" / "rubric.toml"))
    assert rubric.total == 100 and {r.split(".")[0] for r in rubric.rules} == {"pipe", "fifo"}
    assert ENTRYPOINT.stat().st_mode & 0o111 and (KITS / "install.sh").stat().st_mode & 0o111


def test_the_dockerfile_uses_the_kits_installer_and_entrypoint():
    text = (ROOT / "Dockerfile").read_text()
    assert "grading/kits/install.sh" in text and "ipc-grade-prairielearn" in text and "/opt/ipc-grader" in text
    # the grader is root, so that its programs never are (--run-as auto): no USER directive
    assert not [line for line in text.splitlines() if line.startswith("USER")]
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".venv" in ignored and ".git" in ignored


# --- --jobs auto: the CPUs the container may use ---------------------------------------------


def _cgroup(tmp_path: Path, own: str, files: dict[str, str]) -> tuple[Path, Path]:
    root = tmp_path / "cgroup"
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    proc = tmp_path / "proc-cgroup"
    proc.write_text(own)
    return root, proc


def test_a_cgroup_v2_quota_limits_the_workers(tmp_path):
    root, proc = _cgroup(tmp_path, "0::/docker/abc\n", {"docker/abc/cpu.max": "max 100000\n", "docker/cpu.max": "150000 100000\n"})
    assert cpus.cgroup_quota(root, proc) == 1.5
    assert cpus.available(root, proc) == min(2, len(os.sched_getaffinity(0)))


def test_a_cgroup_v1_quota_limits_the_workers(tmp_path):
    root, proc = _cgroup(tmp_path, "4:cpu,cpuacct:/kubepods/pod1\n", {"cpu,cpuacct/kubepods/pod1/cpu.cfs_quota_us": "50000\n", "cpu,cpuacct/kubepods/pod1/cpu.cfs_period_us": "100000\n"})
    assert cpus.cgroup_quota(root, proc) == 0.5 and cpus.available(root, proc) == 1


def test_no_quota_leaves_the_affinity(tmp_path):
    root, proc = _cgroup(tmp_path, "0::/\n", {"cpu.max": "max 100000\n"})
    assert cpus.cgroup_quota(root, proc) is None and cpus.available(root, proc) == len(os.sched_getaffinity(0))
    assert cpus.resolve_jobs("auto") == str(cpus.available()) and cpus.resolve_jobs("3") == "3"


def test_the_affinity_limits_the_workers():
    if not shutil.which("taskset"):
        pytest.skip("taskset (util-linux) is not installed")
    one = subprocess.run(["taskset", "-c", str(min(os.sched_getaffinity(0))), sys.executable, "-m", "grading.cpus"], capture_output=True, text=True, check=True)
    assert one.stdout.strip() == "1"


# --- the late policy and the submission limit ------------------------------------------------


def _record(score_points: tuple[float, ...] = (6.0, 4.0), late_policy: dict | None = None, limit: int | None = None) -> RunRecord:
    specs = [
        SpecResult(id=f"pipe.s{i}", mechanism="pipe", title=f"spec {i}", status="passed", points=p, max_points=p)
        for i, p in enumerate(score_points)
    ]
    rubric = {"title": "t", "total": sum(score_points)}
    if late_policy:
        rubric["late"] = late_policy
    if limit:
        rubric["submission_limit"] = limit
    return RunRecord(implementation={"name": "x", "path": "/x"}, specs=specs, meta={"rubric": rubric})


POLICY = {"due": "2026-03-01T23:59:00-05:00", "penalty_per_day": 10, "max_days": 3, "grace_minutes": 5}


@pytest.mark.parametrize(
    "submitted, days, score",
    [
        ("2026-03-01T23:00:00-05:00", 0, 10),
        ("2026-03-02T00:03:00-05:00", 0, 10),  # in the grace
        ("2026-03-02T05:10:00Z", 1, 9),  # 00:10 at -05:00: a part of a day is a day
        ("2026-03-04T23:59:00-05:00", 3, 7),
        ("2026-03-05T00:10:00-05:00", 4, 0),  # past max_days
    ],
)
def test_the_late_penalty(submitted, days, score):
    rec = late.apply(_record(late_policy=POLICY), dt.datetime.fromisoformat(submitted))
    assert rec.meta["late"]["days"] == days and late.final_score(rec) == score and rec.score == 10
    assert ("On time" if days == 0 else "Late") in rec.meta["late"]["note"]


def test_the_late_policy_reaches_every_platforms_score():
    rec = late.apply(_record(late_policy=POLICY), dt.datetime.fromisoformat("2026-03-03T12:00:00-05:00"))
    assert json.loads(render_gradescope.render(rec))["score"] == 8
    assert render_prairielearn.document(rec)["score"] == 0.8
    assert render_gradescope.document(rec)["output"].splitlines()[1].startswith("Late: ")  # first, after the rubric's title


def test_without_a_time_or_a_due_date_no_penalty_is_taken():
    rec = late.apply(_record(late_policy={"penalty_per_day": 10}), None)
    assert late.final_score(rec) == 10 and "not known" in rec.meta["late"]["note"]
    rec = late.apply(_record(late_policy={"penalty_per_day": 10}), dt.datetime(2026, 3, 9, tzinfo=dt.timezone.utc))
    assert late.final_score(rec) == 10 and "no due date" in rec.meta["late"]["note"]
    # the platform's due date serves when the rubric has none
    rec = late.apply(_record(late_policy={"penalty_per_day": 25}), dt.datetime(2026, 3, 9, 1, tzinfo=dt.timezone.utc), due=dt.datetime(2026, 3, 9, tzinfo=dt.timezone.utc))
    assert late.final_score(rec) == 7.5


def test_the_submission_limit_keeps_the_last_counted_score(tmp_path):
    meta = tmp_path / "submission_metadata.json"
    meta.write_text(json.dumps({
        "created_at": "2026-03-01T10:00:00-05:00",
        "assignment": {"due_date": "2026-03-01T23:59:00-05:00"},
        "previous_submissions": [
            {"submission_time": "2026-02-28T10:00:00-05:00", "score": 3.0},
            {"submission_time": "2026-02-27T10:00:00-05:00", "score": 2.0},
        ],
    }))
    rec = late.apply_gradescope(_record(late_policy={"penalty_per_day": 10}, limit=2), late.gradescope_metadata(meta))
    assert late.final_score(rec) == 3.0 and "only the first 2 count" in rec.meta["late"]["note"]
    # the kit's last step writes it, and a broken metadata file still leaves a results.json
    record = tmp_path / "record.json"
    run_record.write(record, _record(late_policy={"penalty_per_day": 10}, limit=2))
    out = tmp_path / "results.json"
    assert render_gradescope.main([str(record), "--metadata", str(meta), "--out", str(out)]) == 0
    assert json.loads(out.read_text())["score"] == 3.0
    meta.write_text("{not json")
    assert render_gradescope.main([str(record), "--metadata", str(meta), "--out", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["score"] == 10 and "late policy was not applied" in doc["output"]


@pytest.mark.parametrize(
    "table, needle",
    [
        ("[late]\ndue = 2026-03-01T23:59:00\npenalty_per_day = 10\n", "no UTC offset"),
        ("[late]\ndue = 2026-03-01T23:59:00Z\n", "no penalty_per_day"),
        ("[late]\npenalty_per_day = 150\n", "more than 100"),
        ("[late]\npenalty_per_day = 10\nmax_days = 0\n", "max_days"),
        ("[late]\npenalty_per_day = 10\ndue_date = 1\n", "due_date"),
        ("submission_limit = 0\n", "submission_limit"),
    ],
)
def test_a_bad_late_policy_says_what_to_write(table, needle):
    with pytest.raises(RubricError) as exc:
        loads(f'mechanisms = ["pipe"]\n{table}', catalogue.specs())
    assert needle in str(exc.value)


def test_a_late_policy_travels_in_the_record():
    r = loads('mechanisms = ["pipe"]\nsubmission_limit = 3\n[late]\ndue = 2026-03-01T23:59:00-05:00\npenalty_per_day = 12.5\n', catalogue.specs())
    assert r.late == LatePolicy(penalty_per_day=12.5, due=dt.datetime(2026, 3, 1, 23, 59, tzinfo=dt.timezone(dt.timedelta(hours=-5))))
    assert LatePolicy.of(r.describe()["late"]) == r.late and r.describe()["submission_limit"] == 3


# --- GitHub Classroom ------------------------------------------------------------------------


def test_classroom_points_are_what_its_reporter_sums():
    rec = _record((6.0, 4.0))
    rec.specs[1].status = "failed"
    rec.specs[1].points = 0.0
    doc = json.loads(base64.b64decode(render_classroom.encode(rec)))
    # notify-classroom.js: the sum of tests[].score against max_score; status fail fails the step
    assert doc["version"] == 1 and doc["max_score"] == 10 and sum(t["score"] for t in doc["tests"]) == 6 and doc["status"] == "fail"
    assert {t["status"] for t in doc["tests"]} == {"pass", "fail"}
    broken = json.loads(base64.b64decode(render_classroom.encode(failed_run({"name": "?", "path": "/x"}, "no ipc.toml in /x."))))
    assert broken["status"] == "error" and broken["tests"][0]["score"] == 0


def test_the_student_workflow_reports_to_classroom(tmp_path):
    import re

    text = (ROOT / "student_template" / ".github" / "workflows" / "grade.yml").read_text()
    # the check run the reporter writes the points to has this name, and it needs checks: write
    assert re.search(r"^    name: Autograding Tests$", text, re.M) and re.search(r"^  checks: write$", text, re.M)
    runner = re.search(r"^          runners: (\S+)$", text, re.M).group(1)
    assert re.search(rf"^        id: {runner}$", text, re.M)
    assert f"{runner.upper()}_RESULTS: \"${{{{ steps.{runner}.outputs.result }}}}\"" in text
    assert "classroom-resources/autograding-grading-reporter@v1" in text
    # a hung grading ends by the grader's own session timeout, well before the job's
    session = int(re.search(r"--session-timeout (\d+)", text).group(1))
    minutes = int(re.search(r"^    timeout-minutes: (\d+)$", text, re.M).group(1))
    assert session * 1.5 <= minutes * 60
    grader = re.search(r'^  IPC_GRADER: "(.*)"$', text, re.M).group(1)
    assert re.search(r"@v\d+\.\d+\.\d+$", grader), grader
    assert "cache: pip" in text
    try:
        import yaml
    except ImportError:
        yaml = None
    if yaml is not None:
        doc = yaml.safe_load(text)
        job = doc["jobs"]["grade"]
        assert job["name"] == "Autograding Tests" and doc["permissions"]["checks"] == "write"
        assert any(s.get("id") == runner for s in job["steps"])
    # the step's own line, run as the workflow runs it
    record = tmp_path / "record.json"
    run_record.write(record, _record())
    out = tmp_path / "github_output"
    assert render_classroom.main([str(record), "--github-output", str(out)]) == 0
    key, value = out.read_text().strip().split("=", 1)
    assert key == "result" and json.loads(base64.b64decode(value))["max_score"] == 10


# --- release conventions ---------------------------------------------------------------------


def test_version_names_the_release_and_the_contract():
    proc = subprocess.run([sys.executable, "-m", "grading.cli", "--version"], capture_output=True, text=True, timeout=60, env=_env())
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert proc.returncode == 0 and proc.stdout.startswith(f"ipc-grade {version} (") and "contract version 2" in proc.stdout
    assert f"## {version}" in (ROOT / "CHANGELOG.md").read_text() and "MIT License" in (ROOT / "LICENSE").read_text()
