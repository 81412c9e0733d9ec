"""Reference `buffer`: a bounded buffer in shared memory, the producer/consumer problem
(contract section 3).

    buffer init NAME SLOTS [--slot-size B]   create the object and its three semaphores
    buffer produce NAME                      each line of stdin becomes one item
    buffer consume NAME COUNT                take COUNT items, print each as a line
    buffer destroy NAME                      unlink the object and the semaphores

The seeds: shared memory is fast because the kernel stays out of the way, so the processes must
synchronise themselves (semaphores). The classic solution (sem_overview(7), sem_wait(3),
sem_post(3), shm_open(3)):

    empty  counts free slots (starts at SLOTS): a producer waits on it, so a full buffer puts
           the producer to sleep instead of overwriting an item
    full   counts filled slots (starts at 0): a consumer waits on it, so an empty buffer puts
           the consumer to sleep
    mutex  (starts at 1) guards head and tail, which several producers or consumers update

The object NAME holds, all integers 32-bit little-endian: SLOTS at 0, SLOT_SIZE at 4, head at 8
(next slot to take), tail at 12 (next slot to fill), then slot i at 16 + i * SLOT_SIZE: a 4-byte
length and the item's bytes. Semaphores are named NAME.empty, NAME.full and NAME.mutex.
"""

import mmap
import struct
import sys

import posix_ipc

HEADER = struct.Struct("<IIII")  # SLOTS, SLOT_SIZE, head, tail
FIELD = struct.Struct("<I")
HEAD, TAIL = 8, 12
DEFAULT_SLOT_SIZE = 256
ROLES = ("empty", "full", "mutex")

USAGE = (
    "usage: buffer init NAME SLOTS [--slot-size B] | buffer produce NAME | "
    "buffer consume NAME COUNT | buffer destroy NAME"
)


class Usage(Exception):
    """A malformed command line: exit status 2."""


class Failure(Exception):
    """An error with a one-line reason: exit status 1."""


def fail(message, code=1):
    sys.stderr.write(f"buffer: {message}\n")
    sys.stderr.flush()
    return code


def number(text, what, least=1):
    try:
        value = int(text, 10)
    except ValueError:
        value = least - 1
    if value < least:
        raise Usage(f"{what} must be an integer of at least {least}, not {text!r}")
    return value


def semaphore_names(name):
    return {role: f"{name}.{role}" for role in ROLES}


def wait(semaphore):
    """sem_wait: sleep (in the kernel, on a futex) until the count is positive, then take one."""
    while True:
        try:
            semaphore.acquire()
            return
        except posix_ipc.SignalError:  # EINTR: a signal arrived while waiting; wait again
            continue


class Buffer:
    """An existing buffer, opened: the mapped object and its three semaphores."""

    def __init__(self, name):
        try:
            shared = posix_ipc.SharedMemory(name)
        except posix_ipc.ExistentialError:
            raise Failure(f"no buffer {name} (run `buffer init` first)") from None
        self.memory = mmap.mmap(shared.fd, shared.size)
        shared.close_fd()
        self.slots, self.slot_size, _, _ = HEADER.unpack_from(self.memory, 0)
        if self.slots < 1 or self.slot_size < FIELD.size or HEADER.size + self.slots * self.slot_size > len(self.memory):
            raise Failure(f"{name} is not a buffer: its header says {self.slots} slots of {self.slot_size} bytes")
        try:
            sems = {role: posix_ipc.Semaphore(sem) for role, sem in semaphore_names(name).items()}
        except posix_ipc.ExistentialError:
            raise Failure(f"buffer {name} lacks one of its semaphores {', '.join(semaphore_names(name).values())}") from None
        self.empty, self.full, self.mutex = sems["empty"], sems["full"], sems["mutex"]

    def slot(self, index):
        return HEADER.size + index * self.slot_size

    def put(self, item):
        """Store ITEM at tail and advance tail. The caller holds the mutex."""
        (tail,) = FIELD.unpack_from(self.memory, TAIL)
        at = self.slot(tail)
        FIELD.pack_into(self.memory, at, len(item))
        self.memory[at + FIELD.size : at + FIELD.size + len(item)] = item
        FIELD.pack_into(self.memory, TAIL, (tail + 1) % self.slots)

    def take(self):
        """The item at head; advance head. The caller holds the mutex."""
        (head,) = FIELD.unpack_from(self.memory, HEAD)
        at = self.slot(head)
        (length,) = FIELD.unpack_from(self.memory, at)
        if length > self.slot_size - FIELD.size:
            raise Failure(f"slot {head} holds a length of {length}, more than a slot holds")
        item = self.memory[at + FIELD.size : at + FIELD.size + length]
        FIELD.pack_into(self.memory, HEAD, (head + 1) % self.slots)
        return item


def init(name, slots, slot_size):
    created = []  # undo list: on failure remove only what this call made
    try:
        shared = posix_ipc.SharedMemory(name, posix_ipc.O_CREX, 0o600, HEADER.size + slots * slot_size)
        created.append(lambda: posix_ipc.unlink_shared_memory(name))
        with mmap.mmap(shared.fd, shared.size) as memory:
            HEADER.pack_into(memory, 0, slots, slot_size, 0, 0)
        shared.close_fd()
        for role, initial in (("empty", slots), ("full", 0), ("mutex", 1)):
            sem_name = f"{name}.{role}"
            posix_ipc.Semaphore(sem_name, posix_ipc.O_CREX, 0o600, initial).close()
            created.append(lambda sem_name=sem_name: posix_ipc.unlink_semaphore(sem_name))
    except posix_ipc.ExistentialError:
        for undo in reversed(created):
            undo()
        return fail(f"init: buffer {name} (or one of its semaphores) exists already")
    return 0


def produce(name):
    buf = Buffer(name)
    limit = buf.slot_size - FIELD.size
    for line in sys.stdin.buffer:
        item = line[:-1] if line.endswith(b"\n") else line
        if len(item) > limit:
            return fail(f"produce: a line of {len(item)} bytes does not fit in a slot ({limit} bytes at most)")
        wait(buf.empty)  # a full buffer: sleep here until a consumer frees a slot
        wait(buf.mutex)
        buf.put(item)
        buf.mutex.release()
        buf.full.release()  # wake a consumer
    return 0


def consume(name, count):
    buf = Buffer(name)
    out = sys.stdout.buffer
    for _ in range(count):
        wait(buf.full)  # an empty buffer: sleep here until a producer fills a slot
        wait(buf.mutex)
        item = buf.take()
        buf.mutex.release()
        buf.empty.release()  # wake a producer
        out.write(item + b"\n")
        out.flush()
    return 0


def destroy(name):
    missing = []
    try:
        posix_ipc.unlink_shared_memory(name)
    except posix_ipc.ExistentialError:
        missing.append(name)
    for sem_name in semaphore_names(name).values():
        try:
            posix_ipc.unlink_semaphore(sem_name)
        except posix_ipc.ExistentialError:
            missing.append(sem_name)
    if missing:
        return fail(f"destroy: {', '.join(missing)} did not exist (removed the rest)")
    return 0


def parse_name(text):
    if not text.startswith("/") or "/" in text[1:] or len(text) < 2:
        raise Usage(f"NAME must be one slash and a name, like /bb-42, not {text!r}")
    return text


def main(argv):
    try:
        role, args = (argv[0], argv[1:]) if argv else ("", [])
        if role == "init" and len(args) in (2, 4):
            slot_size = DEFAULT_SLOT_SIZE
            if len(args) == 4:
                if args[2] != "--slot-size":
                    raise Usage(f"unknown option {args[2]!r}")
                slot_size = number(args[3], "B", least=FIELD.size + 1)
            return init(parse_name(args[0]), number(args[1], "SLOTS"), slot_size)
        if role == "produce" and len(args) == 1:
            return produce(parse_name(args[0]))
        if role == "consume" and len(args) == 2:
            return consume(parse_name(args[0]), number(args[1], "COUNT", least=0))
        if role == "destroy" and len(args) == 1:
            return destroy(parse_name(args[0]))
        raise Usage(f"bad arguments {' '.join(argv)!r}" if argv else "no role given")
    except Usage as exc:
        return fail(f"{exc}\n{USAGE}", 2)
    except Failure as exc:
        return fail(str(exc))
    except BrokenPipeError:
        return fail("broken pipe")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
