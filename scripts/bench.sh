#!/usr/bin/env bash
# Runs a benchmark of tests/benches against a DynamoDB Local it starts (or
# AWS_ENDPOINT_URL_DYNAMODB):
#   scripts/bench.sh limiter
#   scripts/bench.sh functions [--check] [--iterations N] [--only a,b] [--older-keys]
# `functions` first builds every function and the floor with the release
# profile; BENCH_ARM64=1 also cross-builds them for arm64 (target/lambda/) so
# the arm64 sizes are measured too.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
trap stop_started EXIT
trap 'exit 130' INT TERM

bench=$1; shift
scripts/tools.sh bench
if [ "$bench" = functions ]; then
  packages=(-p bench-floor)
  for dir in functions/*/; do packages+=(-p "$(basename "$dir")"); done
  echo "==> building every function and the floor (release profile)" >&2
  cargo build --release --locked "${packages[@]}"
  if [ -n "${BENCH_ARM64:-}" ]; then
    scripts/tools.sh arm64
    PATH="$PWD/.venv/bin:$PATH" cargo lambda build --release --arm64 --locked --lambda-dir target/lambda "${packages[@]}"
  fi
fi
ensure_dynamodb
ensure_sqs
cargo bench -p tether-tests --locked --bench "$bench" -- "$@"
