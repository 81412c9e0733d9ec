"""Schedule control's parts (conformance/run/schedule/, docs/schedules.md): the library and the
scheduler speak one protocol, a seed replays one schedule, a bound is never rounded up, a
program no preloaded library reaches runs without control and the report says so. The whole,
under every race mutant, is proven by tests/test_mutants.py (slow tier)."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from conformance.run.schedule import build, control, pct
from conformance.run.schedule import protocol as P
from conformance.run.schedule.library import SOURCE
from conformance.run.schedule.pct import Pct, Plan, at_least, per_schedule, probability_words


def _c_enum(first: str) -> list[str]:
    """The names of the C enum in ipcsched.c whose first member is FIRST, in order."""
    text = SOURCE.read_text()
    match = re.search(r"enum\s*\{([^}]*\b" + first + r"\b[^}]*)\}", text)
    assert match, first
    return [m.split("=")[0].strip() for m in match.group(1).split(",") if m.strip()]


def test_the_library_and_the_scheduler_speak_one_protocol():
    assert _c_enum("T_HELLO") == ["T_HELLO", "T_POINT", "T_BLOCK", "T_WAKE", "T_NOTE", "T_CHECKED", "T_BYE"]
    assert [P.T_HELLO, P.T_BYE] == [1, 7]
    assert _c_enum("R_GO") == ["R_GO", "R_TIMEOUT", "R_CHECK", "R_FREE", "R_WARM"] and P.R_WARM == 5
    assert [f"OP_{name.upper()}" for name in P.OPS] == _c_enum("OP_START")
    assert [f"K_{name.upper()}" for name in P.KINDS] == _c_enum("K_NONE")
    flags = dict(re.findall(r"\b(F_[A-Z]+) = (\d+)", SOURCE.read_text()))
    assert {k: int(v) for k, v in flags.items()} == {k: getattr(P, k) for k in flags}


@pytest.mark.parametrize("plan", [Plan(0, 1, 1), Plan((1 << 40) - 1, 0, 523), Plan(0x5D2C9A1E3B, 4, (1 << 20) - 1)])
def test_a_seed_is_its_whole_schedule(plan):
    """--schedule SEED replays one schedule alone: the seed carries its draw, depth and k."""
    assert Plan.of(plan.seed) == plan
    assert Plan.of(int(str(plan), 0)) == plan
    again, first = Pct(Plan.of(plan.seed)), Pct(plan)
    assert again.change_points == first.change_points
    assert [again.new_priority() for _ in range(5)] == [first.new_priority() for _ in range(5)]


def test_an_exploration_draws_the_same_schedules_for_the_same_submission():
    assert [pct.draw(12345, i) for i in range(8)] == [pct.draw(12345, i) for i in range(8)]
    assert len({pct.draw(12345, i) for i in range(200)}) == 200


def test_a_bound_is_pcts_and_never_rounded_up():
    assert per_schedule(1, 3, 500) == pytest.approx(1 / 3)
    assert per_schedule(2, 3, 100) == pytest.approx(1 / 300)
    assert at_least(1 / 3, 10) == pytest.approx(1 - (2 / 3) ** 10)
    assert probability_words(0.99999) == "0.99999"
    assert probability_words(0.9999999999) == "0.999999999"
    assert probability_words(0.8689) == "0.868"
    assert probability_words(0.0041999) == "0.0041"
    assert probability_words(1.0) == "1" and probability_words(0.0) == "0"


def test_the_guarantee_names_the_schedules_seed_processes_points_and_bound():
    record = {"control": "points", "schedules": 40, "seed": "0xabc", "tasks": 3, "processes": 3, "choices": 273,
              "depths": {"1": 5, "0": 20, "2": 5}, "bounds": {"1": 0.868, "2": 0.006}}
    words = control.guarantee_words(record)
    assert words.startswith("40 schedules (seed 0xabc) of 3 processes and up to 273 scheduling points explored, every one passed")
    assert "depth 1 is found with probability at least 0.868" in words and "depth 2 with probability at least 0.006" in words
    failing = control.guarantee_words({**record, "schedules": 4, "failing": {"index": 4, "seed": "0x1f"}})
    assert "schedule 4 (0x1f) made it fail, and replays it exactly" in failing
    assert control.guarantee_words({"control": "none", "why": "a statically linked program"}) == (
        "Ran without schedule control: a statically linked program."
    )


@pytest.mark.skipif(shutil.which("gcc") is None, reason="no C compiler")
def test_a_statically_linked_program_runs_without_control(tmp_path):
    """No preloaded library reaches a static program: control is impossible, and said to be."""
    (tmp_path / "p.c").write_text("int main(void) { return 0; }\n")
    static = subprocess.run(["gcc", "-static", "-o", str(tmp_path / "static"), str(tmp_path / "p.c")], capture_output=True)
    if static.returncode != 0:
        pytest.skip("this machine cannot link statically")
    subprocess.run(["gcc", "-o", str(tmp_path / "dynamic"), str(tmp_path / "p.c")], check=True)
    import sys

    from conformance.run import manifest

    (tmp_path / "ipc.toml").write_text('[implementation]\nname = "t"\n\n[programs]\nshm = "./static"\npipe = "./dynamic"\n')
    m = manifest.load(tmp_path, sys.executable)
    assert m.error is None, m.error
    assert build.kind_of(m, "shm").startswith("none: a statically linked program")
    assert build.kind_of(m, "pipe") == "calls"  # its IPC calls are points; no shared-access hooks


def test_only_a_submission_with_a_controlled_mechanism_is_built_twice():
    """The build with scheduling points is made only for the mechanisms whose specs use it
    (tests/test_manifest.py: a pipe-only submission's build runs once)."""
    from conformance.run.schedule.prepare import controlled_mechanisms

    assert controlled_mechanisms() == {"buffer", "fifo", "rpc", "shm", "signal", "socket"}


#: A program whose main thread sleeps in a read while another thread sleeps in another: a
#: signal to the process must end the main thread's read (CPython runs handlers there only).
_TWO_SLEEPERS = """
import os, signal, sys, threading
a, b = os.pipe(), os.pipe()
signal.signal(signal.SIGUSR1, lambda *_: os._exit(7))
threading.Thread(target=os.read, args=(b[0], 1), daemon=True).start()
print("ready", flush=True)
os.read(a[0], 1)
sys.exit(1)
"""


def _library():
    from conformance.run.schedule.library import Unavailable, ensure

    try:
        return ensure()
    except Unavailable as exc:
        pytest.skip(str(exc))


@pytest.mark.parametrize("draw", range(6))
def test_a_signal_to_a_process_goes_to_its_main_thread(tmp_path, draw):
    """While every thread waits for its turn a signal to the process stays pending; the first
    thread to unblock it took it, so a worker thread could take the SIGUSR1 whose handler only
    the main thread runs, and the main thread slept on in its read (the Python reference's rpc
    server stayed in accept after SIGTERM). The kernel gives it to the main thread: so does
    control, whichever thread the schedule lets run first (6 draws: either order)."""
    import os
    import signal
    import sys
    import time

    from conformance.run.schedule.scheduler import Scheduler

    lib = _library()
    (tmp_path / "p.py").write_text(_TWO_SLEEPERS)
    sched = Scheduler(Plan(draw, 1, 50), str(tmp_path / "s"))
    try:
        env = {**os.environ, **lib.env(sched.path, str(tmp_path))}
        proc = subprocess.Popen([sys.executable, str(tmp_path / "p.py")], env=env, stdout=subprocess.PIPE)
        assert sched.expect(proc.pid, "p", 5.0)
        sched.start()
        assert proc.stdout.readline() == b"ready\n"
        assert sched.quiet(5.0)
        with sched.hold():
            os.kill(proc.pid, signal.SIGUSR1)
        end = time.monotonic() + 5
        while proc.poll() is None and time.monotonic() < end:
            sched.quiet(0.1)
        assert proc.poll() == 7, f"the handler did not run: {sched.waiting()}"
    finally:
        sched.let_go()
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        sched.close()


_STORES = """
counter = 0


def bump():
    global counter
    value = counter + 1
    counter = value
    return value
"""


def test_a_python_line_that_stores_a_global_is_a_store_point():
    """A read-add-store over two lines has its window before the store: the site finds such
    lines in the bytecode (STORE_GLOBAL), and the scheduler may let the others go there."""
    import types

    from conformance.run.schedule.programs_site import store_lines

    code = compile(_STORES, "m.py", "exec")
    bump = next(c for c in code.co_consts if isinstance(c, types.CodeType) and c.co_name == "bump")
    assert store_lines(bump) == {8}  # `counter = value`; not `value = counter + 1`, a read
    assert P.OP["store"] in P.STORES and P.OP["store"] not in P.WAITS


def _msg(**fields: int) -> P.Msg:
    return P.Msg.parse(P.pack(**fields))


def test_a_failing_spinning_and_uncontrolled_schedule_is_said_in_korean(tmp_path):
    """What schedule control says (docs/schedules.md) is said in the report's language: the
    waits of a schedule that deadlocked (its tasks' labels, their calls and objects), a task that
    spins or polls, a program that never reached the scheduler, the steps of a failing schedule
    (who, what, on) and the waits outside control: Sentences, whose words the record keeps
    beside the English, so a Korean report of it has no English sentence left."""
    import json
    import os
    import socket

    from korean import english_in_korean, english_sentences

    from conformance import record as run_record
    from conformance.outcomes import Sentence, SpecDeadlock
    from conformance.run.schedule import scheduler as scheduling
    from conformance.run.schedule.tasks import Act, object_words, waits_words
    from conformance.run.schedule.trail import timeline_steps
    from grading.render import i18n

    ko = i18n.translator("ko")
    gone = 1 << 22  # pids no process has here: /proc shows none of them
    sched = scheduling.Scheduler(Plan(0, 1, 1), str(tmp_path / "s"))
    conns = [socket.socketpair() for _ in range(3)]
    try:
        with sched._lock:  # as the scheduler's thread does
            parent = sched._register(conns[0][0], _msg(type=P.T_HELLO, pid=gone, tid=gone))
            parent.label = Sentence("%(program)s (pid %(pid)s)", program=Sentence("your `%(program)s`", program="buffer consume"), pid=gone)
            child = sched._register(conns[1][0], _msg(type=P.T_HELLO, pid=gone + 1, tid=gone + 1, flags=P.F_FORKED), parent)
            thread = sched._register(conns[2][0], _msg(type=P.T_HELLO, pid=gone, tid=gone + 2, flags=P.F_THREAD), parent)
            ino = os.stat("/").st_ino + (1 << 40)  # no object in /dev/shm: its inode, in words
            parent.state, parent.waits = "blocked", waits_words(_msg(op=P.OP["sem_wait"], kind=P.K["mem"], kb=ino, kc=8, deadline=5))
            child.state, child.waits = "blocked", waits_words(_msg(op=P.OP["sigwait"]))
            thread.state = "new"
            objects = [object_words(_msg(op=P.OP[op], kind=P.K[kind], ka=7, arg=12)) for op, kind in
                       (("line", "none"), ("msgrcv", "msq"), ("semop", "sysvsem"), ("forked", "none"), ("read", "pmem"))]
            waits = [*sched.waiting(), *(waits_words(_msg(op=P.OP[op], kind=P.K["msq"], ka=3)) for op in ("wait", "sleep", "join"))]
            sched._grant(Act("the grader's step", lambda: None), 1)
            child.woken = True
            sched._grant(child, 2)
            child.state = "blocked"
            sched._grant(child, 3, timeout=True)
            sched._grant(thread, 4)
            sched._spinning(thread, scheduling.spins_words(Sentence("%(n)s scheduling points in a row", n=99)))
            spun = sched.spinning
            sched._spinning(child, Sentence("it polls: it woke from %(n)s timed waits in a row with nothing else to do", n=20))
            polled = sched.spinning
        assert not sched.expect(gone + 3, Sentence("your `%(program)s`", program="buffer produce"), 0.05)
        never = sched.stats.uncontrolled[-1]
    finally:
        sched.close()
        for a, b in conns:
            a.close(), b.close()
    assert str(waits[0]).startswith(f"your `buffer consume` (pid {gone}): waits in sem_wait on shared memory inode {ino} at offset 8 (with a deadline)")
    assert f"pid {gone + 1} (child of pid {gone}): waits in a wait for a signal" in waits and f"pid {gone} thread 2: new" in waits
    assert spun == (f"pid {gone} thread 2: it spins: it used more than 0.25 s of CPU over 99 scheduling points in a row without waiting (a loop "
                    "that polls instead of sleeping in a call that waits), so the grader cannot choose how it interleaves with the others")
    assert never == f"your `buffer produce` (pid {gone + 3}) never reached the scheduler"
    steps = timeline_steps(sched.trail, sched.cut)["steps"]
    assert [(s["who"], s["what"]) for s in steps] == [("the grader", "the grader's step"), (f"pid {gone + 1} (child of pid {gone})", "tries its wait again"),
                                                      (f"pid {gone + 1} (child of pid {gone})", "its wait's deadline passed"), (f"pid {gone} thread 2", "starts")]
    # what the record keeps in words, said in Korean: no English sentence left
    said = [ko.said(str(s), s.data()) for s in [*objects, *waits, spun, polled, never]]
    said += [ko.said(s[k], s.get(f"{k}_words")) for s in steps for k in ("who", "what") if k != "what" or s["who"] != "the grader"]
    assert all(not english_sentences(s) for s in said), [s for s in said if english_sentences(s)]
    assert not any("pid" in s and "child of" in s for s in said)
    # a record: a spec that failed under a schedule (a deadlock), one whose task spun, one a program never reached
    explorer = control.Explorer.__new__(control.Explorer)
    explorer.spec_id = "buffer.no-loss-no-duplicates"
    deadlock = SpecDeadlock(Sentence("%(doing)s never finished: under this schedule every process came to wait for another, and none can go on.",
                                     doing=Sentence("the consumer")), evidence=[Sentence("%(sentence)s.", sentence=w) for w in waits])
    failed = explorer._explained(deadlock, Plan(5, 2, 40), 3, 40, False)
    summary = control.Explorer._summary({"tasks": 3, "processes": 2, "points": 80, "choices": 30, "outside": 2}, {1: 1, 0: 1, 2: 2},
                                        [polled, never], 4, 0.0)
    schedules = [{"what": "", "seed": "0x1", "budget": 40, "control": "points", **summary, "failing": {"seed": "0x5", "index": 4, "depth": 2}}]
    for why in (spun, never):
        schedules.append({"what": "", "seed": "0x2", "budget": 40, "control": "none", "why": str(why), "schedules": 0})
        control.state_guarantee(schedules[-1], why)
    control.state_guarantee(schedules[0])
    assert schedules[1]["why"] == spun and schedules[0]["outside_examples"] == [polled, never]
    specs = [run_record.SpecResult(id=f"buffer.s{i}", mechanism="buffer", title="", status="failed" if i == 0 else "passed", points=0.0,
                                   max_points=1.0, failure=failed.parts() if i == 0 else None, schedule=schedule)
             for i, schedule in enumerate(schedules)]
    rec = run_record.RunRecord(implementation={"path": "/x", "name": "x"}, specs=specs, meta={"language": "ko"})
    rec = run_record.RunRecord.from_json(json.loads(run_record.dumps(rec)))  # as the record keeps it
    assert english_in_korean(rec) == {}
    kept = rec.specs[0].schedule
    outside = [ko.said(text, words) for text, words in zip(kept["outside_examples"], kept["outside_words"], strict=True)]
    assert all(not english_sentences(s) for s in outside), outside


@pytest.mark.parametrize("why", sorted(control.REASONS))
def test_why_a_spec_ran_without_control_is_said_in_korean(tmp_path, why):
    """A spec whose programs cannot be controlled here (no library, no program, a static one)
    states it in the guarantee: "Ran without schedule control: WHY." with WHY in words."""
    from types import SimpleNamespace

    from korean import english_sentences

    from grading.render import i18n

    setup = control.Setup(None, why, None, {}, None, None, lambda: tmp_path, "f")
    supervisor = SimpleNamespace(schedule=None)
    explorer = control.Explorer(setup, supervisor, "shm.counter-exact", "shm")
    explorer.explore(lambda run: None, 4)
    record = supervisor.schedule
    assert record["guarantee"] == f"Ran without schedule control: {why}." and record["why"] == why
    said = i18n.translator("ko").said(record["guarantee"], record["guarantee_words"])
    assert said != record["guarantee"] and not english_sentences(said), said
