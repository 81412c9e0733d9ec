"""The reports' language: gettext catalogues (locale/), chosen per record, and Korean particles.

English is the source language: every string a report shows is written in English in the code
(or in a spec's docstring and hint) and looked up in the catalogue of the record's language
(``meta["language"]``, set where the reports are written: ``--lang``, the rubric's
``language``, the locale). The record itself stays language-neutral (ids, statuses, values),
so any format can be rendered again in the other language (``rendered_in``).

    t = i18n.of(record)
    t._("Total: %(total)s", total="3/5")
    t.ngettext("%(n)d spec", "%(n)d specs", n)           # n is a placeholder of its own
    t.title(spec), t.hint(spec)                           # a spec's title and hint, by its id

Placeholders are named (``%(name)s``), never pasted into the text before it is translated; a
Korean translation writes the particle after a placeholder in both forms, as Korean software
does (``%(name)s을(를)``), and ``particles`` picks the one that agrees with the value (the
rule: docs/i18n.md). Only the standard library's gettext reads the compiled catalogues (.mo)
at run time; Babel extracts, updates and compiles them (scripts/i18n.py).
"""

from __future__ import annotations

import dataclasses
import functools
import gettext
import os
import re
import unicodedata
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from conformance.record import RunRecord
from conformance.settings import LANGUAGES, language_of_locale

__all__ = ["DOMAIN", "LANGUAGES", "LOCALE_DIR", "N_", "Translator", "choose", "final_consonant", "language_of", "localized", "of", "particles", "rendered_in", "translator"]

DOMAIN = "ipc_grade"
LOCALE_DIR = Path(__file__).parent / "locale"


# --- Korean particles ----------------------------------------------------------------------

#: The final consonant (jongseong) of Hangul syllable U+AC00 + 28 * k + j is JONGSEONG[j].
JONGSEONG = " ㄱㄲㄳㄴㄵㄶㄷㄹㄺㄻㄼㄽㄾㄿㅀㅁㅂㅄㅅㅆㅇㅈㅊㅋㅌㅍㅎ"
#: A digit as Korean reads a number's last digit (일, 이, 삼, ...): its final consonant or "".
#: A number ending in 0 ends in 십, 백, 천, 만 or 영: all with one.
DIGIT_FINAL = {"0": "ㅇ", "1": "ㄹ", "2": "", "3": "ㅁ", "4": "", "5": "", "6": "ㄱ", "7": "ㄹ", "8": "ㄹ", "9": ""}
#: A Latin word (a call, a signal, a file name) as Korean reads its last letter inside a word:
#: -l as ㄹ (SIGKILL 시그킬, signal 시그널), -m and -n with a final consonant (shm 에스에이치엠,
#: open 오픈), -ng as ㅇ; every other letter without one (read 리드, pipe 파이프, server 서버).
LATIN_FINAL = {"l": "ㄹ", "m": "ㅁ", "n": "ㄴ"}
#: Each particle pair: the form after a final consonant, the form after none. 으로/로 also
#: takes 로 after ㄹ.
PAIRS = {"을": ("을", "를"), "를": ("을", "를"), "이": ("이", "가"), "가": ("이", "가"), "은": ("은", "는"), "는": ("은", "는"),
         "과": ("과", "와"), "와": ("과", "와"), "으로": ("으로", "로"), "로": ("으로", "로")}
_PARTICLE = re.compile(r"%\((\w+)\)([sd])(을\(를\)|를\(을\)|이\(가\)|가\(이\)|은\(는\)|는\(은\)|과\(와\)|와\(과\)|\(으\)로|으로\(로\))")


def final_consonant(word: str) -> str | None:
    """The final consonant Korean hears at the end of WORD ("" for none), read by the rule
    above: a Hangul syllable's own, a digit's Korean reading, a Latin letter's; None when the
    last character that counts (brackets, quotes and closing punctuation are skipped) is none of
    these."""
    text = unicodedata.normalize("NFC", str(word)).rstrip(" )]}>'\"`’”.,:;!?")
    if not text:
        return None
    last = text[-1]
    if "가" <= last <= "힣":
        return JONGSEONG[(ord(last) - ord("가")) % 28].strip()
    if last in DIGIT_FINAL:
        return DIGIT_FINAL[last]
    if last.isascii() and last.isalpha():
        lower = text.lower()
        if lower.endswith("ng"):
            return "ㅇ"
        if len(text) == 1 or not text[-2].isalpha():  # a letter on its own is read by its name: 엘, 엠, 엔, 알
            return {"l": "ㄹ", "m": "ㅁ", "n": "ㄴ", "r": "ㄹ"}.get(lower[-1], "")
        return LATIN_FINAL.get(lower[-1], "")
    return None


def particle(word: str, written: str) -> str:
    """The particle of WRITTEN (both forms, as a translation writes it: 을(를), 이(가), (으)로)
    that agrees with WORD; both forms as written when the rule cannot read WORD."""
    final = final_consonant(word)
    if final is None:
        return written
    first = written.replace("(", " ").replace(")", " ").split()[0]
    key = "으로" if "로" in written else first
    with_final, without = PAIRS[key]
    if key == "으로":
        return without if final in ("", "ㄹ") else with_final
    return with_final if final else without


def particles(template: str, values: Mapping[str, Any]) -> str:
    """TEMPLATE (a translation) with each particle written after a placeholder in both forms
    replaced by the one that agrees with that placeholder's value."""
    return _PARTICLE.sub(lambda m: f"%({m[1]}){m[2]}" + (particle(str(values[m[1]]), m[3]) if m[1] in values else m[3]), template)


# --- translators ---------------------------------------------------------------------------


class Translator:
    """The catalogue of one language; English (the source language) translates to itself."""

    def __init__(self, language: str) -> None:
        self.language = language
        self._catalogue: gettext.NullTranslations = (
            gettext.NullTranslations() if language == "en" else gettext.translation(DOMAIN, LOCALE_DIR, [language], fallback=True)
        )

    def _fill(self, text: str, values: Mapping[str, Any]) -> str:
        if not values:
            return text
        return particles(text, values) % values

    def _(self, message: str, **values: Any) -> str:
        """MESSAGE translated, its placeholders filled with VALUES."""
        return self._fill(self._catalogue.gettext(message), values)

    def ngettext(self, singular: str, plural: str, n: int, **values: Any) -> str:
        """The form for N (the language's plural rule), with N as ``%(n)d`` and VALUES."""
        return self._fill(self._catalogue.ngettext(singular, plural, n), {"n": n, **values})

    def pgettext(self, context: str, message: str, **values: Any) -> str:
        return self._fill(self._catalogue.pgettext(context, message), values)

    def title(self, spec: Any) -> str:
        """SPEC's title in this language: the catalogue's, by the spec's id, when the English
        one is the spec's own (a title the catalogue does not know stays as written)."""
        context = f"title {spec.id}"
        return self._catalogue.pgettext(context, spec.title) if spec.title else spec.title

    def hint(self, text: str, spec_id: str) -> str:
        """TEXT, the hint of the spec SPEC_ID, in this language: the spec's own hint is in the
        catalogue by its id; a rubric's own hint is the instructor's words, shown as written."""
        context = f"hint {spec_id}"
        return self._catalogue.pgettext(context, text) if text else text

    def sentence(self, text: str) -> str:
        """TEXT, a sentence the grader composed in conformance/, in this language when it is one of
        SENTENCES (the not-implemented notes), else as written (docs/i18n.md: the specs' own
        sentences are the next step)."""
        if self.language == "en":
            return text
        if " Submission limit: " in text:  # late.py appends the limit's note to the late one
            first, _, rest = text.partition(" Submission limit: ")
            return f"{self.sentence(first)} {self.sentence('Submission limit: ' + rest)}"
        for pattern, message in SENTENCES:
            m = pattern.fullmatch(text.strip())
            if m:
                values = {k: self._catalogue.gettext(v) if v in VALUES else v or "" for k, v in m.groupdict().items()}
                if "when" in values:  # late.py's "submitted AT (SOURCE)"
                    at, _, source = values["when"].removeprefix("submitted ").partition(" (")
                    values["when"] = self._("submitted %(at)s", at=at) + (f" ({source}" if source else "")
                return self._(message, **values)
        return text

    def said(self, text: str, words: Any) -> str:
        """TEXT, a part of a failure, in this language: from WORDS, the sentence's template and
        values as the record keeps them (conformance.outcomes.Sentence, record.Failure.words),
        when the catalogue has the template; else as written (a sentence not yet translated, a
        record from before sentences were kept, plain text)."""
        if self.language == "en" or not isinstance(words, dict):
            return text
        said = self._say(words)
        return text if said is None else said

    def _say(self, words: dict[str, Any]) -> str | None:
        template, values = words.get("template"), words.get("values")
        if not isinstance(template, str) or not isinstance(values, dict):
            return None
        if template not in getattr(self._catalogue, "_catalog", {}):  # gettext's own table of the .mo
            return None
        translated = self._catalogue.gettext(template)
        filled = {k: (self._say(v) or _english(v)) if isinstance(v, dict) else v for k, v in values.items()}
        try:
            return self._fill(translated, filled)
        except (KeyError, TypeError, ValueError):  # a record's values that do not fit: English
            return None

    def status_id(self, status: str) -> str:
        """A status as a table shows it, briefly: the status itself in English ("not-implemented")."""
        return self._catalogue.pgettext("status id", status)

    def status(self, words: str) -> str:
        """A status's words (conformance.record.STATUS), or its note, in this language."""
        return self._catalogue.pgettext("status", words) if words else words


def N_(message: str) -> str:
    """MESSAGE as it is: marks a constant for the catalogue (Babel extracts N_), translated where it is shown."""
    return message


#: The sentences conformance/ composes that a report shows as a note of its own (not-implemented:
#: conformance/run/process.py and implementation.py), read back into their values.
SENTENCES = [
    (re.compile(r"your `(?P<program>[^`]+)` says: not implemented"), N_("your `%(program)s` says: not implemented")),
    # the same, of a program started under strace (run/trace.py) or on another host (the socket specs' peers)
    (re.compile(r"your `(?P<program>[^`]+)` \(under strace\) says: not implemented"), N_("your `%(program)s` (under strace) says: not implemented")),
    (re.compile(r"your `(?P<program>[^`]+)` on host (?P<host>\S+) says: not implemented"), N_("your `%(program)s` on host %(host)s says: not implemented")),
    (re.compile(r'(?P<file>.+) has no \[programs\] entry for (?P<mechanism>\w+): add (?P=mechanism) = "<command>" to implement it'),
     N_('%(file)s has no [programs] entry for %(mechanism)s: add %(mechanism)s = "<command>" to implement it')),
    # why a spec is unsupported on this machine (the toolbox's Unsupported: queues/, peers.py, run/trace.py,
    # kernel/observe.EvidenceUnavailable), as a student reads it where the course grades (a container)
    (re.compile(r"this kernel has no System V message queues \(msgget: ENOSYS\)"), N_("this kernel has no System V message queues (msgget: ENOSYS)")),
    (re.compile(r"this platform has no POSIX message queues"), N_("this platform has no POSIX message queues")),
    (re.compile(r"this kernel has no POSIX message queues \(mq_open: ENOSYS\)"), N_("this kernel has no POSIX message queues (mq_open: ENOSYS)")),
    (re.compile(r"network namespaces need `ip` from iproute2, which is not installed here"),
     N_("network namespaces need `ip` from iproute2, which is not installed here")),
    (re.compile(r"two hosts need network namespaces, which need (?P<needed>.+); this grader \(uid (?P<uid>\d+)\) lacks (?P<missing>.+) "
                r"\(a container with Docker's default capabilities, or an ordinary user\)"),
     N_("two hosts need network namespaces, which need %(needed)s; this grader (uid %(uid)s) lacks %(missing)s "
        "(a container with Docker's default capabilities, or an ordinary user)")),
    (re.compile(r"cannot create two network namespaces joined by a veth pair here: (?P<reason>.+)", re.S),
     N_("cannot create two network namespaces joined by a veth pair here: %(reason)s")),
    (re.compile(r"this kernel's System V limits \(msgmax (?P<msgmax>\d+), msgmnb (?P<msgmnb>\d+)\) are below (?P<size>\d+) bytes"),
     N_("this kernel's System V limits (msgmax %(msgmax)s, msgmnb %(msgmnb)s) are below %(size)s bytes")),
    (re.compile(r"strace is not installed \(install Debian's `strace` package to check this spec\)"),
     N_("strace is not installed (install Debian's `strace` package to check this spec)")),
    (re.compile(r"strace did not finish tracing (?P<target>\S+) within (?P<seconds>\S+) s"), N_("strace did not finish tracing %(target)s within %(seconds)s s")),
    (re.compile(r"strace cannot trace here \((?P<said>.*)\); ptrace\(2\) is probably not permitted", re.S),
     N_("strace cannot trace here (%(said)s); ptrace(2) is probably not permitted")),
    (re.compile(r"evidence unavailable: the grader cannot read (?P<source>.+?) on this machine \((?P<reason>.*)\), and this spec draws its verdict from it", re.S),
     N_("evidence unavailable: the grader cannot read %(source)s on this machine (%(reason)s), and this spec draws its verdict from it")),
    # the late policy's and the submission limit's notes (grading/late.py) and a rubric's rescaled total (rubric.py)
    (re.compile(r"Late policy: the submission time is not known, so no late penalty was applied\."),
     N_("Late policy: the submission time is not known, so no late penalty was applied.")),
    (re.compile(r"Late policy: no due date is set \(neither the rubric's \[late\] due nor the platform's\), so no late penalty was applied\."),
     N_("Late policy: no due date is set (neither the rubric's [late] due nor the platform's), so no late penalty was applied.")),
    (re.compile(r"On time: (?P<when>.+), due (?P<due>\S+); no late penalty\."), N_("On time: %(when)s, due %(due)s; no late penalty.")),
    (re.compile(r"Late: (?P<when>.+), (?P<days>\d+) days? after the due date (?P<due>\S+), past the (?P<limit>\d+)-day limit: "
                r"score (?P<before>\S+) becomes 0\."),
     N_("Late: %(when)s, %(days)s days after the due date %(due)s, past the %(limit)s-day limit: score %(before)s becomes 0.")),
    (re.compile(r"Late: (?P<when>.+), (?P<days>\d+) days? after the due date (?P<due>\S+); penalty (?P<pct>\S+)% \((?P<per_day>\S+)% a day\): "
                r"score (?P<before>\S+) becomes (?P<score>\S+) of (?P<max>\S+)\."),
     N_("Late: %(when)s, %(days)s days after the due date %(due)s; penalty %(pct)s%% (%(per_day)s%% a day): score %(before)s becomes %(score)s of %(max)s.")),
    (re.compile(r"Submission limit: this is submission (?P<number>\d+), and only the first (?P<limit>\d+) count\. It was graded for your feedback; "
                r"the score stays (?P<kept>\S+), that of submission (?P=limit) \((?P<at>[^)]*)\)\."),
     N_("Submission limit: this is submission %(number)s, and only the first %(limit)s count. It was graded for your feedback; "
        "the score stays %(kept)s, that of submission %(limit)s (%(at)s).")),
    (re.compile(r"(?P<specs>.+) could not be judged and (?:does|do) not count: the other specs share the rubric's total of (?P<total>\S+) points"),
     N_("%(specs)s could not be judged and do not count: the other specs share the rubric's total of %(total)s points")),
]


#: Values of those sentences that are words of the grader's own (observe.SOURCES; evidence.py's
#: reasons), said in the report's language where a sentence carries them.
VALUES = frozenset({
    N_("/proc/PID/syscall (the system call a process sleeps in)"),
    N_("/proc/PID/wchan (where in the kernel it sleeps)"),
    N_("/proc/PID/fd and fdinfo (the files, pipe ends and sockets it holds)"),
    N_("permission denied, even to the process's own user"),
    N_("did not show the probe asleep in read"),
    N_("did not show where the probe sleeps"),
    N_("did not show the probe's stdin pipe"),
})


@functools.cache
def translator(language: str) -> Translator:
    return Translator(language if language in LANGUAGES else "en")


def language_of(record: RunRecord) -> str:
    """The language RECORD's reports are rendered in (its ``meta["language"]``; English when unset)."""
    language = record.meta.get("language")
    return language if language in LANGUAGES else "en"


def of(record: RunRecord) -> Translator:
    return translator(language_of(record))


def _english(words: dict[str, Any]) -> str:
    """A sentence kept as WORDS, said in English (its template filled), for a value of a
    translated sentence that the catalogue does not know."""
    values = {k: _english(v) if isinstance(v, dict) else v for k, v in words.get("values", {}).items()}
    try:
        return str(words.get("template", "")) % values
    except (KeyError, TypeError, ValueError):
        return str(words.get("template", ""))


def rendered_in(record: RunRecord, language: str) -> RunRecord:
    """RECORD, to be rendered in LANGUAGE (the record is otherwise the same)."""
    return dataclasses.replace(record, meta={**record.meta, "language": language})


def choose(given: str | None, course: str | None, environ: Mapping[str, str] | None = None) -> str:
    """The reports' language: GIVEN (``--lang``/``--ipc-lang``), else COURSE (the rubric's
    ``language``, already in the record), else the locale's (LANGUAGE, LC_ALL, LC_MESSAGES,
    LANG: a student's own terminal), else English."""
    if given:
        return given
    if course in LANGUAGES:
        return course
    return language_of_locale(os.environ if environ is None else environ)


def localized(record: RunRecord) -> RunRecord:
    """RECORD with its specs' titles and hints in its language (the catalogue's, by spec id), and
    the run's sentences it keeps as words (its ``words``: the isolation, whom programs ran as, why
    the run could not grade; docs/run-record.md) said in it, for a renderer; the record a
    renderer is given stays as it was (and the JSON record in English)."""
    t = of(record)
    if t.language == "en":
        return record
    specs = [dataclasses.replace(s, title=t.title(s), hint=t.hint(s.hint, s.id)) for s in record.specs]
    words = record.meta.get("words") if isinstance(record.meta.get("words"), dict) else {}
    meta = {**record.meta, **{k: t.said(v, words.get(k)) for k, v in record.meta.items() if k in words and k != "error" and isinstance(v, str)}}
    error = t.said(record.error, words.get("error")) if record.error is not None else None
    return dataclasses.replace(record, specs=specs, meta=meta, error=error)
