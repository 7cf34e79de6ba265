#!/usr/bin/env python3
"""A tlslite-ng TLS 1.3 client that sends a broken client Finished, used by tests/scenarios.rs
(the design's scenario 6). Run it with the venv python that scripts/tlslite.sh prints.

--tamper finished: the Finished message carries a wrong verify_data (its first byte flipped)
                   inside a correctly protected record: the server must answer decrypt_error.
--tamper record:   the Finished is right but one bit of its record's AEAD tag is flipped on the
                   wire: the record does not decrypt and the server must answer bad_record_mac.

The client handshakes (tlslite-ng does not wait for anything after its Finished), sends
`GET / HTTP/1.0`, and reads until the server's alert arrives. It prints one JSON line:

  {"tamper": "finished", "handshake_done": true, "alert": "decrypt_error", "alert_code": 51,
   "response": null}

"alert" is the alert the server sent (null if none arrived); "response" the first bytes the
server answered with if it accepted the connection. Exits 0 when an alert was received, 1
otherwise.
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
    p.add_argument("--group", default="secp384r1mlkem1024")
    p.add_argument("--sig", default="mldsa65")
    p.add_argument("--tamper", choices=["finished", "record"], required=True)
    p.add_argument("--timeout", type=float, default=20.0, help="socket timeout in seconds")
    return p.parse_args()


class TagFlippingSocket:
    """Wraps a socket; flips the last bit (in the AEAD tag) of the first protected record
    (content type application_data, 0x17) the client sends: in TLS 1.3 without a client
    certificate, that is the record holding the client Finished."""

    def __init__(self, sock):
        self._sock = sock
        self.flipped = False

    def send(self, data):
        data = bytearray(data)
        # tlslite-ng may write several records at once (ChangeCipherSpec + Finished).
        offset = 0
        while not self.flipped and offset + 5 <= len(data):
            length = (data[offset + 3] << 8) | data[offset + 4]
            end = offset + 5 + length
            if data[offset] == 0x17 and end <= len(data):
                data[end - 1] ^= 0x01
                self.flipped = True
            offset = end
        self._sock.sendall(bytes(data))
        return len(data)

    def sendall(self, data):
        self.send(data)

    def __getattr__(self, name):
        return getattr(self._sock, name)


def corrupt_finished():
    """Makes every Finished message this process creates carry a wrong verify_data. The
    client creates exactly one in a TLS 1.3 handshake: its own."""
    from tlslite import messages

    original = messages.Finished.create

    def create(self, verify_data):
        bad = bytearray(verify_data)
        bad[0] ^= 0xFF
        return original(self, bad)

    messages.Finished.create = create


def settings_for(group, sig):
    from tlslite.api import HandshakeSettings

    hs = HandshakeSettings()
    hs.eccCurves = [group]
    hs.keyShares = [group]
    hs.dhGroups = []
    hs.minVersion = (3, 4)
    hs.maxVersion = (3, 4)
    hs.rsaSigHashes = []
    hs.dsaSigHashes = []
    hs.ecdsaSigHashes = []
    hs.more_sig_schemes = [sig]
    return hs


def main():
    args = parse_args()
    from tlslite.api import TLSConnection
    from tlslite.constants import AlertDescription
    from tlslite.errors import TLSRemoteAlert, TLSAbruptCloseError

    out = {"tamper": args.tamper, "handshake_done": False, "alert": None, "alert_code": None,
           "response": None}
    try:
        sock = socket.create_connection((args.host, args.port), timeout=args.timeout)
        sock.settimeout(args.timeout)
        if args.tamper == "record":
            sock = TagFlippingSocket(sock)
        else:
            corrupt_finished()
        conn = TLSConnection(sock)
        try:
            conn.handshakeClientCert(settings=settings_for(args.group, args.sig),
                                     serverName=args.servername)
            out["handshake_done"] = True
            conn.write(("GET / HTTP/1.0\r\nHost: %s\r\n\r\n" % args.servername).encode())
            response = bytearray()
            while len(response) < 1 << 16:
                data = conn.read()
                if not data:
                    break
                response += data
            out["response"] = bytes(response[:200]).decode("latin-1")
        except TLSRemoteAlert as alert:
            out["alert_code"] = alert.description
            out["alert"] = AlertDescription.toRepr(alert.description)
        except TLSAbruptCloseError:
            out["error"] = "closed without an alert"
    except Exception as e:  # report every failure the same way
        traceback.print_exc(file=sys.stderr)
        out["error"] = "%s: %s" % (type(e).__name__, e)
    print(json.dumps(out), flush=True)
    return 0 if out["alert"] else 1


if __name__ == "__main__":
    sys.exit(main())
