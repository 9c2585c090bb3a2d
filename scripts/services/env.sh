#!/usr/bin/env bash
# Prints the environment that points Tracepipe (and AWS/Kafka/Postgres clients)
# at the local services started by scripts/services/all.sh:
#
#   eval "$(scripts/services/env.sh)"
set -euo pipefail
kafka_port="${TRACEPIPE_KAFKA_PORT:-9092}"
s3_port="${TRACEPIPE_S3_PORT:-8333}"
pg_port="${TRACEPIPE_PG_PORT:-55432}"
stripe_port="${TRACEPIPE_STRIPE_MOCK_PORT:-12111}"
bucket="${TRACEPIPE_S3_BUCKET:-tracepipe}"
oidc_port="${TRACEPIPE_OIDC_PORT:-9710}"
cat <<ENV
export TRACEPIPE_KAFKA_BOOTSTRAP=127.0.0.1:$kafka_port
export AWS_ENDPOINT_URL=http://127.0.0.1:$s3_port
export AWS_ACCESS_KEY_ID=tracepipe
export AWS_SECRET_ACCESS_KEY=tracepipe-secret
export AWS_REGION=us-east-1
export AWS_ALLOW_HTTP=true
export TRACEPIPE_S3_BUCKET=$bucket
export TRACEPIPE_DATABASE_URL=postgres://tracepipe:tracepipe@127.0.0.1:$pg_port/tracepipe
export TRACEPIPE_TEST_STRIPE_URL=http://127.0.0.1:$stripe_port
export TRACEPIPE_TEST_OIDC_ISSUER=http://127.0.0.1:$oidc_port
export TRACEPIPE_TEST_OIDC_CLIENT_ID=tracepipe-test
export TRACEPIPE_TEST_OIDC_CLIENT_SECRET=tracepipe-test-oidc-client-secret
export TRACEPIPE_TEST_OIDC_USER_EMAIL=ada@example.test
export TRACEPIPE_TEST_OIDC_USER_PASSWORD=analytical-engine-1843
ENV
