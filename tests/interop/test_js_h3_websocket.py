"""WebSocket over HTTP/3 (RFC 9220) on SocketIWA.createHttp3Server: server.on('websocket')
(tests/js_servers/h3_ws_app.mjs under Node 26, the wasm stack) against aioquic's HTTP/3
client doing Extended CONNECT, with wsproto (PyPI) framing the client's side.
Loopback only. docs/JS_SERVERS.md, "WebSocket over HTTP/3"."""

import asyncio
import json
import os
import subprocess
import time

import pytest
from wsproto.extensions import PerMessageDeflate
from wsproto.frame_protocol import FrameProtocol, Opcode

from conftest import NODE26, ROOT
from js_app import JsApp
from h3_peers import STEP, h3_connect, status
from udp_relay import UdpRelay

APP = os.path.join(ROOT, "tests", "js_servers", "h3_ws_app.mjs")


class WsApp(JsApp):
    def __init__(self, *args):
        super().__init__(APP, *args)


@pytest.fixture
def app():
    a = WsApp()
    yield a
    a.kill()


def run(coro, timeout=120):
    return asyncio.run(asyncio.wait_for(coro, timeout))


class Ws:
    """One WebSocket over an Extended CONNECT stream of aioquic client `c`."""

    def __init__(self, c, sid, extensions=()):
        self.c, self.sid = c, sid
        self.fp = FrameProtocol(client=True, extensions=list(extensions))
        self.msgs = []      # (opcode, payload) of whole messages and control frames
        self.partial = []
        self.seen = 0

    @classmethod
    async def open(cls, c, path, extra=(), extensions=()):
        sid = c._quic.get_next_available_stream_id()
        c.h3.send_headers(sid, [(b":method", b"CONNECT"), (b":protocol", b"websocket"), (b":scheme", b"https"),
                                (b":authority", b"localhost"), (b":path", path.encode()),
                                (b"sec-websocket-version", b"13"), *extra])
        c.transmit()
        s = c.stream(sid)
        await asyncio.wait_for(s.got_headers, STEP)
        return cls(c, sid, extensions), status(s.headers), dict(s.headers)

    def raw(self, data: bytes, end=False):
        self.c.h3.send_data(self.sid, bytes(data), end_stream=end)
        self.c.transmit()

    def send(self, msg):
        self.raw(self.fp.send_data(msg, fin=True))

    def parse(self):
        data = self.c.stream(self.sid).data
        chunk = bytes(data[self.seen:])
        self.seen = len(data)
        self.fp.receive_bytes(chunk)
        for f in self.fp.received_frames():
            if f.opcode in (Opcode.CLOSE, Opcode.PING, Opcode.PONG):
                self.msgs.append((f.opcode, f.payload if f.opcode == Opcode.CLOSE else bytes(f.payload)))
                continue
            if not self.partial:
                self.partial[:] = [f.opcode, "" if f.opcode == Opcode.TEXT else b""]
            self.partial[1] += f.payload if isinstance(f.payload, str) else bytes(f.payload)
            if f.message_finished:
                self.msgs.append((self.partial[0], self.partial[1]))
                self.partial.clear()

    async def wait(self, n, what="messages", timeout=STEP):
        def got():
            self.parse()
            return len(self.msgs) >= n
        await self.c.wait_for(got, f"{n} {what}", timeout)
        return self.msgs[:n]

    async def ended(self):
        await asyncio.wait_for(self.c.stream(self.sid).ended, STEP)
        self.parse()


def test_echo_info_ping_and_1000_messages(app):
    async def main():
        async with h3_connect("127.0.0.1", app.port) as c:
            ws, st, hdrs = await Ws.open(c, "/info?room=a&x=1", extra=[(b"sec-websocket-protocol", b"chat, superchat"),
                                                                     (b"origin", b"https://example.test")])
            assert st == 200 and b"content-length" not in hdrs
            (op, text), = await ws.wait(1)
            info = json.loads(text)
            assert info == {"path": "/info", "query": {"room": "a", "x": "1"}, "url": "https://localhost/info?room=a&x=1",
                            "protocol": "chat, superchat", "origin": "https://example.test", "extensions": "",
                            "remoteAddress": "127.0.0.1", "remotePort": c._transport.get_extra_info("sockname")[1],
                            "localPort": app.port, "same": True}, info

            ws, st, _ = await Ws.open(c, "/echo")
            assert st == 200
            ws.send("héllo")
            ws.send(b"\x00\x01\xffbinary")
            # A fragmented text message with a ping in between.
            ws.raw(ws.fp.send_data("frag-", fin=False) + ws.fp.ping(b"p1") + ws.fp.send_data("ment", fin=True))
            got = await ws.wait(4)
            assert got == [(Opcode.TEXT, "héllo"), (Opcode.BINARY, b"\x00\x01\xffbinary"), (Opcode.PONG, b"p1"),
                           (Opcode.TEXT, "frag-ment")], got
            # 1,000 messages pipelined in one burst, echoed in order.
            ws.msgs.clear()
            ws.raw(b"".join(ws.fp.send_data(f"m{i}" if i % 2 else f"b{i}".encode(), fin=True) for i in range(1000)))
            got = await ws.wait(1000, timeout=STEP * 3)
            assert got == [(Opcode.TEXT, f"m{i}") if i % 2 else (Opcode.BINARY, f"b{i}".encode()) for i in range(1000)]

            # The server pings; our pong reaches its 'pong' listener.
            pw, st, _ = await Ws.open(c, "/ping")
            pw.send("xyz")
            (op, payload), = await pw.wait(1)
            assert (op, payload) == (Opcode.PING, b"xyz")
            pw.raw(pw.fp.pong(payload))
            assert (await pw.wait(2))[1] == (Opcode.TEXT, "pong:xyz")
            # The test app behaviour: each text message answered reversed.
            rw, st, _ = await Ws.open(c, "/reverse")
            rw.send("stressed")
            assert await rw.wait(1) == [(Opcode.TEXT, "desserts")]
    run(main())
    events = app.events_until_closed()
    assert {"event": "ws-ping", "data": "p1"} in events


def test_remote_address_follows_a_nat_rebinding(app):
    """aioquic's client through a relay whose NAT mapping moves to a new port after 300 KB: a
    WebSocket opened before the move reports the new ws.remoteAddress/remotePort after it."""
    async def main(relay):
        async with h3_connect("127.0.0.1", relay.port) as c:
            ws, st, _ = await Ws.open(c, "/whoami")
            assert st == 200
            ws.send("who")
            (op, text), = await ws.wait(1)
            assert f"{json.loads(text)['remoteAddress']}:{json.loads(text)['remotePort']}" == relay.stats["back_addrs"][0], text
            # 600 KB echoed (binary messages come back as they are): the relay moves half-way.
            ws.msgs.clear()
            ws.send(bytes(600_000))
            (op, data), = await ws.wait(1, timeout=STEP * 3)
            assert op == Opcode.BINARY and len(data) == 600_000
            ws.msgs.clear()
            ws.send("who")
            (op, text), = await ws.wait(1)
            return json.loads(text)
    with UdpRelay(("127.0.0.1", app.port), mode="rebind-port", rebind_after=300_000) as relay:
        now = run(main(relay))
    assert relay.stats["rebinds"] == 1, relay.stats
    assert f"{now['remoteAddress']}:{now['remotePort']}" == relay.stats["back_addrs"][1], (now, relay.stats["back_addrs"])


def test_permessage_deflate_is_negotiated_as_the_tcp_server_does(app):
    async def main():
        async with h3_connect("127.0.0.1", app.port) as c:
            ext = PerMessageDeflate()
            ws, st, hdrs = await Ws.open(c, "/echo", extra=[(b"sec-websocket-extensions", f"permessage-deflate; {ext.offer()}".encode())])
            assert st == 200
            answer = hdrs[b"sec-websocket-extensions"].decode()
            assert answer.startswith("permessage-deflate"), answer
            ext.finalize(answer)
            ws.fp = FrameProtocol(client=True, extensions=[ext])
            big = "compress me " * 5000  # over the 1 KiB threshold: the server compresses its answer
            ws.send(big)
            got = await ws.wait(1)
            assert got == [(Opcode.TEXT, big)]
            # Our side saw a compressed frame: far fewer bytes than the text.
            assert ws.seen < len(big) // 10, ws.seen
    run(main())


def test_16_mib_message_and_over_the_limit_closes_1009(app):
    """The default maxPayload, 16 MiB, exactly: accepted and echoed; one byte more: close 1009.
    The 16 MiB messages travel compressed (permessage-deflate, a few KiB on the wire): aioquic
    moves about 1 MB/s through the wasm server on this shared machine (the Rust demo's
    /ws/echo no faster), so 32 MiB of plain frames would make the test's time a matter of
    load. The server still assembles, inflates and deflates the whole 16 MiB. Plain bytes get
    4 MiB of random data (four stream windows, so credit-as-read runs several rounds) and a
    frame whose header declares 16 MiB + 1, refused from that header."""
    size = 16 << 20

    async def main():
        async with h3_connect("127.0.0.1", app.port) as c:
            ws, st, _ = await Ws.open(c, "/echo")
            data = os.urandom(4 << 20)
            ws.send(data)
            (op, payload), = await ws.wait(1, "4 MiB echo", timeout=STEP * 9)
            assert op == Opcode.BINARY and payload == data
            over, st, _ = await Ws.open(c, "/echo")
            over.raw(b"\x82\xff" + (size + 1).to_bytes(8, "big") + b"\x01\x02\x03\x04" + bytes(1000))
            (op, reason), = await over.wait(1, "close 1009")
            assert op == Opcode.CLOSE and reason[0] == 1009, reason
            await over.ended()

            async def deflated():
                ext = PerMessageDeflate()
                w, st, hdrs = await Ws.open(c, "/echo", extra=[(b"sec-websocket-extensions", f"permessage-deflate; {ext.offer()}".encode())])
                ext.finalize(hdrs[b"sec-websocket-extensions"].decode())
                w.fp = FrameProtocol(client=True, extensions=[ext])
                return w
            zw = await deflated()
            big = bytes(range(256)) * (size // 256)
            zw.send(big)
            (op, payload), = await zw.wait(1, "16 MiB echo", timeout=STEP * 6)
            assert op == Opcode.BINARY and payload == big
            assert zw.seen < 1 << 20, zw.seen  # it did travel compressed
            zo = await deflated()
            zo.send(big + b"!")  # inflates one byte past maxPayload
            (op, reason), = await zo.wait(1, "close 1009", timeout=STEP * 6)
            assert op == Opcode.CLOSE and reason[0] == 1009, reason
            await zo.ended()
            # The first WebSocket and the connection are unharmed.
            ws.send("still here")
            assert (await ws.wait(2))[1] == (Opcode.TEXT, "still here")
            ws.raw(ws.fp.close(1000, ""))
            await ws.ended()
            zw.raw(zw.fp.close(1000, ""))
            await zw.ended()
    run(main(), timeout=240)
    errors = [(e["code"], e["closeCode"]) for e in app.events_until_closed() if e["event"] == "ws-error"]
    assert errors == [("ERR_WS_MESSAGE_TOO_BIG", 1009)] * 2, errors


def test_close_codes_both_directions_and_protocol_errors(app):
    async def main():
        async with h3_connect("127.0.0.1", app.port) as c:
            # The client closes: the server echoes the code and finishes the stream.
            ws, _, _ = await Ws.open(c, "/echo")
            ws.raw(ws.fp.close(4001, "done"))
            await ws.ended()
            op, reason = ws.msgs[-1]
            assert op == Opcode.CLOSE and reason[0] == 4001
            # The server closes with the code it was asked for; we answer; it finishes the stream.
            sw, _, _ = await Ws.open(c, "/close")
            sw.send("4002")
            (op, reason), = await sw.wait(1)
            assert op == Opcode.CLOSE and tuple(reason) == (4002, "server says bye")
            sw.raw(sw.fp.close(4002, ""))
            await sw.ended()
            # An unmasked client frame: close 1002 (the same WebSocket code as over TCP).
            pw, _, _ = await Ws.open(c, "/echo")
            pw.raw(b"\x82\x03abc")
            await pw.ended()
            assert pw.msgs[0][0] == Opcode.CLOSE and pw.msgs[0][1][0] == 1002
            # A peer that resets its stream: the WebSocket sees 1006 and an ECONNRESET error.
            rw, _, _ = await Ws.open(c, "/echo")
            rw.send("before reset")
            await rw.wait(1)
            c._quic.reset_stream(rw.sid, 0x10c)
            c.transmit()
            assert (await c.request("GET", "/hello?name=after"))[0] == 200
    run(main())
    events = app.events_until_closed()
    closes = sorted((e["code"], e["reason"], e["wasClean"]) for e in events if e["event"] == "ws-close")
    # 4002: the code of the client's answer to the server's close (RFC 6455 section 7.1.5).
    assert closes == [(1002, "client frames must be masked", False), (1006, "", False), (4001, "done", True),
                      (4002, "", True)], closes
    assert [e["code"] for e in events if e["event"] == "ws-error"] == ["ERR_WS_PROTOCOL", "ECONNRESET"], events


def test_listener_that_throws_gives_an_error_event_and_the_server_keeps_serving(app):
    async def main():
        async with h3_connect("127.0.0.1", app.port) as c:
            _, st, _ = await Ws.open(c, "/throw")
            assert st == 500
            ws, st, _ = await Ws.open(c, "/throw-on-message")
            assert st == 200
            ws.send("boom")
            ws.send("after")
            assert await ws.wait(1) == [(Opcode.TEXT, "after")]
            assert (await c.request("GET", "/hello?name=x")) == (200, b"hello x")
            ok, st, _ = await Ws.open(c, "/echo")
            ok.send("fine")
            assert await ok.wait(1) == [(Opcode.TEXT, "fine")]
            # An async listener that rejects after accepting: reported; its WebSocket still works.
            aw, st, _ = await Ws.open(c, "/throw-async")
            assert st == 200
            aw.send("async")
            assert await aw.wait(1) == [(Opcode.TEXT, "async")]
    run(main())
    errors = [e for e in app.events_until_closed() if e["event"] == "error"]
    assert [e["code"] for e in errors] == ["ERR_HANDLER_THREW"] * 3, errors
    assert "'websocket' listener threw" in errors[0]["message"] and "a WebSocket listener threw" in errors[1]["message"]
    assert "'websocket' listener rejected" in errors[2]["message"]


def test_no_websocket_listener_answers_501():
    a = WsApp("--no-websocket")
    try:
        async def main():
            async with h3_connect("127.0.0.1", a.port) as c:
                _, st, _ = await Ws.open(c, "/echo")
                assert st == 501
                assert (await c.request("GET", "/hello?name=y")) == (200, b"hello y")
        run(main())
    finally:
        a.kill()


def test_several_websockets_on_one_connection_with_fetch_at_the_same_time(app):
    async def main():
        async with h3_connect("127.0.0.1", app.port) as c:
            socks = [(await Ws.open(c, "/reverse"))[0] for _ in range(8)]
            for k in range(20):
                for i, ws in enumerate(socks):
                    ws.send(f"ws{i}-msg{k}")
            fetches = asyncio.gather(*[c.request("GET", f"/hello?name=f{i}") for i in range(20)])
            results = await asyncio.gather(*[ws.wait(20) for ws in socks])
            for i, got in enumerate(results):
                assert got == [(Opcode.TEXT, f"ws{i}-msg{k}"[::-1]) for k in range(20)]
            assert await fetches == [(200, f"hello f{i}".encode()) for i in range(20)]
            # server.close() with the eight open: GOAWAY, then the connection closes (H3_NO_ERROR);
            # each WebSocket sees the end of its connection (1006, ECONNRESET).
            events = await asyncio.to_thread(app.events_until_closed)
            await asyncio.wait_for(c.term_event.wait(), STEP)
            assert c.terminated.error_code == 0x100, c.terminated
            return events
    events = run(main())
    assert sorted(e["code"] for e in events if e["event"] == "ws-close") == [1006] * 8, events
    assert [e["code"] for e in events if e["event"] == "ws-error"] == ["ECONNRESET"] * 8, events
    assert not [e for e in events if e["event"] == "error"], events


def test_peer_that_never_reads_is_held_by_flow_control(app):
    """The client tries to send 100 MB of 64 KiB messages to the echo endpoint and never
    grants the server any flow-control credit (it never reads). The server stops reading
    the WebSocket while its own echoes wait to be sent (more than the 1 MiB high-water
    mark), so the client is held by the stream window: only a few MiB get through, the
    server's queue stays at the high-water mark, and a second connection is served."""
    total, piece = 100_000_000, 64 * 1024

    async def main():
        async with h3_connect("127.0.0.1", app.port) as c, h3_connect("127.0.0.1", app.port) as other:
            ws, st, _ = await Ws.open(c, "/echo")
            assert st == 200
            # The client never reads: no MAX_DATA / MAX_STREAM_DATA from it, ever.
            c._quic._write_connection_limits = lambda builder, space: None
            c._quic._write_stream_limits = lambda builder, space, stream: None
            qs = c._quic._streams[ws.sid]
            msg = ws.fp.send_data(b"\x5a" * piece, fin=True)
            sent = 0
            deadline = time.monotonic() + 6
            # Keep at most 4 MiB queued in aioquic beyond what the server acknowledged (bounded loop).
            while sent < total and time.monotonic() < deadline:
                if sent - qs.sender._buffer_start < 4 << 20:
                    ws.raw(msg)
                    sent += len(msg)
                else:
                    await asyncio.sleep(0.02)
            accepted = qs.sender._buffer_start
            # Meanwhile another connection gets its echo and a fetch.
            ow, st, _ = await Ws.open(other, "/echo")
            ow.send("served")
            assert await ow.wait(1) == [(Opcode.TEXT, "served")]
            st, body = await other.request("GET", "/ws-stats")
            stats = json.loads(body)
            await asyncio.sleep(1.0)
            # After another second the server has accepted no more.
            later = qs.sender._buffer_start
            print(f"offered {sent} bytes in 6 s, server accepted {accepted} then {later}; stats {stats}")
            # Window 1 MiB (unread) + 1 MiB pulled by Rust + 1 MiB high-water mark in
            # JavaScript + what the client's 1 MiB window let out: about 4 MiB; 12 MiB allows slack.
            assert later < 12 << 20, later
            assert later - accepted < 1 << 20, (accepted, later)
            assert max(stats["buffered"]) <= (1 << 20) + piece + 16, stats
    run(main())


def test_handler_ignoring_backpressure_is_dropped_at_max_buffered_amount():
    """A handler that queues without looking at send()'s result: past maxBufferedAmount
    (4 MiB here) the WebSocket is reset (H3_REQUEST_CANCELLED) with ENOBUFS, its queue
    released, and the server keeps serving."""
    a = WsApp("--max-buffered", str(4 << 20))
    try:
        async def main():
            async with h3_connect("127.0.0.1", a.port) as c:
                ws, st, _ = await Ws.open(c, "/flood")
                ws.send("go")
                await c.wait_for(lambda: c.stream(ws.sid).reset is not None, "the server's RESET_STREAM")
                assert c.stream(ws.sid).reset == 0x10c
                assert (await c.request("GET", "/hello?name=z")) == (200, b"hello z")
                st, body = await c.request("GET", "/ws-stats")
                assert json.loads(body)["open"] == 0
        run(main())
        events = a.events_until_closed()
        assert [e["code"] for e in events if e["event"] == "ws-error"] == ["ENOBUFS"], events
        stopped = [e for e in events if e["event"] == "flood-stopped"]
        # The 16th 256 KiB message (plus its 10-byte frame header) passes 4 MiB: dropped, and the next send() throws.
        assert stopped and stopped[0]["sent"] == 16 and stopped[0]["code"] == "ERR_SOCKET_CLOSED", events
    finally:
        a.kill()


def test_bad_websocket_options_are_type_errors():
    script = """
import SocketIWA from './api/direct_sockets_api.js';
for (const websocket of [5, { maxPayload: -1 }, { perMessageDeflate: 'yes' }, { binaryType: 'text' }]) {
  try { await SocketIWA.createHttp3Server('127.0.0.1', { fetch() {}, websocket }); console.log(JSON.stringify({ ok: true })); }
  catch (e) { console.log(JSON.stringify({ name: e.name, code: e.code, message: e.message })); }
}
"""
    out = subprocess.run([NODE26, "--input-type=module", "-e", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    rows = [json.loads(l) for l in out.stdout.splitlines()]
    assert [(r.get("name"), r.get("code")) for r in rows] == [
        ("TypeError", "ERR_INVALID_ARG_TYPE"), ("TypeError", "ERR_OUT_OF_RANGE"), ("TypeError", "ERR_INVALID_ARG_TYPE"),
        ("TypeError", "ERR_INVALID_ARG_VALUE")], out.stderr
    assert all("options.websocket" in r["message"] for r in rows)


def test_chromium_websocket_over_http3(tmp_path):
    """Chromium 156's `new WebSocket()` over HTTP/3 (its EnableWebsocketsOverHttp3 feature;
    off by default) against the app: the page is served by the app's fetch handler,
    then text reversed, a compressible 26 KB text and a 100 KB binary echoed, four
    WebSockets at once, close codes both ways. No TCP listener exists on the port."""
    cert, key = str(tmp_path / "cert.pem"), str(tmp_path / "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-days", "10", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                    "-keyout", key, "-out", cert], check=True, capture_output=True)
    pub = subprocess.run(["openssl", "x509", "-in", cert, "-pubkey", "-noout"], check=True, capture_output=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "der"], input=pub, check=True, capture_output=True).stdout
    import base64
    import hashlib
    spki = base64.b64encode(hashlib.sha256(der).digest()).decode()
    a = WsApp("--cert", cert, "--key", key)
    try:
        p = subprocess.run([NODE26, os.path.join(ROOT, "tests", "interop", "h3_chromium_ws.mjs"), str(a.port), spki],
                           capture_output=True, text=True, timeout=150, cwd=ROOT)
        lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
        assert lines, p.stderr
        r = json.loads(lines[-1])
        assert r.get("error") is None, r
        assert r["page_status"] == 200 and r["protocols"] == ["h3"], r
        assert r["reversed"] == "desserts"
        assert r["extensions"].startswith("permessage-deflate"), r["extensions"]
        assert r["big_text_ok"] and r["binary_ok"], r
        assert r["many"] == [f"{i}cba" for i in range(4)]
        assert r["client_close"] == {"code": 4000, "reason": "", "clean": True}, r["client_close"]
        assert r["server_close"] == {"code": 4002, "reason": "server says bye", "clean": True}, r["server_close"]
        events = a.events_until_closed()
        closes = sorted(e["code"] for e in events if e["event"] == "ws-close" and e["path"] in ("/echo", "/close"))
        assert closes == [4000, 4002], events
    finally:
        a.kill()
