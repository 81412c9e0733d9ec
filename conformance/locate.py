"""Where the bundled reference implementation and student template are.

    python -m conformance.locate reference     prints the directory (for ipc-grade)
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def bundled(name: str) -> Path:
    """The directory of the bundled NAME (``reference`` or ``student_template``).

    Installed, it ships inside this package (conformance/bundled/NAME); in a checkout it is the
    repository's top-level NAME/.
    """
    for candidate in (HERE / "bundled" / name, HERE.parent / name):
        if (candidate / "ipc.toml").is_file():
            return candidate
    raise FileNotFoundError(f"the bundled {name} is missing from {HERE} (reinstall ipc-conformance)")


def specs_dir() -> Path:
    return HERE / "specs"


if __name__ == "__main__":
    print(bundled(sys.argv[1]) if len(sys.argv) == 2 else specs_dir())
