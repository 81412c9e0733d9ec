"""`broken` is the grader's fault and nothing else: whatever a program does, its verdict is its own.

A program that exits at once, closes its stdin, prints noise or prints a number too big to parse
ends *failed*, *timeout* or *not-implemented*, decided by what it did, and none changes from run
to run. The other way round, what the grader or its machine gets wrong is `broken` (after a second
attempt in a fresh context): 0 points in the maximum, so it can never raise a score, and the
submission marked for regrading.
"""

from __future__ import annotations

import os

import pytest
from harness import ROOT, grade
from korean import english_in_korean

from conformance import locate

FIXTURES = ROOT / "tests" / "fixtures"
JUDGED = {"failed", "timeout", "not-implemented"}


def _statuses(rec) -> dict[str, str]:
    return {s.id: s.status for s in rec.specs}


def _assert_judged(rec, allowed=JUDGED):
    wrong = {s.id: f"{s.status}: {s.message[:300]}" for s in rec.specs if s.status not in allowed}
    assert not wrong, wrong


@pytest.mark.slow
def test_the_template_is_not_implemented_the_same_way_every_run(tmp_path):
    """The untouched template: every spec not-implemented, the same maximum each run."""
    template = locate.bundled("student_template")
    runs = [grade(template, "-n", "2", cwd=tmp_path)[0] for _ in range(2)]
    for rec in runs:
        _assert_judged(rec, {"not-implemented", "unsupported"})
    assert len({rec.max_score for rec in runs}) == 1, [rec.max_score for rec in runs]
    assert _statuses(runs[0]) == _statuses(runs[1])
    assert not english_in_korean(runs[0])  # a student starting out reads it in Korean too, in every format


@pytest.mark.slow
def test_programs_that_close_stdin_and_exit_at_once_are_judged(tmp_path):
    """The grader's write to a program that has gone is the program's behaviour, not a fault."""
    rec, _ = grade(FIXTURES / "quits", "-n", "2", cwd=tmp_path)
    _assert_judged(rec, JUDGED | {"unsupported"})
    # and it earns nothing: a spec about cleaning up needs something to have been made first
    assert rec.score == 0 and not [s.id for s in rec.specs if s.status == "passed"]


@pytest.mark.parametrize(
    "spec_id, said",
    [
        ("signal.handles-usr1", "ready"),
        ("socket.servers-exit-on-sigterm", "listening"),
        ("msgq.typed-receive", "header"),
        ("mqueue.priority-order", "header"),
        ("shm.counter-exact", "one line with the final value"),
    ],
)
def test_a_number_too_big_to_parse_is_wrong_output(tmp_path, spec_id, said):
    """A 5000-digit `ready`, port, message header or counter: failed, saying what was printed."""
    rec, _ = grade(FIXTURES / "bignum", "-k", spec_id, cwd=tmp_path)
    (spec,) = [s for s in rec.specs if s.id == spec_id]
    assert spec.status == "failed", (spec.status, spec.message[:500])
    assert said in spec.message and "9999999999" in spec.message, spec.message[:500]


def test_noise_on_every_stream_is_judged(tmp_path):
    """Binary noise, control bytes, Unicode digits and any exit status: never broken."""
    rec, _ = grade(FIXTURES / "garbage", "-n", "2", cwd=tmp_path)
    _assert_judged(rec, JUDGED | {"passed", "unsupported"})
    # failures are data, and none goes without the transcripts of what ran
    for s in rec.specs:
        if s.status in ("failed", "timeout"):
            assert s.failure is not None and s.failure.observed and s.failure.transcripts, (s.id, s.message[:300])
            assert s.message == s.failure.text()


@pytest.mark.skipif(os.geteuid() != 0, reason="programs run as another user only when the grader is root")
def test_a_python_out_of_the_programs_reach_is_the_graders_fault(tmp_path):
    """The grader could give programs no Python their user can run (here: its cache, mode 0700):
    every Python program's spec is broken, the grader's fault, never charged; C programs still
    run (the build is a grader-independent program of the submission's own)."""
    cache = tmp_path / "private-cache"
    cache.mkdir(mode=0o700)
    env = {**os.environ, "IPC_GRADE_CACHE": str(cache)}
    rec, _ = grade(locate.bundled("reference"), "-k", "pipe.relay-roundtrip or fifo.roundtrip", cwd=tmp_path, env=env)
    assert rec.specs and all(s.status == "broken" for s in rec.specs), [(s.id, s.status, s.message[:200]) for s in rec.specs]
    assert all("cannot run" in s.message and "not the submission's" in s.message for s in rec.specs)
    assert all(s.message.startswith("The grader could not judge this spec twice") for s in rec.specs)  # retried in a fresh context
    assert rec.max_score == sum(s.max_points for s in rec.specs) and rec.score == 0 and rec.regrade  # 0 of the maximum
    assert "no Python the programs' user can run" in rec.meta["programs_python_note"]


def test_a_spec_that_fails_as_a_consequence_sends_the_student_to_the_cause(tmp_path):
    """The child that keeps the write end never lets the relay exit: reaps-child cannot see
    whether the relay waits, so it says it fails as a consequence of eof-on-close, and shows
    eof-on-close's way out instead of its own hint about waitpid, in every format."""
    from harness import mutants

    from grading import render

    impl = next(m for m in mutants() if m.id == "pipe/child-keeps-write-end").materialize(tmp_path)
    rec, _ = grade(impl, "--ipc-spec", "pipe.reaps-child", "--ipc-spec", "pipe.eof-on-close", "-p", "no:xdist")
    by_id = {s.id: s for s in rec.specs}
    reaps, cause = by_id["pipe.reaps-child"], by_id["pipe.eof-on-close"]
    assert reaps.status in ("failed", "timeout") and cause.status == "failed"
    assert reaps.failure.because == "pipe.eof-on-close" and cause.failure.because == ""
    assert reaps.advice == "" and cause.advice == cause.hint
    assert reaps.message.startswith("This spec fails as a consequence of pipe.eof-on-close")
    for name, fmt in render.FORMATS.items():
        text = fmt.render(rec, False)
        assert "consequence of pipe.eof-on-close" in text, name
        if name != "json":  # the record keeps the spec's hint, as data
            assert "Call waitpid(2) for the child before the parent exits" not in text, name
