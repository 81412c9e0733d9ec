"""The run record and the vocabulary it is written in: the leaf both sides share.

The grader (``conformance``) writes a run record; the reports (``grading``) are pure functions
of one. Both use this module, and this module imports neither: here are the mechanisms in
their order, the statuses a spec can end in and what each means for points and reports, and
the record itself (its fields are documented in docs/run-record.md; a change that removes or
renames one is a new version).

    manifest -> runner -> kernel observation -> spec verdict -> RunRecord -> renderers
"""

from __future__ import annotations

import enum
import errno
import json
import os
import re
import select
import stat as stat_mod
import tempfile
import threading
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

VERSION = 1


# --- the mechanisms ----------------------------------------------------------------------


@dataclass(frozen=True)
class Mechanism:
    name: str
    """The manifest key in ``[programs]`` and the prefix of every spec id."""
    title: str
    roles: tuple[str, ...]
    """The first argument each program accepts (contract section 3)."""
    program: str
    """The reference's file for it (and the template's stub)."""
    smoke: str
    """A quick spec that shows a grader can grade this mechanism at all, here: an installation
    proves itself by passing the bundled reference on each mechanism's (grading/kits/selftest.py)."""


#: The registry of mechanisms: the one list every other part derives from, in report order.
#: docs/adding-a-mechanism.md lists what else a new one touches; tests/test_registry.py checks.
MECHANISMS: dict[str, Mechanism] = {
    m.name: m
    for m in (
        Mechanism("pipe", "Anonymous pipes", ("relay", "duplex"), "pipe.py", "pipe.uses-pipe"),
        Mechanism("fifo", "Named pipes (FIFOs)", ("write", "read"), "fifo.py", "fifo.open-blocks-until-peer"),
        Mechanism("signal", "Signals", ("catch", "child", "send"), "signals.py", "signal.handles-usr1"),
        Mechanism("msgq", "System V message queues", ("send", "recv", "rm"), "msgq.py", "msgq.uses-sysv-queue"),
        Mechanism("mqueue", "POSIX message queues", ("send", "recv", "unlink"), "mqueue.py", "mqueue.uses-posix-queue"),
        Mechanism("shm", "Shared memory", ("write", "read", "rm", "fork", "counter"), "shm.py", "shm.roundtrip"),
        Mechanism("buffer", "Bounded buffer (producer/consumer)", ("init", "produce", "consume", "destroy"), "buffer.py", "buffer.blocks-when-empty"),
        Mechanism(
            "socket",
            "Sockets",
            ("tcp-server", "tcp-client", "udp-server", "udp-client", "unix-server", "unix-client"),
            "sockets.py",
            "socket.uses-sockets",
        ),
        Mechanism("rpc", "Remote procedure calls", ("server", "client"), "rpc.py", "rpc.call-returns-result"),
    )
}


def mechanism_order(name: str) -> int:
    """NAME's place in the registry (an unknown name sorts last)."""
    order = list(MECHANISMS)
    return order.index(name) if name in order else len(order)


# --- the statuses --------------------------------------------------------------------------


class Status(str, enum.Enum):
    """LTP's three outcomes, widened for grading (see StatusInfo for what each means)."""

    PASSED = "passed"
    FAILED = "failed"
    TIMEOUT = "timeout"
    NOT_IMPLEMENTED = "not-implemented"
    UNSUPPORTED = "unsupported"
    BROKEN = "broken"


@dataclass(frozen=True)
class StatusInfo:
    status: Status
    counted: bool
    """Its points count toward the maximum. Unsupported (the machine lacks a feature) is
    nobody's doing and does not. Broken (the grader failed twice) does, with 0 points, so that
    it can never raise a score, not even as a percentage; the submission is marked for
    regrading (RunRecord.regrade), and a rubric may leave broken specs out (broken = "exclude")."""
    charged: bool
    """The submission's doing: it fails a required spec and is listed as a problem."""
    explained: bool
    """A report explains it spec by spec: what was expected and observed, the transcripts."""
    words: str
    """How a report says it in a sentence."""
    junit: str | None
    """The JUnit element it becomes (failure, error, skipped), None when passed."""
    color: str
    """ANSI SGR colour for the terminal."""
    icon: str
    """Markdown's icon."""
    note: str = ""
    """What it means for the student, where that needs saying."""


STATUS: dict[str, StatusInfo] = {
    i.status.value: i
    for i in (
        StatusInfo(Status.PASSED, True, False, False, "passed", None, "32", "✅"),
        StatusInfo(Status.FAILED, True, True, True, "failed", "failure", "31", "❌"),
        StatusInfo(Status.TIMEOUT, True, True, True, "timed out", "failure", "31", "⏱️"),
        StatusInfo(Status.NOT_IMPLEMENTED, True, True, False, "not implemented", "skipped", "33", "⬜"),  # pytest calls it skipped too
        StatusInfo(
            Status.UNSUPPORTED, False, False, False, "unsupported here (not counted)", "skipped", "36", "➖",
            "This machine lacks a feature this spec needs; it does not count toward the score.",
        ),
        StatusInfo(
            Status.BROKEN, True, False, True, "grader failure (0 points until regraded)", "error", "35", "⚠️",
            "The grader itself failed on this spec, twice: it is not your doing, and it counts 0 points until your instructor regrades it.",
        ),
    )
}
STATUSES = tuple(STATUS)

#: Who may see a spec's details, in Gradescope's words (docs/rubric.md): always, never, after
#: the due date, or after the grades are published. Set by a rubric; "visible" without one.
VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")


# --- a failure, as data --------------------------------------------------------------------


@dataclass
class Transcript:
    """One program the spec ran, as the reports show it."""

    command: str
    """Its command line, as a shell would show it."""
    label: str
    """Who it is in the messages (`your \\`pipe relay\\``)."""
    pid: int
    stdin_bytes: int = 0
    """Bytes of stdin it accepted."""
    stdout: str = ""
    """What it printed, readable: escaped, long runs collapsed, head and tail kept."""
    stdout_bytes: int = 0
    stderr: str = ""
    stderr_bytes: int = 0
    status: str = ""
    """How it ended (`exited with status 1`), or "" if it was still running."""
    stdin_note: str = ""
    """Why the grader could not write all it meant to (the program had closed its stdin)."""

    def text(self) -> str:
        """The transcript as plain text, indented, as messages have always shown it."""
        parts = [f"$ {self.command}   ({self.label}, pid {self.pid})"]
        if self.stdin_bytes:
            parts.append(f"stdin: {self.stdin_bytes} bytes written")
        if self.stdin_note:
            parts.append(f"stdin: {self.stdin_note}")
        for name, shown, length in (("stdout", self.stdout, self.stdout_bytes), ("stderr", self.stderr, self.stderr_bytes)):
            parts.append(f"{name} ({length} bytes): {shown}" if length else f"{name}: (empty)")
        if self.status:
            parts.append(self.status)
        return "\n".join("    " + p for p in parts)


@dataclass
class Failure:
    """Why a spec did not pass, in parts a report lays out as it likes."""

    observed: str
    """What happened (the sentence a student reads first)."""
    expected: str = ""
    """What should have happened, when it says more than the spec's title."""
    done: str = ""
    """What the grader did to get there (the steps)."""
    evidence: list[str] = field(default_factory=list)
    """What the kernel showed, a sentence each."""
    fix: str = ""
    """What to change, for this failure (the spec's hint is the general advice)."""
    transcripts: list[Transcript] = field(default_factory=list)
    because: str = ""
    """The id of another spec whose behaviour this one needed on the way to its own, when that
    is what failed: this spec fails as a consequence, and the other says what to fix."""
    words: dict[str, Any] = field(default_factory=dict)
    """The parts said as sentences (outcomes.Sentence): part -> {template, values} ("evidence":
    a list, None where a line is plain text), so a report says them in its own language."""

    def consequence(self) -> str:
        """The sentence that says this failure is another spec's, or ''."""
        if not self.because:
            return ""
        return f"This spec fails as a consequence of {self.because}: it needs that behaviour first, and it failed here too. Fix {self.because} first."

    def text(self) -> str:
        """All of it as one plain text: the record's ``message``."""
        head = joined(self.done, self.observed)
        lines = [self.consequence()] if self.because else []
        lines += [head] if head else []
        if self.expected:
            lines.append(f"Expected: {self.expected}")
        lines += self.evidence
        if self.fix:
            lines.append(self.fix)
        lines += [t.text() for t in self.transcripts]
        return "\n".join(lines)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Failure:
        transcripts = [Transcript(**_known(Transcript, t)) for t in data.get("transcripts", [])]
        return cls(**{**_known(cls, data), "transcripts": transcripts})


def joined(done: str, observed: str) -> str:
    """What was done, then what was observed: one sentence after another, or, after a list of
    steps, on a line of its own."""
    done, observed = done.rstrip(), observed.strip()
    if not done or not observed:
        return done or observed
    return f"{done}\n{observed}" if "\n" in done else f"{done} {observed}"


def _known(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k in cls.__dataclass_fields__}


# --- what programs leave behind ----------------------------------------------------------

#: The kinds of what a spec's programs may leave behind (a spec's ``left_behind``), by key, and
#: how a report names one and many.
LEFT_BEHIND: dict[str, tuple[str, str]] = {
    "msg": ("System V message queue", "System V message queues"),
    "shm": ("System V shared memory segment", "System V shared memory segments"),
    "sem": ("System V semaphore set", "System V semaphore sets"),
    "mqueue": ("POSIX message queue", "POSIX message queues"),
    "posix_shm": ("POSIX shared memory object", "POSIX shared memory objects"),
    "posix_sem": ("POSIX named semaphore", "POSIX named semaphores"),
    "files": ("file in a shared temporary directory", "files in the shared temporary directories"),
}
#: The specs about cleaning up: there, what the programs left behind is an IPC leak finding the
#: student sees too (elsewhere the instructor alone sees it).
CLEANUP_SPECS = frozenset({
    "msgq.rm-removes", "mqueue.unlink", "shm.rm-removes", "shm.fork-shares", "shm.counter-cleans-up",
    "buffer.destroy-cleans-up", "socket.unix-cleanup",
})


def left_behind_words(counts: dict[str, int]) -> str:
    """``3 System V message queues and 1 POSIX named semaphore`` ('' for nothing)."""
    parts = [f"{n} {LEFT_BEHIND.get(k, (k, k))[n != 1]}" for k, n in counts.items() if n]
    if len(parts) < 2:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


# --- the record ----------------------------------------------------------------------------


@dataclass
class SpecResult:
    id: str
    mechanism: str
    title: str
    status: str
    points: float
    max_points: float
    message: str = ""
    duration_s: float = 0.0
    hint: str = ""
    nodeid: str = ""
    visibility: str = "visible"
    """One of VISIBILITIES: whether students may see this spec's details (a rubric sets it)."""
    required: bool = False
    """The rubric requires this spec to pass (``ipc-grade --check-required``)."""
    evidence_unavailable: str = ""
    """For an unsupported spec: the source of kernel evidence it needed and this machine does not
    show (a key of the run's ``evidence_unavailable``), else ''."""
    failure: Failure | None = None
    """For a spec that failed or timed out: its parts (``message`` is their text)."""
    timeline: dict[str, Any] | None = None
    """What happened in the spec, in time (conformance/run/timeline.py): lanes of processes with
    what each did when, and the events between them and the grader. Bounded in size."""
    trace: str = ""
    """For a broken spec: the grader's own traceback, for its maintainers (reports show it to
    instructors only, never to students)."""
    integrity: list[str] = field(default_factory=list)
    """What the submission's processes did with the grader's own files (integrity.py): a spec
    with a finding fails, whatever it printed. Shown to the instructor above all."""
    left_behind: dict[str, int] = field(default_factory=dict)
    """What the programs left when the spec ended, which the grader then removed
    (conformance/run/leftovers.py): how many of each kind of LEFT_BEHIND ({} for nothing). Shown
    to the instructor, and to the student in a spec about cleanup (CLEANUP_SPECS)."""

    interference: list[str] = field(default_factory=list)
    """What another grading on the machine did while this spec ran (filled a table it shares, took
    a name it handed out: keeper.py), an attempt each; such an attempt says nothing of the
    submission and the spec is judged again (plugin/retry.py). For the instructor."""
    schedule: dict[str, Any] | None = None
    """For a spec that controls how its programs' processes interleave (conformance/run/schedule,
    docs/schedules.md): the schedules it explored, their seed, the processes and points, the
    failing schedule if one failed, and ``guarantee``, the sentence every report shows; None for
    the other specs."""

    @property
    def leak(self) -> str:
        """What the programs left behind, in words ('' for nothing)."""
        return left_behind_words(self.left_behind)

    @property
    def info(self) -> StatusInfo:
        return STATUS[self.status]

    @property
    def counted(self) -> bool:
        return self.info.counted

    @property
    def advice(self) -> str:
        """The hint to show with this spec's failure: none when it failed as a consequence of
        another spec (Failure.because), whose own hint says what to fix."""
        return "" if self.failure is not None and self.failure.because else self.hint

    @property
    def hidden(self) -> bool:
        """Students may not see this spec's details now (anything but "visible")."""
        return self.visibility != "visible"

    @property
    def parts(self) -> Failure:
        """The failure's parts; for a spec that carries only a message, that message observed."""
        return self.failure if self.failure is not None else Failure(observed=self.message)


@dataclass
class RunRecord:
    implementation: dict[str, str]
    specs: list[SpecResult] = field(default_factory=list)
    error: str | None = None
    """Why the run could not grade anything (no manifest, build failed, crash), or None."""
    meta: dict[str, Any] = field(default_factory=dict)
    """Run facts: grader and contract version, isolation, deadline scale, Hypothesis profile,
    seed, start time and duration. Time fields are named *_at or duration_s."""

    def __post_init__(self) -> None:
        self.specs.sort(key=spec_order)

    @property
    def score(self) -> float:
        """The points earned; 0 for a run that could not grade (``error`` is set)."""
        if self.error is not None:
            return 0.0
        return round(sum(s.points for s in self.specs if s.counted), 6)

    @property
    def max_score(self) -> float:
        return round(sum(s.max_points for s in self.specs if s.counted), 6)

    @property
    def regrade(self) -> str | None:
        """Why an instructor must regrade this submission (a spec the grader could not judge,
        even on a second attempt: it counts 0 points meanwhile), or None."""
        broken = [s for s in self.specs if s.status == Status.BROKEN.value]
        if not broken:
            return None
        first = next((line for line in broken[0].message.splitlines() if line.strip() and not line.startswith("The grader could not judge")), "")
        return f"the grader could not judge {', '.join(s.id for s in broken)} (0 points until regraded): {first.strip()}".rstrip(": ")

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(STATUSES, 0)
        for s in self.specs:
            out[s.status] = out.get(s.status, 0) + 1
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "version": VERSION,
            "implementation": dict(self.implementation),
            "score": self.score,
            "max_score": self.max_score,
            "error": self.error,
            "counts": self.counts(),
            "regrade": self.regrade,
            **self.meta,
            "specs": [_spec_json(s) for s in self.specs],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunRecord:
        if data.get("version") != VERSION:
            raise ValueError(f"run record version {data.get('version')!r}: this grader reads version {VERSION}")
        known = {"version", "implementation", "score", "max_score", "error", "counts", "regrade", "specs"}
        specs = []
        for s in data["specs"]:
            fields = _known(SpecResult, s)
            if fields.get("failure") is not None:
                fields["failure"] = Failure.from_json(fields["failure"])
            specs.append(SpecResult(**fields))
        meta = {k: v for k, v in data.items() if k not in known}
        return cls(implementation=data["implementation"], specs=specs, error=data.get("error"), meta=meta)


def _spec_json(spec: SpecResult) -> dict[str, Any]:
    """SPEC's JSON data. Its values are shared, not copied (``asdict`` deep-copied every timeline
    for every write of a running record): what makes it a file (``dumps``) builds new ones."""
    data = {f.name: getattr(spec, f.name) for f in fields(spec)}
    if spec.failure is not None:
        data["failure"] = asdict(spec.failure)
    return data


def spec_order(spec: SpecResult) -> tuple[int, str]:
    return (mechanism_order(spec.mechanism), spec.id)


# --- text from a submission, made visible -------------------------------------------------

#: What no record or report shows as it is: C0 controls but tab and newline, DEL and the C1
#: controls, Unicode's format characters (bidi overrides and isolates, zero-width spaces and
#: joiners, the soft hyphen, tag characters), the line and paragraph separators, lone surrogates
#: and noncharacters. Each acts on a reader (a terminal obeys ESC; bidi controls reorder what a
#: page shows; U+2028 ends a line) or is not text XML may hold. tests/test_inert.py checks the
#: list against unicodedata (categories Cc, Cf, Zl, Zp, Cs).
INVISIBLE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\xad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e"
    "\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ud800-\udfff\ufdd0-\ufdef\ufeff\ufff9-\ufffb"
    "\ufffe\uffff\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    "\U000e0001\U000e0020-\U000e007f"
    + "".join(f"\\U{plane:04x}fffe\\U{plane:04x}ffff" for plane in range(0x1, 0x11))  # each plane's last two
    + "]"
)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def visible(text: str) -> str:
    """TEXT with every character of INVISIBLE written as an escape (``\\x1b``, ``\\u202e``);
    tabs and newlines stay. The one way the record, and every report from it, makes text that
    may come from a submission (program output, process and file names, the manifest's fields)
    visible: what it returns holds nothing a terminal, a page or an XML parser would act on.
    Idempotent: an escape is plain text."""
    return INVISIBLE.sub(_escape, text)


def visible_data(value: Any) -> Any:
    """VALUE (a record's JSON data) with every string made visible."""
    if isinstance(value, str):
        return visible(value)
    if isinstance(value, dict):
        return {k: visible_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [visible_data(v) for v in value]
    return value


def dumps(record: RunRecord) -> str:
    """RECORD as its JSON file. Every string in it is made visible first (``visible``), so
    the file holds no control character, even as a JSON escape: what a program printed reads
    back as the same text a report shows."""
    text = json.dumps(visible_data(record.to_json()), indent=2, sort_keys=False, ensure_ascii=False)
    return text + "\n"


#: A timeline's JSON text, made once per timeline object (``dumps_running``): id -> (object, text).
_TIMELINE_TEXT: dict[int, tuple[Any, str]] = {}


def _timeline_text(timeline: dict[str, Any]) -> str:
    hit = _TIMELINE_TEXT.get(id(timeline))
    if hit is not None and hit[0] is timeline:
        return hit[1]
    if len(_TIMELINE_TEXT) >= 4096:
        _TIMELINE_TEXT.clear()
    text = json.dumps(visible_data(timeline), ensure_ascii=False, separators=(",", ":"))
    _TIMELINE_TEXT[id(timeline)] = (timeline, text)
    return text


def dumps_running(record: RunRecord) -> str:
    """RECORD as ``dumps`` makes it, without indentation, in time that grows with what is new:
    a running record is written again after every verdict, and each spec's timeline (nine tenths
    of its bytes) is made visible and encoded once, the first time, not at every write (which
    made the writes grow with the square of the specs: 50 s of the controller's CPU, profiled,
    for the C reference's 104). A timeline is never changed once a spec has it."""
    data = record.to_json()
    specs = []
    for spec in data.pop("specs"):
        timeline = spec.pop("timeline")
        text = json.dumps(visible_data(spec), ensure_ascii=False, separators=(",", ":"))
        specs.append(f'{text[:-1]},"timeline":{"null" if timeline is None else _timeline_text(timeline)}}}')
    head = json.dumps(visible_data(data), ensure_ascii=False, separators=(",", ":"))
    return f'{head[:-1]},"specs":[{",".join(specs)}]}}\n'


def write(path: str | os.PathLike[str], record: RunRecord) -> None:
    """Write RECORD to PATH atomically (a reader never sees half a file)."""
    write_text(path, dumps(record))


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write TEXT to PATH as a new regular file, atomically (a reader never sees half of it).

    Nothing at PATH is followed or waited on: a symbolic link there is replaced by the file,
    never written through (a link planted in /tmp cannot make the grader overwrite what it
    names); a FIFO is written only if a reader already has it open, a terminal or /dev/stdout
    as it is. Anything else that is not a regular file is refused.
    """
    path = Path(path)
    if path.is_absolute() and path.parts[1] in ("dev", "proc"):  # /dev/stdout: the system's own links
        _write_stream(path, os.stat(path), text, follow=True)
        return
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        st = None
    if st is not None and not (stat_mod.S_ISREG(st.st_mode) or stat_mod.S_ISLNK(st.st_mode)):
        _write_stream(path, st, text)
        return
    parent = path.parent.resolve()
    parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, parent / path.name)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


#: How long a report may wait for a FIFO's reader to open it, and to read all of it.
STREAM_DEADLINE = 30.0


def _write_stream(path: Path, st: os.stat_result, text: str, follow: bool = False) -> None:
    """A FIFO, a character device such as a terminal or /dev/null, or (FOLLOW, for /dev and
    /proc) what a system link names; never a directory or a socket. Nothing blocks for ever:
    a FIFO nobody opens for reading, or whose reader stops reading, fails after STREAM_DEADLINE."""
    if not (stat_mod.S_ISFIFO(st.st_mode) or stat_mod.S_ISCHR(st.st_mode) or follow and stat_mod.S_ISREG(st.st_mode)):
        raise IsADirectoryError(errno.EISDIR, "not a regular file", str(path))
    flags = os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC | (0 if follow else os.O_NOFOLLOW)
    flags |= os.O_APPEND if stat_mod.S_ISREG(st.st_mode) else 0
    end = time.monotonic() + STREAM_DEADLINE
    waiting = threading.Event()
    while True:
        try:
            fd = os.open(path, flags)
            break
        except OSError as exc:
            if exc.errno != errno.ENXIO:  # ENXIO: a FIFO that nobody has open for reading yet
                raise
            if time.monotonic() >= end:
                raise OSError(errno.ENXIO, f"a FIFO that nobody opened for reading within {STREAM_DEADLINE:.0f} s", str(path)) from None
            waiting.wait(0.05)
    try:
        data = memoryview(text.encode("utf-8"))
        while data:
            try:
                data = data[os.write(fd, data):]
            except BlockingIOError:
                remaining = end - time.monotonic()
                if remaining <= 0 or not select.select([], [fd], [], remaining)[1]:
                    raise OSError(errno.ETIMEDOUT, f"its reader did not read the report within {STREAM_DEADLINE:.0f} s", str(path)) from None
    finally:
        os.close(fd)


def load(path: str | os.PathLike[str]) -> RunRecord:
    return RunRecord.from_json(json.loads(Path(path).read_text(encoding="utf-8")))


def failed_run(implementation: dict[str, str], reason: str, specs: Iterable[SpecResult] = (), **meta: Any) -> RunRecord:
    """A record for a run that could not grade: score 0 and REASON, visible in every report."""
    return RunRecord(implementation=implementation, specs=list(specs), error=reason, meta=meta)
