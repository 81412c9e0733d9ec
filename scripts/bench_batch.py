#!/usr/bin/env python3
"""Benchmark `ipc-grade batch`: grade a synthetic class with --jobs 1 and with the default, and
print submissions per minute for each and the ratio between them.

    python scripts/bench_batch.py                      # ~40 submissions, a small rubric
    python scripts/bench_batch.py --size 80 --rubric docs/examples/pipes-and-queues.toml

The class: copies of the bundled reference and every mutant in tests/mutants (materialized with
tests/harness.py), cycled to --size submissions. Without --rubric it is graded by a small rubric
of one or two quick specs per mechanism (quick_specs: each mechanism's smoke spec from the
registry, and EXTRA_SPECS), so that both runs take a few minutes on two cores; the two
gradebooks must come out the same.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

#: The default rubric's specs: each mechanism's quick spec from the registry (Mechanism.smoke,
#: the one an installation proves itself with), and a second quick one for a few mechanisms.
#: tests/test_registry.py checks that every one of them is a spec the grader has.
EXTRA_SPECS = ("pipe.broken-pipe", "pipe.relay-roundtrip", "msgq.fifo-within-type", "socket.udp-roundtrip")


def quick_specs() -> list[str]:
    from conformance.record import MECHANISMS

    return [m.smoke for m in MECHANISMS.values()] + [s for s in EXTRA_SPECS if s not in {m.smoke for m in MECHANISMS.values()}]


def synthetic_class(into: Path, size: int) -> list[str]:
    from harness import mutants

    from conformance import locate

    into.mkdir(parents=True)
    sources: list[tuple[str, object]] = [("reference", None)] + [(m.id.replace("/", "-"), m) for m in mutants()]
    names = []
    for n in range(size):
        label, mutant = sources[n % len(sources)]
        name = f"s{n:03d}-{label}"
        if mutant is None:
            shutil.copytree(locate.bundled("reference"), into / name)
        else:
            with tempfile.TemporaryDirectory() as tmp:
                shutil.copytree(mutant.materialize(Path(tmp)), into / name)
        names.append(name)
    return names


def default_rubric(path: Path) -> Path:
    from conformance.catalogue import specs

    known = {s.id for s in specs()}
    missing = [i for i in quick_specs() if i not in known]
    if missing:
        sys.exit(f"bench: the default rubric names specs the grader does not have: {', '.join(missing)}")
    chosen = quick_specs()
    path.write_text(
        'title = "benchmark: quick specs"\nmechanisms = []\n' + "".join(f'[spec."{i}"]\n' for i in chosen),
        encoding="utf-8",
    )
    return path


def run_batch(klass: Path, out: Path, jobs: str | None, rubric: Path, extra: list[str]) -> float:
    cmd = [sys.executable, "-m", "grading.cli", "batch", str(klass), "--out", str(out), "--rubric", str(rubric), *extra]
    if jobs is not None:
        cmd += ["--jobs", jobs]
    started = time.monotonic()
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.monotonic() - started
    if proc.returncode not in (0, 1):
        sys.exit(f"bench: batch failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    return elapsed


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=int, default=40, help="submissions in the synthetic class (default 40)")
    p.add_argument("--rubric", type=Path, help="grade by this rubric (default: a few quick specs per mechanism)")
    p.add_argument("-k", help="grade only the specs matching this expression (pytest -k)")
    p.add_argument("--keep", type=Path, help="keep the class and the outputs in this directory")
    args = p.parse_args()

    from grading.classwork.batch import default_jobs

    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-batch-"))
    try:
        klass = work / "class"
        names = synthetic_class(klass, args.size)
        rubric = args.rubric.resolve() if args.rubric else default_rubric(work / "rubric.toml")
        extra = ["-k", args.k] if args.k else []
        copies = sum("reference" in n for n in names)
        print(f"class: {len(names)} submissions ({copies} copies of the reference, {len(names) - copies} mutants), rubric {rubric.name}")
        print(f"machine: {os.cpu_count()} CPUs; default --jobs is {default_jobs()}")
        results = {}
        for label, jobs in (("--jobs 1", "1"), (f"default (--jobs {default_jobs()})", None)):
            out = work / f"out-{'1' if jobs else 'default'}"
            elapsed = run_batch(klass, out, jobs, rubric, extra)
            rate = len(names) / elapsed * 60
            results[label] = (elapsed, rate, out)
            print(f"{label:<22} {elapsed:7.1f} s   {rate:6.1f} submissions/minute")
        (t1, r1, o1), (td, rd, od) = results.values()
        print(f"ratio default / --jobs 1: {rd / r1:.2f}x")
        same = (o1 / "gradebook.csv").read_bytes() == (od / "gradebook.csv").read_bytes()
        print(f"gradebooks identical: {'yes' if same else 'NO'}")
        return 0 if same else 1
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
