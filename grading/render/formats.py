"""The report formats: one registry, from which ipc-grade's options, the pytest plugin's options,
the batch layout and the documentation are derived; and writing them (write_all).

Every format is a pure function of a run record and the reader (students by default, who never
see a hidden spec's details; instructors with ``show_hidden``) returning the document's text.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from conformance import record as run_record
from conformance.record import RunRecord

from . import gradescope, i18n, junit, markdown, prairielearn, present, terminal
from . import html as htmlpage


@dataclass(frozen=True)
class Format:
    name: str
    """The option's name: ``--NAME FILE`` for ipc-grade, ``--ipc-NAME FILE`` for pytest."""
    help: str
    render: Callable[[RunRecord, bool], str]
    filename: str
    """The file's name in a batch's per-submission directory."""


def _json(record: RunRecord, show_hidden: bool = False) -> str:
    """The run record. In a language other than English it also carries what each spec says, said
    in that language (``said``: docs/run-record.md), for a reader of the JSON; the rest of it
    stays language-neutral, and any report can still be rendered from it in either language."""
    language = i18n.language_of(record)
    record = dataclasses.replace(record, meta={k: v for k, v in record.meta.items() if k != "said"})  # a record read back: said again
    if language == "en":
        return run_record.dumps(record)
    local = i18n.localized(record)
    specs = {
        spec.id: {"title": spec.title, "status": present.status_words(spec.status, language), "hint": spec.hint,
                  **({"message": present.message_text(spec.parts, language)} if spec.message else {})}
        for spec in local.specs
    }
    return run_record.dumps(dataclasses.replace(record, meta={**record.meta, "said": {"language": language, "specs": specs}}))


def _terminal(record: RunRecord, show_hidden: bool = False) -> str:
    return terminal.render(record, color=False, show_hidden=show_hidden)


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format("json", "write the run record (JSON, docs/run-record.md; complete: it includes hidden specs) to FILE", _json, "record.json"),
        Format("gradescope", "write Gradescope's results.json to FILE", gradescope.render, "gradescope.json"),
        Format("prairielearn", "write PrairieLearn's results.json to FILE", prairielearn.render, "prairielearn.json"),
        Format("junit", "write JUnit XML (points as properties) to FILE", junit.render, "junit.xml"),
        Format("markdown", "write Markdown for a GitHub job summary or PR comment to FILE", markdown.render, "report.md"),
        Format("html", "write a self-contained HTML page to FILE", htmlpage.render, "report.html"),
        Format("text", "write the terminal report, without colour, to FILE", _terminal, "report.txt"),
    )
}


def render(name: str, record: RunRecord, show_hidden: bool = False) -> str:
    return FORMATS[name].render(record, show_hidden)


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write TEXT to PATH (atomically for a regular file; see record.write_text)."""
    run_record.write_text(path, text)


def write_all(record: RunRecord, targets: Mapping[str, str | os.PathLike[str] | None], show_hidden: bool = False) -> list[str]:
    """Write RECORD in each format of TARGETS (format name -> path; None skips it).

    Every format is attempted; the result lists a sentence for each one that could not be
    written, so one bad path loses no other report.
    """
    problems = []
    for name, path in targets.items():
        if not path:
            continue
        try:
            text = render(name, record, show_hidden)
        except Exception as exc:  # a renderer bug must not cost the other reports
            problems.append(f"the {name} report could not be rendered ({type(exc).__name__}: {exc}); this is a grader bug")
            continue
        try:
            write_text(path, text)
        except OSError as exc:
            problems.append(f"cannot write the {name} report to {path}: {exc.strerror or exc}")
    return problems


def check_targets(targets: Mapping[str, str | os.PathLike[str] | None]) -> list[str]:
    """Problems with report paths, found before grading: a directory, an unwritable place, or
    one file named for two formats."""
    problems = []
    seen: dict[Path, str] = {}
    for name, path in targets.items():
        if not path:
            continue
        p = Path(path).resolve()
        if p in seen:
            problems.append(f"--{seen[p]} and --{name} both name {path}: give each report its own file")
            continue
        seen[p] = name
        if p.is_dir():
            problems.append(f"--{name} {path} is a directory: name a file, such as {Path(path) / FORMATS[name].filename}")
            continue
        if p.exists() and not p.is_file():  # a stream such as /dev/stdout, or a FIFO
            if not os.access(p, os.W_OK):
                problems.append(f"--{name} {path}: not writable")
            continue
        parent = p.parent
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
        if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
            problems.append(f"--{name} {path}: cannot create a file in {parent}")
    return problems
