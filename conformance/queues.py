"""Message-queue helpers for the msgq (System V) and mqueue (POSIX) specs.

The grader's own side of a queue: queues made under this run's keys and names and removed at
teardown whatever happened, messages sent and taken without ever blocking the grader, the
`NUMBER LENGTH` + body output of a `recv` parsed defensively, and a wait that ends when a
program either exits or falls asleep in a given system call (a receiver that sleeps although a
matching message is queued is a finding, not a reason to wait out a deadline).
"""

from __future__ import annotations

import errno
import os
import re
from dataclasses import dataclass

from . import credentials, observe
from .outcomes import HarnessBroken, SpecFailure, Unsupported
from .process import Proc

#: The system calls a program sleeps in while it waits on a queue (the *_time64 variants are
#: what 32-bit programs on a 64-bit kernel use).
MSGRCV = frozenset({"msgrcv"})
MSGSND = frozenset({"msgsnd"})
MQ_RECEIVE = frozenset({"mq_timedreceive", "mq_timedreceive_time64"})
MQ_SEND = frozenset({"mq_timedsend", "mq_timedsend_time64"})


# --- what a program is doing ----------------------------------------------------------------


# --- what a recv printed ---------------------------------------------------------------------

#: At most 18 digits each: no message type, priority or length is larger (a C long is 19).
_HEADER = re.compile(rb"[ \t]*(-?[0-9]{1,18})[ \t]+([0-9]{1,18})[ \t]*\r?")


def describe_message(number: int | None, body: bytes, field: str = "type") -> str:
    """`type 3, 5 bytes b'hello'` for messages."""
    preview = repr(body[:40]) + ("..." if len(body) > 40 else "")
    head = f"{field} {number}, " if number is not None else ""
    return f"{head}{len(body)} bytes {preview}"


def received(proc: Proc, field: str = "TYPE") -> tuple[int, bytes]:
    """The (FIELD, body) a finished `recv` printed as `FIELD LENGTH` then LENGTH bytes.

    Malformed output is the implementation's fault: SpecFailure saying what was wrong.
    """
    out = proc.stdout
    if not out.complete:
        raise SpecFailure(f"{proc.label} printed {out.length} bytes: far more than one message.\n{proc.transcript()}")
    data = out.data
    cut = data.find(b"\n")
    if cut < 0:
        raise SpecFailure(
            f"{proc.label} printed {data[:80]!r} with no header line: expected `{field} LENGTH`, "
            f"a newline, then exactly LENGTH bytes of the message.\n{proc.transcript()}"
        )
    header, body = data[:cut], data[cut + 1 :]
    m = _HEADER.fullmatch(header)
    if m is None:
        raise SpecFailure(
            f"{proc.label} printed the header line {header[:80]!r}; expected `{field} LENGTH`, two "
            f"decimal numbers separated by a space (for example `3 11`).\n{proc.transcript()}"
        )
    number, length = int(m.group(1)), int(m.group(2))
    if len(body) < length:
        raise SpecFailure(
            f"{proc.label} printed the header {header.decode('ascii', 'replace')!r} but only "
            f"{len(body)} bytes of body follow it, not {length}.\n{proc.transcript()}"
        )
    if len(body) > length:
        raise SpecFailure(
            f"{proc.label} printed {len(body) - length} more byte(s) after the {length}-byte body its header "
            f"announced ({body[length:length + 16]!r}): print exactly LENGTH bytes, with no newline "
            f"after the body.\n{proc.transcript()}"
        )
    return number, body


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


@dataclass
class Taken:
    type: int
    body: bytes


class SysvQueues:
    """The spec's System V message queues, each under a fresh key; all removed at cleanup.

    The grader's queues are handed to the user programs run as (msgctl IPC_SET), so that a
    queue of mode 0600 is as open to them as one they made; the grader, their creator, keeps
    its rights to them. A queue a program made is opened, read and removed as the programs'
    user (credentials.as_program), which needs no CAP_IPC_OWNER.
    """

    def __init__(self, names) -> None:
        self._names = names
        self.keys: list[int] = []
        self.ipc = _sysv()

    def new_key(self) -> int:
        """A key no queue uses now; whatever gets created under it is removed at cleanup."""
        key = self._names.sysv_key()
        self.keys.append(key)
        return key

    def create(self, max_bytes: int | None = None):
        """A new, empty queue (mode 0600) under a fresh key; MAX_BYTES lowers its msg_qbytes."""
        key = self.new_key()
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
        return queue

    def _open(self, key: int):
        """The queue with KEY, or None if there is none (call it as the programs' user)."""
        try:
            return self.ipc.MessageQueue(key, 0, max_message_size=max(msgmax(), 8192))
        except self.ipc.ExistentialError:
            return None

    def mode(self, key: int) -> int | None:
        """The permission bits of the queue with KEY (/proc/sysvipc/msg), or None if there is none."""
        return next((row["perms"] & 0o777 for row in observe.sysvipc("msg") if row["key"] == key), None)

    def count(self, key: int) -> int | None:
        """How many messages the queue with KEY holds (None: no such queue)."""
        with credentials.as_program():
            queue = self._open(key)
            try:
                return None if queue is None else queue.current_messages
            except self.ipc.ExistentialError:
                return None

    def take(self, key: int, mtype: int = 0) -> Taken | None:
        """Receive one message without blocking; None if none matches (or no queue)."""
        with credentials.as_program():
            queue = self._open(key)
            if queue is None:
                return None
            try:
                body, got = queue.receive(block=False, type=mtype)
            except (self.ipc.BusyError, self.ipc.ExistentialError):
                return None
        return Taken(got, body)

    def take_all(self, key: int) -> list[Taken]:
        """Every message left in the queue, oldest first (this empties it)."""
        out = []
        while (msg := self.take(key)) is not None:
            out.append(msg)
        return out

    def remove(self, key: int) -> bool:
        """Remove the queue with KEY; False if there was none."""
        with credentials.as_program():
            queue = self._open(key)
            if queue is None:
                return False
            try:
                queue.remove()
            except self.ipc.ExistentialError:
                return False
        return True

    def cleanup(self) -> None:
        for key in self.keys:
            self.remove(key)


# --- the grader's POSIX queues ---------------------------------------------------------------


def _posix():
    try:
        import posix_ipc
    except ImportError as exc:  # pragma: no cover - a dependency of the grader
        raise HarnessBroken(f"the grader needs the posix_ipc package: {exc}") from exc
    if not posix_ipc.MESSAGE_QUEUES_SUPPORTED:
        raise Unsupported("this platform has no POSIX message queues")
    return posix_ipc


class PosixQueues:
    """The spec's POSIX message queues, each under a fresh name; all unlinked at cleanup.

    Queues are kept small: each one is charged to the user's RLIMIT_MSGQUEUE (800 KiB by
    default, about nine queues of 10 x 8192 bytes) until it is unlinked and closed. As with
    SysvQueues, the grader's queues are given to the user programs run as, and queues are
    opened and unlinked as that user.
    """

    def __init__(self, names) -> None:
        self._names = names
        self.names: list[str] = []
        self._open: list = []
        self.ipc = _posix()

    def new_name(self, tag: str = "mq") -> str:
        """A name no queue has; whatever gets created under it is unlinked at cleanup."""
        name = self._names.posix(tag)
        self.names.append(name)
        return name

    def create(self, max_messages: int = 4, message_size: int = 64, name: str | None = None):
        """A new, empty queue (mode 0600) under a fresh name (or NAME)."""
        name = name or self.new_name()
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
        self._open.append(queue)
        owner = credentials.program_user()
        if owner is not None:
            os.fchown(queue.mqd, *owner)  # a Linux mqd_t is a descriptor
        return queue

    def open(self, name: str):
        """The queue NAME, opened for reading and writing, or None if there is none."""
        try:
            with credentials.as_program():
                queue = self.ipc.MessageQueue(name, 0)
        except self.ipc.ExistentialError:
            return None
        self._open.append(queue)
        return queue

    def exists(self, name: str) -> bool:
        queue = self.open(name)
        if queue is None:
            return False
        self._close(queue)
        return True

    def take(self, queue) -> tuple[int, bytes] | None:
        """(priority, body) of the next message, without blocking; None if empty."""
        try:
            body, priority = queue.receive(timeout=0)
        except self.ipc.BusyError:
            return None
        return priority, body

    def take_all(self, queue) -> list[tuple[int, bytes]]:
        out = []
        while (msg := self.take(queue)) is not None:
            out.append(msg)
        return out

    def _close(self, queue) -> None:
        try:
            queue.close()
        except self.ipc.Error:
            pass
        if queue in self._open:
            self._open.remove(queue)

    def remove(self, name: str) -> bool:
        """Close the grader's descriptors for NAME and unlink it; False if there was no such name."""
        for queue in [q for q in self._open if q.name == name]:
            self._close(queue)
        try:
            with credentials.as_program():
                self.ipc.unlink_message_queue(name)
        except self.ipc.ExistentialError:
            return False
        return True

    def cleanup(self) -> None:
        for queue in list(self._open):
            self._close(queue)
        for name in self.names:
            self.remove(name)


__all__ = [
    "MQ_RECEIVE",
    "MQ_SEND",
    "MSGRCV",
    "MSGSND",
    "PosixQueues",
    "SysvQueues",
    "Taken",
    "describe_message",
    "msgmax",
    "received",
]
