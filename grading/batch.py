"""`ipc-grade batch`: grade every submission of a class; `ipc-grade merge`: combine shards.

    ipc-grade batch DIR --out OUT [--jobs N] [--rubric R] [--shard I/N] [--similarity]
                    [--roster ROSTER.csv [--assignment NAME]] [--only ID ...]
    ipc-grade merge OUT1 OUT2 ... --out OUT

DIR holds one entry per submission: a directory, or a zip or tar archive (unpacked safely
first). Each submission is copied to a private directory and graded by its own `ipc-grade`
child process (one pytest worker each), N at a time; a submission that hangs, crashes, floods
its output or leaks IPC objects costs its own deadlines and nothing more. OUT gets:

    OUT/gradebook.csv                  one row per submission, sorted by id
    OUT/class.html                     pass rate per spec, score distribution, harness failures
    OUT/batch.json                     what was graded: ids, shard, rubric (for merge)
    OUT/submissions/ID/record.json     the run record, and each report format:
    OUT/submissions/ID/{gradescope.json, prairielearn.json, junit.xml, report.md, report.html, report.txt}
    OUT/similarity.json, OUT/similarity/*.html   with --similarity (similarity.py): instructors only
    OUT/lms.csv                        with --roster (roster.py): the students' final scores, for
                                       Canvas's or Moodle's gradebook import; the rubric's late
                                       policy applied to the roster's submitted_at

--only ID... regrades those submissions into an OUT that a batch with the same rubric wrote:
their reports are replaced, every other submission's kept, the gradebook and class page rewritten.

Exit status: 0 every submission was graded to the end (whatever its score); 1 some were not
(the harness failed on them, or their archive could not be unpacked: the class page lists them),
or --similarity could not run; 2 a usage error.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from conformance import record as run_record

from . import archives, classpage, late, reports, similarity
from . import roster as roster_mod
from .cli import add_grading_options, load_rubric, scale_from_environment, workers_value
from .present import points
from .progress import live_bar
from .rubric import RubricError

BATCH_VERSION = 1
#: A submission's own grading gets this long beyond its session timeout before it is killed.
GRACE = 120.0
DEFAULT_BATCH_SESSION_TIMEOUT = 900.0


@dataclass(frozen=True)
class Submission:
    id: str
    source: Path
    """The directory or archive in DIR."""

    @property
    def is_archive(self) -> bool:
        return self.source.is_file()


# --- the command ---------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ipc-grade batch",
        description="Grade every submission in DIR (a directory, zip or tar archive per submission) and write a "
        "gradebook, a class page and every report format for each submission.",
        epilog="Exit status: 0 every submission was graded to the end; 1 some were not (the harness failed on them, or their archive "
        "could not be unpacked: see class.html) or --similarity could not run; "
        "2 a usage error. docs/batch.md has the details, sharding across machines included.",
    )
    p.add_argument("dir", metavar="DIR", help="the directory of submissions")
    p.add_argument("--out", required=True, metavar="OUT", help="the directory for the gradebook and reports (created if needed)")
    p.add_argument(
        "-j", "--jobs", type=workers_value, default=None, metavar="N",
        help=f"submissions graded at once: 1 or more, or auto (the default: one per CPU, {default_jobs()} here)",
    )
    p.add_argument("--shard", metavar="I/N", help="grade only slice I of N (0 <= I < N) of the submissions, for one machine of several")
    add_grading_options(p, session_timeout=DEFAULT_BATCH_SESSION_TIMEOUT, session_what="one submission")
    p.add_argument("--show-hidden", action="store_true", help="write instructors' reports (hidden specs' details included) instead of students'")
    p.add_argument(
        "--similarity",
        action="store_true",
        help="also compare the submissions with each other and with the bundled references: a table in the class page "
        "and a column in the gradebook, never in a student's report",
    )
    similarity.add_threshold_option(p, "--similarity-threshold")
    p.add_argument(
        "--roster",
        metavar="CSV",
        help="join submission ids to students (a 'submission' column; Canvas's export columns Student, ID, SIS User ID, SIS Login ID, "
        "Section; 'submitted_at' for the rubric's late policy) and write OUT/lms.csv for Canvas's or Moodle's gradebook import",
    )
    p.add_argument("--assignment", metavar="NAME", help="lms.csv's assignment column (default: the rubric's title); 'Lab 3 (123)' updates Canvas assignment 123")
    p.add_argument("--only", nargs="+", metavar="ID", help="regrade only these submissions into the existing OUT (graded with the same rubric); the others' reports stay")
    return p


def default_jobs() -> int:
    """One submission at a time per CPU this process may use (its cgroup quota counted: cpus.py)."""
    from .cpus import available

    return available()


def parse_shard(value: str) -> tuple[int, int]:
    """I/N as two integers; ValueError with the fix."""
    try:
        i, n = (int(x) for x in value.split("/"))
    except ValueError:
        raise ValueError(f"--shard {value!r}: write it as I/N, such as 0/4 (the first of four shards)") from None
    if n < 1 or not 0 <= i < n:
        raise ValueError(f"--shard {value!r}: I must be from 0 to N-1 and N at least 1, such as 0/4 to 3/4")
    return i, n


def main(argv: Sequence[str]) -> int:
    return run(parser().parse_args(list(argv)))


def run(args: argparse.Namespace) -> int:
    problems = []
    source = Path(args.dir)
    if not source.is_dir():
        problems.append(f"{args.dir} is not a directory: give the directory that holds one directory or archive per submission")
    shard = None
    if args.shard:
        try:
            shard = parse_shard(args.shard)
        except ValueError as exc:
            problems.append(str(exc))
    jobs = args.jobs if args.jobs is not None else default_jobs()
    problems += [p for p in [scale_from_environment(args.deadline_scale)] if p]
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        problems.append(f"--out {args.out} exists and is not a directory")
    elif source.is_dir() and out.resolve().is_relative_to(source.resolve()):
        problems.append(f"--out {args.out} is inside DIR {args.dir}: it would be graded as a submission; put it elsewhere")
    if args.similarity and shard is not None:
        problems.append(
            "--similarity compares the whole class, which one shard does not hold: grade the shards without it, "
            "merge them, then run `ipc-grade similarity DIR --out MERGED`"
        )
    problems += similarity.check_threshold(args.similarity_threshold, "--similarity-threshold")
    if args.only and (shard is not None or args.similarity):
        problems.append("--only regrades a few submissions of a whole batch: give it without --shard and --similarity (then `ipc-grade similarity DIR --out OUT`)")
    if args.assignment is not None and not args.roster:
        problems.append("--assignment names lms.csv's column: give --roster too")
    roster = None
    if args.roster:
        try:
            roster = roster_mod.load(args.roster)
        except roster_mod.RosterError as exc:
            problems.append(str(exc))
    rubric = None
    if args.rubric:
        try:
            rubric = load_rubric(args.rubric)
        except RubricError as exc:
            problems.append(str(exc))
        else:
            for warning in rubric.warnings:
                print(f"ipc-grade batch: warning: {warning}", file=sys.stderr)
    if problems:
        for problem in problems:
            print(f"ipc-grade batch: error: {problem}", file=sys.stderr)
        return 2
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        print(f"ipc-grade batch: error: cannot create --out {args.out}: {exc.strerror}", file=sys.stderr)
        return 2

    submissions, skipped = discover(source)
    for note in skipped:
        print(f"ipc-grade batch: note: {note}", file=sys.stderr)
    if shard is not None:
        submissions = select_shard(submissions, *shard)
    kept: list[classpage.Entry] = []
    if args.only:
        try:
            submissions, kept = _only(submissions, args.only, out, rubric)
        except ValueError as exc:
            print(f"ipc-grade batch: error: {exc}", file=sys.stderr)
            return 2
    if roster is not None:
        for note in roster_mod.check(roster, [s.id for s in submissions] + [en.id for en in kept]):
            print(f"ipc-grade batch: note: {note}", file=sys.stderr)
    child_args = _child_args(args, rubric)
    entries = grade_all(
        submissions, out, jobs=jobs, child_args=child_args, session_timeout=args.session_timeout, show_hidden=args.show_hidden,
        adjust=_late_policy(roster) if roster is not None else None,
    )
    entries = sorted(kept + entries, key=lambda en: en.id)
    summary = None
    failed_similarity = False
    if args.similarity:
        summary = _similarity(submissions, out, args.similarity_threshold, jobs)
        failed_similarity = summary is None
    write_batch(out, entries, shard=shard, rubric=rubric.describe() if rubric else None, similarity=summary)
    if roster is not None:
        assignment = args.assignment or (rubric.title if rubric and rubric.title else "IPC")
        reports.write_text(out / "lms.csv", roster_mod.lms_csv(roster, entries, assignment))
    broke = [en for en in entries if en.status in classpage.HARNESS]
    print(
        f"ipc-grade batch: {len(entries)} submissions in {out}/gradebook.csv and {out}/class.html: "
        + (f"{len(broke)} not graded to the end: {', '.join(f'{en.id} ({en.status})' for en in broke)}" if broke else "every one graded to the end"),
        file=sys.stderr,
    )
    return 1 if broke or failed_similarity else 0


def _only(submissions: Sequence[Submission], ids: Sequence[str], out: Path, rubric) -> tuple[list[Submission], list[classpage.Entry]]:
    """The submissions IDS to regrade, and the entries of OUT's earlier batch to keep; ValueError
    says why the regrade cannot be done (an unknown id, no earlier batch, another rubric)."""
    known = {s.id: s for s in submissions}
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise ValueError(f"--only {' '.join(unknown)}: no such submission in DIR (its ids are the names of its directories and archives)")
    try:
        manifest = json.loads((out / "batch.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"--only regrades into an earlier batch, but {out}/batch.json cannot be read ({exc}): grade the class without --only first") from None
    if manifest.get("shard"):
        raise ValueError(f"{out} holds shard {manifest['shard']}: regrade into the merged output, or into the shard without --only")
    before = (manifest.get("rubric") or {}).get("sha256")
    now = rubric.describe()["sha256"] if rubric is not None else None
    if before != now:
        raise ValueError(f"{out} was graded with another rubric ({(manifest.get('rubric') or {}).get('file') or 'none'}): give the same --rubric, or regrade the whole class")
    kept = []
    for ident in manifest.get("submissions", []):
        if ident in ids:
            continue
        try:
            kept.append(classpage.Entry(ident, run_record.load(out / "submissions" / ident / "record.json")))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{out}/submissions/{ident}/record.json cannot be read ({exc}): regrade it too (--only ... {ident})") from None
    return [known[i] for i in dict.fromkeys(ids)], kept


def _late_policy(roster: roster_mod.Roster):
    """The rubric's late policy, applied to each graded record at the roster's submitted_at."""

    def adjust(ident: str, rec: run_record.RunRecord) -> run_record.RunRecord:
        if late.policy_of(rec) is None or rec.error:
            return rec
        return late.apply(rec, roster.submitted_at(ident), source="the roster")

    return adjust


def _similarity(submissions: Sequence[Submission], out: Path, threshold: int, jobs: int) -> similarity.Summary | None:
    """The similarity of the class, its side-by-side pages written into OUT; None (and said
    why) when it cannot be checked: the grades are written all the same."""
    started = time.monotonic()
    try:
        result = similarity.check_class(submissions, threshold=threshold, jobs=jobs)
        similarity.write(out, result)
    except Exception as exc:  # the grades must not be lost to it
        print(f"ipc-grade batch: error: the similarity check failed ({type(exc).__name__}: {exc}); the grades are written without it", file=sys.stderr)
        return None
    print(
        f"ipc-grade batch: similarity: {len(result.summary.submissions)} submissions compared in {time.monotonic() - started:.1f} s; "
        f"{len(result.summary.pairs)} pairs flagged (class.html, {out}/similarity.json)",
        file=sys.stderr,
    )
    return result.summary


def _child_args(args: argparse.Namespace, rubric) -> list[str]:
    out = ["-q", "-j", "1", "--session-timeout", str(args.session_timeout)]
    if rubric is not None:
        out += ["--rubric", str(Path(rubric.path).resolve())]
    if args.k:
        out += ["-k", args.k]
    if args.deadline_scale:
        out += ["--deadline-scale", args.deadline_scale]
    if args.run_as:
        out += ["--run-as", args.run_as]
    return out


# --- finding and slicing submissions -------------------------------------------------------


def discover(directory: Path) -> tuple[list[Submission], list[str]]:
    """The submissions in DIRECTORY sorted by id, and notes on entries that are not one."""
    found: dict[str, Submission] = {}
    notes = []
    for entry in sorted(directory.iterdir(), key=lambda p: p.name):
        if entry.name.startswith(".") or entry.name in archives.JUNK:
            continue
        if entry.is_dir():
            ident = entry.name
        elif entry.is_file() and archives.archive_stem(entry.name):
            ident = archives.archive_stem(entry.name)
        else:
            notes.append(f"{entry} is neither a directory nor a zip or tar archive; skipped")
            continue
        if ident in found:
            notes.append(f"{entry.name} and {found[ident].source.name} are both submission {ident!r}; the archive is graded as {entry.name!r}")
            ident = entry.name
        found[ident] = Submission(ident, entry)
    return sorted(found.values(), key=lambda s: s.id), notes


def select_shard(submissions: Sequence[Submission], index: int, count: int) -> list[Submission]:
    """Shard INDEX of COUNT: every COUNT-th submission in id order, starting at INDEX."""
    ordered = sorted(submissions, key=lambda s: s.id)
    return [s for n, s in enumerate(ordered) if n % count == index]


# --- grading -------------------------------------------------------------------------------


class Progress:
    """Where a batch is: submissions done out of the total, the ones being graded now, and an
    estimate of the time left (the wall time so far per submission done, which already counts
    the workers). On a terminal a live line drawn by rich; elsewhere (CI logs) a plain line per
    submission finished, with the same facts."""

    def __init__(self, total: int, stream=None) -> None:
        self.total = total
        self.done = 0
        self.started = time.monotonic()
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.lock = threading.Lock()
        self.running: dict[str, float] = {}
        self._live = None
        if self.tty:
            self._live = live_bar(self.stream, "[bold]ipc-grade batch[/bold]", "eta", transient=False)
            self._task = self._live.add_task("batch", total=total, eta="", running="")

    def begin(self, ident: str) -> None:
        with self.lock:
            self.running[ident] = time.monotonic()
            self._refresh()

    def eta(self) -> str:
        """The time left, as `ETA 2 min`, once a submission has finished ('' before)."""
        if not self.done or self.done >= self.total:
            return ""
        elapsed = time.monotonic() - self.started
        left = elapsed / self.done * (self.total - self.done)
        return f"ETA {left:.0f} s" if left < 90 else f"ETA {left / 60:.0f} min"

    def _now_running(self) -> str:
        names = sorted(self.running, key=self.running.get)
        return ("grading " + ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")) if names else ""

    def _refresh(self) -> None:
        if self._live is not None:
            self._live.update(self._task, completed=self.done, eta=self.eta(), running=self._now_running())

    def update(self, entry: classpage.Entry) -> None:
        with self.lock:
            self.done += 1
            self.running.pop(entry.id, None)
            rec = entry.record
            if self._live is not None:
                self._refresh()
                # a submission's id is the student's file name: never rich markup
                self._live.console.print(f"{entry.id}: {points(late.final_score(rec))}/{points(rec.max_score)} {entry.status}", markup=False, highlight=False)
                if self.done == self.total:
                    self._live.stop()
                return
            width = 30
            filled = width * self.done // max(self.total, 1)
            elapsed = time.monotonic() - self.started
            facts = "; ".join(f for f in (f"{elapsed:.0f} s", self.eta(), self._now_running()) if f)
            self.stream.write(
                f"[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} "
                f"{entry.id}: {points(late.final_score(rec))}/{points(rec.max_score)} {entry.status} ({facts})\n"
            )
            self.stream.flush()

    def close(self) -> None:
        if self._live is not None and self._live.live.is_started:
            self._live.stop()


def grade_all(
    submissions: Sequence[Submission],
    out: Path,
    *,
    jobs: int,
    child_args: Sequence[str],
    session_timeout: float,
    show_hidden: bool = False,
    adjust: Callable[[str, run_record.RunRecord], run_record.RunRecord] | None = None,
) -> list[classpage.Entry]:
    """Grade SUBMISSIONS, JOBS at a time, each in its own child; write each one's reports
    (each record through ADJUST first, when given: the late policy)."""
    progress = Progress(len(submissions))

    def one(s: Submission, where: Path) -> run_record.RunRecord:
        progress.begin(s.id)
        return grade_one(s, where, child_args, session_timeout)

    entries: list[classpage.Entry] = []
    with tempfile.TemporaryDirectory(prefix="ipc-batch-") as tmp:
        work = Path(tmp)
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            futures = {
                pool.submit(one, s, work / f"s{n}"): s for n, s in enumerate(submissions)
            }
            for future in as_completed(futures):
                s = futures[future]
                try:
                    rec = future.result()
                except Exception as exc:  # a bug here must not lose the other submissions
                    rec = _failed(s, f"the batch grader failed on this submission ({type(exc).__name__}: {exc})", "crashed")
                if adjust is not None:
                    rec = adjust(s.id, rec)
                entry = classpage.Entry(s.id, rec)
                write_submission(out, entry, show_hidden)
                entries.append(entry)
                progress.update(entry)
    progress.close()
    return sorted(entries, key=lambda en: en.id)


def _failed(s: Submission, reason: str, kind: str) -> run_record.RunRecord:
    return run_record.failed_run({"path": str(s.source), "name": s.id}, reason, error_kind=kind)


def grade_one(s: Submission, work: Path, child_args: Sequence[str], session_timeout: float) -> run_record.RunRecord:
    """Grade one submission in a private copy, by a child `ipc-grade`; always a record."""
    work.mkdir(parents=True)
    copy = work / "submission"
    if s.is_archive:
        try:
            archives.unpack(s.source, copy)
        except archives.UnsafeArchive as exc:
            return _failed(s, f"the submitted archive was not graded: {exc}", classpage.BAD_ARCHIVE)
    else:
        try:
            shutil.copytree(s.source, copy, symlinks=True)
        except (OSError, shutil.Error) as exc:
            return _failed(s, f"the submission could not be copied for grading ({exc})", "crashed")
    impl = archives.implementation_root(copy)
    record_file = work / "record.json"
    log = work / "grade.log"
    cmd = [sys.executable, "-m", "grading.cli", str(impl), "--json", str(record_file), *child_args]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True, cwd=work)
        try:
            proc.wait(session_timeout + GRACE)
        except subprocess.TimeoutExpired:
            _kill(proc)
            return _failed(s, f"grading did not finish within {session_timeout + GRACE:.0f} s and was stopped", "session-timeout")
        except BaseException:
            _kill(proc)
            raise
    try:
        rec = run_record.load(record_file)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        tail = log.read_text(errors="replace").strip().splitlines()[-5:] if log.exists() else []
        return _failed(s, f"the grader ended without a run record (exit status {proc.returncode}; {exc}): {' | '.join(tail) or '(no output)'}", "crashed")
    return _as_submitted(rec, s, impl)


def _as_submitted(rec: run_record.RunRecord, s: Submission, graded_at: Path) -> run_record.RunRecord:
    """REC naming the submission, not the private copy it was graded in (whose path changes
    from run to run): the same submission gives the same gradebook."""
    here = str(graded_at)

    def fix(text: str) -> str:
        return text.replace(here + "/", f"{s.id}/").replace(here, s.id)

    rec.implementation = {**rec.implementation, "path": str(s.source), "submission": s.id}
    rec.error = fix(rec.error) if rec.error else rec.error
    for spec in rec.specs:
        spec.message = fix(spec.message)
    return rec


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


# --- writing -------------------------------------------------------------------------------


def write_submission(out: Path, entry: classpage.Entry, show_hidden: bool) -> None:
    """Every report format of ENTRY into OUT/submissions/ID/."""
    directory = out / "submissions" / entry.id
    targets = {name: directory / f.filename for name, f in reports.FORMATS.items()}
    for problem in reports.write_all(entry.record, targets, show_hidden=show_hidden):
        print(f"ipc-grade batch: error: {entry.id}: {problem}", file=sys.stderr)


def write_batch(
    out: Path,
    entries: Sequence[classpage.Entry],
    *,
    shard: tuple[int, int] | str | None,
    rubric: dict | None,
    merged_from: Sequence[str] = (),
    similarity: similarity.Summary | None = None,
) -> None:
    """The gradebook, the class page and batch.json for ENTRIES (with SIMILARITY, its column
    and its table)."""
    title = (rubric or {}).get("title", "")
    reports.write_text(out / "gradebook.csv", classpage.gradebook(entries, similarity))
    reports.write_text(out / "class.html", classpage.render(entries, title, similarity=similarity))
    if isinstance(shard, tuple):
        shard = f"{shard[0]}/{shard[1]}"
    manifest = {
        "version": BATCH_VERSION,
        "shard": shard or None,
        "rubric": rubric,
        "submissions": sorted(en.id for en in entries),
    }
    if merged_from:
        manifest["merged_from"] = list(merged_from)
    reports.write_text(out / "batch.json", json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")


def rewrite_with_similarity(out: Path, summary: similarity.Summary) -> str | None:
    """Write the gradebook and class page of the batch (or merge) in OUT again, with SUMMARY;
    None, or what stopped it."""
    try:
        manifest = json.loads((out / "batch.json").read_text(encoding="utf-8"))
        entries = [classpage.Entry(ident, run_record.load(out / "submissions" / ident / "record.json")) for ident in manifest.get("submissions", [])]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return f"{out} holds a batch whose records cannot be read ({exc}): its class page was left as it was"
    write_batch(out, entries, shard=manifest.get("shard"), rubric=manifest.get("rubric"), merged_from=manifest.get("merged_from", ()), similarity=summary)
    return None


# --- merge ---------------------------------------------------------------------------------


def merge_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ipc-grade merge",
        description="Combine the OUT directories of `ipc-grade batch --shard` runs into one gradebook and class page.",
        epilog="Exit status: 0 merged; 2 a usage error (a missing or inconsistent shard, a submission in two shards).",
    )
    p.add_argument("shards", nargs="+", metavar="OUT", help="the OUT directory of each shard")
    p.add_argument("--out", required=True, metavar="OUT", help="the directory for the merged gradebook, class page and reports")
    return p


def merge_main(argv: Sequence[str]) -> int:
    return merge_run(merge_parser().parse_args(list(argv)))


def merge_run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    problems = []
    manifests = []
    for shard in args.shards:
        path = Path(shard)
        try:
            manifest = json.loads((path / "batch.json").read_text(encoding="utf-8"))
            if manifest.get("version") != BATCH_VERSION:
                raise ValueError(f"batch.json version {manifest.get('version')!r}, this grader reads {BATCH_VERSION}")
        except FileNotFoundError:
            problems.append(f"{shard} has no batch.json: give the --out directory of an `ipc-grade batch` run")
            continue
        except (OSError, ValueError) as exc:
            problems.append(f"{shard}/batch.json cannot be read ({exc})")
            continue
        if path.resolve() == out.resolve():
            problems.append(f"--out {args.out} is also a shard to merge: merge into a new directory")
        manifests.append((path, manifest))
    digests = {json.dumps((m.get("rubric") or {}).get("sha256")) for _, m in manifests}
    if len(digests) > 1:
        problems.append("the shards were graded with different rubrics (batch.json 'rubric'): grade every shard with the same --rubric")
    owner: dict[str, Path] = {}
    for path, manifest in manifests:
        for ident in manifest.get("submissions", []):
            if ident in owner:
                problems.append(f"submission {ident!r} is in both {owner[ident]} and {path}: merge each shard once")
            owner[ident] = path
    shards = [m.get("shard") for _, m in manifests if m.get("shard")]
    counts = {s.split("/")[1] for s in shards}
    if len(counts) == 1 and shards:
        n = int(counts.pop())
        missing = sorted(set(range(n)) - {int(s.split("/")[0]) for s in shards})
        if missing:
            print(f"ipc-grade merge: warning: shards {', '.join(f'{i}/{n}' for i in missing)} are missing: the gradebook lacks their submissions", file=sys.stderr)
    entries = []
    for ident, path in sorted(owner.items()):
        try:
            entries.append(classpage.Entry(ident, run_record.load(path / "submissions" / ident / "record.json")))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            problems.append(f"{path}/submissions/{ident}/record.json cannot be read ({exc})")
    if problems:
        for problem in problems:
            print(f"ipc-grade merge: error: {problem}", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    for ident, path in sorted(owner.items()):
        target = out / "submissions" / ident
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(path / "submissions" / ident, target)
    rubric = manifests[0][1].get("rubric") if manifests else None
    write_batch(out, entries, shard=None, rubric=rubric, merged_from=[m.get("shard") or str(p) for p, m in manifests])
    print(f"ipc-grade merge: {len(entries)} submissions from {len(manifests)} shards into {out}/gradebook.csv and {out}/class.html", file=sys.stderr)
    return 0
