#!/usr/bin/env bash
# Generates API clients from docs/openapi.json with two mainstream generators
# and drives the running stack through them (called by scripts/contract.sh):
#   Python: openapi-python-client (.venv-contract) → .local/clients/python
#   TypeScript: openapi-typescript + openapi-fetch  → .local/clients/ts
# Fails when a generator warns or a typed call does not get what the document
# promises. Environment: TETHER_URL, CONTRACT_API_KEY, CONTRACT_SERVICE_ID,
# CONTRACT_SERVICE_TOKEN.
set -euo pipefail
cd "$(dirname "$0")/.."
out=.local/clients
mkdir -p "$out"

ts=.local/clients/ts  # the generators: scripts/tools.sh contract installs them

no_warnings() { # NAME LOG
  if grep -qiE 'warn' "$2"; then
    echo "$1 warned on docs/openapi.json:" >&2
    cat "$2" >&2
    exit 1
  fi
}

echo "==> openapi-python-client" >&2
.venv-contract/bin/openapi-python-client generate --path docs/openapi.json --output-path "$out/python" \
  --overwrite --config tests/contract/clients/openapi-python-client.yml >"$out/python.log" 2>&1 ||
  { cat "$out/python.log" >&2; exit 1; }
no_warnings openapi-python-client "$out/python.log"
PYTHONPATH="$out/python" .venv-contract/bin/python tests/contract/clients/python_client.py

echo "==> openapi-typescript + openapi-fetch" >&2
"$ts/node_modules/.bin/openapi-typescript" docs/openapi.json -o "$ts/schema.d.ts" >"$out/ts.log" 2>&1 ||
  { cat "$out/ts.log" >&2; exit 1; }
no_warnings openapi-typescript "$out/ts.log"
cp tests/contract/clients/ts_client.mts "$ts/client.mts"
"$ts/node_modules/.bin/tsc" --strict --noEmitOnError --module nodenext --moduleResolution nodenext \
  --target es2022 --typeRoots "$ts/node_modules/@types" --types node --outDir "$ts/out" "$ts/client.mts"
node "$ts/out/client.mjs"
