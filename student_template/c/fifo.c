/*
 * fifo: named pipes between unrelated processes (CONTRACT.md, section 3.2).
 *
 *     fifo write PATH   copy stdin into the FIFO at PATH
 *     fifo read PATH    copy the FIFO at PATH to stdout until end of file
 *
 * Every role answers `not implemented` (exit 69) until you write it: its specs score 0
 * without failing. Build with `make`, grade with `pytest --impl=. -k fifo -x`.
 * Read: fifo(7), mkfifo(3), stat(2), open(2), pipe(7) on PIPE_BUF.
 */
#include "common.h"

#include <string.h>

/*
 * Both roles first make sure a FIFO is at PATH:
 *
 * - mkfifo(path, 0600) creates it; EEXIST means something is there already: stat() it and use
 *   it only if S_ISFIFO(st.st_mode). Anything else (a regular file): exit 1 and leave it
 *   exactly as it was, never unlink or truncate it (fifo.rejects-non-fifo).
 * - The mode must be exactly 0600 whatever umask you inherited: umask(0) around mkfifo, or
 *   chmod after it.
 * - open() blocks until the other end is opened too (fifo.open-blocks-until-peer). Never open
 *   with O_RDWR to avoid that: a reader that holds a write end itself never sees EOF.
 */

/*
 * fifo write PATH
 *
 * - open(path, O_WRONLY), then copy stdin into it and exit 0; signal(SIGPIPE, SIG_IGN) so that
 *   a reader that goes away gives EPIPE (exit 1), not a silent death.
 * - Write each line of at most PIPE_BUF (4096) bytes with ONE write(2): the kernel then writes
 *   it atomically, and the lines of several writers never interleave (fifo.atomic-writes).
 *   Several whole lines may share one write of at most 4096 bytes. Neither a read() of 64 KiB
 *   written as it came, nor stdio (it flushes at its own buffer's boundaries, mid-line), does
 *   that: find the newlines yourself (memchr) and write whole lines.
 */
static int write_fifo(const char *path)
{
    (void)path; /* remove once you use PATH */
    return not_implemented();
}

/*
 * fifo read PATH
 *
 * - open(path, O_RDONLY), then copy everything to stdout until read() returns 0 (every writer
 *   has closed its end), and exit 0. Bytes are bytes: write_all() what read() gave.
 */
static int read_fifo(const char *path)
{
    (void)path; /* remove once you use PATH */
    return not_implemented();
}

int main(int argc, char **argv)
{
    progname = "fifo";
    if (argc == 3 && strcmp(argv[1], "write") == 0)
        return write_fifo(argv[2]);
    if (argc == 3 && strcmp(argv[1], "read") == 0)
        return read_fifo(argv[2]);
    return fail(EXIT_USAGE, "usage: fifo write PATH | fifo read PATH");
}
