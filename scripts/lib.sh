# Shared by the scripts: local AWS settings and process cleanup.

# A region and dummy static credentials, so the SDK never probes instance metadata.
export AWS_REGION=${AWS_REGION:-us-east-1}
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-local}
export AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-local}
export AWS_EC2_METADATA_DISABLED=true
# Local stacks fetch issuers and key sets served on loopback over plain HTTP
# (SPEC §16); the SAM template never sets this.
export TETHER_OUTBOUND_ALLOW_LOOPBACK_HTTP=true
# Browsers on any localhost origin may call the user API and the JWKS (SPEC
# §10); in AWS the HTTP API's CorsConfiguration does this instead.
export TETHER_CORS_ORIGINS=${TETHER_CORS_ORIGINS:-localhost}

# The newest moto release on PyPI, unpatched: the local stream worker is
# tested against it (tests/api/emulators.rs).
export MOTO_STOCK_VERSION=5.2.6

started_pids=()

# Stops a process and everything it started, children first.
kill_tree() {
  local pid=$1 child
  for child in $(pgrep -P "$pid" 2>/dev/null); do kill_tree "$child"; done
  kill "$pid" 2>/dev/null || true
}

stop_started() {
  local pid
  for pid in "${started_pids[@]}"; do kill_tree "$pid"; done
  for pid in "${started_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  started_pids=()
}

# A free TCP port on 127.0.0.1.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits until the emulator NAME (process PID, log LOG) answers HTTP on PORT,
# then prints `PID PORT` and exits 0; exits 1 if it dies or takes over 30 s.
# Any HTTP answer counts (DynamoDB Local replies 400 to a bare GET).
await_emulator() {
  local name=$1 pid=$2 port=$3 log=$4 _
  for _ in $(seq 1 150); do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "$name exited; see $log" >&2; cat "$log" >&2; exit 1
    fi
    if curl -s -o /dev/null "http://127.0.0.1:$port/"; then
      echo "$pid $port"; exit 0
    fi
    sleep 0.2
  done
  echo "$name did not start within 30 s; see $log" >&2
  kill "$pid" 2>/dev/null || true
  exit 1
}

# Starts DynamoDB Local — or moto's server when DYNAMODB=moto — unless
# AWS_ENDPOINT_URL_DYNAMODB already points at a DynamoDB-compatible server;
# exports the endpoint either way.
ensure_dynamodb() {
  if [ -n "${AWS_ENDPOINT_URL_DYNAMODB:-}" ]; then
    echo "==> using DynamoDB at $AWS_ENDPOINT_URL_DYNAMODB" >&2
    return
  fi
  local pid port name script
  case "${DYNAMODB:-local}" in
    local) name="DynamoDB Local"; script=scripts/dynamodb-local.sh ;;
    moto) name="moto's server"; script=scripts/moto.sh ;;
    *) echo "DYNAMODB must be local or moto, not ${DYNAMODB}" >&2; return 1 ;;
  esac
  read -r pid port < <("$script" "$@")
  started_pids+=("$pid")
  export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$port"
  echo "==> $name (pid $pid) on $AWS_ENDPOINT_URL_DYNAMODB" >&2
}

# The webhook delivery queue's SQS (SPEC §15): moto's server — the one
# already serving DynamoDB under DYNAMODB=moto, else one started here —
# unless AWS_ENDPOINT_URL_SQS already points at one.
ensure_sqs() {
  if [ -n "${AWS_ENDPOINT_URL_SQS:-}" ]; then return; fi
  if [ "${DYNAMODB:-local}" = moto ] && [ -n "${AWS_ENDPOINT_URL_DYNAMODB:-}" ]; then
    export AWS_ENDPOINT_URL_SQS=$AWS_ENDPOINT_URL_DYNAMODB
  else
    local pid port
    read -r pid port < <(scripts/moto.sh)
    started_pids+=("$pid")
    export AWS_ENDPOINT_URL_SQS="http://127.0.0.1:$port"
  fi
  echo "==> SQS (moto) on $AWS_ENDPOINT_URL_SQS" >&2
}

# The Ed25519 seed that signs user access tokens: generated once into an
# ignored file (in AWS it comes from SSM: TETHER_TOKEN_SIGNING_KEY_PARAMETER, docs/operations.md, "Configuration").
ensure_signing_key() {
  if [ -n "${TETHER_TOKEN_SIGNING_KEY:-}" ]; then return; fi
  mkdir -p .local
  if [ ! -s .local/token-signing-key ]; then
    (umask 077 && python3 -c 'import base64, secrets; print(base64.b64encode(secrets.token_bytes(32)).decode())' >.local/token-signing-key)
  fi
  TETHER_TOKEN_SIGNING_KEY=$(cat .local/token-signing-key)
  export TETHER_TOKEN_SIGNING_KEY
  # The key webhook secrets are sealed with (AWS: an SSM SecureString).
  if [ -z "${TETHER_WEBHOOK_KEY:-}" ]; then
    if [ ! -s .local/webhook-key ]; then
      (umask 077 && python3 -c 'import base64, secrets; print(base64.b64encode(secrets.token_bytes(32)).decode())' >.local/webhook-key)
    fi
    TETHER_WEBHOOK_KEY=$(cat .local/webhook-key)
    export TETHER_WEBHOOK_KEY
  fi
  # The key Idempotency-Key records are derived under (AWS: an SSM SecureString).
  if [ -z "${TETHER_IDEMPOTENCY_KEY:-}" ]; then
    if [ ! -s .local/idempotency-key ]; then
      (umask 077 && python3 -c 'import base64, secrets; print(base64.b64encode(secrets.token_bytes(32)).decode())' >.local/idempotency-key)
    fi
    TETHER_IDEMPOTENCY_KEY=$(cat .local/idempotency-key)
    export TETHER_IDEMPOTENCY_KEY
  fi
}

# Reads one field of a JSON object on stdin.
json_field() {
  python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"
}

# The whole API on 127.0.0.1:$1, as `make dev` runs it: builds every function,
# creates the table ($TETHER_TABLE), starts the local purge worker and
# `cargo lambda watch`, and returns once the API answers. Extra arguments go
# to `tetherctl org create`; WATCH_FLAGS more flags to `cargo lambda watch`.
# Sets api_key, org_id and watch_pid.
start_api() {
  local port=$1; shift
  echo "==> building every function" >&2
  cargo build --workspace --bins --locked
  target/debug/tetherctl table create >/dev/null
  local org
  org=$(target/debug/tetherctl org create "$@")
  api_key=$(json_field api_key <<<"$org")
  org_id=$(json_field organization_id <<<"$org")

  # The webhook delivery queue in moto's SQS, for the functions that send
  # deliveries and the worker that attempts them.
  TETHER_DELIVERY_QUEUE_URL=$(target/debug/tetherctl queue create --name "$TETHER_TABLE-deliveries" | json_field queue_url)
  export TETHER_DELIVERY_QUEUE_URL

  # The local stand-in for the stream triggers (purge-end-user,
  # publish-events) and the delivery queue's (deliver-webhooks):
  # docs/operations.md, "The local stack".
  target/debug/tetherctl stream-worker >".local/stream-worker-$port.log" 2>&1 &
  started_pids+=("$!")

  echo "==> starting cargo lambda watch on 127.0.0.1:$port" >&2
  # --disable-cors: the router's own permissive CORS would answer every
  # route; the browser endpoints answer CORS themselves (SPEC §10).
  PATH="$PWD/.venv/bin:$PATH" cargo lambda watch --disable-cors -A 127.0.0.1 -P "$port" ${WATCH_FLAGS:-} >".local/watch-$port.log" 2>&1 &
  watch_pid=$!
  started_pids+=("$watch_pid")
  # Each try bounded too: a function that never starts (it failed to
  # build) must fail the run, not hold it.
  local deadline=$((SECONDS + 180))
  while [ "$SECONDS" -lt "$deadline" ]; do
    if curl -s -m 30 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v1/end-users" -H "X-API-Key: $api_key" | grep -q 200; then
      return 0
    fi
    kill -0 "$watch_pid" 2>/dev/null || { cat ".local/watch-$port.log" >&2; return 1; }
    sleep 0.2
  done
  echo "the API did not answer within 180 s; see .local/watch-$port.log" >&2
  return 1
}
