#!/usr/bin/env bash
# `make dev-sso`: SSO login (SPEC §17) end to end on this machine — the whole
# API as `make dev` runs it, a genuine OpenID Provider (tests/oidc/server.mjs,
# panva's oidc-provider) registered as the demo organization's login
# connection, and a demo app (scripts/sso-demo-app.py) that signs its users
# in through Tether. Ctrl-C stops everything this script started.
#
#   scripts/dev-sso.sh           until Ctrl-C; prints the URL to open
#   scripts/dev-sso.sh --smoke   signs in once without a browser
#                                (scripts/sso-demo-browser.py), then stops;
#                                exits 0 when the app ends with a profile
#
# Ports (127.0.0.1): TETHER_PORT (API, 9000), SSO_PROVIDER_PORT (provider,
# 9100), SSO_APP_PORT (demo app, 9200). --smoke takes free ports for those
# not set, so it runs beside `make dev`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

smoke=0
case "${1:-}" in
  "") ;;
  --smoke) smoke=1 ;;
  *) echo "usage: scripts/dev-sso.sh [--smoke]" >&2; exit 2 ;;
esac

began=$SECONDS
trap stop_started EXIT
if [ "$smoke" = 1 ]; then
  trap 'echo "==> interrupted" >&2; exit 130' INT TERM
else
  trap 'echo; echo "==> stopping" >&2; exit 0' INT TERM
fi

if [ "$smoke" = 1 ]; then
  port=${TETHER_PORT:-$(free_port)}
  op_port=${SSO_PROVIDER_PORT:-$(free_port)}
  app_port=${SSO_APP_PORT:-$(free_port)}
else
  port=${TETHER_PORT:-9000}
  op_port=${SSO_PROVIDER_PORT:-9100}
  app_port=${SSO_APP_PORT:-9200}
fi
for p in "$port" "$op_port" "$app_port"; do
  if ! python3 -c 'import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))' "$p" 2>/dev/null; then
    echo "port $p on 127.0.0.1 is in use (set TETHER_PORT, SSO_PROVIDER_PORT or SSO_APP_PORT)" >&2
    exit 1
  fi
done
[ "$port" != "$op_port" ] && [ "$port" != "$app_port" ] && [ "$op_port" != "$app_port" ] ||
  { echo "the three ports must differ: $port $op_port $app_port" >&2; exit 1; }

api=http://127.0.0.1:$port
app=http://127.0.0.1:$app_port
export TETHER_TABLE=${TETHER_TABLE:-tether}
# Where browsers reach the API: the provider sends them back to its callback.
export TETHER_PUBLIC_BASE_URL=$api

scripts/tools.sh dev oidc
ensure_dynamodb
ensure_sqs
ensure_signing_key
start_api "$port" --name "Demo Organization"

# Waits up to 30 s for process PID to print `listening <url>` into LOG;
# prints the URL.
await_listening() {
  local name=$1 pid=$2 log=$3 _ line
  for _ in $(seq 1 150); do
    line=$(grep -m1 '^listening ' "$log" 2>/dev/null || true)
    if [ -n "$line" ]; then echo "${line#listening }"; return 0; fi
    kill -0 "$pid" 2>/dev/null || { echo "$name exited; $log:" >&2; cat "$log" >&2; return 1; }
    sleep 0.2
  done
  echo "$name did not listen within 30 s; see $log" >&2
  return 1
}

# Calls the API with the admin key: METHOD PATH BODY STATUS; prints the
# response body, or fails naming what came back.
api_call() {
  local method=$1 path=$2 body=$3 want=$4 out status
  out=$(mktemp)
  status=$(curl -s -o "$out" -w '%{http_code}' -X "$method" "$api$path" -H "X-API-Key: $api_key" \
    -H 'Content-Type: application/json' -d "$body")
  if [ "$status" != "$want" ]; then
    echo "$method $path answered $status, not $want:" >&2; cat "$out" >&2; echo >&2
    rm -f "$out"; return 1
  fi
  cat "$out"; rm -f "$out"
}

echo "==> starting the OpenID Provider (tests/oidc/server.mjs) on 127.0.0.1:$op_port" >&2
op_log=.local/oidc-provider-$op_port.log
: >"$op_log"
OIDC_MODULE="$PWD/.local/oidc/node_modules/oidc-provider/lib/index.js" OIDC_GENERATIONS=g1 \
  OIDC_PORT="$op_port" node tests/oidc/server.mjs >"$op_log" 2>&1 &
op_pid=$!
started_pids+=("$op_pid")
issuer=$(await_listening "the OpenID Provider" "$op_pid" "$op_log")

echo "==> registering $issuer as the demo organization's login connection" >&2
# Tether reads the issuer's discovery document and key set (loopback http is
# allowed locally: TETHER_OUTBOUND_ALLOW_LOOPBACK_HTTP, scripts/lib.sh).
provider=$(api_call POST /v1/identity-providers \
  "{\"name\":\"Local OpenID Provider\",\"issuer\":\"$issuer\",\"client_id\":\"rs256-basic\"}" 201)
provider_id=$(json_field id <<<"$provider")
# The provider's `rs256-basic` client authenticates with client_secret_basic
# and this secret (tests/oidc/server.mjs); new sign-ins create end users.
login=$(python3 -c 'import json, sys; print(json.dumps({"login": {
  "enabled": True, "client_secret": "s3:c%r+t/~&=", "client_auth": "client_secret_basic",
  "redirect_uris": [sys.argv[1]], "provisioning": "create"}}))' "$app/callback")
connection=$(api_call PATCH "/v1/identity-providers/$provider_id" "$login" 200)
# Where the provider must send browsers back: the connection's callback_url.
callback_url=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["login"]["callback_url"])' <<<"$connection")
case "$callback_url" in
  "$api/v1/sso/callback/"*) ;;
  *) echo "the connection's callback_url $callback_url is not under $api" >&2; exit 1 ;;
esac
# The provider's administrator registers it as a redirect URI (here the
# local provider's POST /_register, tests/oidc/server.mjs).
status=$(curl -s -o /dev/null -w '%{http_code}' -X POST -G "$issuer/_register" \
  --data-urlencode "redirect_uri=$callback_url")
[ "$status" = 204 ] || {
  echo "the provider did not register $callback_url as a redirect URI ($status)" >&2
  exit 1
}

# The app's own key: exchanging codes needs read_write, not admin.
app_key=$(api_call POST /v1/api-keys '{"scopes":["read_write"],"name":"SSO demo app"}' 201 | json_field key)

echo "==> starting the demo app (scripts/sso-demo-app.py) on $app" >&2
app_log=.local/sso-demo-app-$app_port.log
: >"$app_log"
SSO_DEMO_API_KEY=$app_key python3 -u scripts/sso-demo-app.py --port "$app_port" --api "$api" \
  --provider "$provider_id" >"$app_log" 2>&1 &
app_pid=$!
started_pids+=("$app_pid")
await_listening "the demo app" "$app_pid" "$app_log" >/dev/null

if [ "$smoke" = 1 ]; then
  echo "==> signing in through $app without a browser" >&2
  if ! python3 scripts/sso-demo-browser.py "$app/" --login ada; then
    echo "==> logs: .local/watch-$port.log, $op_log, $app_log" >&2
    exit 1
  fi
  echo "==> SSO smoke passed in $((SECONDS - began))s" >&2
  exit 0
fi

cat <<MSG

SSO login is running. Open the demo app:

  $app/

and sign in with any login name and any password at the provider (consent:
Continue); the app then shows the profile and the end user Tether created.

  Tether:          $api  (logs: .local/watch-$port.log)
  OpenID Provider: $issuer  (log: $op_log)
  demo app:        $app  (log: $app_log)
  DynamoDB:        $AWS_ENDPOINT_URL_DYNAMODB (table $TETHER_TABLE)
  demo org:        $org_id
  demo admin key:  $api_key
  login connection: $provider_id (an identity provider)
  its callback:     $callback_url

  export TETHER_KEY=$api_key
  curl -s $api/v1/identity-providers/$provider_id -H "X-API-Key: \$TETHER_KEY"
  curl -s "$api/v1/end-users?limit=10" -H "X-API-Key: \$TETHER_KEY"

Ctrl-C stops everything.
MSG
wait "$watch_pid"
