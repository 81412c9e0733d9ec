"""`ipc-grade`: grade an implementation and print (and write) its grade report.

    ipc-grade                 grade the bundled reference implementation
    ipc-grade PATH            grade the implementation in directory PATH
    ipc-grade PATH --json F   also write the run record to F

The grading itself runs `pytest --impl=PATH` in a child process, so that nothing the
implementation does (or a crash of the harness) can stop this process from writing a report:
if the run cannot finish, the report says why, with score 0.
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

from . import record as run_record
from .terminal import render

#: Subcommands, each a function of its argument list returning an exit status.
SUBCOMMANDS: dict[str, Callable[[list[str]], int]] = {}

DEFAULT_SESSION_TIMEOUT = 1800.0


def grade_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ipc-grade",
        description="Grade an IPC implementation (a directory with ipc.toml) against the conformance specs.",
        epilog="Exit status: 0 when every graded spec passed, 1 when some did not or the run failed, 2 on a usage error.",
    )
    p.add_argument("path", nargs="?", help="the implementation directory (default: the bundled reference)")
    p.add_argument("--json", metavar="FILE", help="write the run record (docs/run-record.md) to FILE")
    p.add_argument("-j", "--jobs", default="auto", help="parallel workers (pytest-xdist -n; default: auto = one per CPU; 0 = none)")
    p.add_argument("-k", metavar="EXPR", help="grade only the specs matching EXPR (pytest -k)")
    p.add_argument("--deadline-scale", metavar="FACTOR", help="stretch every deadline by FACTOR on a slow machine")
    p.add_argument(
        "--session-timeout",
        type=float,
        default=DEFAULT_SESSION_TIMEOUT,
        metavar="SECONDS",
        help=f"give up on the whole run after SECONDS (default {DEFAULT_SESSION_TIMEOUT:.0f})",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="show pytest's own output as it runs")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in SUBCOMMANDS:
        return SUBCOMMANDS[argv[0]](argv[1:])
    args = grade_parser().parse_args(argv)
    rec = grade(
        args.path,
        jobs=args.jobs,
        keyword=args.k,
        deadline_scale=args.deadline_scale,
        session_timeout=args.session_timeout,
        verbose=args.verbose,
    )
    sys.stdout.write(render(rec, color=sys.stdout.isatty()))
    if args.json:
        run_record.write(args.json, rec)
    return 0 if rec.error is None and rec.specs and all(s.status == "passed" for s in rec.specs if s.counted) else 1


def default_implementation() -> Path:
    from conformance import locate

    return locate.bundled("reference")


def grade(
    path: str | os.PathLike[str] | None = None,
    *,
    jobs: str = "auto",
    keyword: str | None = None,
    deadline_scale: str | None = None,
    session_timeout: float = DEFAULT_SESSION_TIMEOUT,
    verbose: bool = False,
    extra_args: Sequence[str] = (),
) -> run_record.RunRecord:
    """Grade the implementation at PATH in a child pytest; always return a record."""
    impl = Path(path).resolve() if path else default_implementation()
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
            "-q",
        ]
        if jobs not in ("0", "1"):
            cmd += ["-n", str(jobs)]
        if keyword:
            cmd += ["-k", keyword]
        if deadline_scale:
            cmd += ["--deadline-scale", deadline_scale]
        cmd += list(extra_args)
        log = tmp_path / "pytest.log"
        reason = _run(cmd, cwd=tmp_path, log=log, timeout=session_timeout, verbose=verbose)
        output = log.read_text(errors="replace") if log.exists() else ""
        if record_file.exists():
            try:
                rec = run_record.load(record_file)
            except (ValueError, KeyError, TypeError) as exc:
                reason = reason or f"the run record could not be read ({exc})"
                rec = None
        else:
            rec = None
    if rec is not None and reason is None:
        return rec
    if reason is None:
        reason = "the grading run ended without a result: " + _last_lines(output)
    duration = round(time.monotonic() - started, 3)
    specs = rec.specs if rec is not None else []
    meta = rec.meta if rec is not None else {}
    meta = {**meta, "duration_s": duration}
    return run_record.failed_run(implementation, reason, specs, **meta)


def _run(cmd: list[str], *, cwd: Path, log: Path, timeout: float, verbose: bool) -> str | None:
    """Run CMD in its own session; None when it finished, else why it did not."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            stdout=None if verbose else out,
            stderr=subprocess.STDOUT if not verbose else None,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            code = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return f"the grading run did not finish within {timeout:.0f} s and was stopped"
        except KeyboardInterrupt:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
    if code in (0, 1, 5):  # all passed, some failed, or nothing collected (-k)
        return None
    if code == 4:
        return "the grader was given bad arguments: " + _last_lines(log.read_text(errors="replace"))
    if code == 2:
        return "the grading run was interrupted"
    return f"the grading run crashed (pytest exit status {code}): " + _last_lines(log.read_text(errors="replace"))


def _last_lines(text: str, n: int = 6) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return " | ".join(lines[-n:]) if lines else "(no output)"


if __name__ == "__main__":
    sys.exit(main())
