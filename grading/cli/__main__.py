"""`python -m grading.cli`: ipc-grade (a batch runs each submission's grading so)."""

import sys

from grading.cli import main

sys.exit(main())
