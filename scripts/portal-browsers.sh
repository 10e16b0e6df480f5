#!/usr/bin/env bash
# `make portal-browser`: scripts/portal-browser.sh on DynamoDB Local and on
# moto at once (each its own stack, port and table), after one build and one
# install; fails when either fails, printing both runs.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/tools.sh browser
echo "==> building every function once, for both stacks" >&2
cargo build --workspace --bins --locked
mkdir -p .local
status=0
scripts/portal-browser.sh --emulator ddb >.local/portal-browser-ddb.log 2>&1 & ddb=$!
scripts/portal-browser.sh --emulator moto >.local/portal-browser-moto.log 2>&1 & moto=$!
wait "$ddb" || status=1
ddb_status=$status
wait "$moto" || status=1
for emulator in ddb moto; do
  echo "==> portal in Chromium on $emulator:" >&2
  grep -v '^ *Compiling\|^ *Finished' ".local/portal-browser-$emulator.log" >&2 || true
done
[ "$ddb_status" -eq 0 ] || echo "FAILED on DynamoDB Local" >&2
exit "$status"
