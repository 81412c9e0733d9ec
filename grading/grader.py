"""The grader as ipc-grade sees it: a program it runs, never a module it imports.

ipc-grade grades in a child `pytest --impl` so that nothing a submission does can keep it from
writing a report. What else it needs of the grader, the spec catalogue (to check a rubric and
count the specs a run will grade), whether a manifest is usable at all, the bundled
implementations and the contract version, it asks the same way, so that the reports stay a
pure function of the run record (docs/adding-a-mechanism.md draws the picture).

A rubric is checked against the catalogue once, by the process the user gave it to
(``load_rubric``); the grading processes it starts get it checked (``write_checked``,
``load_checked``: the child pytest, and a batch's ipc-grade for each submission), and never
ask for the catalogue again to check it.

    ipc-grade 0.1.0 (ipc-conformance 0.1.0, contract version 2.1, Python 3.11.7)

is ``--version`` (``VersionAction``): the package version is the distribution's
(pyproject.toml), the contract version ``conformance.CONTRACT_VERSION``, asked of the grader in
a child process. Release tags are ``v`` and the package version (docs/releasing.md).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from . import rubric as rubric_mod
from .rubric import Rubric, RubricError, SpecInfo

DISTRIBUTION = "ipc-conformance"


class GraderMissing(RuntimeError):
    """The grader's own package cannot answer: it is not installed beside this one."""


class Question:
    """`python -m MODULE ARGS` asked now and answered later: the answer comes while other work
    goes on (the catalogue takes half a second, which a grading run's start hides)."""

    def __init__(self, module: str, *args: str) -> None:
        self.command = [sys.executable, "-m", module, *args]
        self.proc = subprocess.Popen(self.command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)

    def answer(self, timeout: float | None = None) -> str:
        """Its output; GraderMissing when it failed (subprocess.TimeoutExpired after TIMEOUT)."""
        out, err = self.proc.communicate(timeout=timeout)
        if self.proc.returncode != 0:
            said = (err.strip().splitlines() or ["no message"])[-1]
            raise GraderMissing(f"`{' '.join(self.command[1:])}` failed ({said}); reinstall {DISTRIBUTION}")
        return out

    def forget(self) -> None:
        """Not wanted any more: end it."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate()


def _ask(module: str, *args: str) -> str:
    return Question(module, *args).answer()


_catalogue: list[SpecInfo] | None = None


def catalogue() -> list[SpecInfo]:
    """Every spec the grader knows, from its specs' own markers (asked once per process)."""
    return CatalogueQuestion().answer()


class CatalogueQuestion:
    """The catalogue, asked now and read later (answered at once when this process has it)."""

    def __init__(self) -> None:
        self.question = None if _catalogue is not None else Question("conformance.catalogue", "--json")

    def answer(self, timeout: float | None = None) -> list[SpecInfo]:
        global _catalogue
        if self.question is not None:
            _catalogue = [SpecInfo.of(entry) for entry in json.loads(self.question.answer(timeout))]
            self.question = None
        assert _catalogue is not None
        return _catalogue

    def forget(self) -> None:
        if self.question is not None:
            self.question.forget()
            self.question = None


def manifest_error(path: Path, words: str = "ipc-grade") -> str | None:
    """What makes the implementation at PATH unusable as a whole (no directory, no ipc.toml, a
    manifest that does not parse or names unknown keys), said in the WORDS of ipc-grade or
    pytest; None when it can be graded, or when the grader cannot say (the run will)."""
    return manifest_problem(path, words)[0]


def manifest_problem(path: Path, words: str = "ipc-grade") -> tuple[str | None, dict[str, Any] | None]:
    """manifest_error's answer, and its words (the sentence's template and values, for a report
    in another language: i18n), or None for them."""
    try:
        answer = json.loads(_ask("conformance.manifest", str(path), "--for", words))
        return answer["error"], answer.get("words") if isinstance(answer.get("words"), dict) else None
    except (GraderMissing, ValueError, KeyError, TypeError):
        return None, None


def bundled(name: str) -> Path:
    """The directory of the grader's bundled NAME (``reference`` or ``student_template``)."""
    return Path(_ask("conformance.locate", name).strip())


def load_rubric(path: str | os.PathLike[str]) -> Rubric:
    """The rubric at PATH checked against the spec catalogue; RubricError says what is wrong."""
    try:
        known = catalogue()
    except (GraderMissing, ValueError, KeyError) as exc:
        raise RubricError(f"cannot read the spec catalogue to check the rubric: {exc}") from None
    return rubric_mod.load(path, known)


#: The checked rubric's own format (write_checked): never a user's file.
CHECKED_VERSION = 1


def write_checked(rubric: Rubric, path: Path) -> Path:
    """RUBRIC, checked, into PATH (a directory of this run's own): what a grading process this
    one starts reads instead of checking the rubric again."""
    data = {
        "version": CHECKED_VERSION,
        "path": str(Path(rubric.path).resolve()),
        "title": rubric.title,
        "sha256": rubric.sha256,
        "total": rubric.total,
        "rules": [[r.id, r.points, r.visibility, r.required, r.hint] for r in rubric.rules.values()],
        "late": rubric.late.describe() if rubric.late else None,
        "submission_limit": rubric.submission_limit,
        "broken": rubric.broken,
        "language": rubric.language,
    }
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def load_checked(path: str | os.PathLike[str]) -> Rubric:
    """The rubric write_checked wrote at PATH, as it was checked; RubricError when it cannot be
    read, or when the rubric's file has changed since (its SHA-256 differs)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if data.get("version") != CHECKED_VERSION:
            raise ValueError(f"version {data.get('version')!r}, not {CHECKED_VERSION}")
        if hashlib.sha256(Path(data["path"]).read_bytes()).hexdigest() != data["sha256"]:
            raise ValueError(f"{data['path']} has changed since it was checked")
        rules = {i: rubric_mod.Rule(i, float(p), v, bool(r), h) for i, p, v, r, h in data["rules"]}
        late = rubric_mod.LatePolicy.of(data["late"]) if data["late"] else None
        return Rubric(path=data["path"], title=data["title"], sha256=data["sha256"], total=data["total"], rules=rules,
                      late=late, submission_limit=data["submission_limit"], broken=data["broken"], language=data["language"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise RubricError(f"the checked rubric {path} cannot be used ({exc}): give --rubric instead") from None


# --- its version -----------------------------------------------------------------------------


def version() -> str:
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "unknown"


_ASK = "import conformance as c; print(c.__version__); print(c.CONTRACT_VERSION)"


def versions() -> dict[str, str]:
    """{"package": ..., "grader": conformance.__version__, "contract": ...}; "unknown" for
    whatever cannot be read (a broken installation still prints a version line)."""
    out = {"package": version(), "grader": "unknown", "contract": "unknown"}
    try:
        done = subprocess.run([sys.executable, "-c", _ASK], capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return out
    lines = done.stdout.split()
    if done.returncode == 0 and len(lines) == 2:
        out["grader"], out["contract"] = lines
    return out


def version_line(prog: str = "ipc-grade") -> str:
    v = versions()
    package = v["package"] if v["package"] != "unknown" else v["grader"]
    return f"{prog} {package} (ipc-conformance {v['grader']}, contract version {v['contract']}, Python {platform.python_version()})"


class VersionAction(argparse.Action):
    """--version, computed only when asked (it starts a child Python)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings=option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        print(version_line(parser.prog.split()[0]))
        parser.exit(0)
