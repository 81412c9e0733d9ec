"""What a student reads in a Korean report is Korean: every format of a record rendered in Korean,
and the English sentences left in it, outside code, names and what the programs printed.

The check reads each format as its reader does: the text and Markdown reports as text, the HTML
page's text (not its tags, styles or scripts), the JSON formats' string values (the HTML inside
them as text), JUnit's text and attribute values. From that it takes away what is English by
nature, not by omission (ALLOWED): code spans and quoted values (`read`, 'data\\n', b'...'),
commands and paths, URLs, spec ids, pids and byte dumps. What is left may hold single English
words (a system call, a signal, EOF, a program's role) but no run of RUN or more: that is a
sentence the catalogue did not translate.

tests/test_mutants.py applies it to every mutant's record, where it fails with the sentences and
the format they are in; tests/test_i18n.py shows it fails on an English report.
"""

from __future__ import annotations

import dataclasses
import html
import json
import re
from html.parser import HTMLParser
from xml.etree import ElementTree

from conformance import record as run_record

#: English words in a row that make a sentence: three ("the child holds", "its stdin, from").
RUN = 3
WORD = r"[A-Za-z][a-z]*(?:'[a-z]+)?"
ENGLISH = re.compile(rf"(?<![A-Za-z]){WORD}(?:[ ,:;]+{WORD}){{{RUN - 1},}}(?![A-Za-z])")

#: What is English by nature, taken out before looking (each replaced by a space).
ALLOWED = [
    re.compile(r"`[^`\n]*`"),  # code spans: a program's label, a command, a call
    re.compile(r"(?<![A-Za-z])b?'(?:[^'\\\n]|\\.)*'"),  # quoted values and bytes reprs (also in a list: ['a'])
    re.compile(r'"(?:[^"\\\n]|\\.)*"'),
    re.compile(r"https?://\S+"),
    re.compile(r"(?m)^\s*\$ .*$"),  # a transcript's command line
    re.compile(r"(?<![\w.])(?:[\w.-]*/)+[\w.-]+"),  # paths
    re.compile(r"\b[a-z]+\.[a-z0-9]+(?:-[a-z0-9]+)+\b"),  # spec ids
    re.compile(r"\b(?:[0-9a-f]{2} ){3,}[0-9a-f]{2}\b"),  # byte dumps
    re.compile(r"\b(?:python3?|make|gcc|cc|kill|ps|ls|head|printf|cat|ipcs|ipcrm)\b(?: +-{0,2}[\w.,:=/-]+)+"),  # commands in steps
]


def visible_text(fmt: str, rendered: str) -> str:
    """What the reader of format FMT reads of RENDERED (see the module)."""
    if fmt == "html":
        return _html_text(rendered)
    if fmt in ("gradescope", "prairielearn", "json"):
        return "\n".join(_html_text(s) if "<" in s else s for s in _strings(json.loads(rendered)) if not s.startswith("data:"))
    if fmt == "junit":
        root = ElementTree.fromstring(rendered)
        return "\n".join(t for el in root.iter() for t in (el.text, el.tail, *el.attrib.values()) if t)
    return rendered


def english_sentences(text: str) -> list[str]:
    """The runs of English words left in TEXT once what is ALLOWED is taken out."""
    for pattern in ALLOWED:
        text = pattern.sub(" ", text)
    return [m.group(0) for m in ENGLISH.finditer(text)]


def without_output(rec: run_record.RunRecord) -> run_record.RunRecord:
    """REC without what the programs printed (their transcripts' stdout and stderr, the timeline's
    previews): a student's program may print English, and the grader shows it as it is."""

    def quiet(spec: run_record.SpecResult) -> run_record.SpecResult:
        if spec.timeline:
            events = [_quiet_event(e) for e in spec.timeline.get("events", [])]
            spec = dataclasses.replace(spec, timeline={**spec.timeline, "events": events})
        if spec.failure is None:
            return spec
        transcripts = [dataclasses.replace(t, stdout="", stderr="") for t in spec.failure.transcripts]
        return dataclasses.replace(spec, failure=dataclasses.replace(spec.failure, transcripts=transcripts))

    return dataclasses.replace(rec, specs=[quiet(s) for s in rec.specs], implementation={**rec.implementation, "name": "impl"})


def _quiet_event(event: dict) -> dict:
    """EVENT without the bytes it shows (its preview, also among its sentence's values)."""
    if "preview" not in event:
        return event
    words = event.get("words")
    if isinstance(words, dict) and "preview" in words.get("values", {}):
        words = {**words, "values": {**words["values"], "preview": ""}}
    return {**event, "preview": "", **({"words": words} if words is not None else {})}


def english_in_korean(rec: run_record.RunRecord) -> dict[str, list[str]]:
    """Format -> the English sentences its Korean rendering of REC shows (only formats with any).
    Not the run record itself: it is language-neutral (docs/run-record.md)."""
    from grading import render
    from grading.render import i18n

    korean = i18n.rendered_in(without_output(rec), "ko")
    found = {}
    for name, fmt in render.FORMATS.items():
        if name == "json":
            continue
        left = english_sentences(visible_text(name, fmt.render(korean, False)))
        if left:
            found[name] = sorted(set(left))
    return found


def assert_korean(rec: run_record.RunRecord) -> None:
    found = english_in_korean(rec)
    assert not found, "English sentences in the Korean reports:\n" + "\n".join(f"  {fmt}: {said}" for fmt, said in found.items())


def _strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


class _Text(HTMLParser):
    """A page's text as its reader reads it; a code element is code (the page says so), kept as a
    code span, whatever it holds (a step by hand is a sentence around a command, in one)."""

    SKIP = {"script", "style", "code"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIP:
            self._skipping += 1
        if tag == "code":
            self.parts.append(" `code` ")
        for name, value in attrs:  # what a reader sees of a tag: its title and alt text
            if name in ("title", "alt", "aria-label") and value:
                self.parts.append(f" {value} ")

    def handle_endtag(self, tag):
        if tag in self.SKIP and self._skipping:
            self._skipping -= 1

    def handle_data(self, data):
        if not self._skipping:
            self.parts.append(data)


def _html_text(page: str) -> str:
    parser = _Text()
    parser.feed(page)
    return html.unescape("".join(parser.parts))
