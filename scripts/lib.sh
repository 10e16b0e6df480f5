# Shared by the scripts: local AWS settings and process cleanup.

# A region and dummy static credentials, so the SDK never probes instance metadata.
export AWS_REGION=${AWS_REGION:-us-east-1}
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-local}
export AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-local}
export AWS_EC2_METADATA_DISABLED=true

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

# Starts DynamoDB Local unless AWS_ENDPOINT_URL_DYNAMODB already points at a
# DynamoDB-compatible server; exports the endpoint either way.
ensure_dynamodb() {
  if [ -n "${AWS_ENDPOINT_URL_DYNAMODB:-}" ]; then
    echo "==> using DynamoDB at $AWS_ENDPOINT_URL_DYNAMODB" >&2
    return
  fi
  local pid port
  read -r pid port < <(scripts/dynamodb-local.sh "$@")
  started_pids+=("$pid")
  export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$port"
  echo "==> DynamoDB Local (pid $pid) on $AWS_ENDPOINT_URL_DYNAMODB" >&2
}

# The Ed25519 seed that signs user access tokens: generated once into an
# ignored file (in AWS it comes from SSM: TETHER_TOKEN_SIGNING_KEY_PARAMETER, README "Configuration").
ensure_signing_key() {
  if [ -n "${TETHER_TOKEN_SIGNING_KEY:-}" ]; then return; fi
  mkdir -p .local
  if [ ! -s .local/token-signing-key ]; then
    (umask 077 && python3 -c 'import base64, secrets; print(base64.b64encode(secrets.token_bytes(32)).decode())' >.local/token-signing-key)
  fi
  TETHER_TOKEN_SIGNING_KEY=$(cat .local/token-signing-key)
  export TETHER_TOKEN_SIGNING_KEY
}
