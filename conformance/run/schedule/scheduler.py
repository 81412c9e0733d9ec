"""The scheduler: one task of a controlled spec runs at a time, between two scheduling points,
and PCT (pct.py) chooses which.

It runs in a thread of the grader, listening on a Unix socket only the programs' user can reach.
Every thread of every controlled process (a task) connects when it starts (ipcsched.c's
constructor, a fork, a new thread) and from then on asks at each scheduling point. A task that
would block reports what it waits for and gives the turn back; it may run again once a step of
another task could have changed that (a post on its semaphore, a signal to its process, any
step on descriptors, after which every task waiting on descriptors is asked whether they are
ready), or once its deadline has passed and nothing else can run. A task that sleeps in a call
the library does not interpose, while it holds the turn, is seen in /proc and counted as waiting
outside control (``outside``): the others go on, and the report says how often that happened.

The spec's own thread drives it (control.py): registers the programs it starts (``expect``),
starts it, holds it while the grader acts on the programs from outside, waits for it to be quiet,
and lets go at the end (every task then runs free). Grader actions can also be steps of the
schedule itself (``act``): PCT places them among the programs' steps.

Its base, messages.Messages, keeps the task table and handles what the tasks say; tasks.py has
the tasks, the grader's acts and the words for both.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from conformance.kernel import observe
from conformance.outcomes import Sentence

from . import protocol as P
from .messages import Messages
from .pct import SPIN_STEPS, Pct, Plan
from .tasks import STATES, Act, Stats, Task, object_words

#: How long the task that holds the turn may go without a word before /proc is asked whether
#: it sleeps (in a call the library does not see), and how long a sleep must last to count.
SLICE = 0.02
#: At most this many steps in one schedule; beyond, control ends (the programs run free).
MAX_STEPS = 400_000
#: Steps kept for the timeline of a schedule: the first and the last.
KEEP_FIRST, KEEP_LAST = 40, 400
#: How long an interpreter may take to start (in parallel with the others) before it counts as
#: outside control.
WARMING = 10.0
#: How long the scheduler waits for a word when nothing can run and no deadline is near.
IDLE_WAIT = 0.05
#: The first few waits outside control are named in the record; the rest are counted.
OUTSIDE_NAMED = 5
#: A task that burns this much CPU without waiting, in its turn without a word or over points
#: granted to it in a row, spins (a loop that polls instead of sleeping in a call that waits):
#: its schedule could never be quiet, and PCT could not choose how it interleaves. Control ends
#: for the spec, which says so (the spinning itself is waits-without-spinning's to judge).
SPIN_SECONDS = 0.25
SPIN_TICKS = int(SPIN_SECONDS * os.sysconf("SC_CLK_TCK"))
#: A task woken by its wait's deadline this many times in a row, nothing else happening, polls
#: (a loop of short sleeps): the same as a spinner for the schedule.
SPIN_POLLS = 20
#: How often its CPU is looked at, over points granted to one task in a row: every SPIN_CHECK
#: points (a C loop of tries), or every SPIN_LOOK seconds (a Python loop, thousands of lines a turn).
SPIN_CHECK = 64
SPIN_LOOK = 0.05

class Scheduler(Messages):
    def __init__(self, plan: Plan, path: str, uid: int | None = None, gid: int | None = None) -> None:
        self.plan = plan
        self.pct = Pct(plan)
        self.path = path
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        self.listener.bind(path)
        os.chmod(path, 0o600)
        if uid is not None and uid != os.geteuid():
            os.chown(path, uid, gid if gid is not None else uid)
        self.listener.listen(64)
        self.listener.setblocking(False)
        self.tasks: dict[int, Task] = {}
        self.by_conn: dict[socket.socket, Task | None] = {}
        self.stats = Stats()
        self.trail: list[dict[str, Any]] = []
        """Each granted point: its step, its task (who, tid), the operation and its object; the
        first KEEP_FIRST and the last KEEP_LAST (the timeline of a failing schedule)."""
        self.cut = 0
        self.written: dict[int, int] = {}
        """Bytes the tasks were let write to each pipe (by inode): what the grader's reader of a
        program's output must have taken before a condition on that output is judged."""
        self.changes: list[dict[str, Any]] = []
        """PCT's change points as they happened: the step, the task that dropped and what it
        was about to do (trail.py marks the two steps whose order mattered)."""
        self._lock = threading.Condition()
        self._started = False
        self._held = 0
        self._free = False
        self._closing = False
        self._running: Task | None = None
        self._awaiting: dict[int, tuple[Task, float]] = {}
        """token -> (the creator, since when): a fork or thread whose hello is awaited."""
        self._hellos: dict[int, tuple[socket.socket, P.Msg]] = {}
        """token -> a hello that came before its creator said so."""
        self._checks: set[int] = set()
        self._quiet = False
        self._acts: list[Act] = []
        self._act_priority: float | None = None
        self._execs: dict[int, float] = {}
        """pid -> since when: a process between exec and its new image's hello."""
        self._turn_since = 0.0
        self._spin: tuple[int, int] = (0, 0)
        self._streak: tuple[int, int, int | None] = (0, 0, None)
        self._looked = 0.0
        self._timeouts: tuple[int, int] = (0, 0)
        """The task its waits' deadlines woke, how many times, no other task stepping in between."""
        """The task granted points in a row: its tid, how many, its CPU at the first check."""
        self.spinning: Sentence | None = None
        """Why control ended early: a task that spins (see SPIN_SECONDS)."""
        self.error: str | None = None
        r, w = socket.socketpair()
        self._bell_r, self._bell_w = r, w
        r.setblocking(False)
        self._sel = selectors.DefaultSelector()
        self._sel.register(self.listener, selectors.EVENT_READ, "listener")
        self._sel.register(r, selectors.EVENT_READ, "bell")
        self._thread = threading.Thread(target=self._loop, daemon=True, name="ipc-scheduler")
        self._thread.start()

    # --- the spec's side ---------------------------------------------------------------------

    def expect(self, pid: int, label: str, timeout: float) -> bool:
        """Wait for the program PID (just started) to say hello; False if it does not within
        TIMEOUT (a static program, a runtime the library does not reach, an exit first)."""
        end = time.monotonic() + timeout
        with self._lock:
            while pid not in self._roots():
                if self.error or time.monotonic() > end or observe.state(pid) in (None, "Z", "X"):
                    self.stats.uncontrolled.append(Sentence("%(program)s (pid %(pid)s) never reached the scheduler", program=label, pid=pid))
                    return False
                self._lock.wait(0.01)
            task = self._roots()[pid]
            task.label = Sentence("%(program)s (pid %(pid)s)", program=label, pid=pid)
            return True

    def _roots(self) -> dict[int, Task]:
        return {t.pid: t for t in self.tasks.values() if t.ppid == os.getpid() and t.state != "done"}

    def start(self) -> None:
        with self._lock:
            self._started = True
        self._ring()

    def act(self, label: str, run: Callable[[], Any], when: Callable[[], bool] | None = None, pid: int | None = None) -> Act:
        """A step of the grader's, in order after its earlier ones, when WHEN holds."""
        a = Act(label, run, when, pid)
        with self._lock:
            if self._act_priority is None:
                self._act_priority = self.pct.new_priority()
                self.stats.tasks += 1  # the grader: a task of the schedule like the programs'
            self._acts.append(a)
        self._ring()
        return a

    @contextlib.contextmanager
    def hold(self, timeout: float = 5.0) -> Iterator[None]:
        """No task runs while the grader acts on the programs from outside; afterwards every
        task that waits asks again (what the grader did may let it go on)."""
        with self._lock:
            self._held += 1
            end = time.monotonic() + timeout
            while self._running is not None and time.monotonic() < end and not self.error:
                self._lock.wait(0.01)
        try:
            yield
        finally:
            with self._lock:
                self._held -= 1
                for t in self.tasks.values():
                    if t.state == "blocked":
                        t.woken = True  # what the grader did may have changed what it waits for
                self._quiet = False
            self._ring()

    def quiet(self, timeout: float) -> bool:
        """Wait until no task can run: every one waits (and says its descriptors are not
        ready), has ended, or is outside control; no grader action is due. False at TIMEOUT."""
        end = time.monotonic() + timeout
        with self._lock:
            self._quiet = False
            self._ring_locked()
            while not self._quiet and not self.error and not self.spinning:
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(min(left, 0.05))
            return self._quiet and not self.spinning

    def idle(self) -> bool:
        """Quiet, with nothing to wait for: every task that is left waits for another task, with
        no deadline, no descriptor and no grader action that could end its wait (a deadlock)."""
        with self._lock:
            if not self._quiet:
                return False
            left = [t for t in self.tasks.values() if t.state != "done"]
            return bool(left) and all(t.state == "blocked" and not t.woken and t.deadline is None and not t.fds for t in left) and not self._pending_acts()

    def waiting(self) -> list[Sentence]:
        """What each task not yet done waits for, in words."""
        with self._lock:
            return [Sentence("%(task)s: %(waits)s", task=t.label, waits=t.waits or STATES.get(t.state, t.state)) for t in self.tasks.values() if t.state != "done"]

    def let_go(self) -> None:
        """Control ends: every task runs free from its next word on."""
        with self._lock:
            self._free = True
        self._ring()

    def close(self) -> None:
        self.let_go()
        with self._lock:
            self._closing = True
        self._ring()
        self._thread.join(5)
        for conn in list(self.by_conn):
            with contextlib.suppress(OSError):
                conn.close()
        for s in (self.listener, self._bell_r, self._bell_w):
            with contextlib.suppress(OSError):
                s.close()
        with contextlib.suppress(OSError):
            os.unlink(self.path)
        self._sel.close()

    def _ring(self) -> None:
        with contextlib.suppress(OSError):
            self._bell_w.send(b"x")

    def _ring_locked(self) -> None:
        self._ring()

    # --- the scheduler's thread ---------------------------------------------------------------

    def _loop(self) -> None:
        try:
            while True:
                with self._lock:
                    if self._closing:
                        break
                    timeout = self._decide()
                for key, _ in self._sel.select(timeout):
                    if key.data == "listener":
                        self._accept()
                    elif key.data == "bell":
                        with contextlib.suppress(OSError):
                            while self._bell_r.recv(4096):
                                pass
                    else:
                        self._read(key.fileobj)
                with self._lock:
                    self._watch_running()
                    self._lock.notify_all()
        except Exception as exc:  # the grader's fault: the spec reports it (control.py)
            self.error = f"{type(exc).__name__}: {exc}"
            with self._lock:
                self._free = True
                self._lock.notify_all()
            for conn in list(self.by_conn):
                with contextlib.suppress(OSError):
                    conn.send(P.reply(P.R_FREE))

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except BlockingIOError:
                return
            conn.setblocking(False)
            self.by_conn[conn] = None
            self._sel.register(conn, selectors.EVENT_READ, "task")

    def _read(self, conn: socket.socket) -> None:
        while True:
            try:
                data = conn.recv(P.MSG.size)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            with self._lock:
                if not data:
                    self._eof(conn)
                    return
                if len(data) == P.MSG.size:
                    self._message(conn, P.Msg.parse(data))

    def _send(self, task: Task, kind: int, budget: int = 0) -> None:
        if task.conn is None:
            return
        try:
            task.conn.send(P.reply(kind, budget))
        except OSError:
            pass

    # --- steps -------------------------------------------------------------------------------

    def _step_ended(self, task: Task, local: int) -> None:
        task.steps += local
        self.stats.steps += local
        if task.contended:
            self.stats.choices += local
        if self._running is task or task.state == "outside":
            if self._running is task:
                self._running = None
            if task.granted is not None:
                self._effect(task, task.granted)
                if task.granted.op in P.RELEASES and task.drop is None:
                    task.drop = self.pct.drop_after()
                task.granted = None
            if task.state == "outside":
                task.state = "parked"

    def _effect(self, task: Task, m: P.Msg) -> None:
        """What M, a step TASK took, may have changed for the tasks that wait."""
        op = m.op
        if op == P.OP["kill"]:
            target = m.arg
            self._wake(lambda t: t.state == "blocked" and (target <= 0 or t.pid == target))
        elif m.key is not None and op not in (P.OP["forked"],):
            self._wake(lambda t, key=m.key: t.key == key)
        if op in P.FD_EFFECTS:
            self._check_fds()

    def _wake(self, which: Callable[[Task], bool]) -> None:
        for t in self.tasks.values():
            if t.state == "blocked" and which(t):
                t.woken = True
                self._quiet = False

    def _check_fds(self) -> None:
        for t in self.tasks.values():
            if t.state == "blocked" and t.fds and not t.woken and t.tid not in self._checks:
                self._checks.add(t.tid)
                self._send(t, P.R_CHECK)

    def _decide(self) -> float | None:
        """Let the next task go, if one may; how long to wait for the next word."""
        now = time.monotonic()
        if self._free:
            for t in self.tasks.values():
                if t.state in ("new", "parked", "blocked"):
                    t.state = "free"
                    self._send(t, P.R_FREE)
            return None
        if not self._started or self._held:
            return None if self._running is None else SLICE
        if self._running is not None:
            return SLICE
        for token, (_, since) in list(self._awaiting.items()):
            if now - since > 2.0:  # the child died before it could say hello
                del self._awaiting[token]
        for pid, since in list(self._execs.items()):
            if now - since > 2.0:  # its new image never said hello: a static program, an exit
                del self._execs[pid]
                self.stats.uncontrolled.append(Sentence("pid %(pid)s ran a program the library does not reach after exec", pid=pid))
                for t in self.tasks.values():
                    if t.pid == pid and t.state == "exec":
                        t.state = "outside"
        for t in self.tasks.values():
            if t.state == "warming" and now - t.since > WARMING:
                t.state = "outside"  # it never reached the submission's code (its startup hangs)
                self.stats.uncontrolled.append(Sentence("%(task)s did not start its Python within %(seconds)s s", task=t.label, seconds=format(WARMING, "g")))
        if self._awaiting or self._checks or self._execs or any(t.state == "warming" for t in self.tasks.values()):
            return SLICE
        if self.stats.steps >= MAX_STEPS:
            self.stats.truncated = True
            self._free = True
            return 0
        step = self.stats.steps + 1
        chosen = self._pick()
        if chosen is not None:
            # PCT's steps are the choices: a step at which another task could run instead (a
            # change point where one task alone can run changes nothing until another can, and
            # is the same as one at that task's next choice)
            contended = self._contended(chosen)
            low = self.pct.change_at(self.stats.choices + 1) if contended else None
            if low is not None and not (isinstance(chosen, Task) and chosen.state == "blocked"):
                if isinstance(chosen, Task):
                    chosen.priority = low
                    m = chosen.granted
                    self.changes.append({"step": step, "tid": chosen.tid, "who": chosen.label, "what": m.opname if m else "", "on": object_words(m) if m else ""})
                else:
                    self._act_priority = low
                chosen = self._pick()
                contended = self._contended(chosen)
            self._grant(chosen, step, contended=contended)
            return 0
        # nothing can run: a deadline that has passed, a retry, or quiet
        timers = [t for t in self.tasks.values() if t.state == "blocked" and t.deadline is not None]
        due = [t for t in timers if t.deadline <= now]
        if due:
            t = min(due, key=lambda t: (t.deadline, -t.priority))
            tid, n = self._timeouts
            self._timeouts = (t.tid, n + 1 if tid == t.tid else 1)
            if self._timeouts[1] > SPIN_POLLS:
                self._spinning(t, Sentence("it polls: it woke from %(n)s timed waits in a row with nothing else to do", n=SPIN_POLLS))
            self._grant(t, step, timeout=True)
            return 0
        self._quiet = not timers  # a timed wait still to end is a step still to come
        self._lock.notify_all()
        nearest = min((t.deadline for t in timers), default=None)
        return max(0.0, min(nearest - now, IDLE_WAIT)) if nearest is not None else IDLE_WAIT

    def _contended(self, chosen: Task | Act | None) -> bool:
        others = any(t.runnable for t in self.tasks.values() if t is not chosen)
        acts = self._pending_acts()
        return others or (bool(acts) and acts[0] is not chosen and (acts[0].when is None or acts[0].when()))

    def _pending_acts(self) -> list[Act]:
        return [a for a in self._acts if not a.done]

    def _pick(self) -> Task | Act | None:
        best: Task | Act | None = None
        best_p = None
        for t in self.tasks.values():
            if t.runnable and (best_p is None or t.priority > best_p):
                best, best_p = t, t.priority
        acts = self._pending_acts()
        if acts and self._act_priority is not None and (best_p is None or self._act_priority > best_p):
            head = acts[0]
            if head.when is None or head.when():
                best = head
        return best

    def _grant(self, chosen: Task | Act, step: int, timeout: bool = False, contended: bool = False) -> None:
        if isinstance(chosen, Act):
            self._trail(step, Sentence("the grader"), 0, chosen.label, "")
            self.stats.steps += 1
            self.stats.choices += contended
            self._streak = (0, 0, None)  # what the grader did may give a poller its work
            self._timeouts = (0, 0)
            chosen.run()
            chosen.done = True
            if chosen.pid is not None:
                self._wake(lambda t: t.pid == chosen.pid)
            self._check_fds()
            return
        task = chosen
        if task.tid != self._timeouts[0]:
            self._timeouts = (0, 0)  # another task's step: the sleeper's wait may have found work
        self._spins(task)
        task.cpu_mark = None
        last, since = self._spin
        if last != task.tid:
            self._spin = (task.tid, task.steps)
        elif task.steps - since > SPIN_STEPS and any(t.runnable for t in self.tasks.values() if t is not task):
            task.priority = self.pct.bottom()  # it keeps going while others could run: a spinner
            self._spin = (0, 0)
        self.stats.steps += 1
        task.steps += 1
        task.contended = contended
        self.stats.choices += contended
        m = task.granted
        what = (Sentence("tries its wait again") if not timeout else Sentence("its wait's deadline passed")) if task.state == "blocked" else (Sentence("starts") if m is None else m.opname)
        self._trail(step, task.label, task.tid, what, "" if m is None else object_words(m))
        budget = 0
        if m is None or m.op not in P.EFFECTS:
            nxt = self.pct.next_change(self.stats.choices) if contended else None
            budget = SPIN_STEPS if nxt is None else max(0, nxt - self.stats.choices - 1)
            budget = min(budget, SPIN_STEPS, MAX_STEPS - self.stats.steps)
            if task.drop is not None:
                budget = 0  # it drops after a number of points: each one asks
        if task.state == "blocked":
            task.woken = False
            task.retry = not timeout
        if m is not None and m.op == P.OP["write"] and m.kind == P.K["pipe"] and task.state != "blocked":
            self.written[m.kb] = self.written.get(m.kb, 0) + max(m.arg2, 0)
        task.state = "running"
        self._running = task
        self._turn_since = time.monotonic()
        self._send(task, P.R_TIMEOUT if timeout else P.R_GO, budget)

    def _trail(self, step: int, who: str, tid: int, what: str, on: str) -> None:
        entry = {"step": step, "who": who, "tid": tid, "what": what, "on": on}
        if len(self.trail) < KEEP_FIRST + KEEP_LAST:
            self.trail.append(entry)
        else:
            del self.trail[KEEP_FIRST]
            self.cut += 1
            self.trail.append(entry)

    def _spins(self, task: Task) -> None:
        """Granted another point in a row: has TASK burnt SPIN_TICKS of CPU over them?"""
        tid, grants, mark = self._streak
        if tid != task.tid:
            self._streak = (task.tid, 1, None)
            return
        grants += 1
        now = time.monotonic()
        if grants % SPIN_CHECK == 0 or now - self._looked >= SPIN_LOOK:
            self._looked = now
            cpu = observe.cpu_ticks(task.pid)
            if mark is None:
                mark = cpu
            elif cpu is not None and cpu - mark > SPIN_TICKS:
                self._spinning(task, spins_words(Sentence("%(n)s scheduling points in a row", n=grants)))
        self._streak = (tid, grants, mark)

    def _spinning(self, task: Task, what: Sentence) -> None:
        """Control ends: TASK spins or polls (WHAT says which and how it was seen)."""
        self.spinning = Sentence(
            "%(task)s: %(what)s (a loop that polls instead of sleeping in a call that waits), so the grader "
            "cannot choose how it interleaves with the others", task=task.label, what=what,
        )
        self._free = True
        self._lock.notify_all()

    def _watch_running(self) -> None:
        """The task with the turn has said nothing for a while: asleep in a call the library
        does not see? Then the others go on (it rejoins at its next point)."""
        task = self._running
        if task is None or time.monotonic() - self._turn_since < SLICE:
            return
        st = observe.state_of_thread(task.pid, task.tid)
        if st in (None, "Z", "X"):
            return  # its end comes as the end of its connection
        if st not in ("S", "T", "t"):
            task.outside_since = None
            if st == "R":  # on a CPU, through its turn, without a word: a spinner?
                cpu = observe.cpu_ticks(task.pid)
                if task.cpu_mark is None:
                    task.cpu_mark = cpu
                elif cpu is not None and cpu - task.cpu_mark > SPIN_TICKS:
                    self._spinning(task, spins_words(Sentence("its turn, without reaching a scheduling point")))
            return
        now = time.monotonic()
        if task.outside_since is None:
            task.outside_since = now
            return
        if now - task.outside_since < SLICE:
            return
        try:
            sc = observe.syscall(task.pid, task.tid)
        except observe.NOT_SHOWN:
            sc = None
        call = Sentence("stopped") if st in ("T", "t") else (sc.name if sc and sc.name else Sentence("a system call"))
        self.stats.outside_count += 1
        if len(self.stats.outside) < OUTSIDE_NAMED:
            self.stats.outside.append(Sentence("%(task)s slept in %(call)s", task=task.label, call=call))
        task.state = "outside"
        task.waits = Sentence("asleep in %(call)s, outside the scheduler's control", call=call)
        task.outside_since = None
        self._running = None


def spins_words(how: Sentence) -> Sentence:
    """A spinner's sentence: it used more than SPIN_SECONDS of CPU over HOW without waiting."""
    return Sentence("it spins: it used more than %(seconds)s s of CPU over %(how)s without waiting", seconds=format(SPIN_SECONDS, "g"), how=how)


__all__ = ["Act", "Scheduler", "Stats", "Task"]
