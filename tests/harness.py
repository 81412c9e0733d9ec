"""Grade an implementation the way a user does, in a subprocess, and read its run record."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

from conformance import locate
from conformance import record as run_record

ROOT = Path(__file__).resolve().parents[1]
MUTANTS = ROOT / "tests" / "mutants"


def grade(impl: Path, *args: str, cwd: Path | None = None, timeout: float = 600, env: dict[str, str] | None = None) -> tuple[run_record.RunRecord, subprocess.CompletedProcess]:
    """Run `pytest --impl=IMPL ARGS` (in ENV, default ours) and return its run record and the
    finished process."""
    out = Path(cwd or impl) / ".run.json" if cwd else impl.parent / f".{impl.name}.run.json"
    cmd = [sys.executable, "-m", "pytest", f"--impl={impl}", f"--ipc-json={out}", "-p", "no:cacheprovider", "-q", *args]
    proc = subprocess.run(cmd, cwd=cwd or impl, capture_output=True, text=True, timeout=timeout, env=_env(env))
    if not out.exists():
        raise AssertionError(f"no run record from {' '.join(cmd)}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    rec = run_record.load(out)
    out.unlink()
    return rec, proc


def interruptible() -> None:
    """preexec_fn for a child a test will interrupt (Ctrl-C, SIGINT): SIGINT as the default,
    whatever this suite inherited. A suite started in the background (`.ci/run &`, nohup)
    inherits SIGINT ignored, every child with it, and Python then installs no KeyboardInterrupt
    handler: the child would never see the Ctrl-C the test sends."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _env(base: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(base if base is not None else os.environ)
    env.pop("PYTEST_XDIST_WORKER", None)
    env.pop("PYTEST_ADDOPTS", None)
    return env


#: The languages a mutant may edit the reference in: where that reference is, which of its files
#: a mutant copies, and what its manifest says besides the program (contract section 1).
LANGUAGES = {
    "python": ("", ("*.py",), ""),
    "c": ("c", ("*.c", "*.h", "Makefile"), 'build = "make"\n'),
}
#: A mutant of the C reference is named with this prefix, and only such a mutant.
C_PREFIX = "c-"


@dataclass
class Mutant:
    mechanism: str
    name: str
    description: str
    fails: set[str]
    source: Path
    unprivileged: bool = False
    """It proves something only where programs run as a user without privileges (the grader,
    root with CAP_SYS_PTRACE, sees through what it hides from its own user)."""
    language: str = "python"
    """Which reference the edits apply to: "python" (reference/) or "c" (reference/c/, built
    with its Makefile by the grader, as a student's C would be)."""
    race: bool = False
    """A concurrency bug that only some interleavings show: caught under schedule control
    (docs/schedules.md), every grading; scripts/calibrate_schedules.py measures its budget."""
    cause: str = ""
    """A phrase its first failure must contain: the mutant's real cause, written from what the
    mutant does (tests/test_messages.py)."""

    @property
    def id(self) -> str:
        return f"{self.mechanism}/{self.name}"

    def materialize(self, into: Path) -> Path:
        """The mutant as an implementation directory under INTO."""
        if self.source.is_dir():
            target = into / self.name
            shutil.copytree(self.source, target)
            return target
        spec = tomllib.loads(self.source.read_text())
        subdir, patterns, build = LANGUAGES[self.language]
        reference = locate.bundled("reference") / subdir
        shown = f"reference/{subdir}/".replace("//", "/")
        target = into / self.name
        target.mkdir()
        files: dict[str, str] = {}
        for edit in spec.get("edit", []):
            name = edit["file"]
            text = files.get(name) or (reference / name).read_text()
            count = text.count(edit["old"])
            if count != 1:
                raise AssertionError(f"mutant {self.id}: the text to replace occurs {count} times in {shown}{name} (expected once)")
            files[name] = text.replace(edit["old"], edit["new"])
        sources = {p.name for pattern in patterns for p in reference.glob(pattern) if p.is_file()}
        if set(files) - sources:
            raise AssertionError(f"mutant {self.id}: it edits {sorted(set(files) - sources)}, which {shown} does not have")
        for name in sources:  # sources only: never binaries or objects a local `make` left there
            (target / name).write_text(files.get(name) or (reference / name).read_text())
        program = next(p for p in tomllib.loads((reference / "ipc.toml").read_text())["programs"].items() if p[0] == self.mechanism)
        (target / "ipc.toml").write_text(
            f'[implementation]\nname = "mutant {self.id}"\n{build}\n[programs]\n{program[0]} = "{program[1]}"\n'
        )
        return target


def mutants() -> list[Mutant]:
    out = []
    for mech_dir in sorted(p for p in MUTANTS.iterdir() if p.is_dir()):
        for entry in sorted(mech_dir.iterdir()):
            if entry.suffix == ".toml":
                meta = tomllib.loads(entry.read_text())
                source = entry
            elif entry.is_dir():
                meta = tomllib.loads((entry / "mutant.toml").read_text())
                source = entry
            else:
                continue
            language = meta.get("language", "python")
            name = entry.stem if entry.suffix == ".toml" else entry.name
            if language not in LANGUAGES:
                raise AssertionError(f"mutant {mech_dir.name}/{name}: unknown language {language!r} (expected one of {sorted(LANGUAGES)})")
            if (language == "c") != name.startswith(C_PREFIX):
                raise AssertionError(f"mutant {mech_dir.name}/{name}: a mutant of the C reference is named {C_PREFIX}..., and only such a mutant")
            out.append(Mutant(mech_dir.name, name, meta["description"], set(meta["fails"]), source, meta.get("unprivileged", False), language, meta.get("race", False), cause=meta.get("cause", "")))
    return out


# --- null submissions: programs that do none of the work -----------------------------------

NULL = ROOT / "tests" / "fixtures" / "null"
#: The null programs (tests/fixtures/null/README.md), each a submission of its own.
NULLS = tuple(sorted(p.stem for p in NULL.glob("*.sh")))


def null_submission(name: str, into: Path) -> Path:
    """A submission whose every program is the null script NAME (every mechanism in its
    manifest), made under INTO, readable and runnable by every user."""
    from conformance.record import MECHANISMS

    target = into / f"null-{name}"
    target.mkdir(parents=True)
    shutil.copy(NULL / f"{name}.sh", target / "prog.sh")
    (target / "prog.sh").chmod(0o755)
    (target / "notes.txt").write_text("a file that is not a program\n")  # exec126.sh runs it
    (target / "notes.txt").chmod(0o644)
    programs = "\n".join(f'{m} = "./prog.sh"' for m in MECHANISMS)
    (target / "ipc.toml").write_text(f'[implementation]\nname = "null: {name}"\n\n[programs]\n{programs}\n')
    return target
