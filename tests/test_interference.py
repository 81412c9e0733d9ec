"""When the grader's own operation fails because of what the programs did, that is their verdict.

A name the grader was about to create already taken, a kernel table the programs' user filled,
the grader's own queue filled, the inotify queue it watches /dev/shm with flooded, /dev/shm
filled: each is outcomes.ProgramsInterfered (failed, with an integrity finding that says what
the programs did), never HarnessBroken (broken, a regrade), and never a signal that kills the
grader (SIGBUS from a store into a mapped page a full tmpfs cannot back). Each test makes the
condition itself, as the programs' user (here: this process's own, as when programs run as
the grader's user), and calls the grader's operation. tests/test_attacks.py grades whole
hostile submissions.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from conformance.kernel import credentials
from conformance.outcomes import HarnessBroken, ProgramsInterfered
from conformance.specs.support import shared_memory
from conformance.specs.support.queues import PosixQueues, SysvQueues

ROOT_WITH_NAMESPACES = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("unshare") or subprocess.run(["unshare", "--ipc", "--mount", "true"], capture_output=True).returncode != 0,
    reason="needs root with CAP_SYS_ADMIN, to make a kernel table and a /dev/shm of the test's own",
)


class Names:
    """A run's names that hand out NAME and KEY: the ones the programs took first."""

    def __init__(self, name: str = "", key: int = 0) -> None:
        self.name, self.key = name, key

    def posix(self, tag: str = "") -> str:
        return self.name

    def sysv_key(self) -> int:
        return self.key


@pytest.fixture(autouse=True)
def programs_are_this_process():
    credentials.set_program_user(None, None)


def test_a_system_v_key_the_programs_took_is_their_doing():
    import sysv_ipc

    taken = sysv_ipc.MessageQueue(None, sysv_ipc.IPC_CREX, 0o600)
    try:
        with pytest.raises(ProgramsInterfered, match="took a name that is not theirs"):
            SysvQueues(Names(key=taken.key)).create()
    finally:
        taken.remove()


def test_a_posix_queue_name_the_programs_took_is_their_doing():
    import posix_ipc

    name = f"/ipc-test-squat-{os.getpid()}"
    taken = posix_ipc.MessageQueue(name, posix_ipc.O_CREX, 0o600, max_messages=1, max_message_size=1)
    try:
        with pytest.raises(ProgramsInterfered, match="took a name that is not theirs"):
            PosixQueues(Names(name=name)).create()
    finally:
        taken.unlink()
        taken.close()


def test_a_shared_memory_name_the_programs_took_is_their_doing():
    name = f"/ipc-test-squat-{os.getpid()}"
    shared_memory.create_object(name, b"theirs")
    shared_memory.create_semaphore(name, 1)
    try:
        with pytest.raises(ProgramsInterfered, match="took a name that is not theirs"):
            shared_memory.create_object(name, b"the grader's")
        with pytest.raises(ProgramsInterfered, match="took a name that is not theirs"):
            shared_memory.create_semaphore(name, 1)
    finally:
        shared_memory.unlink_object(name)
        shared_memory.unlink_semaphore(name)


def test_the_graders_own_queue_filled_by_the_programs_is_their_doing():
    queues = SysvQueues(Names(key=0x7A250000 + os.getpid() % 0xFFFF))
    key = queues.create(max_bytes=8)
    try:
        import sysv_ipc

        sysv_ipc.MessageQueue(key).send(b"x" * 8, block=False)  # a program of theirs fills it
        with pytest.raises(ProgramsInterfered, match="filled the grader's own queue"):
            queues.send(key, 1, b"mine")
    finally:
        queues.cleanup()


def test_an_inotify_queue_flooded_while_the_programs_ran_is_their_doing(tmp_path):
    with shared_memory.Creations(str(tmp_path)) as seen:
        for i in range(20_000):  # more than fs.inotify.max_queued_events (16384 by default)
            path = tmp_path / f"flood-{i}"
            path.touch()
            path.unlink()
    with pytest.raises(ProgramsInterfered, match="flooded it"):
        seen.has(str(tmp_path / "counter"))


#: Run in a namespace of its own: the kernel's table of queues and /dev/shm are the test's.
IN_NAMESPACES = textwrap.dedent(
    """
    import os, sys
    sys.path[:0] = {paths!r}
    from conformance.outcomes import ProgramsInterfered, HarnessBroken
    {body}
    """
)


def _in_namespaces(body: str) -> subprocess.CompletedProcess:
    script = IN_NAMESPACES.format(paths=sys.path, body=textwrap.dedent(body))
    return subprocess.run(["unshare", "--ipc", "--mount", "--propagation", "private", sys.executable, "-c", script], capture_output=True, text=True, timeout=120)


@ROOT_WITH_NAMESPACES
def test_a_system_v_table_the_programs_filled_is_their_doing():
    done = _in_namespaces(
        """
        import sysv_ipc
        from conformance.specs.support.queues import SysvQueues
        open("/proc/sys/kernel/msgmni", "w").write("8")
        held = [sysv_ipc.MessageQueue(None, sysv_ipc.IPC_CREX, 0o600) for _ in range(8)]
        class Names:
            def sysv_key(self):
                return 0x7A26
        try:
            SysvQueues(Names()).create()
        except ProgramsInterfered as exc:
            print("interfered:", exc.finding)
        """
    )
    assert "interfered: your programs filled the kernel's table of System V message queues: they hold 8 of the 8" in done.stdout, done.stdout + done.stderr


@ROOT_WITH_NAMESPACES
def test_a_full_dev_shm_is_enospc_for_the_grader_never_sigbus():
    """The grader's own object on a /dev/shm the programs filled: posix_fallocate meets ENOSPC,
    and the grader says what the programs did. Written through a mapping, as it once was, the
    store would have killed the grader with SIGBUS (tried below, in a child of the test, to show
    the test can fail)."""
    done = _in_namespaces(
        """
        import mmap, signal, subprocess
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", "/dev/shm"], check=True)
        fd = os.open("/dev/shm/theirs", os.O_CREAT | os.O_WRONLY, 0o600)  # the programs fill it
        try:
            while True:
                os.write(fd, b"x" * 4096)
        except OSError:
            os.close(fd)
        from conformance.specs.support import shared_memory
        try:
            shared_memory.create_object("/the-graders", b"y" * 65536)
        except ProgramsInterfered as exc:
            print("interfered:", exc.finding)
        pid = os.fork()
        if pid == 0:  # the old way: ftruncate, then a store through the mapping
            fd = os.open("/dev/shm/mapped", os.O_CREAT | os.O_RDWR, 0o600)
            os.ftruncate(fd, 65536)
            with mmap.mmap(fd, 65536) as m:
                m[:] = b"z" * 65536
            os._exit(0)
        print("the old way:", os.waitpid(pid, 0)[1] & 0x7F == signal.SIGBUS and "SIGBUS" or "no signal")
        """
    )
    assert done.returncode == 0, done.stderr
    assert "interfered: your programs filled /dev/shm" in done.stdout, done.stdout + done.stderr
    assert "the old way: SIGBUS" in done.stdout, done.stdout


def test_what_the_programs_did_not_do_stays_the_graders_fault():
    """A taken key or name the programs do not own (another user's) is no finding of theirs:
    the grader's own failure (broken, then judged again in a fresh context)."""
    import sysv_ipc

    if os.geteuid() != 0:
        pytest.skip("needs root, to make objects another user owns")
    with credentials.acting_as(12345, 12345):  # made by another user, this thread acting as it
        taken = sysv_ipc.MessageQueue(None, sysv_ipc.IPC_CREX, 0o666)
    name = f"/ipc-test-other-{os.getpid()}"
    shared_memory.create_object(name, b"someone else's")
    os.chown(shared_memory.object_path(name), 12345, 12345)
    try:
        with pytest.raises(HarnessBroken):
            SysvQueues(Names(key=taken.key)).create()
        with pytest.raises(HarnessBroken):
            shared_memory.create_object(name, b"the grader's")
    finally:
        taken.remove()
        shared_memory.unlink_object(name)
