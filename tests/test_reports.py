"""Every report format, rendered from records built in memory: each is checked against its
documented fields, hidden specs never leak into students' reports, a run that could not grade
still gives valid reports, and the same record always gives the same bytes."""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import struct
import subprocess
import tempfile
import xml.etree.ElementTree as ET
import zlib
from html.parser import HTMLParser
from pathlib import Path

import pytest

from conformance import record as run_record
from conformance.record import Failure, RunRecord, SpecResult, Transcript, failed_run
from grading import render
from grading.render import gradescope, junit, markdown, prairielearn
from grading.render import html as htmlpage
from grading.render.terminal import render as terminal

SNAPSHOTS = Path(__file__).parent / "snapshots"
SECRET = "SECRET-DETAIL-7f3a"
#: A program's transcript with control characters and markup (what the grader records, as data).
TRANSCRIPT = Transcript(
    command="/usr/bin/python3 pipe.py relay",
    label="your `pipe relay`",
    pid=4242,
    stdin_bytes=13,
    stdout="before\x1b[31m close\x00 <script>alert(1)</script>",
    stdout_bytes=13,
)


def failure(observed, **kw):
    """A spec's failure as the grader records it: its parts, and the message they make."""
    parts = Failure(observed=observed, transcripts=[TRANSCRIPT], **kw)
    return {"message": parts.text(), "failure": parts}


def spec(id, status, points, max_points, message="", hint="", failure=None, **kw):
    return SpecResult(
        id=id,
        mechanism=id.split(".")[0],
        title=kw.pop("title", f"The behaviour of {id} holds."),
        status=status,
        points=points,
        max_points=max_points,
        message=message,
        failure=failure,
        hint=hint,
        duration_s=kw.pop("duration_s", 0.5),
        nodeid=f"test_{id.split('.')[0]}.py::test_{id.split('.')[1]}",
        **kw,
    )


def mixed_record() -> RunRecord:
    """Every status, a required spec, a hidden spec with a secret, a transcript with control
    characters and markup, and time fields."""
    return RunRecord(
        implementation={"path": "/home/ada/ipc", "name": "Ada Lovelace"},
        specs=[
            spec("pipe.relay-roundtrip", "passed", 3, 3),
            spec(
                "pipe.eof-on-close",
                "failed",
                0,
                3,
                **failure(
                    "your `pipe relay` did not exit within 5 s of its stdin closing; expected exit status 0. "
                    "the child (pid 4243) still holds the write end (fd 4).",
                    expected="exit status 0",
                ),
                hint="Close the write end in the child right after fork.",
                required=True,
                title="The relay finishes once its stdin closes (pipe(7)).",
            ),
            spec("pipe.blocks-when-full", "timeout", 0, 3, **failure("your `pipe relay` did not exit within 8 s."), hint="Write in bounded chunks."),
            spec("pipe.duplex-large-lines", "failed", 0, 2, f"the reply differs: {SECRET}", hint=f"hint {SECRET}", visibility="hidden", title=f"Large lines {SECRET}"),
            spec("pipe.reaps-child", "passed", 1, 1, visibility="after_due_date"),
            spec("msgq.typed-receive", "not-implemented", 0, 4, "your `msgq send` says: not implemented"),
            spec("msgq.recv-blocks", "not-implemented", 0, 3, "your `msgq recv` says: not implemented"),
            spec("signal.sigkill-uncatchable", "unsupported", 0, 2, "strace is not installed here"),
            spec("socket.tcp-roundtrip", "broken", 0, 3, "the harness failed (OSError: boom); this is not charged to the student."),
        ],
        meta={
            "grader": {"name": "ipc-conformance", "version": "0.1.0"},
            "started_at": "2026-01-02T03:04:05+00:00",
            "duration_s": 12.345,
            "rubric": {"title": "Lab 3", "file": "lab3.toml", "sha256": "ab" * 32, "total": None, "specs": 9, "required": ["pipe.eof-on-close"]},
        },
    )


def failed_record() -> RunRecord:
    return failed_run(
        {"path": "/home/bob/ipc", "name": "bob"},
        "no manifest: /home/bob/ipc/ipc.toml does not exist (copy student_template/ipc.toml as a starting point)",
        started_at="2026-01-02T03:04:05+00:00",
        duration_s=0.2,
    )


def test_the_record_keeps_a_failure_as_data(tmp_path):
    """A failure's parts and transcripts survive writing and reading the record; every report
    lays them out from the parts (the evidence and the fix appear in each), never by parsing."""
    rec = mixed_record()
    eof = next(s for s in rec.specs if s.id == "pipe.eof-on-close")
    eof.failure.evidence = ["pid 4243 sleeps in read on fd 3 (pipe:[81234])"]
    eof.failure.fix = "Close fd 4 in the child."
    eof.message = eof.failure.text()
    path = tmp_path / "run.json"
    run_record.write(path, rec)
    back = run_record.load(path)
    # the same record, every string made visible (the transcript's ESC and NUL as \x1b, \x00)
    assert back.to_json() == run_record.visible_data(rec.to_json())
    assert "\\u001b" not in path.read_text() and "\\x1b" in path.read_text()
    assert next(s for s in back.specs if s.id == "pipe.eof-on-close").failure.transcripts[0].pid == 4242
    for name in ("markdown", "html", "gradescope", "prairielearn", "junit", "text"):
        text = render.render(name, back, show_hidden=True)
        assert "pipe:[81234]" in text and "Close fd 4 in the child." in text, name


def test_a_running_record_is_the_record_and_each_timeline_is_encoded_once(monkeypatch):
    """The record written after every verdict (dumps_running) holds the same data as the record's
    file (dumps), every string made visible, the timelines' too; a timeline is made visible once,
    however many times the growing record is written again, and what changes elsewhere shows."""
    rec = mixed_record()
    eof = next(s for s in rec.specs if s.id == "pipe.eof-on-close")
    eof.timeline = {"lanes": [{"label": "relay\x1b]52;c;aGk=\x07", "events": [{"t": 0.5, "text": "\u202eevil"}]}]}
    whole = json.loads(run_record.dumps(rec))
    assert json.loads(run_record.dumps_running(rec)) == whole
    lane = next(s for s in whole["specs"] if s["id"] == eof.id)["timeline"]["lanes"][0]
    assert lane["label"] == run_record.visible(eof.timeline["lanes"][0]["label"]) != eof.timeline["lanes"][0]["label"]
    assert "\x1b" not in lane["label"] and "\u202e" not in lane["events"][0]["text"]
    made_visible = []
    real = run_record.visible_data
    monkeypatch.setattr(run_record, "visible_data", lambda value: made_visible.append(value) or real(value))
    eof.message = "changed after the first write"
    again = json.loads(run_record.dumps_running(rec))
    assert eof.timeline not in made_visible  # encoded at the first write, above
    assert next(s for s in again["specs"] if s["id"] == eof.id)["message"] == "changed after the first write"
    eof.timeline = {"lanes": []}  # a new timeline object is encoded anew
    assert next(s for s in json.loads(run_record.dumps_running(rec))["specs"] if s["id"] == eof.id)["timeline"] == {"lanes": []}


ALL_FORMATS = sorted(render.FORMATS)
STUDENT_FORMATS = [f for f in ALL_FORMATS if f not in ("json", "gradescope")]


# --- Gradescope: its documented results.json fields --------------------------------------

GS_TOP = {"score", "execution_time", "output", "output_format", "test_output_format", "test_name_format", "visibility", "stdout_visibility", "extra_data", "tests", "leaderboard"}
GS_TEST = {"score", "max_score", "status", "name", "name_format", "number", "output", "output_format", "tags", "visibility", "extra_data"}
VISIBILITIES = {"visible", "hidden", "after_due_date", "after_published"}


def check_gradescope(doc: dict) -> None:
    assert set(doc) <= GS_TOP, set(doc) - GS_TOP
    assert isinstance(doc["score"], (int, float)) and doc["score"] >= 0
    assert isinstance(doc["execution_time"], int)
    assert doc["visibility"] in VISIBILITIES and doc["stdout_visibility"] in VISIBILITIES
    for test in doc["tests"]:
        assert set(test) <= GS_TEST, set(test) - GS_TEST
        assert isinstance(test["name"], str) and isinstance(test["output"], str)
        assert 0 <= test["score"] <= test["max_score"] or test["max_score"] == 0 == test["score"]
        assert test["status"] in ("passed", "failed")
        assert test["visibility"] in VISIBILITIES
        assert all(isinstance(t, str) for t in test["tags"])


def test_gradescope_fields_scores_and_visibility():
    rec = mixed_record()
    doc = json.loads(gradescope.render(rec))
    check_gradescope(doc)
    assert doc["score"] == rec.score == 4
    by_id = {t["name"].split(":")[0]: t for t in doc["tests"]}
    assert list(by_id) == [s.id for s in rec.specs]  # the name carries the spec id
    eof = by_id["pipe.eof-on-close"]
    assert eof["status"] == "failed" and eof["score"] == 0 and eof["max_score"] == 3
    assert "Close the write end" in eof["output"] and "Expected:" in eof["output"] and "Transcript:" in eof["output"]
    assert "required" in eof["tags"]
    assert by_id["pipe.relay-roundtrip"]["status"] == "passed"
    # Gradescope enforces visibility: the hidden test carries its rubric visibility
    assert by_id["pipe.duplex-large-lines"]["visibility"] == "hidden"
    assert by_id["pipe.reaps-child"]["visibility"] == "after_due_date"
    # what is always shown names no hidden spec, and the run's stdout stays with instructors
    assert SECRET not in doc["output"] and "duplex-large-lines" not in doc["output"]
    assert doc["stdout_visibility"] == "hidden"
    # a spec that does not count (unsupported) is worth nothing; a broken one counts 0 of its
    # points, and the output asks for a regrade with the grader's reason
    assert by_id["signal.sigkill-uncatchable"]["max_score"] == 0
    assert by_id["socket.tcp-roundtrip"]["max_score"] == 3 and by_id["socket.tcp-roundtrip"]["score"] == 0
    assert "\nREGRADE: the grader could not judge socket.tcp-roundtrip" in doc["output"] and "OSError: boom" in doc["output"]
    assert "\x1b" not in json.dumps(doc) and "\\u001b" not in json.dumps(doc)


# --- PrairieLearn ------------------------------------------------------------------------


def check_prairielearn(doc: dict) -> None:
    assert isinstance(doc["gradable"], bool)
    assert isinstance(doc["score"], (int, float)) and 0 <= doc["score"] <= 1
    assert isinstance(doc["message"], str) and isinstance(doc["output"], str)
    for test in doc["tests"]:
        assert {"name", "points", "max_points"} <= set(test)
        assert isinstance(test["message"], str) and isinstance(test["output"], str)
        assert 0 <= test["points"] <= test["max_points"] or test["max_points"] == 0
    assert len(json.dumps(doc).encode()) < 1_000_000  # PrairieLearn's limit


def test_prairielearn_fields_and_score():
    rec = mixed_record()
    doc = json.loads(prairielearn.render(rec))
    check_prairielearn(doc)
    assert doc["gradable"] is True
    assert doc["score"] == pytest.approx(rec.score / rec.max_score, abs=1e-5)
    names = [t["name"] for t in doc["tests"]]
    assert "pipe.eof-on-close" in names and "pipe.duplex-large-lines" not in names and "pipe.reaps-child" not in names
    hidden = doc["tests"][-1]
    assert hidden["name"] == "hidden specs" and hidden["max_points"] == 3
    eof = next(t for t in doc["tests"] if t["name"] == "pipe.eof-on-close")
    assert eof["points"] == 0 and eof["max_points"] == 3 and "Close the write end" in eof["message"]


# --- JUnit, parsed back ------------------------------------------------------------------


def test_junit_parses_back_with_points_as_properties():
    rec = mixed_record()
    root = ET.fromstring(junit.render(rec).encode())
    assert root.tag == "testsuites"
    # classname ipc.MECHANISM and name BEHAVIOUR make the spec id together
    cases = {f"{c.get('classname').split('.', 1)[1]}.{c.get('name')}": c for c in root.iter("testcase")}
    shown = [s for s in rec.specs if not s.hidden]
    assert list(cases) == [s.id for s in shown]
    assert int(root.get("tests")) == len(shown)
    # not implemented is skipped, as pytest reports it; unsupported too
    assert int(root.get("failures")) == 2 and int(root.get("errors")) == 1 and int(root.get("skipped")) == 3
    for s in shown:
        props = {p.get("name"): p.get("value") for p in cases[s.id].find("properties")}
        assert float(props["points"]) == s.points and props["status"] == s.status
        assert props["required"] == ("true" if s.required else "false")
    eof = cases["pipe.eof-on-close"].find("failure")
    assert eof is not None and eof.get("type") == "failed"
    assert "Close the write end" in eof.text and "Transcript:" in eof.text and "<script>" in eof.text
    assert cases["socket.tcp-roundtrip"].find("error") is not None
    assert cases["signal.sigkill-uncatchable"].find("skipped") is not None
    assert cases["msgq.typed-receive"].find("skipped") is not None and cases["msgq.typed-receive"].find("failure") is None
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    assert list(suites) == ["pipe", "signal", "msgq", "socket"]  # the registry's order
    top = {p.get("name"): p.get("value") for p in root.find("properties")}
    assert top["hidden_specs"] == "2" and top["score_covers"] == "the visible specs"


# --- Markdown: a snapshot, and GitHub's size limit ---------------------------------------


def test_markdown_matches_snapshot():
    text = markdown.render(mixed_record())
    snapshot = SNAPSHOTS / "report.md"
    if os.environ.get("UPDATE_SNAPSHOTS"):
        snapshot.parent.mkdir(exist_ok=True)
        snapshot.write_text(text, encoding="utf-8")
    assert text == snapshot.read_text(encoding="utf-8"), "the Markdown report changed: review it, then UPDATE_SNAPSHOTS=1"


def test_markdown_fits_a_pr_comment_and_keeps_fences_closed():
    rec = mixed_record()
    huge = "x" * 200_000 + "```" + "y" * 1000
    for s in rec.specs:
        if s.status == "failed":
            s.failure = Failure(observed="the output differs", transcripts=[Transcript("prog", "your `prog`", 1, stdout=huge, stdout_bytes=len(huge))])
    text = markdown.render(rec)
    assert len(text) < 65_536
    # a fence inside the output never closes the block around it
    assert "````text" in text or "The transcript is in the HTML report" in text


# --- HTML: self-contained, every failure explained, opened in a browser -------------------


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags = []
        self.urls = []
        self.text = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("src", "href") and value and not value.startswith("#"):
                self.urls.append(value)

    def handle_data(self, data):
        self.text.append(data)


def parse_html(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    page.close()
    return page


def test_html_is_self_contained_and_explains_each_failure():
    rec = mixed_record()
    text = htmlpage.render(rec)
    page = parse_html(text)
    assert "script" not in page.tags and page.urls == []
    assert "Content-Security-Policy" in text and "default-src 'none'" in text
    body = "".join(page.text)
    for s in rec.specs:
        if s.status in ("failed", "timeout") and not s.hidden:
            section = text[text.index(f'id="{s.id}"') :]
            section = section[: section.index("</section>")]
            for part in ("Expected", "Observed", "Hint", "Transcript"):
                assert f"<dt>{part}</dt>" in section, (s.id, part)
    assert "<script>alert(1)</script>" not in text and "&lt;script&gt;" in text
    assert "\\x1b[31m" in body and "\x1b" not in text
    assert "pipe" in body and "class=\"fill" in text  # a bar per mechanism


def test_html_shows_a_titles_backtick_spans_as_code_and_nothing_else_as_markup():
    rec = mixed_record()
    by_id = {s.id: s for s in rec.specs}
    by_id["pipe.relay-roundtrip"].title = "`<b>stdin</b>` goes to `stdout`"
    by_id["pipe.blocks-when-full"].title = "a lone ` stays, `<i>` too"
    by_id["pipe.eof-on-close"].title = "`pipe relay` exits 0"
    text = htmlpage.render(rec)
    assert "<td><code>&lt;b&gt;stdin&lt;/b&gt;</code> goes to <code>stdout</code></td>" in text
    assert "<td>a lone ` stays, `&lt;i&gt;` too</td>" in text  # unbalanced: as written
    assert "<td><code>pipe relay</code> exits 0</td>" in text


def _png_pixels(path: Path) -> tuple[int, int, list[bytes]]:
    """Width, height and the rows of an 8-bit RGB(A) PNG, with the stdlib only."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks, header = 8, [], None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            chunks.append(body)
        pos += 12 + length
    width, height, depth, color = header[:4]
    assert depth == 8 and color in (2, 6), header
    bpp = 3 if color == 2 else 4
    raw = zlib.decompress(b"".join(chunks))
    stride = width * bpp
    rows, prev, i = [], bytearray(stride), 0
    for _ in range(height):
        kind, line = raw[i], bytearray(raw[i + 1 : i + 1 + stride])
        i += 1 + stride
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b, c = prev[x], prev[x - bpp] if x >= bpp else 0
            if kind == 1:
                line[x] = (line[x] + a) & 0xFF
            elif kind == 2:
                line[x] = (line[x] + b) & 0xFF
            elif kind == 3:
                line[x] = (line[x] + (a + b) // 2) & 0xFF
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        rows.append(bytes(line))
        prev = line
    return width, height, rows


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def screenshot(html_file: Path, png: Path, size: str = "1000,1400") -> None:
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [
                chromium(),
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={profile}",
                f"--window-size={size}",
                f"--screenshot={png}",
                html_file.as_uri(),
            ],
            capture_output=True,
            timeout=120,
            check=True,
        )


@pytest.mark.skipif(chromium() is None, reason="chromium is not installed (CI installs it: apt-get install chromium)")
def test_html_report_renders_in_headless_chromium(tmp_path):
    page = tmp_path / "report.html"
    page.write_text(htmlpage.render(mixed_record()), encoding="utf-8")
    png = tmp_path / "report.png"
    screenshot(page, png)
    width, height, rows = _png_pixels(png)
    assert (width, height) == (1000, 1400)
    bpp = len(rows[0]) // width
    colours = set()
    dark = 0
    for row in rows[::4]:
        for x in range(0, width * bpp, bpp * 4):
            px = row[x : x + 3]
            colours.add(px)
            dark += sum(px) < 200
    assert len(colours) > 20, "the screenshot is (nearly) one colour: a blank page"
    assert dark > 500, "no text was drawn"
    # the red of a failed spec's bar or chip is on the page
    assert any(r > 180 and g < 80 and b < 80 for r, g, b in colours)


# --- hidden specs never reach students; instructors see everything ------------------------


@pytest.mark.parametrize("fmt", STUDENT_FORMATS)
def test_hidden_specs_never_reach_students(fmt):
    text = render.render(fmt, mixed_record(), show_hidden=False)
    assert SECRET not in text
    assert "pipe.duplex-large-lines" not in text and "pipe.reaps-child" not in text
    if fmt != "prairielearn":  # whose score is the grade, hidden specs included
        assert "4/19" not in text and "4/21" not in text  # no total that would reveal them


@pytest.mark.parametrize("fmt", STUDENT_FORMATS)
def test_instructors_see_hidden_specs(fmt):
    text = render.render(fmt, mixed_record(), show_hidden=True)
    assert ("duplex-large-lines" if fmt == "junit" else "pipe.duplex-large-lines") in text


def test_terminal_subtotals_hints_and_no_escapes():
    text = terminal(mixed_record())
    assert "pipe subtotal    3/9  (+2 hidden specs)" in text
    assert "msgq subtotal    0/7" in text
    assert "hint: Close the write end in the child right after fork." in text
    assert "\x1b" not in text and "\\x1b[31m" in text
    assert "Not implemented:\n- msgq (2 specs): your `msgq recv` says: not implemented" in text
    full = terminal(mixed_record(), show_hidden=True)
    assert "Total: 4/22" in full and "[hidden]" in full and "[after due date]" in full  # the broken spec counts, 0 of 3
    assert "REGRADE: the grader could not judge socket.tcp-roundtrip" in full


# --- a run that could not grade ----------------------------------------------------------


@pytest.mark.parametrize("fmt", ALL_FORMATS)
def test_a_run_that_could_not_grade_gives_valid_reports_with_the_reason(fmt):
    rec = failed_record()
    text = render.render(fmt, rec)
    reason = "no manifest"
    assert reason in text
    if fmt == "gradescope":
        doc = json.loads(text)
        check_gradescope(doc)
        assert doc["score"] == 0 and doc["output"].startswith("This submission could not be graded: no manifest")
    elif fmt == "prairielearn":
        doc = json.loads(text)
        check_prairielearn(doc)
        assert doc["score"] == 0 and doc["message"].startswith("This submission could not be graded")
    elif fmt == "junit":
        root = ET.fromstring(text.encode())
        assert root.find(".//error").get("message").startswith("no manifest")
    elif fmt == "json":
        assert json.loads(text)["score"] == 0
    elif fmt == "html":
        assert 'id="run-error"' in text and "Score: 0." in text
        parse_html(text)
    else:
        assert "0/0" in text


def test_a_failed_run_scores_zero_even_with_specs_that_passed():
    rec = mixed_record()
    rec.error = "the grading run did not finish within 60 s and was stopped"
    assert rec.score == 0
    assert json.loads(gradescope.render(rec))["score"] == 0
    assert all(t["score"] == 0 for t in json.loads(gradescope.render(rec))["tests"])
    assert json.loads(prairielearn.render(rec))["score"] == 0
    root = ET.fromstring(junit.render(rec).encode())
    assert {p.get("value") for p in root.iter("property") if p.get("name") == "points"} == {"0"}


# --- deterministic: the same run, the same bytes, apart from the documented time fields ---

TIME_PATTERNS = [
    re.compile(r'time="[0-9.]+"'),  # JUnit
    re.compile(r'"execution_time": \d+'),  # Gradescope
    re.compile(r'"(started_at|duration_s)": [^,\n]+'),  # the run record
    re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00"),  # started_at in Markdown and HTML
    re.compile(r"in \d+\.\d s"),  # duration_s in Markdown and HTML
]


def _mask(text: str) -> str:
    for pattern in TIME_PATTERNS:
        text = pattern.sub("<time>", text)
    return text


@pytest.mark.parametrize("fmt", ALL_FORMATS)
def test_same_run_same_bytes_apart_from_time_fields(fmt):
    a = mixed_record()
    assert render.render(fmt, a) == render.render(fmt, copy.deepcopy(a))
    b = copy.deepcopy(a)
    b.meta["started_at"] = "2027-12-31T23:59:59+00:00"
    b.meta["duration_s"] = 987.6
    for s in b.specs:
        s.duration_s += 3.25
    assert _mask(render.render(fmt, a)) == _mask(render.render(fmt, b))


def test_every_format_writes_a_file(tmp_path):
    targets = {name: tmp_path / "out" / f.filename for name, f in render.FORMATS.items()}
    assert render.write_all(mixed_record(), targets) == []
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(f.filename for f in render.FORMATS.values())


def test_writing_to_a_stream_does_not_replace_it(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    import threading

    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text()))
    reader.start()
    render.write_text(fifo, "hello\n")
    reader.join(10)
    assert got == ["hello\n"] and fifo.is_fifo()


def test_a_link_at_the_report_path_is_replaced_never_written_through(tmp_path):
    """A symbolic link planted where a report goes (in /tmp, by a program) must not make the
    grader overwrite the file it names."""
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    link = tmp_path / "report.json"
    link.symlink_to(victim)
    render.write_text(link, "the report\n")
    assert victim.read_text() == "precious\n"
    assert not link.is_symlink() and link.read_text() == "the report\n"


def test_a_fifo_nobody_reads_fails_instead_of_blocking(tmp_path, monkeypatch):
    monkeypatch.setattr(run_record, "STREAM_DEADLINE", 0.3)
    fifo = tmp_path / "report.json"
    os.mkfifo(fifo)
    with pytest.raises(OSError, match="nobody opened it for reading|nobody opened"):
        render.write_text(fifo, "x" * 10)

