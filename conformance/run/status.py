"""How a program ended, in words: its exit status, or the signal that killed it."""

from __future__ import annotations

import signal
from dataclasses import dataclass

from conformance.outcomes import Sentence


def signal_name(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        if signal.SIGRTMIN <= sig <= signal.SIGRTMAX:
            return f"SIGRTMIN+{sig - signal.SIGRTMIN}" if sig != signal.SIGRTMIN else "SIGRTMIN"
        return f"signal {sig}"


@dataclass(frozen=True)
class ExitStatus:
    """How a process ended: an exit code, or the signal that killed it."""

    code: int | None
    signal: int | None = None
    core: bool = False

    @classmethod
    def from_returncode(cls, rc: int) -> ExitStatus:
        return cls(None, -rc) if rc < 0 else cls(rc)

    @property
    def ok(self) -> bool:
        return self.code == 0

    def __str__(self) -> str:
        return str(self.words())

    def words(self) -> Sentence:
        """``killed by signal 9 (SIGKILL)``, ``exited with status 1``: a sentence of its own."""
        if self.signal is not None:
            return Sentence("killed by signal %(number)s (%(signal)s)", number=self.signal, signal=signal_name(self.signal))
        return Sentence("exited with status %(code)s", code=self.code)

    @property
    def ended(self) -> str:
        """As the verb of a sentence: `exited with status 0`, `was killed by signal 9 (SIGKILL)`."""
        if self.signal is not None:
            return Sentence("was killed by signal %(number)s (%(signal)s)", number=self.signal, signal=signal_name(self.signal))
        return self.words()
