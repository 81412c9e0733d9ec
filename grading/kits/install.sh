#!/usr/bin/env bash
# Install the grader into a virtual environment of its own, pinned to the versions its tests
# passed with, build the programs' own Python, and prove that the result grades here. One script
# for every kit: the Gradescope bundle's setup.sh and the Dockerfile (PrairieLearn, batch,
# Kubernetes) run it.
#
#   install.sh [--rubric FILE] GRADER PREFIX [PYTHON]
#
# GRADER   the grader: its wheel (ipc_conformance-*.whl, as the Gradescope bundle carries the one
#          that was built and tested), an sdist, or a source checkout
# PREFIX   where the virtual environment goes, such as /opt/ipc-grader
# PYTHON   the interpreter to build it on (default: the system's, /usr/bin/python3 or the newest
#          /usr/bin/python3.1x that is 3.11 or newer). Never whatever python3 is first on PATH:
#          the programs' own Python is made from this one (conformance/run/runtime.py), and one under
#          /root (a pyenv) would have to be copied for every grading machine's programs' user.
# --rubric FILE   also check that the course's rubric is valid for the installed grader
#
# The pins are constraints.txt beside this script (grading/kits/ in the source, grader/ in the
# bundle). After installing, `python -m grading.kits.selftest` grades the bundled reference on
# one quick spec of each mechanism, as a kit grades (programs as an unprivileged user, every
# report format): if the grade is not full, this script fails with the reason, so a grader that
# cannot grade never reaches students.
#
# IPC_GRADE_CACHE, if set, is where the programs' Python is built (default /var/cache/ipc-grade).
set -euo pipefail
RUBRIC=
if [ "${1:-}" = --rubric ]; then RUBRIC=${2:?install.sh: --rubric needs a FILE}; shift 2; fi
GRADER=${1:?usage: install.sh [--rubric FILE] GRADER PREFIX [PYTHON]}
PREFIX=${2:?usage: install.sh [--rubric FILE] GRADER PREFIX [PYTHON]}
PYTHON=${3:-}
CONSTRAINTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/constraints.txt"

new_enough() { "$1" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; }
if [ -z "$PYTHON" ]; then
  for candidate in /usr/bin/python3 /usr/bin/python3.13 /usr/bin/python3.12 /usr/bin/python3.11; do
    if [ -x "$candidate" ] && new_enough "$candidate"; then PYTHON=$candidate; break; fi
  done
fi
if [ -z "$PYTHON" ] || ! new_enough "$PYTHON"; then
  echo "install.sh: no Python 3.11 or newer (looked in /usr/bin; give one as the third argument)" >&2
  exit 1
fi
if [ ! -f "$CONSTRAINTS" ]; then
  echo "install.sh: $CONSTRAINTS is missing: run the install.sh that comes with the grader (grading/kits/, or the bundle's grader/)" >&2
  exit 1
fi
if [ ! -e "$GRADER" ]; then
  echo "install.sh: the grader $GRADER does not exist: give its wheel, sdist or source directory" >&2
  exit 1
fi

"$PYTHON" -m venv "$PREFIX"
"$PREFIX/bin/python" -m pip install --disable-pip-version-check --no-input --quiet -c "$CONSTRAINTS" "$GRADER"
chmod -R a+rX "$PREFIX"
# the programs' own Python, built once now so that no grading waits for it (and any failure
# shows here, not as broken specs later)
"$PREFIX/bin/python" -c 'from conformance.run import runtime; print("programs Python:", runtime.ensure("venv").describe())'
"$PREFIX/bin/ipc-grade" --version
if ! "$PREFIX/bin/python" -m grading.kits.selftest ${RUBRIC:+--rubric "$RUBRIC"}; then
  echo "install.sh: the grader installed in $PREFIX cannot grade on this machine (the selftest's lines above say why): it must not grade students" >&2
  exit 1
fi
