/*
 * common.c: the helpers of common.h.
 */
#include "common.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *progname = "ipc";

/* Format the message and write it with one write(2): stderr is unbuffered anyway, but one
   write keeps the line whole when several processes share the same stderr. */
static void vfail(const char *format, va_list ap)
{
    char line[4096];
    int n = snprintf(line, sizeof line, "%s: ", progname);
    if (n < 0 || (size_t)n >= sizeof line)
        n = 0;
    int m = vsnprintf(line + n, sizeof line - (size_t)n, format, ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 2)
        len = sizeof line - 2; /* cut a very long message short, and keep room for the newline */
    line[len++] = '\n';
    (void)write_all(STDERR_FILENO, line, len); /* if stderr fails too, there is nobody to tell */
}

int fail(int status, const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    vfail(format, ap);
    va_end(ap);
    return status;
}

_Noreturn void die(int status, const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    vfail(format, ap);
    va_end(ap);
    exit(status);
}

int not_implemented(void)
{
    static const char message[] = "not implemented\n";
    (void)write_all(STDERR_FILENO, message, sizeof message - 1);
    return EXIT_NOT_IMPLEMENTED;
}

int write_all(int fd, const void *buf, size_t len)
{
    const unsigned char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue; /* a signal came before anything was written: try again */
            return -1;
        }
        p += n; /* a partial write: the rest goes in the next round */
        len -= (size_t)n;
    }
    return 0;
}

int read_all(int fd, size_t limit, unsigned char **data, size_t *len)
{
    size_t cap = 0, used = 0;
    unsigned char *buf = NULL;
    while (used < limit) {
        if (used == cap) { /* full: double the buffer */
            size_t bigger = cap ? 2 * cap : 4096;
            if (bigger < cap) {
                errno = ENOMEM;
                break;
            }
            unsigned char *grown = realloc(buf, bigger);
            if (grown == NULL)
                break;
            buf = grown;
            cap = bigger;
        }
        size_t want = cap - used < limit - used ? cap - used : limit - used;
        ssize_t n = read(fd, buf + used, want);
        if (n < 0 && errno == EINTR)
            continue; /* interrupted by a signal: read again */
        if (n < 0)
            break;
        if (n == 0) { /* end of file: all of it is here */
            *data = buf;
            *len = used;
            return 0;
        }
        used += (size_t)n; /* read(2) returns what is there now: loop for the rest */
    }
    if (used >= limit) { /* the limit: what is held so far */
        *data = buf;
        *len = used;
        return 0;
    }
    int err = errno;
    free(buf);
    errno = err;
    return -1;
}

int parse_long(const char *text, long min, long max, long *out)
{
    const char *p = text;
    if (*p == '+' || *p == '-')
        p++;
    if (*p < '0' || *p > '9')
        return -1; /* empty, a space, or no digit after the sign */
    errno = 0;
    char *end;
    long value = strtol(text, &end, 10);
    if (errno == ERANGE || *end != '\0')
        return -1; /* too large for a long, or something after the digits */
    if (value < min || value > max)
        return -1;
    *out = value;
    return 0;
}
