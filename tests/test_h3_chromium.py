"""Chromium 156's own WebTransport client (new WebTransport() with
serverCertificateHashes, from a page on http://127.0.0.1) against our h3
server, native and as wasm under Node. Loopback only."""

import json
import os
import subprocess

import pytest

from conftest import ROOT, Server

SCRIPT = os.path.join(ROOT, "tests", "interop", "h3_chromium.mjs")


@pytest.mark.parametrize("kind", ["native", "wasm-node"])
def test_chromium_webtransport(kind):
    s = Server(kind=kind)
    try:
        p = subprocess.run(["node", SCRIPT, str(s.port), s.info["cert_sha256"]], capture_output=True, text=True,
                           timeout=120, cwd=ROOT)
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
