#!/usr/bin/env python3
"""Command-line aioquic echo client for tests written in JavaScript:
prints one JSON object with what it verified.

  aioquic_cli.py --port P [--host H] [--streams N] [--bytes N] [--datagrams N] [--zero-rtt]

With --zero-rtt it connects twice: the first connection stores the server's
session ticket, the second resumes with it and sends its streams as 0-RTT.
"""
import argparse
import asyncio
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from aioquic_peers import run_echo_client  # noqa: E402


async def main(a):
    r = await run_echo_client(a.host, a.port, streams=a.streams, nbytes=a.bytes, datagrams=a.datagrams)
    out = {"streams_ok": r.streams_ok, "datagrams_echoed": r.datagrams_echoed, "resumed": r.resumed,
           "early_data_accepted": r.early_data_accepted, "ticket": r.ticket is not None}
    if a.zero_rtt:
        if r.ticket is None:
            out["error"] = "no session ticket"
        else:
            r2 = await run_echo_client(a.host, a.port, streams=1, nbytes=1000, ticket=r.ticket, early=True)
            out["second"] = {"streams_ok": r2.streams_ok, "resumed": r2.resumed,
                             "early_data_accepted": r2.early_data_accepted}
    print(json.dumps(out))


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--streams", type=int, default=1)
    ap.add_argument("--bytes", type=int, default=1024)
    ap.add_argument("--datagrams", type=int, default=0)
    ap.add_argument("--zero-rtt", action="store_true")
    args = ap.parse_args()
    asyncio.run(asyncio.wait_for(main(args), 120))
