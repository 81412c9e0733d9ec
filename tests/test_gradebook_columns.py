"""The gradebook says why: the reason a submission could not be graded, and the required specs it
failed (docs/batch.md)."""

from __future__ import annotations

import csv
import io

from conformance.record import RunRecord, SpecResult
from grading.classwork.gradebook import Entry, gradebook


def _rows(entries):
    return list(csv.DictReader(io.StringIO(gradebook(entries))))


def test_failed_required_specs_have_a_column():
    specs = [
        SpecResult("pipe.eof-on-close", "pipe", "t", "failed", 0, 3, required=True),
        SpecResult("pipe.relay-roundtrip", "pipe", "t", "passed", 3, 3, required=True),
        SpecResult("pipe.uses-pipe", "pipe", "t", "not-implemented", 0, 1, required=True),
        SpecResult("pipe.reaps-child", "pipe", "t", "failed", 0, 1),
    ]
    row = _rows([Entry("alice", RunRecord(implementation={"path": ".", "name": "a"}, specs=specs))])[0]
    assert row["failed_required"] == "pipe.eof-on-close pipe.uses-pipe"


def test_a_submission_not_graded_says_why():
    rec = RunRecord(implementation={"path": ".", "name": "b"}, specs=[], error="the build failed: make exited with status 2. More below.")
    row = _rows([Entry("bob", rec)])[0]
    assert row["status"] == "not-gradable" and row["reason"] == "the build failed: make exited with status 2."
