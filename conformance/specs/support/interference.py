"""When the grader's own operation fails, who made it fail: the programs, or the grader.

The grader makes its objects before the programs run, under names the run hands out once, and
writes its shared memory with posix_fallocate first (ENOSPC, never SIGBUS). Its own operation
can still fail because of what the submission's programs did: a name it was about to create
already taken, a kernel table the programs' user filled, the queue of events it watches
flooded, /dev/shm filled. That is a verdict on the submission (outcomes.ProgramsInterfered:
failed, with an integrity finding that says what the programs did), never a grader fault.

Each function here looks at what the kernel shows once the operation has failed, and returns
the interference when the programs' user is the one that caused it, or None, when it is not
(then the failure is the grader's: HarnessBroken, and the spec is judged again in a fresh
context). The programs' user is the one this grading process runs them as
(credentials.program_user; the grader's own user where programs run as the grader).
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from conformance.kernel import credentials, observe
from conformance.outcomes import ProgramsInterfered, Sentence
from conformance.run import leftovers

#: The programs hold "a table" when they hold at least this share of the kernel's limit.
SHARE = 0.5


def programs_uid() -> int:
    """The user id the submission's programs run as in this grading process."""
    owner = credentials.program_user()
    return owner[0] if owner is not None else os.geteuid()


def _limit(name: str, default: int) -> int:
    try:
        with open(f"/proc/sys/kernel/{name}") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return default


def sysv_table(kind: str, what: str) -> ProgramsInterfered | None:
    """The grader could not create a System V object of KIND (msg, shm, sem): the programs'
    user holds at least SHARE of the kernel's table (msgmni, shmmni, the sets of sem), or None."""
    limit = {"msg": _limit("msgmni", 32000), "shm": _limit("shmmni", 4096)}.get(kind) or _sem_sets()
    uid = programs_uid()
    rows = observe.sysvipc(kind)
    theirs = [r for r in rows if uid in (r.get("uid"), r.get("cuid"))]
    if len(rows) < limit or len(theirs) < SHARE * limit:
        return None
    noun = {"msg": Sentence("message queues"), "shm": Sentence("shared memory segments"), "sem": Sentence("semaphore sets")}[kind]
    return ProgramsInterfered(
        Sentence("your programs filled the kernel's table of System V %(objects)s: they hold %(theirs)s of the %(limit)s "
                 "the kernel allows, so the grader could not create %(what)s.", objects=noun, theirs=len(theirs), limit=limit, what=what),
        evidence=[Sentence("/proc/sysvipc/%(kind)s lists %(rows)s %(objects)s, %(theirs)s of them owned by the programs' user (uid %(uid)s).",
                           kind=kind, rows=len(rows), objects=noun, theirs=len(theirs), uid=uid)],
    )


def _sem_sets() -> int:
    try:
        with open("/proc/sys/kernel/sem") as f:
            return int(f.read().split()[3])  # SEMMNI
    except (OSError, ValueError, IndexError):
        return 32000


def sysv_taken(kind: str, key: int, what: str) -> ProgramsInterfered | None:
    """The key the grader was about to use for a System V object is taken: by the programs'
    user (it created or owns the object under that key), or None."""
    uid = programs_uid()
    row = next((r for r in observe.sysvipc(kind) if r.get("key") == key), None)
    if row is None or uid not in (row.get("uid"), row.get("cuid")):
        return None
    return ProgramsInterfered(
        Sentence("your programs created a System V object under the key %(key)s the grader was about to use for %(what)s: "
                 "they took a name that is not theirs.", key=key, what=what),
        evidence=[Sentence("/proc/sysvipc/%(kind)s lists key %(key)s, created by uid %(cuid)s, owned by uid %(owner)s (the programs' user: %(uid)s).",
                           kind=kind, key=key, cuid=row.get("cuid"), owner=row.get("uid"), uid=uid)],
    )


def name_taken(paths: Iterable[str], what: str, name: str = "") -> ProgramsInterfered | None:
    """The name the grader was about to create exists: at one of PATHS (/dev/shm/NAME, a
    mounted mqueue file system's NAME), owned by the programs' user, or None when another user
    owns it. The run hands each name out once, drawn at random (naming.py), so only a process
    that saw it first could have made it; where no file system lists the name (POSIX queues on
    a machine without an mqueue mount), it is taken to be the programs', the only ones there."""
    uid = programs_uid()
    for path in paths:
        try:
            st = os.lstat(path)
        except OSError:
            continue
        if st.st_uid != uid:
            return None
        return ProgramsInterfered(
            Sentence("your programs created %(path)s before the grader could create it for %(what)s: they took a name that is not theirs.", path=path, what=what),
            evidence=[Sentence("%(path)s exists, owned by uid %(uid)s (the programs' user).", path=path, uid=st.st_uid)],
        )
    return ProgramsInterfered(
        Sentence("the name %(name)s existed before the grader could create it for %(what)s, though the run hands each name out once: "
                 "your programs, the only other processes here, took a name that is not theirs.", name=name or what, what=what),
        evidence=[Sentence("no mqueue file system is mounted here to show who made it.")],
    )


def mqueue_paths(name: str) -> list[str]:
    """Where the POSIX queue NAME would be listed (every mqueue file system this process sees)."""
    return [os.path.join(d, name.lstrip("/")) for d in leftovers.mqueue_dirs()]


def owned_in(directory: str, skip: Iterable[str] = ()) -> tuple[int, int]:
    """(how many entries, how many bytes) the programs' user owns in DIRECTORY, leaving out the
    names in SKIP (the grader's own)."""
    uid, skip = programs_uid(), set(skip)
    count = size = 0
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return 0, 0
    for entry in entries:
        if entry.name in skip:
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if st.st_uid == uid:
            count += 1
            size += st.st_blocks * 512
    return count, size


def shm_full(what: str, directory: str = "/dev/shm") -> ProgramsInterfered | None:
    """The grader got ENOSPC in /dev/shm: the programs' user holds at least SHARE of what the
    file system holds, or None."""
    try:
        fs = os.statvfs(directory)
    except OSError:
        return None
    used = (fs.f_blocks - fs.f_bfree) * fs.f_frsize
    count, size = owned_in(directory)
    if not used or size < SHARE * used:
        return None
    return ProgramsInterfered(
        Sentence("your programs filled %(directory)s: %(count)s file(s) of theirs hold %(mib)s MiB of its %(total)s MiB, "
                 "so the grader could not make %(what)s.", directory=directory, count=count, mib=size >> 20, total=(fs.f_blocks * fs.f_frsize) >> 20, what=what),
        evidence=[Sentence("statvfs(%(directory)s): %(free)s bytes free; the programs' user (uid %(uid)s) owns %(size)s bytes there.",
                           directory=directory, free=fs.f_bavail * fs.f_frsize, uid=programs_uid(), size=size)],
    )


def mqueues_used(what: str, grader_names: Iterable[str] = ()) -> ProgramsInterfered | None:
    """The grader could not create a POSIX queue (the queues_max limit, or the user's
    RLIMIT_MSGQUEUE where programs run as the grader's user): the programs' user holds queues
    of its own in /dev/mqueue, beyond the grader's GRADER_NAMES, or None."""
    grader = {n.lstrip("/") for n in grader_names}
    count = sum(owned_in(d, grader)[0] for d in leftovers.mqueue_dirs())
    if not count:
        return None
    return ProgramsInterfered(
        Sentence("your programs hold %(count)s POSIX message queue(s) of their own, so the grader could not create %(what)s.", count=count, what=what),
        evidence=[Sentence("the mqueue file system holds %(count)s queue(s) owned by the programs' user (uid %(uid)s) that the grader did not make.",
                           count=count, uid=programs_uid())],
    )


def events_flooded(directory: str, what: str) -> ProgramsInterfered:
    """The kernel's queue of inotify events for DIRECTORY overflowed while the spec's programs
    ran. Only they make entries there at that rate: the run's other processes (the grader and
    every spec's programs, in their private /dev/shm) make a few dozen, a flood thousands."""
    return ProgramsInterfered(
        Sentence("while your programs ran, the kernel's queue of events for %(directory)s overflowed (more than "
                 "%(most)s entries created or renamed there): they flooded it, so the grader could not see %(what)s.", directory=directory, most=_max_queued(), what=what),
        evidence=[Sentence("inotify on %(directory)s reported IN_Q_OVERFLOW (fs.inotify.max_queued_events is %(most)s).", directory=directory, most=_max_queued())],
    )


def _max_queued() -> int:
    try:
        with open("/proc/sys/fs/inotify/max_queued_events") as f:
            return int(f.read())
    except (OSError, ValueError):
        return 16384


__all__ = ["SHARE", "events_flooded", "mqueue_paths", "mqueues_used", "name_taken", "owned_in", "programs_uid", "shm_full", "sysv_table", "sysv_taken"]
