#!/usr/bin/env python3
"""Side-by-side echo benchmark, one run: our native server vs aioquic's server,
each driven by our native client and by aioquic's client. Reports single-stream
echo throughput (MB/s) and echoed datagrams per second, with ratios to
"ours/ours". Bounded: fixed sizes, per-run timeouts, median of --repeat runs.

Usage: python3 stress-test/bench_echo.py [--mb 20] [--datagrams 1000] [--repeat 3] [--markdown]
"""

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "interop"))

from conftest import BIN, Server, cert_sha256_of_pem, free_udp_port, pin_args, register_cert  # noqa: E402
from aioquic_peers import make_cert, run_echo_client, start_echo_server  # noqa: E402


def our_client(port, nbytes, datagrams):
    p = subprocess.run([os.path.join(BIN, "socket-iwa-client"), "--connect", f"127.0.0.1:{port}", "--json",
                        *pin_args(port, []), "--bytes", str(nbytes), "--datagrams", str(datagrams), "--timeout", "60"],
                       capture_output=True, text=True, timeout=90)
    r = json.loads(p.stdout.strip().splitlines()[-1])
    if not r["verified"]:
        raise RuntimeError(f"our client failed: {r}")
    return r


def aio_stream(port, nbytes):
    t0 = time.perf_counter()
    r = asyncio.run(asyncio.wait_for(run_echo_client("127.0.0.1", port, streams=1, nbytes=nbytes), 90))
    dt = time.perf_counter() - t0
    if r.streams_ok != 1:
        raise RuntimeError("aioquic client: echo not verified")
    return nbytes / 1e6 / dt


def aio_datagrams(port, n):
    from aioquic.asyncio import connect
    from aioquic_peers import EchoClientProtocol, client_config

    async def go():
        async with connect("127.0.0.1", port, configuration=client_config(), create_protocol=EchoClientProtocol) as p:
            t0 = time.perf_counter()
            for seq in range(n):
                p._quic.send_datagram_frame(seq.to_bytes(8, "big") + bytes(56))
                if seq % 50 == 49:
                    p.transmit()
                    await asyncio.sleep(0)
            p.transmit()
            deadline = t0 + 5
            last = t0
            seen = 0
            while time.perf_counter() < deadline:
                if len(p.datagrams) != seen:
                    seen = len(p.datagrams)
                    last = time.perf_counter()
                if seen >= n:
                    break
                await asyncio.sleep(0.001)
            return seen / max(last - t0, 1e-9)

    return asyncio.run(asyncio.wait_for(go(), 30))


class AioServer:
    def __init__(self):
        tmp = tempfile.mkdtemp()
        cert, key = make_cert(tmp)
        self.port = free_udp_port()
        register_cert(self.port, cert_sha256_of_pem(cert))
        self.ready = threading.Event()
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self._run, args=(cert, key), daemon=True).start()
        if not self.ready.wait(10):
            raise RuntimeError("aioquic server did not start")

    def _run(self, cert, key):
        asyncio.set_event_loop(self.loop)
        self.srv = self.loop.run_until_complete(start_echo_server("127.0.0.1", self.port, cert, key))
        self.ready.set()
        self.loop.run_forever()


def median(f, repeat):
    return statistics.median(f() for _ in range(repeat))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=20)
    ap.add_argument("--datagrams", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--markdown", action="store_true")
    a = ap.parse_args()
    nbytes = a.mb * 1_000_000

    ours = Server()
    aio = AioServer()
    rows = []
    try:
        for sname, port in (("socket-iwa (native)", ours.port), ("aioquic 1.7.2", aio.port)):
            for cname in ("socket-iwa-client", "aioquic client"):
                if cname == "socket-iwa-client":
                    mbps = median(lambda: our_client(port, nbytes, 0)["throughput_mb_s"], a.repeat)
                    dps = median(lambda: our_client(port, 1000, a.datagrams)["datagram_rate"], a.repeat)
                else:
                    mbps = median(lambda: aio_stream(port, nbytes), a.repeat)
                    dps = median(lambda: aio_datagrams(port, a.datagrams), a.repeat)
                rows.append((sname, cname, mbps, dps))
    finally:
        ours.stop()
    base_mbps, base_dps = rows[0][2], rows[0][3]
    hdr = ("server", "client", "1-stream echo MB/s", "vs ours/ours", "datagrams echoed/s", "vs ours/ours")
    if a.markdown:
        print("| " + " | ".join(hdr) + " |")
        print("|---|---|---:|---:|---:|---:|")
        for s, c, m, d in rows:
            print(f"| {s} | {c} | {m:.1f} | {m / base_mbps:.2f} | {d:,.0f} | {d / base_dps:.2f} |")
    else:
        for s, c, m, d in rows:
            print(f"{s:<22}{c:<20}{m:>10.1f} MB/s {m / base_mbps:>6.2f}x {d:>10,.0f} dgram/s {d / base_dps:>6.2f}x")


if __name__ == "__main__":
    main()
