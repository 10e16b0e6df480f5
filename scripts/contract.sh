#!/usr/bin/env bash
# `make contract`: a bounded schemathesis run of docs/openapi.json against the
# whole local stack (DynamoDB Local + `cargo lambda watch`), one pass per
# surface with its credential, after the generated clients' run
# (scripts/clients.sh). Fails on any 5xx or any response that breaks
# the document. Budget: CONTRACT_MAX_TIME seconds per surface (default 60).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
trap stop_started EXIT
trap 'exit 130' INT TERM

port=${CONTRACT_PORT:-9123}
budget=${CONTRACT_MAX_TIME:-60}
export TETHER_TABLE=tether-contract-$$
url="http://127.0.0.1:$port"

scripts/tools.sh contract
ensure_dynamodb
ensure_sqs
ensure_signing_key
.venv-contract/bin/openapi-spec-validator docs/openapi.json
# Generous limits: the run is about the contract, not the limiter. No reloads:
# the watcher restarted function instances mid-request when files changed
# under the workspace (schemathesis's cache), and those requests timed out.
WATCH_FLAGS=--ignore-changes start_api "$port" --name "Contract" --rate-limit 2000 --burst 4000 \
  --turn-ceiling 1000000 --relationship-ceiling 1000000

post() { curl -sf -X POST "$url$1" -H "X-API-Key: $api_key" -H 'Content-Type: application/json' -d "$2"; }
user_id=$(post /v1/end-users '{"email":"contract@example.com"}' | json_field id)
service=$(target/debug/tetherctl external-service create --name Contract)
service_id=$(json_field external_service_id <<<"$service")
service_token=$(json_field token <<<"$service")
connect_token=$(post /v1/connect-tokens "{\"external_service_id\":\"$service_id\"}" | json_field token)
curl -sf -X POST "$url/api/v1/external-services/$service_id/organization-relations/claim" \
  -H "Authorization: Bearer $service_token" -H 'Content-Type: application/json' \
  -d "{\"connectToken\":\"$connect_token\",\"externalOrganizationId\":\"contract\"}" >/dev/null

# Start every function once (the emulator starts them lazily, one cargo
# invocation each) so the first generated requests do not wait on that.
python3 - "$url" <<'PY'
import json, sys, urllib.request
doc = json.load(open("docs/openapi.json"))
for path, item in doc["paths"].items():
    for method in item:
        url = sys.argv[1] + path.replace("{", "x").replace("}", "")
        try:
            urllib.request.urlopen(urllib.request.Request(url, method=method.upper()), timeout=60)
        except Exception:
            pass  # any answer will do
PY

# CORS on the local stack (SPEC §10): a browser endpoint answers a preflight
# from a localhost origin; the organization API sends no CORS headers.
cors() { curl -s -o /dev/null -D - -X "$1" "$url$2" -H 'Origin: http://localhost:5173' \
  -H 'Access-Control-Request-Method: POST' | tr -d '\r' | grep -i '^access-control-allow-origin:' || true; }
[ "$(cors OPTIONS /v1/me/sso/link)" = "access-control-allow-origin: http://localhost:5173" ] \
  || { echo "the local stack did not answer the CORS preflight" >&2; exit 1; }
[ -z "$(cors OPTIONS /v1/end-users)" ] && [ -z "$(cors GET /v1/end-users)" ] \
  || { echo "the organization API answered with CORS headers" >&2; exit 1; }

# Clients generated from the document by mainstream generators, driven through
# a few calls: no generator warning, every answer typed.
TETHER_URL=$url CONTRACT_API_KEY=$api_key CONTRACT_SERVICE_ID=$service_id \
  CONTRACT_SERVICE_TOKEN=$service_token scripts/clients.sh

export PYTHONPATH=tests/contract SCHEMATHESIS_HOOKS=hooks
# The id of the key the organization API's run uses, which that run must not
# roll or revoke (tests/contract/hooks.py).
api_key_id=$(curl -sf "$url/v1/api-keys" -H "X-API-Key: $api_key" | python3 -c '
import json, sys
prefix = sys.argv[1][3:11]
print(next(k["id"] for k in json.load(sys.stdin)["data"] if k["prefix"] == prefix))' "$api_key")
export TETHER_URL=$url CONTRACT_USER_ID=$user_id CONTRACT_SERVICE_ID=$service_id CONTRACT_ORG_ID=$org_id
export CONTRACT_API_KEY_ID=$api_key_id
# The three surfaces' runs go side by side, each with its own budget (they
# were three budgets in turn): each writes a log, printed whole once all have
# ended, and the contract fails if any run did.
logs=target/contract
mkdir -p "$logs"
run() {
  local tag=$1 header=$2
  .venv-contract/bin/schemathesis --config-file tests/contract/schemathesis.toml run docs/openapi.json \
    --include-tag "$tag" -H "$header" --max-time "$budget" --no-color > "$logs/$tag.log" 2>&1
}
# The organization API's run may delete its (pinned) user or revoke its
# tokens: the user API's run gets a user and a token of its own, made
# before it, so its operations are exercised with a valid token, not only
# refused.
own_user_id=$(post /v1/end-users '{"email":"contract-user@example.com"}' | json_field id)
own_token=$(post "/v1/end-users/$own_user_id/tokens" '{}' | json_field access_token)
tags=("Organization API" "User API" "External-service API")
echo "==> $(date -u +%H:%M:%S) schemathesis: ${tags[*]}, side by side" >&2
run "${tags[0]}" "X-API-Key: $api_key" &
pids=($!)
CONTRACT_USER_ID=$own_user_id run "${tags[1]}" "Authorization: Bearer $own_token" &
pids+=($!)
run "${tags[2]}" "Authorization: Bearer $service_token" &
pids+=($!)
started_pids+=("${pids[@]}")
failed=()
for i in 0 1 2; do
  wait "${pids[$i]}" || failed+=("${tags[$i]}")
done
for tag in "${tags[@]}"; do
  echo "==> schemathesis: $tag" >&2
  cat "$logs/$tag.log"
done
if [ "${#failed[@]}" -gt 0 ]; then
  echo "==> schemathesis failed: ${failed[*]}" >&2
  exit 1
fi
