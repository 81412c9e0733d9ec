"""Explanations from kernel evidence: turn /proc into the sentence a student needs.

Each function looks at processes as they are now and returns what it found (possibly nothing):
evidence sentences for a failure's ``evidence=``, and, where the kernel shows what to change,
the fix for its ``fix=``. They only explain: a spec decides the verdict, never these.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from . import observe

READ_CALLS = frozenset({"read", "readv", "pread64", "preadv", "preadv2", "splice"})
WRITE_CALLS = frozenset({"write", "writev", "pwrite64", "pwritev", "pwritev2", "splice", "sendfile"})


def pipe_holders(pids: Iterable[int], exclude: set[int] = frozenset()) -> dict[int, list[tuple[int, observe.Fd]]]:
    """Pipe inode -> [(pid, fd)] for every pipe end the PIDS hold, less the EXCLUDEd inodes."""
    return {ino: holders for ino, holders in observe.pipe_ends(pids).items() if ino not in exclude}


def blocked_on_fd(pid: int, calls: frozenset[str]) -> observe.Fd | None:
    """The fd PID is blocked on, if it sleeps in one of CALLS (its first argument is the fd)."""
    if observe.state(pid) not in ("S", "D"):
        return None
    try:
        sc = observe.syscall(pid)
        if sc is None or sc.running or sc.name not in calls or not sc.args:
            return None
        return observe.fds(pid).get(sc.args[0])
    except observe.NOT_SHOWN:
        return None  # explanations are sentences, never verdicts


@dataclass
class Why:
    """What the kernel shows, a sentence each, and what to change for it (a sentence each)."""

    evidence: list[str] = field(default_factory=list)
    fixes: list[str] = field(default_factory=list)

    @property
    def fix(self) -> str:
        """The fixes as one text, each said once ("" when the kernel shows none)."""
        return " ".join(dict.fromkeys(self.fixes))

    def __bool__(self) -> bool:
        return bool(self.evidence)


def why_no_eof(pids: Iterable[int], roles: Mapping[int, str], exclude: set[int] = frozenset()) -> Why:
    """Why a reader among PIDS never sees EOF: who still holds a write end of its pipe."""
    pids = list(pids)
    why = Why()
    try:
        holders = pipe_holders(pids, exclude)
    except observe.NOT_SHOWN:
        return why  # explanations are sentences, never verdicts
    for pid in pids:
        fd = blocked_on_fd(pid, READ_CALLS)
        if fd is None or fd.inode not in holders:
            continue
        writers = [(p, f) for p, f in holders[fd.inode] if f.access in ("w", "rw")]
        reader = roles.get(pid, f"pid {pid}")
        for p, f in writers:
            who = roles.get(p, f"pid {p}")
            if p == pid:
                why.evidence.append(
                    f"{reader} (pid {pid}) waits in read on fd {fd.fd} ({fd.target}) but itself still "
                    f"holds the write end of that pipe (fd {f.fd}), so it never sees EOF"
                )
                why.fixes.append(f"Close the write end in {reader} right after fork.")
            else:
                why.evidence.append(
                    f"{who} (pid {p}) still holds the write end (fd {f.fd}) of {fd.target}, which "
                    f"{reader} (pid {pid}) reads on fd {fd.fd}, so the reader never sees EOF"
                )
                why.fixes.append(f"Close fd {f.fd} in {who} once it is done writing.")
        if not writers:
            why.evidence.append(f"{reader} (pid {pid}) waits in read on fd {fd.fd} ({fd.target})")
    return why


def why_stuck_writing(pids: Iterable[int], roles: Mapping[int, str], exclude: set[int] = frozenset()) -> list[str]:
    """Which of PIDS sleep in write on one of their pipes (a deadlock shows two of them)."""
    out = []
    for pid in pids:
        fd = blocked_on_fd(pid, WRITE_CALLS)
        if fd is not None and fd.inode not in exclude:
            out.append(f"{roles.get(pid, f'pid {pid}')} (pid {pid}) sleeps in write on fd {fd.fd} ({fd.target}): that pipe is full and nobody reads it")
    return out


def roles_of_tree(root: int, root_role: str = "the parent", child_role: str = "the child") -> dict[int, str]:
    """Names for a parent and its children in messages."""
    roles = {root: root_role}
    kids = observe.children(root)
    for i, pid in enumerate(kids):
        roles[pid] = child_role if len(kids) == 1 else f"{child_role} #{i + 1}"
    return roles
