"""PrairieLearn's external-grading results.json (its "Grading results" format).

Top level: ``gradable`` (false, with ``format_errors``, when the submission's manifest could
not be used: PrairieLearn then counts no attempt; true otherwise, even for a run that scored 0),
``score`` (0 to 1: the run's total over its maximum), ``message`` (one sentence), ``output``
(the terminal report as students see it) and ``tests``, each with ``name`` (the spec id),
``description`` (the behaviour), ``points``, ``max_points``, ``message`` (status and hint),
``output`` (expected, observed, transcript) and, for a failing spec with a timeline, ``images``:
its picture (grading/render/timeline.py) as an SVG data URL, which PrairieLearn's results element
shows in an <img>.

PrairieLearn has no per-test visibility: students see every test listed. A hidden spec is
therefore not listed; the hidden specs appear as one entry without details, and they count in
``score``, which is the grade.
"""

from __future__ import annotations

import json
from typing import Any

from conformance.record import RunRecord, SpecResult

from .. import late as late_mod
from . import i18n
from .inert import json_data, visible_record
from .present import View, clean, failure, one_sentence, plain, points, truncate
from .terminal import render as terminal

#: PrairieLearn limits results.json to 1 MB; these keep it well under.
OUTPUT_LIMIT = 16_000
TOTAL_OUTPUT_LIMIT = 200_000
#: The timeline pictures' share of it (base64 data URLs): past it, a spec's picture is left out
#: and its message says where to see it.
IMAGES_LIMIT = 500_000


def render(record: RunRecord, show_hidden: bool = False) -> str:
    return json.dumps(json_data(document(record, show_hidden)), indent=2, ensure_ascii=False) + "\n"


def document(record: RunRecord, show_hidden: bool = False) -> dict[str, Any]:
    record = i18n.localized(visible_record(record))
    view = View(record, show_hidden)
    t = view.t
    final = late_mod.final_score(record)  # PrairieLearn applies its own late credit; a batch's policy is here
    score = round(final / record.max_score, 6) if record.max_score and not record.error else 0.0
    budget = [IMAGES_LIMIT]
    tests = [_test(s, record.error is not None, budget, t) for s in view.specs]
    if view.hidden:
        got = sum(s.points for s in view.hidden if s.counted)
        out_of = sum(s.max_points for s in view.hidden if s.counted)
        tests.append(
            {
                "name": t._("hidden specs"),
                "description": t.ngettext("%(n)d spec whose details are hidden", "%(n)d specs whose details are hidden", len(view.hidden))
                + ": " + view.hidden_note().split(": ", 1)[-1],
                "points": 0.0 if record.error else round(got, 6),
                "max_points": round(out_of, 6),
                "message": t._("Their details are not shown."),
                "output": "",
            }
        )
    if record.error:
        message = t._("This submission could not be graded: %(reason)s Score: 0.", reason=clean(one_sentence(record.error)))
    else:
        message = t._("Score %(got)s/%(out_of)s.", got=points(final), out_of=points(record.max_score))
        for stopped in view.stopped():
            message += f" {stopped}."
        for copy in view.copies():
            message += f" {copy}"
        note = (record.meta.get("late") or {}).get("note")
        if note:
            message += f" {clean(t.sentence(note))}"
        if view.regrade():
            message += f" {view.regrade()}"
    out: dict[str, Any] = {
        # a submission whose manifest the grader cannot use is not gradable (PrairieLearn's
        # convention: it costs no attempt, and format_errors says why); a run the grader itself
        # could not finish (a crash, the session timeout) is graded as it stands
        "gradable": not _unusable(record),
        "score": score,
        "message": message,
        "output": truncate(terminal(record, show_hidden=show_hidden), TOTAL_OUTPUT_LIMIT),
        "tests": tests,
    }
    if _unusable(record):
        out["format_errors"] = [clean(record.error or "")]
    return out


def _unusable(record: RunRecord) -> bool:
    """The submission itself could not be graded: its manifest (no error_kind: the grader's
    plugin set the error), not the grader's run."""
    return record.error is not None and not record.meta.get("error_kind")


def _test(s: SpecResult, run_failed: bool, budget: list[int], t: i18n.Translator) -> dict[str, Any]:
    status = s.status if t.language == "en" else t.status(s.info.words)
    message = t._("Passed.") if s.status == "passed" else status + (" (" + t._("required") + ")" if s.required else "")
    if s.status != "passed" and s.advice:
        message += t._(". Hint: %(hint)s", hint=clean(s.advice))
    out = ""
    if s.status != "passed":
        out = plain(failure(s, t.language), hint=False, language=t.language)  # the hint is in the message
    test: dict[str, Any] = {
        "name": s.id,
        "description": clean(s.title),
        "points": 0.0 if run_failed or not s.counted else s.points,
        "max_points": s.max_points if s.counted else 0.0,
        "message": message,
        "output": truncate(out, OUTPUT_LIMIT),
    }
    image = picture(s, t) if s.status not in ("passed", "not-implemented", "unsupported") else None
    if image is not None and len(image["url"]) <= budget[0]:
        budget[0] -= len(image["url"])
        test["images"] = [image]
    elif image is not None:
        test["message"] += t._(" (Its timeline picture is left out: results.json has room for no more; the HTML report has it.)")
    return test


def picture(s: SpecResult, t: i18n.Translator | None = None) -> dict[str, str] | None:
    """The spec's timeline as PrairieLearn shows an image: an SVG data URL, which its
    <pl-external-grader-results> element puts in an <img> (docs/reports.md); None without one."""
    import base64

    from . import timeline

    if not (s.timeline and s.timeline.get("lanes")):
        return None
    drawn = timeline.svg(s.timeline, s.status, key=s.id, t=t)
    if 'xmlns="http://www.w3.org/2000/svg"' not in drawn:
        return None
    url = "data:image/svg+xml;base64," + base64.b64encode(drawn.encode()).decode("ascii")
    return {"label": (t or i18n.translator("en"))._("What happened in %(spec)s, in time", spec=s.id), "url": url}
