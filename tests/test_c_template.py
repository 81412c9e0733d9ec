"""The C starting point: `ipc-grade new DIR --lang c` gives a student a directory that builds
without a warning, names every mechanism, keeps its binaries out of git, and scores every spec
not-implemented (issue 15)."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from harness import grade

from conformance import locate
from conformance.record import MECHANISMS

TEMPLATE = locate.bundled("student_template") / "c"
STEMS = [m.program.removesuffix(".py") for m in MECHANISMS.values()]
#: The warnings a student's own compiler may add to the Makefile's: the stubs are clean under
#: all of them, so the first warning a student sees is about their own code.
STRICT = "-O2 -g -std=c11 -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Werror"

needs_cc = pytest.mark.skipif(shutil.which("cc") is None or shutil.which("make") is None, reason="no C compiler or make here")


def _new(tmp_path, lang="c"):
    """`ipc-grade new DIR --lang LANG`, as a student runs it."""
    from grading.cli import new

    target = tmp_path / "lab"
    assert new.main([str(target), "--lang", lang]) == 0
    return target


def test_the_manifest_the_makefile_and_gitignore_name_every_program():
    import tomllib

    manifest = tomllib.loads((TEMPLATE / "ipc.toml").read_text())
    assert manifest["implementation"]["build"] == "make"
    assert manifest["programs"] == {m.name: f"./{m.program.removesuffix('.py')}" for m in MECHANISMS.values()}
    # the Makefile builds every source but common.c (tests/test_registry.py checks its PROGRAMS)
    assert sorted(p.stem for p in TEMPLATE.glob("*.c") if p.stem != "common") == sorted(STEMS), "student_template/c: a source per program"
    ignored = set((TEMPLATE / ".gitignore").read_text().split())
    assert {f"/{stem}" for stem in STEMS} | {"*.o"} <= ignored, "student_template/c/.gitignore keeps every binary out"
    for stem in STEMS:
        assert (TEMPLATE / f"{stem}.c").is_file(), f"student_template/c/{stem}.c"


def test_new_copies_the_c_template_alone(tmp_path):
    target = _new(tmp_path)
    names = {p.name for p in target.iterdir()}
    assert {"ipc.toml", "Makefile", "common.h", "common.c", ".gitignore", "README.md"} <= names
    assert {f"{stem}.c" for stem in STEMS} <= names
    assert not any(n.endswith(".py") for n in names), sorted(names)
    assert (target / ".github" / "workflows" / "grade.yml").is_file()  # CI grades C too


def test_new_python_leaves_the_c_template_out(tmp_path):
    target = _new(tmp_path, "python")
    assert not (target / "c").exists()
    assert (target / "ipc.toml").is_file()


@needs_cc
def test_the_c_stubs_build_without_a_warning(tmp_path):
    target = _new(tmp_path)
    out = subprocess.run(["make", f"CFLAGS={STRICT}"], cwd=target, capture_output=True, text=True)
    assert out.returncode == 0 and "warning" not in out.stderr, out.stderr
    for stem in STEMS:
        assert (target / stem).is_file(), f"make built no {stem}"


@needs_cc
def test_every_c_spec_is_not_implemented(tmp_path):
    """The bar of issue 15: a fresh C template builds and scores every spec not-implemented
    (none failed: a stub's argument parsing accepts every command line a spec gives)."""
    target = _new(tmp_path)
    rec, proc = grade(target, str(locate.specs_dir()), "-n", "2", cwd=tmp_path)
    statuses = {s.id: s.status for s in rec.specs}
    assert statuses and set(statuses.values()) == {"not-implemented"}, {i: s for i, s in statuses.items() if s != "not-implemented"}
    assert rec.error is None, rec.error
    assert not any(p.name in STEMS for p in target.iterdir()), "the grader builds in a copy, never in the student's directory"


@pytest.mark.slow
@needs_cc
def test_the_c_reference_gets_full_marks(tmp_path):
    """The C reference, graded as a student's C is (built with its Makefile, in a copy): every
    spec passes, or is unsupported on this machine, and nothing is built in its directory."""
    reference = locate.bundled("reference") / "c"
    impl = tmp_path / "c"
    shutil.copytree(reference, impl)
    rec, proc = grade(impl, "-p", "no:xdist", cwd=tmp_path)
    assert rec.error is None, rec.error
    wrong = {s.id: f"{s.status}: {s.message[:300]}" for s in rec.specs if s.status not in ("passed", "unsupported")}
    from conformance.catalogue import specs

    assert not wrong and rec.score == rec.max_score > 0, wrong
    assert {s.id for s in rec.specs} == {s.id for s in specs()}, "every spec ran"
    assert {p.name for p in impl.iterdir()} == {p.name for p in reference.iterdir()}, "the build wrote into the implementation"
