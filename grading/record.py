"""The run record: what one grading run found, as a versioned JSON document.

Every report format is rendered from this record, and nothing else. Its fields are documented
in docs/run-record.md; a change that removes or renames one is a new version.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

VERSION = 1

STATUSES = ("passed", "failed", "timeout", "not-implemented", "unsupported", "broken")
#: Who may see a spec's details, in Gradescope's words (docs/rubric.md): always, never, after
#: the due date, or after the grades are published. Set by a rubric; "visible" without one.
VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")
#: Statuses whose points do not count toward the maximum: the machine lacked a feature
#: (unsupported) or the grader itself failed (broken); neither is charged to the student.
UNCOUNTED = frozenset({"unsupported", "broken"})


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

    @property
    def counted(self) -> bool:
        return self.status not in UNCOUNTED

    @property
    def hidden(self) -> bool:
        """Students may not see this spec's details now (anything but "visible")."""
        return self.visibility != "visible"


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
            **self.meta,
            "specs": [asdict(s) for s in self.specs],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "RunRecord":
        if data.get("version") != VERSION:
            raise ValueError(f"run record version {data.get('version')!r}: this grader reads version {VERSION}")
        known = {"version", "implementation", "score", "max_score", "error", "counts", "specs"}
        specs = [SpecResult(**{k: v for k, v in s.items() if k in SpecResult.__dataclass_fields__}) for s in data["specs"]]
        meta = {k: v for k, v in data.items() if k not in known}
        return cls(implementation=data["implementation"], specs=specs, error=data.get("error"), meta=meta)


def spec_order(spec: SpecResult) -> tuple[int, str]:
    from conformance.mechanisms import MECHANISMS

    order = list(MECHANISMS)
    return (order.index(spec.mechanism) if spec.mechanism in order else len(order), spec.id)


def dumps(record: RunRecord) -> str:
    return json.dumps(record.to_json(), indent=2, sort_keys=False, ensure_ascii=False) + "\n"


def write(path: str | os.PathLike[str], record: RunRecord) -> None:
    """Write RECORD to PATH atomically (a reader never sees half a file)."""
    write_text(path, dumps(record))


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write TEXT to PATH: a regular file atomically (a reader never sees half of it; through
    a symbolic link, the file it names is replaced, not the link); a stream such as /dev/stdout
    or a FIFO is written as it is, never replaced."""
    path = Path(path)
    if path.parts[1:2] in (("dev",), ("proc",)) or path.exists() and not path.is_file():
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return
    target = path.resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load(path: str | os.PathLike[str]) -> RunRecord:
    return RunRecord.from_json(json.loads(Path(path).read_text(encoding="utf-8")))


def failed_run(implementation: dict[str, str], reason: str, specs: Iterable[SpecResult] = (), **meta: Any) -> RunRecord:
    """A record for a run that could not grade: score 0 and REASON, visible in every report."""
    return RunRecord(implementation=implementation, specs=list(specs), error=reason, meta=meta)
