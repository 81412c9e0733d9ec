"""The side-by-side view of a flagged pair: for each mechanism they share code for, one side's files
beside the other's, the matching regions marked. For the instructor only.
"""

from __future__ import annotations

from conformance.record import mechanism_order

from ...render.html import e, page
from .fingerprint import Document, _Overlap, _regions
from .model import Pair


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

