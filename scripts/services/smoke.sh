#!/usr/bin/env bash
# End-to-end smoke test of the local services:
#   start all -> Kafka produce/consume (perf tools) -> S3 put/get (SigV4 curl)
#   -> psql `select 1` -> print timings.
#
#   scripts/services/smoke.sh [--stop]     # --stop: stop every service at the end
TP_SERVICE=smoke
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

STOP_AT_END=0
[[ "${1:-}" == "--stop" ]] && STOP_AT_END=1

declare -a T_NAMES=() T_MS=()
timed() {   # timed LABEL CMD... : run CMD, record its wall time
  local label="$1"; shift
  local t0; t0=$(tp_now_ms)
  "$@"
  T_NAMES+=("$label"); T_MS+=($(( $(tp_now_ms) - t0 )))
}

total0=$(tp_now_ms)
timed "start all services" "$TP_SERVICES_DIR/all.sh" start
eval "$("$TP_SERVICES_DIR/env.sh")"

# --- Kafka: 1000 records through a fresh topic with the perf tools ----------
N=1000
TOPIC="tracepipe-smoke-$(date +%s)-$$"
kafka() { "$TP_SERVICES_DIR/kafka.sh" "$@"; }

kafka_produce() {
  local out
  out="$(kafka run org.apache.kafka.tools.ProducerPerformance \
          --bootstrap-server "$TRACEPIPE_KAFKA_BOOTSTRAP" --topic "$TOPIC" \
          --num-records "$N" --record-size 100 --throughput -1 \
          --command-property acks=all linger.ms=5 2>&1)" \
    || { echo "$out" >&2; tp_die "ProducerPerformance failed"; }
  echo "$out" | tail -n 1 >&2
  grep -q "^$N records sent" <<<"$out" || tp_die "producer did not send $N records"
}
kafka_consume() {
  local out
  out="$(kafka run org.apache.kafka.tools.ConsumerPerformance \
          --bootstrap-server "$TRACEPIPE_KAFKA_BOOTSTRAP" --topic "$TOPIC" \
          --num-records "$N" --timeout 30000 --group "smoke-$$" 2>&1)" \
    || { echo "$out" >&2; tp_die "ConsumerPerformance failed"; }
  echo "$out" | tail -n 2 >&2
  # CSV: ..., data.consumed.in.nMsg is the 5th column.
  local got; got="$(echo "$out" | tail -n 1 | awk -F', *' '{print $5}')"
  [[ "$got" == "$N" ]] || tp_die "consumer read '$got' records, expected $N"
}
kafka_delete_topic() {
  kafka run org.apache.kafka.tools.TopicCommand --bootstrap-server "$TRACEPIPE_KAFKA_BOOTSTRAP" \
    --delete --topic "$TOPIC" >/dev/null
}
timed "kafka: create topic" kafka topic "$TOPIC" 1 >/dev/null
timed "kafka: produce $N (ProducerPerformance)" kafka_produce
timed "kafka: consume $N (ConsumerPerformance)" kafka_consume
timed "kafka: delete topic" kafka_delete_topic

# --- S3: put / get / delete one object with SigV4-signed curl --------------
s3() {
  curl -fsS --max-time 30 --aws-sigv4 "aws:amz:$AWS_REGION:s3" \
       --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" "$@"
}
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
head -c 1048576 /dev/urandom >"$tmp/object.bin"
KEY="smoke/$(date +%s)-$$.bin"
URL="$AWS_ENDPOINT_URL/$TRACEPIPE_S3_BUCKET/$KEY"
s3_roundtrip() {
  s3 -o /dev/null -T "$tmp/object.bin" "$URL"
  s3 -o "$tmp/back.bin" "$URL"
  cmp -s "$tmp/object.bin" "$tmp/back.bin" || tp_die "S3 object came back different"
  s3 -o /dev/null -X DELETE "$URL"
  echo "S3: 1 MiB object put+get+delete at $URL ok" >&2
}
timed "s3: put+get+delete 1 MiB" s3_roundtrip

# --- PostgreSQL --------------------------------------------------------------
pg_select() {
  local got; got="$(psql "$TRACEPIPE_DATABASE_URL" -X -tAc 'select 1')" || tp_die "psql failed"
  [[ "$got" == 1 ]] || tp_die "select 1 returned '$got'"
  echo "postgres: select 1 -> $got" >&2
}
timed "postgres: select 1" pg_select

if (( STOP_AT_END )); then timed "stop all services" "$TP_SERVICES_DIR/all.sh" stop; fi

echo
echo "smoke: timings"
for i in "${!T_NAMES[@]}"; do
  printf '  %-42s %8.1f s\n' "${T_NAMES[$i]}" "$(awk "BEGIN{print ${T_MS[$i]}/1000}")"
done
printf '  %-42s %8.1f s\n' "total" "$(awk "BEGIN{print ($(tp_now_ms) - $total0)/1000}")"
echo "smoke: OK"
