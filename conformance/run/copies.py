"""Copies of the bundled reference in a submission, and the files its programs load.

A submission may carry the reference under another name (``pipe.dat``) and start it through a
loader of a few lines (``runpy.run_path("pipe.dat")``): no import and no manifest names it, so
neither the similarity check's reading of the manifest nor the integrity watch's search for the
grader's own paths sees it. Two things here see it:

- ``find``: every file of the staged submission (after its build) compared with every file of
  the bundled references (Python, and C where bundled), whatever its name or extension: a file
  byte-identical to one, or holding at least SHARE of its token SHINGLE-grams (whitespace and
  layout aside; what the template has too does not count), is a copy. The run record lists
  them (``copies``), and every report says so, to instructor and student.
- ``Opens``: the files inside the staged submission that the programs open during a spec
  (inotify's IN_OPEN on each of its directories: an exec, a script an interpreter reads, a
  module, a data file read by runpy or exec, a library mapped), however briefly. The integrity
  watch (integrity.Guard) adds what /proc shows (executable, command line, maps, open files);
  the record lists them per mechanism (``loaded``), and the similarity check adds them to that
  mechanism's document.

A copy under the reference's own name (``pipe.py``, the reference's layout: what the suite's
mutants are) is the plain copying the similarity check is for: reported, and graded. A copy
under another name or extension that a spec's programs load is hiding: an integrity finding in
that spec, which then scores nothing (integrity.Guard, docs/security.md).
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import os
import re
import stat as stat_mod
import struct
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from conformance.outcomes import Sentence

#: A file of the submission is a copy of a reference file when it holds this share of the
#: reference file's shingles (those the template does not have too), or is byte-identical.
SHARE = 0.8
#: Tokens per shingle, and the fewest shingles of its own a reference file needs to be looked
#: for (a tiny file, or one the template has whole, says nothing about copying).
SHINGLE = 8
MIN_SHINGLES = 40
#: What is read of a submission: files of at most MAX_FILE_BYTES, at most MAX_FILES of them and
#: MAX_BYTES in all; binary files (a NUL in the first 8 KiB) are not compared.
MAX_FILE_BYTES = 1 << 20
MAX_FILES = 2000
MAX_BYTES = 32 << 20
#: The reference's sources: what a copy is looked for of.
SOURCES = (".py", ".c", ".h")

_TOKEN = re.compile(r"\w+|[^\w\s]")


def shingles(text: str) -> set[int]:
    """TEXT's token SHINGLE-grams (words and single punctuation marks; whitespace and layout
    do not count), hashed."""
    tokens = _TOKEN.findall(text)
    return {hash(tuple(tokens[i : i + SHINGLE])) for i in range(max(len(tokens) - SHINGLE + 1, 0))}


def _text(path: Path) -> str | None:
    """PATH's text when it is a regular text file of at most MAX_FILE_BYTES (no link followed)."""
    try:
        st = path.lstat()
        if not stat_mod.S_ISREG(st.st_mode) or st.st_size > MAX_FILE_BYTES:
            return None
        data = path.read_bytes()
    except OSError:
        return None
    if b"\0" in data[:8192]:
        return None
    return data.decode("utf-8", "replace")


def _files(root: Path) -> Iterable[Path]:
    """The regular files under ROOT (no link followed), bounded by MAX_FILES and MAX_BYTES."""
    count = used = 0
    for top, dirs, names in os.walk(root):
        dirs.sort()
        for name in sorted(names):
            path = Path(top) / name
            try:
                st = path.lstat()
            except OSError:
                continue
            if not stat_mod.S_ISREG(st.st_mode) or st.st_size > MAX_FILE_BYTES:
                continue
            count += 1
            used += st.st_size
            if count > MAX_FILES or used > MAX_BYTES:
                return
            yield path


def reference_files(references: Iterable[Path], templates: Iterable[Path]) -> dict[str, tuple[str, set[int]]]:
    """Each source file of the REFERENCES (directories; a C reference's files named ``c/...``
    when it sits inside the Python one) as name -> (sha256, its shingles that no file of the
    TEMPLATES has), keeping those with MIN_SHINGLES or more."""
    common: set[int] = set()
    for template in templates:
        for path in _files(Path(template)):
            text = _text(path)
            if text is not None:
                common |= shingles(text)
    out: dict[str, tuple[str, set[int]]] = {}
    roots = [Path(r) for r in references]
    for root in roots:
        base = next((r for r in roots if r != root and root.is_relative_to(r)), root)
        for path in sorted(root.iterdir()) if root.is_dir() else []:
            if path.suffix not in SOURCES:
                continue
            text = _text(path)
            if text is None:
                continue
            own = shingles(text) - common
            if len(own) >= MIN_SHINGLES:
                out[path.relative_to(base).as_posix()] = (hashlib.sha256(text.encode()).hexdigest(), own)
    return out


def find(root: Path, references: dict[str, tuple[str, set[int]]]) -> list[dict[str, Any]]:
    """The files under ROOT (a staged submission) that are copies of REFERENCES
    (reference_files), whatever their names: each as ``file`` (relative to ROOT), ``reference``
    (the reference file's name), ``identical`` and ``share`` (the percent of the reference
    file's own shingles it holds), sorted by file."""
    out = []
    for path in _files(root):
        text = _text(path)
        if text is None:
            continue
        digest = hashlib.sha256(text.encode()).hexdigest()
        mine = shingles(text)
        best = None
        for name, (ref_digest, ref_shingles) in references.items():
            identical = digest == ref_digest
            share = 1.0 if identical else len(mine & ref_shingles) / len(ref_shingles)
            if share >= SHARE and (best is None or (identical, share) > (best[1], best[2])):
                best = (name, identical, share)
        if best is not None:
            rel = path.relative_to(root).as_posix()
            out.append({"file": rel, "reference": best[0], "identical": best[1], "share": int(best[2] * 100)})
    return out


def renamed(copy: dict[str, Any]) -> bool:
    """COPY (an entry of ``find``) is under another name than the reference file's."""
    return Path(copy["file"]).name != Path(copy["reference"]).name


def words(copy: dict[str, Any]) -> Sentence:
    """COPY in a sentence's words."""
    if copy["identical"]:
        return Sentence("%(file)s is a copy of the bundled reference's %(reference)s (byte for byte)", file=copy["file"], reference=copy["reference"])
    return Sentence("%(file)s is a copy of the bundled reference's %(reference)s (%(share)s%% of it)",
                    file=copy["file"], reference=copy["reference"], share=copy["share"])


# --- what the programs open: inotify -------------------------------------------------------

IN_OPEN = 0x00000020
IN_Q_OVERFLOW = 0x00004000
IN_ISDIR = 0x40000000
IN_ONLYDIR = 0x01000000
IN_DONT_FOLLOW = 0x02000000
#: Directories of a submission watched at most (each costs one of the user's inotify watches).
MAX_DIRS = 256
_EVENT = struct.Struct("iIII")


class Opens:
    """The files under ROOT that any process opens from now until ``close``, as inotify reports
    them (IN_OPEN): an exec, a script read by an interpreter, a module, a data file, a library.
    Where inotify cannot be had (no instance left), nothing is seen and ``note`` says why."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.files: set[str] = set()
        self.note = ""
        self._dirs: dict[int, str] = {}
        self._fd = -1
        libc = ctypes.CDLL(None, use_errno=True)
        fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            self.note = f"inotify is not available here ({os.strerror(ctypes.get_errno())}): files loaded only while open are not seen"
            return
        self._fd = fd
        for top, dirs, _ in os.walk(self.root):
            dirs.sort()
            if len(self._dirs) >= MAX_DIRS:
                self.note = f"only the first {MAX_DIRS} directories of the submission are watched"
                break
            wd = libc.inotify_add_watch(fd, os.fsencode(top), IN_OPEN | IN_ONLYDIR | IN_DONT_FOLLOW)
            if wd >= 0:
                rel = Path(top).relative_to(self.root).as_posix()
                self._dirs[wd] = "" if rel == "." else rel + "/"

    def drain(self) -> None:
        """Take every event queued so far."""
        while self._fd >= 0:
            try:
                data = os.read(self._fd, 65536)
            except BlockingIOError:
                return
            except OSError as exc:
                if exc.errno == errno.EINTR:
                    continue
                return
            pos = 0
            while pos + _EVENT.size <= len(data):
                wd, mask, _, length = _EVENT.unpack_from(data, pos)
                name = data[pos + _EVENT.size : pos + _EVENT.size + length].rstrip(b"\0")
                pos += _EVENT.size + length
                if mask & IN_Q_OVERFLOW:
                    self.note = "more files were opened than inotify could report: some are not listed"
                elif mask & IN_OPEN and not mask & IN_ISDIR and name and wd in self._dirs:
                    self.files.add(self._dirs[wd] + os.fsdecode(name))

    def close(self) -> None:
        if self._fd >= 0:
            self.drain()
            os.close(self._fd)
            self._fd = -1


__all__ = ["Opens", "find", "reference_files", "renamed", "shingles", "words"]
