"""A supervised program: started, fed, read and watched, every wait with a deadline.

A Proc is one running implementation (or reference) program. Its stdout and stderr are read
by threads as they come (capture.py), so a chatty program never blocks on a full pipe; its
stdin is written without ever raising at the grader when the program has gone; and waiting on
it (a line, a state, a system call, its exit) takes a deadline and says, when the deadline runs
out, what the kernel shows the program doing.
"""

from __future__ import annotations

import fcntl
import os
import re
import select
import shlex
import struct
import subprocess
import termios
import threading
from collections.abc import Iterable, Sequence
from typing import Any

from conformance.deadline import Deadline
from conformance.kernel import deadlock, observe, waits
from conformance.outcomes import (
    HarnessBroken,
    NotImplementedBySubmission,
    Sentence,
    SpecFailure,
    SpecTimeout,
)
from conformance.record import Transcript

from . import launch
from .capture import Capture, readable
from .limits import PROGRAM_UMASK, Limits
from .status import ExitStatus

NOT_IMPLEMENTED_EXIT = 69


def _why_write_failed(exc: BaseException) -> str:
    if isinstance(exc, BrokenPipeError):
        return "the program had closed its stdin, or exited (EPIPE)"
    if isinstance(exc, ValueError):
        return "the grader had closed it"
    return str(exc)


def _cannot_start(label: str, program: str, cwd: str, user: int | None, exc: OSError, grader_chose: bool) -> Exception:
    """Why exec failed: the submission's fault (a program its manifest names is missing or not
    executable) or, when the grader chose the program (the programs' Python, a helper) or the
    staged copy is at fault, the grader's, which is never charged to the student. Only the
    grader's own choices count as its fault: a manifest cannot make a spec broken."""
    who = "the grader" if user is None else f"uid {user}, whom programs run as,"
    if grader_chose or exc.filename == cwd or not os.path.isdir(cwd):
        return HarnessBroken(
            f"cannot start {label}: {who} cannot run {program} in {cwd} ({exc.strerror}). "
            f"That is the grader's to provide: its programs' Python and the staged copy must be "
            f"within that user's reach (see docs/environments.md)."
        )
    if isinstance(exc, FileNotFoundError):
        return SpecFailure(Sentence("cannot start %(program)s: %(command)s not found (%(error)s)", program=label, command=program, error=exc.strerror))
    return SpecFailure(Sentence("cannot start %(program)s: %(command)s is not executable (%(error)s)", program=label, command=program, error=exc.strerror))


class Proc:
    """One running implementation (or reference) program."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        cwd: str,
        label: str,
        env: dict[str, str],
        limits: Limits,
        capture_limit: int,
        stdin: str,
        pass_fds: Sequence[int] = (),
        user: int | None = None,
        group: int | None = None,
        netns_fd: int | None = None,
        grader_chose: bool = False,
        groups: tuple[int, ...] = (),
    ) -> None:
        self.argv = list(argv)
        self.shown_argv = ["python3", *argv[1:]] if grader_chose and argv and os.path.basename(argv[0]).startswith("python") else list(argv)
        """The command as written: the programs' private Python (runtime.py) shown as `python3`."""
        self.label = label
        self.user = user
        """The uid the program runs as, or None for the grader's own."""
        self.subject = True
        """The submission's own program (Supervisor.spawn says; the reference's and the
        harness's tools are not): deadlock.py trusts only the others not to send signals."""
        self.stdout = Capture(capture_limit)
        self.stderr = Capture(64 << 10)
        self.fed = 0
        """Bytes of stdin the program has accepted so far (see feed)."""
        self.stdin_error: str | None = None
        self._feeding = 0
        self._end_input = False
        self._cond = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._status: ExitStatus | None = None
        self._line_cursor = 0
        self.timeline: Any = None
        """The spec's Timeline (timeline.py), when the supervisor keeps one."""
        self.stuck: deadlock.Deadlock | None = None
        """The proof that this program could never go on, when a wait found one."""
        self.outlived: list[int] = []
        """Processes below the grader that still held this program's output when a wait for
        its whole tree gave up on them (see wait): what it left behind, still running."""
        rlimits = limits.rlimits(os.getuid() if user is None else user)
        if netns_fd is not None:
            pass_fds = (*pass_fds, netns_fd)
        try:
            self.popen = launch.popen(  # the child's steps (limits._child_setup) in C where it can: a vfork, not a fork
                self.argv, rlimits=rlimits, user=user, group=group, netns_fd=netns_fd, groups=groups, pass_fds=pass_fds,
                cwd=cwd, env=env, stdin=subprocess.PIPE if stdin == "pipe" else subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, start_new_session=True, restore_signals=True, umask=PROGRAM_UMASK, close_fds=True,
            )
        except (FileNotFoundError, PermissionError) as exc:
            raise _cannot_start(label, self.argv[0], cwd, user, exc, grader_chose) from exc
        self.pid = self.popen.pid
        #: inodes of the pipes the grader itself made for stdin/stdout/stderr, so that evidence
        #: about the program's own pipes can leave them out
        self.harness_pipe_of = {
            name: os.fstat(f.fileno()).st_ino
            for name, f in (("stdin", self.popen.stdin), ("stdout", self.popen.stdout), ("stderr", self.popen.stderr))
            if f
        }
        self.harness_pipes = set(self.harness_pipe_of.values())
        try:
            self._pidfd: int | None = os.pidfd_open(self.pid)
        except OSError:
            self._pidfd = None
        for stream, capture in ((self.popen.stdout, self.stdout), (self.popen.stderr, self.stderr)):
            t = threading.Thread(target=self._reader, args=(stream, capture), daemon=True, name="ipc-reader")
            t.start()
            self._threads.append(t)

    # stdout and stderr are read by threads so that a chatty program never blocks on a full pipe
    def _reader(self, stream, capture: Capture) -> None:
        fd = stream.fileno()
        while True:
            try:
                chunk = os.read(fd, 1 << 16)
            except OSError:
                chunk = b""
            with self._cond:
                if chunk:
                    capture.feed(chunk)
                else:
                    capture.eof = True
                self._cond.notify_all()
            if chunk and self.timeline is not None:
                self.timeline.output(self, "stdout" if capture is self.stdout else "stderr", chunk)
            if not chunk:
                stream.close()
                return

    def _wait_a_little(self, remaining: float) -> None:
        """Wait (holding self._cond) for new output, a slice at a time, and between slices let
        deadlock.poll prove that none can ever come."""
        before = (self.stdout.length, self.stdout.eof, self.stderr.eof)
        self._cond.wait(min(remaining, deadlock.PERIOD))
        self._cond.release()
        try:
            deadlock.poll(lambda: (self.stdout.length, self.stdout.eof, self.stderr.eof) != before, about=self)
        finally:
            self._cond.acquire()

    # --- input -----------------------------------------------------------------------------

    def write(self, data: bytes) -> bool:
        """Write DATA to stdin now (blocks while the program does not read); False if it could not.

        A program that has exited or closed its stdin is behaving, not breaking the grader: the
        write is dropped, ``stdin_error`` says so, and the spec goes on to judge what it did.
        """
        try:
            self.popen.stdin.write(data)
            self.popen.stdin.flush()
        except (BrokenPipeError, ValueError, OSError) as exc:
            self.stdin_error = f"writing stdin failed after {self.fed} bytes: {_why_write_failed(exc)}"
            return False
        self.fed += len(data)
        if self.timeline is not None:
            self.timeline.wrote(self, data)
        return True

    def feed(self, data: bytes, close: bool = True, chunk: int = 1 << 16) -> threading.Thread:
        """Write DATA to stdin from a background thread; ``fed`` counts what was accepted."""

        if self.timeline is not None:
            self.timeline.wrote(self, data)

        def run() -> None:
            stdin = self.popen.stdin
            view = memoryview(data)
            try:
                for i in range(0, len(view), chunk):
                    part = view[i : i + chunk]
                    stdin.write(part)
                    stdin.flush()
                    with self._cond:
                        self.fed += len(part)
                        self._cond.notify_all()
            except (BrokenPipeError, ValueError, OSError) as exc:
                self.stdin_error = f"writing stdin failed after {self.fed} bytes: {_why_write_failed(exc)}"
            finally:
                with self._cond:
                    self._feeding -= 1
                    last = close or (self._end_input and not self._feeding)
                if last:
                    self.close_stdin()
                with self._cond:
                    self._cond.notify_all()

        with self._cond:
            self._feeding += 1
        t = threading.Thread(target=run, daemon=True, name="ipc-feeder")
        t.start()
        self._threads.append(t)
        return t

    def end_input(self) -> None:
        """Close stdin once everything fed so far is written (at once when nothing is being
        fed): for input fed with close=False while the grader looked at the program."""
        with self._cond:
            if self._feeding:
                self._end_input = True
                return
        self.close_stdin()

    def feeding(self) -> bool:
        """The grader may still write to the program's stdin at once: a feeder is under way and
        the pipe is empty (a feeder facing a full pipe waits for the program to read)."""
        with self._cond:
            if not self._feeding:
                return False
        try:
            return not struct.unpack("i", fcntl.ioctl(self.popen.stdin.fileno(), termios.FIONREAD, b"\0\0\0\0"))[0]
        except (OSError, ValueError, AttributeError):
            return True

    def close_stdin(self) -> None:
        try:
            if self.popen.stdin and not self.popen.stdin.closed:
                self.popen.stdin.close()
                if self.timeline is not None:
                    self.timeline.closed_stdin(self)
        except OSError:
            pass

    # --- output ----------------------------------------------------------------------------

    def expect_line(self, pattern: str | re.Pattern[str], timeout: float | Deadline, what: str = "") -> re.Match[str]:
        """Wait for a stdout line matching PATTERN (re.fullmatch, trailing whitespace ignored)."""
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        deadline = Deadline.of(timeout)
        seen = 0
        with self._cond:
            while True:
                for line in self.stdout.lines[seen:]:
                    text = line.decode("utf-8", "replace").rstrip()
                    m = regex.fullmatch(text)
                    if m:
                        return m
                seen = len(self.stdout.lines)
                if self.stdout.eof:
                    break
                remaining = deadline.remaining()
                if remaining <= 0:
                    break
                self._wait_a_little(remaining)
        pattern = repr(regex.pattern)
        expected = what or Sentence("a line matching %(pattern)s", pattern=pattern)
        if self.stdout.eof:
            status = self.wait(5)
            raise SpecFailure(Sentence("%(program)s ended without printing %(expected)s; it %(status)s.", program=self.label, expected=expected, status=status.words()),
                              procs=[self])
        raise SpecTimeout(Sentence("%(program)s did not print %(expected)s within %(within)s.", program=self.label, expected=expected, within=str(deadline)),
                          evidence=[observe.describe(self.pid)], procs=[self])

    def next_line(self, timeout: float | Deadline, what: str = "") -> bytes:
        """The next stdout line not yet returned (without its newline), as bytes.

        A last line without a newline counts once the program closes its stdout.
        """
        deadline = Deadline.of(timeout)
        with self._cond:
            while True:
                lines = self.stdout.lines
                if self._line_cursor < len(lines):
                    self._line_cursor += 1
                    return lines[self._line_cursor - 1]
                if self.stdout.eof:
                    if self.stdout._partial and self._line_cursor == len(lines):
                        self._line_cursor += 1
                        return bytes(self.stdout._partial)
                    break
                remaining = deadline.remaining()
                if remaining <= 0:
                    raise SpecTimeout(
                        Sentence("%(program)s did not print %(expected)s within %(within)s.", program=self.label,
                                 expected=what or Sentence("another line"), within=str(deadline)),
                        evidence=[observe.describe(self.pid)],
                        procs=[self],
                    )
                self._wait_a_little(remaining)
        raise self._exited_early(Sentence("printing %(what)s", what=what or Sentence("another line")))

    # --- waiting on the kernel, aware that the program may exit first ----------------------

    def _exited_early(self, what: str) -> SpecFailure:
        self.wait(5)  # raises NotImplementedBySubmission for a stub
        if isinstance(what, Sentence):  # not "... before your `x` ..."
            what = what.said_of(self.label, Sentence("it"))
        elif what.startswith(self.label + " "):
            what = "it" + what[len(self.label):]
        return SpecFailure(Sentence("%(program)s %(ended)s before %(what)s.", program=self.label, ended=self.status.ended if self.status else Sentence("exited"), what=what),
                           procs=[self])

    def wait_for(self, predicate, timeout: float | Deadline, what: str):
        """Poll PREDICATE (reading kernel state) until truthy; fail if the program exits first."""
        deadline = Deadline.of(timeout)
        pacer = observe.Pacer()
        while True:
            value = predicate()
            if value:
                return value
            if self.poll() is not None:
                raise self._exited_early(what)
            if deadline.expired():
                raise SpecTimeout(Sentence("Not within %(within)s.", within=str(deadline)), expected=what, evidence=[observe.describe(self.pid)], procs=[self])
            deadlock.poll(lambda: predicate() or self.poll() is not None)
            pacer.pause(deadline)

    def wait_blocked(self, syscalls: Iterable[str], timeout: float | Deadline, pid: int | None = None, who: str = "") -> observe.Blocked:
        """Wait until PID (default: this program) sleeps in one of SYSCALLS."""
        pid = pid or self.pid
        who = who or (self.label if pid == self.pid else Sentence("pid %(pid)s (started by %(program)s)", pid=pid, program=self.label))
        try:
            return waits.wait_until_blocked(pid, syscalls, timeout, what=who)
        except waits.ProcessGone:
            if self.poll() is not None:
                raise self._exited_early(Sentence("it blocked in %(calls)s", calls="/".join(sorted(syscalls)))) from None
            raise SpecFailure(Sentence("%(who)s exited before it blocked in %(calls)s.", who=who, calls="/".join(sorted(syscalls))), procs=[self]) from None

    def wait_state(self, states: str, timeout: float | Deadline, pid: int | None = None) -> str:
        pid = pid or self.pid
        try:
            return waits.wait_for_state(pid, states, timeout, what=self.label if pid == self.pid else Sentence("pid %(pid)s", pid=pid))
        except waits.ProcessGone:
            raise self._exited_early(Sentence("pid %(pid)s reached state %(states)s", pid=pid, states=states)) from None

    def cpu_ticks_over(self, window: float, pid: int | None = None) -> int | None:
        """The CPU clock ticks PID (default: this program) uses over WINDOW seconds.

        The window is a measurement, not a wait for an event: it ends early only if this
        program exits. None when either end could not be read (the process had gone).
        """
        pid = pid or self.pid
        before = observe.cpu_ticks(pid)
        self.exited_within(window)
        after = observe.cpu_ticks(pid)
        return None if before is None or after is None else after - before

    def child(self, timeout: float | Deadline, what: str = "") -> int:
        """The pid of this program's first child once it has forked one; fails if it exits first."""
        what = what or Sentence("its child")
        try:
            return self.wait_for(lambda: observe.children(self.pid), timeout, Sentence("%(program)s forked %(what)s", program=self.label, what=what))[0]
        except deadlock.Deadlock as proof:  # no child, and every process asleep: the cause, said at once
            if observe.children(self.pid):
                raise
            raise proof.again(evidence=[Sentence("%(program)s forked no child: the grader waited for %(what)s, and nothing can make it fork one now.",
                                                 program=self.label, what=what), *proof.evidence]) from None

    def tree(self) -> list[int]:
        """This program's pid and all its descendants' now."""
        return [self.pid, *observe.descendants(self.pid)] if observe.state(self.pid) else []

    def lines(self) -> list[str]:
        with self._cond:
            return [line.decode("utf-8", "replace") for line in self.stdout.lines]

    def wait_output(self, timeout: float | Deadline) -> None:
        """Wait until stdout and stderr reach EOF."""
        deadline = Deadline.of(timeout)
        with self._cond:
            while not (self.stdout.eof and self.stderr.eof):
                remaining = deadline.remaining()
                if remaining <= 0:
                    raise SpecTimeout(Sentence("%(program)s kept its output open past %(within)s.", program=self.label, within=str(deadline)),
                                      evidence=[observe.describe(self.pid)], procs=[self])
                self._wait_a_little(remaining)

    def wait_fed(self, n: int, timeout: float | Deadline) -> None:
        deadline = Deadline.of(timeout)
        with self._cond:
            while self.fed < n and self.stdin_error is None:
                remaining = deadline.remaining()
                if remaining <= 0:
                    raise SpecTimeout(Sentence("%(program)s read only %(fed)s of %(n)s bytes of stdin within %(within)s.", program=self.label, fed=self.fed, n=n,
                                               within=str(deadline)), evidence=[observe.describe(self.pid)], procs=[self])
                self._wait_a_little(remaining)

    # --- exit ------------------------------------------------------------------------------

    def alive(self) -> bool:
        """The process has not exited (from /proc, without reaping it: any thread may ask)."""
        return self._status is None and observe.state(self.pid) not in (None, "Z", "X")

    def poll(self) -> ExitStatus | None:
        if self._status is None:
            rc = self.popen.poll()
            if rc is not None:
                self._ended(ExitStatus.from_returncode(rc))
        return self._status

    def _ended(self, status: ExitStatus) -> None:
        self._status = status
        if self.timeline is not None:
            self.timeline.ended(self, status)

    def exited_within(self, seconds: float | Deadline) -> bool:
        """Wait up to SECONDS for the process to exit (on its pidfd: no polling)."""
        deadline = Deadline.of(seconds)
        if self.poll() is not None:
            return True
        if self._pidfd is not None:
            ready, _, _ = select.select([self._pidfd], [], [], deadline.remaining())
            if not ready:
                return False
            # it has exited: reap it (wait, not poll, which gives up while another thread
            # holds Popen's lock for a moment)
            self._ended(ExitStatus.from_returncode(self.popen.wait()))
            return True
        try:
            self.popen.wait(deadline.remaining())
        except subprocess.TimeoutExpired:
            return False
        return self.poll() is not None

    def finished_within(self, timeout: float | Deadline) -> bool:
        """Wait up to TIMEOUT for the program to exit, as a spec that expects it to: True once it
        has, False at TIMEOUT, or at once when deadlock.py proves that it never will (``stuck``
        then holds the proof, for the spec's message). exited_within is the bare wait, for
        measuring a window."""
        try:
            return self._finish(Deadline.of(timeout))
        except deadlock.Deadlock as proof:
            self.stuck = proof
            return False

    def did_not_exit(self, waited: float | Deadline) -> str:
        """How a wait for the exit ended, for a failure's message: ``did not exit within 5 s``,
        or, when a proof ended it early, that it never would (finished_within)."""
        if self.stuck is not None:
            return Sentence("can never exit: every process of it sleeps and nothing can wake any of them")
        return Sentence("did not exit within %(seconds)s s", seconds=format(waited, "g")) if isinstance(waited, int | float) else Sentence("did not exit within %(waited)s", waited=str(waited))

    def not_finished(self, observed: str, **parts: Any) -> SpecTimeout:
        """What to raise when finished_within gave up: the kernel's proof that the program can
        never exit (a SpecDeadlock: failed), its wait-for graph first among the evidence, or a
        deadline that ran out (timeout). OBSERVED and PARTS as for SpecTimeout."""
        if self.stuck is None:
            return SpecTimeout(observed, **parts)
        return self.stuck.again(observed=observed, **{**parts, "evidence": [*self.stuck.evidence, *parts.get("evidence", [])]})

    def _finish(self, deadline: Deadline) -> bool:
        while not self.exited_within(deadline.slice(deadlock.PERIOD)):
            if deadline.expired():
                return False
            deadlock.poll(lambda: not self.alive(), about=self)
        return True

    def wait(self, timeout: float | Deadline, what: str = "", check_implemented: bool = True) -> ExitStatus:
        """Wait for the process to exit, then for its output; SpecTimeout at the deadline."""
        deadline = Deadline.of(timeout)
        if not self._finish(deadline):
            raise SpecTimeout(Sentence("%(program)s did not exit within %(within)s.", program=what or self.label, within=str(deadline)),
                              evidence=[observe.describe(self.pid)], procs=[self])
        status = self.poll()
        assert status is not None
        if not (self.stdout.eof and self.stderr.eof):
            # a program is done when its whole tree is: a process it left behind (a child its
            # parent did not wait for) may still be writing its output, which is judged once
            # every holder has closed it, or as it stands at the deadline (or once the kernel
            # proves that no holder will ever write again); ``outlived`` names who held it then
            try:
                self.wait_output(max(deadline.remaining(), 0.5))
            except SpecTimeout:
                self.outlived = self.output_holders()
        if check_implemented:
            self.check_implemented()
        return status

    def output_holders(self) -> list[int]:
        """Processes below the grader that still hold this program's stdout or stderr pipe."""
        inodes = self.harness_pipes
        me = os.getpid()
        holders = []
        for pid in observe.descendants(me):
            try:
                held = observe.fds(pid).values()
            except observe.NOT_SHOWN:
                holders.append(pid)  # it may hold them: take the output so far as all there is
                continue
            if any(fd.inode in inodes and fd.access != "r" for fd in held if fd.kind == "pipe"):
                holders.append(pid)
        return holders

    def check_implemented(self) -> None:
        status = self.poll()
        if status and status.code == NOT_IMPLEMENTED_EXIT and b"not implemented" in self.stderr.data:
            raise NotImplementedBySubmission(f"{self.label} says: not implemented")

    @property
    def status(self) -> ExitStatus | None:
        return self.poll()

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            try:
                self.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    def kill(self, pid: int, sig: int) -> None:
        """Send SIG to PID, this program or one of its processes, as os.kill does (raises
        ProcessLookupError if it is gone), and keep it in the timeline."""
        if self.timeline is not None:
            self.timeline.signalled(pid, sig)
        os.kill(pid, sig)

    def record(self) -> Transcript:
        """What this program did so far, as a failure's transcript (data, not text)."""
        status = self.poll()
        with self._cond:
            out, err = self.stdout.data, self.stderr.data
            out_n, err_n = self.stdout.length, self.stderr.length
        return Transcript(
            command=shlex.join(self.shown_argv),
            label=self.label,
            pid=self.pid,
            stdin_bytes=self.fed,
            stdout=readable(out) if out_n else "",
            stdout_bytes=out_n,
            stderr=readable(err) if err_n else "",
            stderr_bytes=err_n,
            status="" if status is None else str(status),
            stdin_note=self.stdin_error or "",
        )

    def transcript(self) -> str:
        """The transcript as plain text (see record)."""
        return self.record().text()

    def close(self) -> None:
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None
        self.close_stdin()
