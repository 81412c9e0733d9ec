"""Shared-memory helpers for the shm and buffer specs: the grader's own side of the objects.

The grader reads and writes System V segments (shmget(2), shmat(2)), POSIX shared memory
objects (shm_open(3)) and POSIX named semaphores (sem_overview(7)) directly, as the contract
lays them out, to check an implementation from outside and to hand it objects it did not make.

Everything the grader creates here is tracked by a ``Made`` registry and removed when the spec
ends, whatever happened; objects an implementation leaves behind are found by name (POSIX) or
by key or creator pid (System V) and removed the same way, after the spec has judged them.

When programs run as a user of their own (see sandbox.py), the grader handles every object as
that user (credentials.as_program): what it makes for them is theirs, as if a program had made
it, and what they make (mode 0600) it may read and remove without CAP_IPC_OWNER or
CAP_DAC_OVERRIDE, which a container may not grant.
"""

from __future__ import annotations

import ctypes
import os
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from conformance.kernel import observe
from conformance.kernel.credentials import as_program
from conformance.outcomes import HarnessBroken, Sentence

from . import interference

DEV_SHM = "/dev/shm"


def _posix():
    import posix_ipc

    return posix_ipc


def _sysv():
    import sysv_ipc

    return sysv_ipc


# --- System V shared memory segments ------------------------------------------------------


def segment_row(key: int) -> dict[str, int] | None:
    """The /proc/sysvipc/shm row of the segment with KEY (never IPC_PRIVATE), or None."""
    for row in observe.sysvipc("shm"):
        if row.get("key") == key:
            return row
    return None


def segment_ids() -> set[int]:
    """The shmid of every segment that exists now."""
    return {row["shmid"] for row in observe.sysvipc("shm")}


def read_segment(key: int) -> bytes | None:
    """All the bytes of segment KEY (attached for the read only), or None if there is none."""
    sysv_ipc = _sysv()
    with as_program():
        try:
            seg = sysv_ipc.SharedMemory(key)
        except sysv_ipc.ExistentialError:
            return None
        try:
            return seg.read(seg.size, 0)
        finally:
            seg.detach()


def create_segment(key: int, size: int, content: bytes) -> None:
    """Make segment KEY (SIZE bytes, mode 0600) holding CONTENT at offset 0, the programs' own.
    A key the programs took, or a table they filled, is their doing (interference.py)."""
    sysv_ipc = _sysv()
    what = Sentence("its segment with key %(key)s", key=key)
    with as_program():
        try:
            seg = sysv_ipc.SharedMemory(key, sysv_ipc.IPC_CREX, 0o600, size, b"\0")
        except sysv_ipc.ExistentialError as exc:
            raise interference.sysv_taken("shm", key, what) or HarnessBroken(f"the grader could not create {what}: {exc}") from None
        except (OSError, sysv_ipc.Error) as exc:
            raise interference.sysv_table("shm", what) or HarnessBroken(f"the grader could not create {what}: {exc}") from None
        try:
            seg.write(content, 0)
        finally:
            seg.detach()


def remove_segment_id(shmid: int) -> None:
    sysv_ipc = _sysv()
    with as_program():
        try:
            sysv_ipc.remove_shared_memory(shmid)
        except (sysv_ipc.ExistentialError, ValueError):
            pass


def remove_segment(key: int) -> bool:
    """Remove segment KEY if it exists; True if there was one."""
    row = segment_row(key)
    if row is None:
        return False
    remove_segment_id(row["shmid"])
    return True


# --- POSIX shared memory objects and named semaphores --------------------------------------


def object_path(name: str) -> str:
    """Where shm_open(NAME) lives: /dev/shm/NAME without its slash."""
    return os.path.join(DEV_SHM, name.lstrip("/"))


def semaphore_path(name: str) -> str:
    """Where sem_open(NAME) lives on Linux (glibc): /dev/shm/sem.NAME without its slash."""
    return os.path.join(DEV_SHM, "sem." + name.lstrip("/"))


def object_exists(name: str) -> bool:
    return os.path.exists(object_path(name))


def semaphore_exists(name: str) -> bool:
    return os.path.exists(semaphore_path(name))


class Creations:
    """The names created in /dev/shm while it is open, as inotify(7) reports them: shm_open's
    O_CREAT and sem_open's link(2) of sem.NAME each make an IN_CREATE event, however briefly the
    entry then lives. A program that finishes in a millisecond is seen as surely as a slow one,
    which no look at the directory could promise.

        with Creations() as seen:
            proc = impl.run(...)
        if not seen.has(object_path(name)): ...

    No watch can be set up (the user's inotify instances used up: EMFILE): HarnessBroken, the
    grader's fault, since no verdict is drawn from evidence it did not get. The kernel's queue
    overflowed: the programs flooded the directory while they ran (ProgramsInterfered: only
    they create entries there at that rate), a verdict, not a grader fault.
    """

    _IN_CREATE, _IN_MOVED_TO, _IN_Q_OVERFLOW = 0x100, 0x80, 0x4000
    _EVENT = struct.Struct("iIII")

    def __init__(self, directory: str = DEV_SHM) -> None:
        self.directory = directory
        self.names: set[str] = set()
        self.overflowed = False
        self._fd = -1

    def __enter__(self) -> Creations:
        libc = ctypes.CDLL(None, use_errno=True)
        fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            raise HarnessBroken(f"cannot watch {self.directory} (inotify_init1: {os.strerror(ctypes.get_errno())})")
        self._fd = fd
        if libc.inotify_add_watch(fd, os.fsencode(self.directory), self._IN_CREATE | self._IN_MOVED_TO) < 0:
            err = ctypes.get_errno()
            os.close(fd)
            raise HarnessBroken(f"cannot watch {self.directory} (inotify_add_watch: {os.strerror(err)})")
        return self

    def __exit__(self, *exc) -> None:
        try:
            self._drain()
        finally:
            os.close(self._fd)

    def _drain(self) -> None:
        while True:
            try:
                chunk = os.read(self._fd, 1 << 16)
            except BlockingIOError:  # every event read
                return
            at = 0
            while at + self._EVENT.size <= len(chunk):
                _, mask, _, length = self._EVENT.unpack_from(chunk, at)
                at += self._EVENT.size
                if mask & self._IN_Q_OVERFLOW:
                    self.overflowed = True
                elif length:
                    self.names.add(os.fsdecode(chunk[at : at + length].rstrip(b"\0")))
                at += length

    def has(self, path: str) -> bool:
        """Whether PATH (an entry of the watched directory) was created while the watch was open."""
        if self.overflowed:
            raise interference.events_flooded(self.directory, Sentence("whether %(path)s was created", path=path))
        return os.path.dirname(path) == self.directory and os.path.basename(path) in self.names


def read_object(name: str) -> bytes | None:
    """All the bytes of shared memory object NAME, or None if there is none."""
    with as_program():
        try:
            with open(object_path(name), "rb") as f:
                return f.read()
        except FileNotFoundError:
            return None


def semaphore_value(name: str) -> int | None:
    """The value of named semaphore NAME (sem_getvalue(3)), or None if there is none."""
    posix_ipc = _posix()
    with as_program():
        try:
            sem = posix_ipc.Semaphore(name)
        except posix_ipc.ExistentialError:
            return None
        try:
            return sem.value
        finally:
            sem.close()


def create_object(name: str, content: bytes) -> None:
    """Make shared memory object NAME (mode 0600) holding CONTENT, the programs' own.

    Its pages are allocated first (posix_fallocate) and written with pwrite, never through a
    mapping: on a full /dev/shm the grader gets ENOSPC, where a store into a mapped page the
    file system cannot back would kill it with SIGBUS. A name the programs took, or a /dev/shm
    they filled, is their doing (interference.py)."""
    posix_ipc = _posix()
    what = Sentence("its shared memory object %(name)s", name=name)
    with as_program():
        try:
            shm = posix_ipc.SharedMemory(name, posix_ipc.O_CREX, 0o600)
        except posix_ipc.ExistentialError as exc:
            raise interference.name_taken([object_path(name)], what) or HarnessBroken(f"the grader could not create {what}: {exc}") from None
        try:
            os.posix_fallocate(shm.fd, 0, max(len(content), 1))
            os.pwrite(shm.fd, content, 0)
        except OSError as exc:
            shm.close_fd()
            unlink_object(name)
            raise interference.shm_full(what) or HarnessBroken(f"the grader could not fill {what}: {exc}") from None
        shm.close_fd()


def create_semaphore(name: str, value: int) -> None:
    """Make named semaphore NAME (mode 0600) with VALUE, the programs' own (sem_open writes its
    file before it maps it: a full /dev/shm is ENOSPC, never SIGBUS)."""
    posix_ipc = _posix()
    what = Sentence("its semaphore %(name)s", name=name)
    with as_program():
        try:
            posix_ipc.Semaphore(name, posix_ipc.O_CREX, 0o600, value).close()
        except posix_ipc.ExistentialError as exc:
            raise interference.name_taken([semaphore_path(name)], what) or HarnessBroken(f"the grader could not create {what}: {exc}") from None
        except (OSError, posix_ipc.Error) as exc:
            raise interference.shm_full(what) or HarnessBroken(f"the grader could not create {what}: {exc}") from None


def unlink_object(name: str) -> bool:
    """shm_unlink(NAME) if it exists; True if there was one."""
    posix_ipc = _posix()
    with as_program():
        try:
            posix_ipc.unlink_shared_memory(name)
            return True
        except posix_ipc.ExistentialError:
            return False


def unlink_semaphore(name: str) -> bool:
    """sem_unlink(NAME) if it exists; True if there was one."""
    posix_ipc = _posix()
    with as_program():
        try:
            posix_ipc.unlink_semaphore(name)
            return True
        except posix_ipc.ExistentialError:
            return False


# --- what a spec made, removed when it ends ----------------------------------------------


@dataclass
class Made:
    """The objects a spec uses, by name or key, removed at the end whoever made them."""

    keys: list[int] = field(default_factory=list)
    shmids: list[int] = field(default_factory=list)
    objects: list[str] = field(default_factory=list)
    semaphores: list[str] = field(default_factory=list)

    def key(self, key: int) -> int:
        self.keys.append(key)
        return key

    def shmid(self, shmid: int) -> int:
        self.shmids.append(shmid)
        return shmid

    def object(self, name: str) -> str:
        self.objects.append(name)
        return name

    def semaphore(self, name: str) -> str:
        self.semaphores.append(name)
        return name

    def remove_all(self) -> list[str]:
        """Remove everything registered; returns what could not be removed (never raises)."""
        errors = []
        for action, items in (
            (remove_segment, self.keys),
            (remove_segment_id, self.shmids),
            (unlink_object, self.objects),
            (unlink_semaphore, self.semaphores),
        ):
            for item in items:
                try:
                    action(item)
                except OSError as exc:  # e.g. a permission problem: the harness's fault
                    errors.append(f"{item}: {exc}")
        return errors


@contextmanager
def made() -> Iterator[Made]:
    """A Made registry whose objects are removed when the block ends (fixture or example).

    A removal that fails is the harness's problem (HarnessBroken), raised only when the block
    itself ended normally, so it never hides the spec's own verdict.
    """
    registry = Made()
    try:
        yield registry
    except BaseException:
        registry.remove_all()
        raise
    errors = registry.remove_all()
    if errors:
        raise HarnessBroken("could not remove IPC objects after the spec: " + "; ".join(errors))


__all__ = [
    "DEV_SHM",
    "Creations",
    "Made",
    "create_object",
    "create_segment",
    "create_semaphore",
    "made",
    "object_exists",
    "object_path",
    "read_object",
    "read_segment",
    "remove_segment",
    "remove_segment_id",
    "segment_ids",
    "segment_row",
    "semaphore_exists",
    "semaphore_path",
    "semaphore_value",
    "unlink_object",
    "unlink_semaphore",
]
