"""Reference `pipe`: anonymous pipes between a parent and its child (contract section 3).

    pipe relay    the parent copies stdin into one pipe, the child copies it to stdout
    pipe duplex   two pipes; the child answers each line in upper case

The seed's rule is the heart of it: each process closes the pipe ends it does not use, so the
reader sees end-of-file exactly when the writer closes its end (pipe(7)).
"""

import os
import signal
import sys

CHUNK = 1 << 16


def write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def fail(message, code=1):
    sys.stderr.write(f"pipe: {message}\n")
    sys.stderr.flush()
    return code


def wait_child(pid):
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def relay():
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: read end -> stdout
        os.close(write_end)
        while True:
            data = os.read(read_end, CHUNK)
            if not data:
                os._exit(0)
            try:
                write_all(1, data)
            except BrokenPipeError:
                os._exit(1)
    os.close(read_end)  # parent: stdin -> write end
    try:
        while True:
            data = os.read(0, CHUNK)
            if not data:
                break
            write_all(write_end, data)  # blocks while the pipe is full: back-pressure
    except BrokenPipeError:
        os.close(write_end)
        wait_child(pid)
        return fail("relay: broken pipe (the child ended before reading everything)")
    os.close(write_end)
    return 0 if wait_child(pid) == 0 else fail("relay: the child failed")


def read_line(fd, pending):
    """One line (with its newline, if any) from FD; PENDING holds bytes read past it."""
    while True:
        cut = pending.find(b"\n")
        if cut >= 0:
            line = bytes(pending[: cut + 1])
            del pending[: cut + 1]
            return line
        data = os.read(fd, CHUNK)
        if not data:
            line = bytes(pending)
            pending.clear()
            return line
        pending += data


def read_exact(fd, n):
    out = bytearray()
    while len(out) < n:
        data = os.read(fd, min(CHUNK, n - len(out)))
        if not data:
            break
        out += data
    return bytes(out)


def duplex():
    to_child_r, to_child_w = os.pipe()
    to_parent_r, to_parent_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: a whole line in, then its reply out
        os.close(to_child_w)
        os.close(to_parent_r)
        pending = bytearray()
        while True:
            line = read_line(to_child_r, pending)
            if not line:
                os._exit(0)
            write_all(to_parent_w, line.upper())
    os.close(to_child_r)
    os.close(to_parent_w)
    pending = bytearray()
    try:
        while True:
            line = read_line(0, pending)
            if not line:
                break
            write_all(to_child_w, line)
            if not line.endswith(b"\n"):  # the last line: only EOF tells the child it ended
                os.close(to_child_w)
                to_child_w = None
            reply = read_exact(to_parent_r, len(line))
            if len(reply) != len(line):
                return fail("duplex: the child ended before it replied")
            write_all(1, reply)
    except BrokenPipeError:
        return fail("duplex: broken pipe")
    if to_child_w is not None:
        os.close(to_child_w)
    return 0 if wait_child(pid) == 0 else fail("duplex: the child failed")


def main(argv):
    # Python ignores SIGPIPE itself; say so here rather than rely on it (contract section 2)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    roles = {"relay": relay, "duplex": duplex}
    if len(argv) != 1 or argv[0] not in roles:
        return fail("usage: pipe relay | pipe duplex", 2)
    return roles[argv[0]]()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
