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


#: The pictures' font, monospace so that a text's width is its length times one advance: DejaVu
#: Sans Mono's advance is 1233/2048 of the font size (Menlo's the same, Consolas's less), which
#: ``width`` uses to place labels where they overlap nothing.
FONT = "DejaVu Sans Mono, Menlo, Consolas, monospace"
ADVANCE = 0.602
#: A text's box around its baseline, as fractions of its size: ascent above, descent below.
ASCENT, DESCENT = 0.8, 0.25
FINDING = "#c62828"
#: What the legend explains: (how it is drawn, what it means).
LEGEND = (
    ("bar", COLOURS["running"], "running"),
    ("bar", SLEEP, "asleep in a call (named on the bar)"),
    ("bar", COLOURS["stopped"], "stopped"),
    ("bar", COLOURS["zombie"], "zombie"),
    ("arrow", "#555", "the grader writes, closes or signals"),
    ("dot", EVENT_COLOURS["output"], "the process prints, forks, execs, makes an object"),
    ("cross", EVENT_COLOURS["exit"], "it ends"),
    ("dash", "#d32f2f", "the spec decides"),
    ("text", FINDING, "the finding that decides the verdict"),
)


def width(text: str, size: float) -> float:
    """How wide TEXT is drawn at SIZE in FONT (one advance a character)."""
    return len(text) * ADVANCE * size


def box(x: float, y: float, text: str, size: float) -> tuple[float, float, float, float]:
    """The box (left, top, right, bottom) of TEXT drawn from X on the baseline Y at SIZE."""
    return (x, y - ASCENT * size, x + width(text, size), y + DESCENT * size)


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


class _Picture:
    """An SVG picture built as elements (xml.etree): every text node goes through ``add``, which
    makes a program's bytes visible (clean) and leaves the escaping to the serializer, so
    nothing a program printed can close an element or open one. Every text goes through
    ``label``, which measures it and draws it only where it overlaps no text drawn before."""

    def __init__(self, attrs: dict[str, Any]) -> None:
        self.root = ET.Element("svg", {k: str(v) for k, v in attrs.items()})
        self.root.text = "\n"
        self.boxes: list[tuple[float, float, float, float]] = []

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

    def label(self, x: float, y: float, text: str, size: float, *, title: str | None = None, **attrs: Any) -> bool:
        """TEXT at X, Y (its baseline) in SIZE, if its box overlaps no label drawn before: True
        when drawn."""
        text = clean(text)
        if not text:
            return False
        x, y = round(x, 1), round(y, 1)  # measured where it is drawn: the SVG holds one decimal
        where = box(x, y, text, size)
        if any(_overlap(where, other) for other in self.boxes):
            return False
        self.boxes.append(where)
        self.add("text", {"x": f"{x:.1f}", "y": f"{y:.1f}", "font-size": size, **attrs}, text, title=title)
        return True

    def __str__(self) -> str:
        return ET.tostring(self.root, encoding="unicode")


def _fit(text: str, room: float, size: float) -> str:
    """TEXT cut (with an ellipsis) to fit ROOM pixels at SIZE."""
    return _cut(text, max(0, int(room / (ADVANCE * size))))


def svg(timeline: dict[str, Any], status: str = "", key: str = "") -> str:
    """TIMELINE as an <svg> element (a string), self-contained; KEY (the spec's id) keeps the
    ids inside it unique in a page of many pictures. The finding that decides the verdict comes
    first, in red, above everything (and its lane's last stretch is outlined in red); a legend
    closes the picture; no two labels overlap (each is measured, then placed: ``_Picture.label``)."""
    arrow = "arrow-" + re.sub(r"[^A-Za-z0-9_-]", "-", key) if key else "arrow"
    lanes = timeline.get("lanes") or []
    events = timeline.get("events") or []
    end = max([timeline.get("end") or 0.0] + [e["t"] for e in events] + [0.001])
    rows = {lane["pid"]: i + 1 for i, lane in enumerate(lanes)}  # row 0: the grader
    held = [holdings(lane) for lane in lanes]
    width_all = LABEL_W + PLOT_W + 20
    found = next(((lane, f) for lane, (_, f) in zip(lanes, held, strict=True) if f), None)
    verdict = next((e for e in events if e.get("kind") == "verdict"), None)
    top = 14 + (16 if found else 0) + (16 if verdict is not None else 0) + 8
    tops = [top, top + LANE_H]  # the grader's row, then each lane's, each as tall as what it shows
    for words, _ in held:
        tops.append(tops[-1] + LANE_H + (HOLDS_H if words else 0))
    axis = tops[-1] + 6
    legend_rows = _legend_rows(width_all - 8)
    height = axis + 20 + 18 * len(legend_rows) + 4

    def x(t: float) -> float:
        return LABEL_W + PLOT_W * (t / end)

    def y(row: int) -> float:
        return tops[row]

    def f(number: float) -> str:
        return f"{number:.1f}"

    out = _Picture({
        "xmlns": "http://www.w3.org/2000/svg", "class": "timeline", "width": width_all, "height": height,
        "viewBox": f"0 0 {width_all} {height}", "font-family": FONT, "font-size": 11, "role": "img",
        "aria-label": "what each process did, in time",
    })
    defs = out.add("defs", {})
    marker = out.add("marker", {"id": arrow, "viewBox": "0 0 10 10", "refX": 9, "refY": 5, "markerWidth": 6, "markerHeight": 6,
                                "orient": "auto-start-reverse"}, inside=defs)
    out.add("path", {"d": "M 0 0 L 10 5 L 0 10 z", "fill": "#555"}, inside=marker)
    line_y = 14
    if found:  # first: what decides the verdict, in red, a sentence of its own
        lane, finding = found
        sentence = f"\u25b6 {lane['label']} (pid {lane['pid']}): {finding}"
        out.label(4, line_y, _fit(clean(sentence), width_all - 8, 11), 11, fill=FINDING, **{"font-weight": "bold"})
        line_y += 16
    if verdict is not None:
        words = _fit(clean(f"the spec decided: {status or verdict.get('status', '')}"), width_all - 8, 11)
        out.label(min(x(verdict["t"]), width_all - 4 - width(words, 11)), line_y, words, 11, title=verdict.get("text", ""), fill="#d32f2f")
    out.label(4, y(0) + 16, "the grader", 11, **{"font-weight": "bold"})
    out.add("line", {"x1": LABEL_W, "y1": y(0) + 12, "x2": LABEL_W + PLOT_W, "y2": y(0) + 12, "stroke": "#bbb"})
    for lane in lanes:
        row = rows[lane["pid"]]
        name = clean(f"{lane['label']} (pid {lane['pid']})")
        out.label(4, y(row) + 16, _fit(name, LABEL_W - 10, 11), 11, title=name)
        out.add("line", {"x1": LABEL_W, "y1": y(row) + 12, "x2": LABEL_W + PLOT_W, "y2": y(row) + 12, "stroke": "#eee"})
        words, finding = held[row - 1]
        segments = lane.get("segments") or []
        for i, (start, stop, doing) in enumerate(segments):
            w = max(x(stop) - x(start), 1.5)
            outlined = {"stroke": FINDING, "stroke-width": 2} if finding and i == len(segments) - 1 else {}
            out.add("rect", {"x": f(x(start)), "y": y(row) + 4, "width": f(w), "height": 16, "fill": _colour(doing), **outlined},
                    title=f"{clean(doing)}: {start:.3f} s to {stop:.3f} s")
        if lane.get("exit"):
            t, how = lane["exit"]
            out.label(x(t) - 4, y(row) + 17, "\u2715", 11, title=f"{how} at {t:.3f} s", fill="#5d4037", **{"font-weight": "bold"})
        for start, stop, doing in segments:
            w = x(stop) - x(start)
            if w > 40:
                out.label(x(start) + 3, y(row) + 16, _fit(clean(doing), w - 6, 10), 10, fill="#fff")
        if words:
            shown = clean(finding or words)
            shown = shown if finding else "at the end " + shown
            attrs = {"fill": FINDING, "font-weight": "bold"} if finding else {"fill": "#555"}
            out.label(LABEL_W, y(row) + LANE_H + 6, _fit(shown, PLOT_W + 16, 10), 10, title=words, **attrs)

    def event_label(row: int, at: float, words: str, colour: str) -> None:
        words = _cut(clean(_oneline(words)).replace("\t", " "), 28)  # a program's bytes: made visible
        out.label(at + 3, y(row) + 9 if row == 0 else y(row) + 2, _fit(words, LABEL_W + PLOT_W + 16 - at, 9), 9, fill=colour)

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
            event_label(0, x(e["t"]), short, colour)
        else:  # an object no lane is known to have used goes on the grader's line
            row = rows.get(e["pid"], 0)
            out.add("circle", {"cx": f(x(e["t"])), "cy": y(row) + 12, "r": 3, "fill": colour}, title=tip)
            if kind == "output":
                event_label(row, x(e["t"]), f"{'2' if e.get('stream') == 'stderr' else ''}> {_oneline(e.get('preview', ''))}", colour)
            elif kind == "exec":
                event_label(row, x(e["t"]), f"exec {e.get('comm', '')}", colour)
            elif kind == "object":
                event_label(row, x(e["t"]), str(e.get("object", "")).rsplit("/", 1)[-1], colour)
    if verdict is not None:
        vx = x(verdict["t"])
        out.add("line", {"x1": f(vx), "y1": top - 6, "x2": f(vx), "y2": axis - 4, "stroke": "#d32f2f", "stroke-dasharray": "4 3"})
    out.label(LABEL_W, axis + 10, "0 s", 10, fill="#777")
    stamp = f"{end:.2f} s"
    out.label(LABEL_W + PLOT_W - width(stamp, 10), axis + 10, stamp, 10, fill="#777")
    _legend(out, legend_rows, axis + 30)
    return str(out)


def _legend_rows(room: float) -> list[list[tuple[str, str, str]]]:
    """LEGEND's items in rows that fit ROOM pixels (each: a 14 px mark, its words, a gap)."""
    rows: list[list[tuple[str, str, str]]] = [[]]
    used = 0.0
    for item in LEGEND:
        need = 18 + width(item[2], 10) + 14
        if rows[-1] and used + need > room:
            rows.append([])
            used = 0.0
        rows[-1].append(item)
        used += need
    return rows


def _legend(out: _Picture, rows: list[list[tuple[str, str, str]]], y0: float) -> None:
    for r, items in enumerate(rows):
        y, at = y0 + 18 * r, 4.0
        for how, colour, words in items:
            if how == "bar":
                out.add("rect", {"x": f"{at:.1f}", "y": f"{y - 9:.1f}", "width": 14, "height": 10, "fill": colour})
            elif how == "arrow":
                out.add("line", {"x1": f"{at:.1f}", "y1": f"{y - 4:.1f}", "x2": f"{at + 14:.1f}", "y2": f"{y - 4:.1f}", "stroke": colour, "stroke-width": 1.5})
            elif how == "dot":
                out.add("circle", {"cx": f"{at + 7:.1f}", "cy": f"{y - 4:.1f}", "r": 3, "fill": colour})
            elif how == "cross":
                out.label(at + 3, y, "\u2715", 10, fill=colour)
            elif how == "dash":
                out.add("line", {"x1": f"{at + 7:.1f}", "y1": f"{y - 10:.1f}", "x2": f"{at + 7:.1f}", "y2": f"{y + 1:.1f}", "stroke": colour, "stroke-dasharray": "3 2"})
            else:
                out.add("rect", {"x": f"{at:.1f}", "y": f"{y - 9:.1f}", "width": 14, "height": 10, "fill": "none", "stroke": colour, "stroke-width": 2})
            out.label(at + 18, y, words, 10, fill=colour if how == "text" else "#333")
            at += 18 + width(words, 10) + 14


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
