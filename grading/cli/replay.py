"""`ipc-grade replay SPEC [PATH]`: run one spec again, watching it happen, then do it by hand.

    ipc-grade replay pipe.eof-on-close ./my-ipc
    ipc-grade replay pipe.eof-on-close --impl ./my-ipc

Grades the implementation at PATH (default: the current directory) on the spec SPEC alone and
prints, as they happen, what the grader does and what each process does: programs started,
bytes written, stdin closed, signals sent, forks, each sleep with its call and the object it
sleeps on, exits (the timeline, conformance/run/timeline.py). Then the spec's verdict, as in the
terminal report, and the steps to do the same by hand in two terminals.

Nothing a program names reaches the terminal raw: the live lines are made visible where the
grading run writes them (conformance/plugin/fixtures.py), and everything this prints passes
ipc-grade's terminal stream (grading/render/inert.py).

Exit status: 0 the spec passed, 1 it did not, 2 a usage error (no such spec, a bad option
value), 4 nothing could be graded (no usable manifest, the run crashed), 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import sys

from .. import grader, options
from ..render import i18n, timeline
from ..render.terminal import fit, render
from . import EXIT_INTERRUPTED, EXIT_NOT_PASSED, EXIT_NOTHING_GRADED, EXIT_PASSED, EXIT_USAGE
from .grade import terminal_width, use_color
from .session import grade

#: Long enough for one spec, however slow the machine.
SESSION_TIMEOUT = 600.0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ipc-grade replay",
        description=__doc__.splitlines()[0],
        epilog="Exit status: 0 the spec passed, 1 it did not, 2 a usage error (no such spec), 4 nothing could be graded, "
        f"{EXIT_INTERRUPTED} interrupted (Ctrl-C).",
    )
    p.add_argument("spec", help="the spec's id, as the reports name it (pipe.eof-on-close)")
    p.add_argument("path", nargs="?", metavar="PATH", help="the implementation directory (default: .)")
    p.add_argument("--impl", metavar="DIR", help="the implementation directory, as pytest --impl names it (the same as PATH)")
    options.add(p, "deadline_scale", default=None)
    options.add(p, "run_as", default=None)
    options.add(p, "schedule", note="(for a spec that controls how your processes interleave: its failure names the seed)")
    options.add(p, "session_timeout", default=SESSION_TIMEOUT, note=f"(default {options.word(SESSION_TIMEOUT)})")
    options.add(p, "lang")
    return p


def run(args: argparse.Namespace) -> int:
    problems = []
    if args.path and args.impl and args.path != args.impl:
        problems.append(f"two implementations given: {args.path} and --impl {args.impl}: give one")
    problems += options.check_environment("deadline_scale", args.deadline_scale)
    problems += options.check_environment("schedule", args.schedule)
    if problems:
        for problem in problems:
            print(f"ipc-grade replay: error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    args.path = args.impl or args.path or "."
    known = {s.id for s in grader.catalogue()}
    if args.spec not in known:
        near = sorted(k for k in known if args.spec.split(".")[-1] in k)[:5]
        print(f"ipc-grade replay: no spec is called {args.spec}" + (f" (did you mean {', '.join(near)}?)" if near else " (the reports name each spec)"), file=sys.stderr)
        return EXIT_USAGE
    print(f"ipc-grade replay: {args.spec} on {args.path}, as it happens:", flush=True)
    rec = grade(
        args.path,
        jobs="0",
        deadline_scale=args.deadline_scale,
        session_timeout=args.session_timeout,
        verbose=True,  # the live lines reach the terminal as they come
        extra_args=["--ipc-spec", args.spec, "--ipc-live", *options.passed(args, "schedule")],
        pytest_terminal=False,
        run_as=args.run_as,
    )
    interrupted = rec.meta.get("error_kind") == "interrupted"
    if rec.error is not None and not rec.specs:
        print(f"ipc-grade replay: could not grade {rec.implementation.get('path', '')}: {rec.error}", file=sys.stderr)
        return EXIT_INTERRUPTED if interrupted else EXIT_NOTHING_GRADED
    rec = i18n.rendered_in(rec, i18n.choose(args.lang, rec.meta.get("language")))  # --lang, else the rubric's, else the locale's
    t = i18n.of(rec)
    columns = terminal_width(sys.stdout)
    sys.stdout.write("\n")
    sys.stdout.write(render(rec, color=use_color(sys.stdout), columns=columns))  # inert.Drawn: its colours are its own
    spec = next((s for s in rec.specs if s.id == args.spec), None)
    if spec is not None and spec.timeline:
        steps = timeline.replay(spec.timeline, t=t)
        if steps:
            said = ["", t._("Try it by hand (in the implementation's directory; a second terminal for signals and /proc):")]
            said += [f"  {i}. {step}" for i, step in enumerate(steps, 1)]
            print("\n".join(piece for line in said for piece in fit(line, columns)))
    if interrupted:
        print(f"ipc-grade replay: interrupted (exit status {EXIT_INTERRUPTED})", file=sys.stderr)
        return EXIT_INTERRUPTED
    if spec is None:
        return EXIT_NOTHING_GRADED if rec.error else EXIT_NOT_PASSED
    return EXIT_PASSED if spec.status == "passed" else EXIT_NOT_PASSED
