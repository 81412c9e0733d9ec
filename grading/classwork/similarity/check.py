"""Comparing a class: every pair of submissions, and every submission with the bundled
references, per mechanism, with the template's code removed (the rules are in
similarity/__init__.py); and writing what was found (similarity.json, the side-by-side pages).
"""

from __future__ import annotations

import contextlib
import re
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conformance.record import mechanism_order

from ... import grader, render
from ...cpus import available
from .. import archives
from .fingerprint import Document, _Fingerprinter, _overlap
from .model import DEFAULT_THRESHOLD, Pair, Summary, dumps
from .pages import side_by_side

#: Where the side-by-side pages go, under OUT.
PAGES = "similarity"


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
    loaded: dict[str, dict[str, list[str]]] | None = None,
) -> Result:
    """Compare SUBMISSIONS (submissions.Submission: an id and a directory or archive) on JOBS
    processes (default: one per CPU); LOADED: per submission id, its run record's ``loaded``
    (the files its programs loaded, per mechanism), when it was graded.

    REFERENCES (label, directory) and TEMPLATES (directories) default to the grader's bundled
    ones (asked of the grader in a child process, grader.py)."""
    if jobs is None:
        jobs = available()
    notes: list[str] = []
    if references is None or templates is None:
        bundled_refs, bundled_templates, bundled_notes = bundled()
        references = bundled_refs if references is None else references
        templates = bundled_templates if templates is None else templates
        notes += bundled_notes
    with _unpacked(submissions, notes) as roots:
        return compare(roots, references=references, templates=templates, threshold=threshold, notes=notes, jobs=jobs, loaded=loaded)


def bundled() -> tuple[list[tuple[str, Path]], list[Path], list[str]]:
    """The bundled references (Python; C where it is bundled) and templates, and notes on
    those missing."""
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
    loaded: dict[str, dict[str, list[str]]] | None = None,
) -> Result:
    """Compare every pair of SUBMISSIONS (id, implementation directory), and each with every
    reference (label, implementation directory), per mechanism, with the TEMPLATES' code
    removed, fingerprinting on JOBS processes. A mechanism's document is what its program is
    made of, what its programs LOADED when graded (per submission id, the record's ``loaded``),
    and any other file of the submission that is mostly a reference's code for it, whatever
    its name. Pure: the same files give the same Result."""
    fp = _Fingerprinter(jobs)
    notes = list(notes)
    for template in templates:
        fp.add_boilerplate(template)
    submissions = sorted(submissions)
    plans = [fp.plan(root, notes, ident, (loaded or {}).get(ident)) for ident, root in submissions] + [fp.plan(root, notes, label) for label, root in references]
    docs = fp.documents(plans)
    subs = {ident: d for (ident, _), d in zip(submissions, docs, strict=False)}
    refs = {label: d for (label, _), d in zip(references, docs[len(submissions) :], strict=True)}
    for (ident, root), plan in zip(submissions, plans, strict=False):
        hidden = fp.copies(root, plan, list(refs.values())) if refs else {}
        if hidden:  # a reference's code under another name (a data file a loader runs): it counts
            for mech, files in hidden.items():
                plan.setdefault(mech, []).extend(files)
            subs[ident] = fp.documents([plan])[0]
            names = ", ".join(f"{rel} ({mech})" for mech, files in sorted(hidden.items()) for rel, _, _ in files)
            notes.append(f"{ident}: {names}: a reference's code under another name, compared as that mechanism's")
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
    pages = out / PAGES
    if pages.is_dir():
        for old in pages.glob("*.html"):
            old.unlink()
    for path, html in sorted(result.views.items()):
        render.write_text(out / path, html)
    render.write_text(out / "similarity.json", dumps(result.summary))


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._]+", "-", name).strip("-.")[:40] or "x"

