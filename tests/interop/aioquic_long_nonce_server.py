#!/usr/bin/env python3
"""aioquic's echo server (aioquic_peers.start_echo_server) issuing session
tickets whose ticket_nonce is --nonce-len bytes long (RFC 8446 4.6.1 allows
0-255; rustls sends 32, aioquic itself sends 0).

TEST-ONLY PATCH OF aioquic: aioquic.tls builds its NewSessionTicket with
ticket_nonce=b"" (Context._server_handle_finished). This script replaces the
NewSessionTicket name in aioquic.tls with a factory that substitutes a nonce
of the requested length. aioquic derives the resumption PSK from the nonce it
sent (_build_session_ticket), so resumption and 0-RTT stay correct. The patch
lives only in this process; nothing is changed on disk.

Prints one JSON line {"port", "cert_sha256", "nonce_hex"} once listening, then
serves until killed. The nonce is a fixed pattern so a test can find it in a
stored session (unique per ticket is not needed: every connection has its own
resumption secret)."""

import argparse
import asyncio
import json
import os
import sys

import aioquic.tls as aioquic_tls

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def patch_nonce(length: int) -> bytes:
    nonce = bytes((i * 7 + 1) & 0xFF for i in range(length))
    original = aioquic_tls.NewSessionTicket

    def new_session_ticket(*args, **kwargs):
        if "ticket_nonce" in kwargs:  # the server building a ticket (parsing passes no arguments)
            kwargs["ticket_nonce"] = nonce
        return original(*args, **kwargs)

    aioquic_tls.NewSessionTicket = new_session_ticket
    return nonce


async def main(a):
    from aioquic_peers import make_cert, start_echo_server
    from conftest import cert_sha256_of_pem

    nonce = patch_nonce(a.nonce_len)
    cert, key = make_cert(a.dir)
    await start_echo_server("127.0.0.1", a.port, cert, key)
    print(json.dumps({"port": a.port, "cert_sha256": cert_sha256_of_pem(cert), "nonce_hex": nonce.hex()}), flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--nonce-len", type=int, required=True, choices=range(0, 256), metavar="0..255")
    ap.add_argument("--dir", required=True, help="where to write the certificate and key")
    asyncio.run(main(ap.parse_args()))
