"""Which TLS 1.3 cipher suite each side ends up with (docs/TLS.md "Cipher suites").

The wasm build prefers ChaCha20-Poly1305 (no AES instructions in wasm; its
ChaCha20 runs in wasm SIMD), the native build AES-GCM. The native server follows
the client's order, so a client that puts ChaCha20 first (our wasm client, or
aioquic told to) gets it; the wasm server keeps its own order. Checked from both
ends: aioquic's own key schedule, and the `cipher_suite` our clients report."""

import asyncio
import json
import os
import subprocess

from aioquic.asyncio import connect
from aioquic.tls import CipherSuite

from aioquic_peers import client_config
from conftest import NODE26, ROOT, WASM_DIR, Server, pin_args, run_client

AES128 = CipherSuite.AES_128_GCM_SHA256
AES256 = CipherSuite.AES_256_GCM_SHA384
CHACHA = CipherSuite.CHACHA20_POLY1305_SHA256


def aioquic_suite(port, suites=None):
    """The suite aioquic's client negotiated with the server at `port`."""
    async def go():
        cfg = client_config("echo")
        if suites:
            cfg.cipher_suites = suites
        async with connect("127.0.0.1", port, configuration=cfg) as proto:
            await proto.wait_connected()
            return proto._quic.tls.key_schedule.cipher_suite
    return asyncio.run(asyncio.wait_for(go(), 30))


def test_native_server_follows_the_clients_order():
    s = Server()
    try:
        assert aioquic_suite(s.port) == AES256                      # aioquic's default order: AES-256 first
        assert aioquic_suite(s.port, [CHACHA, AES128]) == CHACHA    # the client's first choice wins
        assert aioquic_suite(s.port, [AES256, CHACHA]) == AES256
        rc, report, err = run_client(s.port)
        assert rc == 0, err
        assert report["cipher_suite"] == "TLS_AES_128_GCM_SHA256"   # our native client: AES first
    finally:
        s.stop()


def test_wasm_client_gets_chacha20_from_the_native_server():
    # Our client built for wasm32, under Node 26 on the Direct Sockets bridge.
    glue = os.path.join(WASM_DIR, "socket-iwa-client.js")
    assert os.path.exists(glue), f"{glue} is missing: build with cargo build --release --target wasm32-unknown-emscripten"
    s = Server()
    try:
        p = subprocess.run([NODE26, os.path.join(ROOT, "emscripten", "run-node.mjs"), glue,
                            "--connect", f"127.0.0.1:{s.port}", "--json", "--bytes", "262144", *pin_args(s.port, ())],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        report = json.loads([l for l in p.stdout.splitlines() if l.startswith("{")][-1])
        assert report["verified"], report
        assert report["cipher_suite"] == "TLS_CHACHA20_POLY1305_SHA256", report
        # The server logs the same suite once the connection has closed (after its drain period).
        closed = s.closed_events(1)
        assert [c["cipher_suite"] for c in closed] == ["TLS_CHACHA20_POLY1305_SHA256"], closed
    finally:
        s.stop()


def test_wasm_server_keeps_its_own_order():
    s = Server(kind="wasm-node")
    try:
        assert aioquic_suite(s.port) == CHACHA                      # aioquic offers AES-128 first
        assert aioquic_suite(s.port, [AES256, AES128]) == AES128    # without ChaCha20: our order, AES-128 before AES-256
        rc, report, err = run_client(s.port)                        # our native client, AES first
        assert rc == 0, err
        assert report["cipher_suite"] == "TLS_CHACHA20_POLY1305_SHA256"
    finally:
        s.stop()
