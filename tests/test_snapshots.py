"""A failing spec in every format, in English and in Korean: the snapshots docs/reports.md shows.

One real record (tests/fixtures/records/eof-on-close.json: the mutant pipe/child-keeps-write-end
graded on pipe.eof-on-close, with its timeline) rendered in each format and language is the file
under docs/snapshots/LANGUAGE/, and the terminal reports are the ones docs/reports.md quotes: the
documentation shows what the grader writes today. After a change to a report, review the
difference and rewrite them with ``UPDATE_SNAPSHOTS=1``.
"""

from __future__ import annotations

import os
import re

import pytest
from harness import ROOT
from korean import english_in_korean

from conformance import record as run_record
from grading import render
from grading.render import i18n

RECORD = ROOT / "tests" / "fixtures" / "records" / "eof-on-close.json"
SNAPSHOTS = ROOT / "docs" / "snapshots"
DOC = ROOT / "docs" / "reports.md"
#: Each format's snapshot file.
FILES = {"text": "report.txt", "markdown": "report.md", "html": "report.html", "gradescope": "gradescope.json",
         "prairielearn": "prairielearn.json", "junit": "junit.xml"}
LANGUAGES = ("en", "ko")


def rendered(fmt: str, language: str) -> str:
    return render.render(fmt, i18n.rendered_in(run_record.load(RECORD), language))


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("fmt", sorted(FILES))
def test_each_format_in_each_language_is_its_snapshot(fmt, language):
    text = rendered(fmt, language)
    path = SNAPSHOTS / language / FILES[fmt]
    if os.environ.get("UPDATE_SNAPSHOTS"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"the {fmt} report in {language} changed: review it, then UPDATE_SNAPSHOTS=1"


def test_the_snapshots_record_fails_one_spec_with_its_timeline_and_korean_has_no_english():
    rec = run_record.load(RECORD)
    assert [s.status for s in rec.specs] == ["failed"] and rec.specs[0].timeline and rec.specs[0].failure.words
    assert not english_in_korean(rec)


#: docs/reports.md quotes each language's terminal report in a fenced block after this marker.
MARKER = re.compile(r"<!-- snapshot: (\w+)/report\.txt -->\n```text\n(.*?)```", re.S)


def test_the_documentation_quotes_the_terminal_snapshots():
    doc = DOC.read_text(encoding="utf-8")
    quoted = dict(MARKER.findall(doc))
    if os.environ.get("UPDATE_SNAPSHOTS"):
        for language in LANGUAGES:
            doc = re.sub(rf"(<!-- snapshot: {language}/report\.txt -->\n```text\n).*?```",
                         lambda m, lang=language: m.group(1) + rendered("text", lang) + "```", doc, flags=re.S)
        DOC.write_text(doc, encoding="utf-8")
        quoted = dict(MARKER.findall(doc))
    assert set(quoted) == set(LANGUAGES), f"docs/reports.md quotes {sorted(quoted)}"
    for language in LANGUAGES:
        assert quoted[language] == rendered("text", language), f"docs/reports.md's {language} report is not the snapshot: UPDATE_SNAPSHOTS=1"
