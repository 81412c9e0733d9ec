"""Specs for `buffer`: the bounded buffer in shared memory, the producer/consumer problem.

shm_overview(7), shm_open(3), sem_overview(7), sem_open(3), sem_wait(3), sem_post(3). The
seeds: shared memory is the fastest IPC because the kernel stays out of each access, so the
processes must synchronise themselves with semaphores. The classic solution these specs hold
an implementation to: `empty` counts free slots and `full` filled ones, so a full buffer puts
the producer to sleep and an empty one the consumer (no spinning, no overwriting, no dropping);
`mutex` guards head and tail, so that several producers and consumers at once neither lose nor
duplicate nor tear an item. The layout of the object and the names of the semaphores are the
contract's (section 3), so producers and consumers of different implementations work together.

Semaphore values are read from outside with sem_getvalue(3); processes are watched in /proc
(a producer asleep in a semaphore wait sleeps in futex(2) and uses no CPU).

`buffer.no-loss-no-duplicates` perturbs the scheduling by stopping and continuing random
participants (SIGSTOP/SIGCONT) from a random.Random seeded with a number derived from the spec
id, so every grading run perturbs the same way; set the environment variable IPC_SEED to an
integer to try another seed. A failure message names the seed it ran with.
"""

from __future__ import annotations

import random
import re
import signal
import zlib
from collections import Counter
from contextlib import contextmanager

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from conformance import deadline
from conformance.deadline import Deadline
from conformance.outcomes import Sentence, SpecFailure, SpecTimeout, needs, one_after_another
from conformance.spec import spec
from conformance.specs.support import (
    READ_CALLS,
    SEED_ENV,
    ProcessGone,
    as_program,
    asleep,
    blocked_now,
    cpu_ticks,
    describe,
    first_difference,
    settle,
    shared_memory,
    spec_seed,
    spec_settings,
    state,
    wait_for_state,
    wait_until,
)

#: A semaphore wait (sem_wait, sem_timedwait) sleeps in futex(2).
SEM_WAIT = frozenset({"futex"})
#: The contract's layout: four 32-bit little-endian integers, then the slots.
HEADER = 16
DEFAULT_SLOT_SIZE = 256
ROLES = ("empty", "full", "mutex")


# --- the grader's side of a buffer -----------------------------------------------------------


@pytest.fixture
def made():
    """Objects and semaphores this spec uses, removed after it whatever happened."""
    with shared_memory.made() as registry:
        yield registry


def _new_buffer(made, names):
    """A fresh buffer NAME, its object and semaphores registered for removal."""
    name = names.posix("bb")
    made.object(name)
    for role in ROLES:
        made.semaphore(f"{name}.{role}")
    return name


def _values(name):
    """(full, empty, mutex) as sem_getvalue reads them now; None for a missing one."""
    return tuple(shared_memory.semaphore_value(f"{name}.{role}") for role in ("full", "empty", "mutex"))


def _show(name):
    full, empty, mutex = _values(name)
    return Sentence("%(name)s.full reads %(full)s, %(name)s.empty %(empty)s, %(name)s.mutex %(mutex)s", name=name, full=full, empty=empty, mutex=mutex)


def _items(count):
    """``1 item``, ``3 items``: a sentence of its own."""
    return Sentence("%(count)s item", count=count) if count == 1 else Sentence("%(count)s items", count=count)


def _before_after(values, raw, name):
    """The evidence that a refused init changed a live buffer: its semaphores and header before and after."""
    return [
        Sentence("before, %(values)s (full, empty, mutex) and its header %(header)s", values=str(values), header=raw[:HEADER].hex(" ")),
        Sentence("after, %(values)s and %(header)s", values=str(_values(name)), header=(shared_memory.read_object(name) or b"")[:HEADER].hex(" ")),
    ]


def _present(name):
    """Which of the buffer's four objects exist, as /dev/shm shows them."""
    out = [shared_memory.object_path(name)] if shared_memory.object_exists(name) else []
    return out + [shared_memory.semaphore_path(f"{name}.{r}") for r in ROLES if shared_memory.semaphore_exists(f"{name}.{r}")]


def _expect_exit(proc, code, doing):
    status = proc.status
    if status is None or status.code != code:
        raise SpecFailure(Sentence("%(doing)s: %(program)s %(ended)s.", doing=doing, program=proc.label, ended=status.ended if status else Sentence("is still running")),
                          expected=Sentence("exit status %(code)s", code=code), procs=[proc])


def _init(impl, name, slots, slot_size=None):
    args = ["init", name, str(slots)] + (["--slot-size", str(slot_size)] if slot_size else [])
    proc = impl.run(*args, timeout=deadline.STEP)
    _expect_exit(proc, 0, f"`buffer {' '.join(args)}`")
    return proc


def _lines(items):
    return b"".join(item + b"\n" for item in items)


def _produce(impl, name, items):
    producer = impl.spawn("produce", name)
    producer.feed(_lines(items))
    return producer


def _consume(impl, name, count):
    return impl.spawn("consume", name, str(count), stdin="devnull")


def _wait_filled(producer, name, count):
    """Wait until NAME.full reads COUNT (the producer filled as many slots) or the producer exits."""

    def filled():
        return producer.poll() is not None or (shared_memory.semaphore_value(f"{name}.full") or 0) >= count

    try:
        wait_until(filled, deadline.STEP, Sentence("%(program)s storing %(items)s", program=producer.label, items=_items(count)))
    except SpecTimeout as exc:
        raise _timed_out(exc, evidence=[_show(name), describe(producer.pid)], procs=[producer]) from None
    if producer.poll() is not None and not producer.status.ok:
        producer.wait(deadline.STEP)
        raise SpecFailure(
            Sentence("%(program)s %(ended)s while storing items.", program=producer.label, ended=producer.status.ended),
            expected=Sentence("it to store them"),
            procs=[producer],
        )


def _timed_out(exc, *, evidence=(), procs=()):
    """EXC, a deadline that ran out (or a proof that it would), with what the kernel shows now
    and the programs it is about."""
    return exc.again(evidence=list(dict.fromkeys([*exc.evidence, *evidence])), procs=list(dict.fromkeys([*procs, *exc.procs])))


def _asleep(proc, who, fix):
    """PROC falls asleep in a semaphore wait and then uses no CPU; None if it exits instead.

    A program that spins or polls instead fails at once (settle.settle), and one that wakes
    while it should sleep too (settle.idle).
    """
    blocked = settle.settle(proc, SEM_WAIT, deadline.STEP, who=who, fix=fix)
    if blocked is None:
        return None
    settle.idle(proc, who=who, fix=fix)
    if proc.poll() is not None:
        return None
    return blocked_now(proc.pid, SEM_WAIT) or blocked


def _compare_items(expected, proc, doing):
    got = proc.stdout.data
    if got != _lines(expected):
        got_items = got.split(b"\n")
        where = next((i for i, (a, b) in enumerate(zip(expected, got_items, strict=False)) if a != b), min(len(expected), len(got_items)))
        detail = (
            Sentence("item %(n)s was %(expected)s but the consumer printed %(got)s", n=where + 1, expected=repr(expected[where][:60]), got=repr(got_items[where][:60]))
            if where < len(expected) and where < len(got_items)
            else first_difference(_lines(expected), got)
        )
        raise SpecFailure(
            Sentence("%(doing)s: the consumer's output differs from the items in order: %(detail)s.", doing=doing, detail=detail),
            fix=Sentence("Items leave the buffer in the order they entered it (take at head, store at tail, "
                         "each advanced modulo SLOTS)."),
            procs=[proc],
        )


# --- init and destroy ------------------------------------------------------------------------


@spec(
    "buffer.init-layout",
    points=2,
    hint="Create the object with shm_open + ftruncate(16 + SLOTS * SLOT_SIZE), write SLOTS, "
    "SLOT_SIZE, head 0, tail 0 as 32-bit little-endian; sem_open NAME.empty (SLOTS), "
    "NAME.full (0), NAME.mutex (1), each with O_CREAT | O_EXCL.",
)
def test_init_layout(impl, names, made):
    """`buffer init` lays out the header and slots as the contract says, with semaphores at SLOTS, 0 and 1."""
    for slots, slot_size in ((5, 40), (3, None)):
        name = _new_buffer(made, names)
        init = _init(impl, name, slots, slot_size)
        size = slot_size or DEFAULT_SLOT_SIZE
        raw = shared_memory.read_object(name)
        if raw is None:
            raise SpecFailure(
                Sentence("`buffer init %(name)s %(slots)s` exited 0 but there is no shared memory object %(name)s (%(path)s).",
                         name=name, slots=slots, path=shared_memory.object_path(name)),
                procs=[init],
            )
        header = [int.from_bytes(raw[i : i + 4], "little") for i in range(0, min(len(raw), HEADER), 4)]
        big = [int.from_bytes(raw[i : i + 4], "big") for i in range(0, min(len(raw), HEADER), 4)]
        if header != [slots, size, 0, 0] or len(raw) < HEADER + slots * size:
            command = f"buffer init {name} {slots}" + (f" --slot-size {slot_size}" if slot_size else "")
            raise SpecFailure(
                Sentence("after `%(command)s`, the object has %(size)s bytes and its header reads %(header)s. "
                         "Read big-endian it would be %(big)s: the header was written big-endian.",
                         command=command, size=len(raw), header=str(header), big=str(big))
                if big == [slots, size, 0, 0]
                else Sentence("after `%(command)s`, the object has %(size)s bytes and its header reads %(header)s.",
                              command=command, size=len(raw), header=str(header)),
                expected=Sentence("at least %(bytes)s bytes and [SLOTS %(slots)s, SLOT_SIZE %(size)s, head 0, tail 0], "
                                  "32-bit little-endian", bytes=HEADER + slots * size, slots=slots, size=size),
                procs=[init],
            )
        values = _values(name)
        if values != (0, slots, 1):
            raise SpecFailure(
                Sentence("after `buffer init %(name)s %(slots)s`, %(values)s.", name=name, slots=slots, values=_show(name)),
                expected=Sentence("full 0, empty %(slots)s (every slot free) and mutex 1 (None means the semaphore does not exist)", slots=slots),
                procs=[init],
            )


@spec(
    "buffer.init-refuses-existing",
    points=1,
    hint="Open every object with O_CREAT | O_EXCL: EEXIST means someone else's buffer; exit 1 "
    "without touching it (and remove only what this call created).",
)
def test_init_refuses_existing(impl, reference, names, made):
    """`buffer init` exits 1 when the object or any semaphore exists, and leaves what exists untouched."""
    # first the work this refusal is about: with nothing there, init makes the buffer
    fresh = _new_buffer(made, names)
    with needs("buffer.init-layout"):
        init = _init(impl, fresh, 2)
        if len(_present(fresh)) != 1 + len(ROLES):
            made_only = ", ".join(_present(fresh))
            raise SpecFailure(
                Sentence("`buffer init %(name)s 2` exited 0 and made only %(made)s.", name=fresh, made=made_only) if made_only
                else Sentence("`buffer init %(name)s 2` exited 0 and made only nothing.", name=fresh),
                expected=Sentence("the object %(name)s and the semaphores %(name)s.empty, %(name)s.full and %(name)s.mutex", name=fresh),
                procs=[init],
            )
    # a live buffer: initialised by the reference, one item in it
    name = _new_buffer(made, names)
    _init(reference, name, 3)
    producer = reference.run("produce", name, input=b"still here\n", timeout=deadline.STEP)
    _expect_exit(producer, 0, Sentence("the reference storing one item"))
    raw, values = shared_memory.read_object(name), _values(name)
    init = impl.run("init", name, "3", timeout=deadline.STEP)
    changed = shared_memory.read_object(name) != raw or _values(name) != values
    if init.status is not None and init.status.code == 0 and changed:
        raise SpecFailure(
            Sentence("`buffer init %(name)s 3` on a buffer that holds an item: %(program)s %(ended)s, and it "
                     "initialised the buffer again: the buffer that existed already was overwritten, its item lost.",
                     name=name, program=init.label, ended=init.status.ended),
            expected=Sentence("exit status 1: create the object and the semaphores with O_CREAT | O_EXCL, so that init fails on a name in use"),
            evidence=_before_after(values, raw, name),
            procs=[init],
        )
    _expect_exit(init, 1, Sentence("`buffer init %(name)s 3` on a buffer that holds an item", name=name))
    if changed:
        raise SpecFailure(
            Sentence("a refused `buffer init` on a live buffer changed it."),
            evidence=_before_after(values, raw, name),
            procs=[init],
        )
    # each of the four alone
    for what in ("object", *ROLES):
        name = _new_buffer(made, names)
        if what == "object":
            content = b"someone else's data"
            shared_memory.create_object(name, content)
            label = Sentence("the shared memory object %(name)s", name=name)
        else:
            shared_memory.create_semaphore(f"{name}.{what}", 7)
            label = Sentence("the semaphore %(name)s.%(role)s", name=name, role=what)
        init = impl.run("init", name, "2", timeout=deadline.STEP)
        _expect_exit(init, 1, Sentence("`buffer init %(name)s 2` when %(what)s exists already", name=name, what=label))
        if what == "object":
            if shared_memory.read_object(name) != content:
                raise SpecFailure(Sentence("a refused `buffer init` changed %(what)s.", what=label), expected=Sentence("it to leave it as it was"), procs=[init])
        elif (after := shared_memory.semaphore_value(f"{name}.{what}")) != 7:
            raise SpecFailure(
                Sentence("a refused `buffer init` changed %(what)s: it read 7 before and %(after)s after.", what=label, after=after),
                procs=[init],
            )


@spec(
    "buffer.destroy-cleans-up",
    points=1,
    hint="shm_unlink(NAME) and sem_unlink each of NAME.empty, NAME.full, NAME.mutex; go on after "
    "a missing one, then exit 1 if any was missing.",
)
def test_destroy_cleans_up(impl, reference, names, made):
    """`buffer destroy` unlinks the object and the three semaphores; with one missing it removes the rest and exits 1."""
    name = _new_buffer(made, names)
    _init(reference, name, 2)
    destroy = impl.run("destroy", name, timeout=deadline.STEP)
    _expect_exit(destroy, 0, f"`buffer destroy {name}`")
    left = _present(name)
    if left:
        sems = [p for p in left if "/sem." in p]
        kinds = [
            *([Sentence("the shared memory object")] if len(sems) < len(left) else []),
            *([Sentence("%(count)s semaphore", count=1) if len(sems) == 1 else Sentence("%(count)s semaphores", count=len(sems))] if sems else []),
        ]
        raise SpecFailure(
            Sentence("`buffer destroy %(name)s` exited 0 but left %(kinds)s behind: %(left)s.", name=name,
                     kinds=Sentence("%(first)s and %(then)s", first=kinds[0], then=kinds[1]) if len(kinds) == 2 else kinds[0], left=", ".join(left)),
            procs=[destroy],
        )
    _expect_exit(impl.run("destroy", name, timeout=deadline.STEP), 1, Sentence("`buffer destroy %(name)s` when nothing is left", name=name))

    name = _new_buffer(made, names)
    _init(reference, name, 2)
    shared_memory.unlink_semaphore(f"{name}.full")
    destroy = impl.run("destroy", name, timeout=deadline.STEP)
    _expect_exit(destroy, 1, Sentence("`buffer destroy %(name)s` with %(name)s.full missing", name=name))
    left = _present(name)
    if left:
        raise SpecFailure(
            Sentence("`buffer destroy %(name)s` with %(name)s.full missing left %(left)s behind.", name=name, left=", ".join(left)),
            fix=Sentence("Remove the others anyway."),
            procs=[destroy],
        )


# --- blocking ----------------------------------------------------------------------------------


FULL_SLOTS = 3


@spec(
    "buffer.blocks-when-full",
    points=3,
    hint="Before storing, sem_wait(empty): with every slot filled it sleeps until a consumer "
    "posts empty. Lock the mutex only after that wait, never before it (a producer asleep "
    "holding the mutex locks every consumer out).",
)
def test_blocks_when_full(impl, names, made):
    """A producer facing a full buffer sleeps in a semaphore wait, with no CPU, until a consumer takes an item."""
    k = FULL_SLOTS
    name = _new_buffer(made, names)
    _init(impl, name, k)
    items = [b"item %d" % i for i in range(1, k + 2)]
    producer = _produce(impl, name, items)
    _wait_filled(producer, name, k)
    if producer.exited_within(0):
        producer.wait(deadline.STEP)
        raise SpecFailure(
            Sentence("with %(slots)s slots and %(lines)s lines, %(program)s %(ended)s without waiting for a free slot.",
                     slots=k, lines=k + 1, program=producer.label, ended=producer.status.ended),
            evidence=[Sentence("now %(values)s", values=_show(name))],
            fix=Sentence("A full buffer must put the producer to sleep in sem_wait(empty) until a consumer "
                         "frees a slot: it never drops or overwrites an item."),
            procs=[producer],
        )
    fix = Sentence("Wait with sem_wait(empty): the kernel wakes the producer when a consumer posts; no polling loop.")
    blocked = _asleep(producer, Sentence("the producer facing a full buffer"), fix)
    full, empty, mutex = _values(name)
    if blocked is None or (full, empty) != (k, 0):
        how = Sentence("exited") if blocked is None else Sentence("sleeps (%(blocked)s)", blocked=blocked.words())
        raise SpecFailure(
            Sentence("with %(slots)s slots and %(lines)s lines, %(program)s %(how)s while %(values)s. full counts %(full)s items "
                     "in %(slots)s slots: it stored an item without waiting for a free slot, so it overwrote one.",
                     slots=k, lines=k + 1, program=producer.label, how=how, values=_show(name), full=full)
            if full > k
            else Sentence("with %(slots)s slots and %(lines)s lines, %(program)s %(how)s while %(values)s.",
                          slots=k, lines=k + 1, program=producer.label, how=how, values=_show(name)),
            expected=Sentence("the producer asleep with full %(slots)s and empty 0", slots=k),
            fix=Sentence("A full buffer must stop the producer in sem_wait(empty), never lose or overwrite an item."),
            procs=[producer],
        )
    if mutex != 1:
        raise SpecFailure(
            Sentence("the producer sleeps on a full buffer holding the mutex: no consumer can ever take an "
                     "item, a deadlock."),
            evidence=[_show(name), blocked.words()],
            fix=Sentence("Call sem_wait(empty) first, then lock the mutex."),
            procs=[producer],
        )
    consumer = _consume(impl, name, 1)
    first = consumer.next_line(deadline.STEP, what=Sentence("the first item"))
    if first != items[0]:
        raise SpecFailure(Sentence("the consumer took %(item)s first.", item=repr(first)),
                          expected=Sentence("%(item)s, the oldest item", item=repr(items[0])), procs=[consumer])
    consumer.wait(deadline.STEP)
    _expect_exit(consumer, 0, Sentence("taking one item"))
    if not producer.finished_within(deadline.STEP):
        raise SpecFailure(
            Sentence("a consumer took one item, but the producer did not finish within %(seconds)s s.", seconds=deadline.STEP),
            evidence=[_show(name), describe(producer.pid)],
            fix=Sentence("The consumer's sem_post(empty) must wake it to store its last item."),
            procs=[producer, consumer],
        )
    producer.wait(deadline.STEP)
    _expect_exit(producer, 0, Sentence("producing %(count)s items", count=k + 1))
    if _values(name)[:2] != (k, 0):
        raise SpecFailure(
            Sentence("after the producer stored its last item, %(values)s.", values=_show(name)),
            expected=Sentence("full %(slots)s and empty 0", slots=k),
            procs=[producer, consumer],
        )


@spec(
    "buffer.blocks-when-empty",
    points=3,
    hint="Before taking, sem_wait(full): on an empty buffer it sleeps until a producer posts "
    "full. No polling loop, and never hold the mutex while waiting.",
)
def test_blocks_when_empty(impl, names, made):
    """A consumer facing an empty buffer sleeps in a semaphore wait, with no CPU, until an item arrives."""
    name = _new_buffer(made, names)
    _init(impl, name, 2)
    consumer = _consume(impl, name, 2)
    fix = Sentence("Wait with sem_wait(full): the kernel wakes the consumer when a producer posts; no polling loop.")
    blocked = _asleep(consumer, Sentence("the consumer facing an empty buffer"), fix)
    if blocked is None:
        consumer.wait(deadline.STEP)
        raise SpecFailure(Sentence("on an empty buffer %(program)s %(ended)s instead of waiting for an item.",
                                   program=consumer.label, ended=consumer.status.ended), procs=[consumer])
    if _values(name) != (0, 2, 1):
        raise SpecFailure(
            Sentence("while the consumer waits on an empty buffer, %(values)s.", values=_show(name)),
            expected=Sentence("full 0, empty 2 and mutex 1 (a consumer asleep holding the mutex locks every producer out)"),
            evidence=[blocked.words()],
            procs=[consumer],
        )
    for item in (b"first item", b"second item"):
        producer = impl.run("produce", name, input=item + b"\n", timeout=deadline.STEP)
        _expect_exit(producer, 0, Sentence("producing %(item)s", item=repr(item)))
        line = consumer.next_line(deadline.STEP, what=Sentence("the item %(item)s once it arrived", item=repr(item)))
        if line != item:
            again = item != b"first item" and line == b"first item"
            raise SpecFailure(
                Sentence("the waiting consumer printed %(line)s: the item it took before, again (head was not advanced past it).", line=repr(line))
                if again else Sentence("the waiting consumer printed %(line)s.", line=repr(line)),
                expected=Sentence("%(item)s, the item just produced", item=repr(item)),
                procs=[consumer, producer],
            )
    consumer.wait(deadline.STEP)
    _expect_exit(consumer, 0, Sentence("consuming two items"))


# --- order, loss, interoperability ------------------------------------------------------------


@st.composite
def fifo_cases(draw):
    """(SLOTS, SLOT_SIZE or None for the default, items): items fit their slots, hold no newline."""
    slot_size = draw(st.sampled_from([None, 8, 40]))
    limit = (slot_size or DEFAULT_SLOT_SIZE) - 4
    slots = draw(st.integers(1, 6))
    item = st.binary(max_size=limit).map(lambda b: b.replace(b"\n", b""))
    items = draw(st.lists(item, min_size=1, max_size=24))
    return slots, slot_size, items


@spec(
    "buffer.fifo-order",
    points=3,
    hint="Store at tail and take at head, each advanced by one modulo SLOTS under the mutex; "
    "the item's length goes in the slot's first 4 bytes, so empty and binary items survive.",
)
@spec_settings(max_examples=8)
@given(case=fifo_cases())
@example(case=(3, None, [b"item %d" % i for i in range(1, 13)]))
@example(case=(1, 8, [b"", b"1234", b"\x00\xff\r", b""]))
def test_fifo_order(impl, names, case):
    """One producer and one consumer: every item comes out once, in the order it went in, whatever the number of slots."""
    slots, slot_size, items = case
    with shared_memory.made() as made:
        name = _new_buffer(made, names)
        _init(impl, name, slots, slot_size)
        # the producer fills the buffer first (it blocks if there are more items than slots),
        # then the consumer drains it while the producer stores the rest
        producer = _produce(impl, name, items)
        _wait_filled(producer, name, min(len(items), slots))
        consumer = _consume(impl, name, len(items))
        consumer.wait(deadline.LONG)
        producer.wait(deadline.LONG)
        _expect_exit(producer, 0, Sentence("producing %(count)s items into %(slots)s slots", count=len(items), slots=slots))
        _expect_exit(consumer, 0, Sentence("consuming %(count)s items from %(slots)s slots", count=len(items), slots=slots))
        _compare_items(items, consumer, Sentence("%(count)s items through %(slots)s slot(s) of %(size)s bytes",
                                                 count=len(items), slots=slots, size=slot_size or DEFAULT_SLOT_SIZE))


@spec(
    "buffer.interop-producer",
    points=2,
    hint="Follow the contract's layout exactly: header fields 32-bit little-endian, slot i at "
    "16 + i * SLOT_SIZE holding a 4-byte length then the bytes, and semaphores NAME.empty, "
    "NAME.full, NAME.mutex.",
)
def test_interop_producer(impl, reference, names, made):
    """Items from your producer, in a buffer the reference made, come out of the reference's consumer in order."""
    name = _new_buffer(made, names)
    _init(reference, name, 3, 64)
    items = [b"from your producer %d" % i for i in range(1, 10)] + [b"", b"x" * 60]
    producer = _produce(impl, name, items)
    _wait_filled(producer, name, 3)
    consumer = _consume(reference, name, len(items))
    consumer.wait(deadline.LONG)
    producer.wait(deadline.LONG)
    _expect_exit(producer, 0, Sentence("producing %(count)s items", count=len(items)))
    _expect_exit(consumer, 0, Sentence("the reference consuming %(count)s items", count=len(items)))
    _compare_items(items, consumer, Sentence("your producer, the reference's consumer"))


@spec(
    "buffer.interop-consumer",
    points=2,
    hint="Follow the contract's layout exactly: read SLOTS and SLOT_SIZE from the header, take "
    "the item at head (slot at 16 + head * SLOT_SIZE: a 4-byte length, then the bytes) and "
    "advance head modulo SLOTS.",
)
def test_interop_consumer(impl, reference, names, made):
    """Items from the reference's producer come out of your consumer in order."""
    name = _new_buffer(made, names)
    _init(reference, name, 3, 64)
    items = [b"from the reference %d" % i for i in range(1, 10)] + [b"", b"y" * 60]
    consumer = _consume(impl, name, len(items))
    producer = _produce(reference, name, items)
    consumer.wait(deadline.LONG)
    producer.wait(deadline.LONG)
    _expect_exit(producer, 0, Sentence("the reference producing %(count)s items", count=len(items)))
    _expect_exit(consumer, 0, Sentence("consuming %(count)s items", count=len(items)))
    _compare_items(items, consumer, Sentence("the reference's producer, your consumer"))


@spec(
    "buffer.item-too-long",
    points=1,
    hint="Check each line's length against SLOT_SIZE - 4 before waiting for a slot; exit 1 "
    "for one too long, keeping the items stored before it.",
)
def test_item_too_long(impl, names, made):
    """A line too long for a slot stops the producer with exit 1; the items before it stay in the buffer."""
    name = _new_buffer(made, names)
    _init(impl, name, 4, 16)
    fits = b"x" * 12  # 16 - 4: exactly a slot
    producer = impl.run("produce", name, input=_lines([b"ok", fits, b"y" * 13, b"never"]), timeout=deadline.STEP)
    _expect_exit(producer, 1, Sentence("producing a 13-byte line into 16-byte slots"))
    if _values(name)[0] != 2:
        raise SpecFailure(
            Sentence("after the producer refused a 13-byte line, %(values)s.", values=_show(name)),
            expected=Sentence("full 2 (the two lines before it)"),
            procs=[producer],
        )
    consumer = _consume(impl, name, 2)
    consumer.wait(deadline.STEP)
    _expect_exit(consumer, 0, Sentence("consuming %(count)s items", count=2))
    _compare_items([b"ok", fits], consumer, Sentence("the items before a line too long"))


# --- many producers and consumers at once ------------------------------------------------------

PRODUCERS = 4
CONSUMERS = 3
ITEMS_EACH = 900  # 3600 items in all, 1200 per consumer
CONTENDED_SLOTS = 64
CONTENDED_SLOT_SIZE = 64
assert PRODUCERS * ITEMS_EACH % CONSUMERS == 0, "every consumer takes the same number of items"
#: The mutex check of `buffer.no-loss-no-duplicates`. Perturbing the exchange finds a missing
#: mutex in a slow program, whose stores take long enough to be stopped halfway; a C store takes
#: nanoseconds, so two of them rarely overlap (measured: a C buffer without its mutex passed the
#: exchange above in 2 runs of 10). So the grader also holds NAME.mutex itself while producers
#: that have free slots and input, and consumers, are let go: under the grader's mutex nothing in
#: the buffer may change and no item may come out, however fast the program.
MUTEX_ITEMS_EACH = 8  # per producer; with PRODUCERS of them, fewer than CONTENDED_SLOTS
MUTEX_CONSUMERS = 2
#: The exchange under schedule control (docs/schedules.md): (SLOTS, PRODUCERS, ITEMS each,
#: CONSUMERS), few enough that each schedule is short and the index wraps around, and the budget
#: of schedules the calibration found, with its margin.
SCHEDULED = (2, 2, 3, 2)
SCHEDULES = 40
assert PRODUCERS * MUTEX_ITEMS_EACH < CONTENDED_SLOTS and PRODUCERS * MUTEX_ITEMS_EACH % MUTEX_CONSUMERS == 0
#: CPU a participant may use, while the grader holds the mutex, to show it has had its chance to
#: touch the buffer (one that waits for the mutex, or for an item, sleeps instead), in clock ticks.
HAD_ITS_CHANCE_TICKS = 3
ITEM = re.compile(rb"(\d+) (\d+) ([a-z]*) ([0-9a-f]{8})")


def _tagged_item(producer, seq, rng):
    """`P SEQ FILLER CRC`: who made it, its number, random filler, and a checksum of the rest."""
    body = b"%d %d %s" % (producer, seq, bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(0, 36))))
    return body + b" %08x" % zlib.crc32(body)


def _perturb(rng, procs, until):
    """Until all PROCS exit: stop one at random, let another run for a random moment, continue it.

    A stopped process may hold the mutex or be halfway through a store; the others go on
    meanwhile. Every round waits on the kernel (the victim's state) or on a process's pidfd, and
    every participant is continued at the end whatever happened.
    """
    until = Deadline.of(until)
    try:
        while not until.expired():
            alive = [p for p in procs if p.poll() is None]
            if len(alive) < 2:
                return
            # prefer one that is running now: stopped halfway through a store or a take, it
            # shows whether the others respect the mutex it holds
            running = [p for p in alive if state(p.pid) == "R"]
            victim = rng.choice(running or alive)
            other = rng.choice([p for p in alive if p is not victim])
            stopped_for, then = rng.uniform(0.001, 0.02), rng.uniform(0, 0.005)
            victim.send_signal(signal.SIGSTOP)
            try:
                wait_for_state(victim.pid, "TtZX", deadline.STEP)
            except ProcessGone:
                pass
            other.exited_within(stopped_for)  # the others run while the victim is stopped
            victim.send_signal(signal.SIGCONT)
            rng.choice(alive).exited_within(then)  # and a moment with everyone running
    finally:
        for p in procs:
            p.send_signal(signal.SIGCONT)


def _together(impl, name, consumers: int, take: int) -> tuple[list, list]:
    """CONSUMERS consumers of TAKE items each and PRODUCERS producers on buffer NAME, started
    together: each consumer waiting for an item, each producer for its input (_started)."""
    consuming = [_consume(impl, name, take) for _ in range(consumers)]
    producing = [impl.spawn("produce", name) for _ in range(PRODUCERS)]
    start = Deadline(deadline.STEP)
    for proc in consuming:
        _started(proc, SEM_WAIT, start)
    for proc in producing:
        _started(proc, READ_CALLS, start)  # then its input wakes it: it runs
    return producing, consuming


def _started(proc, calls, until):
    """Wait (until UNTIL at most) for PROC to sleep in one of CALLS: started, awaiting input.

    Only a way to start the participants together; a program that waits some other way (or
    spins: buffer.blocks-when-full and blocks-when-empty judge that) is not wrong for it here,
    so the wait just ends.
    """
    try:
        proc.wait_blocked(calls, until)
    except SpecTimeout:
        pass


def _check_exchange(produced, consumers, seed, shape=""):
    """Every produced item consumed exactly once, untorn, each producer's items in order. SHAPE
    says who shared what (the exchange's, by default); SEED (or None) the perturbation's."""
    shape = shape or Sentence("%(producers)s producers and %(consumers)s consumers sharing %(slots)s slots",
                              producers=PRODUCERS, consumers=CONSUMERS, slots=CONTENDED_SLOTS)
    by_line = {line: key for key, line in produced.items()}
    seen = Counter()
    torn, order = [], []
    for c, proc in enumerate(consumers, 1):
        last = {}
        for line in proc.stdout.data.split(b"\n")[:-1]:
            m = ITEM.fullmatch(line)
            if line not in by_line:
                intact = m is not None and zlib.crc32(b"%s %s %s" % m.group(1, 2, 3)) == int(m.group(4), 16)
                torn.append(
                    Sentence("consumer #%(consumer)s printed %(line)s, a well-formed item nobody produced", consumer=c, line=repr(line[:70]))
                    if intact
                    else Sentence("consumer #%(consumer)s printed %(line)s, which is no item any producer sent (its checksum does not "
                                  "match: a torn item)", consumer=c, line=repr(line[:70]))
                )
                continue
            key = by_line[line]
            seen[key] += 1
            p, seq = key
            if seq < last.get(p, -1):
                order.append(Sentence("consumer #%(consumer)s took producer %(producer)s's item %(seq)s after its item %(last)s",
                                      consumer=c, producer=p, seq=seq, last=last[p]))
            last[p] = seq
    lost = [k for k in produced if seen[k] == 0]
    dup = [k for k, n in seen.items() if n > 1]
    if torn or lost or dup or order:
        problems = []
        if lost:
            which = one_after_another([Sentence("producer %(producer)s's item %(seq)s", producer=p, seq=s) for p, s in lost[:4]], ", ")
            problems.append(Sentence("%(items)s lost, e.g. %(which)s", items=_items(len(lost)), which=which))
        if dup:
            which = one_after_another([Sentence("producer %(producer)s's item %(seq)s (%(times)s times)", producer=p, seq=s, times=seen[(p, s)]) for p, s in dup[:4]], ", ")
            problems.append(Sentence("%(items)s taken more than once, e.g. %(which)s", items=_items(len(dup)), which=which))
        if torn:
            problems.append(Sentence("%(count)s line(s) not produced: %(lines)s", count=len(torn), lines=one_after_another(torn[:3], "; ")))
        if order:
            problems.append(Sentence("order broken: %(pairs)s", pairs=one_after_another(order[:3], "; ")))
        problems = one_after_another(problems, "; ")
        raise SpecFailure(
            Sentence("%(shape)s (seed %(seed)s; set %(env)s=%(seed)s to replay this perturbation): %(problems)s.",
                     shape=shape, seed=seed, env=SEED_ENV, problems=problems)
            if seed is not None
            else Sentence("%(shape)s: %(problems)s.", shape=shape, problems=problems),
            fix=Sentence("Two processes updated head or tail at once: each store (read tail, write the slot, "
                         "advance tail) and each take (read head, read the slot, advance head) must happen "
                         "whole under the mutex."),
            procs=consumers,
        )


@contextmanager
def _holding(name):
    """The grader holds semaphore NAME (free: nobody else uses it yet) for the block."""
    import posix_ipc

    try:
        with as_program():
            sem = posix_ipc.Semaphore(name)
    except posix_ipc.ExistentialError:
        raise SpecFailure(
            Sentence("`buffer init` exited 0, but no POSIX semaphore %(name)s exists.", name=name),
            fix=Sentence("init creates the three semaphores NAME.empty, NAME.full and NAME.mutex (contract 3.7) with sem_open(O_CREAT)."),
        ) from None
    try:
        try:
            sem.acquire(0)  # sem_trywait
        except posix_ipc.BusyError:
            raise SpecFailure(Sentence("right after `buffer init`, %(name)s reads 0.", name=name), expected=Sentence("1: the mutex starts free")) from None
        try:
            yield sem
        finally:
            sem.release()
    finally:
        sem.close()


def _check_the_mutex(impl, names, made):
    """Under the grader's mutex nothing in the buffer changes: producers and consumers wait."""
    name = _new_buffer(made, names)
    _init(impl, name, CONTENDED_SLOTS, CONTENDED_SLOT_SIZE)
    items = [[b"%d %d mutex" % (p, s) for s in range(MUTEX_ITEMS_EACH)] for p in range(PRODUCERS)]
    doing = Sentence(
        "%(producers)s producers of %(each)s items each and %(consumers)s consumers "
        "on a buffer of %(slots)s slots, while the grader held %(name)s.mutex",
        producers=PRODUCERS, each=MUTEX_ITEMS_EACH, consumers=MUTEX_CONSUMERS, slots=CONTENDED_SLOTS, name=name,
    )
    with _holding(f"{name}.mutex"):
        before = shared_memory.read_object(name)
        producers, consumers = _together(impl, name, MUTEX_CONSUMERS, PRODUCERS * MUTEX_ITEMS_EACH // MUTEX_CONSUMERS)
        everyone = producers + consumers
        for proc, lines in zip(producers, items, strict=True):
            proc.write(_lines(lines))  # less than a pipe holds: returns at once
            proc.close_stdin()
        ticks = {p.pid: cpu_ticks(p.pid) or 0 for p in everyone}

        def changed():
            now = shared_memory.read_object(name)
            out = [p for p in consumers if p.stdout.length]
            return (now, out) if now != before or out else None

        def had_their_chance(p):
            return p.poll() is not None or asleep(p.pid) or (cpu_ticks(p.pid) or 0) - ticks[p.pid] >= HAD_ITS_CHANCE_TICKS

        def outcome():
            if changed():
                return "changed"
            return "still" if all(had_their_chance(p) for p in everyone) else None

        if wait_until(outcome, deadline.STEP, Sentence("every process of %(doing)s waiting", doing=doing)) == "changed":
            now, out = changed() or (shared_memory.read_object(name), [])
            evidence = [Sentence("%(values)s (the grader holds %(name)s.mutex).", values=_show(name), name=name)]
            if now is not None and before is not None and now[:HEADER] != before[:HEADER]:
                evidence.append(Sentence("the header (slots, slot size, head, tail) went from %(before)s to %(now)s.",
                                         before=before[:HEADER].hex(" ", 4), now=now[:HEADER].hex(" ", 4)))
            elif now != before:
                evidence.append(Sentence("the slots of the object changed."))
            evidence += [Sentence("consumer pid %(pid)s printed %(count)s bytes.", pid=p.pid, count=p.stdout.length) for p in out]
            raise SpecFailure(
                Sentence("with %(doing)s, the buffer changed: its processes store and take without the mutex.", doing=doing),
                expected=Sentence("nothing stored and nothing taken: every producer and consumer asleep in sem_wait until the mutex is free"),
                evidence=evidence + [Sentence("%(process)s.", process=describe(p.pid)) for p in everyone],
                fix=Sentence("Take the mutex (sem_wait) before reading or advancing head or tail and before "
                             "touching a slot, and post it after: a fast program whose stores rarely overlap "
                             "still loses items once two run at the same time."),
                procs=everyone,
            )
    # the grader has let go: with the mutex free, they finish as usual
    for proc in everyone:
        if not proc.finished_within(deadline.LONG):
            raise proc.not_finished(
                Sentence("after the grader gave %(name)s.mutex back, %(program)s %(did_not_exit)s.",
                         name=name, program=proc.label, did_not_exit=proc.did_not_exit(deadline.LONG)),
                evidence=[describe(proc.pid), _show(name)],
                procs=[proc],
            )
        proc.wait(deadline.STEP)
        _expect_exit(proc, 0, Sentence("%(doing)s and then gave it back", doing=doing))


@spec(
    "buffer.no-loss-no-duplicates",
    points=4,
    hint="Guard every store and every take with the mutex: sem_wait(empty), sem_wait(mutex), "
    "store at tail, advance tail, sem_post(mutex), sem_post(full) (and the mirror image to "
    "take). Without the mutex two processes use the same slot.",
    timeout=90,
)
def test_no_loss_no_duplicates(impl, names, made, spec_meta, schedules):
    """Several producers and consumers at once, perturbed: every item is taken exactly once, whole and in order.

    Each item carries its producer, a sequence number and a checksum, so a lost, duplicated,
    torn or reordered item is named in the failure. First, though, the grader holds the mutex
    itself while producers with input and free slots, and consumers, run: nothing in the buffer
    may change meanwhile, which shows a missing mutex whatever the program's speed (see
    MUTEX_ITEMS_EACH). Last, a small exchange whose indexes wrap around runs under SCHEDULES
    schedules of the grader's, one process at a time (docs/schedules.md).
    """
    _check_the_mutex(impl, names, made)  # first: the same verdict in every run, however fast
    seed = spec_seed(spec_meta.id)
    rng = random.Random(seed)
    name = _new_buffer(made, names)
    _init(impl, name, CONTENDED_SLOTS, CONTENDED_SLOT_SIZE)
    produced = {(p, s): _tagged_item(p, s, rng) for p in range(PRODUCERS) for s in range(ITEMS_EACH)}
    take = PRODUCERS * ITEMS_EACH // CONSUMERS
    # started together, then every producer gets all its lines at once, so they all store
    # into the empty slots together
    producers, consumers = _together(impl, name, CONSUMERS, take)
    everyone = producers + consumers
    inputs = [_lines([produced[(p, s)] for s in range(ITEMS_EACH)]) for p in range(PRODUCERS)]
    for proc, data in zip(producers, inputs, strict=True):
        try:
            proc.write(data)  # less than a pipe holds: returns at once, so all start within microseconds
        except BrokenPipeError:
            pass  # it exited already: its exit status tells why, below
    for proc in producers:
        proc.close_stdin()
    exchange = Deadline(deadline.LONG)
    _perturb(rng, everyone, exchange)
    for proc in everyone:
        if not proc.finished_within(exchange):
            stuck = [p for p in everyone if p.poll() is None]
            raise proc.not_finished(
                Sentence("%(producers)s producers and %(consumers)s consumers (seed %(seed)s) did not all finish within %(seconds)s s.",
                         producers=PRODUCERS, consumers=CONSUMERS, seed=seed, seconds=deadline.LONG),
                evidence=[*(describe(p.pid) for p in stuck), _show(name)],
                procs=list(dict.fromkeys([proc, *stuck])),
            )
    for proc in everyone:
        proc.wait(deadline.STEP)
        _expect_exit(proc, 0, Sentence("exchanging %(count)s items with %(producers)s producers and %(consumers)s consumers (seed %(seed)s)",
                                       count=len(produced), producers=PRODUCERS, consumers=CONSUMERS, seed=seed))
    _check_exchange(produced, consumers, seed)
    slots, producers, each, consumers = SCHEDULED
    schedules.explore(
        lambda run: _exchange_under(run, impl, names, made), SCHEDULES,
        what=Sentence("%(producers)s producers of %(each)s items and %(consumers)s consumers on %(slots)s slots, one process at a time",
                      producers=producers, each=each, consumers=consumers, slots=slots),
    )


def _exchange_under(run, impl, names, made):
    """One schedule of a small exchange (SCHEDULED): the buffer made by `buffer init` as usual,
    then producers and consumers under the schedule, every producer's input written first."""
    slots, producers, each, consumers = SCHEDULED
    name = _new_buffer(made, names)
    _init(impl, name, slots, CONTENDED_SLOT_SIZE)
    rng = random.Random(slots)
    produced = {(p, s): _tagged_item(p, s, rng) for p in range(producers) for s in range(each)}
    takers = [run.spawn("consume", name, str(producers * each // consumers)) for _ in range(consumers)]
    makers = [run.spawn("produce", name, stdin="pipe") for _ in range(producers)]
    for p, proc in enumerate(makers):
        proc.write(_lines([produced[(p, s)] for s in range(each)]))  # a few lines: the pipe holds them
        proc.close_stdin()
    run.start()
    shape = Sentence("%(producers)s producers and %(consumers)s consumers sharing %(slots)s slots", producers=producers, consumers=consumers, slots=slots)
    run.finish(takers + makers, deadline.LONG, Sentence("%(shape)s (%(count)s items)", shape=shape, count=len(produced)))
    for proc in takers + makers:
        _expect_exit(proc, 0, Sentence("exchanging %(count)s items with %(shape)s", count=len(produced), shape=shape))
    _check_exchange(produced, takers, None, shape)
