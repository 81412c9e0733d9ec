"""The interposition library, built from ipcsched.c with the system's C compiler, and kept where
the programs' Python is kept (runtime.cache_dir): once per machine and grader version, shared by
gradings, readable by the programs' user, writable only by its builder.

Beside it: ``libtsan.so``, a link to it, so that a C submission compiled and linked with
``-fsanitize=thread -L DIR`` takes it as its sanitizer runtime (gcc links ``-ltsan`` and
``libtsan_preinit.o``: the hooks the instrumentation calls are ipcsched.c's, not a race
detector's); ``python/sitecustomize.py`` (programs_site.py), on a controlled Python program's
PYTHONPATH; and ``bin/cc`` and ``bin/gcc``, the compiler with those flags added, first on the
PATH of the instrumented build (build.py).

A machine without a C compiler has no library: controlled specs then run as they do without it,
and say so.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from conformance.outcomes import Sentence

from ..runtime import build_into, cache_dir

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "ipcsched.c"
SITE = HERE / "programs_site.py"
NAME = "libipcsched.so"
#: The compilers a build may call by name: each gets a wrapper.
COMPILERS = ("cc", "gcc")
#: What the wrapper adds to every compiler call of the instrumented build.
FLAGS = ("-fsanitize=thread",)


#: Why the library cannot be built here, when this machine has no C compiler (control.REASONS).
NO_COMPILER = Sentence("this machine has no C compiler (cc or gcc) to build the scheduling library")


class Unavailable(Exception):
    """No library on this machine; the message says why (for the report)."""


@dataclass(frozen=True)
class Library:
    root: Path

    @property
    def path(self) -> Path:
        return self.root / NAME

    @property
    def bin(self) -> Path:
        return self.root / "bin"

    @property
    def python(self) -> Path:
        return self.root / "python"

    def env(self, socket_path: str, submission: str | None) -> dict[str, str]:
        """What a controlled program's environment gets: the library preloaded, the socket,
        and for Python the lines of SUBMISSION's files as points."""
        env = {"LD_PRELOAD": str(self.path), "IPC_SCHED_SOCKET": socket_path, "IPC_SCHED_LIB": str(self.path), "PYTHONPATH": str(self.python)}
        if submission:
            env["IPC_SCHED_ROOT"] = submission
        return env


def compiler() -> str | None:
    """The system's C compiler, as a real path (what the wrappers call), or None."""
    for name in COMPILERS:
        found = shutil.which(name, path=os.pathsep.join(("/usr/local/bin", "/usr/bin", "/bin")))
        if found:
            return os.path.realpath(found)
    return None


def _key(cc: str) -> str:
    parts = [SOURCE.read_bytes(), SITE.read_bytes(), cc.encode(), str(os.stat(cc).st_mtime_ns).encode()]
    return hashlib.sha256(b"\0".join(parts)).hexdigest()[:16]


def ensure() -> Library:
    """The library, built if this machine has none yet (atomically, as runtime.ensure builds);
    Unavailable, saying why, where it cannot be."""
    cc = compiler()
    if cc is None:
        raise Unavailable(NO_COMPILER)
    cache = cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    root = cache / f"sched-{_key(cc)}"
    if not (root / NAME).exists():
        build_into(root, lambda tmp: _build(tmp, root, cc))
    return Library(root)


def _build(tmp: Path, final: Path, cc: str) -> None:
    out = tmp / NAME
    cmd = [cc, "-O2", "-g", "-fPIC", "-shared", "-fvisibility=hidden", f"-Wl,-soname,{NAME}", "-o", str(out), str(SOURCE), "-ldl", "-lpthread"]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise Unavailable(f"building the scheduling library failed: {exc}") from None
    if done.returncode != 0:
        raise Unavailable(f"building the scheduling library with {cc} failed: {done.stderr.strip()[-400:]}")
    os.chmod(out, 0o755)
    (tmp / "libtsan.so").symlink_to(NAME)
    (tmp / "python").mkdir()
    shutil.copyfile(SITE, tmp / "python" / "sitecustomize.py")
    os.chmod(tmp / "python" / "sitecustomize.py", 0o644)
    (tmp / "bin").mkdir()
    flags = " ".join(shlex.quote(f) for f in (*FLAGS, f"-L{final}", f"-Wl,-rpath,{final}"))
    for name in COMPILERS:
        wrapper = tmp / "bin" / name
        wrapper.write_text(
            "#!/bin/sh\n"
            "# ipc-grade: the submission's C with scheduling points (conformance/run/schedule/build.py)\n"
            f'exec {shlex.quote(cc)} "$@" {flags}\n'
        )
        os.chmod(wrapper, 0o755)


__all__ = ["Library", "Unavailable", "compiler", "ensure"]
