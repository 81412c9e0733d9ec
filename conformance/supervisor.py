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

from . import observe
from .limits import Limits
from .outcomes import HarnessBroken
from .process import Proc


@dataclass(repr=False)
class Supervisor:
    """Starts programs for one spec and, at teardown, ends every process they left behind."""

    limits: Limits = field(default_factory=Limits)
    env: dict[str, str] | None = None
    user: int | None = None
    """Run programs as this user id (the sandbox, see sandbox.py), or as the grader if None."""
    group: int | None = None
    procs: list[Proc] = field(default_factory=list)

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
    ) -> Proc:
        """Start ARGV supervised.

        NETNS (a path such as /run/netns/NAME) runs it in that network namespace. PRIVILEGED
        keeps the grader's own user: for the harness's tools, never for implementation code.
        """
        netns_fd = os.open(netns, os.O_RDONLY | os.O_CLOEXEC) if netns else None
        try:
            proc = self._spawn(argv, cwd, label, stdin, capture_limit, pass_fds, env, netns_fd, privileged)
        finally:
            if netns_fd is not None:
                os.close(netns_fd)
        return proc

    def __repr__(self) -> str:  # Hypothesis prints fixtures in a falsifying example
        return f"<Supervisor of {len(self.procs)} processes>"

    def _spawn(self, argv, cwd, label, stdin, capture_limit, pass_fds, env, netns_fd, privileged) -> Proc:
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
            netns_fd=netns_fd,
        )
        self.procs.append(proc)
        return proc

    def teardown(self) -> list[str]:
        """SIGKILL and reap every process started here and all their descendants.

        Returns notes on what had to be killed (for the instructor's view).
        """
        notes = []
        for p in self.procs:
            if p.poll() is None:
                notes.append(f"{p.label} (pid {p.pid}) was still running and was killed")
        # only programs not yet reaped: a reaped one's pid may already belong to someone else
        running = {p.pid: p for p in self.procs if p.poll() is None}
        kill_tree(list(running), reap_known=running)
        for p in self.procs:
            p.close()
        return notes


def program_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "COV_", "HYPOTHESIS"))}
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # leave no __pycache__ in a submission
    env.pop("PYTHONPATH", None)
    return env


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
