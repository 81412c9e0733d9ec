"""A batch's OUT directory: what `ipc-grade batch` and `ipc-grade merge` write, and read back.

    OUT/gradebook.csv                  one row per submission, sorted by id (gradebook.py)
    OUT/class.html                     the class page (classpage.py)
    OUT/batch.json                     what was graded: ids, shard, rubric (for merge, --only, similarity)
    OUT/submissions/ID/record.json     the run record, and each report format of the registry
                                       (render.FORMATS: gradescope.json, junit.xml, report.html, ...)
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from conformance import record as run_record

from .. import render
from . import classpage
from .gradebook import Entry, gradebook

if TYPE_CHECKING:
    from .similarity.model import Summary

BATCH_VERSION = 1


def write_submission(out: Path, entry: Entry, show_hidden: bool) -> None:
    """Every report format of ENTRY into OUT/submissions/ID/."""
    directory = out / "submissions" / entry.id
    targets = {name: directory / f.filename for name, f in render.FORMATS.items()}
    for problem in render.write_all(entry.record, targets, show_hidden=show_hidden):
        print(f"ipc-grade batch: error: {entry.id}: {problem}", file=sys.stderr)


def write_batch(
    out: Path,
    entries: Sequence[Entry],
    *,
    shard: tuple[int, int] | str | None,
    rubric: dict | None,
    merged_from: Sequence[str] = (),
    similarity: Summary | None = None,
) -> None:
    """The gradebook, the class page and batch.json for ENTRIES (with SIMILARITY, its column
    and its table)."""
    title = (rubric or {}).get("title", "")
    render.write_text(out / "gradebook.csv", gradebook(entries, similarity))
    render.write_text(out / "class.html", classpage.render(entries, title, similarity=similarity))
    if isinstance(shard, tuple):
        shard = f"{shard[0]}/{shard[1]}"
    manifest = {
        "version": BATCH_VERSION,
        "shard": shard or None,
        "rubric": rubric,
        "submissions": sorted(en.id for en in entries),
    }
    if merged_from:
        manifest["merged_from"] = list(merged_from)
    render.write_text(out / "batch.json", json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")


def rewrite_with_similarity(out: Path, summary: Summary) -> str | None:
    """Write the gradebook and class page of the batch (or merge) in OUT again, with SUMMARY;
    None, or what stopped it."""
    try:
        manifest = json.loads((out / "batch.json").read_text(encoding="utf-8"))
        entries = [Entry(ident, run_record.load(out / "submissions" / ident / "record.json")) for ident in manifest.get("submissions", [])]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return f"{out} holds a batch whose records cannot be read ({exc}): its class page was left as it was"
    write_batch(out, entries, shard=manifest.get("shard"), rubric=manifest.get("rubric"), merged_from=manifest.get("merged_from", ()), similarity=summary)
    return None

