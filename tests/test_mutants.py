"""The suite proves itself: every mutant is caught by exactly the specs aimed at it."""

from __future__ import annotations

import os
import re
import tomllib

import pytest
from harness import MUTANTS as MUTANTS_DIR
from harness import grade, mutants
from korean import assert_korean
from test_messages import assert_names_cause, assert_no_overlapping_labels, assert_pictures

from conformance import locate

MUTANTS = mutants()


@pytest.mark.slow
@pytest.mark.parametrize("mutant", MUTANTS, ids=[m.id for m in MUTANTS])
def test_mutant_is_caught(mutant, tmp_path):
    impl = mutant.materialize(tmp_path)
    specs = locate.specs_dir() / f"test_{mutant.mechanism}.py"
    rec, proc = grade(impl, str(specs), cwd=tmp_path)
    if mutant.unprivileged and os.geteuid() == 0 and rec.meta.get("programs_run_as") == "the grader's own user":
        pytest.skip(f"{mutant.id} hides from its own user; here its programs run as root, whom it cannot hide from")
    by_status = {s.id: s.status for s in rec.specs}
    # a spec this machine cannot run (no strace, no network namespaces) proves nothing either way
    unsupported = {i for i, st in by_status.items() if st == "unsupported"}
    expected = mutant.fails - unsupported
    if not expected:
        pytest.skip(f"every spec aimed at {mutant.id} is unsupported here: {sorted(unsupported)}")
    not_passed = {i for i, st in by_status.items() if st not in ("passed", "unsupported")}
    assert not_passed == expected, (
        f"mutant {mutant.id} ({mutant.description}):\n"
        f"  expected exactly these specs not to pass: {sorted(mutant.fails)}\n"
        f"  these did not pass: { {i: by_status[i] for i in sorted(not_passed)} }\n"
        + "\n".join(f"  {s.id}: {s.status}: {s.message[:300]}" for s in rec.specs if s.id in not_passed ^ expected)
    )
    assert all(st in ("failed", "timeout") for i, st in by_status.items() if i in not_passed), by_status
    _assert_reports_read_clean(rec)
    assert_names_cause(mutant, rec)
    assert_pictures(rec)
    assert_no_overlapping_labels(rec)
    assert_korean(rec)  # every sentence a student reads of it, in every format, in Korean too


#: What no report may show a student: Hypothesis's and the grader's internals, raw control bytes.
INTERNALS = ("Failing explicit example", "Implementation(", "Traceback", "Verbosity.verbose")
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _assert_reports_read_clean(rec) -> None:
    """Every format of a mutant's record: no raw control byte in any, and none of the grader's
    internals outside what the programs printed (a Python mutant that crashes shows its own
    traceback in its stderr, which the student needs)."""
    import dataclasses

    from grading import render

    def unprinted(spec):
        if spec.failure is None:
            return dataclasses.replace(spec, message="")
        quiet = [dataclasses.replace(t, stdout="", stderr="") for t in spec.failure.transcripts]
        failure = dataclasses.replace(spec.failure, transcripts=quiet)
        return dataclasses.replace(spec, failure=failure, message=failure.text(), timeline=None)

    without_output = dataclasses.replace(rec, specs=[unprinted(s) for s in rec.specs])
    for name, fmt in render.FORMATS.items():
        text = fmt.render(rec, False)
        assert not CONTROL.search(text), (name, CONTROL.search(text))
        found = [w for w in INTERNALS if w in fmt.render(without_output, False)]
        assert not found, (name, found)


UNPROVEN = MUTANTS_DIR / "UNPROVEN.toml"


def test_every_spec_is_proven_by_a_mutant():
    """Every spec fails for some mutant, or is listed in tests/mutants/UNPROVEN.toml with why
    no mutant can fail it alone: a spec nothing can fail proves nothing."""
    from conformance.catalogue import specs

    allowed = {e["id"]: e.get("reason", "") for e in tomllib.loads(UNPROVEN.read_text()).get("spec", [])} if UNPROVEN.exists() else {}
    assert all(len(reason) > 20 for reason in allowed.values()), "each UNPROVEN entry needs a reason"
    ids = {s.id for s in specs()}
    assert set(allowed) <= ids, f"UNPROVEN.toml names specs that do not exist: {sorted(set(allowed) - ids)}"
    proven = set().union(*(m.fails for m in MUTANTS))
    assert not proven & set(allowed), f"proven by a mutant, so drop them from UNPROVEN.toml: {sorted(proven & set(allowed))}"
    missing = sorted(ids - proven - set(allowed))
    assert not missing, f"no mutant fails these specs: {missing}"
