#!/usr/bin/env bash
# Starts moto's server (its DynamoDB and DynamoDB Streams, in memory) on
# 127.0.0.1 and a free port, waits until it answers, and prints `PID PORT`
# on stdout. The caller stops it by PID. moto[server] is installed into .venv
# on first use.
#   scripts/moto.sh [PORT]
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/moto_server ]; then
  echo "==> installing moto[server] into .venv" >&2
  [ -x .venv/bin/pip ] || python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check "moto[server]"
fi
port=${1:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
mkdir -p .local
log=$PWD/.local/moto.$port.log
.venv/bin/moto_server -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
pid=$!
for _ in $(seq 1 150); do
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "moto exited; see $log" >&2; cat "$log" >&2; exit 1
  fi
  if curl -s -o /dev/null "http://127.0.0.1:$port/"; then
    echo "$pid $port"; exit 0
  fi
  sleep 0.2
done
echo "moto did not start within 30 s; see $log" >&2
kill "$pid" 2>/dev/null || true
exit 1
