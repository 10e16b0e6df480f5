#!/usr/bin/env bash
# Tests infra/deploy.sh without AWS: each case runs a copy of it (with the
# template, scripts/tools.sh and scripts/lib.sh) in a scratch repository whose
# aws, sam, cargo, rustup, cfn-lint, cargo-lambda, pip and python3 -m venv are
# stubs that record their arguments.
# The sam deploy and sam build command lines it records are then parsed by
# aws-sam-cli's own option parser, so what the test compares is what SAM
# would send CloudFormation.
#
#   infra/deploy_test.sh        (needs .venv-sam from `make tools`, or SAM_PYTHON)
#
# Checks: every template parameter has an option that reaches
# --parameter-overrides; parameters not given are left to the stack (so a
# redeploy changes nothing it was not told to); each *KeyParameter is created
# as a SecureString only when absent, with a random 32-byte key never on a
# command line, before the build; a missing tool, region or credentials stops
# it before any build, naming what is missing; --dry-run touches no AWS;
# only cargo-lambda, ziglang, cfn-lint and aws-sam-cli are ever installed.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
sam_python=${SAM_PYTHON:-$repo/.venv-sam/bin/python}
[ -x "$sam_python" ] || { echo "deploy_test: needs aws-sam-cli's python at $sam_python (make tools), or SAM_PYTHON" >&2; exit 1; }
real_python=$(python3 -c 'import os, sys; print(os.path.realpath(sys.executable))')

tmp=$(mktemp -d)
# DEPLOY_TEST_KEEP=1 keeps the scratch repositories (each case's stdout, stderr and recorded calls).
if [ -n "${DEPLOY_TEST_KEEP:-}" ]; then echo "deploy_test: scratch in $tmp" >&2; else trap 'rm -rf "$tmp"' EXIT; fi

failures=0 checks=0
ok() { checks=$((checks + 1)); }
fail() { checks=$((checks + 1)); failures=$((failures + 1)); echo "FAIL [$case_name] $*" >&2; }
check() { # description command...
  local what=$1
  shift
  if "$@"; then ok; else fail "$what"; fi
}

# The template's parameters and defaults, read by SAM's YAML parser (not by deploy.sh's).
"$sam_python" - "$repo/infra/template.yaml" >"$tmp/parameters" <<'EOF'
import sys
from samcli.yamlhelper import yaml_parse
for name, spec in yaml_parse(open(sys.argv[1]).read())["Parameters"].items():
    print(name + "\t" + str(spec.get("Default", "<none>")))
EOF
parameter_names=()
while IFS=$'\t' read -r name _; do parameter_names+=("$name"); done <"$tmp/parameters"
kebab() { printf '%s' "$1" | sed 's/\([a-z0-9]\)\([A-Z]\)/\1-\2/g' | tr '[:upper:]' '[:lower:]'; }
# A value unlike the default, of the parameter's kind.
test_value() {
  case "$1" in
    Stage) echo staging ;;
    TableName) echo acme-identity ;;
    CorsAllowedOrigins) echo "https://app.acme.example,https://staging.acme.example" ;;
    OwnHostnames) echo "api.acme.example,users.acme.example" ;;
    LogRetentionDays) echo 90 ;;
    *KeyParameter) echo "/acme/$(kebab "$1")" ;;
    *Generation) echo 7 ;;
    *) echo "value-$(kebab "$1")" ;;
  esac
}

# Basic tools for the scratch PATH: the script and the stubs need only these.
mkdir -p "$tmp/sys" "$tmp/python"
for tool in awk bash basename cat cp dirname env find grep head ls mkdir mktemp mv rm sed sleep sort tr wc; do
  ln -s "$(command -v "$tool")" "$tmp/sys/$tool"
done

# One stub for every tool; it acts on its name.
cat >"$tmp/stub" <<'STUB'
#!/usr/bin/env bash
set -euo pipefail
tool=$(basename "$0")
calls=$STUB_STATE/calls
n=$(($(find "$calls" -type f | wc -l) + 1))
printf '%s\n' "$@" >"$(printf '%s/%03d-%s' "$calls" "$n" "$tool")"
option() { # the value after option $1 in the rest
  local want=$1
  shift
  while [ $# -gt 0 ]; do
    if [ "$1" = "$want" ]; then echo "$2"; return 0; fi
    shift
  done
  return 1
}
ssm_file() { echo "$STUB_STATE/ssm/$(echo "$1" | tr / _)"; }
case "$tool" in
  aws)
    case "$1 $2" in
      "sts get-caller-identity")
        if [ -n "${STUB_NO_CREDENTIALS:-}" ]; then echo "Unable to locate credentials. You can configure credentials by running \"aws configure\"." >&2; exit 253; fi
        echo 123456789012 ;;
      "configure get")
        if [ -n "${STUB_CONFIGURED_REGION:-}" ]; then echo "$STUB_CONFIGURED_REGION"; else exit 1; fi ;;
      "cloudformation describe-stacks")
        if [ ! -f "$STUB_STATE/stack" ]; then
          echo "An error occurred (ValidationError) when calling the DescribeStacks operation: Stack with id $(option --stack-name "$@") does not exist" >&2
          exit 254
        fi
        case "$(option --query "$@")" in
          *Parameters*) cat "$STUB_STATE/stack" ;;
          *TableName*) echo acme-identity-staging ;;
          *Outputs*) printf 'ApiUrl\thttps://abc.execute-api.eu-west-1.amazonaws.com\n' ;;
        esac ;;
      "ssm get-parameter")
        if [ -n "${STUB_SSM_DENIED:-}" ]; then echo "An error occurred (AccessDeniedException) when calling the GetParameter operation: not authorized" >&2; exit 254; fi
        if [ -f "$(ssm_file "$(option --name "$@")")" ]; then echo SecureString; else
          echo "An error occurred (ParameterNotFound) when calling the GetParameter operation: " >&2; exit 254
        fi ;;
      "ssm put-parameter")
        file=$(ssm_file "$(option --name "$@")")
        [ "$(option --type "$@")" = SecureString ] || { echo "stub: not a SecureString" >&2; exit 99; }
        if [ -f "$file" ]; then echo "An error occurred (ParameterAlreadyExists) when calling the PutParameter operation: " >&2; exit 254; fi
        value=$(option --value "$@")
        case "$value" in file://*) cp "${value#file://}" "$file" ;; *) echo "stub: the key is on the command line" >&2; exit 99 ;; esac
        echo 1 ;;
      *) echo "aws stub: unexpected call: $*" >&2; exit 99 ;;
    esac ;;
  sam)
    if [ "$1" = build ]; then mkdir -p target/sam/build && cp infra/template.yaml target/sam/build/template.yaml; fi
    if [ "$1" = deploy ] && [ ! -f "$STUB_STATE/stack" ]; then : >"$STUB_STATE/stack"; fi ;;
  cargo)
    if [ "$1 $2" = "lambda build" ]; then mkdir -p target/lambda/get-jwks; fi ;;
  python3)
    if [ "${1:-}" = -m ] && [ "${2:-}" = venv ]; then
      venv=${!#}
      mkdir -p "$venv/bin" && cp "$0" "$venv/bin/pip" && cp "$0" "$venv/bin/python"
    elif [ "${1:-}" = -c ] && [ "${2:-}" = "import venv, ensurepip" ] && [ -n "${STUB_NO_VENV:-}" ]; then
      exit 1
    else
      exec "$STUB_REAL_PYTHON" "$@"
    fi ;;
  pip)
    # pip install [OPTION...] PACKAGE...: each package's command appears; the
    # packages go to $STUB_STATE/installed.
    bin=$(dirname "$0")
    [ "$1" = install ] || exit 0
    shift
    while [ $# -gt 0 ]; do
      case "$1" in
        --progress-bar | --index-url | -i | --extra-index-url | -r | --requirement | -c | --constraint) shift ;;
        -*) ;;
        *)
          echo "$1" >>"$STUB_STATE/installed"
          case "$1" in
            aws-sam-cli) cp "$0" "$bin/sam" ;;
            ziglang) cp "$0" "$bin/python-zig" ;;
            *) cp "$0" "$bin/${1%%[[=<>]*}" ;;
          esac ;;
      esac
      shift
    done ;;
esac
STUB
chmod +x "$tmp/stub"

# A scratch repository: infra/ (deploy.sh and the template), two functions,
# .venv/ and .venv-sam/ with their tools installed, stubs on PATH.
new_case() {
  case_name=$1
  dir=$tmp/cases/$case_name
  mkdir -p "$dir/repo/infra" "$dir/repo/scripts" "$dir/repo/functions/get-jwks" "$dir/repo/functions/create-token" \
    "$dir/repo/.venv/bin" "$dir/repo/.venv-sam/bin" "$dir/bin" "$dir/state/calls" "$dir/state/ssm"
  cp "$repo/infra/deploy.sh" "$repo/infra/template.yaml" "$dir/repo/infra/"
  cp "$repo/scripts/tools.sh" "$repo/scripts/lib.sh" "$dir/repo/scripts/"
  local tool
  for tool in cargo-lambda cfn-lint python-zig pip; do cp "$tmp/stub" "$dir/repo/.venv/bin/$tool"; done
  for tool in sam pip; do cp "$tmp/stub" "$dir/repo/.venv-sam/bin/$tool"; done
  for tool in aws cargo rustup python3; do cp "$tmp/stub" "$dir/bin/$tool"; done
  unset STUB_NO_CREDENTIALS STUB_CONFIGURED_REGION STUB_SSM_DENIED STUB_NO_VENV
}
without() { rm "$dir/bin/$1"; }
# Runs the copy of deploy.sh with the arguments; its status in $status, its stderr in $dir/stderr.
deploy() {
  status=0
  (
    cd "$dir/repo"
    env -i HOME="$dir" PATH="$dir/bin:$tmp/sys" STUB_STATE="$dir/state" STUB_REAL_PYTHON="$real_python" \
      ${STUB_NO_CREDENTIALS:+STUB_NO_CREDENTIALS=1} ${STUB_CONFIGURED_REGION:+STUB_CONFIGURED_REGION=$STUB_CONFIGURED_REGION} \
      ${STUB_SSM_DENIED:+STUB_SSM_DENIED=1} ${STUB_NO_VENV:+STUB_NO_VENV=1} \
      "$BASH" infra/deploy.sh "$@"
  ) >"$dir/stdout" 2>"$dir/stderr" || status=$?
}
# The recorded calls of a tool whose first argument is $2: their files, in order.
calls() { find "$dir/state/calls" -type f -name "*-$1" | sort | while read -r f; do [ "$(head -n1 "$f")" = "$2" ] && echo "$f"; done; }
called() { [ -n "$(calls "$1" "$2")" ]; }
not_called() { [ -z "$(calls "$1" "$2")" ]; }
stderr_has() { grep -qF -- "$1" "$dir/stderr"; }
succeeded() { [ "$status" = 0 ] || { echo "--- stderr of [$case_name]" >&2; cat "$dir/stderr" >&2; false; }; }
failed() { [ "$status" != 0 ]; }
# What SAM makes of the recorded `sam deploy`: its parameter overrides as
# sorted Name=Value lines, after checking every option of the call parses.
sam_overrides() {
  local call
  call=$(calls sam deploy | tail -n1)
  (cd "$dir/repo" && "$sam_python" - "$call" <<'EOF'
import sys
from samcli.commands.deploy.command import cli
args = open(sys.argv[1]).read().split("\n")[:-1]
ctx = cli.make_context("sam deploy", args[1:])
for name, value in sorted(ctx.params["parameter_overrides"].items()):
    print(name + "=" + value)
EOF
  )
}
sam_build_parses() {
  local call
  call=$(calls sam build | tail -n1)
  (cd "$dir/repo" && "$sam_python" - "$call" <<'EOF'
import sys
from samcli.commands.build.command import cli
args = open(sys.argv[1]).read().split("\n")[:-1]
cli.make_context("sam build", args[1:])
EOF
  ) 2>"$dir/sam-build-parse" || { cat "$dir/sam-build-parse" >&2; false; }
}
key_names_created() { for f in $(calls aws ssm); do [ "$(sed -n 2p "$f")" = put-parameter ] && sed -n '/^--name$/{n;p;}' "$f"; done | sort; }
key_names_read() { for f in $(calls aws ssm); do [ "$(sed -n 2p "$f")" = get-parameter ] && sed -n '/^--name$/{n;p;}' "$f"; done | sort; }
first_call_number() { calls "$1" "$2" | head -n1 | sed 's|.*/\([0-9]*\)-.*|\1|'; }
last_ssm_call_number() { calls aws ssm | tail -n1 | sed 's|.*/\([0-9]*\)-.*|\1|'; }
default_key_names() { awk -F'\t' '$1 ~ /KeyParameter$/ { print $2 }' "$tmp/parameters" | sort; }
help_lists_every_option() {
  local out name
  out=$("$BASH" "$repo/infra/deploy.sh" --help)
  for name in "${parameter_names[@]}"; do grep -q -- "--$(kebab "$name") VALUE" <<<"$out" || return 1; done
}
no_key_on_a_command_line() {
  local key
  for key in "$dir"/state/ssm/*; do
    if grep -rqF -- "$(cat "$key")" "$dir/state/calls"; then return 1; fi
  done
}
keys_as_before() { # folder of the keys before
  local key
  for key in "$1"/*; do cmp -s "$key" "$dir/state/ssm/$(basename "$key")" || return 1; done
}
grep_lines() { # grep options... pattern lines: grep in a string
  local lines=${!#}
  grep "${@:1:$#-1}" <<<"$lines"
}
not() { ! "$@"; }
is_32_byte_base64_key() { # file
  [ "$(wc -l <"$1")" = 0 ] && "$real_python" -c 'import base64, sys; assert len(base64.b64decode(open(sys.argv[1]).read(), validate=True)) == 32' "$1"
}

# --- every parameter through its option ----------------------------------------

new_case every-parameter
args=(--region eu-west-1) expected=()
for name in "${parameter_names[@]}"; do
  value=$(test_value "$name")
  args+=("--$(kebab "$name")" "$value")
  expected+=("$name=$value")
done
deploy "${args[@]}"
check "deploy succeeds" succeeded
printf '%s\n' "${expected[@]}" | sort >"$dir/expected"
sam_overrides >"$dir/actual" || fail "SAM cannot parse the recorded sam deploy"
check "every template parameter reaches --parameter-overrides with its value: $(diff "$dir/expected" "$dir/actual" | tr '\n' ' ')" \
  cmp -s "$dir/expected" "$dir/actual"
check "SAM can parse the recorded sam build" sam_build_parses
check "the stack is tether-<stage>" grep -qx tether-staging "$(calls sam deploy | tail -n1)"
check "the help lists every parameter's option" help_lists_every_option
for name in "${parameter_names[@]}"; do
  case "$name" in *KeyParameter) test_value "$name" ;; esac
done | sort >"$dir/expected-keys"
check "the keys are created under the names given" cmp -s "$dir/expected-keys" <(key_names_created)

# --- the --name=value form, an empty value, and --table ----------------------------

new_case option-forms
deploy --region=eu-west-1 --own-hostnames= --table acme --cors-allowed-origins=https://a.example,https://b.example
check "deploy succeeds" succeeded
printf '%s\n' CorsAllowedOrigins=https://a.example,https://b.example OwnHostnames= Stage=prod TableName=acme >"$dir/expected"
check "--x=value, an empty value and --table reach SAM: $(sam_overrides | tr '\n' ' ')" cmp -s "$dir/expected" <(sam_overrides)

# --- a first deploy with nothing given --------------------------------------------

new_case first-deploy
deploy --region eu-west-1
check "deploy succeeds" succeeded
check "only Stage is passed, with the template's default, when nothing is given: $(sam_overrides | tr '\n' ' ')" \
  test "$(sam_overrides)" = "Stage=prod"
check "every *KeyParameter default is created" cmp -s <(default_key_names) <(key_names_created)
for f in "$dir"/state/ssm/*; do check "$(basename "$f") holds a base64 32-byte key, no newline" is_32_byte_base64_key "$f"; done
check "no key value appears on a command line" no_key_on_a_command_line
check "the keys are made before the build" test "$(last_ssm_call_number)" -lt "$(first_call_number sam build)"
check "the output names what it created" stderr_has "/tether/webhook-key created"
check "the output names the next step with the stack's table" grep -qF "TETHER_TABLE=" "$dir/stderr"
check "the stack is created with CAPABILITY_IAM" grep -qx CAPABILITY_IAM "$(calls sam deploy | tail -n1)"

# --- the second deploy: keys kept, stack values kept --------------------------------

cp -r "$dir/state/ssm" "$tmp/first-keys"
# The stack as deployed, one parameter changed by hand earlier (--webhook-key-parameter).
while IFS=$'\t' read -r name default; do
  [ "$default" = "<none>" ] && default=
  [ "$name" = WebhookKeyParameter ] && default=/acme/webhook-key
  printf '%s\t%s\n' "$name" "$default"
done <"$tmp/parameters" >"$dir/state/stack"
echo kept >"$dir/state/ssm/_acme_webhook-key"
rm -r "$dir/state/calls" && mkdir "$dir/state/calls"
deploy --region eu-west-1
check "a second deploy succeeds" succeeded
check "a second deploy creates no key" test -z "$(key_names_created)"
check "a second deploy leaves every key as it was" keys_as_before "$tmp/first-keys"
check "the key the stack names is checked, not the template's default" \
  grep_lines -qx /acme/webhook-key "$(key_names_read)"
check "... and the template's default is not" not grep_lines -qx /tether/webhook-key "$(key_names_read)"
check "a second deploy still passes only Stage" test "$(sam_overrides)" = "Stage=prod"
check "the output says which values the stack keeps" stderr_has "kept from the deployed stack"

# --- failures before any build ----------------------------------------------------

for tool in aws cargo rustup python3; do
  new_case "without-$tool"
  without "$tool"
  deploy --region eu-west-1
  check "fails" failed
  check "names the missing tool: $(cat "$dir/stderr")" stderr_has "$tool is missing"
  check "builds nothing" not_called sam build
  check "touches no SSM parameter" not_called aws ssm
done

new_case dry-run-without-aws
without aws
deploy --dry-run
check "a dry run needs no AWS CLI" succeeded
check "a dry run builds" called cargo lambda
check "a dry run deploys nothing" not_called sam deploy
check "a dry run validates" called sam validate

new_case no-region
deploy
check "fails without a region" failed
check "says so: $(cat "$dir/stderr")" stderr_has "no region"
check "builds nothing" not_called sam build

new_case configured-region
export STUB_CONFIGURED_REGION=ap-south-1
deploy
unset STUB_CONFIGURED_REGION
check "takes the AWS CLI's configured region" succeeded
check "deploys there" grep -qx ap-south-1 "$(calls sam deploy | tail -n1)"

new_case no-credentials
export STUB_NO_CREDENTIALS=1
deploy --region eu-west-1
unset STUB_NO_CREDENTIALS
check "fails without credentials" failed
check "says so: $(cat "$dir/stderr")" stderr_has "no working credentials"
check "validates and builds nothing" not_called sam validate

new_case ssm-denied
export STUB_SSM_DENIED=1
deploy --region eu-west-1
unset STUB_SSM_DENIED
check "fails when SSM refuses to read a key" failed
check "shows SSM's answer: $(cat "$dir/stderr")" stderr_has AccessDeniedException
check "creates no key" test -z "$(key_names_created)"
check "builds nothing" not_called sam build

new_case bad-arguments
deploy --region eu-west-1 --no-such-parameter 1
check "an unknown option fails" test "$status" = 2
check "names it" stderr_has "unknown option: --no-such-parameter"
deploy --region eu-west-1 --own-hostnames
check "an option without its value fails" test "$status" = 2
deploy --region eu-west-1 --cors-allowed-origins 'https://a" b'
check "a value SAM would misread is refused" test "$status" = 2
check "nothing ran" not_called sam validate

# --- installs: only the tools the docs list ------------------------------------------

new_case install
rm -r "$dir/repo/.venv" "$dir/repo/.venv-sam"
deploy --region eu-west-1
check "installs and deploys" succeeded
installed=$(sort "$dir/state/installed" | tr '\n' ' ')
check "installs exactly cargo-lambda, ziglang, cfn-lint and aws-sam-cli: $installed" \
  test "$installed" = "aws-sam-cli cargo-lambda cfn-lint ziglang "
rm -r "$dir/state/calls" "$dir/state/installed" && mkdir "$dir/state/calls"
deploy --region eu-west-1
check "a second deploy succeeds" succeeded
check "a second deploy installs nothing" test ! -e "$dir/state/installed"

new_case no-venv-module
rm -r "$dir/repo/.venv"
export STUB_NO_VENV=1
deploy --region eu-west-1
unset STUB_NO_VENV
check "fails without python3's venv module" failed
check "says so: $(cat "$dir/stderr")" stderr_has "venv module"

# --- docs/deploy.md against the template -------------------------------------------

case_name=docs
doc_problems=$("$sam_python" - "$repo/infra/template.yaml" "$repo/docs/deploy.md" <<'EOF'
import re, sys
from samcli.yamlhelper import yaml_parse
template = yaml_parse(open(sys.argv[1]).read())
doc = open(sys.argv[2]).read()
kebab = lambda name: re.sub(r"([a-z0-9])([A-Z])", r"\1-\2", name).lower()
rows = {}
for line in doc.splitlines():
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    if line.startswith("| `--") and len(cells) == 4 and cells[1].startswith("`"):
        rows[cells[1].strip("`")] = cells
for name, spec in template["Parameters"].items():
    row = rows.get(name)
    if row is None:
        print(f"the options table has no row for {name}")
        continue
    if not row[0].startswith(f"`--{kebab(name)}`"):
        print(f"{name}: its option is --{kebab(name)}, the table says {row[0]}")
    default = str(spec.get("Default", ""))
    if "Default" not in spec:
        shown = "none (required)"
    else:
        shown = "empty" if default == "" else f"`{default}`"
    if row[3] != shown:
        print(f"{name}: the template's default is {shown}, the table says {row[3]}")
for name in rows:
    if name not in template["Parameters"]:
        print(f"the options table names {name}, not a template parameter")
outputs = set(template["Outputs"])
named = set(re.findall(r"outputs? `(\w+)`", doc)) | set(re.findall(r"OutputKey=='(\w+)'", doc))
listed = re.search(r"^Outputs: (.*?)\.$", doc, re.M | re.S)
named |= set(re.findall(r"`(\w+)`", listed.group(1))) if listed else set()
for name in sorted(named - outputs):
    print(f"docs/deploy.md names the output {name}, which the template does not have")
for name in sorted(outputs - named):
    print(f"the template's output {name} is not in docs/deploy.md")
EOF
) || doc_problems="cannot check docs/deploy.md"
check "docs/deploy.md's options and outputs match the template: $doc_problems" test -z "$doc_problems"

if [ "$failures" -gt 0 ]; then
  echo "deploy_test: $failures of $checks checks failed" >&2
  exit 1
fi
echo "deploy_test: all $checks checks passed" >&2
