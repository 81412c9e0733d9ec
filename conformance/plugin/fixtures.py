"""The fixtures specs use: the implementation and the reference, the supervisor that starts
their programs and ends them, names and a directory of the run's own.

Registered beside the hook module (its ``pytest_plugins``); every fixture is for specs (items
with a ``spec`` marker) in a run started with ``--impl``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conformance import deadline
from conformance.deadline import Deadline
from conformance.kernel import deadlock
from conformance.outcomes import Sentence, SpecFailure
from conformance.record import visible
from conformance.run import integrity, keeper, leftovers, naming, schedule
from conformance.run import sandbox as sandbox_mod
from conformance.run.implementation import Implementation
from conformance.run.supervisor import Supervisor, kill_user
from conformance.run.timeline import Timeline
from conformance.settings import SETTINGS, SettingError
from conformance.spec import SpecMeta

from .prepare import META, RUN, Run, supervisor_for


@pytest.fixture(autouse=True)
def _left_behind(request: pytest.FixtureRequest) -> Iterator[None]:
    """What a spec's programs left behind, removed and counted (leftovers.py): the spec's
    ``left_behind``. Autouse, so set up before every other fixture of the spec and ended after
    all of them: the spec's own objects are gone by then, and whatever its programs' user still
    owns, or made under a name the spec handed out, is theirs."""
    run: Run | None = request.config.stash.get(RUN, None)
    if run is None or META not in request.node.stash:
        yield
        return
    run.names.take_handed()
    fence = keeper.fenced()
    if fence:
        raise SpecFailure(
            Sentence("not run: in an earlier spec %(finding)s. A submission whose programs take more than their share of what "
                     "the machine's gradings share is not run again.", finding=fence),
            fix=keeper.FIX,
        )
    yield
    box = run.sandbox
    if box is not None and box.uid != os.geteuid():
        kill_user(box.uid)  # none of theirs makes more while the grader looks
    left = leftovers.sweep(box.uid if box else None, box.gid if box else None, run.names.take_handed())
    if left.counts:
        request.node.user_properties.append(("ipc_left_behind", left.counts))
    if left.failed:
        request.node.user_properties.append(("ipc_teardown", left.notes()))


@pytest.fixture
def spec_meta(request: pytest.FixtureRequest) -> SpecMeta:
    """The spec's marker data (id, mechanism, points, hint)."""
    meta = request.node.stash.get(META, None)
    if meta is None:
        raise pytest.UsageError("ipc-conformance fixtures are for specs (tests with a spec marker)")
    return meta


@pytest.fixture
def run_context(request: pytest.FixtureRequest) -> Run:
    """The run: the implementation, the reference, names, who programs run as."""
    return request.config.stash[RUN]


@pytest.fixture
def supervisor(run_context: Run, request: pytest.FixtureRequest) -> Iterator[Supervisor]:
    """Starts programs for this spec, with a HOME and TMPDIR of their own; at teardown every
    process it left is killed and reaped, and what they left behind is removed and counted."""
    home = sandbox_mod.give(run_context.names.tmp_dir(), run_context.sandbox)
    guard = integrity.Guard(integrity.grader_paths([run_context.reference.cwd]), run_context.impl.cwd, run_context.meta.get("copies", ()))
    live = _live(request.config) if request.config.getoption("live") else None
    if live is not None:
        meta = request.node.stash.get(META, None)
        live(f"--- {meta.id if meta else request.node.name}: {meta.title if meta else ''}")
    timeline = Timeline(live=live)
    sup = supervisor_for(run_context.sandbox, run_context.env(home), guard, timeline)
    sup.sweeps = False  # at the spec's very end: _left_behind
    box = run_context.sandbox
    sup.keeper = keeper.Keeper(box.uid if box else None, box.gid if box else None, run_context.names, _stopper(sup)).start()
    deadlock.watching(sup)
    yield sup
    deadlock.watching(None)
    notes = sup.teardown()
    if sup.keeper.interference:
        request.node.stash.setdefault(INTERFERED, []).append(sup.keeper.interference)
        sup.keeper.wait_for_room(Deadline(deadline.LONG))  # the next attempt (retry.py) starts where there is room
    for note in request.node.stash.get(INTERFERED, []):  # this attempt's and any earlier one's
        request.node.user_properties.append(("ipc_interference", note))
    left = [p for p in home.rglob("*") if not p.is_dir()]
    if left:
        notes.append(f"the programs left {len(left)} file(s) in their HOME/TMPDIR: removed")
    shutil.rmtree(home, ignore_errors=True)
    if notes:
        request.node.user_properties.append(("ipc_teardown", notes))


@pytest.fixture
def impl(run_context: Run, supervisor: Supervisor, spec_meta: SpecMeta) -> Implementation:
    """The implementation being graded."""
    return Implementation(run_context.impl, supervisor, "your", spec_meta.mechanism)


@pytest.fixture
def reference(run_context: Run, supervisor: Supervisor, spec_meta: SpecMeta) -> Implementation:
    """The bundled reference implementation, for interoperability specs."""
    return Implementation(run_context.reference, supervisor, "the reference", spec_meta.mechanism)


@pytest.fixture
def schedules(run_context: Run, supervisor: Supervisor, spec_meta: SpecMeta, request: pytest.FixtureRequest) -> schedule.Explorer:
    """The spec's explorations of how its programs' processes may interleave (run/schedule/):
    ``schedules.explore(scenario, budget)``. --ipc-schedule SEED (IPC_SCHEDULE) replays one."""
    setting = SETTINGS["schedule"]
    try:
        setting.resolve(request.config.getoption(setting.name), f"command-line option {setting.pytest_option}")
    except SettingError as exc:
        raise pytest.UsageError(f"ipc-conformance: {exc}") from None
    box = run_context.sandbox
    setup = schedule.setup(
        run_context.schedule, run_context.impl, box.uid if box else None, box.gid if box else None,
        lambda: sandbox_mod.give(run_context.names.tmp_dir(), box),
    )
    return schedule.Explorer(setup, supervisor, spec_meta.id, spec_meta.mechanism, replay=request.config.getoption(setting.name))


@pytest.fixture
def names(run_context: Run) -> naming.Names:
    """Names, keys and paths unique to this run and worker."""
    return run_context.names


@pytest.fixture
def ipc_tmp(names: naming.Names, run_context: Run) -> Iterator[Path]:
    """A fresh, short directory for FIFOs and socket files, the programs' to write in;
    removed after the spec."""
    path = sandbox_mod.give(names.tmp_dir(), run_context.sandbox)
    yield path
    shutil.rmtree(path, ignore_errors=True)


#: What another grading did that spoiled each attempt at a spec (keeper.Keeper.interference), in its item's stash.
INTERFERED = pytest.StashKey[list[str]]()


def _stopper(sup: Supervisor) -> Callable[[], None]:
    """What ends every process of SUP's programs at once, from the keeper's thread: kill(-1) as
    their user when it is theirs alone, else SIGKILL to each program's process group (the spec's
    thread reaps them)."""
    if sup.user is not None and sup.user != os.geteuid():
        return lambda: kill_user(sup.user)

    def stop() -> None:
        for p in list(sup.procs):
            with contextlib.suppress(OSError):
                os.killpg(p.pid, signal.SIGKILL)

    return stop


def _live(config: pytest.Config) -> Callable[[str], None]:
    """--ipc-live: lines past pytest's capture, through its terminal reporter (or stdout). A line
    names what programs chose (their process names, the files they open, what they print): it is
    made visible and kept on one line here, the live lines' one way to the terminal."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")

    def show(line: str) -> None:
        line = visible(line).replace("\n", "\\n")
        suspended = capture.global_and_fixture_disabled() if capture is not None else contextlib.nullcontext()
        with suspended:
            if reporter is not None:
                reporter.write_line(line)
            else:
                sys.__stdout__.write(line + "\n")  # -p no:terminal (ipc-grade replay)
                sys.__stdout__.flush()

    return show
