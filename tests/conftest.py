import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Say what the default tier left out, and how to run it (pyproject's addopts: -m "not slow")."""
    if config.getoption("markexpr") != "not slow":
        return
    left = len(terminalreporter.stats.get("deselected", []))
    if left:
        terminalreporter.write_line(
            f"ipc-conformance: the slow tier ({left} tests: every mutant, the installed kits, whole gradings) "
            "was not run; run it with: pytest -n auto -m slow"
        )
