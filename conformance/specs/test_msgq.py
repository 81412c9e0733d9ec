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
from conformance.outcomes import Sentence, SpecFailure, Unsupported, needs, one_after_another
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
from conformance.specs.support.queues import messages, numbered

#: A window in which a sleeping receiver must NOT wake (a non-matching message was queued): not
#: a deadline but a measurement. The kernel decides at once whether a message wakes a receiver;
#: 0.3 s is ample to see one wake.
NO_WAKE_WINDOW = 0.3
#: The queue's byte limit (msg_qbytes) for the full-queue specs: one message of this size fills it.
FULL_BYTES = 256
#: The contract's largest message.
MAX_MESSAGE = 8192
#: What to do instead of polling.
SLEEP_IN_MSGRCV = Sentence("Call msgrcv(2) without IPC_NOWAIT and let the kernel wake you when a message arrives.")
SLEEP_IN_MSGSND = Sentence("Call msgsnd(2) without IPC_NOWAIT and let the kernel wake you when there is room.")


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
            proc = queues.run_recv(impl, key, str(mtype), because=Sentence("although %(count)s messages of type %(type)s are queued", count=len(expected) - i, type=mtype))
            runs.append(proc)
            got.append(queues.received_ok(proc, queues.cmd("recv", mtype)).body)
        if got != expected:
            types = dict((body, t) for t, body in sent)
            other = next((b for b in got if types.get(b, mtype) != mtype), None)
            why = (
                [Sentence("%(message)s is a message of type %(other)s: it received a message of another type than %(type)s.",
                          message=repr(other), other=types[other], type=mtype)]
                if other is not None
                else [Sentence("That is newest first: it took the last message of the type sent, not the oldest (last in, first out).")]
                if got == expected[::-1]
                else []
            )
            printed = Sentence("%(count)s runs of %(command)s printed %(got)s.", count=len(expected), command=queues.cmd("recv", mtype), got=str(got))
            raise SpecFailure(
                one_after_another([printed, *why], " "),
                expected=Sentence("%(expected)s: first in, first out within a type", expected=str(expected)),
                done=Sentence("The grader sent, in this order, %(messages)s.", messages=one_after_another([numbered("type", t, b) for t, b in sent], ", ")),
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
    asleep_in(receiver, MSGRCV, deadline.STEP, who=Sentence("%(command)s on an empty queue", command=who), fix=SLEEP_IN_MSGRCV)
    queues.send(key, 1, b"not for you")
    if receiver.exited_within(NO_WAKE_WINDOW):  # a window in which it must not wake
        receiver.wait(deadline.STEP)
        raise SpecFailure(
            Sentence("The receiver %(status)s instead of sleeping on: a message of another type must not end it.", status=receiver.status.words()),
            done=Sentence("%(command)s was asleep in msgrcv; the grader queued a message of type 1.", command=who),
            procs=[receiver],
        )
    still = settle.settle(receiver, MSGRCV, deadline.STEP, fix=SLEEP_IN_MSGRCV)
    if still is None:
        raise SpecFailure(Sentence("%(command)s exited after a message of type 1 was queued.", command=who), procs=[receiver])
    count = queues.count(key)
    if count != 1:
        raise SpecFailure(
            Sentence("%(command)s sleeps, but the message of type 1 the grader queued is gone: the queue holds %(count)s messages.", command=who, count=count),
            expected=messages(1),
            evidence=[still.words()],
            fix=Sentence("Do not take messages of other types."),
            procs=[receiver],
        )
    queues.wakes_for(receiver, key, Message(2, b"for you"), who=who, arriving=Sentence("a message of type 2"))
    left = queues.take_all(key)
    if left != [Message(1, b"not for you")]:
        raise SpecFailure(Sentence("Afterwards the queue holds %(messages)s.", messages=queues.text(left)),
                          expected=Sentence("only the type 1 message"), procs=[receiver])


@spec(
    "msgq.recv-nowait-empty",
    points=1,
    hint="With --nowait pass IPC_NOWAIT to msgrcv; it fails with ENOMSG when no message matches: exit 3.",
)
def test_recv_nowait_empty(impl, queues):
    """`recv --nowait` exits 3 when no message matches, instead of sleeping."""
    key = queues.create()
    who = queues.cmd("recv", 2, "--nowait")
    for empty, what in ((True, Sentence("an empty queue")), (False, Sentence("a queue holding only a message of type 1"))):
        proc = queues.run_recv(impl, key, "2", "--nowait", because=Sentence("on %(what)s although --nowait was given", what=what))
        expect_exit(proc, 3, Sentence("%(command)s on %(what)s", command=who, what=what), Sentence("would block"))
        if empty:
            queues.send(key, 1, b"other type")
    if queues.count(key) != 1:
        raise SpecFailure(Sentence("%(command)s removed the message of type 1; it must stay queued.", command=who))
    # the work this refusal is about: with a message of its type queued, --nowait takes it
    queues.send(key, 2, b"there now")
    with needs("msgq.uses-sysv-queue"):
        proc = queues.run_recv(impl, key, "2", "--nowait", because=Sentence("although a message of type 2 is queued"))
        got = queues.received_ok(proc, Sentence("%(command)s with a message of type 2 queued", command=who))
        if got != Message(2, b"there now"):
            raise SpecFailure(Sentence("%(command)s with a message of type 2 queued printed %(message)s.", command=who, message=queues.show(got)),
                              expected=numbered("type", 2, b"there now"), procs=[proc])


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
    full = Sentence("msg_qbytes %(bytes)s, one %(bytes)s-byte message queued", bytes=FULL_BYTES)
    sender = queues.sleeps_until_room(impl, key, 2, body, full=full, fix=SLEEP_IN_MSGSND)
    left = queues.take_all(key)
    if left != [Message(2, body)]:
        raise SpecFailure(Sentence("After the sender finished the queue holds %(messages)s.", messages=queues.text(left)),
                          expected=numbered("type", 2, body), procs=[sender])


@spec(
    "msgq.send-nowait-full",
    points=1,
    hint="With --nowait pass IPC_NOWAIT to msgsnd; on a full queue it fails with EAGAIN: exit 3.",
)
def test_send_nowait_full(impl, queues):
    """`send --nowait` on a full queue exits 3 and sends nothing."""
    key = queues.create(max_bytes=FULL_BYTES)
    queues.send(key, 1, b"f" * FULL_BYTES)
    proc = queues.run_send(impl, key, 2, b"no room", "--nowait", because=Sentence("on a full queue although --nowait was given"))
    expect_exit(proc, 3, Sentence("The queue was full (msg_qbytes %(bytes)s, %(bytes)s bytes queued); %(command)s",
                                  bytes=FULL_BYTES, command=queues.cmd("send", 2, "--nowait")))
    left = queues.take_all(key)
    if [m.number for m in left] != [1]:
        raise SpecFailure(Sentence("After the refused send the queue holds %(messages)s.", messages=queues.text(left)),
                          expected=Sentence("only the grader's message"), procs=[proc])
    with needs("msgq.uses-sysv-queue"):  # the work this refusal is about: with room, --nowait sends
        proc = queues.sent_ok(impl, key, 2, b"room now", "--nowait")
        left = queues.take_all(key)
        if left != [Message(2, b"room now")]:
            raise SpecFailure(Sentence("%(command)s on an empty queue left %(messages)s.", command=queues.cmd("send", 2, "--nowait"), messages=queues.text(left)),
                              expected=numbered("type", 2, b"room now"), procs=[proc])


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
    queued = Sentence("although a %(n)s-byte message of type 1 is queued", n=len(body))
    proc = queues.run_recv(impl, key, "1", "--max-bytes", "100", because=queued)
    left = queues.take_all(key)
    if proc.status.code != 4:
        fate = Sentence("still queued") if left else Sentence("gone from the queue: it was lost")
        raise SpecFailure(
            Sentence("%(command)s with a %(n)s-byte message queued %(status)s.", command=who, n=len(body), status=proc.status.words()),
            expected=Sentence("exit status 4 (message too long)"),
            evidence=[Sentence("The message is %(fate)s.", fate=fate)],
            procs=[proc],
        )
    if left != [Message(1, body)]:
        raise SpecFailure(
            Sentence("%(command)s exited 4, but the queue then held %(messages)s; the %(n)s-byte message must stay queued, intact.",
                     command=who, messages=queues.text(left), n=len(body)),
            procs=[proc],
        )
    # the work this refusal is about: with room enough in --max-bytes, it receives the message
    queues.send(key, 1, body)
    with needs("msgq.uses-sysv-queue"):
        proc = queues.run_recv(impl, key, "1", "--max-bytes", "1000", because=queued)
        got = queues.received_ok(proc, queues.cmd("recv", 1, "--max-bytes", 1000))
        if got != Message(1, body):
            raise SpecFailure(Sentence("%(command)s printed %(message)s.", command=queues.cmd("recv", 1, "--max-bytes", 1000), message=queues.show(got)),
                              expected=Sentence("the whole %(n)s-byte message", n=len(body)), procs=[proc])


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
    proc = queues.run_recv(impl, key, "1", "--max-bytes", "100", "--truncate",
                           because=Sentence("although a %(n)s-byte message of type 1 is queued", n=len(body)))
    got = queues.received_ok(proc, who)
    if got != Message(1, body[:100]):
        raise SpecFailure(Sentence("%(command)s on a %(n)s-byte message printed %(message)s.", command=who, n=len(body), message=queues.show(got)),
                          expected=Sentence("type 1 and its first 100 bytes"), procs=[proc])
    left = queues.count(key)
    if left != 0:
        raise SpecFailure(Sentence("After %(command)s the queue still holds %(messages)s: the truncated message must be consumed.",
                                   command=who, messages=messages(left)), procs=[proc])


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
            Sentence("%(command)s with %(n)s bytes exited 0 and queued %(size)s bytes: it cut the input and sent the rest as if it fitted.",
                     command=who, n=MAX_MESSAGE + 1, size=sizes[0]) if sizes and sizes[0] < MAX_MESSAGE + 1
            else Sentence("%(command)s with %(n)s bytes exited 0 and queued %(messages)s.", command=who, n=MAX_MESSAGE + 1, messages=queues.text(queued)),
            expected=Sentence("exit status 4 and no message: more than %(max)s bytes is too long; read all of stdin before you decide", max=MAX_MESSAGE),
            procs=[proc],
        )
    expect_exit(proc, 4, Sentence("%(command)s with %(n)s bytes", command=who, n=MAX_MESSAGE + 1))
    if queues.count(key) != 0:
        raise SpecFailure(Sentence("%(command)s with %(n)s bytes exited 4 but queued a message; nothing may be sent.", command=who, n=MAX_MESSAGE + 1), procs=[proc])
    proc = queues.sent_ok(impl, key, 1, big)
    left = queues.take_all(key)
    if left != [Message(1, big)]:
        raise SpecFailure(
            Sentence("%(command)s with exactly %(n)s bytes left %(messages)s in the queue.", command=who, n=MAX_MESSAGE, messages=queues.text(left)),
            expected=Sentence("that one message, intact"),
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
    asleep_in(receiver, MSGRCV, deadline.STEP, who=Sentence("%(command)s on an empty queue", command=who), fix=SLEEP_IN_MSGRCV)
    queues.remove(key)
    waited = Deadline(deadline.STEP)
    if not receiver.finished_within(waited):
        again = queues.count(key)
        raise SpecFailure(
            Sentence("The grader removed the queue (msgctl IPC_RMID) under %(command)s; it had not exited %(waited)s later.", command=who, waited=str(waited)),
            evidence=[
                describe(receiver.pid),
                Sentence("A new queue with KEY exists again (%(count)s messages): it was created anew.", count=again) if again is not None else "",
            ],
            procs=[receiver],
        )
    status = receiver.wait(deadline.STEP)
    if status.code != 1:
        raise SpecFailure(Sentence("After its queue was removed, %(command)s %(status)s.", command=who, status=status.words()),
                          expected=Sentence("exit status 1"), procs=[receiver])


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
            Sentence("%(command)s %(status)s with no queue under KEY yet: none exists afterwards, so it did not create the queue.",
                     command=queues.cmd("send", 5), status=sender.status.words()) if queues.count(key) is None
            else Sentence("%(command)s %(status)s with no queue under KEY yet.", command=queues.cmd("send", 5), status=sender.status.words()),
            expected=Sentence("it to create the queue (msgget with IPC_CREAT) and exit 0"),
            procs=[sender],
        )
    count = queues.count(key)
    if count != 1:
        raise SpecFailure(
            Sentence("%(command)s exited 0, and then no System V queue with KEY exists: the message must wait in the kernel's queue "
                     "after its sender is gone.", command=queues.cmd("send", 5)) if count is None
            else Sentence("%(command)s exited 0, and then the queue with KEY holds %(count)s messages, not 1: the message must wait in "
                          "the kernel's queue after its sender is gone.", command=queues.cmd("send", 5), count=count),
            procs=[sender],
        )
    proc = queues.run_recv(impl, key, "5", because=Sentence("although the message of type 5 sent earlier is queued"))
    got = queues.received_ok(proc, queues.cmd("recv", 5))
    if got != Message(5, body):
        raise SpecFailure(
            Sentence("%(command)s after the sender exited printed %(message)s.", command=queues.cmd("recv", 5), message=queues.show(got)),
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
        asleep_in(r, MSGRCV, deadline.STEP, who=Sentence("receiver #%(n)s (%(command)s on an empty queue)", n=i + 1, command=who), fix=SLEEP_IN_MSGRCV)
    sent = [b"message %d" % i for i in range(count)]
    for body in sent:
        queues.send(key, 1, body)
    got = []
    for i, r in enumerate(receivers):
        waited = Deadline(deadline.STEP)
        if not r.finished_within(waited):
            raise SpecFailure(
                Sentence("%(count)s receivers slept in msgrcv and the grader sent %(count)s messages; receiver #%(n)s "
                         "had not exited %(waited)s later.", count=count, n=i + 1, waited=str(waited)),
                evidence=[describe(r.pid), Sentence("The queue holds %(messages)s.", messages=messages(queues.count(key)))],
                procs=[r],
            )
        r.wait(deadline.STEP)
        got.append(queues.received_ok(r, Sentence("receiver #%(n)s (%(command)s)", n=i + 1, command=who)).body)
    if Counter(got) != Counter(sent):
        raise SpecFailure(Sentence("%(count)s receivers printed %(got)s; the grader sent %(sent)s: each exactly once.",
                                   count=count, got=str(sorted(got)), sent=str(sorted(sent))), procs=receivers)
    left = queues.count(key)
    if left != 0:
        raise SpecFailure(Sentence("After %(count)s receives of %(count)s messages the queue still holds %(left)s.", count=count, left=left), procs=receivers)


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
        expect_exit(proc, 1, queues.cmd("send", bad), Sentence("TYPE must be a positive integer"))
        left = queues.take_all(key)
        if left:
            raise SpecFailure(Sentence("%(command)s exited 1 but queued %(messages)s; nothing may be sent.", command=queues.cmd("send", bad), messages=queues.text(left)),
                              procs=[proc])
    with needs("msgq.uses-sysv-queue"):  # the work this refusal is about: a good TYPE is sent
        proc = queues.sent_ok(impl, key, 5, b"good type")
        left = queues.take_all(key)
        if left != [Message(5, b"good type")]:
            raise SpecFailure(Sentence("%(command)s left %(messages)s in the queue.", command=queues.cmd("send", 5), messages=queues.text(left)),
                              expected=numbered("type", 5, b"good type"), procs=[proc])


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
    proc = queues.run_recv(impl, key, "7", because=Sentence("although the grader queued a message of type 7 with sysv_ipc"))
    got = queues.received_ok(proc, queues.cmd("recv", 7))
    if got != sent:
        raise SpecFailure(Sentence("The grader sent %(sent)s with sysv_ipc; %(command)s printed %(message)s.",
                                   sent=queues.show(sent), command=queues.cmd("recv", 7), message=queues.show(got)), procs=[proc])
    key = queues.new_address()
    who = queues.cmd("send", 9)
    body = b"\x00\xffback the other way\n"
    proc = queues.sent_ok(impl, key, 9, body)
    mode = queues.mode(key)
    if mode is None:
        raise SpecFailure(
            Sentence("%(command)s exited 0, but no System V queue with KEY (%(key)s) exists.", command=who, key=key),
            evidence=[queues.shown(key)],
            fix=Sentence("Create it with msgget(KEY, IPC_CREAT | 0600)."),
            procs=[proc],
        )
    taken = queues.take_all(key)
    if taken != [Message(9, body)]:
        raise SpecFailure(Sentence("%(command)s sent %(message)s; the grader found %(messages)s in the queue with KEY.",
                                   command=who, message=describe_message(None, body), messages=queues.text(taken)), procs=[proc])
    if mode != 0o600:
        raise SpecFailure(Sentence("The queue %(command)s created has mode %(mode)s.", command=who, mode=format(mode, "04o")),
                          expected=Sentence("mode 0600, as the contract says"), procs=[proc])


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
        raise SpecFailure(Sentence("%(command)s on an existing queue %(status)s.", command=queues.cmd("rm"), status=proc.status.words()),
                          expected=Sentence("exit status 0"), procs=[proc])
    left = queues.count(key)
    if left is not None:
        raise SpecFailure(
            Sentence("%(command)s exited 0, but the queue with KEY still exists, holding %(messages)s: it leaks.", command=queues.cmd("rm"), messages=messages(left)),
            evidence=[queues.shown(key)],
            fix=Sentence("Remove it with msgctl(IPC_RMID)."),
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
    proc = queues.run_recv(impl, key, "0", because=Sentence("on a KEY with no queue: it created the queue instead of failing"))
    if proc.status.code != 1 or b"no such queue" not in proc.stderr.data.lower():
        raise SpecFailure(
            Sentence("%(command)s with no queue under KEY %(status)s with stderr %(stderr)s.",
                     command=who, status=proc.status.words(), stderr=repr(proc.stderr.data[-200:])),
            expected=Sentence("exit status 1 and `no such queue`"),
            procs=[proc],
        )
    if queues.count(key) is not None:
        raise SpecFailure(Sentence("%(command)s created a queue under KEY; recv must not create one (no IPC_CREAT).", command=who),
                          evidence=[queues.shown(key)], procs=[proc])
    proc = impl.run("rm", str(key), timeout=deadline.STEP)
    expect_exit(proc, 1, Sentence("%(command)s with no queue under KEY", command=queues.cmd("rm")))
    # the work these refusals are about: with a queue under KEY, recv takes its message and rm removes it
    key = queues.create()
    queues.send(key, 3, b"here it is")
    with needs("msgq.uses-sysv-queue"):
        proc = queues.run_recv(impl, key, "0", because=Sentence("although a message is queued"))
        got = queues.received_ok(proc, who)
        if got != Message(3, b"here it is"):
            raise SpecFailure(Sentence("%(command)s on a queue holding a message printed %(message)s.", command=who, message=queues.show(got)),
                              expected=numbered("type", 3, b"here it is"), procs=[proc])
    with needs("msgq.rm-removes"):
        proc = impl.run("rm", str(key), timeout=deadline.STEP)
        expect_exit(proc, 0, Sentence("%(command)s on an existing queue", command=queues.cmd("rm")))
        if queues.count(key) is not None:
            raise SpecFailure(Sentence("%(command)s exited 0, but the queue with KEY still exists.", command=queues.cmd("rm")),
                              evidence=[queues.shown(key)], procs=[proc])
