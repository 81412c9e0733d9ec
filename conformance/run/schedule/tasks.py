"""The scheduler's tasks and the words it has for what they do: each thread of a controlled
process is a task (Task), a step of the grader's own is an Act, and Stats is what a schedule saw.
Also the words a timeline and a failure use for a task's wait and the object of its step."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from conformance.kernel import observe
from conformance.outcomes import Sentence

from ..status import signal_name
from . import protocol as P


@dataclass
class Task:
    pid: int
    tid: int
    label: str
    priority: float
    conn: socket.socket | None = None
    state: str = "new"
    """new, parked (at a point), blocked, running, outside (asleep in a call the library does not
    see, while it had the turn), exec (between exec and its new image's hello), warming (an
    interpreter starting, in parallel with the others: it asks at the submission's first line),
    done."""
    since: float = 0.0
    python: bool = False
    instrumented: bool = False
    ppid: int = 0
    woken: bool = False
    fds: bool = False
    key: tuple[int, int, int, int] | None = None
    deadline: float | None = None
    waits: str = ""
    """What it waits for, in words (a Sentence, or a call's name)."""
    granted: P.Msg | None = None
    """The point it was last let past: its effect lands when its step ends."""
    steps: int = 0
    outside_since: float | None = None
    retry: bool = False
    """It was let go to try its wait again: if it must wait still, no step was taken."""
    contended: bool = False
    """Another task could have run when it was let go: its steps are choices PCT makes."""
    cpu_mark: int | None = None
    """Its process's CPU ticks when the scheduler first saw it run on through its turn."""
    drop: int | None = None
    """It has just released something and lets go (a schedule of depth 0): after this many more
    points (0 to 3: the window a release opens may close a line or two later) it drops below
    every other task; None when no drop is due."""

    @property
    def runnable(self) -> bool:
        return self.state in ("new", "parked") or (self.state == "blocked" and self.woken)


@dataclass
class Act:
    """A step of the grader's own, placed among the programs' by the schedule."""

    label: str
    run: Callable[[], Any]
    when: Callable[[], bool] | None = None
    pid: int | None = None
    """The process it signals or writes to: its tasks waiting may go on after it."""
    done: bool = False


@dataclass
class Stats:
    steps: int = 0
    choices: int = 0
    """Steps at which another task could have run instead: PCT's k (see _grant)."""
    tasks: int = 0
    processes: int = 0
    outside: list[str] = field(default_factory=list)
    outside_count: int = 0
    instrumented: set[int] = field(default_factory=set)
    python: set[int] = field(default_factory=set)
    uncontrolled: list[str] = field(default_factory=list)
    """Processes that never reached the scheduler (and why), or that it let go of early."""
    truncated: bool = False


def in_exec(task: Task) -> bool:
    """TASK is between its exec point and its new image (it was let go to exec)."""
    return task.state == "exec" or (task.state == "running" and task.granted is not None and task.granted.op == P.OP["exec"])


#: The waits a task reports that are no call's name, in words.
WAITS_IN = {"sigwait": Sentence("a wait for a signal"), "wait": Sentence("wait for a child"), "sleep": Sentence("a sleep")}
CALLS = {"mutex_lock": "pthread_mutex_lock", "cond_wait": "pthread_cond_wait", "poll": "poll/select", "join": "pthread_join"}


#: A task's state in words, for one that has said nothing yet of what it waits for.
STATES = {"new": Sentence("new"), "parked": Sentence("parked"), "blocked": Sentence("blocked"), "running": Sentence("running"),
          "outside": Sentence("outside"), "exec": Sentence("exec"), "warming": Sentence("warming"), "free": Sentence("free"), "done": Sentence("done")}


def waits_words(m: P.Msg) -> Sentence:
    """What a task that reported M waits for, in words: ``waits in read on fd 3 (pipe:[5])``."""
    call = WAITS_IN.get(m.opname) or CALLS.get(m.opname, m.opname)
    on, timed = object_words(m), m.deadline >= 0
    if on:
        if timed:
            return Sentence("waits in %(call)s on %(object)s (with a deadline)", call=call, object=on)
        return Sentence("waits in %(call)s on %(object)s", call=call, object=on)
    return Sentence("waits in %(call)s (with a deadline)", call=call) if timed else Sentence("waits in %(call)s", call=call)


def object_words(m: P.Msg) -> str:
    """The object of M's step, in words (a Sentence, or a value: ``fd 3 (pipe:[5])``); "" for none."""
    kind = P.KINDS[m.kind] if 0 <= m.kind < len(P.KINDS) else ""
    if m.op == P.OP["line"] or (m.op == P.OP["store"] and kind == "none"):
        return Sentence("line %(line)s", line=m.arg)
    if kind == "mem":
        return Sentence("%(object)s at offset %(offset)s", object=shared_name(m.ka, m.kb), offset=m.kc)
    if kind == "pmem":
        return Sentence("memory of its own process")
    if kind in ("pipe", "sock", "fd"):
        return f"fd {m.kc} ({'pipe' if kind == 'pipe' else 'socket' if kind == 'sock' else 'file'}:[{m.kb}])"
    if kind == "msq":
        return Sentence("System V queue %(id)s", id=m.ka)
    if kind == "sysvsem":
        return Sentence("System V semaphore set %(id)s", id=m.ka)
    if kind == "sig" and m.op == P.OP["kill"]:
        return f"pid {m.arg}, {signal_name(m.arg2)}"
    if m.op == P.OP["forked"]:
        return Sentence("child pid %(pid)s", pid=m.arg)
    return ""


def shared_name(dev: int, ino: int) -> str:
    """A shared mapping by what the grader can name: an object in /dev/shm, else its inode."""
    try:
        for name in os.listdir("/dev/shm"):
            st = os.stat(f"/dev/shm/{name}")
            if st.st_ino == ino:
                return f"/dev/shm/{name}"
    except OSError:
        pass
    return Sentence("shared memory inode %(inode)s", inode=ino)


def wait_gone(pid: int, timeout: float = 1.0) -> None:
    """A process whose last task has ended: wait (bounded) until the kernel shows it ended, so
    that its parent's wait sees it."""
    end = time.monotonic() + timeout
    while observe.state(pid) not in (None, "Z", "X") and time.monotonic() < end:
        threading.Event().wait(0.0005)


def wait_thread_gone(pid: int, tid: int, timeout: float = 1.0) -> None:
    end = time.monotonic() + timeout
    while observe.state_of_thread(pid, tid) not in (None, "Z", "X") and time.monotonic() < end:
        threading.Event().wait(0.0005)


__all__ = ["Act", "Stats", "Task", "STATES", "in_exec", "object_words", "wait_gone", "wait_thread_gone", "waits_words"]
