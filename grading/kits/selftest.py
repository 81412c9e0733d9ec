"""An installed grader proves it can grade, here, before any student meets it.

    python -m grading.kits.selftest [--rubric FILE] [--run-as USER]

install.sh runs it after installing (so the Gradescope bundle's setup.sh and the image's build
stop on a grader that cannot grade), and .ci/run runs it on what ships. In the environment it
runs in, with the installed grader, it checks:

1. every entry point the package declares loads (``ipc-grade``, and the pytest plugins
   ``conformance.plugin`` and ``grading.plugin``), and pytest offers both plugins' options;
2. the bundled reference gets full marks on each mechanism's quick spec (the registry's
   ``smoke``), graded by the installed ``ipc-grade`` as a kit runs it (``--run-as auto``,
   ``--jobs auto``), with every report format written and readable;
3. with ``--rubric``, that the course's rubric is valid for this grader's specs.

It prints one line per check and ends with a verdict. Exit status: 0 the grader grades; 1 it
does not (the lines above say why); 2 a usage error.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

from conformance import record as run_record
from conformance.record import MECHANISMS

DISTRIBUTION = "ipc-conformance"
#: Options each pytest plugin must have registered: conformance.plugin's and grading.plugin's.
PLUGIN_OPTIONS = ("--impl", "--ipc-json")
SESSION_TIMEOUT = 300


class NotGrading(Exception):
    """A check failed; the message says what and why."""


def _python() -> str:
    return sys.executable


def _ipc_grade() -> Path:
    """The installed console script: beside the interpreter, as pip puts it."""
    script = Path(sys.executable).parent / "ipc-grade"
    if not script.is_file():
        raise NotGrading(f"ipc-grade is not installed beside {sys.executable}: reinstall {DISTRIBUTION}")
    return script


def check_entry_points() -> str:
    """Load every declared entry point in a fresh interpreter, as pytest and the shell would."""
    try:
        eps = metadata.distribution(DISTRIBUTION).entry_points
    except metadata.PackageNotFoundError:
        raise NotGrading(f"{DISTRIBUTION} is not installed in {sys.prefix}") from None
    declared = sorted(f"{ep.group}:{ep.name}={ep.value}" for ep in eps)
    for group in ("pytest11", "console_scripts"):
        if not any(ep.group == group for ep in eps):
            raise NotGrading(f"the installed {DISTRIBUTION} declares no {group} entry point ({', '.join(declared) or 'none'})")
    code = (
        "import sys\nfrom importlib import metadata\n"
        f"for ep in metadata.distribution({DISTRIBUTION!r}).entry_points:\n"
        "    try:\n        ep.load()\n"
        "    except Exception as exc:\n"
        "        sys.exit(f'{ep.group} {ep.name} = {ep.value} does not load: {type(exc).__name__}: {exc}')\n"
    )
    done = subprocess.run([_python(), "-c", code], capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120)
    if done.returncode != 0:
        raise NotGrading((done.stderr.strip().splitlines() or ["an entry point does not load"])[-1])
    helped = subprocess.run([_python(), "-m", "pytest", "--help"], capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120)
    missing = [o for o in PLUGIN_OPTIONS if o not in helped.stdout]
    if helped.returncode != 0 or missing:
        raise NotGrading(f"pytest does not offer {', '.join(missing) or 'its options'}: a plugin of {DISTRIBUTION} is not registered ({', '.join(declared)})")
    return f"{len(declared)} entry points load: " + ", ".join(f"{ep.name} ({ep.group})" for ep in sorted(eps, key=lambda e: (e.group, e.name)))


def smoke_specs() -> list[str]:
    return [m.smoke for m in MECHANISMS.values()]


def check_grading(run_as: str, jobs: str) -> list[str]:
    """Grade the bundled reference on every mechanism's quick spec with the installed ipc-grade;
    every report format must be written, and the grade must be full."""
    from grading import grader, render

    reference = grader.bundled("reference")
    wanted = smoke_specs()
    with tempfile.TemporaryDirectory(prefix="ipc-selftest-") as tmp:
        out = Path(tmp)
        files = {name: out / f.filename for name, f in render.FORMATS.items()}
        cmd = [
            str(_ipc_grade()), str(reference), "-k", " or ".join(wanted), "--run-as", run_as, "--jobs", jobs,
            "--session-timeout", str(SESSION_TIMEOUT), "-q",
            *(a for name, path in files.items() for a in (f"--{name}", str(path))),
        ]
        started = time.monotonic()
        done = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL, cwd=out, timeout=SESSION_TIMEOUT + 60)
        took = time.monotonic() - started
        said = " | ".join(done.stderr.strip().splitlines()[-3:]) or "no message"
        if not files["json"].is_file():
            raise NotGrading(f"ipc-grade wrote no run record (exit status {done.returncode}): {said}")
        rec = run_record.load(files["json"])
        if rec.error:
            raise NotGrading(f"ipc-grade could not grade the bundled reference: {rec.error}")
        by_id = {s.id: s for s in rec.specs}
        lines = []
        problems = []
        for mechanism, m in MECHANISMS.items():
            s = by_id.get(m.smoke)
            if s is None:
                problems.append(f"{m.smoke} was not graded")
                continue
            lines.append(f"{mechanism:7} {m.smoke}: {s.status}")
            if s.status != "passed":
                problems.append(f"{m.smoke} {s.status}: {(s.message or '').strip().splitlines()[0] if s.message else 'no message'}")
        unexpected = sorted(set(by_id) - set(wanted))
        if unexpected:
            problems.append(f"specs not asked for were graded: {', '.join(unexpected)}")
        for name, path in files.items():
            if not path.is_file() or path.stat().st_size == 0:
                problems.append(f"the {name} report was not written")
            elif name in ("json", "gradescope", "prairielearn"):
                try:
                    json.loads(path.read_text(encoding="utf-8"))
                except ValueError as exc:
                    problems.append(f"the {name} report is not JSON ({exc})")
        if done.returncode != 0 and not problems:
            problems.append(f"ipc-grade exited with status {done.returncode}: {said}")
        if problems:
            raise NotGrading("the bundled reference did not get full marks: " + "; ".join(problems))
        lines.append(f"the bundled reference: {rec.score:g}/{rec.max_score:g} on {len(wanted)} specs, one per mechanism, in {took:.1f} s "
                     f"(programs run as {rec.meta.get('programs_run_as', '?')}; isolation: {rec.meta.get('isolation') or 'none'})")
        return lines


def check_rubric(path: str) -> str:
    from grading.grader import load_rubric
    from grading.rubric import RubricError

    try:
        rubric = load_rubric(path)
    except RubricError as exc:
        raise NotGrading(f"the rubric is not valid for this grader: {exc}") from None
    return f"the rubric {path}: {len(rubric.rules)} specs, {rubric.max_points:g} points"


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m grading.kits.selftest", description=__doc__.splitlines()[0])
    p.add_argument("--rubric", metavar="FILE", help="also check that the course's rubric is valid for this grader")
    p.add_argument("--run-as", default="auto", metavar="USER", help="who the programs run as (default auto, as the kits grade)")
    p.add_argument("--jobs", default="auto", metavar="N", help="workers (default auto, as the kits grade)")
    args = p.parse_args(argv)
    print(f"selftest: {DISTRIBUTION} {_version()} in {sys.prefix}", flush=True)
    try:
        print(f"selftest: {check_entry_points()}", flush=True)
        if args.rubric:
            print(f"selftest: {check_rubric(args.rubric)}", flush=True)
        for line in check_grading(args.run_as, args.jobs):
            print(f"selftest: {line}", flush=True)
    except NotGrading as exc:
        print(f"selftest: FAILED: this grader cannot grade here: {exc}", file=sys.stderr, flush=True)
        return 1
    except (OSError, subprocess.SubprocessError) as exc:
        print(f"selftest: FAILED: this grader cannot grade here: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        return 1
    print("selftest: passed: this grader grades here", flush=True)
    return 0


def _version() -> str:
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "(not installed)"


if __name__ == "__main__":
    sys.exit(main())
