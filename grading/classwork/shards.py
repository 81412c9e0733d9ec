"""Shards: a deterministic slice of a class, so that many machines grade it and `ipc-grade
merge` combines their results (docs/batch.md, "Beyond one machine").

Shard I of N is every N-th submission in id order, from the I-th: the same submissions give
the same slices on every machine.
"""

from __future__ import annotations

from collections.abc import Sequence

from .submissions import Submission


def parse_shard(value: str) -> tuple[int, int]:
    """I/N as two integers; ValueError with the fix."""
    try:
        i, n = (int(x) for x in value.split("/"))
    except ValueError:
        raise ValueError(f"--shard {value!r}: write it as I/N, such as 0/4 (the first of four shards)") from None
    if n < 1 or not 0 <= i < n:
        raise ValueError(f"--shard {value!r}: I must be from 0 to N-1 and N at least 1, such as 0/4 to 3/4")
    return i, n


def select_shard(submissions: Sequence[Submission], index: int, count: int) -> list[Submission]:
    """Shard INDEX of COUNT: every COUNT-th submission in id order, starting at INDEX."""
    ordered = sorted(submissions, key=lambda s: s.id)
    return [s for n, s in enumerate(ordered) if n % count == index]

