/*
 * shm: shared memory (CONTRACT.md, section 3.6).
 *
 *     shm write KEY [--size N]   store stdin as one record in the System V segment KEY
 *     shm read KEY               print the record stored in segment KEY
 *     shm rm KEY                 remove segment KEY
 *     shm fork                   the course notes' demo: the child writes 33, 44; the parent
 *                                prints them
 *     shm counter NAME PROCS ITERS [--keep]
 *                                PROCS children add 1 to a shared counter ITERS times each,
 *                                every addition under a POSIX named semaphore
 *
 * Every role answers `not implemented` (exit 69) until you write it: its specs score 0
 * without failing. Build with `make` (it links -lrt -pthread), grade with
 * `pytest --impl=. -k shm -x`.
 * Read: shmget(2), shmat(2), shmctl(2), sysvipc(7); shm_open(3), mmap(2), sem_overview(7),
 * sem_open(3), sem_wait(3), sem_post(3).
 *
 * A record in a segment is a 4-byte LITTLE-endian length, then that many bytes. Store the
 * length byte by byte (b[0] = n & 0xff, b[1] = n >> 8 & 0xff, ...) rather than with a cast, so
 * that it is right on any machine; the counter is 8 bytes, little-endian, the same way.
 */
#include "common.h"

#include <limits.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/types.h>

#define USAGE                                                                         \
    "usage: shm write KEY [--size N] | shm read KEY | shm rm KEY | shm fork | "       \
    "shm counter NAME PROCS ITERS [--keep]"

/*
 * shm write KEY [--size N]
 *
 * - Read ALL of stdin first (read_all): a record is stored whole or not at all.
 * - shmget(key, 0, 0) opens an existing segment with its own size (shmctl IPC_STAT gives
 *   shm_segsz); ENOENT: shmget(key, size, IPC_CREAT | IPC_EXCL | 0600) makes one of SIZE bytes.
 * - 4 + the input's length more than the segment's size: exit 1, and leave the segment exactly
 *   as it was (shm.too-large). Check before you write a byte.
 * - shmat(), copy the bytes to offset 4 and the length to offset 0, shmdt(). Never remove the
 *   segment here: it outlives the writer (shm.persists).
 */
static int write_record(key_t key, long size)
{
    (void)key; /* remove these once you use them */
    (void)size;
    return not_implemented();
}

/*
 * shm read KEY
 *
 * - shmget(key, 0, 0) (ENOENT: exit 1), shmat(id, NULL, SHM_RDONLY), then write_all() exactly
 *   LENGTH bytes from offset 4: the bytes are data, NULs included, and what follows them in the
 *   segment is not part of the record.
 */
static int read_record(key_t key)
{
    (void)key; /* remove once you use KEY */
    return not_implemented();
}

/*
 * shm rm KEY
 *
 * - shmget(key, 0, 0) (ENOENT: exit 1), then shmctl(id, IPC_RMID, NULL). shmdt() alone only
 *   detaches: the segment stays.
 */
static int remove_segment(key_t key)
{
    (void)key; /* remove once you use KEY */
    return not_implemented();
}

/*
 * shm fork
 *
 * - shmget(IPC_PRIVATE, 2 * sizeof(int), IPC_CREAT | 0600) and shmat() BEFORE fork(): the child
 *   inherits the attachment, so its writes land in the parent's memory too. (An ordinary
 *   variable is copied by fork: the parent would still see 11 and 22.)
 * - Store 11 and 22; fork; the child stores 33 and 44 and calls _exit(0); the parent waits for
 *   it, prints `33, 44` from the segment, then shmdt() and shmctl(IPC_RMID).
 */
static int fork_demo(void)
{
    return not_implemented();
}

/*
 * shm counter NAME PROCS ITERS [--keep]
 *
 * - shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600), ftruncate() to 8 bytes, mmap(MAP_SHARED);
 *   sem_open(name, O_CREAT | O_EXCL, 0600, 1) is the lock. Both before fork: children
 *   inherit the mapping and the semaphore.
 * - Each of the PROCS children adds 1 ITERS times, and EACH addition is sem_wait(), read the
 *   counter, write it + 1, sem_post(). Without the lock two children read the same value and
 *   one update is lost; a lock taken once around the whole loop is not each addition under the
 *   lock either. The grader holds the semaphore itself while your children count, and the
 *   counter must not move meanwhile (shm.counter-exact).
 * - Retry sem_wait() after EINTR (a SIGSTOP and SIGCONT can cause one).
 * - The parent waits for every child, prints the final value, and, unless --keep, calls
 *   shm_unlink(name) and sem_unlink(name) (shm.counter-cleans-up).
 */
static int counter(const char *name, long procs, long iters, int keep)
{
    (void)name; /* remove these once you use them */
    (void)procs;
    (void)iters;
    (void)keep;
    return not_implemented();
}

/* KEY from the command line: a decimal System V key, never IPC_PRIVATE (0). 0, or -1. */
static int parse_key(const char *text, key_t *key)
{
    long value;
    if (parse_long(text, INT_MIN, INT_MAX, &value) < 0 || value == IPC_PRIVATE)
        return -1;
    *key = (key_t)value;
    return 0;
}

int main(int argc, char **argv)
{
    progname = "shm";
    const char *role = argc >= 2 ? argv[1] : "";
    int n = argc >= 2 ? argc - 2 : 0; /* the role's own arguments: args[0] ... */
    char **args = argv + 2;
    key_t key = 0;
    if (strcmp(role, "write") == 0 && (n == 1 || (n == 3 && strcmp(args[1], "--size") == 0))) {
        long size = 4096;
        if (parse_key(args[0], &key) < 0 || (n == 3 && parse_long(args[2], 4, LONG_MAX, &size) < 0))
            return fail(EXIT_USAGE, "KEY must be a System V key (not 0) and N at least 4\n" USAGE);
        return write_record(key, size);
    }
    if ((strcmp(role, "read") == 0 || strcmp(role, "rm") == 0) && n == 1) {
        if (parse_key(args[0], &key) < 0)
            return fail(EXIT_USAGE, "KEY must be a decimal System V key (not 0), not '%s'\n" USAGE, args[0]);
        return strcmp(role, "read") == 0 ? read_record(key) : remove_segment(key);
    }
    if (strcmp(role, "fork") == 0 && n == 0)
        return fork_demo();
    if (strcmp(role, "counter") == 0 && (n == 3 || (n == 4 && strcmp(args[3], "--keep") == 0))) {
        long procs, iters;
        if (args[0][0] != '/' || parse_long(args[1], 1, LONG_MAX, &procs) < 0 || parse_long(args[2], 1, LONG_MAX, &iters) < 0)
            return fail(EXIT_USAGE, "NAME must start with a slash, PROCS and ITERS be positive\n" USAGE);
        return counter(args[0], procs, iters, n == 4);
    }
    return fail(EXIT_USAGE, USAGE);
}
