/*
 * mqueue: POSIX message queues with priorities (CONTRACT.md, section 3.5).
 *
 *     mqueue send NAME PRIORITY [--nowait] [--max-messages M] [--message-size S]
 *     mqueue recv NAME [--nowait]       one message -> `PRIORITY LENGTH`, then the body
 *     mqueue unlink NAME                remove the queue's name
 *
 * Every role answers `not implemented` (exit 69) until you write it: its specs score 0
 * without failing. Build with `make` (it links -lrt), grade with `pytest --impl=. -k mqueue -x`.
 * Read: mq_overview(7), mq_open(3), mq_getattr(3), mq_send(3), mq_receive(3), mq_unlink(3).
 */
#include "common.h"

#include <limits.h>
#include <string.h>

#define USAGE                                                                                 \
    "usage: mqueue send NAME PRIORITY [--nowait] [--max-messages M] [--message-size S] | "    \
    "mqueue recv NAME [--nowait] | mqueue unlink NAME"

/*
 * mqueue send NAME PRIORITY [--nowait] [--max-messages M] [--message-size S]
 *
 * - PRIORITY must be 0 to 32767 (parse_long), else exit 1 and send nothing
 *   (mqueue.bad-priority): that is why it comes here as text.
 * - Read all of stdin, then mq_open(name, O_WRONLY | O_CREAT, 0600, &attr) with attr.mq_maxmsg
 *   = M and attr.mq_msgsize = S: they apply only when this call creates the queue. An existing
 *   queue keeps its own, so ask it with mq_getattr(): more bytes than ITS mq_msgsize is exit 4
 *   (mqueue.message-too-long).
 * - mq_send() sleeps on a full queue; --nowait adds O_NONBLOCK to mq_open, and EAGAIN means
 *   exit 3. Retry after EINTR.
 */
static int send_message(const char *name, const char *priority, int nowait, long max_messages, long message_size)
{
    (void)name; /* remove these once you use them */
    (void)priority;
    (void)nowait;
    (void)max_messages;
    (void)message_size;
    return not_implemented();
}

/*
 * mqueue recv NAME [--nowait]
 *
 * - mq_open(name, O_RDONLY) (no O_CREAT: ENOENT is `no such queue`, exit 1), plus O_NONBLOCK
 *   for --nowait (EAGAIN: exit 3).
 * - mq_receive() needs a buffer of at least the queue's mq_msgsize (mq_getattr), else EMSGSIZE.
 *   It takes the oldest message of the highest priority.
 * - Print `PRIORITY LENGTH` and a newline, then the LENGTH bytes with write_all().
 */
static int recv_message(const char *name, int nowait)
{
    (void)name; /* remove these once you use them */
    (void)nowait;
    return not_implemented();
}

/*
 * mqueue unlink NAME
 *
 * - mq_unlink(name); ENOENT: exit 1. The name goes at once, the queue once nobody has it open.
 */
static int unlink_queue(const char *name)
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
    progname = "mqueue";
    const char *role = argc >= 2 ? argv[1] : "";
    int sending = strcmp(role, "send") == 0;
    const char *words[2]; /* NAME and PRIORITY, in the order given */
    int n_words = 0, nowait = 0;
    long max_messages = 10, message_size = 8192;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--nowait") == 0 && strcmp(role, "unlink") != 0)
            nowait = 1;
        else if (sending && strcmp(argv[i], "--max-messages") == 0 && i + 1 < argc) {
            if (parse_long(argv[++i], 1, LONG_MAX, &max_messages) < 0)
                return fail(EXIT_USAGE, "--max-messages takes a positive number\n" USAGE);
        } else if (sending && strcmp(argv[i], "--message-size") == 0 && i + 1 < argc) {
            if (parse_long(argv[++i], 1, LONG_MAX, &message_size) < 0)
                return fail(EXIT_USAGE, "--message-size takes a positive number of bytes\n" USAGE);
        } else if (strncmp(argv[i], "--", 2) == 0 || n_words == 2)
            return fail(EXIT_USAGE, "unexpected '%s'\n" USAGE, argv[i]);
        else
            words[n_words++] = argv[i]; /* "-1" is a word: a (bad) PRIORITY, not an option */
    }
    if (n_words >= 1 && !is_posix_name(words[0]))
        return fail(EXIT_USAGE, "NAME must be one slash and a name, like /queue, not '%s'\n" USAGE, words[0]);
    if (sending && n_words == 2)
        return send_message(words[0], words[1], nowait, max_messages, message_size);
    if (strcmp(role, "recv") == 0 && n_words == 1)
        return recv_message(words[0], nowait);
    if (strcmp(role, "unlink") == 0 && n_words == 1)
        return unlink_queue(words[0]);
    return fail(EXIT_USAGE, USAGE);
}
