"""``python -m conformance.manifest PATH [--for ipc-grade]``: kept at this path, which users and
ipc-grade (grading/grader.py) type; the manifest itself is conformance/run/manifest.py."""

import sys

from conformance.run.manifest import main

if __name__ == "__main__":
    sys.exit(main())
