"""Every message names the real cause: each mutant's first failure contains the phrase its TOML
gives as ``cause``, written from what the mutant does (not from what the grader says). The check
runs in tests/test_mutants.py, on the grading that proves the mutant, so none is paid twice."""

from __future__ import annotations

import re

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
    timeline, as an image its results element shows (an SVG data URL)."""
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
