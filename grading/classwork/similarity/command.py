"""`ipc-grade similarity`: find submissions that copy the bundled references or each other.

    ipc-grade similarity SUBMISSIONS [--out OUT] [--threshold PERCENT] [--jobs N]

For the instructor only: the flagged pairs on the terminal, and with --out, similarity.json and
the side-by-side pages; when OUT holds a batch, its gradebook and class page get them too.
`ipc-grade batch --similarity` runs the same check after grading (classwork/batch.py).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from ... import options
from ..results import rewrite_with_similarity
from ..submissions import discover
from .check import check_class, write
from .fingerprint import SimilarityUnavailable
from .model import DEFAULT_THRESHOLD, Summary


def add_threshold_option(p: argparse.ArgumentParser, flag: str) -> None:
    """The threshold option, one definition for `similarity` and `batch --similarity`."""
    p.add_argument(
        flag,
        type=int,
        default=DEFAULT_THRESHOLD,
        metavar="PERCENT",
        help=f"flag a mechanism of a pair when at least PERCENT of either side's code is shared (default {DEFAULT_THRESHOLD})",
    )


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ipc-grade similarity",
        description="Compare every pair of submissions in DIR, and every submission with the bundled references, "
        "per mechanism; print the flagged pairs. For the instructor only.",
        epilog="With --out OUT: OUT/similarity.json and a side-by-side page per flagged pair in OUT/similarity/; when OUT "
        "holds an `ipc-grade batch` (or merge) result, its gradebook and class page get the similarity too. "
        "Exit status: 0 compared (whatever was found); 1 the check could not run; 2 a usage error. "
        "docs/batch.md has the details.",
    )
    p.add_argument("dir", metavar="DIR", help="the directory of submissions (as for ipc-grade batch)")
    p.add_argument("--out", metavar="OUT", help="write similarity.json and the side-by-side pages here")
    add_threshold_option(p, "--threshold")
    options.add(p, "jobs", "-j", setting=options.workers("processes that fingerprint the files: 1 or more, or auto (the default: one per CPU)"))
    return p


def run(args: argparse.Namespace) -> int:
    source = Path(args.dir)
    problems = []
    if not source.is_dir():
        problems.append(f"{args.dir} is not a directory: give the directory that holds one directory or archive per submission")
    problems += check_threshold(args.threshold, "--threshold")
    out = Path(args.out) if args.out else None
    if out is not None and out.exists() and not out.is_dir():
        problems.append(f"--out {args.out} exists and is not a directory")
    if problems:
        for problem in problems:
            print(f"ipc-grade similarity: error: {problem}", file=sys.stderr)
        return 2
    submissions, skipped = discover(source)
    for note in skipped:
        print(f"ipc-grade similarity: note: {note}", file=sys.stderr)
    started = time.monotonic()
    try:
        result = check_class(submissions, threshold=args.threshold, jobs=args.jobs, loaded=_loaded(out, submissions))
    except SimilarityUnavailable as exc:
        print(f"ipc-grade similarity: error: {exc}", file=sys.stderr)
        return 1
    elapsed = time.monotonic() - started
    sys.stdout.write(text_table(result.summary))
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        write(out, result)
        if (out / "batch.json").is_file():
            problem = rewrite_with_similarity(out, result.summary)
            if problem:
                print(f"ipc-grade similarity: error: {problem}", file=sys.stderr)
                return 1
    print(
        f"ipc-grade similarity: {len(result.summary.submissions)} submissions compared in {elapsed:.1f} s; "
        f"{len(result.summary.pairs)} pairs flagged" + (f"; written to {out}/similarity.json" if out is not None else ""),
        file=sys.stderr,
    )
    return 0


def _loaded(out: Path | None, submissions) -> dict[str, dict[str, list[str]]]:
    """When OUT holds a batch: what each submission's programs loaded when it was graded (its
    run record's ``loaded``), so that files run but named by no manifest count too."""
    found: dict[str, dict[str, list[str]]] = {}
    for s in submissions if out is not None else ():
        try:
            data = json.loads((out / "submissions" / s.id / "record.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and isinstance(data.get("loaded"), dict):
            found[s.id] = {str(m): [str(f) for f in files] for m, files in data["loaded"].items() if isinstance(files, list)}
    return found


def check_threshold(value: int, flag: str) -> list[str]:
    if not 1 <= value <= 100:
        return [f"{flag} {value}: give a percentage from 1 to 100"]
    return []


def text_table(summary: Summary) -> str:
    """The flagged pairs as plain text, for the terminal."""
    lines = [
        f"similarity: {len(summary.submissions)} submissions, compared with each other and with "
        + (", ".join(summary.references) or "no bundled reference")
        + ("; template code excluded" if summary.template else "; no template found")
        + f"; flagged at {summary.threshold}%"
    ]
    lines += [f"note: {n}" for n in summary.notes]
    if not summary.pairs:
        lines.append("no pair flagged")
    width = max((len(p.a) for p in summary.pairs), default=0)
    other = max((len(p.b) for p in summary.pairs), default=0)
    for p in summary.pairs:
        cells = ", ".join(f"{m.mechanism} {m.score}%" for m in p.flagged)
        lines.append(f"{p.a:<{width}}  {p.b:<{other}}  {cells}")
    return "\n".join(lines) + "\n"

