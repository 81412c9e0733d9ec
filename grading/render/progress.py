"""Progress while a grading runs: specs done out of the total, what runs now, the score so far.

The grading runs in a child pytest, which writes the run record after every spec and names the
specs it is running (``meta.running``); this reads that record as it changes. On a terminal it
draws a live line with rich; elsewhere (CI logs, a pipe) it prints one plain line per spec
decided, so a log shows the order of events. The total is known from the start (ipc-grade counts
the catalogue's specs, as the rubric chooses them); with -k, from the run's collection.

The implementation's name is the student's (a directory's, an archive's): rich draws it as text
(inert.rich_text: no markup of rich's, no terminal escape), on the stream under ipc-grade's
TerminalStream (inert.drawing), which is where rich's own codes go.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import IO, Any

from conformance import record as run_record

from . import i18n
from .inert import drawing, one_line, rich_text

#: Below this many columns the progress line leaves its bar out, so that the facts fit on one line.
NARROW = 80


def live_bar(stream: IO[str], title: str, field: str, transient: bool) -> Any:
    """A started rich progress line on STREAM: TITLE, a bar (on a terminal of NARROW columns or
    more), done/total, the time so far, the task's FIELD (the score, or the time left) and what
    runs now (its ``running`` field, cut short with an ellipsis when the line is full)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as Bar
    from rich.table import Column

    console = Console(file=drawing(stream))
    bar = Bar(
        TextColumn(title, table_column=Column(no_wrap=True)),
        *([BarColumn()] if console.width >= NARROW else []),
        MofNCompleteColumn(table_column=Column(no_wrap=True)),
        TimeElapsedColumn(table_column=Column(no_wrap=True)),
        TextColumn("{task.fields[" + field + "]}", table_column=Column(no_wrap=True)),
        TextColumn("[dim]{task.fields[running]}", table_column=Column(no_wrap=True, overflow="ellipsis")),
        console=console,
        transient=transient,
    )
    bar.start()
    return bar


class Progress:
    def __init__(self, record_file: Path, what: str, total: int | None, stream: IO[str] | None = None, quiet: bool = False, language: str = "en") -> None:
        self.t = i18n.translator(language)
        self.file = record_file
        self.total = total
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.seen: set[str] = set()
        self._mtime = 0.0
        self._live: Any = None
        self._task: Any = None
        if quiet:
            return
        of = " (" + self.t.ngettext("%(n)d spec", "%(n)d specs", total) + ")" if total else ""
        if self.stream.isatty():
            # the implementation's name, not its path: the line must fit a narrow terminal
            self._live = live_bar(self.stream, "[bold]ipc-grade[/bold] {task.description}", "score", transient=True)
            self._task = self._live.add_task(rich_text(Path(what).name or what), total=total, score="", running=self.t._("starting"))
        else:
            print(one_line(self.t._("ipc-grade: grading %(what)s%(of)s", what=what, of=of)), file=self.stream, flush=True)

    def update(self) -> None:
        """Read the record if it changed, and show what is new."""
        if self.quiet:
            return
        try:
            mtime = self.file.stat().st_mtime
            if mtime == self._mtime:
                return
            self._mtime = mtime
            data = json.loads(self.file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return  # not written yet, or being replaced: look again
        specs = data.get("specs", [])
        # the run's own count, once it has collected the specs (with -k, the first the line knows);
        # the final record has every spec in it
        total = data.get("planned") or (None if data.get("partial") else len(specs))
        if total and total != self.total:
            self.total = total
            if self._live is not None:
                self._live.update(self._task, total=self.total)
        got, out_of = (format(data.get(key, 0), "g") for key in ("score", "max_score"))
        score = self.t._("%(got)s/%(out_of)s so far", got=got, out_of=out_of)
        running = rich_text(", ".join(str(r) for r in data.get("running", [])[:3]))
        if self._live is not None:
            self._live.update(self._task, completed=len(specs), score=score, running=running)
            return
        for s in specs:
            if s["id"] not in self.seen:
                self.seen.add(s["id"])
                n = f"{len(self.seen)}/{self.total}" if self.total else str(len(self.seen))
                words = self.t.status(run_record.STATUS[s["status"]].words) if s["status"] in run_record.STATUS else s["status"]
                print(one_line(f"ipc-grade: [{n}] {s['id']} {words} ({score})"), file=self.stream, flush=True)

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
