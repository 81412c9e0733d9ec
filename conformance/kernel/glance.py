"""One look at a process, never waiting: for the details of a picture or a sentence.

observe's guarded readers wait out a brief refusal (a program just exec'd as another user) and
raise when the kernel will not say, since verdicts rest on them. What the timeline asks while it
reads a program's output must never hold that reading up, and is never a verdict: these read
once, as the process's own user, and say None when the kernel does not answer at once.
"""

from __future__ import annotations

from . import credentials, observe


def fds(pid: int) -> dict[int, observe.Fd] | None:
    """PID's open file descriptors (observe.fds without the wait), or None."""
    try:
        with credentials.as_owner_of(pid):
            return observe.read_fds(pid)
    except (OSError, ValueError):
        return None


def written_bytes(pid: int) -> int | None:
    """How many bytes PID has passed to write(2) and its kin since it started (/proc/PID/io's
    wchar: to any file, pipe or socket), or None."""
    try:
        with credentials.as_owner_of(pid):
            text = (observe.PROC / str(pid) / "io").read_text()
    except OSError:  # credentials.CannotAct too
        return None
    for line in text.splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1])
    return None
