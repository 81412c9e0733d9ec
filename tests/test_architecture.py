"""The walls hold (docs/architecture.md): every import in conformance/ and grading/ goes down
the layers and never in a circle, grading takes only the two leaves of conformance, spec modules
take their tools from the toolbox, no module outgrows 600 lines (spec modules aside), and each
package's top level stays small.

Imports are read from the syntax tree, those inside functions included: a lazy import is still
a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from harness import ROOT

PACKAGES = ("conformance", "grading")
#: conformance's and grading's layers, lowest first: a module imports only its own layer and
#: those below it. A name is that module or package and everything in it; the bare package
#: names ("conformance", "grading": their __init__) stand for themselves alone.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("leaves", ("conformance.record", "conformance.settings")),
    ("core", ("conformance.spec", "conformance.outcomes", "conformance.deadline", "conformance.locate", "conformance.hookspecs", "conformance.catalogue", "conformance")),
    ("kernel", ("conformance.kernel",)),
    ("run", ("conformance.run", "conformance.manifest")),
    ("support", ("conformance.specs.support",)),
    ("specs", ("conformance.specs",)),
    ("plugin", ("conformance.plugin",)),
    ("grading core", ("grading.rubric", "grading.late", "grading.grader", "grading.options", "grading.cpus", "grading")),
    ("render", ("grading.render",)),
    ("classwork and kits", ("grading.classwork", "grading.kits")),
    ("commands", ("grading.cli", "grading.plugin", "grading.render_classroom", "grading.render_gradescope")),
]
#: What a spec module may import (STYLE.md: the toolbox's __all__ is its surface).
SPEC_MAY_IMPORT = ("conformance.specs.support", "conformance.spec", "conformance.outcomes", "conformance.deadline", "conformance")
#: What grading may take from conformance: the leaves both sides share.
GRADING_MAY_IMPORT = ("conformance.record", "conformance.settings")
MAX_LINES = 600
MAX_TOP_LEVEL_MODULES = 12


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _sources() -> dict[str, Path]:
    return {_module(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py")) if "bundled" not in p.parts}


SOURCES = _sources()


def _imports(name: str, path: Path) -> set[str]:
    """The grader's modules NAME imports (the most specific one each import names)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            # `from X import y`: y is a module of X when there is one, else a name in X
            targets = [f"{module}.{a.name}" if f"{module}.{a.name}" in SOURCES else module for a in node.names]
        else:
            continue
        out |= {t for t in targets if t.split(".")[0] in PACKAGES}
    return out - {name}


GRAPH = {name: _imports(name, path) for name, path in SOURCES.items()}


def _layer(module: str) -> int:
    for i, (_, names) in enumerate(LAYERS):
        if any(module == n or (n not in PACKAGES and module.startswith(n + ".")) for n in names):
            return i
    raise AssertionError(f"{module} is in no layer of tests/test_architecture.py: place it (docs/architecture.md)")


def test_imports_only_go_down():
    upward = [
        f"{m} ({LAYERS[_layer(m)][0]}) imports {d} ({LAYERS[_layer(d)][0]})"
        for m, deps in GRAPH.items() for d in sorted(deps) if _layer(d) > _layer(m)
    ]
    assert not upward, "\n".join(upward)


def test_the_wings_of_a_layer_do_not_import_each_other():
    wing = lambda m: m.split(".")[1] if m.startswith("grading.") else ""  # noqa: E731
    crossing = [f"{m} imports {d}" for m, deps in GRAPH.items() for d in deps if {wing(m), wing(d)} == {"classwork", "kits"}]
    assert not crossing, crossing


def test_grading_takes_only_the_leaves_of_conformance():
    taken = {f"{m} imports {d}" for m, deps in GRAPH.items() if m.startswith("grading") for d in deps
             if d.startswith("conformance") and d not in GRADING_MAY_IMPORT and d != "conformance"}
    assert not taken, sorted(taken)
    assert not [d for m, deps in GRAPH.items() if m.startswith("conformance") for d in deps if d.startswith("grading")], "conformance imports nothing of grading"


def test_specs_take_their_tools_from_the_toolbox():
    specs = {m: deps for m, deps in GRAPH.items() if m.startswith("conformance.specs.test_")}
    assert specs
    bad = [f"{m} imports {d}" for m, deps in specs.items() for d in deps
           if not any(d == p or (p not in PACKAGES and d.startswith(p + ".")) for p in SPEC_MAY_IMPORT)]
    assert not bad, "re-export it through conformance.specs.support's __all__:\n" + "\n".join(bad)


def test_no_import_circle():
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    circles: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in GRAPH.get(v, ()):
            if w not in GRAPH:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for v in GRAPH:
        if v not in index:
            visit(v)
    # a package's __init__ that re-exports its modules, which import siblings, is no circle of
    # dependencies between rooms; only circles among modules count
    circles = [c for c in circles if not all(SOURCES[m].name == "__init__.py" or any(SOURCES[o].name == "__init__.py" and m.startswith(o + ".") for o in c) for m in c)]
    assert not circles, circles


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_no_module_outgrows_its_room(name):
    path = SOURCES[name]
    if path.parent.name == "specs" and path.name.startswith("test_"):
        return  # one spec is one function: a mechanism's specs stay together
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(ROOT)} has {lines} lines: split it into a room of its own"


@pytest.mark.parametrize("package", PACKAGES)
def test_the_top_level_stays_small(package):
    modules = sorted(p.name for p in (ROOT / package).glob("*.py"))
    assert len(modules) <= MAX_TOP_LEVEL_MODULES, f"{package}/ has {len(modules)} top-level modules: {modules}; give them a wing"
