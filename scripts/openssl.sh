#!/usr/bin/env bash
# Builds OpenSSL 4.x from the `openssl-src` crate's source, once, into a cache outside the
# clone, and prints the path of its `openssl` binary. Used as the interop peer by the tests.
#
#   QTLS_CACHE     cache root (default ~/.cache/qtls)
#   OPENSSL_SRC    openssl-src crate version (default 400.0.2, i.e. OpenSSL 4.0.3)
set -euo pipefail
cache="${QTLS_CACHE:-$HOME/.cache/qtls}"
version="${OPENSSL_SRC:-400.0.2}"
prefix="$cache/openssl-$version"
# The empty openssl.cnf is written last: it marks a finished install.
installed() {
  [ -x "$prefix/bin/openssl" ] && [ -f "$prefix/ssl/openssl.cnf" ] &&
    OPENSSL_CONF="$prefix/ssl/openssl.cnf" "$prefix/bin/openssl" version >/dev/null 2>&1
}
if installed; then
  echo "$prefix/bin/openssl"
  exit 0
fi
mkdir -p "$cache"
# One build at a time; a run that waited here finds the finished install.
exec 9>"$cache/openssl-$version.lock"
flock 9
if installed; then
  echo "$prefix/bin/openssl"
  exit 0
fi
work=$(mktemp -d "$cache/openssl-build.XXXXXX")
trap 'rm -rf "$work"' EXIT
# Fetch the crate's source through cargo, so only crates.io is needed.
mkdir -p "$work/fetch/src"
cat >"$work/fetch/Cargo.toml" <<TOML
[package]
name = "fetch-openssl-src"
version = "0.0.0"
edition = "2021"
[dependencies]
openssl-src = "=$version"
TOML
echo 'fn main() {}' >"$work/fetch/src/main.rs"
(cd "$work/fetch" && cargo fetch --quiet) >&2
src=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/openssl-src-"$version"*/openssl | head -n 1)
cp -r "$src" "$work/openssl"
cd "$work/openssl"
# Static only: the crate's copy lacks util/providers.num and util/mkdef.pl, which a shared
# or module build needs.
./Configure --prefix="$prefix" --openssldir="$prefix/ssl" --libdir=lib \
  no-shared no-module no-docs no-tests >&2
make -j"$(nproc)" >"$work/make.log" 2>&1 || { tail -50 "$work/make.log" >&2; exit 1; }
make install_sw >"$work/install.log" 2>&1 || { tail -50 "$work/install.log" >&2; exit 1; }
mkdir -p "$prefix/ssl"
# The source ships no openssl.cnf; an empty one keeps the apps from warning.
: >"$prefix/ssl/openssl.cnf"
echo "$prefix/bin/openssl"
