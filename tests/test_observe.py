"""Kernel observation reads /proc exactly, and waits without sleeping."""

from __future__ import annotations

import os
import time

import pytest
import sysv_ipc

from conformance.kernel import observe, syscalls, waits
from conformance.outcomes import SpecTimeout


def test_wait_until_blocked_returns_as_soon_as_the_process_sleeps_in_read(sup):
    cat = sup.spawn(["cat"], cwd="/", label="cat")
    t0 = time.monotonic()
    blocked = waits.wait_until_blocked(cat.pid, {"read"}, 5)
    assert time.monotonic() - t0 < 1
    assert blocked.syscall.name == "read" and blocked.syscall.args[0] == 0
    assert "sleeps in read" in str(blocked)


def test_wait_until_blocked_names_what_the_process_does_instead(sup):
    cat = sup.spawn(["cat"], cwd="/", label="cat")
    waits.wait_until_blocked(cat.pid, {"read"}, 5)
    with pytest.raises(SpecTimeout, match=r"did not block in msgrcv within 0.2 s.\npid \d+ \(cat\) is sleeping in read"):
        waits.wait_until_blocked(cat.pid, {"msgrcv"}, 0.2)


def test_wait_until_blocked_notices_an_exit(sup):
    p = sup.spawn(["true"], cwd="/", label="true")
    p.wait(5)
    with pytest.raises(waits.ProcessGone):
        waits.wait_until_blocked(p.pid, {"read"}, 5)


def test_a_read_in_uninterruptible_sleep_is_not_a_wait_for_input(sup, monkeypatch):
    """State D in read(2) is the disk (a Python program reading its modules on a cold page cache
    shows it before it made any pipe or child), not a wait for input: neither blocked in read
    nor asleep. The same process in S is both."""
    cat = sup.spawn(["cat"], cwd="/", label="cat")
    waits.wait_until_blocked(cat.pid, {"read"}, 5)
    assert observe.blocked_now(cat.pid, {"read"}) and observe.asleep(cat.pid)
    monkeypatch.setattr(observe, "state_of_thread", lambda pid, tid: "D")
    assert observe.blocked_now(cat.pid, {"read"}) is None and not observe.asleep(cat.pid)


def test_fds_tell_pipe_ends_apart(sup):
    cat = sup.spawn(["cat"], cwd="/", label="cat")
    fds = observe.fds(cat.pid)
    assert fds[0].kind == "pipe" and fds[0].access == "r" and fds[0].inode in cat.harness_pipes
    assert fds[1].kind == "pipe" and fds[1].access == "w"
    assert fds[0].inode != fds[1].inode


def test_descendants_and_cpu_ticks(sup):
    sh = sup.spawn(["sh", "-c", "sleep 100 & wait"], cwd="/", label="sh")
    # the child is sh until it execs sleep: wait for the exec, not just the fork
    kids = sh.wait_for(lambda: [p for p in observe.descendants(sh.pid) if observe.comm(p) == "sleep"], 5, "sh started sleep")
    assert observe.read_stat(kids[0]).ppid == sh.pid
    assert observe.cpu_ticks(sh.pid) is not None


def test_sysvipc_rows_by_column_name():
    key = 0x5EED0000 + os.getpid() % 0xFFFF
    q = sysv_ipc.MessageQueue(key, sysv_ipc.IPC_CREX, mode=0o600)
    try:
        q.send(b"hello", type=7)
        rows = [r for r in observe.sysvipc("msg") if r["key"] == key]
        assert rows and rows[0]["qnum"] == 1 and rows[0]["cbytes"] == 5 and rows[0]["perms"] == 0o600
    finally:
        q.remove()
    assert not [r for r in observe.sysvipc("msg") if r["key"] == key]


def test_syscall_tables():
    assert syscalls.X86_64[0] == "read" and syscalls.X86_64[70] == "msgrcv" and syscalls.X86_64[202] == "futex"
    assert syscalls.AARCH64[63] == "read" and syscalls.AARCH64[188] == "msgrcv" and syscalls.AARCH64[98] == "futex"
    assert syscalls.numbers({"pause", "rt_sigsuspend"}, "aarch64") == {133}
