"""Reference `fifo`: named pipes between unrelated processes (contract section 3).

    fifo write PATH   copy stdin into the FIFO at PATH, each line of at most PIPE_BUF bytes in one write
    fifo read PATH    copy the FIFO at PATH to stdout until end-of-file

A FIFO is a pipe with a name in the file system (fifo(7)): any process that may open the path
joins it, so the two ends need not be parent and child. Opening blocks until the other end is
opened too. The reader sees end-of-file once every writer has closed; a write of at most
PIPE_BUF bytes is atomic, so lines from several writers never interleave (pipe(7)).
"""

import os
import signal
import stat
import sys

PIPE_BUF = 4096  # POSIX requires at least 512; Linux's is 4096 (pipe(7))
CHUNK = 1 << 16
MODE = 0o600


def fail(message, code=1):
    sys.stderr.write(f"fifo: {message}\n")
    sys.stderr.flush()
    return code


def write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def ensure_fifo(path):
    """Create the FIFO at PATH (mode 0600) if nothing is there; an error message if PATH is not one."""
    old = os.umask(0)  # the mode is exactly 0600, whatever umask we inherited
    try:
        os.mkfifo(path, MODE)
    except FileExistsError:
        pass  # reuse what is there, if it is a FIFO
    except OSError as exc:
        return f"cannot create the FIFO {path}: {exc.strerror}"
    finally:
        os.umask(old)
    try:
        st = os.stat(path)
    except OSError as exc:
        return f"{path}: {exc.strerror}"
    if not stat.S_ISFIFO(st.st_mode):
        return f"{path} exists and is not a FIFO; leaving it alone"
    return None


def open_fifo(path, flags):
    """Open the FIFO at PATH (blocks until the other end is opened); (fd, None) or (None, error)."""
    problem = ensure_fifo(path)
    if problem:
        return None, problem
    # Never O_CREAT or O_TRUNC: should PATH be swapped for a regular file between the check
    # above and this open, the file is still left untouched; the fstat below refuses it.
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        return None, f"cannot open {path}: {exc.strerror}"
    if not stat.S_ISFIFO(os.fstat(fd).st_mode):
        os.close(fd)
        return None, f"{path} is not a FIFO; leaving it alone"
    return fd, None


def writer(path):
    fd, problem = open_fifo(path, os.O_WRONLY)  # blocks until a reader opens the FIFO
    if problem:
        return fail(f"write: {problem}")
    pending = bytearray()
    try:
        while True:
            data = os.read(0, CHUNK)
            if not data:
                break
            pending += data
            flush_lines(fd, pending)
        if pending:
            write_all(fd, pending)  # the last line, without a newline
    except BrokenPipeError:
        return fail("write: broken pipe (the reader went away)")
    os.close(fd)
    return 0


def flush_lines(fd, pending):
    """Write PENDING's complete lines, each line of at most PIPE_BUF bytes within one write(2).

    Whole lines are packed into writes of at most PIPE_BUF bytes (a write that small is
    atomic, so every line in it stays whole); a longer line cannot be atomic and goes out as
    it is. An unfinished last line stays in PENDING, unless it is already too long to matter.
    """
    start = 0
    batch_start = 0
    while True:
        end = pending.find(b"\n", start)
        if end < 0:
            break
        end += 1
        if end - batch_start > PIPE_BUF and start > batch_start:
            os.write(fd, pending[batch_start:start])  # <= PIPE_BUF bytes: one atomic write
            batch_start = start
        if end - start > PIPE_BUF:  # a long line on its own
            write_all(fd, pending[start:end])
            batch_start = end
        start = end
    if start > batch_start:
        os.write(fd, pending[batch_start:start])
    del pending[:start]
    if len(pending) > PIPE_BUF:  # a line this long cannot be written atomically anyway
        write_all(fd, pending)
        pending.clear()


def reader(path):
    fd, problem = open_fifo(path, os.O_RDONLY)  # blocks until a writer opens the FIFO
    if problem:
        return fail(f"read: {problem}")
    try:
        while True:
            data = os.read(fd, CHUNK)  # 0 bytes: every writer has closed its end
            if not data:
                break
            write_all(1, data)
    except BrokenPipeError:
        return fail("read: broken pipe on stdout")
    os.close(fd)
    return 0


def main(argv):
    # With no reader left, write(2) fails with EPIPE: report it rather than die of SIGPIPE
    # (Python ignores SIGPIPE itself; say so here rather than rely on it, contract section 2).
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    roles = {"write": writer, "read": reader}
    if len(argv) != 2 or argv[0] not in roles:
        return fail("usage: fifo write PATH | fifo read PATH", 2)
    return roles[argv[0]](argv[1])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
