/*
 * rpc: remote procedure calls over TCP, at most once (CONTRACT.md, section 3.9).
 *
 *     rpc server [--host H] [--port P]               prints `listening PORT`; add, echo, sleep, count
 *     rpc client HOST PORT [--timeout MS] [--id N]   one call per stdin line, one result line per call
 *
 * A request is a record: a 4-byte LENGTH (of what follows it), a 4-byte ID and the BODY
 * (`NAME ARGUMENT`); a reply is LENGTH, the request's ID, a STATUS byte and the result. Every
 * integer is big-endian (network byte order), whatever this machine's order is.
 *
 * The seeds name RPC beside pipes and sockets as a way of message passing; what makes it more
 * than a socket is what a textbook teaches with it:
 *
 * - At most once: a client that got no reply may send the same request again, so the server
 *   keeps the reply to each of the last REMEMBERED request ids of a connection and answers a
 *   retry from it, never executing the call twice (the `count` procedure shows the difference).
 * - A remote call may never return: the client waits for each reply at most `--timeout` ms,
 *   and a connection the server closed (recv returns 0) is an error at once, not a wait.
 * - Calls are asynchronous messages: the client sends each call as soon as it reads it and
 *   matches replies to calls by id, whatever order they come back in; it prints the results in
 *   call order.
 * - The server gives each connection its own thread, so a slow call holds up no other client;
 *   the counter is the only thing they share, under a mutex.
 * - TCP is a stream: records are framed by their length and read into a buffer until whole,
 *   never assumed to arrive in one recv(2) or one at a time.
 *
 * The server ends on SIGTERM (or SIGINT, SIGHUP) with exit status 0, as the socket servers do:
 * the signals stay blocked except while the main thread sleeps in pselect(2). The client is one
 * thread sleeping in poll(2) on stdin and the socket, with the nearest reply deadline as its
 * timeout. socket(7), tcp(7), poll(2), pselect(2), nanosleep(2), pthread_create(3), byteorder(3).
 */
#include "common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (1 << 16)
#define BACKLOG 128
#define MAX_LENGTH (1u << 20)      /* the most a record's LENGTH may say */
#define REMEMBERED 256             /* replies kept per connection, for retries */
#define DEFAULT_TIMEOUT_MS 5000
#define MAX_SLEEP_MS 60000
#define MAX_BODY (MAX_LENGTH - 4)  /* the longest stdin line a request can carry */
#define MAX_NAME_SHOWN 1024        /* the most of an unknown name its error message repeats */
#define THREAD_STACK (256 << 10)

enum { STATUS_OK = 0, STATUS_NO_SUCH_PROCEDURE = 1, STATUS_BAD_ARGUMENTS = 2 };
/* The client's exit statuses (contract section 2): an error reply came; a reply did not. */
enum { EXIT_ERROR_REPLY = 5, EXIT_TIMEOUT = 6 };

#define USAGE "usage: rpc server [--host H] [--port P] | rpc client HOST PORT [--timeout MS] [--id N]"

/* --- records ----------------------------------------------------------------------------- */

static uint32_t load_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static void store_be32(unsigned char *p, uint32_t value)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(value >> (24 - 8 * i));
}

/* Append a record to OUT: LENGTH, ID, then the PREFIX_LEN bytes of PREFIX (a status byte, or
   nothing) and the LEN bytes of DATA. 0, or -1 (ENOMEM). */
static int put_record(struct bytes *out, uint32_t id, const void *prefix, size_t prefix_len, const void *data, size_t len)
{
    unsigned char header[8];
    store_be32(header, (uint32_t)(4 + prefix_len + len));
    store_be32(header + 4, id);
    if (bytes_append(out, header, sizeof header) < 0 || bytes_append(out, prefix, prefix_len) < 0)
        return -1;
    return bytes_append(out, data, len);
}

/* The first whole record in IN: 1 with *ID, *PAYLOAD (inside IN) and *USED (its size) set;
   0 while it has not all arrived; -1 for a LENGTH out of bounds (a protocol error). */
static int take_record(const struct bytes *in, uint32_t minimum, uint32_t *id, const unsigned char **payload, size_t *payload_len, size_t *used)
{
    if (in->len < 4)
        return 0;
    uint32_t length = load_be32(in->data);
    if (length < minimum || length > MAX_LENGTH)
        return -1;
    if (in->len < 4 + (size_t)length)
        return 0;
    *id = load_be32(in->data + 4);
    *payload = in->data + 8;
    *payload_len = length - 4;
    *used = 4 + (size_t)length;
    return 1;
}

/* Drop the first N bytes of B (the records taken). */
static void consume(struct bytes *b, size_t n)
{
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

/* --- the procedures ---------------------------------------------------------------------- */

static long long counter = 0;
static pthread_mutex_t counter_lock = PTHREAD_MUTEX_INITIALIZER;

/* TEXT[0..LEN) as a decimal integer (an optional '-', then 1 to 19 digits) in *OUT; 0 or -1. */
static int integer(const unsigned char *text, size_t len, long long *out)
{
    char copy[24];
    size_t digits = len > 0 && text[0] == '-' ? len - 1 : len;
    if (digits < 1 || digits > 19)
        return -1;
    for (size_t i = len - digits; i < len; i++)
        if (text[i] < '0' || text[i] > '9')
            return -1;
    memcpy(copy, text, len); /* strtoll needs a NUL-terminated copy; data never is */
    copy[len] = '\0';
    errno = 0;
    long long value = strtoll(copy, NULL, 10);
    if (errno == ERANGE)
        return -1;
    *out = value;
    return 0;
}

/* What a procedure answers: a status and the result's bytes. */
struct answer {
    unsigned char status;
    struct bytes result;
};

static void answer_text(struct answer *a, unsigned char status, const char *format, long long value)
{
    char text[64];
    int n = snprintf(text, sizeof text, format, value);
    a->status = status;
    bytes_append(&a->result, text, (size_t)n);
}

static void bad_arguments(struct answer *a, const char *message)
{
    a->status = STATUS_BAD_ARGUMENTS;
    bytes_append(&a->result, message, strlen(message));
}

static void add(const unsigned char *arg, size_t len, int has_arg, struct answer *a)
{
    const unsigned char *space = has_arg ? memchr(arg, ' ', len) : NULL;
    long long x, y;
    if (space == NULL || integer(arg, (size_t)(space - arg), &x) < 0 ||
        integer(space + 1, len - (size_t)(space - arg) - 1, &y) < 0 ||
        (y > 0 && x > INT64_MAX - y) || (y < 0 && x < INT64_MIN - y)) {
        bad_arguments(a, "bad arguments: add takes two 64-bit integers A B");
        return;
    }
    answer_text(a, STATUS_OK, "%lld", x + y);
}

static void echo(const unsigned char *arg, size_t len, struct answer *a)
{
    a->status = STATUS_OK;
    bytes_append(&a->result, arg, len);
}

static void sleep_ms(const unsigned char *arg, size_t len, struct answer *a)
{
    long long ms;
    if (integer(arg, len, &ms) < 0 || ms < 0 || ms > MAX_SLEEP_MS) {
        bad_arguments(a, "bad arguments: sleep takes MS from 0 to 60000");
        return;
    }
    /* only this connection's thread sleeps: the others go on meanwhile */
    struct timespec left = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&left, &left) < 0 && errno == EINTR)
        ;
    answer_text(a, STATUS_OK, "%lld", ms);
}

static void count(size_t len, struct answer *a)
{
    if (len > 0) {
        bad_arguments(a, "bad arguments: count takes none");
        return;
    }
    pthread_mutex_lock(&counter_lock); /* one counter for every connection's thread */
    long long value = ++counter;
    pthread_mutex_unlock(&counter_lock);
    answer_text(a, STATUS_OK, "%lld", value);
}

/* Execute the call BODY[0..LEN): `NAME` or `NAME ARGUMENT`. */
static void execute(const unsigned char *body, size_t len, struct answer *a)
{
    const unsigned char *space = memchr(body, ' ', len);
    size_t name_len = space ? (size_t)(space - body) : len;
    const unsigned char *arg = space ? space + 1 : body + len;
    size_t arg_len = space ? len - name_len - 1 : 0;
#define IS(name) (name_len == sizeof name - 1 && memcmp(body, name, name_len) == 0)
    if (IS("add"))
        add(arg, arg_len, space != NULL, a);
    else if (IS("echo"))
        echo(arg, arg_len, a);
    else if (IS("sleep"))
        sleep_ms(arg, arg_len, a);
    else if (IS("count"))
        count(arg_len, a);
    else {
        static const char message[] = "no such procedure ";
        a->status = STATUS_NO_SUCH_PROCEDURE;
        bytes_append(&a->result, message, sizeof message - 1);
        bytes_append(&a->result, body, name_len < MAX_NAME_SHOWN ? name_len : MAX_NAME_SHOWN);
    }
#undef IS
}

/* --- the server -------------------------------------------------------------------------- */

static volatile sig_atomic_t stop_requested = 0;

static void on_stop(int sig)
{
    (void)sig;
    stop_requested = 1; /* async-signal-safe: the handler only sets the flag */
}

/* The mask the main thread waits with: the usual one, with the stop signals open. */
static sigset_t wait_mask;

/* Block SIGTERM, SIGINT and SIGHUP before any thread exists (threads inherit the mask), and
   handle them with on_stop(): only the main thread takes them, inside pselect. */
static void handle_stop_signals(void)
{
    const int stops[] = {SIGTERM, SIGINT, SIGHUP};
    sigset_t set;
    sigemptyset(&set);
    for (int i = 0; i < 3; i++)
        sigaddset(&set, stops[i]);
    sigprocmask(SIG_BLOCK, &set, &wait_mask);
    struct sigaction act;
    memset(&act, 0, sizeof act);
    act.sa_handler = on_stop;
    sigemptyset(&act.sa_mask);
    for (int i = 0; i < 3; i++) {
        sigdelset(&wait_mask, stops[i]);
        sigaction(stops[i], &act, NULL);
    }
}

/* Sleep until FD can be read (1) or a stop signal has come (0); -1 on error. */
static int wait_readable(int fd)
{
    for (;;) {
        if (stop_requested) /* the stop signals are blocked here, so none slips by */
            return 0;
        fd_set readable;
        FD_ZERO(&readable);
        FD_SET(fd, &readable);
        int n = pselect(fd + 1, &readable, NULL, NULL, NULL, &wait_mask);
        if (n > 0)
            return 1;
        if (n < 0 && errno != EINTR)
            return -1;
    }
}

/* The reply to one request id, kept for a retry. */
struct kept {
    int used;
    uint32_t id;
    struct bytes reply;
};

/* One connection's thread: its requests in order, each executed once and answered, a retry
   answered from what was kept; then close. */
static void *serve(void *arg)
{
    int conn = (int)(intptr_t)arg;
    struct kept *kept = calloc(REMEMBERED, sizeof *kept); /* a ring: the oldest is replaced */
    size_t next = 0;
    struct bytes in = {0};
    unsigned char *buf = malloc(CHUNK);
    if (kept == NULL || buf == NULL)
        goto done;
    for (;;) {
        ssize_t n = read_some(conn, buf, CHUNK);
        if (n <= 0) /* 0: the client closed the connection; < 0: it reset */
            break;
        if (bytes_append(&in, buf, (size_t)n) < 0)
            break;
        uint32_t id;
        const unsigned char *body;
        size_t body_len, used;
        int got;
        while ((got = take_record(&in, 4, &id, &body, &body_len, &used)) == 1) {
            struct kept *k = NULL;
            for (size_t i = 0; i < REMEMBERED && k == NULL; i++)
                if (kept[i].used && kept[i].id == id)
                    k = &kept[i];
            if (k == NULL) { /* a new request: execute it, once */
                struct answer a = {0, {0}};
                execute(body, body_len, &a);
                k = &kept[next];
                next = (next + 1) % REMEMBERED;
                k->reply.len = 0;
                k->used = 1;
                k->id = id;
                if (put_record(&k->reply, id, &a.status, 1, a.result.data, a.result.len) < 0)
                    k->used = 0;
                bytes_free(&a.result);
            }
            consume(&in, used);
            /* a retry gets the first reply again, byte for byte */
            if (!k->used || write_all(conn, k->reply.data, k->reply.len) < 0)
                goto done;
        }
        if (got < 0) /* a LENGTH out of bounds: the client broke the protocol */
            break;
    }
done:
    if (kept != NULL)
        for (size_t i = 0; i < REMEMBERED; i++)
            bytes_free(&kept[i].reply);
    free(kept);
    free(buf);
    bytes_free(&in);
    close(conn);
    return NULL;
}

/* The first address of HOST and PORT for a TCP socket; NULL after printing why. */
static struct addrinfo *resolve(const char *host, long port, int passive)
{
    struct addrinfo hints, *found;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = passive ? AI_PASSIVE : 0;
    char service[16];
    snprintf(service, sizeof service, "%ld", port);
    int err = getaddrinfo(host, service, &hints, &found);
    if (err != 0) {
        fail(EXIT_ERROR, "cannot resolve %s: %s", host, gai_strerror(err));
        return NULL;
    }
    return found;
}

static int local_port(int fd)
{
    struct sockaddr_storage addr;
    socklen_t len = sizeof addr;
    if (getsockname(fd, (struct sockaddr *)&addr, &len) < 0)
        return -1;
    if (addr.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&addr)->sin_port);
    if (addr.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&addr)->sin6_port);
    return -1;
}

static int set_blocking(int fd, int blocking)
{
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0)
        return -1;
    return fcntl(fd, F_SETFL, blocking ? flags & ~O_NONBLOCK : flags | O_NONBLOCK);
}

static int server(const char *host, long port)
{
    struct addrinfo *ai = resolve(host, port, 1);
    if (ai == NULL)
        return EXIT_ERROR;
    int listener = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
    if (listener < 0) {
        freeaddrinfo(ai);
        return fail(EXIT_ERROR, "socket: %s", strerror(errno));
    }
    int one = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(listener, ai->ai_addr, ai->ai_addrlen) < 0) {
        int err = errno;
        freeaddrinfo(ai);
        return fail(EXIT_ERROR, "cannot bind %s:%ld: %s", host, port, strerror(err));
    }
    freeaddrinfo(ai);
    if (listen(listener, BACKLOG) < 0)
        return fail(EXIT_ERROR, "listen: %s", strerror(errno));
    if (say("listening %d", local_port(listener)) < 0)
        return fail(EXIT_ERROR, "writing stdout: %s", strerror(errno));
    /* accept only once pselect says a client is there, without blocking in accept, where no
       stop signal would reach us */
    set_blocking(listener, 0);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, THREAD_STACK);
    int status = EXIT_OK;
    for (;;) {
        int ready = wait_readable(listener);
        if (ready == 0)
            break; /* SIGTERM: exit 0, calls in progress or not */
        if (ready < 0) {
            status = fail(EXIT_ERROR, "pselect: %s", strerror(errno));
            break;
        }
        int conn = accept(listener, NULL, NULL);
        if (conn < 0)
            continue; /* EAGAIN: the client gave up meanwhile; or a transient error */
        set_blocking(conn, 1);
        pthread_t thread;
        int err = pthread_create(&thread, &attr, serve, (void *)(intptr_t)conn);
        if (err != 0) { /* out of threads: turn this client away, serve the next */
            fail(EXIT_ERROR, "cannot serve a client: pthread_create: %s", strerror(err));
            close(conn);
        }
    }
    pthread_attr_destroy(&attr);
    close(listener);
    return status;
}

/* --- the client -------------------------------------------------------------------------- */

static long long now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* One call: its id, when its reply is due, and the reply once it has come. */
struct call {
    uint32_t id;
    long long due;
    int answered;
    struct bytes reply; /* the status byte, then the result */
};

struct calls {
    struct call *at;
    size_t n, cap;
    size_t printed; /* calls [0, printed) are printed and freed */
};

static struct call *new_call(struct calls *c, uint32_t id, long long due)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 64;
        struct call *at = realloc(c->at, cap * sizeof *at);
        if (at == NULL)
            return NULL;
        c->at = at;
        c->cap = cap;
    }
    struct call *call = &c->at[c->n++];
    memset(call, 0, sizeof *call);
    call->id = id;
    call->due = due;
    return call;
}

/* Print the answered calls at the head, in call order; -1 if stdout fails. */
static int print_ready(struct calls *c, int *errors)
{
    static const char ok[] = "ok ", error[] = "error ";
    while (c->printed < c->n && c->at[c->printed].answered) {
        struct call *call = &c->at[c->printed++];
        int good = call->reply.data[0] == STATUS_OK;
        *errors += !good;
        struct bytes line = {0}; /* one write(2) per line */
        if (bytes_append(&line, good ? ok : error, good ? sizeof ok - 1 : sizeof error - 1) < 0 ||
            bytes_append(&line, call->reply.data + 1, call->reply.len - 1) < 0 || bytes_append(&line, "\n", 1) < 0)
            return -1;
        int failed = write_all(STDOUT_FILENO, line.data, line.len);
        bytes_free(&line);
        bytes_free(&call->reply);
        if (failed < 0)
            return -1;
    }
    return 0;
}

static int client(const char *host, long port, long timeout_ms, uint32_t next_id)
{
    struct addrinfo *ai = resolve(host, port, 0);
    if (ai == NULL)
        return EXIT_ERROR;
    int sock = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
    if (sock < 0) {
        freeaddrinfo(ai);
        return fail(EXIT_ERROR, "socket: %s", strerror(errno));
    }
    int connected = connect(sock, ai->ai_addr, ai->ai_addrlen);
    int err = errno;
    freeaddrinfo(ai);
    if (connected < 0) {
        close(sock);
        if (err == ECONNREFUSED)
            return fail(EXIT_ERROR, "connection refused by %s:%ld", host, port);
        return fail(EXIT_ERROR, "cannot connect to %s:%ld: %s", host, port, strerror(err));
    }
    struct calls calls = {0};
    struct bytes lines = {0}, replies = {0}, out = {0};
    static unsigned char buf[CHUNK];
    int stdin_open = 1, errors = 0, status = -1;
    size_t waiting = 0;
    while (status < 0 && (stdin_open || waiting > 0)) {
        /* the nearest deadline among the calls still waiting */
        long long due = -1;
        uint32_t late = 0;
        for (size_t i = calls.printed; i < calls.n; i++)
            if (!calls.at[i].answered && (due < 0 || calls.at[i].due < due)) {
                due = calls.at[i].due;
                late = calls.at[i].id;
            }
        long long left = due < 0 ? -1 : due - now_ms();
        if (due >= 0 && left <= 0) {
            status = fail(EXIT_TIMEOUT, "timeout: no reply to call %lu within %ld ms", (unsigned long)late, timeout_ms);
            break;
        }
        struct pollfd fds[2] = {{sock, POLLIN, 0}, {stdin_open ? STDIN_FILENO : -1, POLLIN, 0}};
        int ready = poll(fds, 2, left < 0 ? -1 : (int)left);
        if (ready < 0) {
            if (errno == EINTR)
                continue;
            status = fail(EXIT_ERROR, "poll: %s", strerror(errno));
            break;
        }
        if (fds[1].revents) { /* lines: each sent at once, without waiting for earlier replies */
            ssize_t n = read_some(STDIN_FILENO, buf, sizeof buf);
            if (n < 0) {
                status = fail(EXIT_ERROR, "reading stdin: %s", strerror(errno));
                break;
            }
            if (n == 0) {
                stdin_open = 0;
                if (lines.len > 0) /* a last line without its newline is a call too */
                    bytes_append(&lines, "\n", 1);
            } else if (bytes_append(&lines, buf, (size_t)n) < 0) {
                status = fail(EXIT_ERROR, "out of memory");
                break;
            }
            unsigned char *nl;
            while (status < 0 && (nl = memchr(lines.data, '\n', lines.len)) != NULL && (size_t)(nl - lines.data) <= MAX_BODY) {
                size_t len = (size_t)(nl - lines.data);
                struct call *call = new_call(&calls, next_id++, now_ms() + timeout_ms); /* ids wrap modulo 2^32 */
                out.len = 0;
                if (call == NULL || put_record(&out, call->id, NULL, 0, lines.data, len) < 0) {
                    status = fail(EXIT_ERROR, "out of memory");
                    break;
                }
                waiting++;
                consume(&lines, len + 1);
                if (write_all(sock, out.data, out.len) < 0)
                    status = fail(EXIT_ERROR, "connection closed by the server: %s", strerror(errno));
            }
        }
        if (status < 0 && fds[0].revents) { /* replies, matched to their calls by id */
            ssize_t n = read_some(sock, buf, sizeof buf);
            if (n < 0) {
                status = fail(EXIT_ERROR, "connection closed by the server: %s", strerror(errno));
                break;
            }
            if (n == 0) { /* the server has gone: no reply will ever come */
                status = fail(EXIT_ERROR, "connection closed by the server with %zu call(s) unanswered", waiting);
                break;
            }
            if (bytes_append(&replies, buf, (size_t)n) < 0) {
                status = fail(EXIT_ERROR, "out of memory");
                break;
            }
            uint32_t id;
            const unsigned char *payload;
            size_t len, used;
            int got;
            while ((got = take_record(&replies, 5, &id, &payload, &len, &used)) == 1) {
                for (size_t i = calls.printed; i < calls.n; i++) {
                    struct call *call = &calls.at[i];
                    if (!call->answered && call->id == id) { /* by id, not by arrival order */
                        if (bytes_append(&call->reply, payload, len) < 0)
                            status = fail(EXIT_ERROR, "out of memory");
                        call->answered = 1;
                        waiting--;
                        break;
                    }
                } /* no call waits for it: a late duplicate, ignored */
                consume(&replies, used);
            }
            if (got < 0)
                status = fail(EXIT_ERROR, "protocol error: a reply whose LENGTH is out of bounds");
        }
        if (print_ready(&calls, &errors) < 0 && status < 0)
            status = fail(EXIT_ERROR, "writing stdout: %s", errno == EPIPE ? "broken pipe" : strerror(errno));
        if (status < 0 && lines.len > MAX_BODY) /* a line no request can carry: none of it is sent */
            status = fail(EXIT_TOO_LONG, "message too long");
    }
    if (status < 0)
        status = errors ? EXIT_ERROR_REPLY : EXIT_OK;
    for (size_t i = calls.printed; i < calls.n; i++)
        bytes_free(&calls.at[i].reply);
    free(calls.at);
    bytes_free(&lines);
    bytes_free(&replies);
    bytes_free(&out);
    close(sock);
    return status;
}

/* --- command line ------------------------------------------------------------------------ */

static int usage(const char *reason, const char *what)
{
    return fail(EXIT_USAGE, "%s%s\n" USAGE, reason, what);
}

int main(int argc, char **argv)
{
    progname = "rpc";
    /* never die of SIGPIPE on a connection the peer closed: get EPIPE instead */
    signal(SIGPIPE, SIG_IGN);
    const char *role = argc >= 2 ? argv[1] : "";
    int n = argc >= 2 ? argc - 2 : 0;
    char **args = argv + (argc >= 2 ? 2 : argc);
    char *words[2];
    int n_words;
    long port = 0;
    if (strcmp(role, "server") == 0) {
        struct option options[] = {{"--host", 1, 0, NULL}, {"--port", 1, 0, NULL}};
        const char *reason = split_args(n, args, options, 2, words, 2, &n_words);
        if (reason != NULL)
            return usage(reason, "");
        if (n_words != 0)
            return usage("unexpected ", words[0]);
        if (options[1].given && parse_digits(options[1].value, 0, 65535, &port) < 0)
            return usage("bad port (expected 0 to 65535): ", options[1].value);
        handle_stop_signals();
        return server(options[0].given ? options[0].value : "127.0.0.1", port);
    }
    if (strcmp(role, "client") == 0) {
        struct option options[] = {{"--timeout", 1, 0, NULL}, {"--id", 1, 0, NULL}};
        const char *reason = split_args(n, args, options, 2, words, 2, &n_words);
        if (reason != NULL)
            return usage(reason, "");
        if (n_words != 2)
            return usage(role, " takes HOST PORT");
        if (parse_digits(words[1], 1, 65535, &port) < 0)
            return usage("bad port (expected 1 to 65535): ", words[1]);
        long timeout_ms = DEFAULT_TIMEOUT_MS, first_id = 1;
        if (options[0].given && parse_digits(options[0].value, 1, 3600000, &timeout_ms) < 0)
            return usage("bad timeout (expected 1 to 3600000 ms): ", options[0].value);
        if (options[1].given && parse_digits(options[1].value, 0, 4294967295L, &first_id) < 0)
            return usage("bad id (expected 0 to 4294967295): ", options[1].value);
        return client(words[0], port, timeout_ms, (uint32_t)first_id);
    }
    return usage("unknown role ", role);
}
