#!/usr/bin/env bash
# Runs a benchmark of tests/benches against a DynamoDB Local it starts (or
# AWS_ENDPOINT_URL_DYNAMODB): scripts/bench.sh --bench limiter
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
trap stop_started EXIT
trap 'exit 130' INT TERM

scripts/tools.sh
ensure_dynamodb
cargo bench -p tether-tests --locked "$@"
