"""`ipc-grade new DIR [--lang python|c]`: start an implementation from the student template.

Copies the bundled template for the language (like `cargo new`): the manifest, a stub for every
program that answers `not implemented`, the GitHub workflow that grades every push, and for C
the shared header, the Makefile and a .gitignore. Nothing that the installation made (bytecode caches) comes along.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from .. import grader

LANGUAGES = {"python": ".", "c": "c"}
#: What never belongs in a student's copy.
LEFT_OUT = ("__pycache__", "*.pyc", "__init__.py")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ipc-grade new", description=__doc__.splitlines()[0], epilog="Exit status: 0 made; 2 a usage error.")
    p.add_argument("dir", metavar="DIR", help="the directory to create (it must not exist, or be empty)")
    p.add_argument("--lang", choices=sorted(LANGUAGES), default="python", help="the language to start in (default: python)")
    return p


def main(argv: Sequence[str]) -> int:
    return run(parser().parse_args(list(argv)))


def run(args: argparse.Namespace) -> int:
    target = Path(args.dir)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        print(f"ipc-grade new: {target} exists and is not an empty directory: choose a new one", file=sys.stderr)
        return 2
    try:
        template = grader.bundled("student_template") / LANGUAGES[args.lang]
    except grader.GraderMissing as exc:
        print(f"ipc-grade new: {exc}", file=sys.stderr)
        return 2
    if not (template / "ipc.toml").is_file():
        print(f"ipc-grade new: this installation has no {args.lang} template ({template}): reinstall ipc-conformance", file=sys.stderr)
        return 2
    ignore = shutil.ignore_patterns(*LEFT_OUT, *(["c"] if args.lang == "python" else []))
    shutil.copytree(template, target, ignore=ignore, dirs_exist_ok=True)
    workflow = grader.bundled("student_template") / ".github"
    if args.lang != "python" and workflow.is_dir():  # the CI workflow grades any language
        shutil.copytree(workflow, target / ".github", ignore=ignore, dirs_exist_ok=True)
    print(f"ipc-grade new: a {args.lang} implementation to start from is in {target}.")
    print(f"  Grade it:  ipc-grade {target}          (or: pytest --impl={target} -k pipe -x)")
    return 0
