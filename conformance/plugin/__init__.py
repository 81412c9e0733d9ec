"""The pytest plugin: ``pytest --impl=PATH`` grades the implementation at PATH.

This module holds the hooks, in the order pytest calls them: options, configure, collection,
the run hooks (each spec's verdict), and the session's end (the recorder's). Each hook is short
and hands its work to a room of this package:

- ``prepare``: the run, prepared once by the controller (``Run``) and handed to each worker;
- ``verdict``: a spec's status, failure, integrity findings and timeline, from pytest's reports;
- ``recorder``: every verdict gathered in the controller, and the run record handed on through
  the ``pytest_ipc_record`` hook (conformance/hookspecs.py) when the session ends;
- ``fixtures``: the fixtures specs use (``impl``, ``reference``, ``supervisor``, ...);
- ``retry``: a spec whose verdict is broken is judged once more, in a fresh context.

Reports, rubrics and the grade table are the reporting side's (grading/plugin.py): this package
decides verdicts and writes the record, and imports nothing of grading.

Settings (conformance/settings.py: ``--impl``, ``--deadline-scale``, ``--run-as``,
``--ipc-live``, ``--ipc-spec``, ``--ipc-schedule``) are defined once there; their precedence, lowest first: the
default, the environment variable, the command-line option. A spec's own budget comes from its
``spec`` marker.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conformance import deadline, hookspecs, locate
from conformance.catalogue import specs as catalogue_specs
from conformance.outcomes import plain
from conformance.record import MECHANISMS
from conformance.run.limits import become_subreaper
from conformance.settings import SETTINGS, Setting, SettingError
from conformance.spec import SPEC_MARKER_HELP, validate_items

from . import durations, verdict
from .prepare import (
    META,
    RUN,
    WORKERINPUT,
    Run,
    XdistHooks,
    configure_hypothesis,
    prepare,
)
from .recorder import Recorder

pytest_plugins = ["conformance.plugin.fixtures", "conformance.plugin.retry"]

#: This plugin's options: the settings it reads (grading.plugin registers its own).
OPTIONS: tuple[Setting, ...] = tuple(s for s in SETTINGS.values() if s.pytest_option and s.where == "conformance.plugin")

#: Extra seconds pytest-timeout grants beyond a spec's scaled budget before it interrupts:
#: the spec's own deadlines should fire first and explain themselves.
TIMEOUT_GRACE = 15


# --- options -------------------------------------------------------------------------------


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ipc-conformance", "IPC conformance grading")
    for setting in OPTIONS:
        group.addoption(setting.pytest_option, **setting.pytest_kwargs())


# --- configure -----------------------------------------------------------------------------


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", SPEC_MARKER_HELP)
    deadline.set_scale(_value(config, "deadline_scale"))
    impl = _value(config, "impl")
    if impl is None:
        return
    if config.args_source != pytest.Config.ArgsSource.ARGS:
        # `pytest --impl=PATH` from any directory runs the specs, and nothing else
        config.args[:] = [str(locate.specs_dir())]
    workerinput = getattr(config, "workerinput", None)
    data = workerinput.get(WORKERINPUT) if workerinput else None
    run = prepare(config, impl, _value(config, "run_as")) if data is None else Run.for_worker(data, workerinput)
    run.enter()
    config.stash[RUN] = run
    if workerinput is None:
        config.pluginmanager.register(Recorder(config), "ipc-conformance-recorder")
    become_subreaper()
    configure_hypothesis(config)
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(XdistHooks(run.to_data()), "ipc-conformance-xdist")


def _value(config: pytest.Config, name: str) -> Any:
    """The setting NAME by its precedence; a bad value is a usage error that says where it came
    from and what to give instead."""
    setting = SETTINGS[name]
    try:
        return setting.resolve(config.getoption(setting.name), f"command-line option {setting.pytest_option}")
    except SettingError as exc:
        raise pytest.UsageError(f"ipc-conformance: {exc}") from None


# --- collection ----------------------------------------------------------------------------


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    specs_dir = locate.specs_dir()
    spec_items = [i for i in items if Path(str(i.path)).is_relative_to(specs_dir)]
    if not spec_items:
        return
    if RUN not in config.stash:
        raise pytest.UsageError(
            "ipc-conformance: the conformance specs grade an implementation: run them with "
            "--impl=PATH (for example --impl=student_template)"
        )
    try:
        metas = validate_items(spec_items)
    except ValueError as exc:
        raise pytest.UsageError(f"ipc-conformance: {exc}") from None
    for item, meta in zip(spec_items, metas, strict=True):
        item.stash[META] = meta
        item.extra_keyword_matches.add(meta.id)  # -k pipe.eof-on-close selects by spec id
        item.user_properties.append(("ipc_spec", meta.as_dict()))
        if item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(meta.timeout * deadline.scale() + TIMEOUT_GRACE))
    _deselect(config, items)
    if getattr(config, "workerinput", None) is not None:  # an xdist worker: one process alone keeps the modules' order
        _longest_first(items)


def _longest_first(items: list[pytest.Item]) -> None:
    """Order the specs by their expected duration, the longest first (durations.py): xdist's
    load scheduling then hands them out in that order, so the specs that must wait overlap with
    the short ones and no worker is left alone with a long spec at the end. Stable and the same
    in every worker (xdist requires it); specs keep their module order among equals."""
    items.sort(key=lambda item: -_expected(item))


def _expected(item: pytest.Item) -> float:
    meta = item.stash.get(META, None)
    return durations.EXPECTED.get(meta.id, durations.UNKNOWN) if meta is not None else 0.0


def pytest_ipc_catalogue(config: pytest.Config) -> list[dict[str, Any]]:
    """Every spec, from the spec modules' markers (whatever this session collects)."""
    return [meta.as_dict() for meta in catalogue_specs()]


def _deselect(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave out the specs a plugin says not to grade (pytest_ipc_select: a rubric), and with
    --ipc-spec, every spec it does not name."""
    wanted = set(config.getoption("spec") or [])
    unknown = sorted(wanted - {meta.id for meta in catalogue_specs()})
    if unknown:
        raise pytest.UsageError(f"--ipc-spec: no spec is called {', '.join(unknown)} (python -m conformance.catalogue lists them)")
    mechanisms = set(config.getoption("mechanism") or [])
    if mechanisms - set(MECHANISMS):
        raise pytest.UsageError(f"--ipc-mechanism: no mechanism is called {', '.join(sorted(mechanisms - set(MECHANISMS)))} "
                                f"(the mechanisms are {', '.join(MECHANISMS)})")
    keep, drop = [], []
    for item in items:
        meta = item.stash.get(META, None)
        selected = meta is None or config.hook.pytest_ipc_select(config=config, spec_id=meta.id) is not False
        if wanted and (meta is None or meta.id not in wanted):
            selected = False
        if mechanisms and (meta is None or meta.mechanism not in mechanisms):  # exactly: not -k's substring
            selected = False
        (keep if selected else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


# --- running: each spec's verdict ----------------------------------------------------------


@pytest.hookimpl(wrapper=True, optionalhook=True)
def pytest_timeout_set_timer(item: pytest.Item, settings: Any) -> Iterator[None]:
    """pytest-timeout's timer for a spec: its interruption is told by the exception it raises."""
    result = yield
    if META in item.stash and settings.method == "signal":
        verdict.watch_interruption(item)
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report: pytest.TestReport = yield
    if META in item.stash:
        verdict.decide(item, report, call)
        report.user_properties = [(name, plain(value)) for name, value in report.user_properties]
    return report


# --- the session's end: the recorder (recorder.py) hands the run record on ------------------
