"""Specs for `mqueue send`, `mqueue recv` and `mqueue unlink`: POSIX message queues with priorities.

mq_overview(7), mq_open(3), mq_send(3), mq_receive(3), mq_unlink(3). The seeds: a message
queue is asynchronous message passing: the kernel buffers each message, the sender does not
wait for a receiver, a message outlives its sender, and "some message queues give messages a
priority, so that important ones are handled first". mq_receive always takes the oldest
message of the highest priority; a full queue (mq_maxmsg messages) puts mq_send to sleep and an
empty one puts mq_receive to sleep, unless O_NONBLOCK.

Every queue here is small (a few messages of at most a few hundred bytes): each one counts
against the user's RLIMIT_MSGQUEUE until it is unlinked.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from conformance import observe
from conformance.outcomes import HarnessBroken, SpecFailure
from conformance.queues import (
    MQ_RECEIVE,
    MQ_SEND,
    PosixQueues,
    describe_message,
    received,
)
from conformance.settle import asleep_in, settle
from conformance.spec import spec
from conformance.strategies import spec_settings

#: How long a program gets to do one step: start, send or receive, block, exit.
STEP_DEADLINE = 5
#: The model spec's queue: this many messages of at most this many bytes.
CAPACITY = 6
MESSAGE_SIZE = 32
#: The largest priority (MQ_PRIO_MAX - 1 on Linux).
PRIORITY_MAX = 32767
#: What to do instead of polling.
SLEEP_IN_RECEIVE = "Open the queue without O_NONBLOCK and call mq_receive(3): the kernel wakes you when a message arrives."
SLEEP_IN_SEND = "Open the queue without O_NONBLOCK and call mq_send(3): the kernel wakes you when there is room."


@pytest.fixture
def mqueues(names):
    """POSIX queues under this run's names, unlinked after the spec whatever happened."""
    q = PosixQueues(names)
    yield q
    q.cleanup()


# --- helpers -------------------------------------------------------------------------------


def _cmd(*args) -> str:
    return "`mqueue " + " ".join(str(a) for a in args) + "`"


def _show(priority, body: bytes) -> str:
    return describe_message(priority, body, "priority")


def _queue_text(messages) -> str:
    return "; ".join(_show(p, b) for p, b in messages) or "nothing"


def _send(impl, name, priority, body: bytes, *flags, because: str = "although the queue has room"):
    """Run `mqueue send NAME PRIORITY [FLAGS]` with BODY on stdin, to the end (it must not sleep)."""
    proc = impl.spawn("send", name, str(priority), *flags)
    proc.feed(body)
    blocked = settle(proc, MQ_SEND, STEP_DEADLINE)
    if blocked:
        raise SpecFailure(
            f"{_cmd('send NAME', priority, *flags)} with {len(body)} bytes sleeps in mq_timedsend "
            f"({blocked}) {because}.\n{proc.transcript()}"
        )
    proc.wait(STEP_DEADLINE)
    return proc


def _sent_ok(impl, name, priority, body: bytes, *flags) -> None:
    proc = _send(impl, name, priority, body, *flags)
    if not proc.status.ok:
        raise SpecFailure(
            f"{_cmd('send NAME', priority, *flags)} with {describe_message(None, body)} on stdin "
            f"{proc.status}; expected exit status 0.\n{proc.transcript()}"
        )


def _recv(impl, name, *flags, because: str):
    """Run `mqueue recv NAME [FLAGS]` that must finish at once; BECAUSE says why it must."""
    proc = impl.spawn("recv", name, *flags, stdin="devnull")
    blocked = settle(proc, MQ_RECEIVE, STEP_DEADLINE)
    if blocked:
        raise SpecFailure(f"{_cmd('recv NAME', *flags)} sleeps in mq_timedreceive ({blocked}) {because}.\n{proc.transcript()}")
    proc.wait(STEP_DEADLINE)
    return proc


def _received_ok(proc, args: str) -> tuple[int, bytes]:
    if not proc.status.ok:
        raise SpecFailure(f"{args} {proc.status}; expected exit status 0 and a message.\n{proc.transcript()}")
    return received(proc, "PRIORITY")


def _grader_send(queue, priority: int, body: bytes) -> None:
    try:
        queue.send(body, timeout=0, priority=priority)
    except Exception as exc:
        raise HarnessBroken(f"the grader could not send priority {priority} ({len(body)} bytes) to its queue: {exc}") from exc


# --- priority order: a model-based spec ----------------------------------------------------


@dataclass(frozen=True)
class Send:
    """Send a message with PRIORITY: by the grader (posix_ipc) or by `mqueue send`."""

    priority: int
    via: str = "grader"
    extra: bytes = b""


@dataclass(frozen=True)
class Recv:
    """`mqueue recv NAME` (played only when the queue holds a message)."""


SENDS = st.builds(
    Send,
    priority=st.sampled_from([0, 1, 2, 3, 100, PRIORITY_MAX]),
    via=st.sampled_from(["grader", "impl"]),
    extra=st.binary(max_size=6),
)


@st.composite
def operations(draw, max_ops: int = 12) -> list:
    """Sends and receives that never overfill the queue nor receive from an empty one."""
    queued = 0
    ops: list = []
    for _ in range(draw(st.integers(0, max_ops))):
        if queued and (queued == CAPACITY or draw(st.booleans())):
            ops.append(Recv())
            queued -= 1
        else:
            ops.append(draw(SENDS))
            queued += 1
    return ops


def _first(queued: list[tuple[int, bytes]]) -> tuple[int, bytes]:
    """mq_receive's choice: the oldest message of the highest priority (the trivially correct model)."""
    top = max(p for p, _ in queued)
    return next(m for m in queued if m[0] == top)


@spec(
    "mqueue.priority-order",
    points=4,
    hint="Send with the PRIORITY given (mq_send's msg_prio) and print the priority mq_receive "
    "returns: the kernel hands out the highest priority first, oldest first within a priority. "
    "Never reorder messages yourself.",
    timeout=120,
)
@spec_settings(max_examples=15)
@given(ops=operations())
@example(ops=[Send(1), Send(3), Send(2), Send(3), Recv(), Recv(), Recv(), Recv()])
@example(ops=[Send(0, "impl"), Send(5, "impl"), Send(5), Recv(), Send(7, "impl"), Recv(), Recv(), Recv()])
def test_priority_order(impl, mqueues, ops):
    """`mqueue recv` takes the highest priority first and, within a priority, the oldest."""
    name = mqueues.new_name("prio")
    queue = mqueues.create(max_messages=CAPACITY, message_size=MESSAGE_SIZE, name=name)
    model: list[tuple[int, bytes]] = []
    steps: list[str] = []

    def failure(text: str) -> SpecFailure:
        done = "\n".join(f"  {i + 1}. {s}" for i, s in enumerate(steps))
        return SpecFailure(f"after these steps on one queue:\n{done}\n{text}")

    try:
        for n, op in enumerate(ops):
            if isinstance(op, Send):
                if len(model) == CAPACITY:
                    continue  # the queue is full: a send would sleep (mqueue.send-blocks-when-full)
                body = b"m%d:" % n + op.extra
                if op.via == "grader":
                    _grader_send(queue, op.priority, body)
                    steps.append(f"the grader sends {_show(op.priority, body)}")
                else:
                    _sent_ok(impl, name, op.priority, body)
                    steps.append(f"{_cmd('send NAME', op.priority)} sends {describe_message(None, body)}")
                model.append((op.priority, body))
                continue
            if not model:
                continue  # empty: a receive would sleep (mqueue.recv-blocks)
            want = _first(model)
            queued = _queue_text(model)
            proc = _recv(impl, name, because=f"although the queue holds (in the order sent) {queued}")
            got = _received_ok(proc, _cmd("recv NAME"))
            steps.append(f"{_cmd('recv NAME')} prints {_show(*got)}")
            if got != want:
                raise failure(
                    f"the queue held (in the order sent) {queued}. {_cmd('recv NAME')} must take the "
                    f"oldest message of the highest priority, {_show(*want)}, but it printed {_show(*got)}."
                )
            model.remove(want)
        left = mqueues.take_all(queue)
        expected = sorted(model, key=lambda m: -m[0])  # stable: oldest first within a priority
        if left != expected:
            raise failure(
                f"afterwards the queue should hold {_queue_text(expected)}, but it holds {_queue_text(left)}: "
                f"a recv must take exactly one message, and a send add exactly one."
            )
    finally:
        mqueues.remove(name)


# --- blocking and not blocking -------------------------------------------------------------


@spec(
    "mqueue.recv-blocks",
    points=2,
    hint="Open the queue without O_NONBLOCK and call mq_receive: the kernel puts you to sleep until "
    "a message arrives. No polling, no sleep-and-retry.",
)
def test_recv_blocks(impl, mqueues):
    """On an empty queue `mqueue recv` sleeps in mq_timedreceive until a message arrives."""
    name = mqueues.new_name("blk")
    queue = mqueues.create(name=name)
    receiver = impl.spawn("recv", name, stdin="devnull")
    asleep_in(receiver, MQ_RECEIVE, STEP_DEADLINE, who=f"{_cmd('recv NAME')} on an empty queue", fix=SLEEP_IN_RECEIVE)
    _grader_send(queue, 4, b"wake up")
    if not receiver.exited_within(STEP_DEADLINE):
        raise SpecFailure(
            f"{_cmd('recv NAME')} did not wake within {STEP_DEADLINE} s of a message arriving: "
            f"{observe.describe(receiver.pid)}.\n{receiver.transcript()}"
        )
    receiver.wait(STEP_DEADLINE)
    got = _received_ok(receiver, _cmd("recv NAME"))
    if got != (4, b"wake up"):
        raise SpecFailure(f"{_cmd('recv NAME')} woke and printed {_show(*got)}; expected priority 4 b'wake up'.\n{receiver.transcript()}")


@spec(
    "mqueue.send-blocks-when-full",
    points=2,
    hint="Open the queue without O_NONBLOCK and call mq_send: on a full queue the kernel puts you to "
    "sleep until there is room. Never drop the message.",
)
def test_send_blocks_when_full(impl, mqueues):
    """On a full queue `mqueue send` sleeps in mq_timedsend, and finishes once a message is taken."""
    name = mqueues.new_name("full")
    queue = mqueues.create(max_messages=2, message_size=32, name=name)
    _grader_send(queue, 1, b"first")
    _grader_send(queue, 1, b"second")
    body = b"waiting to be sent"
    sender = impl.spawn("send", name, "2")
    sender.feed(body)
    blocked = settle(sender, MQ_SEND, STEP_DEADLINE, who=f"{_cmd('send NAME', 2)} on a full queue", fix=SLEEP_IN_SEND)
    if blocked is None:
        sender.wait(STEP_DEADLINE)
        held = mqueues.take_all(queue)
        raise SpecFailure(
            f"the queue was full (mq_maxmsg 2, 2 messages queued); {_cmd('send NAME', 2)} "
            f"{sender.status} instead of sleeping in mq_timedsend until there was room. The queue "
            f"then held: {_queue_text(held)}.\n{sender.transcript()}"
        )
    if mqueues.take(queue) is None:
        raise HarnessBroken("the grader's own messages vanished from the full queue")
    if not sender.exited_within(STEP_DEADLINE):
        raise SpecFailure(
            f"the grader took a message out of the full queue, but {_cmd('send NAME', 2)} did not "
            f"finish within {STEP_DEADLINE} s: {observe.describe(sender.pid)}.\n{sender.transcript()}"
        )
    sender.wait(STEP_DEADLINE)
    if not sender.status.ok:
        raise SpecFailure(f"{_cmd('send NAME', 2)} woke when there was room, then {sender.status}; expected 0.\n{sender.transcript()}")
    left = mqueues.take_all(queue)
    if sorted(b for _, b in left) != sorted([body, b"second"]):
        raise SpecFailure(f"after the sender finished the queue holds {_queue_text(left)}; expected its message {body!r} and the grader's b'second'.")


@spec(
    "mqueue.nowait",
    points=1,
    hint="With --nowait open the queue with O_NONBLOCK: mq_receive on an empty queue and mq_send "
    "on a full one fail with EAGAIN: exit 3.",
)
def test_nowait(impl, mqueues):
    """With --nowait, `recv` on an empty queue and `send` on a full one exit 3 at once."""
    name = mqueues.new_name("nw")
    queue = mqueues.create(max_messages=2, message_size=32, name=name)
    proc = _recv(impl, name, "--nowait", because="on an empty queue although --nowait was given")
    if proc.status.code != 3:
        raise SpecFailure(f"{_cmd('recv NAME', '--nowait')} on an empty queue {proc.status}; expected exit status 3.\n{proc.transcript()}")
    _grader_send(queue, 1, b"first")
    _grader_send(queue, 1, b"second")
    proc = _send(impl, name, 2, b"no room", "--nowait", because="on a full queue although --nowait was given")
    if proc.status.code != 3:
        raise SpecFailure(
            f"{_cmd('send NAME', 2, '--nowait')} on a full queue (2 of 2 messages) {proc.status}; "
            f"expected exit status 3.\n{proc.transcript()}"
        )
    left = mqueues.take_all(queue)
    if left != [(1, b"first"), (1, b"second")]:
        raise SpecFailure(f"after the refused send the queue holds {_queue_text(left)}; expected only the grader's two messages.")


# --- sizes and priorities --------------------------------------------------------------------


@spec(
    "mqueue.message-too-long",
    points=1,
    hint="A message longer than the queue's mq_msgsize fails with EMSGSIZE (compare with "
    "mq_getattr first): exit 4, nothing sent.",
)
def test_message_too_long(impl, mqueues):
    """`send` of more bytes than the queue's message size exits 4 and sends nothing."""
    name = mqueues.new_name("big")
    queue = mqueues.create(max_messages=2, message_size=64, name=name)
    proc = _send(impl, name, 1, b"x" * 65)
    if proc.status.code != 4:
        raise SpecFailure(f"{_cmd('send NAME', 1)} with 65 bytes to a queue of 64-byte messages {proc.status}; expected exit status 4.\n{proc.transcript()}")
    if queue.current_messages:
        raise SpecFailure(f"{_cmd('send NAME', 1)} with 65 bytes exited 4 but queued a message; nothing may be sent.")
    body = bytes(range(64))
    _sent_ok(impl, name, 1, body)
    left = mqueues.take_all(queue)
    if [b for _, b in left] != [body]:
        raise SpecFailure(f"{_cmd('send NAME', 1)} with exactly 64 bytes left {_queue_text(left)} in the queue; expected that message, intact.")


@spec(
    "mqueue.bad-priority",
    points=1,
    hint="Priorities run from 0 to 32767 (MQ_PRIO_MAX - 1): check PRIORITY first, print the reason "
    "and exit 1 without sending.",
)
def test_bad_priority(impl, mqueues):
    """`send` with a priority outside 0 to 32767 exits 1 and sends nothing; 32767 goes through."""
    name = mqueues.new_name("pr")
    queue = mqueues.create(name=name)
    for bad in (str(PRIORITY_MAX + 1), "-1"):
        proc = _send(impl, name, bad, b"bad priority")
        if proc.status.code != 1:
            raise SpecFailure(f"{_cmd('send NAME', bad)} {proc.status}; expected exit status 1 (priority out of range).\n{proc.transcript()}")
        left = mqueues.take_all(queue)
        if left:
            raise SpecFailure(f"{_cmd('send NAME', bad)} exited 1 but queued {_queue_text(left)}; nothing may be sent.")
    _sent_ok(impl, name, PRIORITY_MAX, b"top")
    left = mqueues.take_all(queue)
    if left != [(PRIORITY_MAX, b"top")]:
        raise SpecFailure(f"{_cmd('send NAME', PRIORITY_MAX)} left {_queue_text(left)} in the queue; expected priority {PRIORITY_MAX} b'top'.")


# --- the queue's life ------------------------------------------------------------------------


@spec(
    "mqueue.unlink",
    points=1,
    hint="`unlink` calls mq_unlink(NAME): the name is gone at once (the queue itself goes when the "
    "last descriptor closes). A missing name is ENOENT: exit 1.",
)
def test_unlink(impl, mqueues):
    """`mqueue unlink` removes the queue's name: it leaks nothing, and a second unlink exits 1."""
    name = mqueues.new_name("ul")
    queue = mqueues.create(name=name)
    _grader_send(queue, 1, b"doomed")
    proc = impl.run("unlink", name, timeout=STEP_DEADLINE)
    if not proc.status.ok:
        raise SpecFailure(f"{_cmd('unlink NAME')} on an existing queue {proc.status}; expected exit status 0.\n{proc.transcript()}")
    if mqueues.exists(name):
        raise SpecFailure(
            f"{_cmd('unlink NAME')} exited 0, but a queue named NAME ({name}) can still be opened: it "
            f"leaks until the machine reboots. Call mq_unlink(NAME)."
        )
    proc = impl.run("unlink", name, timeout=STEP_DEADLINE)
    if proc.status.code != 1:
        raise SpecFailure(f"a second {_cmd('unlink NAME')} {proc.status}; expected exit status 1 (no such queue).\n{proc.transcript()}")


@spec(
    "mqueue.no-such-queue",
    points=1,
    hint="`recv` opens the queue without O_CREAT: ENOENT means exit 1. Only `send` creates a queue.",
)
def test_no_such_queue(impl, mqueues):
    """`recv` on a name with no queue exits 1 and creates nothing."""
    name = mqueues.new_name("none")
    proc = _recv(impl, name, because="on a name with no queue: it created the queue instead of failing")
    if proc.status.code != 1:
        raise SpecFailure(f"{_cmd('recv NAME')} with no queue named NAME {proc.status}; expected exit status 1.\n{proc.transcript()}")
    if mqueues.exists(name):
        raise SpecFailure(f"{_cmd('recv NAME')} created a queue named NAME; recv must not create one (no O_CREAT).")


@spec(
    "mqueue.persists",
    points=2,
    hint="`send` puts the message in the kernel's queue (mq_open with O_CREAT, then mq_send) and "
    "exits at once; the queue keeps it for a receiver that comes later.",
)
def test_persists(impl, mqueues):
    """A message outlives its sender: sent by a process that has exited, it is received later."""
    name = mqueues.new_name("keep")
    body = b"left behind\n\x00by an exited sender"
    _sent_ok(impl, name, 5, body, "--max-messages", "2", "--message-size", "64")
    queue = mqueues.open(name)
    if queue is None:
        raise SpecFailure(f"{_cmd('send NAME', 5)} exited 0, but no queue named NAME exists afterwards: create it with mq_open(NAME, O_CREAT | O_WRONLY, 0600, &attr).")
    if queue.current_messages != 1:
        raise SpecFailure(f"{_cmd('send NAME', 5)} exited 0; the queue then holds {queue.current_messages} messages, not 1: the message must wait in the kernel's queue.")
    proc = _recv(impl, name, because="although the message sent earlier is queued")
    got = _received_ok(proc, _cmd("recv NAME"))
    if got[1] != body:
        raise SpecFailure(f"{_cmd('recv NAME')} after the sender exited printed {_show(*got)}; expected {_show(5, body)}.\n{proc.transcript()}")


@spec(
    "mqueue.uses-posix-queue",
    points=2,
    hint="Use the POSIX queue NAME from the command line (mq_open, mq_send, mq_receive), created "
    "with mode 0600 and the --max-messages/--message-size attributes.",
)
def test_uses_posix_queue(impl, mqueues):
    """`mqueue` talks to the real POSIX queue NAME: messages cross both ways with posix_ipc."""
    name = mqueues.new_name("io")
    queue = mqueues.create(max_messages=2, message_size=512, name=name)
    body = bytes(range(256)) + b"\nend\x00"
    _grader_send(queue, 7, body)
    proc = _recv(impl, name, because="although the grader queued a message with posix_ipc")
    got = _received_ok(proc, _cmd("recv NAME"))
    if got != (7, body):
        raise SpecFailure(f"the grader sent {_show(7, body)} with posix_ipc; {_cmd('recv NAME')} printed {_show(*got)}.\n{proc.transcript()}")
    name = mqueues.new_name("io")
    body = b"\x00\xffback the other way\n"
    flags = ("--max-messages", "3", "--message-size", "128")
    _sent_ok(impl, name, 9, body, *flags)
    theirs = mqueues.open(name)
    if theirs is None:
        raise SpecFailure(f"{_cmd('send NAME', 9, *flags)} exited 0, but no POSIX queue named NAME ({name}) exists: create it with mq_open(NAME, O_CREAT, 0600, &attr).")
    attrs = (theirs.max_messages, theirs.max_message_size)
    mode = os.fstat(theirs.mqd).st_mode & 0o777
    left = mqueues.take_all(theirs)
    if left != [(9, body)]:
        raise SpecFailure(f"{_cmd('send NAME', 9, *flags)} sent {describe_message(None, body)}; the grader found {_queue_text(left)} in the queue NAME.")
    if attrs != (3, 128):
        raise SpecFailure(
            f"the queue {_cmd('send NAME', 9, *flags)} created holds {attrs[0]} messages of {attrs[1]} bytes; "
            f"expected 3 of 128: pass them to mq_open in a struct mq_attr (mq_maxmsg, mq_msgsize)."
        )
    if mode != 0o600:
        raise SpecFailure(f"the queue {_cmd('send NAME', 9, *flags)} created has mode {mode:04o}; the contract says 0600.")
