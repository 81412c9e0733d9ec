"""Output is inert: a corpus of hostile strings, put in every field a submission controls, leaves
no live escape, raw HTML, link, mention or formula in any format (grading/render/inert.py).

A run record is built whose every string a submission can reach holds the corpus (the
implementation's name and path, messages, transcripts, evidence, process and file names, the
timeline's events, the build's command and log, the copies and loaded files), and every format
is rendered from it, for students and instructors; a batch's gradebook, class page and LMS file
get the corpus as submission ids and roster names. Each format is checked as its reader reads
it: a terminal (no control or format character at all), GitHub's Markdown (parsed: no construct
the corpus brings, no live autolink or mention), HTML (parsed: the same tags as for a harmless
record), JUnit (well-formed XML 1.0), CSV (no cell a spreadsheet reads as a formula), JSON.

The live path too: a program names itself with PR_SET_NAME and reads a FIFO it named, both with
escapes, under `ipc-grade replay` in a pseudo-terminal; nothing raw reaches the terminal.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import re
import shutil
import sys
import unicodedata
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import pytest
from harness import _env

from conformance import record as run_record
from conformance.record import Failure, RunRecord, SpecResult, Transcript
from grading import render
from grading.classwork import classpage, gradebook, roster
from grading.render import i18n, inert, markdown, raster, timeline
from grading.render.terminal import render as terminal

#: What a hostile submission may print, name itself, name its files or write in its manifest.
CORPUS = {
    "csi": "\x1b[31mred\x1b[0m\x1b[2J\x1b[1;1H",
    "osc52": "\x1b]52;c;aGFja2Vk\x07",
    "title": "\x1b]0;pwned\x07\x1b]2;pwned\x1b\\",
    "osc8": "\x1b]8;;https://evil.example/\x1b\\link\x1b]8;;\x1b\\",
    "c1": "\x9b31m\x9d0;t\x9c\x85\x90",
    "bidi": "\u202eevil\u202c\u2066iso\u2069\u200f\u061c",
    "zero-width": "a\u200bb\u200cc\u200dd\u2060e\ufeff\u00adf\U000e0041",
    "nul-del": "nul\x00del\x7f",
    "overwrite": "ok\rFAKE\x1b[2K\x08\x08\x0c",
    "separators": "a\u2028b\u2029c",
    "image": "![beacon](https://evil.example/b.png)",
    "link": "[click](https://evil.example/) [ref]: https://evil.example/",
    "autolink": "<https://evil.example/> https://evil.example/x www.evil.example ftp://evil.example",
    "mention": "@octocat @org/team mail@evil.example",
    "bold": "**Total: 191/191 (all passed)**",
    "heading": "\n# Heading\n## Total: 191/191\n",
    "table": "\n| a | b |\n| --- | --- |\n| 1 | 2 |\n",
    "fence": "\n```\ncode\n```\n~~~\nx\n~~~\n",
    "html": "<img src=https://evil.example/p.png><script>alert(1)</script><!-- c --></details></summary><b>x</b>",
    "cdata": "]]><![CDATA[x]]>",
    "emphasis": "_x_ *y* ~~z~~ $m$ \\* &lt;&amp;",
    "list": "\n- item\n1. item\n> quote\n+ plus\n---\n",
    "formula": '=HYPERLINK("https://evil.example","x")',
    "long": "L" * 20_000,
}
HOSTILE = "".join(CORPUS.values())
#: Cells a spreadsheet reads as a formula (OWASP's CSV injection guidance).
FORMULAS = ['=1+1', '+1+1', '-1+cmd|" /C calc"!A0', "@SUM(A1:A2)", "\t=1", "\r=1", ' =1']
#: What no terminal line may hold: C0 controls but tab and newline, DEL, C1, Unicode's format
#: characters and the line separators (record.INVISIBLE).
RAW = run_record.INVISIBLE


def hostile_record(h: str = HOSTILE) -> RunRecord:
    """A run record whose every field a submission controls holds H."""
    transcript = Transcript(command=f"python3 {h}", label=f"your `{h}`", pid=7, stdin_bytes=3, stdout=h, stdout_bytes=len(h),
                            stderr=h, stderr_bytes=len(h), status=h, stdin_note=h)
    failure = Failure(observed=h, expected=h, done=h, evidence=[h, h], fix=h, transcripts=[transcript])
    lane = {"pid": 7, "label": f"your `{h}`", "parent": 1, "since": 0.0, "segments": [[0.0, 0.5, f"read fd 3 ({h})"], [0.5, 1.0, "running"]],
            "exit": [1.0, h], "comm": h, "holds": [{"fd": 3, "target": h, "end": "write"}, {"fd": 4, "target": f"pipe:[{h}]", "end": "read"}]}
    events = [
        {"t": 0.0, "kind": "start", "pid": 7, "text": h, "argv": ["python3", h]},
        {"t": 0.1, "kind": "stdin", "pid": 7, "text": h, "size": 5, "preview": h},
        {"t": 0.2, "kind": "output", "pid": 7, "text": h, "stream": "stdout", "size": 9, "preview": h},
        {"t": 0.3, "kind": "exec", "pid": 7, "text": h, "comm": h},
        {"t": 0.4, "kind": "object", "pid": None, "text": h, "object": f"/dev/shm/{h}"},
        {"t": 0.5, "kind": "signal", "pid": 7, "text": h, "signal": h},
        {"t": 0.9, "kind": "verdict", "pid": None, "text": h, "status": "failed"},
    ]
    timeline_data = {"end": 1.0, "lanes": [lane], "events": events, "dropped": 0}

    def spec(spec_id: str, status: str, **kw) -> SpecResult:
        return SpecResult(id=spec_id, mechanism=spec_id.split(".")[0], title=f"The behaviour of {spec_id} holds.", status=status,
                          points=0, max_points=3, message=h, hint=h, nodeid=f"test_x.py::{spec_id}", **kw)

    return RunRecord(
        implementation={"path": f"/home/{h}", "name": h, "submission": h},
        specs=[
            spec("pipe.eof-on-close", "failed", failure=failure, timeline=timeline_data, integrity=[h]),
            spec("pipe.uses-pipe", "timeout", failure=failure, timeline=timeline_data),
            spec("pipe.broken-pipe", "not-implemented"),
            spec("fifo.open-blocks-until-peer", "broken", trace=h),
            spec("fifo.reader-sees-eof", "unsupported", evidence_unavailable="syscall"),
            spec("msgq.typed-receive", "failed", failure=failure, visibility="hidden"),
        ],
        meta={
            "grader": {"name": "ipc-conformance", "version": "0.1.0"},
            "started_at": "2026-01-02T03:04:05+00:00",
            "duration_s": 1.5,
            "rubric": {"title": h, "file": h, "sha256": "ab" * 32, "total": None, "specs": 6, "required": []},
            "build": {"command": h, "ok": False, "status": h, "log": h, "cost": [h]},
            "copies": [{"file": h, "reference": "pipe.py", "identical": True, "share": 100}],
            "loaded": {"pipe": [h]},
            "evidence_unavailable": {"syscall": h},
            "programs_run_as": h,
            "isolation": h,
        },
    )


def error_record(h: str = HOSTILE) -> RunRecord:
    return run_record.failed_run({"path": h, "name": h}, h, [], started_at="2026-01-02T03:04:05+00:00", duration_s=0.1)


def twin(record: RunRecord) -> RunRecord:
    """RECORD with the hostile text replaced by a harmless word: what each format looks like
    when nothing in the record tries anything."""
    return run_record.RunRecord.from_json(_replace(record.to_json()))


def _replace(value):
    if isinstance(value, str):
        return value.replace(HOSTILE, "harmless. Said more.").replace(SHORT, "harmless. Said more.")
    if isinstance(value, dict):
        return {k: _replace(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace(v) for v in value]
    return value


#: The corpus without its long line: a report that is not cut short.
SHORT = "".join(v for k, v in CORPUS.items() if k != "long")
RECORDS = {"graded": hostile_record, "not-graded": error_record, "short": lambda: hostile_record(SHORT)}
# the same properties hold in Korean (grading/render/i18n.py: the record rendered in another language)
RECORDS.update({f"{kind}-ko": (lambda make: lambda: i18n.rendered_in(make(), "ko"))(make) for kind, make in list(RECORDS.items())})


# --- the one list of what is made visible ----------------------------------------------------


def test_invisible_covers_every_control_and_format_character():
    """record.INVISIBLE against unicodedata: every Cc (but tab and newline), Cf, Zl, Zp and Cs
    character, and the noncharacters; nothing printable."""
    missed, extra = [], []
    for cp in range(0x110000):
        ch = chr(cp)
        bad = (unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp", "Cs") and ch not in "\t\n") or (cp & 0xFFFE) == 0xFFFE or 0xFDD0 <= cp <= 0xFDEF
        if bad and not RAW.match(ch):
            missed.append(hex(cp))
        elif not bad and RAW.match(ch) and unicodedata.category(ch) != "Cn":  # a later Unicode's Cf
            extra.append(hex(cp))
    assert not missed and not extra, (missed[:20], extra[:20])
    assert run_record.visible("a\x1b[31m\u202e\t\n") == "a\\x1b[31m\\u202e\t\n"
    assert run_record.visible(run_record.visible(HOSTILE)) == run_record.visible(HOSTILE)  # idempotent


# --- the terminal ------------------------------------------------------------------------------

SGR = re.compile(r"\x1b\[[0-9;]*m")


@pytest.mark.parametrize("kind", RECORDS)
@pytest.mark.parametrize("color", [False, True])
@pytest.mark.parametrize("show_hidden", [False, True])
def test_the_terminal_report_holds_no_escape(kind, color, show_hidden):
    text = terminal(RECORDS[kind](), color=color, show_hidden=show_hidden, columns=100)
    if color:
        assert SGR.search(text) or kind.startswith("not-graded")  # rich's own colours are there (nothing to paint without specs) ...
        text = SGR.sub("", text)  # ... and they are all the escapes there are
    found = RAW.search(text)
    assert found is None, (found, text[max(found.start() - 40, 0) : found.end() + 40])
    assert "\\x1b]52;c;aGFja2Vk\\x07" in text  # shown, as text


def test_a_live_line_and_a_stream_are_inert():
    line = inert.one_line(HOSTILE)
    assert not RAW.search(line) and "\n" not in line
    out = io.StringIO()
    stream = inert.TerminalStream(out)
    print(HOSTILE, file=stream)
    stream.write(inert.Drawn("\x1b[31mred\x1b[0m"))  # what a renderer drew itself goes as it is
    assert not RAW.search(out.getvalue().replace("\x1b[31mred\x1b[0m", "").replace("\n", ""))
    assert inert.drawing(stream) is out and inert.TerminalStream(stream).drawing is out
    assert "[" not in inert.rich_text("[link=https://evil.example]x[/link]").replace("\\[", "")


def test_the_timeline_as_text_and_steps_is_inert():
    spec = next(s for s in hostile_record().specs if s.timeline)
    for line in timeline.text(spec.timeline) + timeline.replay(spec.timeline):
        assert not RAW.search(line.replace("\n", "")), line


# --- Markdown, as GitHub reads it --------------------------------------------------------------

#: What a value may not become in Markdown, counted: how many the report has is its own layout's
#: (the same for a harmless record), never more.
CONSTRUCTS = ("link_open", "image", "html_inline", "heading_open", "table_open", "tr_open", "code_block", "blockquote_open",
              "bullet_list_open", "ordered_list_open", "hr", "s_open")  # a code span is inert: what it holds is shown as it is
#: The report's own HTML blocks; its fences say `text`; its emphasis is its own words.
OWN_HTML = ("<details>", "<details><summary>", "</details>")


def markdown_tokens(text: str) -> tuple[Counter, list[str]]:
    """TEXT's constructs, counted (CONSTRUCTS), and what in it can only have come from a value:
    an HTML block that is not the report's own, a fence not of the report's kind, emphasis
    around the corpus's words, a live mention."""
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark").enable(["table", "strikethrough"])
    counts: Counter = Counter()
    problems: list[str] = []

    def walk(tokens):
        for n, tok in enumerate(tokens):
            if tok.type == "code_inline" and tok.content == "@":
                pass  # inert.text's own: an @ GitHub links no name after
            elif tok.type in CONSTRUCTS:
                counts[tok.type] += 1
            if tok.type == "html_block" and not tok.content.startswith(OWN_HTML):
                problems.append(f"html block {tok.content[:60]!r}")
            if tok.type == "fence" and tok.info != "text":
                problems.append(f"fence {tok.info!r}")
            if tok.type in ("em_open", "strong_open") and n + 1 < len(tokens):
                inner = tokens[n + 1].content
                if inner in ("x", "y") or inner.startswith("Total: 191/191 (all"):  # the corpus's own emphasis
                    problems.append(f"{tok.type} around {inner[:60]!r}")
            if tok.type == "text" and re.search(r"@\w", tok.content):
                problems.append(f"mention in {tok.content[:60]!r}")
            walk(tok.children or [])

    walk(md.parse(text))
    return counts, problems


def live_autolinks(text: str) -> list[str]:
    """What GFM's autolink extension would link in TEXT's Markdown: a scheme's :// or www. that
    no backslash breaks, in the source of its paragraphs, headings and cells, code spans aside
    (fenced blocks are not inline at all)."""
    from markdown_it import MarkdownIt

    found = []
    for tok in MarkdownIt("commonmark").enable(["table", "strikethrough"]).parse(text):
        if tok.type != "inline":
            continue
        source = tok.content  # the inline source, escapes as written
        for child in tok.children or []:
            if child.type == "code_inline":
                span = re.compile(re.escape(child.markup) + r" ?" + re.escape(child.content) + r" ?" + re.escape(child.markup))
                source = span.sub("", source, count=1)
        found += re.findall(r"(?<!\\)://|(?i:(?<![\w\\])www\.)", source)
    return found


@pytest.mark.parametrize("kind", RECORDS)
@pytest.mark.parametrize("show_hidden", [False, True])
def test_markdown_shows_the_corpus_as_text(kind, show_hidden):
    rec = RECORDS[kind]()
    text = render.render("markdown", rec, show_hidden=show_hidden)
    (hostile, problems), (harmless, _) = markdown_tokens(text), markdown_tokens(render.render("markdown", twin(rec), show_hidden=show_hidden))
    assert not hostile - harmless, f"constructs the corpus made: {hostile - harmless}"
    if i18n.of(rec)._(markdown.CUT) not in text:  # not cut short (the note in the report's language): every construct of the harmless one is there too
        assert hostile == harmless, (hostile, harmless)
    assert problems == []
    assert live_autolinks(text) == []
    assert not RAW.search(text.replace("\n", "").replace("\t", ""))


def test_the_markdown_report_is_made_of_escaped_lines_only():
    """inert.document refuses a plain string: a line that skipped the escaper is a bug, found."""
    with pytest.raises(TypeError, match="plain string"):
        inert.document([inert.Markdown("## title"), "| a | b |"])
    assert inert.Markdown("**{}**").format("**x**") == "**\\*\\*x\\*\\***"
    assert inert.code("a``b|c", cell=True) == "```a``b\\|c```"


@pytest.mark.skipif(not __import__("importlib").util.find_spec("cmarkgfm"), reason="cmarkgfm (GitHub's cmark-gfm) is not installed")
def test_github_cmark_gfm_renders_no_link_image_or_html():
    """Where GitHub's own parser is installed (pip install cmarkgfm), its HTML has the same
    links, images, emphasis and tags as a harmless record's."""
    import cmarkgfm
    from cmarkgfm.cmark import Options

    def html(text: str) -> str:
        return cmarkgfm.github_flavored_markdown_to_html(text, options=Options.CMARK_OPT_UNSAFE)

    def tags(text: str) -> Counter:
        return Counter(m.group(1) for m in re.finditer(r"<([a-z0-9]+)[\s>]", html(text)))

    risky = ("a", "img", "script", "iframe", "b", "i", "del", "h1", "h2", "h3", "h4", "h5", "h6", "table", "blockquote", "ul", "ol", "hr")
    for kind, make in RECORDS.items():
        rec = make()
        hostile, harmless = tags(render.render("markdown", rec)), tags(render.render("markdown", twin(rec)))
        assert {t: hostile[t] for t in risky if hostile[t] > harmless[t]} == {}, kind
        assert not re.search(r"""(href|src)=["'][^"']*evil""", html(render.render("markdown", rec))), kind


# --- HTML and SVG --------------------------------------------------------------------------------


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: Counter = Counter()
        self.urls: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags[tag] += 1
        self.urls += [v for k, v in attrs if k in ("href", "src", "xlink:href") and v]

    def handle_data(self, data):
        self.text.append(data)


def html_tags(text: str) -> _Tags:
    page = _Tags()
    page.feed(text)
    page.close()
    return page


@pytest.mark.parametrize("kind", RECORDS)
@pytest.mark.parametrize("show_hidden", [False, True])
def test_html_and_its_pictures_carry_no_markup_from_the_corpus(kind, show_hidden):
    rec = RECORDS[kind]()
    text = render.render("html", rec, show_hidden=show_hidden)
    page, harmless = html_tags(text), html_tags(render.render("html", twin(rec), show_hidden=show_hidden))
    assert page.tags == harmless.tags, page.tags - harmless.tags
    assert all(url.startswith("#") for url in page.urls), page.urls
    assert not RAW.search(text.replace("\n", "").replace("\t", ""))
    if kind == "graded":
        picture = timeline.svg(next(s for s in rec.specs if s.timeline).timeline, "failed", key=HOSTILE)
        ET.fromstring(picture)  # well-formed, and every text in it is text
        assert "<script" not in picture and not RAW.search(picture.replace("\n", ""))


@pytest.mark.parametrize("kind", RECORDS)
def test_gradescope_html_outputs_carry_no_markup_from_the_corpus(kind):
    """A failing spec's output with its picture is HTML (grading/render/gradescope.py): the
    corpus in it is text, and its one URL is the picture's PNG."""
    rec = RECORDS[kind]()
    mine, twins = (json.loads(render.render("gradescope", r))["tests"] for r in (rec, twin(rec)))
    for test, harmless in zip(mine, twins, strict=True):
        assert test["output_format"] == harmless["output_format"]
        if test["output_format"] != "html":
            continue
        page, other = html_tags(test["output"]), html_tags(harmless["output"])
        assert page.tags == other.tags == {"pre": 1, "p": 1, "strong": 1, "img": 1}, page.tags
        assert len(page.urls) == 1 and page.urls[0].startswith("data:image/png;base64,"), page.urls
    if kind == "graded" and raster.fonts():
        assert any(t["output_format"] == "html" for t in mine)  # the corpus was drawn, not left out


def test_the_class_page_and_similarity_links_escape_submission_ids():
    entries = [gradebook.Entry(i, hostile_record()) for i in [HOSTILE[:300], *FORMULAS, "javascript:alert(1)"]]
    text = classpage.render(entries, title=HOSTILE)
    page = html_tags(text)
    assert page.tags["script"] == 0 and page.tags["img"] == 0
    assert all(url.startswith(("submissions/", "#", "similarity/")) and " " not in url for url in page.urls), page.urls
    assert not RAW.search(text.replace("\n", "").replace("\t", ""))


# --- JUnit XML ---------------------------------------------------------------------------------

#: Characters XML 1.0 may not hold (its Char production).
NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@pytest.mark.parametrize("kind", RECORDS)
@pytest.mark.parametrize("show_hidden", [False, True])
def test_junit_is_well_formed_xml(kind, show_hidden):
    text = render.render("junit", RECORDS[kind](), show_hidden=show_hidden)
    assert not NOT_XML.search(text)
    root = ET.fromstring(text.encode())
    assert root.tag == "testsuites" and "<![CDATA[" not in text and "]]>" not in text
    assert any("]]>" in (el.text or "") + "".join(el.attrib.values()) for el in root.iter())  # the corpus, as text


# --- JSON: the record, Gradescope's, PrairieLearn's, GitHub Classroom's ---------------------------


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


@pytest.mark.parametrize("kind", RECORDS)
@pytest.mark.parametrize("fmt", ["json", "gradescope", "prairielearn"])
def test_json_documents_hold_only_visible_text(kind, fmt):
    text = render.render(fmt, RECORDS[kind]())
    data = json.loads(text)
    assert not any(RAW.search(s.replace("\n", "").replace("\t", "")) for s in _strings(data))
    assert not re.search(r"\\u00[01][0-9a-f]|\\u007f", text)  # no control character, even as a JSON escape


def test_the_record_reads_back_as_the_reports_show_it(tmp_path):
    path = tmp_path / "run.json"
    run_record.write(path, hostile_record())
    back = run_record.load(path)
    assert back.implementation["name"] == run_record.visible(HOSTILE)
    assert render.render("text", back) == render.render("text", hostile_record())  # the same report, before and after


def test_github_classroom_result_is_visible_text():
    import base64

    from grading.render import classroom

    data = json.loads(base64.b64decode(classroom.encode(hostile_record())))
    assert not any(RAW.search(s) for s in _strings(data))


# --- CSV: the gradebook and lms.csv ---------------------------------------------------------------


def _cells(text: str) -> list[str]:
    return [cell for row in csv.reader(io.StringIO(text)) for cell in row]


def _formula(cell: str) -> bool:
    return cell.lstrip(" ")[:1] in ("=", "+", "-", "@", "\t", "\r") and not re.fullmatch(r"[-+]?\d+(\.\d+)?", cell)


def test_no_gradebook_cell_is_a_formula():
    records = {i: hostile_record(i) for i in FORMULAS}
    records[HOSTILE] = hostile_record()
    error = error_record(FORMULAS[0])
    entries = [gradebook.Entry(i, rec) for i, rec in records.items()] + [gradebook.Entry("=err", error)]
    text = gradebook.gradebook(entries)
    cells = _cells(text)
    assert "'=1+1" in cells and "'@SUM(A1:A2)" in cells  # the ids, defused, still readable
    assert not [c for c in cells if _formula(c)]
    assert not RAW.search(text.replace("\n", ""))


def test_no_lms_cell_is_a_formula(tmp_path):
    path = tmp_path / "roster.csv"
    rows = [["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "submission"]]
    rows += [[f, f, f, f, f, f"s{n}"] for n, f in enumerate(FORMULAS)]
    with path.open("w", newline="") as f:
        csv.writer(f).writerows(rows)
    entries = [gradebook.Entry(f"s{n}", hostile_record()) for n in range(len(FORMULAS))]
    text = roster.lms_csv(roster.load(path), entries, "=IPC")
    assert not [c for c in _cells(text) if _formula(c)]
    assert "'=IPC" in text.splitlines()[0]


# --- the live path: `ipc-grade replay` in a pseudo-terminal ---------------------------------------

#: A program that names itself and a FIFO it reads with terminal escapes, and prints them.
NAMER = r'''
import ctypes, os, select, sys
select.select([], [], [], 0.3)  # long enough for the timeline to have seen it as python3 (it samples every 25 ms)
ctypes.CDLL(None).prctl(15, b"\x1b]52;c;aGk=\x07", 0, 0, 0)  # PR_SET_NAME: its comm, seen as an exec
name = os.path.join(os.environ.get("TMPDIR", "."), "\x1b]0;PWNED\x07\x1b]52;c;aGFja2Vk\x07\r\x1b[2K\u202eeviL")
os.mkfifo(name)
fd = os.open(name, os.O_RDWR)
sys.stdout.write("\x1b]0;title\x07\x9b31m\u202eout\r\x1b[2Kfake\n")
sys.stdout.flush()
os.read(fd, 1)
'''


@pytest.fixture
def namer(tmp_path) -> Path:
    impl = tmp_path / "namer"
    impl.mkdir()
    (impl / "pipe.py").write_text(NAMER)
    (impl / "ipc.toml").write_text('[implementation]\nname = "\\u001b]0;manifest\\u0007 @octocat"\n\n[programs]\npipe = "python3 pipe.py"\n')
    return impl


def test_replay_shows_nothing_raw_on_a_terminal(namer, tmp_path):
    """What a process names itself (PR_SET_NAME) and the file it reads, as `ipc-grade replay`
    prints them live and after: never an escape, a bell, a C1 control, a bidi override or a
    carriage return of its own."""
    import pexpect

    env = {k: v for k, v in _env().items() if k not in ("FORCE_COLOR", "COLUMNS", "LINES")}
    env.update(TERM="xterm-256color", NO_COLOR="1")
    out = io.BytesIO()
    child = pexpect.spawn(sys.executable, ["-m", "grading.cli", "replay", "pipe.uses-pipe", str(namer)], cwd=str(tmp_path), env=env,
                          dimensions=(24, 120), timeout=180)
    child.logfile_read = out
    outcome = child.expect([pexpect.EOF, pexpect.TIMEOUT], timeout=180)
    child.close()
    raw = out.getvalue().decode("utf-8", "surrogateescape")
    assert outcome == 0, f"ipc-grade replay did not end; transcript:\n{raw[-3000:]}"
    assert "the spec ended" in raw and "became" in raw, raw[-3000:]  # the live lines were there ...
    assert "\\x1b]52;c;aGk=\\x07" in raw and "\\x1b]0;PWNED\\x07" in raw  # ... naming both, as text
    terminal_text = raw.replace("\r\n", "\n")  # the terminal's own line ends
    found = RAW.search(terminal_text.replace("\n", "").replace("\t", ""))
    assert found is None, (found, terminal_text[max(found.start() - 80, 0) : found.end() + 80])


def test_replay_before_the_escaping_showed_them_raw(namer, monkeypatch):
    """The check above fails on the live path as it was: the same timeline's live line, not
    made visible, carries the program's ESC (a planted return to the old fixture)."""
    from conformance.plugin import fixtures

    lines: list[str] = []

    class Reporter:
        def write_line(self, line):
            lines.append(line)

    class Manager:
        def get_plugin(self, name):
            return Reporter() if name == "terminalreporter" else None

    class Config:
        pluginmanager = Manager()

    show = fixtures._live(Config())
    show("\x1b]52;c;aGk=\x07 (pid 7): read fd 3 (\x1b]0;PWNED\x07)")
    assert lines and not RAW.search(lines[0])
    monkeypatch.setattr(fixtures, "visible", lambda text: text)  # the boundary removed: the old way
    show("\x1b]52;c;aGk=\x07")
    assert RAW.search(lines[-1])


def test_every_format_of_a_mutated_corpus_record_renders(tmp_path):
    """Each corpus string alone, in every field, renders in every format (no renderer trips on
    one: a very long name, a lone surrogate)."""
    for name, value in {**CORPUS, "surrogate": "x\udc80y", "only-escape": "\x1b"}.items():
        rec = hostile_record(value)
        for fmt in render.FORMATS:
            text = render.render(fmt, copy.deepcopy(rec), show_hidden=True)
            assert not RAW.search(text.replace("\n", "").replace("\t", "")), (name, fmt)
        rec = replace(rec, specs=[])
        assert render.render("markdown", rec)


# --- no grader internals in any report, whatever the status ---------------------------------------

#: What of the grader's own objects a report must never show: Hypothesis's example as Python sees
#: it (its objects, their reprs and addresses), the staged copy, the run's names.
INTERNALS = re.compile(r"Implementation\(|Supervisor\(|Names\(|PosixPath\(|object at 0x|Failing explicit example|Falsifying|/impl-gw\d|/impl/")


def test_no_grader_internals_in_any_report_for_a_spec_not_implemented(tmp_path):
    """`ipc-grade new t; ipc-grade t -k "shm and roundtrip"`: a Hypothesis spec that ends not
    implemented carried Hypothesis's note, with the grader's objects, into every report."""
    from harness import grade

    from conformance import locate

    template = tmp_path / "t"
    shutil.copytree(locate.bundled("student_template"), template, ignore=shutil.ignore_patterns("c"))
    rec, _ = grade(template, "-k", "shm and roundtrip", cwd=tmp_path)
    assert [s.status for s in rec.specs] == ["not-implemented"], [(s.id, s.status) for s in rec.specs]
    uid = str(rec.meta.get("programs_uid"))
    for fmt in render.FORMATS:
        text = render.render(fmt, rec, show_hidden=True)
        assert not INTERNALS.search(text), (fmt, INTERNALS.search(text))
        if fmt != "json":  # the record is the instructor's, and says whom the programs ran as
            assert uid not in text and f"{int(uid):_}" not in text, fmt
