"""The supervised runner: clean start, limits, capture, deadlines and a teardown nothing escapes."""

from __future__ import annotations

import os
import signal
import sys
import textwrap
import time

import pytest

from conformance.kernel import observe
from conformance.outcomes import SpecTimeout
from conformance.run.capture import Capture, readable
from conformance.run.limits import become_subreaper
from conformance.run.status import ExitStatus
from conformance.run.supervisor import Supervisor


def run(sup, *argv, **kw):
    p = sup.spawn(list(argv), cwd="/", label="probe", **kw)
    p.close_stdin()
    p.wait(10)
    return p


def test_programs_start_with_default_dispositions_and_empty_mask(sup):
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR2})
    try:
        p = run(sup, "grep", "-E", "^Sig(Ign|Blk)", "/proc/self/status")
    finally:
        signal.signal(signal.SIGINT, old)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGUSR2})
    assert p.stdout.text().split() == ["SigBlk:", "0000000000000000", "SigIgn:", "0000000000000000"]


def test_programs_run_in_their_own_session_with_limits(sup):
    p = run(sup, "sh", "-c", "ulimit -c; ulimit -n; ulimit -f; cut -d' ' -f6 /proc/self/stat; echo $$")
    core, nofile, fsize, sid, pid = p.stdout.text().split()
    assert (core, nofile, fsize) == ("0", "1024", str((256 << 20) // 512))  # dash counts 512-byte blocks
    assert sid == str(p.pid)  # sh is the session leader (cut is its child)


def test_capture_keeps_head_and_tail(sup):
    p = run(sup, sys.executable, "-c", "import sys; sys.stdout.write('h' * 100 + 'x' * 10_000_000 + 't' * 100)", capture_limit=1 << 16)
    assert p.stdout.length == 10_000_200
    assert not p.stdout.complete
    assert p.stdout.data.startswith(b"h" * 100) and p.stdout.data.endswith(b"t" * 100)
    assert b"bytes not kept" in p.stdout.data


def test_capture_digest_checks_big_output_without_keeping_it():
    c = Capture(limit=16)
    for chunk in (b"abc", b"def" * 100):
        c.feed(chunk)
    assert c.matches(b"abc" + b"def" * 100) and not c.matches(b"abc")


@pytest.mark.parametrize(
    "data, shown",
    [
        (b"", ""),
        (b"tab\there\n", "tab\\there\\n"),
        (b"\xff\x00ok", "\\xff\\x00ok"),
        (b"a" * 5000 + b"b", "aaaaaaaa[... 4992 more 'a']b"),
        ("한국어".encode(), "한국어"),
    ],
)
def test_transcripts_escape_and_collapse(data, shown):
    assert readable(data) == shown


def test_a_transcript_of_megabytes_is_as_quick_as_a_line():
    """A failure records its transcripts when it is raised: 8 MiB of output must not cost seconds
    (it cost 15 s per record, and the blocks-when-full spec of a relay mutant took 16 s)."""
    data = bytes(range(256)) * (8 * 1024 * 1024 // 256)
    started = time.process_time()
    line = readable(data, limit=600)
    assert time.process_time() - started < 0.5
    # binary: a short hexdump with offsets, not hundreds of escapes
    assert line.startswith("binary, 8388608 bytes: 0000: 00 01 02") and line.endswith("7ffff0: f0 f1 f2 f3 f4 f5 f6 f7 f8 f9 fa fb fc fd fe ff")
    assert len(line) < 200 and "\\x" not in line
    assert readable(b"x" * (8 << 20)) == "xxxxxxxx[... 8388600 more 'x']"
    text = b"line of text " * (1 << 16)
    started = time.process_time()
    shown = readable(text, limit=600)
    assert time.process_time() - started < 0.5 and len(shown) < 700 and "[... " in shown


def test_every_wait_has_a_deadline(sup):
    p = sup.spawn(["sleep", "100"], cwd="/", label="sleeper")
    t0 = time.monotonic()
    with pytest.raises(SpecTimeout, match="sleeper did not exit within 0.2 s"):
        p.wait(0.2)
    assert time.monotonic() - t0 < 1.5


def test_exit_status_is_decoded(sup):
    p = sup.spawn(["sleep", "100"], cwd="/", label="sleeper")
    p.send_signal(signal.SIGKILL)
    assert str(p.wait(5)) == "killed by signal 9 (SIGKILL)"
    assert str(ExitStatus(3)) == "exited with status 3"


ESCAPE = textwrap.dedent(
    """
    import os, sys, time
    if os.fork() == 0:
        os.setsid()                 # leave the session...
        if os.fork() == 0:          # ...and double-fork: the grandchild is an orphan
            print(os.getpid(), flush=True)
            while True:
                os.pause() if hasattr(os, "pause") else time.sleep(1)
        os._exit(0)
    os.wait()
    """
)


def test_teardown_kills_double_forked_orphans_that_left_the_session():
    become_subreaper()
    sup = Supervisor()
    p = sup.spawn([sys.executable, "-c", ESCAPE], cwd="/", label="escaper")
    orphan = int(p.next_line(10))
    assert observe.state(orphan) in ("S", "R")
    assert observe.read_stat(orphan).session != p.pid
    p.wait(10)
    assert observe.read_stat(orphan).ppid == os.getpid(), "the subreaper adopts the orphan"
    sup.teardown()
    assert observe.state(orphan) is None, "the orphan was killed and reaped"


def test_teardown_reaps_everything_and_reports_what_was_killed():
    become_subreaper()
    sup = Supervisor()
    p = sup.spawn(["sleep", "100"], cwd="/", label="sleeper")
    notes = sup.teardown()
    assert observe.state(p.pid) is None
    assert notes == [f"sleeper (pid {p.pid}) was still running and was killed"]
