"""The grader's plugin, piece by piece: what only a slow, whole grading would show otherwise."""

from __future__ import annotations

import signal
from types import SimpleNamespace

import pytest
from _pytest.outcomes import Failed
from pytest_timeout import PYTEST_FAILURE_MESSAGE

from conformance.outcomes import Status
from conformance.plugin import OPTIONS, verdict
from conformance.settings import SETTINGS


def _status(item, exc):
    report = SimpleNamespace(when="call", passed=False)
    call = SimpleNamespace(excinfo=SimpleNamespace(value=exc))
    return verdict._status(item, report, call)


def test_a_timeout_is_pytest_timeouts_interruption_not_a_word_in_a_message():
    item = SimpleNamespace(stash=pytest.Stash())

    def pytest_timeouts_handler(signum, frame):  # what pytest-timeout's signal method installs
        pytest.fail(PYTEST_FAILURE_MESSAGE % 75)

    before = signal.signal(signal.SIGALRM, pytest_timeouts_handler)
    try:
        verdict.watch_interruption(item)
        with pytest.raises(Failed) as interrupted:
            signal.raise_signal(signal.SIGALRM)
    finally:
        signal.signal(signal.SIGALRM, before)
    assert _status(item, interrupted.value) == (Status.TIMEOUT, "the spec ran out of its time budget (Timeout (>75s) from pytest-timeout.)")
    # any other pytest.fail is what it always was, whatever its message says
    with pytest.raises(Failed) as own:
        pytest.fail("Timeout waiting for the peer")
    assert _status(item, own.value)[0] is Status.BROKEN


def test_the_plugins_options_are_the_settings():
    assert [s.pytest_option for s in OPTIONS] == ["--impl", "--deadline-scale", "--run-as", "--ipc-live", "--ipc-spec", "--ipc-mechanism", "--ipc-schedule"]
    assert all(SETTINGS[s.name] is s for s in OPTIONS)


def test_a_case_that_passes_when_run_again_is_told_in_the_students_terms():
    """A race makes a Hypothesis-driven spec fail once and pass when Hypothesis replays the case:
    the report says so in the student's terms, never with Hypothesis's "Failed to reproduce" and
    the traceback of the grader's own spec source that it adds as a note."""
    from hypothesis import given, settings
    from hypothesis import strategies as st
    from hypothesis.errors import Flaky

    from conformance.outcomes import SpecFailure

    calls = []

    @settings(database=None, max_examples=5, derandomize=True)
    @given(st.integers())
    def spec(n):
        calls.append(n)
        if len(calls) == 1:
            raise SpecFailure("the reader's output differed at byte 0", expected="the same bytes")

    with pytest.raises(Flaky) as info:
        spec()
    raw = "\n".join(getattr(info.value, "__notes__", []))
    assert "Failed to reproduce" in raw and "Traceback" in raw  # what a report used to show
    message = verdict._message(info.value)
    shown = verdict._failure(SimpleNamespace(funcargs={}), info.value, message).text()
    for text in (message, shown):
        assert "Failed to reproduce" not in text and "Traceback" not in text and "def spec" not in text, text
        assert verdict.FLAKY in text and "the reader's output differed at byte 0" in text
