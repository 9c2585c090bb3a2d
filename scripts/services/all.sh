#!/usr/bin/env bash
# Start/stop/inspect every local service (or a named subset) at once.
#
#   scripts/services/all.sh start|stop|restart|status [kafka] [seaweedfs] [postgres] [stripe-mock] [oidc]
#
# Services start in parallel; the command fails if any of them fails.
# Afterwards: eval "$(scripts/services/env.sh)"
TP_SERVICE=all
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ALL_SERVICES=(postgres kafka seaweedfs stripe-mock oidc)

cmd="${1:-}"; shift || true
services=("$@")
(( ${#services[@]} )) || services=("${ALL_SERVICES[@]}")
for s in "${services[@]}"; do
  [[ -x "$TP_SERVICES_DIR/$s.sh" ]] || tp_die "unknown service '$s' (known: ${ALL_SERVICES[*]})"
done

# run_parallel ACTION: runs `<service>.sh ACTION` for every service at once.
run_parallel() {
  local action="$1" s rc=0
  local -A pids=()
  for s in "${services[@]}"; do
    "$TP_SERVICES_DIR/$s.sh" "$action" &
    pids[$s]=$!
  done
  for s in "${!pids[@]}"; do
    if ! wait "${pids[$s]}"; then
      tp_log "$s $action FAILED"
      rc=1
    fi
  done
  return $rc
}

case "$cmd" in
  start)
    t0=$(tp_now_ms)
    if run_parallel start; then
      tp_log "all ready (${services[*]}) in $(( $(tp_now_ms) - t0 )) ms"
    else
      tp_die "some services failed to start; see the logs above (all.sh stop to clean up)"
    fi
    ;;
  stop) run_parallel stop ;;
  restart) run_parallel stop; "$0" start "${services[@]}" ;;
  status)
    rc=0
    for s in "${services[@]}"; do "$TP_SERVICES_DIR/$s.sh" status || rc=1; done
    exit $rc
    ;;
  *) echo "usage: $0 start|stop|restart|status [${ALL_SERVICES[*]}]" >&2; exit 2 ;;
esac
