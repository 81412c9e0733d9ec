"""Specs for `shm`: a record in a System V segment, the seed's fork demo, a counter under a lock.

shmget(2), shmat(2), shmctl(2) and sysvipc(7) for `write`, `read`, `rm` and `fork`;
shm_overview(7), shm_open(3), sem_overview(7) and sem_open(3) for `counter`. The seeds:
shared memory is the fastest IPC, because once a segment is attached the processes read and
write it with no system call; a segment exists apart from the processes using it (shmget
creates, shmat attaches, shmctl(IPC_RMID) removes); and since the kernel no longer orders the
accesses, the processes must synchronise themselves with locks and semaphores. The seed's demo:
a segment made with shmget(IPC_PRIVATE) holds 11 and 22, the child of a fork writes 33 and 44,
and the parent prints `33, 44`.

A record is a 4-byte little-endian length at offset 0, then that many bytes (contract section 3).
The grader reads and writes segments itself, so that layout is checked from outside.
"""

from __future__ import annotations

import os
import re
import signal
from contextlib import contextmanager

import pytest
from hypothesis import example, given

from conformance import deadline
from conformance.deadline import Deadline
from conformance.outcomes import Sentence, SpecFailure, SpecTimeout, needs, one_after_another
from conformance.spec import spec
from conformance.specs.support import (
    as_program,
    asleep,
    cpu_ticks,
    describe,
    describe_bytes,
    first_difference,
    payloads,
    shared_memory,
    spec_settings,
    state,
    sysvipc,
    wait_until,
)

MiB = 1 << 20
# Deadlines are the presets (conformance.deadline): STEP for a small program (`rm`, `read` of a
# missing key, `fork`), EXIT for `write`/`read` of up to a few MiB, LONG for `counter` (its
# largest case forks 8 processes adding 20000 times each; the reference in Python: well under 1 s).
#: The default segment size and the length field in front of a record.
DEFAULT_SIZE = 4096
LENGTH = 4
#: (PROCS, ITERS) for `shm.counter-exact`. One process checks the arithmetic alone; many
#: processes with many iterations each are preempted inside each other's read-add-write, so a
#: counter without its lock loses updates in every run (measured: thousands of them).
COUNTER_CASES = ((1, 1000), (8, 20000), (4, 20000))
#: The lock check of `shm.counter-exact`. The final value alone cannot show a missing lock in a
#: fast program: built with -O2, a C child adds 20000 times in a fraction of a millisecond,
#: before its parent has forked the next one, so no two ever count at once (measured: a C
#: counter without its lock passed the cases above in 8 runs of 10 idle, 9 of 10 beside a CPU
#: hog). So the grader also takes the lock itself, while LOCK_PROCS processes (more than a small
#: machine's cores) are told to add LOCK_ITERS times each, more than a program that locks each
#: addition finishes while the grader watches (and less than 2**31, so that a 32-bit int holds
#: it): under the grader's lock the counter must not move, however fast the program. The
#: program is killed once that is seen. (A C child that locks once around its loop may finish
#: its turn in seconds: _take_the_lock does not count the lock free between two turns.)
LOCK_PROCS = 4
LOCK_ITERS = 2_000_000_000
#: CPU a process of the counter may use, while the grader holds the lock, to show it has had its
#: chance to add (a process that waits for the lock sleeps instead), in clock ticks.
HAD_ITS_CHANCE_TICKS = 3
#: The counter under schedule control (docs/schedules.md): (PROCS, ITERS) small enough that each
#: schedule is short, and SCHEDULES schedules of it, the budget the calibration found (every
#: race mutant of the counter caught in 100 of 100 gradings) with its margin.
SCHEDULED = (2, 3)
SCHEDULES = 40


@pytest.fixture
def made():
    """Segments, objects and semaphores this spec uses, removed after it whatever happened."""
    with shared_memory.made() as registry:
        yield registry


# --- helpers -------------------------------------------------------------------------------


def _expect_exit(proc, code, doing):
    """Fail unless PROC exited with CODE; DOING says what it was asked to do."""
    status = proc.status
    if status is None or status.code != code:
        raise SpecFailure(Sentence("%(program)s %(ended)s.", program=proc.label, ended=status.ended if status else Sentence("is still running")),
                          done=Sentence("%(doing)s:", doing=doing), expected=Sentence("exit status %(code)s", code=code), procs=[proc])
    return proc


def _write(impl, key, data, *args):
    proc = impl.run("write", str(key), *args, input=data, timeout=deadline.EXIT)
    _expect_exit(proc, 0, Sentence("storing %(data)s in segment %(key)s with %(args)s", data=describe_bytes(data), key=key, args=" ".join(args)) if args
                 else Sentence("storing %(data)s in segment %(key)s", data=describe_bytes(data), key=key))
    return proc


def _in_a_segment(key, writer):
    """After `shm write KEY` exited 0, a System V segment with KEY holds its record: the work a
    spec that reads it back (or removes it) gives its points for. A `write` that keeps the bytes
    in a file of its own would read back just as well."""
    if shared_memory.segment_row(key) is not None:
        return
    with needs("shm.persists"):
        raise SpecFailure(
            Sentence("`shm write %(key)s` exited 0, but no System V segment with key %(key)s exists: the record is not in shared memory.", key=key),
            evidence=[_no_segment(key)],
            fix=Sentence("Store the record in the segment shmget(KEY, ...) gives, attached with shmat."),
            procs=[writer],
        )


def _read(impl, key, expected, again=False, previous=None):
    """`shm read KEY` must print exactly EXPECTED and exit 0. AGAIN: a read came before this one;
    PREVIOUS: the length of the record the segment held before EXPECTED was written."""
    proc = impl.run("read", str(key), timeout=deadline.EXIT, capture_limit=len(expected) + 4096)
    if again and proc.status is not None and proc.status.code != 0 and shared_memory.segment_row(key) is None:
        raise SpecFailure(
            Sentence("reading segment %(key)s a second time: %(program)s %(ended)s, and no segment with key %(key)s "
                     "exists any more: the read before removed it.", key=key, program=proc.label, ended=proc.status.ended),
            expected=Sentence("exit status 0 and the record again: reading is not taking (only `shm rm` removes the segment)"),
            procs=[proc],
        )
    _expect_exit(proc, 0, Sentence("reading segment %(key)s", key=key))
    if not proc.stdout.matches(expected):
        got = proc.stdout.length
        why = (
            [Sentence("That is the length of the record written before (%(previous)s bytes): the last write did not store its own LENGTH.", previous=previous)]
            if previous is not None and got == previous != len(expected)
            else [Sentence("That is 64 KiB, the most one read(2) of a pipe returns: `shm write` must read stdin in a loop until EOF.")]
            if got == 65536 < len(expected)
            else []
        )
        printed = Sentence("`shm read %(key)s` printed %(data)s: %(difference)s.",
                           key=key, data=describe_bytes(proc.stdout.data), difference=first_difference(expected, proc.stdout.data))
        raise SpecFailure(
            one_after_another([printed, *why], " "),
            expected=Sentence("the record stored there, %(data)s", data=describe_bytes(expected)),
            fix=Sentence("Print exactly LENGTH bytes from offset 4, as bytes (no terminator, no newline added)."),
            procs=[proc],
        )
    return proc


def _text(proc):
    """Everything PROC printed, as text (a last line without a newline counts too)."""
    return proc.stdout.data.decode("utf-8", "replace")


def _describe_row(row):
    return Sentence(
        "shmid %(shmid)s, key %(key)s, %(size)s bytes, mode %(mode)s, created by pid %(cpid)s, %(attached)s attached",
        shmid=row["shmid"], key=row["key"], size=row["size"], mode=format(row["perms"] & 0o777, "o"), cpid=row["cpid"], attached=row["nattch"],
    )


def _row_evidence(row):
    """The kernel's row for a segment, as an evidence sentence."""
    return Sentence("/proc/sysvipc/shm lists %(segment)s.", segment=_describe_row(row))


def _no_segment(key):
    """The kernel's word that no segment has KEY, as an evidence sentence."""
    return Sentence("/proc/sysvipc/shm lists no segment with key %(key)s.", key=key)


def _segment(row):
    """The segment of ROW in a student's terms: its size and mode."""
    return Sentence("a segment of %(size)s bytes with mode %(mode)s", size=row["size"], mode=format(row["perms"] & 0o777, "o"))


def _either(parts):
    """`A or B` (one or two PARTS) as one Sentence."""
    return Sentence("%(first)s or %(then)s", first=parts[0], then=parts[1]) if len(parts) > 1 else parts[0]


def _both(parts):
    """`A and B` (one or two PARTS) as one Sentence."""
    return Sentence("%(first)s and %(then)s", first=parts[0], then=parts[1]) if len(parts) > 1 else parts[0]


# --- write, read, rm ---------------------------------------------------------------------


@spec(
    "shm.roundtrip",
    points=3,
    hint="Store a 4-byte little-endian length at offset 0 and the bytes after it; `read` prints "
    "exactly LENGTH bytes from offset 4. Treat the data as bytes: a NUL is data, not an end.",
)
@spec_settings(max_examples=10)
@given(data=payloads([DEFAULT_SIZE - LENGTH - 1, DEFAULT_SIZE - LENGTH, 65536, MiB]))
@example(data=b"")
@example(data=b"\0binary\0\n\xff\xfe" * 7)
def test_roundtrip(impl, names, data):
    """Bytes stored with `shm write KEY` come back byte for byte from `shm read KEY` (0 B to 1 MiB)."""
    with shared_memory.made() as made:
        key = made.key(names.sysv_key())
        # records up to 4092 bytes use the default segment; larger ones a segment they just fit
        size = [] if len(data) + LENGTH <= DEFAULT_SIZE else ["--size", str(len(data) + LENGTH)]
        _in_a_segment(key, _write(impl, key, data, *size))
        _read(impl, key, data)


@spec(
    "shm.persists",
    points=2,
    hint="A segment is a kernel object: it stays until shmctl(IPC_RMID), whoever attached it "
    "and exited. Create it with shmget(KEY, 4096, IPC_CREAT | 0600) and never remove it in `write`.",
)
def test_persists(impl, names, made):
    """The segment outlives its writer: 4096 bytes, mode 0600, and readable again and again."""
    key = made.key(names.sysv_key())
    record = b"written by a process that has exited\n"
    writer = _write(impl, key, record)
    row = shared_memory.segment_row(key)
    if row is None:
        raise SpecFailure(
            Sentence("`shm write` exited 0, but afterwards there is no segment with key %(key)s.", key=key),
            evidence=[_no_segment(key)],
            fix=Sentence("The segment must outlive the writer (only `shm rm` removes it)."),
            procs=[writer],
        )
    if row["size"] != DEFAULT_SIZE or row["perms"] & 0o777 != 0o600:
        raise SpecFailure(
            Sentence("`shm write` without --size made %(segment)s.", segment=_segment(row)),
            expected=Sentence("%(size)s bytes with mode 600 (shmget(KEY, 4096, IPC_CREAT | 0600))", size=DEFAULT_SIZE),
            evidence=[_row_evidence(row)],
            procs=[writer],
        )
    for i in range(2):  # reading is not taking: the record is still there for the next reader
        _read(impl, key, record, again=i > 0)


@spec(
    "shm.layout-interop",
    points=2,
    hint="Offset 0: the length as 4 bytes little-endian (struct.pack('<I', n), or a uint32_t on "
    "x86); offset 4: the bytes. Read LENGTH bytes, not up to a terminator: what follows is junk.",
)
def test_layout_interop(impl, names, made):
    """Segments follow the contract's layout both ways: a 4-byte little-endian length, then the bytes.

    The grader reads the segment `write` made, and `read` prints a segment the grader made.
    """
    key = made.key(names.sysv_key())
    record = bytes(range(255, -1, -1)) * 2 + b"end"  # 515 bytes: the length needs two bytes
    writer = _write(impl, key, record, "--size", "1000")
    row = shared_memory.segment_row(key)
    if row is None or row["size"] != 1000 or row["perms"] & 0o777 != 0o600:
        raise SpecFailure(
            Sentence("`shm write %(key)s --size 1000` exited 0 but made %(segment)s.", key=key, segment=_segment(row) if row else Sentence("no segment with that key")),
            expected=Sentence("a 1000-byte segment with mode 600"),
            evidence=[_row_evidence(row) if row else _no_segment(key)],
            procs=[writer],
        )
    raw = shared_memory.read_segment(key) or b""
    header = len(record).to_bytes(LENGTH, "little")
    if raw[:LENGTH] != header:
        swapped = raw[:LENGTH] == len(record).to_bytes(LENGTH, "big")
        raise SpecFailure(
            Sentence("after storing a %(n)s-byte record, the segment's first 4 bytes are %(bytes)s (that is the length big-endian).",
                     n=len(record), bytes=raw[:LENGTH].hex(" ")) if swapped
            else Sentence("after storing a %(n)s-byte record, the segment's first 4 bytes are %(bytes)s.", n=len(record), bytes=raw[:LENGTH].hex(" ")),
            expected=Sentence("%(bytes)s (%(n)s as 32 bits, little-endian)", bytes=header.hex(" "), n=len(record)),
            fix=Sentence("Store the length little-endian.") if swapped else "",
            procs=[writer],
        )
    if raw[LENGTH : LENGTH + len(record)] != record:
        raise SpecFailure(
            Sentence("the record's bytes in the segment, from offset 4, differ from what was stored: %(difference)s.",
                     difference=first_difference(record, raw[LENGTH : LENGTH + len(record)])),
            procs=[writer],
        )

    key = made.key(names.sysv_key())
    record = b"stored by the grader\0\xff" * 10
    junk = b"\xaa" * 64  # bytes after the record that a reader must not print
    shared_memory.create_segment(key, 512, len(record).to_bytes(LENGTH, "little") + record + junk)
    _read(impl, key, record)


@spec(
    "shm.too-large",
    points=2,
    hint="Read all input first and compare LENGTH + 4 with the segment's size (shmctl IPC_STAT "
    "gives shm_segsz); refuse before writing a byte. Open an existing segment with size 0 so "
    "its own size applies, whatever --size says.",
)
def test_too_large(impl, names, made):
    """Input that does not fit the segment gives exit 1 and leaves the previous record intact."""
    key = made.key(names.sysv_key())
    fits = bytes(range(60))  # 4 + 60 = 64: exactly fills a 64-byte segment
    _write(impl, key, fits, "--size", "64")
    before = shared_memory.read_segment(key)
    too_big = b"\xee" * 61
    attempts = (
        (too_big, ["--size", "64"], Sentence("61 bytes need 65 with the length, and the segment has 64")),
        (too_big, ["--size", "4096"], Sentence("the existing 64-byte segment keeps its size whatever --size says")),
        (b"\xdd" * 5000, [], Sentence("5000 bytes do not fit in 64")),
    )
    for data, args, why in attempts:
        proc = impl.run("write", str(key), *args, input=data, timeout=deadline.EXIT)
        if proc.status.code != 1:
            raise SpecFailure(
                Sentence("`shm write %(key)s %(args)s` with %(data)s %(status)s.", key=key, args=" ".join(args), data=describe_bytes(data), status=proc.status.words()),
                expected=Sentence("exit status %(code)s (%(why)s)", code=1, why=why),
                procs=[proc],
            )
        after = shared_memory.read_segment(key)
        if after is None:
            raise SpecFailure(
                Sentence("a refused `shm write` (%(why)s) removed segment %(key)s.", why=why, key=key),
                fix=Sentence("It must leave the segment as it was."),
                procs=[proc],
            )
        if after != before:
            raise SpecFailure(
                Sentence("a refused `shm write` (%(why)s) changed the segment: %(difference)s.", why=why, difference=first_difference(before, after)),
                fix=Sentence("Check that the record fits before writing anything."),
                procs=[proc],
            )
    _read(impl, key, fits)


@spec(
    "shm.rewrite",
    points=1,
    hint="`write` replaces the record: store the new length along with the new bytes.",
)
def test_rewrite(impl, names, made):
    """A second `shm write` replaces the record: a shorter record reads back exactly, with nothing of the old one."""
    key = made.key(names.sysv_key())
    _in_a_segment(key, _write(impl, key, b"L" * 300))
    _write(impl, key, b"short")
    _read(impl, key, b"short", previous=300)


@spec(
    "shm.rm-removes",
    points=1,
    hint="`rm`: shmget(KEY, 0, 0) then shmctl(id, IPC_RMID); when shmget fails with ENOENT, "
    "print why on stderr and exit 1. `read` of a missing key exits 1 the same way.",
)
def test_rm_removes(impl, names, made):
    """`shm rm KEY` removes the segment; `read` and `rm` of a segment that does not exist exit 1."""
    key = made.key(names.sysv_key())
    _expect_exit(impl.run("read", str(key), timeout=deadline.STEP), 1, Sentence("reading segment %(key)s, which does not exist", key=key))
    _in_a_segment(key, _write(impl, key, b"to be removed"))
    rm = _expect_exit(impl.run("rm", str(key), timeout=deadline.STEP), 0, Sentence("removing segment %(key)s", key=key))
    row = shared_memory.segment_row(key)
    if row is not None:
        raise SpecFailure(Sentence("`shm rm %(key)s` exited 0 but the segment is still there.", key=key), evidence=[_row_evidence(row)], procs=[rm])
    _expect_exit(impl.run("rm", str(key), timeout=deadline.STEP), 1, Sentence("removing segment %(key)s a second time", key=key))
    _expect_exit(impl.run("read", str(key), timeout=deadline.STEP), 1, Sentence("reading segment %(key)s after it was removed", key=key))


# --- fork: the seed's demo -------------------------------------------------------------------


@spec(
    "shm.fork-shares",
    points=3,
    hint="shmget(IPC_PRIVATE) and shmat BEFORE fork: the child inherits the attachment, so its "
    "writes land in the parent's memory. A plain variable is copied by fork. Then shmdt and "
    "shmctl(IPC_RMID) in the parent.",
)
def test_fork_shares(impl, made):
    """`shm fork` prints `33, 44`: the child's writes reach the parent through the segment, which is then removed."""
    before = shared_memory.segment_ids()
    proc = impl.spawn("fork", stdin="devnull")
    status = proc.wait(deadline.STEP)
    # the segment is IPC_PRIVATE (key 0), so it is known by who made it: created or last
    # attached by this program, and not there before it started
    left = [
        row
        for row in sysvipc("shm")
        if row["shmid"] not in before and proc.pid in (row["cpid"], row["lpid"])
    ]
    for row in left:
        made.shmid(row["shmid"])
    lines = [line.rstrip() for line in _text(proc).splitlines()]
    if lines != ["33, 44"]:
        copied = lines == ["11, 22"]
        raise SpecFailure(
            Sentence("`shm fork` printed %(output)s. The parent still sees the values it stored before fork: the child wrote to its own copy.",
                     output=repr(proc.stdout.data[:200])) if copied
            else Sentence("`shm fork` printed %(output)s.", output=repr(proc.stdout.data[:200])),
            expected=Sentence("the line `33, 44`"),
            fix=(
                Sentence("fork gives the child a copy of ordinary memory; only a segment attached before "
                         "fork is the same memory in both.")
                if copied
                else ""
            ),
            procs=[proc],
        )
    if not status.ok:
        raise SpecFailure(Sentence("`shm fork` printed `33, 44` but %(status)s.", status=status.words()), expected=Sentence("exit status 0"), procs=[proc])
    if left:
        raise SpecFailure(
            Sentence("`shm fork` exited, leaving its segment behind."),
            evidence=[_row_evidence(r) for r in left],
            fix=Sentence("A segment outlives its processes: remove it with shmctl(IPC_RMID) once the parent has read it."),
            procs=[proc],
        )


# --- counter: a shared counter under a lock ----------------------------------------------


def _printed_value(proc):
    lines = [line.strip() for line in _text(proc).splitlines() if line.strip()]
    if len(lines) != 1 or not re.fullmatch(r"[0-9]{1,18}", lines[0]):
        raise SpecFailure(
            Sentence("`shm counter` printed %(output)s.", output=repr(proc.stdout.data[:200])),
            expected=Sentence("one line with the final value, a decimal number"),
            procs=[proc],
        )
    return int(lines[0])


def _signal_all(proc, pids, sig):
    """Send SIG to each of PIDS, PROC's processes, through PROC (so its timeline shows it)."""
    for pid in pids:
        try:
            proc.kill(pid, sig)
        except ProcessLookupError:
            pass


def _gone(pid):
    return state(pid) in (None, "Z", "X")


@contextmanager
def _the_lock_and_the_counter(name):
    """The counter's semaphore NAME, opened by the grader, and a function reading the counter
    (64 bits little-endian at offset 0 of the object NAME) with pread(2), never through a
    mapping: a program that truncates its object would make the grader's read of a mapped
    page a SIGBUS, where pread returns what there is."""
    import posix_ipc

    with as_program():
        sem = posix_ipc.Semaphore(name)
        shm = posix_ipc.SharedMemory(name)
    try:
        yield sem, lambda: int.from_bytes(os.pread(shm.fd, 8, 0).ljust(8, b"\0"), "little")
    finally:
        shm.close_fd()
        sem.close()


def _take_the_lock(proc, name, sem, counter, limit, doing):
    """Stop every process of PROC's tree and take SEM when it is free between two additions; try
    again, once the counter has moved on, while it is not. Returns the processes, still
    stopped, SEM held.

    Free between two additions means free with the counter at no multiple of LOCK_ITERS: at 0
    the processes have not started, and at k x LOCK_ITERS one process has just finished all its
    additions and the next not begun (a lock taken around a whole loop is free only then)."""
    seen = []  # the counter's value at each stop that found the lock taken (or free at a turn)
    free_at_turns = 0
    while True:
        tree = proc.tree()
        _signal_all(proc, tree, signal.SIGSTOP)
        # a deadline of its own: LIMIT bounds the tries, and may run out just after a SIGSTOP
        wait_until(lambda tree=tree: all(state(p) in ("T", None, "Z", "X") for p in tree), deadline.STEP, Sentence("every process of %(doing)s stopped", doing=doing))
        value = sem.value
        if value > 1:
            raise SpecFailure(
                Sentence("with every process of %(doing)s stopped, its semaphore reads %(value)s.", doing=doing, value=value),
                expected=Sentence("1 (the lock free) or 0 (a process stopped while it holds the lock)"),
                evidence=[Sentence("%(path)s reads %(value)s (sem_getvalue).", path=shared_memory.semaphore_path(name), value=value)],
                fix=Sentence("More sem_post than sem_wait lets several processes in at once: post exactly once after each wait."),
                procs=[proc],
            )
        now = counter()
        if value == 1 and now % LOCK_ITERS:
            sem.acquire(0)  # sem_trywait: it cannot block, every process that could take it is stopped
            return tree
        free_at_turns += value == 1 and now > 0
        seen.append(now)
        _signal_all(proc, tree, signal.SIGCONT)
        if limit.expired():
            break
        try:  # a process stopped while it held the lock: let them go on before the next look
            proc.wait_for(lambda before=now: counter() != before, limit, Sentence("the counter of %(doing)s moved on", doing=doing))
        except SpecTimeout:
            break
    moved = seen[-1] != seen[0] or counter() != seen[-1]
    ending = (Sentence("while the counter went on from %(start)s to %(now)s.", start=seen[0], now=counter()) if moved
              else Sentence("and the counter stayed at %(start)s.", start=seen[0]))
    if free_at_turns:
        turns = Sentence("%(count)s of them with the counter at a multiple of %(iters)s: one process done with all its additions, the next not started",
                         count=free_at_turns, iters=LOCK_ITERS)
        observed = Sentence("the semaphore was never free between two additions when the grader stopped every process of %(doing)s: "
                            "it stopped them %(times)s times, and the semaphore read 0 at %(taken)s of them (%(turns)s), %(ending)s",
                            doing=doing, times=len(seen), taken=len(seen) - free_at_turns, turns=turns, ending=ending)
    else:
        observed = Sentence("the semaphore was never free between two additions when the grader stopped every process of %(doing)s: "
                            "it stopped them %(times)s times, and the semaphore read 0 at %(taken)s of them, %(ending)s",
                            doing=doing, times=len(seen), taken=len(seen) - free_at_turns, ending=ending)
    raise SpecFailure(
        observed,
        expected=Sentence("the lock taken and given back for each addition, so that it is free between two additions"),
        evidence=[Sentence("%(path)s reads %(value)s (sem_getvalue) now.", path=shared_memory.semaphore_path(name), value=sem.value)],
        fix=(
            Sentence("Taking the lock once around the whole loop is not each addition under the lock: the "
                     "processes take turns instead of sharing the counter. Each addition is sem_wait, read, "
                     "write, sem_post.")
            if moved
            else Sentence("The lock is never given back, so no process can add: post once after each wait.")
        ),
        procs=[proc],
    )


def _check_the_lock(impl, names, made):
    """Under the grader's lock the counter does not move: the processes wait for it (see LOCK_PROCS)."""
    name = names.posix("cnt")
    made.object(name)
    made.semaphore(name)
    doing = f"`shm counter {name} {LOCK_PROCS} {LOCK_ITERS}`"
    proc = impl.spawn("counter", name, str(LOCK_PROCS), str(LOCK_ITERS), "--keep", stdin="devnull")

    def started():
        tree = proc.tree()
        ready = len(tree) > LOCK_PROCS and shared_memory.semaphore_exists(name) and len(shared_memory.read_object(name) or b"") >= 8
        return tree if ready else None

    tree = proc.wait_for(started, deadline.STEP, Sentence("%(doing)s forked its %(procs)s processes and made its object and semaphore", doing=doing, procs=LOCK_PROCS))
    with _the_lock_and_the_counter(name) as (sem, counter):
        try:
            tree = _take_the_lock(proc, name, sem, counter, Deadline(deadline.STEP), doing)
            held = counter()
            ticks = {pid: cpu_ticks(pid) or 0 for pid in tree}
            _signal_all(proc, tree, signal.SIGCONT)

            def had_their_chance():
                if counter() != held:
                    return "moved"
                done = all(
                    _gone(p) or asleep(p) or (cpu_ticks(p) or 0) - ticks[p] >= HAD_ITS_CHANCE_TICKS for p in tree
                )
                return "still" if done else None

            outcome = proc.wait_for(had_their_chance, deadline.STEP, Sentence("every process of %(doing)s waiting for the lock the grader holds", doing=doing))
            if outcome == "moved":
                now = counter()
                raise SpecFailure(
                    Sentence("while the grader held the semaphore %(name)s, the counter went from %(held)s to %(now)s: "
                             "its processes add without taking the lock.", name=name, held=held, now=now),
                    done=Sentence(
                        "started %(doing)s, stopped its processes with SIGSTOP, took the semaphore "
                        "(sem_trywait) while it was free, and continued them with SIGCONT:", doing=doing,
                    ),
                    expected=Sentence("the counter to stay at %(held)s, each process asleep in sem_wait until the lock is free", held=held),
                    evidence=[Sentence("%(path)s reads %(value)s (sem_getvalue): the grader holds it.", path=shared_memory.semaphore_path(name), value=sem.value)]
                    + [Sentence("%(process)s.", process=describe(p)) for p in tree],
                    fix=Sentence(
                        "Take the semaphore (sem_wait) before reading the counter and give it back "
                        "(sem_post) after writing it, in every iteration. A fast program that loses no "
                        "update in a short run still loses them once its processes run at the same time."
                    ),
                    procs=[proc],
                )
        finally:
            _signal_all(proc, {*tree, *proc.tree()}, signal.SIGKILL)  # it would count for hours: it has shown what it does
    proc.wait(deadline.STEP, check_implemented=False)


@spec(
    "shm.counter-exact",
    points=4,
    hint="value = value + 1 is a read and a write: two processes that interleave them lose an "
    "update. Take the semaphore (sem_wait) before reading the counter and post it after writing, "
    "on every iteration.",
    timeout=90,
)
def test_counter_exact(impl, names, made, schedules):
    """`shm counter` loses no update: PROCS processes adding 1 ITERS times each make exactly PROCS x ITERS.

    Both the printed value and the one left in the object (with --keep) are checked, and the
    lock semaphore must be free at the end. Then the grader holds the lock itself while the
    processes count, and the counter must not move meanwhile: that shows a missing lock
    whatever the program's speed (see LOCK_PROCS). Last, the grader runs the counter under
    SCHEDULES schedules of its own, one process at a time (docs/schedules.md): a race anywhere
    between a read and its write shows, whatever the lock does.
    """
    for procs, iters in COUNTER_CASES:
        name = names.posix("cnt")
        made.object(name)
        made.semaphore(name)
        proc = impl.run("counter", name, str(procs), str(iters), "--keep", timeout=deadline.LONG)
        _check_the_count(proc, name, procs, iters)
    _check_the_lock(impl, names, made)
    procs, iters = SCHEDULED
    schedules.explore(lambda run: _count_under(run, names, made), SCHEDULES, what=Sentence("`shm counter NAME %(procs)s %(iters)s --keep`, one process at a time", procs=procs, iters=iters))


def _count_under(run, names, made):
    """One schedule of the counter: SCHEDULED processes and additions, one process at a time."""
    name = names.posix("cnt")
    made.object(name)
    made.semaphore(name)
    procs, iters = SCHEDULED
    proc = run.spawn("counter", name, str(procs), str(iters), "--keep")
    run.start()
    run.finish([proc], deadline.LONG, f"`shm counter {name} {procs} {iters}`")
    _check_the_count(proc, name, procs, iters)


def _check_the_count(proc, name, procs, iters):
    """`shm counter NAME PROCS ITERS --keep` (PROC, ended) counted right and left its lock free."""
    expected = procs * iters
    _expect_exit(proc, 0, Sentence("counting with %(procs)s processes x %(iters)s iterations", procs=procs, iters=iters))
    printed = _printed_value(proc)
    if printed != expected:
        command = Sentence("`shm counter %(name)s %(procs)s %(iters)s`", name=name, procs=procs, iters=iters)
        if printed < expected:
            lost = expected - printed
            observed = one_after_another([
                Sentence("%(command)s printed %(printed)s: %(lost)s update was lost.", command=command, printed=printed, lost=lost) if lost == 1
                else Sentence("%(command)s printed %(printed)s: %(lost)s updates were lost.", command=command, printed=printed, lost=lost),
                Sentence("Two processes read the same value and both stored value + 1: an addition was made without taking the lock "
                         "(or under a lock the processes do not share)."),
            ], " ")
        else:
            observed = Sentence("%(command)s printed %(printed)s.", command=command, printed=printed)
        raise SpecFailure(
            observed,
            expected=Sentence("%(procs)s x %(iters)s = %(expected)s", procs=procs, iters=iters, expected=expected),
            fix=Sentence("The read and the write of each addition must happen under the semaphore."),
            procs=[proc],
        )
    stored = shared_memory.read_object(name)
    if stored is None or len(stored) < 8:
        raise SpecFailure(
            Sentence("the shared memory object %(name)s does not exist.", name=name) if stored is None
            else Sentence("the shared memory object %(name)s has only %(n)s bytes.", name=name, n=len(stored)),
            expected=Sentence("with --keep, the shared memory object %(name)s remains, holding the counter", name=name),
            evidence=[
                Sentence("%(path)s does not exist.", path=shared_memory.object_path(name))
                if stored is None
                else Sentence("%(path)s holds %(n)s bytes.", path=shared_memory.object_path(name), n=len(stored))
            ],
            procs=[proc],
        )
    value = int.from_bytes(stored[:8], "little")
    if value != expected:
        raise SpecFailure(
            Sentence("`shm counter` printed %(printed)s, but the object %(name)s holds %(value)s (bytes %(bytes)s).",
                     printed=printed, name=name, value=value, bytes=stored[:8].hex(" ")),
            fix=Sentence("The counter is 64 bits, little-endian, at offset 0."),
            procs=[proc],
        )
    lock = shared_memory.semaphore_value(name)
    if lock != 1:
        raise SpecFailure(
            Sentence("the semaphore %(name)s does not exist.", name=name) if lock is None
            else Sentence("the semaphore %(name)s reads %(value)s after every process finished.", name=name, value=lock),
            expected=Sentence("with --keep, the semaphore %(name)s (the counter's lock) remains, free", name=name),
            fix=(
                Sentence("Create it with sem_open(NAME, O_CREAT, 0600, 1).")
                if lock is None
                else Sentence("Each sem_wait needs exactly one sem_post.")
            ),
            procs=[proc],
        )


@spec(
    "shm.counter-cleans-up",
    points=1,
    hint="Without --keep, call shm_unlink(NAME) and sem_unlink(NAME) before exiting: both "
    "outlive every process otherwise.",
)
def test_counter_cleans_up(impl, names, made):
    """Without --keep, `shm counter` unlinks the shared memory object and the semaphore it made before exiting."""
    name = names.posix("cnt")
    made.object(name)
    made.semaphore(name)
    # the value is shm.counter-exact's business; here what it made, and what is left afterwards
    with shared_memory.Creations() as seen:
        proc = impl.run("counter", name, "3", "1000", timeout=deadline.LONG)
    _expect_exit(proc, 0, Sentence("counting with %(procs)s processes x %(iters)s iterations", procs=3, iters=1000))
    never = [
        (what, path)
        for what, path in (
            (Sentence("the shared memory object %(name)s (shm_open with O_CREAT)", name=name), shared_memory.object_path(name)),
            (Sentence("the semaphore %(name)s (sem_open with O_CREAT)", name=name), shared_memory.semaphore_path(name)),
        )
        if not seen.has(path)
    ]
    if never:  # nothing made, nothing to clean up: no point for it
        raise SpecFailure(
            Sentence("`shm counter %(name)s 3 1000` exited without ever creating %(what)s.", name=name, what=_either([what for what, _ in never])),
            expected=Sentence("the counter creates the object and its semaphore, counts in them, and unlinks both before exiting"),
            evidence=[Sentence("inotify on %(directory)s saw no %(path)s created while it ran.", directory=shared_memory.DEV_SHM, path=path) for _, path in never],
            fix=Sentence("Create the counter with shm_open(NAME, O_CREAT | O_RDWR, 0600) and its lock with sem_open(NAME, O_CREAT, 0600, 1)."),
            procs=[proc],
        )
    left = [
        (what, path)
        for what, path, there in (
            (Sentence("its shared memory object"), shared_memory.object_path(name), shared_memory.object_exists(name)),
            (Sentence("its semaphore"), shared_memory.semaphore_path(name), shared_memory.semaphore_exists(name)),
        )
        if there
    ]
    if left:
        raise SpecFailure(
            Sentence("`shm counter %(name)s 3 1000` (no --keep) exited leaving %(what)s behind.", name=name, what=_both([what for what, _ in left])),
            evidence=[Sentence("%(path)s still exists.", path=path) for _, path in left],
            fix=Sentence("Unlink the object (shm_unlink) and the semaphore (sem_unlink) before exiting."),
            procs=[proc],
        )
