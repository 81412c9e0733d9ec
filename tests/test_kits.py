"""The pieces the kits for the places courses grade are made of (docs/kits.md), each without a
grading: the example PrairieLearn question and the Dockerfile, the CPU count behind --jobs auto,
the late policy and the submission limit, GitHub Classroom's points, --version. The kits
themselves, built from an installed grader and run in their layouts, are tests/test_shipping.py.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from harness import ROOT, _env

from conformance import catalogue, locate
from conformance import record as run_record
from conformance.record import RunRecord, SpecResult, failed_run
from grading import cpus, late, render_classroom
from grading.kits import gradescope as gradescope_kit
from grading.render import gradescope as render_gradescope
from grading.render import prairielearn as render_prairielearn
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


def test_the_example_question_is_well_formed():
    info = json.loads((QUESTION / "info.json").read_text())
    assert info["gradingMethod"] == "External" and info["externalGradingOptions"]["entrypoint"] == "/usr/local/bin/ipc-grade-prairielearn"
    from grading.grader import load_rubric

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
    rec = late.apply(_record(late_policy={"penalty_per_day": 10}), dt.datetime(2026, 3, 9, tzinfo=dt.UTC))
    assert late.final_score(rec) == 10 and "no due date" in rec.meta["late"]["note"]
    # the platform's due date serves when the rubric has none
    rec = late.apply(_record(late_policy={"penalty_per_day": 25}), dt.datetime(2026, 3, 9, 1, tzinfo=dt.UTC), due=dt.datetime(2026, 3, 9, tzinfo=dt.UTC))
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
    assert gradescope_kit.main([str(record), "--metadata", str(meta), "--out", str(out)]) == 0
    assert json.loads(out.read_text())["score"] == 3.0
    meta.write_text("{not json")
    assert gradescope_kit.main([str(record), "--metadata", str(meta), "--out", str(out)]) == 0
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
