"""The grader sees and handles a program's things as the program's user, whatever its capabilities.

Without CAP_SYS_PTRACE root may not read another user's /proc/PID/{syscall,fd}; without
CAP_IPC_OWNER it may not read or remove that user's System V objects. Acting as the owner, in
one thread, it needs neither: these tests drop both and check that the evidence is still there.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import textwrap
import threading

import pytest

from conformance.kernel import credentials

UID = 2_100_004_094

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")

#: Docker's default set lacks both; everything else stays as it is.
DROP = "cap_sys_ptrace,cap_ipc_owner,cap_dac_read_search,cap_sys_admin"

PROBE = textwrap.dedent(
    f"""
    import subprocess, sysv_ipc
    from conformance.kernel import credentials, observe, waits
    from conformance.specs.support import queues
    from conformance.run.naming import Names

    cat = subprocess.Popen(["cat"], stdin=subprocess.PIPE, user={UID}, group={UID}, extra_groups=[])
    waits.wait_until(lambda: observe.asleep(cat.pid), 10, "cat asleep")
    print("syscall", observe.syscall(cat.pid).name)
    print("fd0", observe.fds(cat.pid)[0].kind)
    credentials.set_program_user({UID}, {UID})
    with credentials.as_program():  # a queue the program's user made, mode 0600
        q = sysv_ipc.MessageQueue(None, sysv_ipc.IPC_CREX, 0o600)
        q.send(b"theirs", type=3)
    grader = queues.SysvQueues(Names("t", "c"))
    print("took", grader.take(q.key).body.decode(), "removed", grader.remove(q.key))
    cat.kill()
    """
)


@pytest.mark.skipif(shutil.which("capsh") is None, reason="capsh (Debian's libcap2-bin) is not installed")
def test_evidence_and_objects_without_ptrace_or_ipc_owner():
    done = subprocess.run(
        ["capsh", f"--drop={DROP}", "--", "-c", f"{shlex.quote(sys.executable)} -c {shlex.quote(PROBE)}"],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["syscall", "read", "fd0", "pipe", "took", "theirs", "removed", "True"], done.stdout


def test_acting_as_changes_this_thread_only_and_comes_back():
    seen = {}
    inside = threading.Event()
    leave = threading.Event()

    def other():
        with credentials.acting_as(UID, UID) as switched:
            seen["other"] = (switched, os.geteuid(), os.getegid())
            inside.set()
            leave.wait(10)

    t = threading.Thread(target=other)
    t.start()
    assert inside.wait(10)
    seen["main while other acts"] = os.geteuid()
    leave.set()
    t.join()
    assert seen == {"other": (True, UID, UID), "main while other acts": 0}
    with credentials.acting_as(UID, UID):
        assert (os.geteuid(), os.getegid()) == (UID, UID)
        with credentials.acting_as(UID, UID) as nested:  # already that user: nothing to do
            assert nested and os.geteuid() == UID
    assert (os.geteuid(), os.getegid()) == (0, 0)
