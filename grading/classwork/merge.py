"""`ipc-grade merge OUT1 OUT2 ... --out OUT`: the OUT directories of `ipc-grade batch --shard`
runs combined into one, the same as a single batch of the whole class would write.

It refuses (exit 2) shards graded with different rubrics, a submission present in two shards,
and a directory with no batch.json; a missing shard is a warning.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from conformance import record as run_record

from .gradebook import Entry
from .results import BATCH_VERSION, write_batch


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ipc-grade merge",
        description="Combine the OUT directories of `ipc-grade batch --shard` runs into one gradebook and class page.",
        epilog="Exit status: 0 merged; 2 a usage error (a missing or inconsistent shard, a submission in two shards).",
    )
    p.add_argument("shards", nargs="+", metavar="OUT", help="the OUT directory of each shard")
    p.add_argument("--out", required=True, metavar="OUT", help="the directory for the merged gradebook, class page and reports")
    return p


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    problems = []
    manifests = []
    for shard in args.shards:
        path = Path(shard)
        try:
            manifest = json.loads((path / "batch.json").read_text(encoding="utf-8"))
            if manifest.get("version") != BATCH_VERSION:
                raise ValueError(f"batch.json version {manifest.get('version')!r}, this grader reads {BATCH_VERSION}")
        except FileNotFoundError:
            problems.append(f"{shard} has no batch.json: give the --out directory of an `ipc-grade batch` run")
            continue
        except (OSError, ValueError) as exc:
            problems.append(f"{shard}/batch.json cannot be read ({exc})")
            continue
        if path.resolve() == out.resolve():
            problems.append(f"--out {args.out} is also a shard to merge: merge into a new directory")
        manifests.append((path, manifest))
    digests = {json.dumps((m.get("rubric") or {}).get("sha256")) for _, m in manifests}
    if len(digests) > 1:
        problems.append("the shards were graded with different rubrics (batch.json 'rubric'): grade every shard with the same --rubric")
    owner: dict[str, Path] = {}
    for path, manifest in manifests:
        for ident in manifest.get("submissions", []):
            if ident in owner:
                problems.append(f"submission {ident!r} is in both {owner[ident]} and {path}: merge each shard once")
            owner[ident] = path
    shards = [m.get("shard") for _, m in manifests if m.get("shard")]
    counts = {s.split("/")[1] for s in shards}
    if len(counts) == 1 and shards:
        n = int(counts.pop())
        missing = sorted(set(range(n)) - {int(s.split("/")[0]) for s in shards})
        if missing:
            print(f"ipc-grade merge: warning: shards {', '.join(f'{i}/{n}' for i in missing)} are missing: the gradebook lacks their submissions", file=sys.stderr)
    entries = []
    for ident, path in sorted(owner.items()):
        try:
            entries.append(Entry(ident, run_record.load(path / "submissions" / ident / "record.json")))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            problems.append(f"{path}/submissions/{ident}/record.json cannot be read ({exc})")
    if problems:
        for problem in problems:
            print(f"ipc-grade merge: error: {problem}", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    for ident, path in sorted(owner.items()):
        target = out / "submissions" / ident
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(path / "submissions" / ident, target)
    rubric = manifests[0][1].get("rubric") if manifests else None
    write_batch(out, entries, shard=None, rubric=rubric, merged_from=[m.get("shard") or str(p) for p, m in manifests])
    print(f"ipc-grade merge: {len(entries)} submissions from {len(manifests)} shards into {out}/gradebook.csv and {out}/class.html", file=sys.stderr)
    return 0

