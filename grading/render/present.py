"""What every report shows, decided once: who sees what, subtotals, and a failure's parts.

Renderers take a run record and a ``show_hidden`` flag. Students' reports (the default) never
show a hidden spec's details: no id, title, message, hint or status of its own. They show how
many specs are hidden, and, as Gradescope does, no total that would reveal the hidden specs'
points. Instructors' reports (``show_hidden=True``) show everything, each hidden spec marked.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path
from typing import Any

from conformance.record import CLEANUP_SPECS, STATUS, RunRecord, SpecResult, joined, visible

from ..rubric import points
from . import i18n
from .i18n import N_

__all__ = [
    "Failure", "Group", "View", "clean", "failure", "message_text", "one_sentence", "percent", "plain", "points", "says_more",
    "status_words", "time_fields", "truncate",
]


def status_words(status: str, language: str = "en") -> str:
    """How a report says STATUS (the status table's words, in LANGUAGE; an unknown one as it is)."""
    info = STATUS.get(status)
    return i18n.translator(language).status(info.words) if info else status


def percent(got: float, out_of: float) -> float:
    return 100.0 * got / out_of if out_of else 0.0


@dataclass
class Group:
    mechanism: str
    specs: list[SpecResult]
    """The specs this reader may see."""
    hidden: int
    """How many more specs of the mechanism this reader may not see."""
    run_failed: bool = False
    """The run could not grade: nothing is earned."""

    @property
    def got(self) -> float:
        return 0.0 if self.run_failed else sum(s.points for s in self.specs if s.counted)

    @property
    def out_of(self) -> float:
        return sum(s.max_points for s in self.specs if s.counted)


class View:
    """RECORD as one reader sees it."""

    def __init__(self, record: RunRecord, show_hidden: bool = False) -> None:
        self.record = record
        self.show_hidden = show_hidden
        self.t = i18n.of(record)
        """The record's language (i18n): every sentence here is said in it."""
        self.specs = [s for s in record.specs if show_hidden or not s.hidden]
        self.hidden = [s for s in record.specs if s.hidden and not show_hidden]

    @property
    def complete(self) -> bool:
        """The reader sees every spec, so the total."""
        return not self.hidden

    def groups(self) -> Iterator[Group]:
        hidden_by_mech: dict[str, int] = {}
        for s in self.hidden:
            hidden_by_mech[s.mechanism] = hidden_by_mech.get(s.mechanism, 0) + 1
        seen = set()
        for mechanism, _ in groupby(self.record.specs, key=lambda s: s.mechanism):
            if mechanism in seen:
                continue
            seen.add(mechanism)
            shown = [s for s in self.specs if s.mechanism == mechanism]
            if shown or hidden_by_mech.get(mechanism):
                yield Group(mechanism, shown, hidden_by_mech.get(mechanism, 0), self.record.error is not None)

    @property
    def got(self) -> float:
        return 0.0 if self.record.error else sum(s.points for s in self.specs if s.counted)

    @property
    def out_of(self) -> float:
        return sum(s.max_points for s in self.specs if s.counted)

    def setting(self) -> list[str]:
        """Where and how the programs ran, in a line or two for a report's header: what they ran
        as and how this grading was kept apart from others (nothing for a record without it)."""
        meta = self.record.meta
        out = []
        if meta.get("programs_run_as"):
            out.append(self.t._("Programs ran as: %(user)s; isolation: %(isolation)s", user=meta["programs_run_as"], isolation=meta.get("isolation", "unknown")))
        return out

    def warnings(self) -> list[str]:
        """What an instructor and a student must notice about this grading itself."""
        meta = self.record.meta
        out = list(self.copies())
        if self.regrade():
            out.append(self.regrade())
        if meta.get("programs_run_as_note"):
            out.append(self.t._("WARNING: %(note)s", note=meta["programs_run_as_note"]))
        if meta.get("programs_python_note"):
            out.append(self.t._("WARNING: %(note)s", note=meta["programs_python_note"]))
        out.extend(self.stopped())
        if (meta.get("late") or {}).get("note"):  # the rubric's late policy (late.py)
            out.append(self.t.sentence(meta["late"]["note"]))
        if (meta.get("rubric") or {}).get("rescaled"):  # rubric.Rubric.apply
            out.append(self.t._("Points: %(note)s.", note=self.t.sentence(meta["rubric"]["rescaled"])))
        out.extend(self.leaks())
        return [clean(w) for w in out]

    def leaks(self) -> list[str]:
        """What the programs left behind when a spec ended (its ``left_behind``), which the grader
        removed: an IPC leak finding, every spec's for the instructor (``show_hidden``), and for a
        student the specs about cleanup (CLEANUP_SPECS)."""
        out = []
        for s in self.specs:
            if s.left_behind and (self.show_hidden or s.id in CLEANUP_SPECS):
                out.append(self.t.ngettext(
                    "IPC LEAK in %(spec)s: your programs left %(leak)s when the spec ended; the grader removed it.",
                    "IPC LEAK in %(spec)s: your programs left %(leak)s when the spec ended; the grader removed them.",
                    sum(s.left_behind.values()), spec=s.id, leak=s.leak))
        return out

    def copies(self) -> list[str]:
        """A sentence per file of the submission that is a copy of the bundled reference (the
        record's ``copies``), for student and instructor alike: under another name and loaded
        by the programs, it cost the specs that loaded it their points (their integrity finding)."""
        meta = self.record.meta
        loaded = {f for files in (meta.get("loaded") or {}).values() for f in files}
        out = []
        for c in meta.get("copies") or []:
            t = self.t
            how = t._("byte for byte") if c.get("identical") else t._("%(share)s%% of it", share=c.get("share"))
            values = {"file": c.get("file"), "reference": c.get("reference"), "how": how}
            if Path(str(c.get("file"))).name == Path(str(c.get("reference"))).name:
                note = t._("INTEGRITY: %(file)s is a copy of the bundled reference's %(reference)s (%(how)s).", **values)
            elif c.get("file") in loaded:
                note = t._("INTEGRITY: %(file)s is a copy of the bundled reference's %(reference)s (%(how)s) under another name, "
                           "and your programs loaded it: the specs that loaded it score nothing.", **values)
            else:
                note = t._("INTEGRITY: %(file)s is a copy of the bundled reference's %(reference)s (%(how)s) under another name.", **values)
            out.append(clean(note))
        return out

    def regrade(self) -> str:
        """A sentence when the grader could not judge a spec, even on a second attempt: the
        submission awaits an instructor's regrade, and the spec counts 0 points meanwhile. It
        names the specs this reader may see, and gives the grader's reason for the first."""
        broken = [s for s in self.record.specs if s.status == "broken"]
        if not broken:
            return ""
        shown = {s.id for s in self.specs}
        named = [s for s in broken if s.id in shown]
        hidden = len(broken) - len(named)
        t = self.t
        which = ", ".join(s.id for s in named)
        if hidden:
            more = t.ngettext("%(n)d hidden spec", "%(n)d hidden specs", hidden)
            which = t._("%(specs)s and %(more)s", specs=which, more=more) if named else more
        reason = next((line.strip() for s in named for line in s.message.splitlines() if line.strip() and not line.startswith("The grader could not judge")), "")
        said = t.ngettext(
            "REGRADE: the grader could not judge %(which)s, even on a second attempt: it counts 0 points until an instructor regrades this submission",
            "REGRADE: the grader could not judge %(which)s, even on a second attempt: they count 0 points until an instructor regrades this submission",
            len(broken), which=which)
        return clean(said + (t._(" (the grader's reason: %(reason)s)", reason=reason) if reason else "") + ".")

    def stopped(self) -> list[str]:
        """A sentence when the run was stopped before its end (the session timeout, Ctrl-C) but
        its verdicts stand: every format says it, with the score."""
        meta = self.record.meta
        out = []
        if meta.get("session_note"):
            out.append(self.t._("WARNING: %(note)s: the specs it did not reach are timeouts", note=meta["session_note"]))
        if meta.get("interrupt_note"):
            out.append(self.t._("WARNING: %(note)s", note=meta["interrupt_note"]))
        return [clean(w) for w in out]

    def build_failure(self) -> tuple[str, str] | None:
        """A failed build, once for the whole report: what it cost (a sentence) and the end of
        its output; None when there was no build or it succeeded."""
        build = self.record.meta.get("build")
        if not build or build.get("ok"):
            return None
        t = self.t
        cost = build.get("cost") or []
        costs = t.ngettext(
            "It cost %(mechanisms)s: its program was not made, so its specs are not graded; every other mechanism was graded.",
            "It cost %(mechanisms)s: their programs were not made, so their specs are not graded; every other mechanism was graded.",
            len(cost), mechanisms=", ".join(cost),
        ) if cost else t._("Every program it should have made was there, so every mechanism was graded.")
        status = t.said(build.get("status", ""), (build.get("words") or {}).get("status"))  # its words: manifest.run_build
        said = t._("The build `%(command)s` failed: it %(status)s.", command=build.get("command", ""), status=status)
        return clean(f"{said} {costs}"), clean(build.get("log", ""))

    def evidence_notes(self) -> list[str]:
        """A sentence per source of kernel evidence this machine did not show, with the specs it
        left unsupported (none when everything could be read); then the schedules' (schedules)."""
        out = []
        for source, reason in sorted((self.record.meta.get("evidence_unavailable") or {}).items()):
            touched = [s.id for s in self.specs if s.evidence_unavailable == source]
            values = {"source": source, "reason": clean(reason), "specs": ", ".join(touched)}
            out.append(self.t._("Evidence unavailable on this machine: %(source)s (%(reason)s); unsupported for want of it: %(specs)s", **values)
                       if touched else self.t._("Evidence unavailable on this machine: %(source)s (%(reason)s); no spec here needed it", **values))
        return out + self.schedules()

    def schedules(self) -> list[str]:
        """A sentence per shown spec that controlled how its programs' processes interleave
        (its ``schedule``, docs/schedules.md): what it explored, its seed, what that guarantees."""
        return [clean(self.t._("Schedules of %(spec)s: %(guarantee)s", spec=s.id, guarantee=self.t.said(s.schedule["guarantee"], s.schedule.get("guarantee_words"))))
                for s in self.specs if s.schedule and s.schedule.get("guarantee")]

    def problems(self) -> list[SpecResult]:
        """Shown specs whose failure is explained one by one, in report order."""
        return [s for s in self.specs if s.info.explained]

    def not_implemented(self) -> dict[str, tuple[int, str]]:
        """Per mechanism: how many shown specs are not implemented, and the first reason."""
        out: dict[str, tuple[int, str]] = {}
        for s in self.specs:
            if s.status == "not-implemented":
                n, why = out.get(s.mechanism, (0, clean(self.t.sentence(" ".join(s.parts.observed.split())))))
                out[s.mechanism] = (n + 1, why)
        return out

    def total_line(self) -> str:
        """The total as this reader may see it."""
        rec = self.record
        if self.complete:
            return f"{points(rec.score)}/{points(rec.max_score)}"
        return self.t._("%(got)s/%(out_of)s on the visible specs", got=points(self.got), out_of=points(self.out_of))

    def hidden_note(self) -> str:
        n = len(self.hidden)
        if not n:
            return ""
        t = self.t
        when = {
            "after_due_date": t._("after the due date"),
            "after_published": t._("once the grades are published"),
            "hidden": t._("never in this report"),
        }
        kinds = sorted({s.visibility for s in self.hidden})
        shown = t._(" or ").join(when.get(k, t._("when your instructor releases them")) for k in kinds)
        return t.ngettext(
            "%(n)d more spec is graded but hidden: its results and your total appear %(when)s.",
            "%(n)d more specs are graded but hidden: their results and your total appear %(when)s.",
            n, when=shown,
        )

    @property
    def title(self) -> str:
        rubric = self.record.meta.get("rubric") or {}
        return rubric.get("title", "")

    @property
    def name(self) -> str:
        impl = self.record.implementation
        return impl.get("name") or impl.get("path", "") or self.t._("implementation")


# --- a failure's parts ---------------------------------------------------------------------


@dataclass(frozen=True)
class Failure:
    """A failure as a report lays it out, every part made safe to show (see clean)."""

    expected: str
    """The spec's behaviour, and what the failure says more precisely was expected."""
    observed: str
    evidence: list[str]
    """What the kernel showed, a sentence each."""
    fix: str
    """What to change for this failure (the hint is the spec's general advice)."""
    transcript: str
    """Each program's transcript, one after the other, as plain text."""
    hint: str


def failure(spec: SpecResult, language: str = "en") -> Failure:
    """SPEC's failure, from the parts the grader recorded (record.Failure): a spec that carries
    only a message (a harness fault, a run that could not grade) shows it as what was observed."""
    parts = said(spec.parts, language)
    expected = spec.title
    if parts.expected:
        expected = i18n.translator(language)._("%(title)s (expected %(expected)s)", title=expected, expected=parts.expected) if expected else parts.expected
    observed = joined(parts.done, i18n.translator(language).sentence(parts.observed) if parts.observed and not parts.words.get("observed") else parts.observed)
    return Failure(
        expected=clean(expected),
        observed=clean(observed.strip("\n")).strip(),
        evidence=[clean(e) for e in parts.evidence],
        fix=clean(" ".join(p for p in (_consequence(parts.because, language), parts.fix) if p)),
        transcript=_dedent(clean("\n".join(transcript_text(t, language) for t in parts.transcripts))),
        hint=spec.advice,
    )


def said(parts: Any, language: str) -> Any:
    """A failure's parts (record.Failure) with each part the grader said as a sentence
    (``words``) said again in LANGUAGE; the others as written."""
    words = parts.words or {}
    if language == "en" or not words:
        return parts
    t = i18n.translator(language)
    lines = words.get("evidence") or []
    evidence = [t.said(e, lines[i] if i < len(lines) else None) for i, e in enumerate(parts.evidence)]
    return dataclasses.replace(parts, evidence=evidence, **{k: t.said(getattr(parts, k), words.get(k)) for k in ("observed", "expected", "done", "fix")})


def _consequence(because: str, language: str) -> str:
    """The sentence that says a failure is the spec BECAUSE's (record.Failure.consequence), in LANGUAGE."""
    if not because:
        return ""
    return i18n.translator(language)._(
        "This spec fails as a consequence of %(spec)s: it needs that behaviour first, and it failed here too. Fix %(spec)s first.", spec=because)


def message_text(parts: Any, language: str = "en") -> str:
    """A failure's parts (record.Failure) as one plain text, as its ``text()`` (the record's
    ``message``) lays them out, with the grader's own words in LANGUAGE."""
    t = i18n.translator(language)
    parts = said(parts, language)
    head = joined(parts.done, parts.observed)
    lines = [_consequence(parts.because, language)] if parts.because else []
    lines += [head] if head else []
    if parts.expected:
        lines.append(t._("Expected: %(text)s", text=parts.expected))
    lines += parts.evidence
    if parts.fix:
        lines.append(parts.fix)
    lines += [transcript_text(tr, language) for tr in parts.transcripts]
    return "\n".join(lines)


# --- a transcript, in the report's language ------------------------------------------------

#: The labels of the programs the grader itself runs (conformance/run/, a spec), as a transcript names them.
LABELS = (N_("the build"), N_("the strace probe"), N_("the evidence probe (cat)"), N_("the runtime probe"), N_("a short-lived process"))
_LABEL = re.compile(r"(?P<who>your|the reference) `(?P<program>[^`]+)`(?P<rest>.*)", re.S)
_ENDED = (
    (re.compile(r"exited with status (?P<code>-?\d+)"), N_("exited with status %(code)s")),
    (re.compile(r"killed by signal (?P<number>\d+) \((?P<signal>[^)]+)\)"), N_("killed by signal %(number)s (%(signal)s)")),
)
_STDIN_FAILED = re.compile(r"writing stdin failed after (?P<n>\d+) bytes: (?P<reason>.*)", re.S)
#: Why writing a program's stdin failed, as conformance/run/process.py says it.
STDIN_REASONS = (N_("the program had closed its stdin, or exited (EPIPE)"), N_("the grader had closed it"))
_BINARY = re.compile(r"binary, (?P<n>\d+) bytes: (?P<dump>.*)", re.S)


def transcript_text(tr: Any, language: str = "en") -> str:
    """TR (record.Transcript) as plain text, as its ``text()`` lays it out, with the grader's own
    words in LANGUAGE: who ran, the byte counts, "(empty)", the stdin note, how it ended. What
    the program wrote stays as it wrote it (a hexdump's offsets and bytes too)."""
    if language == "en":
        return tr.text()
    t = i18n.translator(language)
    parts = [f"$ {tr.command}   (" + t._("%(label)s, pid %(pid)s", label=label_said(tr.label, t), pid=tr.pid) + ")"]
    if tr.stdin_bytes:
        parts.append(t._("stdin: %(n)s bytes written", n=tr.stdin_bytes))
    if tr.stdin_note:
        m = _STDIN_FAILED.fullmatch(tr.stdin_note)
        reason = (t._(m["reason"]) if m["reason"] in STDIN_REASONS else m["reason"]) if m else ""
        parts.append("stdin: " + (t._("writing stdin failed after %(n)s bytes: %(reason)s", n=m["n"], reason=reason) if m else tr.stdin_note))
    for name, shown, length in (("stdout", tr.stdout, tr.stdout_bytes), ("stderr", tr.stderr, tr.stderr_bytes)):
        binary = _BINARY.fullmatch(shown) if length else None
        if binary:
            shown = t._("binary, %(n)s bytes: %(dump)s", n=binary["n"], dump=binary["dump"])
        parts.append(t._("%(stream)s (%(n)s bytes): %(shown)s", stream=name, n=length, shown=shown) if length else t._("%(stream)s: (empty)", stream=name))
    if tr.status:
        parts.append(next((t._(message, **m.groupdict()) for pattern, message in _ENDED if (m := pattern.fullmatch(tr.status))), tr.status))
    return "\n".join("    " + p for p in parts)


def label_said(label: str, t: i18n.Translator) -> str:
    """LABEL, who a program is (``your `pipe relay```, ``the build``), as T says it: the
    implementations' labels (implementation.py, with a host or ``(under strace)`` after them)
    and the grader's own programs' (LABELS); any other as written."""
    if t.language == "en":
        return label
    m = _LABEL.fullmatch(label)
    if not m:
        return t._(label) if label in LABELS else label
    said = t._("your `%(program)s`", program=m["program"]) if m["who"] == "your" else t._("the reference `%(program)s`", program=m["program"])
    host = re.fullmatch(r" on host (\S+)", m["rest"])
    if host:
        return t._("%(label)s on host %(host)s", label=said, host=host[1])
    if m["rest"] == " (under strace)":
        return t._("%(label)s (under strace)", label=said)
    return said + m["rest"]


def plain(f: Failure, *, hint: bool = True, language: str = "en") -> str:
    """F as plain-text sections (Gradescope, PrairieLearn, JUnit): expected, observed, what the
    kernel showed, the fix, the hint (unless the format shows it elsewhere), the transcripts."""
    t = i18n.translator(language)
    sections = [t._("Expected: %(text)s", text=f.expected), t._("Observed: %(text)s", text=f.observed or t._("(no details)"))]
    if f.evidence:
        sections.append(t._("What the kernel showed:") + "\n" + "\n".join(f"- {line}" for line in f.evidence))
    if f.fix:
        sections.append(t._("Fix: %(text)s", text=f.fix))
    if hint and f.hint:
        sections.append(t._("Hint: %(text)s", text=clean(f.hint)))
    if f.transcript:
        sections.append(t._("Transcript:") + "\n" + f.transcript)
    return "\n\n".join(sections)


def _dedent(text: str) -> str:
    lines = text.splitlines()
    indents = [len(line) - len(line.lstrip(" ")) for line in lines if line.strip()]
    cut = min(indents, default=0)
    return "\n".join(line[cut:] for line in lines)


def clean(text: str) -> str:
    """TEXT with nothing a reader would act on: control and format characters (a student's
    output may hold terminal escapes, NUL bytes, bidi overrides) become visible escapes such as
    \\x1b and \\u202e; tabs and newlines stay (record.visible, the one way). Each medium's own
    escaping comes on top (inert.py)."""
    return visible(text)


def truncate(text: str, limit: int, what: str = "the JSON run record") -> str:
    """TEXT cut to about LIMIT characters, keeping its head and tail, saying where the rest is."""
    if len(text) <= limit:
        return text
    head = text[: limit * 2 // 3]
    tail = text[-(limit // 3) :]
    return f"{head}\n[... {len(text) - len(head) - len(tail)} characters cut: the whole text is in {what} ...]\n{tail}"


def one_sentence(text: str) -> str:
    """The first sentence of TEXT (a run's reason), on one line, ending in its full stop (a
    reason written as a clause gets one, so that the next sentence does not run on)."""
    flat = " ".join(text.split())
    m = re.search(r"(?<=[.!?])\s", flat)
    first = flat[: m.start()] if m else flat
    return first if not first or first.endswith((".", "!", "?")) else first + "."


def says_more(text: str) -> bool:
    """TEXT holds more than its first sentence (so a report shows it whole below that one)."""
    return " ".join(text.split()).rstrip(".") != one_sentence(text).rstrip(".")


def time_fields(record: RunRecord) -> dict[str, str]:
    """The documented time fields of a record (docs/run-record.md), as reports show them."""
    out = {}
    if record.meta.get("started_at"):
        out["started_at"] = str(record.meta["started_at"])
    if record.meta.get("duration_s") is not None:
        out["duration_s"] = f"{float(record.meta['duration_s']):.1f} s"
    return out
