"""The spec author's toolbox: everything a spec module (conformance/specs/test_*.py) may use
besides the core (``conformance.spec``, ``conformance.outcomes``, ``conformance.deadline``).

A spec imports from here, ``from conformance.specs.support import ...``, and never from
``conformance.run`` or ``conformance.kernel`` directly: what it needs of them is re-exported
below, under the names a spec uses, and ``__all__`` is the whole surface. The toolbox's own
rooms:

- ``settle``: waiting for a program to settle, telling a real sleep from spinning or polling;
- ``queues``: one driver and one model for the System V and POSIX message queue specs;
- ``shared_memory``: the grader's side of segments, objects and semaphores;
- ``peers``: the grader's side of a socket conversation;
- ``mechanism``: the kernel's evidence that a program used its mechanism (no point without it);
- ``interference``: when the grader's own operation fails, whether the programs made it fail;
- ``strategies``: Hypothesis strategies and settings, payloads, and a spec's own seed.

Who may import it: the spec modules (and the framework's tests). It imports the run and kernel
wings and the core, never the plugin or a spec module.
"""

from __future__ import annotations

from conformance.kernel.credentials import as_program
from conformance.kernel.deadlock import PERIOD as DEADLOCK_PERIOD
from conformance.kernel.deadlock import poll as poll_deadlock
from conformance.kernel.explain import (
    READ_CALLS,
    WRITE_CALLS,
    Why,
    pipe_holders,
    roles_of_tree,
    why_no_eof,
    why_stuck_writing,
)
from conformance.kernel.netstat import Held, NetSocket, on_port
from conformance.kernel.netstat import table as socket_table
from conformance.kernel.observe import (
    NOT_SHOWN,
    STATE_NAMES,
    Fd,
    SignalSets,
    asleep,
    blocked_now,
    children,
    cpu_ticks,
    describe,
    fds,
    monotonic,
    pending_signals,
    read_stat,
    signal_sets,
    state,
    syscall,
    sysvipc,
)
from conformance.kernel.waits import ProcessGone, wait_for_state, wait_until
from conformance.run.process import Proc
from conformance.run.sandbox import give as give_to_programs
from conformance.run.status import ExitStatus, signal_name
from conformance.run.trace import spawn as spawn_traced

from . import interference, mechanism, peers, queues, settle, shared_memory, strategies
from .peers import LOCALHOST, STALL_WINDOW, STALL_WINDOWS, Stalled, threads_doing
from .queues import (
    MQ_RECEIVE,
    MSGRCV,
    Message,
    PosixQueues,
    Recv,
    Send,
    SysvQueues,
    describe_message,
    expect_exit,
    msgmax,
    operations,
    play,
)
from .settle import asleep_in
from .strategies import (
    SEED_ENV,
    describe_bytes,
    first_difference,
    payloads,
    sized_bytes,
    spec_seed,
    spec_settings,
)

__all__ = [
    # the toolbox's rooms, as namespaces
    "interference",
    "mechanism",
    "peers",
    "queues",
    "settle",
    "shared_memory",
    "strategies",
    # waiting and settling
    "ProcessGone",
    "asleep_in",
    "wait_for_state",
    "wait_until",
    # what the kernel shows (kernel/observe.py)
    "NOT_SHOWN",
    "syscall",
    "STATE_NAMES",
    "Fd",
    "SignalSets",
    "asleep",
    "blocked_now",
    "children",
    "cpu_ticks",
    "describe",
    "fds",
    "monotonic",
    "pending_signals",
    "read_stat",
    "signal_sets",
    "state",
    "sysvipc",
    # explanations (kernel/explain.py)
    "READ_CALLS",
    "WRITE_CALLS",
    "Why",
    "pipe_holders",
    "roles_of_tree",
    "why_no_eof",
    "why_stuck_writing",
    # sockets as the kernel lists them (kernel/netstat.py)
    "Held",
    "NetSocket",
    "on_port",
    "socket_table",
    # deadlocks proven (kernel/deadlock.py), for a spec's own waits
    "DEADLOCK_PERIOD",
    "poll_deadlock",
    # acting as the programs' user (kernel/credentials.py)
    "as_program",
    # programs (run/)
    "ExitStatus",
    "Proc",
    "give_to_programs",
    "signal_name",
    "spawn_traced",
    # queues
    "MQ_RECEIVE",
    "MSGRCV",
    "Message",
    "PosixQueues",
    "Recv",
    "Send",
    "SysvQueues",
    "describe_message",
    "expect_exit",
    "msgmax",
    "operations",
    "play",
    # sockets, the grader's side
    "LOCALHOST",
    "STALL_WINDOW",
    "STALL_WINDOWS",
    "Stalled",
    "threads_doing",
    # Hypothesis, payloads, seeds
    "SEED_ENV",
    "describe_bytes",
    "first_difference",
    "payloads",
    "sized_bytes",
    "spec_seed",
    "spec_settings",
]
