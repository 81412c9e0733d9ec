"""Gradescope's results.json (its autograder specification, "Output format").

Top level: ``score`` (the run's total), ``execution_time`` (seconds, a time field), ``output``
(the summary, or why the run could not grade), ``visibility``, ``stdout_visibility``, ``tests``.
Each test: ``name`` (spec id and behaviour), ``number``, ``score``, ``max_score``, ``status``
(``passed``/``failed``), ``visibility`` (the rubric's, Gradescope's own values), ``tags`` and
``output`` (what was done, expected and observed, the hint, the transcript).

A failing spec with a timeline shows its picture too: its output is then HTML
(``output_format: "html"``): the same text, escaped, in a ``<pre>``, and the picture as a PNG
data URL in an ``<img>``, the one kind of picture Gradescope's sanitizer keeps (raster.py). The
pictures of a run share IMAGES_LIMIT characters; a spec whose picture finds no room, or a
machine that cannot draw one, keeps the text and says where the picture is.

Gradescope enforces visibility itself: a hidden test is never shown to students, and students
do not see the total while any test is hidden. So each test carries its details and its
visibility, and the top-level output names no hidden spec. The run's stdout (the terminal
report) stays hidden from students (``stdout_visibility``).

With the rubric's late policy or submission limit applied (late.py), the top-level ``score`` is
the final one, which overrides the sum of the tests' scores, and the output says why first.

The Gradescope kit's run_autograder renders it after grading, with the late policy applied
from Gradescope's metadata (``python -m grading.kits.gradescope``, kits/gradescope.py).
"""

from __future__ import annotations

import base64
import html
import json
from typing import Any

from conformance.record import RunRecord, SpecResult

from .. import late as late_mod
from . import i18n
from .inert import json_data, visible_record
from .present import View, clean, failure, one_sentence, plain, points, truncate

#: Characters of one test's output (Gradescope shows it in a collapsed <pre>).
OUTPUT_LIMIT = 20_000
#: Characters of all the run's pictures together (PNG data URLs, 15 to 40 KB each): a failing
#: grade's results.json stays well under a megabyte.
IMAGES_LIMIT = 600_000
#: A picture is not drawn once less room than the smallest one takes is left.
MIN_IMAGE = 8_000
NO_ROOM = i18n.N_("(This spec's timeline picture is left out: results.json has room for no more. The HTML report has it.)")


def render(record: RunRecord, show_hidden: bool = False) -> str:
    """results.json for RECORD. SHOW_HIDDEN is ignored: Gradescope applies visibility."""
    return json.dumps(json_data(document(record)), indent=2, ensure_ascii=False) + "\n"


def document(record: RunRecord) -> dict[str, Any]:
    record = i18n.localized(visible_record(record))
    t = i18n.of(record)
    tests = []
    numbers: dict[str, int] = {}
    mechanisms: list[str] = []
    budget = [IMAGES_LIMIT]
    for s in record.specs:
        if s.mechanism not in mechanisms:
            mechanisms.append(s.mechanism)
        numbers[s.mechanism] = numbers.get(s.mechanism, 0) + 1
        tests.append(_test(s, f"{mechanisms.index(s.mechanism) + 1}.{numbers[s.mechanism]}", record.error is not None, budget, t))
    out: dict[str, Any] = {
        "score": late_mod.final_score(record),
        "execution_time": int(round(float(record.meta.get("duration_s") or 0))),
        "output": _summary(record),
        "output_format": "text",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
    }
    return out


def _summary(record: RunRecord) -> str:
    view = View(record, show_hidden=False)  # the top-level output is always shown to students
    t = view.t
    lines = []
    build = view.build_failure()
    if build:
        lines += [build[0], "", truncate(build[1], OUTPUT_LIMIT), ""]
    if record.error:
        lines.append(t._("This submission could not be graded: %(reason)s Score: 0.", reason=clean(one_sentence(record.error))))
        lines.append("")
        lines.append(truncate(clean(record.error), OUTPUT_LIMIT))
    else:
        for group in view.groups():
            if not group.specs:
                lines.append(f"{group.mechanism}: {t.ngettext('%(n)d hidden spec', '%(n)d hidden specs', group.hidden)}")
                continue
            more = " (+" + t._("%(n)d hidden", n=group.hidden) + ")" if group.hidden else ""
            lines.append(f"{group.mechanism}: {points(group.got)}/{points(group.out_of)}{more}")
        if view.hidden:
            lines.append(view.hidden_note())
    rescaled = (record.meta.get("rubric") or {}).get("rescaled")
    if rescaled:
        lines[:0] = [clean(t._("Points: %(note)s.", note=t.sentence(rescaled))), ""]
    if view.regrade():  # instructors see it first; a student sees that a regrade is due, no hidden spec named
        lines[:0] = [view.regrade(), ""]
    note = (record.meta.get("late") or {}).get("note")
    if note:
        lines[:0] = [clean(t.sentence(note)), ""]
    stopped = view.stopped() + view.copies()
    if stopped:
        lines[:0] = [*stopped, ""]
    rubric = record.meta.get("rubric") or {}
    if rubric.get("title"):
        lines.insert(0, t._("Rubric: %(title)s", title=clean(rubric["title"])))
    return "\n".join(lines)


def _test(s: SpecResult, number: str, run_failed: bool, budget: list[int], t: i18n.Translator) -> dict[str, Any]:
    counted = s.counted
    passed = s.status == "passed" and not run_failed
    test = {
        "name": f"{s.id}: {clean(s.title)}",
        "number": number,
        "score": s.points if counted and not run_failed else 0.0,
        "max_score": s.max_points if counted else 0.0,
        "status": "passed" if passed else "failed",
        "visibility": s.visibility,
        "tags": [s.mechanism] + (["required"] if s.required else []),
        "output": truncate(_output(s, t), OUTPUT_LIMIT),
        "output_format": "text",
    }
    if s.status not in ("passed", "not-implemented", "unsupported") and s.timeline and s.timeline.get("lanes"):
        _with_picture(test, s, budget, t)
    return test


def _with_picture(test: dict[str, Any], s: SpecResult, budget: list[int], t: i18n.Translator) -> None:
    """TEST's output as HTML with S's timeline picture (module), or its text with a note."""
    from . import raster, timeline

    if budget[0] < MIN_IMAGE:
        test["output"] += "\n\n" + t._(NO_ROOM)
        return
    try:
        url = "data:image/png;base64," + base64.b64encode(raster.png(timeline.svg(s.timeline, s.status, key=s.id, t=t))).decode("ascii")
    except raster.Unavailable as why:
        test["output"] += "\n\n" + t._("(This spec's timeline picture could not be drawn here: %(why)s. The HTML report has it.)", why=clean(str(why)))
        return
    if len(url) > budget[0]:
        test["output"] += "\n\n" + t._(NO_ROOM)
        return
    budget[0] -= len(url)
    label = t._("What happened in %(spec)s, in time", spec=s.id)
    test["output"] = (
        f'<pre>{html.escape(test["output"])}</pre>\n'
        f"<p><strong>{html.escape(label)}</strong></p>\n"
        f'<img src="{url}" alt="{html.escape(label)}" width="100%">'
    )
    test["output_format"] = "html"


def _output(s: SpecResult, t: i18n.Translator) -> str:
    if s.status == "passed":
        if s.schedule and s.schedule.get("guarantee"):  # what the schedules explored: said in the report's language
            return t._("Passed.") + " " + clean(t.said(s.schedule["guarantee"], s.schedule.get("guarantee_words")))
        return t._("Passed.")
    status = s.status if t.language == "en" else t.status(s.info.words)
    lines = [t._("Status: %(status)s", status=status) + (" (" + t._("required") + ")" if s.required else "")]
    if s.info.note:
        lines.append(t.status(s.info.note))
    lines += ["", plain(failure(s, t.language), language=t.language)]
    return "\n".join(lines)
