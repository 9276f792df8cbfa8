#!/usr/bin/env bash
# A whole citygrid installation on loopback, on engines Debian packages (issue 24):
#
#   etcd ─ Patroni node1 (PostgreSQL primary) ─┐        HAProxy :55000 → the primary
#          Patroni node2 (hot standby, sync)  ─┴──────  HAProxy :55001 → the standbys
#   citygrid serve ×2 (writes + change notices on :55000, layer reads on :55001)
#   HAProxy :8090 → both citygrid servers (health checks on /health)
#
# Failover is Patroni's: when the primary dies, the synchronous standby is promoted
# (no acknowledged commit lost) and HAProxy's checks of Patroni's REST API send new
# connections to it; citygrid's pools reconnect by themselves.
#
#   scripts/cluster.sh up      # start everything, load the sample city, print the address
#   scripts/cluster.sh status  # who is primary, which servers answer
#   scripts/cluster.sh down    # stop everything and remove its files
#
# Environment: CLUSTER_DIR (default target/cluster), CITYGRID_BIN (default
# target/release/citygrid, else target/debug/citygrid), CLUSTER_PORT (default 8090:
# the address printed), CLUSTER_NO_DATA=1 (skip loading the sample city),
# CLUSTER_SYNC=off (asynchronous replication: faster writes, may lose the last
# acknowledged commits on failover).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DIR=${CLUSTER_DIR:-$ROOT/target/cluster}
PORT=${CLUSTER_PORT:-8090}
PG1=${CLUSTER_PG1:-54321}; PG2=${CLUSTER_PG2:-54322}
API1=${CLUSTER_API1:-18008}; API2=${CLUSTER_API2:-18009}
ETCD=${CLUSTER_ETCD:-23790}; ETCD_PEER=${CLUSTER_ETCD_PEER:-23800}
PGW=${CLUSTER_PG_WRITE:-55000}; PGR=${CLUSTER_PG_READ:-55001}
WEB1=${CLUSTER_WEB1:-8091}; WEB2=${CLUSTER_WEB2:-8092}
PW=citygrid-cluster
BIN=${CITYGRID_BIN:-}
if [ -z "$BIN" ]; then
  if [ -x target/release/citygrid ]; then BIN=$ROOT/target/release/citygrid; else BIN=$ROOT/target/debug/citygrid; fi
fi
PGBIN=/usr/lib/postgresql/15/bin

die() { echo "cluster: $*" >&2; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || die "$1 is missing: run scripts/install-deps.sh (Debian packages patroni, etcd-server, haproxy)"; }
as_pg() { if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$1"; else sh -c "$1"; fi; }
pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
wait_for() { # seconds, description, command...
  local n=$1 what=$2; shift 2
  for _ in $(seq 1 $((n * 5))); do if "$@" >/dev/null 2>&1; then return 0; fi; sleep 0.2; done
  die "$what did not come up within ${n}s (logs in $DIR)"
}
writable() { # the write port reaches only the primary (HAProxy's first checks are done)
  for _ in 1 2 3 4 5 6; do
    [ "$(PGPASSWORD=$PW "$PGBIN/psql" -h 127.0.0.1 -p "$PGW" -U postgres -At -c "SELECT pg_is_in_recovery()" postgres 2>/dev/null)" = f ] || return 1
  done
}
primary_url() { echo "postgres://postgres:$PW@127.0.0.1:$PGW/citygrid"; }
standby_url() { echo "postgres://postgres:$PW@127.0.0.1:$PGR/citygrid"; }

patroni_yml() { # name pgport apiport
  local sync=true
  [ "${CLUSTER_SYNC:-on}" = off ] && sync=false
  cat <<EOF
scope: citygrid
name: $1
log: {level: WARNING}
restapi:
  listen: 127.0.0.1:$3
  connect_address: 127.0.0.1:$3
etcd3:
  hosts: 127.0.0.1:$ETCD
bootstrap:
  dcs:
    ttl: 10
    loop_wait: 1
    retry_timeout: 3
    maximum_lag_on_failover: 16777216
    synchronous_mode: $sync
    postgresql:
      use_pg_rewind: true
      use_slots: true
      parameters:
        wal_level: replica
        hot_standby: "on"
        max_wal_senders: 10
        max_replication_slots: 10
        wal_keep_size: 256MB
        wal_log_hints: "on"
        max_connections: 200
  initdb:
    - encoding: UTF8
    - locale: C.UTF-8
  pg_hba:
    - local all all trust
    - host replication replicator 127.0.0.1/32 md5
    - host all all 127.0.0.1/32 md5
postgresql:
  listen: 127.0.0.1:$2
  connect_address: 127.0.0.1:$2
  data_dir: $DIR/$1/data
  bin_dir: $PGBIN
  pgpass: $DIR/$1/pgpass
  authentication:
    replication: {username: replicator, password: $PW-rep}
    superuser: {username: postgres, password: $PW}
    rewind: {username: rewinder, password: $PW-rewind}
  parameters:
    unix_socket_directories: $DIR/$1
EOF
}

haproxy_cfg() {
  cat <<EOF
global
  maxconn 2000
  pidfile $DIR/haproxy.pid
defaults
  mode tcp
  timeout connect 2s
  timeout client 30m
  timeout server 30m
  timeout check 1s
listen postgres_primary
  bind 127.0.0.1:$PGW
  option httpchk OPTIONS /primary
  http-check expect status 200
  default-server inter 500ms fall 2 rise 1 on-marked-down shutdown-sessions
  server node1 127.0.0.1:$PG1 check port $API1
  server node2 127.0.0.1:$PG2 check port $API2
listen postgres_standbys
  bind 127.0.0.1:$PGR
  balance roundrobin
  option httpchk OPTIONS /replica
  http-check expect status 200
  default-server inter 500ms fall 2 rise 1 on-marked-down shutdown-sessions
  server node1 127.0.0.1:$PG1 check port $API1
  server node2 127.0.0.1:$PG2 check port $API2
frontend citygrid
  mode http
  timeout client 60s
  bind 127.0.0.1:$PORT
  default_backend citygrid_servers
backend citygrid_servers
  mode http
  timeout server 60s
  balance roundrobin
  option httpchk GET /health
  http-check expect status 200
  retry-on conn-failure empty-response
  retries 2
  option redispatch
  server web1 127.0.0.1:$WEB1 check inter 1s fall 2 rise 1
  server web2 127.0.0.1:$WEB2 check inter 1s fall 2 rise 1
EOF
}

start_web() { # name port
  mkdir -p "$DIR/$1"
  DATABASE_URL=$(primary_url) DATABASE_READ_URLS=$(standby_url) CITYGRID_BIND=127.0.0.1:$2 \
    CITYGRID_HOME="$DIR/$1" CITYGRID_RATE_LIMIT=false CITYGRID_WEB_DIR="$ROOT/web/dist" \
    setsid "$BIN" serve >"$DIR/$1.log" 2>&1 &
  echo $! >"$DIR/$1.pid"
}

up() {
  need patroni; need etcd; need haproxy; [ -x "$BIN" ] || die "no citygrid binary at $BIN: run cargo build --release --bin citygrid"
  if pid_alive "$DIR/etcd.pid"; then die "already up (scripts/cluster.sh down first)"; fi
  rm -rf "$DIR"; mkdir -p "$DIR"
  [ "$(id -u)" = 0 ] && chown postgres "$DIR"
  echo "cluster: etcd"
  setsid etcd --name citygrid --data-dir "$DIR/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD" --advertise-client-urls "http://127.0.0.1:$ETCD" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER" \
    --initial-cluster "citygrid=http://127.0.0.1:$ETCD_PEER" --log-level warn >"$DIR/etcd.log" 2>&1 &
  echo $! >"$DIR/etcd.pid"
  wait_for 20 etcd curl -sf "http://127.0.0.1:$ETCD/health"
  for n in 1 2; do
    local pg api; pg=$([ $n = 1 ] && echo $PG1 || echo $PG2); api=$([ $n = 1 ] && echo $API1 || echo $API2)
    mkdir -p "$DIR/node$n"; patroni_yml "node$n" "$pg" "$api" >"$DIR/node$n.yml"
    [ "$(id -u)" = 0 ] && chown -R postgres "$DIR/node$n" "$DIR/node$n.yml"
    chmod 700 "$DIR/node$n"
    echo "cluster: Patroni node$n (PostgreSQL on $pg)"
    as_pg "setsid patroni '$DIR/node$n.yml' >'$DIR/node$n.log' 2>&1 & echo \$! >'$DIR/node$n.pid'"
    if [ $n = 1 ]; then wait_for 60 "the primary" curl -sf "http://127.0.0.1:$API1/primary"; fi
  done
  wait_for 90 "the standby" curl -sf "http://127.0.0.1:$API2/replica"
  echo "cluster: HAProxy (PostgreSQL primary :$PGW, standbys :$PGR, citygrid :$PORT)"
  haproxy_cfg >"$DIR/haproxy.cfg"
  haproxy -D -f "$DIR/haproxy.cfg"
  wait_for 20 "the primary through HAProxy" writable
  PGPASSWORD=$PW "$PGBIN/psql" -h 127.0.0.1 -p "$PGW" -U postgres -q -c "CREATE DATABASE citygrid" postgres
  if [ "${CLUSTER_NO_DATA:-0}" != 1 ]; then
    echo "cluster: loading the sample city"
    DATABASE_URL=$(primary_url) CITYGRID_HOME="$DIR/cli" "$BIN" import osm "$ROOT/data/helsinki.osm.pbf" >"$DIR/import.log" 2>&1
    DATABASE_URL=$(primary_url) CITYGRID_HOME="$DIR/cli" "$BIN" grid seed-demo >>"$DIR/import.log" 2>&1
  else
    DATABASE_URL=$(primary_url) CITYGRID_HOME="$DIR/cli" "$BIN" db migrate >"$DIR/import.log" 2>&1 || true
  fi
  echo "cluster: two citygrid servers (:$WEB1, :$WEB2)"
  start_web web1 "$WEB1"; start_web web2 "$WEB2"
  wait_for 60 "citygrid web1" curl -sf "http://127.0.0.1:$WEB1/health"
  wait_for 60 "citygrid web2" curl -sf "http://127.0.0.1:$WEB2/health"
  wait_for 20 "the load balancer" curl -sf "http://127.0.0.1:$PORT/health"
  echo "citygrid cluster on http://127.0.0.1:$PORT (primary: $(primary_member)); scripts/cluster.sh down to remove it"
}

primary_member() {
  for api in $API1 $API2; do
    if curl -sf "http://127.0.0.1:$api/primary" >/dev/null 2>&1; then
      [ $api = $API1 ] && echo node1 || echo node2; return
    fi
  done
  echo none
}

status() {
  echo "primary: $(primary_member)"
  for n in 1 2; do
    local api; api=$([ $n = 1 ] && echo $API1 || echo $API2)
    printf 'node%s: %s\n' $n "$(curl -s "http://127.0.0.1:$api/patroni" 2>/dev/null | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get("role"), d.get("state"))' 2>/dev/null || echo down)"
  done
  for w in web1:$WEB1 web2:$WEB2 balancer:$PORT; do
    printf '%s: %s\n' "${w%%:*}" "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:${w##*:}/health" 2>/dev/null || echo down)"
  done
}

down() {
  for p in web1 web2; do pid_alive "$DIR/$p.pid" && kill "$(cat "$DIR/$p.pid")" 2>/dev/null || true; done
  pid_alive "$DIR/haproxy.pid" && kill "$(cat "$DIR/haproxy.pid")" 2>/dev/null || true
  for n in 1 2; do pid_alive "$DIR/node$n.pid" && kill "$(cat "$DIR/node$n.pid")" 2>/dev/null || true; done
  sleep 2
  for n in 1 2; do
    [ -d "$DIR/node$n/data" ] && as_pg "$PGBIN/pg_ctl -D '$DIR/node$n/data' stop -m immediate" >/dev/null 2>&1 || true
    pid_alive "$DIR/node$n.pid" && kill -9 "$(cat "$DIR/node$n.pid")" 2>/dev/null || true
  done
  pid_alive "$DIR/etcd.pid" && kill "$(cat "$DIR/etcd.pid")" 2>/dev/null || true
  sleep 1
  # the logs stay for a look afterwards (the next `up` replaces them)
  rm -rf "$DIR.logs" && mkdir -p "$DIR.logs" && cp "$DIR"/*.log "$DIR.logs/" 2>/dev/null || true
  rm -rf "$DIR"
  echo "cluster: down (logs kept in $DIR.logs)"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  *) echo "usage: scripts/cluster.sh up|down|status" >&2; exit 2 ;;
esac
