"""Explanations from kernel evidence: turn /proc into the sentence a student needs.

Each function looks at processes as they are now and returns what it found (possibly nothing):
evidence sentences for a failure's ``evidence=``, and, where the kernel shows what to change,
the fix for its ``fix=``. They only explain: a spec decides the verdict, never these.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ..outcomes import Sentence, one_after_another
from . import observe

READ_CALLS = frozenset({"read", "readv", "pread64", "preadv", "preadv2", "splice"})
WRITE_CALLS = frozenset({"write", "writev", "pwrite64", "pwritev", "pwritev2", "splice", "sendfile"})


def pipe_holders(pids: Iterable[int], exclude: set[int] = frozenset()) -> dict[int, list[tuple[int, observe.Fd]]]:
    """Pipe inode -> [(pid, fd)] for every pipe end the PIDS hold, less the EXCLUDEd inodes."""
    return {ino: holders for ino, holders in observe.pipe_ends(pids).items() if ino not in exclude}


def blocked_on_fd(pid: int, calls: frozenset[str]) -> observe.Fd | None:
    """The fd PID is blocked on, if it sleeps in one of CALLS (its first argument is the fd)."""
    if observe.state(pid) != "S":  # D: disk or a kernel lock, not the fd (observe.asleep)
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
        return one_after_another(list(dict.fromkeys(self.fixes)), " ")

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
        reader = roles.get(pid, Sentence("pid %(pid)s", pid=pid))
        for p, f in writers:
            who = roles.get(p, Sentence("pid %(pid)s", pid=p))
            if p == pid:
                why.evidence.append(Sentence(
                    "%(reader)s (pid %(pid)s) waits in read on fd %(fd)s (%(pipe)s) but itself still "
                    "holds the write end of that pipe (fd %(write_fd)s), so it never sees EOF",
                    reader=reader, pid=pid, fd=fd.fd, pipe=fd.target, write_fd=f.fd,
                ))
                why.fixes.append(Sentence("Close the write end in %(reader)s right after fork.", reader=reader))
            else:
                why.evidence.append(Sentence(
                    "%(who)s (pid %(pid)s) still holds the write end (fd %(fd)s) of %(pipe)s, which "
                    "%(reader)s (pid %(reader_pid)s) reads on fd %(read_fd)s, so the reader never sees EOF",
                    who=who, pid=p, fd=f.fd, pipe=fd.target, reader=reader, reader_pid=pid, read_fd=fd.fd,
                ))
                why.fixes.append(Sentence("Close fd %(fd)s in %(who)s once it is done writing.", fd=f.fd, who=who))
        if not writers:
            why.evidence.append(Sentence("%(reader)s (pid %(pid)s) waits in read on fd %(fd)s (%(pipe)s)", reader=reader, pid=pid, fd=fd.fd, pipe=fd.target))
    return why


def why_stuck_writing(pids: Iterable[int], roles: Mapping[int, str], exclude: set[int] = frozenset()) -> list[str]:
    """Which of PIDS sleep in write on one of their pipes (a deadlock shows two of them)."""
    out = []
    for pid in pids:
        fd = blocked_on_fd(pid, WRITE_CALLS)
        if fd is not None and fd.inode not in exclude:
            out.append(Sentence(
                "%(who)s (pid %(pid)s) sleeps in write on fd %(fd)s (%(pipe)s): that pipe is full and nobody reads it",
                who=roles.get(pid, Sentence("pid %(pid)s", pid=pid)), pid=pid, fd=fd.fd, pipe=fd.target,
            ))
    return out


def roles_of_tree(root: int, root_role: str = "", child_role: str = "") -> dict[int, str]:
    """Names for a parent and its children in messages (by default "the parent", "the child")."""
    roles: dict[int, str] = {root: root_role or Sentence("the parent")}
    kids = observe.children(root)
    child = child_role or Sentence("the child")
    for i, pid in enumerate(kids):
        roles[pid] = child if len(kids) == 1 else Sentence("%(child)s #%(n)s", child=child, n=i + 1)
    return roles
