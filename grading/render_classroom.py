"""`python -m grading.render_classroom`: GitHub Classroom's points (grading/render/classroom.py).

A thin shim, kept at this name because the student template's workflow
(.github/workflows/grade.yml) types it, and students' copies of that workflow outlive any
change of the grader's layout.
"""

from __future__ import annotations

import sys

from grading.render.classroom import document, encode, main

__all__ = ["document", "encode", "main"]

if __name__ == "__main__":
    sys.exit(main())
