#!/usr/bin/env bash
# A private PostgreSQL cluster (Debian's packages) for local tests.
#
#   scripts/services/postgres.sh install|start|stop|restart|status|logs [N]|psql [ARGS]|reset
#
# Listens on 127.0.0.1:55432 only; database `tracepipe`, user/password
# `tracepipe`/`tracepipe`. The server runs as the `postgres` user, so its
# cluster, socket and log live where that user can reach them without any
# change to the permissions of a home directory: /var/lib/tracepipe/postgres
# (owned by `postgres`; TRACEPIPE_PG_BASE overrides).
TP_SERVICE=postgres
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PG_HOST=127.0.0.1
PG_PORT="${TRACEPIPE_PG_PORT:-55432}"
PG_DB=tracepipe
PG_USER=tracepipe
PG_PASSWORD=tracepipe
PG_OS_USER="${TRACEPIPE_PG_OS_USER:-postgres}"

BASE="${TRACEPIPE_PG_BASE:-/var/lib/tracepipe/postgres}"
# Where earlier versions of this script kept the cluster, inside $HOME: they
# made $HOME searchable for the postgres user to get there.
LEGACY_BASE="$TP_SERVICES_CACHE/postgres"
if [[ -z "${TRACEPIPE_PG_BASE:-}" && "$LEGACY_BASE" != "$BASE" ]]; then
  legacy_pid="$(head -n 1 "$LEGACY_BASE/data/postmaster.pid" 2>/dev/null || true)"
  if [[ "$legacy_pid" =~ ^[0-9]+$ ]] && kill -0 "$legacy_pid" 2>/dev/null; then
    # Keep serving the running cluster rather than fail on its port; the next
    # stop/start moves to the new place.
    tp_log "WARNING: the cluster still runs from $LEGACY_BASE/data, the old place inside \$HOME;" \
      "\`postgres.sh stop\` then \`start\` moves it to $BASE (a fresh, empty cluster)"
    BASE="$LEGACY_BASE"
  fi
fi
DATA_DIR="$BASE/data"
RUN_DIR="$BASE/run"      # unix socket (admin access as the postgres superuser)
LOG_DIR="$BASE/logs"
LOG_FILE="$LOG_DIR/postgres.log"

pg_bindir() {
  local d
  d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
  [[ -n "$d" && -x "$d/initdb" ]] && echo "$d"
}

install_pg_needed() { ! { pg_bindir >/dev/null && id "$PG_OS_USER" >/dev/null 2>&1; }; }

install_pg() {
  install_pg_needed || return 0
  tp_with_lock postgres-install install_pg_locked
}

install_pg_locked() {
  install_pg_needed || return 0
  local t0; t0=$(tp_now_ms)
  tp_apt_install postgresql postgresql-client
  pg_bindir >/dev/null || tp_die "no /usr/lib/postgresql/*/bin/initdb after install"
  tp_log "installed PostgreSQL in $(( ($(tp_now_ms) - t0) / 1000 ))s"
}

# Run a command as the server's OS user from a directory it can read.
as_pg() {
  if [[ "$(id -un)" == "$PG_OS_USER" ]]; then (cd / && "$@"); return; fi
  (cd / && runuser -u "$PG_OS_USER" -- "$@")
}

# The cluster's directories belong to $PG_OS_USER. The base must be reachable
# by that user as it is: this script changes no permissions on the way there.
prepare_dirs() {
  mkdir -p "$BASE" || tp_die "cannot create $BASE; set TRACEPIPE_PG_BASE to a directory $PG_OS_USER can reach"
  mkdir -p "$DATA_DIR" "$RUN_DIR" "$LOG_DIR"
  chown "$PG_OS_USER": "$BASE" "$DATA_DIR" "$RUN_DIR" "$LOG_DIR"
  chmod 700 "$DATA_DIR"
  as_pg test -x "$BASE" -a -w "$LOG_DIR" \
    || tp_die "$PG_OS_USER cannot reach $BASE; set TRACEPIPE_PG_BASE to a directory it can reach"
}

init_cluster() {
  if [[ -f "$DATA_DIR/PG_VERSION" ]]; then return 0; fi
  local bin; bin="$(pg_bindir)"
  tp_log "initdb $DATA_DIR"
  # Superuser `postgres` over the unix socket in $RUN_DIR (trust, only the
  # postgres OS user and root can reach that dir); TCP needs a password.
  as_pg "$bin/initdb" -D "$DATA_DIR" -U postgres -E UTF8 --locale=C.UTF-8 \
    --auth-local=trust --auth-host=scram-sha-256 >>"$LOG_DIR/initdb.log" 2>&1 \
    || { cat "$LOG_DIR/initdb.log" >&2; tp_die "initdb failed"; }
  cat >>"$DATA_DIR/postgresql.conf" <<CONF

# --- tracepipe local test cluster (scripts/services/postgres.sh) ---
listen_addresses = '$PG_HOST'
port = $PG_PORT
unix_socket_directories = '$RUN_DIR'
# A throwaway dev/test cluster: trade crash safety for speed.
fsync = off
synchronous_commit = off
full_page_writes = off
shared_buffers = 128MB
max_connections = 100
logging_collector = off
log_min_messages = warning
CONF
}

pg_ready() { "$(pg_bindir)/pg_isready" -q -h "$PG_HOST" -p "$PG_PORT" -d postgres; }

psql_admin() {
  as_pg "$(pg_bindir)/psql" -X -q -v ON_ERROR_STOP=1 -h "$RUN_DIR" -p "$PG_PORT" -U postgres "$@"
}

ensure_db() {
  if [[ "$(psql_admin -d postgres -tAc "select 1 from pg_roles where rolname='$PG_USER'")" != 1 ]]; then
    tp_log "creating role $PG_USER"
    psql_admin -d postgres -c "create role $PG_USER login password '$PG_PASSWORD'"
  fi
  if [[ "$(psql_admin -d postgres -tAc "select 1 from pg_database where datname='$PG_DB'")" != 1 ]]; then
    tp_log "creating database $PG_DB"
    psql_admin -d postgres -c "create database $PG_DB owner $PG_USER"
  fi
}

running() { [[ -f "$DATA_DIR/postmaster.pid" ]] && as_pg "$(pg_bindir)/pg_ctl" -D "$DATA_DIR" status >/dev/null 2>&1; }

start() {
  install_pg
  prepare_dirs
  init_cluster
  local bin; bin="$(pg_bindir)"
  local t0; t0=$(tp_now_ms)
  if running; then
    tp_log "already running"
  else
    tp_port_open "$PG_HOST" "$PG_PORT" && tp_die "port $PG_PORT is in use by another process"
    tp_log "starting PostgreSQL $(basename "$(dirname "$bin")") on $PG_HOST:$PG_PORT (logs: $LOG_FILE)"
    as_pg "$bin/pg_ctl" -D "$DATA_DIR" -l "$LOG_FILE" -w -t 60 start >/dev/null \
      || { tail -n 30 "$LOG_FILE" >&2; tp_die "pg_ctl start failed"; }
  fi
  tp_wait_for 60 "pg_isready $PG_HOST:$PG_PORT" pg_ready || { tail -n 30 "$LOG_FILE" >&2; tp_die "PostgreSQL not ready"; }
  ensure_db
  tp_log "ready: postgres://$PG_USER:$PG_PASSWORD@$PG_HOST:$PG_PORT/$PG_DB ($(( $(tp_now_ms) - t0 )) ms)"
}

stop() {
  local bin; bin="$(pg_bindir)" || { tp_log "PostgreSQL is not installed"; return 0; }
  if running; then
    tp_log "stopping PostgreSQL"
    as_pg "$bin/pg_ctl" -D "$DATA_DIR" -m fast -w -t 60 stop >/dev/null
    tp_log "PostgreSQL stopped"
  else
    tp_log "PostgreSQL is not running"
  fi
}

status() {
  if running && pg_ready; then
    echo "postgres: running, postgres://$PG_USER:***@$PG_HOST:$PG_PORT/$PG_DB"
  elif running; then
    echo "postgres: process up but not accepting connections on $PG_HOST:$PG_PORT"; return 1
  else
    echo "postgres: stopped"; return 3
  fi
}

cmd="${1:-}"; shift || true
case "$cmd" in
  install) install_pg ;;
  start) start ;;
  stop) stop ;;
  restart) stop; start ;;
  status) status ;;
  logs) tail -n "${1:-100}" "$LOG_FILE" ;;
  psql) PGPASSWORD="$PG_PASSWORD" "$(pg_bindir)/psql" -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d "$PG_DB" "$@" ;;
  reset) stop; rm -rf "$DATA_DIR"; tp_log "wiped $DATA_DIR" ;;
  *) echo "usage: $0 install|start|stop|restart|status|logs [N]|psql [ARGS]|reset" >&2; exit 2 ;;
esac
