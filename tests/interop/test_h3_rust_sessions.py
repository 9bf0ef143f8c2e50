"""Our Rust HTTP/3 client's sessions (socket-iwa-h3-client --webtransport /
--websocket): a WebTransport session (datagrams, a bidirectional and a
unidirectional stream, CLOSE_WEBTRANSPORT_SESSION) and a WebSocket over HTTP/3
session (RFC 9220: text, binary and fragmented messages, pings, close
handshake), every echo checked byte for byte by the client. Against our native
server, the same server built for wasm under Node, and an aioquic HTTP/3 echo
peer. Loopback only."""

import asyncio

from aioquic.h3.events import DataReceived, HeadersReceived, WebTransportStreamDataReceived
from wsproto.frame_protocol import FrameProtocol, Opcode

from aioquic_peers import make_cert
from conftest import BOTH_KINDS, cert_sha256_of_pem, free_udp_port, register_cert
from h3_peers import H3ServerProtocol
from test_h3_client import run_client

# Every test taking `server` runs against the native server and the wasm one (conftest.py).
SERVER_KINDS = BOTH_KINDS

SESSION_ARGS = ["--webtransport", "/wt/echo", "--wt-datagrams", "200", "--wt-datagram-size", "100",
                "--wt-stream-bytes", "300000", "--websocket", "/ws/echo", "--ws-message-bytes", "70000"]


def check_sessions(rc, rep, err, datagrams=200, stream_bytes=300000, all_datagrams=True):
    assert rc == 0, (rep, err)
    assert rep["verified"] and rep["error"] is None, rep
    wt = rep["webtransport"]
    assert wt["status"] == 200 and wt["verified"] and wt["closed"], wt
    assert wt["datagrams_sent"] == datagrams and wt["datagrams_bad"] == 0
    if all_datagrams:
        # Loopback, at most 32 in flight: none lost.
        assert wt["datagrams_echoed"] == datagrams and wt["datagrams_lost"] == 0, wt
    else:
        assert wt["datagrams_echoed"] > 0, wt
    assert wt["datagram_size"] == 100 and wt["datagrams_per_sec"] > 0
    assert wt["bidi_verified"] and wt["bidi_bytes_echoed"] == stream_bytes, wt
    assert wt["uni_verified"] and wt["uni_bytes_echoed"] == stream_bytes, wt
    ws = rep["websocket"]
    assert ws["status"] == 200 and ws["verified"] and ws["closed"], ws
    assert ws["messages_sent"] == 3 and ws["messages_echoed"] == 3 and ws["fragmented_sent"] == 1
    assert ws["pings_sent"] == 2 and ws["pongs_received"] == 2
    assert ws["close_code_sent"] == 1000 and ws["close_code_received"] == 1000
    # text (17) + binary (70000) + fragmented text (200)
    assert ws["bytes_echoed"] == 17 + 70000 + 200, ws


def test_sessions_against_our_server(server):
    async def main():
        # Both sessions and a plain request on one connection.
        rc, rep, err = await run_client(server.port, *SESSION_ARGS, "--get", "/bytes/5000")
        check_sessions(rc, rep, err)
        assert rep["completed"] == 1 and rep["responses"][0]["verified"]
        # Each session alone (no request at all).
        rc, rep, err = await run_client(server.port, "--webtransport", "/wt/echo", "--wt-datagrams", "0",
                                        "--wt-stream-bytes", "0")
        assert rc == 0, (rep, err)
        wt = rep["webtransport"]
        assert wt["verified"] and wt["datagrams_sent"] == 0 and wt["bidi_verified"] and wt["uni_verified"]
        assert rep["websocket"] is None and rep["requests"] == 0
        rc, rep, err = await run_client(server.port, "--websocket", "/ws/echo")
        assert rc == 0 and rep["websocket"]["verified"] and rep["webtransport"] is None, (rep, err)
    asyncio.run(asyncio.wait_for(main(), 90))


def test_sessions_to_unknown_paths(server):
    async def main():
        rc, rep, err = await run_client(server.port, "--webtransport", "/wt/nothing", "--websocket", "/ws/nothing",
                                        timeout=30)
        assert rc == 2, (rep, err)
        assert rep["webtransport"]["status"] == 404 and not rep["webtransport"]["verified"]
        assert rep["websocket"]["status"] == 404 and not rep["websocket"]["verified"]
    asyncio.run(asyncio.wait_for(main(), 60))


class EchoH3Protocol(H3ServerProtocol):
    """aioquic's HTTP/3 server (tests/interop/h3_peers.py) plus WebTransport
    stream echo (bidi on itself, uni on a new server uni stream) and a
    WebSocket over HTTP/3 echo with wsproto; datagram echo is the base class's."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.wt_sessions = set()
        self.ws = {}
        self.uni_replies = {}

    def quic_event_received(self, event):
        for ev in self.h3.handle_event(event):
            if isinstance(ev, WebTransportStreamDataReceived):
                self.wt_stream(ev)
            elif isinstance(ev, HeadersReceived) and dict(ev.headers).get(b":protocol") in (b"webtransport", b"websocket"):
                h = dict(ev.headers)
                if h[b":protocol"] == b"webtransport":
                    self.wt_sessions.add(ev.stream_id)
                    self.h3.send_headers(ev.stream_id, [(b":status", b"200"), (b"sec-webtransport-http3-draft", b"draft02")])
                else:
                    self.ws[ev.stream_id] = (FrameProtocol(client=False, extensions=[]), [])
                    self.h3.send_headers(ev.stream_id, [(b":status", b"200")])
            elif isinstance(ev, DataReceived) and ev.stream_id in self.wt_sessions:
                if ev.stream_ended:  # after CLOSE_WEBTRANSPORT_SESSION: finish our side
                    self.h3.send_data(ev.stream_id, b"", end_stream=True)
            elif isinstance(ev, DataReceived) and ev.stream_id in self.ws:
                self.ws_data(ev)
            else:
                # The base class handles GET/POST and datagrams; hand it this one event.
                self.base_event(ev)
        self.transmit()

    def base_event(self, ev):
        handle, self.h3.handle_event = self.h3.handle_event, lambda _e: [ev]
        try:
            super().quic_event_received(None)
        finally:
            self.h3.handle_event = handle

    def wt_stream(self, ev):
        sid = ev.stream_id
        if sid & 2 == 0:
            self._quic.send_stream_data(sid, ev.data, ev.stream_ended)
            return
        if sid not in self.uni_replies:
            self.uni_replies[sid] = self.h3.create_webtransport_stream(ev.session_id, is_unidirectional=True)
        self._quic.send_stream_data(self.uni_replies[sid], ev.data, ev.stream_ended)

    def ws_data(self, ev):
        fp, msg = self.ws[ev.stream_id]
        fp.receive_bytes(ev.data)
        out = b""
        done = False
        for f in fp.received_frames():
            if f.opcode in (Opcode.TEXT, Opcode.BINARY, Opcode.CONTINUATION):
                msg.append(f.payload)
                if f.message_finished:
                    text = isinstance(msg[0], str)
                    data = "".join(msg) if text else b"".join(bytes(p) for p in msg)
                    out += fp.send_data(data, fin=True)
                    msg.clear()
            elif f.opcode == Opcode.PING:
                out += fp.pong(f.payload)
            elif f.opcode == Opcode.CLOSE:
                out += fp.close(f.payload[0], f.payload[1])
                done = True
        if out or done or ev.stream_ended:
            self.h3.send_data(ev.stream_id, out, end_stream=done or ev.stream_ended)


def test_sessions_against_aioquic(tmp_path):
    from aioquic.asyncio import serve
    from aioquic.h3.connection import H3_ALPN
    from aioquic.quic.configuration import QuicConfiguration

    cert, key = make_cert(str(tmp_path))

    async def main():
        port = free_udp_port()
        cfg = QuicConfiguration(is_client=False, alpn_protocols=H3_ALPN, max_datagram_frame_size=65536)
        cfg.load_cert_chain(cert, key)
        srv = await serve("127.0.0.1", port, configuration=cfg, create_protocol=EchoH3Protocol)
        register_cert(port, cert_sha256_of_pem(cert))
        try:
            rc, rep, err = await run_client(port, *SESSION_ARGS, "--get", "/bytes/5000")
            # aioquic's pacing may drop a datagram under a burst: echoes are checked, not all required.
            check_sessions(rc, rep, err, all_datagrams=False)
        finally:
            srv.close()
    asyncio.run(asyncio.wait_for(main(), 90))
