"""What a program starts with: resource limits, default signals, its user, and no way to outlive us.

Every program runs in its own session with default signal dispositions, an empty signal mask,
a fixed umask, resource limits and no core dumps, optionally as another user and in another
network namespace, and dies with the grader (PR_SET_PDEATHSIG). The grader is a child
subreaper, so orphans come back to it (supervisor.py ends them).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import resource
import signal
from dataclasses import dataclass

#: Every program starts with this umask, whatever the grader's, so a mode it creates is graded
#: the same on every machine (mkfifo(path, 0666) gives 0644 here, never 0600 by luck).
PROGRAM_UMASK = 0o022

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> bool:
    """Make this process the reaper of every orphan below it (Linux >= 3.4)."""
    return _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0


@dataclass(frozen=True)
class Limits:
    """Resource limits for implementation programs (setrlimit(2)); None leaves one alone."""

    processes: int | None = 256
    """Processes and threads the program's user may have beyond those it has now."""
    cpu_seconds: int | None = 120
    address_space: int | None = 4 << 30
    file_size: int | None = 256 << 20
    open_files: int | None = 1024

    def rlimits(self, uid: int) -> list[tuple[int, int]]:
        """The limits for a program that runs as UID (computed in the grader, before fork)."""
        out = [(resource.RLIMIT_CORE, 0)]
        if self.cpu_seconds:
            out.append((resource.RLIMIT_CPU, self.cpu_seconds))
        if self.address_space:
            out.append((resource.RLIMIT_AS, self.address_space))
        if self.file_size:
            out.append((resource.RLIMIT_FSIZE, self.file_size))
        if self.open_files:
            out.append((resource.RLIMIT_NOFILE, self.open_files))
        if self.processes and uid != 0:
            # RLIMIT_NPROC counts every task of the real user, so the budget goes on top of
            # what that user runs already. (Root is exempt from it: see sandbox.py.)
            out.append((resource.RLIMIT_NPROC, _tasks_of_user(uid) + self.processes))
        return out


def _tasks_of_user(uid: int) -> int:
    count = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    count += len(os.listdir(f"/proc/{entry}/task"))
            except OSError:
                pass
    return count


CLONE_NEWNET = 0x40000000


def _child_setup(rlimits: list[tuple[int, int]], user: int | None, group: int | None, netns_fd: int | None, groups: tuple[int, ...] = ()) -> None:
    """Runs in the child between fork and exec: no locks, no threads, nothing that can hang.

    GROUPS are the supplementary groups of a program that runs as USER (sandbox.SUBJECT_GID
    marks the submission's programs, which the grader's own files deny).
    """
    for sig in range(1, signal.NSIG):
        _libc.signal(sig, 0)  # SIG_DFL; SIGKILL, SIGSTOP and glibc's own fail harmlessly
    signal.pthread_sigmask(signal.SIG_SETMASK, ())
    if netns_fd is not None and _libc.setns(netns_fd, CLONE_NEWNET) != 0:
        os._exit(126)
    if user is not None:  # after setns, which needs the privileges this gives up
        os.setgroups(list(groups))
        os.setgid(group if group is not None else user)
        os.setuid(user)
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # after setuid, which clears it
    for res, value in rlimits:
        soft, hard = resource.getrlimit(res)
        new_hard = value if hard == resource.RLIM_INFINITY else min(hard, value)
        try:
            resource.setrlimit(res, (min(value, new_hard), new_hard))
        except (ValueError, OSError):
            pass
