#!/usr/bin/env bash
# The server's first flight per configuration, as BENCHMARKS.md tabulates it: bytes of
# ServerHello, Certificate, CertificateVerify (and the staple inside Certificate), the flight
# total as the client counts it, segments at 1,460 bytes, and whether it fits RFC 6928's
# initial window of 10 segments. Each configuration is a real `qtls server` on loopback,
# measured with `qtls scan --json` (its `bytes` object) over SecP384r1MLKEM1024.
#
#   scripts/first-flight.sh [QTLS_BINARY]     (default: target/debug/qtls, built if needed)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
qtls=${1:-}
if [ -z "$qtls" ]; then
  cargo build --quiet --locked --bin qtls >&2
  qtls="$root/target/debug/qtls"
fi
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }

ocsp_port=$(port)
pki() { # name profile [flags...]
  local name=$1 profile=$2; shift 2
  "$qtls" pki init --dir "$work/$name" --profile "$profile" --hosts localhost,127.0.0.1 \
    --ocsp-url "http://127.0.0.1:$ocsp_port/" "$@" >/dev/null
}
pki composite composite
pki flat composite --flat
pki mldsa65 mldsa65
pki ecdsa ecdsa-p384

row() { # label pki-dir client-flags server-flags...
  local label=$1 dir=$2 client_flags=$3; shift 3
  local p; p=$(port)
  "$qtls" server --listen "127.0.0.1:$p" --cert "$dir/server-chain.pem" --key "$dir/server.key" \
    "$@" >"$work/server-$p.log" 2>&1 &
  pids+=($!)
  wait_port "$p"
  # shellcheck disable=SC2086
  "$qtls" scan "127.0.0.1:$p" --servername localhost --ca "$dir/root.pem" --json $client_flags \
    2>/dev/null | LABEL="$label" python3 -c '
import json, os, sys
scan = json.load(sys.stdin)
b = scan["bytes"]
server = next(f["bytes"] for f in b["flights"] if f["from"] == "server")
staple = (scan.get("ocsp") or {}).get("bytes") or 0
segments = -(-server // 1460)
fits = "yes" if segments <= 10 else "no"
cells = [os.environ["LABEL"], b["server_hello"], b["certificate"], staple, b["certificate_verify"], server, segments, fits]
print("| " + " | ".join(f"{c:,}" if isinstance(c, int) else c for c in cells) + " |")'
}

echo "| configuration | ServerHello | Certificate | of which staple | CertificateVerify | server flight | segments (1,460) | fits 10 |"
echo "|---|---|---|---|---|---|---|---|"
row "ECDSA-P384 chain (classical)" "$work/ecdsa" ""
row "ML-DSA-65 chain" "$work/mldsa65" ""
row "ML-DSA-65, leaf alone (client holds the intermediate)" "$work/mldsa65" "" --send-intermediates no
row "composite MLDSA65-ECDSA-P384 chain" "$work/composite" ""
row "composite, leaf alone (client holds the intermediate)" "$work/composite" "" --send-intermediates no
row "composite, flat PKI (leaf under the root)" "$work/flat" ""

# Staples: a responder signing with the CA key itself, then with a delegated responder
# certificate (which the response carries, RFC 6960 §4.2.2.2).
for signer in ca delegated; do
  d="$work/composite"
  if [ "$signer" = ca ]; then cert="$d/intermediate.pem"; key="$d/intermediate.key"; else cert="$d/ocsp.pem"; key="$d/ocsp.key"; fi
  "$qtls" ocsp-responder --listen "127.0.0.1:$ocsp_port" --ca "$d/intermediate.pem" \
    --signer "$cert" --key "$key" --index "$d/revoked.txt" >"$work/ocsp-$signer.log" 2>&1 &
  responder=$!
  wait_port "$ocsp_port"
  row "composite chain + staple ($signer-signed)" "$d" "" --ocsp-stapling soft-fail
  row "composite leaf alone + staple ($signer-signed)" "$d" "" --ocsp-stapling soft-fail --send-intermediates no
  kill "$responder"; wait "$responder" 2>/dev/null || true
done

# Certificate compression (RFC 8879) would shrink the Certificate message by what zlib saves
# on the DER certificates (rustls's `zlib` feature uses the same DEFLATE): ML-DSA keys and
# signatures look random, so little.
echo
echo "| chain | Certificate entries (bytes) | zlib level 6 | saved |"
echo "|---|---|---|---|"
for name in ecdsa mldsa65 composite flat; do
  python3 - "$work/$name/server-chain.pem" "$name" <<'PY'
import base64, re, sys, zlib
pem = open(sys.argv[1]).read()
ders = [base64.b64decode("".join(b.split())) for b in
        re.findall(r"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", pem, re.S)]
# CertificateEntry: 3-byte length, DER, 2-byte empty extensions (RFC 8446 §4.4.2).
entries = b"".join(len(d).to_bytes(3, "big") + d + b"\0\0" for d in ders)
packed = len(zlib.compress(entries, 6))
print(f"| {sys.argv[2]} | {len(entries):,} | {packed:,} | {1 - packed / len(entries):.1%} |")
PY
done
