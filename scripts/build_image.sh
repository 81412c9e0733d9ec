#!/usr/bin/env bash
# Build the grader's image from the repository's Dockerfile without a Docker daemon, and grade
# inside it as PrairieLearn and a batch would: the image that ships is the image that was tested.
#
#   sudo scripts/build_image.sh [TAG]        (default localhost/ipc-grade:check; .ci/run runs it)
#
# No image registry is reachable from the machines this project is built on, so the base image
# the Dockerfile names (debian:bookworm-slim) is made here: debootstrap's minbase of bookworm
# from Debian's own archive, imported under that name. The machine's own trust anchors
# (/usr/local/share/ca-certificates, where a TLS-inspecting proxy's CA lives) go into that base,
# so that the image's apt and pip reach their registries as the machine does; nothing else is
# added. Then, with Debian's buildah and podman (daemonless):
#
#   1. podman build (chroot isolation: no cgroup or runtime is needed) of the Dockerfile, whose
#      install.sh already refuses to finish unless the installed grader passes its selftest;
#   2. the bundled reference graded in full inside the image, as root with exactly Docker's
#      default capabilities, on one CPU: every spec passes but socket.tcp-across-hosts, which is
#      unsupported without CAP_SYS_ADMIN (and not counted);
#   3. PrairieLearn's entrypoint inside the image on the example question (/grade mounted as
#      PrairieLearn mounts it), the same way: score 1, within the question's timeout.
#
# Exit status: 0 built and graded; 1 a step failed (its output says which). Needs root.
set -euo pipefail
TAG=${1:-localhost/ipc-grade:check}
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE=/var/tmp/ipc-image
BASE=docker.io/library/debian:bookworm-slim
say() { printf 'build-image: %s\n' "$*"; }
t0=$SECONDS

if [ "$(id -u)" != 0 ]; then say "needs root (debootstrap, buildah)"; exit 1; fi
need=()
for tool in buildah podman debootstrap; do command -v "$tool" >/dev/null || need+=("$tool"); done
if [ ${#need[@]} -gt 0 ]; then
  say "installing ${need[*]} from Debian's packages"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends buildah podman debootstrap crun uidmap >/dev/null
fi

# 1. the base, from Debian's archive, once per machine
if ! podman image exists "$BASE"; then
  rm -rf "$CACHE/rootfs" && mkdir -p "$CACHE"
  say "debootstrap bookworm (minbase) from deb.debian.org"
  debootstrap --variant=minbase bookworm "$CACHE/rootfs" http://deb.debian.org/debian >"$CACHE/debootstrap.log" 2>&1 \
    || { tail -20 "$CACHE/debootstrap.log"; say "debootstrap failed"; exit 1; }
  mkdir -p "$CACHE/rootfs/usr/local/share/ca-certificates"
  cp /usr/local/share/ca-certificates/*.crt "$CACHE/rootfs/usr/local/share/ca-certificates/" 2>/dev/null || true
  rm -rf "$CACHE/rootfs/var/lib/apt/lists/"* "$CACHE/rootfs/var/cache/apt/"*.bin
  tar -C "$CACHE/rootfs" -c . | podman import --change "ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt" - "$BASE" >/dev/null
  rm -rf "$CACHE/rootfs"
  say "base $BASE made in $((SECONDS - t0)) s"
fi

# 2. the image, from the repository's Dockerfile
t1=$SECONDS
podman build --no-cache --isolation chroot --pull=never --network host -t "$TAG" -f "$HERE/Dockerfile" "$HERE" >"$CACHE/build.log" 2>&1 \
  || { tail -40 "$CACHE/build.log"; say "the image did not build"; exit 1; }
grep "^selftest: " "$CACHE/build.log" | sed "s/^/build-image:   /" || true
say "image $TAG built in $((SECONDS - t1)) s ($(podman image inspect --format '{{.Size}}' "$TAG" | awk '{printf "%.0f MB", $1/1e6}'))"

# 3. grading inside it: root with Docker's default capabilities (buildah's own default set plus
#    the three Docker adds: net_raw, mknod, audit_write), one CPU
ctr=$(buildah from --pull-never "$TAG")
work=$(mktemp -d)
trap 'buildah rm "$ctr" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
in_image() { buildah run --isolation chroot --network host --cap-add=CAP_NET_RAW --cap-add=CAP_MKNOD --cap-add=CAP_AUDIT_WRITE "$@"; }
caps=$(in_image "$ctr" -- sh -c 'grep CapEff /proc/self/status' | awk '{print $2}')
if [ "$caps" != 00000000a80425fb ]; then say "the container's capabilities are $caps, not Docker's default set (a80425fb)"; exit 1; fi

t2=$SECONDS
in_image -v "$work:/out" "$ctr" -- sh -c 'cd /tmp && taskset -c 0 ipc-grade -q --json /out/reference.json' || true
python3 - "$work/reference.json" <<'EOF'
import json, sys
rec = json.load(open(sys.argv[1]))
bad = [f"{s['id']} {s['status']}" for s in rec["specs"] if s["status"] not in ("passed", "unsupported")]
odd = [s["id"] for s in rec["specs"] if s["status"] == "unsupported" and s["id"] != "socket.tcp-across-hosts"]
print(f"build-image:   the reference inside the image: {rec['score']:g}/{rec['max_score']:g}, {rec['counts']}; isolation: {rec.get('isolation')}")
if rec.get("error") or bad or odd or rec["score"] != rec["max_score"] or not rec["specs"]:
    sys.exit(f"build-image: the reference does not get full marks in the image: {rec.get('error') or ''} {bad} {odd}")
EOF
say "graded the reference in the image (Docker's capabilities, one CPU) in $((SECONDS - t2)) s"

# 4. PrairieLearn's external grader: the example question's tests/ and the reference's files
t3=$SECONDS
question="$HERE/grading/kits/prairielearn/question"
mkdir -p "$work/grade/student" && cp -r "$question/tests" "$work/grade/tests"
for f in $(sed -n 's/.*file-names="\([^"]*\)".*/\1/p' "$question/question.html" | tr ',' ' '); do cp "$HERE/reference/$f" "$work/grade/student/"; done
timeout=$(python3 -c "import json; print(json.load(open('$question/info.json'))['externalGradingOptions']['timeout'])")
session=$(python3 -c "import json; print(json.load(open('$question/info.json'))['externalGradingOptions']['environment']['IPC_SESSION_TIMEOUT'])")
in_image -v "$work/grade:/grade" --env IPC_SESSION_TIMEOUT="$session" "$ctr" -- taskset -c 0 /usr/local/bin/ipc-grade-prairielearn
took=$((SECONDS - t3))
python3 - "$work/grade/results/results.json" "$took" "$timeout" <<'EOF'
import json, sys
doc, took, limit = json.load(open(sys.argv[1])), int(sys.argv[2]), int(sys.argv[3])
print(f"build-image:   PrairieLearn's entrypoint in the image: gradable {doc['gradable']}, score {doc['score']}, {len(doc['tests'])} tests, {took} s of the question's {limit} s")
if not doc["gradable"] or doc["score"] != 1 or took >= limit:
    sys.exit("build-image: the example question does not give the reference full marks within its timeout")
EOF
say "done in $((SECONDS - t0)) s: $TAG grades the reference in full and runs PrairieLearn's question"
