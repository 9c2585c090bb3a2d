#!/usr/bin/env bash
# Runs tests/distributed.rs against real Kafka, SeaweedFS (S3) and PostgreSQL:
# starts the services (installing them on the first run), exports their
# environment, runs the suite, and stops the services it started.
#
#   scripts/run-distributed-tests.sh            # from the repository root
#
# Services that were already running are left running.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tracepipe/target}"

already_running=true
for service in kafka seaweedfs postgres stripe-mock; do
  if ! scripts/services/all.sh status "$service" 2>/dev/null | grep -q ': running'; then
    already_running=false
  fi
done
scripts/services/all.sh start
if [ "$already_running" = false ]; then
  trap 'scripts/services/all.sh stop' EXIT
fi
eval "$(scripts/services/env.sh)"
# Under CI a missing service fails the suite instead of skipping it.
export CI="${CI:-1}"
cargo test --test distributed --test distributed_api --test distributed_metrics --test distributed_sigterm --test distributed_traces --test distributed_kafka --test distributed_privacy --test hostile_admission --test distributed_hostile -- --nocapture
