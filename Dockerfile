# The grader's image: one for PrairieLearn's external grader, for batch gradings and for
# Kubernetes jobs (docs/kits.md, docs/batch.md). Build it from a checkout of the repository:
#
#   docker build -t your-course/ipc-grade:v0.1.0 .
#
# It holds the grader in /opt/ipc-grader (on the system's Python, pinned to the versions its
# tests passed with: grading/kits/constraints.txt), the programs' own Python, built in
# /var/cache/ipc-grade, a C toolchain for C submissions, strace and iproute2, and PrairieLearn's
# entrypoint /usr/local/bin/ipc-grade-prairielearn. The grader runs as root, and so it runs every
# submission's programs as an unprivileged user id of its own (--run-as auto): there is no USER
# line on purpose. With Docker's default capabilities every verdict is the same as with all of
# them, except socket.tcp-across-hosts (unsupported without CAP_SYS_ADMIN: docs/environments.md).
#
#   docker run --rm -v "$PWD/submissions:/in:ro" -v "$PWD/out:/out" your-course/ipc-grade:v0.1.0 \
#       ipc-grade batch /in --out /out --rubric /in/rubric.toml
FROM debian:bookworm-slim

RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      python3 python3-venv gcc make libc6-dev strace iproute2 ca-certificates fonts-dejavu-core fonts-nanum-coding \
 && rm -rf /var/lib/apt/lists/*

COPY . /usr/src/ipc-conformance
RUN bash /usr/src/ipc-conformance/grading/kits/install.sh /usr/src/ipc-conformance /opt/ipc-grader \
 && install -m 0755 /usr/src/ipc-conformance/grading/kits/prairielearn/entrypoint.sh /usr/local/bin/ipc-grade-prairielearn \
 && rm -rf /usr/src/ipc-conformance

ENV PATH=/opt/ipc-grader/bin:$PATH
WORKDIR /work
CMD ["ipc-grade", "--help"]
