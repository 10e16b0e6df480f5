#!/usr/bin/env bash
# Builds every function for Lambda (arm64, provided.al2023) and deploys the
# stack with AWS SAM.
#
#   infra/deploy.sh [--dry-run] [--stage prod] [--region eu-west-1] [--table tether]
#
# --dry-run builds and validates (cfn-lint, sam validate --lint) without
# touching AWS. Tools are installed on first use by scripts/tools.sh (.venv:
# cargo-lambda, cfn-lint; .venv-sam: aws-sam-cli), plus ziglang in .venv (the
# cross-linker cargo-lambda uses for arm64).
# Before the first deploy, create the token-signing key (docs/deploy.md).
set -euo pipefail
cd "$(dirname "$0")/.."

dry_run= stage=prod region=${AWS_REGION:-} table=tether
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) dry_run=1 ;;
    --stage) stage=$2; shift ;;
    --region) region=$2; shift ;;
    --table) table=$2; shift ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done

scripts/tools.sh --arm64
export PATH="$PWD/.venv/bin:$PWD/.venv-sam/bin:$PATH"
functions=()
for dir in functions/*/; do functions+=(-p "$(basename "$dir")"); done

echo "==> validating the template" >&2
cfn-lint infra/template.yaml
sam validate --lint --template-file infra/template.yaml --region "${region:-us-east-1}"

if [ -n "$dry_run" ]; then
  echo "==> building every function for arm64 (release), as sam build would" >&2
  cargo lambda build --release --arm64 --locked --lambda-dir target/lambda "${functions[@]}"
  ls target/lambda | sort >&2
  echo "==> dry run: validated and built; nothing deployed" >&2
  exit 0
fi

[ -n "$region" ] || { echo "set --region or AWS_REGION" >&2; exit 2; }
echo "==> deploying stack tether-$stage to $region" >&2
# The template's BuildMethod rust-cargolambda: sam builds each function with cargo lambda.
sam build --template-file infra/template.yaml --beta-features
sam deploy \
  --stack-name "tether-$stage" \
  --region "$region" \
  --capabilities CAPABILITY_IAM \
  --resolve-s3 \
  --no-fail-on-empty-changeset \
  --parameter-overrides "Stage=$stage" "TableName=$table"
