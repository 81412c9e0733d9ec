"""Who implementation programs run as: an unprivileged user of their own when the grader is root.

As root, a program could kill the grader, rewrite its results, or fork without limit (root is
exempt from RLIMIT_NPROC). So, by default, a root grader runs every program as a user id of
its own from a pool of ids that no account uses: one id per grading process (the controller,
and each xdist worker), held with a lock file so that concurrent gradings on one machine never
share one. The process limit then applies, a fork bomb is confined to its own id, and the
grader's files are out of reach.

The implementation is staged first: copied to a directory the sandbox user can read (a
submission under /root would not be), and owned by the build's id so a build can write there.

``--run-as`` chooses: ``auto`` (the default: a pool id when root, else the grader's own user),
``none`` (always the grader's own user) or a user name or numeric id.
"""

from __future__ import annotations

import fcntl
import os
import pwd
import shutil
import sys
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


def parse_run_as(value: str) -> str:
    """Check a --run-as value; returns it, or raises ValueError with the fix."""
    if value in ("auto", "none") or value.isdigit():
        return value
    try:
        pwd.getpwnam(value)
    except KeyError:
        raise ValueError(f"--run-as {value!r}: no such user; give auto, none, a user name or a numeric id") from None
    return value


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
        return Sandbox(POOL_BASE + n, POOL_BASE + n, fd)  # the lock is held until we exit
    raise RuntimeError(f"all {POOL_SIZE} sandbox user ids are in use ({LOCK_DIR})")


def stage(source: Path, target: Path, owner: Sandbox) -> Path:
    """Copy the implementation at SOURCE to TARGET, readable by everyone, owned by OWNER."""
    shutil.copytree(source, target, symlinks=True, ignore=shutil.ignore_patterns(".git", "__pycache__"))
    for root, dirs, files in os.walk(target):
        for name in [*dirs, *files, None]:
            path = os.path.join(root, name) if name else root
            if os.path.islink(path):
                continue
            os.chown(path, owner.uid, owner.gid)
            mode = os.stat(path).st_mode
            os.chmod(path, mode | 0o444 | (0o111 if mode & 0o111 or os.path.isdir(path) else 0))
    return target


def probe(sandbox: Sandbox, cwd: Path) -> str | None:
    """Can the sandbox user run the grader's Python with posix_ipc and sysv_ipc in CWD?

    None if so, else why not (an interpreter under /root, for example, is out of its reach).
    """
    from .supervisor import Supervisor

    sup = Supervisor(user=sandbox.uid, group=sandbox.gid)
    try:
        proc = sup.spawn([sys.executable, "-c", "import posix_ipc, sysv_ipc"], cwd=str(cwd), label="probe", stdin="devnull")
        status = proc.wait(30, check_implemented=False)
    except BaseException as exc:  # noqa: BLE001 - any failure means: do not sandbox
        return f"{sys.executable} cannot be started by uid {sandbox.uid} ({exc})"
    finally:
        sup.teardown()
    if not status.ok:
        return f"{sys.executable} cannot run as uid {sandbox.uid} ({status}: {proc.stderr.text().strip()[-200:]})"
    return None


def release(sandbox: Sandbox) -> None:
    if sandbox.lock_fd is not None:
        os.close(sandbox.lock_fd)
        sandbox.lock_fd = None


def give(path: Path, sandbox: Sandbox | None) -> Path:
    """Hand PATH (a directory the harness made for a spec) to the sandbox user."""
    if sandbox is not None:
        os.chown(path, sandbox.uid, sandbox.gid)
    return path
