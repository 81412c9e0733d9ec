"""A failing schedule as the timeline shows it: its steps, and the two whose order mattered.

The scheduler keeps the steps it granted (scheduler.trail) and PCT's change points as they
happened (scheduler.changes). The two steps marked are, after the last change point, the first
step another task took on what the dropped task was about to touch (or simply the first step it
took instead), and the dropped task's own step when it ran again: the interleaving that made
the difference. A schedule of depth 1 has no change point: its order came from the tasks'
priorities alone, and the steps marked are the first signal, post or write that another task was
waiting for, and that task's next step.
"""

from __future__ import annotations

from typing import Any

from conformance.outcomes import Sentence

EFFECTS = ("kill", "sem_post", "write", "mutex_unlock", "cond_signal", "msgsnd", "mq_send", "close", "exit")


def timeline_steps(trail: list[dict[str, Any]], cut: int) -> dict[str, Any]:
    """The steps as the record keeps them (the timeline's ``schedule``): ``who``, ``what`` and
    ``on`` as text, and as words (``who_words``, ...) where they are Sentences."""
    return {"steps": [_step(e) for e in trail], "cut": cut}


def _step(entry: dict[str, Any]) -> dict[str, Any]:
    out = {k: str(v) if isinstance(v, str) else v for k, v in entry.items()}
    out.update({f"{k}_words": v.data() for k, v in entry.items() if isinstance(v, Sentence)})
    return out


def marked_steps(scheduler: Any) -> list[int]:
    """Indices in scheduler.trail of the two steps whose order mattered (none when unknown)."""
    trail: list[dict[str, Any]] = scheduler.trail
    changes: list[dict[str, Any]] = scheduler.changes
    if changes:
        change = changes[-1]
        after = [i for i, e in enumerate(trail) if e["step"] >= change["step"]]
        theirs = [i for i in after if trail[i]["tid"] != change["tid"]]
        mine = [i for i in after if trail[i]["tid"] == change["tid"]]
        if not theirs or not mine:
            return []
        same = [i for i in theirs if change["on"] and trail[i]["on"] == change["on"] and i < mine[0]]
        return [same[0] if same else theirs[0], mine[0]]
    for i, e in enumerate(trail):
        if e["what"] in EFFECTS:
            later = [j for j in range(i + 1, len(trail)) if trail[j]["tid"] != e["tid"] and trail[j]["tid"]]
            if later:
                return [i, later[0]]
    return []


__all__ = ["marked_steps", "timeline_steps"]
