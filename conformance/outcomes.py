"""What a spec can end as, and the exceptions that end it so.

LTP's three outcomes, widened for grading: the behaviour is wrong (failed, also when the kernel
proves the programs stuck for good; timeout when a deadline ran out with no such proof), the
submission lacks it (not-implemented), the machine lacks a feature (unsupported: excluded from
the maximum), or the harness itself failed twice (broken: 0 points in the maximum, and the
submission marked for regrading). What the programs did to the grader's own operations is
theirs: failed, with an integrity finding (ProgramsInterfered), never broken.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from .record import Failure, Status


class Sentence(str):
    """A sentence the grader says to a student: its English text (a str, so it joins, formats and
    compares as that text does) that keeps its TEMPLATE and VALUES apart, so that a report in
    another language says it again from them (grading/render/i18n.py, docs/i18n.md).

    TEMPLATE is English with named placeholders (``%(pid)s``; ``%%`` for a percent sign) and is
    the catalogue's msgid: scripts/i18n.py extracts every ``Sentence("...")`` call, so it must
    be a literal. A value may be a Sentence itself, said again in the same language; any other
    value is said as it is (pids, fds, calls, names, a program's bytes).

        Sentence("%(who)s (pid %(pid)s) waits in read on fd %(fd)s", who=role, pid=pid, fd=fd)
    """

    template: str
    values: dict[str, Any]

    def __new__(cls, template: str, **values: Any) -> Sentence:
        self = super().__new__(cls, template % values)
        self.template, self.values = template, values
        return self

    def __reduce__(self) -> tuple[Any, ...]:  # copies (asdict) and pickles keep the parts
        return (_sentence, (self.template, self.values))

    def said_of(self, program: str, instead: Sentence) -> str:
        """This sentence with INSTEAD where its ``program`` value is PROGRAM (``it`` in "your `x`
        exited before it forked its child"), else itself."""
        if self.values.get("program") is not program:
            return self
        return _sentence(self.template, {**self.values, "program": instead})

    def data(self) -> dict[str, Any]:
        """The template and the values, as the record keeps them (Failure.words)."""
        return {"template": self.template, "values": {k: _value_data(v) for k, v in self.values.items()}}


def one_after_another(parts: list[str], separator: str) -> str:
    """PARTS (sentences, or plain text) one after another with SEPARATOR (" ", ", " or "; "), as one
    Sentence that says each part in the report's language: "" for none, the part for one."""
    if len(parts) <= 1:
        return parts[0] if parts else ""
    first, then = one_after_another(parts[:-1], separator), parts[-1]
    if separator == " ":
        return Sentence("%(first)s %(then)s", first=first, then=then)
    if separator == ", ":
        return Sentence("%(first)s, %(then)s", first=first, then=then)
    if separator == "; ":
        return Sentence("%(first)s; %(then)s", first=first, then=then)
    raise ValueError(f"no sentence joins parts with {separator!r}")


def plain(value: Any) -> Any:
    """VALUE (JSON-like data) with every Sentence in it made a plain str: what crosses from a
    worker to the controller must be (execnet sends only the built-in types)."""
    if isinstance(value, str):
        return str(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(plain(v) for v in value)
    return value


def _sentence(template: str, values: dict[str, Any]) -> Sentence:
    return Sentence(template, **values)


def sentence_of(words: Any) -> Sentence | None:
    """The Sentence WORDS keep (``Sentence.data()``, as a record or another process has them),
    its values that are sentences made Sentences again; None when WORDS is none."""
    if not isinstance(words, dict) or not isinstance(words.get("template"), str):
        return None
    return _sentence(words["template"], {k: sentence_of(v) if isinstance(v, dict) else v for k, v in (words.get("values") or {}).items()})


def _value_data(value: Any) -> Any:
    if isinstance(value, Sentence):
        return value.data()
    return value if isinstance(value, int | float) and not isinstance(value, bool) else str(value)


class Explained:
    """A verdict's reasons as data (record.Failure), not prose to be parsed back.

    OBSERVED is what happened, the sentence a student reads first; EXPECTED what should have
    happened, where it says more than the spec's title; DONE what the grader did to get there;
    EVIDENCE what the kernel showed, a sentence each; FIX what to change for this failure (the
    spec's hint is the general advice); PROCS the programs whose transcripts matter (by
    default, the reports show the spec's last programs: a failure cannot go without them).
    """

    def __init__(
        self,
        observed: str = "",
        *,
        expected: str = "",
        done: str = "",
        evidence: Iterable[str] = (),
        fix: str = "",
        procs: Iterable[Any] = (),
    ) -> None:
        self.observed, self.expected, self.done, self.fix = observed, expected, done, fix
        self.evidence = [e for e in evidence if e]
        self.procs = list(procs)
        #: the programs as they were when this was raised (a spec's cleanup may change them after)
        self.records = [p.record() for p in self.procs]
        super().__init__(self.parts().text())

    def with_done(self, done: str) -> Explained:
        """Say what the grader did to get here, when the code that raised this did not know
        (a helper's failure in the middle of a sequence of steps). Returns self, to re-raise."""
        if not self.done:
            self.done = done
            self.args = (self.parts().text(),)
        return self

    because: str = ""
    """Set by needs(): the spec whose behaviour failed on the way to this one's."""

    def parts(self, transcripts: Iterable[Any] = ()) -> Failure:
        return Failure(
            observed=self.observed,
            expected=self.expected,
            done=self.done,
            evidence=list(self.evidence),
            fix=self.fix,
            transcripts=list(transcripts) or list(self.records),
            because=self.because,
            words=self.words(),
        )

    def words(self) -> dict[str, Any]:
        """The parts that are Sentences, as their data (record.Failure.words)."""
        out: dict[str, Any] = {name: value.data() for name in ("observed", "expected", "done", "fix") if isinstance(value := getattr(self, name), Sentence)}
        if any(isinstance(e, Sentence) for e in self.evidence):
            out["evidence"] = [e.data() if isinstance(e, Sentence) else None for e in self.evidence]
        return out


class SpecFailure(Explained, AssertionError):
    """The implementation behaved wrongly: what was done, expected and observed (Explained)."""


class SpecOutcome(BaseException):
    """An outcome that ends the spec at once.

    These derive from BaseException on purpose: Hypothesis shrinks on Exception, and a
    deadline that ran out, a missing program or a missing feature must not be retried for
    every smaller example (a hanging submission would cost a spec many deadlines).
    """


class SpecTimeout(Explained, SpecOutcome):
    """A deadline ran out while waiting for the implementation to do something (Explained)."""

    def again(self, **parts: Any) -> SpecTimeout:
        """This outcome with some of its parts changed (more evidence, a better observation), of
        the same class: a proven deadlock stays proven (SpecDeadlock) when a spec adds to it."""
        fields = {"expected": self.expected, "done": self.done, "evidence": self.evidence, "fix": self.fix, "procs": self.procs, **parts}
        out = type(self)(fields.pop("observed", self.observed), **fields)
        out.because = self.because
        return out


class SpecDeadlock(SpecTimeout):
    """A wait ended before its deadline because the kernel proved that what it waits for can
    never happen (kernel/deadlock.py): every process of the spec asleep, and nothing that could
    wake one of them awake. A wait that catches a SpecTimeout to go on treats it as its deadline
    come early; a spec that ends on it is *failed*, never *timeout*: a proof is a verdict on the
    behaviour, the same on any machine and in every spec, where a deadline that runs out says
    only that time ran out (a slower machine might have made it)."""


class ProgramsInterfered(Explained, SpecOutcome):
    """The grader's own operation failed because of what the submission's programs did: a name
    or key it was about to create taken, a kernel table the programs' user filled, the event
    queue it watches flooded, /dev/shm filled. That is a verdict on the submission, not a
    grader fault: the spec is failed, and FINDING (what the programs did, in a sentence) is an
    integrity finding every report shows the instructor. A BaseException (SpecOutcome), so that
    Hypothesis does not shrink it example after example."""

    def __init__(self, finding: str, **parts: Any) -> None:
        self.finding = finding
        parts.setdefault("fix", Sentence("Leave the grader's objects and the machine's shared tables alone: a program may use only what its command line names."))
        super().__init__(Sentence("integrity: %(finding)s", finding=finding), **parts)


@contextmanager
def needs(spec_id: str) -> Iterator[None]:
    """Steps whose behaviour another spec, SPEC_ID, is aimed at: a spec that must get past them
    to test its own. If they fail, this spec fails as a consequence and says so (its own hint
    would mislead: duplex-two-pipes cannot look for two pipes when no reply ever came), and the
    student is sent to SPEC_ID, which explains the bug.

        with needs("pipe.duplex-request-response"):
            reply = duplex.next_line(deadline.STEP, what="the reply to `ping`")
    """
    try:
        yield
    except (SpecFailure, SpecTimeout) as exc:
        if not exc.because:
            exc.because = spec_id
            exc.args = (exc.parts().text(),)
        raise


class NotImplementedBySubmission(SpecOutcome):
    """The manifest names no program for the mechanism, or its program says `not implemented`."""


class Unsupported(SpecOutcome):
    """This machine lacks a feature the spec needs (strace, network namespaces, ...)."""


class HarnessBroken(SpecOutcome):
    """The grader could not do its own part (not the implementation's fault)."""


#: Exceptions that set the status directly, in the order they are checked.
STATUS_OF_EXCEPTION: tuple[tuple[type[BaseException], Status], ...] = (
    (SpecDeadlock, Status.FAILED),
    (ProgramsInterfered, Status.FAILED),
    (SpecTimeout, Status.TIMEOUT),
    (NotImplementedBySubmission, Status.NOT_IMPLEMENTED),
    (Unsupported, Status.UNSUPPORTED),
    (HarnessBroken, Status.BROKEN),
    (AssertionError, Status.FAILED),
)


def status_of(exc: BaseException) -> Status:
    """The status an exception raised by a spec stands for.

    An exception group (Hypothesis raises one for several distinct failures) takes the status
    of its member that says most about the implementation: a wrong behaviour outweighs a
    deadline, which outweighs a harness failure. Anything unexpected is a harness bug: broken.
    """
    if isinstance(exc, BaseExceptionGroup):
        statuses = [status_of(e) for e in exc.exceptions]
        for s in (Status.FAILED, Status.TIMEOUT, Status.NOT_IMPLEMENTED, Status.BROKEN):
            if s in statuses:
                return s
        return statuses[0] if statuses else Status.BROKEN
    for cls, status in STATUS_OF_EXCEPTION:
        if isinstance(exc, cls):
            return status
    return Status.BROKEN
