"""Adding a mechanism touches a known set of places; they must agree."""

from __future__ import annotations

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
