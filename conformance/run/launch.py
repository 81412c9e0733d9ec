"""Starting a program cheaply: through ipc-launch (launch.c), so that the grader forks with vfork.

A program's start needs steps between fork and exec (limits._child_setup: default signal
dispositions, the network namespace, the programs' user, SIGKILL when the grader goes, resource
limits). Done in Python (``preexec_fn``), they make subprocess fork the whole grader: about 1 ms
of the grader's CPU per start, with its lock held, against 0.2 ms for a vfork, and a grading
starts thousands of programs (a hypothesis example starts several, a schedule exploration one
per schedule). ipc-launch does the same steps in C after subprocess's vfork, then execs the
program; a failed exec comes back through a pipe as the OSError subprocess would have raised.

It is built once per machine and grader version with the system's C compiler, in the cache
where the programs' Python is kept (runtime.cache_dir). Where there is no compiler, programs
start as before (``preexec_fn``).
"""

from __future__ import annotations

import errno as errno_mod
import hashlib
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from .limits import _child_setup
from .runtime import build_into, cache_dir

SOURCE = Path(__file__).resolve().parent / "launch.c"
NAME = "ipc-launch"
_path: list[str | None] = []


def launcher() -> str | None:
    """ipc-launch's path, built if this machine has none yet; None where it cannot be."""
    if not _path:
        _path.append(_ensure())
    return _path[0]


def _ensure() -> str | None:
    cc = next((os.path.realpath(c) for c in (shutil.which(n, path="/usr/local/bin:/usr/bin:/bin") for n in ("cc", "gcc")) if c), None)
    if cc is None:
        return None
    try:
        key = hashlib.sha256(SOURCE.read_bytes() + cc.encode()).hexdigest()[:16]
        root = cache_dir() / f"launch-{key}"
        if not (root / NAME).exists():
            cache_dir().mkdir(parents=True, exist_ok=True)
            build_into(root, lambda tmp: _build(tmp, cc))
        return str(root / NAME) if os.access(root / NAME, os.X_OK) else None
    except (OSError, subprocess.SubprocessError):
        return None


def _build(tmp: Path, cc: str) -> None:
    out = tmp / NAME
    subprocess.run([cc, "-O2", "-o", str(out), str(SOURCE)], check=True, capture_output=True, timeout=120, stdin=subprocess.DEVNULL)
    os.chmod(out, 0o755)


def popen(argv: Sequence[str], *, rlimits: list[tuple[int, int]], user: int | None, group: int | None, netns_fd: int | None,
          groups: tuple[int, ...], pass_fds: Sequence[int], **kwargs) -> subprocess.Popen:
    """subprocess.Popen(ARGV, **KWARGS) with the child's steps (see the module) done by
    ipc-launch, or by preexec_fn where there is none; raises what Popen would."""
    path = launcher()
    if path is None:
        return subprocess.Popen(argv, pass_fds=tuple(pass_fds), preexec_fn=lambda: _child_setup(rlimits, user, group, netns_fd, groups), **kwargs)
    env = kwargs.get("env")
    if env is not None and "LD_PRELOAD" in env:  # for the program alone (launch.c), not the launcher
        env = dict(env)
        env["IPC_LAUNCH_PRELOAD"] = env.pop("LD_PRELOAD")
        kwargs["env"] = env
    r, w = os.pipe2(os.O_CLOEXEC)
    ids = [str(user), str(group if group is not None else user)] if user is not None else ["-1", "-1"]
    cmd = [path, str(w), str(-1 if netns_fd is None else netns_fd), *ids, ",".join(map(str, groups)),
           ",".join(f"{res}:{value}" for res, value in rlimits), "--", *argv]
    try:
        proc = subprocess.Popen(cmd, pass_fds=(*pass_fds, w), **kwargs)
    finally:
        os.close(w)
    try:
        with os.fdopen(r, "rb") as f:
            failed = f.read()  # EOF when the program's exec closed the launcher's end
    except OSError:
        failed = b""
    if failed:
        proc.wait()
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
        step, _, code = failed.decode(errors="replace").partition(" ")
        number = int(code) if code.isdigit() else errno_mod.EIO
        if step == "exec":
            raise OSError(number, os.strerror(number), argv[0])  # FileNotFoundError, PermissionError, ... as subprocess raises
        raise subprocess.SubprocessError(f"starting {argv[0]} failed at {step}: {os.strerror(number)}")
    return proc


__all__ = ["launcher", "popen"]
