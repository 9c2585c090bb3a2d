#!/usr/bin/env bash
# SeaweedFS (master + volume + filer + S3 gateway in one `weed server` process)
# for local tests. S3 API on 127.0.0.1:8333.
#
#   scripts/services/seaweedfs.sh install|start|stop|status|logs
#
# `weed` is built from the Go module proxy with the local Go toolchain into
# $HOME/.cache/tracepipe/services/seaweedfs/bin (GOPATH/GOMODCACHE/GOCACHE live
# under the same cache dir, so the first build is the only slow one).
# TP_WEED_V=1 (or higher) makes the filer/S3 log verbose, for debugging.
TP_SERVICE=seaweedfs
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SEAWEEDFS_MODULE=github.com/seaweedfs/seaweedfs
SEAWEEDFS_VERSION="${TRACEPIPE_SEAWEEDFS_VERSION:-v0.0.0-20261109003541-7506e5f91cd6}"

S3_HOST=127.0.0.1
S3_PORT="${TRACEPIPE_S3_PORT:-8333}"
MASTER_PORT="${TRACEPIPE_SEAWEEDFS_MASTER_PORT:-9333}"
# Not 8080: that is tracepipe serve's default listen port.
VOLUME_PORT="${TRACEPIPE_SEAWEEDFS_VOLUME_PORT:-8334}"
FILER_PORT="${TRACEPIPE_SEAWEEDFS_FILER_PORT:-8888}"
S3_ACCESS_KEY=tracepipe
S3_SECRET_KEY=tracepipe-secret
S3_BUCKET="${TRACEPIPE_S3_BUCKET:-tracepipe}"

BASE="$TP_SERVICES_CACHE/seaweedfs"
BIN_DIR="$BASE/bin"
WEED="$BIN_DIR/weed-$SEAWEEDFS_VERSION"
GO_DIR="$BASE/go"
DATA_DIR="$BASE/data"
CONF_DIR="$BASE/conf"
LOG_DIR="$BASE/logs"
SERVER_PID="$BASE/weed-server.pid"   # master + volume server
FILER_PID="$BASE/weed-filer.pid"     # filer + S3 gateway

go_env() {
  env GOPATH="$GO_DIR" GOMODCACHE="$GO_DIR/pkg/mod" GOCACHE="$GO_DIR/build-cache" \
      GOFLAGS="-buildvcs=false -mod=readonly -modcacherw" GOTOOLCHAIN="${GOTOOLCHAIN:-auto}" "$@"
}

install_weed_needed() { [[ ! -x "$WEED" ]]; }

install_weed() {
  install_weed_needed || return 0
  tp_with_lock seaweedfs-install install_weed_locked
}

install_weed_locked() {
  if [[ -x "$WEED" ]]; then return 0; fi
  command -v go >/dev/null || tp_die "go not found: SeaweedFS needs Go >= 1.21 on PATH (it fetches a newer toolchain from the Go module proxy when needed)"
  mkdir -p "$BIN_DIR" "$GO_DIR"
  local t0; t0=$(tp_now_ms)
  tp_log "building weed $SEAWEEDFS_VERSION (first time only; several minutes)"
  # `go install MODULE/weed@VERSION` refuses modules whose go.mod has `replace`
  # directives (seaweedfs has one), so download the module and build inside it.
  local dir
  mkdir -p "$LOG_DIR"
  local blog="$LOG_DIR/build.log"
  dir="$(go_env go mod download -json "$SEAWEEDFS_MODULE@$SEAWEEDFS_VERSION" 2>>"$blog" \
        | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')"
  [[ -n "$dir" && -d "$dir" ]] || { tail -n 20 "$blog" >&2; tp_die "go mod download $SEAWEEDFS_MODULE@$SEAWEEDFS_VERSION failed (log: $blog)"; }
  (
    cd "$dir"
    # nice: this machine is shared with Rust builds.
    go_env nice -n 10 go build -trimpath -ldflags "-s -w" -o "$WEED.tmp" ./weed >>"$blog" 2>&1
  ) || { tail -n 30 "$blog" >&2; tp_die "go build of weed failed (log: $blog)"; }
  mv "$WEED.tmp" "$WEED"
  ln -sfn "$(basename "$WEED")" "$BIN_DIR/weed"
  # The compiled-package cache (~2 GB) only helps a rebuild; drop it. The
  # module sources (~2 GB, $GO_DIR/pkg/mod) stay for a quicker rebuild.
  rm -rf "$GO_DIR/build-cache"
  tp_log "built $WEED in $(( ($(tp_now_ms) - t0) / 1000 ))s"
}

write_config() {
  mkdir -p "$CONF_DIR" "$DATA_DIR" "$LOG_DIR"
  cat >"$CONF_DIR/s3.json" <<JSON
{
  "identities": [
    {
      "name": "tracepipe",
      "credentials": [
        { "accessKey": "$S3_ACCESS_KEY", "secretKey": "$S3_SECRET_KEY" }
      ],
      "actions": ["Admin", "Read", "List", "Tagging", "Write"]
    }
  ]
}
JSON
}

s3_curl() {
  curl -fsS --max-time 10 --aws-sigv4 "aws:amz:us-east-1:s3" \
       --user "$S3_ACCESS_KEY:$S3_SECRET_KEY" "$@"
}

s3_ready() {
  # Signed ListBuckets: proves the gateway is up and the identity is loaded.
  s3_curl -o /dev/null "http://$S3_HOST:$S3_PORT/"
}

bucket_exists() {
  s3_curl -o /dev/null -I "http://$S3_HOST:$S3_PORT/$S3_BUCKET" 2>/dev/null
}

# A write round trip: only succeeds once the master has a leader and a
# writable volume for the bucket. NB: a master restarted on existing data
# refuses volume assignments for a fixed 15 s "warm-up" (3 x its hard-coded
# 5 s pulse) after it becomes leader, so a warm start takes ~17 s; on a fresh
# data dir there is no warm-up, but a fresh filer store holds its
# registration (and with it the lock ring S3 writes need) for 10 s, so the
# very first start takes ~14-18 s as well. Set TRACEPIPE_SEAWEEDFS_WAIT_WRITABLE=0 to return
# as soon as S3 answers (the first PUT then blocks until the warm-up is over).
writable() {
  local url="http://$S3_HOST:$S3_PORT/$S3_BUCKET/.tracepipe-ready"
  # --max-time 30: the gateway retries a refused assignment internally with
  # back-off; aborting at 10 s and starting over only makes the wait longer.
  printf 'ok' | s3_curl --max-time 30 -o /dev/null -T - "$url" 2>/dev/null \
    && s3_curl -o /dev/null -X DELETE "$url" 2>/dev/null
}

ensure_bucket() {
  if bucket_exists; then return 0; fi
  tp_log "creating bucket $S3_BUCKET"
  # The filer may still be wiring itself up right after the S3 port opens.
  tp_wait_for 60 "bucket $S3_BUCKET" s3_curl -X PUT "http://$S3_HOST:$S3_PORT/$S3_BUCKET" || true
  bucket_exists || tp_die "could not create bucket $S3_BUCKET (see $LOG_DIR/filer.log)"
}

# Two processes, so that stop can take them down in order: the filer (+S3
# gateway) first, while the volume server can still take its last metadata
# flush, then master+volume. (`weed server -filer -s3` in one process stops the
# volume server first and then hangs ~15 s in the filer's flush.)
start_server() {
  # 256 MB volumes, as many as the disk allows (volume.max=0), sparse files;
  # gRPC ports are the HTTP ports + 10000; no usage telemetry; the volume
  # server stops after 1 s instead of 10 s; a restarted single master elects
  # itself after ~1 s instead of ~15 s (writes fail until it has).
  setsid "$WEED" -logtostderr=true -v=0 server \
    -ip="$S3_HOST" -ip.bind="$S3_HOST" -dir="$DATA_DIR" \
    -master.port="$MASTER_PORT" -master.volumeSizeLimitMB=256 -master.telemetry=false \
    -master.electionTimeout=1s \
    -volume.port="$VOLUME_PORT" -volume.max=0 -volume.preStopSeconds=1 \
    </dev/null >>"$LOG_DIR/server.log" 2>&1 &
  echo $! >"$SERVER_PID"
}

start_filer() {
  # Iceberg REST / Lance side servers are off.
  setsid "$WEED" -logtostderr=true -v="${TP_WEED_V:-0}" filer \
    -ip="$S3_HOST" -ip.bind="$S3_HOST" -master="$S3_HOST:$MASTER_PORT" \
    -port="$FILER_PORT" -defaultStoreDir="$DATA_DIR" -localSocket="$BASE/filer.sock" \
    -s3 -s3.port="$S3_PORT" -s3.config="$CONF_DIR/s3.json" \
    -s3.port.iceberg=0 -s3.port.lance=0 -s3.localSocket="$BASE/s3.sock" \
    </dev/null >>"$LOG_DIR/filer.log" 2>&1 &
  echo $! >"$FILER_PID"
}

# The master is leader and the volume server has registered. Starting the
# filer before that makes its master client back off, and the filers' lock
# ring (which S3 writes need) then forms ~10 s later.
master_ready() {
  curl -fsS --max-time 2 "http://$S3_HOST:$MASTER_PORT/cluster/status" | grep -q '"IsLeader":true' \
    && curl -fsS --max-time 2 "http://$S3_HOST:$MASTER_PORT/dir/status" | grep -q '"DataNodes":\[{'
}

start() {
  install_weed
  write_config
  local t0; t0=$(tp_now_ms)
  if tp_pid_alive "$SERVER_PID"; then
    tp_log "master+volume already running (pid $(cat "$SERVER_PID"))"
  else
    for p in "$MASTER_PORT" "$VOLUME_PORT"; do
      tp_port_open "$S3_HOST" "$p" && tp_die "port $p is in use by another process"
    done
    tp_log "starting weed master+volume (logs: $LOG_DIR/server.log)"
    start_server
  fi
  tp_wait_for 60 "master leader + volume server on $S3_HOST:$MASTER_PORT" master_ready \
    || { tail -n 30 "$LOG_DIR/server.log" >&2; tp_die "SeaweedFS master did not become ready"; }
  if tp_pid_alive "$FILER_PID"; then
    tp_log "filer+S3 already running (pid $(cat "$FILER_PID"))"
  else
    for p in "$FILER_PORT" "$S3_PORT"; do
      tp_port_open "$S3_HOST" "$p" && tp_die "port $p is in use by another process"
    done
    tp_log "starting weed filer+S3 (logs: $LOG_DIR/filer.log)"
    start_filer
  fi
  if ! tp_wait_for 120 "S3 API on $S3_HOST:$S3_PORT" s3_ready; then
    tail -n 30 "$LOG_DIR/filer.log" >&2 || true
    tp_die "SeaweedFS S3 gateway did not become ready"
  fi
  ensure_bucket
  if [[ "${TRACEPIPE_SEAWEEDFS_WAIT_WRITABLE:-1}" != 0 ]]; then
    tp_wait_for 90 "a writable volume for bucket $S3_BUCKET" writable \
      || { tail -n 30 "$LOG_DIR/server.log" >&2; tp_die "SeaweedFS accepts no writes"; }
  fi
  tp_log "ready: http://$S3_HOST:$S3_PORT bucket=$S3_BUCKET ($(( $(tp_now_ms) - t0 )) ms)"
}

stop() {
  tp_stop_pidfile "$FILER_PID" "weed filer+S3" 30
  tp_stop_pidfile "$SERVER_PID" "weed master+volume" 30
}

status() {
  if tp_pid_alive "$SERVER_PID" && tp_pid_alive "$FILER_PID" && s3_ready; then
    echo "seaweedfs: running (pids $(cat "$SERVER_PID") $(cat "$FILER_PID")), S3 http://$S3_HOST:$S3_PORT bucket=$S3_BUCKET"
  elif tp_pid_alive "$SERVER_PID" || tp_pid_alive "$FILER_PID"; then
    echo "seaweedfs: partly up or S3 not answering (seaweedfs.sh stop; seaweedfs.sh start)"; return 1
  else
    echo "seaweedfs: stopped"; return 3
  fi
}

case "${1:-}" in
  install) install_weed ;;
  start) start ;;
  stop) stop ;;
  restart) stop; start ;;
  status) status ;;
  logs) tail -n "${2:-100}" "$LOG_DIR/filer.log" "$LOG_DIR/server.log" ;;
  *) echo "usage: $0 install|start|stop|restart|status|logs [N]" >&2; exit 2 ;;
esac
