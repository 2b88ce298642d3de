#!/usr/bin/env bash
# Starts a private Docker engine for the Docker provider's tests: Debian's docker.io, its own
# socket, data root and exec root under $CA_DOCKER_BASE, no bridge and no iptables rules (nothing
# outside that directory changes), and a tiny test image made from busybox-static with
# `docker import` (no registry is reachable, nothing is ever pulled). Idempotent: an engine it
# started before is reused. Prints the DOCKER_HOST to use on its last line.
set -euo pipefail

BASE=${CA_DOCKER_BASE:-/var/lib/condor-autoscaler-docker}
SOCKET="$BASE/docker.sock"
IMAGE=${CA_DOCKER_TEST_IMAGE:-condor-autoscaler-test/pilot:1}
say() { printf '[real-docker] %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "needs root (dockerd); run it with sudo"

if ! command -v dockerd > /dev/null || ! [ -x /bin/busybox ]; then
  say "installing docker.io and busybox-static from Debian"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq > /dev/null
  apt-get install -y -qq --no-install-recommends docker.io busybox-static > /dev/null
fi

mkdir -p "$BASE"
export DOCKER_HOST="unix://$SOCKET"
alive() { docker version --format '{{.Server.Version}}' > /dev/null 2>&1; }
if ! alive; then
  if [ -s "$BASE/docker.pid" ] && kill -0 "$(cat "$BASE/docker.pid")" 2> /dev/null; then
    kill "$(cat "$BASE/docker.pid")"
    sleep 2
  fi
  rm -f "$SOCKET" "$BASE/docker.pid"
  say "starting dockerd on $SOCKET"
  # setsid: the engine outlives this script and the shell that ran it.
  setsid dockerd --host "$DOCKER_HOST" --data-root "$BASE/data" --exec-root "$BASE/exec" \
    --pidfile "$BASE/docker.pid" --bridge=none --iptables=false --ip6tables=false \
    > "$BASE/dockerd.log" 2>&1 < /dev/null &
  for _ in $(seq 1 60); do alive && break; sleep 0.5; done
  alive || { tail -20 "$BASE/dockerd.log" >&2; die "dockerd did not answer within 30 s"; }
fi
say "engine $(docker version --format '{{.Server.Version}}') ready"

if ! docker image inspect "$IMAGE" > /dev/null 2>&1; then
  root=$(mktemp -d)
  trap 'rm -rf "$root"' EXIT
  mkdir -p "$root/bin" "$root/tmp" "$root/var/spool"
  cp /bin/busybox "$root/bin/busybox"
  for applet in sh sleep cat echo printf mkdir hostname env true false ls; do
    ln -s busybox "$root/bin/$applet"
  done
  tar -C "$root" -cf "$root.tar" .
  docker import --change 'CMD ["/bin/sh"]' "$root.tar" "$IMAGE" > /dev/null
  rm -f "$root.tar"
  say "imported test image $IMAGE"
fi
echo "DOCKER_HOST=$DOCKER_HOST"
