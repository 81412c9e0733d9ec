/*
 * signal: handlers, uncatchable signals, waiting without spinning (CONTRACT.md, section 3.3).
 *
 *     signal catch                  report SIGUSR1, SIGUSR2, SIGHUP, SIGINT and SIGRTMIN;
 *                                   end on SIGTERM
 *     signal child [--delay-ms N]   a parent signals its child N ms after fork; no signal is
 *                                   ever lost
 *     signal send PID NAME [COUNT]  kill(PID, NAME) COUNT times
 *
 * A signal is an event the kernel delivers to a process it names by pid, at any time
 * (asynchronously); a process may handle it, but SIGKILL and SIGSTOP can be neither caught nor
 * ignored (signal(7)). sigaction(2), sigprocmask(2), sigsuspend(2), sigwaitinfo(2), kill(2).
 *
 * The two ways to wait for a signal without a race, one in each role:
 *
 * - catch blocks the signals it handles and takes them one at a time with sigwaitinfo(2). A
 *   blocked signal waits in the kernel until it is taken, so none arrives "between" two waits,
 *   and no handler runs at all: the printing happens in ordinary code. sigwaitinfo dequeues
 *   exactly one instance per call, so N queued SIGRTMIN give N lines (real-time signals are
 *   queued; a standard signal pending several times is delivered once).
 *
 * - child uses the course notes' handler and sigsuspend(2): SIGUSR1 is blocked BEFORE fork,
 *   so a signal that comes before the child waits stays pending; sigsuspend then unblocks it
 *   and sleeps in one atomic step, and the handler runs inside it. A handler may only do what
 *   is async-signal-safe (signal-safety(7)): it sets a volatile sig_atomic_t flag, nothing more.
 */
#include "common.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* --- signal names ----------------------------------------------------------------------- */

static const struct {
    const char *name;
    int number;
} SIGNALS[] = {
    {"SIGHUP", SIGHUP},   {"SIGINT", SIGINT},       {"SIGQUIT", SIGQUIT},     {"SIGILL", SIGILL},
    {"SIGTRAP", SIGTRAP}, {"SIGABRT", SIGABRT},     {"SIGBUS", SIGBUS},       {"SIGFPE", SIGFPE},
    {"SIGKILL", SIGKILL}, {"SIGUSR1", SIGUSR1},     {"SIGSEGV", SIGSEGV},     {"SIGUSR2", SIGUSR2},
    {"SIGPIPE", SIGPIPE}, {"SIGALRM", SIGALRM},     {"SIGTERM", SIGTERM},     {"SIGCHLD", SIGCHLD},
    {"SIGCONT", SIGCONT}, {"SIGSTOP", SIGSTOP},     {"SIGTSTP", SIGTSTP},     {"SIGTTIN", SIGTTIN},
    {"SIGTTOU", SIGTTOU}, {"SIGURG", SIGURG},       {"SIGXCPU", SIGXCPU},     {"SIGXFSZ", SIGXFSZ},
    {"SIGVTALRM", SIGVTALRM}, {"SIGPROF", SIGPROF}, {"SIGSYS", SIGSYS},
    /* Linux's own, and old aliases of the above (the names Python's signal module knows) */
#ifdef SIGIOT
    {"SIGIOT", SIGIOT},
#endif
#ifdef SIGSTKFLT
    {"SIGSTKFLT", SIGSTKFLT},
#endif
#ifdef SIGCLD
    {"SIGCLD", SIGCLD},
#endif
#ifdef SIGWINCH
    {"SIGWINCH", SIGWINCH},
#endif
#ifdef SIGIO
    {"SIGIO", SIGIO},
#endif
#ifdef SIGPOLL
    {"SIGPOLL", SIGPOLL},
#endif
#ifdef SIGPWR
    {"SIGPWR", SIGPWR},
#endif
};

#define N_SIGNALS (sizeof SIGNALS / sizeof SIGNALS[0])

/* The name of signal SIG ("SIGUSR1", "SIGRTMIN", "SIGRTMIN+3"); in a static buffer. */
static const char *signal_name(int sig)
{
    static char name[32];
    if (sig == SIGRTMIN)
        return "SIGRTMIN";
    if (sig == SIGRTMAX)
        return "SIGRTMAX";
    if (sig > SIGRTMIN && sig < SIGRTMAX) {
        snprintf(name, sizeof name, "SIGRTMIN+%d", sig - SIGRTMIN);
        return name;
    }
    for (size_t i = 0; i < N_SIGNALS; i++)
        if (SIGNALS[i].number == sig)
            return SIGNALS[i].name;
    snprintf(name, sizeof name, "signal %d", sig);
    return name;
}

/* The number of signal NAME: SIGUSR1, SIGRTMIN, SIGRTMIN+3, SIGRTMAX-1, ...; -1 if unknown.
   SIGRTMIN and SIGRTMAX are not constants: the C library decides them when the program runs. */
static int signal_number(const char *name)
{
    static const char *const bases[] = {"SIGRTMIN", "SIGRTMAX"};
    for (int b = 0; b < 2; b++) {
        size_t len = strlen(bases[b]);
        if (strncmp(name, bases[b], len) != 0)
            continue;
        const char *rest = name + len;
        int base = b == 0 ? SIGRTMIN : SIGRTMAX;
        if (*rest == '\0')
            return base;
        long offset;
        if (*rest != (b == 0 ? '+' : '-') || parse_digits(rest + 1, 0, 1000, &offset) < 0)
            return -1;
        long number = b == 0 ? base + offset : base - offset;
        return number >= SIGRTMIN && number <= SIGRTMAX ? (int)number : -1;
    }
    for (size_t i = 0; i < N_SIGNALS; i++)
        if (strcmp(SIGNALS[i].name, name) == 0)
            return SIGNALS[i].number;
    return -1;
}

/* Print a line on stdout at once, as say() does; exit 1 if stdout is gone. */
__attribute__((format(printf, 1, 2))) static void tell(const char *format, ...)
{
    char line[256];
    va_list ap;
    va_start(ap, format);
    vsnprintf(line, sizeof line, format, ap);
    va_end(ap);
    if (say("%s", line) < 0)
        die(EXIT_ERROR, "writing stdout: %s", errno == EPIPE ? "broken pipe" : strerror(errno));
}

/* --- signal catch ----------------------------------------------------------------------- */

/* Only ever installed for SIGKILL and SIGSTOP, where the kernel refuses it: it never runs. */
static void never_runs(int sig)
{
    (void)sig;
}

static int catch(void)
{
    const int handled[] = {SIGUSR1, SIGUSR2, SIGHUP, SIGINT, SIGRTMIN, SIGTERM};
    sigset_t set;
    sigemptyset(&set);
    for (size_t i = 0; i < sizeof handled / sizeof handled[0]; i++)
        sigaddset(&set, handled[i]);

    /* Block first, before anything else can happen: from here on a handled signal that
       arrives is kept pending by the kernel until sigwaitinfo takes it. */
    if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
        return fail(EXIT_ERROR, "sigprocmask: %s", strerror(errno));
    /* An ignored signal is discarded even while blocked: make sure none of ours is. (The
       grader starts us with default dispositions; a shell might not.) */
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    for (size_t i = 0; i < sizeof handled / sizeof handled[0]; i++)
        sigaction(handled[i], &dfl, NULL);

    /* Really ask the kernel to catch SIGKILL and SIGSTOP: it must refuse (EINVAL). */
    const int uncatchable[] = {SIGKILL, SIGSTOP};
    for (size_t i = 0; i < 2; i++) {
        struct sigaction act;
        memset(&act, 0, sizeof act);
        act.sa_handler = never_runs;
        sigemptyset(&act.sa_mask);
        if (sigaction(uncatchable[i], &act, NULL) == 0)
            return fail(EXIT_ERROR, "the kernel let us install a handler for %s", signal_name(uncatchable[i]));
        tell("cannot catch %s", signal_name(uncatchable[i]));
    }

    tell("ready %ld", (long)getpid());
    for (;;) {
        siginfo_t info;
        int sig = sigwaitinfo(&set, &info); /* sleeps in rt_sigtimedwait; one instance per call */
        if (sig < 0) {
            if (errno == EINTR) /* e.g. after SIGSTOP and SIGCONT: wait again */
                continue;
            return fail(EXIT_ERROR, "sigwaitinfo: %s", strerror(errno));
        }
        if (sig == SIGTERM) {
            tell("terminating");
            return EXIT_OK;
        }
        tell("caught %s", signal_name(sig));
    }
}

/* --- signal child ----------------------------------------------------------------------- */

static volatile sig_atomic_t got_usr1 = 0;

/* The SIGUSR1 handler: async-signal-safe, it only sets the flag. */
static void on_usr1(int sig)
{
    (void)sig;
    got_usr1 = 1;
}

/* Sleep MS milliseconds, again for the rest if a signal interrupts the sleep. */
static void sleep_ms(long ms)
{
    struct timespec left = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&left, &left) < 0 && errno == EINTR)
        ;
}

static int child(long delay_ms)
{
    struct sigaction act;
    memset(&act, 0, sizeof act);
    act.sa_handler = on_usr1;
    sigemptyset(&act.sa_mask);
    if (sigaction(SIGUSR1, &act, NULL) < 0)
        return fail(EXIT_ERROR, "sigaction: %s", strerror(errno));

    /* Block SIGUSR1 BEFORE fork: the child inherits the mask, so a SIGUSR1 sent before the
       child waits stays pending instead of being handled too early (and then waited for in
       vain), or killing a child whose handler is not installed yet. */
    sigset_t usr1, old;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    if (sigprocmask(SIG_BLOCK, &usr1, &old) < 0)
        return fail(EXIT_ERROR, "sigprocmask: %s", strerror(errno));

    pid_t pid = fork();
    if (pid < 0)
        return fail(EXIT_ERROR, "fork: %s", strerror(errno));
    if (pid == 0) {
        sigset_t waiting = old; /* the mask before, with SIGUSR1 surely unblocked */
        sigdelset(&waiting, SIGUSR1);
        while (!got_usr1)
            sigsuspend(&waiting); /* unblock and sleep in one step; returns after the handler */
        _exit(say("child got SIGUSR1") < 0 ? EXIT_ERROR : EXIT_OK);
    }

    if (delay_ms > 0)
        sleep_ms(delay_ms);
    if (kill(pid, SIGUSR1) < 0)
        return fail(EXIT_ERROR, "kill: %s", strerror(errno));
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            return fail(EXIT_ERROR, "waitpid: %s", strerror(errno));
    }
    if (WIFSIGNALED(status)) {
        tell("child killed by %s", signal_name(WTERMSIG(status)));
        return EXIT_ERROR;
    }
    int code = WEXITSTATUS(status);
    tell("child exited %d", code);
    return code == 0 ? EXIT_OK : EXIT_ERROR;
}

/* --- signal send ------------------------------------------------------------------------ */

static int send_signal(int argc, char **argv)
{
    if (argc != 2 && argc != 3)
        return fail(EXIT_USAGE, "usage: signal send PID NAME [COUNT]");
    const char *pid_text = argv[0], *name = argv[1];
    const char *count_text = argc == 3 ? argv[2] : "1";
    long pid, count;
    /* never 0 or negative: kill(2) would signal a whole process group */
    if (parse_digits(pid_text, 1, 0x7fffffff, &pid) < 0)
        return fail(EXIT_USAGE, "send: PID must be a positive process id, not '%s'", pid_text);
    if (parse_digits(count_text, 1, 0x7fffffff, &count) < 0)
        return fail(EXIT_USAGE, "send: COUNT must be a positive number, not '%s'", count_text);
    int sig = signal_number(name);
    if (sig < 0)
        return fail(EXIT_USAGE, "send: unknown signal '%s' (use a name such as SIGUSR1 or SIGRTMIN)", name);
    for (long i = 0; i < count; i++) {
        if (kill((pid_t)pid, sig) < 0) {
            if (errno == ESRCH)
                return fail(EXIT_ERROR, "send: no such process %ld", pid);
            if (errno == EPERM)
                return fail(EXIT_ERROR, "send: permission denied to signal %ld", pid);
            return fail(EXIT_ERROR, "send: kill: %s", strerror(errno));
        }
    }
    return EXIT_OK;
}

int main(int argc, char **argv)
{
    progname = "signal";
    signal(SIGPIPE, SIG_IGN); /* a closed stdout is an error we report, not a silent death */
    const char *usage = "usage: signal catch | signal child [--delay-ms N] | signal send PID NAME [COUNT]";
    if (argc < 2)
        return fail(EXIT_USAGE, "%s", usage);
    const char *role = argv[1];
    if (strcmp(role, "catch") == 0 && argc == 2)
        return catch();
    if (strcmp(role, "child") == 0) {
        long delay_ms = 0;
        if (argc == 2)
            return child(0);
        if (argc == 4 && strcmp(argv[2], "--delay-ms") == 0
            && parse_digits(argv[3], 0, 86400000L, &delay_ms) == 0)
            return child(delay_ms);
        return fail(EXIT_USAGE, "usage: signal child [--delay-ms N]");
    }
    if (strcmp(role, "send") == 0)
        return send_signal(argc - 2, argv + 2);
    return fail(EXIT_USAGE, "%s", usage);
}
