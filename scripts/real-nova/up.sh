#!/bin/bash
# Start a real OpenStack compute API (Debian 12's Zed packages) on 127.0.0.1 for
# condor-autoscaler's integration tests: Keystone, Glance, Placement, Nova with
# the fake virt driver, RabbitMQ, PostgreSQL, and a read-only fake Neutron.
#
#   sudo scripts/real-nova/up.sh        idempotent: installs, configures, starts
#   sudo scripts/real-nova/down.sh      stop (state kept); --purge wipes it
#
# Everything (configs, databases, logs, pids) lives under $CA_NOVA_BASE.
# See README.md next to this file for ports, credentials and timings.
set -euo pipefail

# Debian's python3 must win over pyenv/virtualenvs: the OpenStack modules are
# only importable from /usr/bin/python3.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
unset PYTHONPATH PYTHONHOME VIRTUAL_ENV
export DEBIAN_FRONTEND=noninteractive
PY=/usr/bin/python3

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BASE=${CA_NOVA_BASE:-/var/lib/condor-autoscaler-nova}
ETC=$BASE/etc DATA=$BASE/data LOGS=$BASE/log RUN=$BASE/run BIN=$BASE/bin

export CA_NOVA_KEYSTONE_PORT=${CA_NOVA_KEYSTONE_PORT:-15000}
export CA_NOVA_NOVA_PORT=${CA_NOVA_NOVA_PORT:-18774}
export CA_NOVA_GLANCE_PORT=${CA_NOVA_GLANCE_PORT:-19292}
export CA_NOVA_PLACEMENT_PORT=${CA_NOVA_PLACEMENT_PORT:-18778}
export CA_NOVA_NEUTRON_PORT=${CA_NOVA_NEUTRON_PORT:-19696}
export CA_NOVA_AMQP_PORT=${CA_NOVA_AMQP_PORT:-15672}    # +1 Erlang distribution, +2 epmd
export CA_NOVA_PG_PORT=${CA_NOVA_PG_PORT:-15432}
export CA_NOVA_ADMIN_PASSWORD=${CA_NOVA_ADMIN_PASSWORD:-admin}
export CA_NOVA_DEMO_PASSWORD=${CA_NOVA_DEMO_PASSWORD:-demo}
export CA_NOVA_SERVICE_PASSWORD=${CA_NOVA_SERVICE_PASSWORD:-secret}
export CA_NOVA_QUOTA_INSTANCES=${CA_NOVA_QUOTA_INSTANCES:-3}
export CA_NOVA_QUOTA_CORES=${CA_NOVA_QUOTA_CORES:-4}
export CA_NOVA_QUOTA_RAM=${CA_NOVA_QUOTA_RAM:-32768}
export CA_NOVA_TOKEN_FILE=$RUN/admin-token.json   # bootstrap.py shares one admin token between runs
SMOKE=${CA_NOVA_SMOKE:-1}           # boot and delete one server (admin project) after a cold start

KEYSTONE_URL=http://127.0.0.1:$CA_NOVA_KEYSTONE_PORT
COMPUTE_HOST=real-nova-compute
SVC_PW=$CA_NOVA_SERVICE_PASSWORD

# RabbitMQ as a detached node of its own, on loopback only. Its files live in a
# directory owned by the rabbitmq user (the Debian wrapper drops to that user).
RABBIT_DIR=$BASE/rabbitmq
export RABBITMQ_NODENAME=rabbit@localhost
export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
export RABBITMQ_NODE_PORT=$CA_NOVA_AMQP_PORT
export RABBITMQ_DIST_PORT=$((CA_NOVA_AMQP_PORT + 1))
export ERL_EPMD_PORT=$((CA_NOVA_AMQP_PORT + 2)) ERL_EPMD_ADDRESS=127.0.0.1
export RABBITMQ_MNESIA_BASE=$RABBIT_DIR/mnesia RABBITMQ_LOG_BASE=$RABBIT_DIR/log
export RABBITMQ_PID_FILE=$RABBIT_DIR/rabbitmq.pid
export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"

T0=$(date +%s.%N)
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
say() { printf '[real-nova +%5ss] %s\n' "$(elapsed "$T0")" "$*"; }
die() { say "ERROR: $*" >&2; exit 1; }
# step NAME: start a timer; done_step: report it
step() { STEP=$1 STEP_T=$(date +%s.%N); }
done_step() { say "$STEP: $(elapsed "$STEP_T")s${1:+ ($1)}"; }

[ "$(id -u)" = 0 ] || die "run as root (it installs packages and runs the services)"

# ---------------------------------------------------------------------------- packages
PACKAGES=(python3-keystone python3-glance python3-placement python3-nova rabbitmq-server
          uwsgi-core uwsgi-plugin-python3 postgresql python3-psycopg2 curl jq)
install_packages() {
  local missing=() p
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -qx installed || missing+=("$p")
  done
  [ ${#missing[@]} = 0 ] && return 0
  step "apt-get install ${missing[*]}"
  # Keep the packages' maintainer scripts from starting a system-wide rabbitmq
  # (or anything else): a policy-rc.d that denies every start, only for this.
  local policy=/usr/sbin/policy-rc.d
  if [ ! -e $policy ]; then
    printf '#!/bin/sh\n# temporary, from condor-autoscaler scripts/real-nova/up.sh\nexit 101\n' > $policy
    chmod 755 $policy
    trap "rm -f $policy" EXIT
  fi
  local aptlog=${TMPDIR:-/tmp}/real-nova-apt.log
  if ! { apt-get update -q && apt-get install -y -q --no-install-recommends "${missing[@]}"; } > "$aptlog" 2>&1; then
    tail -n 40 "$aptlog" >&2
    die "package installation failed (full log: $aptlog)"
  fi
  if [ "$(trap -p EXIT)" ]; then rm -f $policy; trap - EXIT; fi
  done_step
}
install_packages

install -d -m 755 "$BASE" "$ETC" "$DATA" "$LOGS" "$RUN" "$BIN" \
  "$ETC"/{keystone,glance,placement,nova} "$DATA"/keystone \
  "$DATA"/glance/{images,staging,tasks} "$DATA"/nova/{instances,locks}
install -d -m 755 -o rabbitmq -g rabbitmq "$RABBIT_DIR" "$RABBIT_DIR"/mnesia "$RABBIT_DIR"/log

boot() { "$PY" "$HERE/bootstrap.py" "$@"; }

# ---------------------------------------------------------------------------- process bookkeeping
# A pid file holds "PID STARTTIME" (field 22 of /proc/PID/stat), so a recycled
# pid is never mistaken for ours. Services run in their own session (setsid),
# so PID is also the process group id down.sh signals.
starttime() {
  local stat fields
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  read -ra fields <<< "${stat##*) }"
  [ "${fields[0]}" != Z ] || return 1
  echo "${fields[19]}"
}
is_running() {  # NAME
  local pid st
  [ -s "$RUN/$1.pid" ] || return 1
  read -r pid st < "$RUN/$1.pid"
  [ -n "${st:-}" ] && [ "$(starttime "$pid")" = "$st" ]
}
pid_of() { local pid _; read -r pid _ < "$RUN/$1.pid"; echo "$pid"; }
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
STARTED=()
launch() {  # NAME PORT|- CMD...   start unless already running
  local name=$1 port=$2; shift 2
  if is_running "$name"; then return 0; fi
  if [ "$port" != - ] && port_busy "$port"; then
    die "port $port (for $name) is taken by a process this script did not start; stop it first"
  fi
  setsid "$@" >> "$LOGS/$name.out" 2>&1 < /dev/null &
  local pid=$!
  echo "$pid $(starttime $pid)" > "$RUN/$name.pid"
  STARTED+=("$name")
}
wait_http() {  # NAME URL
  boot wait-http "$2" --pid "$(pid_of "$1")" || die "$1 did not come up; see $LOGS/$1.out and $LOGS/$1.log"
}

# One-time steps (schema syncs, keystone bootstrap) leave a stamp in $DATA.
stamped() { [ -e "$DATA/.done-$1" ]; }
stamp() { touch "$DATA/.done-$1"; }
# The services' databases live in a private PostgreSQL cluster on loopback. (With SQLite, the
# services' processes failed each other's concurrent writes at once with "database is locked":
# servers in ERROR and HTTP 500s that made the tests flaky on a loaded machine.)
PG_DATA=$BASE/postgresql
db_url() { printf 'postgresql+psycopg2://postgres@127.0.0.1:%s/%s' "$CA_NOVA_PG_PORT" "$1"; }
pgq() { psql -h 127.0.0.1 -p "$CA_NOVA_PG_PORT" -U postgres -d "$1" -tAqc "$2"; }

# ---------------------------------------------------------------------------- launchers
# python3-nova/glance ship the modules but not the console scripts (those come
# with the packages that also install systemd units), so make our own.
for spec in nova-manage:nova.cmd.manage nova-conductor:nova.cmd.conductor \
            nova-scheduler:nova.cmd.scheduler nova-compute:nova.cmd.compute \
            glance-manage:glance.cmd.manage glance-api:glance.cmd.api; do
  printf '#!%s\nimport sys\nfrom %s import main\nsys.exit(main())\n' "$PY" "${spec#*:}" > "$BIN/${spec%%:*}"
  chmod 755 "$BIN/${spec%%:*}"
done
printf 'from keystone.server.wsgi import initialize_public_application\napplication = initialize_public_application()\n' \
  > "$BIN/keystone.wsgi"
printf 'from placement.wsgi import init_application\napplication = init_application()\n' > "$BIN/placement.wsgi"
printf 'from nova.api.openstack.compute.wsgi import init_application\napplication = init_application()\n' \
  > "$BIN/nova-api.wsgi"

# ---------------------------------------------------------------------------- configs
# Rewritten on every run (cheap); a running service keeps what it started with.
service_auth() {  # SECTION USER: keystoneauth password plugin as a service user
  printf '[%s]\nauth_type = password\nauth_url = %s/v3\nuser_domain_name = Default\n' "$1" "$KEYSTONE_URL"
  printf 'project_domain_name = Default\nproject_name = service\nusername = %s\npassword = %s\n' "$2" "$SVC_PW"
  printf 'region_name = RegionOne\n'
}
authtoken() {  # USER: keystonemiddleware for an API service
  service_auth keystone_authtoken "$1"
  printf 'www_authenticate_uri = %s\nservice_token_roles_required = true\n' "$KEYSTONE_URL"
}

cat > "$ETC/keystone/keystone.conf" <<EOF
[DEFAULT]
log_file = $LOGS/keystone.log
[database]
connection = $(db_url keystone)
[token]
provider = fernet
expiration = 86400
[fernet_tokens]
key_repository = $DATA/keystone/fernet-keys
[fernet_receipts]
key_repository = $DATA/keystone/fernet-keys
[credential]
key_repository = $DATA/keystone/credential-keys
[cache]
enabled = false
EOF

cat > "$ETC/glance/glance-api.conf" <<EOF
[DEFAULT]
bind_host = 127.0.0.1
bind_port = $CA_NOVA_GLANCE_PORT
workers = 1
log_file = $LOGS/glance-api.log
enabled_backends = local:file
[database]
connection = $(db_url glance)
[glance_store]
default_backend = local
[local]
filesystem_store_datadir = $DATA/glance/images/
[os_glance_staging_store]
filesystem_store_datadir = $DATA/glance/staging/
[os_glance_tasks_store]
filesystem_store_datadir = $DATA/glance/tasks/
[oslo_concurrency]
lock_path = $DATA/glance
[paste_deploy]
flavor = keystone
config_file = $ETC/glance/glance-api-paste.ini
$(authtoken glance)
EOF
cat > "$ETC/glance/glance-api-paste.ini" <<'EOF'
[pipeline:glance-api-keystone]
pipeline = cors http_proxy_to_wsgi versionnegotiation authtoken context rootapp
[composite:rootapp]
paste.composite_factory = glance.api:root_app_factory
/: apiversions
/v2: apiv2app
[app:apiversions]
paste.app_factory = glance.api.versions:create_resource
[app:apiv2app]
paste.app_factory = glance.api.v2.router:API.factory
[filter:versionnegotiation]
paste.filter_factory = glance.api.middleware.version_negotiation:VersionNegotiationFilter.factory
[filter:context]
paste.filter_factory = glance.api.middleware.context:ContextMiddleware.factory
[filter:authtoken]
paste.filter_factory = keystonemiddleware.auth_token:filter_factory
delay_auth_decision = true
[filter:cors]
paste.filter_factory = oslo_middleware.cors:filter_factory
oslo_config_project = glance
oslo_config_program = glance-api
[filter:http_proxy_to_wsgi]
paste.filter_factory = oslo_middleware:HTTPProxyToWSGI.factory
EOF

cat > "$ETC/placement/placement.conf" <<EOF
[DEFAULT]
log_file = $LOGS/placement.log
[placement_database]
connection = $(db_url placement)
[api]
auth_strategy = keystone
$(authtoken placement)
EOF

cat > "$ETC/nova/nova.conf" <<EOF
[DEFAULT]
host = $COMPUTE_HOST
my_ip = 127.0.0.1
enabled_apis = osapi_compute
compute_driver = fake.FakeDriver
transport_url = rabbit://guest:guest@127.0.0.1:$CA_NOVA_AMQP_PORT/
state_path = $DATA/nova
instances_path = $DATA/nova/instances
heal_instance_info_cache_interval = 0
instance_build_timeout = 300
[api]
auth_strategy = keystone
[wsgi]
api_paste_config = $ETC/nova/api-paste.ini
[api_database]
connection = $(db_url nova_api)
[database]
connection = $(db_url nova_cell1)
[conductor]
workers = 1
[scheduler]
workers = 1
discover_hosts_in_cells_interval = 10
[oslo_concurrency]
lock_path = $DATA/nova/locks
[oslo_messaging_notifications]
driver = noop
[vnc]
enabled = false
[glance]
api_servers = http://127.0.0.1:$CA_NOVA_GLANCE_PORT
$(service_auth neutron nova)
endpoint_override = http://127.0.0.1:$CA_NOVA_NEUTRON_PORT
$(service_auth placement placement)
$(authtoken nova)
EOF
cat > "$ETC/nova/api-paste.ini" <<'EOF'
[composite:osapi_compute]
use = call:nova.api.openstack.urlmap:urlmap_factory
/: oscomputeversions
/v2.1: oscomputeversion_v2
/v2.1/+: openstack_compute_api_v21
[composite:openstack_compute_api_v21]
use = call:nova.api.auth:pipeline_factory_v21
keystone = cors http_proxy_to_wsgi compute_req_id faultwrap request_log sizelimit authtoken keystonecontext osapi_compute_app_v21
[pipeline:oscomputeversions]
pipeline = cors faultwrap request_log http_proxy_to_wsgi oscomputeversionapp
[pipeline:oscomputeversion_v2]
pipeline = cors compute_req_id faultwrap request_log http_proxy_to_wsgi oscomputeversionapp_v2
[app:osapi_compute_app_v21]
paste.app_factory = nova.api.openstack.compute:APIRouterV21.factory
[app:oscomputeversionapp]
paste.app_factory = nova.api.openstack.compute.versions:Versions.factory
[app:oscomputeversionapp_v2]
paste.app_factory = nova.api.openstack.compute.versions:VersionsV2.factory
[filter:request_log]
paste.filter_factory = nova.api.openstack.requestlog:RequestLog.factory
[filter:compute_req_id]
paste.filter_factory = nova.api.compute_req_id:ComputeReqIdMiddleware.factory
[filter:faultwrap]
paste.filter_factory = nova.api.openstack:FaultWrapper.factory
[filter:sizelimit]
paste.filter_factory = oslo_middleware:RequestBodySizeLimiter.factory
[filter:http_proxy_to_wsgi]
paste.filter_factory = oslo_middleware.http_proxy_to_wsgi:HTTPProxyToWSGI.factory
[filter:cors]
paste.filter_factory = oslo_middleware.cors:filter_factory
oslo_config_project = nova
[filter:keystonecontext]
paste.filter_factory = nova.api.auth:NovaKeystoneContext.factory
[filter:authtoken]
paste.filter_factory = keystonemiddleware.auth_token:filter_factory
EOF

uwsgi_ini() {  # NAME PORT WORKERS KEY=VALUE...   (KEY=VALUE: environment of the app)
  local name=$1 port=$2 workers=$3 kv; shift 3
  {
    printf '[uwsgi]\nplugins = python3\nhttp-socket = 127.0.0.1:%s\nwsgi-file = %s\n' "$port" "$BIN/$name.wsgi"
    printf 'master = true\nprocesses = %s\nenable-threads = true\nlazy-apps = true\n' "$workers"
    # need-app: exit when the application fails to load instead of serving 500s;
    # SIGTERM stops (not reloads) the whole tree
    printf 'need-app = true\ndie-on-term = true\nexit-on-reload = false\n'
    printf 'hook-master-start = unix_signal:15 gracefully_kill_them_all\nworker-reload-mercy = 10\n'
    # Keystone tokens make big headers; no keep-alive on uwsgi's plain http-socket
    printf 'buffer-size = 65535\nadd-header = Connection: close\n'
    printf 'procname-prefix-spaced = real-nova-%s\n' "$name"
    for kv in "$@"; do printf 'env = %s\n' "$kv"; done
  } > "$ETC/$name-uwsgi.ini"
}
uwsgi_ini keystone "$CA_NOVA_KEYSTONE_PORT" 2 "OS_KEYSTONE_CONFIG_FILES=$ETC/keystone/keystone.conf"
uwsgi_ini placement "$CA_NOVA_PLACEMENT_PORT" 1 "OS_PLACEMENT_CONFIG_DIR=$ETC/placement"
uwsgi_ini nova-api "$CA_NOVA_NOVA_PORT" 2 "OS_NOVA_CONFIG_DIR=$ETC/nova"

cat > "$BASE/clouds.yaml" <<EOF
# written by condor-autoscaler scripts/real-nova/up.sh
clouds:
  real-nova:
    auth_type: password
    auth:
      auth_url: $KEYSTONE_URL/v3
      username: demo
      password: $CA_NOVA_DEMO_PASSWORD
      project_name: demo
      user_domain_name: Default
      project_domain_name: Default
    region_name: RegionOne
    interface: public
    identity_api_version: 3
EOF
chmod 644 "$BASE/clouds.yaml"

# ---------------------------------------------------------------------------- rabbitmq (async start)
RABBIT_STARTED=
rabbit_alive() {
  local pid
  [ -s "$RABBITMQ_PID_FILE" ] && pid=$(cat "$RABBITMQ_PID_FILE") && [ -n "$pid" ] && starttime "$pid" > /dev/null
}
if ! rabbit_alive; then
  port_busy "$CA_NOVA_AMQP_PORT" && die "AMQP port $CA_NOVA_AMQP_PORT is taken by a process this script did not start"
  rm -f "$RABBITMQ_PID_FILE"
  rabbitmq-server -detached >> "$LOGS/rabbitmq.out" 2>&1 < /dev/null
  RABBIT_STARTED=1
fi

# ---------------------------------------------------------------------------- schemas (in parallel)
sync_keystone() {
  local km=(keystone-manage --config-file "$ETC/keystone/keystone.conf")
  "${km[@]}" db_sync
  [ -e "$DATA/keystone/fernet-keys/0" ] || "${km[@]}" fernet_setup --keystone-user root --keystone-group root
  [ -e "$DATA/keystone/credential-keys/0" ] || "${km[@]}" credential_setup --keystone-user root --keystone-group root
  "${km[@]}" bootstrap --bootstrap-username admin --bootstrap-password "$CA_NOVA_ADMIN_PASSWORD" \
    --bootstrap-project-name admin --bootstrap-role-name admin \
    --bootstrap-service-name keystone --bootstrap-region-id RegionOne \
    --bootstrap-public-url "$KEYSTONE_URL/v3/" --bootstrap-internal-url "$KEYSTONE_URL/v3/" \
    --bootstrap-admin-url "$KEYSTONE_URL/v3/"
}
sync_glance() {
  "$BIN/glance-manage" --config-file "$ETC/glance/glance-api.conf" db_sync
}
sync_placement() {
  placement-manage --config-dir "$ETC/placement" db sync
}
sync_nova() {
  local nm=("$BIN/nova-manage" --config-file "$ETC/nova/nova.conf")
  "${nm[@]}" api_db sync
  "${nm[@]}" cell_v2 map_cell0 --database_connection "$(db_url nova_cell0)"
  if [ -z "$(pgq nova_api "SELECT 1 FROM cell_mappings WHERE name='cell1'")" ]; then
    "${nm[@]}" cell_v2 create_cell --name cell1
  fi
  "${nm[@]}" db sync
}
# ---------------------------------------------------------------------------- postgresql
[ -e "$DATA/.done-nova-db" ] && die "$BASE holds the SQLite state of an older up.sh: run down.sh --purge first"
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
pg() { runuser -u postgres -- "$PG_BIN/$1" "${@:2}"; }
if [ ! -s "$PG_DATA/PG_VERSION" ]; then
  step "postgresql cluster"
  install -d -m 700 -o postgres -g postgres "$PG_DATA"
  pg initdb -D "$PG_DATA" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >> "$LOGS/postgresql.out" 2>&1 \
    || die "initdb failed; see $LOGS/postgresql.out"
  done_step
fi
if ! pg pg_ctl -D "$PG_DATA" status > /dev/null 2>&1; then
  port_busy "$CA_NOVA_PG_PORT" && die "port $CA_NOVA_PG_PORT is taken by a process this script did not start"
  install -m 640 -o postgres -g postgres /dev/null "$LOGS/postgresql.log"
  # A throw-away test database: durability traded for speed.
  pg pg_ctl -D "$PG_DATA" -l "$LOGS/postgresql.log" -w -t 60 start -o "-c listen_addresses=127.0.0.1 \
-p $CA_NOVA_PG_PORT -c unix_socket_directories=$PG_DATA -c max_connections=300 -c fsync=off \
-c synchronous_commit=off -c full_page_writes=off" >> "$LOGS/postgresql.out" 2>&1 \
    || die "postgresql did not start; see $LOGS/postgresql.log"
fi
for db in keystone glance placement nova_api nova_cell0 nova_cell1; do
  [ -n "$(pgq postgres "SELECT 1 FROM pg_database WHERE datname='$db'")" ] || pgq postgres "CREATE DATABASE $db"
done

step "schema syncs"
SYNCS=()
for svc in keystone glance placement nova; do
  stamped "$svc-pg" && continue
  # a subshell of its own so that errexit applies inside sync_*
  ( set -e; "sync_$svc" >> "$LOGS/$svc-db.out" 2>&1; stamp "$svc-pg" ) &
  SYNCS+=("$svc:$!")
done
for job in "${SYNCS[@]}"; do
  wait "${job#*:}" || die "${job%%:*} database setup failed; see $LOGS/${job%%:*}-db.out"
done
[ ${#SYNCS[@]} = 0 ] && say "schemas already set up" || done_step "${#SYNCS[@]} databases"

# ---------------------------------------------------------------------------- keystone
step keystone
launch keystone "$CA_NOVA_KEYSTONE_PORT" uwsgi --ini "$ETC/keystone-uwsgi.ini"
wait_http keystone "$KEYSTONE_URL/v3"
boot identity || die "keystone setup failed"
done_step

# ---------------------------------------------------------------------------- rabbitmq (ready)
if [ -n "$RABBIT_STARTED" ]; then
  step rabbitmq
  rabbitmqctl -q -n "$RABBITMQ_NODENAME" wait --timeout 180 "$RABBITMQ_PID_FILE" >> "$LOGS/rabbitmq.out" 2>&1 \
    || die "rabbitmq did not start; see $LOGS/rabbitmq.out and $RABBIT_DIR/log"
  done_step
fi

# ---------------------------------------------------------------------------- the rest
step "glance, placement, nova services"
launch fake-neutron "$CA_NOVA_NEUTRON_PORT" "$PY" "$HERE/bootstrap.py" fake-neutron
launch glance-api "$CA_NOVA_GLANCE_PORT" "$BIN/glance-api" --config-file "$ETC/glance/glance-api.conf"
launch placement "$CA_NOVA_PLACEMENT_PORT" uwsgi --ini "$ETC/placement-uwsgi.ini"
launch nova-api "$CA_NOVA_NOVA_PORT" uwsgi --ini "$ETC/nova-api-uwsgi.ini"
launch nova-conductor - "$BIN/nova-conductor" --config-file "$ETC/nova/nova.conf"
launch nova-scheduler - "$BIN/nova-scheduler" --config-file "$ETC/nova/nova.conf"
# nova-compute reports its resources to placement as it starts: placement first
wait_http placement "http://127.0.0.1:$CA_NOVA_PLACEMENT_PORT/"
COMPUTE_SINCE=0
if ! is_running nova-compute; then
  COMPUTE_SINCE=$(date +%s)
  launch nova-compute - "$BIN/nova-compute" --config-file "$ETC/nova/nova.conf"
fi
wait_http fake-neutron "http://127.0.0.1:$CA_NOVA_NEUTRON_PORT/"
wait_http glance-api "http://127.0.0.1:$CA_NOVA_GLANCE_PORT/"
wait_http nova-api "http://127.0.0.1:$CA_NOVA_NOVA_PORT/"
done_step "started: ${STARTED[*]:-none}"

step "image, flavors, quota"
boot image || die "image upload failed; see $LOGS/glance-api.log"
boot flavors || die "flavor setup failed; see $LOGS/nova-api.out"
boot quota || die "setting the demo quota failed"
done_step

# ---------------------------------------------------------------------------- ready to schedule?
step "compute host ready"
host_mapped() { [ -n "$(pgq nova_api "SELECT 1 FROM host_mappings WHERE host='$COMPUTE_HOST'")" ]; }
if ! host_mapped; then
  # the compute node row appears once nova-compute has registered; then map it into cell1
  for _ in $(seq 90); do
    [ -n "$(pgq nova_cell1 "SELECT 1 FROM compute_nodes WHERE host='$COMPUTE_HOST' AND deleted=0")" ] && break
    is_running nova-compute || die "nova-compute exited; see $LOGS/nova-compute.out"
    sleep 2
  done
  host_mapped || "$BIN/nova-manage" --config-file "$ETC/nova/nova.conf" cell_v2 discover_hosts \
    >> "$LOGS/nova-manage.out" 2>&1 || true   # the scheduler may have mapped it concurrently
  host_mapped || die "compute host $COMPUTE_HOST is not mapped to a cell; see $LOGS/nova-compute.out"
fi
boot wait-placement || die "no compute inventory in placement; see $LOGS/nova-compute.out, $LOGS/placement.log"
boot wait-compute --since "$COMPUTE_SINCE" || die "nova-compute is not up; see $LOGS/nova-compute.out"
done_step
if [ "$COMPUTE_SINCE" != 0 ] && [ "$SMOKE" != 0 ]; then
  step "smoke boot"
  boot smoke || die "a test server did not boot; see $LOGS/nova-*.out"
  done_step
fi

say "real Nova ready in $(elapsed "$T0")s: compute http://127.0.0.1:$CA_NOVA_NOVA_PORT/v2.1," \
    "identity $KEYSTONE_URL/v3; OS_CLIENT_CONFIG_FILE=$BASE/clouds.yaml OS_CLOUD=real-nova"
