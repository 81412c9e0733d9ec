"""`ipc-grade --version`: the grader's release and the contract version its specs hold programs to.

    ipc-grade 0.1.0 (ipc-conformance 0.1.0, contract version 2, Python 3.11.7)

The package version is the distribution's (pyproject.toml); the contract version is
``conformance.CONTRACT_VERSION``, asked of the grader in a child process as everything else
ipc-grade needs of it (grader.py): the reports never import the grader. Release tags are
``v`` and the package version (docs/releasing.md).
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys

from . import grader

_ASK = "import conformance as c; print(c.__version__); print(c.CONTRACT_VERSION)"


def versions() -> dict[str, str]:
    """{"package": ..., "grader": conformance.__version__, "contract": ...}; "unknown" for
    whatever cannot be read (a broken installation still prints a version line)."""
    out = {"package": grader.version(), "grader": "unknown", "contract": "unknown"}
    try:
        done = subprocess.run([sys.executable, "-c", _ASK], capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return out
    lines = done.stdout.split()
    if done.returncode == 0 and len(lines) == 2:
        out["grader"], out["contract"] = lines
    return out


def line(prog: str = "ipc-grade") -> str:
    v = versions()
    package = v["package"] if v["package"] != "unknown" else v["grader"]
    return f"{prog} {package} (ipc-conformance {v['grader']}, contract version {v['contract']}, Python {platform.python_version()})"


class VersionAction(argparse.Action):
    """--version, computed only when asked (it starts a child Python)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings=option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        print(line(parser.prog.split()[0]))
        parser.exit(0)
