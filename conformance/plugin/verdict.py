"""A spec's verdict, assembled from pytest's report of each phase: its status, its failure as
data (with the programs' transcripts), the integrity watch's findings and its timeline.

``decide`` hands the verdict on as the report's ``ipc_status`` user property, which survives
pytest-xdist and reaches the recorder in the controller (recorder.py).

A spec that ran out of its time budget is recognised by the interruption pytest-timeout made:
``watch_interruption`` wraps the SIGALRM handler it sets for each spec, and keeps the exception
that handler raised in the item's stash; only that exception is a timeout, whatever any other
failure's message says.
"""

from __future__ import annotations

import signal
import threading
from dataclasses import asdict
from typing import Any

import pytest
from hypothesis.errors import Flaky

from conformance import record as run_record
from conformance.kernel import observe
from conformance.outcomes import Explained, ProgramsInterfered, Sentence, SpecFailure, Status, status_of
from conformance.run import keeper
from conformance.run.supervisor import Supervisor
from conformance.run.timeline import Timeline

from .prepare import META

#: The exception pytest-timeout's interruption raised in a spec, in its item's stash.
INTERRUPTION = pytest.StashKey[BaseException]()

#: Notes Hypothesis adds to a failure: the example as Python sees it (the grader's objects,
#: paths and uids) and advice for developers. A spec states its example in its own words.
HYPOTHESIS_NOTES = (
    "Falsifying example", "Failing explicit example", "Falsifying explicit example", "Failing test case",
    "(note: ", "Explanation:", "You can reproduce", "Trying example", "These lines were always",
    "Failed to reproduce", "Unreliable test timings", "Inconsistent results",
)
#: What a failure says, in the student's terms, when the case that failed passed when Hypothesis
#: ran it again (its FlakyFailure, whose own words and notes are the grader's internals).
FLAKY = (
    "The grader ran the failing case again and your programs did not fail the same way: what they "
    "do depends on how their processes happen to interleave or how fast they run (a race, or a "
    "timing dependence). The failure above is the first run's."
)
#: A note that shows the grader's own objects is internal whatever Hypothesis calls it (its
#: wording changes between releases: 6.170 says "Failing test case").
INTERNAL = ("impl=Implementation(", "Implementation(manifest=", "Supervisor(limits=", "Names(run_id=", "PosixPath(", " object at 0x")

#: The transcripts a failure shows when it names no program: the spec's last ones (after
#: Hypothesis shrinks, the last programs are the failing example's).
TRANSCRIPTS = 8


def watch_interruption(item: pytest.Item) -> None:
    """After pytest-timeout set its timer for ITEM: when its SIGALRM handler (the signal
    method) interrupts the spec, keep the exception it raises (INTERRUPTION)."""
    handler = signal.getsignal(signal.SIGALRM)
    if not callable(handler) or threading.current_thread() is not threading.main_thread():
        return  # the thread method: it ends the process, and the recorder says so

    def interrupted(signum: int, frame: Any) -> None:
        __tracebackhide__ = True
        try:
            handler(signum, frame)
        except BaseException as exc:
            item.stash[INTERRUPTION] = exc
            raise

    signal.signal(signal.SIGALRM, interrupted)


def decide(item: pytest.Item, report: pytest.TestReport, call: pytest.CallInfo[None]) -> None:
    """REPORT's verdict for the spec ITEM, as its ``ipc_status`` user property; REPORT shows it
    as the grader explains it."""
    status, message = _status(item, report, call)
    findings = _integrity(item) if report.when == "call" else []
    if findings:
        status = Status.FAILED
    elif report.when == "call" and _interfered(item):
        # another grading spoiled this attempt (keeper.py): no verdict on the submission; the
        # retry (retry.py) judges the spec again
        status, message = Status.BROKEN, f"another grading on this machine interfered with this spec: {_interfered(item)}. This says nothing of your programs."
    if status is None:
        return
    outcome: dict[str, Any] = {"status": status.value, "message": message}
    exc = call.excinfo.value if call.excinfo else None
    if findings:
        failure = _integrity_failure(item, findings)
        outcome.update(failure=asdict(failure), message=failure.text(), integrity=findings)
        report.outcome = "failed"
    elif status in (Status.FAILED, Status.TIMEOUT) and exc is not None:
        failure = _failure(item, exc, message)
        outcome["failure"] = asdict(failure)
        outcome["message"] = failure.text()
    if isinstance(exc, ProgramsInterfered):  # what the programs did to the grader's own operation
        outcome["integrity"] = [*outcome.get("integrity", []), exc.finding]
    if isinstance(exc, observe.EvidenceUnavailable):
        outcome["evidence_unavailable"] = exc.source
    if report.when == "call" and _loaded(item):
        outcome["loaded"] = _loaded(item)  # what the submission's programs loaded of it (integrity.Guard)
    if report.when == "call" and _schedule(item) is not None:
        outcome["schedule"] = _schedule(item)  # what the spec's exploration of schedules guarantees
    if report.when == "call":
        timeline = _timeline(item)
        if timeline is not None:
            why = (outcome.get("failure") or {}).get("observed", "") or first_line(outcome["message"])
            timeline.decided(status.value, why)
            outcome["timeline"] = timeline.to_json()
    report.user_properties.append(("ipc_status", outcome))
    if status in (Status.NOT_IMPLEMENTED, Status.UNSUPPORTED):
        report.outcome = "skipped"
        report.longrepr = (str(item.path), item.location[1] or 0, run_record.visible(f"{status.value}: {first_line(message)}"))
    elif status is Status.BROKEN:
        outcome["trace"] = report.longreprtext  # the grader's own traceback: for its maintainers
    elif report.failed:
        # pytest shows the spec's verdict as the grader explains it, not the grader's traceback
        report.longrepr = run_record.visible(f"{item.stash[META].id} {status.value}: {outcome['message']}")


def first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


def _status(item: pytest.Item, report: pytest.TestReport, call: pytest.CallInfo[None]) -> tuple[Status | None, str]:
    if report.when == "call" and report.passed:
        return Status.PASSED, ""
    excinfo = call.excinfo
    if excinfo is None:
        return None, ""
    exc = excinfo.value
    if isinstance(exc, pytest.skip.Exception):
        return Status.UNSUPPORTED, str(exc.msg)
    if isinstance(exc, pytest.fail.Exception) and exc is item.stash.get(INTERRUPTION, None):
        return Status.TIMEOUT, Sentence("the spec ran out of its time budget (%(reason)s)", reason=str(exc.msg))
    status = status_of(exc)
    if status is Status.BROKEN:
        return status, f"the harness failed ({type(exc).__name__}: {exc}): the grader's fault, not the submission's; an instructor regrades it."
    if report.when == "teardown":
        return Status.BROKEN, f"cleaning up after the spec failed: {exc}"
    return status, _message(exc)


def _message(exc: BaseException) -> str:
    """EXC's message with the notes a student may read (``student_notes``), whatever the status."""
    text = str(exc)
    notes = student_notes(exc)
    if notes:
        text += "\n" + "\n".join(notes)
    if isinstance(exc, BaseExceptionGroup):
        text = "\n".join(_message(e) for e in exc.exceptions)
    if isinstance(exc, Flaky):
        text += "\n" + FLAKY
    return text.strip()


def student_notes(exc: BaseException) -> list[str]:
    """The notes on EXC a report may show: not Hypothesis's (its example as Python sees it, with
    the grader's objects, paths and uids; its advice for developers), nor any that shows the
    grader's own objects. For every status: a spec that ends not implemented or unsupported
    carries them as much as one that failed."""
    return [n for n in getattr(exc, "__notes__", None) or [] if n.strip() and not n.startswith(HYPOTHESIS_NOTES) and not any(i in n for i in INTERNAL)]


def _failure(item: pytest.Item, exc: BaseException, message: str) -> run_record.Failure:
    """EXC's reasons as data, with the transcripts of the programs it names (or of the spec's
    last programs): whatever a spec raised, its failure shows what the programs did."""
    explained = _explained(exc)
    said = {"observed": message.data()} if isinstance(message, Sentence) else {}  # a verdict's own sentence (_status), as words
    parts = explained.parts() if explained is not None else run_record.Failure(observed=message, words=said)
    notes = student_notes(exc) + ([FLAKY] if isinstance(exc, Flaky) else [])
    if notes:
        parts.done = "\n".join([parts.done, *notes]).strip()
    if not parts.transcripts:  # the exception named no program: the spec's last ones, now
        supervisor = getattr(item, "funcargs", {}).get("supervisor")
        procs = list(supervisor.procs[-TRANSCRIPTS:]) if isinstance(supervisor, Supervisor) else []
        parts.transcripts = [p.record() for p in procs]
    return parts


def _timeline(item: pytest.Item) -> Timeline | None:
    supervisor = getattr(item, "funcargs", {}).get("supervisor")
    return supervisor.timeline if isinstance(supervisor, Supervisor) else None


def _schedule(item: pytest.Item) -> dict[str, Any] | None:
    supervisor = getattr(item, "funcargs", {}).get("supervisor")
    return supervisor.schedule if isinstance(supervisor, Supervisor) else None


def _integrity(item: pytest.Item) -> list[str]:
    """What the guard saw the submission's processes do with the grader's files (integrity.py)."""
    supervisor = getattr(item, "funcargs", {}).get("supervisor")
    if not isinstance(supervisor, Supervisor):
        return []
    found = supervisor.guard.stop() if supervisor.guard is not None else []
    # and what the keeper saw them take of what the machine's gradings share (keeper.py)
    return found + (supervisor.keeper.stop() if supervisor.keeper is not None else [])


def _loaded(item: pytest.Item) -> list[str]:
    """The files of the submission its programs loaded in the spec ITEM (integrity.Guard)."""
    supervisor = getattr(item, "funcargs", {}).get("supervisor")
    if not isinstance(supervisor, Supervisor) or supervisor.guard is None:
        return []
    return supervisor.guard.loaded


def _interfered(item: pytest.Item) -> str | None:
    """What another grading did to the spec ITEM while it ran (keeper.Keeper.interference)."""
    supervisor = getattr(item, "funcargs", {}).get("supervisor")
    keeper_ = supervisor.keeper if isinstance(supervisor, Supervisor) else None
    return keeper_.interference if keeper_ is not None else None


def _integrity_failure(item: pytest.Item, findings: list[str]) -> run_record.Failure:
    supervisor = item.funcargs["supervisor"]
    transcripts = [p.record() for p in supervisor.procs[-TRANSCRIPTS:]]
    if supervisor.keeper is not None and set(findings) <= set(supervisor.keeper.findings):
        return SpecFailure(keeper.OBSERVED, evidence=findings, fix=keeper.FIX).parts(transcripts)
    return SpecFailure(
        Sentence("integrity: your programs ran the grader's own files (or a hidden copy of its reference), not programs of "
                 "their own, so this spec gives no points whatever they printed."),
        evidence=findings,
        fix=Sentence("Hand in programs of your own: a program may not run, import or copy the grader or its reference implementation."),
    ).parts(transcripts)


def _explained(exc: BaseException) -> Explained | None:
    """The exception that says why: EXC, or the first explained member of a group (Hypothesis
    raises one for several distinct failures) with the group's status."""
    if isinstance(exc, Explained):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        status = status_of(exc)
        members = [e for e in exc.exceptions if status_of(e) is status]
        for member in members + list(exc.exceptions):
            found = _explained(member)
            if found is not None:
                return found
    return None
