# shellcheck shell=bash
# shellcheck disable=SC2034  # variables here are used by the scripts that source this
# Common helpers for scripts/services/*.sh. Source it; do not run it.
set -euo pipefail

TP_SERVICES_CACHE="${TRACEPIPE_SERVICES_CACHE:-${HOME}/.cache/tracepipe/services}"
TP_SERVICES_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
mkdir -p "$TP_SERVICES_CACHE"

tp_log() { printf '[%s %s] %s\n' "$(date +%H:%M:%S)" "${TP_SERVICE:-services}" "$*" >&2; }
tp_die() { tp_log "ERROR: $*"; exit 1; }

# tp_pid_alive PIDFILE -> 0 if the pid in PIDFILE is a live process
tp_pid_alive() {
  local f="$1" pid
  [[ -s "$f" ]] || return 1
  pid="$(cat "$f")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null
}

# tp_port_open HOST PORT -> 0 if a TCP connect succeeds
tp_port_open() {
  (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

# tp_wait_for SECONDS DESCRIPTION CMD... -> retry CMD every 0.25 s until it succeeds
tp_wait_for() {
  local timeout="$1" what="$2"; shift 2
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    if (( SECONDS >= deadline )); then
      tp_log "timed out after ${timeout}s waiting for: $what"
      return 1
    fi
    sleep 0.25
  done
}

# tp_stop_pidfile PIDFILE NAME [GRACE_SECONDS] -> TERM the process, wait, KILL if needed.
# Sets TP_STOP_FORCED=1 when it had to KILL.
tp_stop_pidfile() {
  TP_STOP_FORCED=0
  local f="$1" name="$2" grace="${3:-30}" pid
  if ! tp_pid_alive "$f"; then
    tp_log "$name is not running"
    rm -f "$f"
    return 0
  fi
  pid="$(cat "$f")"
  tp_log "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + grace))
  while kill -0 "$pid" 2>/dev/null; do
    if (( SECONDS >= deadline )); then
      tp_log "$name did not exit within ${grace}s, sending KILL"
      kill -KILL "$pid" 2>/dev/null || true
      TP_STOP_FORCED=1
      sleep 0.5
      break
    fi
    sleep 0.2
  done
  rm -f "$f"
  tp_log "$name stopped"
}

# millisecond clock for timings
tp_now_ms() { date +%s%3N; }

# tp_with_lock NAME CMD... -> run CMD holding an exclusive lock, so two
# concurrent first runs (e.g. parallel test jobs) do not install twice.
tp_with_lock() {
  local name="$1"; shift
  local lock="$TP_SERVICES_CACHE/.$name.lock" fd
  exec {fd}>"$lock"
  if ! flock -n "$fd"; then
    tp_log "waiting for another $name install to finish"
    flock "$fd"
  fi
  "$@"   # not in a `||` context, so `set -e` still applies inside CMD
  exec {fd}>&-
}

# tp_apt_install PKG... -> install Debian packages (root only); runs
# `apt-get update` only when the first attempt fails (stale or empty lists).
tp_apt_install() {
  [[ "$(id -u)" == 0 ]] || tp_die "missing $*; run as root or: sudo apt-get install -y $*"
  local log="$TP_SERVICES_CACHE/apt.log"
  tp_log "apt-get install $* (log: $log)"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -q --no-install-recommends "$@" >>"$log" 2>&1; then
    tp_log "apt-get install failed; running apt-get update first"
    apt-get update -q >>"$log" 2>&1 || tp_die "apt-get update failed (see $log)"
    apt-get install -y -q --no-install-recommends "$@" >>"$log" 2>&1 \
      || tp_die "apt-get install $* failed (see $log)"
  fi
}
