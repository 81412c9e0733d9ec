/*
 * signal: handlers, uncatchable signals, waiting without spinning (CONTRACT.md, section 3.3).
 *
 *     signal catch                  report the signals it is sent; end on SIGTERM
 *     signal child [--delay-ms N]   a parent signals its child N ms after fork
 *     signal send PID NAME [COUNT]  kill(PID, NAME) COUNT times
 *
 * Every role answers `not implemented` (exit 69) until you write it: its specs score 0
 * without failing. Build with `make`, grade with `pytest --impl=. -k signal -x`.
 * Read: signal(7), sigaction(2), sigprocmask(2), sigsuspend(2), sigwaitinfo(2), kill(2),
 * signal-safety(7).
 *
 * Two traps of C itself:
 * - SIGRTMIN is not a constant: the C library decides it when the program starts. It cannot be
 *   a `case` label; compare with `if (sig == SIGRTMIN)`.
 * - A handler may only call async-signal-safe functions (signal-safety(7)): not printf, not
 *   malloc. Let it set a `volatile sig_atomic_t` flag, and print in ordinary code. Or have no
 *   handler at all: block the signals and take them with sigwaitinfo().
 */
#include "common.h"

#include <string.h>

/*
 * signal catch
 *
 * 1. Really try sigaction(SIGKILL, &act, NULL) and the same for SIGSTOP: the kernel refuses
 *    (EINVAL), and then you print `cannot catch SIGKILL` and `cannot catch SIGSTOP`. The grader
 *    checks with strace that the attempt was made (signal.sigkill-attempted).
 * 2. Handle SIGUSR1, SIGUSR2, SIGHUP, SIGINT, SIGRTMIN and SIGTERM. The simplest correct way:
 *    sigprocmask(SIG_BLOCK, ...) all six first, then loop on sigwaitinfo(&set, &info), which
 *    sleeps until one is pending and takes exactly one instance each call: five queued
 *    SIGRTMIN are five lines (signal.realtime-queued), five SIGUSR1 sent while you were
 *    stopped are one (signal.standard-coalesce).
 * 3. Print `ready PID` (getpid()) before waiting, then `caught SIGUSR1` (and so on) for each
 *    delivery, each line flushed at once: printf then fflush(stdout), or one write(2).
 * 4. SIGTERM: print `terminating` and exit 0.
 * - Wait in the kernel (sigwaitinfo, sigsuspend): never a loop that checks a flag, nor one that
 *   sleeps a little and checks again (signal.waits-without-spinning). Retry after EINTR: a
 *   SIGSTOP and SIGCONT can interrupt a wait with no handler involved.
 */
static int catch_signals(void)
{
    return not_implemented();
}

/*
 * signal child [--delay-ms N]
 *
 * - The parent forks; the child waits for SIGUSR1 without spinning, prints `child got
 *   SIGUSR1` and exits 0; the parent sleeps N ms (nanosleep), kill(child, SIGUSR1), waits for
 *   it with waitpid() and prints `child exited 0` (WEXITSTATUS).
 * - With N = 0 the signal may come before the child even runs. A handler installed in the
 *   child after fork comes too late (SIGUSR1's default action kills the child), and checking
 *   a flag then calling pause() loses a signal that lands in between: the spec runs it 30
 *   times (signal.child-no-lost-signal). So: install the handler and BLOCK SIGUSR1 with
 *   sigprocmask() BEFORE fork (the child inherits both); in the child,
 *   `while (!got) sigsuspend(&mask_without_usr1);` unblocks and sleeps in one atomic step.
 *   (Or keep it blocked and take it with sigwaitinfo().)
 * - Print from the child with one write(2) or printf + fflush: an unflushed stdio buffer
 *   inherited through fork is printed twice.
 */
static int child(long delay_ms)
{
    (void)delay_ms; /* remove once you use DELAY_MS */
    return not_implemented();
}

/*
 * signal send PID NAME [COUNT]
 *
 * - Look NAME up in a table of your own ({"SIGUSR1", SIGUSR1}, ...; SIGRTMIN at run time, see
 *   above): an unknown name is a usage error (exit 2).
 * - kill(pid, sig) COUNT times. ESRCH: print `no such process` and exit 1.
 */
static int send_signal(long pid, const char *name, long count)
{
    (void)pid; /* remove these once you use them */
    (void)name;
    (void)count;
    return not_implemented();
}

int main(int argc, char **argv)
{
    progname = "signal";
    const char *usage = "usage: signal catch | signal child [--delay-ms N] | signal send PID NAME [COUNT]";
    if (argc == 2 && strcmp(argv[1], "catch") == 0)
        return catch_signals();
    if (argc >= 2 && strcmp(argv[1], "child") == 0) {
        long delay_ms = 0;
        if (argc == 2)
            return child(delay_ms);
        if (argc == 4 && strcmp(argv[2], "--delay-ms") == 0 && parse_long(argv[3], 0, 86400000L, &delay_ms) == 0)
            return child(delay_ms);
        return fail(EXIT_USAGE, "%s", usage);
    }
    if ((argc == 4 || argc == 5) && strcmp(argv[1], "send") == 0) {
        long pid, count = 1;
        /* a positive pid only: kill(0, ...) or a negative pid signals a whole process group */
        if (parse_long(argv[2], 1, 0x7fffffffL, &pid) < 0)
            return fail(EXIT_USAGE, "PID must be a positive process id, not '%s'\n%s", argv[2], usage);
        if (argc == 5 && parse_long(argv[4], 1, 0x7fffffffL, &count) < 0)
            return fail(EXIT_USAGE, "COUNT must be a positive number, not '%s'\n%s", argv[4], usage);
        return send_signal(pid, argv[3], count);
    }
    return fail(EXIT_USAGE, "%s", usage);
}
