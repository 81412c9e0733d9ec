"""Grading a class in parallel: each submission copied (or unpacked) into a private directory and
graded by its own `ipc-grade` child process (one pytest worker each), N at a time, its reports
written as it finishes; and the progress of it all.

A submission that hangs, crashes, floods its output or leaks IPC objects costs its own deadlines
and nothing more: its child is killed (with every process of its session) at its session
timeout and GRACE, and whatever happens, it gets a record.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from conformance import record as run_record

from ..late import final_score
from ..render.inert import one_line, rich_text
from ..render.present import points
from ..render.progress import live_bar
from . import archives
from .gradebook import BAD_ARCHIVE, INTERRUPTED, Entry
from .results import write_submission
from .submissions import Submission

#: A submission's own grading gets this long beyond its session timeout before it is killed.
GRACE = 120.0
#: After Ctrl-C, how long each grading under way may take to stop and write the verdicts it
#: reached (its own Ctrl-C handling: cli/session.py) before it is killed.
STOP_GRACE = 20.0


class Children:
    """The gradings under way, so that Ctrl-C can stop each (stop) and no new one starts."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.procs: set[subprocess.Popen] = set()
        self.stopping = False

    def add(self, proc: subprocess.Popen) -> None:
        with self.lock:
            self.procs.add(proc)
            late = self.stopping  # begun as the batch was being stopped: stopped the same way
        if late:
            try:
                os.killpg(proc.pid, signal.SIGINT)
            except ProcessLookupError:
                pass

    def remove(self, proc: subprocess.Popen) -> None:
        with self.lock:
            self.procs.discard(proc)

    def stop(self) -> None:
        """Ctrl-C to every grading under way (each in a session of its own, so the terminal's
        reached none): each stops as `ipc-grade` does, keeping the verdicts it reached; one
        that has not ended within STOP_GRACE is killed."""
        with self.lock:
            self.stopping = True
            procs = list(self.procs)
        for proc in procs:
            try:
                os.killpg(proc.pid, signal.SIGINT)
            except ProcessLookupError:
                pass
        end = time.monotonic() + STOP_GRACE
        for proc in procs:
            try:
                proc.wait(max(0.0, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                _kill(proc)


class Progress:
    """Where a batch is: submissions done out of the total, the ones being graded now, and an
    estimate of the time left (the wall time so far per submission done, which already counts
    the workers). On a terminal a live line drawn by rich; elsewhere (CI logs) a plain line per
    submission finished, with the same facts."""

    def __init__(self, total: int, stream=None) -> None:
        self.total = total
        self.done = 0
        self.started = time.monotonic()
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.lock = threading.Lock()
        self.running: dict[str, float] = {}
        self._live = None
        if self.tty:
            self._live = live_bar(self.stream, "[bold]ipc-grade batch[/bold]", "eta", transient=False)
            self._task = self._live.add_task("batch", total=total, eta="", running="")

    def begin(self, ident: str) -> None:
        with self.lock:
            self.running[ident] = time.monotonic()
            self._refresh()

    def eta(self) -> str:
        """The time left, as `ETA 2 min`, once a submission has finished ('' before)."""
        if not self.done or self.done >= self.total:
            return ""
        elapsed = time.monotonic() - self.started
        left = elapsed / self.done * (self.total - self.done)
        return f"ETA {left:.0f} s" if left < 90 else f"ETA {left / 60:.0f} min"

    def _now_running(self) -> str:
        names = sorted(self.running, key=self.running.get)
        return ("grading " + ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")) if names else ""

    def _refresh(self) -> None:
        if self._live is not None:
            self._live.update(self._task, completed=self.done, eta=self.eta(), running=rich_text(self._now_running()))

    def update(self, entry: Entry) -> None:
        with self.lock:
            self.done += 1
            self.running.pop(entry.id, None)
            rec = entry.record
            if self._live is not None:
                self._refresh()
                # a submission's id is the student's file name: never rich markup
                self._live.console.print(one_line(f"{entry.id}: {points(final_score(rec))}/{points(rec.max_score)} {entry.status}"), markup=False, highlight=False)
                if self.done == self.total:
                    self._live.stop()
                return
            width = 30
            filled = width * self.done // max(self.total, 1)
            elapsed = time.monotonic() - self.started
            facts = "; ".join(f for f in (f"{elapsed:.0f} s", self.eta(), self._now_running()) if f)
            self.stream.write(one_line(
                f"[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} "
                f"{entry.id}: {points(final_score(rec))}/{points(rec.max_score)} {entry.status} ({facts})"
            ) + "\n")
            self.stream.flush()

    def close(self) -> None:
        if self._live is not None and self._live.live.is_started:
            self._live.stop()


def grade_all(
    submissions: Sequence[Submission],
    out: Path,
    *,
    jobs: int,
    child_args: Sequence[str],
    session_timeout: float,
    show_hidden: bool = False,
    adjust: Callable[[str, run_record.RunRecord], run_record.RunRecord] | None = None,
) -> list[Entry]:
    """Grade SUBMISSIONS, JOBS at a time, each in its own child; write each one's reports
    (each record through ADJUST first, when given: the late policy).

    On Ctrl-C the gradings under way stop, keeping the verdicts they reached, the ones not
    begun are entered as not graded (both INTERRUPTED in the gradebook), and the entries are
    returned as ever: the batch writes its gradebook and class page for what it did."""
    progress = Progress(len(submissions))
    children = Children()

    def one(s: Submission, where: Path) -> run_record.RunRecord:
        progress.begin(s.id)
        return grade_one(s, where, child_args, session_timeout, children)

    entries: list[Entry] = []

    def enter(s: Submission, rec: run_record.RunRecord) -> None:
        if adjust is not None:
            rec = adjust(s.id, rec)
        entry = Entry(s.id, rec)
        write_submission(out, entry, show_hidden)
        entries.append(entry)
        progress.update(entry)

    with tempfile.TemporaryDirectory(prefix="ipc-batch-") as tmp:
        work = Path(tmp)
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            futures = {
                pool.submit(one, s, work / f"s{n}"): s for n, s in enumerate(submissions)
            }
            try:
                for future in as_completed(futures):
                    enter(futures[future], _result(future, futures[future]))
            except KeyboardInterrupt:
                progress.close()
                print("\nipc-grade batch: interrupted: stopping the gradings under way (keeping the verdicts they reached) "
                      "and writing the gradebook for what was graded ...", file=sys.stderr, flush=True)
                children.stop()
                pool.shutdown(wait=True, cancel_futures=True)
                done = {en.id for en in entries}
                for future, s in futures.items():
                    if s.id in done:
                        continue
                    rec = (_failed(s, "not graded: the batch was interrupted (Ctrl-C) before this submission's turn", INTERRUPTED)
                           if future.cancelled() else _result(future, s))
                    enter(s, rec)
    progress.close()
    return sorted(entries, key=lambda en: en.id)


def _result(future, s: Submission) -> run_record.RunRecord:
    try:
        return future.result()
    except Exception as exc:  # a bug here must not lose the other submissions
        return _failed(s, f"the batch grader failed on this submission ({type(exc).__name__}: {exc})", "crashed")


def _failed(s: Submission, reason: str, kind: str) -> run_record.RunRecord:
    return run_record.failed_run({"path": str(s.source), "name": s.id}, reason, error_kind=kind)


def grade_one(s: Submission, work: Path, child_args: Sequence[str], session_timeout: float, children: Children | None = None) -> run_record.RunRecord:
    """Grade one submission in a private copy, by a child `ipc-grade`; always a record."""
    if children is not None and children.stopping:
        return _failed(s, "not graded: the batch was interrupted (Ctrl-C) before this submission's turn", INTERRUPTED)
    work.mkdir(parents=True)
    copy = work / "submission"
    if s.is_archive:
        try:
            archives.unpack(s.source, copy)
        except archives.UnsafeArchive as exc:
            return _failed(s, f"the submitted archive was not graded: {exc}", BAD_ARCHIVE)
    else:
        try:
            shutil.copytree(s.source, copy, symlinks=True)
        except (OSError, shutil.Error) as exc:
            return _failed(s, f"the submission could not be copied for grading ({exc})", "crashed")
    impl = archives.implementation_root(copy)
    record_file = work / "record.json"
    log = work / "grade.log"
    cmd = [sys.executable, "-m", "grading.cli", str(impl), "--json", str(record_file), *child_args]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True, cwd=work)
        if children is not None:
            children.add(proc)
        try:
            proc.wait(session_timeout + GRACE)
        except subprocess.TimeoutExpired:
            _kill(proc)
            return _failed(s, f"grading did not finish within {session_timeout + GRACE:.0f} s and was stopped", "session-timeout")
        except BaseException:
            _kill(proc)
            raise
        finally:
            if children is not None:
                children.remove(proc)
    try:
        rec = run_record.load(record_file)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        if children is not None and children.stopping:  # Ctrl-C reached it before it could keep anything
            return _failed(s, "not graded: the batch was interrupted (Ctrl-C) while this submission's grading was starting", INTERRUPTED)
        tail = log.read_text(errors="replace").strip().splitlines()[-5:] if log.exists() else []
        return _failed(s, f"the grader ended without a run record (exit status {proc.returncode}; {exc}): {' | '.join(tail) or '(no output)'}", "crashed")
    return _as_submitted(rec, s, impl)


def _as_submitted(rec: run_record.RunRecord, s: Submission, graded_at: Path) -> run_record.RunRecord:
    """REC naming the submission, not the private copy it was graded in (whose path changes
    from run to run): the same submission gives the same gradebook."""
    here = str(graded_at)

    def fix(text: str) -> str:
        return text.replace(here + "/", f"{s.id}/").replace(here, s.id)

    rec.implementation = {**rec.implementation, "path": str(s.source), "submission": s.id}
    rec.error = fix(rec.error) if rec.error else rec.error
    for spec in rec.specs:
        spec.message = fix(spec.message)
    return rec


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()

