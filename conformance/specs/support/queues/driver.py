"""The driver both queue mechanisms share: the grader's side of a queue and the programs'.

Each mechanism (sysv.py, posix.py) implements the grader's side; the programs' side (a `send`
or `recv` run to its end, its output parsed) is written once here, with the interface of a
queue's model (``Ordering``: which message a receive takes), whose rules are model.py's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from conformance import deadline
from conformance.deadline import Deadline
from conformance.kernel import observe
from conformance.outcomes import HarnessBroken, ProgramsInterfered, SpecFailure
from conformance.run.process import Proc

from ..settle import settle

#: The system calls a program sleeps in while it waits on a queue (the *_time64 variants are
#: what 32-bit programs on a 64-bit kernel use).
MSGRCV = frozenset({"msgrcv"})
MSGSND = frozenset({"msgsnd"})
MQ_RECEIVE = frozenset({"mq_timedreceive", "mq_timedreceive_time64"})
MQ_SEND = frozenset({"mq_timedsend", "mq_timedsend_time64"})


@dataclass(frozen=True)
class Message:
    """A message as the grader sees it: its NUMBER (a System V type, a POSIX priority) and body."""

    number: int
    body: bytes


def describe_message(number: int | None, body: bytes, field: str = "type") -> str:
    """`type 3, 5 bytes b'hello'` for messages."""
    preview = repr(body[:40]) + ("..." if len(body) > 40 else "")
    head = f"{field} {number}, " if number is not None else ""
    return f"{head}{len(body)} bytes {preview}"


#: At most 18 digits each: no message type, priority or length is larger (a C long is 19).
_HEADER = re.compile(rb"[ \t]*(-?[0-9]{1,18})[ \t]+([0-9]{1,18})[ \t]*\r?")


class Ordering:
    """Which queued message a receive takes: the trivially correct model of a queue.

    The model's queue is a list of messages in the order they were sent (oldest first).
    """

    held: str
    """How messages describe the order the model lists its queue in."""
    drained: str
    """How messages describe the order take_all empties a queue in."""
    take_selector: int | None
    """The selector the grader's own take uses (take_all empties a queue with it)."""

    def pick(self, queued: list[Message], selector: int | None) -> Message | None:
        """The message a receive with SELECTOR takes from QUEUED; None if it would sleep."""
        raise NotImplementedError

    def rule(self, selector: int | None) -> str:
        """What a receive with SELECTOR takes, in words."""
        raise NotImplementedError

    def selectors(self, queued: list[Message]) -> list[int] | None:
        """The selectors worth drawing for a receive from QUEUED; None: a receive takes none."""
        return None

    def drain(self, queued: list[Message]) -> list[Message]:
        """QUEUED in the order take_all would take it."""
        left, out = list(queued), []
        while (msg := self.pick(left, self.take_selector)) is not None:
            out.append(msg)
            left.remove(msg)
        return out


class Queues:
    """One mechanism's queues as its specs drive them: the grader's side and the programs'.

    A queue is named by its ADDRESS, the word its programs take on the command line (a System
    V key, a POSIX name). Each mechanism implements the grader's side (its library, fresh
    addresses, create, send, take, count, remove) and says how a `recv` selects (recv_args);
    the rest is shared: the programs' side, and cleanup.
    """

    mechanism: str
    """The program: `msgq`, `mqueue`."""
    placeholder: str
    """How messages write the address in a command line: KEY, NAME."""
    field: str
    """What a message's number is: type, priority."""
    receive_calls: frozenset[str]
    """The system calls a `recv` sleeps in while it waits (receive_call names them in messages)."""
    send_calls: frozenset[str]
    receive_call: str
    send_call: str
    ordering: Ordering
    """Which message a receive takes: the model of this mechanism's queue."""

    def __init__(self, names) -> None:
        self._names = names
        self.addresses: list[Any] = []
        """Every address handed out: whatever was created there is removed at cleanup."""
        self._held: dict[Any, Any] = {}
        """The grader's own handle on each queue it made (or opened), by address."""
        self.ipc = self._library()

    def new_address(self, tag: str = "") -> Any:
        """An address no queue has now (TAG: a word for a POSIX name); removed at cleanup."""
        address = self._fresh(tag)
        self.addresses.append(address)
        return address

    def cleanup(self) -> None:
        for address in self.addresses:
            self.remove(address)

    # --- the grader's side: each mechanism's own ---------------------------------------------

    @staticmethod
    def _library():
        """The grader's library for these queues (HarnessBroken or Unsupported without it)."""
        raise NotImplementedError

    def _fresh(self, tag: str) -> Any:
        raise NotImplementedError

    def create(self, **limits: Any) -> Any:
        """A new, empty queue (mode 0600) the programs may use; its address."""
        raise NotImplementedError

    def send(self, address: Any, number: int, body: bytes) -> None:
        """Queue BODY with NUMBER as the grader, without blocking (HarnessBroken if it cannot)."""
        raise NotImplementedError

    def take(self, address: Any) -> Message | None:
        """The next message (as a receive without a selector takes it), without blocking; None
        if there is none."""
        raise NotImplementedError

    def count(self, address: Any) -> int | None:
        """How many messages the queue at ADDRESS holds (None: no such queue)."""
        raise NotImplementedError

    def remove(self, address: Any) -> bool:
        """Remove the queue at ADDRESS; False if there was none."""
        raise NotImplementedError

    def recv_args(self, selector: int | None) -> tuple[str, ...]:
        """The words after the address that make `recv` take by SELECTOR."""
        raise NotImplementedError

    # --- shared ------------------------------------------------------------------------------

    def filled(self, address: Any, what: str) -> ProgramsInterfered:
        """The grader's send of WHAT found its own queue at ADDRESS full. The grader sends no
        more than a queue holds (a spec that fills one does so exactly, and takes a message out
        before it sends again), so the messages that filled it are the programs'."""
        return ProgramsInterfered(
            f"your programs filled the grader's own queue ({self.placeholder} {address}) with messages of their own, "
            f"so the grader could not send {what} to it.",
            evidence=[f"the queue holds {self.count(address)} message(s), more than the grader put there."],
        )

    def take_all(self, address: Any) -> list[Message]:
        """Every message left in the queue, in the order take takes them (this empties it)."""
        out = []
        while (msg := self.take(address)) is not None:
            out.append(msg)
        return out

    def cmd(self, role: str, *args: Any) -> str:
        """`msgq send KEY 2 --nowait`: a command line as messages write it."""
        return "`" + " ".join([self.mechanism, role, self.placeholder, *(str(a) for a in args)]) + "`"

    def show(self, msg: Message) -> str:
        return describe_message(msg.number, msg.body, self.field)

    def text(self, messages: list[Message]) -> str:
        return "; ".join(self.show(m) for m in messages) or "nothing"

    def run_send(self, impl, address: Any, number: Any, body: bytes, *flags: str, because: str = "although the queue has room") -> Proc:
        """Run `send ADDRESS NUMBER [FLAGS]` with BODY on stdin, to the end (it must not sleep)."""
        proc = impl.spawn("send", str(address), str(number), *flags)
        proc.feed(body)
        who = f"{self.cmd('send', number, *flags)} with {len(body)} bytes"
        return self._to_the_end(proc, who, self.send_calls, self.send_call, because)

    def sent_ok(self, impl, address: Any, number: Any, body: bytes, *flags: str) -> Proc:
        proc = self.run_send(impl, address, number, body, *flags)
        if not proc.status.ok:
            raise SpecFailure(
                f"{self.cmd('send', number, *flags)} with {describe_message(None, body)} on stdin {proc.status}.",
                expected="exit status 0",
                procs=[proc],
            )
        return proc

    def run_recv(self, impl, address: Any, *args: str, because: str) -> Proc:
        """Run `recv ADDRESS [ARGS]` that must finish at once; BECAUSE says why it must."""
        proc = impl.spawn("recv", str(address), *args, stdin="devnull")
        return self._to_the_end(proc, self.cmd("recv", *args), self.receive_calls, self.receive_call, because)

    @staticmethod
    def _to_the_end(proc: Proc, who: str, calls: frozenset[str], call: str, because: str) -> Proc:
        """PROC, finished: it must not sleep in CALLS (CALL in messages), BECAUSE says why."""
        blocked = settle(proc, calls, deadline.STEP)
        if blocked:
            raise SpecFailure(f"{who} sleeps in {call} {because}.", evidence=[str(blocked)], procs=[proc])
        proc.wait(deadline.STEP)
        return proc

    def sleeps_until_room(self, impl, address: Any, number: int, body: bytes, *, full: str, fix: str) -> Proc:
        """Run `send ADDRESS NUMBER` with BODY on a queue that is full (FULL says how): it must
        sleep in the send call until the grader takes a message out, then finish with status 0.
        FIX is the advice for a sender that does not sleep."""
        who = self.cmd("send", number)
        sender = impl.spawn("send", str(address), str(number))
        sender.feed(body)
        blocked = settle(sender, self.send_calls, deadline.STEP, who=f"{who} on a full queue", fix=fix)
        if blocked is None:
            sender.wait(deadline.STEP)
            held = self.take_all(address)
            raise SpecFailure(
                f"The queue was full ({full}); {who} {sender.status} instead of sleeping in {self.send_call} "
                f"until there was room.",
                evidence=[f"The queue then held: {self.text(held)}."],
                procs=[sender],
            )
        if self.take(address) is None:
            raise HarnessBroken("the grader's own messages vanished from the full queue")
        finished = Deadline(deadline.STEP)
        if not sender.finished_within(finished):
            raise SpecFailure(
                f"The grader took a message out of the full queue, but {who} did not finish within {finished}.",
                evidence=[observe.describe(sender.pid)],
                procs=[sender],
            )
        sender.wait(deadline.STEP)
        if not sender.status.ok:
            raise SpecFailure(f"{who} woke when there was room, then {sender.status}.", expected="exit status 0", procs=[sender])
        return sender

    def wakes_for(self, receiver: Proc, address: Any, msg: Message, *, who: str, arriving: str = "a message") -> None:
        """The grader sends MSG to the queue RECEIVER (WHO in messages) sleeps on: it must wake
        within a step, print MSG and exit 0. ARRIVING names MSG in messages."""
        self.send(address, msg.number, msg.body)
        woken = Deadline(deadline.STEP)
        if not receiver.finished_within(woken):
            raise SpecFailure(
                f"{who} did not wake within {woken} of {arriving} arriving.",
                evidence=[observe.describe(receiver.pid)],
                procs=[receiver],
            )
        receiver.wait(deadline.STEP)
        got = self.received_ok(receiver, who)
        if got != msg:
            raise SpecFailure(
                f"{who} woke and printed {self.show(got)}.", expected=f"{self.field} {msg.number} {msg.body!r}", procs=[receiver]
            )

    def received_ok(self, proc: Proc, who: str) -> Message:
        """The message a `recv` (WHO in messages) printed; it must have exited 0."""
        if not proc.status.ok:
            raise SpecFailure(f"{who} {proc.status}.", expected="exit status 0 and a message", procs=[proc])
        return self.received(proc)

    def received(self, proc: Proc) -> Message:
        """The message a finished `recv` printed as `NUMBER LENGTH` then LENGTH bytes.

        Malformed output is the implementation's fault: SpecFailure saying what was wrong.
        """
        field = self.field.upper()
        out = proc.stdout
        if not out.complete:
            raise SpecFailure(f"{proc.label} printed {out.length} bytes: far more than one message.", procs=[proc])
        data = out.data
        cut = data.find(b"\n")
        if cut < 0:
            raise SpecFailure(
                f"{proc.label} printed {data[:80]!r} with no header line.",
                expected=f"`{field} LENGTH`, a newline, then exactly LENGTH bytes of the message",
                procs=[proc],
            )
        header, body = data[:cut], data[cut + 1 :]
        m = _HEADER.fullmatch(header)
        if m is None:
            raise SpecFailure(
                f"{proc.label} printed the header line {header[:80]!r}.",
                expected=f"`{field} LENGTH`, two decimal numbers separated by a space (for example `3 11`)",
                procs=[proc],
            )
        number, length = int(m.group(1)), int(m.group(2))
        if len(body) < length:
            raise SpecFailure(
                f"{proc.label} printed the header {header.decode('ascii', 'replace')!r} but only "
                f"{len(body)} bytes of body follow it, not {length}.",
                procs=[proc],
            )
        if len(body) > length:
            raise SpecFailure(
                f"{proc.label} printed {len(body) - length} more byte(s) after the {length}-byte body its "
                f"header announced ({body[length:length + 16]!r}).",
                fix="Print exactly LENGTH bytes, with no newline after the body.",
                procs=[proc],
            )
        return Message(number, body)


def expect_exit(proc: Proc, code: int, doing: str, why: str = "") -> None:
    """PROC, finished, exited with CODE; else SpecFailure. DOING names it with what it was
    given (`msgq recv KEY 2 --nowait` on an empty queue), WHY says what CODE means."""
    if proc.status.code != code:
        raise SpecFailure(f"{doing} {proc.status}.", expected=f"exit status {code}{why}", procs=[proc])
