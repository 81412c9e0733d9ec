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
from conformance.outcomes import HarnessBroken, ProgramsInterfered, Sentence, SpecFailure, one_after_another
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
    """`type 3, 5 bytes b'hello'` for messages (FIELD: type or priority)."""
    preview = repr(body[:40]) + ("..." if len(body) > 40 else "")
    if number is None:
        return Sentence("%(n)s bytes %(preview)s", n=len(body), preview=preview)
    if field == "priority":
        return Sentence("priority %(number)s, %(n)s bytes %(preview)s", number=number, n=len(body), preview=preview)
    return Sentence("type %(number)s, %(n)s bytes %(preview)s", number=number, n=len(body), preview=preview)


def numbered(field: str, number: int, body: bytes) -> str:
    """`type 2 b'for you'`, `priority 5 b'x'`: a message as an expectation writes it."""
    if field == "priority":
        return Sentence("priority %(number)s %(body)s", number=number, body=repr(body))
    return Sentence("type %(number)s %(body)s", number=number, body=repr(body))


def messages(n: int) -> str:
    """``1 message``, ``2 messages``."""
    return Sentence("%(n)s message", n=n) if n == 1 else Sentence("%(n)s messages", n=n)


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
            Sentence("your programs filled the grader's own queue (%(placeholder)s %(address)s) with messages of their own, "
                     "so the grader could not send %(what)s to it.", placeholder=self.placeholder, address=address, what=what),
            evidence=[Sentence("the queue holds %(count)s message(s), more than the grader put there.", count=self.count(address))],
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
        return one_after_another([self.show(m) for m in messages], "; ") or Sentence("nothing")

    def run_send(self, impl, address: Any, number: Any, body: bytes, *flags: str, because: str = "") -> Proc:
        """Run `send ADDRESS NUMBER [FLAGS]` with BODY on stdin, to the end (it must not sleep);
        BECAUSE says why it must not (default: the queue has room)."""
        proc = impl.spawn("send", str(address), str(number), *flags)
        proc.feed(body)
        because = because or Sentence("although the queue has room")
        who = Sentence("%(command)s with %(n)s bytes", command=self.cmd("send", number, *flags), n=len(body))
        return self._to_the_end(proc, who, self.send_calls, self.send_call, because)

    def sent_ok(self, impl, address: Any, number: Any, body: bytes, *flags: str) -> Proc:
        proc = self.run_send(impl, address, number, body, *flags)
        if not proc.status.ok:
            raise SpecFailure(
                Sentence("%(command)s with %(message)s on stdin %(status)s.",
                         command=self.cmd("send", number, *flags), message=describe_message(None, body), status=proc.status.words()),
                expected=Sentence("exit status 0"),
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
            raise SpecFailure(Sentence("%(who)s sleeps in %(call)s %(because)s.", who=who, call=call, because=because),
                              evidence=[blocked.words()], procs=[proc])
        proc.wait(deadline.STEP)
        return proc

    def sleeps_until_room(self, impl, address: Any, number: int, body: bytes, *, full: str, fix: str) -> Proc:
        """Run `send ADDRESS NUMBER` with BODY on a queue that is full (FULL says how): it must
        sleep in the send call until the grader takes a message out, then finish with status 0.
        FIX is the advice for a sender that does not sleep."""
        who = self.cmd("send", number)
        sender = impl.spawn("send", str(address), str(number))
        sender.feed(body)
        blocked = settle(sender, self.send_calls, deadline.STEP, who=Sentence("%(command)s on a full queue", command=who), fix=fix)
        if blocked is None:
            sender.wait(deadline.STEP)
            held = self.take_all(address)
            raise SpecFailure(
                Sentence("The queue was full (%(full)s); %(command)s %(status)s instead of sleeping in %(call)s "
                         "until there was room.", full=full, command=who, status=sender.status.words(), call=self.send_call),
                evidence=[Sentence("The queue then held: %(messages)s.", messages=self.text(held))],
                procs=[sender],
            )
        if self.take(address) is None:
            raise HarnessBroken("the grader's own messages vanished from the full queue")
        finished = Deadline(deadline.STEP)
        if not sender.finished_within(finished):
            raise SpecFailure(
                Sentence("The grader took a message out of the full queue, but %(command)s did not finish within %(within)s.",
                         command=who, within=str(finished)),
                evidence=[observe.describe(sender.pid)],
                procs=[sender],
            )
        sender.wait(deadline.STEP)
        if not sender.status.ok:
            raise SpecFailure(Sentence("%(command)s woke when there was room, then %(status)s.", command=who, status=sender.status.words()),
                              expected=Sentence("exit status 0"), procs=[sender])
        return sender

    def wakes_for(self, receiver: Proc, address: Any, msg: Message, *, who: str, arriving: str = "") -> None:
        """The grader sends MSG to the queue RECEIVER (WHO in messages) sleeps on: it must wake
        within a step, print MSG and exit 0. ARRIVING names MSG in messages (default: a message)."""
        arriving = arriving or Sentence("a message")
        self.send(address, msg.number, msg.body)
        woken = Deadline(deadline.STEP)
        if not receiver.finished_within(woken):
            raise SpecFailure(
                Sentence("%(who)s did not wake within %(within)s of %(arriving)s arriving.", who=who, within=str(woken), arriving=arriving),
                evidence=[observe.describe(receiver.pid)],
                procs=[receiver],
            )
        receiver.wait(deadline.STEP)
        got = self.received_ok(receiver, who)
        if got != msg:
            raise SpecFailure(
                Sentence("%(who)s woke and printed %(message)s.", who=who, message=self.show(got)),
                expected=numbered(self.field, msg.number, msg.body), procs=[receiver]
            )

    def received_ok(self, proc: Proc, who: str) -> Message:
        """The message a `recv` (WHO in messages) printed; it must have exited 0."""
        if not proc.status.ok:
            raise SpecFailure(Sentence("%(who)s %(status)s.", who=who, status=proc.status.words()),
                              expected=Sentence("exit status 0 and a message"), procs=[proc])
        return self.received(proc)

    def received(self, proc: Proc) -> Message:
        """The message a finished `recv` printed as `NUMBER LENGTH` then LENGTH bytes.

        Malformed output is the implementation's fault: SpecFailure saying what was wrong.
        """
        field = self.field.upper()
        out = proc.stdout
        if not out.complete:
            raise SpecFailure(Sentence("%(program)s printed %(n)s bytes: far more than one message.", program=proc.label, n=out.length), procs=[proc])
        data = out.data
        cut = data.find(b"\n")
        if cut < 0:
            raise SpecFailure(
                Sentence("%(program)s printed %(output)s with no header line.", program=proc.label, output=repr(data[:80])),
                expected=Sentence("`%(field)s LENGTH`, a newline, then exactly LENGTH bytes of the message", field=field),
                procs=[proc],
            )
        header, body = data[:cut], data[cut + 1 :]
        m = _HEADER.fullmatch(header)
        if m is None:
            raise SpecFailure(
                Sentence("%(program)s printed the header line %(header)s.", program=proc.label, header=repr(header[:80])),
                expected=Sentence("`%(field)s LENGTH`, two decimal numbers separated by a space (for example `3 11`)", field=field),
                procs=[proc],
            )
        number, length = int(m.group(1)), int(m.group(2))
        if len(body) < length:
            raise SpecFailure(
                Sentence("%(program)s printed the header %(header)s but only %(got)s bytes of body follow it, not %(length)s.",
                         program=proc.label, header=repr(header.decode("ascii", "replace")), got=len(body), length=length),
                procs=[proc],
            )
        if len(body) > length:
            raise SpecFailure(
                Sentence("%(program)s printed %(extra)s more byte(s) after the %(length)s-byte body its header announced (%(bytes)s).",
                         program=proc.label, extra=len(body) - length, length=length, bytes=repr(body[length:length + 16])),
                fix=Sentence("Print exactly LENGTH bytes, with no newline after the body."),
                procs=[proc],
            )
        return Message(number, body)


def expect_exit(proc: Proc, code: int, doing: str, why: str = "") -> None:
    """PROC, finished, exited with CODE; else SpecFailure. DOING names it with what it was
    given (`msgq recv KEY 2 --nowait` on an empty queue), WHY says what CODE means (`would block`)."""
    if proc.status.code != code:
        expected = Sentence("exit status %(code)s (%(why)s)", code=code, why=why) if why else Sentence("exit status %(code)s", code=code)
        raise SpecFailure(Sentence("%(doing)s %(status)s.", doing=doing, status=proc.status.words()), expected=expected, procs=[proc])
