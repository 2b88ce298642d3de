#!/bin/sh
# Entrypoint of a condor-autoscaler pilot container (Vac style): one container is one HTCondor
# worker. It reads the user-data the Docker provider rendered from user-data.env.mustache and
# mounted at /user_data, writes the worker's HTCondor configuration, runs condor_master in the
# foreground, and when the master is gone leaves a Vac shutdown_message saying why.
#
# Shutdown messages (Vacuum Platform codes, in /var/spool/joboutputs/shutdown_message):
#   100 Shutdown as requested    the container was stopped (SIGTERM/SIGINT): the autoscaler
#                                terminated an idle worker, or an admin ran docker stop
#   200 Success                  HTCondor shut itself down after IDLE_SHUTDOWN seconds without a
#                                claim, and this worker ran at least one job
#   300 No more work             the same, but no job ever ran here
#                                (perJob containers end with 200 after their one job)
#   500 <reason>                 the container's environment is wrong (bad /user_data, no
#                                HTCondor in the image, ...); nothing was started
#   700 <reason>                 condor_master failed (an exit status other than 0 and 99)
# condor_master exits with status 99 ("do not restart") whenever a DAEMON_SHUTDOWN expression
# ended it: that is how IDLE_SHUTDOWN and perJob runs end, so 99 is a normal end here.
# The container exits 0 for 100-300 and non-zero otherwise. The autoscaler backs the cloud off
# after 300-799, so a pilot that cannot work does not get started again and again.
#
# The shell stays PID 1 so that it can write the message after condor_master exits; it forwards
# SIGTERM/SIGINT to the master. Run the container with --init if jobs may leave orphans behind.
set -eu

USER_DATA=${USER_DATA:-/user_data}
JOBOUTPUTS=${JOBOUTPUTS:-/var/spool/joboutputs}
CONFIG_DIR=${CONDOR_CONFIG_DIR:-/etc/condor/config.d}
TOKENS_DIR=${CONDOR_TOKENS_DIR:-/etc/condor/tokens.d}
HOSTS_FILE=${HOSTS_FILE:-/etc/hosts}

log() { printf 'entrypoint: %s\n' "$*" >&2; }

message_written=""
shutdown_message() {
  message_written=yes
  log "shutdown_message: $1"
  mkdir -p "$JOBOUTPUTS" 2>/dev/null || true
  printf '%s\n' "$1" >"$JOBOUTPUTS/shutdown_message" 2>/dev/null ||
    log "cannot write $JOBOUTPUTS/shutdown_message"
}

# A problem with what the site gave us: report it and stop before starting anything.
fail() {
  log "$1"
  shutdown_message "500 $1"
  exit 1
}

# Whatever else makes `set -e` stop the script still leaves a message.
on_exit() {
  status=$?
  if [ -z "$message_written" ] && [ "$status" -ne 0 ]; then
    shutdown_message "500 entrypoint failed (exit status $status)"
  fi
}
trap on_exit EXIT

# ---- Read /user_data: KEY=value lines, taken literally (never sourced: it holds a token). ----
HEAD_NODE="" POOL="" CLOUD="" WORKER_NAME="" TOKEN="" TOKEN_FILE="" JOBS=""
IDLE_SHUTDOWN="" NUM_CPUS="" MEMORY_MB=""
[ -r "$USER_DATA" ] || fail "cannot read the user-data file $USER_DATA"
cr=$(printf '\r')
while IFS= read -r line || [ -n "$line" ]; do
  line=${line%"$cr"}
  case $line in '' | '#'*) continue ;; esac
  key=${line%%=*}
  if [ "$key" = "$line" ]; then
    log "ignoring a user-data line without '='"
    continue
  fi
  value=${line#*=}
  case $key in
    HEAD_NODE) HEAD_NODE=$value ;;
    POOL) POOL=$value ;;
    CLOUD) CLOUD=$value ;;
    WORKER_NAME) WORKER_NAME=$value ;;
    TOKEN) TOKEN=$value ;;
    TOKEN_FILE) TOKEN_FILE=$value ;;
    JOBS) JOBS=$value ;;
    IDLE_SHUTDOWN) IDLE_SHUTDOWN=$value ;;
    NUM_CPUS) NUM_CPUS=$value ;;
    MEMORY_MB) MEMORY_MB=$value ;;
    *) log "ignoring unknown user-data key $key" ;;
  esac
done <"$USER_DATA"

for name in HEAD_NODE POOL CLOUD WORKER_NAME; do
  eval "value=\$$name"
  [ -n "$value" ] || fail "$name is missing from $USER_DATA"
  # These end up in HTCondor's configuration, some inside double quotes.
  case $value in *[!A-Za-z0-9._:-]*) fail "$name has characters HTCondor config cannot take" ;; esac
done
for name in IDLE_SHUTDOWN NUM_CPUS MEMORY_MB; do
  eval "value=\$$name"
  case $value in *[!0-9]*) fail "$name must be a whole number" ;; esac
done

command -v condor_master >/dev/null 2>&1 || fail "condor_master not found: the image lacks HTCondor"

# ---- The token: only in this container's file system, readable by root only. ----
mkdir -p "$TOKENS_DIR"
if [ -n "$TOKEN" ]; then
  (umask 077 && printf '%s\n' "$TOKEN" >"$TOKENS_DIR/autoscaler")
elif [ -n "$TOKEN_FILE" ]; then
  [ -r "$TOKEN_FILE" ] || fail "cannot read TOKEN_FILE $TOKEN_FILE"
  (umask 077 && cat "$TOKEN_FILE" >"$TOKENS_DIR/autoscaler")
else
  log "no TOKEN in $USER_DATA: the startd can only join a pool that does not require IDTOKENS"
fi
chmod 0600 "$TOKENS_DIR/autoscaler" 2>/dev/null || true

# ---- The worker's HTCondor configuration. ----
mkdir -p "$CONFIG_DIR"
conf="$CONFIG_DIR/50-autoscaler.conf"
cat >"$conf" <<CONFIG
# Written by the condor-autoscaler pilot entrypoint from $USER_DATA.

# The pool's central manager: this worker's startd reports to its collector.
CONDOR_HOST = $HEAD_NODE

# An execute node only.
DAEMON_LIST = MASTER, STARTD

# The container exists to run jobs: start them whenever they match, never suspend or preempt.
use POLICY : ALWAYS_RUN_JOBS

# One partitionable slot owning the whole container; jobs get dynamic slots cut to their size.
NUM_SLOTS = 1
NUM_SLOTS_TYPE_1 = 1
SLOT_TYPE_1 = 100%
SLOT_TYPE_1_PARTITIONABLE = TRUE

# Authenticate to the pool with the IDTOKEN in $TOKENS_DIR; FS for local tools.
SEC_DEFAULT_AUTHENTICATION_METHODS = IDTOKENS, FS

# The container sits behind the Docker host's NAT: the schedd reaches the startd through the
# collector (CCB) instead of connecting to it directly.
CCB_ADDRESS = \$(CONDOR_HOST)

# No condor_shared_port: with host networking (network: host) every pilot and the head node
# would all want port 9618. Each daemon takes a port of its own; CCB carries inbound traffic.
USE_SHARED_PORT = False
# With host networking the collector on the same host takes the startd for a daemon of its own
# family and drops its first update; a pilot is never in the head node's family.
SEC_USE_FAMILY_SESSION = False

# How the autoscaler recognises this worker. Inside the container the Docker container id is not
# known, so the instance id is the container name, which the Docker provider also uses as the id.
AutoscalerPool = "$POOL"
AutoscalerCloud = "$CLOUD"
AutoscalerInstanceId = "$WORKER_NAME"
STARTD_ATTRS = \$(STARTD_ATTRS) AutoscalerPool AutoscalerCloud AutoscalerInstanceId
MASTER_ATTRS = \$(MASTER_ATTRS) AutoscalerPool AutoscalerCloud AutoscalerInstanceId

# One record per job that ran here: tells "200 Success" from "300 No more work" at the end.
STARTD_HISTORY = \$(LOG)/startd_history
CONFIG

if [ -n "$IDLE_SHUTDOWN" ] && [ "$IDLE_SHUTDOWN" -gt 0 ]; then
  printf '\n# Safety net if the autoscaler is gone: stop after this long without a claim.\n' >>"$conf"
  printf 'STARTD_NOCLAIM_SHUTDOWN = %s\n' "$IDLE_SHUTDOWN" >>"$conf"
fi
if [ -n "$NUM_CPUS" ]; then
  printf '\n# The container'"'"'s share of the host, not the whole host.\nNUM_CPUS = %s\n' "$NUM_CPUS" >>"$conf"
fi
if [ -n "$MEMORY_MB" ]; then
  printf 'MEMORY = %s\n' "$MEMORY_MB" >>"$conf"
fi
if [ -n "$JOBS" ]; then
  # The cloud's `jobs` constraint: this pilot was launched for those jobs, so it takes no other.
  # Names in it resolve in the job ad (a slot ad has no Request* or Owner attributes).
  printf '\n# Only the jobs this cloud serves (its policy'"'"'s jobs constraint).\nSTART = $(START) && (%s)\n' "$JOBS" >>"$conf"
fi

# HTCondor looks its own host name up at start: with host networking the container's name is in
# no /etc/hosts. Debian's convention for the local name is 127.0.1.1.
own_name=$(hostname 2>/dev/null || cat /proc/sys/kernel/hostname)
if [ -n "$own_name" ] && ! grep -qswF -- "$own_name" "$HOSTS_FILE"; then
  printf '127.0.1.1\t%s\n' "$own_name" >>"$HOSTS_FILE" 2>/dev/null ||
    log "cannot add $own_name to $HOSTS_FILE"
fi

# ---- One job, then exit: the Docker provider's perJob mode sets CONDOR_AUTOSCALER_PER_JOB=1. ----
if [ "${CONDOR_AUTOSCALER_PER_JOB:-}" = 1 ]; then
  cat >>"$conf" <<'CONFIG'

# One container, one job (perJob). A static slot of the whole container that starts a job only
# while none has started here, gives up its claim after that job (no claim reuse), and a startd
# that shuts down once it is Unclaimed again after the job, or was never claimed for too long.
# The master then exits (status 99, no restart) and the container ends with "200 Success".
# STARTD_StartTime is 0 also before the master has started the startd: the master's shutdown
# waits AUTOSCALER_PER_JOB_START_GRACE seconds after its own start, or it would end at once.
SLOT_TYPE_1_PARTITIONABLE = FALSE
START = $(START) && (JobStarts =?= 0)
CLAIM_WORKLIFE = 0
STARTD.DAEMON_SHUTDOWN = (State == "Unclaimed") && ((JobStarts =!= undefined && JobStarts > 0) || (time() - EnteredCurrentActivity) > $(AUTOSCALER_PER_JOB_IDLE_LIMIT))
MASTER.DAEMON_SHUTDOWN_FAST = (STARTD_StartTime =?= 0) && ((time() - DaemonStartTime) > $(AUTOSCALER_PER_JOB_START_GRACE))
AUTOSCALER_PER_JOB_START_GRACE = 60
# The master notices the startd is gone within this many seconds.
MASTER_UPDATE_INTERVAL = 10
CONFIG
  # Unclaimed this long without a job: nothing matched, leave (same limit as IDLE_SHUTDOWN).
  printf 'AUTOSCALER_PER_JOB_IDLE_LIMIT = %s\n' "${IDLE_SHUTDOWN:-1200}" >>"$conf"
fi

# ---- Run HTCondor in the foreground; forward stop signals to it. ----
stop_requested=""
master=""
on_signal() {
  stop_requested=$1
  if [ -n "$master" ]; then kill -TERM "$master" 2>/dev/null || true; fi
}
trap 'on_signal TERM' TERM
trap 'on_signal INT' INT

log "starting condor_master for $WORKER_NAME (pool $POOL, cloud $CLOUD, head node $HEAD_NODE)"
condor_master -f &
master=$!
# A signal that came before the master's pid was known.
if [ -n "$stop_requested" ]; then kill -TERM "$master" 2>/dev/null || true; fi

while :; do
  status=0
  wait "$master" || status=$?
  # A trapped signal interrupts wait (status above 128) while the master is still shutting down.
  if [ "$status" -gt 128 ] && kill -0 "$master" 2>/dev/null; then continue; fi
  break
done

if [ -n "$stop_requested" ]; then
  shutdown_message "100 Shutdown as requested"
  exit 0
fi
# 99: a DAEMON_SHUTDOWN expression ended HTCondor, as it is meant to.
if [ "$status" -ne 0 ] && [ "$status" -ne 99 ]; then
  shutdown_message "700 condor_master exited with status $status"
  exit "$status"
fi
history=$(condor_config_val STARTD_HISTORY 2>/dev/null || true)
ran_jobs=""
if [ -n "$history" ]; then
  for file in "$history" "$history".*; do
    if [ -s "$file" ]; then ran_jobs=yes; fi
  done
fi
if [ -n "$ran_jobs" ]; then
  shutdown_message "200 Success"
else
  shutdown_message "300 No more work"
fi
exit 0
