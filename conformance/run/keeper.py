"""The machine's shared tables and space: each grading's programs keep to a share of them, and a
spec that another grading starved is judged again.

Where a run has no private IPC namespace (root with Docker's default capabilities, an ordinary
user), every grading on the machine draws on the same kernel tables and file systems: 32 000
System V message queues, 4 096 shared memory segments, 32 000 semaphore sets, 256 POSIX queues,
/dev/shm's bytes and inodes, and /tmp. A submission that fills one makes every other grading's
programs fail to make theirs, and no kernel limit per user bounds it (RLIMIT_MSGQUEUE bounds a
user's POSIX queue memory, not how many queues it has). Nor can any watch stop a flood before
a table is full: 32 000 queues take 20 ms to make. So a ``Keeper`` watches both sides while a
spec (or a build) runs, every PERIOD:

- **its own programs' share**: when the programs' user holds more than SHARE of a table or
  SPACE of a file system, its processes are killed at once, what it made is removed
  (leftovers.sweep), and the spec fails with an integrity finding. The grading is then fenced
  (``fenced``): its later specs fail at once with the same finding, so that a submission
  floods the machine once, not in every spec; and it announces the time it held the table
  (``EVENTS``, root's), so that every other grading on the machine knows which of its specs
  the flood overlapped, however briefly it lasted;
- **everyone else**: when a table or file system this grading shares was (nearly) full and
  another user held it, or another grading announced a flood that overlapped the spec, or
  another user made an object under a name or key this spec handed out (a squatter that read
  it in a command line, which /proc shows everyone), the spec is *interfered*: its verdict
  says nothing about the submission (plugin/verdict.py makes it *broken*), and the plugin
  judges it again once there is room (``wait_for_room``; plugin/retry.py). The offender is
  announced too: its own grading's keeper reads that and stops its programs as if they had
  flooded (``_accused``), so a squatter races a name once.

Counting is cheap: msgctl(MSG_INFO), shmctl(SHM_INFO), semctl(SEM_INFO) and statvfs(2) say how
full each table and file system is without reading it (a few microseconds a look); the tables
(/proc/sysvipc) and directories are read only when one is near its limit or grew by more than
a share since the spec began.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from conformance.deadline import Deadline
from conformance.outcomes import Sentence

from . import leftovers
from .naming import Names

#: How often a keeper looks (seconds): a flood holds a table for far longer (making and
#: removing 32 000 queues takes tenths of a second), so no overlap escapes it.
PERIOD = 0.01
#: Every how many looks the keys a spec handed out are looked up in /proc/sysvipc (dearer), and
#: the least number of looks between two reads of one table or directory (a flood's 32 000 rows
#: take a tenth of a second to read: not at every look).
KEYS_EVERY = 5
DEAR_EVERY = 10
#: Where gradings announce a flood, one line each: start and end (CLOCK_MONOTONIC, the same for
#: every process of the machine), the IPC namespace and /dev/shm it happened in, the user, what.
#: Root's, in a directory of root's: no program can write or forge it (as root; an ordinary
#: user's gradings share one user anyway).
EVENTS = Path(tempfile.gettempdir()) / "ipc-grade-uids" / "floods"

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_IPC_INFO, _MSG_INFO, _SHM_INFO, _SEM_INFO = 3, 12, 14, 19


class _MsgInfo(ctypes.Structure):
    _fields_ = [*((n, ctypes.c_int) for n in ("msgpool", "msgmap", "msgmax", "msgmnb", "msgmni", "msgssz", "msgtql")), ("msgseg", ctypes.c_ushort)]


class _ShmInfo(ctypes.Structure):
    _fields_ = [("used_ids", ctypes.c_int), *((n, ctypes.c_ulong) for n in ("shm_tot", "shm_rss", "shm_swp", "swap_attempts", "swap_successes"))]


class _ShmLimits(ctypes.Structure):
    _fields_ = [(n, ctypes.c_ulong) for n in ("shmmax", "shmmin", "shmmni", "shmseg", "shmall", "u1", "u2", "u3", "u4")]


class _SemInfo(ctypes.Structure):
    _fields_ = [(n, ctypes.c_int) for n in ("semmap", "semmni", "semmns", "semmnu", "semmsl", "semopm", "semume", "semusz", "semvmx", "semaem")]


#: What a keeper watches: the run record's words for each (the kinds leftovers.py counts).
TABLES = {
    "msg": Sentence("the System V message queue table"),
    "shm": Sentence("the System V shared memory segment table"),
    "sem": Sentence("the System V semaphore set table"),
    "mqueue": Sentence("the POSIX message queues (fs.mqueue.queues_max)"),
    "dev_shm": Sentence("/dev/shm (POSIX shared memory and semaphores)"),
    "dev_shm_inodes": Sentence("/dev/shm's inodes"),
    "tmp": Sentence("/tmp"),
}
#: The same as the announcements write them (plain text, read by other gradings).
WORDS = {kind: str(said) for kind, said in TABLES.items()}
#: What an announcement of a squat names.
SQUATTED = Sentence("a name another grading handed out")


def said_table(what: str) -> Sentence | str:
    """WHAT, a table or name as an announcement writes it, as the Sentence it was (as written if unknown)."""
    return next((said for said in (*TABLES.values(), SQUATTED) if str(said) == what), what)


def _share(kind: str, limit: int) -> int:
    """How much of a table (entries) or file system (bytes, inodes) of LIMIT one grading's
    programs may hold: a sixteenth of a table (never under 8), an eighth of /dev/shm (at least
    8 MiB: Docker's is 64 MiB), an eighth of /tmp's disk up to 1 GiB: far beyond what any spec
    needs."""
    if kind == "dev_shm":
        return max(8 << 20, limit // 8)
    if kind == "tmp":
        return min(1 << 30, max(64 << 20, limit // 8))
    return max(8, limit // 16)


def _room(kind: str, limit: int) -> int:
    """Below this much free, a table or file system is full for anyone who needs a little. (/tmp
    is the machine's disk, which may be nearly full for reasons of its own: it is never called
    full here, and another grading's flood of it is known from its announcement.)"""
    if kind == "tmp":
        return -1
    if kind == "dev_shm":
        return max(4 << 20, limit // 64)
    return max(4, limit // 256)


def usage() -> dict[str, tuple[int, int]]:
    """What each shared table and file system holds now, and its limit: kind -> (used, limit)."""
    out: dict[str, tuple[int, int]] = {}
    msg = _MsgInfo()
    if _libc.msgctl(0, _MSG_INFO, ctypes.byref(msg)) >= 0:
        out["msg"] = (msg.msgpool, msg.msgmni)
    shm, limits = _ShmInfo(), _ShmLimits()
    if _libc.shmctl(0, _SHM_INFO, ctypes.byref(shm)) >= 0 and _libc.shmctl(0, _IPC_INFO, ctypes.byref(limits)) >= 0:
        out["shm"] = (shm.used_ids, int(limits.shmmni))
    sem = _SemInfo()
    if _libc.semctl(0, 0, _SEM_INFO, ctypes.byref(sem)) >= 0:
        out["sem"] = (sem.semusz, sem.semmni)
    dirs = leftovers.mqueue_dirs()
    if dirs:
        try:
            out["mqueue"] = (sum(len(os.listdir(d)) for d in dirs), int(Path("/proc/sys/fs/mqueue/queues_max").read_text()))
        except (OSError, ValueError):
            pass
    for kind, path in (("dev_shm", leftovers.DEV_SHM), ("tmp", "/tmp")):
        try:
            st = os.statvfs(path)
        except OSError:
            continue
        out[kind] = ((st.f_blocks - st.f_bavail) * st.f_frsize, st.f_blocks * st.f_frsize)
        if kind == "dev_shm" and st.f_files:
            out["dev_shm_inodes"] = (st.f_files - st.f_favail, st.f_files)
    return out


def held(uid: int, kind: str, run_root: Path | None = None) -> int:
    """How much of KIND user UID holds (entries, or bytes of files: in /tmp, /var/tmp and the
    run's directory RUN_ROOT, where its HOME is)."""
    if kind in ("msg", "shm", "sem"):
        return sum(1 for _, _, owner, creator in leftovers._sysv_rows(kind) if uid in (owner, creator))
    if kind == "mqueue":
        return sum(_owned(d, uid)[0] for d in leftovers.mqueue_dirs())
    if kind == "dev_shm_inodes":
        return _owned(leftovers.DEV_SHM, uid)[0]
    if kind == "dev_shm":
        return _owned(leftovers.DEV_SHM, uid)[1]
    tops = [*leftovers.SHARED_TMP, *([str(run_root)] if run_root is not None else [])]
    return sum(_owned(top, uid, deep=True)[1] for top in tops)


def holders(kind: str) -> dict[int, int]:
    """Who holds KIND (System V tables, /dev/shm, POSIX queues): user -> how much."""
    out: dict[int, int] = {}
    if kind in ("msg", "shm", "sem"):
        for _, _, owner, _ in leftovers._sysv_rows(kind):
            out[owner] = out.get(owner, 0) + 1
        return out
    tops = leftovers.mqueue_dirs() if kind == "mqueue" else [leftovers.DEV_SHM] if kind.startswith("dev_shm") else list(leftovers.SHARED_TMP)
    for top in tops:
        for entry in _scandir(top):
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            out[st.st_uid] = out.get(st.st_uid, 0) + (1 if kind in ("mqueue", "dev_shm_inodes") else st.st_blocks * 512)
    return out


# --- the grading's fence, and the floods announced ------------------------------------------

_fenced: str | None = None


def fenced() -> str | None:
    """Why this grading's programs are not run again (their flood, in an earlier spec), or None."""
    return _fenced


def _where() -> str:
    """The IPC namespace and /dev/shm this process shares with others: announcements elsewhere
    are not about it."""
    try:
        ns = os.readlink("/proc/self/ns/ipc")
    except OSError:
        ns = "ipc:?"
    try:
        dev = os.stat(leftovers.DEV_SHM).st_dev
    except OSError:
        dev = 0
    return f"{ns.replace(' ', '')},{dev}"


#: What an announcement says: a user flooded a table or file system others share (every grading
#: there was starved), or took a name or key another grading handed out (that one was).
FLOOD, SQUAT = "flood", "squat"


def announce(kind: str, start: float, end: float, uid: int, what: str) -> None:
    """Tell every grading on this machine that user UID did KIND (FLOOD, SQUAT) to WHAT from
    START to END."""
    if os.geteuid() != 0:
        return  # an ordinary user's gradings have one user: nobody to tell apart
    try:
        EVENTS.parent.mkdir(mode=0o700, exist_ok=True)
        if EVENTS.parent.lstat().st_uid != 0:
            return
        fd = os.open(EVENTS, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        try:
            os.write(fd, f"{start:.3f} {end:.3f} {kind} {_where()} {uid} {' '.join(what.split())}\n".encode())
        finally:
            os.close(fd)
    except OSError:
        pass


@dataclass(frozen=True)
class Announcement:
    start: float
    end: float
    kind: str
    where: str
    uid: int
    what: str


def announcements(since: float) -> list[Announcement]:
    """What gradings announced here (this IPC namespace and /dev/shm) that ended after SINCE."""
    if os.geteuid() != 0:
        return []
    try:
        with open(EVENTS, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - (64 << 10)))  # the latest are enough
            lines = f.read().decode(errors="replace").splitlines()
    except OSError:
        return []
    here, out = _where(), []
    for line in lines:
        parts = line.split(" ", 5)
        try:
            a = Announcement(float(parts[0]), float(parts[1]), parts[2], parts[3], int(parts[4]), parts[5] if len(parts) > 5 else "")
        except (IndexError, ValueError):
            continue
        if a.where == here and a.end >= since:
            out.append(a)
    return out


# --- the keeper ---------------------------------------------------------------------------------


@dataclass
class Keeper:
    """Watches one spec's (or build's) share of the machine, and everyone else's (see module)."""

    uid: int | None
    """The programs' user (None: the grader's own)."""
    gid: int | None = None
    names: Names | None = None
    """The names and keys this spec hands out (squatting)."""
    stop_programs: Callable[[], None] | None = None
    """Ends every process of the programs at once (supervisor.kill_user for a user of their own)."""
    findings: list[str] = field(default_factory=list)
    """Integrity findings: the programs took more than their share, or another grading's names."""
    interference: str | None = None
    """What another user did that spoiled this spec, or None."""
    _baseline: dict[str, tuple[int, int]] = field(default_factory=dict)
    _started: float = 0.0
    _ok_at: float = 0.0
    _read_at: dict[str, int] = field(default_factory=dict)
    _looks: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __repr__(self) -> str:  # Hypothesis prints fixtures in a falsifying example
        return "<keeper>"

    @property
    def who(self) -> int:
        return self.uid if self.uid is not None else os.geteuid()

    def start(self) -> Keeper:
        self._baseline = usage()
        self._started = self._ok_at = time.monotonic()
        # A table still full when the spec starts (a flood stopped but not yet swept away: its
        # announcement ends when its programs were stopped) spoils it however soon the next look
        # would come: the first look is now.
        self.look()
        self._thread = threading.Thread(target=self._run, daemon=True, name="keeper")
        self._thread.start()
        return self

    def stop(self) -> list[str]:
        """Stop watching (after a last look); the findings. Interference is final then."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
            self.look(keys=True, accused=True)
            if self.interference is None:
                self.interference = self._flooded_by_others(time.monotonic())
        return list(self.findings)

    def _run(self) -> None:
        while not self._stop.wait(PERIOD):
            try:
                self.look(keys=self._looks % KEYS_EVERY == 0, accused=self._looks % DEAR_EVERY == 0)
            except Exception as exc:  # a watch that breaks must not break the spec, nor pass silently
                self.findings.append(f"the grader's watch on shared tables failed: {type(exc).__name__}: {exc}")
                return

    def look(self, keys: bool = False, accused: bool = False) -> None:
        """One look at every table and file system (see module); KEYS: the keys handed out too;
        ACCUSED: what other gradings announced about this one's programs too."""
        self._looks += 1
        calm = True
        for kind, (used, limit) in usage().items():
            base = self._baseline.get(kind, (0, limit))[0]
            share, full = _share(kind, limit), limit - used < _room(kind, limit)
            if used - base <= share and not full:
                continue
            calm = False
            if self._looks - self._read_at.get(kind, -DEAR_EVERY) < DEAR_EVERY:
                continue  # read a moment ago
            self._read_at[kind] = self._looks
            mine = held(self.who, kind, self.names.root if self.names is not None else None)
            if mine > share:
                what = Sentence("%(amount)s of %(table)s (of %(limit)s on this machine; a grading's programs may hold %(share)s)",
                                amount=_amount(kind, mine), table=TABLES[kind], limit=_amount(kind, limit), share=_amount(kind, share))
                self._stop_them(Sentence("your programs held %(what)s: they were stopped and what they made removed", what=what), WORDS[kind], self._ok_at)
            elif full and self.interference is None:
                others = {u: n for u, n in holders(kind).items() if u != self.who}
                if others:
                    top = max(others, key=others.get)
                    self.interference = f"user {top} held {_amount(kind, others[top])} of {WORDS[kind]} ({_amount(kind, used)} of {_amount(kind, limit)} in use) while this spec ran"
                    announce(FLOOD, self._ok_at, time.monotonic(), top, WORDS[kind])
        if calm:
            self._ok_at = time.monotonic()
        if self.names is not None and self.interference is None:
            self._squatted(keys)
        if accused:
            self._accused()

    def _stop_them(self, finding: str, what: str | None, since: float) -> None:
        """The programs took more than their share (FINDING): stop them, remove what they made,
        fence the grading, and tell the others how long they held WHAT, a table or file system
        the machine shares (from SINCE), if they did."""
        global _fenced
        if finding.split(":")[0] not in (f.split(":")[0] for f in self.findings):
            self.findings.append(finding)
        _fenced = _fenced or finding
        if self.stop_programs is not None:
            self.stop_programs()
        # The flood ends here: stopped programs make nothing more, and the sweep only gives room
        # back. A spec another grading starts while the sweep still runs sees the table full at
        # its first look (``start``); one that starts after it sees room, and keeps it. Ending
        # the announcement after the sweep (which takes seconds for 32 000 queues on a loaded
        # machine) spoiled the judging again of specs that started with room to spare.
        stopped = time.monotonic()
        leftovers.sweep(self.uid, self.gid, list(self.names.handed) if self.names is not None else ())
        if what is not None:
            announce(FLOOD, since, stopped, self.who, what)

    def _accused(self) -> None:
        """Another grading saw this one's programs take a name or key it handed out, or hold a
        table it shares: the same as taking more than their share."""
        if self.findings:
            return
        for a in announcements(self._started):
            if a.uid == self.who:
                what = said_table(a.what)
                self._stop_them(Sentence("another grading saw your programs take %(what)s: they were stopped and what they made removed", what=what) if a.kind == SQUAT
                                else Sentence("another grading saw your programs hold %(what)s: they were stopped and what they made removed", what=what), None, a.start)
                return

    def _flooded_by_others(self, until: float) -> str | None:
        """A flood another grading announced that overlapped this spec, in words, or None."""
        for a in announcements(self._started):
            if a.kind == FLOOD and a.uid != self.who and a.start <= until:
                return f"another grading's programs (user {a.uid}) flooded {a.what} while this spec ran"
        return None

    def _squatted(self, keys: bool) -> None:
        """Another user made an object under a name or key this spec handed out: this spec is
        interfered, and the squatter's grading is told (it stops its programs)."""
        found = self._squatter(keys)
        if found:
            uid, what = found
            self.interference = f"user {uid} {what}, before its programs could"
            now = time.monotonic()
            announce(SQUAT, now, now, uid, str(SQUATTED))

    def _squatter(self, keys: bool) -> tuple[int, str] | None:
        """(user, what it did) of the first object under a name (or, with KEYS, a key) handed out
        in this spec that neither the programs' user nor the grader made."""
        handed = list(self.names.handed) if self.names is not None else []
        mine = {self.who, os.geteuid()}
        for kind, name in handed:
            if kind == "posix":
                bare = str(name).lstrip("/")
                for path in (f"{leftovers.DEV_SHM}/{bare}", f"{leftovers.DEV_SHM}/sem.{bare}", *(f"{d}/{bare}" for d in leftovers.mqueue_dirs())):
                    try:
                        owner = os.lstat(path).st_uid
                    except OSError:
                        continue
                    if owner not in mine:
                        return owner, f"made {path}, under a name this spec handed out"
        if keys:
            wanted = {name for kind, name in handed if kind == "key"}
            for table in ("msg", "shm", "sem") if wanted else ():
                for _, key, _owner, creator in leftovers._sysv_rows(table):
                    if key in wanted and creator not in mine:
                        return creator, f"made a System V object with key {key}, which this spec handed out"
        return None

    def wait_for_room(self, deadline: Deadline) -> bool:
        """Until no table or file system is full (or DEADLINE): whether there is room."""
        while not deadline.expired():
            if not [k for k, (used, limit) in usage().items() if limit - used < _room(k, limit)]:
                return True
            self._stop.wait(PERIOD * 10)
        return False


def _amount(kind: str, n: int) -> str:
    if kind in ("dev_shm", "tmp"):
        return f"{n / (1 << 20):.1f} MiB"
    return str(n)


def _owned(top: str, uid: int, deep: bool = False) -> tuple[int, int]:
    """Entries of TOP that UID owns, and their bytes (with all they hold, if DEEP)."""
    count = size = 0
    for entry in _scandir(top):
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if st.st_uid != uid:
            continue
        count += 1
        size += st.st_blocks * 512
        if deep and entry.is_dir(follow_symlinks=False):
            for root, _dirs, files in os.walk(entry.path):
                for name in files:
                    try:
                        size += os.lstat(os.path.join(root, name)).st_blocks * 512
                    except OSError:
                        pass
    return count, size


def _scandir(top: str) -> list[os.DirEntry]:
    try:
        with os.scandir(top) as it:
            return list(it)
    except OSError:
        return []


#: How a spec's failure says that its programs took more than their share, and what to do.
OBSERVED = Sentence(
    "integrity: your programs took more than their share of a table or file system this machine shares with other "
    "gradings (System V IPC, POSIX queues, /dev/shm, /tmp), so they were stopped and this spec gives no points."
)
FIX = Sentence("Make and remove the objects a spec needs, a few at a time: never create IPC objects or files in a loop without end.")


__all__ = ["EVENTS", "FIX", "OBSERVED", "Keeper", "Announcement", "announce", "announcements", "fenced", "held", "holders", "usage"]
