"""What happened in a spec, in time: one lane per process, what each did when, and what crossed.

IPC bugs are about order: who wrote before whom, who slept in which call while whom ran, which
process held which end. The supervisor keeps a Timeline of every spec from what the grader sees
anyway: the programs it starts, the bytes it writes to them and reads from them, the signals it
sends, how each ends, and, sampled every SAMPLE seconds (FAST just after a program starts, and
at the moments that matter: the grader acts, a program ends), each process's state and the
system call it sleeps in with the object it sleeps on (``read pipe:[5]``), so a fork shows as a
new lane and an exec as an event. When a program ends, at the verdict and every OBJECTS_EVERY
samples it also notes the IPC objects the spec's processes made (System V queues, segments
and semaphores, POSIX objects in /dev/shm), and at the verdict what each process
still holds open (pipe ends, FIFOs, sockets): the write end a child never closed is drawn on
its lane. It is cheap enough to keep always on, and bounded (MAX_*), so a spec that runs for
minutes keeps its start and its end. The reports draw it (grading/render/timeline.py).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

from conformance.kernel import glance, observe
from conformance.outcomes import Sentence

from .capture import readable

#: How often the processes are looked at (seconds): FAST for the first FAST_FOR seconds after a
#: program starts, where most of a short spec happens (a child forked and killed in
#: milliseconds), then SAMPLE.
SAMPLE = 0.1
FAST = 0.025
FAST_FOR = 0.1
#: A look the grader's act asks for is skipped when a sample is this recent (seconds).
RECENT = 0.01
#: Output events per program and stream (a burst within COALESCE seconds is one event).
MAX_OUTPUTS = 8
COALESCE = 0.02
#: Bounds, so that a record stays small: lanes, segments per lane, events.
MAX_LANES = 12
MAX_SEGMENTS = 120
MAX_EVENTS = 200
#: A preview keeps the first PREVIEW bytes a program wrote (STDIN_PREVIEW the grader wrote to it), shown as
#: capture.readable shows a transcript (the one way a preview is escaped: control characters,
#: bytes that are not UTF-8 and backslashes as escapes) in at most about PREVIEW_CHARS characters.
PREVIEW = 80
STDIN_PREVIEW = 120
PREVIEW_CHARS = 240
#: IPC objects are looked for at every look and at every this many samples.
OBJECTS_EVERY = 10
FD_CALLS = frozenset({"read", "readv", "write", "writev", "pread64", "pwrite64", "recvfrom", "sendto", "recvmsg", "sendmsg", "accept", "accept4", "connect"})


class Timeline:
    def __init__(self, live: Callable[[str], None] | None = None) -> None:
        self.t0 = time.monotonic()
        self.lanes: dict[int, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self.dropped = 0
        self.live = live
        """Called with a line for each event as it happens (ipc-grade replay), or None."""
        self._lock = threading.Lock()
        self._names: dict[str, Sentence] = {}
        self._fd_names: dict[tuple[int, int, int], str] = {}
        """What a pipe is, for the grader's own: `pipe:[5]` -> `its stdin, from the grader`."""
        self._roots: list[Any] = []
        self._objects: set[str] = set()
        """The IPC objects already in the timeline (a key such as ``msg 1234``)."""
        self._before: set[str] | None = None
        """The objects there were before the first program started (another spec's leftovers)."""
        self._samples = 0
        self._uids: set[int] = set()
        self._fast_until = 0.0
        self._last = 0.0
        """When the last sample was taken (monotonic)."""
        self._written: dict[int, int] = {}
        """pid -> the bytes it had passed to write at the last output (_writer)."""
        self._outputs: dict[tuple[int, str], tuple[dict[str, Any], int, bytearray]] = {}
        """(pid, stream) -> its last output event, how many it has had, and the first PREVIEW
        bytes of that event (its preview is made from them)."""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.schedule: dict[str, Any] | None = None
        """The failing schedule of a controlled spec (run/schedule/): its seed, its steps, and
        the two whose order mattered (``marked``)."""

    def now(self) -> float:
        return round(time.monotonic() - self.t0, 3)

    # --- what the grader does ---------------------------------------------------------------

    def started(self, proc: Any) -> None:
        if proc.user is not None and proc.user != os.getuid():
            self._uids.add(proc.user)  # the sandbox's uid: what it owns is the spec's
        if self._before is None:
            self._before = set(_objects(set(), self._uids))
        with self._lock:
            self._roots.append(proc)
            lane = self._lane(proc.pid, proc.label, None)
            if lane is not None:
                lane["label"] = proc.label  # the sampler may have seen it first
            self._fast_until = time.monotonic() + FAST_FOR
            for name, inode in proc.harness_pipe_of.items():  # taken at spawn: a pipe may be closed by now
                self._names[f"pipe:[{inode}]"] = (Sentence("its %(stream)s, from the grader", stream=name) if name == "stdin"
                                                  else Sentence("its %(stream)s, to the grader", stream=name))
        self._event("start", proc.pid, Sentence("started %(program)s: %(command)s", program=proc.label, command=" ".join(proc.shown_argv)),
                    argv=list(proc.shown_argv))
        for name in ("stdout", "stderr"):  # what it wrote before the timeline was attached
            capture = getattr(proc, name)
            if capture.length:
                self.output(proc, name, bytes(capture.head[:200]))
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, daemon=True, name="ipc-timeline")
            self._thread.start()

    def output(self, proc: Any, stream: str, chunk: bytes) -> None:
        """CHUNK came out of PROC's STREAM: an event with its first bytes, on the lane of the
        process that wrote it (``_writer``), a burst coalesced."""
        now = self.now()
        with self._lock:
            last, count, head = self._outputs.get((proc.pid, stream), (None, 0, bytearray()))
            if last is not None and (now - last["t"] <= COALESCE or count >= MAX_OUTPUTS):
                last["size"] += len(chunk)
                if len(head) < PREVIEW:
                    head += chunk[: PREVIEW - len(head)]
                    last["preview"] = preview(head)
                last["text"] = _wrote(last["writer"], last["size"], last["to"], last["preview"], more=now - last["t"] > COALESCE)
                return
        pid = self._writer(proc, stream)
        with self._lock:
            lane = self.lanes.get(pid) if pid != proc.pid else None
            writer, to = ((Sentence("%(program)s (pid %(pid)s)", program=lane["label"], pid=pid), Sentence("%(program)s's %(stream)s", program=proc.label, stream=stream))
                          if lane else (proc.label, Sentence("its %(stream)s", stream=stream)))
            head = bytearray(chunk[:PREVIEW])
            shown = preview(head)
            event = self._event_locked("output", lane["pid"] if lane else proc.pid, _wrote(writer, len(chunk), to, shown),
                                       stream=stream, size=len(chunk), preview=shown, writer=writer, to=to)
            self._outputs[(proc.pid, stream)] = (event, count + 1, head)

    def _writer(self, proc: Any, stream: str) -> int:
        """Which process wrote what just came out of PROC's STREAM: PROC itself, unless the
        kernel shows that PROC has written nothing since the last output while exactly one
        other process of the spec has, one that holds the pipe's write end or has ended (a
        zombie, whose files are closed): a child writing to the stdout it inherited while its
        parent waits. The bytes each process passed to write(2) (/proc/PID/io's wchar) are
        compared between outputs; it counts writes to any file, so when PROC wrote too, or a
        count cannot be read at once, the output stays PROC's: never a guess."""
        inode = proc.harness_pipe_of.get(stream)
        mine = glance.written_bytes(proc.pid)
        if inode is None or mine is None:
            return proc.pid
        grew = mine > self._written.get(proc.pid, 0)
        self._written[proc.pid] = mine
        others = []
        for pid in dict.fromkeys(self._processes()):
            if pid == proc.pid:
                continue
            held = glance.fds(pid)
            holds = held is not None and any(fd.kind == "pipe" and fd.inode == inode and "w" in fd.access for fd in held.values())
            if not holds and observe.state(pid) != "Z":
                continue
            count = glance.written_bytes(pid)
            if count is not None:
                if count > self._written.get(pid, 0):
                    others.append(pid)
                self._written[pid] = count
        if grew or len(others) != 1:
            return proc.pid
        with self._lock:
            if others[0] not in self.lanes:
                st = observe.read_stat(others[0])
                self._lane(others[0], None, st.ppid if st else None, st.session if st else None)
        return others[0]

    def _look(self, always: bool = False, objects: bool = False) -> None:
        """A look now, at a moment that matters (the grader acts, a program ends, the verdict),
        unless the last was less than RECENT seconds ago (ALWAYS: the verdict's look); with
        OBJECTS, at the IPC objects too (a program ended: what it made is there now)."""
        if not always and time.monotonic() - self._last < RECENT:
            return
        try:
            self.sample(objects=objects)
        except Exception:
            pass

    def wrote(self, proc: Any, data: bytes) -> None:
        self._event("stdin", proc.pid, Sentence("the grader wrote %(size)s bytes to %(program)s's stdin", size=len(data), program=proc.label),
                    size=len(data), preview=preview(data[:STDIN_PREVIEW]))

    def closed_stdin(self, proc: Any) -> None:
        self._event("eof", proc.pid, Sentence("the grader closed %(program)s's stdin", program=proc.label))
        self._look()

    def signalled(self, pid: int, sig: int) -> None:
        from .status import signal_name

        self._look()
        self._event("signal", pid, Sentence("the grader sent %(signal)s to pid %(pid)s", signal=signal_name(sig), pid=pid), signal=signal_name(sig))

    def ended(self, proc: Any, status: Any) -> None:
        after = any(e["kind"] == "verdict" for e in self.events)
        with self._lock:
            lane = self.lanes.get(proc.pid)
            if lane is not None and lane.get("exit") is None:
                lane["exit"] = [self.now(), status.words()]
                self._close(lane)
        self._event("exit", proc.pid, Sentence("%(program)s %(status)s (the grader's cleanup, after the verdict)", program=proc.label, status=status.words())
                    if after else Sentence("%(program)s %(status)s", program=proc.label, status=status.words()))
        self._look(objects=not after)

    def decided(self, status: str, why: str) -> None:
        """The spec's verdict: STATUS, and WHY (its failure's observed sentence, or a line of text)."""
        self._look(always=True, objects=True)
        try:
            self._holdings()
        except Exception:
            pass
        self._event("verdict", None, Sentence("the spec ended: %(status)s: %(why)s", status=status, why=why) if why
                    else Sentence("the spec ended: %(status)s", status=status), status=status,
                    **({"why": str(why), **({"why_words": why.data()} if isinstance(why, Sentence) else {})} if why else {}))

    def _holdings(self) -> None:
        """What each process still there holds open, at the verdict: pipe ends, FIFOs and
        sockets, named as the lanes name them (the grader's pipes by what they are)."""
        with self._lock:
            alive = [lane for lane in self.lanes.values() if lane.get("exit") is None and "gone" not in lane]
        for lane in alive:
            held = []
            for fd in observe.fds(lane["pid"]).values():
                if fd.kind not in ("pipe", "fifo", "socket"):
                    continue
                target = fd.target if not fd.target.startswith("/") else os.path.basename(fd.target)
                what = self._names.get(fd.target)
                held.append({"fd": fd.fd, "target": target, "end": {"r": "read", "w": "write", "rw": "read-write"}[fd.access],
                             **({"grader": str(what), "grader_words": what.data()} if what else {})})
            with self._lock:
                lane["holds"] = held

    def scheduled(self, seed: str, steps: dict[str, Any], marked: list[int]) -> None:
        """The schedule under which the spec failed: one process ran at a time, in this order."""
        with self._lock:
            self.schedule = {"seed": seed, **steps, "marked": marked}
        self._event("schedule", None, Sentence("the spec failed under schedule %(seed)s: %(steps)s steps kept", seed=seed, steps=len(steps.get("steps", []))), seed=seed)
        if self.live is not None:
            for i, step in enumerate(steps.get("steps", [])):
                mark = "  <-- " if i in marked else ""
                self.live(f"  step {step['step']:5}  {step['who']}: {step['what']} {step['on']}{mark}")

    # --- what the processes do --------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.wait(FAST if time.monotonic() < self._fast_until else SAMPLE):
            try:
                self.sample()
            except Exception:
                continue

    def sample(self, objects: bool = False) -> None:
        """Look at every process of the spec: the programs started and everything below the
        grader (an orphan comes back to it, the subreaper, and stays in the picture); with
        OBJECTS, or at every OBJECTS_EVERY-th sample, at the IPC objects too."""
        with self._lock:
            if not self._roots:
                return
            self._samples += 1
            self._last = time.monotonic()
        seen = set()
        for pid in self._processes():
            if pid in seen:
                continue
            seen.add(pid)
            st = observe.read_stat(pid)
            doing = _doing(pid, self._fd_names, st)  # a call's file looked up once per call and fd
            if doing is None:
                continue
            for raw, name in self._names.items():
                if doing.endswith(f"({raw})"):
                    doing = doing[: -len(raw) - 2] + f"({name})"  # the English: timeline["names"] has its words
            with self._lock:
                lane = self.lanes.get(pid) or self._lane(pid, None, st.ppid if st else None, st.session if st else None)
                if lane is None:
                    continue
                if st is not None and st.comm != lane.setdefault("comm", st.comm) and st.state != "Z":
                    self._event_locked("exec", pid, Sentence("%(program)s (pid %(pid)s) became %(comm)s: it called exec", program=lane["label"], pid=pid, comm=st.comm),
                                       comm=st.comm)
                    lane["comm"] = st.comm
                segments = lane["segments"]
                if segments and segments[-1][3] is None and segments[-1][2] == doing:
                    segments[-1][1] = self.now()
                else:
                    self._close(lane)
                    if len(segments) >= MAX_SEGMENTS:
                        del segments[MAX_SEGMENTS // 2]  # keep the start and the end
                        self.dropped += 1
                    segments.append([self.now(), self.now(), doing, None])
                    if self.live is not None and doing != "running":
                        self.live(f"{self.now():8.3f} s  {lane['label']} (pid {pid}): {doing}")
        with self._lock:
            for pid, lane in self.lanes.items():
                if pid not in seen and lane.get("exit") is None and lane["segments"]:
                    self._close(lane)
                    lane.setdefault("gone", self.now())
            pids = set(self.lanes)
        if objects or self._samples % OBJECTS_EVERY == 0:
            for key, what in _objects(pids, self._uids).items():
                if key not in self._objects and key not in (self._before or ()):
                    self._objects.add(key)
                    self._event("object", what[0], what[1], object=key)

    def _processes(self) -> list[int]:
        """The spec's processes: each program still running and every process below it, then
        the grader's own children, where an orphan goes (the grader is their subreaper, and the
        kernel gives them to its first thread). Cheaper than every process below the grader:
        its many threads each have a children file."""
        with self._lock:
            running = [p.pid for p in self._roots if (self.lanes.get(p.pid) or {}).get("exit") is None]
        out: list[int] = []
        for pid in running:
            out += [pid, *observe.descendants(pid)]
        me = os.getpid()
        for pid in observe.children_of_thread(me, me):
            if pid not in out:
                out += [pid, *observe.descendants(pid)]
        return out

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(1)

    # --- bookkeeping ------------------------------------------------------------------------

    def _lane(self, pid: int, label: str | None, parent: int | None, session: int | None = None) -> dict[str, Any] | None:
        """PID's lane, made when new: LABEL (a Sentence: the program's role), or said from its
        parent's (``a child of ...``), or a process of a program's left behind, or its pid."""
        if pid in self.lanes:
            return self.lanes[pid]
        orphan_of = None
        if label is None and parent == os.getpid():
            # a child of the grader's: a program it is starting (started() names it), or a
            # process left behind when its parent ended (the grader is the subreaper), which
            # is still in the session of the program it came from
            if session is None or session == pid or session not in self.lanes:
                return None
            orphan_of = session
        if len(self.lanes) >= MAX_LANES:
            self.dropped += 1
            return None
        parent_label = self.lanes[parent]["label"] if parent in self.lanes else None
        if orphan_of is not None:
            label = Sentence("a process of %(program)s, orphaned", program=self.lanes[orphan_of]["label"])
        self.lanes[pid] = {
            "pid": pid,
            "label": label or (Sentence("a child of %(program)s", program=parent_label) if parent_label else Sentence("pid %(pid)s", pid=pid)),
            "parent": parent,
            "since": self.now(),
            "segments": [],
            "exit": None,
        }
        if orphan_of is not None:
            self.lanes[pid]["orphan_of"] = orphan_of
            self._event_locked("orphan", pid, Sentence("pid %(pid)s of %(program)s was left behind: its parent ended without waiting for it, and the grader adopted it",
                                                       pid=pid, program=self.lanes[orphan_of]["label"]))
        elif label is None and parent_label is not None:
            self._event_locked("fork", pid, Sentence("%(program)s forked pid %(pid)s", program=parent_label, pid=pid), parent=parent)
        return self.lanes[pid]

    @staticmethod
    def _close(lane: dict[str, Any]) -> None:
        if lane["segments"] and lane["segments"][-1][3] is None:
            lane["segments"][-1][3] = "closed"

    def _event(self, kind: str, pid: int | None, text: str, **data: Any) -> None:
        with self._lock:
            self._event_locked(kind, pid, text, **data)

    def _event_locked(self, kind: str, pid: int | None, text: str, **data: Any) -> dict[str, Any]:
        """An event at this moment: TEXT (a Sentence: the record keeps its English and, in
        to_json, its words) and DATA."""
        event = {"t": self.now(), "kind": kind, "pid": pid, "text": text, **data}
        if len(self.events) >= MAX_EVENTS:
            del self.events[MAX_EVENTS // 2]
            self.dropped += 1
        self.events.append(event)
        if self.live is not None:
            self.live(f"{event['t']:8.3f} s  {text}")
        return event

    def to_json(self) -> dict[str, Any]:
        """The timeline as the run record keeps it (docs/run-record.md)."""
        with self._lock:
            lanes = []
            for lane in self.lanes.values():
                lanes.append({**lane, **_said("label", lane["label"]), "segments": [s[:3] for s in lane["segments"]],
                              **({"exit": [lane["exit"][0], str(lane["exit"][1])], **_words("exit_words", lane["exit"][1])} if lane.get("exit") else {})})
            events = [{**e, **_said("text", e["text"], "words"), **{k: str(e[k]) for k in ("writer", "to") if k in e}} for e in self.events]
            out = {"end": self.now(), "lanes": lanes, "events": events, "dropped": self.dropped}
            names = {str(name): name.data() for name in self._names.values()}
            if names:
                out["names"] = names
            if self.schedule is not None:
                out["schedule"] = self.schedule
            return out


def _said(key: str, text: Any, words: str | None = None) -> dict[str, Any]:
    """TEXT as the record keeps it: KEY its English (a plain str), and WORDS (KEY + "_words"
    unless named) its template and values when it is a Sentence (docs/run-record.md)."""
    return {key: str(text), **_words(words or f"{key}_words", text)}


def _words(key: str, text: Any) -> dict[str, Any]:
    """KEY: TEXT's template and values, when it is a Sentence; nothing when it is plain text."""
    return {key: text.data()} if isinstance(text, Sentence) else {}


def _wrote(writer: str, size: int, to: str, shown: str, more: bool = False) -> Sentence:
    """An output event's sentence: WRITER wrote SIZE bytes to TO, the first of them SHOWN."""
    if more:
        return Sentence("%(writer)s wrote %(size)s bytes to %(to)s: '%(preview)s' (and more)", writer=writer, size=size, to=to, preview=shown)
    return Sentence("%(writer)s wrote %(size)s bytes to %(to)s: '%(preview)s'", writer=writer, size=size, to=to, preview=shown)


def preview(data: bytes | bytearray) -> str:
    """DATA, the first bytes of a stream, as an event's preview: capture.readable's text, the
    one way the record escapes what crossed a pipe (the reports invert it to replay stdin)."""
    return readable(bytes(data), PREVIEW_CHARS)


SYSV = {
    "msg": ("msqid", ("lspid", "lrpid"), Sentence("System V message queue")),
    "shm": ("shmid", ("cpid", "lpid"), Sentence("System V shared memory segment")),
    "sem": ("semid", (), Sentence("System V semaphore set")),
}


def _objects(pids: set[int], uids: set[int]) -> dict[str, tuple[int | None, Sentence]]:
    """The IPC objects that are the spec's: System V objects its processes used (the kernel
    keeps the last pids) or its sandbox uid owns, POSIX objects its uid owns. Each as
    key -> (a pid that used it, or None; what it is, in words)."""
    out: dict[str, tuple[int | None, str]] = {}
    for kind, (ident, pid_columns, words) in SYSV.items():
        for row in observe.sysvipc(kind):
            users = [row[c] for c in pid_columns if row.get(c) in pids]
            if not users and row.get("uid") not in uids and row.get("cuid") not in uids:
                continue
            by = users[0] if users else None
            values = {"what": words, "key": f"{row['key']:#x}", "id_name": ident, "id": row[ident]}
            out[f"{kind} {row['key']} {row[ident]}"] = (by, Sentence("a %(what)s exists: key %(key)s, %(id_name)s %(id)s (used by pid %(pid)s)", **values, pid=by)
                                                         if by else Sentence("a %(what)s exists: key %(key)s, %(id_name)s %(id)s", **values))
    if uids:
        for base, words in (("/dev/shm", Sentence("POSIX shared memory object or semaphore")), ("/dev/mqueue", Sentence("POSIX message queue"))):
            try:
                names = os.listdir(base)
            except OSError:
                continue
            for name in names:
                try:
                    owner = os.stat(f"{base}/{name}").st_uid
                except OSError:
                    continue
                if owner in uids:
                    out[f"{base}/{name}"] = (None, Sentence("a %(what)s exists: %(path)s", what=words, path=os.path.join(base, name)))
    return out


def _doing(pid: int, cache: dict | None = None, st: Any = None) -> str | None:
    """What PID does now, in a few words: `running`, `stopped`, `read pipe:[5]`, `zombie`."""
    st = st or observe.read_stat(pid)
    if st is None:
        return None
    if st.state == "Z":
        return "zombie"
    if st.state in ("T", "t"):
        return "stopped"
    if st.state == "R":
        return "running"
    try:
        sc = observe.syscall(pid)
    except observe.NOT_SHOWN:
        return "asleep"
    if sc is None or sc.running or not sc.name:
        return "running" if sc is not None and sc.running else "asleep"
    what = sc.name
    if sc.name in FD_CALLS and sc.args:
        key = (pid, sc.nr, sc.args[0])
        if cache is not None and key in cache:
            return cache[key]
        path = f"/proc/{pid}/fd/{sc.args[0]}"
        try:
            target = observe.guarded(pid, "fds", path, lambda: os.readlink(path))
        except (OSError, *observe.NOT_SHOWN):
            target = None
        if target:  # as the failure's evidence and `ls -l /proc/PID/fd` name it
            what += f" fd {sc.args[0]} ({target if not target.startswith('/') else os.path.basename(target)})"
        if cache is not None:
            cache[key] = what
    return what


__all__ = ["Timeline"]
