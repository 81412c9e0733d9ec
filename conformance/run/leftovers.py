"""What the programs' user leaves behind when a spec ends: found, removed and counted.

Nothing crosses from one spec, or one grading, to the next. When a spec's fixtures have all
ended (its own objects removed), whatever is still there of the programs' user is theirs and
goes:

- System V message queues, shared memory segments and semaphore sets whose owner or creator is
  that user (/proc/sysvipc/msg, shm and sem, the uid and cuid columns);
- POSIX shared memory objects and semaphores (/dev/shm, by owner), POSIX message queues
  (/dev/mqueue, or the mqueue file system the grader mounted in its private namespace, by
  owner), and files and directories in /tmp and /var/tmp (by owner);
- and, wherever nothing lists them, what was made under a name or key the grader handed out
  (naming.Names.handed): POSIX queues where no mqueue file system is mounted (Docker mounts
  one at /dev/mqueue; a machine without it shows none), and everything when the programs run
  as the grader's own user (an ordinary user), whose other objects are not the spec's.

Removal of a System V object needs its owner, its creator or CAP_SYS_ADMIN, which root in a
container lacks: it is done as the programs' user, in one thread (credentials.acting_as), the
same way everywhere. A flood (the 32 000 queues a table holds) is one read of the table and
one msgctl each: a few hundredths of a second.

The count, per kind, is the spec's ``left_behind`` in the run record (docs/run-record.md).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field

from conformance.kernel import credentials
from conformance.record import LEFT_BEHIND as KINDS
from conformance.record import left_behind_words as describe

#: Places where anyone may create files: what the programs' user leaves there goes with the spec.
SHARED_TMP = ("/tmp", "/var/tmp")
DEV_SHM = "/dev/shm"
#: Where POSIX message queues are listed: Docker mounts the mqueue file system here.
DEV_MQUEUE = "/dev/mqueue"
_IPC_RMID = 0
_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_REMOVE = {
    "msg": lambda ident: _libc.msgctl(ident, _IPC_RMID, None),
    "shm": lambda ident: _libc.shmctl(ident, _IPC_RMID, None),
    "sem": lambda ident: _libc.semctl(ident, 0, _IPC_RMID),
}
#: The mqueue file system the grader mounted in its private mount namespace (isolation.py), if any.
_private_mqueue: str | None = None


#: mqueue_dirs' answer, read once per run: a run's mounts do not change while its specs run, and
#: the keeper's every look (100 a second while a spec runs) and every spec's sweep ask; each
#: answer read /proc/self/mounts twice.
_mqueue_dirs: list[str] | None = None


def set_mqueue_dir(path: str | None) -> None:
    """Where this run's POSIX queues are listed when the grader mounted the mqueue file system
    itself (its private namespace, where /dev/mqueue is not mounted)."""
    global _private_mqueue, _mqueue_dirs
    _private_mqueue = path
    _mqueue_dirs = None


def mqueue_dirs() -> list[str]:
    """The mqueue file systems this process sees (an empty list: POSIX queues are not listed here)."""
    global _mqueue_dirs
    if _mqueue_dirs is None:
        _mqueue_dirs = list(dict.fromkeys(d for d in (_private_mqueue, DEV_MQUEUE) if d and _is_mqueue(d)))
    return list(_mqueue_dirs)


def _is_mqueue(path: str) -> bool:
    try:
        with open("/proc/self/mounts") as f:
            return any(line.split()[1:3] == [path, "mqueue"] for line in f)
    except OSError:
        return False


@dataclass
class LeftBehind:
    """What was removed, per kind (KINDS), with the bytes of files; and what could not be."""

    counts: dict[str, int] = field(default_factory=dict)
    size: int = 0
    failed: list[str] = field(default_factory=list)

    def add(self, kind: str, n: int = 1, size: int = 0) -> None:
        if n:
            self.counts[kind] = self.counts.get(kind, 0) + n
            self.size += size

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def words(self) -> str:
        """``3 System V message queues and 1 POSIX named semaphore`` ('' for nothing)."""
        return describe(self.counts)

    def notes(self) -> list[str]:
        out = [f"the programs left {self.words()}: removed"] if self.total else []
        if self.failed:
            out.append("could not remove what the programs left: " + "; ".join(self.failed[:5]))
        return out


def sweep(uid: int | None, gid: int | None = None, handed: Iterable[tuple[str, str | int]] = ()) -> LeftBehind:
    """Remove what the programs' user UID left (see the module), and count it.

    UID None: the programs run as the grader's own user, which may own other gradings' objects
    too: only what was made under the names and keys in HANDED goes. Otherwise (a user of the
    programs' own) everything UID owns or created goes, and HANDED as well.
    """
    left = LeftBehind()
    by_owner = uid is not None and uid != os.geteuid()
    who = uid if uid is not None else os.geteuid()
    handed = list(handed)
    keys = {k for kind, k in handed if kind == "key"}
    names = [str(n) for kind, n in handed if kind == "posix"]
    # System V: by owner or creator, or by a key handed out
    doomed = {kind: [ident for ident, key, owner, creator in _sysv_rows(kind) if who in (owner, creator) and (by_owner or key in keys)] for kind in _REMOVE}
    if any(doomed.values()) or names:
        with _as(uid, gid):
            for kind, idents in doomed.items():
                remove, removed = _REMOVE[kind], 0
                for ident in idents:
                    if remove(ident) == 0:
                        removed += 1
                    elif ctypes.get_errno() not in (22, 43):  # EINVAL, EIDRM: gone meanwhile
                        left.failed.append(f"{KINDS[kind][0]} {ident}: {os.strerror(ctypes.get_errno())}")
                left.add(kind, removed)
            left.add("mqueue", _unlink_queues(names))
    # POSIX shared memory and semaphores, POSIX queues, temporary files: by owner, or by name
    prefixes = tuple(n.lstrip("/") for n in names)
    for top in (DEV_SHM, *mqueue_dirs(), *(SHARED_TMP if by_owner else ())):
        for entry in _entries(top):
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if st.st_uid != who:
                continue
            bare = entry.name.removeprefix("sem.") if top == DEV_SHM else entry.name
            if not by_owner and not bare.startswith(prefixes or ("\0",)):
                continue
            n, size = _remove(entry.path, st)
            kind = "files" if top in SHARED_TMP else "mqueue" if top != DEV_SHM else "posix_sem" if entry.name.startswith("sem.") else "posix_shm"
            left.add(kind, n, size)
    return left


def owns_anything(uid: int) -> str | None:
    """What user UID owns now that a spec may meet (an IPC object, an entry in /dev/shm, a
    POSIX queue, a file in the shared temporary directories), in words; None if nothing."""
    found = []
    for kind in _REMOVE:
        n = sum(1 for _, _, owner, creator in _sysv_rows(kind) if uid in (owner, creator))
        if n:
            found.append(describe({kind: n}))
    for top in (DEV_SHM, *mqueue_dirs(), *SHARED_TMP):
        n = 0
        for entry in _entries(top):
            try:
                n += entry.stat(follow_symlinks=False).st_uid == uid
            except OSError:
                pass
        if n:
            found.append(f"{n} entries in {top}")
    if not mqueue_dirs() and holds_queue_memory(uid):
        found.append("POSIX message queues that nothing here lists (their memory is charged to it)")
    return ", ".join(found) or None


# --- POSIX queues where nothing lists them ---------------------------------------------------

#: A user id no account and no grading uses: its POSIX queue memory is surely 0.
_NOBODY = 2_147_000_000
_probe_cost: int | None = None


def holds_queue_memory(uid: int) -> bool | None:
    """Whether user UID holds any POSIX queue, found without a listing: the kernel charges every
    queue's memory to its creator's RLIMIT_MSGQUEUE (mq_overview(7)), so a process of UID whose
    limit is exactly the cost of one queue of one byte can make such a queue only when UID holds
    none. That cost is measured once, as a user that holds nothing. None when it cannot be told
    (not root, or no POSIX queues here)."""
    global _probe_cost
    if os.geteuid() != 0:
        return None
    if _probe_cost is None:
        low, high = 1, 1 << 16
        if not _can_make_queue(_NOBODY, high):
            return None
        while low < high:  # the least limit under which a user that holds nothing makes one
            mid = (low + high) // 2
            low, high = (low, mid) if _can_make_queue(_NOBODY, mid) else (mid + 1, high)
        _probe_cost = low
    return not _can_make_queue(uid, _probe_cost)


def _can_make_queue(uid: int, limit: int) -> bool:
    """Can a process of UID, with RLIMIT_MSGQUEUE LIMIT, make a queue of one message of one byte?"""
    import resource

    pid = os.fork()
    if pid == 0:  # the child: only system calls, then _exit
        try:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            resource.setrlimit(resource.RLIMIT_MSGQUEUE, (limit, limit))
            name = f"/ipc-probe-{os.getpid()}".encode()
            attr = (ctypes.c_long * 8)(0, 1, 1, 0)  # mq_flags, mq_maxmsg, mq_msgsize, mq_curmsgs
            fd = _libc.mq_open(name, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600, attr)
            if fd >= 0:
                _libc.mq_close(fd)
                _libc.mq_unlink(name)
            os._exit(0 if fd >= 0 else 1)
        except BaseException:
            os._exit(2)
    return os.waitpid(pid, 0)[1] == 0


# --- helpers -------------------------------------------------------------------------------


def _sysv_rows(kind: str) -> list[tuple[int, int, int, int]]:
    """(id, key, uid, cuid) of every row of /proc/sysvipc/KIND: a flood's 32 000 rows are read
    in one go, with only the columns needed."""
    try:
        with open(f"/proc/sysvipc/{kind}") as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    if not lines:
        return []
    header = lines[0].split()
    try:
        at_key, at_id, at_uid, at_cuid = (header.index(c) for c in ("key", f"{kind}id" if kind != "msg" else "msqid", "uid", "cuid"))
    except ValueError:
        return []
    rows, last = [], max(at_key, at_id, at_uid, at_cuid) + 1
    for line in lines[1:]:
        values = line.split(None, last)
        try:
            rows.append((int(values[at_id]), int(values[at_key]), int(values[at_uid]), int(values[at_cuid])))
        except (IndexError, ValueError):
            continue
    return rows


class _as:
    """credentials.acting_as(UID) for UID other than this process's user, else nothing."""

    def __init__(self, uid: int | None, gid: int | None) -> None:
        self._block = credentials.acting_as(uid, uid if gid is None else gid) if uid is not None and uid != os.geteuid() else None

    def __enter__(self) -> None:
        if self._block is not None:
            self._block.__enter__()

    def __exit__(self, *exc) -> None:
        if self._block is not None:
            self._block.__exit__(*exc)


def _unlink_queues(names: list[str]) -> int:
    """mq_unlink(3) each of NAMES; how many there were."""
    if not names:
        return 0
    try:
        import posix_ipc
    except ImportError:  # the grader's requirements hold it; without it, no queue was made either
        return 0
    n = 0
    for name in names:
        try:
            posix_ipc.unlink_message_queue(name)
            n += 1
        except (posix_ipc.ExistentialError, posix_ipc.PermissionsError, ValueError):
            pass
    return n


def _entries(top: str) -> list[os.DirEntry]:
    try:
        with os.scandir(top) as it:
            return list(it)
    except OSError:
        return []


def _remove(path: str, st: os.stat_result) -> tuple[int, int]:
    """Remove PATH (with all it holds, if a directory): how many files, and their bytes."""
    if not os.path.isdir(path) or os.path.islink(path):
        try:
            os.unlink(path)
        except OSError:
            return 0, 0
        return 1, st.st_size
    count, size = 0, 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                size += os.lstat(os.path.join(root, name)).st_size
                count += 1
            except OSError:
                pass
    shutil.rmtree(path, ignore_errors=True)
    return max(count, 1), size


__all__ = ["DEV_MQUEUE", "DEV_SHM", "KINDS", "SHARED_TMP", "LeftBehind", "describe", "mqueue_dirs", "owns_anything", "set_mqueue_dir", "sweep"]
