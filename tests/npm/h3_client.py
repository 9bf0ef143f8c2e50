#!/usr/bin/env python3
"""aioquic's HTTP/3 client against the createHttp3Server that tests/npm/consumer.mjs
runs from the installed tarball (scripts/test.d/55-npm-pack.sh): one GET and one
POST on one connection; prints one JSON line with what it saw, including the
SHA-256 of the certificate the server presented, for the consumer to check.

  h3_client.py --port P [--host H] [--post-bytes N]
"""
import argparse
import asyncio
import hashlib
import json
import os
import sys

from cryptography.hazmat.primitives.serialization import Encoding

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "interop"))
from h3_peers import h3_connect  # noqa: E402


async def main(a):
    payload = os.urandom(a.post_bytes)
    async with h3_connect(a.host, a.port) as c:
        der = c._quic.tls._peer_certificate.public_bytes(Encoding.DER)
        get_status, get_body = await c.request("GET", "/hello?name=aioquic")
        post_status, post_body = await c.request("POST", "/upload", payload, extra=[(b"content-type", b"application/octet-stream")])
    print(json.dumps({
        "cert_sha256": hashlib.sha256(der).hexdigest(),
        "get": {"status": get_status, "body": get_body.decode("utf-8", "replace")},
        "post": {"status": post_status, "body": post_body.decode("utf-8", "replace"),
                 "sent_bytes": len(payload), "sent_sha256": hashlib.sha256(payload).hexdigest()},
    }), flush=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--post-bytes", type=int, default=256 * 1024)
    asyncio.run(asyncio.wait_for(main(ap.parse_args()), 60))
