"""Every message names the real cause: each mutant's first failure contains the phrase its TOML
gives as ``cause``, written from what the mutant does (not from what the grader says). The check
runs in tests/test_mutants.py, on the grading that proves the mutant, so none is paid twice."""

from __future__ import annotations

import re

import pytest
from harness import mutants

from conformance import record as run_record


def first_failure(rec: run_record.RunRecord) -> run_record.SpecResult | None:
    """The first spec of the record that did not pass (nor was unsupported)."""
    return next((s for s in rec.specs if s.status not in ("passed", "unsupported")), None)


def grader_words(spec: run_record.SpecResult) -> str:
    """What the grader says of SPEC's failure, without what the programs printed (a mutant's own
    error message must not pass for the grader's) nor the spec's hint, the same whatever failed."""
    parts = spec.parts
    said = [parts.consequence(), parts.done, parts.observed, parts.expected, *parts.evidence, parts.fix]
    return " ".join(w for w in said if w)


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("`", "")).strip().lower()


def names_cause(cause: str, spec: run_record.SpecResult) -> bool:
    return _norm(cause) in _norm(grader_words(spec))


def assert_names_cause(mutant, rec: run_record.RunRecord) -> None:
    spec = first_failure(rec)
    if spec is None or not mutant.cause:
        return
    assert names_cause(mutant.cause, spec), (
        f"mutant {mutant.id} ({mutant.description}): its first failure, {spec.id}, does not name its cause "
        f"{mutant.cause!r}; it says:\n{grader_words(spec)[:1500]}"
    )


def test_every_mutant_names_its_cause():
    """Every mutant's TOML gives the phrase its first failure must contain."""
    missing = [m.id for m in mutants() if len(m.cause.strip()) < 6]
    assert not missing, f"these mutants give no `cause` phrase (tests/mutants/README.md): {missing}"


def test_the_phrase_check_reads_the_grader_not_the_program():
    """A phrase only the program printed, or only in a transcript, does not count."""
    t = run_record.Transcript(command="rpc server", label="your `rpc server`", pid=1, stderr="no such procedure")
    spec = run_record.SpecResult(
        "rpc.x", "rpc", "t", "failed", 0, 1,
        failure=run_record.Failure(observed="the server closed the connection", transcripts=[t]),
    )
    assert names_cause("closed the  Connection", spec)
    assert not names_cause("no such procedure", spec)


def assert_pictures(rec: run_record.RunRecord) -> None:
    """PrairieLearn's results of REC carry the timeline picture of each failing spec that has a
    timeline, as an image its results element shows (an SVG data URL), in English and in Korean;
    so do Gradescope's (a PNG)."""
    from grading.render import i18n

    for language in ("en", "ko"):
        _assert_pictures(i18n.rendered_in(rec, language))


def _assert_pictures(rec: run_record.RunRecord) -> None:
    import base64
    import json

    from grading.render import prairielearn

    doc = json.loads(prairielearn.render(rec))
    tests = {t["name"]: t for t in doc["tests"]}
    for s in rec.specs:
        if s.status in ("failed", "timeout") and s.timeline and s.timeline.get("lanes") and not s.hidden:
            images = tests[s.id].get("images") or []
            assert images, f"{s.id}: no picture in PrairieLearn's results"
            head, data = images[0]["url"].split(",", 1)
            assert head == "data:image/svg+xml;base64" and base64.b64decode(data).startswith(b"<svg"), s.id
    assert len(json.dumps(doc).encode()) < 1_000_000
    assert_gradescope_pictures(rec)


def assert_gradescope_pictures(rec: run_record.RunRecord) -> None:
    """Gradescope's results of REC show the timeline picture of each failing spec that has one,
    as a PNG its HTML output keeps (grading/render/raster.py), beside the text, escaped; or,
    past the run's room for pictures, the text says where the picture is."""
    import base64
    import html
    import json
    import struct

    from grading.render import gradescope, i18n

    said = i18n.of(rec)
    doc = json.loads(gradescope.render(rec))
    tests = {t["name"].split(":")[0]: t for t in doc["tests"]}
    for s in rec.specs:
        t = tests[s.id]
        if s.status in ("failed", "timeout") and s.timeline and s.timeline.get("lanes"):
            if t["output_format"] == "text":
                assert said._(gradescope.NO_ROOM) in t["output"], (s.id, t["output"][-300:])
                continue
            assert t["output_format"] == "html", s.id
            text, picture = t["output"].split("</pre>", 1)
            assert text.startswith("<pre>") and "<" not in html.unescape(text[5:]).replace("<", "") and said._("Status: %(status)s", status="") in text
            url = re.search(r'<img src="(data:image/png;base64,[A-Za-z0-9+/=]+)"', picture).group(1)
            png = base64.b64decode(url.split(",", 1)[1])
            width, height = struct.unpack(">II", png[16:24])
            assert png.startswith(b"\x89PNG\r\n\x1a\n") and width >= 400 and height >= 60, (s.id, width, height)
        else:
            assert t["output_format"] == "text", s.id
    assert len(json.dumps(doc).encode()) < 1_000_000


def test_prairielearn_shows_each_failing_specs_picture():
    lane = {"pid": 7, "label": "your `pipe relay`", "segments": [[0.0, 0.5, "running"], [0.5, 1.0, "read pipe:[5]"]]}
    timeline = {"lanes": [lane], "events": [{"kind": "verdict", "t": 1.0, "status": "failed", "text": "the spec failed"}], "end": 1.0}
    specs = [
        run_record.SpecResult("pipe.eof-on-close", "pipe", "t", "failed", 0, 3, timeline=timeline,
                              failure=run_record.Failure(observed="it never saw EOF")),
        run_record.SpecResult("pipe.uses-pipe", "pipe", "t", "passed", 1, 1, timeline=timeline),
    ]
    rec = run_record.RunRecord(implementation={"path": ".", "name": "x"}, specs=specs)
    assert_pictures(rec)
    import json

    from grading.render import prairielearn

    doc = json.loads(prairielearn.render(rec))
    assert "images" not in doc["tests"][1]  # a passed spec has no picture


def _failing_with_timelines(n: int) -> run_record.RunRecord:
    lane = {"pid": 7, "label": "your `pipe relay` <b>", "segments": [[0.0, 0.5, "running"], [0.5, 1.0, "read pipe:[5]"]]}
    timeline = {"lanes": [lane], "events": [{"kind": "verdict", "t": 1.0, "status": "failed", "text": "the spec failed"}], "end": 1.0}
    specs = [run_record.SpecResult(f"pipe.s{i}", "pipe", "t", "failed", 0, 3, timeline=timeline,
                                   failure=run_record.Failure(observed="it printed <script>alert(1)</script> & stopped")) for i in range(n)]
    return run_record.RunRecord(implementation={"path": ".", "name": "x"}, specs=specs)


def test_gradescope_shows_each_failing_specs_picture_as_a_png_it_keeps():
    import json

    from grading.render import gradescope, raster

    if not raster.fonts():
        pytest.skip("no DejaVu Sans Mono here (fonts-dejavu-core): .ci/run installs it")
    rec = _failing_with_timelines(2)
    assert_gradescope_pictures(rec)
    out = json.loads(gradescope.render(rec))["tests"][0]["output"]
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; stopped" in out and "<script" not in out


def test_gradescope_pictures_share_a_budget_and_the_rest_say_where_they_are():
    import json

    from grading.render import gradescope, raster

    if not raster.fonts():
        pytest.skip("no DejaVu Sans Mono here (fonts-dejavu-core): .ci/run installs it")
    rec = _failing_with_timelines(40)
    assert_gradescope_pictures(rec)
    formats = [t["output_format"] for t in json.loads(gradescope.render(rec))["tests"]]
    assert formats[0] == "html" and formats[-1] == "text"


def test_where_no_picture_can_be_drawn_gradescope_keeps_the_text_and_says_why(monkeypatch):
    import json

    from grading.render import gradescope, raster

    monkeypatch.setattr(raster, "fonts", lambda: ())
    t = json.loads(gradescope.render(_failing_with_timelines(1)))["tests"][0]
    assert t["output_format"] == "text" and "it printed <script>alert(1)</script>" in t["output"]
    assert "timeline picture could not be drawn here: no DejaVu Sans Mono font" in t["output"]


def text_boxes(picture: str) -> list[tuple[str, tuple[float, float, float, float]]]:
    """Every <text> of an SVG timeline with its box, computed from its position, its font size
    and the font's metrics (one advance a character, two an East Asian wide one: Hangul;
    grading.render.timeline.ADVANCE), measured here, not by the code under test."""
    import unicodedata
    import xml.etree.ElementTree as ET

    from grading.render import timeline

    ns = "{http://www.w3.org/2000/svg}"
    root = ET.fromstring(picture)
    default = float(root.get("font-size", 11))
    out = []
    for el in root.iter(f"{ns}text"):
        title = el.find(f"{ns}title")
        words = (title.tail if title is not None else el.text) or ""
        x, y, size = float(el.get("x")), float(el.get("y")), float(el.get("font-size", default))
        advances = sum(2 if unicodedata.east_asian_width(c) in ("W", "F") else 1 for c in words)
        out.append((words, (x, y - timeline.ASCENT * size, x + advances * timeline.ADVANCE * size, y + timeline.DESCENT * size)))
    return out


def overlapping_labels(picture: str) -> list[tuple[str, str]]:
    boxes = text_boxes(picture)
    return [(a, b) for i, (a, ba) in enumerate(boxes) for b, bb in boxes[i + 1 :]
            if ba[0] < bb[2] and bb[0] < ba[2] and ba[1] < bb[3] and bb[1] < ba[3]]


def assert_no_overlapping_labels(rec: run_record.RunRecord) -> None:
    """No two labels of any timeline picture of REC's HTML report overlap, in English or in
    Korean (a Hangul character two advances wide: timeline.width); the Korean picture's own words
    are Korean."""
    from grading.render import i18n, timeline

    for s in rec.specs:
        if s.timeline and s.timeline.get("lanes"):
            for language in ("en", "ko"):
                picture = timeline.svg(s.timeline, s.status, key=s.id, t=i18n.translator(language))
                clash = overlapping_labels(picture)
                assert not clash, (s.id, language, clash[:3])
                assert ("채점기" in picture) == (language == "ko"), (s.id, language)


def test_a_crowded_timeline_has_no_overlapping_label_a_legend_and_its_finding_first():
    from grading.render import timeline

    holds = [{"fd": 4, "end": "write", "target": "pipe:[5]"}]
    child = {"pid": 8, "label": "a child of your `pipe relay`", "segments": [[0.0, 0.9, "read fd 3 (pipe:[5])"]], "holds": holds}
    parent = {"pid": 7, "label": "your `pipe relay` " + "with a very long label " * 4, "segments": [[0.0, 0.1, "running"], [0.1, 1.0, "wait4"]],
              "exit": [0.95, "exited with status 0"]}
    events = [{"kind": "stdin", "pid": 7, "t": 0.01 * i, "size": 5, "preview": "hello"} for i in range(30)]
    events += [{"kind": "output", "pid": 7, "t": 0.01 * i, "preview": "out" * 9} for i in range(30)]
    events += [{"kind": "signal", "pid": 8, "t": 0.5, "signal": "SIGSTOP"}, {"kind": "eof", "pid": 7, "t": 0.505},
               {"kind": "verdict", "t": 1.0, "status": "failed", "text": "the spec failed"}]
    picture = timeline.svg({"lanes": [parent, child], "events": events, "end": 1.0}, "failed", key="pipe.eof-on-close")
    assert not overlapping_labels(picture)
    texts = [w for w, _ in text_boxes(picture)]
    assert texts[0].startswith("\u25b6 a child of your `pipe relay` (pid 8): it holds the write end")  # the finding, first
    assert "the finding that decides the verdict" in texts and "running" in texts  # the legend


def test_a_crowded_korean_timeline_measures_hangul_as_two_advances():
    """A Korean picture's labels overlap nothing either: a Hangul character is drawn two
    advances wide, and the picture measures it so (timeline.width) before it places a label."""
    from grading.render import i18n, timeline

    ko = i18n.translator("ko")
    role = {"template": "your `%(program)s`", "values": {"program": "pipe relay"}}
    child_words = {"template": "a child of %(program)s", "values": {"program": role}}
    holds = [{"fd": 4, "end": "write", "target": "pipe:[5]"}]
    child = {"pid": 8, "label": "a child of your `pipe relay`", "label_words": child_words,
             "segments": [[0.0, 0.05, "running"], [0.05, 0.2, "stopped"], [0.2, 0.9, "read fd 3 (pipe:[5])"]], "holds": holds}
    lanes = [child] + [{"pid": 10 + i, "label": f"a child of a child {i}", "label_words": child_words,
                        "segments": [[0.1 * i, 0.1 * i + 0.08, "zombie"], [0.1 * i + 0.08, 1.0, "asleep"]]} for i in range(6)]
    events = [{"kind": "fork", "pid": 10 + i, "t": 0.1 * i, "text": "your `pipe relay` forked pid 1",
               "words": {"template": "%(program)s forked pid %(pid)s", "values": {"program": role, "pid": 10 + i}}} for i in range(6)]
    events += [{"kind": "eof", "pid": 8, "t": 0.01 * i} for i in range(20)]
    events += [{"kind": "verdict", "t": 1.0, "status": "failed", "text": "the spec ended: failed"}]
    picture = timeline.svg({"lanes": lanes, "events": events, "end": 1.0}, "failed", key="pipe.eof-on-close", t=ko)
    assert not overlapping_labels(picture)
    texts = [w for w, _ in text_boxes(picture)]
    assert texts[0].startswith("\u25b6 여러분의 `pipe relay`의 자식 프로세스 (pid 8): 자신이 읽는 파이프의 쓰기 끝(fd 4)을")
    assert "채점기" in texts and "스펙 판정: 실패" in texts and "실행 중" in texts and "판정을 결정한 발견" in texts


def test_a_korean_picture_is_drawn_to_png_with_its_hangul_or_not_at_all(monkeypatch):
    """Gradescope's PNG of a Korean picture: drawn with a font that has Hangul
    (NanumGothicCoding, raster.FONTS), else not drawn, and the reason says which font to install:
    a picture of empty boxes would mislead."""
    from grading.render import i18n, raster, timeline

    picture = timeline.svg({"lanes": [{"pid": 7, "label": "x", "segments": [[0.0, 1.0, "running"]]}], "events": [], "end": 1.0},
                           "failed", t=i18n.translator("ko"))
    assert "채점기" in picture
    monkeypatch.setattr(raster, "fonts", lambda: ("/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf",))
    with pytest.raises(raster.Unavailable, match="no font with Hangul .*fonts-nanum-coding"):
        raster.png(picture)
    monkeypatch.undo()
    if not any(f.endswith("NanumGothicCoding.ttf") for f in raster.fonts()):
        pytest.skip("no NanumGothicCoding here (fonts-nanum-coding): .ci/run installs it")
    assert raster.png(picture).startswith(b"\x89PNG")
