#!/usr/bin/env python3
"""A small TLS 1.3 client on tlslite-ng (an independent Python TLS stack), used as an interop
peer by tests/interop_tlslite.rs. Run it with the venv python that scripts/tlslite.sh prints.

It offers one key-exchange group (and a key share for it) and one signature scheme, handshakes,
sends `GET / HTTP/1.0`, reads the response until the server closes, and prints one JSON line:

  {"group": "secp384r1mlkem1024", "signature_scheme": "mldsa65",
   "cipher_suite": "TLS_AES_256_GCM_SHA384", "protocol": "TLS 1.3",
   "status_line": "HTTP/1.0 200 OK", "chain_verified": true, "server_json": {...}|null}

Names are tlslite-ng's: groups secp384r1mlkem1024, x25519mlkem768, secp256r1mlkem768, x25519,
...; signature schemes mldsa44/65/87, Ed25519, ... or ecdsa_sha256/384/512.

--cafile: tlslite-ng does no certificate path validation of its own, so this client checks the
signatures along the presented chain up to a certificate of the CA file (ML-DSA and ECDSA
issuers). It does not check names, validity dates or extensions.

Exits 1 (with the error on stderr, and a JSON line with "error") when anything fails.
"""
import argparse
import json
import socket
import sys
import traceback


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--servername", default="localhost")
    p.add_argument("--cafile", default=None)
    p.add_argument("--group", default="secp384r1mlkem1024")
    p.add_argument("--sig", default="mldsa65")
    p.add_argument("--timeout", type=float, default=20.0, help="socket timeout in seconds")
    return p.parse_args()


def settings_for(group, sig):
    from tlslite.api import HandshakeSettings

    hs = HandshakeSettings()
    hs.eccCurves = [group]
    hs.keyShares = [group]
    hs.dhGroups = []
    hs.minVersion = (3, 4)
    hs.maxVersion = (3, 4)
    # Offer exactly one signature scheme.
    hs.rsaSigHashes = []
    hs.dsaSigHashes = []
    if sig.startswith("ecdsa_"):
        hs.ecdsaSigHashes = [sig[len("ecdsa_"):]]
        hs.more_sig_schemes = []
    else:
        hs.ecdsaSigHashes = []
        hs.more_sig_schemes = [sig]
    return hs


def verify_chain(chain, cafile):
    """Checks each certificate's signature with its issuer's key, up to a CA-file certificate."""
    from tlslite.api import X509, X509CertChain
    from tlslite.constants import HashAlgorithm, SignatureAlgorithm
    from tlslite.utils.asn1parser import ASN1Parser

    with open(cafile) as f:
        roots = X509CertChain()
        roots.parsePemList(f.read())
    if not roots.x509List:
        raise ValueError("no certificate in %s" % cafile)

    def check_sig(cert, issuer):
        parser = ASN1Parser(cert.bytes)
        tbs = parser.getChildBytes(0)
        bits = parser.getChild(2).value
        if bits[0] != 0:
            raise ValueError("signature BIT STRING has unused bits")
        sig = bits[1:]
        key = issuer.publicKey
        if issuer.certAlg in ("mldsa44", "mldsa65", "mldsa87"):
            ok = key.hashAndVerify(sig, tbs)
        elif issuer.certAlg == "ecdsa" and isinstance(cert.sigalg, tuple) \
                and cert.sigalg[1] == SignatureAlgorithm.ecdsa:
            ok = key.hashAndVerify(sig, tbs, hAlg=HashAlgorithm.toRepr(cert.sigalg[0]))
        else:
            raise ValueError("chain check: unsupported issuer key %r" % issuer.certAlg)
        if not ok:
            raise ValueError("certificate signature does not verify")

    certs = list(chain.x509List)
    if not certs:
        raise ValueError("server sent no certificate")
    for i, cert in enumerate(certs):
        root = next((r for r in roots.x509List if r.subject == cert.issuer), None)
        if root is not None:
            check_sig(cert, root)
            return True
        if cert in roots.x509List:
            return True
        if i + 1 >= len(certs) or certs[i + 1].subject != cert.issuer:
            raise ValueError("chain does not lead to a certificate of %s" % cafile)
        check_sig(cert, certs[i + 1])
    raise ValueError("chain does not lead to a certificate of %s" % cafile)


def main():
    args = parse_args()
    from tlslite.api import TLSConnection
    from tlslite.constants import CipherSuite, GroupName, SignatureScheme
    from tlslite.errors import TLSAbruptCloseError

    out = {"group": None, "signature_scheme": None, "cipher_suite": None, "protocol": None,
           "status_line": None, "chain_verified": False, "server_json": None}
    try:
        sock = socket.create_connection((args.host, args.port), timeout=args.timeout)
        sock.settimeout(args.timeout)
        conn = TLSConnection(sock)
        conn.handshakeClientCert(settings=settings_for(args.group, args.sig),
                                 serverName=args.servername)
        out["group"] = GroupName.toRepr(conn.ecdhCurve)
        sig = conn.serverSigAlg
        out["signature_scheme"] = SignatureScheme.toRepr(sig) if sig is not None else None
        suite = conn.session.cipherSuite
        out["cipher_suite"] = CipherSuite.ietfNames.get(suite, "0x%04x" % suite)
        out["protocol"] = conn.getVersionName()
        if args.cafile:
            out["chain_verified"] = verify_chain(conn.session.serverCertChain, args.cafile)

        conn.write(("GET / HTTP/1.0\r\nHost: %s\r\n\r\n" % args.servername).encode())
        response = bytearray()
        while len(response) < 1 << 20:
            try:
                data = conn.read()
            except TLSAbruptCloseError:
                break  # closed without close_notify; what was read still counts
            if not data:
                break
            response += data
        try:
            conn.close()
        except Exception:
            pass
        if not response:
            raise ValueError("no HTTP response")
        head, _, body = bytes(response).partition(b"\r\n\r\n")
        out["status_line"] = head.split(b"\r\n", 1)[0].decode("latin-1")
        try:
            out["server_json"] = json.loads(body.decode())
        except ValueError:
            pass
    except Exception as e:  # report every failure the same way
        traceback.print_exc(file=sys.stderr)
        out["error"] = "%s: %s" % (type(e).__name__, e)
        print(json.dumps(out), flush=True)
        return 1
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
