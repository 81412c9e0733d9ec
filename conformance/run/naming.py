"""Names, keys and paths that no other worker, run or grading on this machine can share or guess.

Where no private IPC namespace can be made (root with Docker's default capabilities, an
ordinary user), every grading on the machine shares one table of System V keys, one /dev/shm
and one set of POSIX queue names, and a submission's programs may read whatever is listable:
/tmp, /dev/shm, /proc/sysvipc, and the command line of every process (the programs' own
arguments name the objects a spec hands them). So a name must tell nothing about the next one:

- every POSIX name and System V key draws fresh randomness from the operating system
  (``secrets``) when it is made, in the process that makes it, and nothing a program can read
  (a directory it lists, its environment, the grader's command line, a name it was handed
  before) predicts it; the worker's id in a POSIX name only makes a reader's life easier;
- the run's directory has a name of its own (mkdtemp) that says nothing about any name, and is
  root's with mode 0711: a program passes through it to its own directories (their names are
  random too, and each is its user's alone, 0700) but cannot list or read it;
- every name and key handed out is recorded (``handed``), so that what programs made under it
  is found and removed after the spec even where no listing shows it (POSIX queues without
  /dev/mqueue; leftovers.py).

Randomness in names never reaches a verdict: a name has the same length every time, and the
seeds of a spec's perturbations and of Hypothesis come from the spec and the submission
(strategies.spec_seed, the ``ipc-grading`` profile), never from a name.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from conformance.kernel import observe

#: Random bytes in every POSIX name and directory name (hex: twice as many characters): 64
#: bits, which no program can guess, and short enough that a socket path stays far under the
#: 108 bytes of sun_path and a POSIX name far under NAME_MAX (255).
TOKEN_BYTES = 8
#: Mode of the run's directory: others may pass through (to their own directories, whose names
#: they were given) but not list or read it.
RUN_ROOT_MODE = 0o711


def new_run_id() -> str:
    return secrets.token_hex(4)


def new_run_root() -> Path:
    """The run's directory, made by the controller: a fresh random name under the temporary
    directory (tempfile.mkdtemp: created exclusively, never an existing one or a link), root's,
    mode 0711."""
    root = Path(tempfile.mkdtemp(prefix="ipc-"))
    os.chmod(root, RUN_ROOT_MODE)
    return root


def token() -> str:
    """Fresh randomness for one name."""
    return secrets.token_hex(TOKEN_BYTES)


@dataclass
class Names:
    root: Path
    """The run's directory (new_run_root), handed by the controller to every worker."""
    worker: str
    handed: list[tuple[str, str | int]] = field(default_factory=list)
    """("posix", name) and ("key", key) of every name and key made since the last ``take_handed``."""

    def __repr__(self) -> str:  # Hypothesis prints fixtures in a falsifying example
        return f"<names of worker {self.worker}>"

    def posix(self, tag: str = "") -> str:
        """A POSIX IPC name with one leading slash, well under NAME_MAX, that nothing predicts."""
        name = f"/ipc-{self.worker}-{token()}{'-' + tag if tag else ''}"
        self.handed.append(("posix", name))
        return name

    def sysv_key(self) -> int:
        """A positive System V key, drawn at random, not in use by any queue, segment or
        semaphore set now."""
        in_use = {row["key"] for kind in ("msg", "shm", "sem") for row in observe.sysvipc(kind)}
        while True:
            key = secrets.randbits(31)
            if key and key not in in_use:
                self.handed.append(("key", key))
                return key

    def take_handed(self) -> list[tuple[str, str | int]]:
        """The names and keys handed out since the last call (a spec's), forgotten here."""
        out, self.handed = self.handed, []
        return out

    def tmp_root(self) -> Path:
        """This run's directory (for staged copies, FIFOs and socket files): short, so socket
        paths fit 108 bytes; not listable by programs."""
        return self.root

    def tmp_dir(self) -> Path:
        """A new directory in the run's, with a random name, mode 0700 (hand it to the programs'
        user with sandbox.give)."""
        path = self.root / f"{self.worker}-{token()}"
        path.mkdir(mode=0o700)
        return path

    def private_path(self, what: str) -> Path:
        """A path in the run's directory for WHAT (a staged copy), with a random name."""
        return self.root / f"{what}-{token()}"


def worker_name(workerinput: dict | None) -> str:
    return workerinput["workerid"] if workerinput else "m"


__all__ = ["Names", "new_run_id", "new_run_root", "token", "worker_name"]
