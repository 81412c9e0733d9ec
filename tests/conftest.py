import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

#: pyproject's addopts choose the fast tier; `-m slow` the slow one (README, "Two commands").
FAST = "not slow"
TIERS = (
    "the fast tier (about 3.5 minutes on 2 cores with -n auto); the slow tier, every mutant, the installed "
    "kits and whole gradings (about 12 minutes), runs with: pytest -n auto -m slow"
)


def pytest_report_header(config):
    if config.getoption("markexpr") == FAST:
        return f"ipc-conformance: {TIERS}"
    return None


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Say what the default tier left out, and how to run it."""
    left = len(terminalreporter.stats.get("deselected", []))
    if config.getoption("markexpr") == FAST and left:
        terminalreporter.write_line(f"ipc-conformance: {left} tests of the slow tier were not run: pytest -n auto -m slow")


@pytest.fixture
def sup():
    """A supervisor of the test's own programs, the grader a subreaper as in a grading run."""
    from conformance.run.limits import become_subreaper
    from conformance.run.supervisor import Supervisor

    become_subreaper()
    s = Supervisor()
    yield s
    s.teardown()
