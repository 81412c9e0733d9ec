#!/usr/bin/env python3
"""How much a hanging submission costs, beside the reference, in one run.

    python scripts/bench_hang.py [--jobs 2]

Grades, one after the other on the same machine: the bundled reference; tests/fixtures/hang
(every program sleeps in pause() ignoring every signal: the first attempt a grader must survive);
and tests/fixtures/deadlock (programs deadlocked through their own pipes, queues and
semaphores). Prints each run's wall time, the hang/reference ratio (the bar: at most 1.5), the
specs that cost the hang fixture most, and for the deadlock fixture how long each spec took from
start to its proof (an upper bound on the time from the deadlock forming to the verdict).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def grade(impl: Path, jobs: str, *args: str) -> tuple[float, dict]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run.json"
        t0 = time.monotonic()
        subprocess.run(
            [sys.executable, "-m", "pytest", f"--impl={impl}", f"--ipc-json={out}", "-n", jobs, "-p", "no:cacheprovider", "-q", *args],
            cwd=tmp, capture_output=True, text=True,
        )
        took = time.monotonic() - t0
        return took, json.loads(out.read_text())


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--jobs", default="2")
    args = p.parse_args()
    ref_s, ref = grade(ROOT / "reference", args.jobs)
    hang_s, hang = grade(ROOT / "tests" / "fixtures" / "hang", args.jobs)
    dl_s, dl = grade(ROOT / "tests" / "fixtures" / "deadlock", args.jobs, "-k", "pipe or msgq or buffer")
    ratio = hang_s / ref_s
    print(f"reference: {ref_s:.1f} s ({ref['counts']['passed']} of {len(ref['specs'])} passed)")
    print(f"hang:      {hang_s:.1f} s ({dict((k, v) for k, v in hang['counts'].items() if v)})")
    print(f"ratio hang/reference: {ratio:.2f} (the bar: at most 1.5)")
    print("slowest hang specs: " + ", ".join(f"{s['id']} {s['duration_s']:.1f} s" for s in sorted(hang["specs"], key=lambda s: -s["duration_s"])[:6]))
    proven = [s for s in dl["specs"] if "Deadlock" in s["message"]]
    print(f"deadlock fixture: {dl_s:.1f} s; {len(proven)} of {len(dl['specs'])} specs ended with a proof")
    if proven:
        durations = sorted(s["duration_s"] for s in proven)
        print(f"  spec start to proof: median {durations[len(durations) // 2]:.2f} s, max {durations[-1]:.2f} s")
    return 0 if ratio <= 1.5 else 1


if __name__ == "__main__":
    sys.exit(main())
