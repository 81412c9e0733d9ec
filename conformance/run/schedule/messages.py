"""What the tasks say to the scheduler (protocol.py), and what each word changes: a task says
hello when it starts (in a new process, thread, or image after exec), asks at each scheduling
point, reports a wait it must block in, notes a release it made without asking, and its
connection ends when it ends. The decisions (who runs next) are the Scheduler's (scheduler.py),
which this class is the base of: it keeps the task table, the scheduler keeps the turn."""

from __future__ import annotations

import contextlib
import selectors
import socket
import time
from typing import Any

from conformance.outcomes import Sentence

from . import protocol as P
from .pct import Pct
from .tasks import Stats, Task, in_exec, object_words, wait_gone, wait_thread_gone, waits_words


class Messages:
    """The task table and the handling of the tasks' words (the Scheduler's base)."""

    pct: Pct
    stats: Stats
    tasks: dict[int, Task]
    by_conn: dict[socket.socket, Task | None]
    _sel: selectors.BaseSelector
    _started: bool
    _free: bool
    _quiet: bool
    _running: Task | None
    _awaiting: dict[int, tuple[Task, float]]
    _hellos: dict[int, tuple[socket.socket, P.Msg]]
    _checks: set[int]
    _execs: dict[int, float]
    changes: list[dict[str, Any]]

    # the steps' side, the Scheduler's
    def _send(self, task: Task, kind: int, budget: int = 0) -> None: raise NotImplementedError
    def _step_ended(self, task: Task, local: int) -> None: raise NotImplementedError
    def _effect(self, task: Task, m: P.Msg) -> None: raise NotImplementedError
    def _wake(self, which: Any) -> None: raise NotImplementedError
    def _check_fds(self) -> None: raise NotImplementedError

    def _message(self, conn: socket.socket, m: P.Msg) -> None:
        task = self.by_conn.get(conn)
        if m.type == P.T_HELLO:
            self._hello(conn, m)
            return
        if task is None:
            return
        if m.type == P.T_WAKE:
            if task.state == "blocked":
                task.woken = True
                self._quiet = False
            return
        if m.type == P.T_CHECKED:
            self._checks.discard(task.tid)
            if m.arg and task.state == "blocked":
                task.woken = True
            return
        if m.type == P.T_NOTE:
            self._effect(task, m)
            if m.op in P.RELEASES and task.drop is None:
                task.drop = self.pct.drop_after()
            return
        if m.type == P.T_BYE:
            return
        # a point or a block: the task's step (if it had the turn) ends here
        if task.retry and m.type == P.T_BLOCK and m.local == 0 and self._running is task:
            self.stats.steps -= 1  # it tried its wait again and must still wait: no step
            task.steps -= 1
            self.stats.choices -= task.contended
        task.retry = False
        self._step_ended(task, m.local)
        if task.drop is not None:
            if task.drop <= 0:
                task.drop = None
                task.priority = self.pct.bottom()
            else:
                task.drop -= 1
        if self._free:
            task.state = "parked"
            self._send(task, P.R_FREE)
            return
        if m.type == P.T_POINT:
            task.state = "parked"
            task.waits = Sentence("about to %(call)s", call=m.opname)
            task.granted = m
            if m.op in (P.OP["forked"], P.OP["thread_created"]):
                self._awaiting[m.arg2] = (task, time.monotonic())
                self._adopt_early(m.arg2)
            elif m.op == P.OP["exec"]:
                task.waits = "exec"
            elif m.op == P.OP["yield"] or ((m.op in P.WAITS or m.op in P.STORES) and self.pct.lets_go()):
                task.priority = self.pct.bottom()  # it yields; or it lets the others go before it waits
                if m.op in P.STORES:  # the others run between its read and this store: trail.py marks it
                    self.changes.append({"step": self.stats.steps + 1, "tid": task.tid, "who": task.label, "what": m.opname, "on": object_words(m)})
        elif m.type == P.T_BLOCK:
            task.state = "blocked"
            task.woken = False
            task.fds = bool(m.flags & P.F_FDS)
            task.key = m.key
            task.deadline = None if m.deadline < 0 else m.deadline / 1e9
            task.waits = waits_words(m)
            task.granted = None

    def _hello(self, conn: socket.socket, m: P.Msg) -> None:
        pid = m.pid
        exec_of = next((t for t in self.tasks.values() if t.pid == pid and in_exec(t)), None)
        if exec_of is not None:  # the same task, in its new image
            if exec_of.conn is not None:  # its old connection's end is still to come: not an exit
                self.by_conn[exec_of.conn] = None
            if self._running is exec_of:
                self._step_ended(exec_of, 0)
            self._execs.pop(pid, None)
            self._attach(exec_of, conn, m)
            exec_of.state = "parked"
            exec_of.waits = Sentence("its new image starts")
            self._warm(exec_of)
            return
        if m.flags & (P.F_FORKED | P.F_THREAD):
            if m.arg not in self._awaiting:
                self._hellos[m.arg] = (conn, m)  # its creator has not said so yet
                return
            creator, _ = self._awaiting.pop(m.arg)
            self._register(conn, m, creator)
            return
        self._register(conn, m)

    def _register(self, conn: socket.socket, m: P.Msg, creator: Task | None = None) -> Task:
        if creator is not None and m.flags & P.F_THREAD:
            n = sum(1 for t in self.tasks.values() if t.pid == m.pid)
            label: str = Sentence("pid %(pid)s thread %(thread)s", pid=m.pid, thread=n + 1)
        elif creator is not None:
            label = Sentence("pid %(pid)s (child of pid %(parent)s)", pid=m.pid, parent=creator.pid)
        else:
            label = Sentence("pid %(pid)s", pid=m.pid)
        task = Task(m.pid, m.tid, label, self.pct.new_priority(), ppid=m.arg2 if not m.flags & P.F_THREAD else 0)
        self._attach(task, conn, m)
        self.tasks[m.tid] = task
        self.stats.tasks += 1
        if not m.flags & P.F_THREAD:
            self.stats.processes += 1
        if not self._started:
            task.state = "new"
        if m.flags & P.F_ROOT:
            self._warm(task)
        return task

    def _warm(self, task: Task) -> None:
        """An interpreter starts its own way, touching nothing of the others (the submission's
        code has not run yet): let it, in parallel, up to the submission's first line."""
        if task.python and not self._free:
            task.state = "warming"
            task.since = time.monotonic()
            self._send(task, P.R_WARM)

    def _attach(self, task: Task, conn: socket.socket, m: P.Msg) -> None:
        task.conn = conn
        self.by_conn[conn] = task
        task.python = bool(m.flags & P.F_PYTHON)
        task.instrumented = bool(m.flags & P.F_INSTRUMENTED)
        if task.python:
            self.stats.python.add(task.pid)
        if task.instrumented:
            self.stats.instrumented.add(task.pid)

    def _adopt_early(self, token: int) -> None:
        if token in self._hellos:
            conn, m = self._hellos.pop(token)
            creator, _ = self._awaiting.pop(token)
            self._register(conn, m, creator)

    def _eof(self, conn: socket.socket) -> None:
        task = self.by_conn.pop(conn, None)
        with contextlib.suppress(KeyError, ValueError):
            self._sel.unregister(conn)
        conn.close()
        if task is None:
            return
        task.conn = None
        if in_exec(task):
            if self._running is task:
                self._step_ended(task, 0)
            task.state = "exec"  # its new image says hello on a new connection
            self._execs[task.pid] = time.monotonic()
            return
        was_running = self._running is task
        if was_running:
            self._step_ended(task, 0)
        task.state = "done"
        task.waits = Sentence("ended")
        if not any(t.pid == task.pid and t.state != "done" for t in self.tasks.values()):
            wait_gone(task.pid)
            self._wake(lambda t, ppid=task.ppid: t.key == (P.K["child"], ppid, 0, 0))
        else:
            wait_thread_gone(task.pid, task.tid)
            self._wake(lambda t, pid=task.pid: t.key == (P.K["thread"], pid, 0, 0))
        self._check_fds()


__all__ = ["Messages"]
