"""HTTP/3, WebTransport and WebSocket-over-HTTP/3 (RFC 9220) clients built on
aioquic's H3Connection (PyPI), used against Socket.IWA's `h3` server."""

import asyncio
import ssl
from typing import Dict, List, Optional, Tuple

from aioquic.asyncio import QuicConnectionProtocol, connect
from aioquic.buffer import encode_uint_var
from aioquic.h3.connection import H3Connection, FrameType
from aioquic.h3.events import DataReceived, DatagramReceived, HeadersReceived, WebTransportStreamDataReceived
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.events import ConnectionTerminated, StreamDataReceived, StreamReset, StopSendingReceived

STEP = 10.0  # seconds any single wait may take


def bytes_pattern(n: int, start: int = 0) -> bytes:
    return bytes(((i * 31) % 251) for i in range(start, start + n))


class Stream:
    def __init__(self):
        self.headers: Optional[list] = None
        self.data = bytearray()
        self.ended = asyncio.get_event_loop().create_future()
        self.got_headers = asyncio.get_event_loop().create_future()
        self.reset: Optional[int] = None
        self.changed = asyncio.Event()


class H3Client(QuicConnectionProtocol):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.h3 = H3Connection(self._quic, enable_webtransport=True)
        self.streams: Dict[int, Stream] = {}
        self.datagrams: List[Tuple[int, bytes]] = []
        self.dgram_event = asyncio.Event()
        self.terminated: Optional[ConnectionTerminated] = None
        self.term_event = asyncio.Event()
        self.raw_uni: Dict[int, bytearray] = {}

    def stream(self, sid: int) -> Stream:
        return self.streams.setdefault(sid, Stream())

    def quic_event_received(self, event):
        if isinstance(event, ConnectionTerminated):
            self.terminated = event
            self.term_event.set()
            for s in self.streams.values():
                s.changed.set()
        if isinstance(event, StreamDataReceived) and event.stream_id & 3 == 3:
            self.raw_uni.setdefault(event.stream_id, bytearray()).extend(event.data)
        if isinstance(event, StreamReset):
            s = self.stream(event.stream_id)
            s.reset = event.error_code
            s.changed.set()
            if not s.ended.done():
                s.ended.set_result(None)
        for ev in self.h3.handle_event(event):
            self.h3_event(ev)

    def h3_event(self, ev):
        if isinstance(ev, HeadersReceived):
            s = self.stream(ev.stream_id)
            s.headers = ev.headers
            if not s.got_headers.done():
                s.got_headers.set_result(ev.headers)
            if ev.stream_ended and not s.ended.done():
                s.ended.set_result(None)
        elif isinstance(ev, (DataReceived, WebTransportStreamDataReceived)):
            s = self.stream(ev.stream_id)
            s.data.extend(ev.data)
            s.changed.set()
            if ev.stream_ended and not s.ended.done():
                s.ended.set_result(None)
        elif isinstance(ev, DatagramReceived):
            self.datagrams.append((ev.stream_id, ev.data))
            self.dgram_event.set()

    async def request(self, method: str, path: str, body: bytes = b"", extra=()) -> Tuple[int, bytes]:
        sid = self._quic.get_next_available_stream_id()
        headers = [(b":method", method.encode()), (b":scheme", b"https"), (b":authority", b"localhost"),
                   (b":path", path.encode()), *extra]
        self.h3.send_headers(sid, headers, end_stream=not body)
        if body:
            self.h3.send_data(sid, body, end_stream=True)
        self.transmit()
        s = self.stream(sid)
        await asyncio.wait_for(s.ended, STEP * 3)
        return status(s.headers), bytes(s.data)

    async def connect_protocol(self, protocol: str, path: str) -> Tuple[int, int]:
        """Extended CONNECT; returns (stream id, status)."""
        sid = self._quic.get_next_available_stream_id()
        self.h3.send_headers(sid, [(b":method", b"CONNECT"), (b":protocol", protocol.encode()), (b":scheme", b"https"),
                                   (b":authority", b"localhost"), (b":path", path.encode()),
                                   (b"sec-webtransport-http3-draft02", b"1"), (b"origin", b"https://localhost")])
        self.transmit()
        s = self.stream(sid)
        await asyncio.wait_for(s.got_headers, STEP)
        return sid, status(s.headers)

    def wt_bidi(self, session: int) -> int:
        sid = self.h3.create_webtransport_stream(session, is_unidirectional=False)
        # aioquic does not mark the client's own WT bidi stream; do it so the echo is not parsed as HTTP/3 frames.
        with self.h3._get_or_create_stream(sid) as st:
            st.frame_type = FrameType.WEBTRANSPORT_STREAM
            st.session_id = session
        return sid

    async def wait_for(self, pred, what: str, timeout: float = STEP):
        async def loop():
            while not pred():
                ev = asyncio.Event()
                # Wake on any stream change, datagram or termination.
                waiters = [asyncio.ensure_future(e.wait()) for e in
                           [self.dgram_event, self.term_event, *[s.changed for s in self.streams.values()]]]
                await asyncio.wait(waiters, timeout=0.05, return_when=asyncio.FIRST_COMPLETED)
                for w in waiters:
                    w.cancel()
                self.dgram_event.clear()
                for s in self.streams.values():
                    s.changed.clear()
                del ev
        try:
            await asyncio.wait_for(loop(), timeout)
        except asyncio.TimeoutError:
            raise AssertionError(f"timed out waiting for {what}")


def status(headers) -> int:
    return int(dict(headers or [])[b":status"]) if headers else 0


def config() -> QuicConfiguration:
    cfg = QuicConfiguration(is_client=True, alpn_protocols=["h3"], verify_mode=ssl.CERT_NONE,
                            max_datagram_frame_size=65536, server_name="localhost")
    return cfg


def h3_connect(host: str, port: int):
    return connect(host, port, configuration=config(), create_protocol=H3Client)


def close_capsule(code: int, reason: bytes) -> bytes:
    v = code.to_bytes(4, "big") + reason
    return encode_uint_var(0x2843) + encode_uint_var(len(v)) + v


# ---- aioquic's HTTP/3 server (the same routes as ours), for interop and benchmarks ----

from aioquic.asyncio import serve
from aioquic.h3.connection import H3_ALPN


class H3ServerProtocol(QuicConnectionProtocol):
    """GET /bytes/N (the same pattern as ours, sent in 64 KiB steps as the
    transport drains), POST /echo, 404 otherwise."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.h3 = H3Connection(self._quic, enable_webtransport=True)
        self.bodies: Dict[int, bytearray] = {}
        self.paths: Dict[int, Tuple[bytes, bytes]] = {}

    def quic_event_received(self, event):
        for ev in self.h3.handle_event(event):
            if isinstance(ev, DatagramReceived):
                # WebTransport datagram echo (for the datagram-rate comparison).
                self.h3.send_datagram(ev.stream_id, ev.data)
                self.transmit()
            elif isinstance(ev, HeadersReceived):
                h = dict(ev.headers)
                if h.get(b":method") == b"CONNECT" and h.get(b":protocol") == b"webtransport":
                    self.h3.send_headers(ev.stream_id, [(b":status", b"200"), (b"sec-webtransport-http3-draft", b"draft02")])
                    self.transmit()
                    continue
                self.paths[ev.stream_id] = (h.get(b":method", b""), h.get(b":path", b""))
                self.bodies[ev.stream_id] = bytearray()
                if ev.stream_ended:
                    self.respond(ev.stream_id)
            elif isinstance(ev, DataReceived):
                self.bodies.setdefault(ev.stream_id, bytearray()).extend(ev.data)
                if ev.stream_ended:
                    self.respond(ev.stream_id)

    def respond(self, sid: int):
        method, path = self.paths.get(sid, (b"", b""))
        if method == b"GET" and path.startswith(b"/bytes/") and path[7:].isdigit():
            n = int(path[7:])
            self.h3.send_headers(sid, [(b":status", b"200"), (b"content-length", str(n).encode())], end_stream=n == 0)
            if n:
                asyncio.ensure_future(self.stream_bytes(sid, n))
        elif method == b"POST" and path == b"/echo":
            body = bytes(self.bodies.get(sid, b""))
            self.h3.send_headers(sid, [(b":status", b"200"), (b"content-length", str(len(body)).encode())], end_stream=not body)
            if body:
                self.h3.send_data(sid, body, end_stream=True)
        else:
            self.h3.send_headers(sid, [(b":status", b"404")], end_stream=True)
        self.transmit()

    async def stream_bytes(self, sid: int, n: int):
        off = 0
        step = 64 * 1024
        while off < n:
            k = min(step, n - off)
            self.h3.send_data(sid, bytes_pattern(k, off), end_stream=off + k == n)
            off += k
            self.transmit()
            # Let the transport drain before queueing more (bounded memory).
            await asyncio.sleep(0)


async def start_h3_server(host: str, port: int, cert: str, key: str):
    cfg = QuicConfiguration(is_client=False, alpn_protocols=H3_ALPN, max_datagram_frame_size=65536)
    cfg.load_cert_chain(cert, key)
    return await serve(host, port, configuration=cfg, create_protocol=H3ServerProtocol)


async def aioquic_get_throughput(host: str, port: int, n: int, repeat: int = 1) -> float:
    """aioquic's H3 client: GET /bytes/n `repeat` times concurrently; MB/s of verified bodies."""
    import time
    async with h3_connect(host, port) as c:
        t0 = time.perf_counter()
        res = await asyncio.gather(*[c.request("GET", f"/bytes/{n}") for _ in range(repeat)])
        dt = time.perf_counter() - t0
        want = bytes_pattern(n)
        assert all(st == 200 and body == want for st, body in res)
        return n * repeat / 1e6 / dt


async def aioquic_wt_datagram_rate(host: str, port: int, bursts: int = 20, burst: int = 100, size: int = 64) -> dict:
    """aioquic's client: WebTransport session on /wt/echo, `bursts` bursts of `burst` datagrams,
    each burst waited for (up to 0.5 s) before the next. Echoed datagrams per second."""
    import time
    async with h3_connect(host, port) as c:
        sess, st = await c.connect_protocol("webtransport", "/wt/echo")
        assert st == 200
        payload = bytes(size)
        t0 = time.perf_counter()
        sent = 0
        for _ in range(bursts):
            for _ in range(burst):
                c.h3.send_datagram(sess, payload)
            sent += burst
            c.transmit()
            deadline = time.perf_counter() + 0.5
            while len(c.datagrams) < sent * 0.95 and time.perf_counter() < deadline:
                c.dgram_event.clear()
                try:
                    await asyncio.wait_for(c.dgram_event.wait(), 0.05)
                except asyncio.TimeoutError:
                    pass
        dt = time.perf_counter() - t0
        return {"sent": sent, "echoed": len(c.datagrams), "rate": len(c.datagrams) / dt}


def control_frames(raw: bytes) -> List[Tuple[int, bytes]]:
    """Frames of a peer's HTTP/3 control stream (stream type 0x00 first), or [] if it is not one."""
    from aioquic.buffer import Buffer, BufferReadError
    buf = Buffer(data=bytes(raw))
    try:
        if buf.pull_uint_var() != 0:
            return []
        frames = []
        while not buf.eof():
            t = buf.pull_uint_var()
            n = buf.pull_uint_var()
            frames.append((t, buf.pull_bytes(n)))
    except BufferReadError:
        pass
    return frames
