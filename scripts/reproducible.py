"""Grade submissions whose bugs are races or timing N times: every run must give the same verdicts.

    .venv/bin/python scripts/reproducible.py                 # N = 10, as .ci/run does
    .venv/bin/python scripts/reproducible.py --runs 3 --only pipe/c-parent-no-wait

One program gets one grade: the same submission graded again gets the same status on every spec,
however its processes happen to be scheduled. The set is native mutants from tests/mutants, the
bugs a fast compiled program hides best: a parent that exits without waiting for the child that
still writes its output, replies left in a stdio buffer, a bounded buffer and a counter without
their locks, busy-waiting, and a handler installed too late for a signal that comes at once.
Each is graded on the specs aimed at its bug and those its timing could touch (MUTANTS), and
must fail exactly its mutant's ``fails`` there, in every run: a verdict that comes and goes is a
spec to fix, never a mutant to loosen (tests/mutants/README.md).

To fit CI (about 3 minutes for 10 runs on 2 cores), mutants of different mechanisms share a
submission (SUBMISSIONS: the C reference with each one's edits, each in its own program), built
once with the reference's Makefile as the grader would, then graded as built, one worker per
grading and two gradings at a time. Prints a line per mutant, and the time it all took; exits 1
when a run's verdicts differ from the first run's, or a mutant is not caught by exactly its specs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

#: mutant id -> the specs it is graded on: those aimed at its bug, and the ones its timing could
#: touch (a parent that does not wait: every relay spec that judges the output).
MUTANTS = {
    "pipe/c-parent-no-wait": ("pipe.reaps-child", "pipe.relay-roundtrip", "pipe.eof-on-close", "pipe.blocks-when-full"),
    "pipe/c-duplex-buffered-replies": ("pipe.duplex",),
    "buffer/c-no-mutex": ("buffer.no-loss-no-duplicates",),
    "shm/c-counter-no-lock": ("shm.counter-exact",),
    "shm/c-counter-lock-whole-loop": ("shm.counter-exact",),
    "signal/c-child-handler-after-fork": ("signal.child-no-lost-signal",),
    "signal/c-catcher-busy-waits": ("signal.waits-without-spinning",),
    "signal/c-child-busy-waits": ("signal.child-suspends",),
}
#: The submissions graded: mutants of different mechanisms together (no two edit one program).
SUBMISSIONS = (
    ("pipe/c-parent-no-wait", "buffer/c-no-mutex", "shm/c-counter-no-lock", "signal/c-child-handler-after-fork"),
    ("pipe/c-duplex-buffered-replies", "shm/c-counter-lock-whole-loop", "signal/c-catcher-busy-waits"),
    ("signal/c-child-busy-waits",),
)
C_REFERENCE = ROOT / "reference" / "c"


def combined(group: tuple, by_id: dict, into: Path) -> Path:
    """One C submission with the edits of every mutant in GROUP, each in its own mechanism's
    program, built once; its manifest names those programs as built (no build step)."""
    impl = into / "-".join(m.split("/")[1] for m in group)
    shutil.copytree(C_REFERENCE, impl, ignore=shutil.ignore_patterns("ipc.toml", "*.o", *tomllib.loads((C_REFERENCE / "ipc.toml").read_text())["programs"]))
    programs = tomllib.loads((C_REFERENCE / "ipc.toml").read_text())["programs"]
    for mid in group:
        mutant = by_id[mid]
        alone = into / "alone" / mid.replace("/", "-")
        alone.mkdir(parents=True)
        made = mutant.materialize(alone)
        for edit in tomllib.loads(mutant.source.read_text()).get("edit", []):
            shutil.copy(made / edit["file"], impl / edit["file"])
    mechanisms = sorted({mid.split("/")[0] for mid in group})
    subprocess.run(["make", "-s", "-j2", *(programs[m].removeprefix("./") for m in mechanisms)], cwd=impl, check=True, capture_output=True)
    lines = "\n".join(f'{m} = "{programs[m]}"' for m in mechanisms)
    (impl / "ipc.toml").write_text(f'[implementation]\nname = "timing-sensitive mutants: {", ".join(group)}"\n\n[programs]\n{lines}\n')
    return impl


def grade(impl: Path, specs: list[str], out: Path) -> dict[str, str]:
    """Spec id -> status, from one grading of IMPL on SPECS (one worker)."""
    selection = " or ".join(specs)
    cmd = [sys.executable, "-m", "pytest", f"--impl={impl}", f"--ipc-json={out}", "-p", "no:cacheprovider", "-q", "-n", "0", "-k", selection]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_XDIST_WORKER", "PYTEST_ADDOPTS")}
    subprocess.run(cmd, cwd=out.parent, capture_output=True, text=True, env=env, timeout=600)
    if not out.exists():
        return {"(no run record)": "crashed"}
    record = json.loads(out.read_text())
    out.unlink()
    return {s["id"]: s["status"] for s in record["specs"]}


def main() -> int:
    from harness import mutants

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=10, help="how many times to grade each submission (default 10)")
    p.add_argument("--only", action="append", help="only this mutant id (repeatable)")
    p.add_argument("--jobs", type=int, default=2, help="gradings at once (default 2)")
    args = p.parse_args()
    by_id = {m.id: m for m in mutants()}
    groups = [tuple(m for m in g if not args.only or m in args.only) for g in SUBMISSIONS]
    groups = [g for g in groups if g]
    started = time.monotonic()
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="ipc-reproducible-") as tmp:
        base = Path(tmp)
        base.chmod(0o755)
        with ThreadPoolExecutor(args.jobs) as pool:
            impls = list(pool.map(lambda g: combined(g, by_id, base), groups))
            jobs = [(i, n) for n in range(args.runs) for i in range(len(groups))]
            specs = [sorted({s for mid in g for s in MUTANTS[mid]}) for g in groups]
            results = list(pool.map(lambda job: (job[0], grade(impls[job[0]], specs[job[0]], base / f"run-{job[0]}-{job[1]}.json")), jobs))
        for i, group in enumerate(groups):
            runs = [verdicts for g, verdicts in results if g == i]
            for mid in group:
                mechanism = mid.split("/")[0]
                ours = [{s: st for s, st in v.items() if s.startswith(mechanism + ".") or s.startswith("(")} for v in runs]
                first = ours[0]
                differ = [(n + 1, {s: (first.get(s), v.get(s)) for s in set(first) | set(v) if first.get(s) != v.get(s)}) for n, v in enumerate(ours) if v != first]
                problems += [f"{mid}: run {n} differs from run 1: {d}" for n, d in differ]
                caught = {s for s, st in first.items() if st not in ("passed", "unsupported")}
                if caught != by_id[mid].fails & set(first):
                    problems.append(f"{mid}: not caught by exactly its specs: {sorted(caught)} did not pass, expected {sorted(by_id[mid].fails & set(first))}")
                verdict = f"DIFFERENT in {len(differ)} of {len(ours)} runs" if differ else f"the same verdicts in {len(ours)} of {len(ours)} runs"
                shown = ", ".join(f"{s} {st}" for s, st in sorted(first.items()) if st != "passed") or "all passed"
                print(f"{mid:<38} {len(first)} specs: {verdict} ({shown})", flush=True)
    took = time.monotonic() - started
    for line in problems:
        print("PROBLEM " + line)
    print(f"{len(jobs)} gradings of {len(groups)} submissions in {took:.0f} s: " + ("every run gave the same verdicts" if not problems else f"{len(problems)} problem(s)"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
