"""Load and check an implementation's manifest, ``ipc.toml`` (contract section 1).

Nothing here raises for a mistake in the submission: every problem becomes a sentence naming
the file, the key and the fix, attached to the manifest as a whole (no spec can run) or to one
mechanism (its specs report it). The plugin turns those into spec statuses.

    python -m conformance.manifest PATH [--for ipc-grade]

prints ``{"error": ...}`` (JSON): what makes the manifest at PATH unusable as a whole, or null.
ipc-grade asks it before it starts a grading run that could grade nothing, in its own words.
"""

from __future__ import annotations

import difflib
import os
import shlex
import signal
import time
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from conformance.outcomes import Sentence, one_after_another, plain, sentence_of
from conformance.record import MECHANISMS

from .keeper import Keeper

MANIFEST = "ipc.toml"
TEMPLATE_HINT = Sentence("copy student_template/ipc.toml as a starting point")

#: How a message names the implementation's directory and where a manifest comes from, in the
#: words of the command the user ran (pytest's option, or ipc-grade's argument).
WORDS = {
    "pytest": (Sentence("the path given to --impl"), TEMPLATE_HINT),
    "ipc-grade": (Sentence("the PATH given to ipc-grade"), Sentence("`ipc-grade new DIR` starts one from the template")),
}

SECTIONS: dict[str, dict[str, str]] = {
    "implementation": {"name": Sentence("a display name"), "build": Sentence("a build command such as \"make\"")},
    "programs": {m: Sentence("the command for %(mechanism)s", mechanism=m) for m in MECHANISMS},
}

PYTHON_WORDS = ("python3", "python")


@dataclass
class Program:
    mechanism: str
    command: str
    """As written in the manifest."""
    argv: list[str]
    """The command split into words, ``python3``/``python`` replaced by the programs' Python."""
    interpreter: bool = False
    """The first word was ``python3``/``python``: the grader chose what runs (runtime.py)."""


@dataclass
class Manifest:
    root: Path
    name: str = ""
    build: str | None = None
    programs: dict[str, Program] = field(default_factory=dict)
    error: str | None = None
    """A problem that stops every spec (no manifest, bad TOML, unknown key, failed build)."""
    problems: dict[str, str] = field(default_factory=dict)
    """Per mechanism: why its program cannot run (missing file, not executable)."""
    run_root: Path | None = None
    """Where the programs run when the implementation was staged (see sandbox.py)."""
    python: str = ""
    """The programs' Python, which ``python3`` in a command stands for."""

    @property
    def file(self) -> Path:
        return self.root / MANIFEST

    @property
    def cwd(self) -> Path:
        """The directory programs and the build run in: the staged copy, or ROOT itself."""
        return self.run_root or self.root

    def program(self, mechanism: str) -> Program | None:
        return self.programs.get(mechanism)

    def to_data(self) -> dict[str, Any]:
        """This manifest as plain data (for another process: an xdist worker takes the
        controller's checked manifest as it is, and never reads ipc.toml again): its error and
        problems as plain text, and, where they are Sentences, as their words too."""
        data = plain(asdict(self))
        data["root"] = str(self.root)
        data["run_root"] = None if self.run_root is None else str(self.run_root)
        data["words"] = self.words()
        return data

    def words(self) -> dict[str, Any]:
        """The error and the problems that are Sentences, as their data: ``error``, ``problems``."""
        return {
            "error": self.error.data() if isinstance(self.error, Sentence) else None,
            "problems": {m: p.data() for m, p in self.problems.items() if isinstance(p, Sentence)},
        }

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Manifest:
        programs = {m: Program(**p) for m, p in data["programs"].items()}
        run_root = None if data["run_root"] is None else Path(data["run_root"])
        words = data.get("words") or {}
        problems = {m: sentence_of(words.get("problems", {}).get(m)) or p for m, p in data["problems"].items()}
        error = sentence_of(words.get("error")) or data["error"]
        fields = {k: v for k, v in data.items() if k != "words"}
        return cls(**{**fields, "root": Path(data["root"]), "programs": programs, "run_root": run_root, "problems": problems, "error": error})


def _suggest(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1)
    return Sentence("did you mean %(word)s? ", word=repr(close[0])) if close else ""


def split_command(command: str, python: str | os.PathLike[str]) -> list[str]:
    """Split COMMAND like a shell splits words (no shell runs), with the interpreter rule:
    a first word ``python3`` or ``python`` becomes PYTHON, the programs' own (runtime.py)."""
    words = shlex.split(command)
    if words and words[0] in PYTHON_WORDS:
        words[0] = str(python)
    return words


def load(root: str | os.PathLike[str], python: str | os.PathLike[str], words: str = "pytest") -> Manifest:
    """Read ROOT/ipc.toml, with PYTHON for the interpreter rule; problems are recorded on the
    result, never raised, in the WORDS of the command that was run (a key of WORDS)."""
    given, template = WORDS[words]
    root = Path(root).resolve()
    manifest = Manifest(root=root, name=root.name, python=str(python))
    file = manifest.file
    if not root.exists():
        manifest.error = Sentence("implementation directory %(path)s does not exist (check %(given)s)", path=str(root), given=given)
        return manifest
    if not root.is_dir():
        manifest.error = Sentence("%(path)s is a file, not an implementation directory (check %(given)s: the directory that holds %(manifest)s)",
                                  path=str(root), given=given, manifest=MANIFEST)
        return manifest
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        manifest.error = Sentence("no manifest: %(file)s does not exist (%(start)s)", file=str(file), start=template)
        return manifest
    except UnicodeDecodeError:
        manifest.error = Sentence("%(file)s is not UTF-8 text; save it as UTF-8", file=str(file))
        return manifest
    except tomllib.TOMLDecodeError as exc:
        manifest.error = Sentence("%(file)s is not valid TOML: %(problem)s; fix the syntax there", file=str(file), problem=str(exc))
        return manifest
    except OSError as exc:
        manifest.error = Sentence("cannot read %(file)s: %(reason)s", file=str(file), reason=exc.strerror)
        return manifest

    errors: list[str] = []
    for section, value in data.items():
        if section not in SECTIONS:
            errors.append(Sentence(
                "unknown section [%(section)s] in %(file)s: %(suggestion)sthe sections are [implementation] and [programs]",
                section=section, file=str(file), suggestion=_suggest(section, list(SECTIONS)),
            ))
            continue
        if not isinstance(value, dict):
            errors.append(Sentence("%(section)s in %(file)s must be a table: write it as [%(section)s]", section=section, file=str(file)))
            continue
        for key, item in value.items():
            if key not in SECTIONS[section]:
                errors.append(Sentence(
                    "unknown key '%(section)s.%(key)s' in %(file)s: %(suggestion)sthe keys of [%(section)s] are %(keys)s",
                    section=section, key=key, file=str(file), suggestion=_suggest(key, list(SECTIONS[section])), keys=", ".join(SECTIONS[section]),
                ))
            elif not isinstance(item, str) or not item.strip():
                errors.append(Sentence(
                    "'%(section)s.%(key)s' in %(file)s must be a non-empty string (%(what)s), not %(value)s",
                    section=section, key=key, file=str(file), what=SECTIONS[section][key], value=repr(item),
                ))
    if errors:
        manifest.error = one_after_another(errors, "; ")
        return manifest

    impl = data.get("implementation", {})
    manifest.name = impl.get("name", root.name)
    manifest.build = impl.get("build")
    for mechanism, command in data.get("programs", {}).items():
        try:
            argv = split_command(command, manifest.python)
        except ValueError as exc:
            manifest.problems[mechanism] = Sentence(
                "'programs.%(mechanism)s' in %(file)s cannot be split into words (%(problem)s): check its quotes",
                mechanism=mechanism, file=str(file), problem=str(exc),
            )
            continue
        manifest.programs[mechanism] = Program(mechanism, command, argv, interpreter=argv[:1] == [manifest.python])
    return manifest


def check_programs(manifest: Manifest) -> None:
    """Record, per mechanism, a program that does not exist or cannot be executed.

    Run after the build, which may be what creates the programs.
    """
    for mechanism, program in manifest.programs.items():
        problem = None if mechanism in manifest.problems else _program_problem(manifest, program)
        if problem:
            manifest.problems[mechanism] = problem


def _program_problem(manifest: Manifest, program: Program) -> str | None:
    key = Sentence("'programs.%(mechanism)s' in %(file)s", mechanism=program.mechanism, file=str(manifest.file))
    first = program.argv[0]
    if program.interpreter:
        script = next((w for w in program.argv[1:] if not w.startswith("-")), None)
        if script is None or program.argv[1:2] in (["-c"], ["-m"]):
            return None
        path = manifest.cwd / script
        if not path.is_file():
            return Sentence("%(key)s runs %(program)s, which does not exist in %(directory)s: add it or fix the name", key=key, program=script, directory=str(manifest.root))
        return None
    if "/" in first:
        path = (manifest.cwd / first).resolve()
        if not path.exists():
            if manifest.build:
                return Sentence("%(key)s runs %(program)s, which does not exist in %(directory)s (is it made by the build?): add it or fix the path",
                                key=key, program=first, directory=str(manifest.root))
            return Sentence("%(key)s runs %(program)s, which does not exist in %(directory)s: add it or fix the path", key=key, program=first, directory=str(manifest.root))
        if path.is_dir() or not os.access(path, os.X_OK):
            return Sentence("%(key)s runs %(program)s, which is not executable: chmod +x %(program)s", key=key, program=first)
        return None
    from shutil import which

    if which(first) is None:
        return Sentence("%(key)s runs %(program)s, which is not on PATH: give a path such as ./%(name)s", key=key, program=repr(first), name=first)
    return None


BUILD_TIMEOUT = 300.0
#: Lines of a failed build's output the reports show (once, at the top).
BUILD_LOG_LINES = 40


def run_build(manifest: Manifest, user: int | None = None, env: dict[str, str] | None = None) -> dict:
    """Run the manifest's build once in the staged copy, as USER with ENV (the programs' own).

    Returns what the run record keeps under ``build``: the command, ``ok``, how it ended
    (``status``, a sentence), the end of its output (``log``) and, for a failed build, the
    mechanisms it cost (``cost``: those whose programs it did not make; the others are graded).
    """
    from conformance.outcomes import HarnessBroken, SpecFailure, SpecTimeout

    from .supervisor import Supervisor

    assert manifest.build is not None
    result = {"command": manifest.build, "ok": False, "status": "", "log": "", "cost": []}
    started = time.time()
    try:
        argv = split_command(manifest.build, manifest.python)
    except ValueError as exc:
        argv, result["status"] = [], Sentence("cannot be split into words (%(problem)s): check its quotes", problem=str(exc))
    if argv and Path(argv[0]).name in ("make", "gmake") and not any(a in ("-k", "--keep-going") for a in argv):
        argv.insert(1, "--keep-going")  # a program that does not compile costs only its mechanism
    if argv:
        sup = Supervisor(user=user, group=user, env=env)
        sup.keeper = Keeper(user, user, stop_programs=lambda: _stop(sup)).start()  # a build that floods is stopped too
        try:
            proc = sup.spawn(argv, cwd=str(manifest.cwd), label="the build", stdin="devnull", grader_chose=argv[:1] == [manifest.python], subject=True)
            status = proc.wait(BUILD_TIMEOUT, check_implemented=False)
            output = (proc.stdout.text() + proc.stderr.text()).strip()
            result["log"] = "\n".join(output.splitlines()[-BUILD_LOG_LINES:])
            result["ok"], result["status"] = status.ok, status.words()
        except SpecTimeout:
            result["status"] = Sentence("did not finish within %(seconds)s s", seconds=format(BUILD_TIMEOUT, ".0f"))
        except (SpecFailure, HarnessBroken) as exc:
            result["status"] = Sentence("could not start: %(reason)s", reason=str(exc))
        finally:
            taken = sup.keeper.stop()
            sup.teardown()
        if taken:
            result["ok"], result["status"] = False, Sentence("was stopped: %(reason)s", reason=taken[0])
    elif not result["status"]:
        result["status"] = Sentence("is empty")
    if not result["ok"]:
        why = unbuilt(manifest, started)
        result["cost"] = sorted(why, key=list(MECHANISMS).index)
        result["why"] = why
    if isinstance(result["status"], Sentence):
        result["words"] = {"status": result["status"].data()}
    return result


def _stop(sup) -> None:
    """End every process of the build at once (from the keeper's thread)."""
    from .supervisor import kill_user

    if sup.user is not None and sup.user != os.geteuid():
        kill_user(sup.user)
    else:
        for p in list(sup.procs):
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except OSError:
                pass


def unbuilt(manifest: Manifest, since: float) -> dict[str, str]:
    """Per mechanism, why its program is not this build's: missing, or older than the build
    (a file the build did not make, left from before); interpreted programs need no build."""
    out = {}
    for mechanism, program in manifest.programs.items():
        first = program.argv[0]
        if program.interpreter or "/" not in first:
            continue
        path = manifest.cwd / first
        if not path.exists():
            out[mechanism] = Sentence("the build did not make %(program)s", program=first)
        elif path.stat().st_mtime < since:
            out[mechanism] = Sentence("the build did not make %(program)s (the file there is older than the build)", program=first)
    return out


def build_problem(manifest: Manifest, build: dict, mechanism: str, why: str) -> Sentence:
    """What a spec of MECHANISM says when the failed BUILD did not make its program."""
    return Sentence(
        "not graded: %(why)s, because the build `%(command)s` ('implementation.build' in %(file)s) %(status)s; its output is at the top of the report",
        why=why, command=build["command"], file=str(manifest.file), status=build["status"],
    )


def main(argv: list[str] | None = None) -> int:
    """`python -m conformance.manifest PATH [--for ipc-grade]`: for ipc-grade."""
    import json
    import sys

    args = sys.argv[1:] if argv is None else argv
    words = "pytest"
    if args[1:2] == ["--for"] and len(args) == 3 and args[2] in WORDS:
        words = args[2]
    elif len(args) != 1:
        sys.exit(f"usage: python -m conformance.manifest PATH [--for {'|'.join(WORDS)}]")
    manifest = load(args[0], sys.executable, words)
    json.dump({"error": manifest.error, "words": manifest.words()["error"]}, sys.stdout)
    print()
    return 0
