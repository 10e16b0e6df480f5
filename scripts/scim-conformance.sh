#!/usr/bin/env bash
# `make scim-conformance`: the SCIM surface (SPEC §18) against the whole local
# stack (DynamoDB Local + `cargo lambda watch`), checked by others' code:
# scim2-tester's check_server and scim-sanity's strict probe
# (tests/scim/conformance.py), then scim2-client driving every served
# endpoint as an identity provider does (tests/scim/client_drive.py). Each
# gets a fresh directory; the run fails on any problem either reports.
# Every resource type the directory advertises is checked, none named here.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
trap stop_started EXIT
trap 'exit 130' INT TERM

port=${SCIM_PORT:-9124}
export TETHER_TABLE=tether-scim-$$
url="http://127.0.0.1:$port"
# A directory's scim_base_url is built from it: the checkers follow that URL.
export TETHER_PUBLIC_BASE_URL=$url

scripts/tools.sh scim
ensure_dynamodb
ensure_sqs
ensure_signing_key
# Generous limits: the run is about the protocol, not the limiter; the
# per-IP bucket too, which unknown routes are charged to and the checkers
# probe several of at once. No reloads, as in `make contract`: a restarted
# function instance drops its requests.
export TETHER_IP_RATE_LIMIT=2000 TETHER_IP_BURST=4000
WATCH_FLAGS=--ignore-changes start_api "$port" --name "SCIM conformance" --rate-limit 2000 --burst 4000 \
  --turn-ceiling 1000000 --relationship-ceiling 1000000

# A directory of its own per checker: one's leftovers never change another's
# counts. Sets base and token.
directory() {
  local created
  created=$(curl -sf -X POST "$url/v1/directories" -H "X-API-Key: $api_key" \
    -H 'Content-Type: application/json' -d "{\"name\":\"$1\"}")
  base=$(json_field scim_base_url <<<"$created")
  token=$(json_field bearer_token <<<"$created")
  case $base in
    "$url"/scim/v2/*) ;;
    *) echo "scim_base_url $base is not on the local stack ($url)" >&2; exit 1 ;;
  esac
}
directory "SCIM conformance"
conformance_base=$base conformance_token=$token
directory "SCIM client"
drive_base=$base drive_token=$token

# Start every SCIM function once (the emulator starts them lazily, one cargo
# invocation each), so no check's first request waits on that: each method on
# each advertised endpoint, on an id that does not exist, and an empty create
# (refused). A function that does not start fails the run here, not as a
# timeout in some check.
echo "==> $(date -u +%H:%M:%S) starting the SCIM functions" >&2
python3 - "$conformance_base" "$conformance_token" ".local/watch-$port.log" <<'PY'
import json, sys, urllib.error, urllib.request
base, token, log = sys.argv[1:]
def call(method, path, body=None):
    req = urllib.request.Request(base + path, method=method, data=body, headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"})
    try:
        with urllib.request.urlopen(req, timeout=120) as res:
            return res.read()
    except urllib.error.HTTPError as err:
        return err.read()
    except OSError as err:
        sys.exit(f"{method} {path} had no answer within 120 s ({err}); see {log}")
call("GET", "/ServiceProviderConfig")
call("GET", "/Schemas"), call("GET", "/Schemas/x")
types = json.loads(call("GET", "/ResourceTypes"))["Resources"]
call("GET", "/ResourceTypes/x")
for endpoint in {t["endpoint"] for t in types}:
    call("GET", endpoint), call("POST", endpoint, b"{}")
    for method in ("GET", "PUT", "PATCH", "DELETE"):
        call(method, endpoint + "/x", None if method in ("GET", "DELETE") else b"{}")
PY

start=$SECONDS
failed=()
echo "==> $(date -u +%H:%M:%S) conformance: scim2-tester and scim-sanity" >&2
SCIM_TOKEN=$conformance_token .venv-scim/bin/python tests/scim/conformance.py "$conformance_base" ||
  failed+=(tests/scim/conformance.py)
echo "==> $(date -u +%H:%M:%S) scim2-client driving the directory" >&2
SCIM_TOKEN=$drive_token .venv-scim/bin/python tests/scim/client_drive.py "$drive_base" ||
  failed+=(tests/scim/client_drive.py)
echo "==> checks took $((SECONDS - start))s" >&2
if [ "${#failed[@]}" -gt 0 ]; then
  echo "==> SCIM conformance failed: ${failed[*]}" >&2
  exit 1
fi
