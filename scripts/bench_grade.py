#!/usr/bin/env python3
"""Where a full grade's time goes: the Python reference and the C reference, side by side.

    python scripts/bench_grade.py [--jobs 2] [--one-cpu] [--write-durations]

Each implementation is graded with ``ipc-grade -q --jobs J`` (the command courses run) and, with
--one-cpu, again under ``taskset -c 0`` with ``--jobs auto``. This module is also loaded into the
grading's pytest (PYTEST_PLUGINS reaches every xdist worker) to note, per spec, when its setup,
body and teardown ran and how much CPU the worker's own threads used meanwhile
(``time.process_time``: every thread of the worker, not the programs it runs), and each of the
worker's threads' own CPU by what it ran (``time.thread_time``). A spec's *idle* time is its wall
time less that CPU: the grader waiting on the programs (or on the machine).

Printed per implementation: the wall time; start-up (ipc-grade started to the first spec's
setup); the sums of the specs' setup, body and teardown and of their idle time; the grader's CPU
by thread; the slowest specs; the contract's own waits, read from the specs that declare them
(the UDP client's timeout, the rpc client's --timeout, the signal child's delay in the two specs
that use it, rpc's `sleep` examples), the floor they make over the workers plus one pytest
start-up (``pytest --co`` of one spec on the C reference: configure, the build, collection), and
the ratio of wall time to that floor. Then the blocking latency: a compiled program that works a
moment and then sleeps in read(2), watched by the grader's own wait (waits.wait_until_blocked,
which blocking specs use) and by a separate process that reads /proc/PID/syscall without pause;
the latency is from the watcher's first sight of the program asleep in read to the wait's return.

--write-durations rewrites conformance/plugin/durations.py (each spec's expected duration: the
mean of the two references' here; the order specs are handed to workers in).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EVENTS = "IPC_BENCH_EVENTS"


# --- the plugin side: loaded into the grading's pytest and its workers --------------------------


def _note(event: dict) -> None:
    path = os.environ.get(EVENTS)
    if path:
        with open(path, "a") as f:
            f.write(json.dumps(event) + "\n")


def pytest_configure(config) -> None:
    _note({"what": "configure", "t": time.monotonic(), "worker": os.environ.get("PYTEST_XDIST_WORKER", "main")})


_started: dict[tuple[str, str], tuple[float, float]] = {}


def _hook_phase(phase: str):
    import pytest

    @pytest.hookimpl(hookwrapper=True)
    def wrapper(item, *args, **kwargs):
        t0, c0 = time.monotonic(), time.process_time()
        yield
        t1, c1 = time.monotonic(), time.process_time()
        _note({"what": phase, "nodeid": item.nodeid, "t0": t0, "t1": t1, "cpu": c1 - c0,
               "worker": os.environ.get("PYTEST_XDIST_WORKER", "main")})

    return wrapper


_threads: dict[str, float] = {}


def _count_threads() -> None:
    """Each finished thread's own CPU (time.thread_time: user and system), summed by what it ran."""
    import threading

    run = threading.Thread.run

    def counted(self) -> None:
        target = getattr(self, "_target", None)  # Thread.run deletes it
        name = getattr(target, "__qualname__", None) or type(self).__qualname__
        try:
            run(self)
        finally:
            _threads[name] = _threads.get(name, 0.0) + time.thread_time()

    threading.Thread.run = counted


def pytest_unconfigure(config) -> None:
    _note({"what": "threads", "worker": os.environ.get("PYTEST_XDIST_WORKER", "main"), "threads": _threads,
           "process": time.process_time()})


if os.environ.get(EVENTS):
    pytest_runtest_setup = _hook_phase("setup")
    pytest_runtest_call = _hook_phase("call")
    pytest_runtest_teardown = _hook_phase("teardown")
    pytest_runtest_protocol = _hook_phase("protocol")
    _count_threads()


# --- the bench ------------------------------------------------------------------------------------


def contract_waits() -> dict[str, float]:
    """The waits the contract itself imposes on a correct implementation, in seconds, read from
    the specs that declare them."""
    sys.path.insert(0, str(ROOT))
    from conformance.specs import test_rpc, test_signal, test_socket

    udp_hint = next(m.kwargs.get("hint", "") for m in test_socket.test_udp_timeout.pytestmark if m.name == "spec")
    udp = float(re.search(r"at most (\d+(?:\.\d+)?) s", udp_hint).group(1))
    rpc_sleeps = 0.0
    for m in getattr(test_rpc.test_call_returns_result, "hypothesis_explicit_examples", []):
        for line in (m.args[0] if m.args else b"").splitlines() if isinstance(m.args[0] if m.args else b"", bytes) else []:
            found = re.match(rb"sleep (\d+)", line)
            if found:
                rpc_sleeps += int(found.group(1)) / 1000
    return {
        "socket.udp-timeout: the UDP client's reply timeout": udp,
        "rpc.client-timeout: the client's --timeout": test_rpc.CLIENT_TIMEOUT_MS / 1000,
        "signal.child-suspends: the child's --delay-ms": test_signal.CHILD_DELAY_MS / 1000,
        "signal.child-no-lost-signal: the shown run's --delay-ms": test_signal.CHILD_DELAY_MS / 1000,
        "rpc.call-returns-result: its `sleep` examples": rpc_sleeps,
    }


def startup_time(jobs: str, pin: list[str]) -> float:
    """One pytest start-up with the grader's plugin: collecting one spec, no run."""
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "pytest.ini").write_text("[pytest]\n")
        t0 = time.monotonic()
        subprocess.run([*pin, sys.executable, "-m", "pytest", f"--impl={ROOT / 'reference' / 'c'}", "-c", f"{tmp}/pytest.ini",
                        "--rootdir", tmp, "-p", "no:cacheprovider", "-q", "--co", "--ipc-spec", "pipe.relay-roundtrip"],
                       cwd=tmp, capture_output=True)
        return time.monotonic() - t0


def grade(impl: Path, jobs: str, pin: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        events, out = Path(tmp) / "events.jsonl", Path(tmp) / "run.json"
        env = dict(os.environ, PYTHONPATH=str(ROOT / "scripts"), PYTEST_PLUGINS="bench_grade", **{EVENTS: str(events)})
        ipc_grade = shutil.which("ipc-grade", path=str(Path(sys.executable).parent)) or "ipc-grade"
        t0 = time.monotonic()
        proc = subprocess.run([*pin, ipc_grade, str(impl), "-q", "--jobs", jobs, "--json", str(out)], env=env, capture_output=True, text=True)
        wall = time.monotonic() - t0
        record = json.loads(out.read_text())
        phases = [json.loads(line) for line in events.read_text().splitlines()] if events.exists() else []
    return {"wall": wall, "t0": t0, "record": record, "phases": phases, "rc": proc.returncode}


def summarise(run: dict) -> dict:
    phases = [p for p in run["phases"] if p["what"] in ("setup", "call", "teardown")]
    spec = {}
    for p in phases:
        s = spec.setdefault(p["nodeid"], {"setup": 0.0, "call": 0.0, "teardown": 0.0, "cpu": 0.0})
        s[p["what"]] += p["t1"] - p["t0"]
        s["cpu"] += p["cpu"]
    first = min((p["t0"] for p in phases), default=run["t0"])
    last = max((p["t1"] for p in phases), default=run["t0"])
    total = {k: sum(s[k] for s in spec.values()) for k in ("setup", "call", "teardown", "cpu")}
    busy = total["setup"] + total["call"] + total["teardown"]
    ids = {s["nodeid"]: s["id"] for s in run["record"]["specs"]}
    slow = sorted(((s["setup"] + s["call"] + s["teardown"], ids.get(n, n), s) for n, s in spec.items()), key=lambda x: -x[0])
    return {"wall": run["wall"], "startup": first - run["t0"], "after": run["t0"] + run["wall"] - last, "specs": len(spec),
            "busy": busy, "idle": busy - total["cpu"], **total, "slow": slow,
            "score": f"{run['record']['score']:g}/{run['record']['max_score']:g}"}


WATCHER = r"""
import os, sys, time
pid, first = sys.argv[1], True
while True:
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        with open(f"/proc/{pid}/syscall") as f:
            nr = f.read().split()[0]
    except OSError:
        sys.exit(1)
    if state == "S" and nr == "0":  # read(2) on x86-64
        print("late" if first else time.monotonic(), flush=True)  # late: asleep before the first look
        sys.exit(0)
    first = False
"""


def blocking_latency(rounds: int, pin: list[str]) -> list[float]:
    """Milliseconds from a compiled program falling asleep in read(2) (as a watcher that reads
    /proc without pause first sees it) to the grader's wait returning (see the docstring)."""
    sys.path.insert(0, str(ROOT))
    from conformance.kernel import waits

    out = []
    for _ in range(rounds):
        r, w = os.pipe()
        # work in the shell (a few hundred ms: the watcher starts meanwhile), then cat sleeps in read on the empty pipe
        prog = subprocess.Popen([*pin, "sh", "-c", "i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done; exec cat"], stdin=r, stdout=subprocess.DEVNULL)
        os.close(r)
        watcher = subprocess.Popen([*pin, sys.executable, "-c", WATCHER, str(prog.pid)], stdout=subprocess.PIPE, text=True)
        try:
            while True:  # the shell's own reads happen before exec; wait for cat's
                blocked = waits.wait_until_blocked(prog.pid, {"read"}, 10)
                seen = time.monotonic()
                if Path(f"/proc/{prog.pid}/exe").resolve().name == "cat":
                    break
            first = watcher.communicate(timeout=10)[0].strip()
            if first and first != "late" and blocked:
                out.append((seen - float(first)) * 1000)
        finally:
            watcher.kill()
            os.close(w)
            prog.kill()
            prog.wait()
    return out


def write_durations(runs: dict[str, dict]) -> None:
    by_spec: dict[str, list[float]] = {}
    for run in runs.values():
        for s in run["record"]["specs"]:
            by_spec.setdefault(s["id"], []).append(s["duration_s"])
    path = ROOT / "conformance" / "plugin" / "durations.py"
    text = path.read_text()
    head = text[: text.index("EXPECTED: dict[str, float] = {")]
    rows = sorted(((k, round(sum(v) / len(v), 2)) for k, v in by_spec.items()), key=lambda kv: (-kv[1], kv[0]))
    path.write_text(head + "EXPECTED: dict[str, float] = {\n" + "".join(f'    "{k}": {v},\n' for k, v in rows) + "}\n")
    print(f"wrote {path.relative_to(ROOT)} ({len(rows)} specs)")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--jobs", default="2")
    p.add_argument("--one-cpu", action="store_true", help="also grade each on CPU 0 alone (taskset -c 0, --jobs auto)")
    p.add_argument("--write-durations", action="store_true", help="rewrite conformance/plugin/durations.py from this run")
    p.add_argument("--latency-rounds", type=int, default=20)
    args = p.parse_args()
    impls = {"Python reference": ROOT / "reference", "C reference": ROOT / "reference" / "c"}
    configs = [(f"--jobs {args.jobs}", args.jobs, [])]
    if args.one_cpu:
        configs.append(("1 CPU (taskset -c 0, --jobs auto)", "auto", ["taskset", "-c", "0"]))
    waits = contract_waits()
    print(f"load (1 min) before: {os.getloadavg()[0]:.2f}")
    for label, jobs, pin in configs:
        workers = 1 if pin else int(jobs)
        start = startup_time(jobs, pin)
        floor = sum(waits.values()) / workers + start
        runs = {name: grade(path, jobs, pin) for name, path in impls.items()}
        results = {name: summarise(run) for name, run in runs.items()}
        print(f"\n== {label} (load after: {os.getloadavg()[0]:.2f}) ==")
        print(f"{'':34}" + "".join(f"{n:>20}" for n in results))
        rows = [("score", "score", "{}"), ("wall time (s)", "wall", "{:.1f}"), ("start-up to first spec (s)", "startup", "{:.1f}"),
                ("after the last spec (s)", "after", "{:.1f}"), ("specs", "specs", "{}"), ("sum of setups (s)", "setup", "{:.1f}"),
                ("sum of bodies (s)", "call", "{:.1f}"), ("sum of teardowns (s)", "teardown", "{:.1f}"),
                ("grader CPU in specs (s)", "cpu", "{:.1f}"), ("idle: waiting on programs (s)", "idle", "{:.1f}")]
        for title, key, fmt in rows:
            print(f"{title:34}" + "".join(f"{fmt.format(r[key]):>20}" for r in results.values()))
        print(f"{'wall / floor':34}" + "".join(f"{r['wall'] / floor:>20.2f}" for r in results.values()))
        print(f"floor: the contract's waits {sum(waits.values()):.2f} s over {workers} worker(s) + one pytest start-up {start:.1f} s = {floor:.1f} s")
        for name, run in runs.items():
            threads: dict[str, float] = {}
            for e in run["phases"]:
                if e["what"] == "threads" and e["worker"] != "main":
                    for k, v in e["threads"].items():
                        threads[k] = threads.get(k, 0.0) + v
            print(f"  {name}, grader threads' CPU (s): " + ", ".join(f"{k} {v:.1f}" for k, v in sorted(threads.items(), key=lambda kv: -kv[1])[:6]))
            print(f"  {name}, slowest specs (s): " + ", ".join(f"{i} {t:.2f}" for t, i, s in results[name]["slow"][:6]))
        if args.write_durations and not pin:
            write_durations(runs)
    print("\ncontract's waits: " + "; ".join(f"{k} {v:g} s" for k, v in waits.items()))
    for label, pin in (("2 CPUs", []), ("1 CPU", ["taskset", "-c", "0"]))[: 2 if args.one_cpu else 1]:
        lat = sorted(blocking_latency(args.latency_rounds, pin))
        if lat:
            print(f"blocking latency ({label}, {len(lat)} rounds): median {lat[len(lat) // 2]:.1f} ms, max {lat[-1]:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
