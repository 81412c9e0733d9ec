"""Unpack a submitted zip or tar archive safely, and find the implementation inside.

Nothing in an archive may land outside the directory it is unpacked into: absolute names,
``..`` components, links and device files are refused, as are archives that would unpack to
more than a size or file-count budget (a zip bomb). A refused archive is not an error of the
grader: the submission is reported with the reason, score 0.
"""

from __future__ import annotations

import shutil
import stat
import tarfile
import zipfile
from pathlib import Path, PurePosixPath

ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")

#: Budgets for one unpacked submission.
MAX_BYTES = 256 << 20
MAX_FILES = 20_000

#: Entries that archivers add and nobody submitted.
JUNK = frozenset({"__MACOSX", ".DS_Store", "Thumbs.db"})


class UnsafeArchive(Exception):
    """The archive cannot be unpacked safely; the message says why and what to submit."""


def archive_stem(name: str) -> str | None:
    """NAME without its archive suffix, or None when it is not an archive."""
    lower = name.lower()
    for suffix in sorted(ARCHIVE_SUFFIXES, key=len, reverse=True):
        if lower.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return None


def _safe_name(name: str, archive: Path) -> PurePosixPath | None:
    """The member's relative path, None for a directory entry of the root; raises if unsafe."""
    cleaned = name.replace("\\", "/")
    path = PurePosixPath(cleaned)
    if cleaned.startswith("/") or (len(cleaned) > 1 and cleaned[1] == ":"):
        raise UnsafeArchive(f"{archive.name} holds an absolute path ({name!r}); archive the files with relative paths")
    parts = [p for p in path.parts if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise UnsafeArchive(f"{archive.name} holds a path that leaves its directory ({name!r}); archive the files with plain relative paths")
    if not parts:
        return None
    return PurePosixPath(*parts)


class _Budget:
    def __init__(self, archive: Path) -> None:
        self.archive = archive
        self.bytes = 0
        self.files = 0

    def file(self) -> None:
        self.files += 1
        if self.files > MAX_FILES:
            raise UnsafeArchive(f"{self.archive.name} holds more than {MAX_FILES} files; submit only the implementation")

    def add(self, n: int) -> None:
        self.bytes += n
        if self.bytes > MAX_BYTES:
            raise UnsafeArchive(f"{self.archive.name} unpacks to more than {MAX_BYTES >> 20} MiB; submit only the implementation")


def unpack(archive: Path, into: Path) -> None:
    """Unpack ARCHIVE into the new directory INTO; UnsafeArchive says why it cannot be."""
    into.mkdir(parents=True)
    budget = _Budget(archive)
    try:
        if archive.name.lower().endswith(".zip"):
            _unzip(archive, into, budget)
        else:
            _untar(archive, into, budget)
    except UnsafeArchive:
        shutil.rmtree(into, ignore_errors=True)
        raise
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError, ValueError) as exc:
        shutil.rmtree(into, ignore_errors=True)
        raise UnsafeArchive(f"{archive.name} cannot be unpacked ({exc}); check that it is a complete zip or tar archive") from None


def _copy(src, dest: Path, budget: _Budget) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(dest, "wb") as out:
        while True:
            chunk = src.read(1 << 16)
            if not chunk:
                break
            budget.add(len(chunk))
            out.write(chunk)


def _unzip(archive: Path, into: Path, budget: _Budget) -> None:
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            rel = _safe_name(info.filename, archive)
            if rel is None or rel.parts[0] in JUNK:
                continue
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise UnsafeArchive(f"{archive.name} holds a symbolic link ({info.filename!r}), which the grader does not unpack; archive the file itself")
            budget.file()
            dest = into.joinpath(*rel.parts)
            if info.is_dir():
                dest.mkdir(parents=True, exist_ok=True)
                continue
            with zf.open(info) as src:
                _copy(src, dest, budget)
            if mode & 0o111:
                dest.chmod(0o755)


def _untar(archive: Path, into: Path, budget: _Budget) -> None:
    with tarfile.open(archive) as tf:
        for member in tf:
            rel = _safe_name(member.name, archive)
            if rel is None or rel.parts[0] in JUNK:
                continue
            if member.issym() or member.islnk():
                raise UnsafeArchive(f"{archive.name} holds a link ({member.name!r} -> {member.linkname!r}), which the grader does not unpack; archive the file itself")
            if not (member.isfile() or member.isdir()):
                raise UnsafeArchive(f"{archive.name} holds a special file ({member.name!r}); archive only regular files and directories")
            budget.file()
            dest = into.joinpath(*rel.parts)
            if member.isdir():
                dest.mkdir(parents=True, exist_ok=True)
                continue
            src = tf.extractfile(member)
            if src is None:
                continue
            with src:
                _copy(src, dest, budget)
            if member.mode & 0o111:
                dest.chmod(0o755)


def implementation_root(directory: Path) -> Path:
    """Where the implementation is in DIRECTORY: itself, or the one directory it holds when it
    has no ipc.toml itself (an archive of a folder, not of its files)."""
    if (directory / "ipc.toml").exists():
        return directory
    entries = [p for p in directory.iterdir() if p.name not in JUNK]
    if len(entries) == 1 and entries[0].is_dir() and not entries[0].is_symlink():
        return implementation_root(entries[0])
    return directory
