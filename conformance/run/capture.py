"""A program's output as the grader keeps it, and as a report shows it.

Stdout and stderr are read as they come and kept up to a cap (the head and the tail, plus a
digest of all), with the lines tracked while they fit. ``readable`` turns bytes into text any
report can show: control characters and bytes that are not UTF-8 escaped, long runs of one
character collapsed with their length, the head and the tail kept.
"""

from __future__ import annotations

import functools
import hashlib
import re


class Capture:
    """A stream's bytes as read, kept up to LIMIT: the head and the tail, plus a digest of all."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.head = bytearray()
        self.tail = bytearray()
        self.length = 0
        self._sha = hashlib.sha256()
        self.lines: list[bytes] = []
        self._partial = bytearray()
        self.eof = False

    def feed(self, chunk: bytes) -> None:
        chunk_all = chunk
        self.length += len(chunk)
        self._sha.update(chunk)
        half = self.limit // 2
        room = half - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        if chunk:
            self.tail += chunk
            if len(self.tail) > half:
                del self.tail[: len(self.tail) - half]
        self._track_lines(chunk_all)

    def _track_lines(self, chunk: bytes) -> None:
        # lines are kept while the output stays within the cap, like the bytes themselves
        if self.length - len(chunk) > self.limit:
            return
        self._partial += chunk
        *done, self._partial = self._partial.split(b"\n")
        self.lines.extend(bytes(d) for d in done)

    @property
    def complete(self) -> bool:
        """True when every byte read is kept (nothing was cut from the middle)."""
        return self.length == len(self.head) + len(self.tail)

    @property
    def data(self) -> bytes:
        if self.complete:
            return bytes(self.head + self.tail)
        cut = self.length - len(self.head) - len(self.tail)
        return bytes(self.head) + f"\n[... {cut} bytes not kept ...]\n".encode() + bytes(self.tail)

    @property
    def digest(self) -> str:
        return self._sha.hexdigest()

    def text(self) -> str:
        return self.data.decode("utf-8", "replace")

    def matches(self, expected: bytes) -> bool:
        return self.length == len(expected) and self.digest == hashlib.sha256(expected).hexdigest()


#: Runs of one character longer than this are collapsed: ``aaaaaaaa[... 4992 more 'a']``.
RUN = 16
_ESCAPES = {"\t": "\\t", "\n": "\\n", "\r": "\\r", "\\": "\\\\"}


def readable(data: bytes, limit: int = 600) -> str:
    """DATA as one line of text: printable characters as they are, control characters and
    bytes that are not UTF-8 escaped (``\\t``, ``\\n``, ``\\x80``), runs of one character
    collapsed, and at most about LIMIT characters, head and tail. The work is bounded by LIMIT,
    not by DATA: a failure's transcript of 8 MiB takes as long as one of a line. Binary data
    (32 bytes or more, a quarter of its start neither text nor UTF-8) is a short hexdump instead,
    with offsets: its first 32 bytes and its last 16."""
    if _binary(data):
        return hexdump(data)
    text = data.decode("utf-8", "surrogateescape")
    pieces, used = _shown(text, limit + 1)
    if used < len(text):
        head, front = _shown(text, limit // 2)
        tail, back = _shown(text[::-1], limit // 2)  # a piece reads the same either way
        left = len(text) - front - back
        if left > 0:
            return "".join(head) + f" [... {left} characters ...] " + "".join(reversed(tail))
        pieces, used = _shown(text, len(text) * 20)  # they meet: the text is short after all
    line = "".join(pieces)
    if len(line) > limit:
        line = line[: limit // 2] + f" [... {len(line) - limit} characters ...] " + line[-limit // 2 :]
    return line


def _binary(data: bytes) -> bool:
    sample = data[:512]
    if len(data) < 32:
        return False
    controls = sum(1 for b in sample if (b < 32 and b not in (9, 10, 13)) or b == 127)
    invalid = sample.decode("utf-8", "replace").count("\ufffd")
    return controls + invalid > len(sample) // 4


def hexdump(data: bytes) -> str:
    """``binary, 300 bytes: 0000: 00 01 ... | 0010: ... | ... | 011c: ...``: offsets in hex."""
    rows = [(off, data[off : off + 16]) for off in range(0, min(len(data), 32), 16)]
    if len(data) > 48:
        rows.append((len(data) - 16, data[-16:]))
    elif len(data) > 32:
        rows.append((32, data[32:]))
    shown = " | ".join(f"{off:04x}: {chunk.hex(' ')}" for off, chunk in rows)
    gap = " | ..." if len(data) > 48 else ""
    if gap:
        head, tail = shown.rsplit(" | ", 1)
        shown = f"{head}{gap} | {tail}"
    return f"binary, {len(data)} bytes: {shown}"


def _shown(text: str, budget: int) -> tuple[list[str], int]:
    """The pieces of TEXT from its start, each a run of one character as shown, until BUDGET
    characters are shown; and how many characters of TEXT they stand for."""
    out: list[str] = []
    shown_n = 0
    i = 0
    while i < len(text) and shown_n < budget:
        m = _run(text[i]).match(text, i)
        assert m is not None
        n = m.end() - i
        shown = _escape(text[i])
        piece = shown * (RUN // 2) + f"[... {n - RUN // 2} more {shown!r}]" if n > RUN else shown * n
        out.append(piece)
        shown_n += len(piece)
        i = m.end()
    return out, i


@functools.lru_cache(maxsize=512)
def _run(ch: str) -> re.Pattern[str]:
    """A run of CH (a pattern per character: matching one is C-speed, a backreference is not)."""
    return re.compile(re.escape(ch) + "+")


def _escape(ch: str) -> str:
    if ch in _ESCAPES:
        return _ESCAPES[ch]
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that is not UTF-8 (surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    if code < 0x20 or 0x7F <= code < 0xA0:
        return f"\\x{code:02x}"
    if not ch.isprintable():
        return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
    return ch
