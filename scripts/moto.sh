#!/usr/bin/env bash
# Starts moto's server (its DynamoDB and DynamoDB Streams, in memory) on
# 127.0.0.1 and a free port, waits until it answers, and prints `PID PORT`
# on stdout. The caller stops it by PID. moto is installed on first use
# (scripts/tools.sh: .venv, or .venv-moto for MOTO=stock).
#   scripts/moto.sh [PORT]
#   MOTO=stock scripts/moto.sh [PORT]   the newest moto release as PyPI ships
#                                       it, unpatched (.venv-moto; what a user's
#                                       `pip install moto[server]` runs)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
if [ "${MOTO:-}" = stock ]; then
  scripts/tools.sh moto-stock
  port=${1:-$(free_port)}
  mkdir -p .local
  log=$PWD/.local/moto-stock.$port.log
  .venv-moto/bin/moto_server -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
  await_emulator "moto (stock)" "$!" "$port" "$log"
fi
scripts/tools.sh moto
port=${1:-$(free_port)}
mkdir -p .local
log=$PWD/.local/moto.$port.log
# Through scripts/moto_server.py: moto with one DynamoDB call at a time per table (its backend has no lock).
.venv/bin/python scripts/moto_server.py 127.0.0.1 "$port" >"$log" 2>&1 &
pid=$!
await_emulator "moto" "$pid" "$port" "$log"
