#!/bin/bash
# Stop the services scripts/real-nova/up.sh started, by the pids it saved.
#   down.sh           stop; state stays, the next up.sh resumes from it
#   down.sh --purge   stop and delete $CA_NOVA_BASE (the next up.sh starts from scratch)
set -euo pipefail
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

BASE=${CA_NOVA_BASE:-/var/lib/condor-autoscaler-nova}
RUN=$BASE/run
AMQP_PORT=${CA_NOVA_AMQP_PORT:-15672}
PURGE=
case "${1:-}" in
  --purge) PURGE=1 ;;
  "") ;;
  *) echo "usage: $0 [--purge]" >&2; exit 2 ;;
esac
say() { echo "[real-nova down] $*"; }

starttime() {  # PID -> field 22 of /proc/PID/stat, fails for missing or zombie processes
  local stat fields
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  read -ra fields <<< "${stat##*) }"
  [ "${fields[0]}" != Z ] || return 1
  echo "${fields[19]}"
}

# Each service leads its own process group (setsid), so signal the group:
# that takes uwsgi workers and forked API workers along.
stop_group() {  # NAME
  local file=$RUN/$1.pid pid st
  [ -s "$file" ] || return 0
  read -r pid st < "$file"
  if [ -n "${st:-}" ] && [ "$(starttime "$pid" || true)" = "$st" ]; then
    kill -TERM -- "-$pid" 2> /dev/null || true
    for _ in $(seq 50); do [ "$(starttime "$pid" || true)" = "$st" ] || break; sleep 0.2; done
    kill -KILL -- "-$pid" 2> /dev/null || true   # leftovers of the group, or a process ignoring TERM
    say "stopped $1 (pid $pid)"
  fi
  rm -f "$file"
}
for name in nova-compute nova-scheduler nova-conductor nova-api placement glance-api fake-neutron keystone; do
  stop_group "$name"
done

# RabbitMQ writes its own pid file; stop the node through rabbitmqctl, then the
# epmd it started on its private port.
RABBIT_PID_FILE=$BASE/rabbitmq/rabbitmq.pid
if [ -s "$RABBIT_PID_FILE" ]; then
  export RABBITMQ_NODENAME=rabbit@localhost ERL_EPMD_ADDRESS=127.0.0.1 ERL_EPMD_PORT=$((AMQP_PORT + 2))
  pid=$(cat "$RABBIT_PID_FILE")
  if starttime "$pid" > /dev/null; then
    rabbitmqctl -q -n "$RABBITMQ_NODENAME" stop "$RABBIT_PID_FILE" > /dev/null 2>&1 || kill -TERM "$pid" 2> /dev/null || true
    for _ in $(seq 50); do starttime "$pid" > /dev/null || break; sleep 0.2; done
    if starttime "$pid" > /dev/null; then kill -KILL "$pid" 2> /dev/null || true; fi
    say "stopped rabbitmq (pid $pid)"
  fi
  rm -f "$RABBIT_PID_FILE"
  if epmd -port "$ERL_EPMD_PORT" -kill > /dev/null 2>&1; then say "stopped epmd (port $ERL_EPMD_PORT)"; fi
fi

PG_DATA=$BASE/postgresql
if [ -s "$PG_DATA/postmaster.pid" ]; then
  PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  if runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w stop > /dev/null 2>&1; then
    say "stopped postgresql"
  fi
fi

if [ -n "$PURGE" ] && [ -d "$BASE" ]; then
  case "$BASE" in
    / | /var | /var/lib | /tmp | "$HOME") echo "refusing to delete $BASE" >&2; exit 1 ;;
  esac
  rm -rf -- "$BASE"
  say "removed $BASE"
fi
