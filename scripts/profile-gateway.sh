#!/usr/bin/env bash
# Where the distributed deployment's time goes while `tracepipe loadgen`
# drives it: `perf record` (sampling, no call graphs) on the gateway and the
# processor for the whole run, then each one's hottest symbols and its CPU
# seconds per upload. Run it with the gateway reading uploads in the request
# and later (read_uploads) to see what moving the reading did.
#
#   eval "$(scripts/services/env.sh)"
#   cargo build --release --bin tracepipe
#   scripts/profile-gateway.sh target/release/tracepipe in_request 96
#   scripts/profile-gateway.sh target/release/tracepipe later 96
#
# Uses topics, schema, consumer groups and S3 prefix of its own; loopback only.
set -euo pipefail

binary="$(realpath "${1:?usage: $0 BINARY [in_request|later] [COUNT]}")"
reading="${2:-later}"
count="${3:-96}"
root="$(cd "$(dirname "$0")/.." && pwd)"
: "${TRACEPIPE_KAFKA_BOOTSTRAP:?the services: eval \"\$(scripts/services/env.sh)\"}"
command -v perf >/dev/null || { echo "perf is not installed" >&2; exit 1; }

work="$(mktemp -d /tmp/tracepipe-profile-XXXXXX)"
name="profile$$_${reading}"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

export TRACEPIPE_TOPICS_SESSIONS="$name.sessions" TRACEPIPE_TOPICS_EXAMPLES="$name.examples" \
  TRACEPIPE_TOPICS_DEAD_LETTER="$name.dead-letter" TRACEPIPE_TOPICS_STATUS="$name.status" \
  TRACEPIPE_TOPICS_CATALOG="$name.catalog" TRACEPIPE_S3_PREFIX="$name" TRACEPIPE_DATABASE_SCHEMA="$name" \
  TRACEPIPE_LISTEN=127.0.0.1:0 TRACEPIPE_METRICS_LISTEN=127.0.0.1:0 TRACEPIPE_READ_UPLOADS="$reading" \
  TRACEPIPE_ADMISSION_MAX_CONCURRENT_UPLOADS_PER_KEY=0 TRACEPIPE_ADMISSION_REQUESTS_PER_MINUTE=0
for service in gateway processor sink; do
  (cd "$root" && TRACEPIPE_KAFKA_GROUP="$name-$service" exec "$binary" "$service" \
     >"$work/$service.out" 2>"$work/$service.err") &
  pids+=("$!")
done
for _ in $(seq 600); do
  grep -q "listening on" "$work/gateway.out" 2>/dev/null && grep -q ready "$work/processor.out" 2>/dev/null && break
  sleep 0.2
done
url="$(sed -n 's/.*listening on \(\S*\).*/\1/p' "$work/gateway.out" | head -n1)"
key="$(grep -o 'tp_live_\S*' "$work/gateway.out" | head -n1)"
[[ -n "$url" && -n "$key" ]] || { echo "the gateway did not start: $work/gateway.err" >&2; exit 1; }

cpu() { awk '{ split($0, a, ") "); split(a[2], f, " "); print f[12] + f[13] }' "/proc/$1/stat"; }
before=("$(cpu "${pids[0]}")" "$(cpu "${pids[1]}")")
perf record -q -F 999 -p "${pids[0]}" -o "$work/gateway.perf" 2>/dev/null &
gateway_perf=$!
perf record -q -F 999 -p "${pids[1]}" -o "$work/processor.perf" 2>/dev/null &
processor_perf=$!
mapfile -t fixtures < <(ls "$root"/tests/fixtures/recordings/*.trace.json.gz)
TRACEPIPE_API_KEY="$key" "$binary" loadgen --url "$url" --count "$count" --concurrency 8 \
  "${fixtures[@]}" | tee "$work/loadgen.txt"
kill -INT "$gateway_perf" "$processor_perf"
wait "$gateway_perf" "$processor_perf" 2>/dev/null || true
after=("$(cpu "${pids[0]}")" "$(cpu "${pids[1]}")")
ticks="$(getconf CLK_TCK)"

for i in 0 1; do
  service=(gateway processor)
  echo
  echo "== ${service[$i]} (read_uploads = $reading): $(awk -v a="${before[$i]}" -v b="${after[$i]}" -v t="$ticks" -v n="$count" \
    'BEGIN { printf "%.1f ms CPU per upload", (b - a) / t / n * 1000 }')"
  # The report is cut at its 25 hottest lines (head closes the pipe early).
  perf report -q -i "$work/${service[$i]}.perf" --no-children --sort dso,symbol --stdio 2>/dev/null \
    | grep -v '^$' | head -n 25 || true
done
echo
echo "logs and perf data in $work"
