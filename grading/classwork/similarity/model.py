"""What a similarity check found: for each flagged pair of submissions (or of a submission and a
bundled reference), each mechanism's score on both sides and where the shared code is; and
similarity.json, its file. The class page, the gradebook and the side-by-side pages show it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

VERSION = 1


#: k: the length, in filtered characters, of a fingerprinted k-gram (copydetect's noise threshold).
NOISE = 30


#: The winnowing window: a shared run of NOISE + WINDOW - 1 filtered characters is always found.
WINDOW = 6


#: The default threshold, in percent of either side's code.
DEFAULT_THRESHOLD = 50


#: Shared code below this many filtered characters is never flagged.
MIN_SHARED = 100


@dataclass(frozen=True)
class Region:
    """A matching region of one file, in its lines (1-based, inclusive)."""

    file: str
    first: int
    last: int

    def words(self) -> str:
        return f"{self.file}:{self.first}" + (f"-{self.last}" if self.last != self.first else "")


@dataclass(frozen=True)
class Match:
    """What two implementations share for one mechanism."""

    mechanism: str
    score_a: int
    """Percent of A's code (after the template is removed) that B has too."""
    score_b: int
    """Percent of B's code that A has too."""
    shared: int
    """Filtered characters of A's code that B has too."""
    flagged: bool
    regions_a: tuple[Region, ...] = ()
    regions_b: tuple[Region, ...] = ()

    @property
    def score(self) -> int:
        return max(self.score_a, self.score_b)


@dataclass(frozen=True)
class Pair:
    """Two submissions, or a submission (A) and a bundled reference (B), flagged on at least one
    mechanism; MATCHES holds every mechanism they share code for, flagged or not."""

    a: str
    b: str
    reference: bool
    """B is a bundled reference, not a submission."""
    matches: tuple[Match, ...]
    page: str
    """The side-by-side view, relative to OUT."""

    @property
    def score(self) -> int:
        return max((m.score for m in self.flagged), default=0)

    @property
    def flagged(self) -> list[Match]:
        return [m for m in self.matches if m.flagged]

    def match(self, mechanism: str) -> Match | None:
        return next((m for m in self.matches if m.mechanism == mechanism), None)


@dataclass(frozen=True)
class Summary:
    """The outcome of a similarity check: what the class page, the gradebook and similarity.json
    show. Only flagged pairs are kept, sorted by score (highest first), then by name."""

    threshold: int
    submissions: tuple[str, ...]
    references: tuple[str, ...]
    """The bundled references compared, by label."""
    template: bool
    """The template's code was removed."""
    pairs: tuple[Pair, ...] = ()
    notes: tuple[str, ...] = ()
    noise: int = NOISE
    window: int = WINDOW
    min_shared: int = MIN_SHARED

    def of(self, submission: str) -> list[tuple[str, Pair]]:
        """SUBMISSION's flagged pairs as (the other side, pair), in the summary's order."""
        out = []
        for p in self.pairs:
            if p.a == submission:
                out.append((p.b, p))
            elif p.b == submission and not p.reference:
                out.append((p.a, p))
        return out

    def gradebook_cell(self, submission: str) -> str:
        """`other: mechanism score%, ...; other: ...` for every flagged pair of SUBMISSION."""
        return "; ".join(
            f"{other}: " + ", ".join(f"{m.mechanism} {m.score}%" for m in p.flagged) for other, p in self.of(submission)
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "version": VERSION,
            "threshold": self.threshold,
            "noise": self.noise,
            "window": self.window,
            "min_shared": self.min_shared,
            "submissions": list(self.submissions),
            "references": list(self.references),
            "template": self.template,
            "notes": list(self.notes),
            "pairs": [
                {
                    "a": p.a,
                    "b": p.b,
                    "reference": p.reference,
                    "score": p.score,
                    "page": p.page,
                    "mechanisms": [
                        {
                            "mechanism": m.mechanism,
                            "score_a": m.score_a,
                            "score_b": m.score_b,
                            "shared": m.shared,
                            "flagged": m.flagged,
                            "regions_a": [r.words() for r in m.regions_a],
                            "regions_b": [r.words() for r in m.regions_b],
                        }
                        for m in p.matches
                    ],
                }
                for p in self.pairs
            ],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Summary:
        if data.get("version") != VERSION:
            raise ValueError(f"similarity.json version {data.get('version')!r}: this grader reads version {VERSION}")

        def regions(words: list[str]) -> tuple[Region, ...]:
            out = []
            for w in words:
                name, _, lines = w.rpartition(":")
                first, _, last = lines.partition("-")
                out.append(Region(name, int(first), int(last or first)))
            return tuple(out)

        pairs = tuple(
            Pair(
                p["a"],
                p["b"],
                p["reference"],
                tuple(
                    Match(m["mechanism"], m["score_a"], m["score_b"], m["shared"], m["flagged"], regions(m["regions_a"]), regions(m["regions_b"]))
                    for m in p["mechanisms"]
                ),
                p["page"],
            )
            for p in data["pairs"]
        )
        return cls(
            threshold=data["threshold"],
            submissions=tuple(data["submissions"]),
            references=tuple(data["references"]),
            template=data["template"],
            pairs=pairs,
            notes=tuple(data.get("notes", ())),
            noise=data.get("noise", NOISE),
            window=data.get("window", WINDOW),
            min_shared=data.get("min_shared", MIN_SHARED),
        )


def load(path: str | Path) -> Summary:
    return Summary.from_json(json.loads(Path(path).read_text(encoding="utf-8")))


def dumps(summary: Summary) -> str:
    return json.dumps(summary.to_json(), indent=2, ensure_ascii=False) + "\n"

