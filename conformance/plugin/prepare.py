"""The run, prepared once: what the controller does before any spec, and what every process of
the run shares (``Run``).

The controller (the process pytest started; the only one without pytest-xdist) isolates the
run, gives programs a user and a Python of their own, stages the implementation and the
reference, builds once, probes what this machine shows, and loads and checks the manifest:
``prepare``. Each xdist worker receives that run as data (``Run.to_data``, through
``workerinput``) and takes it as it is (``Run.for_worker``): the manifest is read and checked
once, in the controller; a worker only takes a user id of its own and stages its own copy of
the built implementation.
"""

from __future__ import annotations

import datetime
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conformance import CONTRACT_VERSION, __version__, deadline, locate
from conformance.kernel import credentials, observe
from conformance.outcomes import Sentence, plain
from conformance.run import copies, evidence, integrity, isolation, leftovers, naming, runtime, schedule
from conformance.run import sandbox as sandbox_mod
from conformance.run.limits import Limits
from conformance.run.manifest import (
    Manifest,
    build_problem,
    check_programs,
    load,
    run_build,
)
from conformance.run.supervisor import SUBJECT_GID, Supervisor, program_env
from conformance.run.timeline import Timeline
from conformance.spec import SpecMeta

#: The run, in this process's config.stash; and each spec's marker data, in its item's.
RUN = pytest.StashKey["Run"]()
META = pytest.StashKey[SpecMeta]()

#: Where the controller's run travels to each xdist worker.
WORKERINPUT = "ipc_conformance"

#: The Hypothesis settings profile specs run under when grading: the same submission always
#: gets the same examples, so the same grade.
HYPOTHESIS_PROFILE = "ipc-grading"


@dataclass
class Run:
    """What every spec in this process shares: the implementation, the reference, names."""

    run_id: str
    impl: Manifest
    """Loaded and checked once, by the controller (its ``cwd`` is this process's staged copy)."""
    reference: Manifest
    run_as: str
    """--run-as, as the controller resolved it."""
    python: Path
    """The programs' Python (runtime.py)."""
    python_env: dict[str, str]
    build: dict | None
    """What the build did (manifest.run_build), or None without one."""
    built: str | None
    """The controller's staged copy of the implementation, built: what workers copy."""
    meta: dict[str, Any]
    names: naming.Names
    sandbox: sandbox_mod.Sandbox | None = None
    mqueue_dir: str | None = None
    """The mqueue file system the controller mounted in the run's namespace (isolation.mount_mqueue)."""
    schedule: dict[str, Any] | None = None
    """Schedule control (run/schedule/prepare.py): the library, the build with scheduling points."""

    def env(self, home: Path | None) -> dict[str, str]:
        """The programs' whole environment, with HOME."""
        return _env(self.python, self.python_env, home)

    def enter(self) -> None:
        """Make this process act for the run: the programs' user, the evidence it lacks."""
        credentials.set_program_user(self.sandbox.uid if self.sandbox else None, self.sandbox.gid if self.sandbox else None)
        observe.set_unavailable(self.meta["evidence_unavailable"])
        leftovers.set_mqueue_dir(self.mqueue_dir)

    def to_data(self) -> dict[str, Any]:
        """The run as plain data, for the workers (what is this process's own stays behind)."""
        return {
            "run_id": self.run_id,
            "root": str(self.names.root),
            "impl": self.impl.to_data(),
            "reference": self.reference.to_data(),
            "run_as": self.run_as,
            "python": str(self.python),
            "python_env": self.python_env,
            "build": self.build,
            "built": self.built,
            "meta": self.meta,
            "mqueue_dir": self.mqueue_dir,
            "schedule": self.schedule,
        }

    @classmethod
    def for_worker(cls, data: dict[str, Any], workerinput: dict[str, Any]) -> Run:
        """The controller's run (DATA), in a worker: with a user id of its own and, when that is
        not the controller's, its own copy of the built implementation."""
        names = naming.Names(Path(data["root"]), naming.worker_name(workerinput))
        box = sandbox_mod.allocate(data["run_as"])  # each worker runs programs as a user id of its own
        impl = Manifest.from_data(data["impl"])
        built = data["built"]
        if built and box is not None:
            # the built copy is the controller's user's alone: each worker stages its own from it
            built = str(sandbox_mod.stage(Path(built), names.private_path(f"impl-{names.worker}"), box.uid, box.gid, private=True))
        if built:
            impl.run_root = Path(built)
        restage = (lambda path: sandbox_mod.stage(path, names.private_path(f"impl-sched-{names.worker}"), box.uid, box.gid, private=True)) if box is not None else None
        return cls(
            run_id=data["run_id"],
            impl=impl,
            reference=Manifest.from_data(data["reference"]),
            run_as=data["run_as"],
            python=Path(data["python"]),
            python_env=data["python_env"],
            build=data["build"],
            built=data["built"],
            meta=data["meta"],
            names=names,
            sandbox=box,
            mqueue_dir=data.get("mqueue_dir"),
            schedule=schedule.for_worker(data.get("schedule"), restage),
        )


def prepare(config: pytest.Config, impl: str, run_as: str) -> Run:
    """In the controller only: isolate the run, give programs a user and a Python of their own,
    stage the implementation and the reference, build once, for every worker, and check the
    manifest. A --run-as that cannot be had is a usage error."""
    started = time.time()
    isolated, why_not = isolation.enter_private_ipc()
    try:
        box = sandbox_mod.allocate(run_as)
    except (ValueError, PermissionError, RuntimeError) as exc:
        raise pytest.UsageError(f"ipc-conformance: {exc}") from None
    run_id = naming.new_run_id()
    names = naming.Names(naming.new_run_root(), naming.worker_name(None))
    root = names.tmp_root()
    mqueue_dir = isolation.mount_mqueue(str(names.private_path("mqueue")))
    python, python_env, runtime_note = _programs_python(box, root)
    m = load(impl, python)
    staged_reference = sandbox_mod.stage(locate.bundled("reference"), names.private_path("reference"), 0, 0, private=False)
    built = None
    if m.error is None:
        uid, gid = (box.uid, box.gid) if box else (os.geteuid(), os.getegid())
        try:
            built = str(sandbox_mod.stage(m.root, names.private_path("impl"), uid, gid, private=True))
        except sandbox_mod.StagingError as exc:
            m.error = str(exc)
        else:
            m.run_root = Path(built)
    protected = _protect_grader(config, box, staged_reference)
    env = _env(python, python_env, home=None)
    build = run_build(m, box.uid if box else None, env) if m.error is None and m.build else None
    stage_again = (lambda what: sandbox_mod.stage(m.root, names.private_path(what), uid, gid, private=True)) if m.error is None and built else None
    controlled = schedule.prepare(m, stage_again, box.uid if box else None, env) if build is None or build["ok"] else None
    unavailable = evidence.probe(supervisor_for(box, env))
    if m.error is None:
        if build is not None and not build["ok"]:
            for mechanism, why in build["why"].items():
                m.problems[mechanism] = build_problem(m, build, mechanism, why)
        build = plain(build)  # its sentences kept as words (build.words), for the workers and the record
        check_programs(m)
    reference = load(locate.bundled("reference"), python)
    reference.run_root = staged_reference
    run_as_words, run_as_note = _run_as_words(box), _run_as_note(box)
    meta = {
        "grader": {"name": "ipc-conformance", "version": __version__},
        "contract_version": CONTRACT_VERSION,
        "started_at": datetime.datetime.fromtimestamp(started, datetime.UTC).isoformat(timespec="seconds"),
        "deadline_scale": deadline.scale(),
        "hypothesis_profile": HYPOTHESIS_PROFILE,
        "isolation": plain(isolated),
        "isolation_note": why_not,
        "programs_run_as": plain(run_as_words),
        "programs_uid": box.uid if box else os.geteuid(),
        "programs_run_as_note": plain(run_as_note),
        "programs_python": str(python),
        "programs_python_note": plain(runtime_note),
        "grader_files": protected,
        "build": build,
        "copies": _copies(m, built),
        "evidence_unavailable": unavailable,
        "schedule_control": controlled["words"] if controlled else "not prepared: the build failed",
        "machine": {"kernel": platform.release(), "arch": platform.machine(), "python": platform.python_version()},
        "words": _words(isolation=isolated, programs_run_as=run_as_words, programs_run_as_note=run_as_note,
                        programs_python_note=runtime_note, error=m.error),
    }
    return Run(
        run_id=run_id,
        impl=m,
        reference=reference,
        run_as=run_as,
        python=python,
        python_env=python_env,
        build=build,
        built=built,
        meta=meta,
        names=names,
        sandbox=box,
        mqueue_dir=mqueue_dir,
        schedule=controlled,
    )


def supervisor_for(box: sandbox_mod.Sandbox | None, env: dict[str, str], guard: integrity.Guard | None = None, timeline: Timeline | None = None) -> Supervisor:
    """A supervisor whose programs run as BOX's user (or the grader's), with ENV."""
    return Supervisor(limits=Limits(), env=env, user=box.uid if box else None, group=box.gid if box else None, guard=guard, timeline=timeline)


def configure_hypothesis(config: pytest.Config) -> None:
    """Register the grading profile, and load it unless the command line chose one."""
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


class XdistHooks:
    """Hands the controller's run to each worker."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput[WORKERINPUT] = self.data


# --- helpers ---------------------------------------------------------------------------------


def _copies(m: Manifest, built: str | None) -> list[dict[str, Any]]:
    """The files of the staged, built submission that are copies of the bundled reference
    (copies.find), whatever their names; none when the implementation is the reference itself."""
    if m.error is not None or built is None:
        return []
    reference, template = locate.bundled("reference"), locate.bundled("student_template")
    if m.root.resolve() in (reference.resolve(), (reference / "c").resolve()):
        return []
    return copies.find(Path(built), copies.reference_files([reference, reference / "c"], [template, template / "c"]))


def _words(**parts: Any) -> dict[str, Any]:
    """The parts of the run's meta (and its ``error``) that are Sentences, as their data: the
    record's ``meta.words`` (docs/run-record.md), which a report says in its own language."""
    return {key: value.data() for key, value in parts.items() if isinstance(value, Sentence)}


def _run_as_words(box: sandbox_mod.Sandbox | None) -> Sentence:
    if box is not None:
        return Sentence("an unprivileged user id per grading process")
    return Sentence("root (the grader's own user)") if os.geteuid() == 0 else Sentence("the grader's own user")


def _run_as_note(box: sandbox_mod.Sandbox | None) -> Sentence | None:
    if box is None and os.geteuid() == 0:
        return Sentence(
            "--run-as none: the programs ran as root, with every privilege of the grader: they could "
            "read and change anything on this machine, and no process limit applied"
        )
    return None


def _protect_grader(config: pytest.Config, box: sandbox_mod.Sandbox | None, reference: Path) -> str:
    """Put the grader's installation, its reference and the rubric out of the submission's
    programs' reach (sandbox.deny), where it can; say what was done."""
    if box is None:
        return "readable by the programs (they run as the grader's user); integrity.py watches for their use"
    rubric = config.getoption("rubric", None)
    paths = [Path(p) for p in integrity.grader_paths([reference])] + ([Path(rubric).resolve()] if rubric else [])
    why = sandbox_mod.deny(paths, SUBJECT_GID)
    if why:
        return f"readable by the programs ({why}); integrity.py watches for their use"
    return "out of the programs' reach (an ACL denies their group), and watched (integrity.py)"


def _programs_python(box: sandbox_mod.Sandbox | None, cwd: Path) -> tuple[Path, dict[str, str], Sentence | None]:
    """The Python programs run under (runtime.py) that their user can run: the path, what its
    environment needs, and why none could be made (then python programs cannot start, and their
    specs are broken: the grader's fault, not charged)."""
    problems = []
    python, env = runtime.cache_dir() / "unavailable" / "python3", {}
    for kind in ("venv", "copy"):
        try:
            rt = runtime.ensure(kind)
        except (OSError, RuntimeError) as exc:
            problems.append(f"{kind}: {exc}")
            continue
        python, env = rt.python, rt.env
        why = sandbox_mod.probe(rt.python, _env(rt.python, rt.env, home=None), box, cwd)
        if why is None:
            return rt.python, rt.env, None
        problems.append(why)
    return python, env, Sentence("no Python the programs' user can run: %(problems)s", problems="; ".join(problems))


def _env(python: str | Path, python_env: dict[str, str], home: Path | None) -> dict[str, str]:
    return program_env(home=home, python_bin=str(Path(python).parent), extra=python_env)
