"""The registry of mechanisms: the one list every other part derives from.

Adding a mechanism touches: its entry here, its reference program (reference/), its template
stub (student_template/), its spec module (conformance/specs/test_<name>.py) and its mutants
(tests/mutants/<name>-*). tests/test_registry.py checks that they agree.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mechanism:
    name: str
    """The manifest key in ``[programs]`` and the prefix of every spec id."""
    title: str
    roles: tuple[str, ...]
    """The first argument each program accepts (contract section 3)."""
    program: str
    """The reference's file for it (and the template's stub)."""


MECHANISMS: dict[str, Mechanism] = {
    m.name: m
    for m in (
        Mechanism("pipe", "Anonymous pipes", ("relay", "duplex"), "pipe.py"),
        Mechanism("fifo", "Named pipes (FIFOs)", ("write", "read"), "fifo.py"),
        Mechanism("signal", "Signals", ("catch", "child", "send"), "signals.py"),
        Mechanism("msgq", "System V message queues", ("send", "recv", "rm"), "msgq.py"),
        Mechanism("mqueue", "POSIX message queues", ("send", "recv", "unlink"), "mqueue.py"),
        Mechanism("shm", "Shared memory", ("write", "read", "rm", "fork", "counter"), "shm.py"),
        Mechanism(
            "buffer",
            "Bounded buffer (producer/consumer)",
            ("init", "produce", "consume", "destroy"),
            "buffer.py",
        ),
        Mechanism(
            "socket",
            "Sockets",
            (
                "tcp-server",
                "tcp-client",
                "udp-server",
                "udp-client",
                "unix-server",
                "unix-client",
            ),
            "sockets.py",
        ),
    )
}
