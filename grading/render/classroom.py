"""GitHub Classroom's points: the result an autograding runner hands to its reporter.

GitHub Classroom records a grade from the ``classroom-resources/autograding-grading-reporter``
action, which reads, for each runner id in its ``runners`` input, the environment variable
``<ID>_RESULTS`` (the id upper-cased): base64 of a JSON document of the shape the runners
(``autograding-command-grader``, ``autograding-io-grader``) write to their ``result`` output:

    {"version": 1, "status": "pass" | "fail" | "error", "max_score": 40,
     "tests": [{"name": ..., "status": "pass" | "fail" | "error", "score": 3, "message": ...,
                "test_code": ..., "filename": "", "line_no": 0, "duration": 0}]}

The reporter sums the tests' ``score`` against ``max_score`` into the points Classroom records
(its notice "Points 31/40"), and fails its step when ``status`` is ``fail`` or ``error``. Here
each counted spec is a test worth its points (a broken one, the grader's own failure twice,
with 0 until an instructor regrades it); a spec not counted (unsupported here) is left out; a hidden spec shows neither its name nor its details; a run
that could not grade is one test with status ``error`` and the reason. The student workflow
(student_template/.github/workflows/grade.yml, docs/ci.md) writes it with

    python -m grading.render_classroom reports/record.json --github-output "$GITHUB_OUTPUT"

(grading/render_classroom.py: the name students' workflows type, kept whatever the layout).
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
from collections.abc import Sequence
from typing import Any

from conformance import record as run_record
from conformance.record import RunRecord

from .inert import json_data, visible_record
from .present import clean, one_sentence, truncate

#: Characters of one test's message: the whole output must stay well under GitHub's 1 MB.
MESSAGE_LIMIT = 2000


def document(record: RunRecord) -> dict[str, Any]:
    record = visible_record(record)
    counted = [s for s in record.specs if s.counted]
    if record.error is not None:
        reason = clean(one_sentence(record.error))
        return {
            "version": 1,
            "status": "error",
            "max_score": record.max_score,
            "tests": [_test("ipc-grade", "error", 0.0, f"This submission could not be graded: {reason} Score: 0.", "")],
        }
    tests = []
    hidden = 0
    for s in counted:
        status = "pass" if s.status == "passed" else "fail"
        if s.hidden:
            hidden += 1
            tests.append(_test(f"hidden spec {hidden}", status, s.points, "Its details are hidden.", ""))
            continue
        message = "Passed." if s.status == "passed" else f"{s.status}: {clean(s.parts.observed or s.message)}"
        if s.status != "passed" and s.hint:
            message += f" Hint: {clean(s.hint)}"
        tests.append(_test(f"{s.id}: {clean(s.title)}", status, s.points, truncate(message, MESSAGE_LIMIT, "the job summary"), s.id, s.duration_s))
    return {
        "version": 1,
        "status": "pass" if all(t["status"] == "pass" for t in tests) else "fail",
        "max_score": record.max_score,
        "tests": tests,
    }


def _test(name: str, status: str, score: float, message: str, code: str, duration_s: float = 0.0) -> dict[str, Any]:
    return {
        "name": name,
        "status": status,
        "score": score,
        "message": message,
        "test_code": code,
        "filename": "",
        "line_no": 0,
        "duration": int(round(duration_s * 1000)),
    }


def encode(record: RunRecord) -> str:
    """The document as the reporter reads it: base64 of its JSON, on one line."""
    return base64.b64encode(json.dumps(json_data(document(record)), ensure_ascii=False).encode()).decode("ascii")


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m grading.render_classroom",
        description="Print (or add to $GITHUB_OUTPUT as `result`) a run record's points in the form GitHub Classroom's autograding reporter reads.",
    )
    p.add_argument("record", help="the run record (ipc-grade --json)")
    p.add_argument("--github-output", metavar="FILE", help="append `result=BASE64` to FILE (the step's $GITHUB_OUTPUT)")
    args = p.parse_args(argv)
    try:
        record = run_record.load(args.record)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        record = run_record.failed_run({"path": args.record, "name": "?"}, f"the run record {args.record} cannot be read ({exc}).")
    line = encode(record)
    if args.github_output:
        try:
            with open(args.github_output, "a", encoding="utf-8") as out:
                out.write(f"result={line}\n")
        except OSError as exc:
            print(f"render_classroom: error: cannot append to {args.github_output}: {exc.strerror or exc}", file=sys.stderr)
            return 2
    else:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
