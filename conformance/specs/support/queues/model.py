"""The model of a queue: which message a receive takes, and operations played on the
implementation's queue and on the model beside it (Hypothesis's model-based specs)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from conformance.outcomes import Sentence, SpecFailure, SpecTimeout
from conformance.run.process import Proc

from .driver import Message, Ordering, Queues, describe_message


class TypeRule(Ordering):
    """msgrcv's type rule (msgrcv(2)): TYPE 0 takes the oldest message; TYPE > 0 the oldest
    message of exactly that type; TYPE < 0 the oldest message of the lowest type at most |TYPE|."""

    held = drained = Sentence("oldest first")
    take_selector = 0

    def pick(self, queued: list[Message], selector: int | None) -> Message | None:
        mtype = selector or 0
        if mtype == 0:
            matching = queued
        elif mtype > 0:
            matching = [m for m in queued if m.number == mtype]
        else:
            lowest = min((m.number for m in queued if m.number <= -mtype), default=None)
            matching = [m for m in queued if m.number == lowest]
        return matching[0] if matching else None

    def rule(self, selector: int | None) -> str:
        mtype = selector or 0
        if mtype == 0:
            return Sentence("the oldest message (TYPE 0)")
        if mtype > 0:
            return Sentence("the oldest message of type %(type)s", type=mtype)
        return Sentence("the oldest message of the lowest type at most %(type)s", type=-mtype)

    def selectors(self, queued: list[Message]) -> list[int]:
        """0, a queued type, minus a queued type, or minus one more than a queued type, so that
        negative types often skip over higher queued types."""
        types = {m.number for m in queued}
        return sorted({0, *types, *(-t for t in types), *(-t - 1 for t in types)})


class PriorityOrder(Ordering):
    """mq_receive's order (mq_receive(3)): the oldest message of the highest priority."""

    held = Sentence("in the order sent")
    drained = Sentence("highest priority first")
    take_selector = None

    def pick(self, queued: list[Message], selector: int | None) -> Message | None:
        if not queued:
            return None
        top = max(m.number for m in queued)
        return next(m for m in queued if m.number == top)

    def rule(self, selector: int | None) -> str:
        return Sentence("the oldest message of the highest priority")


@dataclass(frozen=True)
class Send:
    """Send a message of NUMBER (a type, a priority): by the grader or by the program's `send`."""

    number: int
    via: str = "grader"
    extra: bytes = b""


@dataclass(frozen=True)
class Recv:
    """Run `recv`, with SELECTOR where the mechanism takes one (msgrcv's TYPE); played only when
    a message is there for it to take, so it must not sleep."""

    selector: int | None = None


def sends(numbers: st.SearchStrategy[int]) -> st.SearchStrategy[Send]:
    """Sends of NUMBERS, by the grader or the program, with a few bytes to tell them apart."""
    return st.builds(Send, number=numbers, via=st.sampled_from(["grader", "impl"]), extra=st.binary(max_size=6))


@st.composite
def operations(draw, ordering: Ordering, numbers: st.SearchStrategy[int], capacity: int | None = None, max_ops: int = 12) -> list:
    """Sends and receives that never overfill a queue of CAPACITY messages (None: no limit) and
    never receive when nothing is there to take (the blocking specs check those)."""
    queued: list[Message] = []
    ops: list = []
    for _ in range(draw(st.integers(0, max_ops))):
        if queued and (len(queued) == capacity or draw(st.booleans())):
            choices = ordering.selectors(queued)
            selector = None if choices is None else draw(st.sampled_from(choices))
            ops.append(Recv(selector))
            queued.remove(ordering.pick(queued, selector))
        else:
            op = draw(sends(numbers))
            ops.append(op)
            queued.append(Message(op.number, b""))
    return ops


def play(queues: Queues, impl, address: Any, ops: list, *, capacity: int | None = None) -> None:
    """Play OPS on the queue at ADDRESS and on the model beside it (queues.ordering).

    Fails at the first receive that takes another message than the model, and when the queue
    is left holding other messages; every failure, a helper's too, lists the steps so far.
    """
    ordering = queues.ordering
    model: list[Message] = []
    steps: list[str] = []
    ran: list[Proc] = []
    try:
        for n, op in enumerate(ops):
            if isinstance(op, Send):
                if len(model) == capacity:
                    continue  # the queue is full: a send would sleep (send-blocks-when-full checks that)
                msg = Message(op.number, b"m%d:" % n + op.extra)
                if op.via == "grader":
                    queues.send(address, msg.number, msg.body)
                    steps.append(Sentence("the grader sends %(message)s", message=queues.show(msg)))
                else:
                    steps.append(Sentence("%(command)s sends %(message)s", command=queues.cmd("send", msg.number), message=describe_message(None, msg.body)))
                    ran.append(queues.sent_ok(impl, address, msg.number, msg.body))
                model.append(msg)
                continue
            want = ordering.pick(model, op.selector)
            if want is None:
                continue  # nothing to take: a receive would sleep (recv-blocks checks that)
            queued = queues.text(model)
            args = queues.recv_args(op.selector)
            who = queues.cmd("recv", *args)
            steps.append(who)  # what the grader runs; what it printed follows once it has
            proc = queues.run_recv(
                impl, address, *args,
                because=Sentence("although %(message)s is queued: it is %(rule)s; the queue holds (%(order)s) %(queued)s",
                                 message=queues.show(want), rule=ordering.rule(op.selector), order=ordering.held, queued=queued),
            )
            ran.append(proc)
            got = queues.received_ok(proc, who)
            steps[-1] = Sentence("%(command)s prints %(message)s", command=who, message=queues.show(got))
            if got != want:
                raise SpecFailure(
                    Sentence("The queue held (%(order)s) %(queued)s. %(command)s printed %(message)s.",
                             order=ordering.held, queued=queued, command=who, message=queues.show(got)),
                    expected=Sentence("%(rule)s: %(message)s", rule=ordering.rule(op.selector), message=queues.show(want)),
                    done=_steps(steps),
                    procs=[proc, *ran[:-1]],
                )
            model.remove(want)
        left = queues.take_all(address)
        expected = ordering.drain(model)
        if left != expected:
            raise SpecFailure(
                Sentence("Afterwards the queue holds (%(order)s) %(messages)s.", order=ordering.drained, messages=queues.text(left)),
                expected=Sentence("the queue to hold %(messages)s", messages=queues.text(expected)),
                done=_steps(steps),
                fix=Sentence("A recv must take exactly one message, and a send add exactly one."),
                procs=ran,
            )
    except (SpecFailure, SpecTimeout) as exc:  # both Explained: their parts
        if steps:  # a helper's failure: say how the queue got there
            exc.with_done(_steps(steps))
        raise


def _steps(steps: list[str]) -> str:
    """The grader's steps as a numbered list, ending in a newline: the observation follows."""
    if not steps:
        return ""
    numbered: str = ""
    for i, step in enumerate(steps):
        numbered = Sentence("%(steps)s\n  %(n)s. %(step)s", steps=numbered, n=i + 1, step=step)
    return Sentence("After these steps on one queue:%(steps)s\n", steps=numbered)
