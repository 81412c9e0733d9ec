"""ipc-grade's options, made from the one settings schema (conformance/settings.py).

Every command that takes a setting (the grading, batch, replay, gradescope-bundle, similarity)
adds it here, from ``SETTINGS[name]``: its flag, metavar, help and validator are the schema's,
so a bad value is a usage error (exit 2) that names the option, the value and what to give,
in the same words everywhere:

    ipc-grade: error: argument --deadline-scale: 'abc': give a positive number, such as 2 (...)

A command gives its own default where it differs from the schema's (each command's session
timeout), and ``check_environment`` checks the environment variable a setting falls back to,
naming the variable, before anything runs.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Mapping
from typing import Any

from conformance.settings import SETTINGS, Setting, SettingError

#: What a keyword left out means: the schema's own value.
_SCHEMA: Any = object()


def add(parser: argparse.ArgumentParser | argparse._ArgumentGroup, name: str, *aliases: str, default: Any = _SCHEMA,
        note: str = "", setting: Setting | None = None, **extra: Any) -> argparse.Action:
    """Add the setting NAME's option (``setting.option``, after ALIASES such as ``-j``) to
    PARSER with the schema's type, metavar and help (and NOTE after it, where the command says
    more, such as its own default); DEFAULT and EXTRA (``required=True``) where the command's
    own differ. SETTING: a variant of the schema's setting (``workers``)."""
    s = setting or SETTINGS[name]
    if s.option is None:
        raise ValueError(f"the setting {name!r} has no ipc-grade option (conformance/settings.py)")
    kwargs = s.argparse_kwargs()
    if not s.switch:
        kwargs["default"] = s.default if default is _SCHEMA else default
    if note:
        kwargs["help"] = s.help + (note if note.startswith(";") else " " + note)
    kwargs.update(extra)
    return parser.add_argument(*aliases, s.option, **kwargs)


def check_environment(name: str, given: Any, environ: Mapping[str, str] | None = None) -> list[str]:
    """What is wrong with the environment variable of the setting NAME when it is what applies
    (GIVEN, the option's value, is None): ``invalid deadline scale 'fast' from environment
    variable IPC_DEADLINE_SCALE: give a positive number, ...``; [] when nothing is."""
    if given is not None:
        return []
    try:
        SETTINGS[name].from_env(environ)
    except SettingError as exc:
        return [str(exc)]
    return []


def passed(args: argparse.Namespace, *names: str) -> list[str]:
    """The grading run's (pytest's) options for the settings NAMES the command line gave."""
    out = []
    for name in names:
        value = getattr(args, name, None)
        if value is not None:
            out.append(f"{SETTINGS[name].pytest_option}={value:#x}" if isinstance(value, int) and name == "schedule" else f"{SETTINGS[name].pytest_option}={value}")
    return out


def at_least_one(value: str) -> int | None:
    """A number of things done at once: a whole number, 1 or more, or auto (None: one per CPU)."""
    if value == "auto":
        return None
    if not value.isdigit() or int(value) < 1:
        raise ValueError("give 1 or more (a whole number), or auto (one per CPU)")
    return int(value)


def workers(help: str) -> Setting:
    """``-j/--jobs`` of a command that does its own work in parallel (batch's submissions,
    similarity's fingerprinting): the schema's option, 1 or more or auto, the command's HELP."""
    return dataclasses.replace(SETTINGS["jobs"], parse=at_least_one, default=None, help=help)


def word(value: float) -> str:
    """A number as a command line takes it back: 2 (not 2.0), 0.5, 1e-05."""
    text = repr(float(value))
    return text.removesuffix(".0")


def add_grading(parser: argparse.ArgumentParser, *, session_timeout: float, each: str) -> None:
    """The options that say how each implementation is graded, one definition for ipc-grade and
    ipc-grade batch: --rubric, -k, --deadline-scale, --session-timeout (SESSION_TIMEOUT by
    default, for EACH: "the whole run", "each submission") and --run-as."""
    add(parser, "rubric")
    parser.add_argument("-k", metavar="EXPR", help="grade only the specs matching EXPR (pytest -k)")
    add(parser, "deadline_scale", default=None, note=f"; the environment variable {SETTINGS['deadline_scale'].env} when this is not given")
    add(parser, "session_timeout", default=session_timeout, note=f"(default {word(session_timeout)}, for {each})")
    add(parser, "run_as", default=None)
