"""The recorder: in the process that reports (the controller under pytest-xdist), every spec's
verdict gathered from the reports of whatever process ran it, and, when the session ends, the
run record handed on (``pytest_ipc_record``; ``pytest_ipc_progress`` after each spec)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from conformance import record as run_record
from conformance.outcomes import Status
from conformance.run import isolation

from .prepare import RUN, Run


class Results:
    """The controller's view of every spec, from the reports of whatever process ran it."""

    def __init__(self) -> None:
        self.specs: dict[str, run_record.SpecResult] = {}
        self.decided: set[str] = set()
        self.finished: set[str] = set()
        self.loaded: dict[str, set[str]] = {}
        """Per mechanism, the files of the submission its programs loaded (the record's ``loaded``)."""
        self.started = time.monotonic()

    def add(self, report: pytest.TestReport) -> None:
        props = dict(report.user_properties)
        meta = props.get("ipc_spec")
        if meta is None:
            return
        spec = self.specs.get(report.nodeid)
        if spec is None:
            spec = self.specs[report.nodeid] = run_record.SpecResult(
                id=meta["id"],
                mechanism=meta["mechanism"],
                title=meta["title"],
                status=Status.BROKEN.value,
                points=0,
                max_points=meta["points"],
                hint=meta["hint"],
                nodeid=report.nodeid,
                message="the spec did not finish: the process running it crashed",
            )
        spec.duration_s = round(spec.duration_s + report.duration, 3)
        if report.when == "teardown":
            self.finished.add(report.nodeid)
        if props.get("ipc_left_behind"):
            spec.left_behind = dict(props["ipc_left_behind"])
        spec.interference = [v for k, v in report.user_properties if k == "ipc_interference"] or spec.interference
        outcome = props.get("ipc_status")
        if outcome is None:
            return
        # setup and call decide; a teardown problem can only spoil a pass
        if report.when == "teardown" and report.nodeid in self.decided and spec.status != "passed":
            return
        self.decided.add(report.nodeid)
        spec.status = outcome["status"]
        spec.message = outcome["message"]
        spec.evidence_unavailable = outcome.get("evidence_unavailable", "")
        spec.integrity = outcome.get("integrity", [])
        self.loaded.setdefault(spec.mechanism, set()).update(outcome.get("loaded", []))
        spec.trace = outcome.get("trace", "")
        if "timeline" in outcome:
            spec.timeline = outcome["timeline"]
        spec.schedule = outcome.get("schedule", spec.schedule)
        failure = outcome.get("failure")
        spec.failure = run_record.Failure.from_json(failure) if failure else None
        spec.points = spec.max_points if spec.status == Status.PASSED.value else 0

    def record(self, run: Run, partial: bool = False) -> run_record.RunRecord:
        """The run record; PARTIAL: only the specs that have finished (setup, call, teardown)."""
        meta = dict(run.meta)
        meta["duration_s"] = round(time.monotonic() - self.started, 3)
        meta["loaded"] = {m: sorted(self.loaded[m]) for m in sorted(self.loaded, key=run_record.mechanism_order) if self.loaded[m]}
        if partial:
            meta["partial"] = True
        specs = [s for nodeid, s in self.specs.items() if not partial or nodeid in self.finished]
        return run_record.RunRecord(
            implementation={"path": str(run.impl.root), "name": run.impl.name},
            specs=specs,
            error=run.impl.error,
            meta=meta,
        )


#: The share of the controller's time that handing on the record at a spec's start may take (_progress).
PROGRESS_SHARE = 0.1


class Recorder:
    """In the process that reports (the controller under xdist): collects every spec's verdict
    and, when the session ends, hands the run record on (pytest_ipc_record)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.results = Results()
        self.running: dict[str, str] = {}
        self.planned: int | None = None
        self.next_progress = 0.0
        """When the record so far may be handed on again (_progress)."""

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.results.add(report)
        if report.when == "teardown":
            self.running.pop(report.nodeid, None)
            self._progress()

    def pytest_runtest_logstart(self, nodeid: str, location: Any) -> None:
        self.running[nodeid] = spec_id_of(nodeid)
        self._progress(verdict=False)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.planned = len(session.items)

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        self.planned = len(ids)  # every worker collects the same specs

    def _progress(self, verdict: bool = True) -> None:
        """The record so far, handed on (pytest_ipc_progress): at once when a spec has finished
        (VERDICT: a run stopped from outside keeps every verdict reached); when one only starts
        (the record's ``running``, for the live line), unless the last hand-over was too recent.
        Writing the whole record costs more as it grows (180 ms for the C reference's 104 specs
        with their timelines), and this process also hands the workers their next specs: a start
        is handed over no sooner than T / PROGRESS_SHARE after a hand-over that took T."""
        now = time.monotonic()
        if not verdict and now < self.next_progress:
            return
        record = self.results.record(self.config.stash[RUN], partial=True)
        record.meta["running"] = list(self.running.values())
        if self.planned is not None:
            record.meta["planned"] = self.planned
        self.config.hook.pytest_ipc_progress(config=self.config, record=record)
        self.next_progress = now + (time.monotonic() - now) / PROGRESS_SHARE

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        record = self.results.record(self.config.stash[RUN])
        self.config.hook.pytest_ipc_record(config=self.config, record=record)

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        """Remove the run's directory: staged copies, FIFOs and socket files of every worker."""
        isolation.unmount_mqueue()
        shutil.rmtree(self.config.stash[RUN].names.tmp_root(), ignore_errors=True)


def spec_id_of(nodeid: str) -> str:
    """The spec id a node id stands for by the house's naming (test_pipe.py::test_eof_on_close
    is pipe.eof-on-close), for showing what runs; the marker's id is the real one."""
    module, _, function = nodeid.partition("::")
    mechanism = Path(module).stem.removeprefix("test_")
    return f"{mechanism}.{function.removeprefix('test_').split('[')[0].replace('_', '-')}"
