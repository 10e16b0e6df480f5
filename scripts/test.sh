#!/usr/bin/env bash
# `make test`: the whole suite on both emulators — DynamoDB Local and moto's
# server, each started on a free port — side by side, since each uses about
# one core of two (docs/decisions.md, "CI time"). Each test makes its own table.
#   make test DYNAMODB=local   only on DynamoDB Local
#   make test DYNAMODB=moto    only on moto's server
#   AWS_ENDPOINT_URL_DYNAMODB  only on that DynamoDB-compatible server
# Extra arguments go to `cargo test` (scripts/test.sh -- FILTER).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
trap stop_started EXIT
trap 'exit 130' INT TERM

# Tools first: installing them beside the build was no faster on 2 cores
# (docs/decisions.md, "CI time").
scripts/tools.sh test
cargo test --workspace --locked --no-run "$@"
echo "==> $(date -u +%H:%M:%S) built" >&2
ensure_signing_key

if [ -n "${AWS_ENDPOINT_URL_DYNAMODB:-}" ] || [ "${DYNAMODB:-both}" != both ]; then
  ensure_dynamodb
  ensure_sqs
  cargo test --workspace --locked "$@"
  exit 0
fi

# Both: one suite per emulator. cargo's own output stays as cargo prints it
# (CI and people read its `running N tests` / `test result:` lines, and a tag
# in front of each broke that reading): DynamoDB Local's run streams to the
# terminal, moto's goes to a log that is printed whole once it ends.
moto_log=target/test-moto.log
suite() {
  local name=$1
  shift
  # A subshell with its own emulators, stopped when it ends or is stopped.
  (trap stop_started EXIT
    trap 'exit 143' INT TERM
    started_pids=()
    DYNAMODB=$name
    ensure_dynamodb
    ensure_sqs
    cargo test --workspace --locked "$@")
}
declare -A status
echo "==> moto's suite runs beside this one; its output follows at the end ($moto_log)" >&2
suite moto "$@" > "$moto_log" 2>&1 &
moto_pid=$!
started_pids+=("$moto_pid")
suite local "$@" && status[local]=ok || status[local]=FAILED
echo "==> $(date -u +%H:%M:%S) DynamoDB Local's suite: ${status[local]}; waiting for moto's" >&2
wait "$moto_pid" && status[moto]=ok || status[moto]=FAILED
echo "==> $(date -u +%H:%M:%S) the same suite on moto's server:" >&2
cat "$moto_log"
echo "==> DynamoDB Local: ${status[local]}; moto: ${status[moto]}" >&2
[ "${status[local]}" = ok ] && [ "${status[moto]}" = ok ]
