"""An implementation as a spec sees it: its programs, started under the spec's supervisor."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from conformance.deadline import Deadline
from conformance.outcomes import NotImplementedBySubmission, Sentence, SpecFailure

from .manifest import Manifest
from .process import Proc
from .supervisor import Supervisor


@dataclass
class Implementation:
    manifest: Manifest
    supervisor: Supervisor
    who: str
    """How messages name it: "your" for the graded one, "the reference" for the reference."""
    mechanism: str
    """The spec's own mechanism: the default for every call."""

    def __repr__(self) -> str:  # Hypothesis prints fixtures in a falsifying example
        return f"<{self.who} implementation>"

    def argv(self, *args: str, mechanism: str | None = None) -> list[str]:
        """The command line for MECHANISM (default: the spec's) with ARGS appended.

        Raises NotImplementedBySubmission when the manifest names no program for it (left out
        on purpose), and SpecFailure when the grader cannot use the manifest, or the program it
        names is missing, not executable or was not made by a failed build: the submission's
        mistakes, which cost the specs they touch.
        """
        mechanism = mechanism or self.mechanism
        m = self.manifest
        if m.error:
            raise SpecFailure(Sentence("the manifest cannot be used: %(problem)s", problem=m.error), fix=Sentence("Correct ipc.toml as the top of the report says."))
        if mechanism in m.problems:
            raise SpecFailure(m.problems[mechanism])
        program = m.program(mechanism)
        if program is None:
            raise NotImplementedBySubmission(
                f"{m.file} has no [programs] entry for {mechanism}: add "
                f"{mechanism} = \"<command>\" to implement it"
            )
        return [*program.argv, *args]

    def label(self, args: Sequence[str], mechanism: str | None = None) -> str:
        words = " ".join([mechanism or self.mechanism, *args[:1]])
        if self.who == "your":
            return Sentence("your `%(program)s`", program=words)
        return Sentence("the reference `%(program)s`", program=words) if self.who == "the reference" else f"{self.who} `{words}`"

    def spawn(
        self,
        *args: str,
        mechanism: str | None = None,
        stdin: str = "pipe",
        capture_limit: int = 8 << 20,
        pass_fds: Sequence[int] = (),
    ) -> Proc:
        """Start the program for MECHANISM with ARGS (role first), supervised."""
        argv = self.argv(*args, mechanism=mechanism)
        return self.supervisor.spawn(
            argv,
            cwd=str(self.manifest.cwd),
            label=self.label(args, mechanism),
            stdin=stdin,
            capture_limit=capture_limit,
            pass_fds=pass_fds,
            grader_chose=self.chose_program(mechanism),
            subject=self.who == "your",
        )

    def chose_program(self, mechanism: str | None = None) -> bool:
        """The grader, not the manifest, picked the program that runs (``python3``: runtime.py)."""
        program = self.manifest.program(mechanism or self.mechanism)
        return program is not None and program.interpreter

    def run(
        self,
        *args: str,
        input: bytes = b"",
        timeout: float | Deadline = 10,
        mechanism: str | None = None,
        capture_limit: int = 8 << 20,
    ) -> Proc:
        """Start the program, feed INPUT and close stdin, and wait for it to exit."""
        proc = self.spawn(*args, mechanism=mechanism, capture_limit=capture_limit)
        proc.feed(input)
        proc.wait(timeout)
        return proc
