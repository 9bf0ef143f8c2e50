#!/usr/bin/env python3
"""aioquic's plain QUIC client (no HTTP/3) with custom ALPNs, for servers made with
SocketIWA.createQuicServer: the Peer used by test_js_quic_server.py, and a command line
for tests written in JavaScript (tests/iwa/js_quic_server_iwa.test.mjs), which prints one
JSON object with what it saw. The server side is the echo app of tests/js_servers/
(bidi streams echoed on themselves, each uni stream answered on a new server uni stream,
datagrams echoed).

  aioquic_alpn.py echo    --port P --alpn A [--alpn B ...] [--streams N] [--uni-bytes N]
                          [--datagrams N] [--save-ticket FILE]
  aioquic_alpn.py early   --port P --alpn A --ticket FILE [--streams N] [--save-ticket FILE]
  aioquic_alpn.py refused --port P --alpn A [--alpn B ...]

echo: N bidi streams (100 at a time), one uni stream, datagrams; `cert_sha256` is the
SHA-256 of the certificate aioquic received. early: resumes with the saved ticket and sends
its N streams before the handshake completes; reports whether TLS resumed, whether the
server accepted early data, which streams travelled in 0-RTT packets (from aioquic's
qlog events) and whether each was echoed. refused: the CONNECTION_CLOSE the server sent.
"""

import argparse
import asyncio
import hashlib
import json
import pickle
import ssl
import time

from aioquic.asyncio import connect
from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.connection import QuicConnection
from aioquic.quic.events import (ConnectionTerminated, DatagramFrameReceived, HandshakeCompleted,
                                 StopSendingReceived, StreamDataReceived, StreamReset)
from aioquic.quic.logger import QuicLogger

STEP = 15.0  # seconds any single wait may take (the machine is shared: generous on purpose)
NO_APPLICATION_PROTOCOL = 0x100 + 120  # CRYPTO_ERROR carrying TLS alert 120 (RFC 9001 section 4.8)


class Peer(QuicConnectionProtocol):
    """aioquic's QUIC client, recording what each stream got."""

    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.data = {}
        self.ended = set()
        self.resets = {}
        self.stops = {}
        self.datagrams = []
        self.terminated = None
        self.handshake_done = False
        self.changed = asyncio.Event()

    def quic_event_received(self, event):
        if isinstance(event, StreamDataReceived):
            self.data.setdefault(event.stream_id, bytearray()).extend(event.data)
            if event.end_stream:
                self.ended.add(event.stream_id)
        elif isinstance(event, StreamReset):
            self.resets[event.stream_id] = event.error_code
        elif isinstance(event, StopSendingReceived):
            self.stops[event.stream_id] = event.error_code
        elif isinstance(event, DatagramFrameReceived):
            self.datagrams.append(event.data)
        elif isinstance(event, HandshakeCompleted):
            self.handshake_done = True
        elif isinstance(event, ConnectionTerminated):
            self.terminated = event
        self.changed.set()

    async def until(self, pred, what, timeout=STEP):
        deadline = time.monotonic() + timeout
        while not pred():
            if self.terminated is not None:
                raise AssertionError(f"connection closed (0x{self.terminated.error_code:x} "
                                     f"{self.terminated.reason_phrase!r}) while waiting for {what}")
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out waiting for {what}")
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), min(left, 0.5))
            except asyncio.TimeoutError:
                pass

    def send(self, sid, data, end=False):
        self._quic.send_stream_data(sid, data, end_stream=end)
        self.transmit()

    def bidi(self):
        return self._quic.get_next_available_stream_id(is_unidirectional=False)

    def cert_sha256(self):
        cert = self._quic.tls._peer_certificate
        if cert is None:
            return None
        from cryptography.hazmat.primitives.serialization import Encoding
        return hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest()


def config(alpns, ticket=None, qlog=False):
    cfg = QuicConfiguration(is_client=True, alpn_protocols=alpns, verify_mode=ssl.CERT_NONE,
                            max_datagram_frame_size=65536, server_name="localhost")
    cfg.session_ticket = ticket
    if qlog:
        cfg.quic_logger = QuicLogger()
    return cfg


def quic(port, alpns, host="127.0.0.1", **k):
    """connect() with Peer; keywords: ticket, qlog, session_ticket_handler, wait_connected."""
    handler = k.pop("session_ticket_handler", None)
    wait = k.pop("wait_connected", True)
    return connect(host, port, configuration=config(alpns, **k), create_protocol=Peer,
                   session_ticket_handler=handler, wait_connected=wait)


async def raw_peer(port, alpns, host="127.0.0.1"):
    """A client that does not wait for the handshake (connect() raises when the server closes during it)."""
    loop = asyncio.get_running_loop()
    _, proto = await loop.create_datagram_endpoint(lambda: Peer(QuicConnection(configuration=config(alpns))),
                                                   remote_addr=(host, port))
    proto.connect((host, port))
    return proto


def payload(i):
    return f"stream {i} ".encode() * 3


async def echo_streams(c, count, first=0, batch=100):
    """`count` bidi streams, `batch` at a time, each echoed exactly; returns how many were."""
    ok = 0
    done = 0
    while done < count:
        ids = []
        for i in range(first + done, first + min(done + batch, count)):
            sid = c.bidi()
            c._quic.send_stream_data(sid, payload(i), end_stream=True)
            ids.append((sid, i))
        c.transmit()
        await c.until(lambda: all(s in c.ended for s, _ in ids), f"echo of streams {done}..{done + len(ids)}")
        ok += sum(1 for sid, i in ids if bytes(c.data[sid]) == payload(i) and sid not in c.resets)
        done += len(ids)
    return ok


def save(tickets, path):
    if path and tickets:
        with open(path, "wb") as f:
            pickle.dump(tickets[-1], f)
    return bool(path and tickets)


async def wait_ticket(tickets, timeout=3.0):
    deadline = time.monotonic() + timeout
    while not tickets and time.monotonic() < deadline:
        await asyncio.sleep(0.02)


async def cmd_echo(a):
    tickets = []
    out = {}
    async with quic(a.port, a.alpn, a.host, session_ticket_handler=tickets.append) as c:
        out["alpn"] = c._quic.tls.alpn_negotiated
        out["cert_sha256"] = c.cert_sha256()
        out["resumed"] = bool(c._quic.tls.session_resumed)
        for i in range(a.datagrams):
            c._quic.send_datagram_frame(f"datagram {i}".encode())
        c.transmit()
        uni = c._quic.get_next_available_stream_id(is_unidirectional=True)
        body = bytes((i * 7) % 251 for i in range(a.uni_bytes))
        c.send(uni, body, end=True)
        out["streams_ok"] = await echo_streams(c, a.streams)
        await c.until(lambda: any(s & 3 == 3 and s in c.ended for s in c.data), "the server's uni stream")
        answer = [s for s in c.data if s & 3 == 3][0]
        out["server_uni_stream"] = answer
        out["uni_ok"] = bytes(c.data[answer]) == body
        if a.datagrams:
            try:
                await c.until(lambda: len(set(c.datagrams)) >= a.datagrams * 9 // 10, "datagram echoes", timeout=5)
            except AssertionError:
                pass
        sent = {f"datagram {i}".encode() for i in range(a.datagrams)}
        out["datagrams_echoed"] = len(set(c.datagrams) & sent)
        out["datagrams_foreign"] = len(set(c.datagrams) - sent)
        await wait_ticket(tickets)
        out["ticket_saved"] = save(tickets, a.save_ticket)
        c.close(error_code=9, reason_phrase="done")
    return out


async def cmd_early(a):
    with open(a.ticket, "rb") as f:
        ticket = pickle.load(f)
    tickets = []
    out = {}
    async with quic(a.port, a.alpn, a.host, ticket=ticket, qlog=True, session_ticket_handler=tickets.append,
                    wait_connected=False) as c:
        # Sent before the handshake completes: with early data allowed by the ticket, in 0-RTT packets.
        ids = []
        for i in range(a.streams):
            sid = c.bidi()
            c._quic.send_stream_data(sid, payload(1000 + i), end_stream=True)
            ids.append((sid, i))
        c.transmit()
        await c.until(lambda: c.handshake_done, "the handshake")
        await c.until(lambda: all(s in c.ended for s, _ in ids), "the echo of the early streams")
        tls = c._quic.tls
        out["alpn"] = tls.alpn_negotiated
        out["resumed"] = bool(tls.session_resumed)
        out["early_data_accepted"] = bool(tls.early_data_accepted)
        out["cert_sha256"] = c.cert_sha256()  # None when resumed: no Certificate message
        zero_rtt = set()
        for ev in c._quic._quic_logger._events:
            d = ev["data"]
            if ev["name"] == "transport:packet_sent" and d["header"]["packet_type"] == "0RTT":
                zero_rtt.update(fr["stream_id"] for fr in d["frames"] if fr.get("frame_type") == "stream")
        out["streams_in_0rtt"] = sum(1 for sid, _ in ids if sid in zero_rtt)
        out["streams_ok"] = sum(1 for sid, i in ids if bytes(c.data[sid]) == payload(1000 + i))
        out["after_handshake_ok"] = await echo_streams(c, 10, first=2000)
        await wait_ticket(tickets)
        out["ticket_saved"] = save(tickets, a.save_ticket)
        c.close(error_code=9, reason_phrase="done")
    return out


async def cmd_refused(a):
    proto = await raw_peer(a.port, a.alpn, a.host)
    try:
        await proto.until(lambda: proto.terminated is not None, "the refusal")
        t = proto.terminated
        return {"terminated": t is not None, "error_code": t and t.error_code, "reason": t and t.reason_phrase,
                "handshake_done": proto.handshake_done, "no_application_protocol": NO_APPLICATION_PROTOCOL}
    finally:
        proto._transport.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("command", choices=["echo", "early", "refused"])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--alpn", action="append", required=True)
    ap.add_argument("--streams", type=int, default=1)
    ap.add_argument("--uni-bytes", type=int, default=1000)
    ap.add_argument("--datagrams", type=int, default=0)
    ap.add_argument("--ticket")
    ap.add_argument("--save-ticket")
    a = ap.parse_args()
    fn = {"echo": cmd_echo, "early": cmd_early, "refused": cmd_refused}[a.command]
    print(json.dumps(asyncio.run(asyncio.wait_for(fn(a), 120))))


if __name__ == "__main__":
    main()
