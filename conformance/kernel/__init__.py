"""Reading the kernel: what /proc, /proc/sysvipc and /dev/shm say about a spec's processes.

The grader's eyes. These modules only read kernel state (and wait on it, and reason from it);
none starts a program or knows what a spec is:

- ``observe``: a process's state, system call, wait channel, open files, signal sets; System V
  objects and /dev/shm. Guarded sources are read as the process's own user;
- ``credentials``: acting as a program's user, in one thread, to read what only it may;
- ``glance``: one look that never waits (open files, bytes written), for pictures and sentences;
- ``syscalls``: system call numbers, for /proc/PID/syscall;
- ``netstat``: sockets as /proc/PID/net lists them, matched to descriptors;
- ``deadlock``: proving from kernel state that what a wait waits for can never happen;
- ``waits``: waiting until the kernel shows something, each wait with a deadline and polling
  ``deadlock``;
- ``explain``: kernel evidence turned into the sentences a failure shows.

Who may import it: the running wing (``conformance.run``), the spec author's toolbox
(``conformance.specs.support``, which re-exports what specs need) and the plugin. It imports
only the core below it (``conformance.deadline``, ``conformance.outcomes``) and never
``conformance.run``, the support or the specs.
"""

__all__ = ["credentials", "deadlock", "explain", "glance", "netstat", "observe", "syscalls", "waits"]
