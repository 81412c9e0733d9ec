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
all with grading's options, and `ipc-grade COMMAND --help` gives each one's. The registry
(COMMANDS) names the module of each: a `parser()` that builds its options and a `run(args)`.

The commands' rooms: this package holds ipc-grade itself (here), grading one implementation
(grade.py, the command; session.py, the grading run in a child pytest), replay.py and new.py;
the class's commands live in classwork/ (batch, merge, similarity) and the Gradescope kit's in
kits/gradescope.py. Nothing imports cli/ but its own entry points (`ipc-grade`,
`python -m grading.cli`): it is the top of grading, and may import every wing below it.

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
import importlib
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from ..grader import VersionAction

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


# --- the commands --------------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    """One command of ipc-grade: grading.MODULE's ``parser()`` builds its options, and its
    ``run(args)`` runs it. The module is imported only when the command is built."""

    name: str
    help: str
    module: str

    def build(self) -> argparse.ArgumentParser:
        return importlib.import_module(f"grading.{self.module}").parser()

    def __call__(self, args: argparse.Namespace) -> int:
        return importlib.import_module(f"grading.{self.module}").run(args)


#: Every command, in the order --help lists them: the one registry (the module's docstring
#: shows each in use; tests/test_cli.py checks that --help lists them all).
COMMANDS: dict[str, Command] = {
    c.name: c
    for c in (
        Command("grade", "grade one implementation (the default command: `ipc-grade PATH` is `ipc-grade grade PATH`)", "cli.grade"),
        Command("batch", "grade every submission of a class: a gradebook, a class page, every report (docs/batch.md)", "classwork.batch"),
        Command("merge", "combine the OUT directories of `batch --shard` runs into one gradebook", "classwork.merge"),
        Command("similarity", "find submissions that copy the bundled references or each other (instructors only)", "classwork.similarity.command"),
        Command("replay", "run one spec, showing what each process does as it happens, then the steps to do by hand", "cli.replay"),
        Command("new", "start an implementation from the student template (Python or C)", "cli.new"),
        Command("gradescope-bundle", "build a Gradescope autograder zip that carries this grader (docs/kits.md)", "kits.gradescope"),
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
    """ipc-grade. Whatever it prints passes through an inert.TerminalStream: a name, a path or a
    message from a submission shows as text, never as a terminal's escape (inert.py)."""
    from ..render.inert import TerminalStream

    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0] not in COMMANDS and argv[0] not in TOP_OPTIONS):
        argv.insert(0, "grade")  # grading is the default command
    streams = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = TerminalStream(sys.stdout), TerminalStream(sys.stderr)
    try:
        # the other commands are only listed (by name) unless one of them runs
        args = parser(argv[0] if argv[0] in COMMANDS else "grade").parse_args(argv)
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:  # between two steps that handle it themselves: nothing to keep
        print(f"\nipc-grade: interrupted (exit status {EXIT_INTERRUPTED})", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        sys.stdout, sys.stderr = streams

