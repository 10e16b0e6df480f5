#!/usr/bin/env bash
# Deploys infra/template.yaml with AWS SAM: every function built for Lambda
# (arm64, provided.al2023) by cargo lambda. The manual is docs/deploy.md;
# `infra/deploy.sh --help` lists every option.
#
#   infra/deploy.sh [--dry-run] [--region REGION] [--<template-parameter> VALUE ...]
#
# Every parameter of the template has an option: its name in kebab case
# (CorsAllowedOrigins: --cors-allowed-origins). Only the parameters given are
# passed to `sam deploy --parameter-overrides` (Stage always): the others keep
# the stack's current values, or the template's defaults on the first deploy.
#
# Needs, and checks before anything else: cargo and rustup (Rust), python3
# with its venv module and, unless --dry-run, the AWS CLI with credentials.
# Installs into ignored folders on first use (scripts/tools.sh deploy):
# cargo-lambda, ziglang (the arm64 cross-linker) and cfn-lint into .venv/,
# aws-sam-cli into .venv-sam/.
# Creates each SSM SecureString key the template names (its *KeyParameter
# parameters) when it does not exist yet; an existing key is never changed.
set -euo pipefail
cd "$(dirname "$0")/.."

template=infra/template.yaml

die() { echo "deploy.sh: $*" >&2; exit 1; }
usage_error() { echo "deploy.sh: $*" >&2; echo "deploy.sh: infra/deploy.sh --help lists the options" >&2; exit 2; }

# The template's parameters, one "Name<TAB>Default" line each, in its order
# (the default "<none>" when the template gives none).
template_parameters() {
  awk '
    function flush() { if (name != "") print name "\t" def }
    /^Parameters:/ { inside = 1; next }
    inside && /^[^ #]/ { inside = 0 }
    !inside { next }
    /^  [A-Za-z0-9]+:[ \t]*$/ { flush(); name = $1; sub(/:$/, "", name); def = "<none>"; next }
    name != "" && /^    Default:/ {
      def = $0
      sub(/^    Default:[ \t]*/, "", def); sub(/[ \t]+$/, "", def)
      if (def ~ /^".*"$/ || def ~ /^\047.*\047$/) def = substr(def, 2, length(def) - 2)
    }
    END { flush() }
  ' "$template"
}

# CorsAllowedOrigins -> cors-allowed-origins
kebab() { printf '%s' "$1" | sed 's/\([a-z0-9]\)\([A-Z]\)/\1-\2/g' | tr '[:upper:]' '[:lower:]'; }

names=() defaults=() options=() values=() given=()
while IFS=$'\t' read -r name default; do
  names+=("$name") defaults+=("$default") options+=("--$(kebab "$name")") values+=("") given+=("")
done < <(template_parameters)
[ ${#names[@]} -gt 0 ] || die "found no parameters in $template"

usage() {
  cat <<EOF
usage: infra/deploy.sh [--dry-run] [--region REGION] [--<template-parameter> VALUE ...]

  --dry-run        validate the template and build every function (release, arm64); touch no AWS
  --region REGION  the AWS region (default: \$AWS_REGION, else \$AWS_DEFAULT_REGION, else the AWS CLI's configured region)

The template's parameters (docs/deploy.md). One not given keeps its value in the
deployed stack, or takes the template's default on the first deploy:
EOF
  local i
  for i in "${!names[@]}"; do
    printf '  %-40s %-26s default: %s\n' "${options[$i]} VALUE" "${names[$i]}" "${defaults[$i]:-\"\"}"
  done
  printf '  %-40s the same as --table-name\n' "--table VALUE"
}

index_of_option() {
  local i
  for i in "${!options[@]}"; do
    if [ "${options[$i]}" = "$1" ]; then echo "$i"; return 0; fi
  done
  return 1
}

dry_run='' region=${AWS_REGION:-${AWS_DEFAULT_REGION:-}}
while [ $# -gt 0 ]; do
  option=$1 value='' has_value=''
  case "$option" in
    -h | --help) usage; exit 0 ;;
    --dry-run) dry_run=1; shift; continue ;;
    --*=*) value=${option#*=} option=${option%%=*} has_value=1 ;;
  esac
  [ "$option" = --table ] && option=--table-name
  if [ "$option" != --region ] && ! index_of_option "$option" >/dev/null; then
    usage_error "unknown option: $1"
  fi
  if [ -z "$has_value" ]; then
    [ $# -ge 2 ] || usage_error "$option needs a value"
    value=$2
    shift
  fi
  shift
  case "$value" in
    *\"* | *\\* | *$'\n'*) usage_error "$option: a value may not contain a double quote, a backslash or a newline" ;;
  esac
  if [ "$option" = --region ]; then
    region=$value
  else
    i=$(index_of_option "$option")
    values[i]=$value given[i]=1
  fi
done

# The stage names the stack, so it is always passed.
stage_index=$(index_of_option --stage) || die "the template has no Stage parameter"
stage=${values[$stage_index]} stage_origin="given: --stage"
if [ -z "${given[$stage_index]}" ]; then
  stage=${defaults[$stage_index]} stage_origin="template default"
fi
values[stage_index]=$stage given[stage_index]=1
stack="tether-$stage"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

export AWS_PAGER=""  # AWS CLI v2 would page its output

need() { command -v "$1" >/dev/null 2>&1 || die "$1 is missing: $2 (docs/deploy.md, Prerequisites)"; }
need cargo "install Rust with rustup, https://rustup.rs"
need rustup "install Rust with rustup, https://rustup.rs (cargo lambda adds the arm64 target with it)"
need python3 "install Python 3 (it creates .venv/ and .venv-sam/ for cargo-lambda, ziglang, cfn-lint and aws-sam-cli)"
if [ -z "$dry_run" ]; then
  need aws "install the AWS CLI and configure credentials for the target account"
  [ -n "$region" ] || region=$(aws configure get region 2>/dev/null || true)
  [ -n "$region" ] || usage_error "no region: give --region, or set AWS_REGION"
  account=$(aws sts get-caller-identity --region "$region" --query Account --output text 2>"$work/err") \
    || die "the AWS CLI has no working credentials: $(cat "$work/err")"
  echo "==> deploying the stack $stack to account $account, region $region" >&2
fi

# --- tools -----------------------------------------------------------------

# scripts/tools.sh installs each once (and again when its pin changes).
tools=(.venv/bin/cargo-lambda .venv/bin/python-zig .venv/bin/cfn-lint .venv-sam/bin/sam)
for tool in "${tools[@]}"; do
  if [ ! -x "$tool" ]; then
    python3 -c 'import venv, ensurepip' 2>/dev/null \
      || die "python3 cannot create virtual environments: install its venv module (Debian, Ubuntu: apt install python3-venv)"
    break
  fi
done
scripts/tools.sh deploy
for tool in "${tools[@]}"; do
  [ -x "$tool" ] || die "scripts/tools.sh deploy did not install $tool"
done
# .venv first: cargo lambda finds zig through its python3.
export PATH="$PWD/.venv/bin:$PWD/.venv-sam/bin:$PATH"
export SAM_CLI_TELEMETRY=${SAM_CLI_TELEMETRY:-0}

echo "==> validating the template" >&2
cfn-lint "$template"
sam validate --lint --template-file "$template" --region "${region:-us-east-1}"

# --- parameters --------------------------------------------------------------

# The deployed stack's parameters, "Name<TAB>Value" lines; none before the first deploy.
current=
if [ -z "$dry_run" ]; then
  if current=$(aws cloudformation describe-stacks --stack-name "$stack" --region "$region" \
    --query 'Stacks[0].Parameters[].[ParameterKey,ParameterValue]' --output text 2>"$work/err"); then
    [ "$current" != None ] || current=
  else
    grep -q 'does not exist' "$work/err" || die "cannot read the stack $stack: $(cat "$work/err")"
    current=
  fi
fi

# Each parameter's value in this deploy: the option's (passed to SAM), else the
# deployed stack's (SAM keeps it), else the template's default (first deploy).
overrides=() keys=()
echo "==> parameters of $stack (template defaults apply on a first deploy)" >&2
for i in "${!names[@]}"; do
  name=${names[$i]}
  if [ -n "${given[$i]}" ]; then
    value=${values[$i]} origin="given: ${options[$i]}"
    [ "$i" != "$stage_index" ] || origin=$stage_origin
    overrides+=("$name=\"$value\"")
  elif line=$(printf '%s\n' "$current" | grep "^$name	"); then
    value=${line#*	} origin="kept from the deployed stack"
  else
    value=${defaults[$i]} origin="template default"
  fi
  printf '  %-26s %-40s (%s)\n' "$name" "${value:-\"\"}" "$origin" >&2
  case "$name" in *KeyParameter) keys+=("$value") ;; esac
done

if [ -n "$dry_run" ]; then
  functions=()
  for dir in functions/*/; do functions+=(-p "$(basename "$dir")"); done
  echo "==> building every function for arm64 (release), as sam build would" >&2
  cargo lambda build --release --arm64 --locked --lambda-dir target/lambda "${functions[@]}"
  find target/lambda -mindepth 1 -maxdepth 1 -type d -exec basename {} \; | sort >&2
  echo "==> dry run: validated and built; nothing deployed. sam deploy would get: --parameter-overrides ${overrides[*]}" >&2
  exit 0
fi

# --- the keys in SSM -----------------------------------------------------------

# Creates the SecureString $1 holding a new random 32-byte key (base64), unless
# it exists: a deploy never changes a key (rotations: docs/operations.md).
ensure_key() {
  local name=$1 type
  if type=$(aws ssm get-parameter --name "$name" --region "$region" \
    --query Parameter.Type --output text 2>"$work/err"); then
    [ "$type" = SecureString ] || echo "deploy.sh: warning: $name is a $type parameter, not a SecureString" >&2
    echo "  $name exists: left as it is" >&2
    return 0
  fi
  grep -q ParameterNotFound "$work/err" || die "cannot read the SSM parameter $name: $(cat "$work/err")"
  # The key goes through a file, never the command line.
  python3 -c 'import base64, secrets, sys; sys.stdout.write(base64.b64encode(secrets.token_bytes(32)).decode())' >"$work/key"
  aws ssm put-parameter --name "$name" --type SecureString --value "file://$work/key" \
    --region "$region" --output text >/dev/null 2>"$work/err" \
    || die "cannot create the SSM parameter $name: $(cat "$work/err")"
  rm -f "$work/key"
  echo "  $name created: SecureString, a new random 32-byte key" >&2
}
echo "==> the keys in SSM" >&2
for key in ${keys[@]+"${keys[@]}"}; do ensure_key "$key"; done

# --- build and deploy ------------------------------------------------------------

echo "==> building every function (sam build: cargo lambda, release, arm64)" >&2
# Under target/ (ignored by git), with its build.toml.
sam build --template-file "$template" --build-dir target/sam/build --beta-features
echo "==> deploying $stack" >&2
sam deploy \
  --template-file target/sam/build/template.yaml \
  --stack-name "$stack" \
  --region "$region" \
  --capabilities CAPABILITY_IAM \
  --resolve-s3 \
  --no-fail-on-empty-changeset \
  --parameter-overrides "${overrides[@]}"

echo "==> outputs of $stack" >&2
aws cloudformation describe-stacks --stack-name "$stack" --region "$region" \
  --query 'Stacks[0].Outputs[].[OutputKey,OutputValue]' --output text
table=$(aws cloudformation describe-stacks --stack-name "$stack" --region "$region" \
  --query "Stacks[0].Outputs[?OutputKey=='TableName'].OutputValue" --output text)
echo "==> next, the first organization (docs/deploy.md):" >&2
echo "    TETHER_TABLE=$table AWS_REGION=$region cargo run -q -p tetherctl -- org create --name Acme" >&2
