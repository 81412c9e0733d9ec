"""The student's documents in Korean (docs/ko/) say what their English sources say (docs/i18n.md).

A translation starts with the SHA-256 of the English it translates, so a changed English fails
here until the Korean is brought up to date. What must not drift is checked on the text itself:
the fenced code blocks (the same, in order), the inline code spans (the same multiset: a Korean
sentence may move them), the headings' levels and section numbers, as many paragraphs, bullets
and table cells (nothing left out), the spec ids, the exit statuses and the tables' numeric cells
(per section), and the link targets (resolved, so a Korean page may point to a Korean page). Each check takes a root, so that it also runs on copies,
and is shown to fail on a drift planted in one.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
import shutil
from collections import Counter
from functools import cache
from pathlib import Path

import pytest
from harness import ROOT

from conformance import catalogue
from conformance.record import MECHANISMS

#: each Korean translation and the English file it translates, relative to the root
PAIRS = {"docs/ko/CONTRACT.md": "conformance/CONTRACT.md", "docs/ko/c-students.md": "docs/c-students.md"}

HEADER = re.compile(r"<!-- source: (\S+) sha256: ([0-9a-f]{64}) -->\n(.*)\n\n")
FENCE = re.compile(r"^(```+)[^\n]*\n.*?^\1[ \t]*$", re.M | re.S)
SPAN = re.compile(r"(`+)(.+?)(?<!`)\1(?!`)", re.S)
HEADING = re.compile(r"^(#+)[ \t]+(\d+(?:\.\d+)*)?", re.M)
LINK = re.compile(r"\]\(([^)\s]+)\)")
SPEC_LIKE = re.compile(rf"\b(?:{'|'.join(MECHANISMS)})\.[a-z0-9]+(?:-(?:[a-z0-9]+|\*))+(?![\w-])")
MENTION = re.compile(rf"(?<![\w.-])(?:{'|'.join(MECHANISMS)})\.[a-z0-9-]+(?![\w-])")
#: how an exit status is stated: "exits 3", "exiting 1", "exit status 5", "exited 0, else 1", "exit statuses 5
#: and 6"; in Korean "종료 상태 69", "종료 상태 5와 6", "1로 종료합니다", "0으로 종료하고"
EXIT = re.compile(
    r"(?:\bexit(?:s|ed|ing)?(?: with)?(?: status(?:es)?)?|종료 상태)\s+(\d+(?:(?:\s*(?:,|\band\b|\bor\b|\belse\b|와|과|또는)\s*)+\d+)*)"
    r"|(\d+)(?:으로|로)\s*종료",
    re.I,
)


def split_header(text: str) -> tuple[re.Match | None, str]:
    """The translation's header (source, sha256, the note) and the body after it."""
    header = HEADER.match(text)
    return header, text[header.end():] if header else text


def read_pair(root: Path, ko: str) -> tuple[re.Match | None, str, str]:
    header, body = split_header((root / ko).read_text())
    return header, body, (root / PAIRS[ko]).read_text()


def prose(text: str) -> str:
    """TEXT without its fenced blocks and code spans (those are compared byte for byte)."""
    return SPAN.sub(" ", FENCE.sub("", text))


def spans(text: str) -> Counter:
    # a line break inside a span is a space (CommonMark), so a translation may wrap lines anew
    return Counter(re.sub(r"\s*\n\s*", " ", m[2]) for m in SPAN.finditer(FENCE.sub("", text)))


def headings(text: str) -> list[tuple[int, str | None]]:
    return [(len(m[1]), m[2]) for m in HEADING.finditer(FENCE.sub("", text))]


@cache
def known_ids() -> frozenset[str]:
    return frozenset(meta.id for meta in catalogue.specs())


def spec_ids(text: str) -> set[str]:
    """What looks like a spec id (pipe.eof-on-close, pipe.duplex-*), and every known id the text names."""
    return set(SPEC_LIKE.findall(text)) | (set(MENTION.findall(text)) & known_ids())


def exit_statuses(text: str) -> list[Counter]:
    """Per section: the numbers stated as exit statuses, and the tables' numeric cells."""
    sections = re.split(r"^#+[ \t].*$", prose(text), flags=re.M)
    out = []
    for section in sections:
        numbers = [n for m in EXIT.finditer(section) for n in re.findall(r"\d+", m[1] or m[2])]
        cells = [c.strip() for line in section.splitlines() if line.startswith("|") for c in line.strip("|\n ").split("|")]
        out.append(Counter(numbers + [f"| {c} |" for c in cells if c.isdigit()]))
    return out


def link_targets(rel: str, text: str) -> set[str]:
    """The links of TEXT (the file REL), resolved against the root; a translation stands for its source."""
    out = set()
    for target in LINK.findall(prose(text)):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            out.add(target)
            continue
        path, hash_, anchor = target.partition("#")
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(rel), path))
        out.add(PAIRS.get(resolved, resolved) + hash_ + anchor)
    return out


# --- the checks: each returns its problems, none when the pair agrees ----------------------------


def check_source(root: Path, ko: str) -> list[str]:
    header, _, _ = read_pair(root, ko)
    en = PAIRS[ko]
    if header is None:
        return [f"{ko} does not start with '<!-- source: {en} sha256: ... -->', a note and a blank line"]
    problems = [] if header[1] == en else [f"{ko} says it translates {header[1]}, not {en}"]
    now = hashlib.sha256((root / en).read_bytes()).hexdigest()
    if header[2] != now:
        problems.append(
            f"{en} changed since {ko} translated it (sha256 {header[2][:12]}... then, {now[:12]}... now): see what "
            f"changed (git log -p -- {en}), say it in the Korean, then record the new hash: sha256sum {en}"
        )
    if link_targets(ko, header[3]) != {en}:
        problems.append(f"{ko}: the note under the header must link to {en}, the English original")
    return problems


def check_code_blocks(root: Path, ko: str) -> list[str]:
    _, body, en = read_pair(root, ko)
    ours, theirs = [m[0] for m in FENCE.finditer(body)], [m[0] for m in FENCE.finditer(en)]
    if ours == theirs:
        return []
    at = next((i for i, (a, b) in enumerate(zip(ours, theirs, strict=False)) if a != b), min(len(ours), len(theirs)))
    return [f"{ko}: fenced code block {at + 1} differs from {PAIRS[ko]}'s ({len(ours)} blocks here, {len(theirs)} there)"]


def check_code_spans(root: Path, ko: str) -> list[str]:
    _, body, en = read_pair(root, ko)
    ours, theirs = spans(body), spans(en)
    return [f"{ko}: {what} {sorted(diff.elements())}" for what, diff in
            (("lacks the code spans", theirs - ours), ("has code spans its English has not", ours - theirs)) if diff]


def check_headings(root: Path, ko: str) -> list[str]:
    _, body, en = read_pair(root, ko)
    ours, theirs = headings(body), headings(en)
    return [] if ours == theirs else [f"{ko}: headings (level, number) {ours} != {PAIRS[ko]}'s {theirs}"]


def shape(text: str) -> tuple[int, int, list[int]]:
    """How many blocks (paragraphs, lists, tables, code), bullets, and cells in each table row."""
    text = FENCE.sub("```", text)
    blocks = [b for b in re.split(r"\n[ \t]*\n", text) if b.strip()]
    bullets = re.findall(r"^[ \t]*[-*][ \t]", text, re.M)
    return len(blocks), len(bullets), [line.count("|") for line in text.splitlines() if line.startswith("|")]


def check_structure(root: Path, ko: str) -> list[str]:
    """Nothing left out: as many paragraphs and bullets, and every table the English one's shape."""
    _, body, en = read_pair(root, ko)
    ours, theirs = shape(body), shape(en)
    return [] if ours == theirs else [f"{ko}: (blocks, bullets, table cells) {ours} != {PAIRS[ko]}'s {theirs}"]


def check_spec_ids(root: Path, ko: str) -> list[str]:
    _, body, en = read_pair(root, ko)
    missing = spec_ids(en) - spec_ids(body)
    return [f"{ko} does not name the spec ids {sorted(missing)} that {PAIRS[ko]} names"] if missing else []


def check_exit_statuses(root: Path, ko: str) -> list[str]:
    _, body, en = read_pair(root, ko)
    ours, theirs = exit_statuses(body), exit_statuses(en)
    if len(ours) != len(theirs):
        return [f"{ko} has {len(ours) - 1} headings, {PAIRS[ko]} {len(theirs) - 1}"]
    titles = ["(before the first heading)", *re.findall(r"^#+[ \t].*$", prose(en), re.M)]
    return [f"{ko}, under {title!r}: exit statuses and table numbers {sorted(a.elements())}, English {sorted(b.elements())}"
            for title, a, b in zip(titles, ours, theirs, strict=True) if a != b]


def check_links(root: Path, ko: str) -> list[str]:
    _, body, en = read_pair(root, ko)
    ours, theirs = link_targets(ko, body), link_targets(PAIRS[ko], en)
    return [] if ours == theirs else [f"{ko} links to {sorted(ours)}, {PAIRS[ko]} to {sorted(theirs)}"]


CHECKS = [check_source, check_code_blocks, check_code_spans, check_headings, check_structure, check_spec_ids, check_exit_statuses, check_links]


@pytest.mark.parametrize("ko", PAIRS)
@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_the_translation_matches_its_english(check, ko):
    problems = check(ROOT, ko)
    assert not problems, "\n".join(problems)


CONTRACT, C_GUIDE = PAIRS
#: (check, pair, the side planted, old, new): a drift the check must catch, every OLD replaced by NEW
PLANTS = [
    (check_source, CONTRACT, "en", "version 2.1", "version 2.2"),
    (check_source, C_GUIDE, "ko", "(../c-students.md)", "(../ci.md)"),
    (check_source, CONTRACT, "ko", "<!-- source: conformance/", "<!-- source: docs/"),
    (check_code_blocks, CONTRACT, "ko", "pipe relay\npipe duplex\n", "pipe relay\npipe duplex --fast\n"),
    (check_code_blocks, C_GUIDE, "ko", "CFLAGS   ?= -O2", "CFLAGS   ?= -O3"),
    (check_code_spans, CONTRACT, "ko", "`broken pipe`", "`broken  pipe`"),
    (check_code_spans, C_GUIDE, "en", "`sem_trywait`", "`sem_timedwait`"),
    (check_headings, CONTRACT, "ko", "### 3.5 ", "### 3.6 "),
    (check_headings, C_GUIDE, "ko", "### EINTR", "#### EINTR"),
    (check_structure, CONTRACT, "ko", "- PID는 양수여야 합니다(프로세스 그룹이면 안 됩니다).\n", ""),
    (check_structure, C_GUIDE, "ko", "\n\n## 스펙 하나", "\n## 스펙 하나"),
    (check_structure, C_GUIDE, "ko", "| 유한 버퍼: 바이트", "유한 버퍼: 바이트"),
    (check_spec_ids, CONTRACT, "ko", "`socket.tcp-roundtrip`", "`socket.tcp`"),
    (check_spec_ids, C_GUIDE, "ko", "shm.roundtrip", "shm"),
    (check_exit_statuses, CONTRACT, "ko", "| 3 |", "| 7 |"),
    (check_exit_statuses, CONTRACT, "ko", "3으로 종료", "7로 종료"),
    (check_exit_statuses, CONTRACT, "en", "`--nowait` exits 3", "`--nowait` exits 7"),
    (check_exit_statuses, C_GUIDE, "ko", "(종료 상태 69)", "(종료 상태 68)"),
    (check_links, C_GUIDE, "ko", "](CONTRACT.md)", "](../../conformance/README.md)"),
]


@pytest.mark.parametrize(("check", "ko", "side", "old", "new"), PLANTS,
                         ids=[f"{c.__name__}-{k.rsplit('/', 1)[1]}-{s}" for c, k, s, *_ in PLANTS])
def test_each_check_fails_on_a_planted_drift(tmp_path, check, ko, side, old, new):
    for rel in (ko, PAIRS[ko]):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / rel, tmp_path / rel)
    assert check(tmp_path, ko) == []  # the copy agrees before the plant
    planted = tmp_path / (ko if side == "ko" else PAIRS[ko])
    text = planted.read_text()
    assert old in text, f"nothing to plant: {old!r} is not in {planted.relative_to(tmp_path)}"
    planted.write_text(text.replace(old, new))
    assert check(tmp_path, ko), f"{check.__name__} missed {old!r} -> {new!r} in {side}"
