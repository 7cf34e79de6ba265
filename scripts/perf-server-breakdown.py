#!/usr/bin/env python3
"""Where the server's time goes in an in-memory handshake bench, from `perf script` output.

The benches drive a client and a server in one thread (qtls_test_support::handshake), so a
profile mixes both. This attributes each sample to the server when its stack passes through
the driver's `to_server` (the server reading and processing the client's records), through
a `write_tls` inside `to_client` (the server writing its records) or `ServerConnection::new`,
and to the client otherwise; then sorts the server's samples into what they were doing, by
the first marker found on the stack in the order below.

Usage (DWARF call graphs, so that inlined Rust frames show):
  perf record -F 999 --call-graph dwarf,32768 -o perf.data \\
      target/release/deps/server_floor-HASH --bench --profile-time 20 server-floor/handshake-server
  perf script -i perf.data | scripts/perf-server-breakdown.py
"""

import sys

# (label, substrings: the first frame containing one of them decides), checked in order.
CATEGORIES = [
    ("CertificateVerify signature", ["emit_certificate_verify", "choose_scheme"]),
    ("key exchange (hybrid group)", ["start_and_complete", "SupportedKxGroup", "ActiveKeyExchange"]),
    ("key schedule (HKDF/HMAC)", ["HkdfExpander", "Hkdf", "hkdf", "key_schedule", "HMAC"]),
    ("transcript hash (SHA-384/512)", ["sha512", "SHA512", "SHA384", "sha384", "HandshakeHash", "hash_hs"]),
    ("record protection (AES-GCM)", ["aes_", "gcm", "aead", "Aead", "encrypt", "decrypt", "EVP_AEAD"]),
    ("memcpy/memmove", ["memmove", "memcpy", "memset"]),
    ("allocation", ["malloc", "free", "realloc", "__rust_alloc", "__rust_dealloc", "cfree", "_int_"]),
    ("encoding/parsing messages", ["codec", "Codec", "encode", "read_bytes", "Reader", "decode", "MessagePayload", "deframer", "Deframer"]),
]


def samples(lines):
    frames = []
    for line in lines:
        if not line.strip():
            if frames:
                yield frames
            frames = []
        elif line.startswith(("\t", " ")):
            parts = line.strip().split(" ", 1)
            frames.append(parts[1] if len(parts) > 1 else parts[0])
        else:
            if frames:
                yield frames
            frames = []
    if frames:
        yield frames


def side(frames):
    text = "\n".join(frames)
    if "handshake::to_server" in text or "ServerConnection::new" in text:
        return "server"
    if "handshake::to_client" in text and "write_tls" in text:
        return "server"
    if "handshake::" in text or "ClientConnection::new" in text:
        return "client"
    return None


def category(frames):
    for label, markers in CATEGORIES:
        for frame in frames:
            if any(m in frame for m in markers):
                return label
    return "other (rustls state machine, ...)"


def main():
    counts = {"server": {}, "client": 0}
    outside = 0
    for frames in samples(sys.stdin):
        who = side(frames)
        if who == "server":
            label = category(frames)
            counts["server"][label] = counts["server"].get(label, 0) + 1
        elif who == "client":
            counts["client"] += 1
        else:
            outside += 1
    server = sum(counts["server"].values())
    print(
        f"samples: server {server}, client {counts['client']}, outside the handshake {outside}\n"
    )
    print("| server time in | samples | share of the server |\n|---|---:|---:|")
    for label, n in sorted(counts["server"].items(), key=lambda kv: -kv[1]):
        print(f"| {label} | {n} | {100 * n / max(server, 1):.1f} % |")


if __name__ == "__main__":
    main()
