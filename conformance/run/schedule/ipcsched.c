/* ipcsched: scheduling points where the processes of an IPC program meet, for the grader's
 * scheduler (conformance/run/schedule/scheduler.py). Loaded with LD_PRELOAD into every program
 * of a controlled spec (and linked into a C submission built with -fsanitize=thread, whose
 * __tsan_* hooks it serves); inert unless IPC_SCHED_SOCKET names the scheduler's socket.
 *
 * Each thread of each process is a task with a connection of its own (a SOCK_SEQPACKET Unix
 * socket). At a scheduling point it reports what it is about to do and waits for GO: one task
 * runs at a time between two points. An operation that would block (sem_wait on a zero
 * semaphore, read on an empty pipe) is tried in its non-blocking form while the task holds the
 * turn; if it would block, the task reports BLOCK and gives the turn back, and the scheduler
 * resumes it when another step may have changed what it waits for. Plain memory accesses are
 * points only for C built with -fsanitize=thread (the __tsan_* hooks below), and only for
 * addresses other processes (a MAP_SHARED mapping) or threads (a multithreaded process) or a
 * signal handler (the program's data once a handler is installed) can also touch. Python's
 * points are its lines (sitecustomize, through ipcsched_line).
 *
 * While a task waits for GO, every signal but the synchronous ones is blocked: a signal sent
 * to it is delivered when it runs again, at a point the scheduler chose, never in between.
 *
 * The message formats and codes are protocol.py's; tests/test_schedule.py checks they agree.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <mqueue.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

/* --- the protocol (protocol.py) ------------------------------------------------------------ */

enum { T_HELLO = 1, T_POINT, T_BLOCK, T_WAKE, T_NOTE, T_CHECKED, T_BYE };
enum { R_GO = 1, R_TIMEOUT, R_CHECK, R_FREE, R_WARM };
enum {
    OP_START = 0, OP_LOCAL, OP_LINE, OP_SEM_WAIT, OP_SEM_TRYWAIT, OP_SEM_POST, OP_MUTEX_LOCK,
    OP_MUTEX_UNLOCK, OP_COND_WAIT, OP_COND_SIGNAL, OP_READ, OP_WRITE, OP_ACCEPT, OP_CONNECT,
    OP_POLL, OP_CLOSE, OP_MSGSND, OP_MSGRCV, OP_SEMOP, OP_MQ_SEND, OP_MQ_RECEIVE, OP_KILL,
    OP_SIGWAIT, OP_SIGACTION, OP_SIGMASK, OP_FORK, OP_FORKED, OP_THREAD, OP_THREAD_CREATED,
    OP_EXEC, OP_EXEC_FAILED, OP_EXIT, OP_WAIT, OP_JOIN, OP_SLEEP, OP_YIELD, OP_ATOMIC,
    OP_STORE,
};
enum { K_NONE = 0, K_MEM, K_PMEM, K_PIPE, K_SOCK, K_FD, K_MSQ, K_SYSVSEM, K_SIG, K_CHILD, K_THREAD };
enum { F_FORKED = 1, F_THREAD = 2, F_PYTHON = 4, F_INSTRUMENTED = 8, F_FDS = 16, F_WRITE = 32, F_ROOT = 64 };

struct msg {
    uint32_t type, op;
    int32_t pid, tid;
    uint64_t local;
    uint32_t kind, flags;
    uint64_t ka, kb, kc;
    int64_t arg, arg2;
    int64_t deadline;
};
struct reply {
    uint32_t type, pad;
    uint64_t budget;
};
struct key {
    uint32_t kind;
    uint64_t a, b, c;
};

/* --- state ------------------------------------------------------------------------------- */

static int g_active;            /* this process is under control */
static pid_t g_pid;
static char g_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
static int g_python;            /* a CPython interpreter (Py_IsInitialized is there) */
static int g_instrumented;      /* built with -fsanitize=thread: __tsan_init ran */
static int g_handlers;          /* a signal handler was installed */
static int g_threads = 1;       /* tasks of this process: threads registered */
static sigset_t g_main_mask;    /* the main thread's own signal mask, as of its last point */
static int g_main_known;        /* g_main_mask is known, and the main thread is still there */
static uint64_t g_tokens;       /* for matching a fork's or a thread's HELLO to its creator */
static uintptr_t g_data_lo, g_data_hi; /* the program's own writable data */

static __thread int t_fd = -1;  /* this task's connection */
static __thread int t_depth;    /* inside the library: calls pass through */
static __thread uint64_t t_budget, t_local;
static __thread pid_t t_tid;
static __thread uintptr_t t_stack_lo, t_stack_hi;
static __thread sigset_t t_deferred; /* signals to the process this thread left to the main one */
static __thread int t_deferring;
static __thread int t_warm;     /* an interpreter starting: free until the submission's first line */

/* --- the real functions ------------------------------------------------------------------ */

#define REAL(name) real_##name
#define DECLARE(ret, name, ...) static ret (*real_##name)(__VA_ARGS__)
DECLARE(int, sem_wait, sem_t *);
DECLARE(int, sem_trywait, sem_t *);
DECLARE(int, sem_timedwait, sem_t *, const struct timespec *);
DECLARE(int, sem_clockwait, sem_t *, clockid_t, const struct timespec *);
DECLARE(int, sem_post, sem_t *);
DECLARE(int, pthread_mutex_lock, pthread_mutex_t *);
DECLARE(int, pthread_mutex_trylock, pthread_mutex_t *);
DECLARE(int, pthread_mutex_timedlock, pthread_mutex_t *, const struct timespec *);
DECLARE(int, pthread_mutex_unlock, pthread_mutex_t *);
DECLARE(int, pthread_cond_wait, pthread_cond_t *, pthread_mutex_t *);
DECLARE(int, pthread_cond_timedwait, pthread_cond_t *, pthread_mutex_t *, const struct timespec *);
DECLARE(int, pthread_cond_signal, pthread_cond_t *);
DECLARE(int, pthread_cond_broadcast, pthread_cond_t *);
DECLARE(int, pthread_create, pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
DECLARE(int, pthread_join, pthread_t, void **);
DECLARE(void, pthread_exit, void *);
DECLARE(ssize_t, read, int, void *, size_t);
DECLARE(ssize_t, write, int, const void *, size_t);
DECLARE(ssize_t, readv, int, const struct iovec *, int);
DECLARE(ssize_t, writev, int, const struct iovec *, int);
DECLARE(ssize_t, recv, int, void *, size_t, int);
DECLARE(ssize_t, recvfrom, int, void *, size_t, int, struct sockaddr *, socklen_t *);
DECLARE(ssize_t, recvmsg, int, struct msghdr *, int);
DECLARE(ssize_t, send, int, const void *, size_t, int);
DECLARE(ssize_t, sendto, int, const void *, size_t, int, const struct sockaddr *, socklen_t);
DECLARE(ssize_t, sendmsg, int, const struct msghdr *, int);
DECLARE(int, accept, int, struct sockaddr *, socklen_t *);
DECLARE(int, accept4, int, struct sockaddr *, socklen_t *, int);
DECLARE(int, connect, int, const struct sockaddr *, socklen_t);
DECLARE(int, close, int);
DECLARE(int, shutdown, int, int);
DECLARE(int, poll, struct pollfd *, nfds_t, int);
DECLARE(int, ppoll, struct pollfd *, nfds_t, const struct timespec *, const sigset_t *);
DECLARE(int, select, int, fd_set *, fd_set *, fd_set *, struct timeval *);
DECLARE(int, pselect, int, fd_set *, fd_set *, fd_set *, const struct timespec *, const sigset_t *);
DECLARE(int, epoll_wait, int, struct epoll_event *, int, int);
DECLARE(int, epoll_pwait, int, struct epoll_event *, int, int, const sigset_t *);
DECLARE(int, msgsnd, int, const void *, size_t, int);
DECLARE(ssize_t, msgrcv, int, void *, size_t, long, int);
DECLARE(int, semop, int, struct sembuf *, size_t);
DECLARE(int, semtimedop, int, struct sembuf *, size_t, const struct timespec *);
DECLARE(int, mq_send, mqd_t, const char *, size_t, unsigned);
DECLARE(int, mq_timedsend, mqd_t, const char *, size_t, unsigned, const struct timespec *);
DECLARE(ssize_t, mq_receive, mqd_t, char *, size_t, unsigned *);
DECLARE(ssize_t, mq_timedreceive, mqd_t, char *, size_t, unsigned *, const struct timespec *);
DECLARE(int, kill, pid_t, int);
DECLARE(int, killpg, pid_t, int);
DECLARE(int, sigqueue, pid_t, int, const union sigval);
DECLARE(int, pthread_kill, pthread_t, int);
DECLARE(int, sigsuspend, const sigset_t *);
DECLARE(int, pause, void);
DECLARE(int, sigwaitinfo, const sigset_t *, siginfo_t *);
DECLARE(int, sigtimedwait, const sigset_t *, siginfo_t *, const struct timespec *);
DECLARE(int, sigwait, const sigset_t *, int *);
DECLARE(int, sigaction, int, const struct sigaction *, struct sigaction *);
DECLARE(sighandler_t, signal, int, sighandler_t);
DECLARE(int, sigprocmask, int, const sigset_t *, sigset_t *);
DECLARE(int, pthread_sigmask, int, const sigset_t *, sigset_t *);
DECLARE(pid_t, fork, void);
DECLARE(int, execve, const char *, char *const[], char *const[]);
DECLARE(int, execv, const char *, char *const[]);
DECLARE(int, execvp, const char *, char *const[]);
DECLARE(int, execvpe, const char *, char *const[], char *const[]);
DECLARE(void, _exit, int);
DECLARE(void, exit, int);
DECLARE(pid_t, wait4, pid_t, int *, int, struct rusage *);
DECLARE(int, waitid, idtype_t, id_t, siginfo_t *, int);
DECLARE(int, nanosleep, const struct timespec *, struct timespec *);
DECLARE(int, clock_nanosleep, clockid_t, int, const struct timespec *, struct timespec *);
DECLARE(int, usleep, useconds_t);
DECLARE(unsigned, sleep, unsigned);
DECLARE(int, sched_yield, void);
DECLARE(void *, mmap, void *, size_t, int, int, int, off_t);
DECLARE(int, munmap, void *, size_t);
DECLARE(void *, mremap, void *, size_t, size_t, int, ...);
DECLARE(void *, shmat, int, const void *, int);
DECLARE(int, shmdt, const void *);

static void *next_symbol(const char *name)
{
    void *p = dlsym(RTLD_NEXT, name);
    return p ? p : dlsym(RTLD_DEFAULT, name);
}
static void *resolve(void **slot, const char *name)
{
    void *p = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
    if (!p) {
        p = next_symbol(name);
        __atomic_store_n(slot, p, __ATOMIC_RELEASE);
    }
    return p;
}
#define RESOLVE(name) ((__typeof__(real_##name))resolve((void **)&real_##name, #name))

/* CPython, when this is one: to give the GIL up while a task waits (another thread of the
 * process may be the next to run), and back. */
static int (*py_gil_check)(void);
static void *(*py_save_thread)(void);
static void (*py_restore_thread)(void *);

/* --- signals, errno and time --------------------------------------------------------------- */

static void block_all(sigset_t *old)
{
    sigset_t all;
    sigfillset(&all);
    /* glibc's own (cancellation, setxid) and the synchronous ones stay deliverable */
    sigdelset(&all, 32);
    sigdelset(&all, 33);
    sigdelset(&all, SIGSEGV);
    sigdelset(&all, SIGBUS);
    sigdelset(&all, SIGFPE);
    sigdelset(&all, SIGILL);
    syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, old, _NSIG / 8);
    if (t_deferring) { /* the program's own mask, without what this thread left to the main one */
        for (int s = 1; s < _NSIG; s++)
            if (sigismember(&t_deferred, s))
                sigdelset(old, s);
        t_deferring = 0;
    }
    if (t_tid && t_tid == g_pid) {
        g_main_mask = *old;
        g_main_known = 1;
    }
}

/* The signals pending for the whole process (not for this thread alone): /proc's ShdPnd. */
static int shared_pending(sigset_t *set)
{
    char buf[2048];
    sigemptyset(set);
    int fd = (int)syscall(SYS_openat, AT_FDCWD, "/proc/thread-self/status", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = syscall(SYS_read, fd, buf, sizeof buf - 1);
    syscall(SYS_close, fd);
    if (n <= 0)
        return 0;
    buf[n] = 0;
    char *p = strstr(buf, "ShdPnd:");
    if (!p)
        return 0;
    unsigned long long bits = strtoull(p + 7, NULL, 16);
    int any = 0;
    for (int s = 1; s <= 64 && s < _NSIG; s++)
        if (bits >> (s - 1) & 1) {
            sigaddset(set, s);
            any = 1;
        }
    return any;
}

/* The mask a thread other than the main one takes for its turn: OLD, with the signals pending
 * for the whole process that the main thread does not block left blocked here. While every
 * thread waits for its turn, a signal sent to the process stays pending, and the first thread
 * to unblock it would take it; the kernel gives it to the main thread when that one does not
 * block it (complete_signal in kernel/signal.c), and programs count on it (CPython runs its
 * handlers in the main thread only: an `accept` there must end with EINTR). The main thread
 * takes it at its own next turn. */
static void mask_for_turn(const sigset_t *old, sigset_t *eff)
{
    *eff = *old;
    if (!g_active || !g_main_known || !t_tid || t_tid == g_pid)
        return;
    sigset_t pend, shared;
    if (sigpending(&pend) < 0)
        return;
    int open = 0;
    for (int s = 1; s < _NSIG && !open; s++)
        open = sigismember(&pend, s) && !sigismember(old, s) && !sigismember(&g_main_mask, s);
    if (!open || !shared_pending(&shared))
        return;
    sigemptyset(&t_deferred);
    for (int s = 1; s < _NSIG; s++)
        if (sigismember(&shared, s) && !sigismember(old, s) && !sigismember(&g_main_mask, s) && s != 32 && s != 33) {
            sigaddset(&t_deferred, s);
            sigaddset(eff, s);
            t_deferring = 1;
        }
}

static void restore_mask(const sigset_t *old)
{
    sigset_t eff;
    mask_for_turn(old, &eff);
    syscall(SYS_rt_sigprocmask, SIG_SETMASK, &eff, NULL, _NSIG / 8);
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t after_ns(int64_t ns)
{
    return ns < 0 ? -1 : now_ns() + ns;
}

/* An absolute time on CLOCK (REALTIME or MONOTONIC) as a monotonic deadline. */
static int64_t deadline_of(clockid_t clock, const struct timespec *abs)
{
    if (!abs)
        return -1;
    struct timespec ts;
    clock_gettime(clock, &ts);
    int64_t left = ((int64_t)abs->tv_sec - ts.tv_sec) * 1000000000 + (abs->tv_nsec - ts.tv_nsec);
    return now_ns() + (left > 0 ? left : 0);
}

static pid_t gettid_(void)
{
    return (pid_t)syscall(SYS_gettid);
}

/* The kernel's struct sigaction, which rt_sigaction(2) reads and writes: not glibc's, whose
 * sa_flags lies after a 128-byte mask (read through glibc's layout, the flags were whatever the
 * stack held there, and a handler without SA_RESTART could be taken for one with it). */
struct ksigaction {
    void (*handler)(int);
    unsigned long flags;
    void (*restorer)(void);
    unsigned char mask[_NSIG / 8];
};

/* Whether a signal pending for this thread, and not blocked in OLD, runs a handler when OLD is
 * restored (*RESTART: every such handler has SA_RESTART). */
static int handler_pending(const sigset_t *old, int *restart)
{
    sigset_t pend;
    if (sigpending(&pend) < 0)
        return 0;
    int found = 0;
    *restart = 1;
    for (int s = 1; s < _NSIG; s++) {
        if (s == 32 || s == 33 || !sigismember(&pend, s) || sigismember(old, s))
            continue;
        struct ksigaction sa;
        if (syscall(SYS_rt_sigaction, s, NULL, &sa, _NSIG / 8) < 0)
            continue;
        if (sa.handler == SIG_IGN || sa.handler == SIG_DFL)
            continue;
        found = 1;
        if (!(sa.flags & SA_RESTART))
            *restart = 0;
    }
    return found;
}

/* Whether a signal pending for this thread would end a wait that unblocks MASK (sigsuspend,
 * pause): caught, or one whose default action ends or stops the process. */
static int deliverable(const sigset_t *mask)
{
    sigset_t pend;
    if (sigpending(&pend) < 0)
        return 1;
    for (int s = 1; s < _NSIG; s++) {
        if (!sigismember(&pend, s) || sigismember(mask, s))
            continue;
        struct ksigaction sa;
        if (syscall(SYS_rt_sigaction, s, NULL, &sa, _NSIG / 8) < 0)
            return 1;
        if (sa.handler == SIG_IGN)
            continue;
        if (sa.handler == SIG_DFL && (s == SIGCHLD || s == SIGCONT || s == SIGURG || s == SIGWINCH))
            continue;
        return 1;
    }
    return 0;
}

/* --- the connection ----------------------------------------------------------------------- */

static int under_control(void)
{
    return g_active && t_fd >= 0 && t_depth == 0 && !t_warm;
}

static void lost(void)
{
    /* the scheduler has gone (the spec ended, or it let go): run free from now on */
    g_active = 0;
    if (t_fd >= 0) {
        RESOLVE(close)(t_fd);
        t_fd = -1;
    }
}

static int send_msg(struct msg *m)
{
    m->pid = g_pid;
    m->tid = t_tid;
    ssize_t r;
    do
        r = RESOLVE(send)(t_fd, m, sizeof *m, MSG_NOSIGNAL);
    while (r < 0 && errno == EINTR);
    return r == (ssize_t)sizeof *m ? 0 : -1;
}

static int recv_reply(struct reply *r)
{
    ssize_t n;
    do
        n = RESOLVE(recv)(t_fd, r, sizeof *r, 0);
    while (n < 0 && errno == EINTR);
    return n == (ssize_t)sizeof *r ? 0 : -1;
}

static void *gil_release(void)
{
    if (g_python && __atomic_load_n(&g_threads, __ATOMIC_RELAXED) > 1 && py_gil_check && py_save_thread && py_gil_check())
        return py_save_thread();
    return NULL;
}

static void gil_take(void *ts)
{
    if (ts)
        py_restore_thread(ts);
}

/* Wait for the scheduler's word: GO (with a budget), TIMEOUT or FREE. With FDS (a blocked
 * wait for them), a CHECK is answered from them, and their readiness is reported once (WAKE)
 * without waiting to be asked. Signals are blocked by the caller. */
static uint32_t await_word(struct pollfd *fds, int nfds)
{
    struct pollfd set[17];
    int woke = 0;
    if (nfds > 16)
        nfds = 16;
    void *ts = gil_release();
    uint32_t word = R_FREE;
    for (;;) {
        set[0].fd = t_fd;
        set[0].events = POLLIN;
        set[0].revents = 0;
        int n = 1;
        if (!woke)
            for (int i = 0; i < nfds; i++) {
                set[n] = fds[i];
                set[n].revents = 0;
                n++;
            }
        int r = RESOLVE(poll)(set, n, -1);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            lost();
            break;
        }
        if (set[0].revents) {
            struct reply rep;
            if (recv_reply(&rep) < 0) {
                lost();
                break;
            }
            if (rep.type == R_CHECK) {
                int ready = 0;
                if (nfds) {
                    struct pollfd probe[16];
                    memcpy(probe, fds, sizeof(struct pollfd) * nfds);
                    ready = RESOLVE(poll)(probe, nfds, 0) > 0;
                }
                struct msg m = {.type = T_CHECKED, .arg = ready};
                if (send_msg(&m) < 0) {
                    lost();
                    break;
                }
                continue;
            }
            t_budget = rep.budget;
            word = rep.type;
            break; /* R_WARM too: hello() takes it */
        }
        if (!woke && n > 1) {
            for (int i = 1; i < n; i++)
                if (set[i].revents)
                    woke = 1;
            if (woke) {
                struct msg m = {.type = T_WAKE};
                if (send_msg(&m) < 0) {
                    lost();
                    break;
                }
            }
        }
    }
    gil_take(ts);
    if (word == R_FREE && g_active) {
        g_active = 0; /* the scheduler lets go of this process: every call passes through */
    }
    return word;
}

static void fill_key(struct msg *m, const struct key *k)
{
    if (k) {
        m->kind = k->kind;
        m->ka = k->a;
        m->kb = k->b;
        m->kc = k->c;
    }
}

/* A scheduling point: say what this task is about to do, and wait for its turn. */
static uint32_t point(uint32_t op, const struct key *k, int64_t arg, int64_t arg2, uint32_t flags)
{
    int saved = errno;
    sigset_t old;
    block_all(&old);
    t_depth++;
    struct msg m = {.type = T_POINT, .op = op, .local = t_local, .arg = arg, .arg2 = arg2, .flags = flags, .deadline = -1};
    fill_key(&m, k);
    t_local = 0;
    uint32_t word = R_FREE;
    if (send_msg(&m) < 0)
        lost();
    else
        word = await_word(NULL, 0);
    t_depth--;
    restore_mask(&old); /* a signal sent meanwhile is delivered now, its handler outside the library */
    errno = saved;
    return word;
}

/* A one-way note: this task did OP to K (another task's wait may be over). */
static void note(uint32_t op, const struct key *k, int64_t arg)
{
    if (!under_control())
        return;
    int saved = errno;
    sigset_t old;
    block_all(&old);
    struct msg m = {.type = T_NOTE, .op = op, .arg = arg, .deadline = -1};
    fill_key(&m, k);
    if (send_msg(&m) < 0)
        lost();
    t_budget = 0; /* the next point asks: a task this may have woken could come first */
    restore_mask(&old);
    errno = saved;
}

/* The operation would block on K: give the turn back until the scheduler resumes this task.
 * R_GO: try again (*EINTR set when a handler ran and the call must fail with EINTR: RESTARTABLE
 * calls restart when every handler asked for it); R_TIMEOUT: DEADLINE passed; R_FREE: control
 * ended, do the real call. */
static uint32_t block(uint32_t op, const struct key *k, struct pollfd *fds, int nfds, int64_t deadline, int restartable, int *eintr)
{
    int saved = errno;
    sigset_t old;
    block_all(&old);
    t_depth++;
    struct msg m = {.type = T_BLOCK, .op = op, .local = t_local, .flags = nfds ? F_FDS : 0, .deadline = deadline};
    fill_key(&m, k);
    t_local = 0;
    uint32_t word = R_FREE;
    if (send_msg(&m) < 0)
        lost();
    else
        word = await_word(fds, nfds);
    int restart = 1;
    sigset_t eff;
    mask_for_turn(&old, &eff);
    int interrupted = word != R_FREE && handler_pending(&eff, &restart);
    t_depth--;
    syscall(SYS_rt_sigprocmask, SIG_SETMASK, &eff, NULL, _NSIG / 8);
    if (eintr)
        *eintr = interrupted && !(restartable && restart);
    errno = saved;
    return word;
}

static int object_key(const void *addr, struct key *k);

/* A point the scheduler need not hear of while the task's budget lasts: a line, an access. */
static void local_point(uint32_t op, uintptr_t addr, uint32_t flags, int64_t line)
{
    if (t_budget) {
        t_budget--;
        t_local++;
        return;
    }
    struct key k = {K_NONE, 0, 0, 0};
    if (addr)
        object_key((const void *)addr, &k);
    point(op, &k, line, 0, flags);
}

/* --- where memory lives: shared mappings, from /proc/self/maps ----------------------------- */

struct mapping {
    uintptr_t lo, hi;
    uint64_t dev, ino, off;
    int shared;
};
#define MAX_MAPPINGS 8192
static struct mapping g_maps[MAX_MAPPINGS];
static int g_nmaps;
static int g_maps_stale = 1;
static int g_maps_lock;

static uint64_t hexval(const char **p)
{
    uint64_t v = 0;
    for (;;) {
        char c = **p;
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0)
            return v;
        v = v * 16 + (uint64_t)d;
        (*p)++;
    }
}

static uint64_t decval(const char **p)
{
    uint64_t v = 0;
    while (**p >= '0' && **p <= '9')
        v = v * 10 + (uint64_t)(*(*p)++ - '0');
    return v;
}

static void parse_maps(void)
{
    static char buf[1 << 20];
    int fd = (int)syscall(SYS_openat, AT_FDCWD, "/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    size_t len = 0;
    for (;;) {
        ssize_t r = syscall(SYS_read, fd, buf + len, sizeof buf - 1 - len);
        if (r <= 0)
            break;
        len += (size_t)r;
        if (len >= sizeof buf - 1)
            break;
    }
    syscall(SYS_close, fd);
    buf[len] = 0;
    int n = 0;
    const char *p = buf;
    while (*p && n < MAX_MAPPINGS) {
        struct mapping m;
        m.lo = hexval(&p);
        p++;
        m.hi = hexval(&p);
        p++;
        m.shared = p[3] == 's';
        p += 5;
        m.off = hexval(&p);
        p++;
        uint64_t major = hexval(&p);
        p++;
        uint64_t minor = hexval(&p);
        m.dev = major << 32 | minor;
        p++;
        m.ino = decval(&p);
        while (*p && *p != '\n')
            p++;
        if (*p)
            p++;
        g_maps[n++] = m;
    }
    g_nmaps = n;
    g_maps_stale = 0;
}

static const struct mapping *find_mapping(uintptr_t a)
{
    int lo = 0, hi = g_nmaps - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (a < g_maps[mid].lo)
            hi = mid - 1;
        else if (a >= g_maps[mid].hi)
            lo = mid + 1;
        else
            return &g_maps[mid];
    }
    return NULL;
}

/* The mapping that holds A (looked up again when the table does not know it), copied to OUT. */
static int mapping_of(uintptr_t a, struct mapping *out)
{
    while (__atomic_exchange_n(&g_maps_lock, 1, __ATOMIC_ACQUIRE))
        ;
    const struct mapping *m = g_maps_stale ? NULL : find_mapping(a);
    if (!m) {
        parse_maps();
        m = find_mapping(a);
    }
    if (m)
        *out = *m;
    __atomic_store_n(&g_maps_lock, 0, __ATOMIC_RELEASE);
    return m != NULL;
}

static void maps_changed(void)
{
    __atomic_store_n(&g_maps_stale, 1, __ATOMIC_RELEASE);
}

/* The identity of the synchronisation object at ADDR, the same in every process that maps it:
 * (device, inode, offset) in a shared mapping; (pid, address) in this process's own memory,
 * which only its threads share. 0 when it is private and this process has one thread. */
static int object_key(const void *addr, struct key *k)
{
    struct mapping m;
    uintptr_t a = (uintptr_t)addr;
    if (mapping_of(a, &m) && m.shared) {
        k->kind = K_MEM;
        k->a = m.dev;
        k->b = m.ino;
        k->c = m.off + (a - m.lo);
        return 1;
    }
    if (__atomic_load_n(&g_threads, __ATOMIC_RELAXED) < 2)
        return 0;
    k->kind = K_PMEM;
    k->a = (uint64_t)g_pid;
    k->b = a;
    k->c = 0;
    return 1;
}

/* Whether an access to A is a point: memory another process, thread or handler may touch. */
static __thread uintptr_t t_hit_lo, t_hit_hi;
static __thread int t_hit_shared;
static int watched(uintptr_t a)
{
    if (__atomic_load_n(&g_threads, __ATOMIC_RELAXED) > 1 && !(a >= t_stack_lo && a < t_stack_hi))
        return 1;
    if (g_handlers && a >= g_data_lo && a < g_data_hi)
        return 1;
    if (a >= t_hit_lo && a < t_hit_hi && !__atomic_load_n(&g_maps_stale, __ATOMIC_ACQUIRE))
        return t_hit_shared;
    struct mapping m;
    if (!mapping_of(a, &m))
        return 0;
    t_hit_lo = m.lo;
    t_hit_hi = m.hi;
    t_hit_shared = m.shared;
    return m.shared;
}

/* --- file descriptors ---------------------------------------------------------------------- */

/* What FD is, for a point: a pipe or FIFO, a socket, another file poll(2) can wait on (an
 * eventfd, a signalfd, a POSIX queue); 0 for a regular file, a directory or a device, whose
 * calls are no meeting of processes. */
static int fd_key(int fd, struct key *k)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return 0;
    if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode) || S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) || S_ISLNK(st.st_mode))
        return 0;
    k->kind = S_ISFIFO(st.st_mode) ? K_PIPE : S_ISSOCK(st.st_mode) ? K_SOCK : K_FD;
    k->a = st.st_dev;
    k->b = st.st_ino;
    k->c = (uint64_t)fd;
    return 1;
}

static int nonblocking(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl >= 0 && (fl & O_NONBLOCK);
}

static int ready(int fd, short events)
{
    struct pollfd p = {fd, events, 0};
    return RESOLVE(poll)(&p, 1, 0) != 0;
}

static int64_t socket_timeout(int fd, int opt)
{
    struct timeval tv;
    socklen_t len = sizeof tv;
    if (getsockopt(fd, SOL_SOCKET, opt, &tv, &len) < 0 || (tv.tv_sec == 0 && tv.tv_usec == 0))
        return -1;
    return after_ns((int64_t)tv.tv_sec * 1000000000 + (int64_t)tv.tv_usec * 1000);
}

/* Wait, under control, until FD is ready for EVENTS: 0 then; -1 with errno (EINTR, EAGAIN at a
 * socket's timeout); 1 when control ended (do the real call). */
static int wait_fd(uint32_t op, const struct key *k, int fd, short events, int64_t deadline)
{
    for (;;) {
        if (ready(fd, events))
            return 0;
        struct pollfd p = {fd, events, 0};
        int eintr = 0;
        uint32_t w = block(op, k, &p, 1, deadline, 1, &eintr);
        if (w == R_FREE)
            return 1;
        if (eintr) {
            errno = EINTR;
            return -1;
        }
        if (w == R_TIMEOUT) {
            errno = EAGAIN;
            return -1;
        }
    }
}

/* --- registration -------------------------------------------------------------------------- */

static void stack_range(void)
{
    pthread_attr_t attr;
    void *addr;
    size_t size;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
        if (pthread_attr_getstack(&attr, &addr, &size) == 0) {
            t_stack_lo = (uintptr_t)addr;
            t_stack_hi = (uintptr_t)addr + size;
        }
        pthread_attr_destroy(&attr);
    }
}

/* Connect this task and say hello (TOKEN: its creator's, FLAGS: how it came); then wait for
 * its first turn. 0 when it is under control. */
static int hello(uint64_t token, uint32_t flags)
{
    int fd = (int)syscall(SYS_socket, AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, g_path, sizeof sa.sun_path - 1);
    if (syscall(SYS_connect, fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        syscall(SYS_close, fd);
        return -1;
    }
    int high = fcntl(fd, F_DUPFD_CLOEXEC, 700); /* out of the way of programs' own descriptors */
    if (high >= 0) {
        syscall(SYS_close, fd);
        fd = high;
    }
    t_fd = fd;
    t_tid = gettid_();
    stack_range();
    sigset_t old;
    block_all(&old);
    t_depth++;
    struct msg m = {.type = T_HELLO, .arg = (int64_t)token, .arg2 = getppid(), .deadline = -1,
                    .flags = flags | (g_python ? F_PYTHON : 0) | (g_instrumented ? F_INSTRUMENTED : 0)};
    int ok = send_msg(&m) == 0;
    if (ok && await_word(NULL, 0) == R_WARM)
        t_warm = 1; /* the scheduler lets the interpreter start in parallel with the others */
    else if (!ok)
        lost();
    t_depth--;
    restore_mask(&old);
    return ok ? 0 : -1;
}

static int data_range(struct dl_phdr_info *info, size_t size, void *unused)
{
    (void)size;
    (void)unused;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_W)) {
            g_data_lo = info->dlpi_addr + ph->p_vaddr;
            g_data_hi = g_data_lo + ph->p_memsz;
        }
    }
    return 1; /* the first object is the program itself */
}

__attribute__((constructor)) static void ipcsched_init(void)
{
    const char *path = getenv("IPC_SCHED_SOCKET");
    if (!path || !*path || strlen(path) >= sizeof g_path)
        return;
    strcpy(g_path, path);
    g_pid = getpid();
    py_gil_check = (int (*)(void))dlsym(RTLD_DEFAULT, "PyGILState_Check");
    py_save_thread = (void *(*)(void))dlsym(RTLD_DEFAULT, "PyEval_SaveThread");
    py_restore_thread = (void (*)(void *))dlsym(RTLD_DEFAULT, "PyEval_RestoreThread");
    g_python = dlsym(RTLD_DEFAULT, "Py_IsInitialized") != NULL;
    dl_iterate_phdr(data_range, NULL);
    g_active = 1;
    if (hello(0, F_ROOT) < 0)
        g_active = 0;
}

EXPORT int ipcsched_active(void)
{
    return g_active && t_fd >= 0;
}

/* A line of the submission's Python (sitecustomize): a point of its own. */
EXPORT void ipcsched_line(int line)
{
    if (t_warm && g_active && t_fd >= 0 && !t_depth) {
        t_warm = 0; /* the submission's first line: from here on, one task at a time */
        point(OP_START, NULL, line, 0, 0);
        return;
    }
    if (under_control())
        local_point(OP_LINE, 0, 0, line);
}

/* A line of Python that stores a global variable (STORE_GLOBAL): a point the scheduler hears of
 * whatever the budget, where a schedule of depth 0 may let the others go first (the store of
 * a read-add-store made over two lines). */
EXPORT void ipcsched_store(int line)
{
    if (t_warm || !under_control()) {
        ipcsched_line(line);
        return;
    }
    point(OP_STORE, NULL, line, 0, F_WRITE);
}

/* --- semaphores ---------------------------------------------------------------------------- */

static int sem_wait_until(sem_t *s, int64_t deadline, int timed)
{
    struct key k;
    if (!object_key(s, &k))
        return -2;
    if (point(OP_SEM_WAIT, &k, 0, 0, 0) == R_FREE)
        return -2;
    for (;;) {
        if (RESOLVE(sem_trywait)(s) == 0)
            return 0;
        if (errno != EAGAIN)
            return -1;
        int eintr = 0;
        uint32_t w = block(OP_SEM_WAIT, &k, NULL, 0, deadline, 0, &eintr);
        if (w == R_FREE)
            return -2;
        if (eintr) {
            errno = EINTR;
            return -1;
        }
        if (w == R_TIMEOUT && timed) {
            errno = ETIMEDOUT;
            return -1;
        }
    }
}

/* In CPython, a private semaphore is one of the interpreter's locks; only a wait it makes
 * without the GIL (a thread's lock.acquire()) is the program's. */
static int interpreter_holds_gil(void)
{
    return g_python && py_gil_check && py_gil_check();
}

EXPORT int sem_wait(sem_t *s)
{
    if (under_control() && !interpreter_holds_gil()) {
        int r = sem_wait_until(s, -1, 0);
        if (r != -2)
            return r;
    }
    return RESOLVE(sem_wait)(s);
}

EXPORT int sem_timedwait(sem_t *s, const struct timespec *abs)
{
    if (under_control() && !interpreter_holds_gil()) {
        int r = sem_wait_until(s, deadline_of(CLOCK_REALTIME, abs), 1);
        if (r != -2)
            return r;
    }
    return RESOLVE(sem_timedwait)(s, abs);
}

EXPORT int sem_clockwait(sem_t *s, clockid_t clock, const struct timespec *abs)
{
    if (under_control() && !interpreter_holds_gil()) {
        int r = sem_wait_until(s, deadline_of(clock, abs), 1);
        if (r != -2)
            return r;
    }
    return RESOLVE(sem_clockwait)(s, clock, abs);
}

EXPORT int sem_trywait(sem_t *s)
{
    struct key k;
    if (under_control() && !interpreter_holds_gil() && object_key(s, &k))
        point(OP_SEM_TRYWAIT, &k, 0, 0, 0);
    return RESOLVE(sem_trywait)(s);
}

EXPORT int sem_post(sem_t *s)
{
    struct key k;
    if (under_control() && object_key(s, &k)) {
        if (interpreter_holds_gil()) {
            int r = RESOLVE(sem_post)(s);
            note(OP_SEM_POST, &k, 0);
            return r;
        }
        point(OP_SEM_POST, &k, 0, 0, F_WRITE);
    }
    return RESOLVE(sem_post)(s);
}

/* --- pthread mutexes and condition variables (not CPython's own) --------------------------- */

static int sync_key(const void *p, struct key *k)
{
    if (!under_control())
        return 0;
    if (g_python) { /* the interpreter's GIL and locks: only one in shared memory is the program's */
        struct mapping m;
        if (!mapping_of((uintptr_t)p, &m) || !m.shared)
            return 0;
    }
    return object_key(p, k);
}

static int mutex_lock_until(pthread_mutex_t *mu, const struct key *k, int64_t deadline)
{
    for (;;) {
        int r = RESOLVE(pthread_mutex_trylock)(mu);
        if (r != EBUSY)
            return r;
        uint32_t w = block(OP_MUTEX_LOCK, k, NULL, 0, deadline, 1, NULL);
        if (w == R_FREE)
            return deadline < 0 ? RESOLVE(pthread_mutex_lock)(mu) : EBUSY;
        if (w == R_TIMEOUT)
            return ETIMEDOUT;
    }
}

EXPORT int pthread_mutex_lock(pthread_mutex_t *mu)
{
    struct key k;
    if (sync_key(mu, &k) && point(OP_MUTEX_LOCK, &k, 0, 0, 0) != R_FREE)
        return mutex_lock_until(mu, &k, -1);
    return RESOLVE(pthread_mutex_lock)(mu);
}

EXPORT int pthread_mutex_timedlock(pthread_mutex_t *mu, const struct timespec *abs)
{
    struct key k;
    if (sync_key(mu, &k) && point(OP_MUTEX_LOCK, &k, 0, 0, 0) != R_FREE)
        return mutex_lock_until(mu, &k, deadline_of(CLOCK_REALTIME, abs));
    return RESOLVE(pthread_mutex_timedlock)(mu, abs);
}

EXPORT int pthread_mutex_trylock(pthread_mutex_t *mu)
{
    struct key k;
    if (sync_key(mu, &k))
        point(OP_MUTEX_LOCK, &k, 0, 0, 0);
    return RESOLVE(pthread_mutex_trylock)(mu);
}

EXPORT int pthread_mutex_unlock(pthread_mutex_t *mu)
{
    struct key k;
    if (sync_key(mu, &k))
        point(OP_MUTEX_UNLOCK, &k, 0, 0, F_WRITE);
    return RESOLVE(pthread_mutex_unlock)(mu);
}

static int cond_wait_until(pthread_cond_t *c, pthread_mutex_t *mu, int64_t deadline)
{
    struct key ck, mk;
    if (!sync_key(c, &ck) || !sync_key(mu, &mk))
        return -2;
    if (point(OP_COND_WAIT, &ck, 0, 0, 0) == R_FREE)
        return -2;
    RESOLVE(pthread_mutex_unlock)(mu);
    note(OP_MUTEX_UNLOCK, &mk, 0);
    /* a wake-up may be spurious (pthread_cond_wait(3)): one turn after a signal or broadcast */
    uint32_t w = block(OP_COND_WAIT, &ck, NULL, 0, deadline, 1, NULL);
    int r = mutex_lock_until(mu, &mk, -1);
    if (r)
        return r;
    return w == R_TIMEOUT ? ETIMEDOUT : 0;
}

EXPORT int pthread_cond_wait(pthread_cond_t *c, pthread_mutex_t *mu)
{
    int r = cond_wait_until(c, mu, -1);
    return r != -2 ? r : RESOLVE(pthread_cond_wait)(c, mu);
}

EXPORT int pthread_cond_timedwait(pthread_cond_t *c, pthread_mutex_t *mu, const struct timespec *abs)
{
    int r = cond_wait_until(c, mu, deadline_of(CLOCK_REALTIME, abs)); /* (a condattr's clock aside) */
    return r != -2 ? r : RESOLVE(pthread_cond_timedwait)(c, mu, abs);
}

EXPORT int pthread_cond_signal(pthread_cond_t *c)
{
    struct key k;
    if (sync_key(c, &k))
        point(OP_COND_SIGNAL, &k, 0, 0, F_WRITE);
    return RESOLVE(pthread_cond_signal)(c);
}

EXPORT int pthread_cond_broadcast(pthread_cond_t *c)
{
    struct key k;
    if (sync_key(c, &k))
        point(OP_COND_SIGNAL, &k, 1, 0, F_WRITE);
    return RESOLVE(pthread_cond_broadcast)(c);
}

/* --- threads ------------------------------------------------------------------------------- */

struct start {
    void *(*fn)(void *);
    void *arg;
    uint64_t token;
};

/* A thread ends: it leaves the schedule with every signal blocked for the rest of its life,
 * so that a signal sent to its process goes to a thread that waits for it (as the kernel would
 * choose the main thread), not to one that is only exiting. */
static void bye(void)
{
    if (t_fd < 0)
        return;
    sigset_t old;
    block_all(&old);
    if (t_tid == g_pid)
        g_main_known = 0; /* the main thread leaves (pthread_exit): others take the signals */
    struct msg m = {.type = T_BYE, .deadline = -1};
    send_msg(&m);
    RESOLVE(close)(t_fd);
    t_fd = -1;
    __atomic_sub_fetch(&g_threads, 1, __ATOMIC_RELAXED);
}

static void *trampoline(void *p)
{
    struct start s = *(struct start *)p;
    free(p);
    if (g_active && hello(s.token, F_THREAD) < 0)
        __atomic_sub_fetch(&g_threads, 1, __ATOMIC_RELAXED);
    void *r = s.fn(s.arg);
    bye();
    return r;
}

EXPORT int pthread_create(pthread_t *th, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
    if (!under_control())
        return RESOLVE(pthread_create)(th, attr, fn, arg);
    if (point(OP_THREAD, NULL, 0, 0, 0) == R_FREE)
        return RESOLVE(pthread_create)(th, attr, fn, arg);
    struct start *s = malloc(sizeof *s);
    if (!s)
        return EAGAIN;
    s->fn = fn;
    s->arg = arg;
    s->token = __atomic_add_fetch(&g_tokens, 1, __ATOMIC_RELAXED) | (uint64_t)t_tid << 32;
    __atomic_add_fetch(&g_threads, 1, __ATOMIC_RELAXED);
    int r = RESOLVE(pthread_create)(th, attr, trampoline, s);
    if (r) {
        __atomic_sub_fetch(&g_threads, 1, __ATOMIC_RELAXED);
        free(s);
        return r;
    }
    if (under_control())
        point(OP_THREAD_CREATED, NULL, 0, (int64_t)s->token, F_WRITE);
    return 0;
}

EXPORT void pthread_exit(void *r)
{
    bye();
    RESOLVE(pthread_exit)(r);
    __builtin_unreachable();
}

EXPORT int pthread_join(pthread_t th, void **ret)
{
    if (!under_control() || point(OP_JOIN, NULL, 0, 0, 0) == R_FREE)
        return RESOLVE(pthread_join)(th, ret);
    struct key k = {K_THREAD, (uint64_t)g_pid, 0, 0};
    for (;;) {
        int r = pthread_tryjoin_np(th, ret);
        if (r != EBUSY)
            return r;
        if (block(OP_JOIN, &k, NULL, 0, -1, 1, NULL) == R_FREE)
            return RESOLVE(pthread_join)(th, ret);
    }
}

/* --- reads and writes on pipes, FIFOs and sockets ------------------------------------------ */

#define IO_IN(op, call, fd, dontwait, timeout_opt)                                             \
    do {                                                                                        \
        struct key k;                                                                           \
        if (under_control() && fd_key(fd, &k) && point(op, &k, fd, 0, 0) != R_FREE) {           \
            if (!(dontwait) && !nonblocking(fd)) {                                              \
                int w = wait_fd(op, &k, fd, POLLIN, k.kind == K_SOCK ? socket_timeout(fd, timeout_opt) : -1); \
                if (w < 0)                                                                      \
                    return -1;                                                                  \
            }                                                                                   \
        }                                                                                       \
        return call;                                                                            \
    } while (0)

#define IO_OUT(op, call, fd, dontwait, timeout_opt, size)                                      \
    do {                                                                                        \
        struct key k;                                                                           \
        if (under_control() && fd_key(fd, &k) && point(op, &k, fd, (int64_t)(size), F_WRITE) != R_FREE) { \
            if (!(dontwait) && !nonblocking(fd)) {                                              \
                int w = wait_fd(op, &k, fd, POLLOUT, k.kind == K_SOCK ? socket_timeout(fd, timeout_opt) : -1); \
                if (w < 0)                                                                      \
                    return -1;                                                                  \
            }                                                                                   \
        }                                                                                       \
        return call;                                                                            \
    } while (0)

EXPORT ssize_t read(int fd, void *buf, size_t n)
{
    IO_IN(OP_READ, RESOLVE(read)(fd, buf, n), fd, 0, SO_RCVTIMEO);
}

EXPORT ssize_t readv(int fd, const struct iovec *iov, int cnt)
{
    IO_IN(OP_READ, RESOLVE(readv)(fd, iov, cnt), fd, 0, SO_RCVTIMEO);
}

EXPORT ssize_t recv(int fd, void *buf, size_t n, int flags)
{
    IO_IN(OP_READ, RESOLVE(recv)(fd, buf, n, flags), fd, flags & MSG_DONTWAIT, SO_RCVTIMEO);
}

EXPORT ssize_t recvfrom(int fd, void *buf, size_t n, int flags, struct sockaddr *from, socklen_t *len)
{
    IO_IN(OP_READ, RESOLVE(recvfrom)(fd, buf, n, flags, from, len), fd, flags & MSG_DONTWAIT, SO_RCVTIMEO);
}

EXPORT ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
    IO_IN(OP_READ, RESOLVE(recvmsg)(fd, msg, flags), fd, flags & MSG_DONTWAIT, SO_RCVTIMEO);
}

static size_t iov_size(const struct iovec *iov, int cnt)
{
    size_t n = 0;
    for (int i = 0; iov && i < cnt; i++)
        n += iov[i].iov_len;
    return n;
}

EXPORT ssize_t write(int fd, const void *buf, size_t n)
{
    IO_OUT(OP_WRITE, RESOLVE(write)(fd, buf, n), fd, 0, SO_SNDTIMEO, n);
}

EXPORT ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
    IO_OUT(OP_WRITE, RESOLVE(writev)(fd, iov, cnt), fd, 0, SO_SNDTIMEO, iov_size(iov, cnt));
}

EXPORT ssize_t send(int fd, const void *buf, size_t n, int flags)
{
    IO_OUT(OP_WRITE, RESOLVE(send)(fd, buf, n, flags), fd, flags & MSG_DONTWAIT, SO_SNDTIMEO, n);
}

EXPORT ssize_t sendto(int fd, const void *buf, size_t n, int flags, const struct sockaddr *to, socklen_t len)
{
    IO_OUT(OP_WRITE, RESOLVE(sendto)(fd, buf, n, flags, to, len), fd, flags & MSG_DONTWAIT, SO_SNDTIMEO, n);
}

EXPORT ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
    IO_OUT(OP_WRITE, RESOLVE(sendmsg)(fd, msg, flags), fd, flags & MSG_DONTWAIT, SO_SNDTIMEO, msg ? iov_size(msg->msg_iov, (int)msg->msg_iovlen) : 0);
}

EXPORT int accept(int fd, struct sockaddr *a, socklen_t *len)
{
    IO_IN(OP_ACCEPT, RESOLVE(accept)(fd, a, len), fd, 0, SO_RCVTIMEO);
}

EXPORT int accept4(int fd, struct sockaddr *a, socklen_t *len, int flags)
{
    IO_IN(OP_ACCEPT, RESOLVE(accept4)(fd, a, len, flags), fd, 0, SO_RCVTIMEO);
}

EXPORT int connect(int fd, const struct sockaddr *a, socklen_t len)
{
    struct key k;
    if (under_control() && fd_key(fd, &k))
        point(OP_CONNECT, &k, fd, 0, F_WRITE);
    return RESOLVE(connect)(fd, a, len);
}

EXPORT int close(int fd)
{
    struct key k;
    if (under_control() && fd != t_fd && fd_key(fd, &k))
        point(OP_CLOSE, &k, fd, 0, F_WRITE);
    if (fd == t_fd && t_fd >= 0) { /* a program that closes every descriptor: keep ours */
        errno = EBADF;
        return -1;
    }
    return RESOLVE(close)(fd);
}

EXPORT int shutdown(int fd, int how)
{
    struct key k;
    if (under_control() && fd_key(fd, &k))
        point(OP_CLOSE, &k, fd, 1, F_WRITE);
    return RESOLVE(shutdown)(fd, how);
}

/* --- waiting for several descriptors: poll, select, epoll ------------------------------------ */

static int64_t ms_deadline(int ms)
{
    return ms < 0 ? -1 : after_ns((int64_t)ms * 1000000);
}

static int ms_left(int64_t deadline)
{
    if (deadline < 0)
        return -1;
    int64_t left = deadline - now_ns();
    return left <= 0 ? 0 : (int)((left + 999999) / 1000000);
}

/* poll or ppoll (MASK: the mask to wait under) until DEADLINE, one task at a time. -2: control
 * ended (the real call). */
static int poll_until(struct pollfd *fds, nfds_t n, int64_t deadline, const sigset_t *mask)
{
    for (;;) {
        struct timespec zero = {0, 0};
        int r = mask ? RESOLVE(ppoll)(fds, n, &zero, mask) : RESOLVE(poll)(fds, n, 0);
        if (r != 0) /* ready, or a signal the mask lets through was handled (EINTR) */
            return r;
        int eintr = 0;
        uint32_t w = block(OP_POLL, NULL, fds, (int)n, deadline, 0, &eintr);
        if (w == R_FREE)
            return -2;
        if (eintr) {
            errno = EINTR;
            return -1;
        }
        if (w == R_TIMEOUT)
            return 0;
    }
}

EXPORT int poll(struct pollfd *fds, nfds_t n, int timeout)
{
    if (under_control() && timeout != 0 && point(OP_POLL, NULL, (int64_t)n, timeout, 0) != R_FREE) {
        int64_t deadline = ms_deadline(timeout);
        int r = poll_until(fds, n, deadline, NULL);
        if (r != -2)
            return r;
        return RESOLVE(poll)(fds, n, ms_left(deadline));
    }
    return RESOLVE(poll)(fds, n, timeout);
}

EXPORT int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *ts, const sigset_t *mask)
{
    if (under_control() && !(ts && ts->tv_sec == 0 && ts->tv_nsec == 0) && point(OP_POLL, NULL, (int64_t)n, 0, 0) != R_FREE) {
        int r = poll_until(fds, n, ts ? after_ns((int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec) : -1, mask);
        if (r != -2)
            return r;
    }
    return RESOLVE(ppoll)(fds, n, ts, mask);
}

static int select_until(int nfds, fd_set *r, fd_set *w, fd_set *e, int64_t deadline, const sigset_t *mask)
{
    struct pollfd set[16];
    int n = 0;
    for (int fd = 0; fd < nfds && n < 16; fd++) {
        short ev = (short)((r && FD_ISSET(fd, r) ? POLLIN : 0) | (w && FD_ISSET(fd, w) ? POLLOUT : 0) | (e && FD_ISSET(fd, e) ? POLLPRI : 0));
        if (ev)
            set[n++] = (struct pollfd){fd, ev, 0};
    }
    fd_set r0, w0, e0;
    if (r)
        r0 = *r;
    if (w)
        w0 = *w;
    if (e)
        e0 = *e;
    for (;;) {
        struct timeval zero = {0, 0};
        struct timespec zero_ts = {0, 0};
        /* ready, or (pselect) a signal its mask lets through was handled: EINTR */
        int got = mask ? RESOLVE(pselect)(nfds, r, w, e, &zero_ts, mask) : RESOLVE(select)(nfds, r, w, e, &zero);
        if (got != 0)
            return got;
        if (r)
            *r = r0;
        if (w)
            *w = w0;
        if (e)
            *e = e0;
        int eintr = 0;
        uint32_t word = block(OP_POLL, NULL, set, n, deadline, 0, &eintr);
        if (word == R_FREE)
            return -2;
        if (eintr) {
            errno = EINTR;
            return -1;
        }
        if (word == R_TIMEOUT) {
            if (r)
                FD_ZERO(r);
            if (w)
                FD_ZERO(w);
            if (e)
                FD_ZERO(e);
            return 0;
        }
    }
}

EXPORT int select(int nfds, fd_set *r, fd_set *w, fd_set *e, struct timeval *tv)
{
    if (under_control() && !(tv && tv->tv_sec == 0 && tv->tv_usec == 0) && point(OP_POLL, NULL, nfds, 0, 0) != R_FREE) {
        int64_t deadline = tv ? after_ns((int64_t)tv->tv_sec * 1000000000 + (int64_t)tv->tv_usec * 1000) : -1;
        int got = select_until(nfds, r, w, e, deadline, NULL);
        if (got != -2)
            return got;
    }
    return RESOLVE(select)(nfds, r, w, e, tv);
}

EXPORT int pselect(int nfds, fd_set *r, fd_set *w, fd_set *e, const struct timespec *ts, const sigset_t *mask)
{
    if (under_control() && !(ts && ts->tv_sec == 0 && ts->tv_nsec == 0) && point(OP_POLL, NULL, nfds, 0, 0) != R_FREE) {
        int got = select_until(nfds, r, w, e, ts ? after_ns((int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec) : -1, mask);
        if (got != -2)
            return got;
    }
    return RESOLVE(pselect)(nfds, r, w, e, ts, mask);
}

EXPORT int epoll_wait(int ep, struct epoll_event *ev, int max, int timeout)
{
    if (!under_control() || timeout == 0 || point(OP_POLL, NULL, ep, timeout, 0) == R_FREE)
        return RESOLVE(epoll_wait)(ep, ev, max, timeout);
    int64_t deadline = ms_deadline(timeout);
    for (;;) {
        int r = RESOLVE(epoll_wait)(ep, ev, max, 0);
        if (r != 0)
            return r;
        struct pollfd p = {ep, POLLIN, 0};
        int eintr = 0;
        uint32_t w = block(OP_POLL, NULL, &p, 1, deadline, 0, &eintr);
        if (w == R_FREE)
            return RESOLVE(epoll_wait)(ep, ev, max, ms_left(deadline));
        if (eintr) {
            errno = EINTR;
            return -1;
        }
        if (w == R_TIMEOUT)
            return 0;
    }
}

EXPORT int epoll_pwait(int ep, struct epoll_event *ev, int max, int timeout, const sigset_t *mask)
{
    if (!mask)
        return epoll_wait(ep, ev, max, timeout);
    if (!under_control() || timeout == 0 || point(OP_POLL, NULL, ep, timeout, 0) == R_FREE)
        return RESOLVE(epoll_pwait)(ep, ev, max, timeout, mask);
    int64_t deadline = ms_deadline(timeout);
    for (;;) {
        int r = RESOLVE(epoll_pwait)(ep, ev, max, 0, mask);
        if (r != 0)
            return r;
        struct pollfd p = {ep, POLLIN, 0};
        int eintr = 0;
        uint32_t w = block(OP_POLL, NULL, &p, 1, deadline, 0, &eintr);
        if (w == R_FREE)
            return RESOLVE(epoll_pwait)(ep, ev, max, ms_left(deadline), mask);
        if (eintr) {
            errno = EINTR;
            return -1;
        }
        if (w == R_TIMEOUT)
            return 0;
    }
}

/* --- message queues and System V semaphores ------------------------------------------------ */

EXPORT int msgsnd(int id, const void *p, size_t size, int flags)
{
    struct key k = {K_MSQ, (uint64_t)id, 0, 0};
    if (!under_control() || point(OP_MSGSND, &k, id, 0, F_WRITE) == R_FREE || (flags & IPC_NOWAIT))
        return RESOLVE(msgsnd)(id, p, size, flags);
    for (;;) {
        int r = RESOLVE(msgsnd)(id, p, size, flags | IPC_NOWAIT);
        if (r == 0 || errno != EAGAIN)
            return r;
        int eintr = 0;
        if (block(OP_MSGSND, &k, NULL, 0, -1, 0, &eintr) == R_FREE)
            return RESOLVE(msgsnd)(id, p, size, flags);
        if (eintr) {
            errno = EINTR;
            return -1;
        }
    }
}

EXPORT ssize_t msgrcv(int id, void *p, size_t size, long type, int flags)
{
    struct key k = {K_MSQ, (uint64_t)id, 0, 0};
    if (!under_control() || point(OP_MSGRCV, &k, id, type, F_WRITE) == R_FREE || (flags & IPC_NOWAIT))
        return RESOLVE(msgrcv)(id, p, size, type, flags);
    for (;;) {
        ssize_t r = RESOLVE(msgrcv)(id, p, size, type, flags | IPC_NOWAIT);
        if (r >= 0 || errno != ENOMSG)
            return r;
        int eintr = 0;
        if (block(OP_MSGRCV, &k, NULL, 0, -1, 0, &eintr) == R_FREE)
            return RESOLVE(msgrcv)(id, p, size, type, flags);
        if (eintr) {
            errno = EINTR;
            return -1;
        }
    }
}

static int semop_until(int id, struct sembuf *ops, size_t n, int64_t deadline)
{
    struct key k = {K_SYSVSEM, (uint64_t)id, 0, 0};
    if (point(OP_SEMOP, &k, id, (int64_t)n, F_WRITE) == R_FREE)
        return -2;
    struct sembuf nowait[64];
    if (n > 64)
        return -2;
    int all_nowait = 1;
    for (size_t i = 0; i < n; i++) {
        nowait[i] = ops[i];
        if (!(ops[i].sem_flg & IPC_NOWAIT))
            all_nowait = 0;
        nowait[i].sem_flg |= IPC_NOWAIT;
    }
    if (all_nowait)
        return -2;
    for (;;) {
        int r = RESOLVE(semop)(id, nowait, n);
        if (r == 0 || errno != EAGAIN)
            return r;
        int eintr = 0;
        uint32_t w = block(OP_SEMOP, &k, NULL, 0, deadline, 0, &eintr);
        if (w == R_FREE)
            return -2;
        if (eintr) {
            errno = EINTR;
            return -1;
        }
        if (w == R_TIMEOUT) {
            errno = EAGAIN;
            return -1;
        }
    }
}

EXPORT int semop(int id, struct sembuf *ops, size_t n)
{
    if (under_control()) {
        int r = semop_until(id, ops, n, -1);
        if (r != -2)
            return r;
    }
    return RESOLVE(semop)(id, ops, n);
}

EXPORT int semtimedop(int id, struct sembuf *ops, size_t n, const struct timespec *t)
{
    if (under_control()) {
        int r = semop_until(id, ops, n, t ? after_ns((int64_t)t->tv_sec * 1000000000 + t->tv_nsec) : -1);
        if (r != -2)
            return r;
    }
    return RESOLVE(semtimedop)(id, ops, n, t);
}

static int mq_wait(uint32_t op, mqd_t q, short events, int64_t deadline, int flags)
{
    struct key k;
    if (!fd_key(q, &k))
        k = (struct key){K_FD, 0, (uint64_t)q, 0};
    if (point(op, &k, q, 0, flags) == R_FREE)
        return 1;
    if (nonblocking(q))
        return 0;
    return wait_fd(op, &k, q, events, deadline);
}

EXPORT int mq_send(mqd_t q, const char *p, size_t n, unsigned prio)
{
    if (under_control()) {
        int w = mq_wait(OP_MQ_SEND, q, POLLOUT, -1, F_WRITE);
        if (w < 0)
            return -1;
    }
    return RESOLVE(mq_send)(q, p, n, prio);
}

EXPORT int mq_timedsend(mqd_t q, const char *p, size_t n, unsigned prio, const struct timespec *abs)
{
    if (under_control()) {
        int w = mq_wait(OP_MQ_SEND, q, POLLOUT, deadline_of(CLOCK_REALTIME, abs), F_WRITE);
        if (w < 0) {
            if (errno == EAGAIN)
                errno = ETIMEDOUT;
            return -1;
        }
    }
    return RESOLVE(mq_timedsend)(q, p, n, prio, abs);
}

EXPORT ssize_t mq_receive(mqd_t q, char *p, size_t n, unsigned *prio)
{
    if (under_control()) {
        int w = mq_wait(OP_MQ_RECEIVE, q, POLLIN, -1, F_WRITE);
        if (w < 0)
            return -1;
    }
    return RESOLVE(mq_receive)(q, p, n, prio);
}

EXPORT ssize_t mq_timedreceive(mqd_t q, char *p, size_t n, unsigned *prio, const struct timespec *abs)
{
    if (under_control()) {
        int w = mq_wait(OP_MQ_RECEIVE, q, POLLIN, deadline_of(CLOCK_REALTIME, abs), F_WRITE);
        if (w < 0) {
            if (errno == EAGAIN)
                errno = ETIMEDOUT;
            return -1;
        }
    }
    return RESOLVE(mq_timedreceive)(q, p, n, prio, abs);
}

/* --- signals ------------------------------------------------------------------------------- */

EXPORT int kill(pid_t pid, int sig)
{
    if (under_control()) {
        struct key k = {K_SIG, (uint64_t)(int64_t)pid, 0, 0};
        point(OP_KILL, &k, pid, sig, F_WRITE);
    }
    return RESOLVE(kill)(pid, sig);
}

EXPORT int killpg(pid_t pgrp, int sig)
{
    if (under_control()) {
        struct key k = {K_SIG, (uint64_t)(int64_t)-pgrp, 0, 0};
        point(OP_KILL, &k, -pgrp, sig, F_WRITE);
    }
    return RESOLVE(killpg)(pgrp, sig);
}

EXPORT int sigqueue(pid_t pid, int sig, const union sigval v)
{
    if (under_control()) {
        struct key k = {K_SIG, (uint64_t)(int64_t)pid, 0, 0};
        point(OP_KILL, &k, pid, sig, F_WRITE);
    }
    return RESOLVE(sigqueue)(pid, sig, v);
}

EXPORT int pthread_kill(pthread_t th, int sig)
{
    if (under_control() && sig != 0) {
        struct key k = {K_SIG, (uint64_t)g_pid, 0, 0};
        point(OP_KILL, &k, g_pid, sig, F_WRITE);
    }
    return RESOLVE(pthread_kill)(th, sig);
}

/* 0: a signal that ends the wait is pending (the real call returns at once); 1: control
 * ended; -1: a handler already ran while the task was let go (EINTR, as the real call would). */
static int wait_deliverable(const sigset_t *mask)
{
    struct key k = {K_SIG, (uint64_t)g_pid, 0, 0};
    if (point(OP_SIGWAIT, &k, 0, 0, 0) == R_FREE)
        return 1;
    for (;;) {
        if (deliverable(mask))
            return 0;
        int eintr = 0;
        if (block(OP_SIGWAIT, &k, NULL, 0, -1, 0, &eintr) == R_FREE)
            return 1;
        if (eintr) {
            errno = EINTR;
            return -1;
        }
    }
}

EXPORT int sigsuspend(const sigset_t *mask)
{
    if (under_control() && wait_deliverable(mask) < 0)
        return -1;
    return RESOLVE(sigsuspend)(mask);
}

EXPORT int pause(void)
{
    if (under_control()) {
        sigset_t now;
        syscall(SYS_rt_sigprocmask, SIG_BLOCK, NULL, &now, _NSIG / 8);
        if (wait_deliverable(&now) < 0)
            return -1;
    }
    return RESOLVE(pause)();
}

static int pending_in(const sigset_t *set)
{
    sigset_t pend;
    if (sigpending(&pend) < 0)
        return 1;
    for (int s = 1; s < _NSIG; s++)
        if (sigismember(&pend, s) && sigismember(set, s))
            return 1;
    return 0;
}

/* 0: a signal of SET is pending (the real call returns at once); 1: control ended; -1: the
 * deadline passed (EAGAIN) or a handler interrupted the wait (EINTR). */
static int wait_pending(const sigset_t *set, int64_t deadline)
{
    struct key k = {K_SIG, (uint64_t)g_pid, 0, 0};
    if (point(OP_SIGWAIT, &k, 1, 0, 0) == R_FREE)
        return 1;
    for (;;) {
        if (pending_in(set))
            return 0;
        int eintr = 0;
        uint32_t w = block(OP_SIGWAIT, &k, NULL, 0, deadline, 0, &eintr);
        if (w == R_FREE)
            return 1;
        if (eintr) {
            errno = EINTR;
            return -1;
        }
        if (w == R_TIMEOUT) {
            errno = EAGAIN;
            return -1;
        }
    }
}

EXPORT int sigwaitinfo(const sigset_t *set, siginfo_t *info)
{
    if (under_control() && wait_pending(set, -1) < 0)
        return -1;
    return RESOLVE(sigwaitinfo)(set, info);
}

EXPORT int sigtimedwait(const sigset_t *set, siginfo_t *info, const struct timespec *t)
{
    if (under_control() && !(t && t->tv_sec == 0 && t->tv_nsec == 0)) {
        if (wait_pending(set, t ? after_ns((int64_t)t->tv_sec * 1000000000 + t->tv_nsec) : -1) < 0)
            return -1;
        struct timespec zero = {0, 0};
        return RESOLVE(sigtimedwait)(set, info, &zero);
    }
    return RESOLVE(sigtimedwait)(set, info, t);
}

EXPORT int sigwait(const sigset_t *set, int *sig)
{
    if (under_control())
        wait_pending(set, -1);
    return RESOLVE(sigwait)(set, sig);
}

EXPORT int sigaction(int sig, const struct sigaction *sa, struct sigaction *old)
{
    if (sa && sa->sa_handler != SIG_IGN && sa->sa_handler != SIG_DFL)
        g_handlers = 1;
    if (under_control() && sa)
        point(OP_SIGACTION, NULL, sig, 0, 0);
    return RESOLVE(sigaction)(sig, sa, old);
}

EXPORT sighandler_t signal(int sig, sighandler_t h)
{
    if (h != SIG_IGN && h != SIG_DFL && h != SIG_ERR)
        g_handlers = 1;
    if (under_control())
        point(OP_SIGACTION, NULL, sig, 0, 0);
    return RESOLVE(signal)(sig, h);
}

EXPORT int sigprocmask(int how, const sigset_t *set, sigset_t *old)
{
    if (under_control() && set)
        point(OP_SIGMASK, NULL, how, 0, 0);
    return RESOLVE(sigprocmask)(how, set, old);
}

EXPORT int pthread_sigmask(int how, const sigset_t *set, sigset_t *old)
{
    if (under_control() && set)
        point(OP_SIGMASK, NULL, how, 0, 0);
    return RESOLVE(pthread_sigmask)(how, set, old);
}

/* --- processes: fork, exec, exit, wait ------------------------------------------------------ */

EXPORT pid_t fork(void)
{
    if (!under_control() || point(OP_FORK, NULL, 0, 0, 0) == R_FREE)
        return RESOLVE(fork)();
    uint64_t token = __atomic_add_fetch(&g_tokens, 1, __ATOMIC_RELAXED) | (uint64_t)g_pid << 32;
    pid_t child = RESOLVE(fork)();
    if (child == 0) {
        g_pid = getpid();
        int inherited = t_fd;
        t_fd = -1;
        t_budget = t_local = 0;
        syscall(SYS_close, inherited);
        g_threads = 1;
        maps_changed();
        if (hello(token, F_FORKED) < 0)
            g_active = 0;
        return 0;
    }
    if (child > 0 && under_control()) {
        struct key k = {K_CHILD, (uint64_t)child, 0, 0};
        point(OP_FORKED, &k, child, (int64_t)token, F_WRITE);
    }
    return child;
}

EXPORT pid_t vfork(void)
{
    return fork(); /* the child runs in a copy: what vfork's may do (exec, _exit) works the same */
}

static void exec_failed(void)
{
    if (under_control())
        point(OP_EXEC_FAILED, NULL, errno, 0, 0);
}

EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
    if (under_control())
        point(OP_EXEC, NULL, 0, 0, F_WRITE);
    int r = RESOLVE(execve)(path, argv, envp);
    int e = errno;
    exec_failed();
    errno = e;
    return r;
}

EXPORT int execv(const char *path, char *const argv[])
{
    if (under_control())
        point(OP_EXEC, NULL, 0, 0, F_WRITE);
    int r = RESOLVE(execv)(path, argv);
    int e = errno;
    exec_failed();
    errno = e;
    return r;
}

EXPORT int execvp(const char *file, char *const argv[])
{
    if (under_control())
        point(OP_EXEC, NULL, 0, 0, F_WRITE);
    int r = RESOLVE(execvp)(file, argv);
    int e = errno;
    exec_failed();
    errno = e;
    return r;
}

EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
    if (under_control())
        point(OP_EXEC, NULL, 0, 0, F_WRITE);
    int r = RESOLVE(execvpe)(file, argv, envp);
    int e = errno;
    exec_failed();
    errno = e;
    return r;
}

EXPORT void _exit(int code)
{
    if (under_control())
        point(OP_EXIT, NULL, code, 0, F_WRITE);
    RESOLVE(_exit)(code);
    __builtin_unreachable();
}

EXPORT void _Exit(int code)
{
    _exit(code);
}

EXPORT void exit(int code)
{
    if (under_control())
        point(OP_EXIT, NULL, code, 1, F_WRITE);
    RESOLVE(exit)(code);
    __builtin_unreachable();
}

/* A wait for a child: 0 when one may have changed (do the real call), 1 when control ended. */
static pid_t wait_child(pid_t (*nohang)(void *), void *ctx)
{
    struct key k = {K_CHILD, (uint64_t)g_pid, 0, 0};
    if (point(OP_WAIT, &k, 0, 0, 0) == R_FREE)
        return -2;
    for (;;) {
        pid_t r = nohang(ctx);
        if (r != 0)
            return r;
        int eintr = 0;
        if (block(OP_WAIT, &k, NULL, 0, -1, 1, &eintr) == R_FREE)
            return -2;
        if (eintr) {
            errno = EINTR;
            return -1;
        }
    }
}

struct waitargs {
    pid_t pid;
    int *status;
    int options;
    struct rusage *ru;
    idtype_t idtype;
    siginfo_t *info;
};

static pid_t wait4_nohang(void *p)
{
    struct waitargs *a = p;
    return RESOLVE(wait4)(a->pid, a->status, a->options | WNOHANG, a->ru);
}

EXPORT pid_t wait4(pid_t pid, int *status, int options, struct rusage *ru)
{
    if (under_control() && !(options & WNOHANG)) {
        struct waitargs a = {pid, status, options, ru, 0, 0};
        pid_t r = wait_child(wait4_nohang, &a);
        if (r != -2)
            return r;
    }
    return RESOLVE(wait4)(pid, status, options, ru);
}

EXPORT pid_t waitpid(pid_t pid, int *status, int options)
{
    return wait4(pid, status, options, NULL);
}

EXPORT pid_t wait(int *status)
{
    return wait4(-1, status, 0, NULL);
}

EXPORT pid_t wait3(int *status, int options, struct rusage *ru)
{
    return wait4(-1, status, options, ru);
}

static pid_t waitid_nohang(void *p)
{
    struct waitargs *a = p;
    a->info->si_pid = 0;
    int r = RESOLVE(waitid)(a->idtype, (id_t)a->pid, a->info, a->options | WNOHANG);
    if (r < 0)
        return -1;
    return a->info->si_pid ? a->info->si_pid : 0;
}

EXPORT int waitid(idtype_t idtype, id_t id, siginfo_t *info, int options)
{
    if (under_control() && !(options & WNOHANG) && info) {
        struct waitargs a = {(pid_t)id, NULL, options, NULL, idtype, info};
        pid_t r = wait_child(waitid_nohang, &a);
        if (r != -2)
            return r < 0 ? -1 : 0;
    }
    return RESOLVE(waitid)(idtype, id, info, options);
}

/* --- time: a sleep is a wait for a deadline, ended by the scheduler ------------------------ */

/* 0: slept; -1: interrupted by a handler (EINTR); 1: control ended (the real call). */
static int sleep_until(int64_t deadline)
{
    if (point(OP_SLEEP, NULL, deadline - now_ns(), 0, 0) == R_FREE)
        return 1;
    for (;;) {
        int eintr = 0;
        uint32_t w = block(OP_SLEEP, NULL, NULL, 0, deadline, 0, &eintr);
        if (w == R_FREE)
            return 1;
        if (eintr) {
            errno = EINTR;
            return -1;
        }
        if (w == R_TIMEOUT || now_ns() >= deadline)
            return 0;
    }
}

EXPORT int nanosleep(const struct timespec *req, struct timespec *rem)
{
    if (under_control() && req) {
        int64_t deadline = after_ns((int64_t)req->tv_sec * 1000000000 + req->tv_nsec);
        int r = sleep_until(deadline);
        if (r <= 0) {
            if (r < 0 && rem) {
                int64_t left = deadline - now_ns();
                left = left > 0 ? left : 0;
                rem->tv_sec = left / 1000000000;
                rem->tv_nsec = left % 1000000000;
            }
            return r;
        }
    }
    return RESOLVE(nanosleep)(req, rem);
}

EXPORT int clock_nanosleep(clockid_t clock, int flags, const struct timespec *req, struct timespec *rem)
{
    if (under_control() && req) {
        int64_t deadline = flags & TIMER_ABSTIME ? deadline_of(clock, req) : after_ns((int64_t)req->tv_sec * 1000000000 + req->tv_nsec);
        int r = sleep_until(deadline);
        if (r == 0)
            return 0;
        if (r < 0)
            return EINTR;
    }
    return RESOLVE(clock_nanosleep)(clock, flags, req, rem);
}

EXPORT int usleep(useconds_t us)
{
    if (under_control()) {
        int r = sleep_until(after_ns((int64_t)us * 1000));
        if (r <= 0)
            return r;
    }
    return RESOLVE(usleep)(us);
}

EXPORT unsigned sleep(unsigned s)
{
    if (under_control()) {
        int64_t deadline = after_ns((int64_t)s * 1000000000);
        int r = sleep_until(deadline);
        if (r == 0)
            return 0;
        if (r < 0) {
            int64_t left = deadline - now_ns();
            return left > 0 ? (unsigned)((left + 999999999) / 1000000000) : 0;
        }
    }
    return RESOLVE(sleep)(s);
}

EXPORT int sched_yield(void)
{
    if (under_control())
        point(OP_YIELD, NULL, 0, 0, 0);
    return RESOLVE(sched_yield)();
}

/* --- mappings: the table of what is shared is looked up again after a change --------------- */

EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    void *p = RESOLVE(mmap)(addr, len, prot, flags, fd, off);
    maps_changed();
    return p;
}

EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off) __attribute__((alias("mmap")));

EXPORT int munmap(void *addr, size_t len)
{
    int r = RESOLVE(munmap)(addr, len);
    maps_changed();
    return r;
}

EXPORT void *mremap(void *old, size_t oldlen, size_t newlen, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    void *target = flags & MREMAP_FIXED ? va_arg(ap, void *) : NULL;
    va_end(ap);
    void *p = RESOLVE(mremap)(old, oldlen, newlen, flags, target);
    maps_changed();
    return p;
}

EXPORT void *shmat(int id, const void *addr, int flags)
{
    void *p = RESOLVE(shmat)(id, addr, flags);
    maps_changed();
    return p;
}

EXPORT int shmdt(const void *addr)
{
    int r = RESOLVE(shmdt)(addr);
    maps_changed();
    return r;
}

/* --- the runtime of -fsanitize=thread: plain memory accesses ------------------------------- */

EXPORT void __tsan_init(void)
{
    g_instrumented = 1;
}

EXPORT void __tsan_func_entry(void *pc)
{
    (void)pc;
}

EXPORT void __tsan_func_exit(void)
{
}

static inline void access_point(const void *addr, uint32_t flags)
{
    if (__builtin_expect(!g_active, 1) || t_fd < 0 || t_depth || t_warm)
        return;
    if (!watched((uintptr_t)addr))
        return;
    uintptr_t a = (uintptr_t)addr;
    if ((flags & F_WRITE) && a >= g_data_lo && a < g_data_hi) {
        /* a store to one of the program's own variables, which its threads or a handler share:
           a point the scheduler hears of whatever the budget (see ipcsched_store) */
        struct key k = {K_NONE, 0, 0, 0};
        object_key(addr, &k);
        point(OP_STORE, &k, 0, 0, F_WRITE);
        return;
    }
    local_point(OP_LOCAL, a, flags, 0);
}

#define ACCESS(size)                                                                          \
    EXPORT void __tsan_read##size(void *a) { access_point(a, 0); }                            \
    EXPORT void __tsan_write##size(void *a) { access_point(a, F_WRITE); }                     \
    EXPORT void __tsan_unaligned_read##size(void *a) { access_point(a, 0); }                  \
    EXPORT void __tsan_unaligned_write##size(void *a) { access_point(a, F_WRITE); }           \
    EXPORT void __tsan_volatile_read##size(void *a) { access_point(a, 0); }                   \
    EXPORT void __tsan_volatile_write##size(void *a) { access_point(a, F_WRITE); }            \
    EXPORT void __tsan_unaligned_volatile_read##size(void *a) { access_point(a, 0); }         \
    EXPORT void __tsan_unaligned_volatile_write##size(void *a) { access_point(a, F_WRITE); }
ACCESS(1)
ACCESS(2)
ACCESS(4)
ACCESS(8)
ACCESS(16)

EXPORT void __tsan_read_range(void *a, unsigned long size)
{
    (void)size;
    access_point(a, 0);
}

EXPORT void __tsan_write_range(void *a, unsigned long size)
{
    (void)size;
    access_point(a, F_WRITE);
}

EXPORT void __tsan_vptr_update(void **p, void *v)
{
    (void)v;
    access_point(p, F_WRITE);
}

EXPORT void __tsan_vptr_read(void **p)
{
    access_point(p, 0);
}

/* Atomics: a point, then the operation itself, sequentially consistent whatever was asked. */
#define ATOMICS(bits, T)                                                                                  \
    EXPORT T __tsan_atomic##bits##_load(const volatile T *a, int mo)                                      \
    {                                                                                                     \
        (void)mo;                                                                                         \
        access_point((const void *)a, 0);                                                                 \
        return __atomic_load_n(a, __ATOMIC_SEQ_CST);                                                      \
    }                                                                                                     \
    EXPORT void __tsan_atomic##bits##_store(volatile T *a, T v, int mo)                                   \
    {                                                                                                     \
        (void)mo;                                                                                         \
        access_point((const void *)a, F_WRITE);                                                           \
        __atomic_store_n(a, v, __ATOMIC_SEQ_CST);                                                         \
    }                                                                                                     \
    EXPORT T __tsan_atomic##bits##_exchange(volatile T *a, T v, int mo)                                   \
    {                                                                                                     \
        (void)mo;                                                                                         \
        access_point((const void *)a, F_WRITE);                                                           \
        return __atomic_exchange_n(a, v, __ATOMIC_SEQ_CST);                                              \
    }                                                                                                     \
    EXPORT T __tsan_atomic##bits##_fetch_add(volatile T *a, T v, int mo)                                  \
    {                                                                                                     \
        (void)mo;                                                                                         \
        access_point((const void *)a, F_WRITE);                                                           \
        return __atomic_fetch_add(a, v, __ATOMIC_SEQ_CST);                                               \
    }                                                                                                     \
    EXPORT T __tsan_atomic##bits##_fetch_sub(volatile T *a, T v, int mo)                                  \
    {                                                                                                     \
        (void)mo;                                                                                         \
        access_point((const void *)a, F_WRITE);                                                           \
        return __atomic_fetch_sub(a, v, __ATOMIC_SEQ_CST);                                               \
    }                                                                                                     \
    EXPORT T __tsan_atomic##bits##_fetch_and(volatile T *a, T v, int mo)                                  \
    {                                                                                                     \
        (void)mo;                                                                                         \
        access_point((const void *)a, F_WRITE);                                                           \
        return __atomic_fetch_and(a, v, __ATOMIC_SEQ_CST);                                               \
    }                                                                                                     \
    EXPORT T __tsan_atomic##bits##_fetch_or(volatile T *a, T v, int mo)                                   \
    {                                                                                                     \
        (void)mo;                                                                                         \
        access_point((const void *)a, F_WRITE);                                                           \
        return __atomic_fetch_or(a, v, __ATOMIC_SEQ_CST);                                                \
    }                                                                                                     \
    EXPORT T __tsan_atomic##bits##_fetch_xor(volatile T *a, T v, int mo)                                  \
    {                                                                                                     \
        (void)mo;                                                                                         \
        access_point((const void *)a, F_WRITE);                                                           \
        return __atomic_fetch_xor(a, v, __ATOMIC_SEQ_CST);                                               \
    }                                                                                                     \
    EXPORT T __tsan_atomic##bits##_fetch_nand(volatile T *a, T v, int mo)                                 \
    {                                                                                                     \
        (void)mo;                                                                                         \
        access_point((const void *)a, F_WRITE);                                                           \
        return __atomic_fetch_nand(a, v, __ATOMIC_SEQ_CST);                                              \
    }                                                                                                     \
    EXPORT int __tsan_atomic##bits##_compare_exchange_strong(volatile T *a, T *c, T v, int mo, int fmo)   \
    {                                                                                                     \
        (void)mo;                                                                                         \
        (void)fmo;                                                                                        \
        access_point((const void *)a, F_WRITE);                                                           \
        return __atomic_compare_exchange_n(a, c, v, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);              \
    }                                                                                                     \
    EXPORT int __tsan_atomic##bits##_compare_exchange_weak(volatile T *a, T *c, T v, int mo, int fmo)     \
    {                                                                                                     \
        (void)mo;                                                                                         \
        (void)fmo;                                                                                        \
        access_point((const void *)a, F_WRITE);                                                           \
        return __atomic_compare_exchange_n(a, c, v, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);              \
    }                                                                                                     \
    EXPORT T __tsan_atomic##bits##_compare_exchange_val(volatile T *a, T c, T v, int mo, int fmo)         \
    {                                                                                                     \
        (void)mo;                                                                                         \
        (void)fmo;                                                                                        \
        access_point((const void *)a, F_WRITE);                                                           \
        __atomic_compare_exchange_n(a, &c, v, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);                    \
        return c;                                                                                         \
    }
ATOMICS(8, uint8_t)
ATOMICS(16, uint16_t)
ATOMICS(32, uint32_t)
ATOMICS(64, uint64_t)

EXPORT void __tsan_atomic_thread_fence(int mo)
{
    (void)mo;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
}

EXPORT void __tsan_atomic_signal_fence(int mo)
{
    (void)mo;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
}
