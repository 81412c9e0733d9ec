"""One grading session: `pytest --impl=PATH` in a child process, watched, always ending in a run
record.

Nothing the implementation does (or a crash of the harness) can stop this process from writing
a report: a run that cannot finish gives a record that says why, with score 0. A manifest that
cannot be used at all is found first, without a run. The session timeout keeps every verdict
reached (the specs not reached are timeouts); Ctrl-C stops the run the same way (the record
says it was interrupted). While it runs, progress comes from the record the child rewrites
after every spec (render/progress.py).
"""

from __future__ import annotations

import datetime
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from conformance import record as run_record

from .. import grader, options
from ..cpus import resolve_jobs
from ..render import i18n
from ..render import progress as progress_mod
from ..render.i18n import N_
from ..rubric import Rubric

DEFAULT_SESSION_TIMEOUT = 1800.0


#: How often progress is shown while a grading runs (seconds).
PROGRESS_EVERY = 0.5


#: After Ctrl-C, how long the grading run may take to tear its spec down before it is killed.
STOP_GRACE = 5.0


#: How long the spec catalogue may take to answer before progress goes on without a total.
CATALOGUE_WAIT = 30.0


def grade(
    path: str | os.PathLike[str] | None = None,
    *,
    jobs: str = "auto",
    keyword: str | None = None,
    deadline_scale: float | None = None,
    session_timeout: float = DEFAULT_SESSION_TIMEOUT,
    verbose: bool = False,
    extra_args: Sequence[str] = (),
    rubric: Rubric | None = None,
    run_as: str | None = None,
    progress: bool = False,
    pytest_terminal: bool = True,
    language: str = "en",
) -> run_record.RunRecord:
    """Grade the implementation at PATH in a child pytest; always return a record.
    PYTEST_TERMINAL False: the child prints nothing of its own (replay prints the live lines).

    With RUBRIC (already checked), only its specs run and the record carries its points; a run
    that fails before grading still names the rubric. A manifest that cannot be used at all is
    found first, without a grading run. Ctrl-C (KeyboardInterrupt) stops the run: the record
    keeps the verdicts reached and says it was interrupted (meta error_kind).
    """
    started = time.monotonic()
    impl = Path(path).resolve() if path else grader.bundled("reference")
    implementation = {"path": str(impl), "name": impl.name}
    counting = progress and not verbose and keyword is None  # with -k, only the run knows
    known = grader.CatalogueQuestion() if counting else None
    try:
        problem, words = grader.manifest_problem(impl)
        if problem is not None:
            if known is None and keyword is None:
                known = grader.CatalogueQuestion()
            return _unusable(implementation, problem, rubric, known, started, words)
        return _grade(impl, implementation, started, known, jobs=jobs, keyword=keyword, deadline_scale=deadline_scale,
                      session_timeout=session_timeout, verbose=verbose, extra_args=extra_args, rubric=rubric, run_as=run_as,
                      progress=progress, pytest_terminal=pytest_terminal, language=language)
    except KeyboardInterrupt:  # before the run started: nothing was decided
        return interrupted(None, implementation, None, rubric, started)
    finally:
        if known is not None:
            known.forget()


def _grade(impl: Path, implementation: dict[str, str], started: float, known: grader.CatalogueQuestion | None, *, jobs: str,
           keyword: str | None, deadline_scale: float | None, session_timeout: float, verbose: bool, extra_args: Sequence[str],
           rubric: Rubric | None, run_as: str | None, progress: bool, pytest_terminal: bool, language: str = "en") -> run_record.RunRecord:
    with tempfile.TemporaryDirectory(prefix="ipc-grade-") as tmp:
        tmp_path = Path(tmp)
        record_file = tmp_path / "run.json"
        config = tmp_path / "pytest.ini"  # an empty config: the user's own pytest settings stay out
        config.write_text("[pytest]\n")
        cmd = [
            sys.executable,
            "-m",
            "pytest",
            f"--impl={impl}",
            f"--ipc-json={record_file}",
            "-c",
            str(config),
            "--rootdir",
            str(tmp_path),
            "-p",
            "no:cacheprovider",
            *(["-q"] if pytest_terminal else ["-p", "no:terminal"]),
        ]
        jobs = resolve_jobs(jobs)  # "auto": the CPUs this container may really use, not the host's
        if jobs not in ("0", "1"):
            cmd += ["-n", jobs]
        if keyword:
            cmd += ["-k", keyword]
        if deadline_scale is not None:
            cmd += ["--deadline-scale", options.word(deadline_scale)]
        if rubric is not None:  # named for the grader (it keeps it from the programs), handed over checked
            checked = grader.write_checked(rubric, tmp_path / "rubric.json")
            cmd += [f"--rubric={Path(rubric.path).resolve()}", f"--ipc-checked-rubric={checked}"]
        if run_as:
            cmd += ["--run-as", run_as]
        cmd += list(extra_args)
        log = tmp_path / "pytest.log"
        total = None
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                cmd,
                cwd=tmp_path,
                stdout=None if verbose else out,
                stderr=subprocess.STDOUT if not verbose else None,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
            shown = None
            try:
                total = _planned(known, rubric)  # asked before the run started: answered while it starts
                shown = progress_mod.Progress(record_file, str(impl), total, quiet=not progress or verbose, language=language)
                reason, kind = _wait(proc, log, end=time.monotonic() + session_timeout, timeout=session_timeout, tick=shown.update)
                shown.update()  # the verdicts written since the last tick (a short run may end before the first)
            except KeyboardInterrupt:
                if shown is not None:
                    shown.close()  # the live line goes before anything else is said
                print("\n" + i18n.translator(language)._("ipc-grade: interrupted: stopping the grading run, keeping the verdicts reached ..."), file=sys.stderr, flush=True)
                reached = _partial(record_file)
                _stop(proc)
                after = _partial(record_file)  # verdicts written while the run stopped
                return interrupted(after or reached, implementation, total, rubric, started)
            finally:
                if shown is not None:
                    shown.close()
        output = log.read_text(errors="replace") if log.exists() else ""
        rec = None
        if record_file.exists():
            try:
                rec = run_record.load(record_file)
            except (ValueError, KeyError, TypeError) as exc:
                reason = reason or f"the run record could not be read ({exc})"
                kind = kind or "bad-record"
    if rec is not None and reason is None:
        return rec
    stopped = _stopped_words(session_timeout) if kind == "session-timeout" else None
    if rec is not None and kind == "session-timeout" and rec.meta.get("partial") and rec.specs:
        return _cut_short(rec, reason, rubric, keyword, round(time.monotonic() - started, 3), stopped)
    if reason is None:
        reason = "the grading run ended without a result: " + _last_lines(output)
        kind = "no-record"
    duration = round(time.monotonic() - started, 3)
    specs = rec.specs if rec is not None else []
    meta = rec.meta if rec is not None else {}
    meta = {**meta, "duration_s": duration, "error_kind": kind}
    if stopped is not None:
        meta["words"] = {**(meta.get("words") or {}), "error": stopped}
    failed = run_record.failed_run(implementation, reason, specs, **meta)
    if rubric is not None:
        failed = rubric.apply(failed)
    return failed


def _planned(known: grader.CatalogueQuestion | None, rubric: Rubric | None) -> int | None:
    """How many specs the run will grade, from the catalogue (the rubric's choice of it); None
    when it is not known before the run collects them (-k) or the catalogue cannot say."""
    specs = _catalogue(known)
    return sum(1 for s in specs if rubric is None or rubric.selects(s.id)) or None


def _meta(started: float) -> dict:
    """What a record made here, without a run, says of itself: the grader, when and how long."""
    return {
        "grader": {"name": grader.DISTRIBUTION, "version": grader.version()},
        "started_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "duration_s": round(time.monotonic() - started, 3),
    }


def _unusable(implementation: dict[str, str], problem: str, rubric: Rubric | None, known: grader.CatalogueQuestion | None, started: float,
              words: dict[str, Any] | None = None) -> run_record.RunRecord:
    """The record of a submission whose manifest cannot be used at all, made without a run: its
    reason, score 0, and every spec it would have graded (the catalogue's, as the rubric chooses
    them; none with -k, which only a run resolves) failed for that reason, as the plugin would
    have failed them. No error_kind: the submission's fault, not the grader's run's. WORDS: the
    reason's sentence as the record keeps it (meta ``words``, failure ``words``), for a report in
    another language."""
    message = f"the manifest cannot be used: {problem}"
    said = {"observed": {"template": N_("the manifest cannot be used: %(problem)s"), "values": {"problem": words}}} if words else {}
    specs = []
    for info in _catalogue(known):
        if rubric is not None and not rubric.selects(info.id):
            continue
        specs.append(
            run_record.SpecResult(
                id=info.id, mechanism=info.mechanism, title=info.title, status="failed", points=0.0,
                max_points=info.points, hint=info.hint, message=message,
                failure=run_record.Failure(observed=message, words=said) if said else None,
            )
        )
    extra = {"words": {"error": words}} if words else {}
    rec = run_record.failed_run(implementation, problem, specs, **_meta(started), manifest_unusable=True, **extra)
    return rubric.apply(rec) if rubric is not None else rec


def _catalogue(known: grader.CatalogueQuestion | None) -> list:
    """The catalogue KNOWN answers ([] when it was not asked or cannot answer)."""
    if known is None:
        return []
    try:
        return known.answer(CATALOGUE_WAIT)
    except (grader.GraderMissing, subprocess.TimeoutExpired, ValueError, KeyError, TypeError):
        return []


def interrupted(rec: run_record.RunRecord | None, implementation: dict[str, str], total: int | None, rubric: Rubric | None, started: float) -> run_record.RunRecord:
    """A run that Ctrl-C stopped: every verdict REC (its last partial record) reached stands; the
    record says it was interrupted (meta error_kind, and interrupt_note: a sentence every report
    shows). None reached: a record that could not grade, which says why."""
    reached = rec.specs if rec is not None else []
    meta = {**(rec.meta if rec is not None else {}), **_meta(started), "error_kind": "interrupted"}
    for key in ("partial", "running", "planned"):
        meta.pop(key, None)
    planned = total or (rec.meta.get("planned") if rec is not None else None)
    words = dict(meta.get("words") or {})
    if not reached:
        why = "the grading was interrupted (Ctrl-C) before any spec was decided: nothing was graded"
        words["error"] = {"template": N_("the grading was interrupted (Ctrl-C) before any spec was decided: nothing was graded"), "values": {}}
        failed = run_record.failed_run(implementation, why, **{**meta, "words": words})
        return rubric.apply(failed) if rubric is not None else failed
    of = f" of {planned}" if planned else ""
    left = planned - len(reached) if planned else 0
    rest = "; the other was not graded" if left == 1 else f"; the other {left} were not graded" if left > 1 else ""
    meta["interrupt_note"] = (
        f"the grading was interrupted (Ctrl-C) after {len(reached)}{of} specs: the score counts only the specs decided{rest}"
    )
    # the same, as words (meta ``words``): for a report in another language
    others = ({"template": N_("; the other was not graded"), "values": {}} if left == 1 else
              {"template": N_("; the other %(left)s were not graded"), "values": {"left": left}} if left > 1 else "")
    words["interrupt_note"] = (
        {"template": N_("the grading was interrupted (Ctrl-C) after %(reached)s of %(planned)s specs: the score counts only the specs decided%(rest)s"),
         "values": {"reached": len(reached), "planned": planned, "rest": others}} if planned else
        {"template": N_("the grading was interrupted (Ctrl-C) after %(reached)s specs: the score counts only the specs decided%(rest)s"),
         "values": {"reached": len(reached), "rest": others}})
    meta["words"] = words
    return run_record.RunRecord(implementation=rec.implementation, specs=list(reached), error=None, meta=meta)


def _partial(record_file: Path) -> run_record.RunRecord | None:
    """The record the run has written so far, if it is still a partial one (the final record of
    a run that Ctrl-C reached may hold the spec it stopped as broken, which it is not)."""
    try:
        rec = run_record.load(record_file)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return rec if rec.meta.get("partial") else None


def _cut_short(rec: run_record.RunRecord, reason: str, rubric: Rubric | None, keyword: str | None, duration: float,
               words: dict[str, Any] | None = None) -> run_record.RunRecord:
    """A run the session timeout stopped: every verdict it reached stands, and every spec it
    did not reach is a timeout that says so (with -k, the specs it would have run are unknown:
    only those reached are listed). WORDS: REASON as a sentence's words (meta ``words``)."""
    reached = {s.id for s in rec.specs}
    missing = []
    if keyword is None:
        try:
            known = grader.catalogue()
        except (grader.GraderMissing, ValueError, KeyError):
            known = []
        for info in known:
            if info.id in reached or (rubric is not None and not rubric.selects(info.id)):
                continue
            points = rubric.rules[info.id].points if rubric is not None else info.points
            missing.append(
                run_record.SpecResult(
                    id=info.id, mechanism=info.mechanism, title=info.title, status="timeout", points=0.0,
                    max_points=points, hint=info.hint,
                    message=f"{reason}, before this spec was decided: the verdicts above were reached, this one was not.",
                    failure=run_record.Failure(
                        observed=f"{reason}, before this spec was decided: the verdicts above were reached, this one was not.",
                        words={"observed": {"template": N_("%(reason)s, before this spec was decided: the verdicts above were reached, this one was not."),
                                            "values": {"reason": words}}}) if words else None,
                )
            )
    meta = {**rec.meta, "duration_s": duration, "error_kind": "session-timeout", "session_note": reason}
    if words:
        meta["words"] = {**(rec.meta.get("words") or {}), "session_note": words}
    for key in ("partial", "running", "planned"):
        meta.pop(key, None)
    return run_record.RunRecord(implementation=rec.implementation, specs=[*rec.specs, *missing], error=None, meta=meta)


def _stopped_words(timeout: float) -> dict[str, Any]:
    """What _wait says of a run the session timeout stopped, as a sentence's words (meta ``words``)."""
    return {"template": N_("the grading run did not finish within %(seconds)s s and was stopped"), "values": {"seconds": f"{timeout:.0f}"}}


def _wait(proc: subprocess.Popen, log: Path, *, end: float, timeout: float, tick: Callable[[], None]) -> tuple[str | None, str | None]:
    """Wait for the grading run PROC until END; (None, None) when it finished, else why not and
    a kind. TICK() runs every half second while it runs (progress)."""
    try:
        while True:
            try:
                code = proc.wait(min(PROGRESS_EVERY, max(end - time.monotonic(), 0)))
                break
            except subprocess.TimeoutExpired:
                if time.monotonic() >= end:
                    raise
                tick()
    except subprocess.TimeoutExpired:
        _kill(proc)
        return f"the grading run did not finish within {timeout:.0f} s and was stopped", "session-timeout"
    if code in (0, 1, 5):  # all passed, some failed, or nothing collected (-k)
        return None, None
    if code == 4:
        return "the grader was given bad arguments: " + _last_lines(log.read_text(errors="replace")), "bad-arguments"
    if code == 2:
        return "the grading run was interrupted", "interrupted"
    return f"the grading run crashed (pytest exit status {code}): " + _last_lines(log.read_text(errors="replace")), "crashed"


def _stop(proc: subprocess.Popen) -> None:
    """End the grading run after Ctrl-C: SIGINT first, which pytest answers by tearing the spec
    under way down (its programs killed, its files removed), then SIGKILL after STOP_GRACE
    seconds or a second Ctrl-C."""
    try:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(STOP_GRACE)
    except (ProcessLookupError, subprocess.TimeoutExpired, KeyboardInterrupt):
        pass
    _kill(proc)


def _kill(proc: subprocess.Popen) -> None:
    """SIGKILL the run's whole process group (its xdist workers too) and reap it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def _last_lines(text: str, n: int = 6) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return " | ".join(lines[-n:]) if lines else "(no output)"

