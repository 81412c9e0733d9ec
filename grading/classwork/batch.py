"""`ipc-grade batch`: grade every submission of a class.

    ipc-grade batch DIR --out OUT [--jobs N] [--rubric R] [--shard I/N] [--similarity]
                    [--roster ROSTER.csv [--assignment NAME]] [--only ID ...]

DIR holds one entry per submission: a directory, or a zip or tar archive (submissions.py).
Each submission is copied to a private directory and graded by its own `ipc-grade` child
process (one pytest worker each), N at a time (parallel.py); a submission that hangs, crashes,
floods its output or leaks IPC objects costs its own deadlines and nothing more. OUT gets
(results.py):

    OUT/gradebook.csv                  one row per submission, sorted by id
    OUT/class.html                     pass rate per spec, score distribution, harness failures
    OUT/batch.json                     what was graded: ids, shard, rubric (for merge)
    OUT/submissions/ID/record.json     the run record, and each report format:
    OUT/submissions/ID/{gradescope.json, prairielearn.json, junit.xml, report.md, report.html, report.txt}
    OUT/similarity.json, OUT/similarity/*.html   with --similarity (similarity/): instructors only
    OUT/lms.csv                        with --roster (roster.py): the students' final scores, for
                                       Canvas's or Moodle's gradebook import; the rubric's late
                                       policy applied to the roster's submitted_at

--only ID... regrades those submissions into an OUT that a batch with the same rubric wrote:
their reports are replaced, every other submission's kept, the gradebook and class page rewritten.
--shard I/N grades one slice (shards.py); `ipc-grade merge` (merge.py) combines the slices.

Exit status: 0 every submission was graded to the end (whatever its score); 1 some were not
(the harness failed on them, or their archive could not be unpacked: the class page lists them),
or --similarity could not run; 2 a usage error; 130 interrupted (Ctrl-C: the gradings under way
stop keeping the verdicts they reached, and the gradebook and class page are written for what
was graded, the rest marked `interrupted`, for --only to finish).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from conformance import record as run_record

from .. import grader, late, options, render
from ..rubric import RubricError
from . import roster as roster_mod
from . import similarity
from .gradebook import HARNESS, INTERRUPTED, Entry
from .parallel import grade_all
from .results import write_batch
from .shards import parse_shard, select_shard
from .similarity.command import add_threshold_option, check_threshold
from .submissions import Submission, discover

DEFAULT_BATCH_SESSION_TIMEOUT = 900.0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ipc-grade batch",
        description="Grade every submission in DIR (a directory, zip or tar archive per submission) and write a "
        "gradebook, a class page and every report format for each submission.",
        epilog="Exit status: 0 every submission was graded to the end; 1 some were not (the harness failed on them, or their archive "
        "could not be unpacked: see class.html) or --similarity could not run; "
        "2 a usage error; 130 interrupted (Ctrl-C: the gradebook is written for what was graded). "
        "docs/batch.md has the details, sharding across machines included.",
    )
    p.add_argument("dir", metavar="DIR", help="the directory of submissions")
    p.add_argument("--out", required=True, metavar="OUT", help="the directory for the gradebook and reports (created if needed)")
    options.add(p, "jobs", "-j", setting=options.workers(
        f"submissions graded at once: 1 or more, or auto (the default: one per CPU, {default_jobs()} here)"))
    p.add_argument("--shard", metavar="I/N", help="grade only slice I of N (0 <= I < N) of the submissions, for one machine of several")
    options.add_grading(p, session_timeout=DEFAULT_BATCH_SESSION_TIMEOUT, each="each submission")
    options.add(p, "show_hidden")
    p.add_argument(
        "--similarity",
        action="store_true",
        help="also compare the submissions with each other and with the bundled references: a table in the class page "
        "and a column in the gradebook, never in a student's report",
    )
    add_threshold_option(p, "--similarity-threshold")
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
    from ..cpus import available

    return available()


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
    problems += options.check_environment("deadline_scale", args.deadline_scale)
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
    problems += check_threshold(args.similarity_threshold, "--similarity-threshold")
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
            rubric = grader.load_rubric(args.rubric)
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
    kept: list[Entry] = []
    if args.only:
        try:
            submissions, kept = _only(submissions, args.only, out, rubric)
        except ValueError as exc:
            print(f"ipc-grade batch: error: {exc}", file=sys.stderr)
            return 2
    if roster is not None:
        for note in roster_mod.check(roster, [s.id for s in submissions] + [en.id for en in kept]):
            print(f"ipc-grade batch: note: {note}", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="ipc-batch-") as tmp:  # the checked rubric, for every child
        child_args = _child_args(args, rubric, Path(tmp))
        entries = grade_all(
            submissions, out, jobs=jobs, child_args=child_args, session_timeout=args.session_timeout, show_hidden=args.show_hidden,
            adjust=_late_policy(roster) if roster is not None else None,
        )
    stopped = [en for en in entries if en.status == INTERRUPTED]  # Ctrl-C: the gradebook is written for what was done
    entries = sorted(kept + entries, key=lambda en: en.id)
    summary = None
    failed_similarity = False
    if args.similarity:
        summary = _similarity(submissions, out, args.similarity_threshold, jobs, {en.id: en.record.meta.get("loaded") or {} for en in entries})
        failed_similarity = summary is None
    write_batch(out, entries, shard=shard, rubric=rubric.describe() if rubric else None, similarity=summary)
    if roster is not None:
        assignment = args.assignment or (rubric.title if rubric and rubric.title else "IPC")
        render.write_text(out / "lms.csv", roster_mod.lms_csv(roster, entries, assignment))
    broke = [en for en in entries if en.status in HARNESS]
    print(
        f"ipc-grade batch: {len(entries)} submissions in {out}/gradebook.csv and {out}/class.html: "
        + (f"{len(broke)} not graded to the end: {', '.join(f'{en.id} ({en.status})' for en in broke)}" if broke else "every one graded to the end"),
        file=sys.stderr,
    )
    if stopped:
        print(f"ipc-grade batch: interrupted: {len(stopped)} submissions not graded to the end; `ipc-grade batch ... --only "
              f"{' '.join(en.id for en in stopped[:5])}{' ...' if len(stopped) > 5 else ''}` grades them again into the same gradebook", file=sys.stderr)
        return 128 + signal.SIGINT  # the shells' convention, as ipc-grade's own (cli.EXIT_INTERRUPTED)
    return 1 if broke or failed_similarity else 0


def _only(submissions: Sequence[Submission], ids: Sequence[str], out: Path, rubric) -> tuple[list[Submission], list[Entry]]:
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
            kept.append(Entry(ident, run_record.load(out / "submissions" / ident / "record.json")))
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


def _similarity(submissions: Sequence[Submission], out: Path, threshold: int, jobs: int, loaded: dict[str, dict[str, list[str]]]) -> similarity.Summary | None:
    """The similarity of the class, its side-by-side pages written into OUT; None (and said
    why) when it cannot be checked: the grades are written all the same. LOADED: what each
    submission's programs loaded when graded (its record's ``loaded``)."""
    started = time.monotonic()
    try:
        result = similarity.check_class(submissions, threshold=threshold, jobs=jobs, loaded=loaded)
        similarity.write(out, result)
    except Exception as exc:  # the grades must not be lost to it
        print(f"ipc-grade batch: error: the similarity check failed ({type(exc).__name__}: {exc}); the grades are written without it", file=sys.stderr)
        return None
    print(
        f"ipc-grade batch: similarity: {plural(len(result.summary.submissions), 'submission')} compared in {time.monotonic() - started:.1f} s; "
        f"{plural(len(result.summary.pairs), 'pair')} flagged (class.html, {out}/similarity.json)",
        file=sys.stderr,
    )
    return result.summary


def plural(n: int, word: str) -> str:
    """``1 pair``, ``2 pairs``."""
    return f"{n} {word}{'' if n == 1 else 's'}"


def _child_args(args: argparse.Namespace, rubric, tmp: Path) -> list[str]:
    """Each submission's `ipc-grade` options: one worker, and the batch's own settings; the
    rubric as checked here (in TMP), so that no child checks it again."""
    out = ["-q", "-j", "1", "--session-timeout", options.word(args.session_timeout)]
    if rubric is not None:
        out += ["--rubric", str(Path(rubric.path).resolve()), "--checked-rubric", str(grader.write_checked(rubric, tmp / "rubric.json"))]
    if args.k:
        out += ["-k", args.k]
    if args.deadline_scale is not None:
        out += ["--deadline-scale", options.word(args.deadline_scale)]
    if args.run_as:
        out += ["--run-as", args.run_as]
    return out

