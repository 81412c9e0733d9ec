/*
 * socket: TCP, UDP and Unix-domain sockets (CONTRACT.md, section 3.8).
 *
 *     socket tcp-server [--host H] [--port P]   echo server; prints `listening PORT`
 *     socket tcp-client HOST PORT               stdin -> server, server -> stdout
 *     socket udp-server [--host H] [--port P]   echoes each datagram to its sender
 *     socket udp-client HOST PORT               one datagram per line, one line per reply
 *     socket unix-server PATH                   as tcp-server, on a Unix stream socket at PATH
 *     socket unix-client PATH                   as tcp-client, to the server at PATH
 *
 * Unlike every other IPC here, a socket is an endpoint named by an address and a port, so the
 * peer may be on another machine (socket(7), tcp(7), udp(7), unix(7)). The habits that make
 * it work:
 *
 * - A stream has no message boundaries: one recv(2) returns whatever has arrived, so read
 *   until recv returns 0 (the peer's EOF), and loop on send until every byte is out.
 * - Send and receive at the same time: a client that sends everything before it reads stops
 *   once the socket buffers fill in both directions. Our client sends from a second thread.
 * - Half-close with shutdown(SHUT_WR) to tell the peer "no more data" while still reading.
 * - A server serves each client in its own thread, and closes each connection when it is done.
 * - SO_REUSEADDR lets a restarted server bind its port while old connections linger.
 * - A datagram is a message: one sendto(2) is one recvfrom(2), never merged or split.
 *
 * A server ends on SIGTERM (or SIGINT, SIGHUP) with exit status 0. The signals stay blocked,
 * except while the main thread sleeps in pselect(2), which unblocks them and waits in one
 * atomic step (as sigsuspend does): a signal is never missed between checking the flag its
 * handler sets and going to sleep. getaddrinfo(3), bind(2), listen(2), accept(2), connect(2),
 * shutdown(2), setsockopt(2), pthread_create(3).
 */
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (1 << 16)
#define BACKLOG 128
#define UDP_TIMEOUT_MS 2000     /* how long the UDP client waits for each reply */
#define MAX_DATAGRAM (1 << 16)  /* larger than any UDP datagram (IPv4: 65507 bytes) */
#define THREAD_STACK (256 << 10)

#define USAGE                                                                             \
    "usage: socket tcp-server [--host H] [--port P] | socket tcp-client HOST PORT | "    \
    "socket udp-server [--host H] [--port P] | socket udp-client HOST PORT | "           \
    "socket unix-server PATH | socket unix-client PATH"

/* --- ending a server on SIGTERM ---------------------------------------------------------- */

static volatile sig_atomic_t stop_requested = 0;

/* The handler: async-signal-safe, it only sets the flag. */
static void on_stop(int sig)
{
    (void)sig;
    stop_requested = 1;
}

/* The signal mask the main thread waits with: the usual one, with the stop signals open. */
static sigset_t wait_mask;

/* Block SIGTERM, SIGINT and SIGHUP and handle them with on_stop(). Call it before any thread
   is created: threads inherit the mask, so only the main thread, inside pselect, takes them. */
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

/* Sleep until FD can be read (1), or a stop signal has come (0); -1 on error. */
static int wait_readable(int fd)
{
    for (;;) {
        if (stop_requested) /* safe: the stop signals are blocked here, so none slips by */
            return 0;
        fd_set readable;
        FD_ZERO(&readable);
        FD_SET(fd, &readable);
        int n = pselect(fd + 1, &readable, NULL, NULL, NULL, &wait_mask);
        if (n > 0)
            return 1;
        if (n < 0 && errno != EINTR) /* EINTR: a handler ran; check the flag again */
            return -1;
    }
}

/* --- addresses and sockets --------------------------------------------------------------- */

/* The first address of HOST and PORT for sockets of TYPE (IPv4 or IPv6, a name or a literal
   address); NULL after printing why. Free it with freeaddrinfo(). */
static struct addrinfo *resolve(const char *host, long port, int type, int passive)
{
    struct addrinfo hints, *found;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = type;
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

/* The port a bound socket FD got (the actual one, when it asked for port 0). */
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

/* A socket of TYPE bound to HOST:PORT with SO_REUSEADDR; -1 after printing why. */
static int bound_socket(const char *host, long port, int type)
{
    struct addrinfo *ai = resolve(host, port, type, 1);
    if (ai == NULL)
        return -1;
    int fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
    if (fd < 0) {
        fail(EXIT_ERROR, "socket: %s", strerror(errno));
        freeaddrinfo(ai);
        return -1;
    }
    /* without it, bind fails with EADDRINUSE while the last run's connections linger */
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
        fail(EXIT_ERROR, "cannot bind %s:%ld: %s", host, port, strerror(errno));
        close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    return fd;
}

static int set_blocking(int fd, int blocking)
{
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0)
        return -1;
    flags = blocking ? flags & ~O_NONBLOCK : flags | O_NONBLOCK;
    return fcntl(fd, F_SETFL, flags);
}

/* A Unix-domain socket address for PATH; 0, or -1 after printing why. */
static int unix_address(const char *path, struct sockaddr_un *addr)
{
    memset(addr, 0, sizeof *addr);
    addr->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof addr->sun_path) {
        fail(EXIT_ERROR, "the socket path %s is too long (at most %zu bytes)", path, sizeof addr->sun_path - 1);
        return -1;
    }
    strcpy(addr->sun_path, path);
    return 0;
}

/* --- stream servers (TCP and Unix) ------------------------------------------------------- */

/* One client's thread: echo everything it sends until its EOF, then close the connection.
   Closing is what keeps a long-running server from leaking a descriptor per client. */
static void *echo(void *arg)
{
    int conn = (int)(intptr_t)arg;
    unsigned char buf[CHUNK]; /* on this thread's own stack */
    for (;;) {
        ssize_t n = read_some(conn, buf, sizeof buf);
        if (n <= 0) /* 0: the client's EOF, it has sent everything; < 0: it reset */
            break;
        if (write_all(conn, buf, (size_t)n) < 0) /* sleeps while the client does not read */
            break;
    }
    close(conn);
    return NULL;
}

/* Accept clients until a stop signal, each served by its own thread, so one idle client
   blocks no other. EXIT_OK at the stop signal. */
static int serve_stream(int listener)
{
    /* accept only once pselect says a client is there; non-blocking, so that a client that
       gave up meanwhile cannot put us to sleep in accept, where no stop signal reaches us */
    if (set_blocking(listener, 0) < 0)
        return fail(EXIT_ERROR, "fcntl: %s", strerror(errno));
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED); /* nobody joins them */
    pthread_attr_setstacksize(&attr, THREAD_STACK);
    int status = EXIT_OK;
    for (;;) {
        int ready = wait_readable(listener);
        if (ready == 0)
            break; /* SIGTERM: exit 0 */
        if (ready < 0) {
            status = fail(EXIT_ERROR, "pselect: %s", strerror(errno));
            break;
        }
        int conn = accept(listener, NULL, NULL);
        if (conn < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
                continue; /* nobody after all */
            status = fail(EXIT_ERROR, "accept: %s", strerror(errno));
            break;
        }
        set_blocking(conn, 1); /* the client's thread sleeps in recv and send */
        pthread_t thread;
        int err = pthread_create(&thread, &attr, echo, (void *)(intptr_t)conn);
        if (err != 0) { /* out of threads: turn this client away, serve the next */
            fail(EXIT_ERROR, "cannot serve a client: pthread_create: %s", strerror(err));
            close(conn);
        }
    }
    pthread_attr_destroy(&attr);
    return status;
}

static int tcp_server(const char *host, long port)
{
    int listener = bound_socket(host, port, SOCK_STREAM);
    if (listener < 0)
        return EXIT_ERROR;
    if (listen(listener, BACKLOG) < 0)
        return fail(EXIT_ERROR, "listen: %s", strerror(errno));
    if (say("listening %d", local_port(listener)) < 0)
        return fail(EXIT_ERROR, "writing stdout: %s", strerror(errno));
    int status = serve_stream(listener);
    close(listener);
    return status;
}

/* Remove a socket file at PATH that no server listens on; refuse anything else there.
   0, or -1 after printing why. */
static int remove_stale(const char *path, const struct sockaddr_un *addr)
{
    struct stat st;
    if (lstat(path, &st) < 0) {
        if (errno == ENOENT)
            return 0; /* nothing there */
        fail(EXIT_ERROR, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (!S_ISSOCK(st.st_mode)) {
        fail(EXIT_ERROR, "%s exists and is not a socket; not replacing it", path);
        return -1;
    }
    int probe = socket(AF_UNIX, SOCK_STREAM, 0);
    if (probe < 0) {
        fail(EXIT_ERROR, "socket: %s", strerror(errno));
        return -1;
    }
    int connected = connect(probe, (const struct sockaddr *)addr, sizeof *addr);
    int err = errno;
    close(probe);
    if (connected == 0) {
        fail(EXIT_ERROR, "another server is listening at %s", path);
        return -1;
    }
    if (err != ECONNREFUSED) {
        fail(EXIT_ERROR, "cannot check the socket at %s: %s", path, strerror(err));
        return -1;
    }
    unlink(path); /* refused: nobody listens, a stale file from a server that died */
    return 0;
}

static int unix_server(const char *path)
{
    struct sockaddr_un addr;
    if (unix_address(path, &addr) < 0 || remove_stale(path, &addr) < 0)
        return EXIT_ERROR;
    int listener = socket(AF_UNIX, SOCK_STREAM, 0);
    if (listener < 0)
        return fail(EXIT_ERROR, "socket: %s", strerror(errno));
    if (bind(listener, (struct sockaddr *)&addr, sizeof addr) < 0)
        return fail(EXIT_ERROR, "cannot bind %s: %s", path, strerror(errno));
    struct stat st;
    ino_t bound = lstat(path, &st) == 0 ? st.st_ino : 0;
    int status;
    if (listen(listener, BACKLOG) < 0)
        status = fail(EXIT_ERROR, "listen: %s", strerror(errno));
    else if (say("listening %s", path) < 0)
        status = fail(EXIT_ERROR, "writing stdout: %s", strerror(errno));
    else
        status = serve_stream(listener);
    close(listener);
    /* on SIGTERM too: leave no socket file behind (only our own, never a successor's) */
    if (lstat(path, &st) == 0 && st.st_ino == bound)
        unlink(path);
    return status;
}

/* --- stream clients ---------------------------------------------------------------------- */

/* The sending half of a client: stdin into the socket, then a half-close. */
struct sender {
    int sock;
    int err;  /* errno of what failed, or 0 */
    int done; /* set when the thread has finished; guarded by lock */
    pthread_mutex_t lock;
};

static void *send_stdin(void *arg)
{
    struct sender *s = arg;
    static unsigned char buf[CHUNK];
    int err = 0;
    for (;;) {
        ssize_t n = read_some(STDIN_FILENO, buf, sizeof buf);
        if (n < 0) {
            err = errno;
            break;
        }
        if (n == 0) { /* EOF for the server; we still read its replies */
            if (shutdown(s->sock, SHUT_WR) < 0)
                err = errno;
            break;
        }
        if (write_all(s->sock, buf, (size_t)n) < 0) { /* loops until every byte is out */
            err = errno;
            break;
        }
    }
    pthread_mutex_lock(&s->lock);
    s->err = err;
    s->done = 1;
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

/* Send stdin from a second thread while this one copies the replies to stdout. Sending and
   receiving at once is what lets a payload of any size through: the server echoes while we
   still send, and somebody must read those echoes meanwhile. */
static int stream_client(int sock)
{
    struct sender s = {sock, 0, 0, PTHREAD_MUTEX_INITIALIZER};
    pthread_t thread;
    int err = pthread_create(&thread, NULL, send_stdin, &s);
    if (err != 0)
        return fail(EXIT_ERROR, "pthread_create: %s", strerror(err));
    static unsigned char buf[CHUNK];
    for (;;) {
        ssize_t n = read_some(sock, buf, sizeof buf);
        if (n < 0)
            return fail(EXIT_ERROR, "receiving failed: %s", strerror(errno));
        if (n == 0)
            break; /* the server closed its side: everything has come back */
        if (write_all(STDOUT_FILENO, buf, (size_t)n) < 0) {
            if (errno == EPIPE)
                return fail(EXIT_ERROR, "broken pipe: stdout was closed");
            return fail(EXIT_ERROR, "writing stdout: %s", strerror(errno));
        }
    }
    /* The server may end the connection while stdin is still open: do not wait for stdin
       then (returning from main ends the sending thread too). */
    pthread_mutex_lock(&s.lock);
    int done = s.done;
    err = s.err;
    pthread_mutex_unlock(&s.lock);
    if (!done)
        return EXIT_OK;
    pthread_join(thread, NULL);
    if (err != 0)
        return fail(EXIT_ERROR, "sending failed: %s", strerror(err));
    return EXIT_OK;
}

static int tcp_client(const char *host, long port)
{
    struct addrinfo *ai = resolve(host, port, SOCK_STREAM, 0);
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
    int status = stream_client(sock);
    close(sock);
    return status;
}

static int unix_client(const char *path)
{
    struct sockaddr_un addr;
    if (unix_address(path, &addr) < 0)
        return EXIT_ERROR;
    int sock = socket(AF_UNIX, SOCK_STREAM, 0);
    if (sock < 0)
        return fail(EXIT_ERROR, "socket: %s", strerror(errno));
    if (connect(sock, (struct sockaddr *)&addr, sizeof addr) < 0) {
        int err = errno;
        close(sock);
        if (err == ECONNREFUSED)
            return fail(EXIT_ERROR, "connection refused at %s", path);
        return fail(EXIT_ERROR, "cannot connect to %s: %s", path, strerror(err));
    }
    int status = stream_client(sock);
    close(sock);
    return status;
}

/* --- UDP --------------------------------------------------------------------------------- */

static int udp_server(const char *host, long port)
{
    int sock = bound_socket(host, port, SOCK_DGRAM);
    if (sock < 0)
        return EXIT_ERROR;
    if (say("listening %d", local_port(sock)) < 0)
        return fail(EXIT_ERROR, "writing stdout: %s", strerror(errno));
    set_blocking(sock, 0); /* recvfrom only once pselect says a datagram is there */
    static unsigned char buf[MAX_DATAGRAM];
    int status = EXIT_OK;
    for (;;) {
        int ready = wait_readable(sock);
        if (ready == 0)
            break; /* SIGTERM: exit 0 */
        if (ready < 0) {
            status = fail(EXIT_ERROR, "pselect: %s", strerror(errno));
            break;
        }
        struct sockaddr_storage sender;
        socklen_t len = sizeof sender;
        ssize_t n = recvfrom(sock, buf, sizeof buf, 0, (struct sockaddr *)&sender, &len); /* one datagram, whole */
        if (n < 0)
            continue; /* EAGAIN: gone after all; anything else concerns that datagram only */
        /* back to where it came from; if the sender is gone, serve the next one */
        (void)sendto(sock, buf, (size_t)n, 0, (struct sockaddr *)&sender, len);
    }
    close(sock);
    return status;
}

/* Milliseconds on a clock that never jumps. */
static long long now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Did the datagram from FROM come from the server at SERVER (same address and port)? */
static int same_peer(const struct sockaddr_storage *from, const struct sockaddr *server)
{
    if (from->ss_family != server->sa_family)
        return 0;
    if (server->sa_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)from, *b = (const struct sockaddr_in *)server;
        return a->sin_port == b->sin_port && a->sin_addr.s_addr == b->sin_addr.s_addr;
    }
    if (server->sa_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)from, *b = (const struct sockaddr_in6 *)server;
        return a->sin6_port == b->sin6_port && memcmp(&a->sin6_addr, &b->sin6_addr, sizeof a->sin6_addr) == 0;
    }
    return 0;
}

/* The next datagram from SERVER into BUF, waiting at most UDP_TIMEOUT_MS in all; its length,
   or -1 after printing why. */
static ssize_t receive_reply(int sock, const struct sockaddr *server, unsigned char *buf, size_t size)
{
    long long deadline = now_ms() + UDP_TIMEOUT_MS;
    for (;;) {
        long long left = deadline - now_ms();
        struct pollfd pfd = {sock, POLLIN, 0};
        int ready = left > 0 ? poll(&pfd, 1, (int)left) : 0;
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready < 0) {
            fail(EXIT_ERROR, "poll: %s", strerror(errno));
            return -1;
        }
        if (ready == 0) {
            fail(EXIT_ERROR, "timeout: no reply within %d seconds", UDP_TIMEOUT_MS / 1000);
            return -1;
        }
        struct sockaddr_storage from;
        socklen_t len = sizeof from;
        ssize_t n = recvfrom(sock, buf, size, 0, (struct sockaddr *)&from, &len);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            continue;
        if (n < 0) {
            fail(EXIT_ERROR, "receiving failed: %s", strerror(errno));
            return -1;
        }
        if (same_peer(&from, server))
            return n;
        /* a stray datagram from someone else: keep waiting for the server's */
    }
}

static int udp_client(const char *host, long port)
{
    struct addrinfo *ai = resolve(host, port, SOCK_DGRAM, 0);
    if (ai == NULL)
        return EXIT_ERROR;
    int sock = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
    if (sock < 0) {
        freeaddrinfo(ai);
        return fail(EXIT_ERROR, "socket: %s", strerror(errno));
    }
    set_blocking(sock, 0); /* recvfrom only after poll says a datagram is there */
    static unsigned char reply[MAX_DATAGRAM + 1]; /* a datagram and the newline we add */
    int status = EXIT_OK;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, stdin)) > 0) {
        if (line[len - 1] == '\n')
            len--;
        /* one line, one datagram */
        if (sendto(sock, line, (size_t)len, 0, ai->ai_addr, ai->ai_addrlen) < 0) {
            status = fail(EXIT_ERROR, "sending to %s:%ld failed: %s", host, port, strerror(errno));
            break;
        }
        ssize_t n = receive_reply(sock, ai->ai_addr, reply, MAX_DATAGRAM);
        if (n < 0) {
            status = EXIT_ERROR;
            break;
        }
        reply[n] = '\n'; /* one line per reply, written with one write(2) */
        if (write_all(STDOUT_FILENO, reply, (size_t)n + 1) < 0) {
            status = fail(EXIT_ERROR, "writing stdout: %s", errno == EPIPE ? "broken pipe" : strerror(errno));
            break;
        }
    }
    free(line);
    freeaddrinfo(ai);
    close(sock);
    return status;
}

/* --- command line ------------------------------------------------------------------------ */

static int usage(const char *reason, const char *what)
{
    return fail(EXIT_USAGE, "%s%s\n" USAGE, reason, what);
}

/* PORT from the command line: 0 to 65535. 0 and *OUT, or -1. */
static int port_number(const char *text, long *out)
{
    return parse_digits(text, 0, 65535, out);
}

int main(int argc, char **argv)
{
    progname = "socket";
    /* never die of SIGPIPE on a connection the peer closed: get EPIPE instead */
    signal(SIGPIPE, SIG_IGN);
    const char *role = argc >= 2 ? argv[1] : "";
    int n = argc >= 2 ? argc - 2 : 0;
    char **args = argv + (argc >= 2 ? 2 : argc);
    long port;
    if (strcmp(role, "tcp-server") == 0 || strcmp(role, "udp-server") == 0) {
        const char *host = "127.0.0.1";
        port = 0;
        for (int i = 0; i < n; i += 2) {
            if ((strcmp(args[i], "--host") != 0 && strcmp(args[i], "--port") != 0) || i + 1 == n)
                return usage("unexpected ", args[i]);
            if (strcmp(args[i], "--host") == 0)
                host = args[i + 1];
            else if (port_number(args[i + 1], &port) < 0)
                return usage("bad port (expected 0 to 65535): ", args[i + 1]);
        }
        handle_stop_signals();
        return role[0] == 't' ? tcp_server(host, port) : udp_server(host, port);
    }
    if (strcmp(role, "tcp-client") == 0 || strcmp(role, "udp-client") == 0) {
        if (n != 2)
            return usage(role, " takes HOST PORT");
        if (port_number(args[1], &port) < 0)
            return usage("bad port (expected 0 to 65535): ", args[1]);
        return role[0] == 't' ? tcp_client(args[0], port) : udp_client(args[0], port);
    }
    if (strcmp(role, "unix-server") == 0 || strcmp(role, "unix-client") == 0) {
        if (n != 1 || args[0][0] == '\0')
            return usage(role, " takes PATH");
        if (strcmp(role, "unix-server") == 0) {
            handle_stop_signals();
            return unix_server(args[0]);
        }
        return unix_client(args[0]);
    }
    return usage("unknown role ", role);
}
