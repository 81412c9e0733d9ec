"""Specs for `pipe relay` and `pipe duplex`: anonymous pipes between a parent and its child.

pipe(7), pipe(2), fork(2). The seeds: a pipe is one-way, ordered and bounded ("when the buffer
is full ..."), two pipes make a duplex channel, and each process closes the ends it does not
use so that the reader sees end-of-file when the writer closes.
"""

from __future__ import annotations

import os
import signal

from hypothesis import example, given

from conformance import explain, observe
from conformance.outcomes import SpecFailure
from conformance.spec import spec
from conformance.strategies import (
    describe_bytes,
    first_difference,
    payloads,
    spec_settings,
)

MiB = 1 << 20
#: How long a relay may take to pass a payload and exit (several MiB through Python is < 1 s).
EXIT_DEADLINE = 8
#: How long a program gets to reach a state we wait for (fork, block, print a line).
STEP_DEADLINE = 5
#: Window over which a sleeping process must use no CPU (clock ticks are 10 ms).
IDLE_WINDOW = 0.3
IDLE_TICKS = 2


def _kill(pid, sig):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _child(proc, what="its child"):
    """The single child of PROC once it exists."""
    kids = proc.wait_for(lambda: observe.children(proc.pid), STEP_DEADLINE, f"{proc.label} forked {what}")
    return kids[0]


def _assert_idle(proc, pid, who):
    used = proc.cpu_ticks_over(IDLE_WINDOW, pid)
    if used is not None and used > IDLE_TICKS:
        raise SpecFailure(
            f"{who} (pid {pid}) used {used} clock ticks of CPU in {IDLE_WINDOW} s while "
            f"it should sleep: {observe.describe(pid)}. Block in write(2) instead of retrying in a loop."
        )


@spec(
    "pipe.relay-roundtrip",
    points=3,
    hint="Copy until read() returns 0, and loop on write() until every byte is written: a write may be partial.",
)
@spec_settings(max_examples=14)
@given(data=payloads([4095, 4096, 4097, 65535, 65536, 65537, MiB + 3, 3 * MiB]))
@example(data=b"")
@example(data=bytes(range(256)) * 4)
def test_relay_roundtrip(impl, data):
    """Bytes written to the relay come out of its child byte for byte (0 B to several MiB)."""
    relay = impl.run("relay", input=data, timeout=EXIT_DEADLINE, capture_limit=len(data) + 1024)
    if not relay.stdout.matches(data):
        raise SpecFailure(
            f"fed {describe_bytes(data)} to {relay.label}; its output differs: "
            f"{first_difference(data, relay.stdout.data)}.\n{relay.transcript()}"
        )
    if not relay.status.ok:
        raise SpecFailure(f"{relay.label} passed the data but {relay.status}; expected exit status 0.\n{relay.transcript()}")


@spec(
    "pipe.eof-on-close",
    points=3,
    hint="After fork, the child must close the write end and the parent the read end; "
    "the parent closes the write end at EOF on stdin, then waits for the child.",
)
def test_eof_on_close(impl):
    """The relay finishes once its stdin closes: the child sees EOF on the pipe (pipe(7))."""
    relay = impl.spawn("relay")
    relay.write(b"before close\n")
    child = _child(relay)
    relay.close_stdin()
    if relay.exited_within(5):
        relay.wait(STEP_DEADLINE)
        assert relay.stdout.data == b"before close\n", (
            f"{relay.label} exited but printed {relay.stdout.data!r}, expected b'before close\\n'.\n{relay.transcript()}"
        )
        return
    pids = relay.tree()
    roles = explain.roles_of_tree(relay.pid)
    reasons = explain.why_no_eof(pids, roles, exclude=relay.harness_pipes)
    if not reasons:
        reasons = [observe.describe(p) for p in pids]
    raise SpecFailure(
        f"{relay.label} did not exit within 5 s of its stdin closing (child pid {child}). "
        + "; ".join(reasons)
        + f".\n{relay.transcript()}"
    )


@spec(
    "pipe.uses-pipe",
    points=2,
    hint="Create the pipe with pipe(2) before fork(2); the parent writes, the child reads.",
)
def test_uses_pipe(impl):
    """A parent and a child share one pipe: the parent holds its write end, the child its read end."""
    relay = impl.spawn("relay")
    relay.write(b"through the pipe\n")
    relay.wait_blocked(explain.READ_CALLS, STEP_DEADLINE, who=f"the parent (pid {relay.pid}), waiting for more input,")
    kids = observe.children(relay.pid)
    if not kids:
        raise SpecFailure(
            f"{relay.label} (pid {relay.pid}) waits for input without a child process: the relay "
            f"must fork, and send the data through a pipe to its child.\n{relay.transcript()}"
        )
    child = kids[0]
    relay.wait_blocked(explain.READ_CALLS, STEP_DEADLINE, pid=child, who=f"the relay's child (pid {child})")
    pipes = explain.pipe_holders([relay.pid, child], exclude=relay.harness_pipes)
    shared = [
        ino
        for ino, holders in pipes.items()
        if any(p == relay.pid and f.access == "w" for p, f in holders)
        and any(p == child and f.access == "r" for p, f in holders)
    ]
    if not shared:
        held = [f"{'parent' if p == relay.pid else 'child'} {f}" for h in pipes.values() for p, f in h]
        raise SpecFailure(
            f"no pipe has its write end in the parent (pid {relay.pid}) and its read end in the "
            f"child (pid {child}); the pipes they hold, leaving out the grader's own: "
            f"{', '.join(held) or 'none'}.\n{relay.transcript()}"
        )


@spec(
    "pipe.blocks-when-full",
    points=3,
    hint="Read a bounded chunk from stdin, write it all to the pipe, repeat: a full pipe then "
    "blocks your write(2), and you stop reading stdin. Never read all input into memory first.",
)
def test_blocks_when_full(impl):
    """With the child stopped, a full pipe puts the parent to sleep in write and stops it reading stdin."""
    payload = bytes(range(256)) * (8 * MiB // 256)
    relay = impl.spawn("relay", capture_limit=len(payload) + 1024)
    relay.write(b"x")
    child = _child(relay)
    _kill(child, signal.SIGSTOP)
    relay.wait_state("T", STEP_DEADLINE, pid=child)
    relay.feed(payload)
    blocked = relay.wait_blocked(explain.WRITE_CALLS | {"futex"}, STEP_DEADLINE, who=f"the parent (pid {relay.pid})")
    if blocked.syscall.name == "futex":
        raise SpecFailure(f"the parent waits on a lock (futex), not in write: {blocked}.")
    _assert_idle(relay, relay.pid, "the parent")
    # a pipe holds 64 KiB (at most 1 MiB if enlarged): more than half the payload taken means
    # the parent read its input into memory instead of letting the full pipe stop it
    if relay.fed >= len(payload) // 2:
        raise SpecFailure(
            f"while its child was stopped, {relay.label} took {relay.fed} of {len(payload)} bytes "
            f"from its stdin (a pipe holds 64 KiB): it keeps reading input into memory, so "
            f"back-pressure never reaches whoever feeds it. {blocked}."
        )
    _kill(child, signal.SIGCONT)
    relay.wait(EXIT_DEADLINE)
    expected = b"x" + payload
    if not relay.stdout.matches(expected):
        raise SpecFailure(
            f"after SIGCONT the output differs from the input: {first_difference(expected, relay.stdout.data)}.\n{relay.transcript()}"
        )


@spec(
    "pipe.broken-pipe",
    points=2,
    hint="A write to a pipe with no reader fails with EPIPE (or kills you with SIGPIPE by default): "
    "ignore SIGPIPE, catch EPIPE, print `broken pipe` to stderr and exit 1.",
)
def test_broken_pipe(impl):
    """When the child dies mid-stream the parent exits 1 with `broken pipe`: no SIGPIPE death, no hang."""
    relay = impl.spawn("relay")
    relay.write(b"first\n")
    child = _child(relay)
    relay.wait_blocked(explain.READ_CALLS, STEP_DEADLINE, pid=child, who=f"the relay's child (pid {child})")
    _kill(child, signal.SIGKILL)
    relay.feed(b"more data\n" * 400_000)  # 4 MB: more than any pipe holds, so a write must fail
    if not relay.exited_within(STEP_DEADLINE):
        pids = relay.tree()
        holders = explain.pipe_holders(pids, exclude=relay.harness_pipes)
        readers = [f"{'the parent' if p == relay.pid else f'pid {p}'} still holds {f}" for ino, h in holders.items() for p, f in h if f.access in ("r", "rw")]
        raise SpecFailure(
            f"{relay.label} did not exit within {STEP_DEADLINE} s after its child was killed: "
            f"{observe.describe(relay.pid)}"
            + (f"; {'; '.join(readers)}, so its writes never fail (close the read end in the parent)" if readers else "")
            + f".\n{relay.transcript()}"
        )
    status = relay.wait(STEP_DEADLINE)
    if status.signal == signal.SIGPIPE:
        raise SpecFailure(
            f"{relay.label} was {status}: it did not handle the broken pipe. Ignore SIGPIPE "
            f"(signal(SIGPIPE, SIG_IGN)) and handle EPIPE from write(2).\n{relay.transcript()}"
        )
    if status.code != 1 or b"broken pipe" not in relay.stderr.data.lower():
        raise SpecFailure(
            f"after its child was killed, {relay.label} {status} with stderr {relay.stderr.data[-200:]!r}; "
            f"expected exit status 1 and `broken pipe` on stderr.\n{relay.transcript()}"
        )


@spec(
    "pipe.reaps-child",
    points=1,
    hint="Call waitpid(2) for the child before the parent exits; otherwise it lingers as a zombie.",
)
def test_reaps_child(impl):
    """The parent waits for its child before it exits: no zombie is left behind (wait(2))."""
    relay = impl.spawn("relay")
    relay.write(b"data\n")
    child = _child(relay)
    started = observe.read_stat(child)
    relay.close_stdin()
    relay.wait(EXIT_DEADLINE)
    left = observe.read_stat(child)
    if left is not None and started is not None and left.ppid != relay.pid:
        # the parent exited first, so the child came back to the grader (a child subreaper)
        what = "a zombie" if left.state == "Z" else f"still {observe.STATE_NAMES.get(left.state, left.state)}"
        raise SpecFailure(
            f"{relay.label} exited ({relay.status}) without waiting for its child: pid {child} was "
            f"{what} afterwards. Call waitpid() for the child before exiting.\n{relay.transcript()}"
        )


DUPLEX_LINES = [b"hello", b"Hello, World 42!", b"", b"already UPPER", b"caf\xc3\xa9 \xce\xbb mixed", b"a" * 5000, b"tab\tand spaces  "]


@spec(
    "pipe.duplex-request-response",
    points=2,
    hint="For each line: write it to the child, then read the child's whole reply and print it "
    "(flushed) before reading the next line from stdin.",
)
def test_duplex_request_response(impl):
    """Each line sent to duplex gets its upper-case reply before the next line is sent."""
    duplex = impl.spawn("duplex")
    for i, line in enumerate(DUPLEX_LINES):
        duplex.write(line + b"\n")
        reply = duplex.next_line(STEP_DEADLINE, what=f"the reply to line {i + 1} ({describe_bytes(line)})")
        expected = line.upper()
        if reply != expected:
            raise SpecFailure(
                f"line {i + 1} {line[:60]!r} got the reply {reply[:60]!r}; expected {expected[:60]!r} "
                f"(ASCII a-z to upper case, every other byte unchanged).\n{duplex.transcript()}"
            )
    duplex.close_stdin()
    status = duplex.wait(STEP_DEADLINE)
    if not status.ok:
        raise SpecFailure(f"{duplex.label} {status} at EOF; expected exit status 0.\n{duplex.transcript()}")


@spec(
    "pipe.duplex-large-lines",
    points=2,
    hint="The child must read a whole line before it writes the reply: if it streams the reply "
    "while the parent is still writing, both fill their pipes and wait for each other forever.",
)
def test_duplex_large_lines(impl):
    """A 1 MiB line gets its reply through duplex with no deadlock."""
    line = (b"abcdefghijklmnopqrstuvwxyz0123456789" * (MiB // 36 + 1))[:MiB]
    duplex = impl.spawn("duplex", capture_limit=4 * MiB)
    duplex.feed(line + b"\nsmall\n")
    try:
        reply = duplex.next_line(EXIT_DEADLINE, what="the reply to a 1 MiB line")
    except BaseException:
        stuck = explain.why_stuck_writing(duplex.tree(), explain.roles_of_tree(duplex.pid), exclude=duplex.harness_pipes)
        if len(stuck) >= 2:
            raise SpecFailure(
                "deadlock on a 1 MiB line: " + "; ".join(stuck) + f".\n{duplex.transcript()}"
            ) from None
        raise
    if reply != line.upper():
        raise SpecFailure(f"the reply to a 1 MiB line differs: {first_difference(line.upper(), reply)}.\n{duplex.transcript()}")
    small = duplex.next_line(STEP_DEADLINE, what="the reply to the line after it")
    if small != b"SMALL":
        raise SpecFailure(f"after the large line, `small` got the reply {small[:60]!r}; expected b'SMALL'.\n{duplex.transcript()}")
    duplex.wait(STEP_DEADLINE)


@spec(
    "pipe.duplex-two-pipes",
    points=1,
    hint="A pipe is one-way: create two with pipe(2), one for each direction, before fork(2).",
)
def test_duplex_two_pipes(impl):
    """Duplex uses two distinct pipes between parent and child, one each way."""
    duplex = impl.spawn("duplex")
    duplex.write(b"ping\n")
    reply = duplex.next_line(STEP_DEADLINE, what="the reply to `ping`")
    assert reply == b"PING", f"`ping` got the reply {reply!r}, expected b'PING'.\n{duplex.transcript()}"
    kids = observe.children(duplex.pid)
    if not kids:
        raise SpecFailure(f"{duplex.label} (pid {duplex.pid}) answered without a child process: duplex must fork.")
    child = kids[0]
    duplex.wait_blocked(explain.READ_CALLS, STEP_DEADLINE, pid=child, who=f"the duplex child (pid {child})")
    pipes = explain.pipe_holders([duplex.pid, child], exclude=duplex.harness_pipes)

    def direction(ino):
        holders = pipes[ino]
        w = {p for p, f in holders if f.access == "w"}
        r = {p for p, f in holders if f.access == "r"}
        if duplex.pid in w and child in r:
            return "down"
        if child in w and duplex.pid in r:
            return "up"
        return None

    found = {direction(ino) for ino in pipes}
    if not {"down", "up"} <= found:
        raise SpecFailure(
            f"expected one pipe from the parent (pid {duplex.pid}) to the child (pid {child}) and "
            f"one back; found "
            + (", ".join(f"pipe:[{ino}] held as " + ", ".join(f"{'parent' if p == duplex.pid else 'child'} {f}" for p, f in h) for ino, h in pipes.items()) or "no pipe between them")
            + "."
        )
