"""Gradings side by side on one machine: hostile neighbours, and a container to grade them in.

A batch grades several submissions at once on one machine (``ipc-grade batch --jobs N``). Where
the grader cannot make namespaces (Docker's default capabilities: Gradescope, PrairieLearn, the
batch image), they share the kernel's IPC tables, /dev/shm, /dev/mqueue and /proc. The hostile
neighbours here (tests/fixtures/attacks/neighbour.py, flood.c) try what docs/security.md lists
under interfere, exhaust and signal; tests/test_attacks.py and scripts/environments.py grade
them beside honest submissions and check that the honest verdicts are the ones they get alone.

``container`` runs a command as in a Docker container, made with unshare(1) as root: an IPC
namespace, a /dev/shm of 64 MiB and an mqueue file system at /dev/mqueue of its own (what Docker
gives every container), and exactly Docker's default capabilities, so that the grader can make
no namespace of its own and the gradings in it share everything, as they do in the image, while
the hostile neighbours reach nothing of the machine's (nor of other tests running on it).
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
from pathlib import Path

from harness import ROOT

ATTACKS = ROOT / "tests" / "fixtures" / "attacks"
#: Docker's default capability set (moby's oci/caps/defaults.go), which Gradescope and
#: PrairieLearn containers run with.
DOCKER_DEFAULT_CAPS = (
    "chown dac_override fowner fsetid kill setgid setuid setpcap net_bind_service net_raw "
    "sys_chroot mknod audit_write setfcap"
).split()
#: The mechanisms a hostile neighbour can reach: named objects, keys, files, processes.
RUBRIC = 'title = "neighbours"\nmechanisms = ["fifo", "msgq", "mqueue", "shm", "buffer"]\n'
#: The hostile neighbours, by the id that places each in the batch's order (ids are graded in
#: sorted order, two at a time: each starts as another ends, beside the honest ones), and the
#: attack of their programs and of their build.
HOSTILE = {
    "1-flood": ("flood", None),
    "3-squat": ("squat", "build"),
    "4-signal": ("signal", None),
}


def docker_drop() -> str:
    """Every capability this kernel knows outside Docker's default set, for capsh --drop."""
    last = int(Path("/proc/sys/kernel/cap_last_cap").read_text())
    names = subprocess.run(["capsh", f"--decode={(1 << (last + 1)) - 1:x}"], capture_output=True, text=True, check=True).stdout
    return ",".join(c for c in names.split("=", 1)[1].strip().split(",") if c.removeprefix("cap_") not in DOCKER_DEFAULT_CAPS)


_CONTAINER = r"""
set -e
base="$2"
mount -t tmpfs tmpfs "$base"
mkdir "$base/upper" "$base/work" "$base/dev"
mount -t overlay overlay -o lowerdir=/dev,upperdir="$base/upper",workdir="$base/work" "$base/dev"
mkdir -p "$base/dev/mqueue" "$base/dev/shm" "$base/dev/pts"
mount --rbind /dev/pts "$base/dev/pts"
mount --bind "$base/dev" /dev
mount -t tmpfs -o size=64m,mode=1777 shm /dev/shm
mount -t mqueue mqueue /dev/mqueue
exec capsh --drop="$3" -- -c "$1"
"""


def container(cmd: str, scratch: Path) -> list[str]:
    """The command line that runs CMD (a shell line) as in a Docker container (see module),
    with SCRATCH (an empty directory) for its /dev."""
    scratch.mkdir(parents=True, exist_ok=True)
    return ["unshare", "--ipc", "--mount", "--propagation", "private", "sh", "-c", _CONTAINER, "sh", cmd, str(scratch), docker_drop()]


def can_contain() -> bool:
    """Whether this machine can make such a container (root, unshare, capsh, overlayfs)."""
    if shutil.which("unshare") is None or shutil.which("capsh") is None:
        return False
    done = subprocess.run(["unshare", "--ipc", "--mount", "true"], capture_output=True)
    return done.returncode == 0 and "overlay" in Path("/proc/filesystems").read_text()


def hostile(into: Path, ident: str) -> Path:
    """The hostile neighbour IDENT (HOSTILE), made under INTO: every mechanism's program does its
    attack, and its build (if any) too."""
    attack, build = HOSTILE[ident]
    target = into / ident
    target.mkdir(parents=True)
    shutil.copy(ATTACKS / "neighbour.py", target / "neighbour.py")
    from conformance.record import MECHANISMS

    lines = [f'{m} = "python3 neighbour.py {attack}"' for m in MECHANISMS]
    head = f'[implementation]\nname = "hostile neighbour: {attack}"\n' + (f'build = "python3 neighbour.py {build}"\n' if build else "")
    (target / "ipc.toml").write_text(head + "\n[programs]\n" + "\n".join(lines) + "\n")
    return target


def flooder(into: Path) -> Path:
    """A submission whose every program is flood.c: it fills every table and /dev/shm at the
    kernel's speed, and holds them."""
    from conformance.record import MECHANISMS

    target = into / "flood"
    target.mkdir(parents=True)
    shutil.copy(ATTACKS / "flood.c", target / "flood.c")
    lines = [f'{m} = "./flood"' for m in MECHANISMS]
    (target / "ipc.toml").write_text('[implementation]\nname = "flood"\nbuild = "cc -O2 -o flood flood.c"\n\n[programs]\n' + "\n".join(lines) + "\n")
    return target


#: A Python line that prints, as JSON, what the machine's IPC tables, /dev/shm and /dev/mqueue
#: hold of users other than root: what a grading may have left.
HELD = (
    "import json, os; rows = lambda k: [l.split() for l in open(f'/proc/sysvipc/{k}').read().splitlines()[1:]]; "
    "col = lambda k, c: open(f'/proc/sysvipc/{k}').readline().split().index(c); "
    "out = {k: len([r for r in rows(k) if int(r[col(k, 'uid')]) != 0]) for k in ('msg', 'shm', 'sem')}; "
    "out.update({d: sorted(e for e in os.listdir(d) if os.stat(os.path.join(d, e)).st_uid != 0) if os.path.isdir(d) else None "
    "for d in ('/dev/shm', '/dev/mqueue')}); print('HELD ' + json.dumps(out))"
)


def held_line(python: str) -> str:
    """A shell line that prints HELD's JSON with PYTHON."""
    return f"{shlex.quote(python)} -c {shlex.quote(HELD)}"


def parse_held(stdout: str) -> list[dict]:
    """Every HELD line printed in STDOUT, in order."""
    return [json.loads(line[5:]) for line in stdout.splitlines() if line.startswith("HELD ")]


def nothing_held(held: dict) -> bool:
    return not any(held[k] for k in ("msg", "shm", "sem")) and not held["/dev/shm"] and not held["/dev/mqueue"]
