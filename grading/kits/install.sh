#!/usr/bin/env bash
# Install the grader from its source into a virtual environment of its own, pinned to the
# versions its tests passed with, and build the programs' own Python. One script for every kit:
# the Gradescope bundle's setup.sh and the Dockerfile (batch, Kubernetes, PrairieLearn) run it.
#
#   install.sh SOURCE PREFIX [PYTHON]
#
# SOURCE   the grader's source (a checkout, or the bundle's grader/ folder)
# PREFIX   where the virtual environment goes, such as /opt/ipc-grader
# PYTHON   the interpreter to build it on (default: the system's, /usr/bin/python3 or the newest
#          /usr/bin/python3.1x that is 3.11 or newer). Never whatever python3 is first on PATH:
#          the programs' own Python is made from this one (conformance/runtime.py), and one under
#          /root (a pyenv) would have to be copied for every grading machine's programs' user.
#
# IPC_GRADE_CACHE, if set, is where the programs' Python is built (default /var/cache/ipc-grade).
set -euo pipefail
SOURCE=${1:?usage: install.sh SOURCE PREFIX [PYTHON]}
PREFIX=${2:?usage: install.sh SOURCE PREFIX [PYTHON]}
PYTHON=${3:-}
CONSTRAINTS="$SOURCE/grading/kits/constraints.txt"

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
  echo "install.sh: $CONSTRAINTS is missing: SOURCE must be the grader's source" >&2
  exit 1
fi

"$PYTHON" -m venv "$PREFIX"
"$PREFIX/bin/python" -m pip install --disable-pip-version-check --no-input --quiet -c "$CONSTRAINTS" "$SOURCE"
chmod -R a+rX "$PREFIX"
# the programs' own Python, built once now so that no grading waits for it (and any failure
# shows here, not as broken specs later)
"$PREFIX/bin/python" -c 'from conformance import runtime; print("programs Python:", runtime.ensure("venv").describe())'
"$PREFIX/bin/ipc-grade" --version
