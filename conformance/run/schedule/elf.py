"""What an executable is, from its ELF headers: statically linked (no interpreter: LD_PRELOAD
never reaches it), or built with the scheduling points (it needs libipcsched.so)."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

PT_INTERP, PT_DYNAMIC = 3, 2
DT_NEEDED, DT_STRTAB = 1, 5


@dataclass(frozen=True)
class Executable:
    path: str
    elf: bool
    dynamic: bool
    """It names an interpreter (ld.so): LD_PRELOAD applies."""
    needed: tuple[str, ...] = ()
    script: str | None = None
    """For a ``#!`` script: its interpreter."""


def inspect(path: str | Path) -> Executable:
    p = Path(path)
    try:
        with p.open("rb") as f:
            head = f.read(4096)
            if head[:2] == b"#!":
                first = head[2:].split(b"\n", 1)[0].strip().split()
                return Executable(str(p), False, True, script=first[0].decode("utf-8", "replace") if first else "")
            if head[:4] != b"\x7fELF" or head[4] != 2 or head[5] != 1:
                return Executable(str(p), head[:4] == b"\x7fELF", True)  # not 64-bit little-endian: say dynamic, let it try
            f.seek(0)
            data = f.read()
    except OSError:
        return Executable(str(p), False, True)
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    segments = []
    for i in range(phnum):
        off = phoff + i * phentsize
        ptype, _, poffset, pvaddr, _, pfilesz = struct.unpack_from("<IIQQQQ", data, off)
        segments.append((ptype, poffset, pvaddr, pfilesz))
    dynamic = any(s[0] == PT_INTERP for s in segments)
    needed: list[str] = []
    dyn = next((s for s in segments if s[0] == PT_DYNAMIC), None)
    if dyn is not None:
        entries = []
        for off in range(dyn[1], dyn[1] + dyn[3], 16):
            tag, value = struct.unpack_from("<qQ", data, off)
            if tag == 0:
                break
            entries.append((tag, value))
        strtab_vaddr = next((v for t, v in entries if t == DT_STRTAB), None)
        strtab = _file_offset(segments, strtab_vaddr) if strtab_vaddr is not None else None
        if strtab is not None:
            for tag, value in entries:
                if tag == DT_NEEDED:
                    end = data.index(b"\0", strtab + value)
                    needed.append(data[strtab + value : end].decode("utf-8", "replace"))
    return Executable(str(p), True, dynamic, tuple(needed))


def _file_offset(segments: list[tuple[int, int, int, int]], vaddr: int) -> int | None:
    for ptype, offset, start, size in segments:
        if ptype == 1 and start <= vaddr < start + size:  # PT_LOAD
            return offset + (vaddr - start)
    return None


__all__ = ["Executable", "inspect"]
