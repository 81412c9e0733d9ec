"""The reports' catalogues, with Babel (docs/i18n.md): extract, update, compile, check.

    python scripts/i18n.py extract    grading/render/locale/ipc_grade.pot from the code (babel.cfg)
                                      and the data: every spec's title and hint (context
                                      "title ID", "hint ID") and the status words ("status")
    python scripts/i18n.py update     merge the .pot into each language's .po (new entries
                                      empty, changed ones fuzzy: translate them)
    python scripts/i18n.py compile    each .po into its .mo (committed: the wheel ships it)
    python scripts/i18n.py check      every Korean entry translated, none fuzzy, placeholders
                                      alike, the .mo up to date (tests/test_i18n.py does the same)
    python scripts/i18n.py all        extract, update, compile

Needs Babel (the `i18n` extra: pip install -e '.[i18n]'); the grader itself reads the .mo files
with the standard library's gettext.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LOCALE = ROOT / "grading" / "render" / "locale"
DOMAIN = "ipc_grade"
POT = LOCALE / f"{DOMAIN}.pot"
LANGUAGES = ("ko",)


def _pybabel(*args: str) -> None:
    from babel.messages.frontend import CommandLineInterface

    CommandLineInterface().run(["pybabel", "-q", *args])


def data_messages() -> list[tuple[str, str, str]]:
    """(context, msgid, where) of the messages that are data: spec titles and hints by spec id,
    the status words and notes of conformance/record.py, the mechanisms' titles."""
    from conformance.catalogue import specs
    from conformance.record import MECHANISMS, STATUS

    out = []
    for meta in specs():
        out.append((f"title {meta.id}", meta.title, meta.id))
        if meta.hint:
            out.append((f"hint {meta.id}", meta.hint, meta.id))
    for status, info in STATUS.items():
        out.append(("status id", status, "conformance/record.py: the status, as a table shows it"))
        out.append(("status", info.words, "conformance/record.py"))
        if info.note:
            out.append(("status", info.note, "conformance/record.py"))
    for m in MECHANISMS.values():
        out.append(("mechanism", m.title, "conformance/record.py"))
    return out


def extract() -> None:
    from babel.messages.pofile import read_po, write_po

    _pybabel("extract", "-F", str(ROOT / "babel.cfg"), "-o", str(POT), "--no-wrap", "--sort-by-file", "-k", "Sentence",
             "--project", "ipc-conformance", "--copyright-holder", "ipc-conformance", "-c", "TRANSLATORS:", str(ROOT))
    with POT.open("rb") as f:
        catalog = read_po(f)
    for context, msgid, where in data_messages():
        catalog.add(msgid, context=context, auto_comments=[f"from {where}"])
    buf = io.BytesIO()
    write_po(buf, catalog, width=0, omit_header=False)
    text = buf.getvalue().decode()
    # paths relative to the repository, whatever the current directory
    POT.write_text(text.replace(str(ROOT) + "/", ""), encoding="utf-8")


def update() -> None:
    for lang in LANGUAGES:
        _pybabel("update", "-i", str(POT), "-d", str(LOCALE), "-D", DOMAIN, "-l", lang, "--no-wrap", "--ignore-obsolete")


def compile_() -> None:
    for lang in LANGUAGES:
        _pybabel("compile", "-d", str(LOCALE), "-D", DOMAIN, "-l", lang, "--statistics")


def problems(lang: str) -> list[str]:
    """What is wrong with LANG's catalogue: untranslated or fuzzy entries, placeholders that
    differ from the English ones (Babel's checkers), a .mo older than its .po's content."""
    from babel.messages.mofile import read_mo
    from babel.messages.pofile import read_po

    po = LOCALE / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
    with po.open("rb") as f:
        catalog = read_po(f)
    out = []
    for message in catalog:
        if not message.id:
            continue
        shown = f"{message.context + ': ' if message.context else ''}{message.id if isinstance(message.id, str) else message.id[0]!r}"
        strings = message.string if isinstance(message.string, (list, tuple)) else [message.string]
        if message.fuzzy:
            out.append(f"fuzzy: {shown}")
        elif not all(strings):
            out.append(f"untranslated: {shown}")
    for message, errors in catalog.check():
        out.extend(f"placeholders differ in {message.id!r}: {e}" for e in errors)
    mo = po.with_suffix(".mo")
    if not mo.exists():
        out.append(f"{mo.relative_to(ROOT)} is missing: python scripts/i18n.py compile")
    else:
        with mo.open("rb") as f:
            compiled = read_mo(f)
        want = {(m.context, m.id if isinstance(m.id, str) else m.id[0]): list(m.string) if isinstance(m.string, (list, tuple)) else m.string for m in catalog if m.id and not m.fuzzy}
        have = {(m.context, m.id if isinstance(m.id, str) else m.id[0]): list(m.string) if isinstance(m.string, (list, tuple)) else m.string for m in compiled if m.id}
        if want != have:
            out.append(f"{mo.relative_to(ROOT)} is not the compiled {po.name}: python scripts/i18n.py compile")
    return out


def check() -> int:
    found = [f"{lang}: {p}" for lang in LANGUAGES for p in problems(lang)]
    print("\n".join(found) or "every catalogue complete: no untranslated or fuzzy entry, placeholders alike, .mo compiled")
    return 1 if found else 0


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in ("extract", "update", "compile", "check", "all"):
        print(__doc__, file=sys.stderr)
        return 2
    step = argv[0]
    if step in ("extract", "all"):
        extract()
    if step in ("update", "all"):
        update()
    if step in ("compile", "all"):
        compile_()
    if step == "check":
        return check()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
