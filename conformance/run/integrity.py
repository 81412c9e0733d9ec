"""Integrity: a submission's processes must not run the grader, or its reference, as their own.

The programs' Python cannot import the grader (runtime.py), and the staged reference is the
grader's, read-only. What a program can still do where it may read the grader's files (it runs
as the grader's own user) is find them and run them: ``python3 -m conformance.bundled...``, or a
shell script that finds the grader's interpreter through ``/proc/$PPID``. The kernel shows it:
a process of the submission whose command line, executable, working directory, memory maps or
open files name the grader's installation or its reference is a finding, and the spec it ran
in fails with it (``Guard``), whatever the process printed.

Only the submission's processes are watched (those its programs started, and their
descendants); the reference's, in an interoperability spec, may of course be the reference.

The same watch notes what the submission's programs load from the submission itself (``loaded``):
the files inside its staged copy that their executable, command line, memory maps or open files
name, and every file opened there while the spec runs (copies.Opens, inotify: a data file that
runpy or exec read and closed at once). A loaded file that is a copy of the bundled reference
under another name or extension (copies.find, run before any spec) is hiding the reference from
the similarity check: a finding too.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from conformance import locate
from conformance.kernel import observe
from conformance.outcomes import Sentence

from . import copies as copies_mod

#: How often the watcher looks at the submission's processes while a spec runs (seconds), and
#: every how many looks it also reads their memory maps and open files (dearer).
PERIOD = 0.05
DEEP_EVERY = 4
#: Module names that are the grader's, as a command line may give them (``-m``, ``-c``).
MODULES = ("conformance.bundled", "conformance.specs", "conformance.plugin", "conformance/bundled")


def grader_paths(extra: Iterable[str | os.PathLike[str]] = ()) -> list[str]:
    """The directories that are the grader's: its packages, its virtual environment, its
    bundled reference, and EXTRA (the run's staged reference)."""
    paths = {locate.HERE}
    spec = importlib.util.find_spec("grading")
    if spec is not None and spec.origin:
        paths.add(Path(spec.origin).resolve().parent)
    if sys.prefix != sys.base_prefix:  # a virtual environment: all of it is the grader's
        paths.add(Path(sys.prefix).resolve())
    for name in ("reference",):
        for candidate in (locate.HERE / "bundled" / name, locate.HERE.parent / name):
            if (candidate / "ipc.toml").is_file():
                paths.add(candidate)
    paths |= {Path(p).resolve() for p in extra}
    return sorted(str(p) for p in paths)


class Guard:
    """Watches the submission's processes of one spec for the grader's files (see module), and,
    given the staged SUBMISSION and its COPIES of the reference (copies.find), for what they
    load from it."""

    def __init__(self, paths: Iterable[str], submission: str | os.PathLike[str] | None = None, copies: Iterable[dict] = ()) -> None:
        self.paths = tuple(p.rstrip("/") + "/" for p in paths)
        self.findings: list[str] = []
        self.submission = Path(submission) if submission else None
        self.copies = {c["file"]: c for c in copies}
        self._loaded: set[str] = set()
        self.opens = copies_mod.Opens(self.submission) if self.submission is not None else None
        self._roots: list[Callable[[], int | None]] = []
        self._seen: set[tuple[int, str]] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- what names the grader --------------------------------------------------------------

    def names_grader(self, text: str) -> str | None:
        """The grader's path or module TEXT names, or None."""
        for marker in MODULES:
            if marker in text:
                return marker
        for path in self.paths:
            if path in text + "/":
                return path.rstrip("/")
        return None

    def check_argv(self, argv: Iterable[str], who: str) -> None:
        """A command line the grader is about to run for the submission (its manifest's)."""
        for word in argv:
            hit = self.names_grader(word)
            if hit:
                self._add(Sentence("%(who)s's command line names the grader's %(hit)s: %(command)s", who=who, hit=hit, command=" ".join(argv)))
                return

    def scan(self, pid: int, who: str, deep: bool) -> None:
        """PID's command line and executable (and, if DEEP, working directory, memory maps and
        open files), for the grader's files."""
        reads = [(Sentence("command line"), lambda: _cmdline(pid)), (Sentence("executable"), lambda: [_link(pid, "exe")])]
        if deep:
            reads += [
                (Sentence("working directory"), lambda: [_link(pid, "cwd")]),
                (Sentence("memory maps"), lambda: _maps(pid)),
                (Sentence("open files"), lambda: [fd.target for fd in observe.fds(pid).values()]),
            ]
        for what, read in reads:
            try:
                values = read() or []
            except (OSError, *observe.NOT_SHOWN):
                continue
            for value in values:
                self._note_loaded(value)
                hit = value and self.names_grader(value)
                if hit:
                    self._add(Sentence("%(who)s (pid %(pid)s): its %(what)s names the grader's %(hit)s (%(value)s)", who=who, pid=pid, what=what, hit=hit, value=value[:200]))
                    return

    def _note_loaded(self, value: str) -> None:
        """VALUE (a path, or a word of a command line, relative to the submission where programs
        start) when it names a regular file inside the staged submission: loaded."""
        if self.submission is None or not value:
            return
        path = Path(value) if value.startswith("/") else self.submission / value
        try:
            rel = path.relative_to(self.submission)
        except ValueError:
            return
        if ".." not in rel.parts and rel.parts and path.is_file():
            with self._lock:
                self._loaded.add(rel.as_posix())

    @property
    def loaded(self) -> list[str]:
        """The files of the submission its programs loaded in this spec, relative to it."""
        with self._lock:
            return sorted(f for f in self._loaded if "__pycache__" not in f.split("/"))

    def _add(self, finding: str) -> None:
        with self._lock:
            if finding not in self.findings:
                self.findings.append(finding)

    # --- the watcher ------------------------------------------------------------------------

    def watch(self, root: Callable[[], int | None], who: str) -> None:
        """Watch the process tree under ROOT() (a pid, or None once it has gone) until stop."""
        with self._lock:
            self._roots.append(lambda: (root(), who))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True, name="integrity")
                self._thread.start()

    def sweep(self, deep: bool = True) -> None:
        with self._lock:
            roots = [r() for r in self._roots]
        for pid, who in roots:
            if pid is None:
                continue
            for p in [pid, *observe.descendants(pid)]:
                self.scan(p, who, deep)

    def _run(self) -> None:
        rounds = 0
        while not self._stop.wait(PERIOD):
            rounds += 1
            try:
                self.sweep(deep=rounds % DEEP_EVERY == 0)
                if self.opens is not None:
                    self.opens.drain()  # inotify's queue is bounded: take what it holds as it comes
            except Exception:
                continue

    def stop(self) -> list[str]:
        """A last deep look, then stop; every finding, a hidden copy of the reference that the
        programs loaded among them."""
        try:
            self.sweep(deep=True)
        except Exception:
            pass
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2)
        if self.opens is not None:
            self.opens.close()
            with self._lock:
                self._loaded |= self.opens.files
        for rel in self.loaded:
            copy = self.copies.get(rel)
            if copy is not None and copies_mod.renamed(copy):
                self._add(Sentence("your programs loaded %(file)s, and %(copy)s under another name: a hidden copy is not a program of your own",
                                   file=rel, copy=copies_mod.words(copy)))
        return list(self.findings)


def _cmdline(pid: int) -> list[str]:
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return [a.decode("utf-8", "replace") for a in f.read().split(b"\0") if a]


def _link(pid: int, name: str) -> str:
    path = f"/proc/{pid}/{name}"
    return observe.guarded(pid, "fds", path, lambda: os.readlink(path)) or ""


def _maps(pid: int) -> list[str]:
    path = f"/proc/{pid}/maps"

    def read() -> list[str]:
        with open(path) as f:
            return sorted({line.split(None, 5)[5].strip() for line in f if len(line.split(None, 5)) == 6})

    return observe.guarded(pid, "fds", path, read) or []


__all__ = ["Guard", "grader_paths"]
