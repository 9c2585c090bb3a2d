#!/usr/bin/env bash
# stripe-mock (Stripe's own mock of its HTTP API, generated from Stripe's
# OpenAPI description) for local tests of the billing client.
#
#   scripts/services/stripe-mock.sh install|start|stop|restart|status|logs [N]
#
# HTTP on 127.0.0.1:12111, HTTPS (a self-signed certificate) on 127.0.0.1:12112.
# The binary is built from the Go module proxy with the local Go toolchain into
# $HOME/.cache/tracepipe/services/stripe-mock/bin (GOPATH/GOMODCACHE/GOCACHE
# under the same cache dir). stripe-mock keeps no state: every call answers
# with a fixture shaped by the request, so a restart loses nothing.
TP_SERVICE=stripe-mock
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

STRIPE_MOCK_MODULE=github.com/stripe/stripe-mock
STRIPE_MOCK_VERSION="${TRACEPIPE_STRIPE_MOCK_VERSION:-v0.203.0}"

HOST=127.0.0.1
HTTP_PORT="${TRACEPIPE_STRIPE_MOCK_PORT:-12111}"
HTTPS_PORT="${TRACEPIPE_STRIPE_MOCK_HTTPS_PORT:-12112}"

BASE="$TP_SERVICES_CACHE/stripe-mock"
BIN_DIR="$BASE/bin"
STRIPE_MOCK="$BIN_DIR/stripe-mock-$STRIPE_MOCK_VERSION"
GO_DIR="$BASE/go"
LOG_DIR="$BASE/logs"
LOG_FILE="$LOG_DIR/stripe-mock.log"
PID_FILE="$BASE/stripe-mock.pid"

go_env() {
  env GOPATH="$GO_DIR" GOMODCACHE="$GO_DIR/pkg/mod" GOCACHE="$GO_DIR/build-cache" \
      GOFLAGS="-buildvcs=false -mod=readonly -modcacherw" GOTOOLCHAIN="${GOTOOLCHAIN:-auto}" "$@"
}

install_needed() { [[ ! -x "$STRIPE_MOCK" ]]; }

install_stripe_mock() {
  install_needed || return 0
  tp_with_lock stripe-mock-install install_locked
}

install_locked() {
  if [[ -x "$STRIPE_MOCK" ]]; then return 0; fi
  command -v go >/dev/null || tp_die "go not found: stripe-mock is built with the Go toolchain (https://go.dev/dl/)"
  mkdir -p "$BIN_DIR" "$GO_DIR" "$LOG_DIR"
  local t0 blog="$LOG_DIR/build.log" gobin="$BASE/gobin.tmp"
  t0=$(tp_now_ms)
  tp_log "go install $STRIPE_MOCK_MODULE@$STRIPE_MOCK_VERSION (first time only; log: $blog)"
  rm -rf "$gobin"
  # nice: this machine is shared with Rust builds.
  go_env GOBIN="$gobin" nice -n 10 go install -trimpath -ldflags "-s -w" \
      "$STRIPE_MOCK_MODULE@$STRIPE_MOCK_VERSION" >>"$blog" 2>&1 \
    || { tail -n 30 "$blog" >&2; tp_die "go install of stripe-mock failed (log: $blog)"; }
  mv "$gobin/stripe-mock" "$STRIPE_MOCK"
  rm -rf "$gobin"
  ln -sfn "$(basename "$STRIPE_MOCK")" "$BIN_DIR/stripe-mock"
  # Only a rebuild would use the compiled-package cache.
  rm -rf "$GO_DIR/build-cache"
  tp_log "installed $STRIPE_MOCK in $(( ($(tp_now_ms) - t0) / 1000 ))s"
}

# Any authenticated GET answers 200 once the server has loaded its spec.
ready() {
  curl -fsS --max-time 2 -o /dev/null -u "sk_test_123:" "http://$HOST:$HTTP_PORT/v1/customers"
}

start() {
  install_stripe_mock
  mkdir -p "$LOG_DIR"
  local t0; t0=$(tp_now_ms)
  if tp_pid_alive "$PID_FILE"; then
    tp_log "already running (pid $(cat "$PID_FILE"))"
  else
    for p in "$HTTP_PORT" "$HTTPS_PORT"; do
      tp_port_open "$HOST" "$p" && tp_die "port $p is in use by another process"
    done
    tp_log "starting stripe-mock on http://$HOST:$HTTP_PORT (logs: $LOG_FILE)"
    # -http-addr/-https-addr bind the loopback interface only (the -http-port
    # form listens on every interface).
    setsid "$STRIPE_MOCK" -http-addr "$HOST:$HTTP_PORT" -https-addr "$HOST:$HTTPS_PORT" \
      </dev/null >>"$LOG_FILE" 2>&1 &
    echo $! >"$PID_FILE"
  fi
  tp_wait_for 30 "stripe-mock on $HOST:$HTTP_PORT" ready \
    || { tail -n 30 "$LOG_FILE" >&2; tp_die "stripe-mock did not become ready"; }
  tp_log "ready: http://$HOST:$HTTP_PORT ($(( $(tp_now_ms) - t0 )) ms)"
}

stop() { tp_stop_pidfile "$PID_FILE" stripe-mock 10; }

status() {
  if tp_pid_alive "$PID_FILE" && ready; then
    echo "stripe-mock: running (pid $(cat "$PID_FILE")), http://$HOST:$HTTP_PORT"
  elif tp_pid_alive "$PID_FILE"; then
    echo "stripe-mock: process up but not answering on $HOST:$HTTP_PORT"; return 1
  else
    echo "stripe-mock: stopped"; return 3
  fi
}

case "${1:-}" in
  install) install_stripe_mock ;;
  start) start ;;
  stop) stop ;;
  restart) stop; start ;;
  status) status ;;
  logs) tail -n "${2:-100}" "$LOG_FILE" ;;
  *) echo "usage: $0 install|start|stop|restart|status|logs [N]" >&2; exit 2 ;;
esac
