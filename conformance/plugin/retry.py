"""A spec the grader could not judge is judged again, once, in a fresh context.

*broken* is the grader's own failure, never the submission's (what programs do to the grader's
operations is theirs: failed, with an integrity finding). Before a broken verdict stands, the
spec runs a second time from the start: pytest's own protocol (setup, call, teardown) again on
the same item, so every fixture is made anew: a new supervisor and timeline, names, keys and
paths the run has not handed out yet, new queues, segments and sockets. Only the reports of the
attempt that stands are logged, so the recorder, the live progress and every report see one
verdict per spec; when the second attempt is broken too, its message says so, with the first
attempt's reason, and the spec counts 0 points in the maximum until an instructor regrades it
(record.StatusInfo, docs/run-record.md).

A loop here, not pytest-rerunfailures: that plugin reruns by pytest's outcome (a failure, an
error), where this must rerun on the grader's own verdict and only on it: a failed spec is a
verdict on the submission, and running it again until it passes would reward flaky programs.
Nor does pytest's own protocol offer a retry. The loop is pytest-rerunfailures' technique
(runtestprotocol with log=False, the reports logged once the attempt that stands is known),
and it keeps pytest-timeout's budget per attempt.
"""

from __future__ import annotations

from typing import Any

import pytest
from _pytest.runner import runtestprotocol

from conformance.outcomes import Status

from .prepare import META
from .recorder import Results
from .verdict import INTERRUPTION

#: How many times a broken spec is judged in all.
ATTEMPTS = 2


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> bool | None:
    """Run a spec's protocol, and once more if its verdict is broken; log the attempt that stands."""
    if META not in item.stash:
        return None
    ihook = item.ihook
    ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
    properties = list(item.user_properties)
    reports = runtestprotocol(item, nextitem=nextitem, log=False)
    spent = sum(r.duration for r in reports)
    first = _verdict(reports)
    if first is not None and first.status == Status.BROKEN.value and not (item.session.shouldfail or item.session.shouldstop):
        item.user_properties[:] = properties
        if INTERRUPTION in item.stash:
            del item.stash[INTERRUPTION]
        _restart_timer(item)
        reports = runtestprotocol(item, nextitem=nextitem, log=False)
        reports[0].duration += spent
        again = _verdict(reports)
        if again is not None and again.status == Status.BROKEN.value:
            _say_twice(reports, first.message)
    for report in reports:
        ihook.pytest_runtest_logreport(report=report)
    ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
    return True


def _verdict(reports: list[pytest.TestReport]) -> Any:
    """The spec's verdict as the recorder would take it from REPORTS (None without one)."""
    results = Results()
    for report in reports:
        results.add(report)
    return next(iter(results.specs.values()), None)


def _say_twice(reports: list[pytest.TestReport], first: str) -> None:
    """The broken verdict that stands says it broke twice, and what the first attempt said."""
    for report in reports:
        for name, value in report.user_properties:
            if name == "ipc_status" and value.get("status") == Status.BROKEN.value:
                value["message"] = (
                    "The grader could not judge this spec twice, the second time in a fresh context "
                    f"(new names, objects and processes).\n{value['message']}"
                    + (f"\nThe first attempt: {first}" if first and first != value["message"] else "")
                )
                value["retried"] = True


def _restart_timer(item: pytest.Item) -> None:
    """Give the second attempt pytest-timeout's whole budget again (its timer spans the item's
    protocol, which now holds two attempts)."""
    if not item.config.pluginmanager.hasplugin("timeout"):
        return
    try:
        from pytest_timeout import _get_item_settings
    except ImportError:  # pragma: no cover - a pytest-timeout without it keeps one budget
        return
    settings = _get_item_settings(item)
    if settings.timeout and not settings.func_only:
        hooks = item.config.pluginmanager.hook
        hooks.pytest_timeout_cancel_timer(item=item)
        hooks.pytest_timeout_set_timer(item=item, settings=settings)
