"""Stream limits (issue 8, defect 1): a peer may open far more streams over a
connection's lifetime than the initial limit (128 bidirectional), because the
server raises the limit with MAX_STREAMS as streams close. Before the fix the
server never sent MAX_STREAMS (it mistook which streams were the peer's), so
the 129th stream, and the 129th HTTP/3 request, stalled.

1,000 echo streams over one connection (opened as the limit allows, every byte
verified) and 1,000 sequential HTTP/3 requests on one connection, against our
native server, our wasm server under Node, aioquic's client and aioquic's server."""

import asyncio
import json
import os
import subprocess

from aioquic_peers import run_echo_client
from aioquic_rebind import echo_server_thread
from conftest import BIN, Server, pin_args, run_client
from h3_peers import bytes_pattern, h3_connect

STREAMS = 1000
REQUESTS = 1000
INITIAL_LIMIT = 128  # ConnectionConfig::max_streams_bidi, and aioquic's default


def aio(coro, timeout=120):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def check_our_client(rc, rep, err):
    assert rc == 0, err
    assert rep["verified"], rep
    assert rep["streams_completed"] == STREAMS and rep["bytes_echoed"] == STREAMS * 8192
    # The limit started at 128 and the client opened more each time MAX_STREAMS raised it.
    assert rep["peer_max_streams_bidi"] >= STREAMS, rep
    assert rep["stream_limit_raises"] > 0, rep


def test_our_client_1000_streams_to_our_server(server):
    rc, rep, err = run_client(server.port, "--streams", str(STREAMS), "--bytes", "8192", "--timeout", "60", timeout=90)
    check_our_client(rc, rep, err)


def test_our_client_1000_streams_to_wasm_server():
    # The same Rust server built for wasm32-unknown-emscripten, under Node 26 (as in test_wasm_server.py).
    s = Server(kind="wasm-node")
    try:
        rc, rep, err = run_client(s.port, "--streams", str(STREAMS), "--bytes", "8192", "--timeout", "90", timeout=120)
        check_our_client(rc, rep, err)
    finally:
        s.stop()


def test_aioquic_client_1000_streams_to_our_server(server):
    # aioquic queues streams beyond the peer's limit and sends them as MAX_STREAMS arrives.
    # 2 KiB per stream: aioquic is pure Python and the stream count is what matters here.
    r = aio(run_echo_client("127.0.0.1", server.port, streams=STREAMS, nbytes=2048, timeout=60))
    assert r.terminated is None or r.terminated.error_code == 0
    assert r.streams_ok == STREAMS


def test_our_client_1000_streams_to_aioquic_server():
    with echo_server_thread() as port:
        rc, rep, err = run_client(port, "--streams", str(STREAMS), "--bytes", "8192", "--timeout", "60", timeout=90)
    check_our_client(rc, rep, err)


def test_aioquic_h3_client_1000_sequential_requests(server):
    async def go():
        async with h3_connect("127.0.0.1", server.port) as c:
            ok = 0
            for i in range(REQUESTS):
                n = 100 + i % 50
                st, body = await c.request("GET", f"/bytes/{n}")
                assert st == 200 and body == bytes_pattern(n), f"request {i}: status {st}, {len(body)} bytes"
                ok += 1
            return ok, c._quic._remote_max_streams_bidi
    ok, limit = aio(go())
    assert ok == REQUESTS
    assert limit >= REQUESTS, f"server raised the stream limit only to {limit}"


def test_our_h3_client_1000_sequential_requests(server):
    p = subprocess.run([os.path.join(BIN, "socket-iwa-h3-client"), "--connect", f"127.0.0.1:{server.port}", "--json",
                        *pin_args(server.port, []), "--get", "/bytes/100", "--repeat", str(REQUESTS), "--concurrency", "1", "--timeout", "60"],
                       capture_output=True, text=True, timeout=90)
    rep = json.loads(p.stdout.splitlines()[-1]) if p.stdout.strip() else {}
    assert p.returncode == 0, f"{rep.get('completed')} of {REQUESTS} completed: {rep.get('error')} {p.stderr[-1000:]}"
    assert rep["requests"] == REQUESTS and rep["completed"] == REQUESTS and rep["verified"]
    assert all(r["status"] == 200 and r["bytes"] == 100 for r in rep["responses"])
