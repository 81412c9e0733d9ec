"""The supervisor: starts programs for one spec and, at teardown, ends every process they left.

When a spec ends, the Supervisor stops and SIGKILLs every process the spec started and all their
descendants, including those that left the session or double-forked: the grader is a child
subreaper (limits.become_subreaper), so orphans come back to it.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from conformance.kernel import observe
from conformance.outcomes import HarnessBroken, Sentence, SpecFailure

from . import keeper as keeper_mod
from . import leftovers
from .integrity import Guard
from .keeper import Keeper
from .limits import Limits
from .process import Proc
from .timeline import Timeline

#: The supplementary group of the submission's own programs (never the reference's or the
#: harness's): the grader's files deny it (sandbox.deny), so the reference stays out of reach.
SUBJECT_GID = 2_099_999_999


@dataclass(repr=False)
class Supervisor:
    """Starts programs for one spec and, at teardown, ends every process they left behind."""

    limits: Limits = field(default_factory=Limits)
    env: dict[str, str] | None = None
    user: int | None = None
    """Run programs as this user id (the sandbox, see sandbox.py), or as the grader if None."""
    group: int | None = None
    guard: Guard | None = None
    """Watches the submission's processes for the grader's files (integrity.py)."""
    timeline: Timeline | None = None
    """Keeps what happened, in time (timeline.py)."""
    procs: list[Proc] = field(default_factory=list)
    keeper: Keeper | None = None
    """Keeps the programs to their share of the machine's tables and notes others' floods (keeper.py)."""
    sweeps: bool = True
    """At teardown, also remove what the programs' user left (leftovers.sweep). A spec's
    supervisor leaves that to the spec's very end, once its own objects are gone (fixtures.py)."""
    schedule: dict | None = None
    """What the spec's exploration of schedules did and guarantees (run/schedule/control.py),
    when it ran one: the spec's ``schedule`` in the record."""

    def spawn(
        self,
        argv: Sequence[str],
        *,
        cwd: str,
        label: str,
        stdin: str = "pipe",
        capture_limit: int = 8 << 20,
        pass_fds: Sequence[int] = (),
        env: dict[str, str] | None = None,
        netns: str | None = None,
        privileged: bool = False,
        grader_chose: bool = False,
        subject: bool = False,
    ) -> Proc:
        """Start ARGV supervised.

        NETNS (a path such as /run/netns/NAME) runs it in that network namespace. PRIVILEGED
        keeps the grader's own user: for the harness's tools, never for implementation code.
        GRADER_CHOSE says the grader, not a manifest, chose ARGV[0] (the programs' Python, a
        helper): if it cannot start, the grader is at fault. SUBJECT says it is the submission's
        own program: the guard watches it and its descendants.
        """
        if self.keeper is not None and self.keeper.findings:
            raise SpecFailure(Sentence("%(program)s was not started: in this spec %(finding)s.", program=label, finding=self.keeper.findings[0]), fix=keeper_mod.FIX)
        if subject and self.guard is not None:
            self.guard.check_argv(argv, label)
        netns_fd = os.open(netns, os.O_RDONLY | os.O_CLOEXEC) if netns else None
        try:
            groups = (SUBJECT_GID,) if subject and self.user is not None and not privileged else ()
            proc = self._spawn(argv, cwd, label, stdin, capture_limit, pass_fds, env, netns_fd, privileged, grader_chose, groups)
        finally:
            if netns_fd is not None:
                os.close(netns_fd)
        proc.subject = subject
        if subject and self.guard is not None:
            self.guard.watch(lambda: proc.pid if proc.alive() else None, label)
        return proc

    def __repr__(self) -> str:  # Hypothesis prints fixtures in a falsifying example
        return f"<Supervisor of {len(self.procs)} processes>"

    def _spawn(self, argv, cwd, label, stdin, capture_limit, pass_fds, env, netns_fd, privileged, grader_chose, groups) -> Proc:
        proc = Proc(
            argv,
            cwd=cwd,
            label=label,
            env=env or self.env or program_env(),
            limits=self.limits,
            capture_limit=capture_limit,
            stdin=stdin,
            pass_fds=pass_fds,
            user=None if privileged else self.user,
            group=None if privileged else self.group,
            grader_chose=grader_chose,
            groups=groups,
            netns_fd=netns_fd,
        )
        self.procs.append(proc)
        if self.timeline is not None:
            proc.timeline = self.timeline
            self.timeline.started(proc)
        return proc

    def teardown(self) -> list[str]:
        """SIGKILL and reap every process started here and all their descendants.

        Returns notes on what had to be killed (for the instructor's view).
        """
        notes = []
        if self.guard is not None:
            self.guard.stop()
        if self.timeline is not None:
            self.timeline.stop()
        if self.keeper is not None:
            self.keeper.stop()
        for p in self.procs:
            if p.poll() is None:
                notes.append(f"{p.label} (pid {p.pid}) was still running and was killed")
        # only programs not yet reaped: a reaped one's pid may already belong to someone else
        running = {p.pid: p for p in self.procs if p.poll() is None}
        kill_tree(list(running), reap_known=running)
        if self.user is not None and self.user != os.geteuid():
            # whatever escaped the tree (a process that keeps forking, one that double-forked
            # past the subreaper's view) still runs as the programs' user: none outlives the spec
            escaped = kill_user(self.user)
            if escaped:
                notes.append(f"{len(escaped)} process(es) of the programs' user outside the spec's tree were killed: {escaped[:10]}")
            if self.sweeps:
                notes += leftovers.sweep(self.user, self.group).notes()
        for p in self.procs:
            p.close()
        return notes


#: Where programs find commands: the programs' Python first (so ``python3`` on PATH is theirs,
#: never the grader's), then the system's directories.
SYSTEM_PATH = ("/usr/local/bin", "/usr/bin", "/bin")


def program_env(home: str | os.PathLike[str] | None = None, python_bin: str | None = None, extra: dict[str, str] | None = None) -> dict[str, str]:
    """A program's whole environment, from an allowlist: nothing of the grader's (its paths,
    tokens, rubric, PYTHONPATH) reaches a program. HOME and TMPDIR are HOME, a directory of the
    program's own; PATH starts with PYTHON_BIN, the programs' Python."""
    path = [python_bin] if python_bin else []
    env = {
        "PATH": ":".join([*path, *SYSTEM_PATH]),
        "LANG": os.environ.get("LANG", "C.UTF-8") if os.environ.get("LANG", "").isascii() else "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",  # leave no __pycache__ in a submission
        "PYTHONNOUSERSITE": "1",  # no ~/.local packages: the programs' Python has what they may use
    }
    if home is not None:
        env["HOME"] = env["TMPDIR"] = str(home)
    env.update(extra or {})
    return env


def kill_user(uid: int, rounds: int = 50) -> list[int]:
    """SIGKILL every process of user UID until none is left; the pids that had to be killed.

    A helper running as UID calls kill(-1, SIGKILL), which the kernel applies to every process
    that user may signal, in one sweep: a process that keeps forking (each child forks and its
    parent exits) cannot hop out of a tree walk that never sees it. Never for a uid anything
    but programs uses (sandbox.py's pool ids).
    """
    assert uid != 0 and uid != os.geteuid(), "kill_user is for the programs' own user"
    killed: list[int] = []
    for _ in range(rounds):
        alive = observe.pids_of_user(uid)
        if not alive:
            break
        killed += [p for p in alive if p not in killed]
        try:
            subprocess.run(["kill", "-KILL", "-1"], user=uid, group=uid, extra_groups=[], env={"PATH": ":".join(SYSTEM_PATH)},
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=10)
        except (OSError, subprocess.SubprocessError):
            for pid in alive:
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
        _reap(os.getpid(), {})
    return killed


def kill_tree(roots: Iterable[int], reap_known: dict[int, Proc] | None = None, rounds: int = 200) -> None:
    """Stop, then SIGKILL, ROOTS, their descendants and any orphan adopted by this process.

    Stopping first freezes a fork bomb: a stopped process cannot fork, so the scan converges.
    """
    reap_known = reap_known or {}
    me = os.getpid()
    roots = list(roots)
    for pid in roots:
        try:
            os.killpg(pid, signal.SIGKILL)  # each program leads its own session and group
        except (ProcessLookupError, PermissionError):
            pass
    for _ in range(rounds):
        victims = set(roots) | set(observe.children(me))
        victims |= {d for r in roots for d in observe.descendants(r)}
        alive = [v for v in victims if v != me and observe.state(v) not in (None, "Z", "X")]
        for v in alive:
            try:
                os.kill(v, signal.SIGSTOP)
            except (ProcessLookupError, PermissionError):
                pass
        for v in alive:
            try:
                os.kill(v, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        _reap(me, reap_known)
        if not alive:
            break
    _reap(me, reap_known)


def _reap(me: int, known: dict[int, Proc]) -> None:
    for child in observe.children(me):
        if child in known:
            continue
        try:
            os.waitpid(child, os.WNOHANG if observe.state(child) != "Z" else 0)
        except ChildProcessError:
            pass
    for pid, proc in known.items():
        if proc.poll() is None:
            try:
                proc.popen.wait(5)
            except subprocess.TimeoutExpired as exc:
                raise HarnessBroken(f"pid {pid} survived SIGKILL for 5 s (state {observe.state(pid)})") from exc
            proc.poll()
