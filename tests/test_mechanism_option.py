"""`--mechanism M` (ipc-grade) and `--ipc-mechanism M` (pytest) select a mechanism's specs
exactly: `-k fifo` also selects buffer.fifo-order and msgq.fifo-within-type."""

from __future__ import annotations

import subprocess
import sys

from harness import ROOT

from conformance import locate


def _collected(*args: str) -> set[str]:
    cmd = [sys.executable, "-m", "pytest", f"--impl={ROOT / 'reference'}", "--collect-only", "-q", "-p", "no:cacheprovider",
           str(locate.specs_dir()), *args]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode in (0, 5), out.stdout[-2000:] + out.stderr[-2000:]
    return {line.split("::")[0].rsplit("/", 1)[-1] for line in out.stdout.splitlines() if "::" in line}


def test_k_fifo_selects_other_mechanisms_and_mechanism_does_not():
    assert _collected("-k", "fifo") > {"test_fifo.py"}  # the substring: buffer.fifo-order, msgq.fifo-within-type
    assert _collected("--ipc-mechanism=fifo") == {"test_fifo.py"}
    assert _collected("--ipc-mechanism=fifo", "--ipc-mechanism=rpc") == {"test_fifo.py", "test_rpc.py"}


def test_an_unknown_mechanism_is_a_usage_error():
    out = subprocess.run([sys.executable, "-m", "grading.cli", str(ROOT / "reference"), "--mechanism", "fifos", "-q"],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 2 and "no mechanism is called fifos" in out.stderr, out.stderr
    bad = subprocess.run([sys.executable, "-m", "grading.cli", str(ROOT / "reference"), "--mechanism", "Fifo!", "-q"],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert bad.returncode == 2 and "--mechanism" in bad.stderr


def test_without_mechanism_everything_is_graded(tmp_path):
    """No --mechanism: ipc-grade grades as before (its default is no selection, not an error)."""
    out = subprocess.run([sys.executable, "-m", "grading.cli", str(ROOT / "reference"), "-k", "pipe.uses-pipe", "-q",
                          "--json", str(tmp_path / "r.json")], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
