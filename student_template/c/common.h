/*
 * common.h: what every program needs (CONTRACT.md, section 2). Each program includes it, and
 * the Makefile links common.c into each.
 *
 *   - the contract's exit statuses, so that `return EXIT_WOULD_BLOCK;` says what 3 means;
 *   - fail() and die(): a one-line reason on stderr, then an exit status;
 *   - not_implemented(): what every stub answers until you write it;
 *   - write_all() and read_all(): whole buffers, whatever partial writes and reads happen;
 *   - parse_long(): a strict decimal number from the command line.
 *
 * Add your own helpers here as you go (reference/c/common.h has more: say(), little-endian
 * loads and stores for the shared-memory layouts, an option splitter).
 */
#ifndef IPC_COMMON_H
#define IPC_COMMON_H

#include <stddef.h>
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

/* The program's name in front of every message on stderr ("pipe", "msgq", ...): main() sets it. */
extern const char *progname;

/* Print "PROGNAME: <message>" and a newline on stderr, with printf's FORMAT; return STATUS, so
   that a role can end with `return fail(EXIT_ERROR, "no such queue %s", name);`. */
int fail(int status, const char *format, ...) __attribute__((format(printf, 2, 3)));

/* As fail(), then exit(STATUS) at once. In a child after fork(), prefer _exit(fail(...)):
   exit() would also flush the stdio buffers the child inherited, printing them twice. */
_Noreturn void die(int status, const char *format, ...) __attribute__((format(printf, 2, 3)));

/* What a stub does: `not implemented` on stderr, and the status 69, for `return not_implemented();`.
   The grader then scores that role's specs 0 without counting them as failures. */
int not_implemented(void);

/* Write all LEN bytes of BUF to FD. write(2) may write fewer bytes than asked (a pipe or a
   socket takes what fits) and a signal may interrupt it (EINTR): this loops until all are out.
   0, or -1 with errno set (EPIPE: nobody reads the other end any more). */
int write_all(int fd, const void *buf, size_t len);

/* Read FD to end of file into a new buffer, but stop once LIMIT bytes are held (SIZE_MAX: no
   limit). *DATA (free() it) and *LEN are the bytes: any bytes, NUL included, so never use str*
   functions on them. Ask for one byte more than you accept to tell "too long" from "just fits".
   0, or -1 with errno set. */
int read_all(int fd, size_t limit, unsigned char **data, size_t *len);

/* TEXT as a decimal integer from MIN to MAX: an optional sign and digits, nothing else (no
   spaces, no "12abc", no "0x10", no empty string) and no overflow. 0 and *OUT set, or -1.
   (atoi() says 0 for "abc" and cannot tell you; strtol() alone accepts " 12" and "12abc".) */
int parse_long(const char *text, long min, long max, long *out);

#endif
