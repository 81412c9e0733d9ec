"""Adding a mechanism touches a known set of places; they must agree."""

from __future__ import annotations

import json
import re
import tomllib

import pytest
from harness import MUTANTS, ROOT

from conformance import catalogue, locate
from conformance.record import MECHANISMS

REFERENCE = locate.bundled("reference")
TEMPLATE = locate.bundled("student_template")


def _programs(root):
    return tomllib.loads((root / "ipc.toml").read_text())["programs"]


@pytest.mark.parametrize("mechanism", list(MECHANISMS))
def test_every_mechanism_is_complete(mechanism):
    m = MECHANISMS[mechanism]
    assert _programs(REFERENCE).get(mechanism) == f"python3 {m.program}", "reference/ipc.toml must name it"
    assert (REFERENCE / m.program).is_file()
    assert _programs(TEMPLATE).get(mechanism) == f"python3 {m.program}", "student_template/ipc.toml must name it"
    assert (TEMPLATE / m.program).is_file()
    assert (locate.specs_dir() / f"test_{mechanism}.py").is_file(), "its spec module"
    assert (MUTANTS / mechanism).is_dir() and any((MUTANTS / mechanism).iterdir()), "its mutants"
    assert any(s.mechanism == mechanism for s in catalogue.specs()), "at least one spec"


def test_manifests_name_only_known_mechanisms():
    assert set(_programs(REFERENCE)) <= set(MECHANISMS)
    assert set(_programs(TEMPLATE)) <= set(MECHANISMS)


def test_readme_spec_table_is_current():
    readme = (ROOT / "README.md").read_text()
    assert catalogue.with_table(readme) == readme, "regenerate it: python -m conformance.catalogue README.md"


def test_required_spec_ids_exist():
    """Contract section 4: five behaviours every report shows by these exact ids."""
    ids = {s.id for s in catalogue.specs()}
    required = {"pipe.eof-on-close", "buffer.blocks-when-full", "signal.sigkill-uncatchable", "msgq.typed-receive", "socket.tcp-roundtrip"}
    assert required <= ids, sorted(required - ids)


# --- every place that knows the mechanisms is derived from the registry or checked here ------

DOC = ROOT / "docs" / "adding-a-mechanism.md"
#: Fixtures that stand for every mechanism: a submission that behaves one way in every program.
EVERY_MECHANISM_FIXTURES = ("hang", "quits", "bignum", "garbage")


def _places() -> list[str]:
    """The paths in the first column of the table in docs/adding-a-mechanism.md."""
    rows = [line for line in DOC.read_text().splitlines() if line.startswith("| `")]
    return [row.split("`")[1] for row in rows]


def test_the_doc_lists_the_places_and_each_exists_for_every_mechanism():
    places = _places()
    assert len(places) >= 8, places
    for m in MECHANISMS.values():
        stem = m.program.removesuffix(".py")
        for place in places:
            path = ROOT / place.format(name=m.name, program=m.program, stem=stem)
            assert path.exists(), f"{m.name}: {path.relative_to(ROOT)} (docs/adding-a-mechanism.md) is missing"


def test_the_c_reference_names_every_mechanism():
    programs = _programs(REFERENCE / "c")
    assert programs == {m.name: f"./{m.program.removesuffix('.py')}" for m in MECHANISMS.values()}


def test_the_bundled_manifests_are_made_from_the_registry():
    """reference/ and student_template/, and their c/: [programs] is one line per mechanism in
    registry order, written by `python -m conformance.catalogue --manifests`, never by hand."""
    for path, text in catalogue.manifests().items():
        assert path.read_text() == text, f"{path.relative_to(ROOT)}: regenerate it with python -m conformance.catalogue --manifests"


def test_the_c_makefiles_build_every_program_the_manifests_name():
    """A new mechanism's C file is a program of the Makefiles without a line there: PROGRAMS is
    every source but common.c."""
    for root in (REFERENCE / "c", TEMPLATE / "c"):
        makefile = (root / "Makefile").read_text()
        assert "PROGRAMS = $(basename $(filter-out common.c,$(wildcard *.c)))" in makefile, root
        sources = {p.stem for p in root.glob("*.c")} - {"common"}
        assert sources == {cmd.removeprefix("./") for cmd in _programs(root).values()}, root


def test_every_manifest_in_the_tree_names_only_known_mechanisms():
    manifests = [p for p in ROOT.rglob("ipc.toml") if ".venv" not in p.parts and "node_modules" not in p.parts]
    assert len(manifests) >= 5
    for manifest in manifests:
        unknown = set(tomllib.loads(manifest.read_text()).get("programs", {})) - set(MECHANISMS)
        assert not unknown, f"{manifest.relative_to(ROOT)} names {sorted(unknown)}"


@pytest.mark.parametrize("fixture", EVERY_MECHANISM_FIXTURES)
def test_fixtures_for_every_mechanism_name_each(fixture):
    assert set(_programs(ROOT / "tests" / "fixtures" / fixture)) == set(MECHANISMS)


def test_the_contract_has_a_section_per_mechanism_in_order_with_its_roles():
    contract = (locate.specs_dir().parent / "CONTRACT.md").read_text()
    sections = [line for line in contract.splitlines() if line.startswith("### 3.")]
    assert [line.split()[2].rstrip(":") for line in sections] == list(MECHANISMS)
    for m, heading in zip(MECHANISMS.values(), sections, strict=True):
        body = contract.split(heading, 1)[1].split("\n### ", 1)[0]
        usage = body.split("```text", 1)[1].split("```", 1)[0]
        roles = [line.split()[1] for line in usage.splitlines() if line.startswith(f"{m.name} ")]
        assert sorted(set(roles)) == sorted(m.roles), (m.name, roles)


def test_the_run_record_doc_lists_the_mechanisms():
    text = (ROOT / "docs" / "run-record.md").read_text()
    listed = ", ".join(f"`{name}`" for name in MECHANISMS)
    assert f"the mechanism ({listed})" in text


def test_the_batch_benchmark_grades_a_quick_spec_per_mechanism_that_exists():
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_batch", ROOT / "scripts" / "bench_batch.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    known = {s.id for s in catalogue.specs()}
    chosen = bench.quick_specs()
    assert {s.split(".")[0] for s in chosen} >= set(MECHANISMS)
    assert [s for s in chosen if s not in known] == []  # a renamed or removed extra is caught here, not in a benchmark run


def test_the_c_students_guide_has_a_row_per_program():
    text = (ROOT / "docs" / "c-students.md").read_text()
    for m in MECHANISMS.values():
        assert f"| `reference/c/{m.program.removesuffix('.py')}.c` |" in text, f"docs/c-students.md: no row for {m.name}"


def test_the_c_reference_readme_has_a_row_per_program():
    text = (ROOT / "reference" / "c" / "README.md").read_text()
    for m in MECHANISMS.values():
        assert f"| `{m.program.removesuffix('.py')}.c` |" in text, f"reference/c/README.md: no row for {m.name}"


def test_every_statement_of_the_contract_version_is_current():
    """Besides CONTRACT_VERSION, the version is stated in documents; a bump must reach each."""
    from conformance import CONTRACT_VERSION as v

    contract = (locate.specs_dir().parent / "CONTRACT.md").read_text()
    assert contract.splitlines()[0] == f"# The implementation contract, version {v}"
    assert re.fullmatch(r"[0-9]+\.[0-9]+", v), f"CONTRACT_VERSION is MAJOR.MINOR, not {v!r}"
    assert f"This is **contract version {v}**" in contract and f"CONTRACT_VERSION == {json.dumps(v)}`" in contract
    for manifest in ("reference/ipc.toml", "reference/c/ipc.toml"):
        assert f"contract version {v}" in (ROOT / manifest).read_text().splitlines()[0], manifest
    assert f"(version {v})" in (ROOT / "reference" / "c" / "README.md").read_text()
    assert f'"contract_version": {json.dumps(v)},' in (ROOT / "docs" / "run-record.md").read_text()


def test_the_run_record_doc_names_every_field():
    """Every field a spec's result carries, and every top-level field of a record, has its row."""
    import dataclasses

    from conformance.record import RunRecord, SpecResult

    text = (ROOT / "docs" / "run-record.md").read_text()
    for f in dataclasses.fields(SpecResult):
        assert f"| `{f.name}` |" in text, f.name
    for key in RunRecord(implementation={"path": ".", "name": "x"}).to_json():
        assert f"| `{key}` |" in text, key


def test_each_mechanisms_smoke_spec_is_one_of_its_specs():
    ids = {s.id: s.mechanism for s in catalogue.specs()}
    for m in MECHANISMS.values():
        assert ids.get(m.smoke) == m.name, f"{m.name}: its smoke spec {m.smoke!r} is not one of its specs"


def test_the_toolbox_names_only_registered_mechanisms():
    """The queue drivers name the program they drive: a mechanism of the registry."""
    from conformance.specs.support import queues

    drivers = [queues.SysvQueues, queues.PosixQueues]
    assert all(d.mechanism in MECHANISMS for d in drivers), [d.mechanism for d in drivers]
