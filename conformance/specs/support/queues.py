"""One queue driver for the msgq (System V) and mqueue (POSIX) specs, and one model of a queue.

The two mechanisms differ in how a queue is named (a key, a name), made, measured and removed,
and in which message a receive takes (msgrcv's type rule, priority order). Everything else is
the same, and is written once here:

- the grader's side of a queue (``Queues``, implemented by SysvQueues and PosixQueues): queues
  made under this run's keys and names and removed at teardown whatever happened, messages sent
  and taken without ever blocking the grader;
- the programs' side: a `send` or `recv` run to its end, failing at once when it sleeps in the
  queue's call although it should not (a receiver that sleeps although a matching message is
  queued is a finding, not a reason to wait out a deadline), and the `NUMBER LENGTH` + body
  output of a `recv` parsed defensively;
- the model-based ordering specs (Hypothesis): operations (``Send``, ``Recv``) played on the
  implementation's queue and on a trivially correct model of it beside it (``play``), the model
  parameterised by the ordering rule (``TypeRule``, ``PriorityOrder``); the first difference
  fails, with the steps that led to it.
"""

from __future__ import annotations

import errno
import os
import re
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from conformance import deadline
from conformance.deadline import Deadline
from conformance.kernel import credentials, observe
from conformance.outcomes import HarnessBroken, SpecFailure, SpecTimeout, Unsupported
from conformance.run.process import Proc

from .settle import settle

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


# --- the driver ------------------------------------------------------------------------------


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
    ordering: "Ordering"
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


# --- the model: which message a receive takes ------------------------------------------------


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


class TypeRule(Ordering):
    """msgrcv's type rule (msgrcv(2)): TYPE 0 takes the oldest message; TYPE > 0 the oldest
    message of exactly that type; TYPE < 0 the oldest message of the lowest type at most |TYPE|."""

    held = drained = "oldest first"
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
            return "the oldest message (TYPE 0)"
        if mtype > 0:
            return f"the oldest message of type {mtype}"
        return f"the oldest message of the lowest type at most {-mtype}"

    def selectors(self, queued: list[Message]) -> list[int]:
        """0, a queued type, minus a queued type, or minus one more than a queued type, so that
        negative types often skip over higher queued types."""
        types = {m.number for m in queued}
        return sorted({0, *types, *(-t for t in types), *(-t - 1 for t in types)})


class PriorityOrder(Ordering):
    """mq_receive's order (mq_receive(3)): the oldest message of the highest priority."""

    held = "in the order sent"
    drained = "highest priority first"
    take_selector = None

    def pick(self, queued: list[Message], selector: int | None) -> Message | None:
        if not queued:
            return None
        top = max(m.number for m in queued)
        return next(m for m in queued if m.number == top)

    def rule(self, selector: int | None) -> str:
        return "the oldest message of the highest priority"


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
                    steps.append(f"the grader sends {queues.show(msg)}")
                else:
                    steps.append(f"{queues.cmd('send', msg.number)} sends {describe_message(None, msg.body)}")
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
                because=f"although {queues.show(want)} is queued: it is {ordering.rule(op.selector)}; "
                f"the queue holds ({ordering.held}) {queued}",
            )
            ran.append(proc)
            got = queues.received_ok(proc, who)
            steps[-1] = f"{who} prints {queues.show(got)}"
            if got != want:
                raise SpecFailure(
                    f"The queue held ({ordering.held}) {queued}. {who} printed {queues.show(got)}.",
                    expected=f"{ordering.rule(op.selector)}: {queues.show(want)}",
                    done=_steps(steps),
                    procs=[proc, *ran[:-1]],
                )
            model.remove(want)
        left = queues.take_all(address)
        expected = ordering.drain(model)
        if left != expected:
            raise SpecFailure(
                f"Afterwards the queue holds ({ordering.drained}) {queues.text(left)}.",
                expected=f"the queue to hold {queues.text(expected)}",
                done=_steps(steps),
                fix="A recv must take exactly one message, and a send add exactly one.",
                procs=ran,
            )
    except (SpecFailure, SpecTimeout) as exc:  # both Explained: their parts
        if steps:  # a helper's failure: say how the queue got there
            exc.with_done(_steps(steps))
        raise


def _steps(steps: list[str]) -> str:
    """The grader's steps as a numbered list, ending in a newline: the observation follows."""
    numbered = "".join(f"\n  {i + 1}. {s}" for i, s in enumerate(steps))
    return f"After these steps on one queue:{numbered}\n" if steps else ""


# --- the grader's System V queues ------------------------------------------------------------


def _sysv():
    try:
        import sysv_ipc
    except ImportError as exc:  # pragma: no cover - a dependency of the grader
        raise HarnessBroken(f"the grader needs the sysv_ipc package: {exc}") from exc
    return sysv_ipc


def msgmax() -> int:
    """The largest System V message the kernel takes here (MSGMAX)."""
    try:
        with open("/proc/sys/kernel/msgmax") as f:
            return int(f.read())
    except (OSError, ValueError):
        return 8192


class SysvQueues(Queues):
    """The spec's System V message queues, each under a fresh key; all removed at cleanup.

    The grader's queues are handed to the user programs run as (msgctl IPC_SET), so that a
    queue of mode 0600 is as open to them as one they made; the grader, their creator, keeps
    its rights to them. A queue a program made is opened, read and removed as the programs'
    user (credentials.as_program), which needs no CAP_IPC_OWNER.
    """

    mechanism, placeholder, field = "msgq", "KEY", "type"
    receive_calls, send_calls = MSGRCV, MSGSND
    receive_call, send_call = "msgrcv", "msgsnd"
    ordering = TypeRule()
    _library = staticmethod(_sysv)

    def _fresh(self, tag: str) -> int:
        return self._names.sysv_key()

    def create(self, max_bytes: int | None = None) -> int:
        """A new, empty queue (mode 0600) under a fresh key; MAX_BYTES lowers its msg_qbytes."""
        key = self.new_address()
        try:
            queue = self.ipc.MessageQueue(key, self.ipc.IPC_CREX, mode=0o600, max_message_size=max(msgmax(), 8192))
        except OSError as exc:
            if exc.errno == errno.ENOSYS:
                raise Unsupported("this kernel has no System V message queues (msgget: ENOSYS)") from exc
            raise HarnessBroken(f"the grader could not create a System V queue with key {key}: {exc}") from exc
        owner = credentials.program_user()
        if owner is not None:
            queue.uid, queue.gid = owner  # msgctl(IPC_SET)
        if max_bytes is not None:
            queue.max_size = max_bytes  # msgctl(IPC_SET) with msg_qbytes
        self._held[key] = queue
        return key

    def max_size(self, key: int) -> int:
        """The msg_qbytes of a queue the grader made."""
        return self._held[key].max_size

    def send(self, key: int, mtype: int, body: bytes) -> None:
        try:
            self._held[key].send(body, block=False, type=mtype)
        except Exception as exc:
            raise HarnessBroken(f"the grader could not send type {mtype} ({len(body)} bytes) to its queue: {exc}") from exc

    def _open(self, key: int):
        """The queue with KEY, or None if there is none (call it as the programs' user)."""
        try:
            return self.ipc.MessageQueue(key, 0, max_message_size=max(msgmax(), 8192))
        except self.ipc.ExistentialError:
            return None

    def row(self, key: int) -> dict[str, int] | None:
        """The row of /proc/sysvipc/msg for the queue with KEY, or None if there is none."""
        return next((row for row in observe.sysvipc("msg") if row["key"] == key), None)

    def shown(self, key: int) -> str:
        """What /proc/sysvipc/msg shows of the queue with KEY, in a sentence."""
        row = self.row(key)
        if row is None:
            return f"/proc/sysvipc/msg lists no queue with key {key}"
        return (
            f"/proc/sysvipc/msg lists key {key}: msqid {row['msqid']}, perms {row['perms']:o}, "
            f"{row['qnum']} message(s) of {row['cbytes']} bytes, owner uid {row['uid']}"
        )

    def mode(self, key: int) -> int | None:
        """The permission bits of the queue with KEY (/proc/sysvipc/msg), or None if there is none."""
        row = self.row(key)
        return None if row is None else row["perms"] & 0o777

    def count(self, key: int) -> int | None:
        with credentials.as_program():
            queue = self._open(key)
            try:
                return None if queue is None else queue.current_messages
            except self.ipc.ExistentialError:
                return None

    def take(self, key: int, mtype: int = 0) -> Message | None:
        """Receive one message (of MTYPE, by msgrcv's rule) without blocking; None if none
        matches (or no queue)."""
        with credentials.as_program():
            queue = self._open(key)
            if queue is None:
                return None
            try:
                body, got = queue.receive(block=False, type=mtype)
            except (self.ipc.BusyError, self.ipc.ExistentialError):
                return None
        return Message(got, body)

    def remove(self, key: int) -> bool:
        self._held.pop(key, None)
        with credentials.as_program():
            queue = self._open(key)
            if queue is None:
                return False
            try:
                queue.remove()
            except self.ipc.ExistentialError:
                return False
        return True

    def recv_args(self, selector: int | None) -> tuple[str, ...]:
        return (str(selector or 0),)


# --- the grader's POSIX queues ---------------------------------------------------------------


def _posix():
    try:
        import posix_ipc
    except ImportError as exc:  # pragma: no cover - a dependency of the grader
        raise HarnessBroken(f"the grader needs the posix_ipc package: {exc}") from exc
    if not posix_ipc.MESSAGE_QUEUES_SUPPORTED:
        raise Unsupported("this platform has no POSIX message queues")
    return posix_ipc


class PosixQueues(Queues):
    """The spec's POSIX message queues, each under a fresh name; all unlinked at cleanup.

    Queues are kept small: each one is charged to the user's RLIMIT_MSGQUEUE (800 KiB by
    default, about nine queues of 10 x 8192 bytes) until it is unlinked and closed. As with
    SysvQueues, the grader's queues are given to the user programs run as, and queues are
    opened and unlinked as that user. The grader sends and takes through one descriptor per
    name, kept until the name is removed; whether a name exists it asks afresh each time.
    """

    mechanism, placeholder, field = "mqueue", "NAME", "priority"
    receive_calls, send_calls = MQ_RECEIVE, MQ_SEND
    receive_call, send_call = "mq_timedreceive", "mq_timedsend"
    ordering = PriorityOrder()
    _library = staticmethod(_posix)

    def _fresh(self, tag: str) -> str:
        return self._names.posix(tag or "mq")

    def create(self, max_messages: int = 4, message_size: int = 64, tag: str = "") -> str:
        """A new, empty queue (mode 0600) under a fresh name (with TAG in it); its name."""
        name = self.new_address(tag)
        try:
            queue = self.ipc.MessageQueue(
                name, self.ipc.O_CREX, mode=0o600, max_messages=max_messages, max_message_size=message_size
            )
        except OSError as exc:
            if exc.errno == errno.ENOSYS:
                raise Unsupported("this kernel has no POSIX message queues (mq_open: ENOSYS)") from exc
            raise HarnessBroken(f"the grader could not create the POSIX queue {name}: {exc}") from exc
        except self.ipc.Error as exc:
            raise HarnessBroken(f"the grader could not create the POSIX queue {name}: {exc}") from exc
        self._held[name] = queue
        owner = credentials.program_user()
        if owner is not None:
            os.fchown(queue.mqd, *owner)  # a Linux mqd_t is a descriptor
        return name

    def _open(self, name: str):
        """The queue NAME, opened now for reading and writing, or None if there is none."""
        try:
            with credentials.as_program():
                return self.ipc.MessageQueue(name, 0)
        except self.ipc.ExistentialError:
            return None

    def _descriptor(self, name: str):
        """The grader's descriptor for NAME (opened the first time), or None if there is none."""
        if name not in self._held:
            queue = self._open(name)
            if queue is None:
                return None
            self._held[name] = queue
        return self._held[name]

    def exists(self, name: str) -> bool:
        return self.count(name) is not None

    def attributes(self, name: str) -> tuple[int, int, int] | None:
        """(mq_maxmsg, mq_msgsize, permission bits) of the queue NAME, or None if there is none."""
        queue = self._open(name)
        if queue is None:
            return None
        try:
            return queue.max_messages, queue.max_message_size, os.fstat(queue.mqd).st_mode & 0o777
        finally:
            self._close(queue)

    def count(self, name: str) -> int | None:
        queue = self._open(name)
        if queue is None:
            return None
        try:
            return queue.current_messages
        finally:
            self._close(queue)

    def send(self, name: str, priority: int, body: bytes) -> None:
        try:
            self._held[name].send(body, timeout=0, priority=priority)
        except Exception as exc:
            raise HarnessBroken(f"the grader could not send priority {priority} ({len(body)} bytes) to its queue: {exc}") from exc

    def take(self, name: str) -> Message | None:
        """The next message (the oldest of the highest priority), without blocking; None if
        the queue is empty (or there is none)."""
        queue = self._descriptor(name)
        if queue is None:
            return None
        try:
            body, priority = queue.receive(timeout=0)
        except self.ipc.BusyError:
            return None
        return Message(priority, body)

    def _close(self, queue) -> None:
        try:
            queue.close()
        except self.ipc.Error:
            pass

    def remove(self, name: str) -> bool:
        """Close the grader's descriptor for NAME and unlink it; False if there was no such name."""
        held = self._held.pop(name, None)
        if held is not None:
            self._close(held)
        try:
            with credentials.as_program():
                self.ipc.unlink_message_queue(name)
        except self.ipc.ExistentialError:
            return False
        return True

    def recv_args(self, selector: int | None) -> tuple[str, ...]:
        return ()


__all__ = [
    "MQ_RECEIVE",
    "MQ_SEND",
    "MSGRCV",
    "MSGSND",
    "Message",
    "Ordering",
    "PosixQueues",
    "PriorityOrder",
    "Queues",
    "Recv",
    "Send",
    "SysvQueues",
    "TypeRule",
    "describe_message",
    "expect_exit",
    "msgmax",
    "operations",
    "play",
    "sends",
]
