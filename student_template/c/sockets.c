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
 * Every role answers `not implemented` (exit 69) until you write it: its specs score 0
 * without failing. Build with `make` (it links -pthread), grade with
 * `pytest --impl=. -k socket -x`.
 * Read: socket(7), tcp(7), udp(7), unix(7), getaddrinfo(3), socket(2), bind(2), listen(2),
 * accept(2), connect(2), shutdown(2), setsockopt(2), pthread_create(3).
 *
 * For every role: signal(SIGPIPE, SIG_IGN), so that sending to a peer that closed gives EPIPE
 * instead of killing you.
 */
#include "common.h"

#include <string.h>

#define USAGE                                                                             \
    "usage: socket tcp-server [--host H] [--port P] | socket tcp-client HOST PORT | "    \
    "socket udp-server [--host H] [--port P] | socket udp-client HOST PORT | "           \
    "socket unix-server PATH | socket unix-client PATH"

/*
 * socket tcp-server [--host H] [--port P]
 *
 * - getaddrinfo(host, port, SOCK_STREAM, AI_PASSIVE), socket(), setsockopt(SO_REUSEADDR) BEFORE
 *   bind() (a restarted server binds its port at once, socket.tcp-restart-same-port), listen().
 *   Port 0 means any free port: getsockname() tells which, and you print `listening PORT`
 *   (flushed).
 * - accept() in a loop and serve each client in its own thread (or process): one idle client
 *   must not hold up another (socket.tcp-concurrent-clients). Echo with recv/write_all until
 *   recv() returns 0, then close() that connection: a server that forgets leaks a descriptor
 *   per client (socket.tcp-many-clients-no-leak).
 * - Exit 0 on SIGTERM: a handler that sets a flag, with the signal blocked except inside the
 *   call that sleeps (pselect() with a mask), so that it cannot slip in between the check and
 *   the sleep.
 */
static int tcp_server(const char *host, long port)
{
    (void)host; /* remove these once you use them */
    (void)port;
    return not_implemented();
}

/*
 * socket tcp-client HOST PORT
 *
 * - getaddrinfo + socket + connect(); ECONNREFUSED: `connection refused`, exit 1.
 * - Send stdin and receive at the same time (a second thread sends, or poll() both): a client
 *   that sends 16 MiB before reading fills both directions' buffers and waits for ever
 *   (socket.tcp-large-payload).
 * - At the end of stdin, shutdown(sock, SHUT_WR), not close(): the server sees EOF and you still
 *   receive the rest of the echo. Copy everything to stdout until recv() returns 0; exit 0.
 * - A stream has no message boundaries: one recv() returns whatever has arrived.
 */
static int tcp_client(const char *host, long port)
{
    (void)host; /* remove these once you use them */
    (void)port;
    return not_implemented();
}

/*
 * socket udp-server [--host H] [--port P]
 *
 * - As tcp-server up to `listening PORT`, with SOCK_DGRAM and no listen/accept. Then
 *   recvfrom() one datagram (whole) and sendto() it back to the address it came from. Exit 0
 *   on SIGTERM.
 */
static int udp_server(const char *host, long port)
{
    (void)host; /* remove these once you use them */
    (void)port;
    return not_implemented();
}

/*
 * socket udp-client HOST PORT
 *
 * - Each line of stdin (without its newline) is one sendto(); each reply datagram is one line
 *   on stdout. No reply within 2 seconds (poll() with a timeout): `timeout`, exit 1.
 */
static int udp_client(const char *host, long port)
{
    (void)host; /* remove these once you use them */
    (void)port;
    return not_implemented();
}

/*
 * socket unix-server PATH
 *
 * - As tcp-server, with a struct sockaddr_un for PATH (AF_UNIX, SOCK_STREAM); print
 *   `listening PATH`.
 * - A socket file already at PATH that no server answers (connect gives ECONNREFUSED) is stale:
 *   unlink it first (socket.unix-stale-path). Remove PATH when SIGTERM ends you
 *   (socket.unix-cleanup).
 */
static int unix_server(const char *path)
{
    (void)path; /* remove once you use PATH */
    return not_implemented();
}

/*
 * socket unix-client PATH
 *
 * - As tcp-client, connecting to PATH.
 */
static int unix_client(const char *path)
{
    (void)path; /* remove once you use PATH */
    return not_implemented();
}

/* A port from the command line: 0 to 65535. 0, or -1. */
static int parse_port(const char *text, long *port)
{
    return parse_long(text, 0, 65535, port);
}

int main(int argc, char **argv)
{
    progname = "socket";
    const char *role = argc >= 2 ? argv[1] : "";
    int n = argc >= 2 ? argc - 2 : 0; /* the role's own arguments: args[0] ... */
    char **args = argv + 2;
    long port = 0;
    if (strcmp(role, "tcp-server") == 0 || strcmp(role, "udp-server") == 0) {
        const char *host = "127.0.0.1";
        for (int i = 0; i < n; i += 2) {
            if (i + 1 == n)
                return fail(EXIT_USAGE, "%s needs a value\n" USAGE, args[i]);
            if (strcmp(args[i], "--host") == 0)
                host = args[i + 1];
            else if (strcmp(args[i], "--port") != 0 || parse_port(args[i + 1], &port) < 0)
                return fail(EXIT_USAGE, "unexpected '%s %s'\n" USAGE, args[i], args[i + 1]);
        }
        return role[0] == 't' ? tcp_server(host, port) : udp_server(host, port);
    }
    if (strcmp(role, "tcp-client") == 0 || strcmp(role, "udp-client") == 0) {
        if (n != 2 || parse_port(args[1], &port) < 0)
            return fail(EXIT_USAGE, "%s takes HOST PORT\n" USAGE, role);
        return role[0] == 't' ? tcp_client(args[0], port) : udp_client(args[0], port);
    }
    if (strcmp(role, "unix-server") == 0 && n == 1)
        return unix_server(args[0]);
    if (strcmp(role, "unix-client") == 0 && n == 1)
        return unix_client(args[0]);
    return fail(EXIT_USAGE, USAGE);
}
