"""Run-level isolation: a private IPC namespace, /dev/shm and network for the whole run.

Where the grader may (root, or CAP_SYS_ADMIN), the controller moves itself into a new IPC
namespace, a new mount namespace and a new network namespace before any worker starts, mounts
a fresh tmpfs on /dev/shm (POSIX shared memory and semaphores) and a fresh mqueue file system on
/dev/mqueue, and brings up loopback. Every worker and every program inherits them, so System V
objects, POSIX queues, shared memory and semaphores of this run are invisible to any other run
on the machine and vanish with the run's last process, and no program of this run can reach
another run's ports (or anything off the machine). Where it may not, names and keys derived
from the run and the worker keep runs apart, and the report says which isolation was used.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import fcntl
import os
import socket
import struct
import threading

from conformance.outcomes import Sentence
from conformance.settings import SETTINGS

CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
CLONE_NEWIPC = 0x08000000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
MS_NOSUID = 0x2
MS_NODEV = 0x4

#: The isolation, in words (Sentences: the record keeps them, docs/run-record.md, and a report says them in its language).
PER_RUN_NAMES = Sentence("per-run names and keys")
NAMESPACES = Sentence("private IPC namespace and /dev/shm (per-run names and keys inside)")
IPC_NAMESPACE = Sentence("private IPC namespace (per-run names in /dev/shm)")

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)

#: The setting that keeps a run out of namespaces (IPC_GRADE_NO_NAMESPACES).
NO_NAMESPACES = SETTINGS["no_namespaces"]


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(source: str, target: str, fstype: str | None, flags: int, data: str | None) -> None:
    _check(
        _libc.mount(source.encode(), target.encode(), fstype.encode() if fstype else None, flags, data.encode() if data else None),
        f"mount {target}",
    )


def enter_private_ipc() -> tuple[Sentence, str | None]:
    """Try to isolate this process (and its future children); returns (isolation, why not)."""
    if threading.active_count() > 1:
        return PER_RUN_NAMES, "the grader already runs threads, so it cannot enter new namespaces"
    if NO_NAMESPACES.from_env():
        return PER_RUN_NAMES, f"{NO_NAMESPACES.env} is set"
    try:
        _check(_libc.unshare(CLONE_NEWIPC | CLONE_NEWNS), "unshare(CLONE_NEWIPC | CLONE_NEWNS)")
    except OSError as exc:
        return PER_RUN_NAMES, f"no namespaces here ({exc.strerror}): names and keys keep runs apart; the network is shared"
    network = _private_network()
    try:
        _mount("none", "/", None, MS_REC | MS_PRIVATE, None)  # our mounts stay ours
        _mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=256m")
        if os.path.isdir("/dev/mqueue"):
            _mount("mqueue", "/dev/mqueue", "mqueue", MS_NOSUID | MS_NODEV, None)
        global _mountable
        _mountable = True
    except OSError as exc:
        # the IPC namespace is private already; /dev/shm is shared: names still keep runs apart
        return _with(IPC_NAMESPACE, network[0]), f"could not mount a private /dev/shm ({exc.strerror})" + network[1]
    return _with(NAMESPACES, network[0]), network[1] or None


#: Whether this process made its own mount namespace (so it may mount the mqueue file system).
_mountable = False
#: Where this process mounted the mqueue file system (mount_mqueue), for unmount_mqueue.
_mqueue_mount: str | None = None


def mount_mqueue(where: str) -> str | None:
    """Where the run has its own mount namespace but this machine has no /dev/mqueue to mount
    its queues on: mount the run's mqueue file system at WHERE (a directory of the run's own,
    which it makes), so that the POSIX queues programs leave are listed and removed by owner
    (leftovers.py). The path, or None where it is not needed or cannot be done."""
    global _mqueue_mount
    if not _mountable or os.path.isdir("/dev/mqueue"):
        return None
    try:
        os.mkdir(where, 0o700)
        _mount("mqueue", where, "mqueue", MS_NOSUID | MS_NODEV, None)
    except OSError:
        return None
    _mqueue_mount = where
    return where


def unmount_mqueue() -> None:
    """Undo mount_mqueue (before the run's directory is removed: its queues go with the namespace)."""
    global _mqueue_mount
    if _mqueue_mount is not None:
        _libc.umount2(_mqueue_mount.encode(), 2)  # MNT_DETACH
        _mqueue_mount = None


def _with(ipc: Sentence, network: str) -> Sentence:
    """The isolation: IPC's (ipc) and the network's (NETWORK, _private_network's words), as one sentence."""
    if network == "without loopback":
        return Sentence("%(ipc)s, a private network without loopback", ipc=ipc)
    if network == "loopback only":
        return Sentence("%(ipc)s, and a private network (loopback only)", ipc=ipc)
    return ipc


def _private_network() -> tuple[str, str]:
    """A network namespace of the run's own, with only loopback, up: no grading reaches another's
    ports, nor anything beyond the machine. (the network's isolation for _with, why not)"""
    try:
        _check(_libc.unshare(CLONE_NEWNET), "unshare(CLONE_NEWNET)")
    except OSError as exc:
        return "", f"; the network is shared with the machine ({exc.strerror})"
    try:
        _loopback_up()
    except OSError as exc:
        return "without loopback", f"; loopback could not be brought up ({exc.strerror})"
    return "loopback only", ""


def _loopback_up() -> None:
    """ip link set lo up, with SIOCGIFFLAGS and SIOCSIFFLAGS (netdevice(7))."""
    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        request = struct.pack("16sh14x", b"lo", 0)
        flags = struct.unpack("16sh14x", fcntl.ioctl(s.fileno(), siocgifflags, request))[1]
        fcntl.ioctl(s.fileno(), siocsifflags, struct.pack("16sh14x", b"lo", flags | iff_up))
