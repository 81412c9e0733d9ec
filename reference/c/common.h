/*
 * common.h: what every program of the C reference needs (CONTRACT.md, section 2).
 *
 *   - the contract's exit statuses;
 *   - fail() and die(): a one-line reason on stderr, then an exit status;
 *   - say(): one line on stdout, written at once with a single write(2);
 *   - write_all() and read_all(): whole buffers, whatever partial writes and reads happen;
 *   - parse_long(): strict decimal integers (no garbage, no overflow);
 *   - split_args(): positional words and --options of a role;
 *   - load/store of little-endian integers, for the shared-memory layouts.
 *
 * Why say() and not printf(): the grader reads our output on a pipe while we run, so a line
 * must not wait in a stdio buffer; and a buffer that is not flushed before fork(2) is
 * printed twice, once by each process. A line written with one write(2) has neither problem.
 * (printf + fflush(stdout), or setvbuf(stdout, NULL, _IOLBF, 0) once, would work too.)
 */
#ifndef IPC_COMMON_H
#define IPC_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The contract's exit statuses (section 2). */
enum {
    EXIT_OK = 0,                /* success */
    EXIT_ERROR = 1,             /* error, with a one-line reason on stderr */
    EXIT_USAGE = 2,             /* the command line is wrong */
    EXIT_WOULD_BLOCK = 3,       /* --nowait found the queue empty or full */
    EXIT_TOO_LONG = 4,          /* message too long */
    EXIT_NOT_IMPLEMENTED = 69,  /* a stub: `not implemented` on stderr */
};

/* The name in front of every message on stderr ("pipe", "msgq", ...); set it in main(). */
extern const char *progname;

/* Print "PROGNAME: <message>" and a newline on stderr; return STATUS (for `return fail(...)`). */
int fail(int status, const char *format, ...) __attribute__((format(printf, 2, 3)));

/* As fail(), then exit(STATUS). */
_Noreturn void die(int status, const char *format, ...) __attribute__((format(printf, 2, 3)));

/* What a stub does: `not implemented` on stderr, exit status 69. */
int not_implemented(void);

/* Print one line (a newline is added) on stdout with a single write(2); 0, or -1 with errno.
   Not async-signal-safe (it formats with vsnprintf): never call it from a signal handler. */
int say(const char *format, ...) __attribute__((format(printf, 1, 2)));

/* Write all LEN bytes of BUF to FD: write(2) may write less than asked (a pipe or socket
   takes what fits), and a signal may interrupt it (EINTR). 0, or -1 with errno set. */
int write_all(int fd, const void *buf, size_t len);

/* One read(2), repeated if a signal interrupts it: the bytes read, 0 at end of file, -1. */
ssize_t read_some(int fd, void *buf, size_t len);

/* Read until LEN bytes have come or end of file: the number of bytes read, or -1. */
ssize_t read_full(int fd, void *buf, size_t len);

/* A growable array of bytes. Binary-safe: a NUL byte is data like any other. */
struct bytes {
    unsigned char *data;
    size_t len;
    size_t cap;
};

/* Append LEN bytes to B; 0, or -1 (ENOMEM). */
int bytes_append(struct bytes *b, const void *data, size_t len);
void bytes_free(struct bytes *b);

/* Read FD to end of file into B, but stop once LIMIT bytes are held (SIZE_MAX: no limit).
   0, or -1 with errno set. */
int read_all(int fd, struct bytes *b, size_t limit);

/* Parse TEXT as a decimal integer from MIN to MAX: an optional sign and digits, nothing else
   (no spaces, no "12abc", no "0x10"), and no overflow. 0 and *OUT set, or -1. */
int parse_long(const char *text, long min, long max, long *out);

/* Parse TEXT as digits only (no sign), from MIN to MAX; 0 and *OUT set, or -1. */
int parse_digits(const char *text, long min, long max, long *out);

/* Is NAME a POSIX IPC name: one leading slash, then at least one character and no slash? */
int is_posix_name(const char *name);

/* An option a role accepts: a flag such as "--nowait", or one with a value, "--max-bytes N". */
struct option {
    const char *name;
    int takes_value;
    int given;          /* set by split_args() */
    const char *value;  /* set by split_args() for an option that takes a value */
};

/*
 * Split ARGV[0..ARGC) into OPTIONS and positional words. The words go to WORDS (at most
 * MAX_WORDS of them are stored) and *N_WORDS counts them all. A word such as "-3" is
 * positional: a negative TYPE is a value, not an option. NULL on success, or a reason for a
 * usage error ("unknown option --x", "--max-bytes needs a value").
 */
const char *split_args(int argc, char **argv, struct option *options, size_t n_options,
                       char **words, int max_words, int *n_words);

/* Little-endian integers at P, whatever the byte order of this machine (the shared-memory
   layouts of the contract are little-endian, so that every implementation reads them alike). */
uint32_t load_le32(const void *p);
void store_le32(void *p, uint32_t value);
uint64_t load_le64(const void *p);
void store_le64(void *p, uint64_t value);

#endif
