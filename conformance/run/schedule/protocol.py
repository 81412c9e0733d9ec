"""The messages between a controlled program's tasks and the scheduler: ipcsched.c's, in Python.

A task (a thread of a process) sends a ``Msg`` at each scheduling point and waits for a
``Reply``. tests/test_schedule.py reads ipcsched.c's enums and checks that these agree.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

#: What a task sends.
T_HELLO, T_POINT, T_BLOCK, T_WAKE, T_NOTE, T_CHECKED, T_BYE = range(1, 8)
#: What the scheduler answers: go (with a budget of points to pass without asking), the wait's
#: deadline passed, are your descriptors ready?, control has ended (run free), start your
#: interpreter in parallel with the others and ask again at the submission's first line.
R_GO, R_TIMEOUT, R_CHECK, R_FREE, R_WARM = range(1, 6)

#: The operations, in ipcsched.c's order.
OPS = (
    "start", "local", "line", "sem_wait", "sem_trywait", "sem_post", "mutex_lock",
    "mutex_unlock", "cond_wait", "cond_signal", "read", "write", "accept", "connect",
    "poll", "close", "msgsnd", "msgrcv", "semop", "mq_send", "mq_receive", "kill",
    "sigwait", "sigaction", "sigmask", "fork", "forked", "thread", "thread_created",
    "exec", "exec_failed", "exit", "wait", "join", "sleep", "yield", "atomic",
    "store",
)
OP = {name: i for i, name in enumerate(OPS)}

#: What an object key names.
KINDS = ("none", "mem", "pmem", "pipe", "sock", "fd", "msq", "sysvsem", "sig", "child", "thread")
K = {name: i for i, name in enumerate(KINDS)}

F_FORKED, F_THREAD, F_PYTHON, F_INSTRUMENTED, F_FDS, F_WRITE, F_ROOT = 1, 2, 4, 8, 16, 32, 64

MSG = struct.Struct("<IIiiQIIQQQqqq")
REPLY = struct.Struct("<IIQ")
#: A budget that never runs out (free running between reports).
UNLIMITED = (1 << 63) - 1


@dataclass(frozen=True)
class Msg:
    type: int
    op: int
    pid: int
    tid: int
    local: int
    kind: int
    flags: int
    ka: int
    kb: int
    kc: int
    arg: int
    arg2: int
    deadline: int

    @classmethod
    def parse(cls, data: bytes) -> Msg:
        return cls(*MSG.unpack(data))

    @property
    def opname(self) -> str:
        return OPS[self.op] if 0 <= self.op < len(OPS) else f"op {self.op}"

    @property
    def key(self) -> tuple[int, int, int, int] | None:
        """The object, the same in every process that can reach it; None for no object."""
        return None if self.kind == K["none"] else (self.kind, self.ka, self.kb, self.kc)


def reply(kind: int, budget: int = 0) -> bytes:
    return REPLY.pack(kind, 0, max(0, min(budget, UNLIMITED)))


def pack(**fields: int) -> bytes:
    """A message (for tests): FIELDS by name, the rest 0 (deadline -1)."""
    values = {name: 0 for name in Msg.__dataclass_fields__}
    values["deadline"] = -1
    values.update(fields)
    return MSG.pack(*(values[name] for name in Msg.__dataclass_fields__))


#: Operations whose step may let another task go on (a post, a write, a signal, an exit):
#: after one, the task asks again at its very next point.
EFFECTS = frozenset(OP[n] for n in (
    "sem_post", "mutex_unlock", "cond_signal", "write", "connect", "close", "msgsnd", "msgrcv",
    "semop", "mq_send", "mq_receive", "kill", "forked", "thread_created", "exec", "exit", "read",
    "accept",
))
#: Releases: what another task may have been waiting for (a schedule of depth 0 lets go after one).
RELEASES = frozenset(OP[n] for n in ("sem_post", "mutex_unlock", "cond_signal", "write", "msgsnd", "mq_send", "kill", "semop", "close"))
#: Waits: a schedule of depth 0 may let the others go just before one (a check, then a wait).
WAITS = frozenset(OP[n] for n in ("sem_wait", "mutex_lock", "cond_wait", "read", "accept", "poll", "msgrcv", "mq_receive", "sigwait", "wait", "join"))
#: Stores to a program's own variables (a global of Python or C, which threads or a handler
#: share): a schedule of depth 0 may let the others go just before one (a read, then a store).
STORES = frozenset({OP["store"]})
#: Operations on descriptors: after one, tasks waiting on descriptors look again (CHECK).
FD_EFFECTS = frozenset(OP[n] for n in ("write", "read", "accept", "connect", "close", "mq_send", "mq_receive", "kill", "exit", "forked"))
