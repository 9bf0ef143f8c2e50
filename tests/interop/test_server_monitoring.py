"""The server's monitoring outputs that the demo IWA reads (docs/IWA_APP.md):
`--connections-interval` prints every live connection (peer, ALPN, age, RTT,
packets/bytes each way) and running totals; `--stop-file` stops it gracefully.
An aioquic client holds a connection open while the events are read.

Timing: every wait polls for a condition with a 20-30 s bound (the events come
every 100 ms), so a loaded CPU only makes the test slower, never wrong."""
import asyncio
import json
import os
import queue
import ssl
import tempfile
import threading
import time

from aioquic.asyncio import connect
from aioquic.quic.configuration import QuicConfiguration

from conftest import Server


def read_events(proc, q):
    for line in proc.stdout:
        if line.startswith("{"):
            q.put(json.loads(line))


def wait_event(q, pred, timeout):
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        try:
            ev = q.get(timeout=0.5)
        except queue.Empty:
            continue
        seen.append(ev.get("event"))
        if pred(ev):
            return ev
    raise AssertionError(f"no matching event within {timeout} s; saw {seen[-10:]}")


async def hold_connection(port, q):
    cfg = QuicConfiguration(is_client=True, alpn_protocols=["echo"], verify_mode=ssl.CERT_NONE)
    async with connect("127.0.0.1", port, configuration=cfg) as client:
        reader, writer = await client.create_stream()
        writer.write(b"x" * 50000)
        writer.write_eof()
        echoed = await asyncio.wait_for(reader.read(), 30)
        assert len(echoed) == 50000
        # While this connection is open, a connections event must list it with real numbers.
        ev = await asyncio.get_running_loop().run_in_executor(None, wait_event, q, lambda e: e.get("event") == "connections" and any(
            c["alpn"] == "echo" and c["established"] and c["bytes_in"] >= 40000 and c["bytes_out"] >= 40000
            and c["rtt_ms"] > 0 and c["packets_in"] > 0 for c in e["connections"]), 30)
        return ev


def test_connections_event_and_stop_file():
    stop = os.path.join(tempfile.mkdtemp(), "stop")
    srv = Server("--connections-interval", "100", "--stop-file", stop)
    q = queue.Queue()
    threading.Thread(target=read_events, args=(srv.proc, q), daemon=True).start()
    try:
        ev = asyncio.run(hold_connection(srv.port, q))
        row = next(c for c in ev["connections"] if c["alpn"] == "echo")
        assert row["peer"].startswith("127.0.0.1:")
        assert ev["totals"]["bytes_in"] >= row["bytes_in"]
        # After the client closed, the totals keep its bytes (they never go down) and the list empties.
        after = wait_event(q, lambda e: e.get("event") == "connections" and not e["connections"], 20)
        assert after["totals"]["bytes_in"] >= row["bytes_in"], after
        # The stop file: a graceful stop (a `stopped` event) and exit status 0.
        open(stop, "w").close()
        wait_event(q, lambda e: e.get("event") == "stopped", 20)
        assert srv.proc.wait(20) == 0
    finally:
        srv.stop()


def test_no_connections_event_without_the_flag():
    srv = Server("--stats-interval", "100")
    q = queue.Queue()
    threading.Thread(target=read_events, args=(srv.proc, q), daemon=True).start()
    try:
        events = []
        deadline = time.monotonic() + 20
        while events.count("stats") < 3 and time.monotonic() < deadline:
            try:
                events.append(q.get(timeout=0.5).get("event"))
            except queue.Empty:
                pass
        assert events.count("stats") >= 3, events
        assert "connections" not in events, events
    finally:
        srv.stop()
