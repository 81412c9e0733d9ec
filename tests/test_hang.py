"""A submission whose programs all hang costs each spec its deadline and no more."""

from __future__ import annotations

from harness import ROOT, grade

from conformance import deadline

HANG = ROOT / "tests" / "fixtures" / "hang"
#: The longest deadline a pipe spec waits on (the EXIT preset, test_pipe's longest); OVERHEAD
#: is start-up and teardown.
LONGEST_DEADLINE = deadline.EXIT
OVERHEAD = 3


def test_hanging_submission_costs_each_spec_only_its_deadline(tmp_path):
    rec, proc = grade(HANG, "-k", "pipe", "-n", "2", cwd=tmp_path)
    assert "Traceback" not in proc.stdout + proc.stderr
    assert rec.specs and {s.status for s in rec.specs} == {"timeout"}
    for s in rec.specs:
        assert s.duration_s < LONGEST_DEADLINE + OVERHEAD, (s.id, s.duration_s)
        assert "within" in s.message and "sleeping in pause" in s.message, s.message
    assert rec.score == 0
