"""Memory per peer is bounded (issue 8): a peer that sends and never reads what
comes back is stopped by QUIC flow control once its connection's buffer budget
(--conn-buffer-limit) is used, instead of growing the server's memory; the
server-wide budget (--server-buffer-limit) refuses new work when used up; an
oversized HTTP/3 header section gets 431 and the connection survives.

The attackers are aioquic connections whose receive side never grants credit:
`_write_connection_limits` / `_write_stream_limits` are replaced by no-ops, so
they never send MAX_DATA or MAX_STREAM_DATA and the server can deliver at most
their initial windows (1 MiB per connection, aioquic's default). Everything the
server echoes beyond that stays in its buffers. Each attacker pushes 64 MiB
against a 4 MiB connection budget. Loopback only; every loop bounded in bytes and time.
"""

import asyncio
import contextlib
import json
import os
import subprocess
import time

import pytest
from aioquic.asyncio import QuicConnectionProtocol, connect
from aioquic.h3.connection import H3Connection
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.events import ConnectionTerminated, StreamReset, StopSendingReceived

from conftest import BIN, Server, pin_args, run_client
from h3_peers import STEP, bytes_pattern, h3_connect

MIB = 1 << 20
CONN_LIMIT = 4 * MIB
PUSH = 64 * MIB
# The attacker's own receive window (aioquic's default initial MAX_DATA): what the
# server can still deliver to it before its echoes pile up.
PEER_WINDOW = 1 * MIB
# RSS growth allowed while one attacker is held at its 4 MiB budget. The budget
# itself, plus allocator slack: chunks are freed in a different order than
# allocated, ngtcp2/nghttp3 per-stream state for 128 streams, the legitimate
# client's own connection, and glibc arenas keeping freed pages. Measured with the
# budgets: +4 to +5 MiB. Before them, within this test's time, the same pushes raised
# RSS by 25 MiB (echo), 37 MiB (POST) and 53 MiB (WebTransport, WebSocket).
RSS_BOUND = 16 * MIB


def rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def budget_server(*extra):
    return Server("--conn-buffer-limit", str(CONN_LIMIT), *extra)


class Silent(QuicConnectionProtocol):
    """Never grants receive credit beyond its initial windows (a peer that does not read)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        q = self._quic
        q._write_connection_limits = lambda builder, space: None
        q._write_stream_limits = lambda builder, space, stream: None
        self.h3 = None
        self.resets = {}
        self.stops = {}
        self.headers = {}
        self.terminated = None

    def quic_event_received(self, event):
        if isinstance(event, ConnectionTerminated):
            self.terminated = event
        elif isinstance(event, StreamReset):
            self.resets[event.stream_id] = event.error_code
        elif isinstance(event, StopSendingReceived):
            self.stops[event.stream_id] = event.error_code
        if self.h3 is not None:
            from aioquic.h3.events import HeadersReceived
            for ev in self.h3.handle_event(event):
                if isinstance(ev, HeadersReceived):
                    self.headers[ev.stream_id] = dict(ev.headers)

    def sent(self) -> int:
        """Stream bytes this peer got onto the wire: bounded by the server's credit."""
        return sum(s.sender.highest_offset for s in self._quic._streams.values())


def silent_connect(port, alpn):
    cfg = QuicConfiguration(is_client=True, alpn_protocols=[alpn], verify_mode=0, server_name="localhost",
                            max_datagram_frame_size=65536)
    return connect("127.0.0.1", port, configuration=cfg, create_protocol=Silent)


async def until_stalled(peer: Silent, limit_s: float = 12.0):
    """Waits until the peer's sent bytes stop growing for 1 s (the server withholds
    credit) or `limit_s` passes. Stalling is the expected end; the bound is checked by the caller."""
    last, since = -1, time.monotonic()
    end = time.monotonic() + limit_s
    while time.monotonic() < end:
        peer.transmit()
        await asyncio.sleep(0.1)
        now = peer.sent()
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since > 1.0:
            break
    return peer.sent()


def legit_echo(port):
    rc, rep, err = run_client(port, "--streams", "4", "--bytes", "200000", timeout=30)
    assert rc == 0 and rep and rep["verified"], (rc, rep, err)
    return rep


def legit_h3(port):
    p = subprocess.run([os.path.join(BIN, "socket-iwa-h3-client"), "--connect", f"127.0.0.1:{port}", "--json", *pin_args(port, []),
                        "--get", "/bytes/200000", "--post", "/echo", "--post-bytes", "300000"],
                       capture_output=True, text=True, timeout=40)
    lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
    rep = json.loads(lines[-1]) if lines else None
    assert p.returncode == 0 and rep, (p.returncode, p.stdout[-2000:], p.stderr[-2000:])
    return rep


def check_bounded(server, base, sent, what):
    grown = rss(server.proc.pid) - base
    print(f"{what}: attacker got {sent / MIB:.1f} MiB onto the wire of {PUSH / MIB:.0f} MiB; server RSS +{grown / MIB:.1f} MiB")
    # Flow control, not luck, stopped it: the server granted at most its budget plus
    # what it could pass on to the attacker (whose window is 1 MiB), plus the
    # attacker's initial per-stream windows' rounding (1 MiB slack).
    assert sent <= CONN_LIMIT + PEER_WINDOW + 1 * MIB, f"{what}: server accepted {sent} bytes"
    assert grown < RSS_BOUND, f"{what}: server RSS grew by {grown} bytes"


def warm_up(server):
    # One legitimate echo and HTTP/3 exchange first, so allocator start-up costs are in the baseline.
    legit_echo(server.port)
    legit_h3(server.port)
    time.sleep(0.2)
    return rss(server.proc.pid)


@contextlib.contextmanager
def serving(server):
    """Yields the started server; stops it afterwards and, when the test passed, checks it exited cleanly."""
    try:
        yield server
    finally:
        server.stop()
    assert server.proc.returncode == 0, server.proc.stderr.read()


def run(coro, timeout=60):
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def h3_session(peer: Silent, protocol: str, path: str) -> int:
    peer.h3 = H3Connection(peer._quic, enable_webtransport=True)
    sid = peer._quic.get_next_available_stream_id()
    peer.h3.send_headers(sid, [(b":method", b"CONNECT"), (b":protocol", protocol.encode()), (b":scheme", b"https"),
                               (b":authority", b"localhost"), (b":path", path.encode()),
                               (b"sec-webtransport-http3-draft02", b"1"), (b"origin", b"https://localhost")])
    peer.transmit()
    end = time.monotonic() + STEP
    while sid not in peer.headers and time.monotonic() < end:
        await asyncio.sleep(0.05)
    assert peer.headers.get(sid, {}).get(b":status") == b"200", peer.headers
    return sid


def ws_binary(payload: bytes) -> bytes:
    key = b"\x00\x00\x00\x00"  # masked with a zero key: the payload is unchanged
    n = len(payload)
    hdr = b"\x82" + (bytes([0x80 | 127]) + n.to_bytes(8, "big") if n > 0xffff else bytes([0x80 | 126]) + n.to_bytes(2, "big"))
    return hdr + key + payload


async def push_echo_streams(peer: Silent):
    per = PUSH // 128
    chunk = bytes(range(256)) * (per // 256)
    for _ in range(128):
        sid = peer._quic.get_next_available_stream_id()
        peer._quic.send_stream_data(sid, chunk, end_stream=False)


async def push_webtransport_stream(peer: Silent):
    sess = await h3_session(peer, "webtransport", "/wt/echo")
    b = peer.h3.create_webtransport_stream(sess, is_unidirectional=False)
    # As in h3_peers.wt_bidi: mark our WT bidi stream so its echo is not parsed as HTTP/3 frames.
    from aioquic.h3.connection import FrameType
    with peer.h3._get_or_create_stream(b) as st:
        st.frame_type = FrameType.WEBTRANSPORT_STREAM
        st.session_id = sess
    peer._quic.send_stream_data(b, bytes(PUSH), end_stream=False)


async def push_websocket(peer: Silent):
    sid = await h3_session(peer, "websocket", "/ws/echo")
    frame = ws_binary(bytes(256 * 1024))
    for _ in range(PUSH // len(frame)):
        peer.h3.send_data(sid, frame, end_stream=False)


async def push_parallel_posts(peer: Silent):
    peer.h3 = H3Connection(peer._quic)
    body = bytes(PUSH // 64)
    for _ in range(64):
        sid = peer._quic.get_next_available_stream_id()
        peer.h3.send_headers(sid, [(b":method", b"POST"), (b":scheme", b"https"), (b":authority", b"localhost"),
                                   (b":path", b"/echo")], end_stream=False)
        peer.h3.send_data(sid, body, end_stream=True)


# (what, ALPN, the attacker's push, the legitimate client served meanwhile)
NON_READERS = {
    "echo_streams": ("echo x128 streams", "echo", push_echo_streams, legit_echo),
    "webtransport_stream": ("WebTransport bidi stream", "h3", push_webtransport_stream, legit_h3),
    "websocket": ("WebSocket over HTTP/3", "h3", push_websocket, legit_h3),
    "parallel_post_echo": ("64 parallel POST /echo", "h3", push_parallel_posts, legit_h3),
}


@pytest.mark.parametrize("case", list(NON_READERS))
def test_non_reader_bounded(case):
    what, alpn, push, legit = NON_READERS[case]
    with serving(budget_server()) as s:
        base = warm_up(s)

        async def main():
            async with silent_connect(s.port, alpn) as peer:
                await push(peer)
                sent = await until_stalled(peer)
                # While the attacker is held, a legitimate client is served.
                await asyncio.to_thread(legit, s.port)
                check_bounded(s, base, sent, what)
                assert peer.terminated is None
        run(main())


def test_server_budget_refuses_new_work_then_recovers():
    """Two attackers fill a 6 MiB server-wide budget (4 MiB per connection): a new echo
    stream is refused with ECHO_SERVER_BUSY (STOP_SENDING + RESET_STREAM) and a new
    HTTP/3 request gets 503, the connection staying up; once the attackers leave,
    the same work is served."""
    with serving(budget_server("--server-buffer-limit", str(3 * CONN_LIMIT // 2))) as s:
        async def main():
            peers = []
            for _ in range(2):
                cm = silent_connect(s.port, "echo")
                peer = await cm.__aenter__()
                peers.append((cm, peer))
                for _ in range(16):
                    sid = peer._quic.get_next_available_stream_id()
                    peer._quic.send_stream_data(sid, bytes(PUSH // 32), end_stream=False)
            for _, peer in peers:
                await until_stalled(peer)
            # New work while full: refused with the documented code, connection alive.
            rc, rep, err = await asyncio.to_thread(run_client, s.port, "--streams", "1", "--bytes", "1000", "--timeout", "3")
            assert rep is not None and not rep["verified"], (rc, rep, err)
            assert "code 1112888153" in (rep.get("error") or ""), rep  # 0x42555359
            async with h3_connect("127.0.0.1", s.port) as c:
                st, body = await c.request("GET", "/bytes/1000")
                assert st == 503, st
                assert c.terminated is None
            for cm, peer in peers:
                await cm.__aexit__(None, None, None)
            # Closing frees their buffers once the server has drained them (3 PTOs): served again.
            # (A refused stream makes our client wait for its --timeout, hence the short one.)
            end = time.monotonic() + 2 * STEP
            while True:
                rc, rep, err = await asyncio.to_thread(run_client, s.port, "--streams", "2", "--bytes", "100000",
                                                       "--timeout", "3")
                if rep and rep["verified"] or time.monotonic() > end:
                    break
                await asyncio.sleep(0.5)
            assert rep and rep["verified"], (rc, rep, err)
        run(main(), timeout=90)


def qpack_int(flags: int, prefix: int, v: int) -> bytes:
    mx = (1 << prefix) - 1
    if v < mx:
        return bytes([flags | v])
    out, v = [flags | mx], v - mx
    while v >= 128:
        out.append((v & 0x7f) | 0x80)
        v >>= 7
    return bytes(out + [v])


def raw_get_with_big_header(value_len: int, name: bytes = b"x-big") -> bytes:
    """A HEADERS frame for GET / with an `x-big` field of `value_len` bytes, QPACK
    static-table only (aioquic's encoder refuses values this long, so we encode it here)."""
    from aioquic.buffer import encode_uint_var
    fields = b"\x00\x00"  # Required Insert Count 0, Base 0
    fields += b"\xd1\xd7\xc1"  # :method GET, :scheme https, :path / (static 17, 23, 1)
    fields += qpack_int(0x50, 4, 0) + qpack_int(0, 7, 9) + b"localhost"  # :authority (static name 0)
    fields += qpack_int(0x20, 3, len(name)) + name + qpack_int(0, 7, value_len) + b"a" * value_len
    return encode_uint_var(0x01) + encode_uint_var(len(fields)) + fields


@pytest.mark.parametrize("size,name", [(100_000, b"x-big"), (1 << 20, b"x-big"), (8 << 20, b"x-big"), (10, b"x" * 300)])
def test_oversized_header_section_431_connection_survives(size, name):
    """Header values of 100 KB to 8 MB, and a 300-byte field name in a small section
    (nghttp3's QPACK decoder fails the whole connection past 64 KiB per value or 256
    bytes per name): 431 on that request, the connection keeps serving."""
    with serving(Server()) as s:
        async def main():
            async with h3_connect("127.0.0.1", s.port) as c:
                sid = c._quic.get_next_available_stream_id()
                c._quic.send_stream_data(sid, raw_get_with_big_header(size, name), end_stream=True)
                c.transmit()
                await c.wait_for(lambda: c.stream(sid).ended.done() or c.terminated is not None, "431", STEP * 2)
                assert c.terminated is None, c.terminated  # before: QPACK_HEADER_TOO_LARGE closed the connection
                hdrs, body = dict(c.stream(sid).headers or []), bytes(c.stream(sid).data)
                assert hdrs.get(b":status") == b"431" and b"too large" in body, (hdrs, body, c.stream(sid).reset, c.terminated)
                assert hdrs[b"content-length"] == str(len(body)).encode()
                st, body = await c.request("GET", "/bytes/1000")
                assert st == 200 and body == bytes_pattern(1000)
                st, body = await c.request("POST", "/echo", b"z" * 5000)
                assert st == 200 and body == b"z" * 5000
                assert c.terminated is None
        run(main())


@pytest.mark.parametrize("args,names", [
    (["--conn-buffer-limit", "12X"], "--conn-buffer-limit"),
    (["--conn-buffer-limit", "1K"], "--conn-buffer-limit"),
    (["--conn-buffer-limit", "8M", "--server-buffer-limit", "4M"], "--server-buffer-limit"),
])
def test_bad_buffer_limit_flags_name_themselves(args, names):
    p = subprocess.run([os.path.join(BIN, "socket-iwa-server"), "--listen", "127.0.0.1:0", *args],
                       capture_output=True, text=True, timeout=10)
    assert p.returncode != 0 and names in p.stderr.strip().splitlines()[0], p.stderr


def test_memory_returned_after_many_connections_reclaimed():
    """200 connections left idle, then gone: the freed heap goes back to the OS
    (malloc_trim after large drops, src/app/memory.rs). valgrind on an idle-timeout
    soak finds nothing lost (docs/LIMITS.md); before the trim RSS stayed at its peak
    because glibc kept the freed chunks. The connections end with CONNECTION_CLOSE
    here (same removal path as the idle timeout, without depending on how fast the
    machine opens them; scripts/idle_soak.py covers the idle timeout itself).
    Bounded: 200 sequential handshakes."""
    n = 200
    with serving(Server("--idle-timeout-ms", "120000")) as s:
        async def main():
            cfg = QuicConfiguration(is_client=True, alpn_protocols=["echo"], verify_mode=0, server_name="localhost",
                                    idle_timeout=600)
            before = rss(s.proc.pid)
            cms = []
            for _ in range(n):
                cm = connect("127.0.0.1", s.port, configuration=cfg)
                await asyncio.wait_for(cm.__aenter__(), STEP)
                cms.append(cm)
            peak = rss(s.proc.pid)
            await asyncio.wait_for(asyncio.gather(*[cm.__aexit__(None, None, None) for cm in cms]), STEP * 2)
            return before, peak
        before, peak = asyncio.run(main())
        end = time.monotonic() + 20
        closed = 0
        while closed < n and time.monotonic() < end:
            line = s.proc.stdout.readline()
            closed += '"connection_closed"' in line
        time.sleep(0.2)
        after = rss(s.proc.pid)
        print(f"soak: RSS {before / MIB:.1f} -> {peak / MIB:.1f} MiB with {n}, {after / MIB:.1f} MiB after they are gone")
        assert closed == n, closed
        assert peak - before > 4 * MIB, "the connections did not cost memory; nothing to check"
        assert after - before < (peak - before) / 2, (before, peak, after)
