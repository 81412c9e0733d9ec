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
from dataclasses import dataclass

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from conformance import observe
from conformance.outcomes import HarnessBroken, SpecFailure, Unsupported
from conformance.queues import (
    MSGRCV,
    MSGSND,
    SysvQueues,
    Taken,
    describe_message,
    msgmax,
    received,
)
from conformance.settle import asleep_in, settle
from conformance.spec import spec
from conformance.strategies import spec_settings

#: How long a program gets to do one step: start, send or receive, block, exit.
STEP_DEADLINE = 5
#: A window in which a sleeping receiver must NOT wake (a non-matching message was queued).
#: The kernel decides at once whether a message wakes a receiver; 0.3 s is ample to see one wake.
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


# --- helpers -------------------------------------------------------------------------------


def _cmd(*args) -> str:
    return "`msgq " + " ".join(str(a) for a in args) + "`"


def _show(msg: Taken) -> str:
    return describe_message(msg.type, msg.body)


def _send(impl, key, mtype, body: bytes, *flags, because: str = "although the queue has room"):
    """Run `msgq send KEY TYPE [FLAGS]` with BODY on stdin, to the end (it must not sleep)."""
    proc = impl.spawn("send", str(key), str(mtype), *flags)
    proc.feed(body)
    blocked = settle(proc, MSGSND, STEP_DEADLINE)
    if blocked:
        raise SpecFailure(
            f"{_cmd('send KEY', mtype, *flags)} with {len(body)} bytes sleeps in msgsnd ({blocked}) "
            f"{because}.\n{proc.transcript()}"
        )
    proc.wait(STEP_DEADLINE)
    return proc


def _sent_ok(impl, key, mtype, body: bytes) -> None:
    proc = _send(impl, key, mtype, body)
    if not proc.status.ok:
        raise SpecFailure(
            f"{_cmd('send KEY', mtype)} with {describe_message(None, body)} on stdin {proc.status}; "
            f"expected exit status 0.\n{proc.transcript()}"
        )


def _recv(impl, key, mtype, *flags, because: str):
    """Run `msgq recv KEY TYPE [FLAGS]` that must finish at once; BECAUSE says why it must."""
    proc = impl.spawn("recv", str(key), str(mtype), *flags, stdin="devnull")
    blocked = settle(proc, MSGRCV, STEP_DEADLINE)
    if blocked:
        raise SpecFailure(f"{_cmd('recv KEY', mtype, *flags)} sleeps in msgrcv ({blocked}) {because}.\n{proc.transcript()}")
    proc.wait(STEP_DEADLINE)
    return proc


def _received_ok(proc, args: str) -> Taken:
    if not proc.status.ok:
        raise SpecFailure(f"{args} {proc.status}; expected exit status 0 and a message.\n{proc.transcript()}")
    mtype, body = received(proc, "TYPE")
    return Taken(mtype, body)


def _grader_send(queue, mtype: int, body: bytes) -> None:
    try:
        queue.send(body, block=False, type=mtype)
    except Exception as exc:
        raise HarnessBroken(f"the grader could not send type {mtype} ({len(body)} bytes) to its queue: {exc}") from exc


def _rule(mtype: int) -> str:
    if mtype == 0:
        return "the oldest message (TYPE 0)"
    if mtype > 0:
        return f"the oldest message of type {mtype}"
    return f"the oldest message of the lowest type at most {-mtype}"


def _pick(queued: list[Taken], mtype: int) -> Taken | None:
    """msgrcv's choice from QUEUED (oldest first) for MTYPE: the trivially correct model."""
    if mtype == 0:
        matching = queued
    elif mtype > 0:
        matching = [m for m in queued if m.type == mtype]
    else:
        lowest = min((m.type for m in queued if m.type <= -mtype), default=None)
        matching = [m for m in queued if m.type == lowest]
    return matching[0] if matching else None


def _queue_text(queued: list[Taken]) -> str:
    return "; ".join(_show(m) for m in queued) or "nothing"


# --- typed receive: a model-based spec -----------------------------------------------------


@dataclass(frozen=True)
class Send:
    """Send a message of TYPE: by the grader (sysv_ipc) or by `msgq send`."""

    type: int
    via: str = "grader"
    extra: bytes = b""


@dataclass(frozen=True)
class Recv:
    """`msgq recv KEY TYPE` (played only when a message matches, so it must not sleep)."""

    type: int


SENDS = st.builds(Send, type=st.integers(1, 4), via=st.sampled_from(["grader", "impl"]), extra=st.binary(max_size=6))


@st.composite
def operations(draw, max_ops: int = 12) -> list:
    """Sends and receives; a receive is drawn only with a TYPE that matches a queued message.

    The TYPE of a receive is one of 0, a queued type, minus a queued type, or minus one more
    than a queued type, so that negative types often skip over higher queued types.
    """
    queued: list[Taken] = []
    ops: list = []
    for _ in range(draw(st.integers(0, max_ops))):
        if queued and draw(st.booleans()):
            types = {m.type for m in queued}
            mtype = draw(st.sampled_from(sorted({0, *types, *(-t for t in types), *(-t - 1 for t in types)})))
            ops.append(Recv(mtype))
            queued.remove(_pick(queued, mtype))
        else:
            op = draw(SENDS)
            ops.append(op)
            queued.append(Taken(op.type, b""))
    return ops


@spec(
    "msgq.typed-receive",
    points=4,
    hint="Pass TYPE unchanged as msgrcv's msgtyp: 0 takes the oldest message, a positive TYPE the "
    "oldest of that type, a negative TYPE the oldest of the lowest type <= |TYPE|. Never filter "
    "or reorder messages yourself.",
    timeout=120,
)
@spec_settings(max_examples=15)
@given(ops=operations())
@example(ops=[Send(3), Send(1), Send(2), Recv(-2), Recv(-3), Recv(-5)])
@example(ops=[Send(2, "impl"), Send(1), Send(2), Send(1, "impl"), Recv(2), Recv(0), Recv(-1), Recv(2)])
@example(ops=[Send(4), Send(3, "impl"), Recv(-4), Send(2), Recv(-3), Recv(4)])
def test_typed_receive(impl, queues, ops):
    """`msgq recv` with TYPE 0, TYPE > 0 and TYPE < 0 takes the message msgrcv's type rule names."""
    queue = queues.create()
    key = queue.key
    model: list[Taken] = []
    steps: list[str] = []

    def failure(text: str) -> SpecFailure:
        done = "\n".join(f"  {i + 1}. {s}" for i, s in enumerate(steps))
        return SpecFailure(f"after these steps on one queue:\n{done}\n{text}")

    try:
        for n, op in enumerate(ops):
            if isinstance(op, Send):
                body = b"m%d:" % n + op.extra
                if op.via == "grader":
                    _grader_send(queue, op.type, body)
                    steps.append(f"the grader sends {describe_message(op.type, body)}")
                else:
                    _sent_ok(impl, key, op.type, body)
                    steps.append(f"{_cmd('send KEY', op.type)} sends {describe_message(None, body)}")
                model.append(Taken(op.type, body))
                continue
            want = _pick(model, op.type)
            if want is None:
                continue  # nothing matches: msgrcv would sleep (msgq.recv-blocks checks that)
            queued = _queue_text(model)
            proc = _recv(
                impl, key, op.type,
                because=f"although {_show(want)} is queued and matches: it is {_rule(op.type)}; the queue holds (oldest first) {queued}",
            )
            got = _received_ok(proc, _cmd("recv KEY", op.type))
            steps.append(f"{_cmd('recv KEY', op.type)} prints {_show(got)}")
            if (got.type, got.body) != (want.type, want.body):
                raise failure(
                    f"the queue held (oldest first) {queued}. {_cmd('recv KEY', op.type)} must take "
                    f"{_rule(op.type)}, {_show(want)}, but it printed {_show(got)}."
                )
            model.remove(want)
        left = queues.take_all(key)
        if [(m.type, m.body) for m in left] != [(m.type, m.body) for m in model]:
            raise failure(
                f"afterwards the queue should hold (oldest first) {_queue_text(model)}, but it holds "
                f"{_queue_text(left)}: a recv must take exactly one message, and a send add exactly one."
            )
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
    queue = queues.create()
    sent = [(1, b"one-a"), (2, b"two-a"), (1, b"one-b"), (1, b"one-c"), (2, b"two-b"), (1, b"one-d")]
    for mtype, body in sent:
        _grader_send(queue, mtype, body)
    for mtype in (1, 2):
        expected = [body for t, body in sent if t == mtype]
        got = []
        for i in range(len(expected)):
            proc = _recv(impl, queue.key, mtype, because=f"although {len(expected) - i} messages of type {mtype} are queued")
            got.append(_received_ok(proc, _cmd("recv KEY", mtype)).body)
        if got != expected:
            raise SpecFailure(
                f"the grader sent, in this order, {', '.join(f'type {t} {b!r}' for t, b in sent)}; "
                f"{len(expected)} runs of {_cmd('recv KEY', mtype)} printed {got}, expected {expected} "
                f"(first in, first out within a type)."
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
    queue = queues.create()
    key = queue.key
    receiver = impl.spawn("recv", str(key), "2", stdin="devnull")
    asleep_in(receiver, MSGRCV, STEP_DEADLINE, who=f"{_cmd('recv KEY', 2)} on an empty queue", fix=SLEEP_IN_MSGRCV)
    _grader_send(queue, 1, b"not for you")
    if receiver.exited_within(NO_WAKE_WINDOW):  # a window in which it must not wake
        receiver.wait(STEP_DEADLINE)
        raise SpecFailure(
            f"{_cmd('recv KEY', 2)} was asleep in msgrcv; the grader queued a message of type 1 and "
            f"the receiver {receiver.status} instead of sleeping on: a message of another type must "
            f"not end it.\n{receiver.transcript()}"
        )
    still = settle(receiver, MSGRCV, STEP_DEADLINE, fix=SLEEP_IN_MSGRCV)
    if still is None:
        raise SpecFailure(f"{_cmd('recv KEY', 2)} exited after a message of type 1 was queued.\n{receiver.transcript()}")
    count = queues.count(key)
    if count != 1:
        raise SpecFailure(
            f"{_cmd('recv KEY', 2)} sleeps ({still}), but the message of type 1 the grader queued "
            f"is gone: the queue holds {count} messages, expected 1. Do not take messages of other types."
        )
    _grader_send(queue, 2, b"for you")
    if not receiver.exited_within(STEP_DEADLINE):
        raise SpecFailure(
            f"{_cmd('recv KEY', 2)} did not wake within {STEP_DEADLINE} s of a message of type 2 "
            f"arriving: {observe.describe(receiver.pid)}.\n{receiver.transcript()}"
        )
    receiver.wait(STEP_DEADLINE)
    got = _received_ok(receiver, _cmd("recv KEY", 2))
    if (got.type, got.body) != (2, b"for you"):
        raise SpecFailure(f"{_cmd('recv KEY', 2)} woke and printed {_show(got)}; expected type 2 b'for you'.\n{receiver.transcript()}")
    left = queues.take_all(key)
    if [(m.type, m.body) for m in left] != [(1, b"not for you")]:
        raise SpecFailure(f"afterwards the queue holds {_queue_text(left)}; expected only the type 1 message.")


@spec(
    "msgq.recv-nowait-empty",
    points=1,
    hint="With --nowait pass IPC_NOWAIT to msgrcv; it fails with ENOMSG when no message matches: exit 3.",
)
def test_recv_nowait_empty(impl, queues):
    """`recv --nowait` exits 3 when no message matches, instead of sleeping."""
    queue = queues.create()
    for what in ("an empty queue", "a queue holding only a message of type 1"):
        proc = _recv(impl, queue.key, 2, "--nowait", because=f"on {what} although --nowait was given")
        if proc.status.code != 3:
            raise SpecFailure(
                f"{_cmd('recv KEY', 2, '--nowait')} on {what} {proc.status}; expected exit status 3 "
                f"(would block).\n{proc.transcript()}"
            )
        if what.startswith("an empty"):
            _grader_send(queue, 1, b"other type")
    if queues.count(queue.key) != 1:
        raise SpecFailure(f"{_cmd('recv KEY', 2, '--nowait')} removed the message of type 1; it must stay queued.")


@spec(
    "msgq.send-blocks-when-full",
    points=2,
    hint="Call msgsnd(2) without IPC_NOWAIT: on a full queue the kernel puts you to sleep until there "
    "is room. Never drop the message or give up.",
)
def test_send_blocks_when_full(impl, queues):
    """On a full queue `msgq send` sleeps in msgsnd, and finishes once a message is taken out."""
    queue = queues.create(max_bytes=FULL_BYTES)
    key = queue.key
    _grader_send(queue, 1, b"f" * FULL_BYTES)
    body = b"waiting to be sent"
    sender = impl.spawn("send", str(key), "2")
    sender.feed(body)
    blocked = settle(sender, MSGSND, STEP_DEADLINE, who=f"{_cmd('send KEY', 2)} on a full queue", fix=SLEEP_IN_MSGSND)
    if blocked is None:
        sender.wait(STEP_DEADLINE)
        held = queues.take_all(key)
        raise SpecFailure(
            f"the queue was full (msg_qbytes {FULL_BYTES}, one {FULL_BYTES}-byte message queued); "
            f"{_cmd('send KEY', 2)} {sender.status} instead of sleeping in msgsnd until there was room. "
            f"The queue then held: {_queue_text(held)}.\n{sender.transcript()}"
        )
    if queues.take(key, 1) is None:
        raise HarnessBroken("the grader's own message vanished from the full queue")
    if not sender.exited_within(STEP_DEADLINE):
        raise SpecFailure(
            f"the grader took a message out of the full queue, but {_cmd('send KEY', 2)} did not finish "
            f"within {STEP_DEADLINE} s: {observe.describe(sender.pid)}.\n{sender.transcript()}"
        )
    sender.wait(STEP_DEADLINE)
    if not sender.status.ok:
        raise SpecFailure(f"{_cmd('send KEY', 2)} woke when there was room, then {sender.status}; expected 0.\n{sender.transcript()}")
    left = queues.take_all(key)
    if [(m.type, m.body) for m in left] != [(2, body)]:
        raise SpecFailure(f"after the sender finished the queue holds {_queue_text(left)}; expected type 2 {body!r}.")


@spec(
    "msgq.send-nowait-full",
    points=1,
    hint="With --nowait pass IPC_NOWAIT to msgsnd; on a full queue it fails with EAGAIN: exit 3.",
)
def test_send_nowait_full(impl, queues):
    """`send --nowait` on a full queue exits 3 and sends nothing."""
    queue = queues.create(max_bytes=FULL_BYTES)
    _grader_send(queue, 1, b"f" * FULL_BYTES)
    proc = _send(impl, queue.key, 2, b"no room", "--nowait", because="on a full queue although --nowait was given")
    if proc.status.code != 3:
        raise SpecFailure(
            f"the queue was full (msg_qbytes {FULL_BYTES}, {FULL_BYTES} bytes queued); "
            f"{_cmd('send KEY', 2, '--nowait')} {proc.status}; expected exit status 3.\n{proc.transcript()}"
        )
    left = queues.take_all(queue.key)
    if [m.type for m in left] != [1]:
        raise SpecFailure(f"after the refused send the queue holds {_queue_text(left)}; expected only the grader's message.")


# --- sizes -----------------------------------------------------------------------------------


@spec(
    "msgq.too-long",
    points=2,
    hint="Give msgrcv a buffer of N bytes and no MSG_NOERROR: a longer message fails with E2BIG "
    "and the kernel leaves it in the queue; exit 4.",
)
def test_too_long(impl, queues):
    """A message longer than --max-bytes makes `recv` exit 4 and stays in the queue."""
    queue = queues.create()
    body = bytes(range(256)) + b"tail" * 11
    _grader_send(queue, 1, body)
    proc = _recv(impl, queue.key, 1, "--max-bytes", "100", because=f"although a {len(body)}-byte message of type 1 is queued")
    left = queues.take_all(queue.key)
    if proc.status.code != 4:
        fate = "still queued" if left else "gone from the queue: it was lost"
        raise SpecFailure(
            f"{_cmd('recv KEY', 1, '--max-bytes', 100)} with a {len(body)}-byte message queued "
            f"{proc.status}; expected exit status 4 (message too long). The message is {fate}.\n{proc.transcript()}"
        )
    if [(m.type, m.body) for m in left] != [(1, body)]:
        raise SpecFailure(
            f"{_cmd('recv KEY', 1, '--max-bytes', 100)} exited 4, but the queue then held "
            f"{_queue_text(left)}; the {len(body)}-byte message must stay queued, intact."
        )


@spec(
    "msgq.truncate",
    points=1,
    hint="With --truncate receive with MSG_NOERROR (or a buffer big enough for any message) and "
    "print only the first N bytes; the message is consumed.",
)
def test_truncate(impl, queues):
    """`recv --truncate` prints the first N bytes of a longer message and consumes it."""
    queue = queues.create()
    body = bytes(range(256)) + b"tail" * 11
    _grader_send(queue, 1, body)
    args = _cmd("recv KEY", 1, "--max-bytes", 100, "--truncate")
    proc = _recv(impl, queue.key, 1, "--max-bytes", "100", "--truncate", because=f"although a {len(body)}-byte message of type 1 is queued")
    got = _received_ok(proc, args)
    if (got.type, got.body) != (1, body[:100]):
        raise SpecFailure(f"{args} on a {len(body)}-byte message printed {_show(got)}; expected type 1 and its first 100 bytes.\n{proc.transcript()}")
    left = queues.count(queue.key)
    if left != 0:
        raise SpecFailure(f"after {args} the queue still holds {left} message(s): the truncated message must be consumed.")


@spec(
    "msgq.send-too-long",
    points=1,
    hint="Check the length of stdin before sending: more than 8192 bytes is exit 4 and no message.",
)
def test_send_too_long(impl, queues):
    """`send` of more than 8192 bytes exits 4 and sends nothing; 8192 bytes go through."""
    queue = queues.create()
    if msgmax() < MAX_MESSAGE or queue.max_size < MAX_MESSAGE:
        raise Unsupported(f"this kernel's System V limits (msgmax {msgmax()}, msgmnb {queue.max_size}) are below {MAX_MESSAGE} bytes")
    big = bytes(range(256)) * (MAX_MESSAGE // 256)
    proc = _send(impl, queue.key, 1, big + b"!")
    if proc.status.code != 4:
        raise SpecFailure(f"{_cmd('send KEY', 1)} with {MAX_MESSAGE + 1} bytes {proc.status}; expected exit status 4.\n{proc.transcript()}")
    if queues.count(queue.key) != 0:
        raise SpecFailure(f"{_cmd('send KEY', 1)} with {MAX_MESSAGE + 1} bytes exited 4 but queued a message; nothing may be sent.")
    _sent_ok(impl, queue.key, 1, big)
    left = queues.take_all(queue.key)
    if [(m.type, m.body) for m in left] != [(1, big)]:
        raise SpecFailure(f"{_cmd('send KEY', 1)} with exactly {MAX_MESSAGE} bytes left {_queue_text(left)} in the queue; expected that one message, intact.")


# --- the queue's life ------------------------------------------------------------------------


@spec(
    "msgq.removed-while-waiting",
    points=1,
    hint="msgrcv fails with EIDRM when the queue is removed under it: report the error and exit 1, "
    "do not retry or create the queue again.",
)
def test_removed_while_waiting(impl, queues):
    """A receiver sleeping on a queue that is removed exits 1 at once."""
    queue = queues.create()
    receiver = impl.spawn("recv", str(queue.key), "0", stdin="devnull")
    asleep_in(receiver, MSGRCV, STEP_DEADLINE, who=f"{_cmd('recv KEY', 0)} on an empty queue", fix=SLEEP_IN_MSGRCV)
    queues.remove(queue.key)
    if not receiver.exited_within(STEP_DEADLINE):
        again = queues.count(queue.key)
        raise SpecFailure(
            f"the grader removed the queue (msgctl IPC_RMID) under {_cmd('recv KEY', 0)}; it had not "
            f"exited {STEP_DEADLINE} s later: {observe.describe(receiver.pid)}"
            + (f"; a new queue with KEY exists again ({again} messages): it was created anew" if again is not None else "")
            + f".\n{receiver.transcript()}"
        )
    status = receiver.wait(STEP_DEADLINE)
    if status.code != 1:
        raise SpecFailure(f"after its queue was removed, {_cmd('recv KEY', 0)} {status}; expected exit status 1.\n{receiver.transcript()}")


@spec(
    "msgq.persists",
    points=2,
    hint="`send` puts the message in the kernel's queue (msgget with IPC_CREAT, then msgsnd) and exits "
    "at once; the queue keeps it for a receiver that comes later.",
)
def test_persists(impl, queues):
    """A message outlives its sender: sent by a process that has exited, it is received later."""
    key = queues.new_key()
    body = b"left behind\n\x00by an exited sender"
    sender = _send(impl, key, 5, body)
    if not sender.status.ok:
        raise SpecFailure(f"{_cmd('send KEY', 5)} {sender.status} with no queue under KEY yet; expected it to create the queue and exit 0.\n{sender.transcript()}")
    count = queues.count(key)
    if count != 1:
        raise SpecFailure(
            f"{_cmd('send KEY', 5)} exited 0, and then "
            + ("no System V queue with KEY exists" if count is None else f"the queue with KEY holds {count} messages, not 1")
            + ": the message must wait in the kernel's queue after its sender is gone."
        )
    proc = _recv(impl, key, 5, because="although the message of type 5 sent earlier is queued")
    got = _received_ok(proc, _cmd("recv KEY", 5))
    if (got.type, got.body) != (5, body):
        raise SpecFailure(f"{_cmd('recv KEY', 5)} after the sender exited printed {_show(got)}; expected {describe_message(5, body)}.\n{proc.transcript()}")


@spec(
    "msgq.concurrent-receivers",
    points=2,
    hint="Each receiver makes one msgrcv call and prints what it got: the kernel hands each message "
    "to exactly one of them.",
)
def test_concurrent_receivers(impl, queues):
    """Several receivers at once: every message is received exactly once."""
    queue = queues.create()
    count = 4
    receivers = [impl.spawn("recv", str(queue.key), "0", stdin="devnull") for _ in range(count)]
    for i, r in enumerate(receivers):
        asleep_in(r, MSGRCV, STEP_DEADLINE, who=f"receiver #{i + 1} ({_cmd('recv KEY', 0)} on an empty queue)", fix=SLEEP_IN_MSGRCV)
    sent = [b"message %d" % i for i in range(count)]
    for body in sent:
        _grader_send(queue, 1, body)
    got = []
    for i, r in enumerate(receivers):
        if not r.exited_within(STEP_DEADLINE):
            raise SpecFailure(
                f"{count} receivers slept in msgrcv and the grader sent {count} messages; receiver #{i + 1} "
                f"had not exited {STEP_DEADLINE} s later: {observe.describe(r.pid)}. The queue holds "
                f"{queues.count(queue.key)} message(s).\n{r.transcript()}"
            )
        r.wait(STEP_DEADLINE)
        got.append(_received_ok(r, f"receiver #{i + 1} ({_cmd('recv KEY', 0)})").body)
    if Counter(got) != Counter(sent):
        raise SpecFailure(f"{count} receivers printed {sorted(got)}; the grader sent {sorted(sent)}: each exactly once.")
    if queues.count(queue.key) != 0:
        raise SpecFailure(f"after {count} receives of {count} messages the queue still holds {queues.count(queue.key)}.")


@spec(
    "msgq.invalid-type",
    points=1,
    hint="A message type must be a positive integer (msgsnd fails with EINVAL otherwise): check it "
    "first, print the reason and exit 1 without sending.",
)
def test_invalid_type(impl, queues):
    """`send` with a TYPE that is not a positive integer exits 1 and sends nothing."""
    queue = queues.create()
    for bad in ("0", "-3", "two"):
        proc = _send(impl, queue.key, bad, b"bad type")
        if proc.status.code != 1:
            raise SpecFailure(f"{_cmd('send KEY', bad)} {proc.status}; expected exit status 1 (TYPE must be a positive integer).\n{proc.transcript()}")
        left = queues.take_all(queue.key)
        if left:
            raise SpecFailure(f"{_cmd('send KEY', bad)} exited 1 but queued {_queue_text(left)}; nothing may be sent.")


@spec(
    "msgq.uses-sysv-queue",
    points=2,
    hint="Use the System V queue with the KEY from the command line: msgget(KEY, IPC_CREAT | 0600), "
    "msgsnd/msgrcv with a struct { long mtype; char mtext[]; }.",
)
def test_uses_sysv_queue(impl, queues):
    """`msgq` talks to the real System V queue with KEY: messages cross both ways with sysv_ipc."""
    queue = queues.create()
    body = bytes(range(256)) + b"\nend\x00"
    _grader_send(queue, 7, body)
    proc = _recv(impl, queue.key, 7, because="although the grader queued a message of type 7 with sysv_ipc")
    got = _received_ok(proc, _cmd("recv KEY", 7))
    if (got.type, got.body) != (7, body):
        raise SpecFailure(f"the grader sent {describe_message(7, body)} with sysv_ipc; {_cmd('recv KEY', 7)} printed {_show(got)}.\n{proc.transcript()}")
    key = queues.new_key()
    body = b"\x00\xffback the other way\n"
    _sent_ok(impl, key, 9, body)
    mode = queues.mode(key)
    if mode is None:
        raise SpecFailure(f"{_cmd('send KEY', 9)} exited 0, but no System V queue with KEY ({key}) exists: create it with msgget(KEY, IPC_CREAT | 0600).")
    taken = queues.take_all(key)
    if [(m.type, m.body) for m in taken] != [(9, body)]:
        raise SpecFailure(f"{_cmd('send KEY', 9)} sent {describe_message(None, body)}; the grader found {_queue_text(taken)} in the queue with KEY.")
    if mode != 0o600:
        raise SpecFailure(f"the queue {_cmd('send KEY', 9)} created has mode {mode:04o}; the contract says 0600.")


@spec(
    "msgq.rm-removes",
    points=1,
    hint="`rm` calls msgctl(id, IPC_RMID, NULL): the queue and every message in it are gone.",
)
def test_rm_removes(impl, queues):
    """`msgq rm` removes the queue and its messages: no queue with KEY is left behind."""
    queue = queues.create()
    _grader_send(queue, 1, b"doomed")
    proc = impl.run("rm", str(queue.key), timeout=STEP_DEADLINE)
    if not proc.status.ok:
        raise SpecFailure(f"{_cmd('rm KEY')} on an existing queue {proc.status}; expected exit status 0.\n{proc.transcript()}")
    left = queues.count(queue.key)
    if left is not None:
        raise SpecFailure(
            f"{_cmd('rm KEY')} exited 0, but the queue with KEY still exists, holding {left} message(s): "
            f"it leaks (see /proc/sysvipc/msg). Remove it with msgctl(IPC_RMID)."
        )


@spec(
    "msgq.no-such-queue",
    points=1,
    hint="`recv` and `rm` open the queue with msgget(KEY, 0), without IPC_CREAT: ENOENT means "
    "`no such queue` and exit 1.",
)
def test_no_such_queue(impl, queues):
    """`recv` and `rm` on a KEY with no queue exit 1 and create nothing."""
    key = queues.new_key()
    proc = _recv(impl, key, 0, because="on a KEY with no queue: it created the queue instead of failing")
    if proc.status.code != 1 or b"no such queue" not in proc.stderr.data.lower():
        raise SpecFailure(
            f"{_cmd('recv KEY', 0)} with no queue under KEY {proc.status} with stderr {proc.stderr.data[-200:]!r}; "
            f"expected exit status 1 and `no such queue`.\n{proc.transcript()}"
        )
    if queues.count(key) is not None:
        raise SpecFailure(f"{_cmd('recv KEY', 0)} created a queue under KEY; recv must not create one (no IPC_CREAT).")
    proc = impl.run("rm", str(key), timeout=STEP_DEADLINE)
    if proc.status.code != 1:
        raise SpecFailure(f"{_cmd('rm KEY')} with no queue under KEY {proc.status}; expected exit status 1.\n{proc.transcript()}")
