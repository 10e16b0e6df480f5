#!/usr/bin/env bash
# `make test`: the whole suite against a DynamoDB Local started on a free port
# — `make test DYNAMODB=moto`: against moto's server instead — or against
# AWS_ENDPOINT_URL_DYNAMODB; each test makes its own table.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
trap stop_started EXIT
trap 'exit 130' INT TERM

scripts/tools.sh
ensure_dynamodb
ensure_sqs
ensure_signing_key
cargo test --workspace --locked "$@"
