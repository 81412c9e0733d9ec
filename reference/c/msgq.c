/*
 * msgq: System V message queues with typed messages (CONTRACT.md, section 3.4).
 *
 *     msgq send KEY TYPE [--nowait]                               stdin -> one message of TYPE
 *     msgq recv KEY TYPE [--nowait] [--max-bytes N] [--truncate]  one message -> `TYPE LENGTH`
 *                                                                  + body
 *     msgq rm KEY                                                 remove the queue
 *
 * The kernel keeps the messages (msgget(2), msgsnd(2), msgrcv(2), msgctl(2), sysvipc(7)): the
 * sender does not wait for a receiver, a message outlives the process that sent it, and msgrcv
 * chooses by type. TYPE 0 takes the oldest message; TYPE > 0 the oldest message of exactly that
 * type; TYPE < 0 the oldest message of the lowest type that is at most |TYPE|. Within one type
 * the order is first in, first out. A full queue (msg_qbytes bytes queued) puts msgsnd to
 * sleep, an empty one puts msgrcv to sleep, unless IPC_NOWAIT.
 */
#include "common.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/types.h>
#include <unistd.h>

/* The largest message a sender accepts (the contract's limit; Linux's default MSGMAX too). */
#define MAX_MESSAGE 8192

/* A message as msgsnd and msgrcv see it: the type, then the bytes. */
struct message {
    long mtype;     /* > 0 */
    char mtext[];   /* the body, of any bytes */
};

static int usage(const char *reason)
{
    return fail(EXIT_USAGE, "usage: msgq %s", reason);
}

/* KEY from the command line: a decimal key_t, never IPC_PRIVATE (0). 0 and *KEY, or -1. */
static int parse_key(const char *text, key_t *key)
{
    long value;
    if (parse_long(text, INT_MIN, INT_MAX, &value) < 0 || value == IPC_PRIVATE) {
        fail(EXIT_USAGE, "usage: msgq KEY must be a decimal System V key (not 0), not '%s'", text);
        return -1;
    }
    *key = (key_t)value;
    return 0;
}

/* The kernel's largest message (MSGMAX) in this IPC namespace, at least MAX_MESSAGE. */
static size_t msgmax(void)
{
    long value = 0;
    FILE *f = fopen("/proc/sys/kernel/msgmax", "r");
    if (f != NULL) {
        if (fscanf(f, "%ld", &value) != 1)
            value = 0;
        fclose(f);
    } else {
        value = 1 << 16;
    }
    return value > MAX_MESSAGE ? (size_t)value : MAX_MESSAGE;
}

static int send_message(int argc, char **argv)
{
    struct option options[] = {{"--nowait", 0, 0, NULL}};
    char *words[2];
    int n_words;
    const char *bad = split_args(argc, argv, options, 1, words, 2, &n_words);
    if (bad != NULL)
        return usage(bad);
    if (n_words != 2)
        return usage("send KEY TYPE [--nowait]");
    key_t key;
    if (parse_key(words[0], &key) < 0)
        return EXIT_USAGE;
    long mtype;
    if (parse_long(words[1], 1, LONG_MAX, &mtype) < 0) /* mtype is a long and must be > 0 */
        return fail(EXIT_ERROR, "TYPE must be a positive integer, not '%s'; nothing sent", words[1]);

    /* One byte more than the limit tells a message that is too long from one that fits. */
    struct bytes body = {0};
    if (read_all(STDIN_FILENO, &body, MAX_MESSAGE + 1) < 0)
        return fail(EXIT_ERROR, "reading stdin: %s", strerror(errno));
    if (body.len > MAX_MESSAGE) {
        bytes_free(&body);
        return fail(EXIT_TOO_LONG, "message too long: more than %d bytes; nothing sent", MAX_MESSAGE);
    }

    int id = msgget(key, IPC_CREAT | 0600); /* the existing queue with KEY, or a new one */
    if (id < 0) {
        bytes_free(&body);
        return fail(EXIT_ERROR, "msgget for key %ld: %s", (long)key, strerror(errno));
    }
    struct message *msg = malloc(sizeof *msg + body.len + 1);
    if (msg == NULL) {
        bytes_free(&body);
        return fail(EXIT_ERROR, "out of memory");
    }
    msg->mtype = mtype;
    if (body.len > 0)
        memcpy(msg->mtext, body.data, body.len);
    /* msgsnd sleeps while the queue is full; IPC_NOWAIT makes it fail with EAGAIN instead */
    int flags = options[0].given ? IPC_NOWAIT : 0;
    int sent;
    do
        sent = msgsnd(id, msg, body.len, flags);
    while (sent < 0 && errno == EINTR);
    int err = errno;
    free(msg);
    bytes_free(&body);
    if (sent < 0) {
        if (err == EAGAIN)
            return fail(EXIT_WOULD_BLOCK, "the queue is full (--nowait)");
        if (err == EIDRM)
            return fail(EXIT_ERROR, "the queue was removed while sending");
        return fail(EXIT_ERROR, "msgsnd: %s", strerror(err));
    }
    return EXIT_OK;
}

static int recv_message(int argc, char **argv)
{
    struct option options[] = {{"--nowait", 0, 0, NULL}, {"--truncate", 0, 0, NULL}, {"--max-bytes", 1, 0, NULL}};
    char *words[2];
    int n_words;
    const char *bad = split_args(argc, argv, options, 3, words, 2, &n_words);
    if (bad != NULL)
        return usage(bad);
    if (n_words != 2)
        return usage("recv KEY TYPE [--nowait] [--max-bytes N] [--truncate]");
    key_t key;
    if (parse_key(words[0], &key) < 0)
        return EXIT_USAGE;
    long mtype;
    if (parse_long(words[1], LONG_MIN, LONG_MAX, &mtype) < 0)
        return fail(EXIT_USAGE, "usage: msgq TYPE must be an integer, not '%s'", words[1]);
    long limit = MAX_MESSAGE;
    if (options[2].given && parse_long(options[2].value, LONG_MIN, LONG_MAX, &limit) < 0)
        return usage("--max-bytes takes a number of bytes");
    if (limit < 1)
        return usage("--max-bytes must be at least 1");
    int truncate = options[1].given;

    int id = msgget(key, 0); /* no IPC_CREAT: a receiver never creates a queue */
    if (id < 0) {
        if (errno == ENOENT)
            return fail(EXIT_ERROR, "no such queue with key %ld", (long)key);
        return fail(EXIT_ERROR, "msgget for key %ld: %s", (long)key, strerror(errno));
    }
    /* msgrcv gets a buffer of LIMIT bytes: a longer message fails with E2BIG and stays queued,
       unless MSG_NOERROR, which takes it and discards the bytes past LIMIT (--truncate). No
       message is longer than MSGMAX, so a larger buffer would never be filled. */
    size_t size = (unsigned long)limit < msgmax() ? (size_t)limit : msgmax();
    struct message *msg = malloc(sizeof *msg + size);
    if (msg == NULL)
        return fail(EXIT_ERROR, "out of memory");
    int flags = (options[0].given ? IPC_NOWAIT : 0) | (truncate ? MSG_NOERROR : 0);
    ssize_t len;
    do
        len = msgrcv(id, msg, size, mtype, flags); /* sleeps here until a message matches */
    while (len < 0 && errno == EINTR);
    if (len < 0) {
        int err = errno;
        free(msg);
        if (err == ENOMSG || err == EAGAIN)
            return fail(EXIT_WOULD_BLOCK, "no message of type %ld (--nowait)", mtype);
        if (err == EIDRM || err == EINVAL) /* removed while we slept, or just before */
            return fail(EXIT_ERROR, "the queue was removed while waiting");
        if (err == E2BIG) /* longer than LIMIT: the kernel leaves it in the queue */
            return fail(EXIT_TOO_LONG, "message too long: more than %ld bytes; it stays in the queue", limit);
        return fail(EXIT_ERROR, "msgrcv: %s", strerror(err));
    }
    char header[64];
    int n = snprintf(header, sizeof header, "%ld %zd\n", msg->mtype, len);
    int written = write_all(STDOUT_FILENO, header, (size_t)n) == 0
                  && write_all(STDOUT_FILENO, msg->mtext, (size_t)len) == 0;
    int err = errno;
    free(msg);
    if (!written)
        return fail(EXIT_ERROR, "writing stdout: %s", err == EPIPE ? "broken pipe" : strerror(err));
    return EXIT_OK;
}

static int remove_queue(int argc, char **argv)
{
    char *words[1];
    int n_words;
    const char *bad = split_args(argc, argv, NULL, 0, words, 1, &n_words);
    if (bad != NULL)
        return usage(bad);
    if (n_words != 1)
        return usage("rm KEY");
    key_t key;
    if (parse_key(words[0], &key) < 0)
        return EXIT_USAGE;
    int id = msgget(key, 0);
    if (id < 0) {
        if (errno == ENOENT)
            return fail(EXIT_ERROR, "no such queue with key %ld", (long)key);
        return fail(EXIT_ERROR, "msgget for key %ld: %s", (long)key, strerror(errno));
    }
    if (msgctl(id, IPC_RMID, NULL) < 0) /* the queue and every message in it are gone */
        return fail(EXIT_ERROR, "msgctl IPC_RMID: %s", strerror(errno));
    return EXIT_OK;
}

int main(int argc, char **argv)
{
    progname = "msgq";
    signal(SIGPIPE, SIG_IGN); /* a closed stdout is an error we report, not a silent death */
    if (argc >= 2 && strcmp(argv[1], "send") == 0)
        return send_message(argc - 2, argv + 2);
    if (argc >= 2 && strcmp(argv[1], "recv") == 0)
        return recv_message(argc - 2, argv + 2);
    if (argc >= 2 && strcmp(argv[1], "rm") == 0)
        return remove_queue(argc - 2, argv + 2);
    return usage("send KEY TYPE | recv KEY TYPE | rm KEY");
}
