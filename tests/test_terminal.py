"""`ipc-grade` and `ipc-grade replay` in a real pseudo-terminal, as a student runs them: the live
progress line (rich draws it on a terminal only), colours (none with NO_COLOR), Ctrl-C, and a
terminal narrower than 80 columns.

Every wait is pexpect's `expect([pattern, EOF, TIMEOUT])` with a bound of its own, and a failure
shows the transcript. Each test grades a spec or two, one worker."""

from __future__ import annotations

import io
import json
import re
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pexpect
import pytest
from harness import _env, interruptible, mutants

from conformance import locate
from conformance.record import STATUS
from grading import render

REFERENCE = locate.bundled("reference")
#: Two quick specs, as a rubric: the run's total is known before it starts.
RUBRIC = 'mechanisms = []\n[spec."pipe.uses-pipe"]\n[spec."pipe.broken-pipe"]\n'
#: An upper bound for a quick grading to finish (it takes a few seconds).
FINISH = 120
#: Control sequences (colours, cursor moves) in a transcript.
CSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class Terminal:
    """`ipc-grade ARGS` on a pseudo-terminal of ROWS x COLUMNS, its transcript kept."""

    def __init__(self, *args: str, cwd: Path, columns: int = 100, env: dict[str, str] | None = None) -> None:
        environment = {k: v for k, v in _env().items() if k not in ("NO_COLOR", "FORCE_COLOR", "COLUMNS", "LINES", "TTY_COMPATIBLE")}
        environment.update({"TERM": "xterm-256color", **(env or {})})
        self.transcript = io.StringIO()
        self.child = pexpect.spawn(
            sys.executable,
            ["-m", "grading.cli", *args],
            cwd=str(cwd),
            env=environment,
            dimensions=(24, columns),
            encoding="utf-8",
            codec_errors="replace",
            timeout=FINISH,  # never pexpect's default; each expect below names its own bound
            preexec_fn=interruptible,
        )
        self.child.logfile_read = self.transcript

    def expect(self, pattern: str, timeout: float) -> None:
        """Wait until PATTERN shows, at most TIMEOUT seconds; fail with the transcript."""
        outcome = self.child.expect([pattern, pexpect.EOF, pexpect.TIMEOUT], timeout=timeout)
        if outcome != 0:
            what = "ended" if outcome == 1 else f"did not show it within {timeout:.0f} s"
            pytest.fail(f"waiting for {pattern!r}, ipc-grade {what}; transcript:\n{self.text()}")

    def finish(self, timeout: float = FINISH) -> int:
        """Wait for the end (at most TIMEOUT seconds) and return the exit status."""
        if self.child.expect([pexpect.EOF, pexpect.TIMEOUT], timeout=timeout) != 0:
            self.child.terminate(force=True)
            pytest.fail(f"ipc-grade did not end within {timeout:.0f} s; transcript:\n{self.text()}")
        self.child.close()
        assert self.child.signalstatus is None, f"killed by signal {self.child.signalstatus}; transcript:\n{self.text()}"
        return self.child.exitstatus

    def text(self) -> str:
        return self.transcript.getvalue()

    def report(self) -> str:
        """The final report: the transcript from its first line on, control sequences kept."""
        text = self.text()
        start = text.find("Implementation: ")
        assert start >= 0, f"no report in the transcript:\n{text}"
        return text[start:]

    def progress(self) -> str:
        """What was drawn before the report: the progress line, each redraw of it."""
        text = self.text()
        return text[: text.find("Implementation: ")] if "Implementation: " in text else text


def lines(text: str) -> list[str]:
    """The lines a terminal shows for TEXT: control sequences out, split at CR and LF."""
    return [line for line in re.split(r"[\r\n]+", CSI.sub("", text)) if line.strip()]


@pytest.fixture
def rubric(tmp_path) -> Path:
    path = tmp_path / "rubric.toml"
    path.write_text(RUBRIC)
    return path


def test_the_progress_line_knows_the_total_from_the_start(tmp_path, rubric):
    """On a terminal, rich's live line: the total before the first spec is decided, then each
    spec as it is decided, then the report in place of the line."""
    term = Terminal(str(REFERENCE), "--rubric", str(rubric), "-j", "1", cwd=tmp_path)
    term.expect(r"0/2", timeout=60)  # drawn before any verdict: the catalogue's count
    term.expect(r"Total: 4/4", timeout=FINISH)
    assert term.finish() == 0, term.text()
    drawn = lines(term.progress())
    assert drawn and all("/?" not in line for line in drawn), drawn
    assert any("ipc-grade reference" in line and "2/2" in line for line in drawn), drawn
    assert "Traceback" not in term.text()


def test_with_k_the_total_is_unknown_only_until_the_run_collects(tmp_path):
    term = Terminal(str(REFERENCE), "-k", "pipe.uses-pipe", "-j", "1", cwd=tmp_path)
    term.expect(r"Total: 2/2", timeout=FINISH)
    assert term.finish() == 0
    drawn = lines(term.progress())
    assert any("1/1" in line for line in drawn), drawn
    assert all("1/?" not in line for line in drawn), drawn  # once a spec is decided, the run has counted


def test_colours_on_a_terminal_and_none_with_no_color(tmp_path):
    impl = next(m for m in mutants() if m.id == "pipe/parent-dies-of-sigpipe").materialize(tmp_path)
    args = (str(impl), "-k", "pipe.uses-pipe or pipe.broken-pipe", "-j", "1")
    term = Terminal(*args, cwd=tmp_path)
    assert term.finish() == 1, term.text()
    report = term.report()
    assert f"\x1b[{STATUS['passed'].color}mpassed" in report and f"\x1b[{STATUS['failed'].color}mfailed" in report, report
    plain = Terminal(*args, cwd=tmp_path, env={"NO_COLOR": "1"})
    assert plain.finish() == 1, plain.text()
    assert "\x1b[" not in plain.report(), plain.report()
    colours = re.compile(r"\x1b\[[0-9;]*(3[0-7]|9[0-7]|38;[0-9;]+)m")
    assert not colours.search(plain.text()), plain.text()  # nor in the progress line
    assert "pipe.broken-pipe  failed" in plain.report()


def _spinner(tmp_path: Path) -> Path:
    """The reference's pipe, and a signal catcher that spins for ever: its spec waits out its
    deadline, so that Ctrl-C lands while it runs. The catcher's file is named after the test, so
    that its processes are told from those of a test running beside it."""
    impl = tmp_path / "spins"
    impl.mkdir()
    (impl / "pipe.py").write_text((REFERENCE / "pipe.py").read_text())
    (impl / _spin_name(impl)).write_text("while True:\n    pass\n")
    (impl / "ipc.toml").write_text(f'[programs]\npipe = "python3 pipe.py"\nsignal = "python3 {_spin_name(impl)}"\n')
    return impl


def _spin_name(impl: Path) -> str:
    return f"spin-{impl.parent.name}.py"


def _programs_left(impl: Path, within: float = 10.0) -> list[str]:
    """Processes still running IMPL's spinning catcher (the grader ran it from a copy: found by
    its file's name), once those being killed have had WITHIN seconds to go (/proc, polled)."""
    name = _spin_name(impl).encode()
    end = time.monotonic() + within
    while True:
        left = []
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                argv = (proc / "cmdline").read_bytes().split(b"\0")
                state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
            except (OSError, IndexError):
                continue
            if state != "Z" and any(a.endswith(name) for a in argv):
                left.append(f"{proc.name}: {b' '.join(argv).decode(errors='replace')}")
        if not left or time.monotonic() > end:
            return left
        time.sleep(0.05)  # polling /proc for the processes to go, under the deadline above


def test_ctrl_c_keeps_the_verdicts_reached_and_writes_every_report(tmp_path):
    impl = _spinner(tmp_path)
    (tmp_path / "r.toml").write_text('mechanisms = []\n[spec."pipe.uses-pipe"]\n[spec."signal.handles-usr1"]\n')
    out = tmp_path / "reports"
    targets = [a for name, f in render.FORMATS.items() for a in (f"--{name}", str(out / f.filename))]
    # deadlines ten times as long: the spinning catcher's spec would take a minute
    term = Terminal(str(impl), "--rubric", "r.toml", "-j", "1", "--deadline-scale", "10", *targets, cwd=tmp_path)
    term.expect(r"1/2", timeout=FINISH)  # pipe.uses-pipe is decided, signal.handles-usr1 runs
    sent = time.monotonic()
    term.child.sendintr()
    status = term.finish(timeout=60)
    took = time.monotonic() - sent
    assert status == 130, term.text()
    assert "Traceback" not in term.text() and "KeyboardInterrupt" not in term.text(), term.text()
    assert took < 15, f"Ctrl-C took {took:.1f} s to stop the run"
    assert "interrupted: 1 verdict kept" in term.text()
    rec = json.loads((out / "record.json").read_text())
    assert rec["error_kind"] == "interrupted" and rec["error"] is None
    assert [(s["id"], s["status"]) for s in rec["specs"]] == [("pipe.uses-pipe", "passed")]
    assert rec["score"] == 2 and "after 1 of 2 specs" in rec["interrupt_note"]
    assert not {"partial", "running", "planned"} & rec.keys()
    sentence = "the grading was interrupted (Ctrl-C)"
    for name in ("report.md", "report.html", "report.txt"):
        assert sentence in (out / name).read_text(), name
    assert sentence in json.loads((out / "gradescope.json").read_text())["output"]
    assert sentence in json.loads((out / "prairielearn.json").read_text())["message"]
    notes = [p.get("value") for p in ET.parse(out / "junit.xml").getroot().iter("property") if p.get("name") == "note"]
    assert any(sentence in n for n in notes), notes
    assert sentence in term.report()
    assert _programs_left(impl) == []


def test_ctrl_c_stops_a_replay(tmp_path):
    impl = _spinner(tmp_path)
    term = Terminal("replay", "signal.handles-usr1", str(impl), "--deadline-scale", "10", cwd=tmp_path)
    term.expect(r"started your `signal catch`", timeout=FINISH)
    term.child.sendintr()
    assert term.finish(timeout=60) == 130, term.text()
    assert "Traceback" not in term.text() and "KeyboardInterrupt" not in term.text(), term.text()
    assert "interrupted" in term.text()
    assert _programs_left(impl) == []


def test_replay_on_a_terminal(tmp_path):
    term = Terminal("replay", "pipe.uses-pipe", str(REFERENCE), cwd=tmp_path, columns=60)
    term.expect(r"as it happens", timeout=60)
    term.expect(r"Try it by hand", timeout=FINISH)
    assert term.finish() == 0, term.text()
    assert f"\x1b[{STATUS['passed'].color}mpassed" in term.report()
    _fits(term.report(), 60)


def _fits(text: str, columns: int) -> None:
    """Every line of TEXT fits COLUMNS, but one that is a single word after its indent (a long
    path cannot be broken)."""
    wide = [line for line in lines(text) if len(line) > columns and " " in line.strip()]
    assert not wide, "\n".join(wide)


def test_a_narrow_terminal(tmp_path):
    """60 columns: the report wraps its long lines, the progress line leaves its bar out and
    stays on one line, with the count."""
    impl = next(m for m in mutants() if m.id == "pipe/parent-dies-of-sigpipe").materialize(tmp_path)
    (tmp_path / "r.toml").write_text(RUBRIC)
    term = Terminal(str(impl), "--rubric", "r.toml", "-j", "1", cwd=tmp_path, columns=60)
    assert term.finish() == 1, term.text()
    report = term.report()
    assert "What went wrong:" in report and "hint:" in report
    _fits(report, 60)
    drawn = lines(term.progress())
    assert drawn and all(len(line) <= 60 for line in drawn), drawn
    assert any(re.search(r"ipc-grade \S+ [0-2]/2 ", line) for line in drawn), drawn


def test_the_bundled_reference_is_named_first(tmp_path):
    """With no PATH and no ipc.toml here, the first line says what is graded."""
    term = Terminal("-k", "pipe.uses-pipe", "-j", "1", cwd=tmp_path)
    assert term.finish() == 0, term.text()
    assert lines(term.text())[0].startswith("ipc-grade: grading the bundled reference implementation"), term.text()

