#!/usr/bin/env bash
# Runs tlsfuzzer's TLS 1.3 conformance scripts against `qtls server` and against stock rustls
# (examples/stock_rustls_server.rs), and compares each script's failed conversations with the
# expected-failure lists in scripts/tlsfuzzer-expected/{qtls,rustls}.txt: a new failure, or an
# expected failure that now passes, fails the run. CONFORMANCE.md explains every listed failure.
#
#   scripts/tlsfuzzer.sh [QTLS_BINARY]      (default: target/debug/qtls, built here if needed)
#
#   QTLS_SHARED_DIR         the project's shared/ folder holding the tlsfuzzer snapshot
#                           (default ../shared beside the clone)
#   QTLS_TLSLITE_PYTHON     python of the scripts/tlslite.sh venv (default: run that script)
#   QTLS_STOCK_RUSTLS       the stock rustls server (default target/debug/examples/stock_rustls_server)
#   TLSFUZZER_TARGETS       which servers to test (default "qtls rustls")
#   TLSFUZZER_SCRIPTS       run only these scripts (short names as below, space separated)
#   TLSFUZZER_SEED          seed of tlsfuzzer's random sampling of conversations (default 1), so
#                           that every run tries the same conversations
#   TLSFUZZER_LOGS          where the scripts' output goes (default ~/.cache/qtls/logs/tlsfuzzer)
#   TLSFUZZER_UPDATE=1      write the observed failures into the expected lists instead of
#                           comparing (then review the diff and explain it in CONFORMANCE.md)
#
# Without the snapshot or Python it says so and exits 0, except under CI=true, where it fails.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
say() { echo "tlsfuzzer.sh: $*" >&2; }
missing() {
  if [ "${CI:-}" = true ]; then
    say "$* (required under CI=true)"
    exit 1
  fi
  say "$*: skipping the tlsfuzzer conformance run"
  exit 0
}

if [ -z "${QTLS_SHARED_DIR:-}" ]; then
  top=$(git -C "$root" rev-parse --show-toplevel 2>/dev/null || echo "$root")
  QTLS_SHARED_DIR="$top/../shared"
fi
fuzzer="$QTLS_SHARED_DIR/tlsfuzzer"
[ -d "$fuzzer/tlsfuzzer/_apps" ] || missing "no tlsfuzzer snapshot at $fuzzer"
fuzzer=$(cd "$fuzzer" && pwd)
python="${QTLS_TLSLITE_PYTHON:-}"
if [ -z "$python" ]; then
  python=$(scripts/tlslite.sh 2>/dev/null) || missing "scripts/tlslite.sh failed (Python venv with tlslite-ng)"
fi
"$python" -c 'import tlslite, ecdsa, kyber_py, dilithium_py' 2>/dev/null ||
  missing "$python lacks tlslite-ng, ecdsa, kyber-py or dilithium-py (see scripts/tlslite.sh)"
openssl=openssl
if ! command -v openssl >/dev/null; then
  [ -n "${QTLS_OPENSSL:-}" ] || missing "no openssl to make the RSA test certificate"
  openssl=$QTLS_OPENSSL
  export OPENSSL_CONF="${QTLS_OPENSSL%/bin/openssl}/ssl/openssl.cnf"
fi

qtls="${1:-}"
stock="${QTLS_STOCK_RUSTLS:-}"
if [ -z "$qtls" ] || [ -z "$stock" ]; then
  cargo build --workspace --all-features --locked --bin qtls --example stock_rustls_server >&2
  qtls="${qtls:-$root/target/debug/qtls}"
  stock="${stock:-$root/target/debug/examples/stock_rustls_server}"
fi
targets="${TLSFUZZER_TARGETS:-qtls rustls}"
seed="${TLSFUZZER_SEED:-1}"
logs="${TLSFUZZER_LOGS:-${QTLS_CACHE:-$HOME/.cache/qtls}/logs/tlsfuzzer}"
expected_dir="$root/scripts/tlsfuzzer-expected"
mkdir -p "$logs"
rm -f "$logs"/*.log "$logs"/*.results

# Each script: short name | tlsfuzzer script | server | options [| options for qtls | options
# for rustls]. `-n 0` runs every conversation of the scripts that otherwise sample some at
# random (all of them take seconds); test-tls13-lengths and the ML-DSA script keep their
# samples (1000 lengths of many thousands, about a minute; 120 of some 26,000 flipped
# signature bits, about 20 s), the same ones in every run since the sampling is seeded.
# Servers: "main" has an RSA and an ML-DSA-65 certificate and every TLS 1.3 (and TLS 1.2)
# cipher suite; "mtls" also requests a client certificate from the ML-DSA CA; "echo" echoes
# instead of answering HTTP.
scripts=(
  "conversation|test-tls13-conversation|main|"
  "hrr|test-tls13-hrr|main|"
  "mlkem|test-tls13-mlkem|main|"
  "mldsa-in-certificate-verify|test-tls13-mldsa-in-certificate-verify|mtls|-k @PKI@/client.key -c @PKI@/client.pem|-s @QTLS_SIGALGS@|-s @RUSTLS_SIGALGS@"
  "keyupdate|test-tls13-keyupdate|main|-n 0 --coalescing"
  "finished|test-tls13-finished|main|-n 0"
  "session-resumption|test-tls13-session-resumption|main|-d --tls1.2-cipher TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
  "0rtt-garbage|test-tls13-0rtt-garbage|main|-d"
  "invalid-ciphers|test-tls13-invalid-ciphers|main|-n 0"
  "version-negotiation|test-tls13-version-negotiation|main|-n 0 -C TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
  "unrecognised-groups|test-tls13-unrecognised-groups|main|"
  "signature-algorithms|test-tls13-signature-algorithms|main|-n 0"
  "record-layer-limits|test-tls13-record-layer-limits|main|-n 0"
  "connection-abort|test-tls13-connection-abort|main|"
  "nociphers|test-tls13-nociphers|main|"
  "lengths|test-tls13-lengths|echo|"
  "ocsp-stapling|test-ocsp-stapling|main|-d --no-status"
)
wanted="${TLSFUZZER_SCRIPTS:-}"
# The signature schemes each server's CertificateRequest lists, in its order (the ML-DSA
# script checks the list exactly); composite ML-DSA (draft-ietf-lamps-pq-composite-sigs)
# by code point.
sigalgs_common="ecdsa_secp384r1_sha384 ecdsa_secp256r1_sha256 ecdsa_secp521r1_sha512 ed25519"
sigalgs_common+=" rsa_pss_rsae_sha512 rsa_pss_rsae_sha384 rsa_pss_rsae_sha256"
sigalgs_common+=" rsa_pkcs1_sha512 rsa_pkcs1_sha384 rsa_pkcs1_sha256"
# The server's CertificateRequest: the 15 composites TLS may use (0x0907-0x0909 and the
# private-use 0xFF25-0xFF36 of qtls_provider::CodePoints, in the provider's order), pure
# ML-DSA, then the classical schemes.
qtls_sigalgs="255+37 255+39 9+7 255+41 255+43 255+45 9+8 255+47 255+48 9+9 255+50 255+51"
qtls_sigalgs+=" 255+52 255+53 255+54 mldsa44 mldsa65 mldsa87 $sigalgs_common"
rustls_sigalgs="$sigalgs_common mldsa44 mldsa65 mldsa87"

work=$(mktemp -d "${TMPDIR:-/tmp}/qtls-tlsfuzzer.XXXXXX")
pids=()
cleanup() {
  local pid
  # The running tlsfuzzer scripts (`timeout` passes the signal on), their loops, the servers.
  for pid in $(cat "$work"/script-*.pid 2>/dev/null) "${loops[@]}" "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  rm -rf "$work"
}
loops=()
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Certificates: RSA (what most scripts offer: rsa_pss_rsae_*) and an ML-DSA-65 PKI whose
# client certificate the ML-DSA CertificateVerify script presents.
"$qtls" pki init --dir "$work/pki" --profile mldsa65 >"$logs/pki.log" 2>&1 ||
  { say "qtls pki init failed:"; cat "$logs/pki.log" >&2; exit 1; }
"$openssl" req -x509 -newkey rsa:2048 -nodes -keyout "$work/rsa.key" -out "$work/rsa.pem" \
  -days 30 -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
  >"$logs/rsa.log" 2>&1 || { say "openssl req failed:"; cat "$logs/rsa.log" >&2; exit 1; }

all_suites=TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256
all_suites+=:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305
all_suites+=:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-CHACHA20-POLY1305

# Starts a server on a free loopback port; sets $port.
start() {
  local name=$1 log="$logs/server-$1.log"
  shift
  : >"$log"
  "$@" >>"$log" 2>&1 &
  pids+=($!)
  for _ in $(seq 300); do
    port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$log")
    [ -n "$port" ] && return 0
    kill -0 "${pids[-1]}" 2>/dev/null || break
    sleep 0.1
  done
  say "server $name did not start:"
  cat "$log" >&2
  exit 1
}

declare -A ports
for target in $targets; do
  for role in main mtls echo; do
    case $target in
      qtls)
        cmd=("$qtls" server --listen 127.0.0.1:0 --preset compatible --cipher-suites "$all_suites"
          --cert "$work/rsa.pem" --key "$work/rsa.key"
          --cert "$work/pki/server-chain.pem" --key "$work/pki/server.key")
        [ "$role" = mtls ] && cmd+=(--client-ca "$work/pki/intermediate.pem")
        [ "$role" = echo ] && cmd+=(--echo)
        ;;
      rustls)
        cmd=("$stock" --port 0 --cert "$work/rsa.pem" --key "$work/rsa.key"
          --cert "$work/pki/server-chain.pem" --key "$work/pki/server.key")
        [ "$role" = mtls ] && cmd+=(--client-ca "$work/pki/intermediate.pem")
        [ "$role" = echo ] && cmd+=(--echo)
        ;;
      *) say "unknown target $target"; exit 1 ;;
    esac
    start "$target-$role" "${cmd[@]}"
    ports[$target-$role]=$port
  done
done

# Runs one tlsfuzzer script with its random sampling seeded (the snapshot's scripts/ are
# stubs for these modules).
run_script() {
  local module=$1
  shift
  cd "$work" && PYTHONDONTWRITEBYTECODE=1 exec timeout 900 "$python" -c '
import random, runpy, sys
sys.path.insert(0, sys.argv[1])
random.seed(int(sys.argv[2]))
module = sys.argv[3]
sys.argv = [module] + sys.argv[4:]
runpy.run_module(module, run_name="__main__", alter_sys=True)
' "$fuzzer" "$seed" "$module" "$@"
}

# Runs every selected script against one target; one line per script in $logs/TARGET.results.
run_target() {
  local target=$1 line short file role opts qtls_opts rustls_opts started status
  : >"$logs/$target.results"
  for line in "${scripts[@]}"; do
    IFS='|' read -r short file role opts qtls_opts rustls_opts <<<"$line"
    if [ -n "$wanted" ] && [[ " $wanted " != *" $short "* ]]; then continue; fi
    case $target in
      qtls) opts+=" $qtls_opts" ;;
      rustls) opts+=" $rustls_opts" ;;
    esac
    opts=${opts//@PKI@/$work/pki}
    # Lists with spaces go in one argument: split the options on spaces first.
    # shellcheck disable=SC2206 # word splitting of the options is intended
    local args=($opts)
    local i
    for i in "${!args[@]}"; do
      case ${args[$i]} in
        @QTLS_SIGALGS@) args[i]=$qtls_sigalgs ;;
        @RUSTLS_SIGALGS@) args[i]=$rustls_sigalgs ;;
      esac
    done
    started=$SECONDS
    run_script "tlsfuzzer._apps.${file//-/_}" -h 127.0.0.1 -p "${ports[$target-$role]}" \
      "${args[@]}" >"$logs/$target-$file.log" 2>&1 &
    echo $! >"$work/script-$target.pid"
    if wait $!; then
      status=0
    else
      status=$?
    fi
    echo "$file $status $((SECONDS - started))" >>"$logs/$target.results"
  done
}

say "running tlsfuzzer ($fuzzer) against: $targets; logs in $logs"
started=$SECONDS
for target in $targets; do
  run_target "$target" &
  loops+=($!)
done
for job in "${loops[@]}"; do wait "$job"; done
say "scripts finished in $((SECONDS - started)) s"

# Summarise and compare with the expected failures.
"$python" - "$logs" "$expected_dir" "${TLSFUZZER_UPDATE:-0}" $targets <<'PY'
import ast, os, re, sys

logs, expected_dir, update, targets = sys.argv[1], sys.argv[2], sys.argv[3] == "1", sys.argv[4:]

def parse(path):
    """(ran, failed, summary) of one script's output."""
    text = open(path, errors="replace").read()
    ran = set(re.findall(r"^(.*) \.\.\.$", text, re.M))
    failed, in_failed = set(), False
    for line in text.splitlines():
        if line.startswith("FAILED:"):
            in_failed = True
        elif in_failed and line.startswith("\t"):
            failed.add(ast.literal_eval(line.strip()))
        else:
            in_failed = False
    counts = dict(re.findall(r"^(TOTAL|PASS|FAIL|SKIP): (\d+)$", text, re.M))
    return ran, failed, counts

bad = False
per_script = {}
for target in targets:
    results = [l.split() for l in open(os.path.join(logs, target + ".results"))]
    expected_path = os.path.join(expected_dir, target + ".txt")
    header, expected = [], set()
    if os.path.exists(expected_path):
        for line in open(expected_path):
            if line.startswith("#") or not line.strip():
                if not expected:
                    header.append(line)
                continue
            script, _, name = line.rstrip("\n").partition(": ")
            expected.add((script, name))
    observed = set()
    for file, status, seconds in results:
        ran, failed, counts = parse(os.path.join(logs, "%s-%s.log" % (target, file)))
        if "TOTAL" not in counts:
            print("%s %s: did not finish (exit %s); see its log" % (target, file, status))
            bad = True
            per_script.setdefault(file, {})[target] = "error"
            continue
        observed |= {(file, name) for name in failed}
        per_script.setdefault(file, {})[target] = "%s/%s passed%s (%s s)" % (
            counts["PASS"], int(counts["PASS"]) + int(counts["FAIL"]),
            ", %s failed" % counts["FAIL"] if counts["FAIL"] != "0" else "", seconds)
        for name in sorted(failed):
            if (file, name) not in expected:
                print("NEW FAILURE  %s %s: %s" % (target, file, name))
                bad = bad or not update
        for script, name in sorted(expected):
            if script == file and name in ran and name not in failed:
                print("NOW PASSES   %s %s: %s (remove it from %s)" % (target, file, name, expected_path))
                bad = bad or not update
    if update:
        # Keep expectations of conversations this run did not try.
        ran_files = {r[0] for r in results}
        kept = {e for e in expected if e[0] not in ran_files}
        with open(expected_path, "w") as out:
            out.writelines(header)
            for script, name in sorted(kept | observed):
                out.write("%s: %s\n" % (script, name))
        print("wrote %s" % expected_path)

width = max(len(f) for f in per_script) if per_script else 10
print("%-*s  %s" % (width, "script", "  ".join("%-28s" % t for t in targets)))
for file in per_script:
    print("%-*s  %s" % (width, file, "  ".join("%-28s" % per_script[file].get(t, "-") for t in targets)))
if bad:
    print("tlsfuzzer.sh: the conversations' output is in %s/TARGET-SCRIPT.log; for an intended"
          " change run with TLSFUZZER_UPDATE=1 and explain it in CONFORMANCE.md" % logs)
sys.exit(1 if bad else 0)
PY
