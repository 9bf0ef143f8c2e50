#!/usr/bin/env python3
"""aioquic (PyPI) echo client and server with the same command line and JSON
output as tests/peers/quinn-peer, so the interop matrix drives both peers alike.

  aioquic_peer.py server --listen H:P [--cert PEM --key PEM] [--retry] [--chacha20]
                         [--key-update-after BYTES] [--v2 | --v2-only] [--commands]
  aioquic_peer.py client --connect H:P (--cert-hash HEX | --insecure) [--streams N]
                         [--bytes N] [--datagrams N] [--connections N] [--zero-rtt]
                         [--chacha20] [--key-update] [--v2 | --v2-only] [--timeout S]
  (both roles: [--qlog-dir DIR], aioquic's own qlog of each connection)

The server prints one JSON object per line (listening, connection_closed); the
client prints one object (event client_done) with a report per connection.
With --commands, a client bidi stream whose first bytes are "flood N\n" gets N
bytes of pattern (stream 0's) and FIN instead of an echo, and "status\n" gets
{"flood_sent": the highest offset sent on that connection's flood stream} and FIN:
a peer that floods a reader which never reads, and asks how far it got.
"""
import argparse
import asyncio
import hashlib
import json
import os
import ssl
import sys
import tempfile
import time

from aioquic.asyncio import QuicConnectionProtocol, connect, serve
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.logger import QuicFileLogger
from aioquic.quic.events import (ConnectionTerminated, DatagramFrameReceived, HandshakeCompleted,
                                 StreamDataReceived, StreamReset)
from aioquic.quic.packet import QuicProtocolVersion
from aioquic.tls import CipherSuite

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from aioquic_peers import TicketStore, make_cert, pattern  # noqa: E402

IMPL = "aioquic"


def emit(obj):
    print(json.dumps(obj), flush=True)


def hostport(s):
    host, _, port = s.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"{s!r}: expected HOST:PORT")
    return host.strip("[]"), int(port)


def base_config(a, is_client):
    cfg = QuicConfiguration(is_client=is_client, alpn_protocols=["echo"], max_datagram_frame_size=65536,
                            idle_timeout=30.0)
    if a.chacha20:
        cfg.cipher_suites = [CipherSuite.CHACHA20_POLY1305_SHA256]
    if a.v2_only:
        # QUIC v2 alone: a client's first Initial is already v2 (no negotiation).
        cfg.supported_versions = [QuicProtocolVersion.VERSION_2]
    elif a.v2:
        if is_client:
            # Compatible version negotiation (RFC 9368): start in v1, prefer v2.
            cfg.original_version = QuicProtocolVersion.VERSION_1
            cfg.supported_versions = [QuicProtocolVersion.VERSION_2, QuicProtocolVersion.VERSION_1]
        else:
            cfg.supported_versions = [QuicProtocolVersion.VERSION_2, QuicProtocolVersion.VERSION_1]
    else:
        # v1 only, as in the interop runner, where v2 is enabled for its v2 case alone
        # (aioquic's default also offers v2, which a v2-preferring peer would then pick).
        cfg.supported_versions = [QuicProtocolVersion.VERSION_1]
    if a.qlog_dir:
        # aioquic's own qlog (one <odcid>.qlog per connection, written when it ends).
        cfg.quic_logger = QuicFileLogger(a.qlog_dir)
    return cfg


def conn_info(quic):
    tls = quic.tls
    ks = getattr(tls, "key_schedule", None)
    suite = getattr(ks, "cipher_suite", None) if ks else None
    return {
        "version": hex(int(quic._version)) if quic._version is not None else None,
        "cipher_suite": suite.name if suite is not None else None,
        "resumed": bool(getattr(tls, "session_resumed", False)),
        "early_data_accepted": getattr(tls, "early_data_accepted", None),
        "retry_received": getattr(quic, "_retry_count", 0),
        # The server address of the active path (after a move to the server's preferred
        # address, RFC 9000 9.6, that one), IPv4-mapped addresses unmapped.
        "server_addr": server_addr(quic),
    }


def server_addr(quic):
    paths = getattr(quic, "_network_paths", None)
    if not paths:
        return None
    host, port = paths[0].addr[:2]
    host = host.removeprefix("::ffff:")
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


# ---- server -----------------------------------------------------------------------

class ServerProto(QuicConnectionProtocol):
    key_update_after = None
    commands = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.received = 0
        self.key_update_requested = False
        self.streams_echoed = 0
        self.datagrams_echoed = 0
        self.peer = None
        self.flood_stream = None
        self.command_buf = {}

    ANSWERED = object()

    def command(self, event):
        """--commands: handles a "flood N" / "status" stream (True), or leaves it to the echo (False)."""
        sid = event.stream_id
        held = self.command_buf.get(sid)
        if held is self.ANSWERED:
            return True  # later bytes of an answered command stream are ignored
        buf = (held or b"") + event.data
        head = buf[:7]
        if held is None and not any(w.startswith(head) or head.startswith(w) for w in (b"flood ", b"status\n")):
            return False
        if b"\n" not in buf:
            self.command_buf[sid] = buf
            return True
        line = buf.split(b"\n", 1)[0].decode()
        if line.startswith("flood "):
            self.flood_stream = sid
            self._quic.send_stream_data(sid, pattern_slice(0, 0, int(line.split()[1])), end_stream=True)
        else:
            sent = self._quic._streams[self.flood_stream].sender.highest_offset if self.flood_stream is not None else -1
            self._quic.send_stream_data(sid, json.dumps({"flood_sent": sent}).encode(), end_stream=True)
        self.command_buf[sid] = self.ANSWERED
        self.transmit()
        return True

    def quic_event_received(self, event):
        if isinstance(event, StreamDataReceived):
            if event.stream_id % 4 != 0:  # only client bidi streams are echoed
                return
            if self.commands and self.command(event):
                return
            self.received += len(event.data)
            self._quic.send_stream_data(event.stream_id, event.data, end_stream=event.end_stream)
            if event.end_stream:
                self.streams_echoed += 1
            if self.key_update_after is not None and not self.key_update_requested \
                    and self.received >= self.key_update_after:
                self._quic.request_key_update()
                self.key_update_requested = True
            self.transmit()
        elif isinstance(event, DatagramFrameReceived):
            self._quic.send_datagram_frame(event.data)
            self.datagrams_echoed += 1
            self.transmit()
        elif isinstance(event, HandshakeCompleted):
            self.peer = str(self._quic._network_paths[0].addr) if self._quic._network_paths else None
        elif isinstance(event, ConnectionTerminated):
            emit({"event": "connection_closed", "peer": self.peer, "bytes_echoed": self.received,
                  "streams_echoed": self.streams_echoed, "datagrams_echoed": self.datagrams_echoed,
                  "key_update_forced": self.key_update_requested,
                  "close": f"0x{event.error_code:x} {event.reason_phrase}", **conn_info(self._quic)})


async def run_server(a):
    tmp = tempfile.mkdtemp()
    cert, key = (a.cert, a.key) if a.cert else make_cert(tmp)
    cfg = base_config(a, False)
    try:
        cfg.load_cert_chain(cert, key)
    except Exception as e:  # noqa: BLE001
        raise SystemExit(f"aioquic_peer: --cert {cert} / --key {key}: {e}")
    der = cfg.certificate.public_bytes(__import__("cryptography.hazmat.primitives.serialization",
                                                  fromlist=["Encoding"]).Encoding.DER)
    ServerProto.key_update_after = a.key_update_after
    ServerProto.commands = a.commands
    store = TicketStore()
    host, port = a.listen
    srv = await serve(host, port, configuration=cfg, create_protocol=ServerProto,
                      session_ticket_fetcher=store.pop, session_ticket_handler=store.add, retry=a.retry)
    addr = srv._transport.get_extra_info("sockname")
    emit({"event": "listening", "addr": f"{addr[0]}:{addr[1]}", "cert_sha256": hashlib.sha256(der).hexdigest(),
          "implementation": IMPL, "retry": a.retry, "chacha20": a.chacha20, "v2": a.v2})
    await asyncio.Event().wait()


# ---- client -----------------------------------------------------------------------

class ClientProto(QuicConnectionProtocol):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.expect = {}     # stream id -> (k, nbytes)
        self.got = {}        # stream id -> bytes received so far
        self.bad = set()
        self.done = {}       # stream id -> future
        self.echoed = 0
        self.datagrams = set()
        self.terminated = None
        self.handshake = asyncio.get_event_loop().create_future()
        self.on_progress = None

    def quic_event_received(self, event):
        if isinstance(event, HandshakeCompleted) and not self.handshake.done():
            self.handshake.set_result(True)
        elif isinstance(event, StreamDataReceived):
            sid = event.stream_id
            if sid not in self.expect:
                return
            k, _ = self.expect[sid]
            off = self.got.get(sid, 0)
            if event.data != pattern_slice(k, off, len(event.data)):
                self.bad.add(sid)
            self.got[sid] = off + len(event.data)
            self.echoed += len(event.data)
            if event.end_stream and not self.done[sid].done():
                self.done[sid].set_result(True)
            if self.on_progress:
                self.on_progress()
        elif isinstance(event, StreamReset):
            fut = self.done.get(event.stream_id)
            if fut and not fut.done():
                fut.set_exception(ConnectionError(f"stream {event.stream_id} reset with {event.error_code}"))
        elif isinstance(event, DatagramFrameReceived):
            d = event.data
            if len(d) == 64 and d[8:] == pattern_slice(int.from_bytes(d[:8], "big"), 0, 56):
                self.datagrams.add(d[:8])
        elif isinstance(event, ConnectionTerminated):
            self.terminated = event
            err = ConnectionError(f"connection closed: 0x{event.error_code:x} {event.reason_phrase}")
            if not self.handshake.done():
                self.handshake.set_exception(err)
            for fut in self.done.values():
                if not fut.done():
                    fut.set_exception(err)

    def send(self, k, nbytes):
        sid = self._quic.get_next_available_stream_id()
        self.expect[sid] = (k, nbytes)
        self.done[sid] = asyncio.get_event_loop().create_future()
        off = 0
        while True:
            n = min(65536, nbytes - off)
            self._quic.send_stream_data(sid, pattern_slice(k, off, n), end_stream=off + n == nbytes)
            off += n
            if off >= nbytes:
                break
        return sid


_PAT = {}


def pattern_slice(k, off, n):
    """pattern(k, off + n)[off:], from a cached 251-byte period (the pattern repeats every 251 bytes)."""
    p = _PAT.get(k % 251)
    if p is None:
        p = _PAT[k % 251] = pattern(k, 251) * 2
    out = bytearray()
    pos = off % 251
    while len(out) < n:
        take = min(n - len(out), 251 - pos)
        out += p[pos:pos + take]
        pos = 0
    return bytes(out)


async def connect_once(a, ticket, tickets, early, pin):
    start = time.monotonic()
    rep = {"verified": False, "error": None, "streams": a.streams, "early_data": "none"}
    cfg = base_config(a, True)
    cfg.verify_mode = ssl.CERT_NONE  # the pin is checked below, after the handshake
    cfg.server_name = a.server_name
    cfg.session_ticket = ticket
    host, port = a.connect
    total = a.streams * a.bytes
    try:
        async with connect(host, port, configuration=cfg, create_protocol=ClientProto,
                           session_ticket_handler=tickets.append, wait_connected=not early) as proto:
            quic = proto._quic
            ku = {"done": not a.key_update}

            def progress():
                if not ku["done"] and proto.echoed >= max(total // 2, 1):
                    quic.request_key_update()
                    ku["done"] = True
            proto.on_progress = progress
            sids = [proto.send(k, a.bytes) for k in range(a.streams)]
            proto.transmit()
            await asyncio.wait_for(proto.handshake, a.timeout)
            rep["handshake_ms"] = (time.monotonic() - start) * 1e3
            peer_cert = quic.tls._peer_certificate
            # A resumed session presents no certificate: its ticket came from a connection checked here.
            if pin is not None and peer_cert is not None:
                from cryptography.hazmat.primitives.serialization import Encoding
                got = hashlib.sha256(peer_cert.public_bytes(Encoding.DER)).hexdigest()
                if got != pin:
                    raise ConnectionError(f"certificate pin mismatch: server certificate sha256 is {got}")
            completed = 0
            first_err = None
            for sid in sids:
                try:
                    await asyncio.wait_for(proto.done[sid], a.timeout)
                    if sid not in proto.bad and proto.got.get(sid) == a.bytes:
                        completed += 1
                except asyncio.TimeoutError:
                    first_err = first_err or f"timed out after {a.timeout:g} s waiting for the echo of stream {sid}"
                    break
                except Exception as e:  # noqa: BLE001
                    first_err = first_err or f"{type(e).__name__}: {e}"
                    break
            sent = 0
            if a.datagrams:
                for seq in range(a.datagrams):
                    quic.send_datagram_frame(seq.to_bytes(8, "big") + pattern_slice(seq, 0, 56))
                    sent += 1
                proto.transmit()
                deadline = time.monotonic() + 1
                while len(proto.datagrams) < sent and time.monotonic() < deadline:
                    await asyncio.sleep(0.005)
            if a.connections > 1:
                for _ in range(100):
                    if tickets:
                        break
                    await asyncio.sleep(0.01)
            info = conn_info(quic)
            rep.update(info)
            if early:
                rep["early_data"] = {True: "accepted", False: "rejected"}.get(info["early_data_accepted"], "none")
            rep.update({"streams_completed": completed, "bytes_sent": total, "bytes_echoed": proto.echoed,
                        "datagrams_sent": sent, "datagrams_echoed": len(proto.datagrams),
                        "key_update_forced": a.key_update and ku["done"],
                        "verified": completed == a.streams and proto.echoed == total and first_err is None})
            if first_err:
                rep["error"] = first_err
            rep["total_ms"] = (time.monotonic() - start) * 1e3
            for fut in proto.done.values():
                if fut.done() and not fut.cancelled():
                    fut.exception()  # retrieved: no "never retrieved" noise
    except asyncio.TimeoutError:
        rep["error"] = f"timed out after {a.timeout:g} s"
        rep["verified"] = False
    except Exception as e:  # noqa: BLE001
        rep["error"] = f"{type(e).__name__}: {e}"
        rep["verified"] = False
    return rep


async def run_client(a):
    pin = None
    if a.cert_hash:
        pin = a.cert_hash.replace(":", "").lower()
        if len(pin) != 64 or any(c not in "0123456789abcdef" for c in pin):
            raise SystemExit(f"aioquic_peer: --cert-hash {a.cert_hash!r}: expected 64 hex digits (SHA-256)")
    else:
        print("aioquic_peer: WARNING --insecure: the server certificate is not verified", file=sys.stderr)
    reports, tickets = [], []
    for i in range(a.connections):
        ticket = tickets[-1] if tickets else None
        early = a.zero_rtt and i > 0 and ticket is not None
        r = await asyncio.wait_for(connect_once(a, ticket, tickets, early, pin), a.timeout + 5)
        if a.zero_rtt and i > 0 and ticket is None:
            r["early_data"] = "not attempted (no session ticket)"
        reports.append(r)
    ok = all(r["verified"] and not r["error"] for r in reports)
    emit({"event": "client_done", "implementation": IMPL, "ok": ok, "connections": reports})
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="mode", required=True)
    s = sub.add_parser("server")
    s.add_argument("--listen", type=hostport, default=("127.0.0.1", 4433))
    s.add_argument("--cert")
    s.add_argument("--key")
    s.add_argument("--retry", action="store_true")
    s.add_argument("--chacha20", action="store_true")
    s.add_argument("--v2", action="store_true", help="accept QUIC v2 (RFC 9369) besides v1")
    s.add_argument("--v2-only", action="store_true", help="accept QUIC v2 only (v1 Initials get Version Negotiation)")
    s.add_argument("--key-update-after", type=int)
    s.add_argument("--commands", action="store_true", help="flood N / status commands (see the module doc)")
    s.add_argument("--qlog-dir", help="write aioquic's qlog of each connection here")
    c = sub.add_parser("client")
    c.add_argument("--connect", type=hostport, required=True)
    c.add_argument("--server-name", default="localhost")
    g = c.add_mutually_exclusive_group(required=True)
    g.add_argument("--cert-hash")
    g.add_argument("--insecure", action="store_true")
    c.add_argument("--streams", type=int, default=1)
    c.add_argument("--bytes", type=int, default=1024)
    c.add_argument("--datagrams", type=int, default=0)
    c.add_argument("--connections", type=int, default=1)
    c.add_argument("--zero-rtt", action="store_true")
    c.add_argument("--chacha20", action="store_true")
    c.add_argument("--key-update", action="store_true")
    c.add_argument("--v2", action="store_true", help="offer QUIC v2 (compatible version negotiation from v1)")
    c.add_argument("--v2-only", action="store_true", help="start in QUIC v2 and offer nothing else")
    c.add_argument("--timeout", type=float, default=30)
    c.add_argument("--qlog-dir", help="write aioquic's qlog of each connection here")
    a = ap.parse_args()
    if a.mode == "server":
        if bool(a.cert) != bool(a.key):
            ap.error("--cert and --key go together")
        asyncio.run(run_server(a))
    else:
        sys.exit(0 if asyncio.run(run_client(a)) else 2)


if __name__ == "__main__":
    main()
