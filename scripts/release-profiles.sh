#!/usr/bin/env bash
# Release profiles side by side: build time, binary size and cold-start CPU.
#   scripts/release-profiles.sh [candidate...]     (default: every candidate)
#   scripts/release-profiles.sh --fleet            the workspace's own release
#     profile: every function for x86_64, then for arm64, with cargo lambda
#     (as infra/deploy.sh builds them) from nothing, each timed
# Each candidate builds from nothing into its own target directory
# (.local/profiles/<candidate>): every dependency, the core crate, the floor
# and SAMPLE functions, timed in two steps, so that the build of all the
# functions is  first + (functions − 1) × marginal  (each function is its own
# link — and, with LTO, its own whole-program optimisation). Then the bench's
# cold starts of the floor and the sampled functions against that build
# (`BENCH_BIN_DIR`), on the host (x86_64). docs/performance.md, "Release
# profile", has the table and the whole-fleet builds of the chosen profile.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
trap stop_started EXIT
trap 'exit 130' INT TERM

# name: opt-level lto codegen-units
if [ "${1:-}" = --fleet ]; then
  scripts/tools.sh arm64
  dir=.local/profiles/fleet
  rm -rf "$dir"
  packages=()
  for f in functions/*/; do packages+=(-p "$(basename "$f")"); done
  for arch in x86-64 arm64; do
    echo "==> every function (${#packages[@]}) for $arch, release profile, from nothing" >&2
    start=$(date +%s)
    CARGO_TARGET_DIR=$dir PATH="$PWD/.venv/bin:$PATH" cargo lambda build --release "--$arch" \
      --locked --lambda-dir "$dir/lambda-$arch" "${packages[@]}" >&2
    end=$(date +%s)
    sizes=$(find "$dir/lambda-$arch" -name bootstrap -printf '%s\n' | sort -n)
    printf '%s: %d s; bootstrap sizes %s to %s bytes\n' "$arch" $((end - start)) \
      "$(echo "$sizes" | head -1)" "$(echo "$sizes" | tail -1)" | tee -a .local/profiles/fleet.txt
  done
  exit 0
fi

declare -A candidates=(
  [z-fat-1]='"z" "fat" 1'
  [z-thin-16]='"z" "thin" 16'
  [z-off-16]='"z" false 16'
  [s-off-16]='"s" false 16'
  [3-off-16]='3 false 16'
)
order=(z-fat-1 z-thin-16 z-off-16 s-off-16 3-off-16)
[ $# -gt 0 ] && order=("$@")
first=get-end-user
marginal=(get-jwks list-end-users link-sso)
sample=$first,${marginal[*]}
sample=${sample// /,}
functions=$(ls -d functions/*/ | wc -l)

ensure_dynamodb
ensure_sqs
printf '%-10s %8s %10s %12s %8s\n' profile "first s" "marginal s" "all ${functions} s" "x86 MB" >&2
for name in "${order[@]}"; do
  read -r opt lto units <<<"${candidates[$name]}"
  dir=.local/profiles/$name
  rm -rf "$dir"
  overrides=(--config "profile.release.opt-level=$opt" --config "profile.release.lto=$lto"
             --config "profile.release.codegen-units=$units")
  echo "==> $name: the floor and $first from nothing" >&2
  start=$(date +%s.%N)
  CARGO_TARGET_DIR=$dir cargo build --release --locked "${overrides[@]}" \
    -p bench-floor -p "$first" >&2
  mid=$(date +%s.%N)
  echo "==> $name: ${marginal[*]}" >&2
  packages=()
  for f in "${marginal[@]}"; do packages+=(-p "$f"); done
  CARGO_TARGET_DIR=$dir cargo build --release --locked "${overrides[@]}" "${packages[@]}" >&2
  end=$(date +%s.%N)
  first_s=$(echo "$mid - $start" | bc)
  marginal_s=$(echo "($end - $mid) / ${#marginal[@]}" | bc -l)
  all_s=$(echo "$first_s + ($functions - 1) * $marginal_s" | bc -l)
  size=$(stat -c %s "$dir/release/$first")
  printf '%-10s %8.0f %10.1f %12.0f %8.2f\n' "$name" "$first_s" "$marginal_s" "$all_s" \
    "$(echo "$size / 1000000" | bc -l)" | tee -a .local/profiles/builds.txt >&2
  echo "==> $name: cold starts" >&2
  BENCH_BIN_DIR=$PWD/$dir/release cargo bench -p tether-tests --locked --bench functions -- \
    --only "$sample" --iterations 20 | tee ".local/profiles/$name.txt"
done
