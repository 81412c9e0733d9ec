"""A spec's timeline (conformance/run/timeline.py, in the run record) as a picture, as text, as steps.

- ``svg``: inline SVG for the HTML report, readable without a script, built as elements
  (xml.etree: every text node made visible and escaped in one place, _Picture.add): one lane per process
  (its role and pid), bars for each stretch of running and of sleeping (named by the call and
  the object: `read pipe:[5]`), the grader's own lane with what it wrote, closed and sent, arrows
  from it to the lane it acted on, a cross where a process ended, dots where it forked, exec'd
  or an IPC object of its appeared, and a line where the spec decided, with its verdict. Under
  a lane still there at the verdict, what it holds open; in red, the write end of the very pipe
  it sleeps reading. A student sees the child asleep in read, holding the write end, while the
  parent has gone.
- ``text``: the same in a few lines, for the terminal and Markdown reports.
- ``replay``: the steps to do by hand, in two terminals: the commands, what to type or pipe in,
  the signals to send, in order.
"""

from __future__ import annotations

import re
import shlex
import xml.etree.ElementTree as ET
from typing import Any

from .present import clean

LANE_H = 26
LABEL_W = 250
PLOT_W = 620
TOP = 24
#: Colours by what a process does: sleeping calls share one, with the call's name on the bar.
COLOURS = {"running": "#4caf50", "stopped": "#9e9e9e", "zombie": "#795548", "asleep": "#90caf9"}
SLEEP = "#64b5f6"
EVENT_COLOURS = {
    "start": "#2e7d32", "stdin": "#1565c0", "eof": "#6a1b9a", "signal": "#c62828", "exit": "#5d4037",
    "fork": "#2e7d32", "exec": "#f9a825", "object": "#00838f", "output": "#37474f", "orphan": "#795548",
}
HOLDS_H = 14
"""The extra height of a lane with a line of what it holds."""


def holdings(lane: dict[str, Any]) -> tuple[str, str | None]:
    """What LANE held open at the verdict, in words, and the finding that explains a hang when
    there is one: it sleeps reading a pipe whose write end it holds itself."""
    held = [h for h in lane.get("holds") or [] if not h.get("grader")]  # its own stdio: not news
    last = (lane.get("segments") or [[0, 0, ""]])[-1][2]
    finding = None
    if last == "zombie" and not lane.get("exit"):
        finding = "a zombie at the end: it had ended, and nobody waited for it" + (" (its parent ended without waitpid)" if lane.get("orphan_of") else "")
    for h in held:
        if h["end"] == "write" and h["target"].startswith("pipe:") and last.startswith("read") and f"({h['target']})" in last:
            finding = f"it holds the write end (fd {h['fd']}) of the pipe it reads, so its read never sees end of file"
    parts = [f"fd {h['fd']} {h['end']} end of {h['target']}" if h["end"] != "read-write" else f"fd {h['fd']} {h['target']}" for h in held]
    return ("holds " + ", ".join(parts)) if parts else (finding or ""), finding


def _colour(doing: str) -> str:
    return COLOURS.get(doing, SLEEP)


class _Picture:
    """An SVG picture built as elements (xml.etree): every text node goes through ``add``, which
    makes a program's bytes visible (clean) and leaves the escaping to the serializer, so
    nothing a program printed can close an element or open one."""

    def __init__(self, attrs: dict[str, Any]) -> None:
        self.root = ET.Element("svg", {k: str(v) for k, v in attrs.items()})
        self.root.text = "\n"

    def add(self, tag: str, attrs: dict[str, Any], text: str | None = None, *, title: str | None = None,
            inside: ET.Element | None = None) -> ET.Element:
        """A TAG element with ATTRS (in order), and TEXT; with TITLE, a <title> (the tooltip)
        first, TEXT after it. Each element of the picture itself goes on a line of its own."""
        element = ET.SubElement(self.root if inside is None else inside, tag, {k: str(v) for k, v in attrs.items()})
        if title is not None:
            tip = ET.SubElement(element, "title")
            tip.text = clean(title)
            tip.tail = clean(text) if text else None
        elif text is not None:
            element.text = clean(text)
        if inside is None:
            element.tail = "\n"
        return element

    def __str__(self) -> str:
        return ET.tostring(self.root, encoding="unicode")


def svg(timeline: dict[str, Any], status: str = "", key: str = "") -> str:
    """TIMELINE as an <svg> element (a string), self-contained; KEY (the spec's id) keeps the
    ids inside it unique in a page of many pictures."""
    arrow = "arrow-" + re.sub(r"[^A-Za-z0-9_-]", "-", key) if key else "arrow"
    lanes = timeline.get("lanes") or []
    events = timeline.get("events") or []
    end = max([timeline.get("end") or 0.0] + [e["t"] for e in events] + [0.001])
    rows = {lane["pid"]: i + 1 for i, lane in enumerate(lanes)}  # row 0: the grader
    held = [holdings(lane) for lane in lanes]
    tops = [TOP]
    for words, _ in held:
        tops.append(tops[-1] + LANE_H + (HOLDS_H if words else 0))
    tops.append(tops[-1] + LANE_H)
    height = tops[-1] + 30
    width = LABEL_W + PLOT_W + 20

    def x(t: float) -> float:
        return LABEL_W + PLOT_W * (t / end)

    def y(row: int) -> float:
        return tops[row]

    def f(number: float) -> str:
        return f"{number:.1f}"

    out = _Picture({
        "xmlns": "http://www.w3.org/2000/svg", "class": "timeline", "width": width, "height": height,
        "viewBox": f"0 0 {width} {height}", "font-family": "sans-serif", "font-size": 11, "role": "img",
        "aria-label": "what each process did, in time",
    })
    defs = out.add("defs", {})
    marker = out.add("marker", {"id": arrow, "viewBox": "0 0 10 10", "refX": 9, "refY": 5, "markerWidth": 6, "markerHeight": 6,
                                "orient": "auto-start-reverse"}, inside=defs)
    out.add("path", {"d": "M 0 0 L 10 5 L 0 10 z", "fill": "#555"}, inside=marker)
    out.add("text", {"x": 4, "y": y(0) + 16, "font-weight": "bold"}, "the grader")
    out.add("line", {"x1": LABEL_W, "y1": y(0) + 12, "x2": LABEL_W + PLOT_W, "y2": y(0) + 12, "stroke": "#bbb"})
    for lane in lanes:
        row = rows[lane["pid"]]
        label = clean(f"{lane['label']} (pid {lane['pid']})")
        out.add("text", {"x": 4, "y": y(row) + 16}, _cut(label, 40), title=label)
        out.add("line", {"x1": LABEL_W, "y1": y(row) + 12, "x2": LABEL_W + PLOT_W, "y2": y(row) + 12, "stroke": "#eee"})
        for start, stop, doing in lane.get("segments") or []:
            w = max(x(stop) - x(start), 1.5)
            name = clean(doing)
            out.add("rect", {"x": f(x(start)), "y": y(row) + 4, "width": f(w), "height": 16, "fill": _colour(doing)},
                    title=f"{name}: {start:.3f} s to {stop:.3f} s")
            if w > 40:
                out.add("text", {"x": f(x(start) + 3), "y": y(row) + 16, "fill": "#fff", "font-size": 10}, _cut(name, int(w / 6)))
        if lane.get("exit"):
            t, how = lane["exit"]
            out.add("text", {"x": f(x(t) - 4), "y": y(row) + 17, "fill": "#5d4037", "font-weight": "bold"}, "✕", title=f"{how} at {t:.3f} s")
        words, finding = held[row - 1]
        if words:
            shown = clean(finding or words)
            shown = shown if finding else "at the end " + shown
            attrs = {"x": LABEL_W, "y": y(row) + LANE_H + 6, "fill": "#c62828" if finding else "#555", "font-size": 10}
            out.add("text", {**attrs, "font-weight": "bold"} if finding else attrs, _cut(shown, 110), title=words)
    labelled: dict[int, float] = {}  # row -> where its last label ends, so labels do not overlap

    def label(row: int, at: float, words: str, colour: str) -> None:
        if at < labelled.get(row, -1.0) or not words:
            return
        words = _cut(clean(_oneline(words)).replace("\t", " "), 28)  # a program's bytes: made visible
        labelled[row] = at + 6 * len(words) + 8
        out.add("text", {"x": f(at + 3), "y": y(row) + 9 if row == 0 else y(row) + 2, "fill": colour, "font-size": 9}, words)

    for e in events:
        kind = e.get("kind")
        if kind not in EVENT_COLOURS or (e.get("pid") not in rows and kind != "object") or (kind == "stdin" and not e.get("size")):
            continue
        colour = EVENT_COLOURS[kind]
        tip = f"{e.get('text', '')} ({e['t']:.3f} s)"
        if kind in ("stdin", "eof", "signal"):  # the grader acts on a process: an arrow
            out.add("line", {"x1": f(x(e["t"])), "y1": y(0) + 14, "x2": f(x(e["t"])), "y2": y(rows[e["pid"]]) + 3, "stroke": colour,
                             "stroke-width": 1.5, "marker-end": f"url(#{arrow})"}, title=tip)
            short = {"stdin": f"{e.get('size')} B {_oneline(e.get('preview', ''))}", "eof": "EOF", "signal": str(e.get("signal", ""))}[kind]
            label(0, x(e["t"]), short, colour)
        else:  # an object no lane is known to have used goes on the grader's line
            row = rows.get(e["pid"], 0)
            out.add("circle", {"cx": f(x(e["t"])), "cy": y(row) + 12, "r": 3, "fill": colour}, title=tip)
            if kind == "output":
                label(row, x(e["t"]), f"{'2' if e.get('stream') == 'stderr' else ''}> {_oneline(e.get('preview', ''))}", colour)
            elif kind == "exec":
                label(row, x(e["t"]), f"exec {e.get('comm', '')}", colour)
            elif kind == "object":
                label(row, x(e["t"]), str(e.get("object", "")).rsplit("/", 1)[-1], colour)
    verdict = next((e for e in events if e.get("kind") == "verdict"), None)
    if verdict is not None:
        vx = x(verdict["t"])
        out.add("line", {"x1": f(vx), "y1": TOP - 6, "x2": f(vx), "y2": height - 24, "stroke": "#d32f2f", "stroke-dasharray": "4 3"})
        out.add("text", {"x": f(min(vx, LABEL_W + PLOT_W - 150)), "y": TOP - 10, "fill": "#d32f2f"},
                f"the spec decided: {status or verdict.get('status', '')}", title=verdict.get("text", ""))
    out.add("text", {"x": LABEL_W, "y": height - 8, "fill": "#777"}, "0 s")
    out.add("text", {"x": LABEL_W + PLOT_W - 40, "y": height - 8, "fill": "#777"}, f"{end:.2f} s")
    return str(out)


def text(timeline: dict[str, Any], lines: int = 8) -> list[str]:
    """A few lines: each process's stretches (the long ones), then the grader's last acts."""
    out = []
    for lane in (timeline.get("lanes") or [])[:lines]:
        parts = []
        for start, stop, doing in lane.get("segments") or []:
            parts.append(f"{'ran' if doing == 'running' else doing} {start:.2f}-{stop:.2f} s")
        tail = f"; {lane['exit'][1]} at {lane['exit'][0]:.2f} s" if lane.get("exit") else "; still there at the end"
        words, finding = holdings(lane)
        if finding:
            tail += f": {finding}"
        elif words:
            tail += f", {words}"
        out.append(clean(f"{lane['label']} (pid {lane['pid']}): " + (", ".join(parts[-4:]) or "too short to be seen") + tail))
    verdict = next((e for e in timeline.get("events") or [] if e.get("kind") == "verdict"), None)
    if verdict is not None:
        out.append(clean(f"at {verdict['t']:.2f} s {verdict['text']}"))
    return out


def replay(timeline: dict[str, Any], python: str = "") -> list[str]:
    """What the grader did, as steps a student can do by hand: each program started with what
    it was given on stdin (one pipeline when that is all: ``printf 'a\\n' | python3 pipe.py
    relay``), the signals to send from a second terminal, and, when processes were still there
    at the end, how to see where each one sleeps and what it holds."""
    lanes = timeline.get("lanes") or []
    labels = {lane["pid"]: lane["label"] for lane in lanes}
    events = [e for e in timeline.get("events") or [] if not (e.get("kind") == "stdin" and not e.get("size"))]
    acts = ("stdin", "eof", "signal")
    piped: set = set()  # programs given all their input at once and nothing else: one pipeline
    for e in events:
        if e.get("kind") == "start":
            mine = [f for f in events if f.get("pid") == e.get("pid") and f.get("kind") in acts]
            if mine and all(f["kind"] != "signal" for f in mine) and mine[-1]["kind"] == "eof":
                piped.add(e.get("pid"))
    steps: list[str] = []
    for e in events:
        kind, pid = e.get("kind"), e.get("pid")
        who = labels.get(pid, f"pid {pid}")
        if kind == "start":
            command = shlex.join([_python(a, python) if n == 0 else a for n, a in enumerate(e.get("argv") or [])])
            fed = [f for f in events if f.get("pid") == pid and f.get("kind") == "stdin"]
            if pid in piped:
                steps.append(f"run {who}: {_feeder(fed)} | {command}" if fed else f"run {who}: {command} < /dev/null")
            else:
                steps.append(f"start {who} in a terminal of its own: {command}")
        elif pid in piped:
            continue
        elif kind == "stdin":
            steps.append(f"give {who} on its stdin: {_shown(e)}")
        elif kind == "eof":
            steps.append(f"end the input of {who}: Ctrl-D")
        elif kind == "signal":
            sig = str(e.get("signal", "")).removeprefix("SIG")
            steps.append(f"from another terminal, send {who} SIG{sig}: kill -{sig} PID (its pid in your run: ps)")
    if any(not lane.get("exit") for lane in lanes):
        steps.append(
            "if it does not end, look from another terminal: `ps -e -o pid,ppid,stat,wchan:24,args` "
            "shows who sleeps where, `ls -l /proc/PID/fd` which pipe ends and sockets each holds"
        )
    return _runs([clean(s) for s in steps])


def _runs(steps: list[str]) -> list[str]:
    """STEPS with a step repeated at once given once: `... (3 times)`."""
    out: list[str] = []
    count = 0
    for i, step in enumerate(steps):
        count += 1
        if i + 1 < len(steps) and steps[i + 1] == step:
            continue
        out.append(step + (f" ({count} times)" if count > 1 else ""))
        count = 0
    return out


def _python(arg: str, python: str) -> str:
    return "python3" if arg == python or arg.endswith(("/bin/python3", "/bin/python")) else arg


def _feeder(fed: list[dict[str, Any]]) -> str:
    """A command that writes what the grader wrote: the bytes themselves when they are few and
    all known, else as many bytes (their content seldom matters to a hang)."""
    size = sum(int(f.get("size") or 0) for f in fed)
    pieces = [unpreview(f.get("preview", "")) for f in fed]
    data = "".join(p or "" for p in pieces)
    if None not in pieces and len(data.encode("utf-8", "surrogateescape")) == size and size <= 200:
        return "printf '" + "".join(_printf(ch) for ch in data) + "'"
    return f"head -c {size} /dev/zero"


_PREVIEW_ESCAPE = re.compile(r"\\(\\|[ntr]|x[0-9a-f]{2}|u[0-9a-f]{4}|U[0-9a-f]{8})")


def unpreview(preview: str) -> str | None:
    """The text an event's preview stands for (the record writes what crossed a pipe as
    conformance's capture.readable shows it: escapes such as \\n, \\x1b, \\\\), a byte that is not
    UTF-8 as a surrogate (surrogateescape); None when the preview left part of it out (a run
    collapsed, the middle cut)."""
    if "[... " in preview:
        return None

    def one(m: re.Match[str]) -> str:
        e = m.group(1)
        if e in ("\\", "n", "t", "r"):
            return {"\\": "\\", "n": "\n", "t": "\t", "r": "\r"}[e]
        code = int(e[1:], 16)
        return chr(0xDC00 + code) if e[0] == "x" and code >= 0x80 else chr(code)

    return _PREVIEW_ESCAPE.sub(one, preview)


def _printf(ch: str) -> str:
    if ch == "'":
        return "'\\''"
    if ch in "%\\":
        return {"%": "%%", "\\": "\\\\"}[ch]
    if ch == "\n":
        return "\\n"
    if ch.isprintable():
        return ch
    return "".join(f"\\{b:03o}" for b in ch.encode("utf-8", "surrogateescape"))


def _shown(event: dict[str, Any]) -> str:
    preview = event.get("preview", "")
    data = unpreview(preview)
    more = data is None or (event.get("size") or 0) > len(data.encode("utf-8", "surrogateescape"))
    preview = preview.replace("\n", "\\n").replace("\t", "\\t")  # a record written before previews were escaped
    return f"{event.get('size')} bytes, '{preview[:60]}'" + ("…" if more or len(preview) > 60 else "")


def _oneline(preview: str) -> str:
    """An event's PREVIEW on one line, its line ends shown as ↵ (a picture's label)."""
    preview = preview.replace("\r", "").replace("\n", "↵")  # a record written before previews were escaped
    return preview.replace("\\r", "").replace("\\n", "↵") if "\\\\" not in preview else preview


def _cut(text: str, n: int) -> str:
    return text if len(text) <= n else text[: max(n - 1, 1)] + "…"
