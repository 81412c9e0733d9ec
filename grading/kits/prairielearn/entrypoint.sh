#!/usr/bin/env bash
# PrairieLearn's external grader runs this in the grader image (the repository's Dockerfile
# installs it as /usr/local/bin/ipc-grade-prairielearn): it grades the files the student
# uploaded, in /grade/student, and always writes /grade/results/results.json, PrairieLearn's
# "Grading results" format (grading/render/prairielearn.py). docs/kits.md has the question.
#
# It reads the question's rubric from /grade/tests/rubric.toml (or IPC_RUBRIC) and these
# variables, which info.json's externalGradingOptions.environment may set:
#
#   IPC_SESSION_TIMEOUT  seconds the grading may take (default 100): keep it some 20 s under
#                        the question's externalGradingOptions.timeout, so that results.json
#                        is written before PrairieLearn kills the container
#   IPC_DEADLINE_SCALE   stretch every spec's deadline on a slow grading machine
#   IPC_GRADE            the ipc-grade to run (default /opt/ipc-grader/bin/ipc-grade)
#   IPC_PL_ROOT          instead of /grade (for trying the kit outside PrairieLearn)
set -u
GRADE="${IPC_PL_ROOT:-/grade}"
IPC_GRADE="${IPC_GRADE:-/opt/ipc-grader/bin/ipc-grade}"
SESSION_TIMEOUT="${IPC_SESSION_TIMEOUT:-100}"
RESULTS="$GRADE/results/results.json"
mkdir -p "$GRADE/results"   # PrairieLearn does not create it
rm -f "$RESULTS"

fallback() {
  # the grader itself could not run: not the student's doing, so not gradable (PrairieLearn
  # then charges no attempt), with the reason
  cat > "$RESULTS" <<END_OF_RESULTS
{
  "gradable": false,
  "score": 0,
  "message": "The autograder could not grade this submission: $1. This is not a problem with your code: please tell your instructor.",
  "format_errors": ["The autograder could not grade this submission: $1."],
  "tests": []
}
END_OF_RESULTS
}

RUBRIC="${IPC_RUBRIC:-$GRADE/tests/rubric.toml}"
rubric=()
if [ -f "$RUBRIC" ]; then rubric=(--rubric "$RUBRIC"); fi

# the implementation: the uploaded files, or the folder among them that holds ipc.toml
IMPL="$GRADE/student"
MANIFEST="$(find "$IMPL" -maxdepth 3 -name ipc.toml -not -path '*/__MACOSX/*' -printf '%d %p\n' 2>/dev/null | sort -n | head -n 1 | cut -d' ' -f2-)"
if [ -n "$MANIFEST" ]; then IMPL="$(dirname "$MANIFEST")"; fi

if [ ! -x "$IPC_GRADE" ]; then
  fallback "the grader is not installed at $IPC_GRADE (is the question's image the grader's?)"
  exit 0
fi
scale=()
if [ -n "${IPC_DEADLINE_SCALE:-}" ]; then scale=(--deadline-scale "$IPC_DEADLINE_SCALE"); fi
# students' view (no hidden spec's details), on as many workers as the container has CPUs
"$IPC_GRADE" "$IMPL" "${rubric[@]}" "${scale[@]}" \
  --jobs auto \
  --session-timeout "$SESSION_TIMEOUT" \
  --prairielearn "$RESULTS"
status=$?
if [ ! -s "$RESULTS" ]; then
  fallback "the grader exited with status $status without writing results"
fi
exit 0
