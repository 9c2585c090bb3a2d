#!/usr/bin/env bash
# Checks the running API against its OpenAPI document: builds tracepipe, starts
# `tracepipe serve` on a free loopback port with a temporary data directory (or,
# with `--gateway`, `tracepipe gateway` on the services of
# scripts/services/env.sh with names of its own: topics, schema, prefix), runs
# tests/python/test_openapi.py (schemathesis) with the administrator key the
# first start prints, and stops the server, whatever the outcome. Extra
# arguments go to pytest. The exit status is pytest's.
#
#   scripts/run-schemathesis.sh
#   scripts/run-schemathesis.sh --gateway
#   TRACEPIPE_SCHEMATHESIS_EXAMPLES=100 scripts/run-schemathesis.sh -x
#
# TRACEPIPE_BIN names a tracepipe binary to use instead of building one.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tracepipe/target}"

service=serve
if [[ "${1:-}" == "--gateway" ]]; then
    service=gateway
    shift
fi

py="$(scripts/setup-python.sh)"
if [[ -z "${TRACEPIPE_BIN:-}" ]]; then
    cargo build --quiet --bin tracepipe
fi
bin="${TRACEPIPE_BIN:-$CARGO_TARGET_DIR/debug/tracepipe}"

work="$(mktemp -d)"
out="$work/server.out"
# Schemathesis sends far more than a client's request rate from one key: the
# per-key limit would answer most operations 429 and hide their real answers.
export TRACEPIPE_ADMISSION_REQUESTS_PER_MINUTE=0
if [[ "$service" == serve ]]; then
    "$bin" serve --listen 127.0.0.1:0 --data-dir "$work/data" --catalog "$root/catalog" >"$out" 2>"$work/server.err" &
else
    : "${TRACEPIPE_KAFKA_BOOTSTRAP:?run eval \"\$(scripts/services/env.sh)\" with the services started}"
    name="schemathesis$$_$(date +%s)"
    TRACEPIPE_TOPICS_SESSIONS="$name.sessions" TRACEPIPE_TOPICS_EXAMPLES="$name.examples" \
    TRACEPIPE_TOPICS_DEAD_LETTER="$name.dead-letter" TRACEPIPE_TOPICS_STATUS="$name.status" \
    TRACEPIPE_TOPICS_CATALOG="$name.catalog" TRACEPIPE_S3_PREFIX="$name" TRACEPIPE_DATABASE_SCHEMA="$name" \
    TRACEPIPE_KAFKA_GROUP="$name-gateway" TRACEPIPE_LISTEN=127.0.0.1:0 \
        "$bin" gateway >"$out" 2>"$work/server.err" &
fi
pid=$!
stop() {
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    rm -rf "$work"
}
trap stop EXIT

for _ in $(seq 1 240); do
    grep -q 'listening on ' "$out" && break
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "run-schemathesis: tracepipe $service exited early:" >&2
        cat "$work/server.err" >&2
        exit 1
    fi
    sleep 0.25
done
url="$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$out")"
key="$(grep -o 'tp_live_[A-Za-z0-9_-]*' "$out" | head -n 1)"
if [[ -z "$url" || -z "$key" ]]; then
    echo "run-schemathesis: tracepipe $service printed no URL or administrator key" >&2
    cat "$work/server.err" >&2
    exit 1
fi
echo "run-schemathesis: tracepipe $service at $url" >&2

status=0
TRACEPIPE_API_URL="$url" TRACEPIPE_API_KEY="$key" \
    "$py" -m pytest "$root/tests/python/test_openapi.py" -p no:cacheprovider "$@" || status=$?
if (( status != 0 )); then
    echo "run-schemathesis: server log:" >&2
    tail -n 50 "$work/server.err" >&2
fi
exit "$status"
