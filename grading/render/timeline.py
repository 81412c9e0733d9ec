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

Each says its words in the report's language (T, an i18n.Translator; English without one): its
own through the catalogue, the record's (a lane's label, an event, how a process ended, the
verdict's why) from the words the record keeps beside their English (docs/run-record.md); a
record without words is shown as written.
"""

from __future__ import annotations

import re
import shlex
import unicodedata
import xml.etree.ElementTree as ET
from typing import Any

from . import i18n
from .i18n import N_
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


def holdings(lane: dict[str, Any], t: i18n.Translator | None = None) -> tuple[str, str | None]:
    """What LANE held open at the verdict, in words, and the finding that explains a hang when
    there is one: it sleeps reading a pipe whose write end it holds itself."""
    t = t or i18n.translator("en")
    held = [h for h in lane.get("holds") or [] if not h.get("grader")]  # its own stdio: not news
    last = (lane.get("segments") or [[0, 0, ""]])[-1][2]
    finding = None
    if last == "zombie" and not lane.get("exit"):
        finding = (t._("a zombie at the end: it had ended, and nobody waited for it (its parent ended without waitpid)") if lane.get("orphan_of")
                   else t._("a zombie at the end: it had ended, and nobody waited for it"))
    for h in held:
        if h["end"] == "write" and h["target"].startswith("pipe:") and last.startswith("read") and f"({h['target']})" in last:
            finding = t._("it holds the write end (fd %(fd)s) of the pipe it reads, so its read never sees end of file", fd=h["fd"])
    parts = [t._("fd %(fd)s read end of %(target)s", fd=h["fd"], target=h["target"]) if h["end"] == "read"
             else t._("fd %(fd)s write end of %(target)s", fd=h["fd"], target=h["target"]) if h["end"] == "write"
             else f"fd {h['fd']} {h['target']}" for h in held]
    return t._("holds %(what)s", what=", ".join(parts)) if parts else (finding or ""), finding


def label(lane: dict[str, Any], t: i18n.Translator) -> str:
    """LANE's role in T's language (``your `pipe relay```, ``a child of ...``)."""
    return t.said(lane["label"], lane.get("label_words"))


def lane_name(lane: dict[str, Any], t: i18n.Translator) -> str:
    """LANE's role and pid: ``your `pipe relay` (pid 8900)``."""
    return t._("%(program)s (pid %(pid)s)", program=label(lane, t), pid=lane["pid"])


def doing_words(doing: str, timeline: dict[str, Any], t: i18n.Translator) -> str:
    """A stretch's DOING in T's language: a state's word, or a call whose object is one of the
    grader's own pipes said by what it is (``read fd 0 (its stdin, from the grader)``); a call
    and its fd stay as they are."""
    if t.language == "en":
        return doing
    states = {"running": t.pgettext("timeline", "running"), "stopped": t.pgettext("timeline", "stopped"),
              "zombie": t.pgettext("timeline", "zombie"), "asleep": t.pgettext("timeline", "asleep")}
    if doing in states:
        return states[doing]
    for name, words in (timeline.get("names") or {}).items():
        if doing.endswith(f"({name})"):
            return doing[: -len(name) - 2] + f"({t.said(name, words)})"
    return doing


def event_text(event: dict[str, Any], t: i18n.Translator) -> str:
    """EVENT's sentence in T's language; the verdict's with its status and its why."""
    if event.get("kind") == "verdict" and t.language != "en" and "status" in event:
        status = t.status_id(str(event["status"]))
        if event.get("why"):
            return t._("the spec ended: %(status)s: %(why)s", status=status, why=t.said(event["why"], event.get("why_words")))
        if not event.get("text", "").startswith(f"the spec ended: {event['status']}:"):  # a record that kept no why: as written
            return t._("the spec ended: %(status)s", status=status)
    return t.said(event.get("text", ""), event.get("words"))


def _colour(doing: str) -> str:
    return COLOURS.get(doing, SLEEP)


#: The pictures' font, monospace so that a text's width is its length times one advance: DejaVu
#: Sans Mono's advance is 1233/2048 of the font size (Menlo's the same, Consolas's less), which
#: ``width`` uses to place labels where they overlap nothing. DejaVu has no Hangul: a Korean
#: label's Hangul comes from NanumGothicCoding (Debian's fonts-nanum-coding; raster.FONTS), a
#: monospace font whose Hangul is two of its Latin advances, 1000/1000 of the size (its Latin is
#: 500/1000), which ``width`` counts as two of DejaVu's (1.204): never narrower than drawn.
FONT = "DejaVu Sans Mono, Menlo, Consolas, NanumGothicCoding, monospace"
ADVANCE = 0.602
#: A text's box around its baseline, as fractions of its size: ascent above, descent below.
ASCENT, DESCENT = 0.8, 0.25
FINDING = "#c62828"
#: What the legend explains: (how it is drawn, what it means).
LEGEND = (
    ("bar", COLOURS["running"], N_("running")),
    ("bar", SLEEP, N_("asleep in a call (named on the bar)")),
    ("bar", COLOURS["stopped"], N_("stopped")),
    ("bar", COLOURS["zombie"], N_("zombie")),
    ("arrow", "#555", N_("the grader writes, closes or signals")),
    ("dot", EVENT_COLOURS["output"], N_("the process prints, forks, execs, makes an object")),
    ("cross", EVENT_COLOURS["exit"], N_("it ends")),
    ("dash", "#d32f2f", N_("the spec decides")),
    ("text", FINDING, N_("the finding that decides the verdict")),
)


def columns(text: str) -> int:
    """How many advances TEXT takes: an East Asian wide or fullwidth character (Hangul) two."""
    return sum(2 if unicodedata.east_asian_width(c) in ("W", "F") else 1 for c in text)


def width(text: str, size: float) -> float:
    """How wide TEXT is drawn at SIZE in FONT (one advance a character, two a wide one)."""
    return columns(text) * ADVANCE * size


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


def svg(timeline: dict[str, Any], status: str = "", key: str = "", t: i18n.Translator | None = None) -> str:
    """TIMELINE as an <svg> element (a string), self-contained; KEY (the spec's id) keeps the
    ids inside it unique in a page of many pictures. The finding that decides the verdict comes
    first, in red, above everything (and its lane's last stretch is outlined in red); a legend
    closes the picture; no two labels overlap (each is measured, then placed: ``_Picture.label``).
    Its words in T's language."""
    t = t or i18n.translator("en")
    arrow = "arrow-" + re.sub(r"[^A-Za-z0-9_-]", "-", key) if key else "arrow"
    lanes = timeline.get("lanes") or []
    events = timeline.get("events") or []
    end = max([timeline.get("end") or 0.0] + [e["t"] for e in events] + [0.001])
    rows = {lane["pid"]: i + 1 for i, lane in enumerate(lanes)}  # row 0: the grader
    held = [holdings(lane, t) for lane in lanes]
    width_all = LABEL_W + PLOT_W + 20
    found = next(((lane, f) for lane, (_, f) in zip(lanes, held, strict=True) if f), None)
    verdict = next((e for e in events if e.get("kind") == "verdict"), None)
    top = 14 + (16 if found else 0) + (16 if verdict is not None else 0) + 8
    tops = [top, top + LANE_H]  # the grader's row, then each lane's, each as tall as what it shows
    for words, _ in held:
        tops.append(tops[-1] + LANE_H + (HOLDS_H if words else 0))
    axis = tops[-1] + 6
    legend_rows = _legend_rows(width_all - 8, t)
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
        "aria-label": t._("what each process did, in time"),
    })
    defs = out.add("defs", {})
    marker = out.add("marker", {"id": arrow, "viewBox": "0 0 10 10", "refX": 9, "refY": 5, "markerWidth": 6, "markerHeight": 6,
                                "orient": "auto-start-reverse"}, inside=defs)
    out.add("path", {"d": "M 0 0 L 10 5 L 0 10 z", "fill": "#555"}, inside=marker)
    line_y = 14
    if found:  # first: what decides the verdict, in red, a sentence of its own
        lane, finding = found
        sentence = f"\u25b6 {lane_name(lane, t)}: {finding}"
        out.label(4, line_y, _fit(clean(sentence), width_all - 8, 11), 11, fill=FINDING, **{"font-weight": "bold"})
        line_y += 16
    if verdict is not None:
        decided = status or verdict.get("status", "")
        words = _fit(clean(t._("the spec decided: %(status)s", status=t.status_id(decided) if t.language != "en" else decided)), width_all - 8, 11)
        out.label(min(x(verdict["t"]), width_all - 4 - width(words, 11)), line_y, words, 11, title=event_text(verdict, t), fill="#d32f2f")
    out.label(4, y(0) + 16, t._("the grader"), 11, **{"font-weight": "bold"})
    out.add("line", {"x1": LABEL_W, "y1": y(0) + 12, "x2": LABEL_W + PLOT_W, "y2": y(0) + 12, "stroke": "#bbb"})
    for lane in lanes:
        row = rows[lane["pid"]]
        name = clean(lane_name(lane, t))
        out.label(4, y(row) + 16, _fit(name, LABEL_W - 10, 11), 11, title=name)
        out.add("line", {"x1": LABEL_W, "y1": y(row) + 12, "x2": LABEL_W + PLOT_W, "y2": y(row) + 12, "stroke": "#eee"})
        words, finding = held[row - 1]
        segments = lane.get("segments") or []
        for i, (start, stop, doing) in enumerate(segments):
            w = max(x(stop) - x(start), 1.5)
            outlined = {"stroke": FINDING, "stroke-width": 2} if finding and i == len(segments) - 1 else {}
            out.add("rect", {"x": f(x(start)), "y": y(row) + 4, "width": f(w), "height": 16, "fill": _colour(doing), **outlined},
                    title=t._("%(doing)s: %(start)s s to %(stop)s s", doing=clean(doing_words(doing, timeline, t)), start=format(start, ".3f"), stop=format(stop, ".3f")))
        if lane.get("exit"):
            at, how = lane["exit"]
            out.label(x(at) - 4, y(row) + 17, "\u2715", 11, title=t._("%(how)s at %(t)s s", how=t.said(how, lane.get("exit_words")), t=format(at, ".3f")),
                      fill="#5d4037", **{"font-weight": "bold"})
        for start, stop, doing in segments:
            w = x(stop) - x(start)
            if w > 40:
                out.label(x(start) + 3, y(row) + 16, _fit(clean(doing_words(doing, timeline, t)), w - 6, 10), 10, fill="#fff")
        if words:
            shown = clean(finding or words)
            shown = shown if finding else t._("at the end %(holds)s", holds=shown)
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
        tip = t._("%(text)s (%(t)s s)", text=event_text(e, t), t=format(e["t"], ".3f"))
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
    out.label(LABEL_W, axis + 10, t._("%(seconds)s s", seconds="0"), 10, fill="#777")
    stamp = t._("%(seconds)s s", seconds=format(end, ".2f"))
    out.label(LABEL_W + PLOT_W - width(stamp, 10), axis + 10, stamp, 10, fill="#777")
    _legend(out, legend_rows, axis + 30)
    return str(out)


def _legend_rows(room: float, t: i18n.Translator) -> list[list[tuple[str, str, str]]]:
    """LEGEND's items, their words in T's language, in rows that fit ROOM pixels (each: a 14 px
    mark, its words, a gap)."""
    rows: list[list[tuple[str, str, str]]] = [[]]
    used = 0.0
    for how, colour, words in LEGEND:
        item = (how, colour, t.pgettext("timeline", words) if words in ("running", "stopped", "zombie") else t._(words))
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


def text(timeline: dict[str, Any], lines: int = 8, t: i18n.Translator | None = None) -> list[str]:
    """A few lines: each process's stretches (the long ones), then the grader's last acts; in
    T's language."""
    t = t or i18n.translator("en")
    out = []
    for lane in (timeline.get("lanes") or [])[:lines]:
        parts = []
        for start, stop, doing in lane.get("segments") or []:
            parts.append(t._("%(doing)s %(start)s-%(stop)s s", doing=t._("ran") if doing == "running" else doing_words(doing, timeline, t),
                             start=f"{start:.2f}", stop=f"{stop:.2f}"))
        tail = (t._("; %(how)s at %(t)s s", how=t.said(lane["exit"][1], lane.get("exit_words")), t=format(lane["exit"][0], ".2f")) if lane.get("exit")
                else t._("; still there at the end"))
        words, finding = holdings(lane, t)
        if finding:
            tail += f": {finding}"
        elif words:
            tail += f", {words}"
        out.append(clean(f"{lane_name(lane, t)}: " + (", ".join(parts[-4:]) or t._("too short to be seen")) + tail))
    verdict = next((e for e in timeline.get("events") or [] if e.get("kind") == "verdict"), None)
    if verdict is not None:
        out.append(clean(t._("at %(t)s s %(verdict)s", t=format(verdict["t"], ".2f"), verdict=event_text(verdict, t))))
    return out


def replay(timeline: dict[str, Any], python: str = "", t: i18n.Translator | None = None) -> list[str]:
    """What the grader did, as steps a student can do by hand: each program started with what
    it was given on stdin (one pipeline when that is all: ``printf 'a\\n' | python3 pipe.py
    relay``), the signals to send from a second terminal, and, when processes were still there
    at the end, how to see where each one sleeps and what it holds; in T's language, the
    commands as they are."""
    t = t or i18n.translator("en")
    lanes = timeline.get("lanes") or []
    labels = {lane["pid"]: label(lane, t) for lane in lanes}
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
        who = labels.get(pid) or t._("pid %(pid)s", pid=pid)
        if kind == "start":
            command = shlex.join([_python(a, python) if n == 0 else a for n, a in enumerate(e.get("argv") or [])])
            fed = [f for f in events if f.get("pid") == pid and f.get("kind") == "stdin"]
            if pid in piped:
                piped_command = f"{_feeder(fed)} | {command}" if fed else f"{command} < /dev/null"
                steps.append(t._("run %(program)s: %(command)s", program=who, command=piped_command))
            else:
                steps.append(t._("start %(program)s in a terminal of its own: %(command)s", program=who, command=command))
        elif pid in piped:
            continue
        elif kind == "stdin":
            steps.append(t._("give %(program)s on its stdin: %(data)s", program=who, data=_shown(e, t)))
        elif kind == "eof":
            steps.append(t._("end the input of %(program)s: Ctrl-D", program=who))
        elif kind == "signal":
            sig = str(e.get("signal", "")).removeprefix("SIG")
            steps.append(t._("from another terminal, send %(program)s SIG%(signal)s: kill -%(signal)s PID (its pid in your run: ps)", program=who, signal=sig))
    if any(not lane.get("exit") for lane in lanes):
        steps.append(t._(
            "if it does not end, look from another terminal: `ps -e -o pid,ppid,stat,wchan:24,args` "
            "shows who sleeps where, `ls -l /proc/PID/fd` which pipe ends and sockets each holds"
        ))
    return _runs([clean(s) for s in steps], t)


def _runs(steps: list[str], t: i18n.Translator) -> list[str]:
    """STEPS with a step repeated at once given once: `... (3 times)`."""
    out: list[str] = []
    count = 0
    for i, step in enumerate(steps):
        count += 1
        if i + 1 < len(steps) and steps[i + 1] == step:
            continue
        out.append(t.ngettext("%(step)s (%(n)d time)", "%(step)s (%(n)d times)", count, step=step) if count > 1 else step)
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


def _shown(event: dict[str, Any], t: i18n.Translator) -> str:
    preview = event.get("preview", "")
    data = unpreview(preview)
    more = data is None or (event.get("size") or 0) > len(data.encode("utf-8", "surrogateescape"))
    preview = preview.replace("\n", "\\n").replace("\t", "\\t")  # a record written before previews were escaped
    return t._("%(size)s bytes, '%(preview)s'", size=event.get("size"), preview=preview[:60]) + ("…" if more or len(preview) > 60 else "")


def _oneline(preview: str) -> str:
    """An event's PREVIEW on one line, its line ends shown as ↵ (a picture's label)."""
    preview = preview.replace("\r", "").replace("\n", "↵")  # a record written before previews were escaped
    return preview.replace("\\r", "").replace("\\n", "↵") if "\\\\" not in preview else preview


def _cut(text: str, n: int) -> str:
    """TEXT in N advances (a wide character takes two), else cut with an ellipsis."""
    if columns(text) <= n:
        return text
    room, used, kept = max(n - 1, 1), 0, ""
    for ch in text:
        used += columns(ch)
        if used > room:
            break
        kept += ch
    return kept + "…"
