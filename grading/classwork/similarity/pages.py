"""The side-by-side view of a flagged pair: for each mechanism they share code for, one side's files
beside the other's, the matching regions marked (render/templates/similarity.html, autoescaped:
a submission's code is text on the page, never markup). For the instructor only.
"""

from __future__ import annotations

from typing import Any

from conformance.record import mechanism_order

from ...render import pages
from .fingerprint import Document, Source, _Overlap, _regions
from .model import Pair


def side_by_side(pair: Pair, overlaps: dict[str, tuple[Document, Document, _Overlap]], threshold: int, template: bool) -> str:
    """One page: for each mechanism the pair shares code for, A's files beside B's, the matching
    regions marked."""
    order = sorted(pair.matches, key=lambda m: (not m.flagged, mechanism_order(m.mechanism), m.mechanism))
    mechanisms = []
    for m in order:
        doc_a, doc_b, overlap = overlaps[m.mechanism]
        sides = [_side(pair.a, doc_a, overlap.slices_a), _side(pair.b, doc_b, overlap.slices_b)]
        mechanisms.append({"match": m, "sides": sides})
    return pages.render("similarity.html", pair=pair, threshold=threshold, template=template, mechanisms=mechanisms)


def _side(who: str, doc: Document, slices: list[tuple[Source, Any]]) -> dict[str, Any]:
    """One side's files: each as pieces of text, marked where the other side has them too."""
    marked = {src.path: sl for src, sl in slices}
    files = []
    for src in doc.sources:
        sl = marked.get(src.path)
        if sl is not None and sl.shape[1]:
            pieces = _pieces(src.text, sl)
            regions = ", ".join(r.words() for r in _regions([(src, sl)]))
        else:
            pieces, regions = [(src.text, False)], "nothing shared"
        files.append({"path": src.path, "regions": regions, "pieces": pieces})
    return {"who": who, "files": files}


def _pieces(text: str, slices: Any) -> list[tuple[str, bool]]:
    """TEXT cut at SLICES (starts, ends: copydetect's), each piece with whether it is shared,
    as copydetect's highlight_overlap cuts it."""
    out: list[tuple[str, bool]] = []
    current = 0
    for start, end in zip(slices[0].tolist(), slices[1].tolist(), strict=True):
        if text[current:start]:
            out.append((text[current:start], False))
        out.append((text[start:end], True))
        current = end
    if text[current:]:
        out.append((text[current:], False))
    return out
