#!/usr/bin/env python3
"""Idle-connection soak: opens N QUIC connections (aioquic, ALPN echo) to a
running socket-iwa-server, leaves them idle, drops them without CONNECTION_CLOSE
so the server reclaims them at its idle timeout, and prints the server's RSS
before, with N connections, and after the reclaim. Used for the leak check in
docs/LIMITS.md (run the server under valgrind for that). Loopback only.

usage: idle_soak.py PORT SERVER_PID [N] [WAIT_S] [echo|h3]
With h3, each connection first makes a GET /bytes/1000 and a POST /echo.
"""
import asyncio
import os
import ssl
import sys
import time

from aioquic.asyncio.client import connect
from aioquic.quic.configuration import QuicConfiguration


def rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


async def main(port, pid, n, wait_s, alpn):
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "interop"))
    from h3_peers import H3Client
    cfg = QuicConfiguration(is_client=True, alpn_protocols=[alpn], verify_mode=ssl.CERT_NONE,
                            server_name="localhost", idle_timeout=600)
    print(f"rss_kb before: {rss(pid)}", flush=True)
    ctxs, protos = [], []
    t0 = time.monotonic()
    for i in range(n):
        cm = connect("127.0.0.1", port, configuration=cfg, wait_connected=True,
                     **({"create_protocol": H3Client} if alpn == "h3" else {}))
        p = await asyncio.wait_for(cm.__aenter__(), 60)
        if alpn == "h3":
            st, _ = await p.request("GET", "/bytes/1000")
            st2, body = await p.request("POST", "/echo", b"x" * 5000)
            assert st == 200 and st2 == 200 and body == b"x" * 5000
        ctxs.append(cm)
        protos.append(p)
    print(f"opened {n} in {time.monotonic() - t0:.1f}s; rss_kb with {n}: {rss(pid)}", flush=True)
    # Drop them silently: no CONNECTION_CLOSE, the server reclaims them at its idle timeout.
    for p in protos:
        p._transport.close()
    await asyncio.sleep(wait_s)
    print(f"rss_kb {wait_s}s after dropping: {rss(pid)}", flush=True)


if __name__ == "__main__":
    port, pid = int(sys.argv[1]), int(sys.argv[2])
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 500
    wait_s = float(sys.argv[4]) if len(sys.argv) > 4 else 5
    alpn = sys.argv[5] if len(sys.argv) > 5 else "echo"
    try:
        asyncio.run(main(port, pid, n, wait_s, alpn))
    except Exception as e:  # aioquic complains about the dropped transports on exit
        print("exit:", repr(e))
