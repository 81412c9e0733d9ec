"""The pytest plugin: ``pytest --impl=PATH`` grades the implementation at PATH.

Read top to bottom in the order pytest calls it: options, configure, collection, the run
hooks (status of each spec), the session's end (the run record, handed on through the
``pytest_ipc_record`` hook: conformance/hookspecs.py), then the fixtures specs use, then helpers.
Reports, rubrics and the grade table are the reporting side's (grading/plugin.py): this module
decides verdicts and writes the record, and imports nothing of grading.

Settings and their precedence (lowest first): the ``IPC_DEADLINE_SCALE`` environment variable,
then ``--deadline-scale``. A spec's own budget comes from its ``spec`` marker.
"""

from __future__ import annotations

import datetime
import os
import platform
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pytest

from conformance.kernel import credentials, deadlock, observe
from conformance.run import evidence, integrity, naming
from conformance.run import isolation as isolation_mod
from conformance.run import manifest as manifest_mod
from conformance.run import runtime as runtime_mod
from conformance.run import sandbox as sandbox_mod
from conformance.run.implementation import Implementation
from conformance.run.limits import Limits, become_subreaper
from conformance.run.supervisor import SUBJECT_GID, Supervisor, program_env
from conformance.run.timeline import Timeline

from . import CONTRACT_VERSION, __version__, deadline, hookspecs, locate
from . import record as run_record
from .catalogue import specs as catalogue_specs
from .outcomes import Explained, Status, status_of
from .spec import SPEC_MARKER_HELP, SpecMeta, validate_items

HELP = {
    "impl": "grade the implementation in directory PATH (it holds ipc.toml) against the IPC "
    "conformance specs; only the specs are collected",
    "deadline_scale": "multiply every deadline by FACTOR on a slow machine (default 1, or "
    f"${deadline.SCALE_ENV})",
    "live": "print what happens in each spec as it happens (the timeline: programs started, "
    "bytes written, signals, what each process sleeps in, exits): for watching one spec",
    "spec": "grade only the spec ID (such as pipe.eof-on-close; repeat for more): unlike -k, "
    "an ID that names no spec is an error",
    "run_as": "who implementation programs run as: auto (default: an unprivileged user id of "
    "their own when the grader is root, else the grader's user), none, or a user name or id",
}

CONTEXT = pytest.StashKey["RunContext"]()
META = pytest.StashKey[SpecMeta]()

#: The Hypothesis settings profile specs run under when grading: the same submission always
#: gets the same examples, so the same grade.
HYPOTHESIS_PROFILE = "ipc-grading"

#: Extra seconds pytest-timeout grants beyond a spec's scaled budget before it interrupts:
#: the spec's own deadlines should fire first and explain themselves.
TIMEOUT_GRACE = 15


# --- options -------------------------------------------------------------------------------


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ipc-conformance", "IPC conformance grading")
    group.addoption("--impl", metavar="PATH", default=None, help=HELP["impl"])
    group.addoption("--deadline-scale", metavar="FACTOR", default=None, help=HELP["deadline_scale"])
    group.addoption("--run-as", metavar="USER", default="auto", help=HELP["run_as"])
    group.addoption("--ipc-live", action="store_true", default=False, help=HELP["live"])
    group.addoption("--ipc-spec", metavar="ID", action="append", default=[], help=HELP["spec"])


# --- configure -----------------------------------------------------------------------------


@dataclass
class RunContext:
    """What every spec in this process shares: the implementation, the reference, names."""

    impl: manifest_mod.Manifest
    reference: manifest_mod.Manifest
    build: dict | None
    """What the build did (manifest.run_build), or None without one."""
    names: naming.Names
    meta: dict[str, Any] = field(default_factory=dict)
    sandbox: sandbox_mod.Sandbox | None = None
    python: Path = Path()
    """The programs' Python (runtime.py)."""
    python_env: dict[str, str] = field(default_factory=dict)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", SPEC_MARKER_HELP)
    _configure_scale(config)
    impl = config.getoption("impl")
    if impl is None:
        return
    if config.args_source != pytest.Config.ArgsSource.ARGS:
        # `pytest --impl=PATH` from any directory runs the specs, and nothing else
        config.args[:] = [str(locate.specs_dir())]
    workerinput = getattr(config, "workerinput", None)
    shared = workerinput.get("ipc_conformance") if workerinput else None
    sandbox = None
    if shared is None:
        shared, sandbox = _prepare_run(config, impl)
    config.stash[CONTEXT] = _context(shared, workerinput, sandbox)
    if workerinput is None:
        config.pluginmanager.register(Recorder(config), "ipc-conformance-recorder")
    become_subreaper()
    _configure_hypothesis(config)
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_XdistHooks(shared), "ipc-conformance-xdist")


def _configure_scale(config: pytest.Config) -> None:
    value = config.getoption("deadline_scale")
    try:
        factor = (
            deadline.parse_scale(value, "command-line option --deadline-scale")
            if value is not None
            else deadline.scale_from_env()
        )
    except ValueError as exc:
        raise pytest.UsageError(f"ipc-conformance: {exc}") from None
    if factor is not None:
        deadline.set_scale(factor)


def _prepare_run(config: pytest.Config, impl: str) -> tuple[dict[str, Any], sandbox_mod.Sandbox | None]:
    """In the controller only: isolate the run, give programs a user and a Python of their own,
    stage the implementation and the reference, and build once, for every worker."""
    started = time.time()
    isolation, why_not = isolation_mod.enter_private_ipc()
    run_as = config.getoption("run_as")
    try:
        sandbox_mod.parse_run_as(run_as)
        sandbox = sandbox_mod.allocate(run_as)
    except (ValueError, PermissionError, RuntimeError) as exc:
        raise pytest.UsageError(f"ipc-conformance: {exc}") from None
    run_id = naming.new_run_id()
    root = naming.Names(run_id, "m").tmp_root()
    python, python_env, runtime_note = _programs_python(sandbox, root)
    m = manifest_mod.load(impl, python)
    staged: dict[str, str | None] = {"build": None, "reference": None}
    staged["reference"] = str(sandbox_mod.stage(locate.bundled("reference"), root / "reference", 0, 0, private=False))
    if m.error is None:
        uid, gid = (sandbox.uid, sandbox.gid) if sandbox else (os.geteuid(), os.getegid())
        try:
            staged["build"] = str(sandbox_mod.stage(m.root, root / "impl", uid, gid, private=True))
        except sandbox_mod.StagingError as exc:
            m.error = str(exc)
        else:
            m.run_root = Path(staged["build"])
    protected = _protect_grader(config, sandbox, Path(staged["reference"]))
    env = _env(python, python_env, home=None)
    build = manifest_mod.run_build(m, sandbox.uid if sandbox else None, env) if m.error is None and m.build else None
    unavailable = evidence.probe(_supervisor(sandbox, env))
    shared = {
        "run_id": run_id,
        "impl": str(m.root),
        "error": m.error,
        "staged": staged,
        "run_as": run_as,
        "python": str(python),
        "python_env": python_env,
        "build": build,
        "meta": {
            "grader": {"name": "ipc-conformance", "version": __version__},
            "contract_version": CONTRACT_VERSION,
            "started_at": datetime.datetime.fromtimestamp(started, datetime.UTC).isoformat(timespec="seconds"),
            "deadline_scale": deadline.scale(),
            "hypothesis_profile": HYPOTHESIS_PROFILE,
            "isolation": isolation,
            "isolation_note": why_not,
            "programs_run_as": _run_as_words(sandbox),
            "programs_uid": sandbox.uid if sandbox else os.geteuid(),
            "programs_run_as_note": _run_as_note(sandbox, run_as),
            "programs_python": str(python),
            "programs_python_note": runtime_note,
            "grader_files": protected,
            "build": build,
            "evidence_unavailable": unavailable,
            "machine": {"kernel": platform.release(), "arch": platform.machine(), "python": platform.python_version()},
        },
    }
    return shared, sandbox


def _run_as_words(sandbox: sandbox_mod.Sandbox | None) -> str:
    if sandbox is not None:
        return "an unprivileged user id per grading process"
    return "root (the grader's own user)" if os.geteuid() == 0 else "the grader's own user"


def _run_as_note(sandbox: sandbox_mod.Sandbox | None, run_as: str) -> str | None:
    if sandbox is None and os.geteuid() == 0:
        return (
            "--run-as none: the programs ran as root, with every privilege of the grader: they could "
            "read and change anything on this machine, and no process limit applied"
        )
    return None


def _protect_grader(config: pytest.Config, sandbox: sandbox_mod.Sandbox | None, reference: Path) -> str:
    """Put the grader's installation, its reference and the rubric out of the submission's
    programs' reach (sandbox.deny), where it can; say what was done."""
    if sandbox is None:
        return "readable by the programs (they run as the grader's user); integrity.py watches for their use"
    rubric = config.getoption("rubric", None)
    paths = [Path(p) for p in integrity.grader_paths([reference])] + ([Path(rubric).resolve()] if rubric else [])
    why = sandbox_mod.deny(paths, SUBJECT_GID)
    if why:
        return f"readable by the programs ({why}); integrity.py watches for their use"
    return "out of the programs' reach (an ACL denies their group), and watched (integrity.py)"


def _programs_python(sandbox: sandbox_mod.Sandbox | None, cwd: Path) -> tuple[Path, dict[str, str], str | None]:
    """The Python programs run under (runtime.py) that their user can run: the path, what its
    environment needs, and why none could be made (then python programs cannot start, and their
    specs are broken: the grader's fault, not charged)."""
    problems = []
    python, env = runtime_mod.cache_dir() / "unavailable" / "python3", {}
    for kind in ("venv", "copy"):
        try:
            rt = runtime_mod.ensure(kind)
        except (OSError, RuntimeError) as exc:
            problems.append(f"{kind}: {exc}")
            continue
        python, env = rt.python, rt.env
        why = sandbox_mod.probe(rt.python, _env(rt.python, rt.env, home=None), sandbox, cwd)
        if why is None:
            return rt.python, rt.env, None
        problems.append(why)
    return python, env, "no Python the programs' user can run: " + "; ".join(problems)


def _env(python: str | Path, python_env: dict[str, str], home: Path | None) -> dict[str, str]:
    return program_env(home=home, python_bin=str(Path(python).parent), extra=python_env)


def _context(shared: dict[str, Any], workerinput: dict | None, sandbox: sandbox_mod.Sandbox | None) -> RunContext:
    impl = manifest_mod.load(shared["impl"], shared["python"])
    impl.error = impl.error or shared["error"]
    reference = manifest_mod.load(locate.bundled("reference"), shared["python"])
    reference.run_root = Path(shared["staged"]["reference"])
    names = naming.Names(shared["run_id"], naming.worker_name(workerinput))
    if workerinput is not None:  # each worker runs programs as a user id of its own
        sandbox = sandbox_mod.allocate(shared["run_as"])
    build = shared["staged"]["build"]
    if build and workerinput is not None and sandbox is not None:
        # the built copy is the controller's user's alone: each worker stages its own from it
        build = str(sandbox_mod.stage(Path(build), names.tmp_root() / f"impl-{names.worker}", sandbox.uid, sandbox.gid, private=True))
    if build:
        impl.run_root = Path(build)
    credentials.set_program_user(sandbox.uid if sandbox else None, sandbox.gid if sandbox else None)
    observe.set_unavailable(shared["meta"]["evidence_unavailable"])
    build = shared["build"]
    if impl.error is None:
        if build is not None and not build["ok"]:
            for mechanism, why in build["why"].items():
                impl.problems[mechanism] = manifest_mod.build_problem(impl, build, mechanism, why)
        manifest_mod.check_programs(impl)
    return RunContext(
        impl=impl,
        reference=reference,
        build=build,
        names=names,
        meta=shared["meta"],
        sandbox=sandbox,
        python=Path(shared["python"]),
        python_env=shared["python_env"],
    )


def _configure_hypothesis(config: pytest.Config) -> None:
    from hypothesis import HealthCheck, Phase, settings

    settings.register_profile(
        HYPOTHESIS_PROFILE,
        derandomize=True,
        database=None,
        deadline=None,
        print_blob=False,
        max_examples=20,
        # no explain phase: it reruns the failing example to list the grader's own lines that
        # only failing runs reached, which is for Hypothesis's users, not for a student
        phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
    )
    if config.getoption("hypothesis_profile", None) is None:
        settings.load_profile(HYPOTHESIS_PROFILE)


class _XdistHooks:
    """Hands the controller's run (id, build result) to each worker."""

    def __init__(self, shared: dict[str, Any]) -> None:
        self.shared = shared

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput["ipc_conformance"] = self.shared


# --- collection ----------------------------------------------------------------------------


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    specs_dir = locate.specs_dir()
    spec_items = [i for i in items if Path(str(i.path)).is_relative_to(specs_dir)]
    if not spec_items:
        return
    if CONTEXT not in config.stash:
        raise pytest.UsageError(
            "ipc-conformance: the conformance specs grade an implementation: run them with "
            "--impl=PATH (for example --impl=student_template)"
        )
    try:
        metas = validate_items(spec_items)
    except ValueError as exc:
        raise pytest.UsageError(f"ipc-conformance: {exc}") from None
    for item, meta in zip(spec_items, metas):
        item.stash[META] = meta
        item.extra_keyword_matches.add(meta.id)  # -k pipe.eof-on-close selects by spec id
        item.user_properties.append(("ipc_spec", meta.as_dict()))
        if item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(meta.timeout * deadline.scale() + TIMEOUT_GRACE))
    _deselect(config, items)


def pytest_ipc_catalogue(config: pytest.Config) -> list[dict[str, Any]]:
    """Every spec, from the spec modules' markers (whatever this session collects)."""
    return [meta.as_dict() for meta in catalogue_specs()]


def _deselect(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave out the specs a plugin says not to grade (pytest_ipc_select: a rubric)."""
    wanted = set(config.getoption("ipc_spec") or [])
    unknown = sorted(wanted - {meta.id for meta in catalogue_specs()})
    if unknown:
        raise pytest.UsageError(f"--ipc-spec: no spec is called {', '.join(unknown)} (python -m conformance.catalogue lists them)")
    keep, drop = [], []
    for item in items:
        meta = item.stash.get(META, None)
        selected = meta is None or config.hook.pytest_ipc_select(config=config, spec_id=meta.id) is not False
        if wanted and (meta is None or meta.id not in wanted):
            selected = False
        (keep if selected else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


# --- running: the status of each spec ------------------------------------------------------


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report: pytest.TestReport = yield
    if META not in item.stash:
        return report
    status, message = _status(report, call)
    findings = _integrity(item) if report.when == "call" else []
    if findings:
        status = Status.FAILED
    if status is None:
        return report
    outcome: dict[str, Any] = {"status": status.value, "message": message}
    exc = call.excinfo.value if call.excinfo else None
    if findings:
        failure = _integrity_failure(item, findings)
        outcome.update(failure=asdict(failure), message=failure.text(), integrity=findings)
        report.outcome = "failed"
    elif status in (Status.FAILED, Status.TIMEOUT) and exc is not None:
        failure = _failure(item, exc, message)
        outcome["failure"] = asdict(failure)
        outcome["message"] = failure.text()
    if isinstance(exc, observe.EvidenceUnavailable):
        outcome["evidence_unavailable"] = exc.source
    if report.when == "call":
        timeline = _timeline(item)
        if timeline is not None:
            why = (outcome.get("failure") or {}).get("observed", "") or _first_line(outcome["message"])
            timeline.decided(status.value, why)
            outcome["timeline"] = timeline.to_json()
    report.user_properties.append(("ipc_status", outcome))
    if status in (Status.NOT_IMPLEMENTED, Status.UNSUPPORTED):
        report.outcome = "skipped"
        report.longrepr = (str(item.path), item.location[1] or 0, f"{status.value}: {_first_line(message)}")
    elif status is Status.BROKEN:
        outcome["trace"] = report.longreprtext  # the grader's own traceback: for its maintainers
    elif report.failed:
        # pytest shows the spec's verdict as the grader explains it, not the grader's traceback
        report.longrepr = f"{meta_id(item)} {status.value}: {outcome['message']}"
    return report


def _spec_id_of(nodeid: str) -> str:
    """The spec id a node id stands for by the house's naming (test_pipe.py::test_eof_on_close
    is pipe.eof-on-close), for showing what runs; the marker's id is the real one."""
    module, _, function = nodeid.partition("::")
    mechanism = Path(module).stem.removeprefix("test_")
    return f"{mechanism}.{function.removeprefix('test_').split('[')[0].replace('_', '-')}"


def meta_id(item: pytest.Item) -> str:
    return item.stash[META].id


def _status(report: pytest.TestReport, call: pytest.CallInfo[None]) -> tuple[Status | None, str]:
    if report.when == "call" and report.passed:
        return Status.PASSED, ""
    excinfo = call.excinfo
    if excinfo is None:
        return None, ""
    exc = excinfo.value
    if isinstance(exc, pytest.skip.Exception):
        return Status.UNSUPPORTED, str(exc.msg)
    if isinstance(exc, pytest.fail.Exception) and "Timeout" in str(exc.msg):
        return Status.TIMEOUT, f"the spec ran out of its time budget ({exc.msg})"
    status = status_of(exc)
    if status is Status.BROKEN:
        return status, f"the harness failed ({type(exc).__name__}: {exc}); this is not charged to the student."
    if report.when == "teardown":
        return Status.BROKEN, f"cleaning up after the spec failed: {exc}"
    return status, _message(exc)


def _message(exc: BaseException) -> str:
    text = str(exc)
    notes = getattr(exc, "__notes__", None)
    if notes:
        text += "\n" + "\n".join(notes)
    if isinstance(exc, BaseExceptionGroup):
        text = "\n".join(_message(e) for e in exc.exceptions)
    return text.strip()


#: Notes Hypothesis adds to a failure: the example as Python sees it (the grader's objects,
#: paths and uids) and advice for developers. A spec states its example in its own words.
HYPOTHESIS_NOTES = (
    "Falsifying example", "Failing explicit example", "Falsifying explicit example", "Failing test case",
    "(note: ", "Explanation:", "You can reproduce", "Trying example", "These lines were always",
)
#: A note that shows the grader's own objects is internal whatever Hypothesis calls it (its
#: wording changes between releases: 6.170 says "Failing test case").
INTERNAL = ("impl=Implementation(", "Implementation(manifest=")

#: The transcripts a failure shows when it names no program: the spec's last ones (after
#: Hypothesis shrinks, the last programs are the failing example's).
TRANSCRIPTS = 8


def _failure(item: pytest.Item, exc: BaseException, message: str) -> run_record.Failure:
    """EXC's reasons as data, with the transcripts of the programs it names (or of the spec's
    last programs): whatever a spec raised, its failure shows what the programs did."""
    explained = _explained(exc)
    parts = explained.parts() if explained is not None else run_record.Failure(observed=message)
    notes = [n for n in getattr(exc, "__notes__", None) or [] if n.strip() and not n.startswith(HYPOTHESIS_NOTES) and not any(i in n for i in INTERNAL)]
    if notes:
        parts.done = "\n".join([parts.done, *notes]).strip()
    if not parts.transcripts:  # the exception named no program: the spec's last ones, now
        supervisor = getattr(item, "funcargs", {}).get("supervisor")
        procs = list(supervisor.procs[-TRANSCRIPTS:]) if isinstance(supervisor, Supervisor) else []
        parts.transcripts = [p.record() for p in procs]
    return parts


def _timeline(item: pytest.Item) -> Timeline | None:
    supervisor = getattr(item, "funcargs", {}).get("supervisor")
    return supervisor.timeline if isinstance(supervisor, Supervisor) else None


def _integrity(item: pytest.Item) -> list[str]:
    """What the guard saw the submission's processes do with the grader's files (integrity.py)."""
    supervisor = getattr(item, "funcargs", {}).get("supervisor")
    if not isinstance(supervisor, Supervisor) or supervisor.guard is None:
        return []
    return supervisor.guard.stop()


def _integrity_failure(item: pytest.Item, findings: list[str]) -> run_record.Failure:
    supervisor = item.funcargs["supervisor"]
    return run_record.Failure(
        observed="integrity: your programs ran the grader's own files, not programs of their own, "
        "so this spec gives no points whatever they printed.",
        evidence=findings,
        fix="Hand in programs of your own: a program may not run, import or copy the grader or its reference implementation.",
        transcripts=[p.record() for p in supervisor.procs[-TRANSCRIPTS:]],
    )


def _explained(exc: BaseException) -> Explained | None:
    """The exception that says why: EXC, or the first explained member of a group (Hypothesis
    raises one for several distinct failures) with the group's status."""
    if isinstance(exc, Explained):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        status = status_of(exc)
        members = [e for e in exc.exceptions if status_of(e) is status]
        for member in members + list(exc.exceptions):
            found = _explained(member)
            if found is not None:
                return found
    return None


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


class Results:
    """The controller's view of every spec, from the reports of whatever process ran it."""

    def __init__(self) -> None:
        self.specs: dict[str, run_record.SpecResult] = {}
        self.decided: set[str] = set()
        self.finished: set[str] = set()
        self.started = time.monotonic()

    def add(self, report: pytest.TestReport) -> None:
        props = dict(report.user_properties)
        meta = props.get("ipc_spec")
        if meta is None:
            return
        spec = self.specs.get(report.nodeid)
        if spec is None:
            spec = self.specs[report.nodeid] = run_record.SpecResult(
                id=meta["id"],
                mechanism=meta["mechanism"],
                title=meta["title"],
                status=Status.BROKEN.value,
                points=0,
                max_points=meta["points"],
                hint=meta["hint"],
                nodeid=report.nodeid,
                message="the spec did not finish: the process running it crashed",
            )
        spec.duration_s = round(spec.duration_s + report.duration, 3)
        if report.when == "teardown":
            self.finished.add(report.nodeid)
        outcome = props.get("ipc_status")
        if outcome is None:
            return
        # setup and call decide; a teardown problem can only spoil a pass
        if report.when == "teardown" and report.nodeid in self.decided and spec.status != "passed":
            return
        self.decided.add(report.nodeid)
        spec.status = outcome["status"]
        spec.message = outcome["message"]
        spec.evidence_unavailable = outcome.get("evidence_unavailable", "")
        spec.integrity = outcome.get("integrity", [])
        spec.trace = outcome.get("trace", "")
        if "timeline" in outcome:
            spec.timeline = outcome["timeline"]
        failure = outcome.get("failure")
        spec.failure = run_record.Failure.from_json(failure) if failure else None
        spec.points = spec.max_points if spec.status == Status.PASSED.value else 0

    def record(self, ctx: RunContext, partial: bool = False) -> run_record.RunRecord:
        """The run record; PARTIAL: only the specs that have finished (setup, call, teardown)."""
        meta = dict(ctx.meta)
        meta["duration_s"] = round(time.monotonic() - self.started, 3)
        if partial:
            meta["partial"] = True
        specs = [s for nodeid, s in self.specs.items() if not partial or nodeid in self.finished]
        return run_record.RunRecord(
            implementation={"path": str(ctx.impl.root), "name": ctx.impl.name},
            specs=specs,
            error=ctx.impl.error,
            meta=meta,
        )


class Recorder:
    """In the process that reports (the controller under xdist): collects every spec's verdict
    and, when the session ends, hands the run record on (pytest_ipc_record)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.results = Results()
        self.running: dict[str, str] = {}
        self.planned: int | None = None

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.results.add(report)
        if report.when == "teardown":
            self.running.pop(report.nodeid, None)
            self._progress()

    def pytest_runtest_logstart(self, nodeid: str, location: Any) -> None:
        self.running[nodeid] = _spec_id_of(nodeid)
        self._progress()

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.planned = len(session.items)

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        self.planned = len(ids)  # every worker collects the same specs

    def _progress(self) -> None:
        record = self.results.record(self.config.stash[CONTEXT], partial=True)
        record.meta["running"] = list(self.running.values())
        if self.planned is not None:
            record.meta["planned"] = self.planned
        self.config.hook.pytest_ipc_progress(config=self.config, record=record)

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        record = self.results.record(self.config.stash[CONTEXT])
        self.config.hook.pytest_ipc_record(config=self.config, record=record)

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        """Remove the run's directory: staged copies, FIFOs and socket files of every worker."""
        import shutil

        shutil.rmtree(self.config.stash[CONTEXT].names.tmp_root(), ignore_errors=True)


# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture
def spec_meta(request: pytest.FixtureRequest) -> SpecMeta:
    """The spec's marker data (id, mechanism, points, hint)."""
    meta = request.node.stash.get(META, None)
    if meta is None:
        raise pytest.UsageError("ipc-conformance fixtures are for specs (tests with a spec marker)")
    return meta


@pytest.fixture
def run_context(request: pytest.FixtureRequest) -> RunContext:
    return request.config.stash[CONTEXT]


def _supervisor(box: sandbox_mod.Sandbox | None, env: dict[str, str], guard: integrity.Guard | None = None, timeline: Timeline | None = None) -> Supervisor:
    return Supervisor(limits=Limits(), env=env, user=box.uid if box else None, group=box.gid if box else None, guard=guard, timeline=timeline)


def _live(config: pytest.Config):
    """--ipc-live: lines past pytest's capture, through its terminal reporter (or stdout)."""
    import contextlib

    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")

    def show(line: str) -> None:
        suspended = capture.global_and_fixture_disabled() if capture is not None else contextlib.nullcontext()
        with suspended:
            if reporter is not None:
                reporter.write_line(line)
            else:
                sys.__stdout__.write(line + "\n")  # -p no:terminal (ipc-grade replay)
                sys.__stdout__.flush()

    return show


@pytest.fixture
def supervisor(run_context: RunContext, request: pytest.FixtureRequest) -> Iterator[Supervisor]:
    """Starts programs for this spec, with a HOME and TMPDIR of their own; at teardown every
    process it left is killed and reaped, and what they left behind is removed and counted."""
    import shutil

    home = sandbox_mod.give(run_context.names.tmp_dir(), run_context.sandbox)
    guard = integrity.Guard(integrity.grader_paths([run_context.reference.cwd]))
    live = _live(request.config) if request.config.getoption("ipc_live") else None
    if live is not None:
        meta = request.node.stash.get(META, None)
        live(f"--- {meta.id if meta else request.node.name}: {meta.title if meta else ''}")
    timeline = Timeline(live=live)
    sup = _supervisor(run_context.sandbox, _env(run_context.python, run_context.python_env, home), guard, timeline)
    deadlock.watching(sup)
    yield sup
    deadlock.watching(None)
    notes = sup.teardown()
    left = [p for p in home.rglob("*") if not p.is_dir()]
    if left:
        notes.append(f"the programs left {len(left)} file(s) in their HOME/TMPDIR: removed")
    shutil.rmtree(home, ignore_errors=True)
    if notes:
        request.node.user_properties.append(("ipc_teardown", notes))


@pytest.fixture
def impl(run_context: RunContext, supervisor: Supervisor, spec_meta: SpecMeta) -> Implementation:
    """The implementation being graded."""
    return Implementation(run_context.impl, supervisor, "your", spec_meta.mechanism)


@pytest.fixture
def reference(run_context: RunContext, supervisor: Supervisor, spec_meta: SpecMeta) -> Implementation:
    """The bundled reference implementation, for interoperability specs."""
    return Implementation(run_context.reference, supervisor, "the reference", spec_meta.mechanism)


@pytest.fixture
def names(run_context: RunContext) -> naming.Names:
    """Names, keys and paths unique to this run and worker."""
    return run_context.names


@pytest.fixture
def ipc_tmp(names: naming.Names, run_context: RunContext) -> Iterator[Path]:
    """A fresh, short directory for FIFOs and socket files, the programs' to write in;
    removed after the spec."""
    import shutil

    path = sandbox_mod.give(names.tmp_dir(), run_context.sandbox)
    yield path
    shutil.rmtree(path, ignore_errors=True)

