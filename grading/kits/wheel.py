"""The grader as a wheel: what a kit carries, so that what a course installs is what was tested.

    python -m grading.kits.wheel DIR     write the running grader's wheel into DIR, print its path

Installed from a wheel (``pip install .`` builds one, ``pip install ipc_conformance-*.whl``
takes one), the grader is repacked from its installation: the files pip's RECORD lists, each
checked against the hash RECORD holds, with the distribution's own metadata (its entry points
and dependencies, written once, by pyproject.toml). Run from a checkout (an editable install,
whose files are the checkout's), the wheel is built from the checkout by pip, as ``pip install .``
would build it.

Nothing here writes packaging metadata by hand: a wheel made either way installs with the same
entry points (``ipc-grade``, and the pytest plugins ``conformance.plugin`` and
``grading.plugin``) and the same requirements as the wheel the project builds.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from importlib import metadata
from pathlib import Path

DISTRIBUTION = "ipc-conformance"
#: Fixed timestamp for every entry: the same installation gives the same bytes.
ZIP_TIME = (2020, 1, 1, 0, 0, 0)
SOURCE_DATE_EPOCH = 1577836800  # the same instant, for the tools that build a wheel
#: Files pip adds to a dist-info when it installs; the wheel did not hold them.
INSTALLER_FILES = {"INSTALLER", "REQUESTED", "direct_url.json", "RECORD"}
#: What in a checkout is not a source of the package (.gitignore's, and the git directory).
NOT_SOURCES = (".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", "*.pyc", ".pytest_cache", ".hypothesis", "out")


class WheelError(RuntimeError):
    """No wheel can be made of the running grader; the message says why and what to do."""


def _distribution() -> metadata.Distribution:
    try:
        return metadata.distribution(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        raise WheelError(f"{DISTRIBUTION} is not installed in {sys.prefix}: install it (pip install .) and run this again") from None


def _editable(dist: metadata.Distribution) -> bool:
    text = dist.read_text("direct_url.json")
    if not text:
        return False
    try:
        return bool(json.loads(text).get("dir_info", {}).get("editable"))
    except ValueError:
        return False


def checkout_root() -> Path | None:
    """The source checkout this grader runs from (an editable install), or None."""
    root = Path(__file__).resolve().parents[2]
    pyproject = root / "pyproject.toml"
    if pyproject.is_file() and f'name = "{DISTRIBUTION}"' in pyproject.read_text(encoding="utf-8"):
        return root
    return None


def build(dest: Path) -> Path:
    """The running grader's wheel, written into DEST; its path."""
    dest.mkdir(parents=True, exist_ok=True)
    dist = _distribution()
    root = checkout_root()
    if _editable(dist) or (root is not None and not dist.files):
        if root is None:
            raise WheelError(f"{DISTRIBUTION} is an editable install whose checkout was not found")
        return from_checkout(root, dest)
    return repack(dist, dest)


def from_checkout(root: Path, dest: Path) -> Path:
    """A wheel built by pip from the checkout ROOT (as ``pip install .`` builds it), from a copy
    of its sources: setuptools reuses a checkout's build/ directory, which may hold modules the
    checkout no longer has."""
    with tempfile.TemporaryDirectory(prefix="ipc-wheel-") as tmp:
        source = Path(tmp) / "source"
        shutil.copytree(root, source, ignore=shutil.ignore_patterns(*NOT_SOURCES))
        out = Path(tmp) / "dist"
        done = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--disable-pip-version-check", "--wheel-dir", str(out), str(source)],
            capture_output=True, text=True, stdin=subprocess.DEVNULL,
            env={**os.environ, "SOURCE_DATE_EPOCH": str(SOURCE_DATE_EPOCH)},  # the same checkout, the same bytes
        )
        built = sorted(out.glob("*.whl"))
        if done.returncode != 0 or len(built) != 1:
            said = " | ".join((done.stderr.strip() or done.stdout.strip() or "no output").splitlines()[-4:])
            raise WheelError(f"pip could not build a wheel from {root}: {said}")
        dest.mkdir(parents=True, exist_ok=True)
        target = dest / built[0].name
        target.write_bytes(built[0].read_bytes())
        return target


def _tag(dist: metadata.Distribution) -> str:
    wheel_file = dist.read_text("WHEEL") or ""
    tags = [line.split(":", 1)[1].strip() for line in wheel_file.splitlines() if line.startswith("Tag:")]
    if len(tags) != 1:
        raise WheelError(f"the installed {DISTRIBUTION} names {len(tags)} wheel tags in its WHEEL file (expected one): reinstall it")
    return tags[0]


def _digest(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def repack(dist: metadata.Distribution, dest: Path) -> Path:
    """DIST's installation as the wheel it was installed from: every file its RECORD lists
    inside site-packages (not the console scripts pip generated, not bytecode, not the files
    pip itself added), each checked against RECORD's hash, and a new RECORD."""
    files: dict[str, bytes] = {}
    modes: dict[str, int] = {}
    info_dir = None
    for entry in dist.files or []:
        name = entry.as_posix()
        if name.startswith("../") or "/__pycache__/" in f"/{name}" or name.endswith(".pyc"):
            continue
        top, _, rest = name.partition("/")
        if top.endswith(".dist-info"):
            info_dir = top
            if rest in INSTALLER_FILES:
                continue
        installed = Path(dist.locate_file(entry))
        data = installed.read_bytes()
        modes[name] = 0o755 if installed.stat().st_mode & 0o111 else 0o644
        if entry.hash is not None and entry.hash.mode == "sha256":
            if _digest(data) != f"sha256={entry.hash.value}":
                raise WheelError(f"{name} was changed after {DISTRIBUTION} was installed (its hash differs from pip's RECORD): reinstall the grader")
        files[name] = data
    if info_dir is None or not any(not n.startswith(info_dir) for n in files):
        raise WheelError(f"the installed {DISTRIBUTION} lists no files in its RECORD: reinstall it (pip install .)")
    version = dist.version
    name = dist.metadata["Name"].replace("-", "_")
    wheel_name = f"{name}-{version}-{_tag(dist)}.whl"
    record = io.StringIO()
    writer = csv.writer(record, lineterminator="\n")
    for path in sorted(files):
        writer.writerow([path, _digest(files[path]), len(files[path])])
    writer.writerow([f"{info_dir}/RECORD", "", ""])
    files[f"{info_dir}/RECORD"] = record.getvalue().encode()
    target = dest / wheel_name
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
        # the dist-info last, as wheels are written
        for path in sorted(files, key=lambda p: (p.startswith(info_dir), p)):
            info = zipfile.ZipInfo(path, ZIP_TIME)
            info.external_attr = (0o100000 | modes.get(path, 0o644)) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, files[path])
    return target


def member(wheel: Path, path: str) -> bytes:
    """The bytes of PATH (such as grading/kits/install.sh) inside WHEEL."""
    with zipfile.ZipFile(wheel) as zf:
        return zf.read(path)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m grading.kits.wheel DIR", file=sys.stderr)
        return 2
    try:
        print(build(Path(args[0])))
    except (WheelError, OSError) as exc:
        print(f"grading.kits.wheel: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
