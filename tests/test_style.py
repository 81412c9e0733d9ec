"""House habits a reader would miss, checked on the source itself."""

from __future__ import annotations

import ast

from harness import ROOT

CONFORMANCE = ROOT / "conformance"


def _sleeps(path):
    """Every call of sleep in PATH's code (time.sleep(...), sleep(...), x.sleep(...)), as
    line numbers: comments and strings that say sleep do not count."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and (
            (isinstance(node.func, ast.Name) and node.func.id == "sleep")
            or (isinstance(node.func, ast.Attribute) and node.func.attr == "sleep")
        )
    ]


def test_the_grader_never_sleeps_to_wait():
    """No time.sleep in the framework's waits or the specs: a wait is on a condition (a line, a
    pipe, a state in /proc), each with a deadline (STYLE.md, LTP's habit)."""
    files = [p for p in CONFORMANCE.rglob("*.py") if "bundled" not in p.relative_to(CONFORMANCE).parts]
    assert len(files) > 30, files
    found = [f"{p.relative_to(ROOT)}:{line}" for p in files for line in _sleeps(p)]
    assert not found, f"sleep called in {', '.join(found)}: wait on a condition with a deadline instead"


def test_the_check_sees_every_way_of_calling_sleep(tmp_path):
    code = tmp_path / "code.py"
    code.write_text(
        "import time\nfrom time import sleep\n"
        "# time.sleep(1) in a comment\n"
        "DOC = 'sleep(2) in a string'\n"
        "time.sleep(0.1)\n"
        "sleep(0.2)\n"
        "asleep(3)\n"
    )
    assert _sleeps(code) == [5, 6]
