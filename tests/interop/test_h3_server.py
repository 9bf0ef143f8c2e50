"""Socket.IWA's `h3` server (HTTP/3 over nghttp3, WebTransport, WebSocket over
HTTP/3) against aioquic's HTTP/3 client, plus bad input. Loopback only."""

import asyncio
import os

from wsproto.frame_protocol import FrameProtocol, Opcode

from conftest import BOTH_KINDS, Server
from h3_peers import STEP, bytes_pattern, close_capsule, control_frames, h3_connect

# Every test taking `server` runs against the native server and the wasm one (conftest.py).
SERVER_KINDS = BOTH_KINDS


def run(coro, timeout=60):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def test_get_post_and_errors(server):
    async def main():
        async with h3_connect("127.0.0.1", server.port) as c:
            st, body = await c.request("GET", "/")
            assert st == 200 and b"socket-iwa" in body and b"nghttp3" in body
            st, body = await c.request("GET", "/bytes/1048576")
            assert st == 200 and len(body) == 1 << 20 and body == bytes_pattern(1 << 20)
            st, body = await c.request("GET", "/bytes/0")
            assert st == 200 and body == b""
            payload = os.urandom(300_000)
            st, body = await c.request("POST", "/echo", payload)
            assert st == 200 and body == payload
            assert (await c.request("GET", "/missing"))[0] == 404
            assert (await c.request("DELETE", "/echo"))[0] == 405
            assert (await c.request("GET", "/bytes/nope"))[0] == 400
            # Concurrent requests on one connection.
            res = await asyncio.gather(*[c.request("GET", f"/bytes/{1000 + i}") for i in range(20)])
            assert all(st == 200 and b == bytes_pattern(1000 + i) for i, (st, b) in enumerate(res))
    run(main())


def test_webtransport_echo(server):
    async def main():
        async with h3_connect("127.0.0.1", server.port) as c:
            sess, st = await c.connect_protocol("webtransport", "/wt/echo")
            assert st == 200
            for i in range(10):
                c.h3.send_datagram(sess, b"dgram-%d" % i)
            c.transmit()
            await c.wait_for(lambda: len(c.datagrams) >= 8, "datagram echoes")
            assert all(sid == sess and d.startswith(b"dgram-") for sid, d in c.datagrams)
            # Bidi streams echoed on themselves.
            bidis = []
            for i in range(5):
                b = c.wt_bidi(sess)
                data = bytes_pattern(50_000 + i)
                c._quic.send_stream_data(b, data, end_stream=True)
                bidis.append((b, data))
            c.transmit()
            for b, data in bidis:
                await asyncio.wait_for(c.stream(b).ended, STEP)
                assert bytes(c.stream(b).data) == data
            # Each uni stream answered by a server uni stream with the same bytes.
            u = c.h3.create_webtransport_stream(sess, is_unidirectional=True)
            c._quic.send_stream_data(u, b"uni-payload" * 1000, end_stream=True)
            c.transmit()
            await c.wait_for(lambda: any(k & 3 == 3 and bytes(s.data) == b"uni-payload" * 1000 and s.ended.done()
                                         for k, s in c.streams.items()), "uni reply")
            # A reset client stream is reset back with the same code.
            b = c.wt_bidi(sess)
            c._quic.send_stream_data(b, b"partial", end_stream=False)
            c.transmit()
            await c.wait_for(lambda: bytes(c.stream(b).data) == b"partial", "partial echo")
            c._quic.reset_stream(b, 0x52e4a40fa8db + 5)
            c.transmit()
            await c.wait_for(lambda: c.stream(b).reset is not None, "reset propagated")
            assert c.stream(b).reset == 0x52e4a40fa8db + 5
            # A datagram for a session that does not exist is dropped; the connection lives on.
            c._quic.send_datagram_frame(b"\x3f" + b"nobody")
            c.transmit()
            # CLOSE_WEBTRANSPORT_SESSION: the server finishes the CONNECT stream.
            b2 = c.wt_bidi(sess)
            c._quic.send_stream_data(b2, b"open", end_stream=False)
            c.transmit()
            await c.wait_for(lambda: bytes(c.stream(b2).data) == b"open", "echo before close")
            c.h3.send_data(sess, close_capsule(7, b"bye"), end_stream=False)
            c.transmit()
            await asyncio.wait_for(c.stream(sess).ended, STEP)
            # Streams of the closed session are reset with WT_SESSION_GONE.
            await c.wait_for(lambda: c.stream(b2).reset is not None, "session streams reset")
            assert c.stream(b2).reset == 0x170d7b68
            # The connection still serves requests, and a new session.
            assert (await c.request("GET", "/bytes/10"))[0] == 200
            sess2, st = await c.connect_protocol("webtransport", "/wt/echo")
            assert st == 200 and sess2 != sess
            assert c.terminated is None
    run(main())


class Msg:
    def __init__(self, opcode, payload):
        self.opcode, self.payload = opcode, payload


def ws_collect(fp: FrameProtocol, data: bytes, msgs: list, partial: list = None):
    """Feeds bytes to wsproto and appends whole messages (reassembled until message_finished)."""
    partial = partial if partial is not None else []
    fp.receive_bytes(data)
    for f in fp.received_frames():
        if f.opcode in (Opcode.CLOSE, Opcode.PING, Opcode.PONG):
            msgs.append(Msg(f.opcode, f.payload if f.opcode == Opcode.CLOSE else bytes(f.payload)))
            continue
        if not partial:
            # wsproto reports a frame's chunks with the message's opcode; a message starts after the last one ended.
            partial[:] = [f.opcode, "" if f.opcode == Opcode.TEXT else b""]
        partial[1] += f.payload if isinstance(f.payload, str) else bytes(f.payload)
        if f.message_finished:
            msgs.append(Msg(partial[0], partial[1]))
            partial.clear()


def test_websocket_over_h3_echo(server):
    async def main():
        async with h3_connect("127.0.0.1", server.port) as c:
            sid, st = await c.connect_protocol("websocket", "/ws/echo")
            assert st == 200
            fp = FrameProtocol(client=True, extensions=[])
            out = fp.send_data("héllo", fin=True)
            out += fp.send_data(b"\x00\x01binary", fin=True)
            # A fragmented text message with a ping in between.
            out += fp.send_data("frag-", fin=False) + fp.ping(b"p1") + fp.send_data("ment", fin=True)
            big = os.urandom(200_000)
            out += fp.send_data(big, fin=True)
            c.h3.send_data(sid, bytes(out), end_stream=False)
            c.transmit()
            got = []
            partial = []
            seen = 0
            def parse():
                nonlocal seen
                data = bytes(c.stream(sid).data)
                ws_collect(fp, data[seen:], got, partial)
                seen = len(data)
                return sum(1 for f in got if f.opcode in (Opcode.TEXT, Opcode.BINARY, Opcode.PONG)) >= 5
            await c.wait_for(parse, "websocket echoes")
            kinds = [(f.opcode, f.payload) for f in got]
            assert (Opcode.TEXT, "héllo") in kinds
            assert (Opcode.BINARY, b"\x00\x01binary") in kinds
            assert (Opcode.PONG, b"p1") in kinds
            assert (Opcode.TEXT, "frag-ment") in kinds
            sizes = [(f.opcode, len(f.payload)) for f in got]
            assert any(f.opcode == Opcode.BINARY and bytes(f.payload) == big for f in got), sizes
            # Close handshake: the server echoes our code and finishes the stream.
            c.h3.send_data(sid, bytes(fp.close(4001, "done")), end_stream=False)
            c.transmit()
            await asyncio.wait_for(c.stream(sid).ended, STEP)
            parse()
            close = [f for f in got if f.opcode == Opcode.CLOSE]
            assert close and close[0].payload[0] == 4001
    run(main())


def test_websocket_protocol_errors(server):
    async def main():
        async with h3_connect("127.0.0.1", server.port) as c:
            # Unmasked client frame: close 1002.
            sid, st = await c.connect_protocol("websocket", "/ws/echo")
            assert st == 200
            c.h3.send_data(sid, b"\x82\x03abc", end_stream=False)
            c.transmit()
            await asyncio.wait_for(c.stream(sid).ended, STEP)
            fp = FrameProtocol(client=True, extensions=[])
            frames = []
            ws_collect(fp, bytes(c.stream(sid).data), frames)
            assert frames[0].opcode == Opcode.CLOSE and frames[0].payload[0] == 1002
            # Invalid UTF-8 in a text frame: close 1007 (raw masked frame).
            sid, st = await c.connect_protocol("websocket", "/ws/echo")
            key = b"\x01\x02\x03\x04"
            c.h3.send_data(sid, b"\x81\x82" + key + bytes([0xff ^ 1, 0xfe ^ 2]), end_stream=False)
            c.transmit()
            await asyncio.wait_for(c.stream(sid).ended, STEP)
            frames = []
            ws_collect(FrameProtocol(client=True, extensions=[]), bytes(c.stream(sid).data), frames)
            assert frames[0].opcode == Opcode.CLOSE and frames[0].payload[0] == 1007
            assert (await c.request("GET", "/bytes/5"))[0] == 200
    run(main())


def test_bad_requests_keep_connection(server):
    async def main():
        async with h3_connect("127.0.0.1", server.port) as c:
            # CONNECT to an unknown path: 404; unsupported :protocol: 501.
            assert (await c.connect_protocol("webtransport", "/wt/nowhere"))[1] == 404
            assert (await c.connect_protocol("websocket", "/ws/nowhere"))[1] == 404
            assert (await c.connect_protocol("gopher", "/wt/echo"))[1] == 501
            # Oversized header section: 431.
            st, _ = await c.request("GET", "/", extra=[(b"x-big", b"a" * 40_000)])
            assert st == 431
            # Missing :path: the request stream is reset with H3_MESSAGE_ERROR.
            sid = c._quic.get_next_available_stream_id()
            c.h3.send_headers(sid, [(b":method", b"GET"), (b":scheme", b"https"), (b":authority", b"localhost")],
                              end_stream=True)
            c.transmit()
            await c.wait_for(lambda: c.stream(sid).reset is not None, "reset of malformed request")
            assert c.stream(sid).reset == 0x10e
            # The connection still works.
            st, body = await c.request("GET", "/bytes/100")
            assert st == 200 and body == bytes_pattern(100)
            # A stream to a WebTransport session that does not exist is rejected.
            b = c._quic.get_next_available_stream_id()
            c._quic.send_stream_data(b, b"\x40\x41\x3f" + b"data", end_stream=False)
            c.transmit()
            await c.wait_for(lambda: c.stream(b).reset is not None, "rejected WT stream")
            assert c.stream(b).reset == 0x3994bd84
            assert c.terminated is None
    run(main())


def test_malformed_frame_closes_connection_not_server(server):
    async def main():
        async with h3_connect("127.0.0.1", server.port) as c:
            sid = c._quic.get_next_available_stream_id()
            # DATA before HEADERS on a request stream: H3_FRAME_UNEXPECTED (RFC 9114 section 4.1).
            c._quic.send_stream_data(sid, b"\x00\x03abc", end_stream=True)
            c.transmit()
            await c.wait_for(lambda: c.terminated is not None, "connection error")
            assert c.terminated.error_code == 0x105
        async with h3_connect("127.0.0.1", server.port) as c:
            # A second control stream is H3_STREAM_CREATION_ERROR.
            u = c._quic.get_next_available_stream_id(is_unidirectional=True)
            c._quic.send_stream_data(u, b"\x00\x04\x00", end_stream=False)
            c.transmit()
            await c.wait_for(lambda: c.terminated is not None, "connection error")
            assert c.terminated.error_code == 0x103
        async with h3_connect("127.0.0.1", server.port) as c:
            st, body = await c.request("GET", "/bytes/1000")
            assert st == 200 and body == bytes_pattern(1000)
    run(main())


def test_settings_and_goaway_on_shutdown():
    """Our SETTINGS carry the WebTransport settings; stopping the server sends
    GOAWAY on the control stream, then CONNECTION_CLOSE with H3_NO_ERROR."""
    s = Server()

    async def main():
        async with h3_connect("127.0.0.1", s.port) as c:
            assert (await c.request("GET", "/bytes/10"))[0] == 200
            frames = [f for raw in c.raw_uni.values() for f in control_frames(raw)]
            settings = [p for t, p in frames if t == 0x04]
            assert len(settings) == 1
            from aioquic.buffer import Buffer
            b = Buffer(data=settings[0])
            kv = {}
            while not b.eof():
                k = b.pull_uint_var()
                kv[k] = b.pull_uint_var()
            assert kv.get(0x08) == 1 and kv.get(0x33) == 1 and kv.get(0x2b603742) == 1, kv
            await asyncio.to_thread(s.stop)
            await c.wait_for(lambda: c.terminated is not None, "connection close")
            assert c.terminated.error_code == 0x100
            frames = [f for raw in c.raw_uni.values() for f in control_frames(raw)]
            assert any(t == 0x07 for t, _ in frames), frames
    try:
        run(main())
    finally:
        s.stop()
    assert s.proc.returncode == 0, s.proc.stderr.read()


def test_streams_past_the_limit_close_connection_not_server(server):
    """A client that opens more bidi streams than the server allowed (aioquic's
    own limit check bypassed) gets STREAM_LIMIT_ERROR (RFC 9000 section 4.6);
    the server keeps serving new connections."""
    async def main():
        async with h3_connect("127.0.0.1", server.port) as c:
            assert (await c.request("GET", "/bytes/1"))[0] == 200
            c._quic._remote_max_streams_bidi = 10_000  # pretend the server allowed more
            for _ in range(300):
                sid = c._quic.get_next_available_stream_id()
                c.h3.send_headers(sid, [(b":method", b"GET"), (b":scheme", b"https"), (b":authority", b"localhost"),
                                        (b":path", b"/bytes/1")], end_stream=False)
            c.transmit()
            await c.wait_for(lambda: c.terminated is not None, "connection error", timeout=STEP * 2)
            assert c.terminated.error_code == 0x4
        async with h3_connect("127.0.0.1", server.port) as c:
            st, body = await c.request("GET", "/bytes/1000")
            assert st == 200 and body == bytes_pattern(1000)
    run(main())
