"""Rubrics: which specs a course grades, for how many points, who sees them, which are required.

A rubric is a TOML file (docs/rubric.md). Loading one checks it against the spec catalogue
(the specs' own ``spec`` markers, passed in by the caller) and resolves every selected spec to
its final points, visibility, ``required`` flag and hint. Applying it to a run record is a pure
transformation; nothing here imports pytest.

    rubric = load("course.toml", catalogue)       # RubricError names the line and the fix
    record = rubric.apply(record)
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import math
import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from conformance.record import MECHANISMS, STATUS, VISIBILITIES, RunRecord
from conformance.settings import LANGUAGES


def points(value: float) -> str:
    """Points as people write them: 3, 2.5, 5.26 (every report and note writes them so)."""
    return f"{round(value, 2):g}"


@dataclass(frozen=True)
class SpecInfo:
    """What a rubric needs to know about a spec: an entry of the grader's catalogue."""

    id: str
    mechanism: str
    points: float
    hint: str = ""
    title: str = ""

    @classmethod
    def of(cls, entry: Mapping[str, Any]) -> SpecInfo:
        """From a catalogue entry (``python -m conformance.catalogue --json``, the
        ``pytest_ipc_catalogue`` hook)."""
        return cls(str(entry["id"]), str(entry["mechanism"]), float(entry["points"]), str(entry.get("hint", "")), str(entry.get("title", "")))


#: What a broken spec (the grader failed on it twice) counts as: 0 points in the maximum, the
#: default, which no submission can turn to its profit; or left out of the maximum, as an
#: unsupported spec is (the instructor's choice: the rest then share a total).
BROKEN_POLICIES = ("count", "exclude")


class RubricError(ValueError):
    """A rubric that cannot be used; the message lists every problem with its line and fix."""


TOP_KEYS = {
    "title": "a name for the rubric, shown in reports",
    "mechanisms": "the mechanisms whose specs are graded, such as [\"pipe\", \"msgq\"]",
    "total": "the total to scale all points to, such as 100",
    "visibility": f"the default visibility: {', '.join(VISIBILITIES)}",
    "required": "true to require every selected spec to pass",
    "mechanism": "per-mechanism settings, as [mechanism.pipe]",
    "spec": "per-spec settings, as [spec.\"pipe.eof-on-close\"]",
    "late": "the late policy, as [late] with due and penalty_per_day",
    "submission_limit": "on Gradescope, the submissions that count (later ones are graded for feedback and keep the last counted score)",
    "broken": f"what a spec the grader could not judge counts as: {' or '.join(repr(b) for b in BROKEN_POLICIES)}",
    "language": f"the language of the reports: {' or '.join(repr(lang) for lang in LANGUAGES)} (docs/i18n.md)",
}
LATE_KEYS = {
    "due": "the due date with its UTC offset, such as 2026-03-01T23:59:00-05:00 (on Gradescope, leave it out to use the assignment's)",
    "penalty_per_day": "the percent of the score taken for each day, or part of one, after the due date (0 to 100)",
    "max_days": "past this many days late the score is 0 (a whole number, 1 or more)",
    "grace_minutes": "minutes after the due date that do not count as late (0 or more)",
}
MECHANISM_KEYS = {
    "points": "the points the mechanism's specs are worth together",
    "visibility": f"the visibility of its specs: {', '.join(VISIBILITIES)}",
    "required": "true to require each of its specs to pass",
}
SPEC_KEYS = {
    "points": "the spec's points (0 or more)",
    "visibility": f"its visibility: {', '.join(VISIBILITIES)}",
    "required": "true when the spec must pass (ipc-grade --check-required)",
    "hint": "the hint shown when it fails (replaces the spec's own)",
    "grade": "false to leave the spec out",
}


@dataclass(frozen=True)
class Rule:
    """How the rubric grades one spec."""

    id: str
    points: float
    visibility: str = "visible"
    required: bool = False
    hint: str | None = None
    """Replaces the spec's own hint when set."""


@dataclass(frozen=True)
class LatePolicy:
    """A penalty per day late: PENALTY_PER_DAY percent of the score for each day, or part of
    one, after DUE (plus GRACE_MINUTES); past MAX_DAYS days the score is 0."""

    penalty_per_day: float
    due: dt.datetime | None = None
    """Aware (it has a UTC offset); None: the platform's due date (Gradescope's metadata)."""
    max_days: int | None = None
    grace_minutes: float = 0.0

    def describe(self) -> dict[str, Any]:
        return {
            "due": self.due.isoformat() if self.due else None,
            "penalty_per_day": self.penalty_per_day,
            "max_days": self.max_days,
            "grace_minutes": self.grace_minutes,
        }

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> LatePolicy:
        """From describe()'s dict (the run record's meta rubric.late); ValueError if malformed."""
        due = data.get("due")
        return cls(
            penalty_per_day=float(data["penalty_per_day"]),
            due=parse_time(due) if due else None,
            max_days=int(data["max_days"]) if data.get("max_days") is not None else None,
            grace_minutes=float(data.get("grace_minutes") or 0.0),
        )

    def days_late(self, submitted: dt.datetime, due: dt.datetime | None = None) -> int:
        """Whole days late, a part of a day counting as one: 0 when on time (or in the grace)."""
        due = due or self.due
        if due is None:
            raise ValueError("no due date: the rubric's [late] has none and the platform gave none")
        over = (submitted - due).total_seconds() - self.grace_minutes * 60
        return 0 if over <= 0 else math.ceil(over / 86400)

    def penalty_percent(self, days: int) -> float:
        """The percent of the score taken for DAYS days late."""
        if days <= 0:
            return 0.0
        if self.max_days is not None and days > self.max_days:
            return 100.0
        return min(100.0, days * self.penalty_per_day)


def parse_time(value: Any) -> dt.datetime:
    """An aware datetime from a TOML offset datetime or an ISO 8601 string with its offset
    (``Z`` for UTC); ValueError says what is missing."""
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            moment = dt.datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"{value!r} is not an ISO 8601 date and time, such as 2026-03-01T23:59:00-05:00") from None
    else:
        raise ValueError(f"{value!r} is not a date and time, such as 2026-03-01T23:59:00-05:00")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{value!s} has no UTC offset: add one, such as {moment.isoformat(timespec='minutes')}-05:00 or Z for UTC")
    return moment


@dataclass
class Rubric:
    path: str
    title: str
    sha256: str
    total: float | None
    rules: dict[str, Rule] = field(default_factory=dict)
    """Every selected spec, in catalogue order."""
    warnings: list[str] = field(default_factory=list)
    """Settings that have no effect (say so, but grade)."""
    late: LatePolicy | None = None
    """The late policy ([late]), applied where the submission time is known (late.py)."""
    submission_limit: int | None = None
    """On Gradescope: how many submissions count (late.py)."""
    broken: str = "count"
    """What a broken spec counts as (BROKEN_POLICIES)."""
    language: str = ""
    """The reports' language (LANGUAGES), or "" for --lang, else the locale's (render/i18n.py)."""

    def selects(self, spec_id: str) -> bool:
        return spec_id in self.rules

    @property
    def max_points(self) -> float:
        return round(sum(r.points for r in self.rules.values()), 6)

    def describe(self) -> dict[str, Any]:
        """The rubric as the run record names it (meta ``rubric``)."""
        return {
            "title": self.title,
            "file": Path(self.path).name,
            "sha256": self.sha256,
            "total": self.total,
            "specs": len(self.rules),
            "required": sorted(i for i, r in self.rules.items() if r.required),
            **({"late": self.late.describe()} if self.late else {}),
            **({"submission_limit": self.submission_limit} if self.submission_limit else {}),
            "broken": self.broken,
            **({"language": self.language} if self.language else {}),
        }

    def apply(self, record: RunRecord) -> RunRecord:
        """RECORD graded by this rubric: only its specs, with its points, visibility and hints.

        With a ``total``, the specs that count share it: where this machine cannot judge a spec
        (unsupported: Docker's capabilities make no network namespace), the others' points are
        scaled up to the total, so correct work gets the total in every environment, and a
        platform that only knows the total (Gradescope, an LMS) shows a fair score."""
        ruled = [(s, self.rules[s.id]) for s in record.specs if s.id in self.rules]
        points = {s.id: rule.points for s, rule in ruled}
        dropped = {s.id for s, _ in ruled if s.status == "broken" and self.broken == "exclude"}
        counted = [s.id for s, _ in ruled if STATUS[s.status].counted and s.id not in dropped] if record.error is None else []
        worth = sum(points[i] for i in counted)
        rescaled = self.total is not None and counted and 0 < worth < self.total - 1e-9
        if rescaled:
            points.update(_rounded({i: points[i] * self.total / worth for i in counted}, self.total))
        points.update(dict.fromkeys(dropped, 0.0))  # out of the maximum, as the rubric says
        specs = [
            replace(
                s,
                max_points=points[s.id],
                points=points[s.id] if s.status == "passed" else 0.0,
                visibility=rule.visibility,
                required=rule.required,
                hint=s.hint if rule.hint is None else rule.hint,
            )
            for s, rule in ruled
        ]
        meta = {**record.meta, "rubric": self.describe(), **({"language": self.language} if self.language else {})}
        if rescaled:
            left = sorted(s.id for s, _ in ruled if s.id not in counted)
            meta["rubric"]["rescaled"] = (
                f"{', '.join(left)} could not be judged and {'does' if len(left) == 1 else 'do'} not count: "
                f"the other specs share the rubric's total of {self.total:g} points"
            )
        return RunRecord(implementation=dict(record.implementation), specs=specs, error=record.error, meta=meta)


# --- loading -------------------------------------------------------------------------------


def load(path: str | os.PathLike[str], catalogue: Iterable[SpecInfo]) -> Rubric:
    """The rubric in PATH, checked against CATALOGUE; RubricError lists every problem."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise RubricError(f"rubric {path}: no such file; check the path given to --rubric") from None
    except OSError as exc:
        raise RubricError(f"rubric {path}: cannot read it ({exc.strerror})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise RubricError(f"rubric {path}: not UTF-8 text; save it as UTF-8") from None
    return loads(text, catalogue, source=str(path), sha256=hashlib.sha256(raw).hexdigest())


def loads(text: str, catalogue: Iterable[SpecInfo], *, source: str = "rubric", sha256: str | None = None) -> Rubric:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RubricError(f"{source}: not valid TOML ({exc}); fix the syntax there") from None
    lines = KeyLines(text)
    problems = _Problems(source, lines)
    specs = {s.id: s for s in catalogue}

    # keys and types, top down
    _check_keys(problems, data, TOP_KEYS, ())
    title = _typed(problems, data, "title", str, ("title",), "a string in quotes") or Path(source).stem
    total = _number(problems, data, "total", ("total",), positive=True)
    default_vis = _visibility(problems, data, ("visibility",)) or "visible"
    default_req = _typed(problems, data, "required", bool, ("required",), "true or false") or False

    mechanisms = list(MECHANISMS)
    if "mechanisms" in data:
        value = data["mechanisms"]
        if not isinstance(value, list) or not all(isinstance(m, str) for m in value):
            problems.add(("mechanisms",), "'mechanisms' must be a list of mechanism names", f"write it as mechanisms = [\"pipe\", \"msgq\"]; the mechanisms are {', '.join(MECHANISMS)}")
            mechanisms = []
        else:
            mechanisms = []
            for m in value:
                if m not in MECHANISMS:
                    problems.add(("mechanisms",), f"unknown mechanism {m!r} in 'mechanisms'", f"{_suggest(m, list(MECHANISMS))}the mechanisms are {', '.join(MECHANISMS)}")
                elif m not in mechanisms:
                    mechanisms.append(m)

    mech_tables = _table(problems, data, "mechanism", ("mechanism",), "[mechanism.pipe]")
    mech_settings: dict[str, dict[str, Any]] = {}
    for name, table in mech_tables.items():
        where = ("mechanism", name)
        if name not in MECHANISMS:
            problems.add(where, f"[mechanism.{name}] names an unknown mechanism", f"{_suggest(name, list(MECHANISMS))}the mechanisms are {', '.join(MECHANISMS)}")
            continue
        if not isinstance(table, dict):
            problems.add(where, f"mechanism.{name} must be a table", f"write it as [mechanism.{name}]")
            continue
        if name not in mechanisms:
            problems.add(where, f"[mechanism.{name}] configures {name}, which 'mechanisms' does not select", f"add \"{name}\" to mechanisms, or remove the table")
        _check_keys(problems, table, MECHANISM_KEYS, where)
        mech_settings[name] = {
            "points": _number(problems, table, "points", (*where, "points"), positive=True),
            "visibility": _visibility(problems, table, (*where, "visibility")),
            "required": _typed(problems, table, "required", bool, (*where, "required"), "true or false"),
        }

    spec_tables = _table(problems, data, "spec", ("spec",), "[spec.\"pipe.eof-on-close\"]")
    spec_settings: dict[str, dict[str, Any]] = {}
    for spec_id, table in spec_tables.items():
        where = ("spec", spec_id)
        if spec_id not in specs:
            problems.add(where, f"unknown spec id {spec_id!r}", f"{_suggest(spec_id, list(specs))}`python -m conformance.catalogue` lists every spec id")
            continue
        if not isinstance(table, dict):
            problems.add(where, f"spec.\"{spec_id}\" must be a table", f"write it as [spec.\"{spec_id}\"]")
            continue
        _check_keys(problems, table, SPEC_KEYS, where)
        spec_settings[spec_id] = {
            "points": _number(problems, table, "points", (*where, "points"), positive=False),
            "visibility": _visibility(problems, table, (*where, "visibility")),
            "required": _typed(problems, table, "required", bool, (*where, "required"), "true or false"),
            "hint": _typed(problems, table, "hint", str, (*where, "hint"), "a string in quotes"),
            "grade": _typed(problems, table, "grade", bool, (*where, "grade"), "true or false"),
        }
    late = _late(problems, data)
    broken = data.get("broken", "count")
    if broken not in BROKEN_POLICIES:
        problems.add(("broken",), f"'broken' must be one of {', '.join(repr(b) for b in BROKEN_POLICIES)}, not {broken!r}", 'write it as broken = "exclude", or remove it (the default, "count")')
    limit = _typed(problems, data, "submission_limit", int, ("submission_limit",), "a whole number")
    if isinstance(limit, bool) or (limit is not None and limit < 1):
        problems.add(("submission_limit",), f"'submission_limit' must be 1 or more, not {limit!r}", "write it as submission_limit = 5, or remove it")
        limit = None
    language = data.get("language", "")
    if language not in ("", *LANGUAGES):
        problems.add(("language",), f"'language' must be one of {', '.join(map(repr, LANGUAGES))}, not {language!r}", 'write it as language = "ko", or remove it')
    problems.raise_if_any()

    # selection, then points: the spec's own, a spec table's, a mechanism's total, the total
    selected = [
        s
        for s in specs.values()
        if (s.mechanism in mechanisms or s.id in spec_settings) and spec_settings.get(s.id, {}).get("grade") is not False
    ]
    if not selected:
        where = ("mechanisms",) if "mechanisms" in data else ()
        problems.add(where, "the rubric selects no spec", "list mechanisms that have specs (`python -m conformance.catalogue` lists them), or add [spec.\"ID\"] tables")
        problems.raise_if_any()
    warnings: list[str] = []
    points = {}
    for s in selected:
        own = spec_settings.get(s.id, {}).get("points")
        points[s.id] = float(s.points if own is None else own)
    for name, settings in mech_settings.items():
        if settings["points"] is None:
            continue
        ids = [s.id for s in selected if s.mechanism == name]
        worth = sum(points[i] for i in ids)
        if not ids:
            line = lines.line_of(("mechanism", name, "points"))
            warnings.append(
                f"{source}{f', line {line}' if line else ''}: mechanism.{name}.points is ignored: "
                f"this grader has no {name} specs yet (or the rubric leaves them all out)"
            )
        elif worth == 0:
            problems.add(("mechanism", name, "points"), f"mechanism.{name}.points cannot be shared among specs worth 0 points", "give some of them points")
        else:
            for i in ids:
                points[i] = points[i] * settings["points"] / worth
    if total is not None:
        worth = sum(points.values())
        if worth == 0:
            problems.add(("total",), "'total' cannot be shared among specs worth 0 points", "give some specs points, or remove 'total'")
        else:
            points = {i: p * total / worth for i, p in points.items()}
    problems.raise_if_any()

    points = _rounded(points, total if total is not None else None)
    rules = {}
    for s in selected:
        own = spec_settings.get(s.id, {})
        mech = mech_settings.get(s.mechanism, {})
        visibility = own.get("visibility") or mech.get("visibility") or default_vis
        required = _first(own.get("required"), mech.get("required"), default_req)
        rules[s.id] = Rule(s.id, points[s.id], visibility, bool(required), own.get("hint"))
    return Rubric(path=source, title=title, sha256=sha256 or hashlib.sha256(text.encode()).hexdigest(), total=total, rules=rules,
                  warnings=warnings, late=late, submission_limit=limit, broken=broken, language=language)


def _late(problems: _Problems, data: Mapping[str, Any]) -> LatePolicy | None:
    """The [late] table as a policy; its problems, each with its line and fix."""
    if "late" not in data:
        return None
    table = data["late"]
    if not isinstance(table, dict):
        problems.add(("late",), "'late' must be a table", "write it as [late] with due = 2026-03-01T23:59:00-05:00 and penalty_per_day = 10")
        return None
    _check_keys(problems, table, LATE_KEYS, ("late",))
    ok = True
    due = None
    if "due" in table:
        try:
            due = parse_time(table["due"])
        except ValueError as exc:
            problems.add(("late", "due"), f"late.due: {exc}", "write it as due = 2026-03-01T23:59:00-05:00 (a TOML date-time with its offset)")
            ok = False
    penalty = _number(problems, table, "penalty_per_day", ("late", "penalty_per_day"), positive=False)
    if "penalty_per_day" not in table:
        problems.add(("late",), "[late] has no penalty_per_day", "add penalty_per_day = 10 (percent of the score per day late)")
        ok = False
    elif penalty is None:
        ok = False
    elif penalty > 100:
        problems.add(("late", "penalty_per_day"), f"late.penalty_per_day is {penalty:g}, more than 100 percent", "give a percent from 0 to 100")
        ok = False
    max_days = table.get("max_days")
    if max_days is not None and (isinstance(max_days, bool) or not isinstance(max_days, int) or max_days < 1):
        problems.add(("late", "max_days"), f"late.max_days must be a whole number of days, 1 or more, not {max_days!r}", "write it as max_days = 5, or remove it")
        ok = False
    grace = _number(problems, table, "grace_minutes", ("late", "grace_minutes"), positive=False) if "grace_minutes" in table else 0.0
    if grace is None:
        ok = False
    if not ok:
        return None
    return LatePolicy(penalty_per_day=float(penalty), due=due, max_days=max_days, grace_minutes=float(grace))


def _rounded(points: dict[str, float], total: float | None) -> dict[str, float]:
    """POINTS to 4 decimals; when they must add up to TOTAL, the largest absorbs the rounding."""
    out = {i: round(p, 4) for i, p in points.items()}
    if total is not None and out:
        largest = max(out, key=lambda i: (out[i], i))
        out[largest] = round(out[largest] + total - sum(out.values()), 4)
    return out


def _first(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


def _suggest(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1)
    return f"did you mean {close[0]!r}? " if close else ""


class _Problems:
    def __init__(self, source: str, lines: KeyLines) -> None:
        self.source = source
        self.lines = lines
        self.items: list[tuple[int, str]] = []

    def add(self, key: tuple[str, ...], problem: str, fix: str) -> None:
        line = self.lines.line_of(key)
        where = f"{self.source}, line {line}" if line else self.source
        self.items.append((line or 0, f"{where}: {problem}; {fix}"))

    def raise_if_any(self) -> None:
        if self.items:
            lines = [text for _, text in sorted(self.items, key=lambda t: t[0])]
            raise RubricError("bad rubric:\n  " + "\n  ".join(lines))


def _check_keys(problems: _Problems, table: Mapping[str, Any], known: Mapping[str, str], where: tuple[str, ...]) -> None:
    for key in table:
        if key not in known:
            place = f"[{'.'.join(_quote(k) for k in where)}]" if where else "the top level"
            problems.add(
                (*where, key),
                f"unknown key {key!r} in {place}",
                f"{_suggest(key, list(known))}the keys there are: " + "; ".join(f"{k} ({d})" for k, d in known.items()),
            )


def _quote(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else f'"{key}"'


def _typed(problems: _Problems, table: Mapping[str, Any], key: str, kind: type, where: tuple[str, ...], what: str) -> Any:
    if key not in table:
        return None
    value = table[key]
    if not isinstance(value, kind):
        problems.add(where, f"'{'.'.join(where)}' must be {what}, not {value!r}", f"write it as {key} = {_example(kind)}")
        return None
    return value


def _example(kind: type) -> str:
    return {str: '"..."', bool: "true", float: "2"}.get(kind, "...")


def _number(problems: _Problems, table: Mapping[str, Any], key: str, where: tuple[str, ...], *, positive: bool) -> float | None:
    if key not in table:
        return None
    value = table[key]
    name = ".".join(where)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or value in (float("inf"), float("-inf")):
        problems.add(where, f"'{name}' must be a number, not {value!r}", f"write it as {key} = 2")
        return None
    if value < 0:
        problems.add(where, f"'{name}' is negative ({value:g})", f"points are 0 or more: write {key} = {abs(value):g}, or leave the spec out with grade = false")
        return None
    if positive and value == 0:
        problems.add(where, f"'{name}' is 0", f"give a positive number, or remove {key}")
        return None
    return float(value)


def _visibility(problems: _Problems, table: Mapping[str, Any], where: tuple[str, ...]) -> str | None:
    key = where[-1]
    if key not in table:
        return None
    value = table[key]
    if value not in VISIBILITIES:
        problems.add(
            where,
            f"unknown visibility {value!r} for '{'.'.join(where)}'",
            f"{_suggest(str(value), list(VISIBILITIES))}use one of {', '.join(repr(v) for v in VISIBILITIES)} (Gradescope's values)",
        )
        return None
    return value


def _table(problems: _Problems, data: Mapping[str, Any], key: str, where: tuple[str, ...], example: str) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        problems.add(where, f"'{key}' must be a table", f"write it as {example}")
        return {}
    return value


# --- where a key is: tomllib gives no line numbers -----------------------------------------

_BARE = r"[A-Za-z0-9_-]+"
_BASIC = r'"(?:[^"\\]|\\.)*"'
_LITERAL = r"'[^']*'"
_KEY = rf"(?:{_BARE}|{_BASIC}|{_LITERAL})"
_DOTTED = rf"{_KEY}(?:\s*\.\s*{_KEY})*"
_HEADER = re.compile(rf"^\s*(\[\[?)\s*({_DOTTED})\s*\]\]?")
_ASSIGN = re.compile(rf"^\s*({_DOTTED})\s*=")
_PART = re.compile(_KEY)


def _split_key(dotted: str) -> tuple[str, ...]:
    parts = []
    for m in _PART.finditer(dotted):
        token = m.group(0)
        if token.startswith('"'):
            token = tomllib.loads(f"k = {token}")["k"]
        elif token.startswith("'"):
            token = token[1:-1]
        parts.append(token)
    return tuple(parts)


class KeyLines:
    """Line numbers of a TOML document's tables and keys, found from its text."""

    def __init__(self, text: str) -> None:
        self.lines: dict[tuple[str, ...], int] = {}
        table: tuple[str, ...] = ()
        in_string: str | None = None
        for number, line in enumerate(text.splitlines(), start=1):
            if in_string:
                if line.count(in_string) % 2 == 1:
                    in_string = None
                continue
            header = _HEADER.match(line)
            if header:
                table = _split_key(header.group(2))
                self.lines.setdefault(table, number)
                continue
            assign = _ASSIGN.match(line)
            if assign:
                self.lines.setdefault(table + _split_key(assign.group(1)), number)
                rest = line[assign.end() :]
                for quote in ('"""', "'''"):
                    if rest.count(quote) % 2 == 1:
                        in_string = quote
                        break

    def line_of(self, key: tuple[str, ...]) -> int | None:
        """The line of KEY, or of the nearest enclosing table or key that has one."""
        for n in range(len(key), 0, -1):
            if key[:n] in self.lines:
                return self.lines[key[:n]]
        return None
