#!/usr/bin/env bash
# `make dev`: the whole API on http://127.0.0.1:${TETHER_PORT:-9000} until Ctrl-C,
# which stops everything this script started.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
trap stop_started EXIT
trap 'echo; echo "==> stopping" >&2; exit 0' INT TERM

port=${TETHER_PORT:-9000}
export TETHER_TABLE=${TETHER_TABLE:-tether}
export PATH="$PWD/.venv/bin:$PATH"

scripts/tools.sh
ensure_dynamodb
ensure_signing_key
echo "==> building every function" >&2
cargo build --workspace --bins --locked
target/debug/tetherctl table create >/dev/null
demo=$(target/debug/tetherctl org create --name "Demo Organization")
api_key=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["api_key"])' <<<"$demo")
org_id=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["organization_id"])' <<<"$demo")

# The local stand-in for the purge-end-user stream trigger (README: "Deleting end users").
target/debug/tetherctl purge-worker >.local/purge-worker.log 2>&1 &
started_pids+=("$!")

echo "==> starting cargo lambda watch on 127.0.0.1:$port" >&2
cargo lambda watch -A 127.0.0.1 -P "$port" >.local/watch.log 2>&1 &
watch_pid=$!
started_pids+=("$watch_pid")
ready=
for _ in $(seq 1 300); do
  if curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v1/end-users" -H "X-API-Key: $api_key" | grep -q 200; then
    ready=1; break
  fi
  kill -0 "$watch_pid" 2>/dev/null || { cat .local/watch.log >&2; exit 1; }
  sleep 0.2
done
[ -n "$ready" ] || { echo "the API did not answer within 60 s; see .local/watch.log" >&2; exit 1; }

cat <<MSG

Tether is running on http://127.0.0.1:$port  (logs: .local/watch.log)
  DynamoDB:        $AWS_ENDPOINT_URL_DYNAMODB (table $TETHER_TABLE)
  demo org:        $org_id
  demo admin key:  $api_key

Try:
  export TETHER_KEY=$api_key
  curl -s -X POST http://127.0.0.1:$port/v1/end-users -H "X-API-Key: \$TETHER_KEY" \\
       -H 'Content-Type: application/json' -d '{"email":"ada@example.com","metadata":{"plan":"gold"}}'

Ctrl-C stops everything.
MSG
wait "$watch_pid"
