/*
 * fifo: named pipes between unrelated processes (CONTRACT.md, section 3.2).
 *
 *     fifo write PATH   copy stdin into the FIFO at PATH, each line of at most PIPE_BUF
 *                       bytes in one write(2)
 *     fifo read PATH    copy the FIFO at PATH to stdout until end-of-file
 *
 * A FIFO is a pipe with a name in the file system (fifo(7)): any process that may open the
 * path joins it, so the two ends need not be parent and child. open(2) blocks until the other
 * end is opened too. The reader sees end-of-file once every writer has closed; a write of at
 * most PIPE_BUF bytes is atomic, so lines from several writers never interleave (pipe(7)).
 * mkfifo(3), open(2), stat(2).
 */
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#define FIFO_PIPE_BUF 4096 /* POSIX requires at least 512; Linux's PIPE_BUF is 4096 (pipe(7)) */
#define CHUNK (1 << 16)
#define MODE 0600

/* Create the FIFO at PATH (mode 0600) if nothing is there; NULL, or why PATH cannot be used. */
static const char *ensure_fifo(const char *path)
{
    static char problem[512];
    mode_t old = umask(0); /* the mode is exactly 0600, whatever umask we inherited */
    int made = mkfifo(path, MODE);
    int err = errno;
    umask(old);
    if (made < 0 && err != EEXIST) { /* EEXIST: reuse what is there, if it is a FIFO */
        snprintf(problem, sizeof problem, "cannot create the FIFO %s: %s", path, strerror(err));
        return problem;
    }
    struct stat st;
    if (stat(path, &st) < 0) {
        snprintf(problem, sizeof problem, "%s: %s", path, strerror(errno));
        return problem;
    }
    if (!S_ISFIFO(st.st_mode)) {
        snprintf(problem, sizeof problem, "%s exists and is not a FIFO; leaving it alone", path);
        return problem;
    }
    return NULL;
}

/* Open the FIFO at PATH with FLAGS (this blocks until the other end is opened); the
   descriptor, or -1 after printing why (as ROLE). */
static int open_fifo(const char *role, const char *path, int flags)
{
    const char *problem = ensure_fifo(path);
    if (problem != NULL) {
        fail(EXIT_ERROR, "%s: %s", role, problem);
        return -1;
    }
    /* Never O_CREAT or O_TRUNC, and never O_RDWR (a reader holding a write end itself never
       sees EOF). Should PATH be swapped for a regular file between the check above and this
       open, the file is still left untouched: the fstat below refuses it. */
    int fd;
    do
        fd = open(path, flags);
    while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        fail(EXIT_ERROR, "%s: cannot open %s: %s", role, path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISFIFO(st.st_mode)) {
        close(fd);
        fail(EXIT_ERROR, "%s: %s is not a FIFO; leaving it alone", role, path);
        return -1;
    }
    return fd;
}

/* Write PENDING's complete lines to FD, each line of at most PIPE_BUF bytes within one
   write(2); drop what was written from PENDING. 0, or -1 with errno.

   Whole lines are packed into writes of at most PIPE_BUF bytes (a write that small is atomic,
   so every line in it stays whole); a longer line cannot be atomic and goes out as it is. An
   unfinished last line stays in PENDING, unless it is already too long to matter. */
static int flush_lines(int fd, struct bytes *pending)
{
    unsigned char *data = pending->data;
    size_t start = 0;       /* where the next line begins */
    size_t batch_start = 0; /* where the bytes not yet written begin */
    for (;;) {
        unsigned char *newline = memchr(data + start, '\n', pending->len - start);
        if (newline == NULL)
            break;
        size_t end = (size_t)(newline - data) + 1;
        if (end - batch_start > FIFO_PIPE_BUF && start > batch_start) {
            /* this line does not fit in the batch: write the batch (<= PIPE_BUF bytes, so
               write_all makes exactly one write(2), which the kernel does atomically) */
            if (write_all(fd, data + batch_start, start - batch_start) < 0)
                return -1;
            batch_start = start;
        }
        if (end - start > FIFO_PIPE_BUF) { /* a long line on its own */
            if (write_all(fd, data + start, end - start) < 0)
                return -1;
            batch_start = end;
        }
        start = end;
    }
    if (start > batch_start && write_all(fd, data + batch_start, start - batch_start) < 0)
        return -1;
    size_t rest = pending->len - start;
    if (rest > FIFO_PIPE_BUF) { /* a line this long cannot be written atomically anyway */
        if (write_all(fd, data + start, rest) < 0)
            return -1;
        rest = 0;
    } else {
        memmove(data, data + start, rest);
    }
    pending->len = rest;
    return 0;
}

static int writer(const char *path)
{
    int fd = open_fifo("write", path, O_WRONLY); /* blocks until a reader opens the FIFO */
    if (fd < 0)
        return EXIT_ERROR;
    static unsigned char buf[CHUNK];
    struct bytes pending = {0};
    int status = EXIT_OK;
    for (;;) {
        ssize_t n = read_some(STDIN_FILENO, buf, sizeof buf);
        if (n < 0) {
            status = fail(EXIT_ERROR, "write: reading stdin: %s", strerror(errno));
            break;
        }
        if (n > 0 && bytes_append(&pending, buf, (size_t)n) < 0) {
            status = fail(EXIT_ERROR, "write: out of memory");
            break;
        }
        /* at EOF, the last line (without a newline) goes out as it is */
        if ((n > 0 ? flush_lines(fd, &pending) : write_all(fd, pending.data, pending.len)) < 0) {
            status = errno == EPIPE ? fail(EXIT_ERROR, "write: broken pipe (the reader went away)")
                                    : fail(EXIT_ERROR, "write: %s", strerror(errno));
            break;
        }
        if (n == 0)
            break;
    }
    bytes_free(&pending);
    close(fd);
    return status;
}

static int reader(const char *path)
{
    int fd = open_fifo("read", path, O_RDONLY); /* blocks until a writer opens the FIFO */
    if (fd < 0)
        return EXIT_ERROR;
    static unsigned char buf[CHUNK];
    int status = EXIT_OK;
    for (;;) {
        ssize_t n = read_some(fd, buf, sizeof buf); /* 0: every writer has closed its end */
        if (n < 0) {
            status = fail(EXIT_ERROR, "read: %s", strerror(errno));
            break;
        }
        if (n == 0)
            break;
        if (write_all(STDOUT_FILENO, buf, (size_t)n) < 0) {
            status = errno == EPIPE ? fail(EXIT_ERROR, "read: broken pipe on stdout")
                                    : fail(EXIT_ERROR, "read: writing stdout: %s", strerror(errno));
            break;
        }
    }
    close(fd);
    return status;
}

int main(int argc, char **argv)
{
    progname = "fifo";
    /* With no reader left, write(2) fails with EPIPE: report it rather than die of SIGPIPE. */
    signal(SIGPIPE, SIG_IGN);
    if (argc == 3 && strcmp(argv[1], "write") == 0)
        return writer(argv[2]);
    if (argc == 3 && strcmp(argv[1], "read") == 0)
        return reader(argv[2]);
    return fail(EXIT_USAGE, "usage: fifo write PATH | fifo read PATH");
}
