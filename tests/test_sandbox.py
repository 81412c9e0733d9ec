"""As root, programs run as an unprivileged user of their own: a fork bomb or an attack on the
grader costs one spec, nothing more. The grader gives that user a Python it can run wherever
the grader's own is (runtime.py), so these run wherever the grader is root."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from harness import ROOT, grade
from korean import english_in_korean

from conformance import locate
from conformance.kernel import observe
from conformance.run import sandbox
from conformance.run.limits import become_subreaper
from conformance.run.supervisor import Supervisor

HOSTILE = ROOT / "tests" / "fixtures" / "hostile"


def _sandbox_or_skip():
    if os.geteuid() != 0:
        pytest.skip("the sandbox is for a grader running as root")
    return sandbox.allocate("auto")


def _left(rec) -> list[int]:
    """Processes of the grading's programs' user still alive (one grading process: one uid)."""
    return observe.pids_of_user(rec.meta["programs_uid"])


def test_sandboxed_programs_have_a_process_limit_and_no_privileges():
    box = _sandbox_or_skip()
    become_subreaper()
    sup = Supervisor(user=box.uid, group=box.gid)
    try:
        p = sup.spawn(["sh", "-c", "awk '/Max processes/ {print $3}' /proc/self/limits; id -u; kill -0 1 2>/dev/null && echo can-signal-init || echo no"], cwd="/", label="probe")
        p.wait(10)
        limit, uid, init = p.stdout.text().split()
    finally:
        sup.teardown()
        sandbox.release(box)
    assert limit != "unlimited" and int(limit) < 10_000
    assert int(uid) == box.uid
    assert init == "no"


def test_a_fork_bomb_costs_its_specs_and_nothing_escapes(tmp_path):
    _sandbox_or_skip()
    t0 = time.monotonic()
    rec, proc = grade(HOSTILE, "-k", "relay-roundtrip or uses-pipe or eof-on-close", cwd=tmp_path)
    elapsed = time.monotonic() - t0
    assert "Traceback" not in proc.stdout + proc.stderr
    assert rec.meta["programs_run_as"] == "an unprivileged user id per grading process", rec.meta
    assert len(rec.specs) == 3 and all(s.status in ("failed", "timeout") for s in rec.specs), [(s.id, s.status) for s in rec.specs]
    assert elapsed < 60
    assert _left(rec) == [], "every sandboxed process was killed with its spec"
    assert not Path(rec.implementation["path"], "__pycache__").exists()


@pytest.mark.slow
def test_the_reference_passes_every_spec_when_sandboxed(tmp_path):
    """Objects the harness makes for a program (queues, segments, semaphores, socket files)
    must be handed to the sandbox user, or the reference itself would fail."""
    _sandbox_or_skip()
    rec, proc = grade(locate.bundled("reference"), cwd=tmp_path)
    assert rec.meta["programs_run_as"] == "an unprivileged user id per grading process", rec.meta
    failed = {s.id: s.message[:300] for s in rec.specs if s.status not in ("passed", "unsupported")}
    assert not failed, failed
    assert _left(rec) == []
    assert not english_in_korean(rec)  # its report read in Korean, every format: the header, the schedules' guarantees
