"""Issue 8 defect 3: session tickets with long nonces. RFC 8446 4.6.1 allows a
ticket_nonce of 0-255 bytes (rustls sends 32); our client used to close with
CRYPTO_ERROR 0x12f (illegal_parameter) on any nonce over 8 bytes. The peer is
aioquic's server with its nonce length patched in the peer script
(tests/interop/aioquic_long_nonce_server.py says how)."""

import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT, free_udp_port, run_client

PEER = os.path.join(ROOT, "tests", "interop", "aioquic_long_nonce_server.py")


@pytest.fixture
def long_nonce_peer(request, tmp_path):
    port = free_udp_port()
    p = subprocess.Popen([sys.executable, PEER, "--port", str(port), "--nonce-len", str(request.param),
                          "--dir", str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline()
        assert line, "long-nonce peer did not start: " + p.stderr.read()
        yield json.loads(line)
    finally:
        p.kill()
        p.wait()


@pytest.mark.parametrize("long_nonce_peer", [32, 255], indirect=True)
def test_ticket_with_long_nonce_resumes_with_0rtt(long_nonce_peer, tmp_path):
    peer = long_nonce_peer
    session = str(tmp_path / "s.json")
    pin = ["--cert-hash", peer["cert_sha256"]]
    rc, first, err = run_client(peer["port"], *pin, "--session", session)
    assert rc == 0, (first, err)
    assert first["verified"] and first["resumed"] is False
    # The session file (wolfSSL i2d) carries the whole nonce...
    with open(session) as f:
        assert peer["nonce_hex"] in json.load(f)["tls_session"]
    # ...and decodes (d2i) into a session that resumes with 0-RTT.
    rc, second, err = run_client(peer["port"], *pin, "--session", session, "--bytes", "3000")
    assert rc == 0, (second, err)
    assert second["verified"] and second["resumed"] is True
    assert second["early_data"] == "accepted"
