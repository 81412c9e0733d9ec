"""JUnit XML: one <testsuite> per mechanism, one <testcase> per spec, points as properties.

``<testsuites name tests failures errors skipped time>`` holds the run's properties (score,
max_score, the reason when the run could not grade); each ``<testsuite name="pipe">`` its
subtotal; each ``<testcase classname="ipc.pipe" name="eof-on-close">`` (together: the spec id) the properties
``points``, ``max_points``, ``status``, ``required`` and a <failure> (failed, timeout),
<error> (broken) or <skipped> (not-implemented, as pytest calls a stub; unsupported) with the message. ``time``
attributes are time fields. Hidden specs are left out of students' reports (see present.py).

Every text and attribute of the tree is made visible before it is written (``inert.xml_tree``):
the file is well-formed XML 1.0 whatever a program printed, and the serializer escapes markup.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from conformance.record import RunRecord, SpecResult

from . import i18n
from .inert import visible_record, xml_tree
from .present import View, clean, failure, one_sentence, plain, points, truncate

MESSAGE_LIMIT = 20_000



def render(record: RunRecord, show_hidden: bool = False) -> str:
    record = i18n.localized(visible_record(record))
    view = View(record, show_hidden)
    root = ET.Element("testsuites", _counts(view.specs, record))
    root.set("name", f"ipc-conformance: {_x(view.name)}")
    props = ET.SubElement(root, "properties")
    _prop(props, "score", points(view.got))
    _prop(props, "max_score", points(view.out_of))
    _prop(props, "score_covers", "all specs" if view.complete else "the visible specs")
    if view.hidden:
        _prop(props, "hidden_specs", str(len(view.hidden)))
    if view.title:
        _prop(props, "rubric", _x(view.title))
    if record.error:
        _prop(props, "error", _x(one_sentence(record.error)))
    for note in view.stopped():
        _prop(props, "note", _x(note))
    for note in view.copies():
        _prop(props, "integrity", _x(note))
    if record.error and not record.specs:
        # a run that could not start still says so where CI tools look: one failed case
        suite = ET.SubElement(root, "testsuite", {"name": "run", "tests": "1", "failures": "0", "errors": "1", "skipped": "0", "time": "0"})
        case = ET.SubElement(suite, "testcase", {"classname": "ipc.run", "name": "grading run", "time": "0"})
        err = ET.SubElement(case, "error", {"message": _x(one_sentence(record.error)), "type": "run-failed"})
        err.text = _x(truncate(record.error, MESSAGE_LIMIT))
    for group in view.groups():
        suite = ET.SubElement(root, "testsuite", {"name": group.mechanism, **_counts(group.specs, record)})
        sprops = ET.SubElement(suite, "properties")
        _prop(sprops, "points", points(group.got if not record.error else 0))
        _prop(sprops, "max_points", points(group.out_of))
        if group.hidden:
            _prop(sprops, "hidden_specs", str(group.hidden))
        for s in group.specs:
            _case(suite, s, record)
    ET.indent(xml_tree(root), space="  ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _counts(specs: list[SpecResult], record: RunRecord) -> dict[str, str]:
    kinds = [s.info.junit for s in specs]
    if record.error:
        kinds = ["skipped" if k == "skipped" else "error" if k == "error" else "failure" for k in kinds]
    return {
        "tests": str(len(specs)),
        "failures": str(kinds.count("failure")),
        "errors": str(kinds.count("error")),
        "skipped": str(kinds.count("skipped")),
        "time": f"{sum(s.duration_s for s in specs):.3f}",
    }


def _case(suite: ET.Element, s: SpecResult, record: RunRecord) -> None:
    case = ET.SubElement(suite, "testcase", {"classname": f"ipc.{s.mechanism}", "name": s.id.split(".", 1)[1], "time": f"{s.duration_s:.3f}"})
    props = ET.SubElement(case, "properties")
    _prop(props, "title", _x(s.title))
    _prop(props, "points", points(0 if record.error else s.points))
    _prop(props, "max_points", points(s.max_points if s.counted else 0))
    _prop(props, "status", s.status)
    _prop(props, "required", "true" if s.required else "false")
    if s.hidden:
        _prop(props, "visibility", s.visibility)
    kind = s.info.junit
    if record.error and kind is None:
        kind = "failure"  # the run could not grade: nothing passed
    if kind is None:
        return
    t = i18n.of(record)
    f = failure(s, t.language)
    first = " ".join(f.observed.split()) or s.status
    if kind == "skipped":
        ET.SubElement(case, "skipped", {"message": _x(first)})
        return
    el = ET.SubElement(case, kind, {"message": _x(first), "type": s.status})
    body = plain(f, language=t.language)
    if record.error:
        body = t._("The run could not grade: %(reason)s", reason=record.error) + f"\n\n{body}"
    el.text = _x(truncate(body, MESSAGE_LIMIT))


def _prop(parent: ET.Element, name: str, value: str) -> None:
    ET.SubElement(parent, "property", {"name": name, "value": value})


def _x(text: str) -> str:
    """TEXT that XML 1.0 can hold (no control characters but tab and newline)."""
    return clean(text)
