/*
 * buffer: a bounded buffer in shared memory, the producer/consumer problem
 * (CONTRACT.md, section 3.7).
 *
 *     buffer init NAME SLOTS [--slot-size B]   create the object and its three semaphores
 *     buffer produce NAME                      each line of stdin becomes one item
 *     buffer consume NAME COUNT                take COUNT items, print each as a line
 *     buffer destroy NAME                      unlink the object and the semaphores
 *
 * Every role answers `not implemented` (exit 69) until you write it: its specs score 0
 * without failing. Build with `make` (it links -lrt -pthread), grade with
 * `pytest --impl=. -k buffer -x`.
 * Read: shm_overview(7), shm_open(3), mmap(2), sem_overview(7), sem_open(3), sem_wait(3),
 * sem_post(3), sem_unlink(3).
 *
 * The object NAME holds, every integer 32-bit LITTLE-endian: SLOTS at offset 0, SLOT_SIZE at 4,
 * head (the next slot to take) at 8, tail (the next slot to fill) at 12, then slot i at
 * 16 + i * SLOT_SIZE: a 4-byte length and the item's bytes. The semaphores are NAME.empty
 * (free slots, starts at SLOTS), NAME.full (filled slots, starts at 0) and NAME.mutex (starts
 * at 1). Other implementations use the same buffer (buffer.interop-*): follow the layout to the
 * byte, and read SLOTS and SLOT_SIZE from the object, not from your own constants.
 */
#include "common.h"

#include <limits.h>
#include <string.h>

#define USAGE                                                                              \
    "usage: buffer init NAME SLOTS [--slot-size B] | buffer produce NAME | "              \
    "buffer consume NAME COUNT | buffer destroy NAME"

/*
 * buffer init NAME SLOTS [--slot-size B]
 *
 * - shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600), ftruncate() to 16 + SLOTS * B, mmap, and
 *   write the header (head and tail 0).
 * - sem_open("NAME.empty", O_CREAT | O_EXCL, 0600, SLOTS), "NAME.full" with 0, "NAME.mutex"
 *   with 1. O_EXCL throughout: if any of them exists, exit 1, and remove only what THIS call
 *   made (buffer.init-refuses-existing).
 */
static int init(const char *name, long slots, long slot_size)
{
    (void)name; /* remove these once you use them */
    (void)slots;
    (void)slot_size;
    return not_implemented();
}

/*
 * buffer produce NAME
 *
 * - Open the object (mmap its whole size: fstat gives it) and the three semaphores (no O_CREAT).
 * - For each line of stdin (getline, without its newline): longer than SLOT_SIZE - 4 bytes:
 *   exit 1, the items before it stay produced. Else sem_wait(empty), sem_wait(mutex), store
 *   the item at tail, tail = (tail + 1) % SLOTS, sem_post(mutex), sem_post(full).
 * - In THAT order: wait on empty BEFORE locking mutex. A producer asleep on a full buffer while
 *   it holds the mutex keeps every consumer out, and nothing moves again.
 * - A full buffer puts you to sleep in sem_wait (buffer.blocks-when-full): never overwrite the
 *   oldest item, never poll with sem_trywait. Retry sem_wait after EINTR.
 */
static int produce(const char *name)
{
    (void)name; /* remove once you use NAME */
    return not_implemented();
}

/*
 * buffer consume NAME COUNT
 *
 * - COUNT times: sem_wait(full), sem_wait(mutex), copy the item at head, head = (head + 1) %
 *   SLOTS, sem_post(mutex), sem_post(empty), then print the item and a newline at once
 *   (write_all, or printf + fflush: a consumer whose lines wait in stdio's buffer looks stuck).
 * - Advance head under the mutex: with several consumers, two that read the same head take the
 *   same item (buffer.no-loss-no-duplicates).
 */
static int consume(const char *name, long count)
{
    (void)name; /* remove these once you use them */
    (void)count;
    return not_implemented();
}

/*
 * buffer destroy NAME
 *
 * - shm_unlink(name) and sem_unlink() of the three semaphores. Try all four even when one is
 *   missing; then exit 1 if any was missing (buffer.destroy-cleans-up).
 */
static int destroy(const char *name)
{
    (void)name; /* remove once you use NAME */
    return not_implemented();
}

/* Is NAME a POSIX IPC name: one leading slash, then at least one character and no slash? */
static int is_posix_name(const char *name)
{
    return name[0] == '/' && name[1] != '\0' && strchr(name + 1, '/') == NULL;
}

int main(int argc, char **argv)
{
    progname = "buffer";
    const char *role = argc >= 2 ? argv[1] : "";
    int n = argc >= 2 ? argc - 2 : 0; /* the role's own arguments: args[0] ... */
    char **args = argv + 2;
    if (n >= 1 && !is_posix_name(args[0]))
        return fail(EXIT_USAGE, "NAME must be one slash and a name, like /bb-42, not '%s'\n" USAGE, args[0]);
    if (strcmp(role, "init") == 0 && (n == 2 || (n == 4 && strcmp(args[2], "--slot-size") == 0))) {
        long slots, slot_size = 256;
        if (parse_long(args[1], 1, INT_MAX, &slots) < 0 || (n == 4 && parse_long(args[3], 5, INT_MAX, &slot_size) < 0))
            return fail(EXIT_USAGE, "SLOTS must be positive and B at least 5\n" USAGE);
        return init(args[0], slots, slot_size);
    }
    if (strcmp(role, "produce") == 0 && n == 1)
        return produce(args[0]);
    if (strcmp(role, "consume") == 0 && n == 2) {
        long count;
        if (parse_long(args[1], 0, LONG_MAX, &count) < 0)
            return fail(EXIT_USAGE, "COUNT must be a number of items, not '%s'\n" USAGE, args[1]);
        return consume(args[0], count);
    }
    if (strcmp(role, "destroy") == 0 && n == 1)
        return destroy(args[0]);
    return fail(EXIT_USAGE, USAGE);
}
