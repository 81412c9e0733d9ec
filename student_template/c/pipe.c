/*
 * pipe: anonymous pipes between a parent and its child (CONTRACT.md, section 3.1).
 *
 *     pipe relay    the parent copies stdin into one pipe; its child copies the pipe to stdout
 *     pipe duplex   two pipes, one each way; the child answers each line in upper case
 *
 * Every role answers `not implemented` (exit 69) until you write it: its specs score 0
 * without failing. Build with `make`, grade with `pytest --impl=. -k pipe -x`.
 * Read: pipe(7), pipe(2), fork(2), close(2), dup2(2), waitpid(2).
 */
#include "common.h"

#include <string.h>

/*
 * pipe relay
 *
 * - signal(SIGPIPE, SIG_IGN) first: then a write to a pipe whose reader is gone fails with
 *   EPIPE instead of killing you, and you print `broken pipe` and exit 1 (pipe.broken-pipe).
 * - pipe(fds) BEFORE fork(): both processes then hold both ends (fds[0] reads, fds[1] writes).
 * - The child closes fds[1] at once: read(2) returns 0 (end of file) only when no process holds
 *   a write end, and the child's own copy counts (pipe.eof-on-close). It then copies fds[0] to
 *   stdout until read() returns 0, and calls _exit(0). (dup2(fds[0], 0) lets it read stdin
 *   instead.)
 * - The parent closes fds[0], then copies stdin to fds[1] one bounded chunk at a time: read()
 *   at most a few KiB, write_all() them, again. A full pipe then puts it to sleep in write(2)
 *   and it stops reading stdin (pipe.blocks-when-full); never read all of stdin first.
 * - At end of stdin the parent closes fds[1], waits for the child with waitpid() (no zombie:
 *   pipe.reaps-child), and exits 0 if the child exited 0, else 1.
 */
static int relay(void)
{
    return not_implemented();
}

/*
 * pipe duplex
 *
 * - Two pipes, created before fork(): one from parent to child, one back. Each process closes
 *   the two ends it does not use.
 * - The parent, for each line of stdin (getline(3): it counts bytes, so NULs and 1 MiB lines
 *   are fine): write the whole line to the child, read the whole reply (exactly as long as
 *   the line), print it, and only then read the next line.
 * - Print the reply at once: stdout is a pipe to the grader, and printf() on a pipe waits in
 *   stdio's buffer until it is full. Use write_all(STDOUT_FILENO, ...), or fflush(stdout).
 * - The child reads a WHOLE line before it writes its reply (ASCII a-z to A-Z, every other byte
 *   unchanged). A child that answers each chunk as it arrives fills the reply pipe while the
 *   parent is still writing a long line, and both wait for each other forever.
 * - At end of stdin the parent closes its write end (the child sees EOF and exits), waits for
 *   the child, and exits 0.
 */
static int duplex(void)
{
    return not_implemented();
}

int main(int argc, char **argv)
{
    progname = "pipe";
    if (argc == 2 && strcmp(argv[1], "relay") == 0)
        return relay();
    if (argc == 2 && strcmp(argv[1], "duplex") == 0)
        return duplex();
    return fail(EXIT_USAGE, "usage: pipe relay | pipe duplex");
}
