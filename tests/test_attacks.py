"""Hostile submissions, one per class of docs/security.md: each is graded, and the test checks
the verdict, that the grader and the reference are as they were, and that nothing is left.

They run as root (where the grader runs programs as users of their own: CI, Gradescope,
PrairieLearn); as an ordinary user the programs are the grader's own user, and only the
integrity watch applies (test_delegating_to_the_reference_scores_nothing runs there too).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from harness import ROOT, grade

from conformance import locate
from conformance.kernel import observe
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


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-v"]))
