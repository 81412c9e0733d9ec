"""The Gradescope kit: `ipc-grade gradescope-bundle` builds the autograder zip, which carries the
grader itself, and `python -m grading.kits.gradescope` is the last step of its run_autograder.

    ipc-grade gradescope-bundle --rubric course.toml --out autograder.zip
    python -m grading.kits.gradescope RECORD --out results.json [--metadata submission_metadata.json]

The zip holds, at its root, what Gradescope's autograder specification asks for:

    setup.sh          run once when Gradescope builds the image: installs the system packages
                      (Python 3.11+, a C compiler for C submissions, strace), then the grader's
                      wheel from grader/ into /opt/ipc-grader on the system's Python, pinned to
                      the tested versions (grader/constraints.txt), builds the programs' own
                      Python, and proves the installation grades (grader/install.sh, shared with
                      the Dockerfile): a grader that cannot grade fails the image's build, with
                      the reason, before any student submits
    run_autograder    run for each submission: grades /autograder/submission by the rubric, the
                      programs running as unprivileged user ids of their own (--run-as auto), on
                      as many workers as the container has CPUs (grading/cpus.py); applies the
                      rubric's late policy and submission limit from submission_metadata.json
                      (``main`` below: whatever goes wrong with the metadata, results.json is
                      still written, graded without the policy, saying why); and always writes
                      /autograder/results/results.json (score 0 and the reason when it cannot
                      grade)
    rubric.toml       the course's rubric
    grader/           this grader as the wheel it was installed from (grading/kits/wheel.py:
                      the installed files, checked against pip's RECORD, with the package's own
                      metadata), and the install.sh and constraints.txt that wheel holds

Both scripts read a few variables so that the kit can be tried outside Gradescope
(tests/test_kits.py does, under Docker's default capabilities too); Gradescope sets none:

    AUTOGRADER_ROOT      instead of /autograder
    IPC_SKIP_PACKAGES=1  setup.sh skips apt-get (the machine already has the packages)
    IPC_GRADER_HOME      the grader's environment, instead of /opt/ipc-grader
    IPC_GRADER_PYTHON    setup.sh: the Python to build it on, instead of the system's
    IPC_GRADE_CACHE      where the programs' Python is kept, instead of /var/cache/ipc-grade
    IPC_GRADE            run_autograder: the ipc-grade to run, instead of $IPC_GRADER_HOME/bin/ipc-grade
    IPC_RUN_AS           run_autograder: --run-as, instead of auto

Exit status: 0 written; 1 the grader could not be packed (an installation changed after pip
installed it, or a checkout pip cannot build); 2 a usage error (a bad rubric, an unwritable --out).
"""

from __future__ import annotations

import argparse
import io
import os
import stat
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path

from conformance import record as run_record

from .. import late as late_mod
from .. import options
from ..grader import load_rubric
from ..render import gradescope as results_json
from ..rubric import RubricError
from .wheel import WheelError

#: Gradescope stops an autograder after its timeout (10 minutes unless the assignment sets
#: more); the grader gives up a little before, so results.json is still written.
DEFAULT_SESSION_TIMEOUT = 540

#: Fixed timestamp for every zip entry: the same inputs give the same bundle.
ZIP_TIME = (2020, 1, 1, 0, 0, 0)

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image. The variables it
# reads let the kit be tried outside Gradescope (the grader's grading/kits/gradescope.py lists them).
set -euxo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
SOURCE="$ROOT/source"
GRADER_HOME="${IPC_GRADER_HOME:-/opt/ipc-grader}"

if [ "${IPC_SKIP_PACKAGES:-0}" != 1 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  # Python for the grader, gcc and make for C submissions (build = "make"), strace for one
  # signal spec, DejaVu for the timeline pictures' labels and NanumGothicCoding for their
  # Hangul (a course in Korean); the Python packages the grader needs come as wheels
  apt-get install -y --no-install-recommends python3 python3-venv gcc make libc6-dev strace fonts-dejavu-core fonts-nanum-coding
  if ! /usr/bin/python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    # older images (Ubuntu 22.04) ship Python 3.10; the grader needs 3.11 or newer
    apt-get install -y --no-install-recommends python3.11 python3.11-venv
  fi
fi

# the grader's wheel on the system's Python (never a python3 under /root that comes first on
# PATH), pinned to the versions its tests passed with, the programs' own Python beside it, and
# its selftest: setup.sh fails here, with the reason, if the installed grader cannot grade
WHEEL=$(ls "$SOURCE"/grader/*.whl)
bash "$SOURCE/grader/install.sh" --rubric "$SOURCE/rubric.toml" "$WHEEL" "$GRADER_HOME" ${IPC_GRADER_PYTHON:+"$IPC_GRADER_PYTHON"}
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this, as root, for every submission. Whatever happens, it writes
# results.json: the grade, or score 0 with the reason.
set -u
ROOT="${AUTOGRADER_ROOT:-/autograder}"
GRADER_HOME="${IPC_GRADER_HOME:-/opt/ipc-grader}"
IPC_GRADE="${IPC_GRADE:-$GRADER_HOME/bin/ipc-grade}"
RUN_AS="${IPC_RUN_AS:-auto}"
RESULTS="$ROOT/results/results.json"
mkdir -p "$ROOT/results"
rm -f "$RESULTS"

fallback() {
  # the grader itself could not run: still a valid results.json, with the reason and score 0
  cat > "$RESULTS" <<END_OF_RESULTS
{
  "score": 0,
  "output": "The autograder could not grade this submission: $1. This is not a problem with your code: please tell your instructor. Score: 0.",
  "visibility": "visible",
  "stdout_visibility": "hidden",
  "tests": []
}
END_OF_RESULTS
}

# the implementation: the submission itself, or the folder in it that holds ipc.toml
IMPL="$ROOT/submission"
MANIFEST="$(find "$IMPL" -maxdepth 3 -name ipc.toml -not -path '*/__MACOSX/*' -printf '%d %p\\n' 2>/dev/null | sort -n | head -n 1 | cut -d' ' -f2-)"
if [ -n "$MANIFEST" ]; then IMPL="$(dirname "$MANIFEST")"; fi

if [ -x "$IPC_GRADE" ]; then
  WORK="$(mktemp -d)"
  # stdout (the full report, hidden specs included) is shown to instructors only; --jobs auto
  # is the CPUs this container may use (its cgroup quota, its affinity), not the host's
  "$IPC_GRADE" "$IMPL" \\
    --rubric "$ROOT/source/rubric.toml" \\
    --run-as "$RUN_AS" \\
    --jobs {jobs} \\
    --session-timeout {session_timeout} \\{deadline_scale}
    --json "$WORK/record.json" \\
    --gradescope "$RESULTS" \\
    --show-hidden
  status=$?
  # the rubric's late policy and submission limit, from Gradescope's metadata; should this
  # step fail, the results.json written above stands
  if [ -s "$WORK/record.json" ]; then
    "$(dirname "$IPC_GRADE")/python" -m grading.kits.gradescope "$WORK/record.json" \\
      --metadata "$ROOT/submission_metadata.json" --out "$RESULTS" \\
      || echo "run_autograder: the late policy could not be applied; results.json is the grade without it" >&2
  fi
  rm -rf "$WORK"
  if [ ! -s "$RESULTS" ]; then
    fallback "the grader exited with status $status without writing results"
  fi
else
  fallback "the grader is not installed at $IPC_GRADE (did setup.sh fail?)"
fi
exit 0
"""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ipc-grade gradescope-bundle",
        description="Build a Gradescope autograder zip (setup.sh, run_autograder, the rubric and this grader).",
        epilog="Upload the zip as the assignment's autograder (Docker image: Ubuntu 22.04 or newer). "
        "Exit status: 0 written; 2 a usage error.",
    )
    options.add(p, "rubric", required=True)
    p.add_argument("--out", required=True, metavar="ZIP", help="the zip to write, such as autograder.zip")
    # each is baked into run_autograder: the values Gradescope's machines grade with
    options.add(p, "jobs")
    options.add(p, "session_timeout", default=DEFAULT_SESSION_TIMEOUT, note=f"(default {DEFAULT_SESSION_TIMEOUT}: before Gradescope's own timeout)")
    options.add(p, "deadline_scale", default=None)
    return p


def run(args: argparse.Namespace) -> int:
    try:
        rubric = load_rubric(args.rubric)
    except RubricError as exc:
        print(f"ipc-grade gradescope-bundle: error: {exc}", file=sys.stderr)
        return 2
    for warning in rubric.warnings:
        print(f"ipc-grade gradescope-bundle: warning: {warning}", file=sys.stderr)
    out = Path(args.out)
    if out.is_dir():
        print(f"ipc-grade gradescope-bundle: error: --out {args.out} is a directory: name the zip, such as {out / 'autograder.zip'}", file=sys.stderr)
        return 2
    try:
        scale = options.word(args.deadline_scale) if args.deadline_scale is not None else None
        data = build(Path(args.rubric).read_bytes(), jobs=args.jobs, session_timeout=args.session_timeout, deadline_scale=scale)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, out)
    except OSError as exc:
        print(f"ipc-grade gradescope-bundle: error: cannot write {args.out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except WheelError as exc:
        print(f"ipc-grade gradescope-bundle: error: the grader cannot be packed into the bundle: {exc}", file=sys.stderr)
        return 1
    print(
        f"ipc-grade gradescope-bundle: wrote {out} ({len(data) // 1024} KiB) grading {len(rubric.rules)} specs "
        f"for up to {rubric.max_points:g} points; upload it as the assignment's autograder",
        file=sys.stderr,
    )
    return 0


def scripts(*, jobs: str = "auto", session_timeout: float = DEFAULT_SESSION_TIMEOUT, deadline_scale: str | None = None) -> dict[str, str]:
    scale = f'\n    --deadline-scale {_shell_word(deadline_scale)} \\' if deadline_scale else ""
    return {
        "setup.sh": SETUP_SH,
        "run_autograder": RUN_AUTOGRADER.replace("{jobs}", _shell_word(str(jobs)))
        .replace("{session_timeout}", f"{session_timeout:g}")
        .replace("{deadline_scale}", scale),
    }


def _shell_word(word: str) -> str:
    import shlex

    return shlex.quote(word)


def build(rubric: bytes, **options) -> bytes:
    """The autograder zip, as bytes: the same installed grader and inputs give the same bytes."""
    from . import wheel

    with tempfile.TemporaryDirectory(prefix="ipc-bundle-") as tmp:
        whl = wheel.build(Path(tmp))
        files: dict[str, tuple[bytes, int]] = {}
        for name, text in scripts(**options).items():
            files[name] = (text.encode(), 0o755)
        files["rubric.toml"] = (rubric, 0o644)
        files[f"grader/{whl.name}"] = (whl.read_bytes(), 0o644)
        # the installer and the pins the wheel holds, beside it: setup.sh runs them before the
        # grader is installed
        for name, mode in (("install.sh", 0o755), ("constraints.txt", 0o644)):
            files[f"grader/{name}"] = (wheel.member(whl, f"grading/kits/{name}"), mode)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(files):
            data, mode = files[name]
            info = zipfile.ZipInfo(name, ZIP_TIME)
            info.external_attr = (stat.S_IFREG | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return buf.getvalue()


# --- run_autograder's last step --------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Gradescope's results.json from a run record, with the rubric's late policy and submission
    limit applied from Gradescope's submission_metadata.json (late.py)."""
    p = argparse.ArgumentParser(
        prog="python -m grading.kits.gradescope",
        description="Write Gradescope's results.json from a run record, with the rubric's late policy and "
        "submission limit applied from Gradescope's submission_metadata.json.",
        epilog="Exit status: 0 written (a metadata problem is said in the output, and the run graded without it); 2 not written.",
    )
    p.add_argument("record", help="the run record (ipc-grade --json)")
    p.add_argument("--out", required=True, help="results.json to write")
    p.add_argument("--metadata", help="Gradescope's submission_metadata.json")
    args = p.parse_args(argv)
    try:
        record = run_record.load(args.record)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"{p.prog}: error: the run record {args.record} cannot be read ({exc})", file=sys.stderr)
        return 2
    needed = late_mod.policy_of(record) is not None or bool((record.meta.get("rubric") or {}).get("submission_limit"))
    if needed and not record.error:
        try:
            if not args.metadata:
                raise late_mod.MetadataError("no submission metadata was given")
            record = late_mod.apply_gradescope(record, late_mod.gradescope_metadata(args.metadata))
        except late_mod.MetadataError as exc:
            note = f"The late policy was not applied: {exc}. This is not a problem with your code: please tell your instructor."
            record.meta["late"] = {"score_before": record.score, "score": record.score, "note": note}
            print(f"{p.prog}: warning: {exc}", file=sys.stderr)
    try:
        run_record.write_text(args.out, results_json.render(record))
    except OSError as exc:
        print(f"{p.prog}: error: cannot write {args.out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
