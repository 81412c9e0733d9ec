"""What makes grading cheap must not make it blind (docs/performance.md): the idle check on
schedstat's nanoseconds still tells a sleeper from a spinner, in its short window; specs are
handed out longest first; the mqueue mounts are read once per run."""

from __future__ import annotations

import sys
import time

import pytest
from harness import ROOT

from conformance.catalogue import specs as catalogue_specs
from conformance.outcomes import SpecFailure
from conformance.plugin import durations
from conformance.run import leftovers
from conformance.run.limits import become_subreaper
from conformance.run.supervisor import Supervisor
from conformance.specs.support import settle

REFERENCE = ROOT / "reference"


def test_idle_passes_a_program_asleep_in_read_within_a_few_milliseconds(sup):
    cat = sup.spawn(["cat"], cwd="/", label="cat")
    cat.wait_blocked({"read"}, 5)
    t0 = time.monotonic()
    settle.idle(cat)
    assert time.monotonic() - t0 < 0.2  # the window is IDLE_WINDOW (40 ms), not the ticks' 0.3 s
    assert settle.scheduled_ns(cat.pid) is not None  # this kernel keeps schedstat: the ns check ran


def test_idle_tells_a_spinner_it_spins(sup):
    spinner = sup.spawn([sys.executable, "-c", "while True: pass"], cwd="/", label="spinner")
    with pytest.raises(SpecFailure, match=r"ran or waited for a CPU \d+ ms of 40 ms while it should sleep: it spins"):
        settle.idle(spinner)


def test_idle_tells_a_spinner_that_waits_for_a_cpu_it_spins(sup):
    """Two spinners pinned to one CPU: each runs about half the window and waits the rest, and
    both halves count (a sleeper does neither)."""
    spin = ["taskset", "-c", "0", sys.executable, "-c", "while True: pass"]
    first = sup.spawn(spin, cwd="/", label="first")
    second = sup.spawn(spin, cwd="/", label="second")
    for p in (first, second):
        with pytest.raises(SpecFailure, match="it spins"):
            settle.idle(p)


def test_specs_are_handed_out_longest_first():
    """Under xdist (the workers sort, all alike): the longest first; alone, the modules' order."""
    from types import SimpleNamespace

    from conformance.plugin import _longest_first
    from conformance.plugin.prepare import META

    ids = [m.id for m in catalogue_specs()]
    items = []
    for spec_id in ids:
        item = SimpleNamespace(stash=pytest.Stash())
        item.stash[META] = SimpleNamespace(id=spec_id)
        items.append(item)
    _longest_first(items)
    order = [i.stash[META].id for i in items]
    expected = [durations.EXPECTED.get(i, durations.UNKNOWN) for i in order]
    assert expected == sorted(expected, reverse=True) and sorted(order) == sorted(ids)
    assert order[0] == max(durations.EXPECTED, key=durations.EXPECTED.get)


def test_mqueue_mounts_are_read_once_until_the_run_says_where(monkeypatch):
    reads = []
    monkeypatch.setattr(leftovers, "_is_mqueue", lambda d: reads.append(d) or d == leftovers.DEV_MQUEUE)
    leftovers.set_mqueue_dir("/somewhere/mqueue")
    assert leftovers.mqueue_dirs() == [leftovers.DEV_MQUEUE]
    assert leftovers.mqueue_dirs() == [leftovers.DEV_MQUEUE]
    assert reads == ["/somewhere/mqueue", leftovers.DEV_MQUEUE]
    leftovers.set_mqueue_dir(None)
    leftovers.mqueue_dirs()
    assert reads[2:] == [leftovers.DEV_MQUEUE]


def test_programs_start_through_the_launcher_as_they_did_through_preexec_fn():
    """ipc-launch (run/launch.py) does limits._child_setup's steps: the same user, groups,
    limits, signals and environment as the Python path, and a failed exec is the same error."""
    from conformance.run import launch

    if launch.launcher() is None:
        pytest.skip("no C compiler here: programs start through preexec_fn")
    probe = ("id -u; id -G; ulimit -c; ulimit -n; grep -E '^Sig(Blk|Ign)' /proc/self/status; "
             "echo preload=$LD_PRELOAD; echo renamed=${IPC_LAUNCH_PRELOAD:-none}")
    seen = []
    for without in (False, True):
        become_subreaper()
        s = Supervisor(user=65534, group=65534, env={"PATH": "/usr/bin:/bin", "LD_PRELOAD": ""})
        if without:
            launch._path[:] = [None]
        try:
            p = s.spawn(["sh", "-c", probe], cwd="/", label="probe")
            p.wait(10)
            seen.append(p.stdout.text())
            with pytest.raises(SpecFailure, match="not found"):
                s.spawn(["/nonexistent-ipc-grade/nothing"], cwd="/", label="missing")
        finally:
            s.teardown()
            launch._path[:] = []
    assert seen[0] == seen[1] and seen[0].startswith("65534\n65534\n0\n"), seen
    assert "renamed=none" in seen[0]
