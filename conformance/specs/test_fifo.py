"""Specs for `fifo write PATH` and `fifo read PATH`: named pipes between unrelated processes.

fifo(7), mkfifo(3), open(2), pipe(7). The seeds: a named pipe extends the anonymous pipe beyond
parent and child: it has a name, so any process that knows the name can use it; data stays
one-way and in order. fifo(7): opening a FIFO blocks until the other end is opened too; the
reader sees end-of-file once every writer has closed. pipe(7): a write of at most PIPE_BUF
bytes is atomic, so the lines of concurrent writers never interleave.

Where a spec needs the other end to be exactly right it is the grader's own: it opens the FIFO
itself (non-blocking, so it never waits on a program) and closes it when it chooses.
"""

from __future__ import annotations

import errno
import fcntl
import itertools
import os
import select
import signal
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from hypothesis import example, given

from conformance import deadline
from conformance.deadline import Deadline
from conformance.outcomes import Sentence, SpecFailure, SpecTimeout, needs, one_after_another
from conformance.spec import spec
from conformance.specs.support import (
    NOT_SHOWN,
    READ_CALLS,
    WRITE_CALLS,
    Fd,
    Proc,
    Why,
    asleep,
    describe,
    describe_bytes,
    fds,
    first_difference,
    give_to_programs,
    payloads,
    settle,
    spec_settings,
    wait_until,
)

MiB = 1 << 20
PIPE_BUF = 4096
#: Calls in which open(2) of a FIFO sleeps until the other end is opened.
OPEN_CALLS = frozenset({"open", "openat", "openat2"})
#: Concurrent writers in atomic-writes.
WRITERS = 4
#: The lengths (newline included) of each writer's lines, in turn: the limit, around it, small.
LINE_LENGTHS = (4096, 4095, 4000, 2049, 4096, 3001, 17, 4096, 2500, 4096, 1500, 4093)
MODE = 0o600
#: How much the grader reads at a time in atomic-writes: less than a page.
READ_CHUNK = 1024
#: atomic-writes under schedule control (docs/schedules.md): (WRITERS, LINES each) short lines,
#: less than the FIFO holds, so no write waits; and the budget of schedules (the calibration's).
SCHEDULED = (3, 3)
SCHEDULES = 40


@pytest.fixture
def ends() -> Iterator[Ends]:
    """FIFO ends the grader opens itself; all closed after the spec."""
    e = Ends()
    yield e
    e.close_all()


class Ends:
    def __init__(self) -> None:
        self.fds: set[int] = set()

    def open_reader(self, path: Path) -> int:
        """The read end, non-blocking: open(2) succeeds at once, with or without a writer."""
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        self.fds.add(fd)
        return fd

    def open_writer(self, proc: Proc, path: Path, who: str) -> int:
        """The write end, once PROC has the FIFO open for reading (or sleeps in open for it).

        A non-blocking open for writing fails with ENXIO while no reader has the FIFO open
        (fifo(7)); a reader asleep in open(2) already counts, so this is a poll of the kernel.
        """

        def attempt() -> int | None:
            try:
                return os.open(path, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as exc:
                if exc.errno in (errno.ENXIO, errno.ENOENT):
                    return None
                raise

        fd = proc.wait_for(lambda: attempt(), deadline.STEP, Sentence("%(who)s opened %(path)s for reading", who=who, path=str(path)))
        self.fds.add(fd)
        os.set_blocking(fd, True)
        return fd

    def close(self, fd: int) -> None:
        if fd in self.fds:
            self.fds.discard(fd)
            os.close(fd)

    def close_all(self) -> None:
        for fd in list(self.fds):
            self.close(fd)


_counter = itertools.count()


def _path(ipc_tmp: Path, tag: str) -> Path:
    return ipc_tmp / f"{tag}-{next(_counter)}"


def _is_fifo(path: Path) -> bool:
    try:
        return stat.S_ISFIFO(os.lstat(path).st_mode)
    except OSError:
        return False


def _describe_path(path: Path) -> str:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return Sentence("%(path)s does not exist", path=str(path))
    kind = (Sentence("a FIFO") if stat.S_ISFIFO(st.st_mode) else Sentence("a regular file") if stat.S_ISREG(st.st_mode)
            else Sentence("a file of type %(type)s", type=format(stat.S_IFMT(st.st_mode), "o")))
    return Sentence("%(path)s is %(kind)s with mode %(mode)s", path=str(path), kind=kind, mode=format(stat.S_IMODE(st.st_mode), "04o"))


def _wait_fifo(proc: Proc, path: Path) -> None:
    waited = Deadline(deadline.STEP)
    try:
        proc.wait_for(lambda: _is_fifo(path), waited, Sentence("%(program)s created the FIFO %(path)s", program=proc.label, path=str(path)))
    except SpecTimeout as exc:
        raise SpecFailure(
            Sentence("%(program)s did not create a FIFO at %(path)s within %(within)s.", program=proc.label, path=str(path), within=str(waited)),
            evidence=[_describe_path(path), *exc.evidence],
            fix=Sentence("Create it with mkfifo(3) when nothing is there."),
            procs=exc.procs or [proc],
        ) from None


def _fifo_fds(pid: int, path: Path) -> list[Fd]:
    """The fds by which PID holds the FIFO at PATH (none if the kernel will not show them)."""
    try:
        ino = os.stat(path).st_ino
        return [fd for fd in fds(pid).values() if fd.kind == "fifo" and fd.inode == ino]
    except (OSError, *NOT_SHOWN):
        return []  # explanations are sentences, never verdicts


def _why_no_eof(proc: Proc, path: Path) -> Why:
    """Why PROC, reading the FIFO at PATH, never sees end-of-file (or what it does instead)."""
    held = [fd for fd in _fifo_fds(proc.pid, path) if fd.access in ("w", "rw")]
    if held:
        return Why(
            [Sentence("%(program)s (pid %(pid)s) holds the FIFO itself as %(fd)s, so a writer is always there and read(2) never returns 0",
                      program=proc.label, pid=proc.pid, fd=str(held[0]))],
            [Sentence("Open it O_RDONLY.")],
        )
    return Why([describe(proc.pid)])


#: Calls in which a reader waits for data.
WAIT_FOR_DATA = READ_CALLS | {"poll", "ppoll", "select", "pselect6", "epoll_wait", "epoll_pwait"}


def _reader_exits(reader: Proc, timeout: float | Deadline) -> Sentence | None:
    """None once READER exits; else what it does instead, as a sentence: at once when it sleeps
    waiting for data, else at TIMEOUT.

    Call it when no other process has the FIFO open for writing any more: read(2) then returns
    0 at once, so a reader still asleep waiting for data holds a write end itself (or a process
    of its own does) and can never see end-of-file: the kernel reports EOF only when no process
    at all has the FIFO open for writing.
    """
    timeout = Deadline.of(timeout)
    try:
        blocked = settle.settle(reader, WAIT_FOR_DATA, timeout)
    except SpecTimeout:
        return Sentence("did not exit within %(waited)s", waited=str(timeout))
    return None if blocked is None else Sentence("still sleeps waiting for data: it never sees end-of-file")


def _drain(fd: int, until: Deadline, what: str, chunk: int = 1 << 16, procs: Sequence[Proc] = ()) -> bytes:
    """Read FD (non-blocking) until end-of-file, waiting in select(2); SpecTimeout at UNTIL,
    saying what PROCS (the writers) do."""
    os.set_blocking(fd, False)
    out = bytearray()
    while True:
        ready, _, _ = select.select([fd], [], [], until.remaining())
        if not ready:
            raise SpecTimeout(
                Sentence("%(what)s: no end-of-file within %(within)s (%(count)s bytes read).", what=what, within=str(until), count=len(out)),
                evidence=[describe(p.pid) for p in procs],
                procs=procs,
            )
        try:
            data = os.read(fd, chunk)
        except BlockingIOError:
            continue
        if not data:
            return bytes(out)
        out += data


def _transfer(writer: Proc, reader: Proc, data: bytes, path: Path, who: str) -> None:
    """Wait for WRITER and READER to finish a transfer of DATA, and check it."""
    writer.feed(data)
    until = Deadline(deadline.EXIT)
    if not writer.finished_within(until):
        raise SpecFailure(
            Sentence("%(who)s: the writer did not finish within %(within)s (%(data)s to send).", who=who, within=str(until), data=describe_bytes(data)),
            evidence=[
                Sentence("writer: %(process)s", process=describe(writer.pid)),
                Sentence("reader: %(process)s, %(count)s bytes printed", process=describe(reader.pid), count=reader.stdout.length),
            ],
            procs=[writer, reader],
        )
    instead = _reader_exits(reader, max(until.remaining(), deadline.STEP))
    if instead:
        why = _why_no_eof(reader, path)
        raise SpecFailure(
            Sentence("%(who)s: the writer %(status)s after sending %(data)s, but the reader %(instead)s.",
                     who=who, status=writer.status.words(), data=describe_bytes(data), instead=instead),
            evidence=why.evidence,
            fix=why.fix,
            procs=[reader, writer],
        )
    rstatus = reader.wait(deadline.STEP)
    wstatus = writer.wait(deadline.STEP)
    if not reader.stdout.matches(data):
        raise SpecFailure(
            Sentence("%(who)s: %(data)s went in, and the reader's output differs: %(difference)s.",
                     who=who, data=describe_bytes(data), difference=first_difference(data, reader.stdout.data)),
            procs=[writer, reader],
        )
    if not (rstatus.ok and wstatus.ok):
        raise SpecFailure(
            Sentence("%(who)s: the data passed, but the writer %(writer_status)s and the reader %(reader_status)s.",
                     who=who, writer_status=wstatus.words(), reader_status=rstatus.words()),
            expected=Sentence("exit status 0 from both"),
            procs=[writer, reader],
        )


def _interop_payload() -> bytes:
    text = b"".join(b"line %d through a named pipe\n" % i for i in range(500))
    return text + bytes(range(256)) * 800 + b"\nlast line without a newline"


# --- specs ---------------------------------------------------------------------------------


@spec(
    "fifo.creates-fifo",
    points=1,
    hint="mkfifo(PATH, 0600) when nothing is at PATH; the umask can clear bits, so set the mode "
    "exactly (umask(0) around mkfifo, or chmod after it). Both roles create it.",
)
def test_creates_fifo(impl, ipc_tmp):
    """Each role creates a FIFO with mode 0600 at PATH when nothing is there (mkfifo(3))."""
    for role in ("read", "write"):
        path = _path(ipc_tmp, role)
        proc = impl.spawn(role, str(path))
        _wait_fifo(proc, path)
        proc.wait_for(lambda: asleep(proc.pid), deadline.STEP, Sentence("%(program)s waited for its peer", program=proc.label))
        mode = stat.S_IMODE(os.lstat(path).st_mode)
        if mode != MODE:
            raise SpecFailure(
                Sentence("`fifo %(role)s PATH` created the FIFO with mode %(mode)s.", role=role, mode=format(mode, "04o")),
                expected=Sentence("mode %(mode)s (read and write for its owner only)", mode=format(MODE, "04o")),
                procs=[proc],
            )


@spec(
    "fifo.open-blocks-until-peer",
    points=2,
    hint="Open the FIFO with a plain blocking open(2): O_RDONLY for read, O_WRONLY for write. "
    "It sleeps until the other end is opened; do not use O_RDWR or O_NONBLOCK to avoid the wait.",
)
def test_open_blocks_until_peer(impl, ipc_tmp, ends):
    """Each role started alone sleeps in open(2) until the other end is opened, then proceeds (fifo(7))."""
    # the reader alone
    path = _path(ipc_tmp, "reader-alone")
    reader = impl.spawn("read", str(path), stdin="devnull")
    _wait_fifo(reader, path)
    _wait_in_open(reader, path, Sentence("`fifo read` with no writer"), WAIT_FOR_DATA)
    fd = ends.open_writer(reader, path, reader.label)
    os.write(fd, b"peer\n")
    ends.close(fd)
    status = reader.wait(deadline.STEP)
    if reader.stdout.data != b"peer\n" or not status.ok:
        raise SpecFailure(
            Sentence("`fifo read` then printed %(output)s and %(status)s.", output=repr(reader.stdout.data[:80]), status=status.words()),
            done=Sentence("The grader opened the FIFO, wrote `peer` and closed it."),
            expected=Sentence("b'peer\\n' and exit status 0"),
            procs=[reader],
        )
    # the writer alone
    path = _path(ipc_tmp, "writer-alone")
    writer = impl.spawn("write", str(path))
    writer.feed(b"peer\n")
    _wait_fifo(writer, path)
    _wait_in_open(writer, path, Sentence("`fifo write` with no reader"), READ_CALLS | WRITE_CALLS)
    fd = ends.open_reader(path)
    got = _drain(fd, Deadline(deadline.STEP), Sentence("reading what `fifo write` wrote"), procs=[writer])
    status = writer.wait(deadline.STEP)
    if got != b"peer\n" or not status.ok:
        raise SpecFailure(
            Sentence("`fifo write` with `peer` on stdin then wrote %(output)s and %(status)s.", output=repr(got[:80]), status=status.words()),
            done=Sentence("The grader opened the FIFO for reading."),
            expected=Sentence("b'peer\\n' and exit status 0"),
            procs=[writer],
        )


#: What to change when opening a FIFO does not wait for the other end.
WAIT_IN_OPEN = Sentence("Opening a FIFO must wait for the other end (no O_RDWR, no O_NONBLOCK).")


def _wait_in_open(proc: Proc, path: Path, who: str, instead: frozenset[str]) -> None:
    """PROC sleeps in open(2); fails at once if it exits, spins, polls, or sleeps in one of
    INSTEAD (it got past open)."""
    try:
        blocked = settle.settle(proc, OPEN_CALLS | instead, deadline.STEP, who=who, fix=WAIT_IN_OPEN)
        if blocked is not None and blocked.syscall.name in OPEN_CALLS:
            return
        if blocked is None:
            proc.wait(deadline.STEP)  # a stub that says `not implemented` ends the spec here
        where = blocked.words() if blocked is not None else Sentence("%(program)s %(ended)s", program=proc.label, ended=proc.status.ended if proc.status else Sentence("exited"))
    except SpecTimeout:
        where = describe(proc.pid)
    held = _fifo_fds(proc.pid, path)
    raise SpecFailure(
        Sentence("%(who)s does not sleep in open(2).", who=who),
        evidence=[where, Sentence("%(program)s has the FIFO open already as %(fd)s", program=proc.label, fd=str(held[0])) if held else ""],
        fix=WAIT_IN_OPEN,
        procs=[proc],
    )


@spec(
    "fifo.roundtrip",
    points=3,
    hint="Copy until read() returns 0, and loop on write() until every byte is written; both "
    "ends of the FIFO are plain blocking opens.",
)
@spec_settings(max_examples=10)
@given(data=payloads([4095, 4096, 4097, 65535, 65536, 65537, MiB + 3]))
@example(data=b"")
@example(data=bytes(range(256)) * 4)
def test_roundtrip(impl, ipc_tmp, data):
    """Bytes written by `fifo write` come out of `fifo read`, an unrelated process, byte for byte."""
    path = _path(ipc_tmp, "roundtrip")
    reader = impl.spawn("read", str(path), stdin="devnull", capture_limit=len(data) + 1024)
    with needs("fifo.creates-fifo"):  # the bytes are to go through a named pipe: one must be there
        _wait_fifo(reader, path)
    writer = impl.spawn("write", str(path))
    try:
        _transfer(writer, reader, data, path, Sentence("`fifo write` into `fifo read`"))
    finally:
        path.unlink(missing_ok=True)


@spec(
    "fifo.eof-on-writer-close",
    points=2,
    hint="The reader must not hold a write end itself: open the FIFO O_RDONLY, copy until read() "
    "returns 0, then exit 0.",
)
def test_eof_on_writer_close(impl, ipc_tmp, ends):
    """`fifo read` exits 0 once its writer closes: read(2) returns 0 when no writer is left (pipe(7))."""
    path = _path(ipc_tmp, "eof")
    reader = impl.spawn("read", str(path), stdin="devnull")
    _wait_fifo(reader, path)
    fd = ends.open_writer(reader, path, reader.label)
    os.write(fd, b"first line\n")
    line = reader.next_line(deadline.STEP, what=Sentence("the line the grader wrote into the FIFO"))
    if line != b"first line":
        raise SpecFailure(Sentence("`fifo read` printed %(output)s.", output=repr(line[:80])),
                          done=Sentence("The grader wrote b'first line\\n' into the FIFO."), procs=[reader])
    reader.wait_blocked(WAIT_FOR_DATA, deadline.STEP, who=Sentence("`fifo read`, waiting for more data,"))
    ends.close(fd)
    instead = _reader_exits(reader, deadline.STEP)
    if instead:
        why = _why_no_eof(reader, path)
        raise SpecFailure(
            Sentence("`fifo read` %(instead)s.", instead=instead),
            done=Sentence("The grader, the FIFO's only writer, closed its end."),
            evidence=why.evidence,
            fix=why.fix,
            procs=[reader],
        )
    status = reader.wait(deadline.STEP)
    if not status.ok or reader.stdout.data != b"first line\n":
        raise SpecFailure(
            Sentence("after its writer closed, `fifo read` %(status)s having printed %(output)s.", status=status.words(), output=repr(reader.stdout.data[:80])),
            expected=Sentence("exit status 0 after b'first line\\n'"),
            procs=[reader],
        )


def _writer_lines(w: int, count: int) -> list[bytes]:
    """Writer W's lines: a tag `W:K:` and W's own letter up to a length from LINE_LENGTHS."""
    fill = bytes([ord("a") + w])
    out = []
    for k in range(count):
        length = LINE_LENGTHS[(k + w) % len(LINE_LENGTHS)]
        tag = b"%d:%d:" % (w, k)
        out.append(tag + fill * (length - len(tag) - 1) + b"\n")
    return out


def _check_lines(output: bytes, expected: list[list[bytes]]) -> Sentence | None:
    """Where OUTPUT is not the writers' lines, each whole and in its writer's order, as a
    failure's sentence; None if it is."""
    known = {line[:-1]: (w, k) for w, lines in enumerate(expected) for k, line in enumerate(lines)}
    next_k = [0] * len(expected)
    for n, line in enumerate(output.split(b"\n")[:-1] if output.endswith(b"\n") else output.split(b"\n")):
        where = known.get(line)
        if where is None:
            tag = line[:12]
            return Sentence(
                "Output line %(n)s is torn (%(length)s bytes, starting %(start)s, ending "
                "%(end)s): it is no writer's line, so parts of different lines were mixed.",
                n=n + 1, length=len(line) + 1, start=repr(tag), end=repr(line[-12:]),
            )
        w, k = where
        if k != next_k[w]:
            return Sentence("Output line %(n)s is writer %(writer)s's line %(line)s, but its line %(next)s was expected next (lines lost or repeated).",
                            n=n + 1, writer=w, line=k, next=next_k[w])
        next_k[w] += 1
    missing = [(w, len(lines) - next_k[w]) for w, lines in enumerate(expected) if next_k[w] != len(lines)]
    if missing:
        counts = [Sentence("%(count)s of writer %(writer)s's", count=n, writer=w) for w, n in missing]
        return Sentence("Lines are missing: %(missing)s.", missing=one_after_another(counts, ", "))
    return None


#: What to change when a line comes out torn.
ATOMIC = Sentence("A write of at most PIPE_BUF bytes is atomic, so a line written with one write(2) is never torn.")


@spec(
    "fifo.atomic-writes",
    points=2,
    hint="Write each line (at most PIPE_BUF = 4096 bytes) with one write(2) call, never split "
    "across calls (a stdio buffer flushes at its own boundaries: write whole lines yourself).",
)
def test_atomic_writes(impl, ipc_tmp, ends, run_context, schedules):
    """Lines of at most PIPE_BUF bytes from several concurrent writers never interleave (pipe(7)).

    Then a few writers of a few short lines each run under schedules of the grader's, one
    process at a time (docs/schedules.md): however their writes fall, no line is torn.
    """
    path = ipc_tmp / "atomic"
    os.mkfifo(path, MODE)
    give_to_programs(path, run_context.sandbox)  # the writers may open it
    fd = ends.open_reader(path)  # first: the writers' opens do not wait
    capacity = fcntl.fcntl(fd, fcntl.F_GETPIPE_SZ)
    per_writer = capacity // 4096 * 2 + 8  # each writer alone has more than the FIFO holds
    expected = [_writer_lines(w, per_writer) for w in range(WRITERS)]
    writers = []
    for w in range(WRITERS):
        proc = impl.spawn("write", str(path))
        proc.feed(b"".join(expected[w]))
        writers.append(proc)
    # with nobody reading yet, the FIFO fills and every writer sleeps in write: they all
    # compete for the room the grader's reads make
    for w, proc in enumerate(writers):
        proc.wait_blocked(WRITE_CALLS, deadline.STEP, who=Sentence("writer %(writer)s (%(program)s, pid %(pid)s), with the FIFO full,", writer=w, program=proc.label, pid=proc.pid))
    # small reads keep the FIFO nearly full, so a writer whose write does not fit must wait
    # part-way through it while the others write: a line split over writes is then torn
    output = _drain(fd, Deadline(deadline.EXIT), Sentence("reading the lines of %(count)s concurrent `fifo write`", count=WRITERS), chunk=READ_CHUNK, procs=writers)
    for proc in writers:
        status = proc.wait(deadline.STEP)
        if not status.ok:
            raise SpecFailure(Sentence("%(program)s %(ended)s.", program=proc.label, ended=status.ended), expected=Sentence("exit status 0"), procs=[proc])
    problem = _check_lines(output, expected)
    if problem:
        raise SpecFailure(
            problem,
            done=Sentence("%(writers)s `fifo write` processes each wrote %(lines)s lines of 17 to 4096 bytes "
                          "(newline included; writer 0's lines are filled with `a`, writer 1's with `b`, and so "
                          "on) into one FIFO at once.", writers=WRITERS, lines=per_writer),
            fix=ATOMIC,
            procs=writers,
        )
    n, each = SCHEDULED
    schedules.explore(
        lambda run: _writes_under(run, ipc_tmp, ends, run_context), SCHEDULES,
        what=f"{n} writers of {each} short lines each into one FIFO, one process at a time",
    )


def _writes_under(run, ipc_tmp, ends, run_context):
    """One schedule of atomic-writes: SCHEDULED writers of short lines, the FIFO's reader the
    grader's, open before they start; their input all written first."""
    n, each = SCHEDULED
    path = _path(ipc_tmp, "scheduled")
    os.mkfifo(path, MODE)
    give_to_programs(path, run_context.sandbox)
    fd = ends.open_reader(path)
    expected = [[line[:64].rstrip(b"\n") + b"\n" for line in _writer_lines(w, each)] for w in range(n)]
    writers = [run.spawn("write", str(path), stdin="pipe") for _ in range(n)]
    for proc, lines in zip(writers, expected, strict=True):
        proc.write(b"".join(lines))  # a few hundred bytes: the pipe holds them
        proc.close_stdin()
    run.start()
    run.finish(writers, deadline.EXIT, Sentence("%(count)s `fifo write` of %(lines)s lines each", count=n, lines=each))
    output = _drain(fd, Deadline(deadline.STEP), Sentence("reading the lines of %(count)s `fifo write`", count=n), chunk=READ_CHUNK, procs=writers)
    ends.close(fd)
    for proc in writers:
        if not proc.status.ok:
            raise SpecFailure(Sentence("%(program)s %(ended)s.", program=proc.label, ended=proc.status.ended), expected=Sentence("exit status 0"), procs=[proc])
    problem = _check_lines(output, expected)
    if problem:
        raise SpecFailure(
            problem,
            done=Sentence("%(writers)s `fifo write` processes each wrote %(lines)s lines of 64 bytes into one FIFO.", writers=n, lines=each),
            fix=ATOMIC,
            procs=writers,
        )


@spec(
    "fifo.rejects-non-fifo",
    points=2,
    hint="If PATH exists, check it with stat(2) (S_ISFIFO) before opening; not a FIFO: exit 1, "
    "and never remove, truncate or write the file. Open without O_CREAT and O_TRUNC.",
)
def test_rejects_non_fifo(impl, ipc_tmp, run_context):
    """With a regular file at PATH, each role exits 1 and leaves the file exactly as it was."""
    content = b"a regular file that is not a FIFO\n" * 8
    for role in ("read", "write"):
        # first the work this refusal is about: with nothing at PATH, the role makes its FIFO
        # (a program that refuses everything refuses this too, and earns nothing)
        fresh = _path(ipc_tmp, f"fresh-{role}")
        works = impl.spawn(role, str(fresh), stdin="devnull")
        with needs("fifo.creates-fifo"):
            _wait_fifo(works, fresh)
        works.send_signal(signal.SIGKILL)
        works.wait(deadline.STEP, check_implemented=False)
        path = _path(ipc_tmp, f"regular-{role}")
        path.write_bytes(content)
        os.chmod(path, 0o644)
        give_to_programs(path, run_context.sandbox)  # the program's own file
        before = os.lstat(path)
        proc = impl.spawn(role, str(path))
        proc.feed(b"data that must not reach the file\n")

        def touched() -> bool:
            try:
                now = os.lstat(path)
            except FileNotFoundError:
                return True
            return (now.st_ino, now.st_mode, now.st_size, now.st_mtime_ns) != (before.st_ino, before.st_mode, before.st_size, before.st_mtime_ns)

        waited = Deadline(deadline.STEP)
        try:  # until it exits, or at once when the file is no longer what it was
            exited = wait_until(lambda: proc.poll() is not None or touched(), waited, "") and proc.poll() is not None
        except SpecTimeout:
            exited = False
        try:
            after = os.lstat(path)
            now = path.read_bytes() if stat.S_ISREG(after.st_mode) else None
        except FileNotFoundError:
            after, now = None, None
        if after is None or after.st_ino != before.st_ino or not stat.S_ISREG(after.st_mode):
            raise SpecFailure(
                Sentence("`fifo %(role)s PATH` with a regular file at PATH removed or replaced it.", role=role),
                evidence=[Sentence("now %(file)s", file=_describe_path(path))],
                fix=Sentence("Leave a file that is not a FIFO alone and exit 1."),
                procs=[proc],
            )
        if now != content or stat.S_IMODE(after.st_mode) != stat.S_IMODE(before.st_mode):
            raise SpecFailure(
                Sentence("`fifo %(role)s PATH` changed the regular file at PATH: its content is now %(difference)s.", role=role, difference=first_difference(content, now or b""))
                if now != content
                else Sentence("`fifo %(role)s PATH` changed the regular file at PATH: its mode is now %(mode)s.", role=role, mode=format(stat.S_IMODE(after.st_mode), "04o")),
                fix=Sentence("Check S_ISFIFO before opening, and exit 1."),
                procs=[proc],
            )
        if not exited:
            raise SpecFailure(
                Sentence("`fifo %(role)s PATH` with a regular file at PATH did not exit within %(within)s.", role=role, within=str(waited)),
                expected=Sentence("exit status 1 at once"),
                evidence=[describe(proc.pid)],
                procs=[proc],
            )
        status = proc.wait(deadline.STEP)
        if status.code != 1:
            raise SpecFailure(
                Sentence("`fifo %(role)s PATH` with a regular file at PATH %(status)s.", role=role, status=status.words()),
                expected=Sentence("exit status 1 (and a one-line reason on stderr)"),
                procs=[proc],
            )


@spec(
    "fifo.interop-writer",
    points=1,
    hint="Your writer must work with any reader: plain bytes, no framing, and close the FIFO when done.",
)
def test_interop_writer(impl, reference, ipc_tmp):
    """`fifo write` (yours, creating the FIFO) feeds the reference `fifo read`, byte for byte."""
    data = _interop_payload()
    path = _path(ipc_tmp, "interop-writer")
    writer = impl.spawn("write", str(path))
    _wait_fifo(writer, path)
    reader = reference.spawn("read", str(path), stdin="devnull", capture_limit=len(data) + 1024)
    _transfer(writer, reader, data, path, Sentence("your `fifo write` into the reference `fifo read`"))


@spec(
    "fifo.interop-reader",
    points=1,
    hint="Your reader must work with any writer: copy every byte until end-of-file, nothing more.",
)
def test_interop_reader(impl, reference, ipc_tmp):
    """`fifo read` (yours, creating the FIFO) takes the reference `fifo write`'s bytes, byte for byte."""
    data = _interop_payload()
    path = _path(ipc_tmp, "interop-reader")
    reader = impl.spawn("read", str(path), stdin="devnull", capture_limit=len(data) + 1024)
    _wait_fifo(reader, path)
    writer = reference.spawn("write", str(path))
    _transfer(writer, reader, data, path, Sentence("the reference `fifo write` into your `fifo read`"))
