"""Acting as a program's user, in one thread, to see and touch what the kernel shows only to it.

The kernel guards a process's /proc entries (its system call, wait channel, open files) with
ptrace_may_access(2): the reader's filesystem user and group must be the process's own, or the
reader needs CAP_SYS_PTRACE. It guards a System V object with ipcperms: the caller's effective
user must own or have created it, or the caller needs CAP_IPC_OWNER (CAP_SYS_ADMIN to remove
it). Root in a container with Docker's default capabilities has neither capability, so a grader
that reads as root sees less than one with every capability, and would judge differently.

So the grader never relies on a capability: it reads and handles what belongs to a program's
user as that user. ``acting_as(uid, gid)`` switches the effective (and so the filesystem) user
and group of the calling thread alone, with the raw setresuid(2)/setresgid(2) system calls
(glibc's wrappers would change every thread of the grader), and switches back when the block
ends. The saved user stays 0, which is what permits the way back. Root with every capability,
root with Docker's defaults, and an ordinary user (whose programs are its own) then get the
same answers from the kernel.

Keep such a block to the system calls that need it: while it lasts, the thread cannot read the
grader's own files.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from . import syscalls

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_by_name = {name: nr for nr, name in (syscalls.table() or {}).items()}
_SETRESUID = _by_name.get("setresuid")
_SETRESGID = _by_name.get("setresgid")
_KEEP = ctypes.c_long(-1).value  # "leave this id as it is"
_local = threading.local()


class CannotAct(OSError):
    """This thread could not take the program's user (no CAP_SETUID, or an unknown arch)."""


def _setres(number: int | None, effective: int, what: str) -> None:
    if number is None:
        raise CannotAct(0, f"{what}: no system call number for this architecture")
    if _libc.syscall(number, _KEEP, ctypes.c_long(effective), _KEEP) != 0:
        err = ctypes.get_errno()
        raise CannotAct(err, f"{what}({effective}): {os.strerror(err)}")


@contextmanager
def acting_as(uid: int, gid: int) -> Iterator[bool]:
    """Run the block with this thread's effective user UID and group GID; yields whether it does.

    Nothing changes when the thread already is UID (it yields True), or when it is not root
    and so cannot switch (an unprivileged grader's programs run as itself), or when the switch
    is refused (no CAP_SETUID): then it yields False and the kernel answers as it would.
    """
    euid, egid = os.geteuid(), os.getegid()
    if euid == uid or euid != 0:
        yield euid == uid
        return
    try:
        _setres(_SETRESGID, gid, "setresgid")
        try:
            _setres(_SETRESUID, uid, "setresuid")
        except CannotAct:
            _setres(_SETRESGID, egid, "setresgid")
            raise
    except CannotAct:
        yield False
        return
    try:
        yield True
    finally:
        # back to root first: that restores the capabilities, which setting the group needs
        _setres(_SETRESUID, euid, "setresuid")
        _setres(_SETRESGID, egid, "setresgid")


# --- the programs' user in this grading process --------------------------------------------

_program: tuple[int, int] | None = None


def set_program_user(uid: int | None, gid: int | None) -> None:
    """Record who this process runs implementation programs as (None: as the grader itself)."""
    global _program
    _program = None if uid is None else (uid, uid if gid is None else gid)


def program_user() -> tuple[int, int] | None:
    return _program


@contextmanager
def as_program() -> Iterator[None]:
    """Act as the programs' user (see set_program_user) for the IPC objects they share with the
    grader: what the grader creates is theirs, and what they create the grader may open and remove."""
    if _program is None:
        yield
        return
    with acting_as(*_program):
        yield


def owner(pid: int, real: bool = False) -> tuple[int, int] | None:
    """The effective (or REAL) user and group of PID (/proc/PID/status), or None if it has gone."""
    uid = gid = None
    column = 1 if real else 2
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"Uid:"):
                    uid = int(line.split()[column])
                elif line.startswith(b"Gid:"):
                    gid = int(line.split()[column])
                    break
    except (OSError, ValueError, IndexError):
        return None
    return None if uid is None or gid is None else (uid, gid)


@contextmanager
def as_owner_of(pid: int) -> Iterator[None]:
    """Act as PID's own user, for reading what /proc shows only to it (or to CAP_SYS_PTRACE)."""
    ids = owner(pid)
    if ids is None:
        yield
        return
    with acting_as(*ids):
        yield


__all__ = ["CannotAct", "acting_as", "as_owner_of", "as_program", "owner", "program_user", "set_program_user"]
