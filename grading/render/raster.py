"""A timeline picture as PNG, for pages that take no SVG: Gradescope's results.

Gradescope shows a test's output as HTML (``output_format: "html"``) through a sanitizer made
for user content. Sanitizers of that kind (Loofah's safe list, which Rails apps use, among them)
keep an ``<img>`` whose ``data:`` URL is a PNG, GIF or JPEG and drop one that is SVG: an SVG can
hold a script. So the picture goes there as a PNG data URL, drawn from the same SVG the HTML
report shows (timeline.svg) by resvg (the resvg-py binding of the Rust renderer: one wheel, no
system library, about 0.1 s a picture), with a font found on the machine: the kit installs
DejaVu (fonts-dejavu-core), and NanumGothicCoding (fonts-nanum-coding) for a Korean report's
Hangul, which DejaVu lacks (resvg takes a character DejaVu has no glyph for from another font
it was given). Where either is missing, ``png`` says why and the report keeps its text (a
picture whose labels were not drawn would mislead).
"""

from __future__ import annotations

import os
import unicodedata
from functools import cache
from pathlib import Path

#: Where fonts are (fontconfig's usual directories), and the ones the pictures name, in order
#: (timeline.FONT): a monospace font whose advance timeline.ADVANCE assumes, then one with Hangul
#: whose Hangul is two of its Latin advances (a Korean picture's labels; timeline.width).
FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", os.path.expanduser("~/.local/share/fonts"))
FONTS = ("DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf", "NanumGothicCoding.ttf", "NanumGothicCodingBold.ttf")
HANGUL = ("NanumGothicCoding.ttf", "NanumGothicCodingBold.ttf")


@cache
def fonts() -> tuple[str, ...]:
    """The pictures' font files found on this machine (none: no font to draw labels with)."""
    found: dict[str, str] = {}
    for top in FONT_DIRS:
        for root, _dirs, files in os.walk(top):
            for name in files:
                if name in FONTS and name not in found:
                    found[name] = os.path.join(root, name)
    return tuple(found[name] for name in FONTS if name in found)


class Unavailable(Exception):
    """No picture can be drawn here: the reason, in words."""


def png(svg: str, zoom: float = 1.0) -> bytes:
    """SVG drawn as PNG on white, at ZOOM; Unavailable when this machine cannot draw it."""
    try:
        import resvg_py
    except ImportError as exc:
        raise Unavailable(f"resvg-py is not installed ({exc})") from None
    files = fonts()
    if not files or Path(files[0]).name in HANGUL:
        raise Unavailable(f"no DejaVu Sans Mono font under {', '.join(FONT_DIRS)} (Debian's fonts-dejavu-core has it)")
    if not any(Path(f).name in HANGUL for f in files) and any(unicodedata.east_asian_width(c) in ("W", "F") for c in svg):
        raise Unavailable(f"no font with Hangul under {', '.join(FONT_DIRS)} (Debian's fonts-nanum-coding has NanumGothicCoding)")
    family = Path(files[0]).stem.replace("SansMono", " Sans Mono").replace("-Bold", "")
    try:
        data = resvg_py.svg_to_bytes(
            svg_string=svg, background="#ffffff", zoom=zoom, skip_system_fonts=True,
            font_files=list(files), font_family=family, monospace_family=family,
        )
    except Exception as exc:  # a picture that cannot be drawn costs the picture, never the report
        raise Unavailable(f"resvg could not draw it: {type(exc).__name__}: {exc}") from None
    return bytes(data)
