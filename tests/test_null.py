"""No score without the work: submissions whose programs do nothing of it score 0, with nothing broken.

Each null program (tests/fixtures/null/: exit at once, exit 1 at once, cannot be executed, an
exec that fails inside the script, echo stdin, drain stdin, print `ready`, ...) is graded on
every spec. A spec that checks an absence or a refusal gives its point only when the same spec
shows the work the absence is about; a spec that grades output through a mechanism, only when
the kernel shows the mechanism in use (conformance/specs/support/mechanism.py). So every spec
fails, times out or is not implemented; none passes, and none is broken (which would count 0
too, but ask an instructor to regrade for nothing). scripts/environments.py grades the same
programs under Docker's default capabilities and as an ordinary user; this test is the root one.

The slow tier: one grading per null program, on two workers.
"""

from __future__ import annotations

import pytest
from harness import NULLS, grade, null_submission


@pytest.mark.slow
@pytest.mark.parametrize("name", NULLS)
def test_a_null_submission_scores_nothing(name, tmp_path):
    impl = null_submission(name, tmp_path)
    rec, proc = grade(impl, "-n", "2", cwd=tmp_path)
    assert rec.error is None and len(rec.specs) > 100, (rec.error, proc.stdout[-2000:])
    passed = [s.id for s in rec.specs if s.status == "passed"]
    broken = [(s.id, s.message[:300]) for s in rec.specs if s.status == "broken"]
    assert not passed and not broken and rec.score == 0, (passed, broken)
    assert rec.max_score == sum(s.max_points for s in rec.specs if s.status != "unsupported")
