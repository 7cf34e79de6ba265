#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for SECONDS each (default 60), one at a time, and
# prints each target's executions and coverage from libFuzzer's final stats line, for
# FUZZING.md. Needs a nightly toolchain (`cargo +nightly`); installs cargo-fuzz from
# crates.io if it is missing.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]   run (all targets, or the ones named)
#   scripts/fuzz.sh --seed                  regenerate fuzz/fixtures and the seed corpus
#
# New inputs libFuzzer finds go to fuzz/target/corpus-new/<target> (not committed); crashes
# go to fuzz/artifacts/<target>/. Add a crash's input to fuzz/corpus/<target>/ with the fix.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

if [[ "${1:-}" == "--seed" ]]; then
  exec cargo test --workspace --all-features --locked --test fuzz_corpus -- \
    --ignored generate_fuzz_corpus
fi

seconds="${1:-60}"
shift || true

if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "fuzz.sh: no nightly toolchain (cargo +nightly); skipping" >&2
  exit 0
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  cargo +nightly install cargo-fuzz --locked
fi

cd fuzz
if [[ $# -gt 0 ]]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo +nightly fuzz list)
fi
cargo +nightly fuzz build

logs="target/fuzz-logs"
mkdir -p "$logs"
status=0
printf '%-18s %14s %8s %8s %s\n' target executions cov ft result
for target in "${targets[@]}"; do
  scratch="target/corpus-new/$target"
  mkdir -p "$scratch"
  log="$logs/$target.log"
  # The scratch directory first: libFuzzer writes new inputs to the first corpus directory,
  # so the committed seeds stay as the generator wrote them.
  if cargo +nightly fuzz run "$target" "$scratch" "corpus/$target" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 \
    >"$log" 2>&1; then
    result=ok
  else
    result="FAILED (see fuzz/$log, fuzz/artifacts/$target/)"
    status=1
  fi
  execs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)"
  cov="$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*')"
  ft="$(grep -o 'ft: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*')"
  printf '%-18s %14s %8s %8s %s\n' "$target" "${execs:-?}" "${cov:-?}" "${ft:-?}" "$result"
done
exit "$status"
