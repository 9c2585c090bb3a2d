#!/usr/bin/env bash
# A local OpenID provider (the certified `oidc-provider` npm package) for the
# sign-in tests: scripts/services/oidc/server.js.
#
#   scripts/services/oidc.sh install|start|stop|restart|status|logs [N]
#
# Issuer http://127.0.0.1:9710 (TRACEPIPE_OIDC_PORT). Its client id, client
# secret and test account are the TRACEPIPE_TEST_OIDC_* values env.sh prints;
# this script takes them from there, so there is one place for them. The
# package is installed with `npm ci` from oidc/package-lock.json into
# $HOME/.cache/tracepipe/services/oidc; the log lives there too.
TP_SERVICE=oidc
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SRC="$TP_SERVICES_DIR/oidc"
BASE="$TP_SERVICES_CACHE/oidc"
PID_FILE="$BASE/oidc.pid"
LOG_FILE="$BASE/oidc.log"

eval "$("$TP_SERVICES_DIR/env.sh")"
OIDC_HOST=127.0.0.1
OIDC_PORT="${TRACEPIPE_TEST_OIDC_ISSUER##*:}"

install_needed() {
  ! { [[ -f "$BASE/node_modules/.package-lock.json" && -f "$BASE/node_modules/oidc-provider/package.json" ]] \
    && cmp -s "$SRC/package.json" "$BASE/package.json" \
    && cmp -s "$SRC/package-lock.json" "$BASE/package-lock.json"; }
}

install_oidc() {
  install_needed || return 0
  tp_with_lock oidc-install install_oidc_locked
}

install_oidc_locked() {
  install_needed || return 0
  command -v npm >/dev/null || tp_apt_install nodejs npm
  local t0; t0=$(tp_now_ms)
  mkdir -p "$BASE"
  cp "$SRC/package.json" "$SRC/package-lock.json" "$BASE/"
  tp_log "npm ci oidc-provider into $BASE"
  (cd "$BASE" && npm ci --no-audit --no-fund --cache "$HOME/.cache/tracepipe/npm") >"$BASE/npm.log" 2>&1 \
    || { tail -n 30 "$BASE/npm.log" >&2; tp_die "npm ci failed (log: $BASE/npm.log)"; }
  tp_log "installed in $(( ($(tp_now_ms) - t0) / 1000 ))s"
}

discovery_ok() {
  curl -fsS --max-time 2 "$TRACEPIPE_TEST_OIDC_ISSUER/.well-known/openid-configuration" >/dev/null
}

start() {
  install_oidc
  if tp_pid_alive "$PID_FILE"; then
    tp_log "already running (pid $(cat "$PID_FILE"))"
  else
    tp_port_open "$OIDC_HOST" "$OIDC_PORT" && tp_die "port $OIDC_PORT is in use by another process"
    tp_log "starting the OpenID provider (logs: $LOG_FILE)"
    # server.js is an ES module: Node resolves `oidc-provider` from the
    # directory of the file it runs, so it runs from the install directory.
    cp "$SRC/server.js" "$BASE/server.js"
    (
      cd "$BASE"
      export OIDC_PORT NODE_ENV=production
      export OIDC_CLIENT_ID="$TRACEPIPE_TEST_OIDC_CLIENT_ID"
      export OIDC_CLIENT_SECRET="$TRACEPIPE_TEST_OIDC_CLIENT_SECRET"
      export OIDC_USER_EMAIL="$TRACEPIPE_TEST_OIDC_USER_EMAIL"
      export OIDC_USER_PASSWORD="$TRACEPIPE_TEST_OIDC_USER_PASSWORD"
      exec setsid node server.js </dev/null >>"$LOG_FILE" 2>&1
    ) &
    echo $! >"$PID_FILE"
  fi
  local t0; t0=$(tp_now_ms)
  if ! tp_wait_for 30 "$TRACEPIPE_TEST_OIDC_ISSUER discovery" discovery_ok; then
    tail -n 30 "$LOG_FILE" >&2 2>/dev/null || true
    tp_pid_alive "$PID_FILE" || tp_log "the provider process exited"
    tp_die "the OpenID provider did not become ready"
  fi
  tp_log "ready: issuer $TRACEPIPE_TEST_OIDC_ISSUER ($(( $(tp_now_ms) - t0 )) ms after launch)"
}

stop() { tp_stop_pidfile "$PID_FILE" "OpenID provider" 10; }

status() {
  if tp_pid_alive "$PID_FILE" && discovery_ok; then
    echo "oidc: running (pid $(cat "$PID_FILE")), issuer $TRACEPIPE_TEST_OIDC_ISSUER"
  elif tp_pid_alive "$PID_FILE"; then
    echo "oidc: process up (pid $(cat "$PID_FILE")) but discovery does not answer"; return 1
  else
    echo "oidc: stopped"; return 3
  fi
}

cmd="${1:-}"; shift || true
case "$cmd" in
  install) install_oidc ;;
  start) start ;;
  stop) stop ;;
  restart) stop; start ;;
  status) status ;;
  logs) tail -n "${1:-100}" "$LOG_FILE" ;;
  *) echo "usage: $0 install|start|stop|restart|status|logs [N]" >&2; exit 2 ;;
esac
