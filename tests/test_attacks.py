"""Hostile submissions, one per class of docs/security.md: each is graded, and the test checks
the verdict, that the grader and the reference are as they were, and that nothing is left.

They run as root (where the grader runs programs as users of their own: CI, Gradescope,
PrairieLearn); as an ordinary user the programs are the grader's own user, and only the
integrity watch applies (test_delegating_to_the_reference_scores_nothing runs there too).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import neighbours
import pytest
from harness import ROOT, grade

from conformance import locate
from conformance import record as run_record
from conformance.kernel import observe
from conformance.record import MECHANISMS
from conformance.run.sandbox import POOL_BASE, POOL_SIZE

ATTACKS = ROOT / "tests" / "fixtures" / "attacks"
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="programs run as a user of their own only when the grader is root")


def _attack(tmp_path: Path, attack: str, mechanisms=("pipe", "socket")) -> Path:
    impl = tmp_path / attack
    impl.mkdir()
    shutil.copy(ATTACKS / "attack.py", impl / "attack.py")
    lines = "\n".join(f'{m} = "python3 attack.py {attack}"' for m in mechanisms)
    (impl / "ipc.toml").write_text(f'[implementation]\nname = "attack: {attack}"\n\n[programs]\n{lines}\n')
    return impl


def _files_of(uid: int) -> list[str]:
    out = []
    for top in ("/tmp", "/var/tmp", "/dev/shm"):
        for entry in os.scandir(top):
            try:
                if entry.stat(follow_symlinks=False).st_uid == uid:
                    out.append(entry.path)
            except OSError:
                pass
    return out


def _grader_digest() -> str:
    """A digest of every file of the grader's packages and its bundled reference."""
    h = hashlib.sha256()
    for top in (Path(locate.__file__).parent, locate.bundled("reference")):
        for path in sorted(p for p in top.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
            h.update(str(path).encode() + path.read_bytes())
    return h.hexdigest()


def _nothing_left(rec) -> None:
    """No process and no file of the grading's programs' user (one grading process: one uid)."""
    uid = rec.meta["programs_uid"]
    assert POOL_BASE <= uid < POOL_BASE + POOL_SIZE, uid
    assert not observe.pids_of_user(uid), f"processes of uid {uid} outlived the grading"
    assert not _files_of(uid), _files_of(uid)


# --- delegate: run the grader's own reference --------------------------------------------------


def test_delegating_to_the_reference_scores_nothing(tmp_path):
    """`python3 -m conformance.bundled.reference.pipe` as a program: not importable under the
    programs' Python, and an integrity finding on every spec it ran in."""
    rec, _ = grade(ATTACKS / "delegate", "-k", "pipe.relay-roundtrip or pipe.uses-pipe or msgq.typed-receive", cwd=tmp_path)
    assert rec.specs and rec.score == 0
    for s in rec.specs:
        assert s.status == "failed", (s.id, s.status)
        assert s.integrity and "conformance.bundled" in s.integrity[0], (s.id, s.integrity)


def test_running_the_grader_through_its_parent_scores_nothing(tmp_path):
    """A script that finds the grader's interpreter through /proc/$PPID and runs the reference
    with it: out of reach as root (ACL), caught by the integrity watch otherwise."""
    rec, _ = grade(ATTACKS / "shim", "-k", "pipe.relay-roundtrip or pipe.uses-pipe", cwd=tmp_path)
    assert rec.specs and rec.score == 0 and all(s.status in ("failed", "timeout") for s in rec.specs)
    if os.geteuid() != 0:
        assert all(s.integrity for s in rec.specs if s.status == "failed")


# --- tamper, forge: the grader's files, the reference, the reports ------------------------------


@as_root
def test_a_program_cannot_change_the_grader_the_reference_or_a_report(tmp_path):
    before = _grader_digest()
    report = tmp_path / "report-of-someone-else.json"
    report.write_text("the real report\n")
    impl = _attack(tmp_path, "tamper")
    env = {**os.environ, "IPC_ATTACK_TARGET": str(report)}
    rec, _ = grade(impl, "-k", "pipe.relay-roundtrip", cwd=tmp_path, env=env)
    assert _grader_digest() == before
    assert report.read_text() == "the real report\n"
    assert not Path("/tmp/owned-by-pth").exists()
    out = next(s for s in rec.specs if s.id == "pipe.relay-roundtrip").failure.transcripts[0].stdout
    assert "wrote" not in out, out
    assert "IPC_ATTACK_TARGET" not in out  # nor does the grader's environment reach a program


# --- linger, exhaust: nothing outlives its spec -------------------------------------------------


@pytest.mark.slow
@as_root
def test_a_fork_hopping_program_does_not_outlive_its_spec(tmp_path):
    """Each child forks and its parent exits at once, in a new session: a tree walk never sees
    it all, but kill(-1) as the programs' user does."""
    impl = _attack(tmp_path, "linger")
    for _ in range(3):
        rec, _ = grade(impl, "-k", "pipe.relay-roundtrip or pipe.eof-on-close", cwd=tmp_path)
        assert rec.specs and rec.score == 0
        _nothing_left(rec)


@as_root
def test_files_a_program_leaves_in_tmp_are_removed(tmp_path):
    rec, _ = grade(_attack(tmp_path, "litter"), "-k", "pipe.relay-roundtrip", cwd=tmp_path)
    assert rec.specs and rec.score == 0
    _nothing_left(rec)


# --- read: the grader's secrets -------------------------------------------------------------------


@as_root
def test_programs_see_no_secret_of_the_grader(tmp_path):
    env = {**os.environ, "IPC_GRADER_SECRET": "s3cr3t-token"}
    rec, _ = grade(_attack(tmp_path, "secrets"), "-k", "pipe.relay-roundtrip", cwd=tmp_path, env=env)
    out = next(s for s in rec.specs if s.id == "pipe.relay-roundtrip").failure.transcripts[0].stdout
    assert "ENV " in out and "s3cr3t-token" not in out, out
    assert "SHADOW" not in out and "no shadow" in out
    assert "no parent environ" in out


# --- interfere: two gradings at once, one hostile -------------------------------------------------


def _netns_allowed() -> bool:
    done = subprocess.run(["unshare", "--net", "true"], capture_output=True) if shutil.which("unshare") else None
    return done is not None and done.returncode == 0


@as_root
@pytest.mark.skipif(not _netns_allowed(), reason="no network namespaces here: gradings share the network (docs/security.md)")
def test_a_hostile_grading_cannot_reach_an_honest_one(tmp_path):
    """While an honest grading's servers listen, a hostile one connects to every listening
    port it sees: each grading has a network of its own, so the honest verdicts are unchanged."""
    honest: dict = {}
    specs = "socket.tcp-roundtrip or socket.tcp-concurrent-clients or socket.tcp-many-clients-no-leak or socket.udp-roundtrip"
    (tmp_path / "honest").mkdir()
    (tmp_path / "hostile").mkdir()

    def run_honest():
        honest["rec"] = grade(locate.bundled("reference"), "-k", specs, cwd=tmp_path / "honest")[0]

    t = threading.Thread(target=run_honest)
    t.start()
    impl = _attack(tmp_path / "hostile", "scan", mechanisms=("socket",))
    while t.is_alive():
        grade(impl, "-k", "socket.tcp-roundtrip", cwd=tmp_path / "hostile")
    t.join()
    rec = honest["rec"]
    assert rec.specs and all(s.status == "passed" for s in rec.specs), [(s.id, s.status, s.message[:200]) for s in rec.specs]


# --- interfere with the grader's own operations: a verdict, never broken -----------------------


def _interfering(tmp_path: Path, attack: str, mechanisms: tuple[str, ...]) -> Path:
    """The reference's programs for MECHANISMS, each started through interfere.py ATTACK."""
    impl = tmp_path / attack
    impl.mkdir()
    reference = locate.bundled("reference")
    shutil.copy(ATTACKS / "interfere.py", impl / "interfere.py")
    lines = []
    for m in mechanisms:
        program = MECHANISMS[m].program
        shutil.copy(reference / program, impl / program)
        lines.append(f'{m} = "python3 interfere.py {attack} {program}"')
    (impl / "ipc.toml").write_text(f'[implementation]\nname = "interfere: {attack}"\n\n[programs]\n' + "\n".join(lines) + "\n")
    return impl


def _private_ipc(rec) -> bool:
    """The run had an IPC namespace and a /dev/shm of its own (what it fills is its own)."""
    return "private IPC namespace and /dev/shm" in rec.meta.get("isolation", "")


INTERFERENCES = {
    # attack: (mechanisms, -k, what an integrity finding says when the attack bit)
    "flood-shm": (("shm",), "shm.counter", "flooded"),
    "fill-sysv": (("msgq",), "msgq", "filled the kernel's table of System V message queues"),
    "squat-mqueue": (("mqueue",), "mqueue", "took a name that is not theirs"),
    "fill-shm": (("buffer",), "buffer", "filled /dev/shm"),
}


@pytest.mark.slow
@pytest.mark.parametrize("attack", sorted(INTERFERENCES))
def test_getting_in_the_graders_way_scores_no_more_than_the_honest_work(attack, tmp_path):
    """Flooding the inotify queue the grader watches /dev/shm with, filling the System V table,
    squatting the names the grader will create, filling /dev/shm: each is the programs' doing,
    a failed spec with an integrity finding, never broken (which would ask for a regrade) and
    never a crash of the grader; the submission scores no more than the same programs without
    the attack, in points and as a percentage."""
    mechanisms, selection, finding = INTERFERENCES[attack]
    (tmp_path / "honest").mkdir()
    (tmp_path / "hostile").mkdir()
    honest, _ = grade(_interfering(tmp_path / "honest", "none", mechanisms), "-k", selection, "-n", "2", cwd=tmp_path / "honest")
    rec, proc = grade(_interfering(tmp_path / "hostile", attack, mechanisms), "-k", selection, "-n", "2", cwd=tmp_path / "hostile")
    assert honest.error is None and honest.score == honest.max_score > 0, [(s.id, s.status, s.message[:200]) for s in honest.specs if s.status != "passed"]
    assert rec.error is None and {s.id for s in rec.specs} == {s.id for s in honest.specs}, (rec.error, proc.stdout[-2000:])
    assert not [s.id for s in rec.specs if s.status == "broken"], [(s.id, s.message[:300]) for s in rec.specs if s.status == "broken"]
    assert rec.score <= honest.score and rec.score / rec.max_score <= honest.score / honest.max_score
    bitten = [s for s in rec.specs if any(finding in f for f in s.integrity)]
    assert all(s.status == "failed" for s in bitten), [(s.id, s.status) for s in bitten]
    if attack == "flood-shm":
        assert bitten, [(s.id, s.status, s.integrity, s.message[:200]) for s in rec.specs if s.status != "passed"]
    if attack in ("fill-sysv", "fill-shm") and _private_ipc(rec):
        # what they fill is the run's own: it costs them (the grader's quota may stop the
        # programs before the grader meets ENOSPC; tests/test_interference.py meets it)
        assert rec.score < honest.score


# --- interfere, exhaust, signal: gradings side by side, some hostile ------------------------------

contained = pytest.mark.skipif(
    os.geteuid() != 0 or not neighbours.can_contain(), reason="a container (Docker's capabilities, an IPC namespace and /dev/shm of its own) needs root, unshare, capsh and overlayfs"
)
#: The honest mutant graded beside the hostile neighbours: its mechanism's names are the ones a
#: squatter takes.
NEIGHBOUR_MUTANT = "mqueue/unlink-leaks"


def _honest_alone(rec, fails: set[str], mechanism: str | None) -> list[str]:
    """How REC's verdicts differ from those its implementation gets alone: every spec passed
    (the reference), or exactly FAILS failed and MECHANISM's other specs passed (a mutant, whose
    manifest has no other mechanism)."""
    wrong = []
    for s in rec.specs:
        if mechanism is not None and s.mechanism != mechanism:
            expected = "not-implemented"
        else:
            expected = "failed" if s.id in fails else "passed"
        if s.status != expected:
            wrong.append(f"{s.id}: {s.status} (alone: {expected}): {s.message[:300]} {s.interference}")
    return wrong


def _outputs(rec) -> str:
    return "\n".join(t.stdout for s in rec.specs if s.failure for t in s.failure.transcripts)


@pytest.mark.slow
@as_root
@pytest.mark.parametrize("where", ["root", pytest.param("docker", marks=contained)])
def test_hostile_neighbours_leave_the_honest_verdicts_as_they_are_alone(tmp_path, where):
    """`ipc-grade batch --jobs 2` grades the reference and a mutant beside hostile submissions:
    one squats the names and keys handed to the other gradings' programs (read from their
    command lines, its build and its programs), one floods every System V table, the POSIX
    queues and /dev/shm, one signals every process of another user. As root (each grading in
    namespaces of its own) and with Docker's default capabilities (the gradings share one IPC
    namespace, /dev/shm and /dev/mqueue, as in the image): the honest verdicts are the ones they
    get alone, each attack was made and stopped, and nothing of any grading is left."""
    from harness import mutants

    klass, out = tmp_path / "class", tmp_path / "out"
    for ident in neighbours.HOSTILE:
        neighbours.hostile(klass, ident)
    shutil.copytree(locate.bundled("reference"), klass / "2-reference", ignore=shutil.ignore_patterns("c", "__pycache__"))
    mutant = next(m for m in mutants() if m.id == NEIGHBOUR_MUTANT)
    (tmp_path / "m").mkdir()
    shutil.copytree(mutant.materialize(tmp_path / "m"), klass / "5-mutant")
    rubric = tmp_path / "rubric.toml"
    rubric.write_text(neighbours.RUBRIC)
    for path in [tmp_path, *tmp_path.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    cmd = f"{sys.executable} -m grading.cli batch {klass} --out {out} --jobs 2 --rubric {rubric}; {neighbours.held_line(sys.executable)}"
    argv = neighbours.container(cmd, tmp_path / "dev") if where == "docker" else ["sh", "-c", cmd]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=1800, cwd=tmp_path)
    records = {p.parent.name: run_record.load(p) for p in (out / "submissions").glob("*/record.json")}
    assert set(records) == {*neighbours.HOSTILE, "2-reference", "5-mutant"}, done.stdout[-2000:] + done.stderr[-2000:]
    isolation = records["2-reference"].meta["isolation"]
    assert ("namespace" in isolation) == (where == "root"), isolation

    # the honest verdicts are those they get alone
    assert _honest_alone(records["2-reference"], set(), None) == []
    assert _honest_alone(records["5-mutant"], mutant.fails, mutant.mechanism) == []

    # every attack was made, and stopped
    flood = records["1-flood"]
    assert any("your programs held" in f for s in flood.specs for f in s.integrity), [s.message[:200] for s in flood.specs[:3]]
    assert all(s.points == 0 for s in flood.specs)
    signals = _outputs(records["4-signal"])
    assert "signalled 0, refused" in signals and "signalled 0, refused 0" not in signals, signals[:500]
    squat = records["3-squat"]
    build = squat.meta["build"] or {}
    seen = [int(n) for n in re.findall(r"squatted \d+ of (\d+) names seen", build.get("log", "") + _outputs(squat))]
    # made and stopped: caught taking a name another grading was handed, or it reports the names
    # it saw and took (in a namespace of its own, as root, taking collides with nothing), or,
    # having taken more keys than a grading may hold objects (3 objects a key), stopped by the
    # keeper for that before it could report: a faster honest grading shows it more keys a second
    status = build.get("status", "")
    assert "take a name another grading handed out" in status or any(seen) or ("your programs held" in status and "stopped" in status), build
    if where == "docker":  # the gradings shared one IPC namespace and /dev/shm: none of them left anything there
        held = neighbours.parse_held(done.stdout)
        assert held and neighbours.nothing_held(held[-1]), held


@pytest.mark.slow
@as_root
@pytest.mark.parametrize("where", ["root", pytest.param("docker", marks=contained)])
def test_after_a_flood_nothing_is_left_and_the_next_verdicts_are_unchanged(tmp_path, where):
    """A submission whose programs fill, at the kernel's speed, the System V queue, segment and
    semaphore tables, the POSIX queues and /dev/shm (flood.c) is stopped at its first spec and
    every later spec fails without running it; afterwards ipcs, /dev/shm and /dev/mqueue hold
    nothing of it, and the reference graded next passes every spec it passes alone."""
    flood = neighbours.flooder(tmp_path / "impls")
    reference = tmp_path / "impls" / "reference"
    shutil.copytree(locate.bundled("reference"), reference, ignore=shutil.ignore_patterns("c", "__pycache__"))
    for path in [tmp_path, *tmp_path.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    specs = "msgq or mqueue or shm or buffer"
    grade_line = lambda impl, name: (  # noqa: E731
        f"{sys.executable} -m pytest --impl={impl} --ipc-json={tmp_path / name}.json -p no:cacheprovider -q -k '{specs}' {locate.specs_dir()}"
    )
    held = neighbours.held_line(sys.executable)
    cmd = f"{held}; {grade_line(flood, 'flood')}; {held}; {grade_line(reference, 'reference')}; {held}"
    argv = neighbours.container(cmd, tmp_path / "dev") if where == "docker" else ["sh", "-c", cmd]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=1800, cwd=tmp_path, env=_env_without_xdist())
    rec = run_record.load(tmp_path / "flood.json")
    first, *rest = sorted(rec.specs, key=lambda s: (s.integrity == [], s.id))
    assert any("your programs held" in f for f in first.integrity), first.message[:500]
    assert all(s.status == "failed" and s.points == 0 for s in rec.specs)
    assert all("not run" in s.message or "was not started" in s.message or s.integrity for s in rest), [s.message[:200] for s in rest]
    assert _honest_alone(run_record.load(tmp_path / "reference.json"), set(), None) == []
    if where == "docker":  # one IPC namespace, /dev/shm and /dev/mqueue for both gradings
        before, after_flood, after_reference = neighbours.parse_held(done.stdout)
        assert neighbours.nothing_held(before) and neighbours.nothing_held(after_flood) and neighbours.nothing_held(after_reference), (before, after_flood)


@as_root
def test_nothing_a_program_can_read_tells_the_names_handed_out(tmp_path):
    """A program cannot list the grader's run directories, read another user's environment, or
    find an IPC name in the command line of any of the grader's processes (which /proc shows
    everyone): nothing it can read tells the names and keys the grading hands out next."""
    impl = tmp_path / "peek"
    impl.mkdir()
    shutil.copy(neighbours.ATTACKS / "neighbour.py", impl / "neighbour.py")
    (impl / "ipc.toml").write_text('[implementation]\nname = "peek"\n\n[programs]\nmqueue = "python3 neighbour.py peek"\n')
    rec, _ = grade(impl, "-k", "mqueue.persists", cwd=tmp_path)
    out = _outputs(rec)
    assert "listed 0 run directories; read 0 environments of other users; names in the grader's command lines: []; directories whose name is in the names handed to me: 0" in out, out


def test_names_are_drawn_at_random_and_fit(tmp_path):
    """Each POSIX name and key is fresh randomness, the same length every time (a verdict never
    depends on it), recorded for the clean-up, and short enough for NAME_MAX and sun_path."""
    from conformance.run.naming import Names, new_run_root

    names = Names(tmp_path, "gw12")
    first, second = names.posix("cnt"), names.posix("cnt")
    assert first != second and len(first) == len(second) < 64 and first[:9] == second[:9] == "/ipc-gw12"
    assert names.sysv_key() != names.sysv_key()
    assert [kind for kind, _ in names.take_handed()] == ["posix", "posix", "key", "key"] and names.handed == []
    root = new_run_root()
    try:
        assert root.stat().st_mode & 0o777 == 0o711
        spec_dir = Names(root, "gw12").tmp_dir()
        assert spec_dir.stat().st_mode & 0o777 == 0o700 and len(str(spec_dir / "server.sock")) < 108 - 20
    finally:
        shutil.rmtree(root)


def _env_without_xdist() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTEST_XDIST_WORKER", None)
    env.pop("PYTEST_ADDOPTS", None)
    return env


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-v"]))
