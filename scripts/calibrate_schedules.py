"""Calibrate the budgets of schedules (docs/schedules.md): for each race mutant (tests/mutants/,
``race = true``) and each of SEEDS base seeds, the index of the first schedule that fails the
mutant's specs, explored with a large budget.

A base seed stands for a submission: a spec's schedules derive from its id and the submission's
files, and IPC_SEED moves them as another submission's files would. A spec's budget must be
above the largest index seen for every mutant aimed at it, with a margin (the spec modules'
SCHEDULES constants).

    .venv/bin/python scripts/calibrate_schedules.py [--seeds 10] [--budget 200] [MUTANT ...]

MUTANT is mechanism/name (default: every race mutant). Prints a line per grading and a summary
per spec: the indices, their largest, and the budget with a margin of 1.5.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from harness import grade, mutants  # noqa: E402

from conformance import locate  # noqa: E402

MARGIN = 1.5


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("mutants", nargs="*", help="mechanism/name of race mutants (default: all)")
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--budget", type=int, default=200)
    args = p.parse_args(argv)
    chosen = [m for m in mutants() if m.race and (not args.mutants or f"{m.mechanism}/{m.name}" in args.mutants)]
    if not chosen:
        print("no race mutant matches", file=sys.stderr)
        return 2
    found: dict[str, list[int | None]] = defaultdict(list)
    with tempfile.TemporaryDirectory() as tmp:
        for m in chosen:
            into = Path(tmp) / m.id.replace("/", "-")
            into.mkdir(parents=True)
            impl = m.materialize(into)
            spec_file = locate.specs_dir() / f"test_{m.mechanism}.py"
            names = " or ".join(s.split(".", 1)[1].replace("-", "_") for s in sorted(m.fails))
            for seed in range(1, args.seeds + 1):
                env = {**os.environ, "IPC_SEED": str(seed), "IPC_SCHEDULES": str(args.budget)}
                rec, _ = grade(impl, str(spec_file), "-k", names, cwd=impl.parent, env=env)
                for s in rec.specs:
                    if s.id not in m.fails:
                        continue
                    failing = (s.schedule or {}).get("failing") or {}
                    index = failing.get("index") if s.status != "passed" else None
                    caught_before = s.status != "passed" and not failing  # by the spec's other checks
                    found[s.id].append(0 if caught_before else index)
                    print(f"{m.mechanism}/{m.name} seed {seed}: {s.id} {s.status}, "
                          f"{'caught before any schedule' if caught_before else f'first failing schedule {index}'}", flush=True)
    print()
    for spec_id, indices in sorted(found.items()):
        missed = indices.count(None)
        seen = [i for i in indices if i]
        top = max(seen, default=0)
        print(f"{spec_id}: {len(indices)} gradings, missed {missed}, first failing schedules {sorted(indices, key=lambda i: -1 if i is None else i)}, "
              f"largest {top}, budget with margin {math.ceil(top * MARGIN)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
