/*
 * msgq: System V message queues with typed messages (CONTRACT.md, section 3.4).
 *
 *     msgq send KEY TYPE [--nowait]                               stdin -> one message of TYPE
 *     msgq recv KEY TYPE [--nowait] [--max-bytes N] [--truncate]  one message -> `TYPE LENGTH`
 *                                                                  then the body
 *     msgq rm KEY                                                 remove the queue
 *
 * Every role answers `not implemented` (exit 69) until you write it: its specs score 0
 * without failing. Build with `make`, grade with `pytest --impl=. -k msgq -x`.
 * Read: sysvipc(7), msgget(2), msgsnd(2), msgrcv(2), msgctl(2).
 *
 * A message as msgsnd() and msgrcv() see it is a long type followed by the bytes:
 *
 *     struct message { long mtype; char mtext[]; };   malloc(sizeof(struct message) + size)
 *
 * and the size you pass them counts mtext only, not mtype.
 */
#include "common.h"

#include <limits.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/types.h>

#define USAGE "usage: msgq send KEY TYPE [--nowait] | msgq recv KEY TYPE [--nowait] [--max-bytes N] [--truncate] | msgq rm KEY"

/*
 * msgq send KEY TYPE [--nowait]
 *
 * - TYPE must be a positive integer (parse_long with min 1), else exit 1 and send nothing
 *   (msgq.invalid-type): that is why it comes here as text.
 * - Read all of stdin (read_all with a limit of 8193): more than 8192 bytes is exit 4, nothing
 *   sent (msgq.send-too-long).
 * - msgget(key, IPC_CREAT | 0600) finds or makes the queue; msgsnd() sends. On a full queue it
 *   sleeps (msgq.send-blocks-when-full); with --nowait pass IPC_NOWAIT, and EAGAIN means exit 3.
 *   Retry after EINTR.
 */
static int send_message(key_t key, const char *type, int nowait)
{
    (void)key; /* remove these once you use them */
    (void)type;
    (void)nowait;
    return not_implemented();
}

/*
 * msgq recv KEY TYPE [--nowait] [--max-bytes N] [--truncate]
 *
 * - msgget(key, 0): no IPC_CREAT, a receiver never makes a queue. ENOENT: `no such queue`,
 *   exit 1.
 * - msgrcv(id, msg, MAX_BYTES, TYPE, flags) applies the type rule for you: 0 the oldest, > 0
 *   the oldest of that type, < 0 the oldest of the lowest type at most |TYPE|.
 * - A longer message fails with E2BIG and stays queued: exit 4 (msgq.too-long). Only with
 *   --truncate add MSG_NOERROR, which takes it and keeps the first MAX_BYTES bytes.
 * - --nowait: IPC_NOWAIT, and ENOMSG means exit 3. EIDRM (the queue was removed while you
 *   slept): exit 1. Retry after EINTR.
 * - Print `TYPE LENGTH` and a newline, then exactly LENGTH bytes (write_all: they may hold NULs).
 */
static int recv_message(key_t key, long type, int nowait, long max_bytes, int truncate)
{
    (void)key; /* remove these once you use them */
    (void)type;
    (void)nowait;
    (void)max_bytes;
    (void)truncate;
    return not_implemented();
}

/*
 * msgq rm KEY
 *
 * - msgget(key, 0), then msgctl(id, IPC_RMID, NULL): the queue and its messages are gone. No
 *   queue: exit 1.
 */
static int remove_queue(key_t key)
{
    (void)key; /* remove once you use KEY */
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
    progname = "msgq";
    const char *role = argc >= 2 ? argv[1] : "";
    const char *words[2]; /* KEY and TYPE, in the order given */
    int n_words = 0, nowait = 0, truncate = 0;
    long max_bytes = 8192;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--nowait") == 0 && strcmp(role, "rm") != 0)
            nowait = 1;
        else if (strcmp(argv[i], "--truncate") == 0 && strcmp(role, "recv") == 0)
            truncate = 1;
        else if (strcmp(argv[i], "--max-bytes") == 0 && strcmp(role, "recv") == 0 && i + 1 < argc) {
            if (parse_long(argv[++i], 1, LONG_MAX, &max_bytes) < 0)
                return fail(EXIT_USAGE, "--max-bytes takes a positive number of bytes\n" USAGE);
        } else if (strncmp(argv[i], "--", 2) == 0 || n_words == 2)
            return fail(EXIT_USAGE, "unexpected '%s'\n" USAGE, argv[i]);
        else
            words[n_words++] = argv[i]; /* "-3" is a word: a negative TYPE, not an option */
    }
    key_t key = 0;
    if (n_words >= 1 && parse_key(words[0], &key) < 0)
        return fail(EXIT_USAGE, "KEY must be a decimal System V key (not 0), not '%s'\n" USAGE, words[0]);
    if (strcmp(role, "send") == 0 && n_words == 2)
        return send_message(key, words[1], nowait);
    if (strcmp(role, "recv") == 0 && n_words == 2) {
        long type;
        if (parse_long(words[1], LONG_MIN, LONG_MAX, &type) < 0)
            return fail(EXIT_USAGE, "TYPE must be an integer, not '%s'\n" USAGE, words[1]);
        return recv_message(key, type, nowait, max_bytes, truncate);
    }
    if (strcmp(role, "rm") == 0 && n_words == 1)
        return remove_queue(key);
    return fail(EXIT_USAGE, USAGE);
}
