"""The programs' own Python: an interpreter, its standard library, posix_ipc and sysv_ipc, and
nothing of the grader.

A manifest command that starts with ``python3`` (or ``python``) runs under this runtime, never
under the grader's interpreter: the grader's site-packages hold the grader, its reference
implementation and whatever the instructor installed, and a program that could import them
could hand in the reference as its own (``python3 -m conformance.bundled.reference.pipe``).

It takes one of two shapes, whichever the programs' user can run:

- **venv**: where that user may run the grader's base interpreter and read its standard library
  (``/usr/bin/python3`` on Debian), a virtual environment on it (``pyvenv.cfg`` with
  ``include-system-site-packages = false``) whose site-packages hold only posix_ipc and sysv_ipc;
- **copy**: where it may not (a pyenv under ``/root``, mode 0700), the interpreter, its shared
  library and its standard library laid out afresh (hard links where the file system allows,
  copies elsewhere), so that Python finds its prefix from the binary's place.

It is built once per interpreter and grader version, in a cache only its builder may write
(``/var/cache/ipc-grade`` for root, ``~/.cache/ipc-grade`` otherwise), and shared by gradings.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import sys
import sysconfig
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from conformance.settings import SETTINGS

#: The setting that says where runtimes are kept (IPC_GRADE_CACHE).
CACHE = SETTINGS["cache"]
#: The packages the contract lets a Python program use besides the standard library.
PACKAGES = ("posix_ipc", "sysv_ipc")
#: Parts of the standard library no program of the contract needs (and the base's own
#: site-packages, which is the grader's or the machine's, never the programs').
PRUNED = {"site-packages", "dist-packages", "test", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3", "config-" + sys.implementation.cache_tag}


@dataclass(frozen=True)
class Runtime:
    root: Path
    kind: str
    """``venv`` or ``copy`` (see the module's docstring)."""
    env: dict[str, str] = field(default_factory=dict)
    """What a program under it needs in its environment (the copy's shared library path)."""

    @property
    def python(self) -> Path:
        return self.root / "bin" / "python3"

    def describe(self) -> str:
        how = "a virtual environment on" if self.kind == "venv" else "a copy of"
        return f"{how} {Path(sys._base_executable).resolve()} with posix_ipc and sysv_ipc only ({self.root})"


def cache_dir() -> Path:
    """Where runtimes are kept: a place only this user may write, that survives the run
    ($IPC_GRADE_CACHE if set)."""
    given = CACHE.from_env()
    if given:
        return Path(given)
    if os.geteuid() == 0:
        return Path("/var/cache/ipc-grade")
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    candidate = Path(base) / "ipc-grade"
    try:
        candidate.mkdir(parents=True, exist_ok=True)
        return candidate
    except OSError:  # no home to write in (a system account): the temporary directory, ours alone
        fallback = Path(tempfile.gettempdir()) / f"ipc-grade-{os.geteuid()}"
        fallback.mkdir(mode=0o700, exist_ok=True)
        if fallback.lstat().st_uid != os.geteuid() or fallback.is_symlink():
            raise RuntimeError(f"{fallback} belongs to someone else: set XDG_CACHE_HOME to a directory of your own") from None
        return fallback


def _key(kind: str) -> str:
    base = Path(sys._base_executable).resolve()
    parts = [kind, str(base), str(base.stat().st_mtime_ns), sys.version]
    for name in PACKAGES:
        origin = Path(_origin(name))
        parts += [origin.name, hashlib.sha256(origin.read_bytes()).hexdigest()]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def _origin(name: str) -> str:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise RuntimeError(f"the grader needs the {name} package, which is not installed: pip install {name}")
    return spec.origin


def build_into(root: Path, build: Callable[[Path], None]) -> None:
    """BUILD a directory in the cache and put it at ROOT atomically: it is made beside ROOT,
    its directories opened to every user, then renamed into place, so concurrent gradings
    build it once between them and none sees half of one (the one that loses the race drops
    its copy)."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.", dir=root.parent))
    try:
        build(tmp)
        for path in [tmp, *tmp.rglob("*")]:
            if path.is_dir() and not path.is_symlink():
                os.chmod(path, 0o755)
        try:
            os.rename(tmp, root)
        except OSError:  # another grading built it first
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def ensure(kind: str) -> Runtime:
    """The runtime of KIND, built if this machine has none yet (atomically: concurrent
    gradings build it once and never see half of one)."""
    cache = cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        os.chmod(cache, 0o755)
    root = cache / f"python-{kind}-{_key(kind)}"
    if not (root / "bin" / "python3").exists():
        build_into(root, _build_venv if kind == "venv" else _build_copy)
    env = {"LD_LIBRARY_PATH": str(root / "lib")} if kind == "copy" and (root / "lib" / _libpython()).exists() else {}
    return Runtime(root, kind, env)


def _site_packages(root: Path) -> Path:
    return root / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"


def _add_packages(root: Path) -> None:
    site = _site_packages(root)
    site.mkdir(parents=True, exist_ok=True)
    for name in PACKAGES:
        origin = Path(_origin(name))
        shutil.copy2(origin, site / origin.name)


def _build_venv(root: Path) -> None:
    base = Path(sys._base_executable).resolve()
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "python3").symlink_to(base)
    (root / "pyvenv.cfg").write_text(
        f"home = {base.parent}\ninclude-system-site-packages = false\nversion = {sys.version.split()[0]}\nexecutable = {base}\n"
    )
    _add_packages(root)


def _libpython() -> str:
    return sysconfig.get_config_var("INSTSONAME") or sysconfig.get_config_var("LDLIBRARY") or ""


def _build_copy(root: Path) -> None:
    base = Path(sys._base_executable).resolve()
    (root / "bin").mkdir(parents=True)
    _link_or_copy(base, root / "bin" / base.name)
    if base.name != "python3":
        (root / "bin" / "python3").symlink_to(base.name)
    if sysconfig.get_config_var("Py_ENABLE_SHARED"):
        lib = Path(sysconfig.get_config_var("LIBDIR")) / _libpython()
        if lib.exists():
            (root / "lib").mkdir(parents=True, exist_ok=True)
            _link_or_copy(lib.resolve(), root / "lib" / lib.name)
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    target = root / "lib" / stdlib.name
    for dirpath, dirnames, filenames in os.walk(stdlib):
        here = Path(dirpath)
        rel = here.relative_to(stdlib)
        if rel == Path("."):
            dirnames[:] = [d for d in dirnames if d not in PRUNED]
        (target / rel).mkdir(parents=True, exist_ok=True)
        for name in filenames:
            src = here / name
            if src.is_symlink() or not src.is_file():
                continue
            _link_or_copy(src, target / rel / name)
    _add_packages(root)


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


__all__ = ["PACKAGES", "Runtime", "cache_dir", "ensure"]
