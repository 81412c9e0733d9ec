/*
 * buffer: a bounded buffer in shared memory, the producer/consumer problem
 * (CONTRACT.md, section 3.7).
 *
 *     buffer init NAME SLOTS [--slot-size B]   create the object and its three semaphores
 *     buffer produce NAME                      each line of stdin becomes one item
 *     buffer consume NAME COUNT                take COUNT items, print each as a line
 *     buffer destroy NAME                      unlink the object and the semaphores
 *
 * Shared memory is fast because the kernel stays out of the way, so the processes must
 * synchronise themselves with semaphores. The classic solution (sem_overview(7), sem_wait(3),
 * sem_post(3), shm_open(3)):
 *
 *     empty  counts free slots (starts at SLOTS): a producer waits on it, so a full buffer
 *            puts the producer to sleep instead of overwriting an item
 *     full   counts filled slots (starts at 0): a consumer waits on it, so an empty buffer
 *            puts the consumer to sleep
 *     mutex  (starts at 1) guards head and tail, which several producers or consumers update
 *
 * Wait on empty (or full) BEFORE locking the mutex: a producer asleep while it holds the mutex
 * would keep out every consumer, and nothing would move again.
 *
 * The object NAME holds, all integers 32-bit little-endian: SLOTS at 0, SLOT_SIZE at 4, head
 * at 8 (next slot to take), tail at 12 (next slot to fill), then slot i at 16 + i * SLOT_SIZE:
 * a 4-byte length and the item's bytes. The semaphores are named NAME.empty, NAME.full and
 * NAME.mutex. Every implementation uses this layout, so they share one buffer.
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
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* The layout's offsets and sizes. */
#define OFF_SLOTS 0
#define OFF_SLOT_SIZE 4
#define OFF_HEAD 8
#define OFF_TAIL 12
#define HEADER 16
#define FIELD 4 /* the length in front of each item */
#define DEFAULT_SLOT_SIZE 256
#define NAME_BYTES 512

#define USAGE                                                                              \
    "usage: buffer init NAME SLOTS [--slot-size B] | buffer produce NAME | "              \
    "buffer consume NAME COUNT | buffer destroy NAME"

static const char *const ROLES[3] = {"empty", "full", "mutex"};

static int usage(const char *reason)
{
    return fail(EXIT_USAGE, "%s\n" USAGE, reason);
}

/* The name of NAME's semaphore for ROLE: "NAME.empty", ... */
static void semaphore_name(char *out, const char *name, const char *role)
{
    snprintf(out, NAME_BYTES, "%s.%s", name, role);
}

/* sem_wait: sleep (in the kernel, on a futex) until the count is positive, then take one.
   A signal may interrupt the wait (on Linux, even SIGSTOP then SIGCONT): wait again. */
static int wait_on(sem_t *sem)
{
    while (sem_wait(sem) < 0) {
        if (errno != EINTR)
            return -1;
    }
    return 0;
}

/* An existing buffer, opened: the mapped object and its three semaphores. */
struct buffer {
    unsigned char *memory;
    size_t size;
    uint32_t slots, slot_size;
    sem_t *empty, *full, *mutex;
};

/* Open the buffer NAME into B; 0, or -1 after printing why. */
static int open_buffer(const char *name, struct buffer *b)
{
    int fd = shm_open(name, O_RDWR, 0);
    if (fd < 0) {
        if (errno == ENOENT)
            fail(EXIT_ERROR, "no buffer %s (run `buffer init` first)", name);
        else
            fail(EXIT_ERROR, "shm_open %s: %s", name, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || st.st_size < HEADER) {
        close(fd);
        fail(EXIT_ERROR, "%s is not a buffer: it is too small to hold a header", name);
        return -1;
    }
    b->size = (size_t)st.st_size;
    b->memory = mmap(NULL, b->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    int err = errno;
    close(fd); /* the mapping stays valid without the descriptor */
    if (b->memory == MAP_FAILED) {
        fail(EXIT_ERROR, "mmap %s: %s", name, strerror(err));
        return -1;
    }
    /* Read SLOTS and SLOT_SIZE from the object: another implementation may have made it. */
    b->slots = load_le32(b->memory + OFF_SLOTS);
    b->slot_size = load_le32(b->memory + OFF_SLOT_SIZE);
    if (b->slots < 1 || b->slot_size < FIELD || (uint64_t)HEADER + (uint64_t)b->slots * b->slot_size > b->size) {
        fail(EXIT_ERROR, "%s is not a buffer: its header says %lu slots of %lu bytes", name,
             (unsigned long)b->slots, (unsigned long)b->slot_size);
        return -1;
    }
    sem_t **sems[3] = {&b->empty, &b->full, &b->mutex};
    for (int i = 0; i < 3; i++) {
        char sem_name[NAME_BYTES];
        semaphore_name(sem_name, name, ROLES[i]);
        *sems[i] = sem_open(sem_name, 0); /* no O_CREAT: only `init` makes them */
        if (*sems[i] == SEM_FAILED) {
            if (errno == ENOENT)
                fail(EXIT_ERROR, "buffer %s lacks one of its semaphores %s.empty, %s.full, %s.mutex", name, name, name, name);
            else
                fail(EXIT_ERROR, "sem_open %s: %s", sem_name, strerror(errno));
            return -1;
        }
    }
    return 0;
}

/* Where slot INDEX begins. */
static unsigned char *slot(struct buffer *b, uint32_t index)
{
    return b->memory + HEADER + (size_t)index * b->slot_size;
}

/* Store ITEM at tail and advance tail. The caller holds the mutex. 0, or -1 (corrupt). */
static int put(struct buffer *b, const char *item, size_t len)
{
    uint32_t tail = load_le32(b->memory + OFF_TAIL);
    if (tail >= b->slots)
        return -1;
    unsigned char *at = slot(b, tail);
    store_le32(at, (uint32_t)len);
    memcpy(at + FIELD, item, len);
    store_le32(b->memory + OFF_TAIL, (tail + 1) % b->slots); /* wrap around after the last slot */
    return 0;
}

/* Copy the item at head into OUT (room for SLOT_SIZE bytes) and advance head. The caller
   holds the mutex. The item's length, or -1 (corrupt). */
static long take(struct buffer *b, char *out)
{
    uint32_t head = load_le32(b->memory + OFF_HEAD);
    if (head >= b->slots)
        return -1;
    const unsigned char *at = slot(b, head);
    uint32_t len = load_le32(at);
    if (len > b->slot_size - FIELD)
        return -1;
    memcpy(out, at + FIELD, len);
    store_le32(b->memory + OFF_HEAD, (head + 1) % b->slots);
    return (long)len;
}

/* --- init ------------------------------------------------------------------------------- */

static int init(const char *name, long slots, long slot_size)
{
    size_t size = HEADER + (size_t)slots * (size_t)slot_size;
    /* O_EXCL throughout: an existing object or semaphore is someone else's buffer. On failure
       remove only what this call made, in reverse order. */
    int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
    if (fd < 0) {
        if (errno == EEXIST)
            return fail(EXIT_ERROR, "init: buffer %s (or one of its semaphores) exists already", name);
        return fail(EXIT_ERROR, "init: shm_open %s: %s", name, strerror(errno));
    }
    unsigned char *memory = MAP_FAILED;
    if (ftruncate(fd, (off_t)size) == 0) /* the new object reads as zeros: head 0, tail 0 */
        memory = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    int err = errno;
    close(fd);
    if (memory == MAP_FAILED) {
        shm_unlink(name);
        return fail(EXIT_ERROR, "init: cannot size or map %s: %s", name, strerror(err));
    }
    store_le32(memory + OFF_SLOTS, (uint32_t)slots);
    store_le32(memory + OFF_SLOT_SIZE, (uint32_t)slot_size);
    store_le32(memory + OFF_HEAD, 0);
    store_le32(memory + OFF_TAIL, 0);
    munmap(memory, size);

    const unsigned initial[3] = {(unsigned)slots, 0, 1}; /* empty, full, mutex */
    for (int i = 0; i < 3; i++) {
        char sem_name[NAME_BYTES];
        semaphore_name(sem_name, name, ROLES[i]);
        sem_t *sem = sem_open(sem_name, O_CREAT | O_EXCL, 0600, initial[i]);
        if (sem == SEM_FAILED) {
            err = errno;
            for (int k = i - 1; k >= 0; k--) { /* undo: only what this call created */
                semaphore_name(sem_name, name, ROLES[k]);
                sem_unlink(sem_name);
            }
            shm_unlink(name);
            if (err == EEXIST)
                return fail(EXIT_ERROR, "init: buffer %s (or one of its semaphores) exists already", name);
            return fail(EXIT_ERROR, "init: sem_open %s.%s: %s", name, ROLES[i], strerror(err));
        }
        sem_close(sem);
    }
    return EXIT_OK;
}

/* --- produce ---------------------------------------------------------------------------- */

static int produce(const char *name)
{
    struct buffer b;
    if (open_buffer(name, &b) < 0)
        return EXIT_ERROR;
    size_t limit = b.slot_size - FIELD;
    int status = EXIT_OK;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, stdin)) > 0) { /* NULs and all: getline counts bytes */
        size_t item = (size_t)len - (line[len - 1] == '\n'); /* without its newline */
        if (item > limit) { /* before waiting: the items before it stay produced */
            status = fail(EXIT_ERROR, "produce: a line of %zu bytes does not fit in a slot (%zu bytes at most)", item, limit);
            break;
        }
        if (wait_on(b.empty) < 0) { /* a full buffer: sleep here until a consumer frees a slot */
            status = fail(EXIT_ERROR, "produce: sem_wait: %s", strerror(errno));
            break;
        }
        if (wait_on(b.mutex) < 0) {
            status = fail(EXIT_ERROR, "produce: sem_wait: %s", strerror(errno));
            break;
        }
        int stored = put(&b, line, item);
        sem_post(b.mutex);
        if (stored < 0) {
            sem_post(b.empty); /* give the slot back: nothing was stored */
            status = fail(EXIT_ERROR, "produce: %s is corrupt: its tail is past the last slot", name);
            break;
        }
        sem_post(b.full); /* wake a consumer */
    }
    if (status == EXIT_OK && ferror(stdin))
        status = fail(EXIT_ERROR, "produce: reading stdin: %s", strerror(errno));
    free(line);
    return status;
}

/* --- consume ---------------------------------------------------------------------------- */

static int consume(const char *name, long count)
{
    struct buffer b;
    if (open_buffer(name, &b) < 0)
        return EXIT_ERROR;
    char *item = malloc((size_t)b.slot_size + 1); /* an item and its newline */
    if (item == NULL)
        return fail(EXIT_ERROR, "consume: out of memory");
    int status = EXIT_OK;
    for (long i = 0; i < count; i++) {
        if (wait_on(b.full) < 0 || wait_on(b.mutex) < 0) { /* empty: sleep until an item comes */
            status = fail(EXIT_ERROR, "consume: sem_wait: %s", strerror(errno));
            break;
        }
        long len = take(&b, item);
        sem_post(b.mutex);
        if (len < 0) {
            sem_post(b.full);
            status = fail(EXIT_ERROR, "consume: %s is corrupt: its head or an item's length is out of range", name);
            break;
        }
        sem_post(b.empty); /* wake a producer */
        item[len] = '\n';
        if (write_all(STDOUT_FILENO, item, (size_t)len + 1) < 0) { /* printed as soon as taken */
            status = fail(EXIT_ERROR, "consume: writing stdout: %s", errno == EPIPE ? "broken pipe" : strerror(errno));
            break;
        }
    }
    free(item);
    return status;
}

/* --- destroy ---------------------------------------------------------------------------- */

static int destroy(const char *name)
{
    char missing[4 * NAME_BYTES] = "";
    int status = EXIT_OK;
    for (int i = -1; i < 3; i++) { /* -1: the object, then each semaphore */
        char what[NAME_BYTES];
        int removed;
        if (i < 0) {
            snprintf(what, sizeof what, "%s", name);
            removed = shm_unlink(what);
        } else {
            semaphore_name(what, name, ROLES[i]);
            removed = sem_unlink(what);
        }
        if (removed == 0)
            continue;
        if (errno != ENOENT) {
            status = fail(EXIT_ERROR, "destroy: cannot remove %s: %s", what, strerror(errno));
            continue; /* go on with the others */
        }
        if (missing[0] != '\0')
            strcat(missing, ", ");
        strcat(missing, what);
    }
    if (missing[0] != '\0')
        return fail(EXIT_ERROR, "destroy: %s did not exist (removed the rest)", missing);
    return status;
}

/* --- command line ----------------------------------------------------------------------- */

/* An integer of at least LEAST (and at most MOST) from the command line; 0, or -1 (usage). */
static int number(const char *text, const char *what, long least, long most, long *out)
{
    if (parse_long(text, least, most, out) == 0)
        return 0;
    fail(EXIT_USAGE, "%s must be an integer from %ld to %ld, not '%s'\n" USAGE, what, least, most, text);
    return -1;
}

static int check_name(const char *name)
{
    if (is_posix_name(name) && strlen(name) < NAME_BYTES - 8)
        return 0;
    fail(EXIT_USAGE, "NAME must be one slash and a name, like /bb-42, not '%s'\n" USAGE, name);
    return -1;
}

int main(int argc, char **argv)
{
    progname = "buffer";
    signal(SIGPIPE, SIG_IGN); /* a closed stdout is an error we report, not a silent death */
    if (argc < 2)
        return usage("no role given");
    const char *role = argv[1];
    int n = argc - 2;
    char **args = argv + 2;
    if (strcmp(role, "init") == 0 && (n == 2 || n == 4)) {
        long slots, slot_size = DEFAULT_SLOT_SIZE;
        if (n == 4) {
            if (strcmp(args[2], "--slot-size") != 0) {
                fail(EXIT_USAGE, "unknown option '%s'\n" USAGE, args[2]);
                return EXIT_USAGE;
            }
            if (number(args[3], "B", FIELD + 1, 1L << 30, &slot_size) < 0)
                return EXIT_USAGE;
        }
        /* SLOTS is also `empty`'s first value, so at most SEM_VALUE_MAX; the object at most
           1 GiB, so that SLOTS * SLOT_SIZE cannot overflow */
        long most = (1L << 30) / slot_size < SEM_VALUE_MAX ? (1L << 30) / slot_size : SEM_VALUE_MAX;
        if (check_name(args[0]) < 0 || number(args[1], "SLOTS", 1, most, &slots) < 0)
            return EXIT_USAGE;
        return init(args[0], slots, slot_size);
    }
    if (strcmp(role, "produce") == 0 && n == 1)
        return check_name(args[0]) < 0 ? EXIT_USAGE : produce(args[0]);
    if (strcmp(role, "consume") == 0 && n == 2) {
        long count;
        if (check_name(args[0]) < 0 || number(args[1], "COUNT", 0, LONG_MAX, &count) < 0)
            return EXIT_USAGE;
        return consume(args[0], count);
    }
    if (strcmp(role, "destroy") == 0 && n == 1)
        return check_name(args[0]) < 0 ? EXIT_USAGE : destroy(args[0]);
    return usage("bad arguments");
}
