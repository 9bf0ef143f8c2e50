#!/usr/bin/env python3
"""aioquic's server (tests/interop/aioquic_peer.py, ALPN echo) with a datagram counter, for
the flood benchmark: every datagram aioquic's QuicServer reads is counted, and a
{"event":"stats","stats":{"packets":{"datagrams":N,"bytes":B}}} line is printed every 200 ms
(the same shape as our server's --stats-interval lines; aioquic does not classify them).

  aioquic_server.py --listen H:P
"""
import asyncio
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "interop"))

from aioquic.asyncio import server as aserver  # noqa: E402

import aioquic_peer  # noqa: E402

COUNT = {"datagrams": 0, "bytes": 0}
_orig = aserver.QuicServer.datagram_received


def counted(self, data, addr):
    COUNT["datagrams"] += 1
    COUNT["bytes"] += len(data)
    return _orig(self, data, addr)


aserver.QuicServer.datagram_received = counted


async def report():
    while True:
        await asyncio.sleep(0.2)
        print(json.dumps({"event": "stats", "stats": {"packets": dict(COUNT)}}), flush=True)


_run = aioquic_peer.run_server


async def run_server(a):
    asyncio.ensure_future(report())
    await _run(a)


aioquic_peer.run_server = run_server

if __name__ == "__main__":
    sys.argv = [sys.argv[0], "server", *sys.argv[1:]]
    aioquic_peer.main()
