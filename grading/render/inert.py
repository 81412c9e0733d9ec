"""Output is inert by construction: one escaping layer per medium for text that may come from a
submission (program output, process and file names, the manifest's fields, compiler output,
archive names, roster fields).

Every string of a run record may carry a submission's bytes, so every report treats every
string it did not write itself as untrusted. First it is made visible (``record.visible``:
control and format characters written as escapes, the one way the record and every report do
it), then escaped for its medium, at one boundary per medium:

- terminal: ``TerminalStream`` wraps ipc-grade's stdout and stderr, so whatever it prints is
  made visible on its way out, except what a renderer drew itself (``Drawn``: rich's colours and
  live line, from text made visible first); live lines are one line each (``one_line``), and
  text handed to rich's markup is escaped for it (``rich_text``);
- Markdown (GitHub-flavoured): a report is joined from ``Markdown`` lines only (``document``
  refuses a plain string), and a ``Markdown`` line's values are escaped as they go in
  (``Markdown.format``: ``text``), or put in a code span (``code``) or a fenced block (``fence``)
  that nothing in them can close;
- HTML and SVG: jinja2's autoescape, every value cleaned first (pages.py), the SVG built as
  elements (timeline.py);
- JUnit XML: every text and attribute of the tree made visible before it is written
  (``xml_tree``); the serializer escapes markup, and ``]]>`` never opens a CDATA section there;
- CSV: every cell through ``csv_cell`` (``csv_text``): made visible, and a cell that a
  spreadsheet would read as a formula (``= + - @``, tab, CR first) starts with ``'`` (OWASP's
  guidance on CSV injection);
- JSON: every string made visible (``record.visible_data``).

tests/test_inert.py feeds a corpus of hostile strings through every field of every format.
"""

from __future__ import annotations

import csv
import io
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from typing import IO, Any

from conformance.record import RunRecord, visible, visible_data

__all__ = [
    "Drawn", "Markdown", "visible_record", "TerminalStream", "code", "csv_cell", "csv_text", "document", "fence", "html", "json_data",
    "one_line", "rich_text", "text", "xml_tree",
]

json_data = visible_data


def visible_record(record: RunRecord) -> RunRecord:
    """RECORD with every string made visible, as it reads back from its file (record.dumps): a
    renderer starts from it, so a report rendered in memory is the report of the record on
    disk, whatever a string held (Python's str.split takes U+0085 and U+2028 for spaces)."""
    return RunRecord.from_json(visible_data(record.to_json()))


# --- the terminal ------------------------------------------------------------------------


class Drawn(str):
    """Terminal output a renderer drew itself (rich's table, colours and live line), from text it
    made visible first: TerminalStream writes it as it is."""


def one_line(value: object) -> str:
    """VALUE made visible, on one line (its newlines shown as ``\\n``): a live line, a cell."""
    return visible(str(value)).replace("\n", "\\n")


def rich_text(value: object) -> str:
    """VALUE as text for rich's markup: visible, on one line, and its square brackets escaped, so
    that a name such as ``[link=...]`` is shown, not obeyed."""
    from rich.markup import escape

    return escape(one_line(value))


class TerminalStream:
    """A text stream (stdout, stderr) that makes whatever is written to it visible, except what a
    renderer drew (``Drawn``). Everything else of the stream is the stream's."""

    def __init__(self, stream: IO[str]) -> None:
        self.drawing = getattr(stream, "drawing", stream)
        """The stream itself: where rich draws (what it draws is made of visible text)."""

    def write(self, s: str) -> int:
        self.drawing.write(s if isinstance(s, Drawn) else visible(s))
        return len(s)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.drawing, name)


def drawing(stream: IO[str]) -> IO[str]:
    """Where a renderer draws on STREAM (the stream under a TerminalStream)."""
    return getattr(stream, "drawing", stream)


# --- Markdown (GitHub-flavoured) ---------------------------------------------------------


class Markdown(str):
    """Markdown a renderer wrote: its own markup, and values escaped as they go in.
    ``Markdown("**Total: {}**").format(value)`` escapes VALUE (``text``) unless it is Markdown
    already (``code``, ``fence``, or a renderer's own). ``document`` joins only these."""

    def format(self, *args: Any, **kwargs: Any) -> Markdown:
        return Markdown(str.format(self, *map(_escaped, args), **{k: _escaped(v) for k, v in kwargs.items()}))


def _escaped(value: Any) -> str:
    return value if isinstance(value, Markdown) else text(value)


#: What starts or ends a construct anywhere in a line: backslash escapes, code, emphasis,
#: strikethrough, raw HTML and autolinks, entities, headings' closing hashes, tables' pipes,
#: math; and a link's or an image's ``](`` (a ``]`` before ``(``, or at the end, where the next
#: value may begin with one). A bracket alone makes nothing: a reference needs a definition,
#: which only a line's start can hold.
_INLINE = re.compile(r"[\\`*_<>#|~&$]|\](?=\(|$)")
#: What starts a block at the beginning of a line: a list item (``-``, ``+``, ``1.``, ``1)``), a
#: setext underline.
_LEADING = re.compile(r"^(?:([-+])(?=\s|$)|(\d{1,9})(?=[.)](?:\s|$))|(=)(?==*$))")
#: GFM's extended autolinks (a scheme's ``://``, ``www.``) and GitHub's mentions (``@name``, and
#: an e-mail address): a backslash does not stop these, which are found in the text itself.
_AUTOLINK = re.compile(r"(?i)(://)|\b(www)\.")
_MENTION = re.compile(r"@(?=\w)")


#: Characters of one inline value at most (a name, a sentence): the rest is cut, said so.
INLINE_LIMIT = 2000


def _flat(value: object) -> str:
    """VALUE made visible, on one line, at most INLINE_LIMIT characters."""
    flat = " ".join(visible(str(value)).split())
    if len(flat) > INLINE_LIMIT:
        flat = f"{flat[:INLINE_LIMIT]}… [{len(flat) - INLINE_LIMIT} more characters]"
    return flat


#: A code span in a value (`pipe relay`): kept as one, rebuilt by ``code``.
_SPAN = re.compile(r"`([^`]+)`")


def text(value: object) -> Markdown:
    """VALUE as inline Markdown that shows as the text it is: visible, on one line (runs of
    whitespace are one space, at most INLINE_LIMIT characters), every metacharacter escaped,
    autolinks broken, and each ``@`` before a name in a code span (GitHub links no mention and
    no address in code). A span between two backticks stays a code span, rebuilt by ``code``
    (nothing in a code span is a link, a mention or markup), its pipes escaped for a table."""
    flat = _flat(value)
    pieces = _SPAN.split(flat)  # prose, span, prose, span, ..., prose
    return Markdown("".join(code(piece, cell=True) if n % 2 else _prose(piece, n == 0) for n, piece in enumerate(pieces)))


def _prose(flat: str, first: bool) -> str:
    """FLAT (text outside code spans) escaped; FIRST: it begins the value, maybe a line."""
    out = _INLINE.sub(lambda m: "\\" + m.group(0), flat)
    if first:
        out = _LEADING.sub(lambda m: m.group(2) + "\\" if m.group(2) else "\\" + (m.group(1) or m.group(3)), out)
    out = _AUTOLINK.sub(lambda m: "\\://" if m.group(1) else m.group(2) + "\\.", out)
    return _MENTION.sub("`@`", out)


def code(value: object, *, cell: bool = False) -> Markdown:
    """VALUE as a code span nothing in it can close: fenced by one backtick more than its
    longest run of backticks, on one line; in a table CELL, its pipes escaped (GFM splits the
    row at them first)."""
    flat = _flat(value)
    if not flat:
        return Markdown("")
    ticks = "`" * (max((len(run) for run in re.findall(r"`+", flat)), default=0) + 1)
    pad = " " if flat[0] in "` " or flat[-1] in "` " else ""
    inner = flat.replace("|", "\\|") if cell else flat
    return Markdown(f"{ticks}{pad}{inner}{pad}{ticks}")


class Fence(Markdown):
    """A fence line of a fenced block: CLOSING is the line that closes the block it opens
    ("" for the closing line itself), so that a report cut short can close it."""

    closing: str = ""


def fence(value: object, info: str = "text") -> list[Markdown]:
    """VALUE as a fenced code block nothing in it can close (its fence is longer than any run
    of backticks inside), its lines made visible."""
    body = visible(str(value))
    ticks = "`" * max(3, max((len(run) for run in re.findall(r"`+", body)), default=0) + 1)
    opening = Fence(f"{ticks}{info}")
    opening.closing = ticks
    return [opening, Markdown(body), Fence(ticks)]


def html(value: object) -> Markdown:
    """VALUE inside the HTML a Markdown report writes itself (a <summary>): visible, escaped."""
    escaped = _flat(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    return Markdown(_MENTION.sub("<code>@</code>", escaped))


def document(lines: Iterable[Markdown], limit: int | None = None, cut: str = "") -> str:
    """The report: LINES joined, each a Markdown line (a plain string is a renderer's bug: it
    would carry a value into the report unescaped). Longer than LIMIT characters, it ends at the
    last whole line that fits, with the fenced block and the <details> it is in closed, then CUT
    (a note): a value is never cut in the middle of an escape."""
    out: list[str] = []
    size = 0
    closing = ""
    details = 0
    for n, line in enumerate(lines):
        if not isinstance(line, Markdown):
            raise TypeError(f"Markdown line {n} is a plain string, not escaped Markdown: {str(line)[:80]!r}")
        if limit is not None and size + len(line) + 1 > limit - len(cut) - 200:
            out += [closing] if closing else []
            out += ["", "</details>"] * details
            out += ["", cut]
            break
        out.append(line)
        size += len(line) + 1
        if isinstance(line, Fence):
            closing = line.closing
        details += line.startswith("<details>") - (line == "</details>")
    return "\n".join(out) + "\n"


# --- JUnit XML -----------------------------------------------------------------------------


def xml_tree(root: ET.Element) -> ET.Element:
    """ROOT with every text, tail and attribute value made visible (XML 1.0 holds no control
    character but tab, newline and carriage return, and no lone surrogate or U+FFFE/U+FFFF);
    the serializer escapes the markup."""
    for el in root.iter():
        if el.text:
            el.text = visible(el.text)
        if el.tail:
            el.tail = visible(el.tail)
        for key, value in el.attrib.items():
            el.attrib[key] = visible(value)
    return root


# --- CSV -----------------------------------------------------------------------------------

#: What makes a spreadsheet read a cell as a formula (OWASP, "CSV Injection").
FORMULA = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[-+]?\d+(\.\d+)?")


def csv_cell(value: object) -> object:
    """VALUE as a cell: a number as it is; text made visible, with a ``'`` first when a
    spreadsheet would read it as a formula (it starts with = + - @, a tab or CR, spaces aside)."""
    if not isinstance(value, str):
        return value
    if _NUMBER.fullmatch(value):
        return value
    shown = visible(value)
    return "'" + shown if value.lstrip(" ")[:1] in FORMULA and shown else shown


def csv_text(rows: Iterable[Iterable[object]]) -> str:
    """ROWS as CSV, every cell through csv_cell."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for row in rows:
        writer.writerow([csv_cell(cell) for cell in row])
    return out.getvalue()
