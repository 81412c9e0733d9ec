"""Scheduling points at the lines of a Python submission: installed as ``sitecustomize`` for the
programs of a controlled spec only (library.py puts it on their PYTHONPATH), never imported by
the grader.

Each line of the submission's own files (under IPC_SCHED_ROOT) is a point: a call into the
interposition library (ipcsched_line), which counts it against the budget the scheduler gave
and asks for the next turn when that runs out. A line that stores a global variable is a point
the scheduler always hears of (ipcsched_store): a schedule of depth 0 may let the others go
before it. The standard library, posix_ipc and sysv_ipc run
between points (their system calls are the library's own points). Python 3.12 and later trace
with sys.monitoring (LINE events, disabled for code that is not the submission's); 3.11 with
sys.settrace, whose global function declines every frame of another file at once.
"""

import os
import sys


def _install():
    root = os.environ.get("IPC_SCHED_ROOT")
    library = os.environ.get("IPC_SCHED_LIB")
    if not root or not library or not os.environ.get("IPC_SCHED_SOCKET"):
        return
    import ctypes

    try:
        lib = ctypes.CDLL(library)
    except OSError:
        return
    if not lib.ipcsched_active():
        return
    line = lib.ipcsched_line
    line.restype = None
    line.argtypes = [ctypes.c_int]
    store = getattr(lib, "ipcsched_store", line)
    store.restype = None
    store.argtypes = [ctypes.c_int]
    stores = {}

    def storing(code):
        found = stores.get(code)
        if found is None:
            found = stores[code] = store_lines(code)
        return found
    root = os.path.realpath(root) + os.sep
    here = os.getcwd()
    mine = {}

    def ours(filename):
        known = mine.get(filename)
        if known is None:
            path = filename if os.path.isabs(filename) else os.path.join(here, filename)
            known = mine[filename] = not filename.startswith("<") and os.path.realpath(path).startswith(root)
        return known

    monitoring = getattr(sys, "monitoring", None)
    if monitoring is not None:  # 3.12+
        tool = 4  # a free tool id (0-5 are for tools; 0-2 have conventional owners)
        monitoring.use_tool_id(tool, "ipc-grade schedule")

        def on_line(code, number):
            if ours(code.co_filename):
                (store if number in storing(code) else line)(number)
                return None
            return monitoring.DISABLE

        monitoring.register_callback(tool, monitoring.events.LINE, on_line)
        monitoring.set_events(tool, monitoring.events.LINE)
        return

    def local(frame, event, arg):
        if event == "line":
            number = frame.f_lineno
            (store if number in storing(frame.f_code) else line)(number)
        return local

    def enter(frame, event, arg):
        if ours(frame.f_code.co_filename):
            return local
        return None

    sys.settrace(enter)
    import threading

    threading.settrace(enter)


def store_lines(code):
    """The lines of CODE that store or delete a global variable (STORE_GLOBAL, DELETE_GLOBAL):
    points the scheduler hears of whatever the budget (ipcsched_store)."""
    import dis

    return frozenset(
        i.positions.lineno for i in dis.get_instructions(code)
        if i.opname in ("STORE_GLOBAL", "DELETE_GLOBAL") and i.positions and i.positions.lineno
    )


_install()
