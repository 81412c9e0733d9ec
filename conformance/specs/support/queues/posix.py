"""The grader's POSIX message queues (mq_overview(7), mq_open(3), mq_send(3), mq_receive(3))."""

from __future__ import annotations

import errno
import os

from conformance.kernel import credentials
from conformance.outcomes import HarnessBroken, Sentence, Unsupported

from .. import interference
from .driver import MQ_RECEIVE, MQ_SEND, Message, Queues
from .model import PriorityOrder


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
        what = Sentence("its POSIX queue %(name)s", name=name)
        try:
            queue = self.ipc.MessageQueue(
                name, self.ipc.O_CREX, mode=0o600, max_messages=max_messages, max_message_size=message_size
            )
        except self.ipc.ExistentialError as exc:  # EEXIST: a name the run hands out once
            raise interference.name_taken(interference.mqueue_paths(name), what, name) or HarnessBroken(f"the grader could not create {what}: {exc}") from None
        except OSError as exc:
            if exc.errno == errno.ENOSYS:
                raise Unsupported("this kernel has no POSIX message queues (mq_open: ENOSYS)") from exc
            raise interference.mqueues_used(what, self.addresses) or HarnessBroken(f"the grader could not create {what}: {exc}") from None
        except self.ipc.Error as exc:
            raise interference.mqueues_used(what, self.addresses) or HarnessBroken(f"the grader could not create {what}: {exc}") from None
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
        except self.ipc.BusyError:  # the grader never overfills its queue: the programs filled it
            raise self.filled(name, Sentence("priority %(number)s (%(n)s bytes)", number=priority, n=len(body))) from None
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
