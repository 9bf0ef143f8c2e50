"""Chromium 156's own WebTransport client (new WebTransport() with
serverCertificateHashes, from a page on http://127.0.0.1) against our h3
server, native and as wasm under Node. Loopback only."""

import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT, Server

sys.path.insert(0, os.path.join(ROOT, "tests", "interop"))
from udp_relay import UdpRelay  # noqa: E402

SCRIPT = os.path.join(ROOT, "tests", "interop", "h3_chromium.mjs")


@pytest.mark.parametrize("kind", ["native", "wasm-node"])
def test_chromium_webtransport(kind):
    s = Server(kind=kind)
    try:
        with UdpRelay(("127.0.0.1", s.port)) as relay:
            p = subprocess.run(["node", SCRIPT, str(relay.port), s.info["cert_sha256"]], capture_output=True,
                               text=True, timeout=120, cwd=ROOT)
        # Chromium offers QUIC v1 only, so our v2-preferring server stays in v1 (docs/INTEROP.md).
        rr = relay.report()
        assert rr["c2s_versions"] == ["0x1"] and rr["s2c_versions"] == ["0x1"], rr
        lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
        assert lines, p.stderr
        r = json.loads(lines[-1])
        assert r.get("error") is None, r
        assert r["ready"] is True
        assert r["datagram"] == "chromium-datagram"
        assert r["bidi_len"] == 100000
        assert r["uni"] == "chromium-uni"
        assert r["closed"]["closeCode"] == 7
        assert s.alive()
    finally:
        s.stop()


def spki_sha256_b64(pem_path: str) -> str:
    import base64
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    cert = x509.load_pem_x509_certificate(open(pem_path, "rb").read())
    d = hashes.Hash(hashes.SHA256())
    d.update(cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo))
    return base64.b64encode(d.finalize()).decode()


def test_chromium_fetch_over_http3(tmp_path):
    """Chromium's HTTP/3 stack (QUIC forced for the origin, certificate allowed by
    its SPKI hash) loads our info page and fetch()es /bytes/N, POST /echo, a 404."""
    pem = str(tmp_path / "cert.pem")
    s = Server("--write-cert", pem)
    try:
        p = subprocess.run(["node", os.path.join(ROOT, "tests", "interop", "h3_chromium_fetch.mjs"), str(s.port),
                            spki_sha256_b64(pem)], capture_output=True, text=True, timeout=120, cwd=ROOT)
        lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
        assert lines, p.stderr
        r = json.loads(lines[-1])
        assert r.get("error") is None, r
        assert r["page_status"] == 200 and r["page_text"] == "socket-iwa HTTP/3"
        assert r["get_status"] == 200 and r["get_len"] == 100000 and r["get_ok"]
        assert r["post_status"] == 200 and r["post_ok"]
        assert r["missing_status"] == 404
        assert r["protocols"] == ["h3"]
        assert s.alive()
    finally:
        s.stop()
    assert s.proc.returncode == 0, s.proc.stderr.read()
