"""aioquic (PyPI) peers for the stream-limit and migration tests: its echo
server on a background thread, and a sans-IO echo client that moves to a new
UDP socket part-way through a transfer (NAT rebinding, or a deliberate
migration with a new connection ID)."""

import asyncio
import contextlib
import select
import socket
import ssl
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import Optional, Tuple

from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.connection import QuicConnection
from aioquic.quic.events import ConnectionTerminated, HandshakeCompleted, StreamDataReceived

from aioquic_peers import make_cert, pattern, start_echo_server


@contextlib.contextmanager
def echo_server_thread(host: str = "127.0.0.1"):
    """aioquic's echo server on its own event loop thread; yields its port."""
    from conftest import cert_sha256_of_pem, free_udp_port, register_cert
    tmp = tempfile.mkdtemp()
    cert, key = make_cert(tmp)
    port = free_udp_port()
    register_cert(port, cert_sha256_of_pem(cert))  # our clients pin it
    state = {}
    started = threading.Event()

    def runner():
        loop = asyncio.new_event_loop()
        state["loop"] = loop
        asyncio.set_event_loop(loop)
        try:
            state["srv"] = loop.run_until_complete(start_echo_server(host, port, cert, key))
        finally:
            started.set()
        loop.run_forever()

    threading.Thread(target=runner, daemon=True).start()
    assert started.wait(10) and "srv" in state, "aioquic server did not start"
    try:
        yield port
    finally:
        state["loop"].call_soon_threadsafe(state["srv"].close)
        state["loop"].call_soon_threadsafe(state["loop"].stop)


@dataclass
class RebindResult:
    echoed: int = 0
    verified: bool = False
    old_local: Optional[Tuple[str, int]] = None
    new_local: Optional[Tuple[str, int]] = None
    # Datagrams that arrived on the new socket (the server found the new path).
    received_after_rebind: int = 0
    error: Optional[str] = None
    seconds: float = 0.0


def rebinding_echo_client(host: str, port: int, nbytes: int, rebind_at: Optional[int],
                          new_ip: str = "127.0.0.1", change_cid: bool = False,
                          timeout: float = 60.0, alpn: str = "echo") -> RebindResult:
    """Echoes `nbytes` on one stream. Once `rebind_at` echoed bytes arrived, it
    closes its UDP socket and continues from a new one bound on `new_ip` (new
    port). Without `change_cid` the server sees an ordinary NAT rebinding (same
    connection ID, new address); with it, a deliberate migration. `alpn`: any
    protocol whose server echoes a bidirectional stream."""
    cfg = QuicConfiguration(is_client=True, alpn_protocols=[alpn], verify_mode=ssl.CERT_NONE,
                            server_name="localhost")
    conn = QuicConnection(configuration=cfg)
    res = RebindResult()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    res.old_local = sock.getsockname()
    data = pattern(0, nbytes)
    received = bytearray()
    finished = False
    start = time.monotonic()
    deadline = start + timeout
    conn.connect((host, port), now=time.monotonic())
    try:
        while not finished:
            now = time.monotonic()
            if now > deadline:
                res.error = f"timed out after {timeout} s with {len(received)} of {nbytes} bytes echoed"
                break
            for d, addr in conn.datagrams_to_send(now=now):
                try:
                    sock.sendto(d, addr)
                except BlockingIOError:
                    pass  # lost; QUIC recovers
            timer = conn.get_timer()
            wait = 0.05 if timer is None else min(0.05, max(0.0, timer - time.monotonic()))
            readable, _, _ = select.select([sock], [], [], wait)
            if readable:
                for _ in range(256):
                    try:
                        d, addr = sock.recvfrom(65536)
                    except (BlockingIOError, ConnectionRefusedError):
                        break
                    if res.new_local is not None:
                        res.received_after_rebind += 1
                    conn.receive_datagram(d, addr, now=time.monotonic())
            timer = conn.get_timer()
            if timer is not None and time.monotonic() >= timer:
                conn.handle_timer(now=time.monotonic())
            ev = conn.next_event()
            while ev is not None:
                if isinstance(ev, HandshakeCompleted):
                    sid = conn.get_next_available_stream_id()
                    conn.send_stream_data(sid, data, end_stream=True)
                elif isinstance(ev, StreamDataReceived):
                    received.extend(ev.data)
                    finished |= ev.end_stream
                elif isinstance(ev, ConnectionTerminated):
                    res.error = f"connection terminated: 0x{ev.error_code:x} {ev.reason_phrase}"
                    finished = True
                ev = conn.next_event()
            if rebind_at is not None and res.new_local is None and len(received) >= rebind_at:
                new = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                new.bind((new_ip, 0))
                new.setblocking(False)
                if change_cid:
                    conn.change_connection_id()
                sock.close()
                sock = new
                res.new_local = sock.getsockname()
        conn.close()
        for d, addr in conn.datagrams_to_send(now=time.monotonic()):
            with contextlib.suppress(OSError):
                sock.sendto(d, addr)
    finally:
        sock.close()
    res.seconds = time.monotonic() - start
    res.echoed = len(received)
    res.verified = bytes(received) == data
    return res
