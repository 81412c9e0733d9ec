"""The grader's System V message queues (msgget(2), msgsnd(2), msgrcv(2), msgctl(2))."""

from __future__ import annotations

import errno

from conformance.kernel import credentials, observe
from conformance.outcomes import HarnessBroken, Sentence, Unsupported

from .. import interference
from .driver import MSGRCV, MSGSND, Message, Queues
from .model import TypeRule


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
        what = Sentence("its System V queue with key %(key)s", key=key)
        try:
            queue = self.ipc.MessageQueue(key, self.ipc.IPC_CREX, mode=0o600, max_message_size=max(msgmax(), 8192))
        except self.ipc.ExistentialError as exc:  # EEXIST: the key was free a moment ago
            raise interference.sysv_taken("msg", key, what) or HarnessBroken(f"the grader could not create {what}: {exc}") from None
        except OSError as exc:
            if exc.errno == errno.ENOSYS:
                raise Unsupported("this kernel has no System V message queues (msgget: ENOSYS)") from exc
            raise interference.sysv_table("msg", what) or HarnessBroken(f"the grader could not create {what}: {exc}") from None
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
        except self.ipc.BusyError:  # the grader never overfills its queue: the programs filled it
            raise self.filled(key, Sentence("type %(number)s (%(n)s bytes)", number=mtype, n=len(body))) from None
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
            return Sentence("/proc/sysvipc/msg lists no queue with key %(key)s", key=key)
        return Sentence(
            "/proc/sysvipc/msg lists key %(key)s: msqid %(msqid)s, perms %(perms)s, "
            "%(count)s message(s) of %(bytes)s bytes, owner uid %(uid)s",
            key=key, msqid=row["msqid"], perms=format(row["perms"], "o"), count=row["qnum"], bytes=row["cbytes"], uid=row["uid"],
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
