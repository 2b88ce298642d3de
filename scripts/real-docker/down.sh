#!/usr/bin/env bash
# Stops the private Docker engine of up.sh; with --purge also deletes its data.
set -euo pipefail
BASE=${CA_DOCKER_BASE:-/var/lib/condor-autoscaler-docker}
if [ -s "$BASE/docker.pid" ]; then
  pid=$(cat "$BASE/docker.pid")
  if kill "$pid" 2> /dev/null; then
    for _ in $(seq 1 30); do kill -0 "$pid" 2> /dev/null || break; sleep 0.5; done
  fi
fi
if [ "${1:-}" = --purge ]; then rm -rf "$BASE"; fi
