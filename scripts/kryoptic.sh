#!/usr/bin/env bash
# Builds Kryoptic (a PKCS#11 3.2 soft token with ML-DSA, ML-KEM, ECDSA and AES-GCM) from the
# crates.io `kryoptic` crate, once, into a cache outside the clone, and prints the path of its
# PKCS#11 module (libkryoptic_pkcs11.so). Used as the primary test token of qtls-hsm.
#
# Kryoptic links OpenSSL 3.5 or later for its crypto: this builds it against the static
# OpenSSL 4 of scripts/openssl.sh (through pkg-config), so the module carries libcrypto inside
# and needs nothing from the system at run time. Needs Debian clang, libclang-dev (bindgen)
# and libsqlite3-dev (the token store).
#
#   scripts/kryoptic.sh           prints the module's path
#   scripts/kryoptic.sh backup    prints the path of a second copy of the module, which a
#                                 process loads as an independent module (its own state and
#                                 C_Initialize): the tests' "backup HSM"
#
#   QTLS_CACHE     cache root (default ~/.cache/qtls)
#   KRYOPTIC       kryoptic crate version (default 1.5.4)
#   OPENSSL_SRC    passed on to scripts/openssl.sh
set -euo pipefail
want="${1:-primary}"
here=$(cd "$(dirname "$0")" && pwd)
cache="${QTLS_CACHE:-$HOME/.cache/qtls}"
version="${KRYOPTIC:-1.5.4}"
prefix="$cache/kryoptic-$version"
module="$prefix/libkryoptic_pkcs11.so"
stamp="$prefix/.built"

# A working module answers C_GetInfo through pkcs11-tool for a throwaway, empty token
# configuration (Kryoptic reads its slots from KRYOPTIC_CONF).
check() {
  local dir
  dir=$(mktemp -d)
  printf '[[slots]]\nslot = 1\ndbtype = "sqlite"\ndbargs = "%s/t.sql"\n' "$dir" >"$dir/t.conf"
  local ok=0
  if command -v pkcs11-tool >/dev/null; then
    KRYOPTIC_CONF="$dir/t.conf" pkcs11-tool --module "$module" --show-info 2>&1 |
      grep -qi kryoptic || ok=1
  fi
  rm -rf "$dir"
  return $ok
}
installed() { [ -f "$stamp" ] && [ -f "$module" ] && check >/dev/null 2>&1; }

# The module's path, or its backup copy's (made from the verified module, atomically).
finish() {
  if [ "$want" = backup ]; then
    local copy="$prefix/backup/libkryoptic_pkcs11.so"
    if ! cmp -s "$module" "$copy" 2>/dev/null; then
      mkdir -p "$prefix/backup"
      cp "$module" "$copy.tmp.$$"
      mv "$copy.tmp.$$" "$copy"
    fi
    echo "$copy"
  else
    echo "$module"
  fi
  exit 0
}

if installed; then
  finish
fi
mkdir -p "$cache"
# One build at a time; a run that waited here finds the finished module.
exec 9>"$cache/kryoptic-$version.lock"
flock 9
if installed; then
  finish
fi

openssl=$("$here/openssl.sh")
openssl_prefix="${openssl%/bin/openssl}"

work=$(mktemp -d "$cache/kryoptic-build.XXXXXX")
trap 'rm -rf "$work"' EXIT
# Fetch the crate's source through cargo, so only crates.io is needed.
mkdir -p "$work/fetch/src"
cat >"$work/fetch/Cargo.toml" <<TOML
[package]
name = "fetch-kryoptic"
version = "0.0.0"
edition = "2021"
[dependencies]
kryoptic = { version = "=$version", default-features = false }
TOML
echo 'fn main() {}' >"$work/fetch/src/main.rs"
(cd "$work/fetch" && cargo fetch --quiet) >&2
src=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/kryoptic-"$version" | head -n 1)
cp -r "$src" "$work/kryoptic"
cd "$work/kryoptic"
# The published crate is its own workspace root; keep the build out of any parent workspace.
libclang=$(ls -d /usr/lib/llvm-*/lib 2>/dev/null | sort -V | tail -n 1 || true)
echo "building kryoptic $version against $openssl_prefix (log: $work/build.log)" >&2
PKG_CONFIG_PATH="$openssl_prefix/lib/pkgconfig" LIBCLANG_PATH="${LIBCLANG_PATH:-$libclang}" \
  CARGO_TARGET_DIR="$work/target" \
  cargo build --release --features pqc -j2 >"$work/build.log" 2>&1 ||
  { tail -50 "$work/build.log" >&2; exit 1; }
mkdir -p "$prefix"
cp "$work/target/release/libkryoptic_pkcs11.so" "$module.tmp"
mv "$module.tmp" "$module"
check >&2 || { echo "the built module does not answer C_GetInfo" >&2; exit 1; }
# The stamp is written last: it marks a finished, verified install.
: >"$stamp"
finish
