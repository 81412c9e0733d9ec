"""`ipc-grade`: grade an implementation and print (and write) its grade reports.

    ipc-grade                       grade the bundled reference implementation
    ipc-grade PATH                  grade the implementation in directory PATH
    ipc-grade PATH --rubric R       grade it by the course's rubric (docs/rubric.md)
    ipc-grade PATH --json F --html G --gradescope H ...   also write reports
    ipc-grade batch DIR --out OUT   grade a whole class (docs/batch.md)
    ipc-grade merge OUT1 OUT2 --out OUT
    ipc-grade similarity DIR [--out OUT]   submissions that copy the references or each other
    ipc-grade replay SPEC [PATH]    run one spec, watching what each process does, then by hand
    ipc-grade gradescope-bundle --rubric R --out autograder.zip

The grading itself runs `pytest --impl=PATH` in a child process, so that nothing the
implementation does (or a crash of the harness) can stop this process from writing a report:
if the run cannot finish, every report says why, with score 0.

Exit status: 0 every graded spec passed (specs not implemented are not graded); 1 some failed
or timed out; 2 a usage error (bad option, bad rubric, a report that cannot be written); 3 with
--check-required, a spec the rubric requires did not pass; 4 nothing could be graded (no usable
manifest, nothing implemented, the run crashed).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from conformance import record as run_record

from . import grader, reports
from . import progress as progress_mod
from .cpus import resolve_jobs
from .rubric import Rubric, RubricError
from .terminal import render
from .version import VersionAction

#: Subcommands, each a function of its argument list returning an exit status.
SUBCOMMANDS: dict[str, Callable[[list[str]], int]] = {}

DEFAULT_SESSION_TIMEOUT = 1800.0
#: How often progress is shown while a grading runs (seconds).
PROGRESS_EVERY = 0.5

#: Exit statuses, one meaning each (docs/reports.md): every spec that was graded passed (specs
#: not implemented are not graded); some spec failed or timed out; a usage error; with
#: --check-required, a spec the rubric requires did not pass; nothing could be graded (the
#: manifest could not be used, nothing is implemented, the run crashed).
EXIT_PASSED = 0
EXIT_NOT_PASSED = 1
EXIT_USAGE = 2
EXIT_REQUIRED_FAILED = 3
EXIT_NOTHING_GRADED = 4



def grade_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ipc-grade",
        description="Grade an IPC implementation (a directory with ipc.toml) against the conformance specs.",
        epilog=(
            "Subcommands: `ipc-grade batch DIR --out OUT` grades a class, `ipc-grade merge` combines batch "
            "shards, `ipc-grade similarity DIR` finds submissions that copy the references or each other, "
            "`ipc-grade gradescope-bundle` builds a Gradescope autograder (each has --help). "
            "Exit status: 0 when every graded spec passed (specs not implemented are not graded), 1 when "
            "some failed or timed out, 2 on a usage error, 3 with --check-required when a required spec "
            "did not pass, 4 when nothing could be graded."
        ),
    )
    p.add_argument("path", nargs="?", help="the implementation directory (default: the bundled reference)")
    p.add_argument("-V", "--version", action=VersionAction, help="print the grader's version and its contract version, and exit")
    add_grading_options(p, session_timeout=DEFAULT_SESSION_TIMEOUT, session_what="the whole run")
    p.add_argument("-j", "--jobs", default="auto", help="parallel workers (pytest-xdist -n; default: auto = one per CPU this process may use, cgroup quota and affinity counted; 0 or 1 = none)")
    out = p.add_argument_group("reports (each FILE is written even when the run cannot grade)")
    for f in reports.FORMATS.values():
        out.add_argument(f"--{f.name}", metavar="FILE", help=f.help)
    out.add_argument(
        "--show-hidden",
        action="store_true",
        help="instructors' reports: show hidden specs' details (students' reports never do; Gradescope's applies visibility itself)",
    )
    out.add_argument("-q", "--quiet", action="store_true", help="do not print the terminal report")
    p.add_argument(
        "--check-required",
        action="store_true",
        help=f"exit {EXIT_REQUIRED_FAILED} when a spec the rubric marks required did not pass, else 0 "
        f"(1 if the run could not grade): a CI check",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="show pytest's own output as it runs")
    return p


def add_grading_options(p: argparse.ArgumentParser, *, session_timeout: float, session_what: str) -> None:
    """The options that say how each implementation is graded: one definition for
    ipc-grade and ipc-grade batch (SESSION_WHAT names what --session-timeout bounds)."""
    p.add_argument("--rubric", metavar="FILE", help="grade by the rubric in FILE (docs/rubric.md): its specs, points, visibility")
    p.add_argument("-k", metavar="EXPR", help="grade only the specs matching EXPR (pytest -k)")
    p.add_argument("--deadline-scale", metavar="FACTOR", help="stretch every deadline by FACTOR on a slow machine")
    p.add_argument(
        "--session-timeout",
        type=float,
        default=session_timeout,
        metavar="SECONDS",
        help=f"give up on {session_what} after SECONDS (default {session_timeout:.0f})",
    )
    p.add_argument("--run-as", metavar="USER", help="run the implementation's programs as USER (see pytest --help)")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in SUBCOMMANDS:
        return SUBCOMMANDS[argv[0]](argv[1:])
    parser = grade_parser()
    args = parser.parse_args(argv)
    targets = {name: getattr(args, name) for name in reports.FORMATS}
    problems = reports.check_targets(targets)
    rubric = None
    if args.rubric:
        try:
            rubric = load_rubric(args.rubric)
        except RubricError as exc:
            problems.append(str(exc))
        else:
            for warning in rubric.warnings:
                print(f"ipc-grade: warning: {warning}", file=sys.stderr)
    if args.session_timeout <= 0:
        problems.append(f"--session-timeout {args.session_timeout:g}: give a positive number of seconds")
    if problems:
        for problem in problems:
            print(f"ipc-grade: error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    rec = grade(
        args.path,
        jobs=args.jobs,
        keyword=args.k,
        deadline_scale=args.deadline_scale,
        session_timeout=args.session_timeout,
        verbose=args.verbose,
        rubric=rubric,
        run_as=args.run_as,
        progress=not args.quiet,
    )
    if not args.quiet:
        sys.stdout.write(render(rec, color=sys.stdout.isatty(), show_hidden=args.show_hidden))
    failed_writes = reports.write_all(rec, targets, show_hidden=args.show_hidden)
    for problem in failed_writes:
        print(f"ipc-grade: error: {problem}", file=sys.stderr)
    status = exit_status(rec, check_required=args.check_required)
    if args.check_required:
        _say_required(rec, status)
    return EXIT_USAGE if failed_writes else status


def exit_status(rec: run_record.RunRecord, *, check_required: bool = False) -> int:
    if check_required and any(s.required and s.info.charged for s in rec.specs):
        return EXIT_REQUIRED_FAILED
    graded = [s for s in rec.specs if s.status in ("passed", "failed", "timeout")]
    if rec.error is not None or not graded:
        return EXIT_NOTHING_GRADED
    if check_required:
        return EXIT_PASSED
    return EXIT_NOT_PASSED if any(s.status != "passed" for s in graded) else EXIT_PASSED


def _say_required(rec: run_record.RunRecord, status: int) -> None:
    required = [s for s in rec.specs if s.required]
    failing = [s for s in required if s.info.charged]
    if status == EXIT_REQUIRED_FAILED:
        shown = [s.id for s in failing if not s.hidden]
        names = ", ".join(shown) + (f" and {len(failing) - len(shown)} hidden" if len(shown) < len(failing) else "")
        print(f"ipc-grade: required check failed: {len(failing)} required spec(s) did not pass: {names}", file=sys.stderr)
    elif status == EXIT_NOTHING_GRADED:
        print("ipc-grade: required check failed: nothing could be graded (see the report)", file=sys.stderr)
    elif not required:
        print("ipc-grade: required check passed (the rubric requires no spec)", file=sys.stderr)
    else:
        print(f"ipc-grade: required check passed: all {len(required)} required specs passed", file=sys.stderr)


def load_rubric(path: str | os.PathLike[str]) -> Rubric:
    """The rubric at PATH checked against the spec catalogue; RubricError says what is wrong."""
    from . import rubric as rubric_mod

    try:
        known = grader.catalogue()
    except (grader.GraderMissing, ValueError, KeyError) as exc:
        raise RubricError(f"cannot read the spec catalogue to check the rubric: {exc}") from None
    return rubric_mod.load(path, known)


def grade(
    path: str | os.PathLike[str] | None = None,
    *,
    jobs: str = "auto",
    keyword: str | None = None,
    deadline_scale: str | None = None,
    session_timeout: float = DEFAULT_SESSION_TIMEOUT,
    verbose: bool = False,
    extra_args: Sequence[str] = (),
    rubric: Rubric | None = None,
    run_as: str | None = None,
    progress: bool = False,
    pytest_terminal: bool = True,
) -> run_record.RunRecord:
    """Grade the implementation at PATH in a child pytest; always return a record.
    PYTEST_TERMINAL False: the child prints nothing of its own (replay prints the live lines).

    With RUBRIC (already checked), only its specs run and the record carries its points; a run
    that fails before grading still names the rubric.
    """
    impl = Path(path).resolve() if path else grader.bundled("reference")
    implementation = {"path": str(impl), "name": impl.name}
    started = time.monotonic()
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
        if deadline_scale:
            cmd += ["--deadline-scale", deadline_scale]
        if rubric is not None:
            cmd += [f"--rubric={Path(rubric.path).resolve()}"]
        if run_as:
            cmd += ["--run-as", run_as]
        cmd += list(extra_args)
        log = tmp_path / "pytest.log"
        shown = progress_mod.Progress(record_file, str(impl), None, quiet=not progress or verbose)
        try:
            reason, kind = _run(cmd, cwd=tmp_path, log=log, timeout=session_timeout, verbose=verbose, tick=shown.update)
            shown.update()  # the verdicts written since the last tick (a short run may end before the first)
        finally:
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
    if rec is not None and kind == "session-timeout" and rec.meta.get("partial") and rec.specs:
        return _cut_short(rec, reason, rubric, keyword, round(time.monotonic() - started, 3))
    if reason is None:
        reason = "the grading run ended without a result: " + _last_lines(output)
        kind = "no-record"
    duration = round(time.monotonic() - started, 3)
    specs = rec.specs if rec is not None else []
    meta = rec.meta if rec is not None else {}
    meta = {**meta, "duration_s": duration, "error_kind": kind}
    failed = run_record.failed_run(implementation, reason, specs, **meta)
    if rubric is not None:
        failed = rubric.apply(failed)
    return failed


def _cut_short(rec: run_record.RunRecord, reason: str, rubric: Rubric | None, keyword: str | None, duration: float) -> run_record.RunRecord:
    """A run the session timeout stopped: every verdict it reached stands, and every spec it
    did not reach is a timeout that says so (with -k, the specs it would have run are unknown:
    only those reached are listed)."""
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
                )
            )
    meta = {**rec.meta, "duration_s": duration, "error_kind": "session-timeout", "session_note": reason}
    return run_record.RunRecord(implementation=rec.implementation, specs=[*rec.specs, *missing], error=None, meta=meta)


def _run(cmd: list[str], *, cwd: Path, log: Path, timeout: float, verbose: bool, tick=lambda: None) -> tuple[str | None, str | None]:
    """Run CMD in its own session; (None, None) when it finished, else why not and a kind.
    TICK() runs every half second while it runs (progress)."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            stdout=None if verbose else out,
            stderr=subprocess.STDOUT if not verbose else None,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        end = time.monotonic() + timeout
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
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return f"the grading run did not finish within {timeout:.0f} s and was stopped", "session-timeout"
        except KeyboardInterrupt:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
    if code in (0, 1, 5):  # all passed, some failed, or nothing collected (-k)
        return None, None
    if code == 4:
        return "the grader was given bad arguments: " + _last_lines(log.read_text(errors="replace")), "bad-arguments"
    if code == 2:
        return "the grading run was interrupted", "interrupted"
    return f"the grading run crashed (pytest exit status {code}): " + _last_lines(log.read_text(errors="replace")), "crashed"


def _last_lines(text: str, n: int = 6) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return " | ".join(lines[-n:]) if lines else "(no output)"


def _subcommand(module: str, function: str = "main") -> Callable[[list[str]], int]:
    """A subcommand whose module is imported only when it runs."""

    def run(argv: list[str]) -> int:
        import importlib

        return getattr(importlib.import_module(f"grading.{module}"), function)(argv)

    return run


SUBCOMMANDS.update(
    {
        "batch": _subcommand("batch"),
        "merge": _subcommand("batch", "merge_main"),
        "gradescope-bundle": _subcommand("bundle"),
        "new": _subcommand("new"),
        "replay": _subcommand("replay"),
        "similarity": _subcommand("similarity"),
    }
)


if __name__ == "__main__":
    sys.exit(main())
