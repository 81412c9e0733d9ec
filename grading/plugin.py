"""The reporting side of ``pytest --impl``: rubrics, report files and the grade table.

The grader (conformance/plugin/) decides verdicts and hands the finished run record over
through the ``pytest_ipc_record`` hook (conformance/hookspecs.py); this plugin applies the
rubric to it, writes every ``--ipc-FORMAT`` file and prints the grade table. It learns the
spec catalogue through ``pytest_ipc_catalogue`` and says which specs a rubric grades through
``pytest_ipc_select``: data in, data out, no import of the grader. Its options are the
settings schema's (conformance/settings.py) and the report formats' registry (render.FORMATS).

A rubric is checked against the catalogue once per process, at configure; when ipc-grade
started this run it has checked the rubric already and hands it over checked
(``--ipc-checked-rubric``, grader.write_checked), so the catalogue is not asked for it again.

Read top to bottom in the order pytest calls it: options, configure, collection, the record,
the terminal summary.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import pytest

from conformance import record as run_record
from conformance.settings import SETTINGS, SettingError

from . import render
from .grader import load_checked
from .render import i18n
from .rubric import Rubric, RubricError, SpecInfo, load

RUBRIC = pytest.StashKey[Rubric]()
RECORD = pytest.StashKey[run_record.RunRecord]()


# --- options -------------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ipc-conformance", "IPC conformance grading")
    rubric, show_hidden, lang = SETTINGS["rubric"], SETTINGS["show_hidden"], SETTINGS["lang"]
    group.addoption(rubric.pytest_option, **rubric.pytest_kwargs())
    group.addoption(lang.pytest_option, **lang.pytest_kwargs())
    for f in render.FORMATS.values():
        group.addoption(f"--ipc-{f.name}", metavar="FILE", default=None, help=f.help)
    group.addoption(show_hidden.pytest_option, **show_hidden.pytest_kwargs())
    # ipc-grade's rubric, checked (grader.write_checked): not a user's option
    group.addoption("--ipc-checked-rubric", metavar="FILE", default=None, help=argparse.SUPPRESS)


# --- configure -----------------------------------------------------------------------------


def pytest_configure(config: pytest.Config) -> None:
    """Check --ipc-lang; load --rubric, checked against the grader's catalogue (or as ipc-grade
    checked it). A bad one is a usage error."""
    try:
        SETTINGS["lang"].resolve(config.getoption("lang"), SETTINGS["lang"].pytest_option)
    except SettingError as exc:
        raise pytest.UsageError(f"ipc-conformance: {exc}") from None
    path = config.getoption("rubric")
    if path is None or config.getoption("impl", None) is None:
        return
    try:
        checked = config.getoption("ipc_checked_rubric")
        if checked is not None:
            config.stash[RUBRIC] = load_checked(checked)
            return
        catalogue = config.hook.pytest_ipc_catalogue(config=config)
        if catalogue is None:
            raise pytest.UsageError("ipc-conformance: --rubric needs the grader's plugin (ipc_conformance), which is not loaded")
        config.stash[RUBRIC] = load(path, [SpecInfo.of(spec) for spec in catalogue])
    except RubricError as exc:
        raise pytest.UsageError(f"ipc-conformance: {exc}") from None


# --- collection ----------------------------------------------------------------------------


def pytest_ipc_select(config: pytest.Config, spec_id: str) -> bool | None:
    rubric = config.stash.get(RUBRIC, None)
    return None if rubric is None else rubric.selects(spec_id)


# --- the record ----------------------------------------------------------------------------


def pytest_ipc_progress(config: pytest.Config, record: run_record.RunRecord) -> None:
    """Every verdict so far, in the run record (--ipc-json) only: a run stopped from outside
    keeps them. The other reports wait for the end."""
    path = config.getoption("ipc_json")
    if not path:
        return
    rubric = config.stash.get(RUBRIC, None)
    try:
        run_record.write_text(path, run_record.dumps_running(rubric.apply(record) if rubric is not None else record))
    except OSError:
        pass  # the final write says what is wrong with the path


def pytest_ipc_record(config: pytest.Config, record: run_record.RunRecord) -> None:
    """The record graded by the rubric, written in every format asked for, in the reports'
    language (--ipc-lang, else the rubric's, else the locale's: render/i18n.py)."""
    rubric = config.stash.get(RUBRIC, None)
    if rubric is not None:
        record = rubric.apply(record)
    record = i18n.rendered_in(record, i18n.choose(config.getoption("lang"), record.meta.get("language")))
    config.stash[RECORD] = record
    targets = {name: config.getoption(f"ipc_{name}") for name in render.FORMATS}
    for problem in render.write_all(record, targets, show_hidden=config.getoption("show_hidden")):
        print(f"ipc-conformance: {problem}", file=sys.stderr)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    record = config.stash.get(RECORD, None)
    if record is None or not record.specs and record.error is None:
        return
    from .render.terminal import render as terminal_report

    terminalreporter.write_sep("=", i18n.of(record)._("IPC conformance grade"))
    terminalreporter.write(terminal_report(record, color=terminalreporter.hasmarkup, show_hidden=config.getoption("show_hidden")))
