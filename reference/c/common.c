/*
 * common.c: the helpers every program of the C reference shares (see common.h).
 */
#include "common.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *progname = "ipc";

/* Room for a reason and a usage line; a longer message is cut short, never overflows. */
#define LINE_MAX_BYTES 8192

/* Format "PREFIX<message>\n" into LINE; its length. */
static size_t format_line(char *line, size_t size, const char *prefix, const char *format, va_list ap)
{
    int n = snprintf(line, size, "%s", prefix);
    if (n < 0)
        n = 0;
    size_t used = (size_t)n < size ? (size_t)n : size - 1;
    int m = vsnprintf(line + used, size - used, format, ap);
    if (m > 0)
        used += (size_t)m < size - used ? (size_t)m : size - used - 1;
    if (used >= size - 1)
        used = size - 2; /* keep room for the newline */
    line[used++] = '\n';
    line[used] = '\0';
    return used;
}

static void vfail(const char *format, va_list ap)
{
    char prefix[64];
    char line[LINE_MAX_BYTES];
    snprintf(prefix, sizeof prefix, "%s: ", progname);
    size_t len = format_line(line, sizeof line, prefix, format, ap);
    (void)write_all(STDERR_FILENO, line, len); /* nothing more to do if stderr fails too */
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

int say(const char *format, ...)
{
    char line[LINE_MAX_BYTES];
    va_list ap;
    va_start(ap, format);
    size_t len = format_line(line, sizeof line, "", format, ap);
    va_end(ap);
    return write_all(STDOUT_FILENO, line, len);
}

int write_all(int fd, const void *buf, size_t len)
{
    const unsigned char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue; /* interrupted before anything was written: try again */
            return -1;
        }
        p += n; /* a partial write: the rest goes in the next call */
        len -= (size_t)n;
    }
    return 0;
}

ssize_t read_some(int fd, void *buf, size_t len)
{
    for (;;) {
        ssize_t n = read(fd, buf, len);
        if (n >= 0 || errno != EINTR)
            return n;
    }
}

ssize_t read_full(int fd, void *buf, size_t len)
{
    unsigned char *p = buf;
    size_t got = 0;
    while (got < len) {
        ssize_t n = read_some(fd, p + got, len - got);
        if (n < 0)
            return -1;
        if (n == 0)
            break; /* end of file before LEN bytes */
        got += (size_t)n;
    }
    return (ssize_t)got;
}

/* Make room for EXTRA more bytes in B. */
static int bytes_reserve(struct bytes *b, size_t extra)
{
    if (extra <= b->cap - b->len)
        return 0;
    if (extra > SIZE_MAX - b->len) {
        errno = ENOMEM;
        return -1;
    }
    size_t cap = b->cap ? b->cap : 4096;
    while (cap - b->len < extra) {
        if (cap > SIZE_MAX / 2) {
            cap = b->len + extra;
            break;
        }
        cap *= 2;
    }
    unsigned char *data = realloc(b->data, cap);
    if (data == NULL)
        return -1;
    b->data = data;
    b->cap = cap;
    return 0;
}

int bytes_append(struct bytes *b, const void *data, size_t len)
{
    if (bytes_reserve(b, len) < 0)
        return -1;
    if (len > 0)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    return 0;
}

void bytes_free(struct bytes *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

int read_all(int fd, struct bytes *b, size_t limit)
{
    enum { CHUNK = 1 << 16 };
    while (b->len < limit) {
        size_t want = limit - b->len < CHUNK ? limit - b->len : CHUNK;
        if (bytes_reserve(b, want) < 0)
            return -1;
        ssize_t n = read_some(fd, b->data + b->len, want);
        if (n < 0)
            return -1;
        if (n == 0)
            return 0; /* end of file */
        b->len += (size_t)n;
    }
    return 0;
}

int parse_long(const char *text, long min, long max, long *out)
{
    const char *p = text;
    if (*p == '+' || *p == '-')
        p++;
    if (*p < '0' || *p > '9')
        return -1; /* strtol would skip spaces and accept an empty number: we do not */
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

int parse_digits(const char *text, long min, long max, long *out)
{
    if (*text < '0' || *text > '9')
        return -1;
    return parse_long(text, min, max, out);
}

int is_posix_name(const char *name)
{
    return name[0] == '/' && name[1] != '\0' && strchr(name + 1, '/') == NULL;
}

const char *split_args(int argc, char **argv, struct option *options, size_t n_options,
                       char **words, int max_words, int *n_words)
{
    static char reason[256];
    *n_words = 0;
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        struct option *option = NULL;
        for (size_t k = 0; k < n_options; k++)
            if (strcmp(arg, options[k].name) == 0)
                option = &options[k];
        if (option != NULL) {
            option->given = 1;
            if (option->takes_value) {
                if (i + 1 == argc) {
                    snprintf(reason, sizeof reason, "%s needs a value", arg);
                    return reason;
                }
                option->value = argv[++i];
            }
        } else if (strncmp(arg, "--", 2) == 0) {
            snprintf(reason, sizeof reason, "unknown option %s", arg);
            return reason;
        } else {
            if (*n_words < max_words)
                words[*n_words] = argv[i];
            ++*n_words;
        }
    }
    return NULL;
}

uint32_t load_le32(const void *p)
{
    const unsigned char *b = p;
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

void store_le32(void *p, uint32_t value)
{
    unsigned char *b = p;
    for (int i = 0; i < 4; i++)
        b[i] = (unsigned char)(value >> (8 * i));
}

uint64_t load_le64(const void *p)
{
    const unsigned char *b = p;
    return (uint64_t)load_le32(b) | (uint64_t)load_le32(b + 4) << 32;
}

void store_le64(void *p, uint64_t value)
{
    unsigned char *b = p;
    store_le32(b, (uint32_t)value);
    store_le32(b + 4, (uint32_t)(value >> 32));
}
