"""A spec's programs under schedule control, over many schedules: the exploration.

A controlled spec hands ``Explorer.explore`` a scenario: a function that starts the programs
(``Controlled.spawn``), lets them run (``start``), acts on them (``hold``, ``act``), waits for
them (``finish``, ``quiet``) and checks what they did, raising the spec's failure. The explorer
runs it once per schedule, each with a fresh scheduler and a plan of its own (pct.Plan), until
one fails or the budget is spent. Schedules derive from a seed fixed by the spec and the
submission, so a regrade explores the same schedules and gives the same verdict; the failure
names the failing schedule's seed, and ``--schedule SEED`` (IPC_SCHEDULE) replays it alone.

What was explored and what it guarantees is the spec's ``schedule`` in the run record
(docs/schedules.md, docs/run-record.md): kept on the spec's supervisor, read by the verdict.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conformance.deadline import Deadline
from conformance.outcomes import HarnessBroken, Sentence, SpecDeadlock, SpecFailure, SpecTimeout, one_after_another
from conformance.settings import SETTINGS, SettingError

from ..manifest import Manifest
from ..process import Proc
from ..supervisor import Supervisor, kill_tree
from .build import NO_PROGRAM, STATIC
from .library import NO_COMPILER, Library
from .pct import Plan, at_least, draw, per_schedule, probability_words
from .scheduler import Scheduler
from .trail import marked_steps, timeline_steps

#: The depths the schedules of an exploration take in turn (the first, depth 1, also measures
#: the number of choices the later ones draw their change points among); 0 is PCT that lets go
#: after releases (pct.py), which the stated bounds do not count.
DEPTHS = (1, 0, 2, 0, 3, 0, 4, 0)
#: The bounds a report states: for races of these depths.
STATED = (1, 2)
#: A margin on the choices seen so far, for the k of the next plan.
MARGIN = 1.25
#: An exploration stops after this long (scaled), keeping what it explored: the record says so.
TIME_LIMIT = 45.0
#: The setting that replays one schedule (--schedule, IPC_SCHEDULE).
SCHEDULE = SETTINGS["schedule"]
#: The seed setting (IPC_SEED) also moves every exploration's base seed (the calibration does).
SEED = SETTINGS["seed"]
#: The budget setting (IPC_SCHEDULES): every exploration's, instead of its spec's own.
BUDGET = SETTINGS["schedules"]


#: Why a spec's programs run without control (Setup.why_not, build.kind_of's "none: WHY"), as
#: prepare.py and build.py say it; the guarantee says it again in words (REASONS, by its text).
NOT_PREPARED = Sentence("schedule control was not prepared for this run")
NO_LIBRARY = Sentence("no scheduling library")
NOT_MADE = Sentence("the build with scheduling points was not made")
NO_BUILD = Sentence("no build with scheduling points")
REASONS = {str(s): s for s in (NOT_PREPARED, NO_LIBRARY, NOT_MADE, NO_BUILD, NO_PROGRAM, STATIC, NO_COMPILER)}


@dataclass
class Setup:
    """What a run gives its controlled specs (the plugin makes it, prepare.py)."""

    library: Library | None
    why_not: str
    """Why there is no control at all on this machine ('' when there is)."""
    manifest: Manifest | None
    """The implementation as controlled specs run it: the build with the points for C."""
    kinds: dict[str, str]
    """build.kind_of per mechanism."""
    uid: int | None
    gid: int | None
    socket_dir: Callable[[], Path]
    """A new directory only the programs' user (and the grader) can enter."""
    fingerprint: str
    """The submission's: with the spec's id, the base seed of its explorations."""


class Controlled:
    """One schedule of a scenario: what the scenario's programs run under."""

    def __init__(self, explorer: Explorer, scheduler: Scheduler, plan: Plan, index: int) -> None:
        self.explorer = explorer
        self.scheduler = scheduler
        self.plan = plan
        self.index = index
        self.procs: list[Proc] = []

    @property
    def seed(self) -> str:
        return str(self.plan)

    def spawn(self, *args: str, mechanism: str | None = None, stdin: str = "devnull", capture_limit: int = 1 << 20) -> Proc:
        """Start the submission's program for MECHANISM with ARGS, under the schedule (it runs
        once ``start`` is called)."""
        ex = self.explorer
        manifest = ex.setup.manifest
        assert manifest is not None
        mechanism = mechanism or ex.mechanism
        program = manifest.program(mechanism)
        if program is None:
            raise HarnessBroken(f"no program for {mechanism} to run under schedule control")
        env = dict(ex.supervisor.env or {})
        env.update(ex.setup.library.env(self.scheduler.path, str(manifest.cwd) if program.interpreter else None))
        label = Sentence("your `%(program)s`", program=" ".join([mechanism, *args[:1]]))
        proc = ex.supervisor.spawn(
            [*program.argv, *args], cwd=str(manifest.cwd), label=label, stdin=stdin, capture_limit=capture_limit,
            env=env, grader_chose=program.interpreter, subject=True,
        )
        self.procs.append(proc)
        if not self.scheduler.expect(proc.pid, label, Deadline.of(5.0).remaining()):
            proc.wait(5, check_implemented=True)  # a stub says `not implemented` before anything
            raise _Uncontrolled(Sentence("%(program)s never reached the scheduler", program=label))
        return proc

    def start(self) -> None:
        self.scheduler.start()

    def hold(self) -> contextlib.AbstractContextManager[None]:
        """No program runs while the grader acts on them from outside (connects, sends)."""
        return self.scheduler.hold()

    def act(self, label: str, run: Callable[[], Any], when: Callable[[], bool] | None = None, pid: int | None = None) -> None:
        """A step of the grader's own, placed among the programs' steps by the schedule."""
        self.scheduler.act(label, run, when, pid)

    def quiet(self, timeout: float | Deadline) -> bool:
        """Wait until no program can run (all wait, or have ended) and no grader action is due;
        then until the grader has read all the programs wrote to their stdout."""
        deadline = Deadline.of(timeout)
        settled = self.scheduler.quiet(deadline.remaining())
        self._spun()
        for proc in self.procs:
            _has_read(proc, self.scheduler.written.get(proc.harness_pipe_of.get("stdout"), 0), deadline.slice(1.0))
        return settled

    def acted(self) -> bool:
        """Every grader action given to the schedule (act) has been taken."""
        return not self.scheduler._pending_acts()

    def printed(self, proc: Proc, prefix: str) -> Callable[[], bool]:
        """A condition for an act: PROC has printed a line starting with PREFIX. What a program
        wrote in a step is in its pipe by the step's end; the grader's reader is let take all of
        it first (bounded), so that the answer is the same in every run."""
        inode = proc.harness_pipe_of.get("stdout")

        def check() -> bool:
            _has_read(proc, self.scheduler.written.get(inode, 0), 0.5)
            return any(line.startswith(prefix) for line in proc.lines())

        return check

    def _spun(self) -> None:
        """A task spins: control has ended, and this schedule says nothing (see scheduler.SPIN_SECONDS)."""
        if self.scheduler.spinning:
            raise _Uncontrolled(self.scheduler.spinning)

    def finish(self, procs: list[Proc], timeout: float | Deadline, doing: str) -> None:
        """Wait for PROCS to exit. A SpecDeadlock at once when, under this schedule, every
        process left waits for another and none can go on; SpecTimeout at TIMEOUT."""
        deadline = Deadline.of(timeout)
        while not all(p.poll() is not None for p in procs):
            self._spun()
            if self.scheduler.error:
                raise HarnessBroken(f"the scheduler failed: {self.scheduler.error}")
            if self.scheduler.idle():
                waits = self.scheduler.waiting()
                raise SpecDeadlock(
                    Sentence("%(doing)s never finished: under this schedule every process came to wait for another, and none can go on.", doing=doing),
                    evidence=[Sentence("%(sentence)s.", sentence=w) for w in waits],
                    procs=procs,
                )
            if deadline.expired():
                raise SpecTimeout(Sentence("%(doing)s did not finish within %(within)s.", doing=doing, within=str(deadline)),
                                  evidence=[Sentence("%(sentence)s.", sentence=w) for w in self.scheduler.waiting()], procs=procs)
            for p in procs:
                if p.poll() is None:
                    p.exited_within(deadline.slice(0.02))
                    break
        for p in procs:
            p.wait(deadline.slice(5.0))


def _has_read(proc: Proc, n: int, timeout: float | Deadline) -> None:
    """Wait (up to TIMEOUT) until the grader's reader has taken N bytes of PROC's stdout, or it
    ended: what the schedule let the program write is all there before a condition is judged."""
    deadline = Deadline.of(timeout)
    with proc._cond:
        while proc.stdout.length < n and not proc.stdout.eof and not deadline.expired():
            proc._cond.wait(min(deadline.remaining(), 0.01))


class _Uncontrolled(Exception):
    """A program of the scenario never reached the scheduler, or one spins: control is impossible
    here, and WHY says why (the guarantee says it: "Ran without schedule control: WHY.")."""

    def __init__(self, why: Sentence) -> None:
        super().__init__(why)
        self.why = why


class Explorer:
    """A spec's explorations of the schedules of its scenarios."""

    def __init__(self, setup: Setup, supervisor: Supervisor, spec_id: str, mechanism: str, replay: str | None = None) -> None:
        self.setup = setup
        self.supervisor = supervisor
        self.spec_id = spec_id
        self.mechanism = mechanism
        self.given = replay
        """--ipc-schedule as given (the environment's IPC_SCHEDULE otherwise)."""
        self.record: dict[str, Any] | None = None

    def base_seed(self) -> int:
        try:
            override = SEED.from_env()
        except SettingError as exc:
            raise HarnessBroken(str(exc)) from None
        mixed = f"{self.spec_id}:{self.setup.fingerprint}:{'' if override is None else override}"
        return zlib.crc32(mixed.encode()) | zlib.adler32(mixed.encode()) << 32

    def replay(self) -> Plan | None:
        try:
            seed = SCHEDULE.resolve(self.given, SCHEDULE.pytest_option)
        except SettingError as exc:
            raise HarnessBroken(str(exc)) from None
        return None if seed is None else Plan.of(seed)

    def control(self) -> str:
        """How this spec's programs can be controlled: "points", "calls" or "none: WHY"."""
        if self.setup.library is None:
            return f"none: {self.setup.why_not}"
        if self.setup.manifest is None:
            return f"none: {self.setup.why_not or NO_BUILD}"
        return self.setup.kinds.get(self.mechanism, "calls")

    def explore(self, scenario: Callable[[Controlled], None], budget: int, *, what: str = "") -> None:
        """Run SCENARIO under BUDGET schedules (or the one --schedule names); the first failure
        ends it, naming its schedule. WHAT says what the scenario does, for the report."""
        control = self.control()
        base = self.base_seed()
        try:
            budget = BUDGET.from_env() or budget
        except SettingError as exc:
            raise HarnessBroken(str(exc)) from None
        record: dict[str, Any] = {"what": what, "seed": f"{base:#x}", "budget": budget, "control": control.split(":")[0]}
        self.record = record
        self.supervisor.schedule = record
        if control.startswith("none"):
            record.update(schedules=0, why=control.partition(": ")[2])
            state_guarantee(record, REASONS.get(record["why"]))
            return
        if control == "calls":
            record["why"] = self.setup.kinds.get(self.mechanism, "") and "its build did not take the flags that add points at shared-memory accesses: only its IPC calls are points"
        only = self.replay()
        plans: list[Plan] = []
        started = time.monotonic()
        limit = Deadline(TIME_LIMIT)
        k_seen = 0
        sock_dir = self.setup.socket_dir()
        counts = {"tasks": 0, "processes": 0, "points": 0, "choices": 0, "outside": 0}
        by_depth: dict[int, int] = {}
        outside: list[str] = []
        why: Sentence | None = None
        """Why control ended, when a program never reached it or spins (the guarantee's words)."""
        try:
            for i in range(1 if only else budget):
                if only is not None:
                    plan = only
                else:
                    depth = DEPTHS[i % len(DEPTHS)]
                    plan = Plan(draw(base, i), depth, int(k_seen * MARGIN) + 4 if i else 1)
                plans.append(plan)
                try:
                    stats = self._one(scenario, plan, i, sock_dir)
                except _Uncontrolled as exc:
                    why = exc.why
                    record.update(control="none", why=str(why), schedules=0)
                    state_guarantee(record, why)
                    return
                except (SpecFailure, SpecTimeout) as exc:
                    stats = self._last_stats
                    self._count(counts, by_depth, outside, plan, stats)
                    record.update(self._summary(counts, by_depth, outside, len(plans), started))
                    record["failing"] = {"seed": str(plan), "index": i + 1, "depth": plan.depth}
                    state_guarantee(record)
                    raise self._explained(exc, plan, i, budget, only is not None) from None
                self._count(counts, by_depth, outside, plan, stats)
                k_seen = max(k_seen, stats.choices)
                if limit.expired() and i + 1 < budget:
                    record["time_limited"] = True
                    break
        finally:
            record.update(self._summary(counts, by_depth, outside, len(plans), started))
            state_guarantee(record, why)
            if only is not None:
                record["replayed"] = str(only)

    _last_stats: Any = None

    def _one(self, scenario: Callable[[Controlled], None], plan: Plan, index: int, sock_dir: Path) -> Any:
        path = str(sock_dir / f"s{index}")
        scheduler = Scheduler(plan, path, self.setup.uid, self.setup.gid)
        run = Controlled(self, scheduler, plan, index)
        timeline = self.supervisor.timeline
        try:
            scenario(run)
            run._spun()
        except (SpecFailure, SpecTimeout):
            run._spun()  # a failure once control had ended is not this schedule's
            if timeline is not None and hasattr(timeline, "scheduled"):
                timeline.scheduled(str(plan), timeline_steps(scheduler.trail, scheduler.cut), marked_steps(scheduler))
            raise
        finally:
            self._last_stats = scheduler.stats
            scheduler.let_go()
            kill_tree([p.pid for p in run.procs if p.poll() is None])
            scheduler.close()
            if scheduler.error:
                raise HarnessBroken(f"the scheduler failed: {scheduler.error}")
        return scheduler.stats

    @staticmethod
    def _count(counts: dict[str, int], by_depth: dict[int, int], outside: list[str], plan: Plan, stats: Any) -> None:
        if stats is None:
            return
        by_depth[plan.depth] = by_depth.get(plan.depth, 0) + 1
        counts["tasks"] = max(counts["tasks"], stats.tasks)
        counts["processes"] = max(counts["processes"], stats.processes)
        counts["points"] = max(counts["points"], stats.steps)
        counts["choices"] = max(counts["choices"], stats.choices)
        counts["outside"] += stats.outside_count
        for o in stats.outside + stats.uncontrolled:
            if o not in outside and len(outside) < 5:
                outside.append(o)

    @staticmethod
    def _summary(counts: dict[str, int], by_depth: dict[int, int], outside: list[str], n: int, started: float) -> dict[str, Any]:
        bounds = {}
        for d in STATED:
            p = per_schedule(d, counts["tasks"], counts["choices"])
            bounds[str(d)] = round(at_least(p, by_depth.get(d, 0)), 6)
        return {
            "schedules": n,
            "depths": {str(d): c for d, c in sorted(by_depth.items())},
            "tasks": counts["tasks"],
            "processes": counts["processes"],
            "points": counts["points"],
            "choices": counts["choices"],
            "bounds": bounds,
            "outside": counts["outside"],
            "outside_examples": [str(o) for o in outside],
            "outside_words": [o.data() if isinstance(o, Sentence) else None for o in outside],
            "seconds": round(time.monotonic() - started, 2),
        }

    def _explained(self, exc: SpecFailure | SpecTimeout, plan: Plan, index: int, budget: int, replay: bool) -> SpecFailure | SpecTimeout:
        which = Sentence("schedule %(plan)s", plan=str(plan)) if replay else Sentence("schedule %(n)s of %(budget)s (seed %(plan)s)", n=index + 1, budget=budget, plan=str(plan))
        observed = Sentence("Under %(which)s: %(observed)s", which=which, observed=exc.observed)
        how = Sentence(
            "The grader let one of your processes run at a time, from one scheduling point (a semaphore "
            "operation, a read or write on a pipe or socket, a signal, an access to shared memory, a line "
            "of Python) to the next, and chose which by the schedule's seed."
        )
        done = one_after_another([how, exc.done], " ") if exc.done else how
        replay_words = Sentence("Replay this interleaving: ipc-grade replay %(spec)s --impl DIR --schedule %(plan)s.", spec=self.spec_id, plan=str(plan))
        fix = one_after_another([exc.fix, replay_words], " ") if exc.fix else replay_words
        parts = {"expected": exc.expected, "done": done, "evidence": exc.evidence, "fix": fix, "procs": exc.procs}
        out = type(exc)(observed, **parts)
        out.because = exc.because
        return out


def state_guarantee(record: dict[str, Any], why: Sentence | None = None) -> None:
    """Put RECORD's guarantee in it: ``guarantee`` (its text) and ``guarantee_words`` (its
    words, for a report in another language: docs/run-record.md). WHY: why it ran without
    control, in words (RECORD's ``why`` is its text)."""
    said = guarantee_words(record, why)
    record["guarantee"], record["guarantee_words"] = str(said), said.data()


def guarantee_words(record: dict[str, Any], why: Sentence | None = None) -> Sentence:
    """The one sentence a report states for a spec's exploration (docs/schedules.md); WHY, why
    it ran without control in words, when RECORD's ``why`` is its text."""
    if record.get("control") == "none":
        said = why if why is not None and str(why) == record.get("why") else record.get("why")
        return Sentence("Ran without schedule control: %(why)s.", why=said or Sentence("control is not possible here"))
    n = record.get("schedules", 0)
    if record.get("replayed"):
        head = Sentence("Replayed schedule %(seed)s alone", seed=record["replayed"])
    else:
        head = Sentence("%(n)s schedules (seed %(seed)s)", n=n, seed=record["seed"]) if n != 1 else Sentence("%(n)s schedule (seed %(seed)s)", n=n, seed=record["seed"])
    processes, tasks = record.get("processes", 0), record.get("tasks", 0)
    who = Sentence("%(n)s processes", n=processes) if processes != 1 else Sentence("%(n)s process", n=processes)
    if tasks != processes:
        who = Sentence("%(processes)s (%(tasks)s tasks, counting threads and the grader's own steps)", processes=who, tasks=tasks)
    shape = Sentence("of %(who)s and up to %(choices)s scheduling points", who=who, choices=record.get("choices", 0))
    failing = record.get("failing")
    if failing:
        return Sentence("%(head)s %(shape)s explored; schedule %(index)s (%(seed)s) made it fail, and replays it exactly.",
                        head=head, shape=shape, index=failing["index"], seed=failing["seed"])
    bounds = record.get("bounds", {})
    said = [Sentence("one of depth %(depth)s with probability at least %(probability)s", depth=d, probability=probability_words(bounds.get(str(d), 0.0))) if i else
            Sentence("a race of depth %(depth)s is found with probability at least %(probability)s", depth=d, probability=probability_words(bounds.get(str(d), 0.0)))
            for i, d in enumerate(d for d in STATED if record.get("depths", {}).get(str(d)))]
    calls = Sentence(" (points at its IPC calls only: its build did not take the flags for shared-memory accesses)") if record.get("control") == "calls" else ""
    limited = Sentence(", stopped at the time limit after %(n)s of %(budget)s", n=n, budget=record.get("budget")) if record.get("time_limited") else ""
    outside = Sentence("; %(n)s wait(s) outside control", n=record["outside"]) if record.get("outside") else ""
    bound = Sentence(": by PCT's bound, %(said)s", said=one_after_another(said, ", ")) if said else ""
    return Sentence("%(head)s %(shape)s explored%(calls)s%(limited)s, every one passed%(bound)s%(outside)s.",
                    head=head, shape=shape, calls=calls, limited=limited, bound=bound, outside=outside)


def fingerprint(root: Path) -> str:
    """The submission's content, for its seeds: the same files give the same schedules."""
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink())[:2000]:
        rel = path.relative_to(root)
        if any(part.startswith(".") or part == "__pycache__" for part in rel.parts):
            continue  # hidden files and Python's caches: not the submission's content
        h.update(str(rel).encode() + b"\0")
        with contextlib.suppress(OSError):
            h.update(path.read_bytes()[: 1 << 20])
    return h.hexdigest()[:16]


__all__ = ["DEPTHS", "REASONS", "Controlled", "Explorer", "Setup", "fingerprint", "guarantee_words", "state_guarantee"]
