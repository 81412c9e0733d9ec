"""Measure issue 28's bar (docs/schedules.md): each race mutant (tests/mutants/, ``race = true``)
graded N times on the specs it targets, each grading counted as a catch when every one of them
fails, with the verdict (status, and the failing schedule's seed) of each; and the reference and
the C reference graded N times on every spec under schedule control, each grading counted as a
pass when all of them pass.

    .venv/bin/python scripts/race_bar.py [--gradings 100] [--references] [MUTANT ...]

MUTANT is mechanism/name (default: every race mutant; none with --references alone). Each
grading is `pytest --impl=DIR conformance/specs/test_<mechanism>.py -k <specs>` in a fresh
process (the submission built again for C), at the submission's own seeds (no IPC_SEED, no
IPC_SCHEDULES): what a student's regrade does. Prints a line per mutant and reference.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from harness import grade, mutants  # noqa: E402

from conformance import locate  # noqa: E402

#: The specs under schedule control, per mechanism: those that ask for the `schedules` fixture.
_ASKS = re.compile(r"def (test_\w+)\([^)]*\bschedules\b")


def controlled() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for p in sorted(locate.specs_dir().glob("test_*.py")):
        names = _ASKS.findall(p.read_text())
        if names:
            out[p.stem.removeprefix("test_")] = names
    return out


def _verdicts(impl: Path, mechanism: str, k: str, wanted: set[str] | None, n: int) -> tuple[Counter, list[str]]:
    spec_file = locate.specs_dir() / f"test_{mechanism}.py"
    verdicts: Counter = Counter()
    outcomes = []
    for _ in range(n):
        rec, _ = grade(impl, str(spec_file), "-k", k, cwd=impl.parent)
        specs = [s for s in rec.specs if wanted is None or s.id in wanted]
        verdict = ", ".join(
            f"{s.id} {s.status}" + (f" at {(s.schedule or {}).get('failing', {}).get('seed')}" if (s.schedule or {}).get("failing") else "")
            + (" (no control)" if (s.schedule or {}).get("control") == "none" else "")
            for s in sorted(specs, key=lambda s: s.id)
        )
        verdicts[verdict] += 1
        outcomes.append("failed" if any(s.status != "passed" for s in specs) and (wanted is None or {s.id for s in specs if s.status != "passed"} == wanted) else
                        "passed" if all(s.status == "passed" for s in specs) else "other")
    return verdicts, outcomes


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("mutants", nargs="*", help="mechanism/name of race mutants (default: all, unless --references alone)")
    p.add_argument("--gradings", type=int, default=100)
    p.add_argument("--references", action="store_true", help="also grade the reference and the C reference")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        if args.references:
            ref = Path(tmp) / "reference"
            shutil.copytree(locate.bundled("reference"), ref)
            for mech, names in controlled().items():
                for label, impl in (("reference", ref), ("C reference", ref / "c")):
                    verdicts, outcomes = _verdicts(impl, mech, " or ".join(names), None, args.gradings)
                    print(f"{label} {mech} ({', '.join(names)}): passed {outcomes.count('passed')} of {args.gradings}; verdicts {dict(verdicts)}", flush=True)
        chosen = [m for m in mutants() if m.race and (f"{m.mechanism}/{m.name}" in args.mutants if args.mutants else not args.references)]
        for m in chosen:
            into = Path(tmp) / m.id.replace("/", "-")
            into.mkdir(parents=True)
            impl = m.materialize(into)
            names = " or ".join(s.split(".", 1)[1].replace("-", "_") for s in sorted(m.fails))
            verdicts, outcomes = _verdicts(impl, m.mechanism, names, set(m.fails), args.gradings)
            print(f"{m.mechanism}/{m.name}: caught (exactly {', '.join(sorted(m.fails))} failed) in {outcomes.count('failed')} of {args.gradings}; "
                  f"verdicts {dict(verdicts)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
