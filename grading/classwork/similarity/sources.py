"""What a mechanism's code is in one implementation: the files the program its ``ipc.toml``
names is made of, and what they include (the rules are in similarity/__init__.py).

Only regular files inside the implementation are read: no link is followed, nothing outside it,
at most MAX_FILES per mechanism.
"""

from __future__ import annotations

import ast
import functools
import re
import shlex
import stat as stat_mod
from pathlib import Path

MAX_FILE_BYTES = 1 << 20


MAX_FILES = 50


PYTHON_WORDS = ("python3", "python")


INTERPRETERS = ("python3", "python", "bash", "sh", "perl", "ruby", "node", "php", "lua", "tclsh")


C_SOURCES = (".c", ".cc", ".cpp", ".cxx")


#: Python options that take the next word as their argument.
PYTHON_OPTIONS_WITH_ARGUMENT = ("-W", "-X", "-Q")


INCLUDE = re.compile(r'^[ \t]*#[ \t]*include[ \t]*"([^"\n]+)"', re.MULTILINE)


def program_files(root: Path, command: str) -> list[str]:
    """The files (relative to ROOT) that make the program COMMAND runs, and what they include."""
    try:
        words = shlex.split(command)
    except ValueError:
        return []
    if not words:
        return []
    first = _inside(root, words[0])
    if words[0] in PYTHON_WORDS or Path(words[0]).name.startswith("python3"):
        found = _python_script(root, words[1:])
        return _follow(root, [found]) if found else []
    if first is None or Path(words[0]).name in INTERPRETERS:
        script = next((w for w in words[1:] if not w.startswith("-") and _inside(root, w) is not None), None)
        script_path = _inside(root, script) if script else None
        if script_path is None or not _regular(root, script_path) or not _is_text(script_path):
            return []
        return _follow(root, [_rel(root, script_path)])
    if _regular(root, first) and _is_text(first):
        return _follow(root, [_rel(root, first)])
    stem = first.name  # a program the build makes: its sources, by name
    for place in (first.parent, root, root / "src"):
        for suffix in C_SOURCES:
            candidate = place / f"{stem}{suffix}"
            if _regular(root, candidate):
                return _follow(root, [_rel(root, candidate)])
    return []


def _python_script(root: Path, words: list[str]) -> str | None:
    i = 0
    while i < len(words):
        w = words[i]
        if w == "-m" and i + 1 < len(words):
            module = words[i + 1].replace(".", "/")
            for candidate in (f"{module}.py", f"{module}/__main__.py"):
                if _regular(root, root / candidate):
                    return candidate
            return None
        if w == "-c":
            return None
        if w in PYTHON_OPTIONS_WITH_ARGUMENT:
            i += 2
            continue
        if w.startswith("-"):
            i += 1
            continue
        path = _inside(root, w)
        return _rel(root, path) if path is not None and _regular(root, path) else None
    return None


def _follow(root: Path, start: list[str]) -> list[str]:
    """START and, transitively, the local files each includes (C) or imports (Python)."""
    seen: list[str] = []
    todo = list(start)
    while todo and len(seen) < MAX_FILES:
        rel = todo.pop(0)
        if rel in seen:
            continue
        path = root / rel
        if not _regular(root, path):
            continue
        seen.append(rel)
        try:
            text = path.read_text(encoding="utf-8", errors="replace")[:MAX_FILE_BYTES]
        except OSError:
            continue
        if path.suffix == ".py" or (not path.suffix and "python" in text[:100].split("\n", 1)[0]):
            todo += [r for r in _python_imports(root, path, text) if r not in seen]
        elif path.suffix in C_SOURCES + (".h", ".hh", ".hpp", ".hxx"):
            todo += [r for r in _c_includes(root, path, text) if r not in seen]
    return seen


def _python_imports(root: Path, path: Path, text: str) -> list[str]:
    here = path.parent
    modules: list[Path] = []
    for level, module, names in _imports_in(text):
        if level == 0:
            modules.append(here.joinpath(*module.split(".")))
            if names is None:
                continue
            package = modules[-1]
        else:
            package = here
            for _ in range(level - 1):
                package = package.parent
            if module:
                package = package.joinpath(*module.split("."))
                modules.append(package)
        modules += [package / name for name in names or () if name != "*"]
    out = []
    for module in modules:
        for candidate in (module.with_name(module.name + ".py"), module / "__init__.py"):
            if _regular(root, candidate):
                out.append(_rel(root, candidate))
    return sorted(set(out), key=out.index)


@functools.lru_cache(maxsize=1024)
def _imports_in(text: str) -> tuple[tuple[int, str, tuple[str, ...] | None], ...]:
    """(level, module, names imported from it or None for `import module`) of every import in
    the Python TEXT; () when it does not parse."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return ()
    out: list[tuple[int, str, tuple[str, ...] | None]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(0, alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and (node.level or node.module):
            out.append((node.level, node.module or "", tuple(alias.name for alias in node.names)))
    return tuple(out)


def _c_includes(root: Path, path: Path, text: str) -> list[str]:
    out = []
    for name in INCLUDE.findall(text):
        for place in (path.parent, root, root / "include"):
            header = place / name
            if _regular(root, header):
                out.append(_rel(root, header))
                for suffix in C_SOURCES:
                    companion = header.with_suffix(suffix)
                    if companion != path and _regular(root, companion):
                        out.append(_rel(root, companion))
                break
    return out


def _inside(root: Path, word: str | None) -> Path | None:
    """WORD as a path inside ROOT (not resolved through links), or None."""
    if not word or word.startswith("/") or ".." in Path(word).parts:
        return None
    path = root / word
    return path if path.exists() or "/" in word else None


def _regular(root: Path, path: Path) -> bool:
    """PATH is a regular file inside ROOT, reached through no link."""
    try:
        rel = path.relative_to(root)
    except ValueError:
        return False
    if ".." in rel.parts:
        return False
    current = root
    for part in rel.parts:
        current = current / part
        try:
            st = current.lstat()
        except OSError:
            return False
        if stat_mod.S_ISLNK(st.st_mode):
            return False
    return stat_mod.S_ISREG(st.st_mode)


def _rel(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix()


def _is_text(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(8192)
    except OSError:
        return False
    return b"\0" not in head and not head.startswith(b"\x7fELF")

