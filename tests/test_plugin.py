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
    assert [s.pytest_option for s in OPTIONS] == ["--impl", "--deadline-scale", "--run-as", "--ipc-live", "--ipc-spec"]
    assert all(SETTINGS[s.name] is s for s in OPTIONS)
