"""Rendering: a run record (conformance/record.py) as each document a reader gets.

    formats.py      the registry of report formats (FORMATS), rendering and writing them
    present.py      what every format shows, decided once: who sees what, subtotals, a failure's parts
    terminal.py     the terminal report (rich: its table and colours), also ``--text``
    gradescope.py   Gradescope's results.json        prairielearn.py  PrairieLearn's results.json
    junit.py        JUnit XML                        markdown.py      Markdown for a job summary
    html.py         one self-contained HTML page (jinja2 templates, templates/)
    classroom.py    GitHub Classroom's points (``python -m grading.render.classroom``)
    timeline.py     a spec's timeline as a picture (SVG), as text, as steps to do by hand
    progress.py     the live progress line on a terminal (rich)
    pages.py        the HTML pages' jinja2 environment (templates/: every page, its CSS and its CSP)
    i18n.py         the reports' language: gettext catalogues (locale/), Korean particles (docs/i18n.md)
    __main__.py     ``python -m grading.render RECORD --lang ko --html F``: a record rendered again

Every renderer is a pure function of a record (and of the reader: students by default,
instructors with ``show_hidden``): no pytest, no network, the same record gives the same bytes.

Who may import it: classwork/, kits/, the commands (cli/) and plugin.py. It imports only the
core (rubric, late) and the leaves (conformance.record); never classwork/, kits/ or cli/.
"""

from __future__ import annotations

from .formats import FORMATS, Format, check_targets, render, write_all, write_text

__all__ = ["FORMATS", "Format", "check_targets", "render", "write_all", "write_text"]
