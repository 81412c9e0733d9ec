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

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from conformance import deadline
from conformance.outcomes import Sentence, SpecFailure, needs
from conformance.spec import spec
from conformance.specs.support import (
    MQ_RECEIVE,
    Message,
    PosixQueues,
    Recv,
    Send,
    asleep_in,
    describe_message,
    expect_exit,
    operations,
    play,
    spec_settings,
)
from conformance.specs.support.queues import messages, numbered

#: The model spec's queue: this many messages of at most this many bytes.
CAPACITY = 6
MESSAGE_SIZE = 32
#: The largest priority (MQ_PRIO_MAX - 1 on Linux).
PRIORITY_MAX = 32767
#: What to do instead of polling.
SLEEP_IN_RECEIVE = Sentence("Open the queue without O_NONBLOCK and call mq_receive(3): the kernel wakes you when a message arrives.")
SLEEP_IN_SEND = Sentence("Open the queue without O_NONBLOCK and call mq_send(3): the kernel wakes you when there is room.")


@pytest.fixture
def mqueues(names):
    """POSIX queues under this run's names, unlinked after the spec whatever happened."""
    q = PosixQueues(names)
    yield q
    q.cleanup()


# --- priority order: a model-based spec ----------------------------------------------------


@spec(
    "mqueue.priority-order",
    points=4,
    hint="Send with the PRIORITY given (mq_send's msg_prio) and print the priority mq_receive "
    "returns: the kernel hands out the highest priority first, oldest first within a priority. "
    "Never reorder messages yourself.",
    timeout=120,
)
@spec_settings(max_examples=15)
@given(ops=operations(PosixQueues.ordering, st.sampled_from([0, 1, 2, 3, 100, PRIORITY_MAX]), capacity=CAPACITY))
@example(ops=[Send(1), Send(3), Send(2), Send(3), Recv(), Recv(), Recv(), Recv()])
@example(ops=[Send(0, "impl"), Send(5, "impl"), Send(5), Recv(), Send(7, "impl"), Recv(), Recv(), Recv()])
def test_priority_order(impl, mqueues, ops):
    """`mqueue recv` takes the highest priority first and, within a priority, the oldest."""
    name = mqueues.create(max_messages=CAPACITY, message_size=MESSAGE_SIZE, tag="prio")
    try:
        play(mqueues, impl, name, ops, capacity=CAPACITY)
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
    name = mqueues.create(tag="blk")
    who = mqueues.cmd("recv")
    receiver = impl.spawn("recv", name, stdin="devnull")
    asleep_in(receiver, MQ_RECEIVE, deadline.STEP, who=Sentence("%(command)s on an empty queue", command=who), fix=SLEEP_IN_RECEIVE)
    mqueues.wakes_for(receiver, name, Message(4, b"wake up"), who=who)


@spec(
    "mqueue.send-blocks-when-full",
    points=2,
    hint="Open the queue without O_NONBLOCK and call mq_send: on a full queue the kernel puts you to "
    "sleep until there is room. Never drop the message.",
)
def test_send_blocks_when_full(impl, mqueues):
    """On a full queue `mqueue send` sleeps in mq_timedsend, and finishes once a message is taken."""
    name = mqueues.create(max_messages=2, message_size=32, tag="full")
    mqueues.send(name, 1, b"first")
    mqueues.send(name, 1, b"second")
    body = b"waiting to be sent"
    sender = mqueues.sleeps_until_room(impl, name, 2, body, full=Sentence("mq_maxmsg 2, 2 messages queued"), fix=SLEEP_IN_SEND)
    left = mqueues.take_all(name)
    if sorted(m.body for m in left) != sorted([body, b"second"]):
        raise SpecFailure(
            Sentence("After the sender finished the queue holds %(messages)s.", messages=mqueues.text(left)),
            expected=Sentence("its message %(body)s and the grader's b'second'", body=repr(body)),
            procs=[sender],
        )


@spec(
    "mqueue.nowait",
    points=1,
    hint="With --nowait open the queue with O_NONBLOCK: mq_receive on an empty queue and mq_send "
    "on a full one fail with EAGAIN: exit 3.",
)
def test_nowait(impl, mqueues):
    """With --nowait, `recv` on an empty queue and `send` on a full one exit 3 at once."""
    name = mqueues.create(max_messages=2, message_size=32, tag="nw")
    proc = mqueues.run_recv(impl, name, "--nowait", because=Sentence("on %(what)s although --nowait was given", what=Sentence("an empty queue")))
    expect_exit(proc, 3, Sentence("%(command)s on an empty queue", command=mqueues.cmd("recv", "--nowait")))
    mqueues.send(name, 1, b"first")
    mqueues.send(name, 1, b"second")
    proc = mqueues.run_send(impl, name, 2, b"no room", "--nowait", because=Sentence("on a full queue although --nowait was given"))
    expect_exit(proc, 3, Sentence("%(command)s on a full queue (2 of 2 messages)", command=mqueues.cmd("send", 2, "--nowait")))
    left = mqueues.take_all(name)
    if left != [Message(1, b"first"), Message(1, b"second")]:
        raise SpecFailure(
            Sentence("After the refused send the queue holds %(messages)s.", messages=mqueues.text(left)),
            expected=Sentence("only the grader's two messages"), procs=[proc],
        )
    # the work these refusals are about: with a message there, recv --nowait takes it; with room, send --nowait sends
    mqueues.send(name, 1, b"there now")
    with needs("mqueue.uses-posix-queue"):
        proc = mqueues.run_recv(impl, name, "--nowait", because=Sentence("although a message is queued"))
        got = mqueues.received_ok(proc, mqueues.cmd("recv", "--nowait"))
        if got != Message(1, b"there now"):
            raise SpecFailure(Sentence("%(command)s printed %(message)s.", command=mqueues.cmd("recv", "--nowait"), message=mqueues.show(got)),
                              expected=numbered("priority", 1, b"there now"), procs=[proc])
        # priority 0: this spec judges --nowait, and priorities are priority-order's to judge
        proc = mqueues.sent_ok(impl, name, 0, b"room now", "--nowait")
        left = mqueues.take_all(name)
        if left != [Message(0, b"room now")]:
            raise SpecFailure(Sentence("%(command)s on an empty queue left %(messages)s.", command=mqueues.cmd("send", 0, "--nowait"), messages=mqueues.text(left)),
                              expected=numbered("priority", 0, b"room now"), procs=[proc])


# --- sizes and priorities --------------------------------------------------------------------


@spec(
    "mqueue.message-too-long",
    points=1,
    hint="A message longer than the queue's mq_msgsize fails with EMSGSIZE (compare with "
    "mq_getattr first): exit 4, nothing sent.",
)
def test_message_too_long(impl, mqueues):
    """`send` of more bytes than the queue's message size exits 4 and sends nothing."""
    name = mqueues.create(max_messages=2, message_size=64, tag="big")
    who = mqueues.cmd("send", 1)
    proc = mqueues.run_send(impl, name, 1, b"x" * 65)
    expect_exit(proc, 4, Sentence("%(command)s with 65 bytes to a queue of 64-byte messages", command=who))
    if mqueues.count(name):
        raise SpecFailure(Sentence("%(command)s with %(n)s bytes exited 4 but queued a message; nothing may be sent.", command=who, n=65), procs=[proc])
    body = bytes(range(64))
    proc = mqueues.sent_ok(impl, name, 1, body)
    left = mqueues.take_all(name)
    if [m.body for m in left] != [body]:
        raise SpecFailure(Sentence("%(command)s with exactly %(n)s bytes left %(messages)s in the queue.", command=who, n=64, messages=mqueues.text(left)),
                          expected=Sentence("that message, intact"), procs=[proc])


@spec(
    "mqueue.bad-priority",
    points=1,
    hint="Priorities run from 0 to 32767 (MQ_PRIO_MAX - 1): check PRIORITY first, print the reason "
    "and exit 1 without sending.",
)
def test_bad_priority(impl, mqueues):
    """`send` with a priority outside 0 to 32767 exits 1 and sends nothing; 32767 goes through."""
    name = mqueues.create(tag="pr")
    for bad in (str(PRIORITY_MAX + 1), "-1"):
        proc = mqueues.run_send(impl, name, bad, b"bad priority")
        expect_exit(proc, 1, mqueues.cmd("send", bad), Sentence("priority out of range"))
        left = mqueues.take_all(name)
        if left:
            raise SpecFailure(Sentence("%(command)s exited 1 but queued %(messages)s; nothing may be sent.", command=mqueues.cmd("send", bad), messages=mqueues.text(left)),
                              procs=[proc])
    proc = mqueues.sent_ok(impl, name, PRIORITY_MAX, b"top")
    left = mqueues.take_all(name)
    if left != [Message(PRIORITY_MAX, b"top")]:
        raise SpecFailure(
            Sentence("%(command)s left %(messages)s in the queue.", command=mqueues.cmd("send", PRIORITY_MAX), messages=mqueues.text(left)),
            expected=numbered("priority", PRIORITY_MAX, b"top"),
            procs=[proc],
        )


# --- the queue's life ------------------------------------------------------------------------


@spec(
    "mqueue.unlink",
    points=1,
    hint="`unlink` calls mq_unlink(NAME): the name is gone at once (the queue itself goes when the "
    "last descriptor closes). A missing name is ENOENT: exit 1.",
)
def test_unlink(impl, mqueues):
    """`mqueue unlink` removes the queue's name: it leaks nothing, and a second unlink exits 1."""
    name = mqueues.create(tag="ul")
    mqueues.send(name, 1, b"doomed")
    proc = impl.run("unlink", name, timeout=deadline.STEP)
    if not proc.status.ok:
        raise SpecFailure(Sentence("%(command)s on an existing queue %(status)s.", command=mqueues.cmd("unlink"), status=proc.status.words()),
                          expected=Sentence("exit status 0"), procs=[proc])
    left = mqueues.count(name)
    if left is not None:
        raise SpecFailure(
            Sentence("%(command)s exited 0, but a queue named NAME (%(name)s) can still be opened: it leaks until the machine reboots.",
                     command=mqueues.cmd("unlink"), name=name),
            evidence=[Sentence("mq_open(%(name)s) by the grader succeeds: the queue holds %(messages)s", name=name, messages=messages(left))],
            fix=Sentence("Call mq_unlink(NAME)."),
            procs=[proc],
        )
    proc = impl.run("unlink", name, timeout=deadline.STEP)
    expect_exit(proc, 1, Sentence("A second %(command)s", command=mqueues.cmd("unlink")), Sentence("no such queue"))


@spec(
    "mqueue.no-such-queue",
    points=1,
    hint="`recv` opens the queue without O_CREAT: ENOENT means exit 1. Only `send` creates a queue.",
)
def test_no_such_queue(impl, mqueues):
    """`recv` on a name with no queue exits 1 and creates nothing."""
    name = mqueues.new_address("none")
    proc = mqueues.run_recv(impl, name, because=Sentence("on a name with no queue: it created the queue instead of failing"))
    expect_exit(proc, 1, Sentence("%(command)s with no queue named NAME", command=mqueues.cmd("recv")))
    if mqueues.exists(name):
        raise SpecFailure(Sentence("%(command)s created a queue named NAME; recv must not create one (no O_CREAT).", command=mqueues.cmd("recv")), procs=[proc])
    # the work this refusal is about: with a queue named NAME, recv takes its message
    name = mqueues.create(tag="there")
    mqueues.send(name, 3, b"here it is")
    with needs("mqueue.uses-posix-queue"):
        proc = mqueues.run_recv(impl, name, because=Sentence("although a message is queued"))
        got = mqueues.received_ok(proc, mqueues.cmd("recv"))
        if got != Message(3, b"here it is"):
            raise SpecFailure(Sentence("%(command)s on a queue holding a message printed %(message)s.", command=mqueues.cmd("recv"), message=mqueues.show(got)),
                              expected=numbered("priority", 3, b"here it is"), procs=[proc])


@spec(
    "mqueue.persists",
    points=2,
    hint="`send` puts the message in the kernel's queue (mq_open with O_CREAT, then mq_send) and "
    "exits at once; the queue keeps it for a receiver that comes later.",
)
def test_persists(impl, mqueues):
    """A message outlives its sender: sent by a process that has exited, it is received later."""
    name = mqueues.new_address("keep")
    who = mqueues.cmd("send", 5)
    body = b"left behind\n\x00by an exited sender"
    sender = mqueues.run_send(impl, name, 5, body, "--max-messages", "2", "--message-size", "64")
    if not sender.status.ok:
        raise SpecFailure(
            Sentence("%(command)s %(status)s with no queue named NAME yet: none exists afterwards, so it did not create the queue.",
                     command=who, status=sender.status.words()) if mqueues.count(name) is None
            else Sentence("%(command)s %(status)s with no queue named NAME yet.", command=who, status=sender.status.words()),
            expected=Sentence("it to create the queue (mq_open with O_CREAT) and exit 0"),
            procs=[sender],
        )
    count = mqueues.count(name)
    if count is None:
        raise SpecFailure(
            Sentence("%(command)s exited 0, but no queue named NAME exists afterwards.", command=who),
            fix=Sentence("Create it with mq_open(NAME, O_CREAT | O_WRONLY, 0600, &attr)."),
            procs=[sender],
        )
    if count != 1:
        raise SpecFailure(
            Sentence("%(command)s exited 0; the queue then holds %(count)s messages, not 1: the message must wait in the kernel's queue.", command=who, count=count),
            procs=[sender],
        )
    proc = mqueues.run_recv(impl, name, because=Sentence("although the message sent earlier is queued"))
    got = mqueues.received_ok(proc, mqueues.cmd("recv"))
    if got.body != body:
        raise SpecFailure(
            Sentence("%(command)s after the sender exited printed %(message)s.", command=mqueues.cmd("recv"), message=mqueues.show(got)),
            expected=mqueues.show(Message(5, body)),
            procs=[proc, sender],
        )


@spec(
    "mqueue.uses-posix-queue",
    points=2,
    hint="Use the POSIX queue NAME from the command line (mq_open, mq_send, mq_receive), created "
    "with mode 0600 and the --max-messages/--message-size attributes.",
)
def test_uses_posix_queue(impl, mqueues):
    """`mqueue` talks to the real POSIX queue NAME: messages cross both ways with posix_ipc."""
    name = mqueues.create(max_messages=2, message_size=512, tag="io")
    sent = Message(7, bytes(range(256)) + b"\nend\x00")
    mqueues.send(name, sent.number, sent.body)
    proc = mqueues.run_recv(impl, name, because=Sentence("although the grader queued a message with posix_ipc"))
    got = mqueues.received_ok(proc, mqueues.cmd("recv"))
    if got != sent:
        raise SpecFailure(Sentence("The grader sent %(sent)s with posix_ipc; %(command)s printed %(message)s.",
                                   sent=mqueues.show(sent), command=mqueues.cmd("recv"), message=mqueues.show(got)), procs=[proc])
    name = mqueues.new_address("io")
    body = b"\x00\xffback the other way\n"
    flags = ("--max-messages", "3", "--message-size", "128")
    who = mqueues.cmd("send", 9, *flags)
    proc = mqueues.sent_ok(impl, name, 9, body, *flags)
    attributes = mqueues.attributes(name)
    if attributes is None:
        raise SpecFailure(
            Sentence("%(command)s exited 0, but no POSIX queue named NAME (%(name)s) exists.", command=who, name=name),
            fix=Sentence("Create it with mq_open(NAME, O_CREAT, 0600, &attr)."),
            procs=[proc],
        )
    *attrs, mode = attributes
    left = mqueues.take_all(name)
    if left != [Message(9, body)]:
        raise SpecFailure(Sentence("%(command)s sent %(message)s; the grader found %(messages)s in the queue NAME.",
                                   command=who, message=describe_message(None, body), messages=mqueues.text(left)), procs=[proc])
    if attrs != [3, 128]:
        raise SpecFailure(
            Sentence("The queue %(command)s created holds %(count)s messages of %(size)s bytes.", command=who, count=attrs[0], size=attrs[1]),
            expected=Sentence("%(count)s of %(size)s", count=3, size=128),
            fix=Sentence("Pass them to mq_open in a struct mq_attr (mq_maxmsg, mq_msgsize)."),
            procs=[proc],
        )
    if mode != 0o600:
        raise SpecFailure(Sentence("The queue %(command)s created has mode %(mode)s.", command=who, mode=format(mode, "04o")),
                          expected=Sentence("mode 0600, as the contract says"), procs=[proc])
