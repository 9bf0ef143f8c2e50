"""SocketIWA.createQuicServer (issue 10): raw QUIC connections with custom ALPNs whose
logic is JavaScript's, served by the wasm stack under Node 26 (tests/js_servers/quic_app.mjs),
against aioquic's QUIC client (no HTTP/3). Loopback only. docs/JS_SERVERS.md, "Raw QUIC servers"."""

import asyncio
import os

import pytest

from aioquic.tls import CipherSuite

from aioquic_alpn import NO_APPLICATION_PROTOCOL, STEP, quic, raw_peer  # the shared aioquic client
from conftest import ROOT
from js_app import JsApp
from aioquic_rebind import rebinding_echo_client

APP = os.path.join(ROOT, "tests", "js_servers", "quic_app.mjs")


class App(JsApp):
    reuse_seen = True

    def __init__(self):
        super().__init__(APP, ready=("bad_args",))
        self.bad = self.info["bad"]
        self.info = self.event("listening")
        self.port = self.info["port"]

    def event(self, name, pred=lambda ev: True, timeout=STEP):
        return super().event(name, pred=pred, timeout=timeout)


@pytest.fixture(scope="module")
def app():
    a = App()
    yield a
    a.kill()


async def wait_event(app, *a, **k):
    """app.event off the event loop: aioquic's client must keep running (it finishes its handshake there)."""
    return await asyncio.to_thread(app.event, *a, **k)


def run(coro, timeout=120):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def test_bad_arguments(app):
    """Bad host/port/alpn/certificate: TypeErrors with codes, nothing started."""
    want = {"host": "ERR_INVALID_IP_ADDRESS", "port": "ERR_SOCKET_BAD_PORT", "no_alpn": "ERR_INVALID_ARG_VALUE",
            "empty_alpn": "ERR_INVALID_ARG_VALUE", "alpn_type": "ERR_INVALID_ARG_TYPE", "alpn_long": "ERR_INVALID_ARG_VALUE",
            "alpn_comma": "ERR_INVALID_ARG_VALUE", "alpn_twice": "ERR_INVALID_ARG_VALUE", "certificate": "ERR_INVALID_ARG_VALUE"}
    for name, code in want.items():
        got = app.bad[name]
        assert got != "resolved", name
        assert got["type"] == "TypeError" and got["code"] == code, (name, got)
    assert app.info["alpn"] == ["myproto", "ctl", "boom"]


def test_echo_streams_datagrams(app):
    """ALPN myproto: 1000 bidi streams echoed on one connection (100 at a time, under the
    128-stream limit), a uni stream answered on a server uni stream, datagrams echoed; conn.alpn."""

    async def go():
        async with quic(app.port, ["myproto"]) as c:
            assert c._quic.tls.alpn_negotiated == "myproto"
            ev = await wait_event(app, "connection")
            assert ev["alpn"] == "myproto" and ev["remoteAddress"] == "127.0.0.1"
            # The wasm server prefers ChaCha20-Poly1305 although aioquic offers AES first.
            assert ev["cipherSuite"] == "TLS_CHACHA20_POLY1305_SHA256", ev
            assert c._quic.tls.key_schedule.cipher_suite == CipherSuite.CHACHA20_POLY1305_SHA256
            assert ev["remotePort"] == c._transport.get_extra_info("sockname")[1]
            for i in range(20):
                c._quic.send_datagram_frame(f"datagram {i}".encode())
            c.transmit()
            uni = c._quic.get_next_available_stream_id(is_unidirectional=True)
            payload = bytes((i * 7) % 251 for i in range(200_000))
            c.send(uni, payload, end=True)
            done = 0
            while done < 1000:
                ids = []
                for i in range(done, done + 100):
                    sid = c.bidi()
                    c._quic.send_stream_data(sid, f"stream {i} ".encode() * 3, end_stream=True)
                    ids.append((sid, i))
                c.transmit()
                await c.until(lambda: all(s in c.ended for s, _ in ids), f"echo of streams {done}..{done + 100}")
                for sid, i in ids:
                    assert bytes(c.data[sid]) == f"stream {i} ".encode() * 3
                    assert sid not in c.resets
                done += 100
            await c.until(lambda: any(s & 3 == 3 and s in c.ended for s in c.data), "the server's uni stream")
            answer = [s for s in c.data if s & 3 == 3][0]
            assert bytes(c.data[answer]) == payload
            await c.until(lambda: len(c.datagrams) >= 18, "datagram echoes")
            assert set(c.datagrams) <= {f"datagram {i}".encode() for i in range(20)}
            c.close(error_code=9, reason_phrase="done")
        ev = await wait_event(app, "conn_closed", lambda e: e["alpn"] == "myproto")
        assert ev["closeCode"] == 9 and ev["reason"] == "done"
        assert app.command("stats", "stats")["echoed"] >= 1000

    run(go())


@pytest.mark.parametrize("new_ip,change_cid", [("127.0.0.1", False), ("127.0.0.2", True)],
                         ids=["nat-rebinding", "address-migration"])
def test_remote_address_follows_a_moving_peer(app, new_ip, change_cid):
    """aioquic's client echoes 1 MB on ALPN myproto and moves to a new socket half-way: an
    ordinary NAT rebinding (new port, same connection ID), or a deliberate migration to a new
    address with a new connection ID. The echo completes over the new path, and JavaScript's
    conn.remoteAddress/remotePort are the new ones (event 15 from the Rust side)."""
    r = rebinding_echo_client("127.0.0.1", app.port, 1_000_000, rebind_at=500_000, new_ip=new_ip,
                              change_cid=change_cid, alpn="myproto")
    assert r.error is None and r.verified and r.echoed == 1_000_000, r
    assert r.received_after_rebind > 50, r
    first = app.event("connection", pred=lambda e: e["alpn"] == "myproto" and e["remotePort"] == r.old_local[1])
    assert first["remoteAddress"] == r.old_local[0], first
    ev = app.event("conn_closed", pred=lambda e: e["alpn"] == "myproto" and e["remotePort"] in (r.old_local[1], r.new_local[1]))
    assert (ev["remoteAddress"], ev["remotePort"]) == tuple(r.new_local), (ev, r)


def test_wrong_alpn_refused(app):
    """A client offering no listed ALPN is refused with no_application_protocol (TLS alert 120)."""

    before = app.command("stats", "stats")["connections"]

    async def go():
        proto = await raw_peer(app.port, ["h3", "echo"])
        await proto.until(lambda: proto.terminated is not None, "the refusal")
        assert proto.terminated.error_code == NO_APPLICATION_PROTOCOL, proto.terminated
        proto._transport.close()

    run(go())
    assert app.command("stats", "stats")["connections"] == before


def test_codes_open_and_close(app):
    """ALPN ctl (chosen from ['nope', 'ctl']): the server's abort/cancel codes (42/43) reach the
    client; the client's RESET_STREAM (5) and STOP_SENDING (6) reach the server's reader and
    writer with those codes (the STOP_SENDING answered by RESET_STREAM(6)); a server-opened bidi
    stream; conn.close({ closeCode: 7, reason: 'bye' }) -> CONNECTION_CLOSE(7, 'bye')."""

    async def go():
        async with quic(app.port, ["nope", "ctl"]) as c:
            assert c._quic.tls.alpn_negotiated == "ctl"
            assert (await wait_event(app, "connection"))["alpn"] == "ctl"
            s = c.bidi()
            c.send(s, b"reset\n")
            await c.until(lambda: s in c.resets and s in c.stops, "RESET_STREAM and STOP_SENDING")
            assert c.resets[s] == 42 and c.stops[s] == 43
            r = c.bidi()
            c.send(r, b"read\n")
            await wait_event(app, "command", lambda e: e["cmd"] == "read")
            c._quic.reset_stream(r, 5)
            c.transmit()
            ev = await wait_event(app, "read_error")
            assert ev["code"] == "ERR_QUIC_STREAM_RESET" and ev["streamErrorCode"] == 5 and ev["source"] == "stream"
            w = c.bidi()
            c.send(w, b"write\n")
            await c.until(lambda: len(c.data.get(w, b"")) > 0, "the server writing")
            c._quic.stop_stream(w, 6)
            c.transmit()
            ev = await wait_event(app, "write_error")
            assert ev["code"] == "ERR_QUIC_STREAM_STOPPED" and ev["streamErrorCode"] == 6
            await c.until(lambda: w in c.resets, "RESET_STREAM answering STOP_SENDING")
            assert c.resets[w] == 6
            o = c.bidi()
            c.send(o, b"open\n")
            await c.until(lambda: any(k & 3 == 1 and k in c.ended for k in c.data), "the server's bidi stream")
            k = [k for k in c.data if k & 3 == 1][0]
            assert bytes(c.data[k]) == b"hello from the server"
            c.send(k, b"answered", end=True)
            assert (await wait_event(app, "opened_answer"))["text"] == "answered"
            x = c.bidi()
            c.send(x, b"close\n")
            await c.until(lambda: c.terminated is not None, "CONNECTION_CLOSE")
            assert c.terminated.error_code == 7 and c.terminated.reason_phrase == "bye"
        ev = await wait_event(app, "conn_closed", lambda e: e["alpn"] == "ctl")
        assert ev["closeCode"] == 7 and ev["reason"] == "bye"

    run(go())


def test_62bit_codes(app):
    """QUIC application codes are 62-bit (RFC 9000 section 16); JavaScript's are 0..2^53-1
    (docs/JS_SERVERS.md "Raw QUIC servers"). The server's abort/cancel with 2^40+5 / 2^40+6 send
    exactly those; 2^53 (over the safe range) and 1.5 (not an integer) send 0. The client's
    RESET_STREAM(2^40+7) and STOP_SENDING(2^40+8) surface exactly in streamErrorCode (the
    STOP_SENDING answered by RESET_STREAM(2^40+8)); 2^62-1 arrives as the nearest JavaScript
    number (2^62)."""
    big = 2**40

    async def go():
        async with quic(app.port, ["ctl"]) as c:
            await wait_event(app, "connection", lambda e: e["alpn"] == "ctl")
            s = c.bidi()
            c.send(s, f"reset {big + 5} {big + 6}\n".encode())
            await c.until(lambda: s in c.resets and s in c.stops, "RESET_STREAM and STOP_SENDING")
            assert (c.resets[s], c.stops[s]) == (big + 5, big + 6)
            o = c.bidi()
            c.send(o, f"reset {2**53} 1.5\n".encode())
            await c.until(lambda: o in c.resets and o in c.stops, "RESET_STREAM and STOP_SENDING")
            assert (c.resets[o], c.stops[o]) == (0, 0)
            for code, want in ((big + 7, big + 7), (2**62 - 1, None)):
                r = c.bidi()
                c.send(r, b"read\n")
                await wait_event(app, "command", lambda e: e["cmd"] == "read")
                c._quic.reset_stream(r, code)
                c.transmit()
                ev = await wait_event(app, "read_error")
                assert ev["code"] == "ERR_QUIC_STREAM_RESET", ev
                if want is not None:
                    assert ev["streamErrorCode"] == want, ev
                else:  # a double: 2^62 printed as 4611686018427388000
                    assert float(ev["streamErrorCode"]) == float(2**62), ev
            w = c.bidi()
            c.send(w, b"write\n")
            await c.until(lambda: len(c.data.get(w, b"")) > 0, "the server writing")
            c._quic.stop_stream(w, big + 8)
            c.transmit()
            ev = await wait_event(app, "write_error")
            assert ev["code"] == "ERR_QUIC_STREAM_STOPPED" and ev["streamErrorCode"] == big + 8, ev
            await c.until(lambda: w in c.resets, "RESET_STREAM answering STOP_SENDING")
            assert c.resets[w] == big + 8

    run(go())


def test_never_read_is_held(app):
    """A stream the app never reads: 16 MB offered, the server grants no more than its windows
    (connection credit only as JavaScript reads), and another connection is served meanwhile.
    The bound (6 MiB) is several times the server's initial windows, so timing cannot flip it."""

    async def go():
        async with quic(app.port, ["ctl"]) as c:
            s = c.bidi()
            c.send(s, b"hold\n")
            await wait_event(app, "command", lambda e: e["cmd"] == "hold")
            chunk = bytes(65536)
            for _ in range(256):
                c._quic.send_stream_data(s, chunk)
            c.transmit()
            await asyncio.sleep(2.0)  # lets every grant the server would make arrive (loopback: milliseconds)
            used = c._quic._remote_max_data_used
            async with quic(app.port, ["myproto"]) as d:
                e = d.bidi()
                d.send(e, b"served meanwhile", end=True)
                await d.until(lambda: e in d.ended, "the other connection's echo")
                assert bytes(d.data[e]) == b"served meanwhile"
            await asyncio.sleep(1.0)
            assert c._quic._remote_max_data_used == used, "the held stream kept being credited"
            assert used <= 6 * 1024 * 1024, f"{used} bytes got through to a reader that never reads"
            print(f"never-read stream: {used} of 16777216 bytes got through")

    run(go())


def test_throwing_listener(app):
    """A 'connection' listener that throws: CONNECTION_CLOSE(1, 'internal error'), an ERR_HANDLER_THREW
    error event, and the server keeps serving (a myproto connection echoes after it)."""

    async def go():
        c = await raw_peer(app.port, ["boom"])
        await c.until(lambda: c.terminated is not None, "CONNECTION_CLOSE")
        assert c.terminated.error_code == 1 and c.terminated.reason_phrase == "internal error"
        c._transport.close()
        await wait_event(app, "connection", lambda e: e["alpn"] == "boom")
        ev = await wait_event(app, "server_error")
        assert ev["code"] == "ERR_HANDLER_THREW" and "boom listener" in ev["message"]
        async with quic(app.port, ["myproto"]) as c:
            s = c.bidi()
            c.send(s, b"still serving", end=True)
            await c.until(lambda: s in c.ended, "the echo")
            assert bytes(c.data[s]) == b"still serving"
            await wait_event(app, "connection", lambda e: e["alpn"] == "myproto")

    run(go())


def test_server_close(app):
    """server.close() with a connection open: CONNECTION_CLOSE(NO_ERROR), conn.closed resolves, exit 0."""

    async def go():
        async with quic(app.port, ["myproto"]) as c:
            port = c._transport.get_extra_info("sockname")[1]
            await wait_event(app, "connection", lambda e: e["remotePort"] == port)
            app.proc.stdin.write("close\n")
            app.proc.stdin.flush()
            await c.until(lambda: c.terminated is not None, "CONNECTION_CLOSE")
            assert c.terminated.error_code == 0
        ev = await wait_event(app, "conn_closed", lambda e: e["reason"] == "server closing")
        assert ev["closeCode"] == 0 and ev["alpn"] == "myproto"
        await wait_event(app, "closed")
        assert app.proc.wait(STEP) == 0

    run(go())
