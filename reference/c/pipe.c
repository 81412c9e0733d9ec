/*
 * pipe: anonymous pipes between a parent and its child (CONTRACT.md, section 3.1).
 *
 *     pipe relay    the parent copies stdin into one pipe, the child copies it to stdout
 *     pipe duplex   two pipes; the child answers each line in upper case
 *
 * The heart of it: each process closes the pipe ends it does not use, so the reader sees
 * end-of-file (read(2) returns 0) exactly when the writer closes its end (pipe(7)). A pipe
 * is bounded: a full pipe puts the writer to sleep in write(2) until the reader catches up.
 * pipe(2), fork(2), waitpid(2).
 */
#include "common.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHUNK (1 << 16)

/* Wait for child PID (again if a signal interrupts the wait); its exit status, or -1 if a
   signal killed it. */
static int wait_child(pid_t pid)
{
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            return -1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* --- pipe relay ----------------------------------------------------------------------- */

/* The child: copy the read end to stdout until end-of-file. */
static _Noreturn void relay_child(int read_end)
{
    static unsigned char buf[CHUNK];
    for (;;) {
        ssize_t n = read_some(read_end, buf, sizeof buf);
        if (n < 0)
            _exit(fail(EXIT_ERROR, "relay: reading the pipe: %s", strerror(errno)));
        if (n == 0)
            _exit(EXIT_OK); /* every write end is closed: the parent is done */
        if (write_all(STDOUT_FILENO, buf, (size_t)n) < 0)
            _exit(EXIT_ERROR); /* our stdout was closed: nobody to pass the data to */
    }
}

static int relay(void)
{
    int fds[2]; /* fds[0] is the read end, fds[1] the write end */
    if (pipe(fds) < 0)
        return fail(EXIT_ERROR, "relay: pipe: %s", strerror(errno));
    pid_t pid = fork();
    if (pid < 0)
        return fail(EXIT_ERROR, "relay: fork: %s", strerror(errno));
    if (pid == 0) {
        close(fds[1]); /* else the child holds a write end itself and never sees EOF */
        relay_child(fds[0]);
    }
    close(fds[0]); /* the parent only writes */

    /* Copy one bounded chunk at a time: when the pipe is full, write_all() sleeps in
       write(2) and we stop reading stdin, so back-pressure reaches whoever feeds us. */
    static unsigned char buf[CHUNK];
    for (;;) {
        ssize_t n = read_some(STDIN_FILENO, buf, sizeof buf);
        if (n < 0) {
            int err = errno;
            close(fds[1]);
            wait_child(pid);
            return fail(EXIT_ERROR, "relay: reading stdin: %s", strerror(err));
        }
        if (n == 0)
            break; /* end of stdin */
        if (write_all(fds[1], buf, (size_t)n) < 0) {
            int err = errno;
            close(fds[1]);
            wait_child(pid); /* no zombie left behind */
            if (err == EPIPE) /* SIGPIPE is ignored (main), so write(2) fails with EPIPE */
                return fail(EXIT_ERROR, "relay: broken pipe (the child ended before reading everything)");
            return fail(EXIT_ERROR, "relay: writing the pipe: %s", strerror(err));
        }
    }
    close(fds[1]); /* the child's read(2) now returns 0 */
    if (wait_child(pid) != 0)
        return fail(EXIT_ERROR, "relay: the child failed");
    return EXIT_OK;
}

/* --- pipe duplex ---------------------------------------------------------------------- */

/* The child: read a WHOLE line, then write its reply. Replying while the parent still writes
   a long line would fill both pipes, and both processes would wait for each other for ever. */
static _Noreturn void duplex_child(int from_parent, int to_parent)
{
    FILE *in = fdopen(from_parent, "r");
    if (in == NULL)
        _exit(fail(EXIT_ERROR, "duplex: fdopen: %s", strerror(errno)));
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, in)) > 0) { /* the line and its newline, NULs and all */
        for (ssize_t i = 0; i < len; i++)
            if (line[i] >= 'a' && line[i] <= 'z') /* ASCII only: every other byte unchanged */
                line[i] = (char)(line[i] - 'a' + 'A');
        if (write_all(to_parent, line, (size_t)len) < 0)
            _exit(EXIT_ERROR);
    }
    _exit(ferror(in) ? EXIT_ERROR : EXIT_OK); /* EOF: the parent closed its write end */
}

static int duplex(void)
{
    int down[2], up[2]; /* a pipe is one-way: one for each direction */
    if (pipe(down) < 0 || pipe(up) < 0)
        return fail(EXIT_ERROR, "duplex: pipe: %s", strerror(errno));
    pid_t pid = fork();
    if (pid < 0)
        return fail(EXIT_ERROR, "duplex: fork: %s", strerror(errno));
    if (pid == 0) {
        close(down[1]);
        close(up[0]);
        duplex_child(down[0], up[1]);
    }
    close(down[0]);
    close(up[1]);

    int status = EXIT_OK;
    char *line = NULL, *reply = NULL;
    size_t cap = 0, reply_cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, stdin)) > 0) {
        if (write_all(down[1], line, (size_t)len) < 0) {
            status = errno == EPIPE ? fail(EXIT_ERROR, "duplex: broken pipe")
                                    : fail(EXIT_ERROR, "duplex: writing the pipe: %s", strerror(errno));
            break;
        }
        if (line[len - 1] != '\n') { /* the last line: only EOF tells the child it ended */
            close(down[1]);
            down[1] = -1;
        }
        if ((size_t)len > reply_cap) {
            char *bigger = realloc(reply, (size_t)len);
            if (bigger == NULL) {
                status = fail(EXIT_ERROR, "duplex: out of memory for a %zd-byte line", len);
                break;
            }
            reply = bigger;
            reply_cap = (size_t)len;
        }
        /* The reply is exactly as long as the line: read all of it before the next line. */
        if (read_full(up[0], reply, (size_t)len) != len) {
            status = fail(EXIT_ERROR, "duplex: the child ended before it replied");
            break;
        }
        if (write_all(STDOUT_FILENO, reply, (size_t)len) < 0) {
            status = errno == EPIPE ? fail(EXIT_ERROR, "duplex: broken pipe")
                                    : fail(EXIT_ERROR, "duplex: writing stdout: %s", strerror(errno));
            break;
        }
    }
    if (status == EXIT_OK && ferror(stdin))
        status = fail(EXIT_ERROR, "duplex: reading stdin: %s", strerror(errno));
    free(line);
    free(reply);
    if (down[1] >= 0)
        close(down[1]); /* EOF for the child: it exits */
    close(up[0]);
    if (wait_child(pid) != 0 && status == EXIT_OK)
        status = fail(EXIT_ERROR, "duplex: the child failed");
    return status;
}

int main(int argc, char **argv)
{
    progname = "pipe";
    /* Without this, a write to a pipe whose reader is gone kills us with SIGPIPE; ignored,
       write(2) fails with EPIPE instead, and we report `broken pipe` (contract section 2). */
    signal(SIGPIPE, SIG_IGN);
    if (argc == 2 && strcmp(argv[1], "relay") == 0)
        return relay();
    if (argc == 2 && strcmp(argv[1], "duplex") == 0)
        return duplex();
    return fail(EXIT_USAGE, "usage: pipe relay | pipe duplex");
}
