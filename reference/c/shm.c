/*
 * shm: shared memory (CONTRACT.md, section 3.6).
 *
 *     shm write KEY [--size N]   store stdin as one record in the System V segment KEY
 *     shm read KEY               print the record stored in segment KEY
 *     shm rm KEY                 remove segment KEY
 *     shm fork                   the course notes' demo: a child writes 33, 44; the parent
 *                                reads them
 *     shm counter NAME PROCS ITERS [--keep]
 *                                PROCS children add 1 to a shared counter ITERS times each,
 *                                every addition under a POSIX named semaphore
 *
 * Shared memory is the fastest IPC: once a segment is attached, processes read and write it
 * with no system call, so the kernel no longer orders their accesses. That is why the counter
 * needs a lock (sem_overview(7)): `value = value + 1` is a read and a write, and two processes
 * that interleave them lose an update. shmget(2), shmat(2), shmctl(2), shm_open(3), mmap(2),
 * sem_open(3), sem_wait(3), sem_post(3).
 *
 * A record in a segment is a 4-byte little-endian length, then that many bytes.
 */
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define DEFAULT_SIZE 4096
#define LENGTH 4  /* the record's header: its length, 32 bits little-endian */
#define COUNTER 8 /* the counter: 64 bits little-endian at offset 0 */

#define USAGE                                                                         \
    "usage: shm write KEY [--size N] | shm read KEY | shm rm KEY | shm fork | "       \
    "shm counter NAME PROCS ITERS [--keep]"

static int usage(const char *reason)
{
    return fail(EXIT_USAGE, "%s\n" USAGE, reason);
}

/* KEY from the command line: a decimal key_t, never IPC_PRIVATE (0). 0 and *KEY, or -1. */
static int parse_key(const char *text, key_t *key)
{
    long value;
    if (parse_long(text, INT_MIN, INT_MAX, &value) < 0 || value == IPC_PRIVATE) {
        fail(EXIT_USAGE, "KEY must be a decimal System V key (not 0), not '%s'\n" USAGE, text);
        return -1;
    }
    *key = (key_t)value;
    return 0;
}

/* The size of segment ID (shmctl IPC_STAT), or 0 after printing why not (as ROLE). */
static size_t segment_size(const char *role, int id)
{
    struct shmid_ds ds;
    if (shmctl(id, IPC_STAT, &ds) < 0) {
        fail(EXIT_ERROR, "%s: shmctl IPC_STAT: %s", role, strerror(errno));
        return 0;
    }
    return ds.shm_segsz;
}

/* --- write / read / rm: one record in a System V segment -------------------------------- */

static int write_record(key_t key, size_t size)
{
    struct bytes data = {0}; /* all of it first: a record is stored whole or not at all */
    if (read_all(STDIN_FILENO, &data, SIZE_MAX) < 0)
        return fail(EXIT_ERROR, "write: reading stdin: %s", strerror(errno));
    int status = EXIT_ERROR;
    int id = shmget(key, 0, 0); /* size 0: an existing segment keeps its own size */
    if (id < 0 && errno == ENOENT) {
        if (data.len > size - LENGTH) {
            fail(EXIT_ERROR, "write: %zu bytes do not fit in a %zu-byte segment", data.len, size);
            goto out;
        }
        id = shmget(key, size, IPC_CREAT | IPC_EXCL | 0600);
        if (id < 0 && errno == EEXIST) /* another writer created it first */
            id = shmget(key, 0, 0);
    }
    if (id < 0) {
        fail(EXIT_ERROR, "write: shmget for key %ld: %s", (long)key, strerror(errno));
        goto out;
    }
    size_t have = segment_size("write", id);
    if (have == 0)
        goto out;
    if (have < LENGTH || data.len > have - LENGTH || data.len > UINT32_MAX) {
        /* checked before any byte is written, so the previous record stays intact */
        fail(EXIT_ERROR, "write: %zu bytes do not fit in the %zu-byte segment %ld", data.len, have, (long)key);
        goto out;
    }
    unsigned char *segment = shmat(id, NULL, 0);
    if (segment == (void *)-1) {
        fail(EXIT_ERROR, "write: shmat: %s", strerror(errno));
        goto out;
    }
    if (data.len > 0)
        memcpy(segment + LENGTH, data.data, data.len);
    store_le32(segment, (uint32_t)data.len);
    shmdt(segment); /* detach only: the segment outlives us, for a later `read` */
    status = EXIT_OK;
out:
    bytes_free(&data);
    return status;
}

static int read_record(key_t key)
{
    int id = shmget(key, 0, 0);
    if (id < 0) {
        if (errno == ENOENT)
            return fail(EXIT_ERROR, "read: no segment with key %ld", (long)key);
        return fail(EXIT_ERROR, "read: shmget for key %ld: %s", (long)key, strerror(errno));
    }
    size_t size = segment_size("read", id);
    if (size == 0)
        return EXIT_ERROR;
    const unsigned char *segment = shmat(id, NULL, SHM_RDONLY);
    if (segment == (void *)-1)
        return fail(EXIT_ERROR, "read: shmat: %s", strerror(errno));
    int status = EXIT_OK;
    uint32_t length = size >= LENGTH ? load_le32(segment) : 0;
    if (size < LENGTH || length > size - LENGTH) {
        status = fail(EXIT_ERROR, "read: segment %ld holds a record of %lu bytes, more than it can hold",
                      (long)key, (unsigned long)length);
    } else if (write_all(STDOUT_FILENO, segment + LENGTH, length) < 0) {
        /* exactly LENGTH bytes: what follows the record in the segment is not part of it */
        status = fail(EXIT_ERROR, "read: writing stdout: %s", errno == EPIPE ? "broken pipe" : strerror(errno));
    }
    shmdt(segment);
    return status;
}

static int remove_segment(key_t key)
{
    int id = shmget(key, 0, 0);
    if (id < 0) {
        if (errno == ENOENT)
            return fail(EXIT_ERROR, "rm: no segment with key %ld", (long)key);
        return fail(EXIT_ERROR, "rm: shmget for key %ld: %s", (long)key, strerror(errno));
    }
    if (shmctl(id, IPC_RMID, NULL) < 0) /* gone once the last process detaches */
        return fail(EXIT_ERROR, "rm: shmctl IPC_RMID: %s", strerror(errno));
    return EXIT_OK;
}

/* --- fork: the course notes' demo ------------------------------------------------------- */

static int fork_demo(void)
{
    int id = shmget(IPC_PRIVATE, 2 * sizeof(int32_t), IPC_CREAT | IPC_EXCL | 0600);
    if (id < 0)
        return fail(EXIT_ERROR, "fork: shmget: %s", strerror(errno));
    int32_t *pair = shmat(id, NULL, 0); /* attached BEFORE fork: the child inherits it */
    if (pair == (void *)-1) {
        int err = errno;
        shmctl(id, IPC_RMID, NULL);
        return fail(EXIT_ERROR, "fork: shmat: %s", strerror(err));
    }
    pair[0] = 11;
    pair[1] = 22;
    int status = EXIT_OK;
    pid_t pid = fork();
    if (pid < 0) {
        status = fail(EXIT_ERROR, "fork: %s", strerror(errno));
    } else if (pid == 0) {
        /* The child: the attachment is inherited, so this writes the parent's memory too.
           (An ordinary variable would be the child's own copy: fork copies memory.) */
        pair[0] = 33;
        pair[1] = 44;
        _exit(EXIT_OK); /* never run the parent's cleanup below */
    } else {
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
        if (say("%d, %d", (int)pair[0], (int)pair[1]) < 0)
            status = fail(EXIT_ERROR, "fork: writing stdout: %s", strerror(errno));
    }
    shmdt(pair);
    shmctl(id, IPC_RMID, NULL); /* a segment outlives its processes: remove it */
    return status;
}

/* --- counter: a shared counter under a named semaphore ---------------------------------- */

/* sem_wait, again if a signal interrupts it (e.g. after SIGSTOP and SIGCONT). */
static int lock(sem_t *sem)
{
    while (sem_wait(sem) < 0) {
        if (errno != EINTR)
            return -1;
    }
    return 0;
}

/* One child's work: ITERS additions, each a read and a write under the lock. */
static int count(unsigned char *counter, sem_t *sem, long iters)
{
    for (long i = 0; i < iters; i++) {
        if (lock(sem) < 0)
            return fail(EXIT_ERROR, "counter: sem_wait: %s", strerror(errno));
        uint64_t value = load_le64(counter);
        store_le64(counter, value + 1);
        if (sem_post(sem) < 0)
            return fail(EXIT_ERROR, "counter: sem_post: %s", strerror(errno));
    }
    return EXIT_OK;
}

static int counter(const char *name, long procs, long iters, int keep)
{
    int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
    if (fd < 0) {
        if (errno == EEXIST)
            return fail(EXIT_ERROR, "counter: a shared memory object %s exists already", name);
        return fail(EXIT_ERROR, "counter: shm_open %s: %s", name, strerror(errno));
    }
    if (ftruncate(fd, COUNTER) < 0) {
        int err = errno;
        close(fd);
        shm_unlink(name);
        return fail(EXIT_ERROR, "counter: ftruncate: %s", strerror(err));
    }
    unsigned char *memory = mmap(NULL, COUNTER, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    int err = errno;
    close(fd); /* the mapping stays valid without the descriptor */
    if (memory == MAP_FAILED) {
        shm_unlink(name);
        return fail(EXIT_ERROR, "counter: mmap: %s", strerror(err));
    }
    sem_t *sem = sem_open(name, O_CREAT | O_EXCL, 0600, 1); /* the lock: 1 means free */
    if (sem == SEM_FAILED) {
        err = errno;
        munmap(memory, COUNTER);
        shm_unlink(name);
        if (err == EEXIST)
            return fail(EXIT_ERROR, "counter: a semaphore %s exists already", name);
        return fail(EXIT_ERROR, "counter: sem_open %s: %s", name, strerror(err));
    }

    store_le64(memory, 0);
    int status = EXIT_OK;
    long started = 0, failed = 0;
    for (; started < procs; started++) {
        pid_t pid = fork();
        if (pid < 0) {
            status = fail(EXIT_ERROR, "counter: fork: %s", strerror(errno));
            break;
        }
        if (pid == 0) /* the child: mapping and semaphore are inherited */
            _exit(count(memory, sem, iters));
    }
    for (long i = 0; i < started; i++) { /* wait for every child we started */
        int child_status;
        pid_t pid;
        while ((pid = wait(&child_status)) < 0 && errno == EINTR)
            ;
        if (pid < 0)
            break;
        if (!WIFEXITED(child_status) || WEXITSTATUS(child_status) != 0)
            failed++;
    }
    if (status == EXIT_OK && failed > 0)
        status = fail(EXIT_ERROR, "counter: %ld of %ld children failed", failed, procs);
    if (status == EXIT_OK && say("%llu", (unsigned long long)load_le64(memory)) < 0)
        status = fail(EXIT_ERROR, "counter: writing stdout: %s", strerror(errno));
    if (!keep) { /* both outlive every process unless unlinked */
        shm_unlink(name);
        sem_unlink(name);
    }
    sem_close(sem);
    munmap(memory, COUNTER);
    return status;
}

/* A positive number from the command line; 0 and *OUT, or -1 after a usage message. */
static int positive(const char *text, const char *what, long *out)
{
    if (parse_long(text, 1, LONG_MAX, out) == 0)
        return 0;
    fail(EXIT_USAGE, "%s must be a positive integer, not '%s'\n" USAGE, what, text);
    return -1;
}

int main(int argc, char **argv)
{
    progname = "shm";
    signal(SIGPIPE, SIG_IGN); /* a closed stdout is an error we report, not a silent death */
    if (argc < 2)
        return usage("no role given");
    const char *role = argv[1];
    int n = argc - 2; /* the role's own arguments: argv[2] ... */
    char **args = argv + 2;
    key_t key;
    if (strcmp(role, "write") == 0 && (n == 1 || n == 3)) {
        long size = DEFAULT_SIZE;
        if (n == 3) {
            if (strcmp(args[1], "--size") != 0) {
                fail(EXIT_USAGE, "unknown option '%s'\n" USAGE, args[1]);
                return EXIT_USAGE;
            }
            if (positive(args[2], "N", &size) < 0)
                return EXIT_USAGE;
            if (size < LENGTH)
                return usage("a segment needs at least 4 bytes for the length");
        }
        if (parse_key(args[0], &key) < 0)
            return EXIT_USAGE;
        return write_record(key, (size_t)size);
    }
    if ((strcmp(role, "read") == 0 || strcmp(role, "rm") == 0) && n == 1) {
        if (parse_key(args[0], &key) < 0)
            return EXIT_USAGE;
        return strcmp(role, "read") == 0 ? read_record(key) : remove_segment(key);
    }
    if (strcmp(role, "fork") == 0 && n == 0)
        return fork_demo();
    if (strcmp(role, "counter") == 0 && (n == 3 || n == 4)) {
        int keep = n == 4;
        if (keep && strcmp(args[3], "--keep") != 0) {
            fail(EXIT_USAGE, "unknown option '%s'\n" USAGE, args[3]);
            return EXIT_USAGE;
        }
        if (args[0][0] != '/' || strchr(args[0] + 1, '/') != NULL) {
            fail(EXIT_USAGE, "NAME must be one slash and a name, like /counter, not '%s'\n" USAGE, args[0]);
            return EXIT_USAGE;
        }
        long procs, iters;
        if (positive(args[1], "PROCS", &procs) < 0 || positive(args[2], "ITERS", &iters) < 0)
            return EXIT_USAGE;
        return counter(args[0], procs, iters, keep);
    }
    return usage("bad arguments");
}
