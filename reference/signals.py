"""Reference `signal`: handlers, uncatchable signals, waiting without spinning (contract section 3).

    signal catch                  report SIGUSR1, SIGUSR2, SIGHUP, SIGINT and SIGRTMIN; end on SIGTERM
    signal child [--delay-ms N]   a parent signals its child N ms after fork; no signal is ever lost
    signal send PID NAME [COUNT]  kill(PID, NAME) COUNT times

The seeds: a signal is an event the kernel delivers to a process it names by pid, at any time
(asynchronously); a process may handle it, but SIGKILL and SIGSTOP can be neither caught nor
ignored (signal(7)).

Two choices make the catcher exact where handlers are not:

- The handled signals stay blocked, and the catcher takes them one at a time with
  sigwaitinfo(2). A pending signal waits in the kernel until it is taken, so nothing arrives
  "between" two waits, and the process sleeps in the kernel while it waits (no spinning).
- Python runs a signal handler once for several instances of a real-time signal that arrived
  before it could run (its C-level handler only sets a flag), so handlers would lose queued
  SIGRTMIN instances. sigwaitinfo dequeues exactly one instance per call (signal(7): real-time
  signals are queued; a standard signal pending several times is delivered once).
"""

import os
import signal
import sys
import time

HANDLED = {
    signal.SIGUSR1: "SIGUSR1",
    signal.SIGUSR2: "SIGUSR2",
    signal.SIGHUP: "SIGHUP",
    signal.SIGINT: "SIGINT",
    signal.SIGRTMIN: "SIGRTMIN",
    signal.SIGTERM: "SIGTERM",
}
UNCATCHABLE = {signal.SIGKILL: "SIGKILL", signal.SIGSTOP: "SIGSTOP"}


def say(line):
    """Print LINE at once: one write(2) to stdout, no buffer in between (contract section 2)."""
    data = (line + "\n").encode()
    while data:
        data = data[os.write(1, data):]


def fail(message, code=1):
    sys.stderr.write(f"signal: {message}\n")
    sys.stderr.flush()
    return code


def ignore(signum, frame):
    pass


# --- signal catch --------------------------------------------------------------------------


def catch():
    # Block first, before anything else can happen: from here on a handled signal that
    # arrives is kept pending by the kernel until sigwaitinfo takes it.
    signal.pthread_sigmask(signal.SIG_BLOCK, HANDLED)
    for signum in HANDLED:
        # A signal whose action is "ignore" is discarded even while blocked; make sure none is
        # (Python itself installs a handler for SIGINT, which would not matter while blocked).
        signal.signal(signum, signal.SIG_DFL)
    for signum, name in UNCATCHABLE.items():
        try:
            signal.signal(signum, ignore)  # a real sigaction(2) call; the kernel refuses it
        except OSError:  # EINVAL: "An attempt was made to change the action for SIGKILL or SIGSTOP"
            say(f"cannot catch {name}")
        else:
            return fail(f"the kernel let us install a handler for {name}")
    say(f"ready {os.getpid()}")
    while True:
        info = signal.sigwaitinfo(HANDLED)  # sleeps in rt_sigtimedwait; one instance per call
        if info.si_signo == signal.SIGTERM:
            say("terminating")
            return 0
        say(f"caught {HANDLED[info.si_signo]}")


# --- signal child --------------------------------------------------------------------------


def child(delay_ms):
    # The seed's example installs a handler and has the child call sigpause(SIGUSR1); a signal
    # sent before the child reaches that call would be handled (or kill it) too early, and the
    # child would then wait forever. Blocking SIGUSR1 before fork closes the window: the child
    # inherits the mask, so an early SIGUSR1 stays pending until the child waits for it.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            signal.sigwaitinfo({signal.SIGUSR1})  # returns at once if it is already pending
            say("child got SIGUSR1")
            code = 0
        finally:
            os._exit(code)  # never return into the parent's code
    if delay_ms:
        time.sleep(delay_ms / 1000)
    os.kill(pid, signal.SIGUSR1)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        say(f"child killed by {signal.Signals(os.WTERMSIG(status)).name}")
        return 1
    code = os.waitstatus_to_exitcode(status)
    say(f"child exited {code}")
    return 0 if code == 0 else 1


# --- signal send ---------------------------------------------------------------------------


def signal_number(name):
    """The number of signal NAME: SIGUSR1, SIGRTMIN, SIGRTMIN+3, SIGRTMAX-1, ...; None if unknown."""
    for base, sign in (("SIGRTMIN", 1), ("SIGRTMAX", -1)):
        if name.startswith(base):
            rest = name[len(base):]
            if rest == "":
                return int(getattr(signal, base))
            if rest[:1] == ("+" if sign > 0 else "-") and rest[1:].isdigit():
                number = getattr(signal, base) + sign * int(rest[1:])
                return number if signal.SIGRTMIN <= number <= signal.SIGRTMAX else None
            return None
    member = signal.Signals.__members__.get(name)
    return int(member) if member is not None and name.startswith("SIG") and not name.startswith("SIG_") else None


def send(args):
    if len(args) not in (2, 3):
        return fail("usage: signal send PID NAME [COUNT]", 2)
    pid_text, name = args[0], args[1]
    count_text = args[2] if len(args) == 3 else "1"
    if not pid_text.isdigit() or int(pid_text) <= 0:  # never 0 or negative: those are groups
        return fail(f"send: PID must be a positive process id, not {pid_text!r}", 2)
    if not count_text.isdigit() or int(count_text) <= 0:
        return fail(f"send: COUNT must be a positive number, not {count_text!r}", 2)
    signum = signal_number(name)
    if signum is None:
        return fail(f"send: unknown signal {name!r} (use a name such as SIGUSR1 or SIGRTMIN)", 2)
    for _ in range(int(count_text)):
        try:
            os.kill(int(pid_text), signum)
        except ProcessLookupError:
            return fail(f"send: no such process {pid_text}")
        except PermissionError:
            return fail(f"send: permission denied to signal {pid_text}")
    return 0


def main(argv):
    usage = "usage: signal catch | signal child [--delay-ms N] | signal send PID NAME [COUNT]"
    if not argv:
        return fail(usage, 2)
    role, args = argv[0], argv[1:]
    if role == "catch" and not args:
        return catch()
    if role == "child":
        if not args:
            return child(0)
        if len(args) == 2 and args[0] == "--delay-ms" and args[1].isdigit():
            return child(int(args[1]))
        return fail("usage: signal child [--delay-ms N]", 2)
    if role == "send":
        return send(args)
    return fail(usage, 2)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
