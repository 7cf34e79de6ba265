#!/usr/bin/env bash
# The project's test command: ./scripts/test.sh [extra cargo test args]
#
# Sets up what the tests need on a Debian 12 machine with Rust, then runs the whole test suite:
#   - Debian packages (cmake, clang, libclang-dev for the `oqs` feature's liboqs and bindgen;
#     python3-venv for tlslite-ng; redis-server, softhsm2, opensc for the store and PKCS#11
#     tests): installed with apt-get when missing and running as root;
#   - OpenSSL 4 (scripts/openssl.sh) and tlslite-ng (scripts/tlslite.sh), built once and cached
#     under ~/.cache/qtls, handed to the tests as QTLS_OPENSSL and QTLS_TLSLITE_PYTHON;
#   - PKCS#11 tokens for qtls-hsm: Kryoptic (scripts/kryoptic.sh, built once against that
#     OpenSSL; needs libsqlite3-dev) as QTLS_TEST_PKCS11_MODULE, a second copy of it (an
#     independent "backup HSM" in one process) as QTLS_TEST_PKCS11_BACKUP_MODULE, and
#     SoftHSM2 as QTLS_SOFTHSM_MODULE. The tests make throwaway tokens themselves;
#   - Redis on loopback ports of its own (scripts/redis.sh): one standalone server and a
#     3-node Redis Cluster for the whole run, as QTLS_TEST_REDIS_URL and
#     QTLS_TEST_REDIS_CLUSTER, stopped when the tests end (tests that stop or restart Redis
#     start their own);
#   - QTLS_SHARED_DIR: the project's shared/ folder (default: ../shared beside the clone).
# Before the tests (when no test arguments are given), scripts/tlsfuzzer.sh runs tlsfuzzer's
# TLS 1.3 conformance scripts against `qtls server` and stock rustls (CONFORMANCE.md), and,
# where a nightly toolchain is present, scripts/fuzz.sh runs each cargo-fuzz target for
# QTLS_FUZZ_SECONDS (default 15; 0 skips; cargo-fuzz is installed from crates.io once).
# Setup output goes to ~/.cache/qtls/logs; on a failure its tail is printed.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
cache="${QTLS_CACHE:-$HOME/.cache/qtls}"
logs="$cache/logs"
mkdir -p "$logs"

say() { echo "test.sh: $*" >&2; }
fail() {
  local log=$1
  shift
  say "$* (log: $log)"
  tail -n 40 "$log" >&2 || true
  exit 1
}

# 1. Debian packages.
packages=(cmake clang libclang-dev python3-venv redis-server softhsm2 opensc libsqlite3-dev)
missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing ${missing[*]}"
    log="$logs/apt.log"
    : >"$log"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >>"$log" 2>&1 || fail "$log" "apt-get update failed"
    apt-get install -y -q --no-install-recommends "${missing[@]}" >>"$log" 2>&1 ||
      fail "$log" "apt-get install failed"
  else
    say "missing Debian packages (not root, so not installing): ${missing[*]}"
    say "  install them with: sudo apt-get install ${missing[*]}"
  fi
fi

# 2. Interop peers, cached. Under CI a failed setup is fatal; elsewhere the tests that need
# the peer skip themselves.
peer() {
  local name=$1 script=$2 log="$logs/$1.log" out
  shift 2
  if out=$("$script" "$@" 2>"$log"); then
    echo "$out"
  elif [ "${CI:-}" = true ]; then
    fail "$log" "setting up $name failed"
  else
    say "setting up $name failed (log: $log); its interop tests will be skipped"
    tail -n 10 "$log" >&2 || true
  fi
}
QTLS_OPENSSL=$(peer openssl scripts/openssl.sh)
QTLS_TLSLITE_PYTHON=$(peer tlslite scripts/tlslite.sh)
export QTLS_OPENSSL QTLS_TLSLITE_PYTHON

# PKCS#11 tokens. Kryoptic is built after OpenSSL (it links it); the backup is a copy of the
# same build, which a process loads as a second, independent module.
QTLS_TEST_PKCS11_MODULE=$(peer kryoptic scripts/kryoptic.sh)
QTLS_TEST_PKCS11_BACKUP_MODULE=
if [ -n "$QTLS_TEST_PKCS11_MODULE" ]; then
  QTLS_TEST_PKCS11_BACKUP_MODULE=$(peer kryoptic-backup scripts/kryoptic.sh backup)
fi
QTLS_SOFTHSM_MODULE=
for lib in /usr/lib/softhsm/libsofthsm2.so /usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so; do
  if [ -f "$lib" ]; then QTLS_SOFTHSM_MODULE=$lib; break; fi
done
if [ -z "$QTLS_SOFTHSM_MODULE" ] && [ "${CI:-}" = true ]; then
  say "SoftHSM2 is missing (Debian package softhsm2)"
  exit 1
fi
export QTLS_TEST_PKCS11_MODULE QTLS_TEST_PKCS11_BACKUP_MODULE QTLS_SOFTHSM_MODULE

if [ -z "${QTLS_SHARED_DIR:-}" ]; then
  top=$(git -C "$root" rev-parse --show-toplevel 2>/dev/null || echo "$root")
  QTLS_SHARED_DIR="$top/../shared"
  if [ -d "$QTLS_SHARED_DIR" ]; then QTLS_SHARED_DIR=$(cd "$QTLS_SHARED_DIR" && pwd); fi
fi
export QTLS_SHARED_DIR

if [ -n "$QTLS_OPENSSL" ]; then
  say "OpenSSL:  $QTLS_OPENSSL ($(OPENSSL_CONF="${QTLS_OPENSSL%/bin/openssl}/ssl/openssl.cnf" \
    "$QTLS_OPENSSL" version 2>/dev/null || echo '?'))"
fi
[ -z "$QTLS_TLSLITE_PYTHON" ] || say "tlslite:  $QTLS_TLSLITE_PYTHON"
[ -z "$QTLS_TEST_PKCS11_MODULE" ] || say "Kryoptic: $QTLS_TEST_PKCS11_MODULE (backup copy: $QTLS_TEST_PKCS11_BACKUP_MODULE)"
[ -z "$QTLS_SOFTHSM_MODULE" ] || say "SoftHSM2: $QTLS_SOFTHSM_MODULE"
say "shared:   $QTLS_SHARED_DIR$([ -d "$QTLS_SHARED_DIR" ] || echo ' (missing)')"

# A fresh CI machine gains nothing from incremental compilation, and its cache would take
# gigabytes of a disk the build already shares with the fuzz targets.
if [ "${CI:-}" = true ]; then export CARGO_INCREMENTAL=0; fi
say "disk:     $(df -h --output=avail "$root" | tail -n 1 | tr -d ' ') free for target/"

# 3. Redis for the fleet tests, stopped however the run ends.
redis_dir=$(mktemp -d "${TMPDIR:-/tmp}/qtls-test-redis.XXXXXX")
trap 'scripts/redis.sh stop "$redis_dir"' EXIT
if command -v redis-server >/dev/null && command -v redis-cli >/dev/null; then
  if redis_env=$(scripts/redis.sh start "$redis_dir" 2>"$logs/redis.log"); then
    while IFS= read -r line; do export "${line?}"; done <<<"$redis_env"
    say "Redis:    $QTLS_TEST_REDIS_URL, cluster $QTLS_TEST_REDIS_CLUSTER"
  elif [ "${CI:-}" = true ]; then
    fail "$logs/redis.log" "starting Redis failed"
  else
    say "starting Redis failed (log: $logs/redis.log); tests start their own"
  fi
elif [ "${CI:-}" = true ]; then
  say "redis-server is missing (Debian package redis-server)"
  exit 1
fi

# 4. The dependency tree's licences, duplicate crates and sources (deny.toml; advisories are
# left out: their database lives on a git host these machines cannot reach). cargo-deny is
# installed from crates.io once.
if ! command -v cargo-deny >/dev/null; then
  say "installing cargo-deny (once)"
  cargo install cargo-deny --locked >"$logs/cargo-deny.log" 2>&1 ||
    fail "$logs/cargo-deny.log" "installing cargo-deny failed"
fi
cargo deny --all-features check licenses bans sources 2>"$logs/deny.log" ||
  fail "$logs/deny.log" "cargo deny found a licence, ban or source problem"

# 5. tlsfuzzer against `qtls server` and stock rustls, compared with the expected failures in
# scripts/tlsfuzzer-expected/. It skips itself without the tlsfuzzer snapshot in
# $QTLS_SHARED_DIR or the tlslite venv, except under CI=true.
if [ $# -eq 0 ]; then
  scripts/tlsfuzzer.sh
else
  say "test arguments given: not running scripts/tlsfuzzer.sh"
fi

# 6. Each cargo-fuzz target for a short time where a nightly toolchain is present (FUZZING.md;
# the corpus replay in step 7 runs on stable either way). QTLS_FUZZ_SECONDS=0 skips it.
fuzz_seconds=${QTLS_FUZZ_SECONDS:-15}
if [ $# -eq 0 ] && [ "$fuzz_seconds" != 0 ] && cargo +nightly --version >/dev/null 2>&1; then
  say "fuzzing each target for ${fuzz_seconds}s (scripts/fuzz.sh; log: $logs/fuzz.log)"
  scripts/fuzz.sh "$fuzz_seconds" >"$logs/fuzz.log" 2>&1 || fail "$logs/fuzz.log" "a fuzz target failed"
  sed -n '/^target /,$p' "$logs/fuzz.log"
  # A CI machine builds everything once: the fuzz targets' build (~3 GB) is not needed
  # again, and the test build shares the disk.
  if [ "${CI:-}" = true ]; then rm -rf fuzz/target/x86_64-unknown-linux-gnu fuzz/target/release; fi
elif [ $# -eq 0 ] && [ "$fuzz_seconds" != 0 ]; then
  say "no nightly toolchain: fuzz targets not run (their corpora are replayed by cargo test)"
fi

say "disk:     $(df -h --output=avail "$root" | tail -n 1 | tr -d ' ') free before the tests"

# 7. The tests (last, so that the run ends with cargo test's summary).
cargo test --workspace --all-features --locked "$@"
