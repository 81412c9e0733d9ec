"""`ipc-grade`: grade an implementation and print (and write) its grade reports.

    ipc-grade                       grade ./ when it holds an ipc.toml, else the bundled reference
    ipc-grade PATH                  grade the implementation in directory PATH
    ipc-grade PATH --rubric R       grade it by the course's rubric (docs/rubric.md)
    ipc-grade PATH --json F --html G --gradescope H ...   also write reports
    ipc-grade batch DIR --out OUT   grade a whole class (docs/batch.md)
    ipc-grade merge OUT1 OUT2 --out OUT
    ipc-grade similarity DIR [--out OUT]   submissions that copy the references or each other
    ipc-grade replay SPEC [PATH]    run one spec, watching what each process does, then by hand
    ipc-grade new DIR [--lang c]    start an implementation from the template
    ipc-grade gradescope-bundle --rubric R --out autograder.zip

Grading is the default command: `ipc-grade PATH ...` is `ipc-grade grade PATH ...`. Every
command is an argparse subparser of one parser (`parser()`), so `ipc-grade --help` lists them
all with grading's options, and `ipc-grade COMMAND --help` gives each one's.

The grading itself runs `pytest --impl=PATH` in a child process, so that nothing the
implementation does (or a crash of the harness) can stop this process from writing a report:
if the run cannot finish, every report says why, with score 0. A manifest that cannot be used
at all (no directory, no ipc.toml, TOML that does not parse) is found before that child starts:
one message, and the reports, at once.

Exit status: 0 every graded spec passed (specs not implemented are not graded); 1 some failed
or timed out; 2 a usage error (bad option, bad rubric, a report that cannot be written); 3 with
--check-required, a spec the rubric requires did not pass; 4 nothing could be graded (no usable
manifest, nothing implemented, the run crashed); 130 interrupted (Ctrl-C, SIGINT): the verdicts
reached are kept and every report is written, marked as interrupted.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from conformance import record as run_record

from . import grader, reports
from . import progress as progress_mod
from .cpus import resolve_jobs
from .rubric import Rubric, RubricError
from .terminal import render
from .version import VersionAction

DEFAULT_SESSION_TIMEOUT = 1800.0
#: How often progress is shown while a grading runs (seconds).
PROGRESS_EVERY = 0.5
#: After Ctrl-C, how long the grading run may take to tear its spec down before it is killed.
STOP_GRACE = 5.0
#: How long the spec catalogue may take to answer before progress goes on without a total.
CATALOGUE_WAIT = 30.0
#: The environment variable that scales deadlines when --deadline-scale is not given.
SCALE_ENV = "IPC_DEADLINE_SCALE"

#: Exit statuses, one meaning each (docs/ci.md): every spec that was graded passed (specs not
#: implemented are not graded); some spec failed or timed out; a usage error; with
#: --check-required, a spec the rubric requires did not pass; nothing could be graded (the
#: manifest could not be used, nothing is implemented, the run crashed); interrupted (128 +
#: SIGINT, the shells' convention for a command that Ctrl-C ended).
EXIT_PASSED = 0
EXIT_NOT_PASSED = 1
EXIT_USAGE = 2
EXIT_REQUIRED_FAILED = 3
EXIT_NOTHING_GRADED = 4
EXIT_INTERRUPTED = 128 + signal.SIGINT

EXIT_STATUSES = (
    "Exit status: 0 when every graded spec passed (specs not implemented are not graded), 1 when "
    "some failed or timed out, 2 on a usage error, 3 with --check-required when a required spec "
    "did not pass, 4 when nothing could be graded, 130 when interrupted (Ctrl-C: the verdicts "
    "reached are kept, every report is written and says so)."
)


# --- option values -------------------------------------------------------------------------
# Each is an argparse type: a bad value is a usage error (exit 2) that names the option (argparse
# adds it), the value, and what is expected.


def jobs_value(value: str) -> str:
    """-j/--jobs of a grading: a whole number of workers, 0 or more, or auto."""
    if value == "auto":
        return value
    try:
        n = int(value)
    except ValueError:
        n = -1
    if n < 0:
        raise argparse.ArgumentTypeError(f"{value!r}: give a whole number of workers, 0 or more (0 and 1 mean no extra workers), or auto (one per CPU)")
    return str(n)


def workers_value(value: str) -> int | None:
    """-j/--jobs of batch and similarity: a whole number, 1 or more, or auto (None: one per CPU)."""
    if value == "auto":
        return None
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"{value!r}: give 1 or more (a whole number), or auto (one per CPU)")
    return n


def _number(value: str) -> float | None:
    """VALUE as a positive finite number, or None."""
    try:
        x = float(value)
    except ValueError:
        return None
    return x if x > 0 and math.isfinite(x) else None


def scale_value(value: str) -> str:
    """--deadline-scale: a positive number (kept as written: the grader reads it again)."""
    if _number(value) is None:
        raise argparse.ArgumentTypeError(f"{value!r}: give a positive number, such as 2 (every deadline twice as long)")
    return value


def seconds_value(value: str) -> float:
    """--session-timeout: a positive number of seconds."""
    x = _number(value)
    if x is None:
        raise argparse.ArgumentTypeError(f"{value!r}: give a positive number of seconds, such as 600")
    return x


def scale_from_environment(option: str | None) -> str | None:
    """What is wrong with IPC_DEADLINE_SCALE when it is what scales the deadlines (the option
    OPTION, when given, wins over it), or None."""
    value = os.environ.get(SCALE_ENV)
    if option is not None or value is None or _number(value) is not None:
        return None
    return f"environment variable {SCALE_ENV}={value!r}: give a positive number such as 2, or unset it"


# --- the commands --------------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    """One command of ipc-grade: grading.MODULE's PARSER() builds its options, and RUN(args)
    runs it (or, for a module that parses its own argument list, MAIN(argv))."""

    name: str
    help: str
    module: str
    parser: str
    run: str | None = None
    main: str | None = None

    def build(self) -> argparse.ArgumentParser:
        return getattr(importlib.import_module(f"grading.{self.module}"), self.parser)()

    def __call__(self, args: argparse.Namespace, argv: list[str]) -> int:
        module = importlib.import_module(f"grading.{self.module}")
        if self.run is not None:
            return getattr(module, self.run)(args)
        return getattr(module, self.main)(argv)


#: Every command, in the order --help lists them: the one registry (the module's docstring
#: shows each in use; tests/test_cli.py checks that --help lists them all).
COMMANDS: dict[str, Command] = {
    c.name: c
    for c in (
        Command("grade", "grade one implementation (the default command: `ipc-grade PATH` is `ipc-grade grade PATH`)", "cli", "grade_parser", run="run_grade"),
        Command("batch", "grade every submission of a class: a gradebook, a class page, every report (docs/batch.md)", "batch", "parser", run="run"),
        Command("merge", "combine the OUT directories of `batch --shard` runs into one gradebook", "batch", "merge_parser", run="merge_run"),
        Command("similarity", "find submissions that copy the bundled references or each other (instructors only)", "similarity", "parser", run="run"),
        Command("replay", "run one spec, showing what each process does as it happens, then the steps to do by hand", "replay", "parser", run="run"),
        Command("new", "start an implementation from the student template (Python or C)", "new", "parser", run="run"),
        Command("gradescope-bundle", "build a Gradescope autograder zip that carries this grader (docs/kits.md)", "bundle", "parser", run="run"),
    )
}
#: Options of ipc-grade itself, before any command.
TOP_OPTIONS = ("-h", "--help", "-V", "--version")


class _Parser(argparse.ArgumentParser):
    """ipc-grade's parser: its help lists the commands, then the options of the default one,
    grading (GRADE), which `ipc-grade PATH ...` runs."""

    grade: argparse.ArgumentParser | None = None

    def format_help(self) -> str:
        text = super().format_help()
        if self.grade is not None:
            text += "\n" + self.grade.format_help()
        return text


def parser(command: str | None = None) -> argparse.ArgumentParser:
    """ipc-grade's parser, every command a subparser. Only COMMAND's (and grading's) options are
    built, so that grading a submission does not import every other command; None builds them
    all."""
    top = _Parser(
        prog="ipc-grade",
        usage="ipc-grade [grade] [PATH] [options]\n       ipc-grade COMMAND [options]   (ipc-grade COMMAND --help for each)",
        description="Grade IPC implementations (a directory with ipc.toml) against the conformance specs, "
        "one or a whole class, and write the reports.",
    )
    top.add_argument("-V", "--version", action=VersionAction, help="print the grader's version and its contract version, and exit")
    commands = top.add_subparsers(dest="command", title="commands", metavar="COMMAND", required=True)
    for c in COMMANDS.values():
        if command is not None and c.name not in (command, "grade"):
            commands.add_parser(c.name, help=c.help, add_help=False)  # listed; built when it runs
            continue
        own = c.build()
        sub = commands.add_parser(
            c.name,
            parents=[own],
            add_help=False,  # its own -h comes with its parents
            help=c.help,
            prog=own.prog,
            usage=own.usage,
            description=own.description,
            epilog=own.epilog,
            formatter_class=own.formatter_class,
        )
        if c.name == "grade":
            top.grade = sub
    return top


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0] not in COMMANDS and argv[0] not in TOP_OPTIONS):
        argv.insert(0, "grade")  # grading is the default command
    try:
        # the other commands are only listed (by name) unless one of them runs
        args = parser(argv[0] if argv[0] in COMMANDS else "grade").parse_args(argv)
        return COMMANDS[args.command](args, argv[1:])
    except KeyboardInterrupt:  # between two steps that handle it themselves: nothing to keep
        print(f"\nipc-grade: interrupted (exit status {EXIT_INTERRUPTED})", file=sys.stderr)
        return EXIT_INTERRUPTED


# --- grading -------------------------------------------------------------------------------


def grade_parser() -> argparse.ArgumentParser:
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
    add_grading_options(p, session_timeout=DEFAULT_SESSION_TIMEOUT, session_what="the whole run")
    p.add_argument(
        "-j",
        "--jobs",
        type=jobs_value,
        default="auto",
        metavar="N",
        help="parallel workers (pytest-xdist -n): a whole number, 0 or 1 for none, or auto (the default: one per CPU "
        "this process may use, cgroup quota and affinity counted)",
    )
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
        f"({EXIT_NOTHING_GRADED} if the run could not grade): a CI check",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="show pytest's own output as it runs")
    return p


def add_grading_options(p: argparse.ArgumentParser, *, session_timeout: float, session_what: str) -> None:
    """The options that say how each implementation is graded: one definition for
    ipc-grade and ipc-grade batch (SESSION_WHAT names what --session-timeout bounds)."""
    p.add_argument("--rubric", metavar="FILE", help="grade by the rubric in FILE (docs/rubric.md): its specs, points, visibility")
    p.add_argument("-k", metavar="EXPR", help="grade only the specs matching EXPR (pytest -k)")
    p.add_argument(
        "--deadline-scale",
        type=scale_value,
        metavar="FACTOR",
        help=f"stretch every deadline by FACTOR, a positive number, on a slow machine (default: {SCALE_ENV}, else 1)",
    )
    p.add_argument(
        "--session-timeout",
        type=seconds_value,
        default=session_timeout,
        metavar="SECONDS",
        help=f"give up on {session_what} after SECONDS (default {session_timeout:.0f})",
    )
    p.add_argument("--run-as", metavar="USER", help="run the implementation's programs as USER (see pytest --help)")


def run_grade(args: argparse.Namespace) -> int:
    targets = {name: getattr(args, name) for name in reports.FORMATS}
    problems = reports.check_targets(targets)
    rubric = None
    started = time.monotonic()
    try:
        if args.rubric:
            try:
                rubric = load_rubric(args.rubric)
            except RubricError as exc:
                problems.append(str(exc))
            else:
                for warning in rubric.warnings:
                    print(f"ipc-grade: warning: {warning}", file=sys.stderr)
    except KeyboardInterrupt:  # while the rubric was checked: nothing ran, the reports say so
        where = Path(args.path or ".").resolve()
        return report(_interrupted(None, {"path": str(where), "name": where.name}, None, None, started), args, targets)
    problems += [p for p in [scale_from_environment(args.deadline_scale), _mistyped_command(args.path)] if p]
    if problems:
        for problem in problems:
            print(f"ipc-grade: error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    path = args.path
    if path is None:
        if Path("ipc.toml").is_file():
            path = "."
        else:
            print(
                "ipc-grade: grading the bundled reference implementation: no PATH was given and there is no ipc.toml here "
                "(give PATH to grade yours, or run in its directory)",
                file=sys.stderr,
                flush=True,
            )
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
    )
    return report(rec, args, targets)


def _mistyped_command(path: str | None) -> str | None:
    """A PATH that does not exist but is close to a command's name: a typo, said as one."""
    import difflib

    if path is None or Path(path).exists():
        return None
    close = difflib.get_close_matches(path, list(COMMANDS), n=1)
    return f"{path} is neither a directory nor a command: did you mean `ipc-grade {close[0]}`?" if close else None


def report(rec: run_record.RunRecord, args: argparse.Namespace, targets: dict[str, str | None]) -> int:
    """Show REC (one message when nothing was graded), write every report of TARGETS, and
    return the exit status."""
    if rec.error is not None and (not rec.specs or rec.meta.get("manifest_unusable")):  # nothing ran: its reason is all
        print(f"ipc-grade: could not grade {rec.implementation.get('path', '')}: {rec.error}", file=sys.stderr)
    elif not args.quiet:
        sys.stdout.write(render(rec, color=use_color(sys.stdout), show_hidden=args.show_hidden, columns=terminal_width(sys.stdout)))
        sys.stdout.flush()
    failed_writes = reports.write_all(rec, targets, show_hidden=args.show_hidden)
    for problem in failed_writes:
        print(f"ipc-grade: error: {problem}", file=sys.stderr)
    if rec.meta.get("error_kind") == "interrupted":
        asked = [str(t) for t in targets.values() if t]
        kept = len(rec.specs)
        print(
            f"ipc-grade: interrupted: {kept} verdict{'s' if kept != 1 else ''} kept"
            + (", every report written, marked as interrupted" if asked and not failed_writes else "")
            + f" (exit status {EXIT_INTERRUPTED})",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    status = exit_status(rec, check_required=args.check_required)
    if args.check_required:
        _say_required(rec, status)
    return EXIT_USAGE if failed_writes else status


def use_color(stream) -> bool:
    """Colour on a terminal, unless NO_COLOR is set (no-color.org)."""
    return stream.isatty() and not os.environ.get("NO_COLOR")


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
        problem = grader.manifest_error(impl)
        if problem is not None:
            if known is None and keyword is None:
                known = grader.CatalogueQuestion()
            return _unusable(implementation, problem, rubric, known, started)
        return _grade(impl, implementation, started, known, jobs=jobs, keyword=keyword, deadline_scale=deadline_scale,
                      session_timeout=session_timeout, verbose=verbose, extra_args=extra_args, rubric=rubric, run_as=run_as,
                      progress=progress, pytest_terminal=pytest_terminal)
    except KeyboardInterrupt:  # before the run started: nothing was decided
        return _interrupted(None, implementation, None, rubric, started)
    finally:
        if known is not None:
            known.forget()


def _grade(impl: Path, implementation: dict[str, str], started: float, known: grader.CatalogueQuestion | None, *, jobs: str,
           keyword: str | None, deadline_scale: str | None, session_timeout: float, verbose: bool, extra_args: Sequence[str],
           rubric: Rubric | None, run_as: str | None, progress: bool, pytest_terminal: bool) -> run_record.RunRecord:
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
                shown = progress_mod.Progress(record_file, str(impl), total, quiet=not progress or verbose)
                reason, kind = _wait(proc, log, end=time.monotonic() + session_timeout, timeout=session_timeout, tick=shown.update)
                shown.update()  # the verdicts written since the last tick (a short run may end before the first)
            except KeyboardInterrupt:
                if shown is not None:
                    shown.close()  # the live line goes before anything else is said
                print("\nipc-grade: interrupted: stopping the grading run, keeping the verdicts reached ...", file=sys.stderr, flush=True)
                reached = _partial(record_file)
                _stop(proc)
                after = _partial(record_file)  # verdicts written while the run stopped
                return _interrupted(after or reached, implementation, total, rubric, started)
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


def _unusable(implementation: dict[str, str], problem: str, rubric: Rubric | None, known: grader.CatalogueQuestion | None, started: float) -> run_record.RunRecord:
    """The record of a submission whose manifest cannot be used at all, made without a run: its
    reason, score 0, and every spec it would have graded (the catalogue's, as the rubric chooses
    them; none with -k, which only a run resolves) failed for that reason, as the plugin would
    have failed them. No error_kind: the submission's fault, not the grader's run's."""
    specs = []
    for info in _catalogue(known):
        if rubric is not None and not rubric.selects(info.id):
            continue
        specs.append(
            run_record.SpecResult(
                id=info.id, mechanism=info.mechanism, title=info.title, status="failed", points=0.0,
                max_points=info.points, hint=info.hint, message=f"the manifest cannot be used: {problem}",
            )
        )
    rec = run_record.failed_run(implementation, problem, specs, **_meta(started), manifest_unusable=True)
    return rubric.apply(rec) if rubric is not None else rec


def _catalogue(known: grader.CatalogueQuestion | None) -> list:
    """The catalogue KNOWN answers ([] when it was not asked or cannot answer)."""
    if known is None:
        return []
    try:
        return known.answer(CATALOGUE_WAIT)
    except (grader.GraderMissing, subprocess.TimeoutExpired, ValueError, KeyError, TypeError):
        return []


def _interrupted(rec: run_record.RunRecord | None, implementation: dict[str, str], total: int | None, rubric: Rubric | None, started: float) -> run_record.RunRecord:
    """A run that Ctrl-C stopped: every verdict REC (its last partial record) reached stands; the
    record says it was interrupted (meta error_kind, and interrupt_note: a sentence every report
    shows). None reached: a record that could not grade, which says why."""
    reached = rec.specs if rec is not None else []
    meta = {**(rec.meta if rec is not None else {}), **_meta(started), "error_kind": "interrupted"}
    for key in ("partial", "running", "planned"):
        meta.pop(key, None)
    planned = total or (rec.meta.get("planned") if rec is not None else None)
    if not reached:
        why = "the grading was interrupted (Ctrl-C) before any spec was decided: nothing was graded"
        failed = run_record.failed_run(implementation, why, **meta)
        return rubric.apply(failed) if rubric is not None else failed
    of = f" of {planned}" if planned else ""
    left = planned - len(reached) if planned else 0
    rest = "; the other was not graded" if left == 1 else f"; the other {left} were not graded" if left > 1 else ""
    meta["interrupt_note"] = (
        f"the grading was interrupted (Ctrl-C) after {len(reached)}{of} specs: the score counts only the specs decided{rest}"
    )
    return run_record.RunRecord(implementation=rec.implementation, specs=list(reached), error=None, meta=meta)


def _partial(record_file: Path) -> run_record.RunRecord | None:
    """The record the run has written so far, if it is still a partial one (the final record of
    a run that Ctrl-C reached may hold the spec it stopped as broken, which it is not)."""
    try:
        rec = run_record.load(record_file)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return rec if rec.meta.get("partial") else None


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
    for key in ("partial", "running", "planned"):
        meta.pop(key, None)
    return run_record.RunRecord(implementation=rec.implementation, specs=[*rec.specs, *missing], error=None, meta=meta)


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


if __name__ == "__main__":
    sys.exit(main())
