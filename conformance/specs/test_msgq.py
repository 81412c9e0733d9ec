"""Specs for `msgq send`, `msgq recv` and `msgq rm`: System V message queues with typed messages.

msgget(2), msgsnd(2), msgrcv(2), msgctl(2), sysvipc(7). The seeds: a message queue is
asynchronous message passing: the kernel buffers each message, the sender does not wait for a
receiver, a message outlives the process that sent it, a message carries a type (the seed's
`long type`) that a receiver can select on, and a full buffer is where the trouble starts.

msgrcv's type rule (msgrcv(2)): TYPE 0 takes the oldest message; TYPE > 0 the oldest message
of exactly that type; TYPE < 0 the oldest message of the lowest type that is at most |TYPE|.
"""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from conformance import deadline
from conformance.deadline import Deadline
from conformance.outcomes import SpecFailure, Unsupported, needs
from conformance.spec import spec
from conformance.specs.support import (
    MSGRCV,
    Message,
    Recv,
    Send,
    SysvQueues,
    asleep_in,
    describe,
    describe_message,
    expect_exit,
    msgmax,
    operations,
    play,
    settle,
    spec_settings,
)
from conformance.specs.support.strategies import plural

#: A window in which a sleeping receiver must NOT wake (a non-matching message was queued): not
#: a deadline but a measurement. The kernel decides at once whether a message wakes a receiver;
#: 0.3 s is ample to see one wake.
NO_WAKE_WINDOW = 0.3
#: The queue's byte limit (msg_qbytes) for the full-queue specs: one message of this size fills it.
FULL_BYTES = 256
#: The contract's largest message.
MAX_MESSAGE = 8192
#: What to do instead of polling.
SLEEP_IN_MSGRCV = "Call msgrcv(2) without IPC_NOWAIT and let the kernel wake you when a message arrives."
SLEEP_IN_MSGSND = "Call msgsnd(2) without IPC_NOWAIT and let the kernel wake you when there is room."


@pytest.fixture
def queues(names):
    """System V queues under this run's keys, removed after the spec whatever happened."""
    q = SysvQueues(names)
    yield q
    q.cleanup()


# --- typed receive: a model-based spec -----------------------------------------------------


@spec(
    "msgq.typed-receive",
    points=4,
    hint="Pass TYPE unchanged as msgrcv's msgtyp: 0 takes the oldest message, a positive TYPE the "
    "oldest of that type, a negative TYPE the oldest of the lowest type <= |TYPE|. Never filter "
    "or reorder messages yourself.",
    timeout=120,
)
@spec_settings(max_examples=15)
@given(ops=operations(SysvQueues.ordering, st.integers(1, 4)))
@example(ops=[Send(3), Send(1), Send(2), Recv(-2), Recv(-3), Recv(-5)])
@example(ops=[Send(2, "impl"), Send(1), Send(2), Send(1, "impl"), Recv(2), Recv(0), Recv(-1), Recv(2)])
@example(ops=[Send(4), Send(3, "impl"), Recv(-4), Send(2), Recv(-3), Recv(4)])
def test_typed_receive(impl, queues, ops):
    """`msgq recv` with TYPE 0, TYPE > 0 and TYPE < 0 takes the message msgrcv's type rule names."""
    key = queues.create()
    try:
        play(queues, impl, key, ops)
    finally:
        queues.remove(key)


@spec(
    "msgq.fifo-within-type",
    points=2,
    hint="msgrcv returns messages of one type in the order they were sent; do not read several "
    "and pick one, and do not put messages back.",
)
def test_fifo_within_type(impl, queues):
    """Messages of one type come out in the order they were sent, whatever lies between them."""
    key = queues.create()
    sent = [(1, b"one-a"), (2, b"two-a"), (1, b"one-b"), (1, b"one-c"), (2, b"two-b"), (1, b"one-d")]
    for mtype, body in sent:
        queues.send(key, mtype, body)
    for mtype in (1, 2):
        expected = [body for t, body in sent if t == mtype]
        got, runs = [], []
        for i in range(len(expected)):
            proc = queues.run_recv(impl, key, str(mtype), because=f"although {len(expected) - i} messages of type {mtype} are queued")
            runs.append(proc)
            got.append(queues.received_ok(proc, queues.cmd("recv", mtype)).body)
        if got != expected:
            types = dict((body, t) for t, body in sent)
            other = next((b for b in got if types.get(b, mtype) != mtype), None)
            why = (
                f" {other!r} is a message of type {types[other]}: it received a message of another type than {mtype}."
                if other is not None
                else " That is newest first: it took the last message of the type sent, not the oldest (last in, first out)."
                if got == expected[::-1]
                else ""
            )
            raise SpecFailure(
                f"{len(expected)} runs of {queues.cmd('recv', mtype)} printed {got}.{why}",
                expected=f"{expected}: first in, first out within a type",
                done=f"The grader sent, in this order, {', '.join(f'type {t} {b!r}' for t, b in sent)}.",
                procs=runs,
            )


# --- blocking and not blocking -------------------------------------------------------------


@spec(
    "msgq.recv-blocks",
    points=3,
    hint="Call msgrcv(2) without IPC_NOWAIT and let the kernel put you to sleep until a message of "
    "your TYPE arrives: no polling, no sleep-and-retry, and never take a message of another type.",
)
def test_recv_blocks(impl, queues):
    """A receiver sleeps in msgrcv until a message of its type arrives; other types do not wake it."""
    key = queues.create()
    who = queues.cmd("recv", 2)
    receiver = impl.spawn("recv", str(key), "2", stdin="devnull")
    asleep_in(receiver, MSGRCV, deadline.STEP, who=f"{who} on an empty queue", fix=SLEEP_IN_MSGRCV)
    queues.send(key, 1, b"not for you")
    if receiver.exited_within(NO_WAKE_WINDOW):  # a window in which it must not wake
        receiver.wait(deadline.STEP)
        raise SpecFailure(
            f"The receiver {receiver.status} instead of sleeping on: a message of another type must not end it.",
            done=f"{who} was asleep in msgrcv; the grader queued a message of type 1.",
            procs=[receiver],
        )
    still = settle.settle(receiver, MSGRCV, deadline.STEP, fix=SLEEP_IN_MSGRCV)
    if still is None:
        raise SpecFailure(f"{who} exited after a message of type 1 was queued.", procs=[receiver])
    count = queues.count(key)
    if count != 1:
        raise SpecFailure(
            f"{who} sleeps, but the message of type 1 the grader queued is gone: the queue holds {count} messages.",
            expected="1 message",
            evidence=[str(still)],
            fix="Do not take messages of other types.",
            procs=[receiver],
        )
    queues.wakes_for(receiver, key, Message(2, b"for you"), who=who, arriving="a message of type 2")
    left = queues.take_all(key)
    if left != [Message(1, b"not for you")]:
        raise SpecFailure(f"Afterwards the queue holds {queues.text(left)}.", expected="only the type 1 message", procs=[receiver])


@spec(
    "msgq.recv-nowait-empty",
    points=1,
    hint="With --nowait pass IPC_NOWAIT to msgrcv; it fails with ENOMSG when no message matches: exit 3.",
)
def test_recv_nowait_empty(impl, queues):
    """`recv --nowait` exits 3 when no message matches, instead of sleeping."""
    key = queues.create()
    who = queues.cmd("recv", 2, "--nowait")
    for what in ("an empty queue", "a queue holding only a message of type 1"):
        proc = queues.run_recv(impl, key, "2", "--nowait", because=f"on {what} although --nowait was given")
        expect_exit(proc, 3, f"{who} on {what}", " (would block)")
        if what.startswith("an empty"):
            queues.send(key, 1, b"other type")
    if queues.count(key) != 1:
        raise SpecFailure(f"{who} removed the message of type 1; it must stay queued.")
    # the work this refusal is about: with a message of its type queued, --nowait takes it
    queues.send(key, 2, b"there now")
    with needs("msgq.uses-sysv-queue"):
        proc = queues.run_recv(impl, key, "2", "--nowait", because="although a message of type 2 is queued")
        got = queues.received_ok(proc, f"{who} with a message of type 2 queued")
        if got != Message(2, b"there now"):
            raise SpecFailure(f"{who} with a message of type 2 queued printed {queues.show(got)}.", expected="type 2 b'there now'", procs=[proc])


@spec(
    "msgq.send-blocks-when-full",
    points=2,
    hint="Call msgsnd(2) without IPC_NOWAIT: on a full queue the kernel puts you to sleep until there "
    "is room. Never drop the message or give up.",
)
def test_send_blocks_when_full(impl, queues):
    """On a full queue `msgq send` sleeps in msgsnd, and finishes once a message is taken out."""
    key = queues.create(max_bytes=FULL_BYTES)
    queues.send(key, 1, b"f" * FULL_BYTES)
    body = b"waiting to be sent"
    full = f"msg_qbytes {FULL_BYTES}, one {FULL_BYTES}-byte message queued"
    sender = queues.sleeps_until_room(impl, key, 2, body, full=full, fix=SLEEP_IN_MSGSND)
    left = queues.take_all(key)
    if left != [Message(2, body)]:
        raise SpecFailure(f"After the sender finished the queue holds {queues.text(left)}.", expected=f"type 2 {body!r}", procs=[sender])


@spec(
    "msgq.send-nowait-full",
    points=1,
    hint="With --nowait pass IPC_NOWAIT to msgsnd; on a full queue it fails with EAGAIN: exit 3.",
)
def test_send_nowait_full(impl, queues):
    """`send --nowait` on a full queue exits 3 and sends nothing."""
    key = queues.create(max_bytes=FULL_BYTES)
    queues.send(key, 1, b"f" * FULL_BYTES)
    proc = queues.run_send(impl, key, 2, b"no room", "--nowait", because="on a full queue although --nowait was given")
    expect_exit(proc, 3, f"The queue was full (msg_qbytes {FULL_BYTES}, {FULL_BYTES} bytes queued); {queues.cmd('send', 2, '--nowait')}")
    left = queues.take_all(key)
    if [m.number for m in left] != [1]:
        raise SpecFailure(f"After the refused send the queue holds {queues.text(left)}.", expected="only the grader's message", procs=[proc])
    with needs("msgq.uses-sysv-queue"):  # the work this refusal is about: with room, --nowait sends
        proc = queues.sent_ok(impl, key, 2, b"room now", "--nowait")
        left = queues.take_all(key)
        if left != [Message(2, b"room now")]:
            raise SpecFailure(f"{queues.cmd('send', 2, '--nowait')} on an empty queue left {queues.text(left)}.", expected="type 2 b'room now'", procs=[proc])


# --- sizes -----------------------------------------------------------------------------------


@spec(
    "msgq.too-long",
    points=2,
    hint="Give msgrcv a buffer of N bytes and no MSG_NOERROR: a longer message fails with E2BIG "
    "and the kernel leaves it in the queue; exit 4.",
)
def test_too_long(impl, queues):
    """A message longer than --max-bytes makes `recv` exit 4 and stays in the queue."""
    key = queues.create()
    body = bytes(range(256)) + b"tail" * 11
    queues.send(key, 1, body)
    who = queues.cmd("recv", 1, "--max-bytes", 100)
    proc = queues.run_recv(impl, key, "1", "--max-bytes", "100", because=f"although a {len(body)}-byte message of type 1 is queued")
    left = queues.take_all(key)
    if proc.status.code != 4:
        fate = "still queued" if left else "gone from the queue: it was lost"
        raise SpecFailure(
            f"{who} with a {len(body)}-byte message queued {proc.status}.",
            expected="exit status 4 (message too long)",
            evidence=[f"The message is {fate}."],
            procs=[proc],
        )
    if left != [Message(1, body)]:
        raise SpecFailure(
            f"{who} exited 4, but the queue then held {queues.text(left)}; the {len(body)}-byte message "
            f"must stay queued, intact.",
            procs=[proc],
        )
    # the work this refusal is about: with room enough in --max-bytes, it receives the message
    queues.send(key, 1, body)
    with needs("msgq.uses-sysv-queue"):
        proc = queues.run_recv(impl, key, "1", "--max-bytes", "1000", because=f"although a {len(body)}-byte message of type 1 is queued")
        got = queues.received_ok(proc, queues.cmd("recv", 1, "--max-bytes", 1000))
        if got != Message(1, body):
            raise SpecFailure(f"{queues.cmd('recv', 1, '--max-bytes', 1000)} printed {queues.show(got)}.", expected=f"the whole {len(body)}-byte message", procs=[proc])


@spec(
    "msgq.truncate",
    points=1,
    hint="With --truncate receive with MSG_NOERROR (or a buffer big enough for any message) and "
    "print only the first N bytes; the message is consumed.",
)
def test_truncate(impl, queues):
    """`recv --truncate` prints the first N bytes of a longer message and consumes it."""
    key = queues.create()
    body = bytes(range(256)) + b"tail" * 11
    queues.send(key, 1, body)
    who = queues.cmd("recv", 1, "--max-bytes", 100, "--truncate")
    proc = queues.run_recv(impl, key, "1", "--max-bytes", "100", "--truncate", because=f"although a {len(body)}-byte message of type 1 is queued")
    got = queues.received_ok(proc, who)
    if got != Message(1, body[:100]):
        raise SpecFailure(f"{who} on a {len(body)}-byte message printed {queues.show(got)}.", expected="type 1 and its first 100 bytes", procs=[proc])
    left = queues.count(key)
    if left != 0:
        raise SpecFailure(f"After {who} the queue still holds {plural(left, 'message')}: the truncated message must be consumed.", procs=[proc])


@spec(
    "msgq.send-too-long",
    points=1,
    hint="Check the length of stdin before sending: more than 8192 bytes is exit 4 and no message.",
)
def test_send_too_long(impl, queues):
    """`send` of more than 8192 bytes exits 4 and sends nothing; 8192 bytes go through."""
    key = queues.create()
    if msgmax() < MAX_MESSAGE or queues.max_size(key) < MAX_MESSAGE:
        raise Unsupported(f"this kernel's System V limits (msgmax {msgmax()}, msgmnb {queues.max_size(key)}) are below {MAX_MESSAGE} bytes")
    who = queues.cmd("send", 1)
    big = bytes(range(256)) * (MAX_MESSAGE // 256)
    proc = queues.run_send(impl, key, 1, big + b"!")
    if proc.status.ok:
        queued = queues.take_all(key)
        sizes = [len(m.body) for m in queued]
        raise SpecFailure(
            f"{who} with {MAX_MESSAGE + 1} bytes exited 0"
            + (f" and queued {sizes[0]} bytes: it cut the input and sent the rest as if it fitted." if sizes and sizes[0] < MAX_MESSAGE + 1
               else f" and queued {queues.text(queued)}."),
            expected=f"exit status 4 and no message: more than {MAX_MESSAGE} bytes is too long; read all of stdin before you decide",
            procs=[proc],
        )
    expect_exit(proc, 4, f"{who} with {MAX_MESSAGE + 1} bytes")
    if queues.count(key) != 0:
        raise SpecFailure(f"{who} with {MAX_MESSAGE + 1} bytes exited 4 but queued a message; nothing may be sent.", procs=[proc])
    proc = queues.sent_ok(impl, key, 1, big)
    left = queues.take_all(key)
    if left != [Message(1, big)]:
        raise SpecFailure(
            f"{who} with exactly {MAX_MESSAGE} bytes left {queues.text(left)} in the queue.",
            expected="that one message, intact",
            procs=[proc],
        )


# --- the queue's life ------------------------------------------------------------------------


@spec(
    "msgq.removed-while-waiting",
    points=1,
    hint="msgrcv fails with EIDRM when the queue is removed under it: report the error and exit 1, "
    "do not retry or create the queue again.",
)
def test_removed_while_waiting(impl, queues):
    """A receiver sleeping on a queue that is removed exits 1 at once."""
    key = queues.create()
    who = queues.cmd("recv", 0)
    receiver = impl.spawn("recv", str(key), "0", stdin="devnull")
    asleep_in(receiver, MSGRCV, deadline.STEP, who=f"{who} on an empty queue", fix=SLEEP_IN_MSGRCV)
    queues.remove(key)
    waited = Deadline(deadline.STEP)
    if not receiver.finished_within(waited):
        again = queues.count(key)
        raise SpecFailure(
            f"The grader removed the queue (msgctl IPC_RMID) under {who}; it had not exited {waited} later.",
            evidence=[
                describe(receiver.pid),
                f"A new queue with KEY exists again ({again} messages): it was created anew." if again is not None else "",
            ],
            procs=[receiver],
        )
    status = receiver.wait(deadline.STEP)
    if status.code != 1:
        raise SpecFailure(f"After its queue was removed, {who} {status}.", expected="exit status 1", procs=[receiver])


@spec(
    "msgq.persists",
    points=2,
    hint="`send` puts the message in the kernel's queue (msgget with IPC_CREAT, then msgsnd) and exits "
    "at once; the queue keeps it for a receiver that comes later.",
)
def test_persists(impl, queues):
    """A message outlives its sender: sent by a process that has exited, it is received later."""
    key = queues.new_address()
    body = b"left behind\n\x00by an exited sender"
    sender = queues.run_send(impl, key, 5, body)
    if not sender.status.ok:
        raise SpecFailure(
            f"{queues.cmd('send', 5)} {sender.status} with no queue under KEY yet"
            + (": none exists afterwards, so it did not create the queue." if queues.count(key) is None else "."),
            expected="it to create the queue (msgget with IPC_CREAT) and exit 0",
            procs=[sender],
        )
    count = queues.count(key)
    if count != 1:
        raise SpecFailure(
            f"{queues.cmd('send', 5)} exited 0, and then "
            + ("no System V queue with KEY exists" if count is None else f"the queue with KEY holds {count} messages, not 1")
            + ": the message must wait in the kernel's queue after its sender is gone.",
            procs=[sender],
        )
    proc = queues.run_recv(impl, key, "5", because="although the message of type 5 sent earlier is queued")
    got = queues.received_ok(proc, queues.cmd("recv", 5))
    if got != Message(5, body):
        raise SpecFailure(
            f"{queues.cmd('recv', 5)} after the sender exited printed {queues.show(got)}.",
            expected=describe_message(5, body),
            procs=[proc, sender],
        )


@spec(
    "msgq.concurrent-receivers",
    points=2,
    hint="Each receiver makes one msgrcv call and prints what it got: the kernel hands each message "
    "to exactly one of them.",
)
def test_concurrent_receivers(impl, queues):
    """Several receivers at once: every message is received exactly once."""
    key = queues.create()
    count = 4
    who = queues.cmd("recv", 0)
    receivers = [impl.spawn("recv", str(key), "0", stdin="devnull") for _ in range(count)]
    for i, r in enumerate(receivers):
        asleep_in(r, MSGRCV, deadline.STEP, who=f"receiver #{i + 1} ({who} on an empty queue)", fix=SLEEP_IN_MSGRCV)
    sent = [b"message %d" % i for i in range(count)]
    for body in sent:
        queues.send(key, 1, body)
    got = []
    for i, r in enumerate(receivers):
        waited = Deadline(deadline.STEP)
        if not r.finished_within(waited):
            raise SpecFailure(
                f"{count} receivers slept in msgrcv and the grader sent {count} messages; receiver #{i + 1} "
                f"had not exited {waited} later.",
                evidence=[describe(r.pid), f"The queue holds {plural(queues.count(key), 'message')}."],
                procs=[r],
            )
        r.wait(deadline.STEP)
        got.append(queues.received_ok(r, f"receiver #{i + 1} ({who})").body)
    if Counter(got) != Counter(sent):
        raise SpecFailure(f"{count} receivers printed {sorted(got)}; the grader sent {sorted(sent)}: each exactly once.", procs=receivers)
    left = queues.count(key)
    if left != 0:
        raise SpecFailure(f"After {count} receives of {count} messages the queue still holds {left}.", procs=receivers)


@spec(
    "msgq.invalid-type",
    points=1,
    hint="A message type must be a positive integer (msgsnd fails with EINVAL otherwise): check it "
    "first, print the reason and exit 1 without sending.",
)
def test_invalid_type(impl, queues):
    """`send` with a TYPE that is not a positive integer exits 1 and sends nothing."""
    key = queues.create()
    for bad in ("0", "-3", "two"):
        proc = queues.run_send(impl, key, bad, b"bad type")
        expect_exit(proc, 1, queues.cmd("send", bad), " (TYPE must be a positive integer)")
        left = queues.take_all(key)
        if left:
            raise SpecFailure(f"{queues.cmd('send', bad)} exited 1 but queued {queues.text(left)}; nothing may be sent.", procs=[proc])
    with needs("msgq.uses-sysv-queue"):  # the work this refusal is about: a good TYPE is sent
        proc = queues.sent_ok(impl, key, 5, b"good type")
        left = queues.take_all(key)
        if left != [Message(5, b"good type")]:
            raise SpecFailure(f"{queues.cmd('send', 5)} left {queues.text(left)} in the queue.", expected="type 5 b'good type'", procs=[proc])


@spec(
    "msgq.uses-sysv-queue",
    points=2,
    hint="Use the System V queue with the KEY from the command line: msgget(KEY, IPC_CREAT | 0600), "
    "msgsnd/msgrcv with a struct { long mtype; char mtext[]; }.",
)
def test_uses_sysv_queue(impl, queues):
    """`msgq` talks to the real System V queue with KEY: messages cross both ways with sysv_ipc."""
    key = queues.create()
    sent = Message(7, bytes(range(256)) + b"\nend\x00")
    queues.send(key, sent.number, sent.body)
    proc = queues.run_recv(impl, key, "7", because="although the grader queued a message of type 7 with sysv_ipc")
    got = queues.received_ok(proc, queues.cmd("recv", 7))
    if got != sent:
        raise SpecFailure(f"The grader sent {queues.show(sent)} with sysv_ipc; {queues.cmd('recv', 7)} printed {queues.show(got)}.", procs=[proc])
    key = queues.new_address()
    who = queues.cmd("send", 9)
    body = b"\x00\xffback the other way\n"
    proc = queues.sent_ok(impl, key, 9, body)
    mode = queues.mode(key)
    if mode is None:
        raise SpecFailure(
            f"{who} exited 0, but no System V queue with KEY ({key}) exists.",
            evidence=[queues.shown(key)],
            fix="Create it with msgget(KEY, IPC_CREAT | 0600).",
            procs=[proc],
        )
    taken = queues.take_all(key)
    if taken != [Message(9, body)]:
        raise SpecFailure(f"{who} sent {describe_message(None, body)}; the grader found {queues.text(taken)} in the queue with KEY.", procs=[proc])
    if mode != 0o600:
        raise SpecFailure(f"The queue {who} created has mode {mode:04o}.", expected="mode 0600, as the contract says", procs=[proc])


@spec(
    "msgq.rm-removes",
    points=1,
    hint="`rm` calls msgctl(id, IPC_RMID, NULL): the queue and every message in it are gone.",
)
def test_rm_removes(impl, queues):
    """`msgq rm` removes the queue and its messages: no queue with KEY is left behind."""
    key = queues.create()
    queues.send(key, 1, b"doomed")
    proc = impl.run("rm", str(key), timeout=deadline.STEP)
    if not proc.status.ok:
        raise SpecFailure(f"{queues.cmd('rm')} on an existing queue {proc.status}.", expected="exit status 0", procs=[proc])
    left = queues.count(key)
    if left is not None:
        raise SpecFailure(
            f"{queues.cmd('rm')} exited 0, but the queue with KEY still exists, holding {plural(left, 'message')}: it leaks.",
            evidence=[queues.shown(key)],
            fix="Remove it with msgctl(IPC_RMID).",
            procs=[proc],
        )


@spec(
    "msgq.no-such-queue",
    points=1,
    hint="`recv` and `rm` open the queue with msgget(KEY, 0), without IPC_CREAT: ENOENT means "
    "`no such queue` and exit 1.",
)
def test_no_such_queue(impl, queues):
    """`recv` and `rm` on a KEY with no queue exit 1 and create nothing."""
    key = queues.new_address()
    who = queues.cmd("recv", 0)
    proc = queues.run_recv(impl, key, "0", because="on a KEY with no queue: it created the queue instead of failing")
    if proc.status.code != 1 or b"no such queue" not in proc.stderr.data.lower():
        raise SpecFailure(
            f"{who} with no queue under KEY {proc.status} with stderr {proc.stderr.data[-200:]!r}.",
            expected="exit status 1 and `no such queue`",
            procs=[proc],
        )
    if queues.count(key) is not None:
        raise SpecFailure(f"{who} created a queue under KEY; recv must not create one (no IPC_CREAT).", evidence=[queues.shown(key)], procs=[proc])
    proc = impl.run("rm", str(key), timeout=deadline.STEP)
    expect_exit(proc, 1, f"{queues.cmd('rm')} with no queue under KEY")
    # the work these refusals are about: with a queue under KEY, recv takes its message and rm removes it
    key = queues.create()
    queues.send(key, 3, b"here it is")
    with needs("msgq.uses-sysv-queue"):
        proc = queues.run_recv(impl, key, "0", because="although a message is queued")
        got = queues.received_ok(proc, who)
        if got != Message(3, b"here it is"):
            raise SpecFailure(f"{who} on a queue holding a message printed {queues.show(got)}.", expected="type 3 b'here it is'", procs=[proc])
    with needs("msgq.rm-removes"):
        proc = impl.run("rm", str(key), timeout=deadline.STEP)
        expect_exit(proc, 0, f"{queues.cmd('rm')} on an existing queue")
        if queues.count(key) is not None:
            raise SpecFailure(f"{queues.cmd('rm')} exited 0, but the queue with KEY still exists.", evidence=[queues.shown(key)], procs=[proc])
