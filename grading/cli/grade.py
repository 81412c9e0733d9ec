"""`ipc-grade [grade] [PATH]`: grade one implementation, show its report and write the others.

The grading itself is session.py's: a child pytest that always ends in a record. This is the
command around it: its options (the settings' and one per report format of the registry),
the checks made before anything runs (the report paths, the rubric, the environment), the
terminal report, every report file, and the exit status (cli/__init__.py lists them).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from conformance import record as run_record
from conformance.settings import SETTINGS

from .. import grader, options, render
from ..grader import VersionAction
from ..render import i18n
from ..render.terminal import render as terminal_report
from ..rubric import RubricError
from . import COMMANDS, EXIT_INTERRUPTED, EXIT_NOT_PASSED, EXIT_NOTHING_GRADED, EXIT_PASSED, EXIT_REQUIRED_FAILED, EXIT_STATUSES, EXIT_USAGE
from .session import DEFAULT_SESSION_TIMEOUT, grade, interrupted


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ipc-grade [grade]",
        description="Grade one IPC implementation (a directory with ipc.toml) against the conformance specs.",
        epilog=EXIT_STATUSES,
    )
    p.add_argument(
        "path",
        nargs="?",
        metavar="PATH",
        help="the implementation directory (default: . when it holds an ipc.toml, else the bundled reference implementation)",
    )
    p.add_argument("-V", "--version", action=VersionAction, help="print the grader's version and its contract version, and exit")
    options.add_grading(p, session_timeout=DEFAULT_SESSION_TIMEOUT, each="the whole run")
    # a rubric its parent (ipc-grade batch) has checked, for each submission's grading: not a user's option
    p.add_argument("--checked-rubric", metavar="FILE", help=argparse.SUPPRESS)
    options.add(p, "jobs", "-j")
    options.add(p, "schedule")
    options.add(p, "mechanism")
    out = p.add_argument_group("reports (each FILE is written even when the run cannot grade)")
    for f in render.FORMATS.values():
        out.add_argument(f"--{f.name}", metavar="FILE", help=f.help)
    options.add(out, "show_hidden")
    options.add(out, "lang")
    out.add_argument("-q", "--quiet", action="store_true", help="do not print the terminal report")
    p.add_argument(
        "--check-required",
        action="store_true",
        help=f"exit {EXIT_REQUIRED_FAILED} when a spec the rubric marks required did not pass, else 0 "
        f"({EXIT_NOTHING_GRADED} if the run could not grade): a CI check",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="show pytest's own output as it runs")
    return p


def run(args: argparse.Namespace) -> int:
    targets = {name: getattr(args, name) for name in render.FORMATS}
    problems = render.check_targets(targets)
    rubric = None
    started = time.monotonic()
    try:
        if args.checked_rubric:  # checked by the batch that runs this grading
            rubric = grader.load_checked(args.checked_rubric)
        elif args.rubric:
            rubric = grader.load_rubric(args.rubric)
            for warning in rubric.warnings:
                print(f"ipc-grade: warning: {warning}", file=sys.stderr)
    except RubricError as exc:
        problems.append(str(exc))
    except KeyboardInterrupt:  # while the rubric was checked: nothing ran, the reports say so
        where = Path(args.path or ".").resolve()
        return report(interrupted(None, {"path": str(where), "name": where.name}, None, None, started), args, targets)
    problems += options.check_environment("deadline_scale", args.deadline_scale)
    problems += options.check_environment("schedule", args.schedule)
    t = i18n.translator(i18n.choose(args.lang, rubric.language if rubric else None))
    problems += [p for p in [_mistyped_command(args.path, t)] if p]
    if problems:
        for problem in problems:
            print(t._("ipc-grade: error: %(problem)s", problem=problem), file=sys.stderr)
        return EXIT_USAGE
    path = args.path
    if path is None:
        if Path("ipc.toml").is_file():
            path = "."
        else:
            print(t._("ipc-grade: grading the bundled reference implementation: no PATH was given and there is no ipc.toml here "
                      "(give PATH to grade yours, or run in its directory)"), file=sys.stderr, flush=True)
    unknown = sorted(set(args.mechanism or ()) - set(run_record.MECHANISMS))
    if unknown:
        print(t._("ipc-grade: error: argument --mechanism: no mechanism is called %(names)s (the mechanisms are %(mechanisms)s)",
                  names=", ".join(unknown), mechanisms=", ".join(run_record.MECHANISMS)), file=sys.stderr)
        return 2
    rec = grade(
        path,
        jobs=args.jobs,
        keyword=args.k,
        deadline_scale=args.deadline_scale,
        session_timeout=args.session_timeout,
        verbose=args.verbose,
        rubric=rubric,
        run_as=args.run_as,
        progress=not args.quiet,
        language=t.language,
        extra_args=[*options.passed(args, "schedule"), *(f"--ipc-mechanism={m}" for m in args.mechanism or ())],
    )
    return report(rec, args, targets)


def _mistyped_command(path: str | None, t: i18n.Translator) -> str | None:
    """A PATH that does not exist but is close to a command's name: a typo, said as one."""
    import difflib

    if path is None or Path(path).exists():
        return None
    close = difflib.get_close_matches(path, list(COMMANDS), n=1)
    return t._("%(path)s is neither a directory nor a command: did you mean `ipc-grade %(command)s`?", path=path, command=close[0]) if close else None


def report(rec: run_record.RunRecord, args: argparse.Namespace, targets: dict[str, str | None]) -> int:
    """Show REC (one message when nothing was graded), write every report of TARGETS in the
    reports' language (--lang, else the rubric's, else the locale's), and return the exit status."""
    rec = i18n.rendered_in(rec, i18n.choose(getattr(args, "lang", None), rec.meta.get("language")))
    t = i18n.of(rec)
    if rec.error is not None and (not rec.specs or rec.meta.get("manifest_unusable")):  # nothing ran: its reason is all
        print(t._("ipc-grade: could not grade %(path)s: %(reason)s", path=rec.implementation.get("path", ""), reason=i18n.localized(rec).error), file=sys.stderr)
    elif not args.quiet:
        sys.stdout.write(terminal_report(rec, color=use_color(sys.stdout), show_hidden=args.show_hidden, columns=terminal_width(sys.stdout)))
        sys.stdout.flush()
    failed_writes = render.write_all(rec, targets, show_hidden=args.show_hidden)
    for problem in failed_writes:
        print(t._("ipc-grade: error: %(problem)s", problem=problem), file=sys.stderr)
    if rec.meta.get("error_kind") == "interrupted":
        asked = [str(t) for t in targets.values() if t]
        kept = len(rec.specs)
        print(
            t.ngettext("ipc-grade: interrupted: %(n)d verdict kept", "ipc-grade: interrupted: %(n)d verdicts kept", kept)
            + (t._(", every report written, marked as interrupted") if asked and not failed_writes else "")
            + t._(" (exit status %(status)d)", status=EXIT_INTERRUPTED),
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    status = exit_status(rec, check_required=args.check_required)
    if args.check_required:
        _say_required(rec, status, t)
    return EXIT_USAGE if failed_writes else status


def use_color(stream) -> bool:
    """Colour on a terminal, unless NO_COLOR is set (no-color.org)."""
    return stream.isatty() and not SETTINGS["no_color"].from_env()


def terminal_width(stream) -> int | None:
    """The terminal's width, to fit the report to; None off a terminal (a file keeps its lines)."""
    if not stream.isatty():
        return None
    try:
        return os.get_terminal_size(stream.fileno()).columns or None
    except OSError:
        return None


def exit_status(rec: run_record.RunRecord, *, check_required: bool = False) -> int:
    if check_required and any(s.required and s.info.charged for s in rec.specs):
        return EXIT_REQUIRED_FAILED
    graded = [s for s in rec.specs if s.status in ("passed", "failed", "timeout")]
    if rec.error is not None or not graded:
        return EXIT_NOTHING_GRADED
    if check_required:
        return EXIT_PASSED
    return EXIT_NOT_PASSED if any(s.status != "passed" for s in graded) else EXIT_PASSED


def _say_required(rec: run_record.RunRecord, status: int, t: i18n.Translator) -> None:
    required = [s for s in rec.specs if s.required]
    failing = [s for s in required if s.info.charged]
    if status == EXIT_REQUIRED_FAILED:
        shown = [s.id for s in failing if not s.hidden]
        names = ", ".join(shown) + (t._(" and %(n)d hidden", n=len(failing) - len(shown)) if len(shown) < len(failing) else "")
        print(t._("ipc-grade: required check failed: %(n)d required spec(s) did not pass: %(names)s", n=len(failing), names=names), file=sys.stderr)
    elif status == EXIT_NOTHING_GRADED:
        print(t._("ipc-grade: required check failed: nothing could be graded (see the report)"), file=sys.stderr)
    elif not required:
        print(t._("ipc-grade: required check passed (the rubric requires no spec)"), file=sys.stderr)
    else:
        print(t._("ipc-grade: required check passed: all %(n)d required specs passed", n=len(required)), file=sys.stderr)

