#!/usr/bin/env bash
# Creates, once, a Python venv with tlslite-ng (an independent TLS 1.3 stack with ML-KEM hybrids
# and ML-DSA) in a cache outside the clone, and prints the path of the venv's python. Used as an
# interop peer by the tests (tests/peers/tlslite_client.py) and to run tlsfuzzer
# (scripts/tlsfuzzer.sh), which needs the same packages: tlslite-ng, ecdsa, kyber-py and
# dilithium-py, pinned here so every run tests with the same code.
#
#   QTLS_CACHE     cache root (default ~/.cache/qtls)
#   TLSLITE_NG     tlslite-ng version (default 0.9.0b2: the first with ML-DSA signatures)
#   PYTHON         interpreter to build the venv from (default python3)
set -euo pipefail
cache="${QTLS_CACHE:-$HOME/.cache/qtls}"
version="${TLSLITE_NG:-0.9.0b2}"
venv="$cache/tlslite-venv"
stamp="$venv/.qtls-tlslite-$version"
py="${PYTHON:-python3}"
# tlslite-ng's dependencies (ML-KEM, ML-DSA, ECDSA), as tested with tlslite-ng 0.9.0b2.
deps=(ecdsa==0.19.2 kyber-py==1.2.0 dilithium-py==1.5.1)

check() {
  "$venv/bin/python" - "tlslite-ng==$version" "${deps[@]}" <<'PY'
import sys
from importlib.metadata import version
for pin in sys.argv[1:]:
    name, wanted = pin.split("==")
    assert version(name) == wanted, (name, version(name), wanted)
import tlslite.api, kyber_py, dilithium_py, ecdsa  # noqa: F401
PY
}

if [ -f "$stamp" ] && [ -x "$venv/bin/python" ] && check >/dev/null 2>&1; then
  echo "$venv/bin/python"
  exit 0
fi
mkdir -p "$cache"
exec 9>"$cache/tlslite.lock"
flock 9
# Another run may have finished while this one waited for the lock.
if [ -f "$stamp" ] && [ -x "$venv/bin/python" ] && check >/dev/null 2>&1; then
  echo "$venv/bin/python"
  exit 0
fi
rm -rf "$venv"
# Debian's python3 needs the python3-venv package for ensurepip.
"$py" -m venv "$venv" >&2
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --pre \
  "tlslite-ng==$version" "${deps[@]}" >&2
check >&2
: >"$stamp"
echo "$venv/bin/python"
