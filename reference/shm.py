"""Reference `shm`: shared memory (contract section 3).

    shm write KEY [--size N]          store stdin as one record in the System V segment KEY
    shm read KEY                      print the record stored in segment KEY
    shm rm KEY                        remove segment KEY
    shm fork                          the seed's demo: a child writes 33, 44; the parent reads them
    shm counter NAME PROCS ITERS [--keep]
                                      PROCS children add 1 to a shared counter ITERS times each,
                                      every addition under a POSIX named semaphore

The seeds present shared memory as the fastest IPC: once a segment is attached, processes read
and write it with no system call, so the kernel no longer orders their accesses. That is why the
counter needs a lock (sem_overview(7)): `value = value + 1` is a read and a write, and two
processes that interleave them lose an update. shmget(2), shmat(2), shmctl(2), shm_open(3),
sem_open(3).

A record in a segment is a 4-byte little-endian length, then that many bytes.
"""

import mmap
import os
import struct
import sys

import posix_ipc
import sysv_ipc

DEFAULT_SIZE = 4096
LENGTH = struct.Struct("<I")  # the record's header
PAIR = struct.Struct("<ii")  # the fork demo's two 32-bit integers
COUNTER = struct.Struct("<Q")  # the counter: 64-bit little-endian at offset 0

USAGE = (
    "usage: shm write KEY [--size N] | shm read KEY | shm rm KEY | shm fork | "
    "shm counter NAME PROCS ITERS [--keep]"
)


class Usage(Exception):
    """A malformed command line: exit status 2."""


def fail(message, code=1):
    sys.stderr.write(f"shm: {message}\n")
    sys.stderr.flush()
    return code


def parse_key(text):
    try:
        key = int(text, 10)
    except ValueError:
        raise Usage(f"KEY must be a decimal integer, not {text!r}") from None
    if key == sysv_ipc.IPC_PRIVATE or not sysv_ipc.KEY_MIN <= key <= sysv_ipc.KEY_MAX:
        raise Usage(f"KEY {key} is not a usable System V key")
    return key


def positive(text, what):
    try:
        value = int(text, 10)
    except ValueError:
        value = 0
    if value <= 0:
        raise Usage(f"{what} must be a positive integer, not {text!r}")
    return value


def read_stdin():
    chunks = []
    while True:
        chunk = os.read(0, 1 << 16)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def write_stdout(data):
    view = memoryview(data)
    while view:
        view = view[os.write(1, view):]


# --- write / read / rm: one record in a System V segment ----------------------------------


def write(key, size):
    data = read_stdin()  # all of it first: a record is stored whole or not at all
    try:
        segment = sysv_ipc.SharedMemory(key)  # an existing segment keeps its own size
    except sysv_ipc.ExistentialError:
        if LENGTH.size + len(data) > size:
            return fail(f"write: {len(data)} bytes do not fit in a {size}-byte segment")
        try:
            segment = sysv_ipc.SharedMemory(key, sysv_ipc.IPC_CREX, 0o600, size)
        except sysv_ipc.ExistentialError:  # another writer created it first
            segment = sysv_ipc.SharedMemory(key)
    try:
        if LENGTH.size + len(data) > segment.size:
            # checked before any byte is written, so the previous record stays intact
            return fail(f"write: {len(data)} bytes do not fit in the {segment.size}-byte segment {key}")
        segment.write(data, LENGTH.size)
        segment.write(LENGTH.pack(len(data)), 0)
    finally:
        segment.detach()
    return 0


def read(key):
    try:
        segment = sysv_ipc.SharedMemory(key)
    except sysv_ipc.ExistentialError:
        return fail(f"read: no segment with key {key}")
    try:
        (length,) = LENGTH.unpack(segment.read(LENGTH.size, 0))
        if LENGTH.size + length > segment.size:
            return fail(f"read: segment {key} holds a record of {length} bytes, more than it can hold")
        data = segment.read(length, LENGTH.size) if length else b""
    finally:
        segment.detach()
    write_stdout(data)
    return 0


def rm(key):
    try:
        segment = sysv_ipc.SharedMemory(key)
    except sysv_ipc.ExistentialError:
        return fail(f"rm: no segment with key {key}")
    segment.remove()  # IPC_RMID: gone once the last process detaches (that is us, next line)
    segment.detach()
    return 0


# --- fork: the seed's demo ------------------------------------------------------------------


def fork_demo():
    segment = sysv_ipc.SharedMemory(sysv_ipc.IPC_PRIVATE, sysv_ipc.IPC_CREX, 0o600, PAIR.size)
    try:
        segment.write(PAIR.pack(11, 22), 0)
        pid = os.fork()
        if pid == 0:  # child: the attachment is inherited, so this writes the parent's memory
            code = 1
            try:
                segment.write(PAIR.pack(33, 44), 0)
                code = 0
            finally:
                os._exit(code)  # never run the parent's cleanup below
        os.waitpid(pid, 0)
        first, second = PAIR.unpack(segment.read(PAIR.size, 0))
        print(f"{first}, {second}", flush=True)
    finally:
        segment.remove()
        segment.detach()
    return 0


# --- counter: a shared counter under a named semaphore -----------------------------------


def count(memory, lock, iters):
    """One child's work: ITERS additions, each a read and a write under the lock."""
    for _ in range(iters):
        lock.acquire()
        (value,) = COUNTER.unpack_from(memory, 0)
        COUNTER.pack_into(memory, 0, value + 1)
        lock.release()


def counter(name, procs, iters, keep):
    try:
        shared = posix_ipc.SharedMemory(name, posix_ipc.O_CREX, 0o600, COUNTER.size)
    except posix_ipc.ExistentialError:
        return fail(f"counter: a shared memory object {name} exists already")
    memory = mmap.mmap(shared.fd, COUNTER.size)
    shared.close_fd()
    try:
        lock = posix_ipc.Semaphore(name, posix_ipc.O_CREX, 0o600, 1)
    except posix_ipc.ExistentialError:
        shared.unlink()
        return fail(f"counter: a semaphore {name} exists already")
    try:
        COUNTER.pack_into(memory, 0, 0)
        children = []
        for _ in range(procs):
            pid = os.fork()
            if pid == 0:
                code = 1
                try:
                    count(memory, lock, iters)
                    code = 0
                finally:
                    os._exit(code)
            children.append(pid)
        failed = 0
        for pid in children:
            _, status = os.waitpid(pid, 0)
            failed += os.waitstatus_to_exitcode(status) != 0
        if failed:
            return fail(f"counter: {failed} of {procs} children failed")
        (value,) = COUNTER.unpack_from(memory, 0)
        print(value, flush=True)
        return 0
    finally:
        if not keep:
            shared.unlink()
            lock.unlink()
        lock.close()
        memory.close()


def main(argv):
    try:
        if not argv:
            raise Usage("no role given")
        role, args = argv[0], argv[1:]
        if role == "write" and len(args) in (1, 3):
            size = DEFAULT_SIZE
            if len(args) == 3:
                if args[1] != "--size":
                    raise Usage(f"unknown option {args[1]!r}")
                size = positive(args[2], "N")
                if size < LENGTH.size:
                    raise Usage(f"a segment needs at least {LENGTH.size} bytes for the length")
            return write(parse_key(args[0]), size)
        if role in ("read", "rm") and len(args) == 1:
            return (read if role == "read" else rm)(parse_key(args[0]))
        if role == "fork" and not args:
            return fork_demo()
        if role == "counter" and len(args) in (3, 4):
            keep = len(args) == 4
            if keep and args[3] != "--keep":
                raise Usage(f"unknown option {args[3]!r}")
            if not args[0].startswith("/") or "/" in args[0][1:]:
                raise Usage(f"NAME must be one slash and a name, like /counter, not {args[0]!r}")
            return counter(args[0], positive(args[1], "PROCS"), positive(args[2], "ITERS"), keep)
        raise Usage(f"bad arguments {' '.join(argv)!r}")
    except Usage as exc:
        return fail(f"{exc}\n{USAGE}", 2)
    except BrokenPipeError:
        return fail("broken pipe")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
