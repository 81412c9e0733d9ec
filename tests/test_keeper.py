"""How long a flood lasts for the other gradings on the machine (conformance/run/keeper.py).

A grading whose programs flooded a shared table stops them, sweeps what they made and announces
the flood; every other grading's spec that overlapped it is judged again (plugin/retry.py).
The flood ends when its programs are stopped: the sweep only gives room back, and on a loaded
machine it takes seconds, during which the specs judged again start with room to spare. CI
once judged one of the reference's specs broken twice because the announcement ended after the
sweep. A spec that starts while the table is still full is told so by its own first look.
The clock and the tables are faked here; tests/test_attacks.py floods real ones.
"""

from __future__ import annotations

import os
import types

import pytest

from conformance.run import keeper

ROOT = pytest.mark.skipif(os.geteuid() != 0, reason="announcements are root's (an ordinary user's gradings share one user)")
FLOODER = 2_100_000_432


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch, tmp_path):
    c = Clock()
    monkeypatch.setattr(keeper, "time", types.SimpleNamespace(monotonic=c.monotonic))
    events = tmp_path / "uids" / "floods"
    monkeypatch.setattr(keeper, "EVENTS", events)
    monkeypatch.setattr(keeper, "_fenced", None)
    return c


@ROOT
def test_a_flood_ends_when_its_programs_are_stopped_not_when_what_they_made_is_swept(clock, monkeypatch):
    stopped_at = []

    def slow_sweep(*_args, **_kwargs):
        clock.now += 5.0  # 32 000 queues removed on a loaded machine

    monkeypatch.setattr(keeper.leftovers, "sweep", slow_sweep)
    flooder = keeper.Keeper(uid=FLOODER, stop_programs=lambda: stopped_at.append(clock.now))
    flooder._stop_them("your programs held too much", keeper.WORDS["msg"], since=990.0)

    (flood,) = keeper.announcements(0.0)
    assert (flood.start, flood.end, flood.uid, flood.kind) == (990.0, stopped_at[0], FLOODER, keeper.FLOOD)
    # a spec another grading starts once the programs are stopped is not spoiled by it...
    clock.now = stopped_at[0] + 0.5
    honest = keeper.Keeper(uid=None)
    honest._started = clock.now
    assert honest._flooded_by_others(clock.now + 1.0) is None
    # ...and one that ran while they flooded is
    honest._started = 995.0
    assert "flooded the System V message queue table" in honest._flooded_by_others(clock.now)


def test_a_spec_that_starts_while_a_table_is_full_is_interfered_at_once(clock, monkeypatch):
    limit = 32_000
    monkeypatch.setattr(keeper, "usage", lambda: {"msg": (limit, limit)})
    monkeypatch.setattr(keeper, "holders", lambda kind: {FLOODER: limit})
    monkeypatch.setattr(keeper, "held", lambda uid, kind, root=None: 0)
    monkeypatch.setattr(keeper, "PERIOD", 3600.0)  # no look of the watch's thread: only the first one
    honest = keeper.Keeper(uid=None).start()
    try:
        assert honest.interference is not None and f"user {FLOODER} held" in honest.interference
    finally:
        honest._stop.set()
        honest._thread.join()


def test_a_spec_that_starts_with_room_is_not(clock, monkeypatch):
    monkeypatch.setattr(keeper, "usage", lambda: {"msg": (100, 32_000)})
    monkeypatch.setattr(keeper, "PERIOD", 3600.0)
    honest = keeper.Keeper(uid=None).start()
    try:
        assert honest.interference is None and honest.findings == []
    finally:
        honest._stop.set()
        honest._thread.join()
