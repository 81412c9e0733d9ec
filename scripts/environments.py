"""Grade the same implementations in every environment where courses grade; the verdicts must agree.

    sudo python scripts/environments.py --shared-python /opt/ipc-venv/bin/python
    sudo python scripts/environments.py --env docker --runs 20 --hog      # the issue's bar

The environments (docs/environments.md):

- ``root``: root with every capability, the grader's own Python;
- ``docker``: root with exactly Docker's default capabilities (Gradescope, PrairieLearn);
- ``docker-system-python``: the same with a Python other users can run (the programs' Python is
  then a venv on it, where with a pyenv under /root it is a copy);
- ``user``: an ordinary user (a student's laptop, GitHub Actions);
- ``batch``: ``ipc-grade batch`` of a class, beside hostile neighbours (tests/neighbours.py:
  submissions that squat the others' names, flood every shared table and /dev/shm, and signal
  other users' processes);
- ``docker-batch``: the same with Docker's default capabilities, in a container made with
  unshare (an IPC namespace, /dev/shm and /dev/mqueue of its own), where the gradings share them.

Each grades the reference (every spec) and a few mutants (their mechanism's specs); docker and
user also grade the null submissions (tests/fixtures/null/: programs that do none of the work,
every spec; as root, tests/test_null.py in the slow tier does). A spec's verdict must be the same in every environment, except that a spec
may be *unsupported* where the environment lacks a capability it needs (network namespaces),
with the reason. Prints a table, and exits 1 on any disagreement, when the reference misses a
point it could earn, or when a null submission earns a point or has a spec broken.
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import neighbours  # noqa: E402 (tests/neighbours.py, on the path the line above makes)

#: Docker's default capability set (moby's oci/caps/defaults.go), which Gradescope and
#: PrairieLearn containers run with.
DOCKER_DEFAULT_CAPS = (
    "chown dac_override fowner fsetid kill setgid setuid setpcap net_bind_service net_raw "
    "sys_chroot mknod audit_write setfcap"
).split()
#: Mutants graded beside the reference: each leans on a different kind of kernel evidence.
MUTANTS = ("pipe/no-pipe", "msgq/recv-polls", "shm/rm-only-detaches")
#: The environments that grade the null submissions too: under Docker's default capabilities
#: and as an ordinary user (a point without the work would show in any of them); as root with
#: every capability, the slow tier's tests/test_null.py grades them, so CI pays it once.
NULL_ENVS = ("docker", "user")
USER = "ipc-grade-ci"
#: Environments the slow tier grades already, the same way: tests/test_attacks.py's
#: test_hostile_neighbours_leave_the_honest_verdicts_as_they_are_alone[root] and [docker] run
#: `ipc-grade batch --jobs 2` of the reference and a mutant beside the same hostile neighbours
#: (tests/neighbours.py), as root and contained with Docker's default capabilities, and require
#: the verdicts each gets alone. .ci/run passes --without for these (about 240 s of its run).
SLOW_TIER = {"root": "tests/test_sandbox.py::test_the_reference_passes_every_spec_when_sandboxed and tests/test_mutants.py "
                     "grade the same reference and mutants as root with every capability",
             "batch": "tests/test_attacks.py::test_hostile_neighbours_leave_the_honest_verdicts_as_they_are_alone[root]",
             "docker-batch": "tests/test_attacks.py::test_hostile_neighbours_leave_the_honest_verdicts_as_they_are_alone[docker]"}


def docker_drop() -> str:
    """Every capability this kernel knows outside Docker's default set, for capsh --drop."""
    last = int(Path("/proc/sys/kernel/cap_last_cap").read_text())
    names = subprocess.run(["capsh", "--decode=" + format((1 << (last + 1)) - 1, "x")], capture_output=True, text=True, check=True).stdout
    every = names.split("=", 1)[1].strip().split(",")
    return ",".join(c for c in every if c.removeprefix("cap_") not in DOCKER_DEFAULT_CAPS)


@dataclass
class Env:
    name: str
    what: str
    python: str
    wrap: Callable[[list[str]], list[str]] = lambda cmd: cmd
    batch: bool = False
    neighbours: bool = False
    """The batch grades hostile neighbours beside the implementations (tests/neighbours.py)."""
    contained: bool = False
    """In a container of its own with Docker's capabilities (tests/neighbours.container)."""


@dataclass
class Result:
    verdicts: dict[str, dict[str, str]] = field(default_factory=dict)
    """implementation -> spec id -> status"""
    reasons: dict[str, dict[str, str]] = field(default_factory=dict)
    """implementation -> spec id -> message, for specs that did not pass"""
    seconds: float = 0.0
    problem: str | None = None


def environments(default_python: str, shared_python: str | None) -> list[Env]:
    """As root the programs always run as a user of their own, with a Python of their own made
    from the grader's (runtime.py): a venv where other users may run the grader's base
    interpreter (SHARED_PYTHON, from /usr/bin/python3), a copy where they may not (a pyenv
    under /root). Both shapes are graded."""
    out = [Env("root", "root, every capability, the grader's own Python", default_python)]
    if os.geteuid() != 0:
        return [Env("user", "an ordinary user", default_python)]
    drop = docker_drop()
    capsh = lambda cmd: ["capsh", f"--drop={drop}", "--", "-c", shlex.join(cmd)]  # noqa: E731
    out.append(Env("docker", "root, Docker's default capabilities, the grader's own Python", default_python, capsh))
    if shared_python and shared_python != default_python:
        out.append(Env("docker-system-python", "root, Docker's default capabilities, a Python other users can run", shared_python, capsh))
    if shared_python:
        ensure_user(USER)
        user = lambda cmd: ["setpriv", f"--reuid={USER}", f"--regid={USER}", "--init-groups", "--reset-env", *cmd]  # noqa: E731
        out.append(Env("user", f"an ordinary user ({USER})", shared_python, user))
    out.append(Env("batch", "root, ipc-grade batch beside hostile neighbours", default_python, batch=True, neighbours=True))
    if neighbours.can_contain():
        out.append(Env("docker-batch", "root, Docker's default capabilities in a container, ipc-grade batch beside hostile neighbours",
                       default_python, batch=True, neighbours=True, contained=True))
    return out


def ensure_user(name: str) -> None:
    try:
        pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name], check=True)


def implementations(into: Path, mutants: tuple[str, ...], nulls: tuple[str, ...] = ()) -> dict[str, tuple[Path, str | None]]:
    """name -> (directory, mechanism or None for every spec), readable by every user; the null
    submissions NULLS are named null/NAME."""
    from harness import mutants as all_mutants
    from harness import null_submission

    from conformance import locate

    out: dict[str, tuple[Path, str | None]] = {}
    ref = into / "reference"
    shutil.copytree(locate.bundled("reference"), ref, ignore=shutil.ignore_patterns("__pycache__", "c"))
    out["reference"] = (ref, None)
    by_id = {m.id: m for m in all_mutants()}
    for mid in mutants:
        m = by_id[mid]
        where = into / "mutants" / m.mechanism
        where.mkdir(parents=True, exist_ok=True)
        out[mid] = (m.materialize(where), m.mechanism)
    for name in nulls:
        out[f"null/{name}"] = (null_submission(name, into / "nulls"), None)
    for path in [into, *into.rglob("*")]:
        path.chmod(0o755 if path.is_dir() or path.name == "prog.sh" else 0o644)
    return out


def specs_dir(python: str) -> str:
    """PYTHON's own spec modules. Isolated (-I): run from a checkout, `python -c` would import
    the checkout's conformance instead, whose specs the installed plugin does not collect."""
    return subprocess.run([python, "-I", "-c", "from conformance import locate; print(locate.specs_dir())"], capture_output=True, text=True, check=True).stdout.strip()


def grade(env: Env, impls: dict[str, tuple[Path, str | None]], work: Path, jobs: str) -> Result:
    result = Result()
    work.mkdir(mode=0o777, exist_ok=True)
    work.chmod(0o777)
    t0 = time.monotonic()
    if env.batch:
        return _grade_batch(env, impls, work, jobs, result, t0)
    specs = specs_dir(env.python)
    for name, (path, mechanism) in impls.items():
        if name.startswith("null/") and env.name not in NULL_ENVS:
            continue
        out = work / (name.replace("/", "-") + ".json")
        cmd = [env.python, "-m", "pytest", f"--impl={path}", f"--ipc-json={out}", "-n", jobs, "-p", "no:cacheprovider", "-q"]
        if mechanism:
            cmd.append(f"{specs}/test_{mechanism}.py")
        done = subprocess.run(env.wrap(cmd), cwd=work, capture_output=True, text=True)
        if not out.exists():
            result.problem = f"{name}: no run record ({done.returncode}):\n{done.stdout[-1500:]}\n{done.stderr[-1500:]}"
            break
        _take(result, name, json.loads(out.read_text()))
    result.seconds = time.monotonic() - t0
    return result


def _grade_batch(env: Env, impls, work: Path, jobs: str, result: Result, t0: float) -> Result:
    klass = work / "class"
    klass.mkdir()
    names = {}
    for name, (path, _) in impls.items():
        if name.startswith("null/"):
            continue  # graded where NULL_ENVS say
        sid = name.replace("/", "-")
        shutil.copytree(path, klass / sid)
        names[sid] = name
    out = work / "out"
    for ident in neighbours.HOSTILE if env.neighbours else ():
        neighbours.hostile(klass, ident)
    for path in [klass, *klass.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    grader = [env.python, "-m", "grading.cli", "batch", str(klass), "--out", str(out), "--jobs", jobs]
    argv = neighbours.container(shlex.join(grader), work / "dev") if env.contained else env.wrap(grader)
    done = subprocess.run(argv, cwd=work, capture_output=True, text=True)
    for ident in neighbours.HOSTILE if env.neighbours else ():
        if not (out / "submissions" / ident / "record.json").exists():
            result.problem = f"batch: no record for the hostile neighbour {ident} ({done.returncode}):\n{done.stderr[-1500:]}"
    for sid, name in names.items():
        record = out / "submissions" / sid / "record.json"
        if not record.exists():
            result.problem = f"batch: no record for {sid} ({done.returncode}):\n{done.stdout[-1500:]}\n{done.stderr[-1500:]}"
            break
        data = json.loads(record.read_text())
        mechanism = impls[name][1]
        if mechanism:  # a batch grades every spec; a mutant's other mechanisms are not in its manifest
            data["specs"] = [s for s in data["specs"] if s["mechanism"] == mechanism]
        _take(result, name, data)
    result.seconds = time.monotonic() - t0
    return result


def _take(result: Result, name: str, record: dict) -> None:
    result.verdicts[name] = {s["id"]: s["status"] for s in record["specs"]}
    result.reasons[name] = {s["id"]: s["message"].splitlines()[0][:200] if s["message"] else "" for s in record["specs"] if s["status"] != "passed"}
    if record.get("programs_run_as"):
        result.reasons[name]["(programs ran as)"] = record["programs_run_as"]


def compare(results: dict[str, Result], fails: dict[str, set[str]] | None = None) -> list[str]:
    """Disagreements between environments, points the reference missed, and a mutant (FAILS:
    mutant id -> the specs aimed at it) that is not caught by exactly its specs in an
    environment: so each environment is held to what the mutant is, not only to the others (with
    root left out, as in CI, the slow tier holds root to it)."""
    problems = []
    for impl, aimed in (fails or {}).items():
        for env, r in results.items():
            got = r.verdicts.get(impl)
            if r.problem is not None or got is None:
                continue
            caught = {s for s, v in got.items() if v not in ("passed", "unsupported")}
            want = aimed - {s for s, v in got.items() if v == "unsupported"}
            if caught != want:
                problems.append(f"{impl} in {env}: expected exactly {sorted(want)} not to pass, but {sorted(caught)} did not")
    impls = sorted({i for r in results.values() for i in r.verdicts})
    for impl in impls:
        specs = sorted({s for r in results.values() for s in r.verdicts.get(impl, {})})
        for spec in specs:
            seen = {env: r.verdicts.get(impl, {}).get(spec) for env, r in results.items() if r.problem is None}
            judged = {env: v for env, v in seen.items() if v not in ("unsupported", None)}  # None: not graded there
            if len(set(judged.values())) > 1:
                detail = "; ".join(f"{env}: {v} {results[env].reasons.get(impl, {}).get(spec, '')}" for env, v in seen.items())
                problems.append(f"{impl} {spec} differs: {detail}")
            if impl == "reference" and any(v not in ("passed", "unsupported") for v in seen.values()):
                detail = "; ".join(f"{env}: {v} {results[env].reasons.get(impl, {}).get(spec, '')}" for env, v in seen.items() if v != "passed")
                problems.append(f"the reference does not pass {spec}: {detail}")
            if impl.startswith("null/") and any(v in ("passed", "broken") for v in seen.values()):
                detail = "; ".join(f"{env}: {v} {results[env].reasons.get(impl, {}).get(spec, '')}" for env, v in seen.items() if v in ("passed", "broken"))
                problems.append(f"{impl}, which does none of the work, has {spec} {'/'.join(sorted({v for v in seen.values() if v in ('passed', 'broken')}))}: {detail}")
    return problems


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shared-python", help="a Python other users can run, with the grader installed (a venv on /usr/bin/python3 under /opt)")
    p.add_argument("--env", action="append", help="only these environments (repeatable)")
    p.add_argument("--without", action="append", default=[], help="leave out these environments (repeatable): .ci/run leaves out "
                   "those the slow tier grades already (SLOW_TIER)")
    p.add_argument("--runs", type=int, default=1, help="grade this many times in each environment")
    p.add_argument("--hog", action="store_true", help="keep a CPU-bound process running beside the gradings")
    p.add_argument("--jobs", default="2")
    p.add_argument("--reference-only", action="store_true")
    p.add_argument("--no-nulls", action="store_true", help="leave out the null submissions")
    args = p.parse_args()
    envs = environments(sys.executable, args.shared_python)
    if args.env:
        unknown = set(args.env) - {e.name for e in envs}
        if unknown:
            p.error(f"unknown or unavailable environment(s) {sorted(unknown)}; here: {[e.name for e in envs]}")
        envs = [e for e in envs if e.name in args.env]
    envs = [e for e in envs if e.name not in args.without]
    for name in args.without:
        print(f"{name:<24} left out" + (f": the slow tier grades it ({SLOW_TIER[name]})" if name in SLOW_TIER else ""), flush=True)
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if args.hog else None
    results: dict[str, Result] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="ipc-envs-") as tmp:
            base = Path(tmp)
            base.chmod(0o755)
            from harness import NULLS

            impls = implementations(base / "impls", () if args.reference_only else MUTANTS, () if args.reference_only or args.no_nulls else NULLS)
            for env in envs:
                for run in range(args.runs):
                    key = env.name if args.runs == 1 else f"{env.name}#{run + 1}"
                    r = results[key] = grade(env, impls, base / key.replace("#", "-"), args.jobs)
                    ref = r.verdicts.get("reference", {})
                    line = f"{key:<24} {r.seconds:6.1f} s  reference: {sum(v == 'passed' for v in ref.values())}/{len(ref)} passed"
                    nulls = [n for n in r.verdicts if n.startswith("null/")]
                    if nulls:
                        statuses = [v for n in nulls for v in r.verdicts[n].values()]
                        line += f"; {len(nulls)} null submissions: {statuses.count('passed')} specs passed, {statuses.count('broken')} broken"
                    unsupported = sorted(s for s, v in ref.items() if v == "unsupported")
                    if unsupported:
                        why = [f"{s} ({r.reasons['reference'][s]})" for s in unsupported]
                        line += ", unsupported: " + ", ".join(why)
                    print(line + (f"\n  PROBLEM: {r.problem}" if r.problem else ""), flush=True)
    finally:
        if hog:
            hog.kill()
            hog.wait()
    from harness import mutants as all_mutants

    fails = {m.id: set(m.fails) for m in all_mutants() if m.id in MUTANTS and not args.reference_only}
    problems = compare(results, fails) + [f"{env}: {r.problem}" for env, r in results.items() if r.problem]
    for line in problems:
        print("DISAGREE " + line)
    print(f"{len(results)} gradings in {len(envs)} environment(s): " + ("every verdict agrees" if not problems else f"{len(problems)} problem(s)"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
