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


def test_the_similarity_table_shows_only_graded_mechanisms():
    """A pair that shares code for a mechanism the class was not graded on gets no column for it
    on the class page; the table scrolls inside the page instead of overflowing it."""
    from grading.classwork import classpage
    from grading.classwork.similarity.model import Match, Pair, Summary

    specs = [SpecResult("pipe.eof-on-close", "pipe", "t", "passed", 3, 3)]
    entries = [Entry(n, RunRecord(implementation={"path": ".", "name": n}, specs=specs)) for n in ("alice", "bob")]
    pair = Pair("alice", "bob", False, (Match("pipe", 90, 90, 500, True), Match("rpc", 95, 95, 900, True)), "similarity/alice-bob.html")
    summary = Summary(threshold=50, submissions=("alice", "bob"), references=(), template=True, pairs=(pair,))
    assert classpage._similar_mechanisms(summary, ["pipe"]) == ["pipe"]
    page = classpage.render(entries, similarity=summary)
    table = page.split('<table class="pairs">', 1)[1].split("</table>", 1)[0]
    assert ">pipe</th>" in table and ">rpc</th>" not in table
    assert '<div class="scroll"><table class="pairs">' in page
