#!/usr/bin/env python3
"""HTTP/3 GET /bytes/N throughput and WebTransport datagram echo rate, side by
side, on loopback: our native server, our wasm server under Node 26 (Direct
Sockets bridge), and aioquic's HTTP/3 server; clients are our Rust
socket-iwa-h3-client and aioquic's H3 client. Prints one JSON object.

    python3 tests/interop/h3_bench.py [--bytes N] [--runs R]
"""

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from conftest import BIN, Server, cert_sha256_of_pem, free_udp_port, pin_args, register_cert  # noqa: E402
from aioquic_peers import make_cert  # noqa: E402
from h3_peers import aioquic_get_throughput, aioquic_wt_datagram_rate, start_h3_server  # noqa: E402


def rust_get(port: int, n: int) -> float:
    p = subprocess.run([os.path.join(BIN, "socket-iwa-h3-client"), "--connect", f"127.0.0.1:{port}", "--json",
                        *pin_args(port, []), "--get", f"/bytes/{n}", "--timeout", "120"], capture_output=True, text=True, timeout=150)
    rep = json.loads([l for l in p.stdout.splitlines() if l.startswith("{")][-1])
    assert rep["verified"], rep
    return rep["throughput_mb_s"]


async def measure(port: int, n: int, runs: int, wt: bool) -> dict:
    rust = [await asyncio.to_thread(rust_get, port, n) for _ in range(runs)]
    aio = [await aioquic_get_throughput("127.0.0.1", port, n) for _ in range(runs)]
    out = {"rust_client_mbps": round(statistics.median(rust), 1), "aioquic_client_mbps": round(statistics.median(aio), 1)}
    if wt:
        d = await aioquic_wt_datagram_rate("127.0.0.1", port)
        out["wt_datagram_echo_per_s"] = round(d["rate"])
        out["wt_datagrams_echoed"] = f'{d["echoed"]}/{d["sent"]}'
    return out


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bytes", type=int, default=32 << 20)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--no-wasm", action="store_true")
    a = ap.parse_args()
    res = {"bytes": a.bytes, "runs": a.runs, "median_of_runs": True}
    s = Server()
    try:
        res["ours_native"] = await measure(s.port, a.bytes, a.runs, True)
    finally:
        s.stop()
    if not a.no_wasm:
        s = Server(kind="wasm-node")
        try:
            res["ours_wasm_node"] = await measure(s.port, a.bytes, a.runs, True)
        finally:
            s.stop()
    with tempfile.TemporaryDirectory() as d:
        cert, key = make_cert(d)
        port = free_udp_port()
        srv = await start_h3_server("127.0.0.1", port, cert, key)
        register_cert(port, cert_sha256_of_pem(cert))
        try:
            res["aioquic_server"] = await measure(port, a.bytes, a.runs, True)
        finally:
            srv.close()
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    asyncio.run(main())
