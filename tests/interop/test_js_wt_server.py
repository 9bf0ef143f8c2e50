"""server.on('webtransport') of SocketIWA.createHttp3Server (issue 10): JavaScript
WebTransport sessions served by the wasm stack under Node 26 (tests/js_servers/wt_app.mjs),
against aioquic's WebTransport client. Loopback only. docs/JS_SERVERS.md,
"WebTransport sessions"."""

import asyncio
import json
import os
import subprocess
import time

import pytest
from aioquic.asyncio import connect
from aioquic.quic.events import StopSendingReceived

from conftest import NODE26, ROOT
from js_app import JsApp
from h3_peers import STEP, H3Client, bytes_pattern, close_capsule, config
from udp_relay import UdpRelay

APP = os.path.join(ROOT, "tests", "js_servers", "wt_app.mjs")
H3_APP = os.path.join(ROOT, "tests", "js_servers", "h3_app.mjs")
WT_FIRST = 0x52e4a40fa8db


def wt_to_h3(code: int) -> int:
    return WT_FIRST + code + code // 0x1e


class Client(H3Client):
    """aioquic's H3 client that also records STOP_SENDING."""

    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.stopped = {}

    def quic_event_received(self, event):
        if isinstance(event, StopSendingReceived):
            self.stopped[event.stream_id] = event.error_code
            self.stream(event.stream_id).changed.set()
        super().quic_event_received(event)


def wt_connect(port: int):
    return connect("127.0.0.1", port, configuration=config(), create_protocol=Client)


class App(JsApp):
    reuse_seen = True

    def __init__(self, script=APP):
        super().__init__(script)

    def event(self, name, pred=lambda ev: True, timeout=STEP * 3):
        return super().event(name, pred=pred, timeout=timeout)


@pytest.fixture
def app():
    a = App()
    yield a
    a.kill()


def run(coro, timeout=120):
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def session(c, path):
    sess, st = await c.connect_protocol("webtransport", path)
    assert st == 200, f"CONNECT {path}: {st}"
    return sess


async def echo_streams(c, sess, n, batch=100):
    """n bidi streams on `sess`, `batch` at a time (under the 128-stream limit), each echoed exactly."""
    done = 0
    while done < n:
        k = min(batch, n - done)
        ids = []
        for i in range(k):
            b = c.wt_bidi(sess)
            c._quic.send_stream_data(b, f"stream {done + i} ".encode() * 3, end_stream=True)
            ids.append((b, done + i))
        c.transmit()
        await c.wait_for(lambda: all(c.stream(b).ended.done() for b, _ in ids), f"echo of streams {done}..{done + k}", STEP * 3)
        for b, i in ids:
            assert bytes(c.stream(b).data) == f"stream {i} ".encode() * 3
            assert c.stream(b).reset is None
            del c.streams[b]
        done += k


def test_echo_app_streams_and_datagrams(app):
    """The echo app: >= 1000 bidi streams on one session, uni streams both ways, datagrams;
    the session's url/remote address as the listener saw them."""
    async def main():
        async with wt_connect(app.port) as c:
            sess = await session(c, "/echo?room=a")
            ev = app.event("session")
            assert ev["url"] == "https://localhost/echo?room=a"
            assert ev["remoteAddress"] == "127.0.0.1" and ev["remotePort"] == c._transport.get_extra_info("sockname")[1]
            await echo_streams(c, sess, 1200)
            # A client uni stream is answered on a server uni stream with the same 200 KB.
            before = set(c.streams)
            u = c.h3.create_webtransport_stream(sess, is_unidirectional=True)
            body = bytes_pattern(200_000)
            c._quic.send_stream_data(u, body, end_stream=True)
            c.transmit()
            await c.wait_for(lambda: any(s & 3 == 3 and c.stream(s).ended.done() for s in set(c.streams) - before), "uni echo")
            (r,) = [s for s in set(c.streams) - before if s & 3 == 3]
            assert bytes(c.stream(r).data) == body
            # Datagrams both ways.
            for i in range(20):
                c.h3.send_datagram(sess, b"dgram %d" % i)
                c.transmit()
                await c.wait_for(lambda: len(c.datagrams) > i, f"datagram {i}")
            assert [d for _, d in c.datagrams] == [b"dgram %d" % i for i in range(20)]
        assert app.event("session_lost")["code"] == "ECONNRESET"
        assert app.command("stats", "stats")["echoedStreams"] >= 1200
    run(main())


def test_remote_address_follows_a_nat_rebinding(app):
    """aioquic's WebTransport client through a relay that moves to a new source port (a NAT that
    lost its mapping) after 300 KB of a 1 MB echo on a session stream: the echo completes over
    the new path, and session.remoteAddress/remotePort in JavaScript are the relay's new port."""
    async def main(relay):
        async with connect("127.0.0.1", relay.port, configuration=config(), create_protocol=Client) as c:
            sess = await session(c, "/echo?room=nat")
            first = app.event("session", lambda e: e["url"].endswith("room=nat"))
            assert f"{first['remoteAddress']}:{first['remotePort']}" == relay.stats["back_addrs"][0], first
            b = c.wt_bidi(sess)
            body = bytes_pattern(1_000_000)
            c._quic.send_stream_data(b, body, end_stream=True)
            c.transmit()
            await c.wait_for(lambda: c.stream(b).ended.done(), "the 1 MB echo", STEP * 3)
            assert bytes(c.stream(b).data) == body
            c.h3.send_data(sess, close_capsule(0, b"done"), end_stream=True)
            c.transmit()
            ev = app.event("session_closed", lambda e: e["path"] == "/echo")
            return ev
    with UdpRelay(("127.0.0.1", app.port), mode="rebind-port", rebind_after=300_000) as relay:
        ev = run(main(relay))
    assert relay.stats["rebinds"] == 1, relay.stats
    assert f"{ev['remoteAddress']}:{ev['remotePort']}" == relay.stats["back_addrs"][1], (ev, relay.stats["back_addrs"])


def test_server_opened_streams(app):
    """createBidirectionalStream (the server writes, the client answers on it) and
    createUnidirectionalStream (300 KB, written only as QUIC takes it)."""
    async def main():
        async with wt_connect(app.port) as c:
            sess = await session(c, "/server-bidi")
            await c.wait_for(lambda: any(s & 3 == 1 and c.stream(s).ended.done() for s in c.streams), "server bidi stream")
            (b,) = [s for s in c.streams if s & 3 == 1]
            assert bytes(c.stream(b).data) == b"hello from the server"
            c._quic.send_stream_data(b, b"hello back", end_stream=True)
            c.transmit()
            assert app.event("server_bidi_reply")["text"] == "hello back"
            sess2 = await session(c, "/server-uni?n=300000")
            await c.wait_for(lambda: any(s & 3 == 3 and c.stream(s).ended.done() and len(c.stream(s).data) == 300000
                                         for s in c.streams), "server uni stream")
            (u,) = [s for s in c.streams if s & 3 == 3 and len(c.stream(s).data) == 300000]
            assert bytes(c.stream(u).data) == bytes_pattern(300000)
            assert app.event("server_uni_done")["n"] == 300000
            del sess2
    run(main())


def test_stream_reset_and_stop_sending_codes(app):
    """JavaScript's writer.abort(e)/reader.cancel(e) send RESET_STREAM/STOP_SENDING with
    e.streamErrorCode; the peer's RESET_STREAM/STOP_SENDING reach JavaScript as
    WebTransportError { source: 'stream', streamErrorCode, code }."""
    async def main():
        async with wt_connect(app.port) as c:
            sess = await session(c, "/errors")
            b = c.wt_bidi(sess)
            c._quic.send_stream_data(b, b"abort", end_stream=False)
            c.transmit()
            await c.wait_for(lambda: c.stream(b).reset is not None and b in c.stopped, "reset and stop_sending from JavaScript")
            assert c.stream(b).reset == wt_to_h3(42)
            assert c.stopped[b] == wt_to_h3(43)
            app.event("aborted")
            # The other way: the client resets its side (code 5) and stops ours (code 6).
            b2 = c.wt_bidi(sess)
            c._quic.send_stream_data(b2, b"wait", end_stream=False)
            c.transmit()
            await c.wait_for(lambda: len(c.stream(b2).data) > 0, "the server writing")
            c._quic.reset_stream(b2, wt_to_h3(5))
            c._quic.stop_stream(b2, wt_to_h3(6))
            c.transmit()
            ev = app.event("stream_errors")
            assert ev["read"] == {"name": "WebTransportError", "code": "ERR_WT_STREAM_RESET", "source": "stream", "streamErrorCode": 5}
            assert ev["write"] == {"name": "WebTransportError", "code": "ERR_WT_STREAM_STOPPED", "source": "stream", "streamErrorCode": 6}
            # STOP_SENDING was answered with RESET_STREAM carrying the same code.
            await c.wait_for(lambda: c.stream(b2).reset is not None, "reset answering stop_sending")
            assert c.stream(b2).reset == wt_to_h3(6)
    run(main())


def test_session_close_codes_both_ways(app):
    """The client's CLOSE_WEBTRANSPORT_SESSION reaches session.closed with its code and
    reason and rejects a pending read; session.close({closeCode, reason}) sends the capsule."""
    async def main():
        async with wt_connect(app.port) as c:
            sess = await session(c, "/errors")
            b = c.wt_bidi(sess)
            c._quic.send_stream_data(b, b"pending", end_stream=False)
            c.transmit()
            await asyncio.sleep(0.2)
            c.h3.send_data(sess, close_capsule(9, b"bye from the client"), end_stream=True)
            c.transmit()
            ev = app.event("session_closed", lambda e: e["path"] == "/errors")
            assert (ev["closeCode"], ev["reason"]) == (9, "bye from the client")
            ev = app.event("pending_read")
            assert (ev["code"], ev["source"]) == ("ERR_WT_SESSION_CLOSED", "session")

            sess2 = await session(c, "/close")
            c.h3.send_datagram(sess2, b"close please")
            c.transmit()
            await c.wait_for(lambda: c.stream(sess2).ended.done(), "the server's capsule and FIN")
            assert bytes(c.stream(sess2).data) == close_capsule(7, b"bye from the server")
            ev = app.event("session_closed", lambda e: e["path"] == "/close")
            assert (ev["closeCode"], ev["reason"]) == (7, "bye from the server")
    run(main())


def test_incoming_datagrams_over_the_queue_are_dropped_oldest_first(app):
    """500 datagrams at a session that reads none yet: 128 (the newest) stay queued, the rest
    are dropped and counted in datagrams.droppedIncoming (docs/JS_SERVERS.md)."""
    async def main():
        async with wt_connect(app.port) as c:
            sess = await session(c, "/dgram-hold")
            for i in range(500):
                c.h3.send_datagram(sess, b"d%d" % i)
                if i % 50 == 49:
                    c.transmit()
                    await asyncio.sleep(0.02)
            c.transmit()
            await asyncio.sleep(1.0)
            b = c.wt_bidi(sess)
            c._quic.send_stream_data(b, b"report", end_stream=True)
            c.transmit()
            await c.wait_for(lambda: c.stream(b).ended.done(), "the report")
            r = json.loads(bytes(c.stream(b).data))
            got = [int(x[1:]) for x in r["got"]]
            assert len(got) == 128, r
            assert got == sorted(got) and got[-1] >= 490, r  # the newest are kept (loopback loses few, if any)
            assert 500 - 128 - 10 <= r["dropped"] <= 500 - 128, r
    run(main())


def test_throwing_listener_closes_the_session_not_the_server(app):
    async def main():
        async with wt_connect(app.port) as c:
            sess = await session(c, "/throw")
            await c.wait_for(lambda: c.stream(sess).ended.done(), "the session closed by the server")
            assert bytes(c.stream(sess).data) == close_capsule(0x102, b"internal error")
            ev = app.event("error")
            assert ev["code"] == "ERR_HANDLER_THREW" and "listener failure on purpose" in ev["message"]
            sess2 = await session(c, "/echo")
            await echo_streams(c, sess2, 3)
    run(main())


def test_session_that_never_reads_holds_the_peer(app):
    """100 MB sent at a session that never reads: the peer is held by flow control (about
    one 1 MiB stream window per stream), the server's memory stays bounded, another session
    on the same server is served meanwhile, then the stuck session closes cleanly."""
    total, streams = 100 * 1024 * 1024, 8
    async def main():
        rss0 = app.command("stats", "stats")["rss"]
        async with wt_connect(app.port) as c, wt_connect(app.port) as other:
            sess = await session(c, "/never-read")
            ids = []
            for i in range(streams):
                b = c.wt_bidi(sess)
                c._quic.send_stream_data(b, bytes(total // streams), end_stream=True)
                ids.append(b)
            c.transmit()

            def sent():
                return sum(c._quic._streams[b].sender.highest_offset for b in ids)
            # Wait until the sender is stuck (no progress for 1 s), at most 40 s.
            last, still, t0 = -1, time.monotonic(), time.monotonic()
            while time.monotonic() - t0 < 40:
                await asyncio.sleep(0.25)
                c.transmit()
                s = sent()
                if s != last:
                    last, still = s, time.monotonic()
                elif time.monotonic() - still > 1.0:
                    break
            # The other session works while the first is stuck.
            osess = await session(other, "/echo")
            await echo_streams(other, osess, 50)
            rss1 = app.command("stats", "stats")["rss"]
            # Each stream's window is 1 MiB (+ the stream header): 8 MiB in all, not 100 MB.
            assert sent() <= streams * ((1 << 20) + 64), f"the peer sent {sent()} bytes to a session that reads nothing"
            # The process grew by far less than what was offered (generous: wasm memory, JS heap, GC timing).
            assert rss1 - rss0 < 64 << 20, f"RSS grew {(rss1 - rss0) >> 20} MiB"
            print(f"sent {sent()} of {total} bytes; server RSS {rss0 >> 20} -> {rss1 >> 20} MiB")
            # Stream data is stuck (the connection window too, so no capsule could pass): a
            # datagram asks the app to close the session; it does, with its code and reason.
            c.h3.send_datagram(sess, b"close")
            c.transmit()
            await c.wait_for(lambda: c.stream(sess).ended.done(), "the server's capsule and FIN")
            assert bytes(c.stream(sess).data) == close_capsule(3, b"giving up")
            ev = app.event("session_closed", lambda e: e["path"] == "/never-read")
            assert (ev["closeCode"], ev["reason"]) == (3, "giving up")
            # And the connection stays usable: its window was given back when the session ended.
            sess3 = await session(c, "/echo")
            await echo_streams(c, sess3, 5)
    run(main())


def test_webtransport_without_listener_is_404():
    a = App(H3_APP)
    try:
        async def main():
            async with wt_connect(a.port) as c:
                _, st = await c.connect_protocol("webtransport", "/echo")
                assert st == 404
        run(main())
    finally:
        a.kill()


CHAT_APP = os.path.join(ROOT, "tests", "js_servers", "chat_app.mjs")


def test_readme_chat_example(tmp_path):
    """The README's WebTransport chat (tests/js_servers/chat_app.mjs, the same lines): three
    aioquic WebTransport sessions; a message one sends on a uni stream reaches all three;
    after one session closes, the next message reaches the other two and the server goes on."""
    readme = open(os.path.join(ROOT, "README.md")).read()
    src = open(CHAT_APP).read()
    body = src.split("// --- README begin\n")[1].split("// --- README end\n")[0]
    assert "import SocketIWA from 'socket-iwa';\n" + body in readme, "README's chat block differs from chat_app.mjs"

    # Default storage (the README's), kept out of the real home directory.
    env = dict(os.environ, HOME=str(tmp_path))
    proc = subprocess.Popen([NODE26, CHAT_APP, "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        info = json.loads(proc.stdout.readline() or "{}")
        assert info.get("event") == "listening", proc.stderr.read() if proc.poll() is not None else info
        port = info["port"]

        async def main():
            async with wt_connect(port) as a, wt_connect(port) as b, wt_connect(port) as c:
                clients = [a, b, c]
                sess = [await session(x, "/") for x in clients]

                def received(x, msg):
                    return any(s & 3 == 3 and x.stream(s).ended.done() and bytes(x.stream(s).data) == msg
                               for s in list(x.streams))

                async def say(x, s, msg, to):
                    u = x.h3.create_webtransport_stream(s, is_unidirectional=True)
                    x._quic.send_stream_data(u, msg, end_stream=True)
                    x.transmit()
                    for y in to:
                        await y.wait_for(lambda: received(y, msg), f"{msg!r} broadcast", STEP * 2)

                await say(a, sess[0], b"hello from a", clients)
                await say(c, sess[2], b"and from c", clients)
                # b leaves (CLOSE_WEBTRANSPORT_SESSION); the others keep chatting.
                b.h3.send_data(sess[1], close_capsule(0, b""), end_stream=True)
                b.transmit()
                await asyncio.sleep(0.5)
                await say(a, sess[0], b"b has left", [a, c])
                await asyncio.sleep(0.3)
                assert not received(b, b"b has left")
        run(main())
        assert proc.poll() is None, proc.stderr.read()
    finally:
        proc.kill()
        proc.wait()
