"""The hooks through which the grader hands its results to whoever reports them.

The grader (``conformance.plugin``) decides each spec's verdict and writes the run record; the
reports (``grading.plugin``) turn a record into documents. Neither imports the other: the
record is data (``conformance.record``), and these hooks carry it across.
"""

from __future__ import annotations

from typing import Any

import pytest


@pytest.hookspec(firstresult=True)
def pytest_ipc_catalogue(config: pytest.Config) -> list[dict[str, Any]] | None:
    """Every spec the grader knows, each as a dict: ``id``, ``mechanism``, ``title``, ``points``,
    ``hint``, ``timeout`` (read from the specs' own markers, whatever pytest collects).

    The grader implements it; a rubric is checked against it.
    """


@pytest.hookspec(firstresult=True)
def pytest_ipc_select(config: pytest.Config, spec_id: str) -> bool | None:
    """Whether to grade the spec SPEC_ID; return False to leave it out (a rubric does), None to
    have no say. Called at collection, in every process that collects."""


@pytest.hookspec
def pytest_ipc_progress(config: pytest.Config, record: Any) -> None:
    """A spec has been decided: RECORD holds every verdict so far (its ``meta`` has
    ``partial: true``). Report writers may save it, so that a run stopped from outside (a
    session timeout) still hands back every verdict it reached."""


@pytest.hookspec
def pytest_ipc_record(config: pytest.Config, record: Any) -> None:
    """The run is over: RECORD (a ``conformance.record.RunRecord``) holds every spec's verdict.

    Called once, in the process that reports (the controller under pytest-xdist), after the
    last spec and before the terminal summary; also when nothing could be graded (RECORD's
    ``error`` says why). Report writers implement it.
    """
