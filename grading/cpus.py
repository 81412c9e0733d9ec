"""How many CPUs this process may really use: the one answer to `--jobs auto`.

A container sees every CPU of its host in ``os.cpu_count()``; what it may use is less. Three
limits apply, and the smallest wins:

- the CPU affinity mask (``os.sched_getaffinity``: ``docker run --cpuset-cpus``, ``taskset``,
  Slurm's ``--cpus-per-task``);
- a cgroup v2 quota, ``cpu.max`` (``"QUOTA PERIOD"``, or ``"max PERIOD"`` for none), in the
  process's own cgroup and every ancestor up to the root (``docker run --cpus``, Kubernetes'
  CPU limit, Gradescope's and PrairieLearn's containers);
- a cgroup v1 quota, ``cpu.cfs_quota_us`` over ``cpu.cfs_period_us`` (-1 for none), the same.

A quota of 1.5 CPUs counts as 2 (rounded up): a worker that gets half a CPU still finishes.
Everything that resolves ``--jobs auto`` (ipc-grade, ipc-grade batch, the Gradescope and
PrairieLearn kits) asks ``available()``.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_CGROUP = Path("/proc/self/cgroup")


def available(cgroup_root: Path = CGROUP_ROOT, proc_cgroup: Path = PROC_CGROUP) -> int:
    """The CPUs this process may use: at least 1 (see the module's docstring)."""
    counts = [_affinity()]
    quota = cgroup_quota(cgroup_root, proc_cgroup)
    if quota is not None:
        counts.append(max(1, math.ceil(quota - 1e-9)))
    return max(1, min(counts))


def _affinity() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def cgroup_quota(cgroup_root: Path = CGROUP_ROOT, proc_cgroup: Path = PROC_CGROUP) -> float | None:
    """The tightest CPU quota of this process's cgroups, in CPUs (1.5 = one and a half), or
    None when no cgroup limits it (or none can be read)."""
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        return None
    quotas = []
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if controllers == "":  # cgroup v2: "0::/path"
            quotas += _v2_quotas(cgroup_root, path)
        elif "cpu" in controllers.split(","):  # cgroup v1: "4:cpu,cpuacct:/path"
            quotas += _v1_quotas(cgroup_root, controllers, path)
    return min(quotas) if quotas else None


def _ancestors(base: Path, path: str) -> list[Path]:
    """BASE/PATH and each of its parents up to BASE: a limit anywhere above applies too."""
    rel = Path(path.lstrip("/"))
    out = [base / rel]
    while rel != Path(".") and str(rel) != "":
        rel = rel.parent
        out.append(base / rel)
    return out


def _v2_quotas(root: Path, path: str) -> list[float]:
    out = []
    # inside a cgroup namespace (a container) the process's path is "/", and the mount is its own
    for directory in dict.fromkeys(_ancestors(root, path)):
        try:
            fields = (directory / "cpu.max").read_text().split()
        except OSError:
            continue
        if len(fields) == 2 and fields[0] != "max":
            try:
                quota, period = int(fields[0]), int(fields[1])
            except ValueError:
                continue
            if quota > 0 and period > 0:
                out.append(quota / period)
    return out


def _v1_quotas(root: Path, controllers: str, path: str) -> list[float]:
    out = []
    mounts = [root / controllers, root / "cpu", root / "cpu,cpuacct", root / "cpuacct,cpu"]
    for mount in dict.fromkeys(m for m in mounts if m.is_dir()):
        for directory in dict.fromkeys(_ancestors(mount, path)):
            try:
                quota = int((directory / "cpu.cfs_quota_us").read_text().strip())
                period = int((directory / "cpu.cfs_period_us").read_text().strip())
            except (OSError, ValueError):
                continue
            if quota > 0 and period > 0:
                out.append(quota / period)
        break
    return out


def resolve_jobs(jobs: str | int | None) -> str:
    """JOBS as ipc-grade passes it on: ``auto`` (or None) becomes the CPUs available here."""
    if jobs is None or str(jobs) == "auto":
        return str(available())
    return str(jobs)


if __name__ == "__main__":  # `python -m grading.cpus`: what --jobs auto means here
    print(available())
