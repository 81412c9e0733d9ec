"""What this machine lets the grader see: probed once per run, before any spec.

The grader reads a program's guarded /proc entries as the program's own user (observe.guarded),
which works as root with or without capabilities and as an ordinary user. Some machines still
show less: a kernel built without /proc/PID/syscall, a security module that denies it, a
container whose root may not switch users. Then no spec may take the missing evidence for an
answer; the run says which sources are missing, and a spec that needs one is *unsupported*.

The probe starts a harmless program the way specs start theirs (``cat``, asleep in read on its
stdin pipe, as the programs' user) and reads each guarded source of it.
"""

from __future__ import annotations

import shutil

from conformance.kernel import observe
from conformance.outcomes import SpecOutcome

from .supervisor import Supervisor

#: How long the probe may take to start and fall asleep.
PROBE_DEADLINE = 10.0


def probe(supervisor: Supervisor) -> dict[str, str]:
    """Each source of observe.SOURCES this machine does not show, with the reason; {} if all."""
    cat = shutil.which("cat") or "/bin/cat"
    try:
        proc = supervisor.spawn([cat], cwd="/", label="the evidence probe (cat)")
    except (OSError, SpecOutcome, AssertionError) as exc:
        return dict.fromkeys(observe.SOURCES, f"the probe could not start: {exc}")
    try:
        try:
            proc.wait_for(lambda: observe.asleep(proc.pid), PROBE_DEADLINE, "the probe asleep in read")
        except (SpecOutcome, AssertionError) as exc:
            return dict.fromkeys(observe.SOURCES, f"the probe did not fall asleep: {exc}")
        return {source: why for source, why in _try_each(proc.pid, proc.harness_pipes).items() if why}
    finally:
        supervisor.teardown()


def _try_each(pid: int, stdin_pipes: set[int]) -> dict[str, str | None]:
    observe.set_unavailable({})  # ask the kernel afresh, not what an earlier probe said
    out: dict[str, str | None] = {}
    out["syscall"] = _attempt(lambda: observe.syscall(pid), lambda sc: sc is not None and sc.name == "read", "did not show the probe asleep in read")
    out["wchan"] = _attempt(lambda: _wchan_text(pid), lambda text: text is not None, "did not show where the probe sleeps")
    out["fds"] = _attempt(lambda: observe.fds(pid).get(0), lambda fd: fd is not None and fd.inode in stdin_pipes, "did not show the probe's stdin pipe")
    return out


def _wchan_text(pid: int) -> str | None:
    """/proc/PID/wchan as the owner reads it (some kernels print 0 there always: still readable)."""
    path = observe.PROC / str(pid) / "wchan"
    return observe.guarded(pid, "wchan", path, path.read_text)


def _attempt(read, good, what: str) -> str | None:
    try:
        value = read()
    except observe.NOT_SHOWN as exc:
        return _reason(exc)
    except OSError as exc:
        return exc.strerror or str(exc)
    return None if good(value) else what


def _reason(exc: BaseException) -> str:
    if isinstance(exc, observe.Unreadable):
        return "permission denied, even to the process's own user"
    return str(exc)


__all__ = ["probe"]
