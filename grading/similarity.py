"""Similarity in a class: submissions that copy the bundled references or each other.

    ipc-grade similarity SUBMISSIONS [--out OUT] [--threshold PERCENT] [--jobs N]
    ipc-grade batch SUBMISSIONS --out OUT --similarity [--similarity-threshold PERCENT]

For the instructor only: the result goes to the class page, the gradebook and OUT/similarity/,
never into a submission's own reports. docs/batch.md ("Similarity") is the user's account;
this is how it works.

What is compared, per mechanism. A submission's document for a mechanism is the program its
``ipc.toml`` names for it (``[programs]``) and what that program includes:

- ``python3 pipe.py`` (any first word that is an interpreter): the script, then the local
  modules it imports (``import util`` or ``from . import util`` with util.py beside it),
  followed from module to module;
- ``./pipe`` (a program the build makes): the sources with the same stem (pipe.c, .cc, .cpp,
  .cxx) beside the program, in the root or in src/, then every header they ``#include "..."``
  from the implementation, with the same-stem source of each header (common.h brings common.c);
- a script of its own (``./pipe.sh``, ``bash pipe.sh``): the script.

Only regular files inside the implementation are read (no link is followed, nothing outside
it), at most MAX_FILE_BYTES each and MAX_FILES per mechanism; a file with no tokenizer is left
out, with a note.

How. Each file is tokenized by pygments and written as copydetect does it (``normalise``):
identifiers become V (``self`` too), function names F, class names O, strings S,
preprocessor lines P, and whitespace and comments go, so renaming, re-indenting and
re-commenting change nothing. Every NOISE-character k-gram of that text is hashed and
copydetect winnows them (the winnowing of Schleimer, Wilkerson and Aiken, the algorithm MOSS
uses) with a window of WINDOW: a shared run of NOISE + WINDOW - 1 filtered characters is always
found. The k-grams are hashed with BLAKE2b, not Python's ``hash`` as copydetect does, which
changes from process to process: the same class gives the same fingerprints and the same table
on every run and every machine.

- Template code does not count: every k-gram of the bundled student template (its Python
  stubs, and student_template/c/ when there is one) is removed from every document.
- A submission is compared with each bundled reference (Python, and C where it is bundled).
- Two submissions are compared on what they share beyond the references: k-grams of a
  reference's document for the mechanism do not count between them. Ten copies of the
  reference are ten findings against the reference, not forty-five pairs.

A mechanism's score, for each side of a pair, is the share of that side's code (its filtered
characters that fingerprints cover) that the other side has too, in whole percent. A pair is
flagged on a mechanism when either side's score reaches the threshold and the shared code is at
least MIN_SHARED filtered characters (a few statements): a tiny file that matches is not a case.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import functools
import hashlib
import json
import re
import shlex
import stat as stat_mod
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conformance.record import MECHANISMS, mechanism_order

from .cli import workers_value
from .render_html import e, page

VERSION = 1
#: k: the length, in filtered characters, of a fingerprinted k-gram (copydetect's noise threshold).
NOISE = 30
#: The winnowing window: a shared run of NOISE + WINDOW - 1 filtered characters is always found.
WINDOW = 6
#: The default threshold, in percent of either side's code.
DEFAULT_THRESHOLD = 50
#: Shared code below this many filtered characters is never flagged.
MIN_SHARED = 100
MAX_FILE_BYTES = 1 << 20
MAX_FILES = 50
#: Where the side-by-side pages go, under OUT.
PAGES = "similarity"

PYTHON_WORDS = ("python3", "python")
INTERPRETERS = ("python3", "python", "bash", "sh", "perl", "ruby", "node", "php", "lua", "tclsh")
C_SOURCES = (".c", ".cc", ".cpp", ".cxx")
#: Python options that take the next word as their argument.
PYTHON_OPTIONS_WITH_ARGUMENT = ("-W", "-X", "-Q")
INCLUDE = re.compile(r'^[ \t]*#[ \t]*include[ \t]*"([^"\n]+)"', re.MULTILINE)
SHEBANG_LANGUAGES = {"python": "python", "bash": "bash", "sh": "bash", "perl": "perl", "ruby": "ruby", "node": "javascript"}


class SimilarityUnavailable(RuntimeError):
    """The fingerprinting library is not installed beside the grader."""


# --- the result ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Region:
    """A matching region of one file, in its lines (1-based, inclusive)."""

    file: str
    first: int
    last: int

    def words(self) -> str:
        return f"{self.file}:{self.first}" + (f"-{self.last}" if self.last != self.first else "")


@dataclass(frozen=True)
class Match:
    """What two implementations share for one mechanism."""

    mechanism: str
    score_a: int
    """Percent of A's code (after the template is removed) that B has too."""
    score_b: int
    """Percent of B's code that A has too."""
    shared: int
    """Filtered characters of A's code that B has too."""
    flagged: bool
    regions_a: tuple[Region, ...] = ()
    regions_b: tuple[Region, ...] = ()

    @property
    def score(self) -> int:
        return max(self.score_a, self.score_b)


@dataclass(frozen=True)
class Pair:
    """Two submissions, or a submission (A) and a bundled reference (B), flagged on at least one
    mechanism; MATCHES holds every mechanism they share code for, flagged or not."""

    a: str
    b: str
    reference: bool
    """B is a bundled reference, not a submission."""
    matches: tuple[Match, ...]
    page: str
    """The side-by-side view, relative to OUT."""

    @property
    def score(self) -> int:
        return max((m.score for m in self.flagged), default=0)

    @property
    def flagged(self) -> list[Match]:
        return [m for m in self.matches if m.flagged]

    def match(self, mechanism: str) -> Match | None:
        return next((m for m in self.matches if m.mechanism == mechanism), None)


@dataclass(frozen=True)
class Summary:
    """The outcome of a similarity check: what the class page, the gradebook and similarity.json
    show. Only flagged pairs are kept, sorted by score (highest first), then by name."""

    threshold: int
    submissions: tuple[str, ...]
    references: tuple[str, ...]
    """The bundled references compared, by label."""
    template: bool
    """The template's code was removed."""
    pairs: tuple[Pair, ...] = ()
    notes: tuple[str, ...] = ()
    noise: int = NOISE
    window: int = WINDOW
    min_shared: int = MIN_SHARED

    def of(self, submission: str) -> list[tuple[str, Pair]]:
        """SUBMISSION's flagged pairs as (the other side, pair), in the summary's order."""
        out = []
        for p in self.pairs:
            if p.a == submission:
                out.append((p.b, p))
            elif p.b == submission and not p.reference:
                out.append((p.a, p))
        return out

    def gradebook_cell(self, submission: str) -> str:
        """`other: mechanism score%, ...; other: ...` for every flagged pair of SUBMISSION."""
        return "; ".join(
            f"{other}: " + ", ".join(f"{m.mechanism} {m.score}%" for m in p.flagged) for other, p in self.of(submission)
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "version": VERSION,
            "threshold": self.threshold,
            "noise": self.noise,
            "window": self.window,
            "min_shared": self.min_shared,
            "submissions": list(self.submissions),
            "references": list(self.references),
            "template": self.template,
            "notes": list(self.notes),
            "pairs": [
                {
                    "a": p.a,
                    "b": p.b,
                    "reference": p.reference,
                    "score": p.score,
                    "page": p.page,
                    "mechanisms": [
                        {
                            "mechanism": m.mechanism,
                            "score_a": m.score_a,
                            "score_b": m.score_b,
                            "shared": m.shared,
                            "flagged": m.flagged,
                            "regions_a": [r.words() for r in m.regions_a],
                            "regions_b": [r.words() for r in m.regions_b],
                        }
                        for m in p.matches
                    ],
                }
                for p in self.pairs
            ],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Summary:
        if data.get("version") != VERSION:
            raise ValueError(f"similarity.json version {data.get('version')!r}: this grader reads version {VERSION}")

        def regions(words: list[str]) -> tuple[Region, ...]:
            out = []
            for w in words:
                name, _, lines = w.rpartition(":")
                first, _, last = lines.partition("-")
                out.append(Region(name, int(first), int(last or first)))
            return tuple(out)

        pairs = tuple(
            Pair(
                p["a"],
                p["b"],
                p["reference"],
                tuple(
                    Match(m["mechanism"], m["score_a"], m["score_b"], m["shared"], m["flagged"], regions(m["regions_a"]), regions(m["regions_b"]))
                    for m in p["mechanisms"]
                ),
                p["page"],
            )
            for p in data["pairs"]
        )
        return cls(
            threshold=data["threshold"],
            submissions=tuple(data["submissions"]),
            references=tuple(data["references"]),
            template=data["template"],
            pairs=pairs,
            notes=tuple(data.get("notes", ())),
            noise=data.get("noise", NOISE),
            window=data.get("window", WINDOW),
            min_shared=data.get("min_shared", MIN_SHARED),
        )


def load(path: str | Path) -> Summary:
    return Summary.from_json(json.loads(Path(path).read_text(encoding="utf-8")))


def dumps(summary: Summary) -> str:
    return json.dumps(summary.to_json(), indent=2, ensure_ascii=False) + "\n"


# --- the command ---------------------------------------------------------------------------


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
    p.add_argument("-j", "--jobs", type=workers_value, default=None, metavar="N", help="processes that fingerprint the files: 1 or more, or auto (the default: one per CPU)")
    return p


def main(argv: Sequence[str]) -> int:
    return run(parser().parse_args(list(argv)))


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
    from . import batch

    submissions, skipped = batch.discover(source)
    for note in skipped:
        print(f"ipc-grade similarity: note: {note}", file=sys.stderr)
    started = time.monotonic()
    try:
        result = check_class(submissions, threshold=args.threshold, jobs=args.jobs)
    except SimilarityUnavailable as exc:
        print(f"ipc-grade similarity: error: {exc}", file=sys.stderr)
        return 1
    elapsed = time.monotonic() - started
    sys.stdout.write(text_table(result.summary))
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        write(out, result)
        if (out / "batch.json").is_file():
            problem = batch.rewrite_with_similarity(out, result.summary)
            if problem:
                print(f"ipc-grade similarity: error: {problem}", file=sys.stderr)
                return 1
    print(
        f"ipc-grade similarity: {len(result.summary.submissions)} submissions compared in {elapsed:.1f} s; "
        f"{len(result.summary.pairs)} pairs flagged" + (f"; written to {out}/similarity.json" if out is not None else ""),
        file=sys.stderr,
    )
    return 0


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


# --- the class -----------------------------------------------------------------------------


@dataclass
class Result:
    """A Summary, and what the side-by-side pages need (the texts of the files)."""

    summary: Summary
    views: dict[str, str] = field(default_factory=dict)
    """Page path (relative to OUT) -> its HTML."""


def check_class(
    submissions: Sequence[Any],
    *,
    threshold: int = DEFAULT_THRESHOLD,
    references: Sequence[tuple[str, Path]] | None = None,
    templates: Sequence[Path] | None = None,
    jobs: int | None = None,
) -> Result:
    """Compare SUBMISSIONS (batch.Submission: an id and a directory or archive) on JOBS
    processes (default: one per CPU).

    REFERENCES (label, directory) and TEMPLATES (directories) default to the grader's bundled
    ones (asked of the grader in a child process, grader.py)."""
    if jobs is None:
        from .batch import default_jobs

        jobs = default_jobs()
    notes: list[str] = []
    if references is None or templates is None:
        bundled_refs, bundled_templates, bundled_notes = bundled()
        references = bundled_refs if references is None else references
        templates = bundled_templates if templates is None else templates
        notes += bundled_notes
    with _unpacked(submissions, notes) as roots:
        return compare(roots, references=references, templates=templates, threshold=threshold, notes=notes, jobs=jobs)


def bundled() -> tuple[list[tuple[str, Path]], list[Path], list[str]]:
    """The bundled references (Python; C where it is bundled) and templates, and notes on
    those missing."""
    from . import grader

    notes = []
    refs: list[tuple[str, Path]] = []
    templates: list[Path] = []
    try:
        reference = grader.bundled("reference")
    except grader.GraderMissing as exc:
        notes.append(f"no bundled reference to compare with: {exc}")
    else:
        refs.append(("reference (Python)", reference))
        if (reference / "c" / "ipc.toml").is_file():
            refs.append(("reference (C)", reference / "c"))
        else:
            notes.append(f"the C reference is not bundled with this grader (no {reference / 'c' / 'ipc.toml'}): copies of it are not found")
    try:
        templates.append(grader.bundled("student_template"))
    except grader.GraderMissing as exc:
        notes.append(f"no bundled template: template code counts as similarity ({exc})")
    return refs, templates, notes


@contextlib.contextmanager
def _unpacked(submissions: Sequence[Any], notes: list[str]) -> Iterator[list[tuple[str, Path]]]:
    """(id, implementation directory) for each submission; archives unpacked safely."""
    from . import archives

    with tempfile.TemporaryDirectory(prefix="ipc-similarity-") as tmp:
        roots = []
        for n, s in enumerate(sorted(submissions, key=lambda s: s.id)):
            if s.source.is_file():
                target = Path(tmp) / f"s{n}"
                try:
                    archives.unpack(s.source, target)
                except archives.UnsafeArchive as exc:
                    notes.append(f"{s.id} was not compared: {exc}")
                    continue
                roots.append((s.id, archives.implementation_root(target)))
            else:
                roots.append((s.id, archives.implementation_root(s.source)))
        yield roots


def compare(
    submissions: Sequence[tuple[str, Path]],
    *,
    references: Sequence[tuple[str, Path]] = (),
    templates: Sequence[Path] = (),
    threshold: int = DEFAULT_THRESHOLD,
    notes: Sequence[str] = (),
    jobs: int = 1,
) -> Result:
    """Compare every pair of SUBMISSIONS (id, implementation directory), and each with every
    reference (label, implementation directory), per mechanism, with the TEMPLATES' code
    removed, fingerprinting on JOBS processes. Pure: the same files give the same Result."""
    fp = _Fingerprinter(jobs)
    notes = list(notes)
    for template in templates:
        fp.add_boilerplate(template)
    submissions = sorted(submissions)
    plans = [fp.plan(root, notes, ident) for ident, root in submissions] + [fp.plan(root, notes, label) for label, root in references]
    docs = fp.documents(plans)
    subs = {ident: d for (ident, _), d in zip(submissions, docs)}
    refs = {label: d for (label, _), d in zip(references, docs[len(submissions) :])}
    # Between two submissions, what a reference has for the mechanism does not count.
    excluded: dict[str, set[int]] = {}
    for docs in refs.values():
        for mech, doc in docs.items():
            excluded.setdefault(mech, set()).update(doc.all_hashes)
    pairs: list[tuple[Pair, dict[str, tuple[Document, Document, Any]]]] = []
    ids = sorted(subs)
    for i, a in enumerate(ids):
        candidates = [(b, subs[b], False) for b in ids[i + 1 :]] + [(label, refs[label], True) for label in refs]
        for b, docs_b, is_ref in candidates:
            matches = []
            overlaps = {}
            for mech in sorted(set(subs[a]) & set(docs_b), key=lambda m: (mechanism_order(m), m)):
                overlap = _overlap(mech, subs[a][mech], docs_b[mech], set() if is_ref else excluded.get(mech, set()), threshold)
                if overlap is not None:
                    matches.append(overlap.match)
                    overlaps[mech] = (subs[a][mech], docs_b[mech], overlap)
            if any(m.flagged for m in matches):
                pairs.append((Pair(a, b, is_ref, tuple(matches), ""), overlaps))
    pairs.sort(key=lambda po: (-po[0].score, po[0].a, po[0].b))
    named = []
    views = {}
    for n, (p, overlaps) in enumerate(pairs, 1):
        path = f"{PAGES}/{n:03d}-{_slug(p.a)}-{_slug(p.b)}.html"
        p = Pair(p.a, p.b, p.reference, p.matches, path)
        named.append(p)
        views[path] = side_by_side(p, overlaps, threshold, fp.has_boilerplate)
    summary = Summary(
        threshold=threshold,
        submissions=tuple(ids),
        references=tuple(refs),
        template=fp.has_boilerplate,
        pairs=tuple(named),
        notes=tuple(dict.fromkeys(notes)),
    )
    return Result(summary, views)


def write(out: Path, result: Result) -> None:
    """OUT/similarity.json and OUT/similarity/*.html (the old pages removed first)."""
    from . import reports

    pages = out / PAGES
    if pages.is_dir():
        for old in pages.glob("*.html"):
            old.unlink()
    for path, html in sorted(result.views.items()):
        reports.write_text(out / path, html)
    reports.write_text(out / "similarity.json", dumps(result.summary))


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._]+", "-", name).strip("-.")[:40] or "x"


# --- what a mechanism's document is ---------------------------------------------------------


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


def program_files(root: Path, command: str) -> list[str]:
    """The files (relative to ROOT) that make the program COMMAND runs, and what they include."""
    try:
        words = shlex.split(command)
    except ValueError:
        return []
    if not words:
        return []
    first = _inside(root, words[0])
    if words[0] in PYTHON_WORDS or Path(words[0]).name.startswith("python3"):
        found = _python_script(root, words[1:])
        return _follow(root, [found]) if found else []
    if first is None or Path(words[0]).name in INTERPRETERS:
        script = next((w for w in words[1:] if not w.startswith("-") and _inside(root, w) is not None), None)
        script_path = _inside(root, script) if script else None
        if script_path is None or not _regular(root, script_path) or not _is_text(script_path):
            return []
        return _follow(root, [_rel(root, script_path)])
    if _regular(root, first) and _is_text(first):
        return _follow(root, [_rel(root, first)])
    stem = first.name  # a program the build makes: its sources, by name
    for place in (first.parent, root, root / "src"):
        for suffix in C_SOURCES:
            candidate = place / f"{stem}{suffix}"
            if _regular(root, candidate):
                return _follow(root, [_rel(root, candidate)])
    return []


def _python_script(root: Path, words: list[str]) -> str | None:
    i = 0
    while i < len(words):
        w = words[i]
        if w == "-m" and i + 1 < len(words):
            module = words[i + 1].replace(".", "/")
            for candidate in (f"{module}.py", f"{module}/__main__.py"):
                if _regular(root, root / candidate):
                    return candidate
            return None
        if w == "-c":
            return None
        if w in PYTHON_OPTIONS_WITH_ARGUMENT:
            i += 2
            continue
        if w.startswith("-"):
            i += 1
            continue
        path = _inside(root, w)
        return _rel(root, path) if path is not None and _regular(root, path) else None
    return None


def _follow(root: Path, start: list[str]) -> list[str]:
    """START and, transitively, the local files each includes (C) or imports (Python)."""
    seen: list[str] = []
    todo = list(start)
    while todo and len(seen) < MAX_FILES:
        rel = todo.pop(0)
        if rel in seen:
            continue
        path = root / rel
        if not _regular(root, path):
            continue
        seen.append(rel)
        try:
            text = path.read_text(encoding="utf-8", errors="replace")[:MAX_FILE_BYTES]
        except OSError:
            continue
        if path.suffix == ".py" or (not path.suffix and "python" in text[:100].split("\n", 1)[0]):
            todo += [r for r in _python_imports(root, path, text) if r not in seen]
        elif path.suffix in C_SOURCES + (".h", ".hh", ".hpp", ".hxx"):
            todo += [r for r in _c_includes(root, path, text) if r not in seen]
    return seen


def _python_imports(root: Path, path: Path, text: str) -> list[str]:
    here = path.parent
    modules: list[Path] = []
    for level, module, names in _imports_in(text):
        if level == 0:
            modules.append(here.joinpath(*module.split(".")))
            if names is None:
                continue
            package = modules[-1]
        else:
            package = here
            for _ in range(level - 1):
                package = package.parent
            if module:
                package = package.joinpath(*module.split("."))
                modules.append(package)
        modules += [package / name for name in names or () if name != "*"]
    out = []
    for module in modules:
        for candidate in (module.with_name(module.name + ".py"), module / "__init__.py"):
            if _regular(root, candidate):
                out.append(_rel(root, candidate))
    return sorted(set(out), key=out.index)


@functools.lru_cache(maxsize=1024)
def _imports_in(text: str) -> tuple[tuple[int, str, tuple[str, ...] | None], ...]:
    """(level, module, names imported from it or None for `import module`) of every import in
    the Python TEXT; () when it does not parse."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return ()
    out: list[tuple[int, str, tuple[str, ...] | None]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(0, alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and (node.level or node.module):
            out.append((node.level, node.module or "", tuple(alias.name for alias in node.names)))
    return tuple(out)


def _c_includes(root: Path, path: Path, text: str) -> list[str]:
    out = []
    for name in INCLUDE.findall(text):
        for place in (path.parent, root, root / "include"):
            header = place / name
            if _regular(root, header):
                out.append(_rel(root, header))
                for suffix in C_SOURCES:
                    companion = header.with_suffix(suffix)
                    if companion != path and _regular(root, companion):
                        out.append(_rel(root, companion))
                break
    return out


def _inside(root: Path, word: str | None) -> Path | None:
    """WORD as a path inside ROOT (not resolved through links), or None."""
    if not word or word.startswith("/") or ".." in Path(word).parts:
        return None
    path = root / word
    return path if path.exists() or "/" in word else None


def _regular(root: Path, path: Path) -> bool:
    """PATH is a regular file inside ROOT, reached through no link."""
    try:
        rel = path.relative_to(root)
    except ValueError:
        return False
    if ".." in rel.parts:
        return False
    current = root
    for part in rel.parts:
        current = current / part
        try:
            st = current.lstat()
        except OSError:
            return False
        if stat_mod.S_ISLNK(st.st_mode):
            return False
    return stat_mod.S_ISREG(st.st_mode)


def _rel(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix()


def _is_text(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(8192)
    except OSError:
        return False
    return b"\0" not in head and not head.startswith(b"\x7fELF")


# --- fingerprints (copydetect) ---------------------------------------------------------------


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

    def plan(self, root: Path, notes: list[str], who: str) -> dict[str, list[tuple[str, str, str]]]:
        """Per mechanism, the (path, language, text) of each file of the implementation at ROOT."""
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
            files = [f for f in (self._read(root, rel, notes, who) for rel in program_files(root, command)) if f is not None]
            if files:
                out[mech] = files
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
        language = _language(path, text[:200])
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
        self.cache.update(zip(todo, done))
        return [
            {mech: Document([Source(rel, text, *self.cache[(lang, text)]) for rel, lang, text in files]) for mech, files in plan.items()}
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
        for h, i in zip(selected.tolist(), positions.tolist()):
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
        for start, end in zip(sl[0].tolist(), sl[1].tolist()):
            first = src.text.count("\n", 0, start) + 1
            last = src.text.count("\n", 0, max(start, end - 1)) + 1
            out.append(Region(src.path, first, last))
    return out


# --- the side-by-side view -----------------------------------------------------------------


def side_by_side(pair: Pair, overlaps: dict[str, tuple[Document, Document, _Overlap]], threshold: int, template: bool) -> str:
    """One page: for each mechanism the pair shares code for, A's files beside B's, the matching
    regions marked."""
    from copydetect import utils

    who_b = pair.b
    b: list[str] = [f"<h1>Similarity: {e(pair.a)} and {e(who_b)}</h1>"]
    b.append(
        '<p class="sub">For the instructor only. Marked: code both have, whatever its identifiers, strings, comments and layout.'
        + (" Code of the template does not count." if template else "")
        + ("" if pair.reference else " Between two submissions, code a bundled reference has does not count either.")
        + f" Flagged at {threshold}% of either side's code.</p>"
    )
    order = sorted(pair.matches, key=lambda m: (not m.flagged, mechanism_order(m.mechanism), m.mechanism))
    for m in order:
        doc_a, doc_b, overlap = overlaps[m.mechanism]
        b.append(
            f"<h2>{e(m.mechanism)}: {m.score_a}% of {e(pair.a)}'s code, {m.score_b}% of {e(who_b)}'s"
            + (" (flagged)" if m.flagged else "")
            + "</h2>"
        )
        columns = []
        for who, doc, slices in ((pair.a, doc_a, overlap.slices_a), (who_b, doc_b, overlap.slices_b)):
            marked = {src.path: sl for src, sl in slices}
            cells = [f"<h3>{e(who)}</h3>"]
            for src in doc.sources:
                sl = marked.get(src.path)
                if sl is not None and sl.shape[1]:
                    html, _ = utils.highlight_overlap(src.text, sl, "<mark>", "</mark>", escape_html=True)
                    regions = ", ".join(r.words() for r in _regions([(src, sl)]))
                else:
                    html, regions = e(src.text), "nothing shared"
                cells.append(f"<p class=\"sub\"><code>{e(src.path)}</code>: {e(regions)}</p><pre style=\"max-height: 640px\">{html}</pre>")
            columns.append(f'<div style="min-width: 0">{"".join(cells)}</div>')
        b.append(f'<div style="display: grid; grid-template-columns: 1fr 1fr; gap: 12px">{"".join(columns)}</div>')
    return page(f"Similarity: {pair.a} and {who_b}", "\n".join(b))
