"""The submissions of a class: what is in the submissions directory, each by its id.

DIR holds one entry per submission: a directory, or a zip or tar archive (unpacked safely when
it is graded: archives.py). A submission's id is the directory's name or the archive's name
without its suffix; entries whose names start with a dot, and files that are neither, are
skipped with a note.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import archives


@dataclass(frozen=True)
class Submission:
    id: str
    source: Path
    """The directory or archive in DIR."""

    @property
    def is_archive(self) -> bool:
        return self.source.is_file()


def discover(directory: Path) -> tuple[list[Submission], list[str]]:
    """The submissions in DIRECTORY sorted by id, and notes on entries that are not one."""
    found: dict[str, Submission] = {}
    notes = []
    for entry in sorted(directory.iterdir(), key=lambda p: p.name):
        if entry.name.startswith(".") or entry.name in archives.JUNK:
            continue
        if entry.is_dir():
            ident = entry.name
        elif entry.is_file() and archives.archive_stem(entry.name):
            ident = archives.archive_stem(entry.name)
        else:
            notes.append(f"{entry} is neither a directory nor a zip or tar archive; skipped")
            continue
        if ident in found:
            notes.append(f"{entry.name} and {found[ident].source.name} are both submission {ident!r}; the archive is graded as {entry.name!r}")
            ident = entry.name
        found[ident] = Submission(ident, entry)
    return sorted(found.values(), key=lambda s: s.id), notes

