"""The HTML pages (the report, the class page, similarity's side-by-side views): jinja2
templates in templates/, one environment.

Every value a template shows goes through ``{{ }}``, and from there through ``clean`` (a
program's control characters made visible, as everywhere) and jinja2's autoescape: no string
from a submission reaches a page unescaped, by construction. The only markup a template takes
from Python is a picture built safely (timeline.svg: xml.etree), another template's macro, or
``code_spans``: the grader's own words (a spec's title) with their `spans` as <code>.
Undefined names are errors (StrictUndefined), not empty text.
"""

from __future__ import annotations

import functools
from typing import Any

from .present import clean, one_sentence, percent, points, says_more, status_words, truncate

#: Characters of one transcript, message or log shown in a page; the rest is in the JSON record.
TRANSCRIPT_LIMIT = 30_000


def _shown(value: Any) -> Any:
    """What ``{{ value }}`` shows: markup built safely as it is, anything else cleaned (then
    autoescaped)."""
    from markupsafe import Markup

    return value if isinstance(value, Markup) else clean(str(value))


@functools.cache
def environment() -> Any:
    """The templates' jinja2 environment (made once, when a page is first rendered: ipc-grade
    imports jinja2 only when it writes a page)."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("grading.render", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        finalize=_shown,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        points=points,
        percent=percent,
        one_sentence=one_sentence,
        says_more=says_more,
        status_words=status_words,
        truncate_text=lambda text: truncate(text, TRANSCRIPT_LIMIT),
        code_spans=code_spans,
    )
    return env


def code_spans(text: Any) -> Any:
    """TEXT, the grader's own words (a spec's title, never a submission's), with each span in
    backticks shown as <code>: the text is cleaned and escaped first, so a span holds text only.
    Unbalanced backticks are shown as written."""
    from markupsafe import Markup, escape

    parts = clean(str(text)).split("`")
    if len(parts) % 2 == 0:
        return escape("`".join(parts))
    return Markup("").join(Markup("<code>%s</code>") % part if i % 2 else escape(part) for i, part in enumerate(parts))


def render(name: str, **context: Any) -> str:
    """The template NAME (a file of templates/) rendered with CONTEXT: a whole page."""
    return environment().get_template(name).render(**context)


def safe(markup: str) -> Any:
    """MARKUP, which a module here built safely (every text node escaped), as a template takes it."""
    from markupsafe import Markup

    return Markup(markup)
