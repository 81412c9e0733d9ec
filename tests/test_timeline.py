"""The timeline of a spec (conformance/run/timeline.py) and its picture, text and replay
(grading/render/timeline.py, ipc-grade replay): recorded from real processes, bounded, drawn safely."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from harness import grade, mutants

from conformance.run import timeline as recorder
from grading.render import html as render_html
from grading.render import markdown as render_markdown
from grading.render import timeline

KEEPS_WRITE_END = next(m for m in mutants() if m.id == "pipe/child-keeps-write-end")


@pytest.fixture(scope="module")
def keeps_write_end(tmp_path_factory) -> Path:
    return KEEPS_WRITE_END.materialize(tmp_path_factory.mktemp("timeline"))


@pytest.fixture(scope="module")
def graded(keeps_write_end):
    rec, proc = grade(keeps_write_end, "--ipc-spec", "pipe.eof-on-close", "--ipc-spec", "pipe.duplex-two-pipes", "-p", "no:xdist")
    return rec


def _spec(rec, spec_id):
    return next(s for s in rec.specs if s.id == spec_id)


def test_a_failing_spec_shows_the_child_asleep_on_the_pipe_it_holds(graded):
    """The classic first mistake, as the kernel showed it: the parent waits for its child, and
    the child sleeps in read on the pipe whose write end it never closed."""
    spec = _spec(graded, "pipe.eof-on-close")
    assert spec.status == "failed"
    lanes = spec.timeline["lanes"]
    parent = next(lane for lane in lanes if lane["label"] == "your `pipe relay`")
    child = next(lane for lane in lanes if lane["parent"] == parent["pid"])
    assert child["label"] == "a child of your `pipe relay`"
    assert any(doing == "wait4" for _, _, doing in parent["segments"])
    reads = [doing for _, _, doing in child["segments"] if doing.startswith("read fd ")]
    assert reads and reads[-1].endswith(")") and "pipe:[" in reads[-1], child["segments"]
    kinds = [e["kind"] for e in spec.timeline["events"]]
    assert kinds[:2] == ["start", "stdin"] and "fork" in kinds and "eof" in kinds
    assert kinds.index("eof") < kinds.index("verdict")
    verdict = next(e for e in spec.timeline["events"] if e["kind"] == "verdict")
    assert verdict["status"] == "failed" and verdict["t"] <= spec.timeline["end"]
    for _, _, doing in parent["segments"] + child["segments"]:
        assert "(the grader" not in doing or doing.startswith(("read fd 0 (its stdin", "write fd 1 (its stdout"))
    # at the verdict: what the child holds, and the finding drawn on its lane
    read_pipe = reads[-1][reads[-1].index("(") + 1 : -1]
    assert {"fd": 4, "target": read_pipe, "end": "write"} in child["holds"], child["holds"]
    words, finding = timeline.holdings(child)
    assert finding == "it holds the write end (fd 4) of the pipe it reads, so its read never sees end of file"
    assert finding in timeline.svg(spec.timeline, spec.status)
    printed = [e for e in spec.timeline["events"] if e["kind"] == "output" and e["pid"] == parent["pid"]]
    assert printed and printed[0]["stream"] == "stdout" and printed[0]["preview"] == "before close\\n"  # as capture.readable shows it


def test_every_spec_has_a_small_timeline_passing_or_not(graded):
    for spec in graded.specs:
        assert spec.timeline and spec.timeline["lanes"], spec.id
        assert len(json.dumps(spec.timeline)) < 20_000, spec.id
    passed = _spec(graded, "pipe.duplex-two-pipes")
    assert passed.status == "passed"
    assert next(e for e in passed.timeline["events"] if e["kind"] == "verdict")["status"] == "passed"


def test_the_picture_is_valid_svg_with_a_lane_per_process(graded):
    spec = _spec(graded, "pipe.eof-on-close")
    picture = timeline.svg(spec.timeline, spec.status)
    root = ET.fromstring(picture)
    texts = " ".join("".join(t.itertext()) for t in root.iter("{http://www.w3.org/2000/svg}text"))
    assert "the grader" in texts and "your `pipe relay`" in texts and "a child of" in texts
    titles = [t.text for t in root.iter("{http://www.w3.org/2000/svg}title")]
    assert any(t and t.startswith("read fd 3 (pipe:[") for t in titles), titles
    html = render_html.render(graded)
    assert "What happened, in time" in html and "<svg" in html and "Try it by hand" in html
    import dataclasses
    import re

    twice = dataclasses.replace(graded, specs=[spec, dataclasses.replace(spec, id="pipe.reaps-child", nodeid="x")])
    ids = re.findall(r'id="([^"]+)"', render_html.render(twice))
    assert sum(i.startswith("arrow") for i in ids) == 2 and len(ids) == len(set(ids)), ids
    md = render_markdown.render(graded)
    assert "**What happened, in time:**" in md and "a child of your `pipe relay`" in md


def test_the_text_says_who_slept_where_in_a_few_lines(graded):
    lines = timeline.text(_spec(graded, "pipe.eof-on-close").timeline, lines=4)
    assert len(lines) <= 5
    assert any(line.startswith("a child of your `pipe relay`") and "read fd 3 (pipe:[" in line and "still there at the end" in line for line in lines)
    assert lines[-1].startswith("at ") and "the spec ended: failed" in lines[-1]


def test_a_child_left_a_zombie_is_drawn_as_one(tmp_path):
    """The missing wait: the relay exits, its child stays a zombie under the grader, and the
    picture says so on the child's lane."""
    impl = next(m for m in mutants() if m.id == "pipe/parent-leaves-zombie").materialize(tmp_path)
    rec, _ = grade(impl, "--ipc-spec", "pipe.reaps-child", "-p", "no:xdist")
    spec = _spec(rec, "pipe.reaps-child")
    assert spec.status == "failed"
    (zombie,) = [lane for lane in spec.timeline["lanes"] if lane["segments"] and lane["segments"][-1][2] == "zombie" and not lane["exit"]]
    assert zombie["label"].startswith(("a child of your `pipe relay`", "a process of your `pipe relay`, orphaned")), zombie
    assert timeline.holdings(zombie)[1].startswith("a zombie at the end: it had ended, and nobody waited for it")
    assert "a zombie at the end" in timeline.svg(spec.timeline, spec.status)


def test_ipc_objects_a_process_used_are_in_the_timeline():
    """A System V queue the spec's process sent to is its object; one it never touched, of
    another uid's, is not."""
    import os

    import sysv_ipc

    queue = sysv_ipc.MessageQueue(None, sysv_ipc.IPC_CREX)
    try:
        assert not any(k.startswith(f"msg {queue.key} ") for k in recorder._objects({os.getpid()}, set()))
        queue.send(b"x")
        found = recorder._objects({os.getpid()}, set())
        key = f"msg {queue.key} {queue.id}"
        assert key in found and found[key][0] == os.getpid() and "System V message queue" in found[key][1]
        assert key not in recorder._objects({os.getpid() + 10**6}, set())
    finally:
        queue.remove()


def test_what_a_program_prints_is_drawn_as_text_never_as_markup():
    hostile = '</text><script>alert(1)</script>\x1b[2J'
    tl = {
        "end": 1.0,
        "dropped": 0,
        "lanes": [{"pid": 7, "label": hostile, "parent": None, "since": 0, "segments": [[0.0, 0.9, "read fd 3 " + hostile]], "exit": [0.9, hostile]}],
        "events": [
            {"t": 0.0, "kind": "start", "pid": 7, "text": hostile, "argv": ["python3", hostile]},
            {"t": 0.5, "kind": "stdin", "pid": 7, "text": hostile, "size": 3, "preview": "a'b"},
            {"t": 1.0, "kind": "verdict", "pid": None, "text": hostile, "status": "failed"},
        ],
    }
    picture = timeline.svg(tl, "failed")
    ET.fromstring(picture)  # well formed: nothing the program chose closed an element
    assert "<script" not in picture and "\x1b" not in picture
    assert all("\x1b" not in line for line in timeline.text(tl) + timeline.replay(tl))


@pytest.mark.parametrize("data", [b"before close\n", b"it's 100% \\ done\n\ttab", "한국어\n".encode(), b""])
def test_a_replayed_pipeline_feeds_the_same_bytes(data):
    """The command a student copies gives their program exactly what the grader gave it."""
    tl = {
        "end": 1.0,
        "lanes": [{"pid": 9, "label": "your `pipe relay`", "segments": [], "exit": [1.0, "exited 0"]}],
        "events": [
            {"t": 0.0, "kind": "start", "pid": 9, "argv": ["/var/cache/ipc-grade/venv/bin/python3", "pipe.py", "relay"]},
            {"t": 0.1, "kind": "stdin", "pid": 9, "size": len(data), "preview": data.decode("utf-8", "backslashreplace")},
            {"t": 0.2, "kind": "eof", "pid": 9},
        ],
    }
    (step,) = timeline.replay(tl)
    command = step.split(": ", 1)[1]
    assert command.endswith("| python3 pipe.py relay") or (not data and command == "python3 pipe.py relay < /dev/null")
    if data:
        feeder = command.rsplit(" | ", 1)[0]
        assert subprocess.run(["sh", "-c", feeder], capture_output=True, check=True).stdout == data


def test_a_timeline_stays_bounded_however_long_the_spec_runs():
    tl = recorder.Timeline()
    for i in range(recorder.MAX_EVENTS * 3):
        tl._event("stdin", 1, f"write {i}")
    for pid in range(1, recorder.MAX_LANES * 2):
        tl._lane(pid, f"p{pid}", None)
    data = tl.to_json()
    assert len(data["events"]) == recorder.MAX_EVENTS and len(data["lanes"]) == recorder.MAX_LANES
    assert data["events"][0]["text"] == "write 0" and data["events"][-1]["text"] == f"write {recorder.MAX_EVENTS * 3 - 1}"
    assert data["dropped"] > 0


def test_replay_runs_one_spec_as_it_happens_then_says_how_by_hand(keeps_write_end):
    done = subprocess.run(
        [sys.executable, "-m", "grading.cli", "replay", "pipe.eof-on-close", str(keeps_write_end)],
        capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    out = done.stdout
    assert "--- pipe.eof-on-close" in out and "started your `pipe relay`" in out
    assert "a child of your `pipe relay`" in out and "read fd 3 (pipe:[" in out
    assert out.index("started your") < out.index("the spec ended: failed") < out.index("Try it by hand")
    assert "printf 'before close\\n' | python3 pipe.py relay" in out
    korean = subprocess.run(
        [sys.executable, "-m", "grading.cli", "replay", "pipe.eof-on-close", str(keeps_write_end), "--lang", "ko"],
        capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
    ).stdout
    by_hand = korean[korean.index("직접 해 보기(구현 디렉터리에서"):]  # the steps too, in the report's language
    assert "printf 'before close\\n' | python3 pipe.py relay" in by_hand and "여러분의 `pipe relay`를 실행합니다" in by_hand and "run your" not in by_hand
    unknown = subprocess.run([sys.executable, "-m", "grading.cli", "replay", "pipe.eof-on-clos", "--impl", str(keeps_write_end)], capture_output=True, text=True, timeout=300)
    assert unknown.returncode == 2 and "did you mean pipe.eof-on-close" in unknown.stderr


def test_binary_output_never_puts_a_raw_control_byte_in_any_report():
    """A program that prints noise: its bytes reach the timeline's labels and the transcripts,
    escaped, in every format and in the record itself."""
    import re

    from conformance import record as run_record
    from grading import render

    rec, _ = grade(Path(__file__).parent / "fixtures" / "garbage", "--ipc-spec", "pipe.relay-roundtrip", "--ipc-spec", "pipe.eof-on-close", "-p", "no:xdist")
    assert any(e["kind"] == "output" for s in rec.specs for e in s.timeline["events"])
    control = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
    texts = {name: fmt.render(rec, False) for name, fmt in render.FORMATS.items()}
    texts["record"] = run_record.dumps(rec)
    for name, text in texts.items():
        assert not control.search(text), (name, control.search(text))


#: A program that forks: the child waits for SIGUSR1 (no write), writes its words and waits for
#: end of file on stdin; the parent says it is ready, reads a line, writes to a file
#: (argument 1) or not, signals the child, and waits for it.
FORKS = """
import os, signal, sys
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
pid = os.fork()
if pid == 0:
    signal.sigwait({signal.SIGUSR1})
    os.write(1, b"from the child\\n")
    while os.read(0, 100):
        pass
    os._exit(0)
os.write(1, b"ready\\n")
sys.stdin.readline()
if sys.argv[1] == "1":
    with open(os.devnull, "wb") as null:
        null.write(b"x" * 100)
os.kill(pid, signal.SIGUSR1)
os.waitpid(pid, 0)
"""


class _Program:
    """What Timeline.output needs of a program the supervisor started."""

    def __init__(self, popen):
        import os

        self.pid, self.label = popen.pid, "your `forks`"
        self.harness_pipe_of = {"stdout": os.fstat(popen.stdout.fileno()).st_ino}


@pytest.mark.parametrize("parent_writes", [False, True])
def test_output_is_drawn_on_the_lane_of_the_process_that_wrote_it(parent_writes):
    """A child writing to the stdout it inherited, while its parent waits, is the writer
    (/proc/PID/io: only it wrote); when the parent wrote too (to a file), the output stays the
    parent's: the kernel does not say which wrote what, and the timeline does not guess."""
    popen = subprocess.Popen([sys.executable, "-c", FORKS, "1" if parent_writes else "0"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        program = _Program(popen)
        tl = recorder.Timeline()
        with tl._lock:
            tl._roots.append(program)
            tl._lane(program.pid, program.label, None)
        ready = popen.stdout.readline()
        tl.output(program, "stdout", ready)  # the parent's
        tl.t0 -= 1.0  # a second later on the timeline's clock: not one burst with the next output
        popen.stdin.write(b"go\n")
        popen.stdin.flush()
        line = popen.stdout.readline()
        assert (ready, line) == (b"ready\n", b"from the child\n")
        tl.output(program, "stdout", line)
        first, event = [e for e in tl.events if e["kind"] == "output"]
        assert first["pid"] == program.pid and first["text"].startswith("your `forks` wrote 6 bytes to its stdout")
        if parent_writes:
            assert event["pid"] == program.pid and event["text"].startswith("your `forks` wrote 15 bytes to its stdout"), event
        else:
            assert event["pid"] != program.pid and tl.lanes[event["pid"]]["label"] == "a child of your `forks`", (event, tl.lanes)
            assert event["text"].startswith(f"a child of your `forks` (pid {event['pid']}) wrote 15 bytes to your `forks`'s stdout"), event
    finally:
        popen.stdin.close()
        popen.wait(10)
        popen.stdout.close()


WORDS = ("label_words", "words", "exit_words", "why", "why_words", "grader_words", "names")


def _without_words(value):
    """VALUE (a timeline) as a record made before the timeline kept its words."""
    if isinstance(value, dict):
        return {k: _without_words(v) for k, v in value.items() if k not in WORDS}
    if isinstance(value, list):
        return [_without_words(v) for v in value]
    return value


def test_the_record_keeps_the_timelines_words_beside_its_english(graded):
    """Every text the timeline composes is kept as its English and as its words (template and
    values, docs/run-record.md), the one saying exactly the other; the verdict's why is the
    failure's observed sentence."""
    from grading.render import i18n

    spec = _spec(graded, "pipe.eof-on-close")
    for lane in spec.timeline["lanes"]:
        assert i18n._english(lane["label_words"]) == lane["label"], lane
        if lane.get("exit"):
            assert i18n._english(lane["exit_words"]) == lane["exit"][1], lane
        for hold in lane.get("holds") or []:
            assert "grader" not in hold or i18n._english(hold["grader_words"]) == hold["grader"], hold
    for event in spec.timeline["events"]:
        assert i18n._english(event["words"]) == event["text"], event
    verdict = next(e for e in spec.timeline["events"] if e["kind"] == "verdict")
    assert verdict["why"] == spec.failure.observed and verdict["why_words"] == spec.failure.words["observed"]
    assert {i18n._english(words) for words in spec.timeline["names"].values()} == set(spec.timeline["names"])
    assert "its stdin, from the grader" in spec.timeline["names"]
    json.dumps(spec.timeline)  # plain data


ENGLISH = ("the grader", "the spec", "still there", "too short", "a child of", "your `", "running", "asleep", "stopped", "zombie",
           "wrote", "bytes", "started", "closed", "forked", "holds", "write end", "read end", " at ", " to ", "run ", "give ",
           "end the input", "another terminal", "times)", "what each process", "decide", "end of file")


def _visible(picture: str) -> list[str]:
    """Every text of PICTURE a student reads: its labels, its tooltips, its aria-label."""
    root = ET.fromstring(picture)
    return [root.get("aria-label")] + [el.text for el in root.iter() if el.text and el.text.strip()] + [
        el.tail for el in root.iter() if el.tail and el.tail.strip()]


def test_a_korean_report_says_the_timeline_in_korean(graded):
    """In a Korean report the timeline's lanes, stretches, findings, events, verdict, the
    picture's own words and the steps by hand are Korean; calls, fds, pipes, commands and what
    the programs printed stay as they are."""
    from grading.render import i18n

    ko = i18n.translator("ko")
    spec = _spec(graded, "pipe.eof-on-close")
    lines = timeline.text(spec.timeline, lines=6, t=ko)
    picture = timeline.svg(spec.timeline, spec.status, key=spec.id, t=ko)
    steps = timeline.replay(spec.timeline, t=ko)
    previews = {e.get("preview") for e in spec.timeline["events"]} - {None}
    shown = [*lines, *steps, *(s for s in _visible(picture) if not any(p and p[:6].replace("\\n", "↵") in s for p in previews))]
    english = [(phrase, s) for s in shown for phrase in ENGLISH if phrase in s]
    assert not english, english[:5]
    assert any(line.startswith("여러분의 `pipe relay`의 자식 프로세스 (pid ") and "read fd 3 (pipe:[" in line and "끝날 때까지 남아 있었습니다" in line
               for line in lines), lines
    observed = ko.said(spec.failure.observed, spec.failure.words["observed"])
    assert observed != spec.failure.observed and lines[-1].endswith(f"스펙이 끝났습니다: 실패: {observed}"), lines[-1]
    assert "각 프로세스가 시간 순서로 한 일" in picture and "채점기" in picture and "스펙 판정: 실패" in picture
    assert steps[0] == "여러분의 `pipe relay`를 실행합니다: printf 'before close\\n' | python3 pipe.py relay", steps


def test_a_timeline_recorded_without_words_renders_as_before(graded):
    """A record made before the timeline kept its words: English exactly as with them; in Korean,
    the picture's and the text's own words Korean, the record's texts as written."""
    from grading.render import i18n

    spec = _spec(graded, "pipe.eof-on-close")
    old = _without_words(spec.timeline)
    assert timeline.text(old) == timeline.text(spec.timeline)
    assert timeline.svg(old, spec.status) == timeline.svg(spec.timeline, spec.status)
    assert timeline.replay(old) == timeline.replay(spec.timeline)
    ko = i18n.translator("ko")
    lines = timeline.text(old, t=ko)
    assert any(line.startswith("a child of your `pipe relay` (pid ") and "끝날 때까지 남아 있었습니다" in line for line in lines), lines
    assert "채점기" in timeline.svg(old, spec.status, t=ko)


def test_a_wide_character_is_measured_and_cut_as_two_advances():
    assert timeline.width("채점기 ok", 10) == pytest.approx(9 * timeline.ADVANCE * 10)
    assert timeline._cut("채점기채점기", 5) == "채점…" and timeline._cut("abcdef", 4) == "abc…" and timeline._cut("채점", 4) == "채점"
