"""One settings schema (conformance/settings.py): every option of ipc-grade and of the pytest
plugins, and every environment variable the grader reads, is defined there once, and the
command line, pytest's options and the README's table agree with it."""

from __future__ import annotations

import ast
import re
import subprocess
import sys

import pytest
from harness import ROOT, _env

from conformance import settings
from conformance.settings import SETTINGS, SettingError
from grading.cli import COMMANDS, parser


def test_the_readme_table_is_current():
    readme = (ROOT / "README.md").read_text()
    assert settings.with_table(readme) == readme, "regenerate it: python -m conformance.settings README.md"


def test_pytest_offers_each_plugins_settings_with_their_help():
    shown = subprocess.run([sys.executable, "-m", "pytest", "--help", "-p", "no:cacheprovider"], capture_output=True, text=True, env=_env(), cwd=ROOT).stdout
    flat = " ".join(shown.split())
    for s in SETTINGS.values():
        if s.pytest_option:
            assert s.where in ("conformance.plugin", "grading.plugin"), f"{s.name}: which plugin registers {s.pytest_option}?"
            assert re.search(rf"\s{re.escape(s.pytest_option)}[\s=]", shown), s.pytest_option
            assert " ".join(s.help.split())[:60] in flat, f"{s.pytest_option}'s help is not the schema's"


def test_ipc_grade_takes_each_setting_from_the_schema():
    """Every command that takes a setting's option shows the schema's help for it, and a bad
    value is a usage error in the schema's words."""
    top = parser()
    subs = next(a for a in top._actions if a.dest == "command").choices
    offered: dict[str, set[str]] = {}
    for name in COMMANDS:
        for action in subs[name]._actions:
            for flag in action.option_strings:
                offered.setdefault(flag, set()).add(name)
    for s in SETTINGS.values():
        if s.option:
            assert s.option in offered, f"{s.option} ({s.name}) is in the schema but no command takes it"
            assert "grade" in offered[s.option], f"grading itself does not take {s.option}"
    grade = subs["grade"]
    for s in SETTINGS.values():
        if s.option and not s.switch:
            action = next(a for a in grade._actions if s.option in a.option_strings)
            assert " ".join(s.help.split())[:40] in " ".join((action.help or "").split()), f"{s.option}'s help is not the schema's"


@pytest.mark.parametrize("name, bad", [("deadline_scale", "-1"), ("jobs", "abc"), ("session_timeout", "0"), ("run_as", "no-such-user-here")])
def test_a_bad_value_says_where_it_came_from(name, bad, tmp_path):
    s = SETTINGS[name]
    with pytest.raises(SettingError) as exc:
        s.check(bad, f"command-line option {s.option}")
    assert repr(bad) in str(exc.value) and s.option in str(exc.value) and "give" in str(exc.value)
    done = subprocess.run([sys.executable, "-m", "grading.cli", str(tmp_path), s.option, bad], capture_output=True, text=True, env=_env(), cwd=tmp_path, timeout=60)
    assert done.returncode == 2 and s.option in done.stderr and repr(bad) in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_the_environment_is_read_through_the_schema():
    """No module but settings.py reads a setting's environment variable itself: os.environ with
    the variable's name as a literal is a second definition."""
    names = {s.env for s in SETTINGS.values() if s.env}
    found = []
    for pkg in ("conformance", "grading"):
        for path in (ROOT / pkg).rglob("*.py"):
            if path.name == "settings.py" and path.parent.name == "conformance":
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Constant) and node.value in names:
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} names {node.value}")
    assert not found, found


def test_precedence_default_then_environment_then_command_line():
    s = SETTINGS["deadline_scale"]
    assert s.resolve(None, environ={}) == 1.0
    assert s.resolve(None, environ={"IPC_DEADLINE_SCALE": "3"}) == 3.0
    assert s.resolve("2", "--deadline-scale", environ={"IPC_DEADLINE_SCALE": "3"}) == 2.0
    with pytest.raises(SettingError, match="from environment variable IPC_DEADLINE_SCALE"):
        s.resolve(None, environ={"IPC_DEADLINE_SCALE": "fast"})
