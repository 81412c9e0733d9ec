"""What happened in a spec, in time: one lane per process, what each did when, and what crossed.

IPC bugs are about order: who wrote before whom, who slept in which call while whom ran, which
process held which end. The supervisor keeps a Timeline of every spec from what the grader sees
anyway: the programs it starts, the bytes it writes to them and reads from them, the signals it
sends, how each ends, and, sampled every SAMPLE seconds, each process's state and the system
call it sleeps in with the object it sleeps on (``read pipe:[5]``), so a fork or an exec shows as
a new lane or a new name. It is cheap enough to keep always on, and bounded (LIMITS), so a spec
that runs for minutes keeps its start and its end. The reports draw it (grading/timeline.py).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

from . import observe

#: How often the processes are looked at (seconds).
SAMPLE = 0.1
#: Bounds, so that a record stays small: lanes, segments per lane, events.
MAX_LANES = 12
MAX_SEGMENTS = 120
MAX_EVENTS = 200
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
        self._names: dict[str, str] = {}
        self._fd_names: dict[tuple[int, int, int], str] = {}
        """What a pipe is, for the grader's own: `pipe:[5]` -> `its stdin, from the grader`."""
        self._roots: list[Any] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def now(self) -> float:
        return round(time.monotonic() - self.t0, 3)

    # --- what the grader does ---------------------------------------------------------------

    def started(self, proc: Any) -> None:
        with self._lock:
            self._roots.append(proc)
            self._lane(proc.pid, proc.label, None)
            for name, inode in proc.harness_pipe_of.items():  # taken at spawn: a pipe may be closed by now
                self._names[f"pipe:[{inode}]"] = f"its {name}, {'from' if name == 'stdin' else 'to'} the grader"
        self._event("start", proc.pid, f"started {proc.label}: {' '.join(proc.argv)}", argv=list(proc.argv))
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, daemon=True, name="ipc-timeline")
            self._thread.start()

    def _look(self) -> None:
        """A look now, at a moment that matters (the grader acts, a program ends, the verdict)."""
        try:
            self.sample()
        except Exception:  # noqa: BLE001 - a look that fails shows as a gap, no more
            pass

    def wrote(self, proc: Any, data: bytes) -> None:
        self._event("stdin", proc.pid, f"the grader wrote {len(data)} bytes to {proc.label}'s stdin", size=len(data), preview=data[:120].decode("utf-8", "backslashreplace"))

    def closed_stdin(self, proc: Any) -> None:
        self._event("eof", proc.pid, f"the grader closed {proc.label}'s stdin")
        self._look()

    def signalled(self, pid: int, sig: int) -> None:
        from .process import signal_name

        self._look()
        self._event("signal", pid, f"the grader sent {signal_name(sig)} to pid {pid}", signal=signal_name(sig))

    def ended(self, proc: Any, status: Any) -> None:
        after = any(e["kind"] == "verdict" for e in self.events)
        with self._lock:
            lane = self.lanes.get(proc.pid)
            if lane is not None and lane.get("exit") is None:
                lane["exit"] = [self.now(), str(status)]
                self._close(lane)
        self._event("exit", proc.pid, f"{proc.label} {status}" + (" (the grader's cleanup, after the verdict)" if after else ""))
        self._look()

    def decided(self, status: str, why: str) -> None:
        self._look()
        self._event("verdict", None, f"the spec ended: {status}" + (f": {why}" if why else ""), status=status)

    # --- what the processes do --------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE):
            try:
                self.sample()
            except Exception:  # noqa: BLE001 - a look that fails shows as a gap, no more
                continue

    def sample(self) -> None:
        """Look at every process of the spec: the programs started and everything below the
        grader (an orphan comes back to it, the subreaper, and stays in the picture)."""
        with self._lock:
            if not self._roots:
                return
        seen = set()
        for root in [os.getpid()]:
            for pid in observe.descendants(root):
                if pid in seen:
                    continue
                seen.add(pid)
                doing = self._doing(pid)
                if doing is None:
                    continue
                for raw, name in self._names.items():
                    if doing.endswith(f"({raw})"):
                        doing = doing[: -len(raw) - 2] + f"({name})"
                with self._lock:
                    lane = self.lanes.get(pid) or self._lane(pid, None, _parent(pid))
                    if lane is None:
                        continue
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

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(1)

    # --- bookkeeping ------------------------------------------------------------------------

    def _lane(self, pid: int, label: str | None, parent: int | None) -> dict[str, Any] | None:
        if pid in self.lanes:
            return self.lanes[pid]
        if len(self.lanes) >= MAX_LANES:
            self.dropped += 1
            return None
        parent_label = self.lanes[parent]["label"] if parent in self.lanes else None
        orphan = "an orphan, adopted by the grader" if parent == os.getpid() else f"pid {pid}"
        self.lanes[pid] = {
            "pid": pid,
            "label": label or (f"a child of {parent_label}" if parent_label else orphan),
            "parent": parent,
            "since": self.now(),
            "segments": [],
            "exit": None,
        }
        if label is None and parent_label is not None:
            self._event_locked("fork", pid, f"{parent_label} forked pid {pid}", parent=parent)
        return self.lanes[pid]

    @staticmethod
    def _close(lane: dict[str, Any]) -> None:
        if lane["segments"] and lane["segments"][-1][3] is None:
            lane["segments"][-1][3] = "closed"

    def _event(self, kind: str, pid: int | None, text: str, **data: Any) -> None:
        with self._lock:
            self._event_locked(kind, pid, text, **data)

    def _event_locked(self, kind: str, pid: int | None, text: str, **data: Any) -> None:
        event = {"t": self.now(), "kind": kind, "pid": pid, "text": text, **data}
        if len(self.events) >= MAX_EVENTS:
            del self.events[MAX_EVENTS // 2]
            self.dropped += 1
        self.events.append(event)
        if self.live is not None:
            self.live(f"{event['t']:8.3f} s  {text}")

    def _doing(self, pid: int) -> str | None:
        """What PID does now, in a few words (see _doing); the file a call is on is looked up
        once per call and descriptor, not at every sample."""
        return _doing(pid, self._fd_names)

    def to_json(self) -> dict[str, Any]:
        """The timeline as the run record keeps it (docs/run-record.md)."""
        with self._lock:
            lanes = []
            for lane in self.lanes.values():
                lanes.append({**lane, "segments": [s[:3] for s in lane["segments"]]})
            return {"end": self.now(), "lanes": lanes, "events": list(self.events), "dropped": self.dropped}


def _parent(pid: int) -> int | None:
    st = observe.read_stat(pid)
    return st.ppid if st else None


def _doing(pid: int, cache: dict | None = None) -> str | None:
    """What PID does now, in a few words: `running`, `stopped`, `read pipe:[5]`, `zombie`."""
    st = observe.read_stat(pid)
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
