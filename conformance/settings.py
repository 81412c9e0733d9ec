"""Every setting of the grader, defined once: its option for ipc-grade and for pytest, its
environment variable, its default, its help text and its validator.

A leaf, like record.py: it imports nothing of the grader, so both the pytest plugins and
ipc-grade (grading/, which may import only this module and record.py of conformance) build their
options from it, and the README's settings table is generated from it
(``python -m conformance.settings README.md``; tests/test_settings.py keeps them in step).

Precedence, lowest first: the default, then the environment variable, then the command-line
option. A bad value says where it came from and what to give instead:

    invalid deadline scale 'abc' from environment variable IPC_DEADLINE_SCALE: give a positive
    number, such as 2 (every deadline twice as long)

The report formats (``--json FILE``, ``--ipc-json FILE``, ...) are not here: each is a format of
the renderers' registry (grading.render.formats.FORMATS), whose options are derived from it the same way.
"""

from __future__ import annotations

import argparse
import math
import os
import pwd
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


class SettingError(ValueError):
    """A value a setting cannot take; the message names the setting, the value, where it came
    from and what to give instead."""


# --- validators: VALUE as given -> the value, or ValueError saying what to give ------------


def positive_number(value: str) -> float:
    try:
        x = float(value)
    except ValueError:
        x = math.nan
    if not (x > 0 and math.isfinite(x)):
        raise ValueError("give a positive number")
    return x


def scale(value: str) -> float:
    try:
        return positive_number(value)
    except ValueError:
        raise ValueError("give a positive number, such as 2 (every deadline twice as long)") from None


def seconds(value: str) -> float:
    try:
        return positive_number(value)
    except ValueError:
        raise ValueError("give a positive number of seconds, such as 600") from None


def jobs(value: str) -> str:
    """A grading's workers: a whole number, 0 or more, or auto (kept as text: pytest -n's)."""
    if value == "auto":
        return value
    if not value.isdigit():
        raise ValueError("give a whole number of workers, 0 or more (0 and 1 mean no extra workers), or auto (one per CPU)")
    return str(int(value))


def run_as(value: str) -> str:
    if value in ("auto", "none") or value.isdigit():
        return value
    try:
        pwd.getpwnam(value)
    except KeyError:
        raise ValueError("no such user; give auto, none, a user name or a numeric user id") from None
    return value


def seed(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ValueError("give a whole number, such as the seed a failure message names") from None


def positive_whole(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise ValueError("give a whole number, 1 or more")
    return int(value)


def schedule_seed(value: str) -> int:
    """A schedule's seed, as a failure names it: a whole number, in hex (0x...) or decimal."""
    try:
        number = int(value, 0)
    except ValueError:
        number = -1
    if not 0 <= number < 1 << 64:
        raise ValueError("give the schedule's seed as its failure names it, such as 0x5d2c9a1e3b0004b")
    return number


def mechanism_name(value: str) -> str:
    """A mechanism's name as the registry spells it (conformance/record.py checks it is one)."""
    if not value.isascii() or not value.isidentifier() or not value.islower():
        raise ValueError("give a mechanism's name, such as fifo (python -m conformance.catalogue lists them)")
    return value


def flag(value: str) -> bool:
    """An environment switch: set and not empty, 0, false or no."""
    return value.strip().lower() not in ("", "0", "false", "no")


def text(value: str) -> str:
    return value


#: The languages the reports are written in (grading/render/locale/, docs/i18n.md): English,
#: the source language, first.
LANGUAGES = ("en", "ko")


def language(value: str) -> str:
    if value not in LANGUAGES:
        raise ValueError(f"give {' or '.join(LANGUAGES)} (the languages the reports are written in)")
    return value


def language_of_locale(environ: Mapping[str, str]) -> str:
    """The language of the locale in ENVIRON, as gettext reads it (the first of LANGUAGE, LC_ALL,
    LC_MESSAGES, LANG that is set): ko for ko_KR.UTF-8 and the like, else en."""
    for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = environ.get(name, "")
        if value:
            first = value.split(":")[0]
            return next((lang for lang in LANGUAGES if first == lang or first.startswith((lang + "_", lang + "."))), "en")
    return "en"


# --- the schema ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Setting:
    name: str
    """The key: argparse's dest, pytest's option name."""
    what: str
    """The value's name in a sentence ("deadline scale")."""
    help: str
    """One help text, for every option and the README's table."""
    parse: Callable[[str], Any]
    default: Any = None
    metavar: str | None = None
    option: str | None = None
    """ipc-grade's option (and its commands' where they take it), or None."""
    pytest_option: str | None = None
    """pytest's option (conformance.plugin or grading.plugin), or None."""
    env: str | None = None
    """The environment variable, or None."""
    switch: bool = False
    """An option that takes no value (store_true)."""
    repeat: bool = False
    """An option given once per value (append)."""
    where: str = ""
    """The module that reads it; for a pytest option, the plugin that registers it
    (conformance.plugin or grading.plugin)."""

    def check(self, value: str, source: str) -> Any:
        """VALUE from SOURCE (such as "--deadline-scale" or "environment variable X"), parsed;
        SettingError says what is wrong."""
        try:
            return self.parse(value)
        except ValueError as exc:
            raise SettingError(f"invalid {self.what} {value!r} from {source}: {exc}") from None

    def from_env(self, environ: Mapping[str, str] | None = None) -> Any:
        """The environment's value (parsed), or the default when the variable is not set."""
        environ = os.environ if environ is None else environ
        if self.env is None or self.env not in environ:
            return self.default
        return self.check(environ[self.env], f"environment variable {self.env}")

    def resolve(self, given: str | None, source: str | None = None, environ: Mapping[str, str] | None = None) -> Any:
        """The value by the precedence above: GIVEN (the command line's, from SOURCE), else the
        environment's, else the default."""
        if given is not None:
            return self.check(given, source or self.option or self.pytest_option or self.name)
        return self.from_env(environ)

    def argtype(self) -> Callable[[str], Any]:
        """An argparse type: a bad value is a usage error that names the option and what to give."""

        def parse(value: str) -> Any:
            try:
                return self.parse(value)
            except ValueError as exc:
                raise argparse.ArgumentTypeError(f"{value!r}: {exc}") from None

        parse.__name__ = self.what
        return parse

    def argparse_kwargs(self) -> dict[str, Any]:
        """What ``parser.add_argument(setting.option, **...)`` takes."""
        if self.switch:
            return {"action": "store_true", "dest": self.name, "help": self.help}
        out: dict[str, Any] = {"dest": self.name, "metavar": self.metavar, "help": self.help, "type": self.argtype()}
        if self.repeat:
            out.update(action="append", default=[])
        return out

    def pytest_kwargs(self) -> dict[str, Any]:
        """What pytest's ``group.addoption(setting.pytest_option, **...)`` takes (values stay
        text there; the plugin checks them with ``resolve``, naming the option)."""
        if self.switch:
            return {"action": "store_true", "dest": self.name, "default": False, "help": self.help}
        out: dict[str, Any] = {"dest": self.name, "metavar": self.metavar, "help": self.help, "default": None}
        if self.repeat:
            out.update(action="append", default=[])
        return out


SETTINGS: dict[str, Setting] = {
    s.name: s
    for s in (
        Setting(
            "impl", "implementation directory",
            "grade the implementation in directory PATH (it holds ipc.toml) against the IPC conformance specs; "
            "only the specs are collected",
            text, metavar="PATH", pytest_option="--impl", where="conformance.plugin",
        ),
        Setting(
            "deadline_scale", "deadline scale",
            "multiply every deadline by FACTOR, a positive number, on a slow machine (default 1)",
            scale, default=1.0, metavar="FACTOR", option="--deadline-scale", pytest_option="--deadline-scale",
            env="IPC_DEADLINE_SCALE", where="conformance.plugin",
        ),
        Setting(
            "run_as", "run-as user",
            "who the implementation's programs run as: auto (default: an unprivileged user id of their own per "
            "grading process when the grader is root, else the grader's user), none, or a user name or id",
            run_as, default="auto", metavar="USER", option="--run-as", pytest_option="--run-as",
            where="conformance.plugin",
        ),
        Setting(
            "rubric", "rubric",
            "grade by the rubric in FILE (docs/rubric.md): only the specs it selects run, with its points, "
            "visibility, required flags and hints",
            text, metavar="FILE", option="--rubric", pytest_option="--rubric", where="grading.plugin",
        ),
        Setting(
            "lang", "language",
            "write the reports in LANG: en or ko (default: the rubric's language, else the locale's, from "
            "LANGUAGE, LC_ALL, LC_MESSAGES or LANG; docs/i18n.md)",
            language, metavar="LANG", option="--lang", pytest_option="--ipc-lang", where="grading.plugin",
        ),
        Setting(
            "show_hidden", "show-hidden switch",
            "write instructors' reports: hidden specs' details included (students' reports never show them; "
            "Gradescope's applies visibility itself)",
            flag, default=False, option="--show-hidden", pytest_option="--ipc-show-hidden", switch=True,
            where="grading.plugin",
        ),
        Setting(
            "live", "live switch",
            "print what happens in each spec as it happens (the timeline: programs started, bytes written, signals, "
            "what each process sleeps in, exits): for watching one spec",
            flag, default=False, pytest_option="--ipc-live", switch=True, where="conformance.plugin",
        ),
        Setting(
            "spec", "spec id",
            "grade only the spec ID (such as pipe.eof-on-close; repeat for more): unlike -k, an ID that names no "
            "spec is an error",
            text, metavar="ID", pytest_option="--ipc-spec", repeat=True, where="conformance.plugin",
        ),
        Setting(
            "mechanism", "mechanism",
            "grade only the specs of MECHANISM (such as fifo; repeat for more): exactly its own, where -k fifo "
            "also matches buffer.fifo-order and msgq.fifo-within-type",
            mechanism_name, metavar="MECHANISM", option="--mechanism", pytest_option="--ipc-mechanism", repeat=True,
            where="conformance.plugin",
        ),
        Setting(
            "jobs", "number of workers",
            "parallel workers (pytest-xdist -n; default auto: one per CPU this process may use, cgroup quota and "
            "affinity counted; 0 or 1: none)",
            jobs, default="auto", metavar="N", option="--jobs", where="grading.cli",
        ),
        Setting(
            "session_timeout", "session timeout",
            "give up on the grading after SECONDS, keeping every verdict reached",
            seconds, metavar="SECONDS", option="--session-timeout", where="grading.cli.session",
        ),
        Setting(
            "seed", "perturbation seed",
            "replay a seeded perturbation (the buffer's exchange under a grader-held mutex): the seed a failure "
            "message names; by default each spec derives its own from the submission",
            seed, env="IPC_SEED", where="conformance.specs.support.strategies",
        ),
        Setting(
            "schedule", "schedule seed",
            "replay one schedule of the specs that control how your processes interleave (docs/schedules.md): "
            "the seed a failure names; by default each such spec explores its own schedules",
            schedule_seed, metavar="SEED", option="--schedule", pytest_option="--ipc-schedule", env="IPC_SCHEDULE",
            where="conformance.plugin",
        ),
        Setting(
            "schedules", "schedule budget",
            "how many schedules each spec that controls how your processes interleave explores (default: each "
            "spec's own, calibrated from the mutants: docs/schedules.md)",
            positive_whole, env="IPC_SCHEDULES", metavar="N", where="conformance.run.schedule.control",
        ),
        Setting(
            "cache", "programs' Python cache",
            "where the programs' own Python is built and kept (default /var/cache/ipc-grade as root, else "
            "~/.cache/ipc-grade)",
            text, env="IPC_GRADE_CACHE", metavar="DIR", where="conformance.run.runtime",
        ),
        Setting(
            "no_namespaces", "no-namespaces switch",
            "never move a run into private IPC and network namespaces, even where the grader may (for comparing "
            "with a machine that cannot)",
            flag, default=False, env="IPC_GRADE_NO_NAMESPACES", where="conformance.run.isolation",
        ),
        Setting(
            "no_color", "no-colour switch",
            "no colour in the terminal report (https://no-color.org)",
            lambda value: value != "", default=False, env="NO_COLOR", where="grading.render.terminal",
        ),
    )
}


def get(name: str) -> Setting:
    return SETTINGS[name]


def markdown() -> str:
    """The README's table: every setting, where it is given, its default and what it does."""
    lines = ["| setting | ipc-grade | pytest | environment | default | what it does |", "| --- | --- | --- | --- | --- | --- |"]
    for s in SETTINGS.values():
        cell = lambda x: f"`{x}`" if x else ""  # noqa: E731
        default = "" if s.default in (None, False) else f"`{s.default:g}`" if isinstance(s.default, float) else f"`{s.default}`"
        lines.append(f"| {s.what} | {cell(s.option)} | {cell(s.pytest_option)} | {cell(s.env)} | {default} | {s.help} |")
    return "\n".join(lines) + "\n"


BEGIN = "<!-- settings table: generated by `python -m conformance.settings README.md` -->"
END = "<!-- end of settings table -->"


def with_table(text: str) -> str:
    """TEXT with the table between its markers replaced by the current one."""
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    return text[:start] + "\n" + markdown() + text[end:]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args:
        sys.stdout.write(markdown())
        return 0
    from pathlib import Path

    path = Path(args[0])
    path.write_text(with_table(path.read_text(encoding="utf-8")), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
