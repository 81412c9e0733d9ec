"""Who implementation programs run as: an unprivileged user of their own when the grader is root.

As root, a program could kill the grader, rewrite its results, or fork without limit (root is
exempt from RLIMIT_NPROC). So, by default, a root grader runs every program as a user id of
its own from a pool of ids that no account uses: one id per grading process (the controller,
and each xdist worker), held with a lock file so that concurrent gradings on one machine never
share one. The process limit then applies, a fork bomb is confined to its own id, and the
grader's files are out of reach.

The implementation is staged first: copied to a directory that is the programs' user's alone
(a submission under /root would be out of its reach, and no other submission may read it), and
the reference to one the grader owns, which programs may read but never change.

``--run-as`` chooses: ``auto`` (the default: a pool id when root, else the grader's own user),
``none`` (always the grader's own user) or a user name or numeric id.
"""

from __future__ import annotations

import errno
import fcntl
import functools
import operator
import os
import pwd
import shutil
import stat
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path

#: Pool of user ids for sandboxes: above any account or subordinate-id range in common use,
#: below 2**31 so no tool mistakes them for negative numbers.
POOL_BASE = 2_100_000_000
POOL_SIZE = 4096
LOCK_DIR = Path(tempfile.gettempdir()) / "ipc-grade-uids"


@dataclass
class Sandbox:
    uid: int
    gid: int
    lock_fd: int | None = None

    def __str__(self) -> str:
        return f"uid {self.uid}"


def allocate(run_as: str) -> Sandbox | None:
    """The sandbox for this process under policy RUN_AS, or None to run as ourselves."""
    if run_as == "none":
        return None
    if run_as == "auto":
        if os.geteuid() != 0:
            return None
        return _from_pool()
    if os.geteuid() != 0:
        raise PermissionError(f"--run-as {run_as} needs the grader to run as root")
    if run_as.isdigit():
        return Sandbox(int(run_as), int(run_as))
    entry = pwd.getpwnam(run_as)
    return Sandbox(entry.pw_uid, entry.pw_gid)


def _from_pool() -> Sandbox:
    LOCK_DIR.mkdir(mode=0o700, exist_ok=True)
    start = os.getpid() % POOL_SIZE  # spread concurrent gradings over the pool
    for i in range(POOL_SIZE):
        n = (start + i) % POOL_SIZE
        fd = os.open(LOCK_DIR / f"{n}.lock", os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        os.set_inheritable(fd, False)
        if not _owns_nothing(POOL_BASE + n):
            os.close(fd)
            continue
        return Sandbox(POOL_BASE + n, POOL_BASE + n, fd)  # the lock is held until we exit
    raise RuntimeError(f"all {POOL_SIZE} sandbox user ids are in use ({LOCK_DIR})")


def _owns_nothing(uid: int) -> bool:
    """Whether pool id UID, whose lock we hold, owns nothing a grading could meet: no process,
    no IPC object, no entry in the shared temporary directories. What a grading that died left
    (its lock died with it) is removed first; an id that still owns something is not used."""
    from conformance.kernel import observe

    from . import leftovers
    from .supervisor import kill_user

    if observe.pids_of_user(uid):
        kill_user(uid)
    if leftovers.owns_anything(uid) is not None:
        leftovers.sweep(uid, uid)
    return not observe.pids_of_user(uid) and leftovers.owns_anything(uid) is None


#: Tool directories a submission may hold that no program needs: never staged.
NOT_STAGED = (".git", ".hg", ".svn", ".venv", "venv", "__pycache__", ".pytest_cache", ".hypothesis", ".mypy_cache", ".ruff_cache", "node_modules")
#: A submission larger than this is not staged (and not graded): the grader copies it per run.
STAGE_LIMIT = 256 << 20


class StagingError(Exception):
    """The implementation could not be staged; the message says why and what to do."""


def stage(source: Path, target: Path, uid: int, gid: int, *, private: bool) -> Path:
    """Copy the implementation at SOURCE to TARGET, with modes of the grader's choosing.

    PRIVATE (a submission): owned by UID and GID, directories 0700 and files 0600 (0700 if
    executable): the programs' own, and nobody else's. Otherwise (the reference): owned by the
    grader, directories 0755 and files 0644 (0755): programs may read and run it, never change
    it. Links are copied as links and never followed; FIFOs, sockets and devices are left out.
    """
    size = 0

    def ignore(directory: str, names: list[str]) -> set[str]:
        nonlocal size
        skipped = set(shutil.ignore_patterns(*NOT_STAGED)(directory, names))
        for name in names:
            if name in skipped:
                continue
            st = os.lstat(os.path.join(directory, name))
            if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode) or stat.S_ISLNK(st.st_mode)):
                skipped.add(name)
            elif stat.S_ISREG(st.st_mode):
                size += st.st_size
        if size > STAGE_LIMIT:
            raise StagingError(f"{source} holds more than {STAGE_LIMIT >> 20} MiB of files: hand in the sources and what the build needs")
        return skipped

    try:
        shutil.copytree(source, target, symlinks=True, ignore=ignore)
    except (shutil.Error, OSError) as exc:
        raise StagingError(f"cannot copy {source} for grading ({exc})") from exc
    owner = (uid, gid) if private else (os.geteuid(), os.getegid())
    for root, dirs, files in os.walk(target):
        for name in [*dirs, *files, None]:
            path = os.path.join(root, name) if name else root
            os.chown(path, *owner, follow_symlinks=False)
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                continue
            executable = stat.S_ISDIR(st.st_mode) or st.st_mode & 0o111
            mode = (0o700 if executable else 0o600) if private else (0o755 if executable else 0o644)
            os.chmod(path, mode)
    return target


def probe(python: Path, env: dict[str, str], sandbox: Sandbox | None, cwd: Path) -> str | None:
    """Can the programs' user run PYTHON with posix_ipc and sysv_ipc in CWD (and without the
    grader)? None if so, else why not."""
    from .supervisor import Supervisor

    who = f"uid {sandbox.uid}" if sandbox else "the grader's user"
    sup = Supervisor(user=sandbox.uid if sandbox else None, group=sandbox.gid if sandbox else None, env=env)
    check = "import posix_ipc, sysv_ipc, importlib.util as u; assert u.find_spec('conformance') is None, 'the grader is importable'"
    try:
        proc = sup.spawn([str(python), "-c", check], cwd=str(cwd), label="the runtime probe", stdin="devnull")
        status = proc.wait(30, check_implemented=False)
    except BaseException as exc:
        return f"{who} cannot start {python} ({exc})"
    finally:
        sup.teardown()
    if not status.ok:
        return f"{python} does not run as {who} ({status}: {proc.stderr.text().strip()[-200:]})"
    return None


# --- the grader's files, out of the submission's reach -------------------------------------

_ACL = "system.posix_acl_access"
_USER_OBJ, _USER, _GROUP_OBJ, _GROUP, _MASK, _OTHER = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20
_NO_ID = 0xFFFFFFFF


def deny(paths: list[Path], gid: int) -> str | None:
    """Keep members of group GID out of each directory in PATHS, and so out of all it holds.

    A POSIX ACL entry naming GID with no permissions: a process in that group matches it, and
    the kernel then grants only what the group entries grant, nothing (acl(5)); every other
    process reads the directory as before. The submission's programs carry GID
    (supervisor.SUBJECT_GID); the reference's and the grader's processes do not. None if every
    path took it, else why not (a file system without ACLs): then integrity.py still watches.
    """
    problems = []
    for path in paths:
        try:
            _deny_one(path, gid)
        except OSError as exc:
            problems.append(f"{path}: {exc.strerror or exc}")
    return "; ".join(problems) or None


def _deny_one(path: Path, gid: int) -> None:
    st = os.stat(path)
    try:
        raw = os.getxattr(path, _ACL)
    except OSError as exc:
        if exc.errno not in (errno.ENODATA, errno.ENOTSUP, errno.EOPNOTSUPP):
            raise
        raw = b""
    entries = _parse_acl(raw) if raw else {
        (_USER_OBJ, _NO_ID): (st.st_mode >> 6) & 7,
        (_GROUP_OBJ, _NO_ID): (st.st_mode >> 3) & 7,
        (_OTHER, _NO_ID): st.st_mode & 7,
    }
    if entries.get((_GROUP, gid)) == 0 and (_MASK, _NO_ID) in entries:
        return
    entries[(_GROUP, gid)] = 0
    group_class = [perm for (tag, _), perm in entries.items() if tag in (_USER, _GROUP_OBJ, _GROUP)]
    entries.setdefault((_MASK, _NO_ID), 0)
    entries[(_MASK, _NO_ID)] |= functools.reduce(operator.or_, group_class, 0)
    data = struct.pack("<I", 2) + b"".join(struct.pack("<HHI", tag, perm, ident) for (tag, ident), perm in sorted(entries.items()))
    os.setxattr(path, _ACL, data)


def _parse_acl(raw: bytes) -> dict[tuple[int, int], int]:
    return {(tag, ident): perm for tag, perm, ident in struct.iter_unpack("<HHI", raw[4:])}


def release(sandbox: Sandbox) -> None:
    if sandbox.lock_fd is not None:
        os.close(sandbox.lock_fd)
        sandbox.lock_fd = None


def give(path: Path, sandbox: Sandbox | None) -> Path:
    """Hand PATH (a directory the harness made for a spec) to the sandbox user."""
    if sandbox is not None:
        os.chown(path, sandbox.uid, sandbox.gid)
    return path
