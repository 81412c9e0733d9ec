"""`python -m grading.render_gradescope RECORD --out results.json [--metadata ...]`: Gradescope's
results.json from a run record, with the late policy from Gradescope's metadata
(grading/kits/gradescope.py, where it lives now).

A thin shim, kept at this name because run_autograder scripts of bundles built before the move,
and instructors' own scripts, type it.
"""

from __future__ import annotations

import sys

from grading.kits.gradescope import main
from grading.render.gradescope import document, render

__all__ = ["document", "main", "render"]

if __name__ == "__main__":
    sys.exit(main())
