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

scripts/tools.sh dev
ensure_dynamodb
ensure_sqs
ensure_signing_key
start_api "$port" --name "Demo Organization"

# The API reference (docs/api.html, the OpenAPI document rendered), served
# beside the API.
docs_port=${TETHER_DOCS_PORT:-$((port + 1))}
python3 -m http.server --bind 127.0.0.1 --directory docs "$docs_port" >".local/docs-$docs_port.log" 2>&1 &
started_pids+=("$!")

cat <<MSG

Tether is running on http://127.0.0.1:$port  (logs: .local/watch-$port.log)
  DynamoDB:        $AWS_ENDPOINT_URL_DYNAMODB (table $TETHER_TABLE)
  deliveries:      $TETHER_DELIVERY_QUEUE_URL (worker log: .local/stream-worker-$port.log)
  API reference:   http://127.0.0.1:$docs_port/api.html
  demo org:        $org_id
  demo admin key:  $api_key

Try:
  export TETHER_KEY=$api_key
  curl -s -X POST http://127.0.0.1:$port/v1/end-users -H "X-API-Key: \$TETHER_KEY" \\
       -H 'Content-Type: application/json' -d '{"email":"ada@example.com","metadata":{"plan":"gold"}}'

Ctrl-C stops everything.
MSG
wait "$watch_pid"
