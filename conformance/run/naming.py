"""Names, keys and paths that no other worker, run or grading on this machine can share.

Every IPC object a spec creates is named from the run id (made once by the controller and
handed to every xdist worker), the worker id and a per-worker counter, as pytest-xdist's
``testrun_uid`` and ``worker_id`` are meant to be used.
"""

from __future__ import annotations

import hashlib
import itertools
import secrets
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from conformance.kernel import observe


def new_run_id() -> str:
    return secrets.token_hex(4)


@dataclass
class Names:
    run_id: str
    worker: str
    _counter: itertools.count = field(default_factory=itertools.count, repr=False)

    def _next(self) -> int:
        return next(self._counter)

    @property
    def stem(self) -> str:
        return f"ipc{self.run_id}{self.worker}"

    def posix(self, tag: str = "") -> str:
        """A POSIX IPC name with one leading slash, well under NAME_MAX."""
        return f"/{self.stem}-{self._next()}{'-' + tag if tag else ''}"

    def sysv_key(self) -> int:
        """A positive System V key not in use by any queue, segment or semaphore set now."""
        in_use = {row["key"] for kind in ("msg", "shm", "sem") for row in observe.sysvipc(kind)}
        while True:
            digest = hashlib.sha256(f"{self.stem}-{self._next()}".encode()).digest()
            key = int.from_bytes(digest[:4], "little") & 0x7FFFFFFF
            if key and key not in in_use:
                return key

    def tmp_root(self) -> Path:
        """This run's directory for FIFOs and socket files: short, so socket paths fit 108 bytes."""
        root = Path(tempfile.gettempdir()) / f"ipc-{self.run_id}"
        root.mkdir(mode=0o711, exist_ok=True)
        return root

    def tmp_dir(self) -> Path:
        path = self.tmp_root() / f"{self.worker}-{self._next()}"
        path.mkdir(mode=0o700)
        return path


def worker_name(workerinput: dict | None) -> str:
    return workerinput["workerid"] if workerinput else "m"


__all__ = ["Names", "new_run_id", "worker_name"]
