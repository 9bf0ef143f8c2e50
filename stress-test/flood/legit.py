#!/usr/bin/env python3
"""The legitimate client of the flood benchmark (aioquic, PyPI): connects before the
flood, says so ("connected") and stays quiet until a first line on stdin ("go": the
harness has read the server's counters), then asks for one small echo every 20 ms over that
connection and measures each answer's latency; 0.3 s into the flood it also opens a fresh
connection (does the server still admit newcomers during the flood?). Runs until a second
line arrives on stdin (or 60 s), then prints one JSON object.

  legit.py HOST PORT echo|h3

echo: ALPN "echo", 64 bytes on a new bidirectional stream, read until FIN (our servers,
aioquic's echo peer). h3: ALPN "h3", GET /small (Debian's gtlsserver serves a file).
An answer missing after 2 s ($SIWA_LEGIT_TIMEOUT) counts as unanswered.
"""
import asyncio
import json
import os
import ssl
import sys
import time

from aioquic.asyncio import QuicConnectionProtocol, connect
from aioquic.h3.connection import H3_ALPN, H3Connection
from aioquic.h3.events import DataReceived, HeadersReceived
from aioquic.quic.configuration import QuicConfiguration

TIMEOUT = float(os.environ.get("SIWA_LEGIT_TIMEOUT", "2.0"))
EVERY = 0.02
SENT = [0]  # datagrams this client sent (run.py subtracts them from what the server read)


class CountingTransport:
    def __init__(self, t):
        self._t = t

    def sendto(self, data, addr=None):
        SENT[0] += 1
        return self._t.sendto(data, addr)

    def __getattr__(self, name):
        return getattr(self._t, name)


class EchoProto(QuicConnectionProtocol):
    def connection_made(self, transport):
        super().connection_made(CountingTransport(transport))


class H3Proto(EchoProto):
    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.h3 = H3Connection(self._quic)
        self.waiters = {}

    def quic_event_received(self, event):
        for ev in self.h3.handle_event(event):
            if isinstance(ev, (DataReceived, HeadersReceived)) and ev.stream_ended:
                w = self.waiters.pop(ev.stream_id, None)
                if w and not w.done():
                    w.set_result(True)

    async def get(self, host):
        sid = self._quic.get_next_available_stream_id()
        self.h3.send_headers(sid, [(b":method", b"GET"), (b":scheme", b"https"), (b":authority", host.encode()),
                                   (b":path", b"/small")], end_stream=True)
        w = asyncio.get_running_loop().create_future()
        self.waiters[sid] = w
        self.transmit()
        await w


def config(proto):
    return QuicConfiguration(is_client=True, alpn_protocols=H3_ALPN if proto == "h3" else ["echo"],
                             verify_mode=ssl.CERT_NONE, server_name="localhost", idle_timeout=60.0)


async def one(client, proto, host):
    if proto == "h3":
        await client.get(host)
        return
    reader, writer = await client.create_stream()
    writer.write(b"p" * 64)
    writer.write_eof()
    got = await reader.read()
    if len(got) != 64:
        raise RuntimeError(f"echo returned {len(got)} bytes")


async def fresh(host, port, proto, out):
    try:
        # Bounded: a newcomer that cannot connect within 5 answer timeouts (10 s) was locked out.
        await asyncio.wait_for(fresh_once(host, port, proto, out), 5 * TIMEOUT)
    except Exception as e:  # noqa: BLE001
        out["new_connection_ok"] = False
        out["new_connection_error"] = f"{type(e).__name__}: {e}"


async def fresh_once(host, port, proto, out):
    t0 = time.monotonic()
    try:
        async with connect(host, port, configuration=config(proto), create_protocol=H3Proto if proto == "h3" else EchoProto,
                           wait_connected=True) as c:
            await asyncio.wait_for(one(c, proto, host), TIMEOUT)
            out["new_connection_ms"] = round((time.monotonic() - t0) * 1000, 2)
            out["new_connection_ok"] = True
    except Exception as e:  # noqa: BLE001
        out["new_connection_ok"] = False
        out["new_connection_error"] = f"{type(e).__name__}: {e}"


async def main():
    host, port, proto = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    loop = asyncio.get_running_loop()
    lines = asyncio.Queue()   # stdin: "go" (start echoing), then "stop"
    loop.add_reader(sys.stdin, lambda: lines.put_nowait(sys.stdin.readline()))
    out = {"echoes": 0, "answered": 0, "samples": [], "new_connection_ok": None}
    t0 = time.monotonic()
    async with connect(host, port, configuration=config(proto), create_protocol=H3Proto if proto == "h3" else EchoProto) as c:
        out["handshake_ms"] = round((time.monotonic() - t0) * 1000, 2)
        await asyncio.wait_for(one(c, proto, host), 10)
        print(json.dumps({"event": "connected", "datagrams_sent": SENT[0]}), flush=True)
        # Quiet until the harness has read the server's counters (its window starts there).
        await asyncio.wait_for(lines.get(), 60)
        stop = asyncio.ensure_future(lines.get())
        start = time.monotonic()
        newcomer = None
        while not stop.done() and time.monotonic() - start < 60:
            if newcomer is None and time.monotonic() - start > 0.3:
                newcomer = asyncio.ensure_future(fresh(host, port, proto, out))
            t = time.monotonic()
            out["echoes"] += 1
            try:
                await asyncio.wait_for(one(c, proto, host), TIMEOUT)
                lat = time.monotonic() - t
                out["answered"] += 1
                out["samples"].append([round(t - start, 3), round(lat * 1000, 3)])
            except Exception:  # noqa: BLE001
                out["samples"].append([round(t - start, 3), None])
            await asyncio.sleep(max(0.0, EVERY - (time.monotonic() - t)))
        if newcomer is not None:
            await newcomer
        out["datagrams_sent"] = SENT[0]
        # Printed before closing: a close waits up to 3 PTOs, long after a flood inflated the RTT estimate.
        print(json.dumps({"event": "result", **out}), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
