"""Specs for `pipe relay` and `pipe duplex`: anonymous pipes between a parent and its child.

pipe(7), pipe(2), fork(2). The seeds: a pipe is one-way, ordered and bounded ("when the buffer
is full ..."), two pipes make a duplex channel, and each process closes the ends it does not
use so that the reader sees end-of-file when the writer closes.
"""

from __future__ import annotations

import signal

from hypothesis import example, given

from conformance import deadline
from conformance.deadline import Deadline
from conformance.outcomes import Sentence, SpecFailure, SpecTimeout, needs
from conformance.spec import spec
from conformance.specs.support import (
    NOT_SHOWN,
    READ_CALLS,
    STATE_NAMES,
    WRITE_CALLS,
    children,
    describe,
    describe_bytes,
    first_difference,
    mechanism,
    payloads,
    pipe_holders,
    read_stat,
    roles_of_tree,
    settle,
    spec_settings,
    state,
    syscall,
    why_no_eof,
    why_stuck_writing,
)

MiB = 1 << 20


def _kill(relay, pid, sig):
    try:
        relay.kill(pid, sig)
    except ProcessLookupError:
        pass


def _vforking(pid: int) -> bool:
    """PID waits in vfork (or a clone with CLONE_VFORK) for its child to exec or exit."""
    if state(pid) != "D":
        return False
    try:
        sc = syscall(pid)
    except NOT_SHOWN:
        return False
    return sc is not None and sc.name in ("vfork", "clone", "clone3")


def _wait(relay, timeout):
    """RELAY's exit status once it exits; at TIMEOUT, the timeout says why no EOF came, where
    the kernel shows it (why_no_eof)."""
    try:
        return relay.wait(timeout)
    except SpecTimeout as exc:
        why = why_no_eof(relay.tree(), roles_of_tree(relay.pid), exclude=relay.harness_pipes)
        raise exc.again(evidence=[*exc.evidence, *why.evidence], fix=exc.fix or why.fix, procs=exc.procs or [relay]) from None


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
    relay = impl.spawn("relay", capture_limit=len(data) + 1024)
    relay.feed(data, close=False)
    if data:  # with its stdin open the relay cannot finish: its child and their pipe are there to see
        mechanism.pipe_to_child(relay, deadline.STEP)
    relay.end_input()
    _wait(relay, deadline.EXIT)
    if not relay.stdout.matches(data):
        raise SpecFailure(
            Sentence("The output of %(program)s differs: %(difference)s.", program=relay.label, difference=first_difference(data, relay.stdout.data)),
            done=Sentence("Fed %(data)s to %(program)s.", data=describe_bytes(data), program=relay.label),
            procs=[relay],
        )
    if not relay.status.ok:
        raise SpecFailure(Sentence("%(program)s passed the data but %(status)s.", program=relay.label, status=relay.status.words()),
                          expected=Sentence("exit status 0"), procs=[relay])


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
    child = relay.child(deadline.STEP)
    mechanism.pipe_to_child(relay, deadline.STEP)  # the end-of-file this spec is about is that pipe's
    relay.close_stdin()
    waited = Deadline(deadline.STEP)
    if relay.finished_within(waited):
        relay.wait(deadline.STEP)
        if relay.stdout.data != b"before close\n":
            raise SpecFailure(Sentence("%(program)s exited but printed %(output)s.", program=relay.label, output=repr(relay.stdout.data)),
                              expected="b'before close\\n'", procs=[relay])
        return
    pids = relay.tree()
    why = why_no_eof(pids, roles_of_tree(relay.pid), exclude=relay.harness_pipes)
    raise SpecFailure(
        Sentence("Once its stdin closed, %(program)s %(did_not_exit)s (child pid %(child)s).", program=relay.label, did_not_exit=relay.did_not_exit(waited), child=child),
        evidence=why.evidence or [describe(p) for p in pids],
        fix=why.fix,
        procs=[relay],
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
    waiting = relay.wait_blocked(READ_CALLS, deadline.STEP, who=Sentence("the parent (pid %(pid)s), waiting for more input,", pid=relay.pid))
    kids = children(relay.pid)
    if not kids:
        raise SpecFailure(
            Sentence("%(program)s (pid %(pid)s) waits for input without a child process.", program=relay.label, pid=relay.pid),
            evidence=[waiting.words()],
            fix=Sentence("The relay must fork, and send the data through a pipe to its child."),
            procs=[relay],
        )
    child = kids[0]
    relay.wait_blocked(READ_CALLS, deadline.STEP, pid=child, who=Sentence("the relay's child (pid %(pid)s)", pid=child))
    pipes = pipe_holders([relay.pid, child], exclude=relay.harness_pipes)
    shared = [
        ino
        for ino, holders in pipes.items()
        if any(p == relay.pid and f.access == "w" for p, f in holders)
        and any(p == child and f.access == "r" for p, f in holders)
    ]
    if not shared:
        held = [f"{'parent' if p == relay.pid else 'child'} {f}" for h in pipes.values() for p, f in h]
        raise SpecFailure(
            Sentence("no pipe has its write end in the parent (pid %(parent)s) and its read end in the child (pid %(child)s).", parent=relay.pid, child=child),
            evidence=[Sentence("the pipes they hold, leaving out the grader's own: %(pipes)s", pipes=", ".join(held)) if held
                      else Sentence("they hold no pipe but the grader's own")],
            procs=[relay],
        )


#: The calls a parent waits for its child in.
WAIT_CALLS = frozenset({"wait4", "waitid"})
#: What to change when the parent does not sleep in write(2) on the full pipe.
BLOCK_IN_WRITE = Sentence("Block in write(2) instead of retrying in a loop.")


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
    child = relay.child(deadline.STEP)
    # a parent that starts its child with vfork (posix_spawn, a shell) sleeps in it until the child
    # runs its program: the child is stopped only after that, or the parent could never go on
    relay.wait_for(lambda: not _vforking(relay.pid), deadline.STEP, Sentence("%(program)s finished starting its child", program=relay.label))
    _kill(relay, child, signal.SIGSTOP)
    relay.wait_state("T", deadline.STEP, pid=child)
    relay.feed(payload)
    # no spin check: the parent copies a pipe's worth of input (or, wrongly, all of it) first
    # asleep in wait4 for the child the grader stopped, the parent can never write: a verdict at
    # once, not at the deadline (a program whose child exits at once gets the same one every run)
    blocked = settle.asleep_in(relay, WRITE_CALLS | {"futex"} | WAIT_CALLS, deadline.STEP, who=Sentence("the parent"), fix=BLOCK_IN_WRITE, spin_ticks=None)
    if blocked.syscall.name == "futex":
        raise SpecFailure(Sentence("the parent waits on a lock (futex), not in write."), evidence=[blocked.words()], procs=[relay])
    if blocked.syscall.name in WAIT_CALLS:
        raise SpecFailure(Sentence("the parent waits for its stopped child (%(call)s) instead of copying its input to the pipe: "
                                   "it never writes.", call=blocked.syscall.name), evidence=[blocked.words()], fix=BLOCK_IN_WRITE, procs=[relay])
    settle.idle(relay, who=Sentence("the parent"), fix=BLOCK_IN_WRITE)
    # a pipe holds 64 KiB (at most 1 MiB if enlarged): more than half the payload taken means
    # the parent read its input into memory instead of letting the full pipe stop it
    if relay.fed - 1 >= len(payload) // 2:  # the first byte, b"x", went before the child stopped
        raise SpecFailure(
            Sentence("while its child was stopped, %(program)s took %(took)s of the %(fed)s bytes fed then "
                     "from its stdin (a pipe holds 64 KiB): it keeps reading input into memory, so "
                     "back-pressure never reaches whoever feeds it.", program=relay.label, took=relay.fed - 1, fed=len(payload)),
            evidence=[blocked.words()],
            procs=[relay],
        )
    _kill(relay, child, signal.SIGCONT)
    _wait(relay, deadline.EXIT)
    expected = b"x" + payload
    if not relay.stdout.matches(expected):
        raise SpecFailure(
            Sentence("after SIGCONT the output differs from the input: %(difference)s.", difference=first_difference(expected, relay.stdout.data)),
            procs=[relay],
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
    child = relay.child(deadline.STEP)
    relay.wait_blocked(READ_CALLS, deadline.STEP, pid=child, who=Sentence("the relay's child (pid %(pid)s)", pid=child))
    mechanism.pipe_to_child(relay, deadline.STEP)  # the pipe whose reader dies
    _kill(relay, child, signal.SIGKILL)
    relay.feed(b"more data\n" * 400_000)  # 4 MB: more than any pipe holds, so a write must fail
    waited = Deadline(deadline.STEP)
    if not relay.finished_within(waited):
        pids = relay.tree()
        holders = pipe_holders(pids, exclude=relay.harness_pipes)
        readers = [Sentence("%(who)s still holds %(fd)s", who=Sentence("the parent") if p == relay.pid else Sentence("pid %(pid)s", pid=p), fd=str(f))
                   for ino, h in holders.items() for p, f in h if f.access in ("r", "rw")]
        raise SpecFailure(
            Sentence("Once its child was killed, %(program)s %(did_not_exit)s.", program=relay.label, did_not_exit=relay.did_not_exit(waited)),
            evidence=[describe(relay.pid), *(Sentence("%(reader)s, so its writes never fail", reader=r) for r in readers)],
            fix=Sentence("Close the read end in the parent.") if readers else "",
            procs=[relay],
        )
    status = relay.wait(deadline.STEP)
    if status.signal == signal.SIGPIPE:
        raise SpecFailure(
            Sentence("%(program)s was %(status)s: it did not handle the broken pipe.", program=relay.label, status=status.words()),
            fix=Sentence("Ignore SIGPIPE (signal(SIGPIPE, SIG_IGN)) and handle EPIPE from write(2)."),
            procs=[relay],
        )
    if status.code != 1 or b"broken pipe" not in relay.stderr.data.lower():
        raise SpecFailure(
            Sentence("after its child was killed, %(program)s %(ended)s with stderr %(stderr)s.", program=relay.label, ended=status.ended, stderr=repr(relay.stderr.data[-200:])),
            expected=Sentence("exit status 1 and `broken pipe` on stderr"),
            procs=[relay],
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
    child = relay.child(deadline.STEP)
    started = read_stat(child)
    mechanism.pipe_to_child(relay, deadline.STEP)  # a child that relays: one left as a zombie would matter
    relay.close_stdin()
    with needs("pipe.eof-on-close"):  # a relay that never exits cannot be seen not to wait
        _wait(relay, deadline.EXIT)
    left = read_stat(child)
    if left is not None and started is not None and left.ppid != relay.pid:
        # the parent exited first, so the child came back to the grader (a child subreaper)
        what = STATE_NAMES["Z"] if left.state == "Z" else Sentence("still %(state)s", state=STATE_NAMES.get(left.state, left.state))
        raise SpecFailure(
            Sentence("%(program)s %(ended)s without waiting for its child: pid %(child)s was %(what)s afterwards.",
                     program=relay.label, ended=relay.status.ended, child=child, what=what),
            evidence=[Sentence("%(process)s, its parent now pid %(ppid)s (the grader)", process=describe(child), ppid=left.ppid)],
            fix=Sentence("Call waitpid() for the child before exiting."),
            procs=[relay],
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
        reply = duplex.next_line(deadline.STEP, what=Sentence("the reply to line %(n)s (%(line)s)", n=i + 1, line=describe_bytes(line)))
        expected = line.upper()
        if reply != expected:
            raise SpecFailure(
                Sentence("line %(n)s %(line)s got the reply %(reply)s.", n=i + 1, line=repr(line[:60]), reply=repr(reply[:60])),
                expected=Sentence("%(expected)s (ASCII a-z to upper case, every other byte unchanged)", expected=repr(expected[:60])),
                procs=[duplex],
            )
    mechanism.pipe_to_child(duplex, deadline.STEP, down_only=False)  # the replies came through a pipe from a child
    duplex.close_stdin()
    status = duplex.wait(deadline.STEP)
    if not status.ok:
        raise SpecFailure(Sentence("%(program)s %(ended)s at EOF.", program=duplex.label, ended=status.ended), expected=Sentence("exit status 0"), procs=[duplex])


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
    duplex.feed(line + b"\nsmall\n", close=False)
    mechanism.pipe_to_child(duplex, deadline.STEP, down_only=False)  # its stdin open, it is there to see
    duplex.end_input()
    try:
        reply = duplex.next_line(deadline.EXIT, what=Sentence("the reply to a 1 MiB line"))
    except BaseException:
        stuck = why_stuck_writing(duplex.tree(), roles_of_tree(duplex.pid), exclude=duplex.harness_pipes)
        if len(stuck) >= 2:
            raise SpecFailure(Sentence("%(program)s deadlocks on a 1 MiB line.", program=duplex.label), evidence=stuck, procs=[duplex]) from None
        raise
    if reply != line.upper():
        raise SpecFailure(Sentence("the reply to a 1 MiB line differs: %(difference)s.", difference=first_difference(line.upper(), reply)), procs=[duplex])
    small = duplex.next_line(deadline.STEP, what=Sentence("the reply to the line after it"))
    if small != b"SMALL":
        raise SpecFailure(Sentence("after the large line, `small` got the reply %(reply)s.", reply=repr(small[:60])), expected="b'SMALL'", procs=[duplex])
    duplex.wait(deadline.STEP)


@spec(
    "pipe.duplex-two-pipes",
    points=1,
    hint="A pipe is one-way: create two with pipe(2), one for each direction, before fork(2).",
)
def test_duplex_two_pipes(impl):
    """Duplex uses two distinct pipes between parent and child, one each way."""
    duplex = impl.spawn("duplex")
    duplex.write(b"ping\n")
    with needs("pipe.duplex-request-response"):  # no reply, or a wrong one: that spec's bug
        reply = duplex.next_line(deadline.STEP, what=Sentence("the reply to `ping`"))
        if reply != b"PING":
            raise SpecFailure(Sentence("`ping` got the reply %(reply)s.", reply=repr(reply)), expected="b'PING'", procs=[duplex])
    kids = children(duplex.pid)
    if not kids:
        raise SpecFailure(Sentence("%(program)s (pid %(pid)s) answered without a child process.", program=duplex.label, pid=duplex.pid),
                          fix=Sentence("Duplex must fork."), procs=[duplex])
    child = kids[0]
    duplex.wait_blocked(READ_CALLS, deadline.STEP, pid=child, who=Sentence("the duplex child (pid %(pid)s)", pid=child))
    pipes = pipe_holders([duplex.pid, child], exclude=duplex.harness_pipes)

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
            Sentence("the parent (pid %(parent)s) and the child (pid %(child)s) do not hold one pipe each way.", parent=duplex.pid, child=child) if pipes
            else Sentence("the parent (pid %(parent)s) and the child (pid %(child)s) do not hold one pipe each way: they hold no pipe at all.", parent=duplex.pid, child=child),
            expected=Sentence("one pipe from the parent (pid %(parent)s) to the child (pid %(child)s) and one back", parent=duplex.pid, child=child),
            evidence=[
                Sentence("pipe:[%(inode)s] held as %(holders)s", inode=ino, holders=", ".join(f"{'parent' if p == duplex.pid else 'child'} {f}" for p, f in h))
                for ino, h in pipes.items()
            ],
            procs=[duplex],
        )
