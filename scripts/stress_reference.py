"""Run the reference against some mechanisms' specs many times, with a CPU hog beside them.

    python scripts/stress_reference.py pipe fifo --runs 20

The bar every mechanism is held to: every spec passes in every run under `-n 2` while a
CPU-bound process competes for the cores, and nothing is left in /proc/sysvipc or /dev/shm.
Prints one line per run and a summary (pass count, min/median/max duration).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def leftovers() -> list[str]:
    out = [f"/dev/shm/{n}" for n in os.listdir("/dev/shm") if n.startswith(("ipc", "sem.ipc"))]
    for kind in ("msg", "shm", "sem"):
        lines = Path(f"/proc/sysvipc/{kind}").read_text().splitlines()[1:]
        out += [f"/proc/sysvipc/{kind}: {line.split()[0]}" for line in lines]
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("mechanisms", nargs="+")
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--jobs", default="2")
    args = p.parse_args()
    before = set(leftovers())
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    durations, failures = [], 0
    try:
        for i in range(args.runs):
            with tempfile.TemporaryDirectory() as tmp:
                record = Path(tmp) / "run.json"
                specs = [str(ROOT / "conformance" / "specs" / f"test_{m}.py") for m in args.mechanisms]
                t0 = time.monotonic()
                proc = subprocess.run(
                    [sys.executable, "-m", "pytest", "--impl", str(ROOT / "reference"), *specs, "-n", args.jobs,
                     "-p", "no:cacheprovider", "-q", f"--ipc-json={record}"],
                    cwd=tmp, capture_output=True, text=True,
                )
                took = time.monotonic() - t0
                rec = json.loads(record.read_text()) if record.exists() else {"specs": []}
            bad = [f"{s['id']}={s['status']}" for s in rec["specs"] if s["status"] != "passed"]
            ok = proc.returncode == 0 and rec["specs"] and not bad
            failures += not ok
            durations.append(took)
            print(f"run {i + 1:2}: {'ok' if ok else 'FAILED'} {len(rec['specs'])} specs in {took:.1f} s {' '.join(bad)}", flush=True)
            if not ok and not bad:
                print(proc.stdout[-2000:], proc.stderr[-2000:])
    finally:
        hog.kill()
        hog.wait()
    left = sorted(set(leftovers()) - before)
    print(
        f"{args.runs - failures}/{args.runs} runs passed; duration min {min(durations):.1f} s, "
        f"median {statistics.median(durations):.1f} s, max {max(durations):.1f} s; "
        f"left behind: {', '.join(left) or 'nothing'}"
    )
    return 1 if failures or left else 0


if __name__ == "__main__":
    sys.exit(main())
