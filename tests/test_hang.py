"""A submission that hangs costs its specs moments when the kernel proves it stuck, and each
spec its deadline, no more, when nothing can be proven (a program that spins).

A proof is a verdict: every spec that ends on one is *failed* (outcomes.SpecDeadlock), the same
status in every spec and on any machine; *timeout* is left for a deadline that ran out."""

from __future__ import annotations

import time

from harness import ROOT, grade, mutants

from conformance import deadline

HANG = ROOT / "tests" / "fixtures" / "hang"
DEADLOCK = ROOT / "tests" / "fixtures" / "deadlock"
#: The longest deadline a pipe spec waits on (the EXIT preset, test_pipe's longest); OVERHEAD
#: is start-up and teardown.
LONGEST_DEADLINE = deadline.EXIT
OVERHEAD = 3
#: A proof takes two looks at the kernel a moment apart, every deadlock.PERIOD.
PROOF = 1.0


def test_a_submission_asleep_for_good_is_proven_stuck_at_once(tmp_path):
    """Every program sleeps in pause() with every signal ignored: each spec ends in well under
    a second, failed, with the wait-for graph."""
    rec, proc = grade(HANG, "-k", "pipe", "-n", "2", cwd=tmp_path)
    assert "Traceback" not in proc.stdout + proc.stderr
    assert rec.specs and {s.status for s in rec.specs} == {"failed"}
    for s in rec.specs:
        assert s.duration_s < PROOF + OVERHEAD, (s.id, s.duration_s)
        # proven stuck, or (a spec that first looks for the pipe its points need) settled without one
        assert ("Deadlock" in s.message and "waits in pause" in s.message) or ("shares no pipe" in s.message and "in pause" in s.message), s.message
    assert rec.score == 0


def test_a_client_asleep_for_good_is_proven_stuck_beside_a_server_that_is_awake(tmp_path):
    """A client that sleeps in pause() with every signal ignored, talking to the reference's
    server (awake in accept or recvfrom, the grader's own code, which sends no signal) or to
    the grader itself: proven at once, not at the 10 s deadline."""
    specs = "rpc.call-returns-result or socket.udp-roundtrip or socket.udp-timeout or socket.tcp-client-half-close"
    rec, _ = grade(HANG, "-k", specs, "-n", "2", cwd=tmp_path)
    assert len(rec.specs) == 4
    for s in rec.specs:
        assert s.status == "failed" and "Deadlock" in s.message and "waits in pause" in s.message, (s.id, s.message[:300])
        assert s.duration_s < PROOF + OVERHEAD, (s.id, s.duration_s)
    rpc = next(s for s in rec.specs if s.id == "rpc.call-returns-result")
    assert "the reference's programs still awake send no signal" in rpc.message


def test_programs_deadlocked_on_their_own_pipes_queues_and_semaphores_are_proven_stuck(tmp_path):
    rec, _ = grade(DEADLOCK, "-k", "pipe.relay-roundtrip or msgq.rm-removes or buffer.fifo-order", "-n", "2", cwd=tmp_path)
    assert rec.specs
    for s in rec.specs:
        assert s.status == "failed" and "Deadlock" in s.message, (s.id, s.status, s.message[:300])
        assert s.duration_s < PROOF + OVERHEAD, (s.id, s.duration_s)


def test_a_child_that_keeps_the_write_end_fails_its_first_spec_in_a_second(tmp_path):
    """The classic first mistake, graded with -x: the first failing spec names the held end."""
    impl = next(m for m in mutants() if m.id == "pipe/child-keeps-write-end").materialize(tmp_path)
    started = time.monotonic()
    rec, _ = grade(impl, "-x", "-k", "pipe.relay-roundtrip or pipe.eof-on-close", cwd=tmp_path)
    failed = [s for s in rec.specs if s.status != "passed"]
    assert failed, [(s.id, s.status) for s in rec.specs]
    assert "it itself (fd" in failed[0].message and "close the ends it does not use" in failed[0].message, failed[0].message
    assert failed[0].duration_s < PROOF + OVERHEAD, failed[0].duration_s
    assert time.monotonic() - started < 60


def test_a_spinning_submission_costs_each_spec_only_its_deadline(tmp_path):
    """Programs that run for ever cannot be proven stuck: each spec waits out its deadline."""
    impl = tmp_path / "spins"
    impl.mkdir()
    (impl / "spin.py").write_text("while True:\n    pass\n")
    (impl / "ipc.toml").write_text('[programs]\npipe = "python3 spin.py"\n')
    rec, _ = grade(impl, "-k", "pipe.relay-roundtrip or pipe.eof-on-close or pipe.uses-pipe", "-n", "2", cwd=tmp_path)
    assert rec.specs and {s.status for s in rec.specs} <= {"timeout", "failed"}
    for s in rec.specs:
        assert s.duration_s < LONGEST_DEADLINE + OVERHEAD, (s.id, s.duration_s)
