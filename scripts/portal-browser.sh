#!/usr/bin/env bash
# The admin portal (SPEC §19) in a real browser: the whole local stack (as
# `make dev` runs it) on one emulator, a genuine OpenID Provider for the SSO
# view (tests/oidc/server.mjs, panva's oidc-provider), and
# tests/portal/browser.py driving the machine's Chromium through Playwright
# (.venv-browser). Exits with browser.py's status.
#
#   scripts/portal-browser.sh [--emulator ddb|moto] [--screenshots DIR]
#
# ddb (default): DynamoDB Local, with moto's server for SQS; moto: moto's
# server for both. Each has its own port (PORTAL_PORT, default 9134 for ddb
# and 9135 for moto) and table, so both run side by side, and beside
# scripts/scim-conformance.sh (9124). An AWS_ENDPOINT_URL_DYNAMODB or
# AWS_ENDPOINT_URL_SQS already set is not used: the emulator is the one named.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
trap stop_started EXIT
trap 'exit 130' INT TERM

usage() { echo "usage: scripts/portal-browser.sh [--emulator ddb|moto] [--screenshots DIR]" >&2; exit 2; }
emulator=ddb screenshots=()
while [ $# -gt 0 ]; do
  case $1 in
    --emulator) [ $# -ge 2 ] || usage; emulator=$2; shift 2 ;;
    --emulator=*) emulator=${1#*=}; shift ;;
    --screenshots) [ $# -ge 2 ] || usage; screenshots=(--screenshots "$2"); shift 2 ;;
    --screenshots=*) screenshots=(--screenshots "${1#*=}"); shift ;;
    *) usage ;;
  esac
done
case $emulator in
  ddb) DYNAMODB=local default_port=9134 ;;
  moto) DYNAMODB=moto default_port=9135 ;;
  *) echo "--emulator must be ddb or moto, not '$emulator'" >&2; exit 2 ;;
esac
export DYNAMODB # read by ensure_dynamodb and ensure_sqs (scripts/lib.sh)
unset AWS_ENDPOINT_URL_DYNAMODB AWS_ENDPOINT_URL_SQS

port=${PORTAL_PORT:-$default_port}
export TETHER_TABLE=tether-portal-$emulator-$$
url="http://127.0.0.1:$port"
# Links, callbacks and SCIM base URLs are built from it: the browser follows them.
export TETHER_PUBLIC_BASE_URL=$url

scripts/tools.sh browser
ensure_dynamodb
ensure_sqs
ensure_signing_key

# The OpenID Provider, on a port the kernel picks; it prints `listening
# <issuer>`. Its clients know Tether's shared callback from the start; a
# connection's own (<base>/v1/sso/callback/<id>) browser.py registers with
# POST <issuer>/_register?redirect_uri=… once the portal shows it.
echo "==> starting the OpenID Provider (tests/oidc/server.mjs)" >&2
mkdir -p .local
op_log=.local/oidc-provider-portal-$port.log
: >"$op_log"
OIDC_MODULE="$PWD/.local/oidc/node_modules/oidc-provider/lib/index.js" OIDC_GENERATIONS=g1 \
  OIDC_CALLBACK="$url/v1/sso/callback" node tests/oidc/server.mjs >"$op_log" 2>&1 &
op_pid=$!
started_pids+=("$op_pid")
issuer=
for _ in $(seq 1 150); do
  issuer=$(sed -n 's/^listening //p' "$op_log" | head -n 1)
  [ -z "$issuer" ] || break
  kill -0 "$op_pid" 2>/dev/null || { echo "the OpenID Provider exited; $op_log:" >&2; cat "$op_log" >&2; exit 1; }
  sleep 0.2
done
[ -n "$issuer" ] || { echo "the OpenID Provider did not listen within 30 s; see $op_log" >&2; exit 1; }
echo "==> OpenID Provider (pid $op_pid) at $issuer" >&2

# Generous limits: the run is about the pages, not the limiter. No reloads:
# a restarted function instance drops its requests.
export TETHER_IP_RATE_LIMIT=2000 TETHER_IP_BURST=4000
WATCH_FLAGS=--ignore-changes start_api "$port" --name "Portal browser ($emulator)" --rate-limit 2000 --burst 4000
echo "==> Tether on $url (DynamoDB $AWS_ENDPOINT_URL_DYNAMODB, table $TETHER_TABLE); organization $org_id" >&2

# Another organization, whose ids the portal must not serve (404).
other_key=$(target/debug/tetherctl org create --name "Another organization" | json_field api_key)

start=$SECONDS
# The provider's `rs256-basic` client: client_secret_basic with a secret
# Basic must form-encode; any login name signs in, with any password.
status=0
.venv-browser/bin/python tests/portal/browser.py --base "$url" --api-key "$api_key" \
  --other-api-key "$other_key" "${screenshots[@]}" \
  --issuer "$issuer" --client-id rs256-basic --client-secret 's3:c%r+t/~&=' \
  --client-auth client_secret_basic --login ada || status=$?
echo "==> browser.py took $((SECONDS - start))s and exited $status; logs: .local/watch-$port.log, $op_log" >&2
# Each view's time in Tether (its request log lines: the function's own
# latency_ms, DynamoDB included, the emulator's cold start not), fastest and
# slowest of this run's 200s.
python3 - ".local/watch-$port.log" <<'PY' || true
import json, sys
times = {}
for line in open(sys.argv[1], errors="replace"):
    if '"tether::request"' not in line:
        continue
    try:
        entry = json.loads(line)
    except ValueError:
        continue
    if entry.get("status") == 200 and entry.get("method") == "GET" and str(entry.get("route", "")).startswith("/portal/"):
        times.setdefault(entry["route"], []).append(float(entry["latency_ms"]))
print("    view (GET, 200)       renders  fastest ms  slowest ms", file=sys.stderr)
for route, ms in sorted(times.items()):
    print(f"    {route:<20} {len(ms):>8}  {min(ms):>10.1f}  {max(ms):>10.1f}", file=sys.stderr)
PY
exit "$status"
