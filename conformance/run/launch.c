/* ipc-launch: what a program gets between the grader's fork and its exec (conformance/run/launch.py).

   ipc-launch ERRFD NETNS_FD UID GID GROUPS RLIMITS -- PROGRAM ARG...

   The same steps as limits._child_setup, in C, so that the grader starts programs with vfork
   (subprocess does when no Python runs in the child) instead of fork: every signal's disposition
   back to the default and none blocked; the network namespace NETNS_FD (-1: none); the user UID,
   group GID and supplementary GROUPS (comma-separated; UID -1: stay); SIGKILL when the grader
   goes; the resource limits RLIMITS (RES:VALUE,...; lowered, never raised); then exec PROGRAM.
   ERRFD (close-on-exec here) gets "STEP ERRNO" if a step or the exec fails; it reads as EOF
   once PROGRAM runs. The program's LD_PRELOAD (schedule control's library) comes as
   IPC_LAUNCH_PRELOAD, so that it is loaded into the program only, not into this launcher. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

static int errfd = -1;

static void fail(const char *step, int code) {
    char buf[64];
    int n = snprintf(buf, sizeof buf, "%s %d", step, errno);
    if (errfd >= 0 && n > 0) {
        ssize_t ignored = write(errfd, buf, (size_t)n);
        (void)ignored;
    }
    _exit(code);
}

int main(int argc, char **argv) {
    if (argc < 9 || strcmp(argv[7], "--") != 0) {
        fprintf(stderr, "usage: ipc-launch ERRFD NETNS_FD UID GID GROUPS RLIMITS -- PROGRAM ARG...\n");
        return 125;
    }
    errfd = atoi(argv[1]);
    fcntl(errfd, F_SETFD, FD_CLOEXEC);
    for (int sig = 1; sig < NSIG; sig++)
        signal(sig, SIG_DFL); /* SIGKILL, SIGSTOP and glibc's own fail harmlessly */
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    int netns = atoi(argv[2]);
    if (netns >= 0 && setns(netns, CLONE_NEWNET) != 0)
        fail("setns", 126);
    long uid = atol(argv[3]), gid = atol(argv[4]);
    if (uid >= 0) { /* after setns, which needs the privileges this gives up */
        gid_t groups[64];
        int n = 0;
        for (char *p = argv[5]; *p && n < 64;) {
            groups[n++] = (gid_t)strtoul(p, &p, 10);
            if (*p == ',')
                p++;
        }
        if (setgroups((size_t)n, groups) != 0)
            fail("setgroups", 126);
        if (setgid((gid_t)gid) != 0)
            fail("setgid", 126);
        if (setuid((uid_t)uid) != 0)
            fail("setuid", 126);
    }
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0); /* after setuid, which clears it */
    for (char *p = argv[6]; *p;) {
        int res = (int)strtol(p, &p, 10);
        if (*p != ':')
            break;
        rlim_t value = (rlim_t)strtoull(p + 1, &p, 10);
        struct rlimit now;
        if (getrlimit(res, &now) == 0) {
            rlim_t hard = now.rlim_max == RLIM_INFINITY ? value : (now.rlim_max < value ? now.rlim_max : value);
            struct rlimit lim = {value < hard ? value : hard, hard};
            setrlimit(res, &lim);
        }
        if (*p == ',')
            p++;
    }
    const char *preload = getenv("IPC_LAUNCH_PRELOAD"); /* the program's LD_PRELOAD, kept from this launcher's own start */
    if (preload != NULL) {
        setenv("LD_PRELOAD", preload, 1);
        unsetenv("IPC_LAUNCH_PRELOAD");
    }
    execvp(argv[8], argv + 8);
    fail("exec", 127);
    return 127;
}
