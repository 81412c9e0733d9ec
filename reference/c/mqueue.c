/*
 * mqueue: POSIX message queues with priorities (CONTRACT.md, section 3.5).
 *
 *     mqueue send NAME PRIORITY [--nowait] [--max-messages M] [--message-size S]
 *     mqueue recv NAME [--nowait]       one message -> `PRIORITY LENGTH` + body
 *     mqueue unlink NAME                remove the queue's name
 *
 * The kernel keeps the messages (mq_overview(7), mq_open(3), mq_send(3), mq_receive(3)): the
 * sender does not wait for a receiver and a message outlives its sender. mq_receive always
 * takes the oldest message of the highest priority. A full queue (mq_maxmsg messages) puts
 * mq_send to sleep, an empty one puts mq_receive to sleep, unless the queue is opened with
 * O_NONBLOCK (--nowait), when they fail with EAGAIN instead.
 */
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <mqueue.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Priorities run from 0 to MQ_PRIO_MAX - 1 (32767 on Linux). */
#define PRIORITY_MAX 32767
#define DEFAULT_MESSAGES 10
#define DEFAULT_SIZE 8192

static int usage(const char *reason)
{
    return fail(EXIT_USAGE, "usage: mqueue %s", reason);
}

/* NAME from the command line: one slash and a name. 0, or -1 after a usage message. */
static int check_name(const char *name)
{
    if (is_posix_name(name))
        return 0;
    fail(EXIT_USAGE, "usage: mqueue NAME must be one slash and a name, like /queue, not '%s'", name);
    return -1;
}

/* The value of OPTION (a number), or FALLBACK when it was not given. 0, or -1 (usage). */
static int option_number(const struct option *option, long fallback, long *out)
{
    *out = fallback;
    if (option->given && parse_long(option->value, LONG_MIN, LONG_MAX, out) < 0) {
        fail(EXIT_USAGE, "usage: mqueue %s takes a number, not '%s'", option->name, option->value);
        return -1;
    }
    return 0;
}

static int send_message(int argc, char **argv)
{
    struct option options[] = {{"--nowait", 0, 0, NULL}, {"--max-messages", 1, 0, NULL}, {"--message-size", 1, 0, NULL}};
    char *words[2];
    int n_words;
    const char *bad = split_args(argc, argv, options, 3, words, 2, &n_words);
    if (bad != NULL)
        return usage(bad);
    long max_messages, message_size;
    if (option_number(&options[1], DEFAULT_MESSAGES, &max_messages) < 0
        || option_number(&options[2], DEFAULT_SIZE, &message_size) < 0)
        return EXIT_USAGE;
    if (n_words != 2)
        return usage("send NAME PRIORITY [--nowait] [--max-messages M] [--message-size S]");
    const char *name = words[0];
    if (check_name(name) < 0)
        return EXIT_USAGE;
    long priority;
    if (parse_long(words[1], 0, PRIORITY_MAX, &priority) < 0)
        return fail(EXIT_ERROR, "PRIORITY must be 0 to %d, not '%s'; nothing sent", PRIORITY_MAX, words[1]);

    struct bytes body = {0};
    if (read_all(STDIN_FILENO, &body, SIZE_MAX) < 0)
        return fail(EXIT_ERROR, "reading stdin: %s", strerror(errno));

    /* The attributes apply only when this call creates the queue; an existing queue keeps its
       own, and its own message size is what decides "too long". */
    struct mq_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.mq_maxmsg = max_messages;
    attr.mq_msgsize = message_size;
    int flags = O_WRONLY | O_CREAT | (options[0].given ? O_NONBLOCK : 0);
    mqd_t queue = mq_open(name, flags, 0600, &attr);
    if (queue == (mqd_t)-1) {
        bytes_free(&body);
        return fail(EXIT_ERROR, "cannot open or create %s: %s", name, strerror(errno));
    }
    int status = EXIT_OK;
    if (mq_getattr(queue, &attr) < 0) {
        status = fail(EXIT_ERROR, "mq_getattr: %s", strerror(errno));
    } else if (body.len > (size_t)attr.mq_msgsize) { /* mq_send would fail with EMSGSIZE */
        status = fail(EXIT_TOO_LONG, "message too long: %zu bytes, the queue takes %ld", body.len, (long)attr.mq_msgsize);
    } else {
        int sent;
        do /* mq_send sleeps while the queue is full (unless O_NONBLOCK) */
            sent = mq_send(queue, (const char *)body.data, body.len, (unsigned)priority);
        while (sent < 0 && errno == EINTR);
        if (sent < 0 && errno == EAGAIN)
            status = fail(EXIT_WOULD_BLOCK, "the queue is full (--nowait)");
        else if (sent < 0)
            status = fail(EXIT_ERROR, "mq_send: %s", strerror(errno));
    }
    mq_close(queue);
    bytes_free(&body);
    return status;
}

static int recv_message(int argc, char **argv)
{
    struct option options[] = {{"--nowait", 0, 0, NULL}};
    char *words[1];
    int n_words;
    const char *bad = split_args(argc, argv, options, 1, words, 1, &n_words);
    if (bad != NULL)
        return usage(bad);
    if (n_words != 1)
        return usage("recv NAME [--nowait]");
    const char *name = words[0];
    if (check_name(name) < 0)
        return EXIT_USAGE;
    /* no O_CREAT: a receiver never creates a queue */
    mqd_t queue = mq_open(name, O_RDONLY | (options[0].given ? O_NONBLOCK : 0));
    if (queue == (mqd_t)-1) {
        if (errno == ENOENT)
            return fail(EXIT_ERROR, "no such queue %s", name);
        return fail(EXIT_ERROR, "cannot open %s: %s", name, strerror(errno));
    }
    struct mq_attr attr;
    if (mq_getattr(queue, &attr) < 0) {
        mq_close(queue);
        return fail(EXIT_ERROR, "mq_getattr: %s", strerror(errno));
    }
    /* mq_receive needs a buffer of at least the queue's message size (else EMSGSIZE) */
    char *buf = malloc((size_t)attr.mq_msgsize + 1);
    if (buf == NULL) {
        mq_close(queue);
        return fail(EXIT_ERROR, "out of memory");
    }
    unsigned priority;
    ssize_t len;
    do /* sleeps here (in mq_timedreceive) until a message arrives, unless O_NONBLOCK */
        len = mq_receive(queue, buf, (size_t)attr.mq_msgsize, &priority);
    while (len < 0 && errno == EINTR);
    int err = errno;
    mq_close(queue);
    int status = EXIT_OK;
    if (len < 0 && err == EAGAIN) {
        status = fail(EXIT_WOULD_BLOCK, "the queue is empty (--nowait)");
    } else if (len < 0) {
        status = fail(EXIT_ERROR, "mq_receive: %s", strerror(err));
    } else {
        char header[64];
        int n = snprintf(header, sizeof header, "%u %zd\n", priority, len);
        if (write_all(STDOUT_FILENO, header, (size_t)n) < 0 || write_all(STDOUT_FILENO, buf, (size_t)len) < 0)
            status = fail(EXIT_ERROR, "writing stdout: %s", errno == EPIPE ? "broken pipe" : strerror(errno));
    }
    free(buf);
    return status;
}

static int unlink_queue(int argc, char **argv)
{
    char *words[1];
    int n_words;
    const char *bad = split_args(argc, argv, NULL, 0, words, 1, &n_words);
    if (bad != NULL)
        return usage(bad);
    if (n_words != 1)
        return usage("unlink NAME");
    if (check_name(words[0]) < 0)
        return EXIT_USAGE;
    /* The name goes at once; the queue itself when its last descriptor is closed. */
    if (mq_unlink(words[0]) < 0) {
        if (errno == ENOENT)
            return fail(EXIT_ERROR, "no such queue %s", words[0]);
        return fail(EXIT_ERROR, "mq_unlink %s: %s", words[0], strerror(errno));
    }
    return EXIT_OK;
}

int main(int argc, char **argv)
{
    progname = "mqueue";
    signal(SIGPIPE, SIG_IGN); /* a closed stdout is an error we report, not a silent death */
    if (argc >= 2 && strcmp(argv[1], "send") == 0)
        return send_message(argc - 2, argv + 2);
    if (argc >= 2 && strcmp(argv[1], "recv") == 0)
        return recv_message(argc - 2, argv + 2);
    if (argc >= 2 && strcmp(argv[1], "unlink") == 0)
        return unlink_queue(argc - 2, argv + 2);
    return usage("send NAME PRIORITY | recv NAME | unlink NAME");
}
