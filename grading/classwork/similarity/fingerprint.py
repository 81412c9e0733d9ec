"""Fingerprints (copydetect's winnowing, hashed with BLAKE2b) of each file, and what two
documents share: the regions and the scores of a Match.

Each file is tokenized by pygments and written as copydetect does it (``normalise``), every
NOISE-character k-gram hashed (``kgram_hashes``) and winnowed with a window of WINDOW
(``fingerprint``); the same text is done once, on as many processes as asked (``Fingerprinter``).
"""

from __future__ import annotations

import ast
import functools
import hashlib
import re
import tomllib
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conformance.record import MECHANISMS

from .model import MIN_SHARED, NOISE, WINDOW, Match, Region
from .sources import MAX_FILE_BYTES, MAX_FILES, _is_text, _regular, program_files

#: A file outside a submission's programs joins a mechanism's document when at least this share
#: of its code is a reference's code for the mechanism: a copy, whatever its name (Fingerprinter.copies).
JOIN = 0.5

SHEBANG_LANGUAGES = {"python": "python", "bash": "bash", "sh": "bash", "perl": "perl", "ruby": "ruby", "node": "javascript"}


class SimilarityUnavailable(RuntimeError):
    """The fingerprinting library is not installed beside the grader."""


@dataclass
class Source:
    """One file, fingerprinted."""

    path: str
    """Relative to the implementation."""
    text: str
    filtered: str
    starts: Any
    """Where each character of FILTERED comes from in TEXT (numpy array)."""
    ends: Any
    """Where the token each character of FILTERED stands for ends in TEXT."""
    index: dict[int, list[int]]
    """Winnowed fingerprint -> its positions in FILTERED."""
    hashes: Any
    """Every k-gram hash of FILTERED (numpy array), for exclusion."""
    coverage: int
    """Filtered characters the fingerprints cover."""
    language: str = ""


@dataclass
class Document:
    """A mechanism's files in one implementation."""

    sources: list[Source]

    @functools.cached_property
    def coverage(self) -> int:
        return sum(s.coverage for s in self.sources)

    @functools.cached_property
    def fingerprints(self) -> set[int]:
        return {h for s in self.sources for h in s.index}

    @property
    def all_hashes(self) -> set[int]:
        return {int(h) for s in self.sources for h in s.hashes}

    @property
    def languages(self) -> set[str]:
        return {s.language for s in self.sources}


def _copydetect():
    try:
        from copydetect import utils
    except ImportError as exc:
        raise SimilarityUnavailable(
            f"the similarity check needs copydetect, which is not installed ({exc}): pip install 'ipc-conformance[similarity]'"
        ) from None
    return utils


class _Fingerprinter:
    """Normalises and fingerprints files; the same text is done once, on JOBS processes."""

    def __init__(self, jobs: int = 1) -> None:
        _copydetect()
        self.jobs = jobs
        self.boilerplate: set[int] = set()
        self.has_boilerplate = False
        self.cache: dict[tuple[str, str], tuple] = {}

    def add_boilerplate(self, directory: Path) -> None:
        """Every k-gram of every source file under DIRECTORY (hidden folders aside)."""
        directory = Path(directory)
        for path in sorted(directory.rglob("*")):
            rel = path.relative_to(directory)
            if any(part.startswith(".") for part in rel.parts) or not _regular(directory, path):
                continue
            text = _read(path)
            language = _language(path, text[:200])
            if language is None:
                continue
            filtered, _, _ = normalise(text, language)
            self.boilerplate.update(kgram_hashes(filtered).tolist())
            self.has_boilerplate = True

    def plan(self, root: Path, notes: list[str], who: str, loaded: dict[str, list[str]] | None = None) -> dict[str, list[tuple[str, str, str]]]:
        """Per mechanism, the (path, language, text) of each file of the implementation at ROOT:
        its program's files (program_files), then those its programs LOADED when it was graded
        (the run record's ``loaded``: a data file a loader ran, a module imported by name)."""
        root = Path(root)
        try:
            data = tomllib.loads((root / "ipc.toml").read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            notes.append(f"{who} has no readable ipc.toml: nothing of it was compared")
            return {}
        programs = data.get("programs", {})
        out: dict[str, list[tuple[str, str, str]]] = {}
        for mech, command in sorted(programs.items() if isinstance(programs, dict) else ()):
            if mech not in MECHANISMS or not isinstance(command, str):
                continue
            named = program_files(root, command)
            more = [rel for rel in (loaded or {}).get(mech, []) if rel not in named and _regular(root, root / rel)]
            files = [f for f in (self._read(root, rel, notes, who) for rel in named + more) if f is not None]
            if files:
                out[mech] = files
        return out

    def copies(self, root: Path, plan: dict[str, list[tuple[str, str, str]]], references: Sequence[dict[str, Document]]) -> dict[str, list[tuple[str, str, str]]]:
        """The files of the implementation at ROOT outside PLAN that are mostly a reference's
        code (at least JOIN of what its fingerprints cover, and MIN_SHARED filtered characters),
        under whatever name or extension: per mechanism of the reference document each copies,
        (path, language, text), as plan gives them. Each file is read as each reference's
        language (a copy named pipe.dat is Python all the same)."""
        taken = {rel for files in plan.values() for rel, _, _ in files}
        languages = sorted({src_lang for docs in references for doc in docs.values() for src_lang in doc.languages})
        candidates = []
        for path in _candidates(Path(root)):
            rel = path.relative_to(root).as_posix()
            if rel in taken or rel == "ipc.toml":
                continue
            try:
                text = _read(path)
            except OSError:
                continue
            candidates += [(rel, lang, text) for lang in languages]
        if not candidates:
            return {}
        [docs] = self.documents([{"": candidates}])
        best: dict[str, tuple[float, str, tuple[str, str, str]]] = {}
        for src, (rel, lang, text) in zip(docs[""].sources, candidates, strict=True):
            if not src.coverage:
                continue
            for ref in references:
                for mech, doc in ref.items():
                    covered, _ = _covered(Document([src]), src.index.keys() & doc.fingerprints)
                    share = covered / src.coverage
                    if share >= JOIN and covered >= MIN_SHARED and share > best.get(rel, (0.0, "", ("", "", "")))[0]:
                        best[rel] = (share, mech, (rel, lang, text))
        out: dict[str, list[tuple[str, str, str]]] = {}
        for _, mech, file in sorted(best.values(), key=lambda b: b[2][0]):
            out.setdefault(mech, []).append(file)
        return out

    def _read(self, root: Path, rel: str, notes: list[str], who: str) -> tuple[str, str, str] | None:
        path = root / rel
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                notes.append(f"{who}/{rel} is larger than {MAX_FILE_BYTES >> 20} MiB: not compared")
                return None
            text = _read(path)
        except OSError:
            return None
        language = _language(path, text[:200]) or _sniff(text)
        if language is None:
            notes.append(f"{who}/{rel} has no tokenizer (pygments knows no language for it): not compared")
            return None
        return rel, language, text

    def documents(self, plans: Sequence[dict[str, list[tuple[str, str, str]]]]) -> list[dict[str, Document]]:
        """Each of PLANS as its documents; every text not done yet is fingerprinted first, in
        JOBS processes when there are enough of them."""
        todo = sorted({(lang, text) for plan in plans for files in plan.values() for _, lang, text in files} - set(self.cache))
        if self.jobs > 1 and len(todo) >= 8:
            with ProcessPoolExecutor(self.jobs, initializer=_set_boilerplate, initargs=(frozenset(self.boilerplate),)) as pool:
                done = list(pool.map(_fingerprint_key, todo, chunksize=max(1, len(todo) // (4 * self.jobs))))
        else:
            done = [fingerprint(text, lang, self.boilerplate) for lang, text in todo]
        self.cache.update(zip(todo, done, strict=True))
        return [
            {mech: Document([Source(rel, text, *self.cache[(lang, text)], lang) for rel, lang, text in files]) for mech, files in plan.items()}
            for plan in plans
        ]


def kgram_hashes(filtered: str) -> Any:
    """Every NOISE-gram of FILTERED, hashed with BLAKE2b (stable across processes and machines)."""
    import numpy as np

    data = filtered.encode("utf-32-le")
    width = 4 * NOISE
    return np.array(
        [int.from_bytes(hashlib.blake2b(data[i : i + width], digest_size=8).digest(), "little", signed=True) for i in range(0, len(data) - width + 4, 4)],
        dtype=np.int64,
    )


def fingerprint(text: str, language: str, boilerplate: set[int] | frozenset[int]) -> tuple:
    """TEXT's normalised form, its positions, its winnowed fingerprints (fingerprint -> positions,
    those of BOILERPLATE left out), all its k-gram hashes, and how much the fingerprints cover:
    the fields of a Source after its path and text."""
    utils = _copydetect()
    filtered, starts, ends = normalise(text, language)
    hashes = kgram_hashes(filtered)
    index: dict[int, list[int]] = {}
    if len(hashes):
        selected, positions = utils.winnow(hashes, WINDOW, remove_duplicates=False)
        for h, i in zip(selected.tolist(), positions.tolist(), strict=True):
            if h not in boilerplate:
                index.setdefault(h, []).append(i)
    coverage = int(utils.get_token_coverage(index, NOISE, len(filtered))) if index else 0
    return filtered, starts, ends, index, hashes, coverage


_worker_boilerplate: frozenset[int] = frozenset()


def _set_boilerplate(boilerplate: frozenset[int]) -> None:
    global _worker_boilerplate
    _worker_boilerplate = boilerplate


def _fingerprint_key(key: tuple[str, str]) -> tuple:
    language, text = key
    return fingerprint(text, language, _worker_boilerplate)


def _read(path: Path) -> str:
    """PATH's text as the tokenizer sees it: UTF-8 (errors replaced), newlines as \\n, no BOM."""
    text = path.read_bytes().decode("utf-8", errors="replace")
    return text.replace("\r\n", "\n").replace("\r", "\n").removeprefix("\ufeff")


def normalise(text: str, language: str) -> tuple[str, Any, Any]:
    """TEXT's tokens (pygments' lexer for LANGUAGE) written as copydetect's ``filter_code``
    writes them, and for each character written, where the token it stands for starts and ends
    in TEXT (numpy arrays: the matching regions are marked from them).

    copydetect's rules, with two changes: ``self`` and ``cls`` (pygments' Name.Builtin.Pseudo)
    are identifiers like any other, so renaming them changes nothing; and positions in TEXT are
    exact (copydetect's offsets put a region's edges a character or so off, more after a class
    name). TEXT has plain \\n newlines and no BOM (``_read``), so pygments keeps every character.
    """
    import numpy as np
    from pygments import lexers, token

    lexer = lexers.get_lexer_by_name(language, stripnl=False, ensurenl=False)
    names = {token.Name, token.Name.Variable, token.Name.Attribute, token.Name.Builtin.Pseudo}
    out: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    pos = 0
    for kind, value in lexer.get_tokens(text):
        here, pos = pos, pos + len(value)
        if kind in names:
            letter = "V"
        elif kind in token.Name.Function:
            letter = "F"
        elif kind in token.Name.Class:
            letter = "O"
        elif kind == token.Comment.Preproc or kind == token.Comment.Hashbang:
            letter = "P"
        elif kind in token.Text or kind in token.Comment:
            continue
        elif kind in token.Literal.String:
            letter = '"' if value in ("'", '"') else "S"
        else:
            out.append(value)
            starts += range(here, pos)
            ends += range(here + 1, pos + 1)
            continue
        out.append(letter)
        starts.append(here)
        ends.append(pos)
    return "".join(out), np.array(starts, dtype=np.int64), np.array(ends, dtype=np.int64)


def _sniff(text: str) -> str | None:
    """The language of TEXT, whose name says none (``pipe.dat``): Python when it parses as a
    Python program, C when it includes a header; None otherwise."""
    if re.search(r"^[ \t]*#[ \t]*include[ \t]*[<\"]", text, re.MULTILINE):
        return "c"
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return None
    return "python" if any(isinstance(n, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef)) for n in tree.body) else None


def _candidates(root: Path) -> list[Path]:
    """The regular files under ROOT (no link followed, no hidden folder), at most MAX_FILES of at
    most MAX_FILE_BYTES each, text only."""
    out = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if len(out) >= MAX_FILES or ".git" in rel.parts or not _regular(root, path):
            continue
        if path.stat().st_size <= MAX_FILE_BYTES and _is_text(path):
            out.append(path)
    return out


def _language(path: Path, head: str) -> str | None:
    """The pygments lexer name for PATH, from its name or its #! line; None for none or text."""
    from pygments import lexers
    from pygments.util import ClassNotFound

    if path.suffix:
        try:
            lexer = lexers.get_lexer_for_filename(path.name)
        except ClassNotFound:
            return None
        return None if lexer.aliases[:1] == ["text"] else lexer.aliases[0]
    if head.startswith("#!"):
        line = head.split("\n", 1)[0]
        for word, language in SHEBANG_LANGUAGES.items():
            if re.search(rf"\b{word}[0-9.]*\b", line):
                return language
    return None


@dataclass
class _Overlap:
    match: Match
    slices_a: list[tuple[Source, Any]]
    slices_b: list[tuple[Source, Any]]


def _overlap(mechanism: str, a: Document, b: Document, excluded: set[int], threshold: int) -> _Overlap | None:
    """What A and B share for MECHANISM (beyond EXCLUDED), or None when nothing."""
    shared = (a.fingerprints & b.fingerprints) - excluded
    if not shared or not a.coverage or not b.coverage:
        return None
    covered_a, slices_a = _covered(a, shared)
    covered_b, slices_b = _covered(b, shared)
    score_a = round(100 * covered_a / a.coverage)
    score_b = round(100 * covered_b / b.coverage)
    flagged = max(score_a, score_b) >= threshold and min(covered_a, covered_b) >= MIN_SHARED
    match = Match(
        mechanism=mechanism,
        score_a=min(score_a, 100),
        score_b=min(score_b, 100),
        shared=int(covered_a),
        flagged=flagged,
        regions_a=tuple(_regions(slices_a)),
        regions_b=tuple(_regions(slices_b)),
    )
    return _Overlap(match, slices_a, slices_b)


def _covered(doc: Document, shared: set[int]) -> tuple[int, list[tuple[Source, Any]]]:
    """Filtered characters of DOC in the regions made of SHARED fingerprints, and those regions
    per file in the original text (copydetect's slices: starts, ends)."""
    import numpy as np
    from copydetect import utils

    total = 0
    out = []
    for src in doc.sources:
        idx = [i for h in shared if h in src.index for i in src.index[h]]
        if not idx:
            continue
        slices = utils.get_copied_slices(np.array(idx, dtype=np.int64), NOISE)
        total += int(np.sum(slices[1] - slices[0]))
        slices = np.array([src.starts[slices[0]], src.ends[slices[1] - 1]])  # filtered -> original positions
        out.append((src, slices))
    return total, out


def _regions(slices: list[tuple[Source, Any]]) -> list[Region]:
    out = []
    for src, sl in slices:
        for start, end in zip(sl[0].tolist(), sl[1].tolist(), strict=True):
            first = src.text.count("\n", 0, start) + 1
            last = src.text.count("\n", 0, max(start, end - 1)) + 1
            out.append(Region(src.path, first, last))
    return out

