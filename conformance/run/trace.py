"""System call traces as evidence: run a program under strace(1) and read what it asked the kernel.

/proc shows what a process is doing now; some behaviours leave no state behind and can only be
seen as calls: an attempt to install a handler for SIGKILL fails and changes nothing, so only a
trace of rt_sigaction shows the attempt was real. This module starts an implementation's
program under ``strace -f -qq -e trace=... -o FILE`` with the spec's supervisor (so teardown
ends strace and the program alike), and parses FILE into records.

strace writes to FILE, never to the program's stdout or stderr, so the program's output reads
exactly as without it. Where strace is missing or ptrace(2) is not permitted (a container
without CAP_SYS_PTRACE, a seccomp filter, Yama), a spec that needs a trace is unsupported, not
failed: ``require`` raises :class:`~conformance.outcomes.Unsupported`.

    traced = trace.spawn(impl, "catch", syscalls={"rt_sigaction"}, out=ipc_tmp / "trace")
    ...                                  # talk to traced.proc as to any Proc
    calls = traced.finish(deadline)      # ends the program first if needed; parsed records
"""

from __future__ import annotations

import os
import re
import shutil
import signal
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from conformance.deadline import Deadline
from conformance.kernel import observe
from conformance.outcomes import Sentence, SpecTimeout, Unsupported

from .process import Proc
from .supervisor import Supervisor

#: Where Debian (and CI) installs strace; PATH is searched first.
STRACE_FALLBACK = "/usr/bin/strace"
#: How long the availability probe (strace tracing /bin/true) may take.
PROBE_DEADLINE = 10

_availability: dict[str, str | None] = {}


def strace_path() -> str | None:
    found = shutil.which("strace")
    if found:
        return found
    return STRACE_FALLBACK if os.access(STRACE_FALLBACK, os.X_OK) else None


def unavailable_reason(supervisor: Supervisor) -> str | None:
    """Why no program can be traced on this machine, or None if strace works here.

    Probed once per process: strace traces /bin/true; it fails when ptrace is not permitted.
    """
    path = strace_path()
    if path is None:
        return "strace is not installed (install Debian's `strace` package to check this spec)"
    if path in _availability:
        return _availability[path]
    target = shutil.which("true") or "/bin/true"
    probe = supervisor.spawn(
        [path, "-f", "-qq", "-e", "trace=exit_group", "-o", os.devnull, "--", target],
        cwd="/",
        label=Sentence("the strace probe"),
        stdin="devnull",
        grader_chose=True,
    )
    try:
        status = probe.wait(PROBE_DEADLINE, check_implemented=False)
    except SpecTimeout:
        reason: str | None = f"strace did not finish tracing {target} within {PROBE_DEADLINE} s"
    else:
        if status.ok:
            reason = None
        else:
            said = probe.stderr.text().strip().splitlines()
            reason = f"strace cannot trace here ({status}: {said[-1] if said else 'no message'}); ptrace(2) is probably not permitted"
    _availability[path] = reason
    return reason


def require(supervisor: Supervisor) -> str:
    """The strace executable, or Unsupported saying why tracing is impossible here."""
    reason = unavailable_reason(supervisor)
    if reason is not None:
        raise Unsupported(reason)
    path = strace_path()
    assert path is not None
    return path


# --- records -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One system call as strace printed it."""

    pid: int
    name: str
    args: str
    """The argument text between the parentheses, as strace decoded it."""
    ret: int | None
    """The return value; None when strace printed ``?`` (the process ended inside the call)."""
    errno: str | None
    """The error name (``EINVAL``) when the call failed, else None."""
    line: str
    """The whole line (joined from its unfinished and resumed halves), for messages."""

    @property
    def failed(self) -> bool:
        return self.errno is not None

    @property
    def arguments(self) -> list[str]:
        """The top-level arguments, split at commas outside brackets, braces and strings."""
        return split_arguments(self.args)

    def arg(self, index: int) -> str | None:
        args = self.arguments
        return args[index] if 0 <= index < len(args) else None

    def __str__(self) -> str:
        result = "?" if self.ret is None else str(self.ret)
        if self.errno:
            result += f" {self.errno}"
        return f"{self.name}({self.args}) = {result} (pid {self.pid})"


_PID = re.compile(r"^(\d+)\s+(.*)$")
_START = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\((.*)$")
_UNFINISHED = re.compile(r"^(.*?)\s*<unfinished \.\.\.>(.*)$")
_RESUMED = re.compile(r"^<\.\.\. ([A-Za-z_][A-Za-z0-9_]*) resumed>\s?(.*)$")
_RESULT = re.compile(r"^(.*)\)\s+=\s+(\S+)(?:\s+(E[A-Z0-9]+))?(?:\s+\(.*\))?\s*$")


def _number(text: str) -> int | None:
    try:
        return int(text, 0)
    except ValueError:
        return None


def _finish(pid: int, name: str, rest: str, line: str) -> Call | None:
    m = _RESULT.match(rest)
    if not m:
        return None
    args, ret, errno = m.groups()
    return Call(pid, name, args, _number(ret), errno, line)


def parse(text: str) -> list[Call]:
    """The calls in strace output TEXT (one ``PID call(...) = result`` per line, from -f -o).

    Unfinished calls are joined with their resumption; signal and exit lines, and a last line
    cut short, are skipped.
    """
    calls: list[Call] = []
    pending: dict[int, tuple[str, str]] = {}
    for raw in text.splitlines():
        m = _PID.match(raw.strip())
        if not m:
            continue
        pid, body = int(m.group(1)), m.group(2)
        resumed = _RESUMED.match(body)
        if resumed:
            name, rest = resumed.groups()
            start = pending.pop(pid, None)
            head = start[1] if start and start[0] == name else ""
            call = _finish(pid, name, head + rest, f"{pid} {name}({head}{rest}")
            if call:
                calls.append(call)
            continue
        started = _START.match(body)
        if not started:
            continue  # --- SIGNAL ---, +++ exited +++ and the like
        name, rest = started.groups()
        unfinished = _UNFINISHED.match(rest)
        if unfinished:
            head, tail = unfinished.groups()
            if tail.strip().startswith(")"):  # the process ended in the call: "<unfinished ...>) = ?"
                call = _finish(pid, name, head + tail.strip(), raw.strip())
                if call:
                    calls.append(call)
            else:
                pending[pid] = (name, head)
            continue
        call = _finish(pid, name, rest, raw.strip())
        if call:
            calls.append(call)
    return calls


def split_arguments(text: str) -> list[str]:
    """Split strace's argument text at top-level commas (not inside {}, [], () or quotes)."""
    out: list[str] = []
    depth = 0
    quoted = False
    escaped = False
    current: list[str] = []
    for ch in text:
        if quoted:
            current.append(ch)
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                quoted = False
            continue
        if ch == '"':
            quoted = True
        elif ch in "{[(":
            depth += 1
        elif ch in "}])":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append("".join(current).strip())
            current = []
            continue
        current.append(ch)
    if current or out:
        out.append("".join(current).strip())
    return out


def read(path: str | os.PathLike[str]) -> list[Call]:
    """Parse the strace output file PATH (empty if strace never wrote it)."""
    try:
        text = Path(path).read_text(errors="replace")
    except FileNotFoundError:
        return []
    return parse(text)


# --- running a program under strace --------------------------------------------------------


@dataclass
class Traced:
    """An implementation program running under strace."""

    proc: Proc
    """The supervised strace process: the program's stdin, stdout and stderr are its."""
    out: Path
    """strace's output file."""

    def tracee(self, deadline: float | Deadline) -> int:
        """The pid of the traced program (strace's child) once it exists."""
        kids = self.proc.wait_for(lambda: observe.children(self.proc.pid), deadline, f"strace (pid {self.proc.pid}) started {self.proc.label}")
        return kids[0]

    def in_tree(self, pid: int) -> bool:
        """True if PID is the traced program or one of its descendants."""
        return pid in observe.descendants(self.proc.pid)

    def finish(self, deadline: float | Deadline, sig: int = signal.SIGKILL) -> list[Call]:
        """End the traced program (SIG to every process strace traces) if still running; the calls.

        strace flushes each line as it prints it and exits once its last tracee has gone, so
        the file is complete when it exits.
        """
        deadline = Deadline.of(deadline)
        if self.proc.poll() is None:
            for pid in observe.descendants(self.proc.pid):
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
        self.proc.wait(deadline, what=f"strace tracing {self.proc.label}", check_implemented=False)
        return read(self.out)

    def calls(self) -> list[Call]:
        """The calls traced so far (the last one may still be unfinished and is then left out)."""
        return read(self.out)


def spawn(
    impl,
    *args: str,
    syscalls: Iterable[str],
    out: str | os.PathLike[str],
    mechanism: str | None = None,
    stdin: str = "pipe",
    capture_limit: int = 8 << 20,
    extra: Sequence[str] = (),
) -> Traced:
    """Start IMPL's program with ARGS under ``strace -f -qq -e trace=SYSCALLS -o OUT``.

    IMPL is an Implementation (the ``impl`` or ``reference`` fixture). Raises what
    ``impl.argv`` raises for a missing program first, then Unsupported if strace cannot run
    here. EXTRA are further strace options (e.g. ``-e signal=none`` is already given).
    """
    argv = impl.argv(*args, mechanism=mechanism)
    strace = require(impl.supervisor)
    command = [strace, "-f", "-qq", "-e", f"trace={','.join(sorted(set(syscalls)))}", "-e", "signal=none", *extra, "-o", str(out), "--", *argv]
    proc = impl.supervisor.spawn(
        command,
        cwd=str(impl.manifest.cwd),  # where the program runs: the staged copy when sandboxed
        label=impl.label(args, mechanism) + " (under strace)",
        stdin=stdin,
        capture_limit=capture_limit,
        grader_chose=True,
        subject=impl.who == "your",
    )
    return Traced(proc, Path(out))


__all__ = ["Call", "Traced", "parse", "read", "require", "spawn", "split_arguments", "strace_path", "unavailable_reason"]
