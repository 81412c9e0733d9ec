/*
 * rpc: remote procedure calls over TCP (CONTRACT.md, section 3.9).
 *
 *     rpc server [--host H] [--port P]               serve add, echo, sleep and count
 *     rpc client HOST PORT [--timeout MS] [--id N]   each line of stdin is one call
 *
 * Every role answers `not implemented` (exit 69) until you write it: its specs score 0
 * without failing. Build with `make` (it links -pthread), grade with `pytest --impl=. -k rpc -x`.
 * Read: tcp(7), socket(2), bind(2), listen(2), accept(2), connect(2), poll(2), byteorder(3)
 * (htonl, ntohl), pthread_create(3), pthread_mutex_lock(3).
 *
 * The wire format: a request is LENGTH (4 bytes: the number of bytes after it), ID (4 bytes)
 * and BODY (`NAME` or `NAME ARGUMENT`); a reply is LENGTH, the request's ID, STATUS (1 byte: 0
 * ok, 1 no such procedure, 2 bad arguments) and the result. Every integer is BIG-endian
 * (htonl/ntohl), and LENGTH is at most 1 MiB. TCP is a byte stream: a record may come in
 * several recv() calls, and two in one; read exactly LENGTH bytes (a loop) before you use one.
 * Contract 2.1 settles the corners: `count ` (a trailing space) is `count`; any STATUS but 0 is
 * an error reply; a stdin line over 1048572 bytes exits 4 (`message too long`); `no such
 * procedure NAME` repeats at most 1024 bytes of NAME; a half-closed connection gets its replies.
 *
 * For both roles: signal(SIGPIPE, SIG_IGN), so that sending to a peer that closed gives EPIPE.
 */
#include "common.h"

#include <stdint.h>
#include <string.h>

#define USAGE "usage: rpc server [--host H] [--port P] | rpc client HOST PORT [--timeout MS] [--id N]"

/*
 * rpc server [--host H] [--port P]
 *
 * - As a TCP echo server (SO_REUSEADDR, bind, listen, `listening PORT`, a thread per
 *   connection): a `sleep` on one connection holds up no other (rpc.concurrent-clients).
 * - Each request gets one reply with its ID: `add A B` (64-bit, status 2 for anything else),
 *   `echo X`, `sleep MS` (0 to 60000), `count` (one counter for the whole server: guard it
 *   with a pthread mutex, but never hold a lock while a call sleeps); any other NAME: status 1,
 *   `no such procedure NAME`.
 * - At most once (rpc.at-most-once): remember, per connection, the replies to at least the last
 *   256 requests; a request with an ID already taken on that connection is a retry: send the
 *   first reply again, byte for byte, without executing the call again.
 * - Close a connection when its client closes it; exit 0 on SIGTERM (a flag set by a handler,
 *   the signal unblocked only inside pselect/ppoll).
 */
static int server(const char *host, long port)
{
    (void)host; /* remove these once you use them */
    (void)port;
    return not_implemented();
}

/*
 * rpc client HOST PORT [--timeout MS] [--id N]
 *
 * - connect(); ECONNREFUSED: `connection refused`, exit 1.
 * - Send each line of stdin as a call as soon as it is read, WITHOUT waiting for earlier replies;
 *   the ids are N, N+1, ... (uint32_t wraps around by itself).
 * - Match each reply to its call by ID, whatever order they come in, and print `ok RESULT` or
 *   `error MESSAGE`, one line per call in the order of the calls (flushed). A reply with an ID
 *   no call waits for is ignored.
 * - Wait with poll() on stdin and the socket, with a timeout: a call unanswered MS ms after it
 *   was sent ends the client with `timeout` on stderr, exit 6. recv() returning 0 means the
 *   server closed the connection: `connection closed`, exit 1, at once.
 * - At the end of stdin, wait for the calls still open, close, and exit 0, or 5 if any reply was
 *   an error.
 */
static int client(const char *host, long port, long timeout_ms, uint32_t first_id)
{
    (void)host; /* remove these once you use them */
    (void)port;
    (void)timeout_ms;
    (void)first_id;
    return not_implemented();
}

int main(int argc, char **argv)
{
    progname = "rpc";
    const char *role = argc >= 2 ? argv[1] : "";
    int is_server = strcmp(role, "server") == 0;
    if (!is_server && strcmp(role, "client") != 0)
        return fail(EXIT_USAGE, USAGE);
    const char *words[2]; /* the client's HOST and PORT */
    int n_words = 0;
    const char *host = "127.0.0.1";
    long port = 0, timeout_ms = 5000, first_id = 1;
    for (int i = 2; i < argc; i++) {
        const char *option = argv[i];
        if (strncmp(option, "--", 2) != 0) {
            if (is_server || n_words == 2)
                return fail(EXIT_USAGE, "unexpected '%s'\n" USAGE, option);
            words[n_words++] = option;
            continue;
        }
        if (i + 1 == argc)
            return fail(EXIT_USAGE, "%s needs a value\n" USAGE, option);
        const char *value = argv[++i];
        int bad = 0;
        if (is_server && strcmp(option, "--host") == 0)
            host = value;
        else if (is_server && strcmp(option, "--port") == 0)
            bad = parse_long(value, 0, 65535, &port) < 0;
        else if (!is_server && strcmp(option, "--timeout") == 0)
            bad = parse_long(value, 1, 3600000, &timeout_ms) < 0;
        else if (!is_server && strcmp(option, "--id") == 0)
            bad = parse_long(value, 0, 4294967295L, &first_id) < 0;
        else
            bad = 1;
        if (bad)
            return fail(EXIT_USAGE, "unexpected '%s %s'\n" USAGE, option, value);
    }
    if (is_server)
        return server(host, port);
    if (n_words != 2 || parse_long(words[1], 1, 65535, &port) < 0) /* the client's PORT: 1 to 65535 */
        return fail(EXIT_USAGE, "client takes HOST PORT\n" USAGE);
    return client(words[0], port, timeout_ms, (uint32_t)first_id);
}
