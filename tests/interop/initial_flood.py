"""Floods of real client Initials for the abuse-limit tests.

Each Initial is the first datagram of a real aioquic client connection
(QuicConnection.connect() then datagrams_to_send()), never continued. Building
them costs ~1 ms each in Python, so they are built in two worker processes, and
the workers offer only X25519 as key share (one key generation per ClientHello
instead of four); the datagrams are still what aioquic sends. The patch lives
only in the worker processes, never in the test process.
"""

import concurrent.futures
import multiprocessing
import socket
import ssl
import threading
import time
from typing import List, Optional


def _worker_init():
    from aioquic import tls

    orig = tls.Context.__init__

    def init(self, *a, **k):
        orig(self, *a, **k)
        self._supported_groups = [tls.Group.X25519]

    tls.Context.__init__ = init


def _make(args):
    host, port, n = args
    from aioquic.quic.configuration import QuicConfiguration
    from aioquic.quic.connection import QuicConnection

    cfg = QuicConfiguration(is_client=True, alpn_protocols=["echo"], verify_mode=ssl.CERT_NONE, server_name="localhost")
    out = []
    for _ in range(n):
        c = QuicConnection(configuration=cfg)
        now = time.time()
        c.connect((host, port), now=now)
        dgrams = c.datagrams_to_send(now=now)
        out.append(dgrams[0][0])
    return out


def make_initials(n: int, host: str, port: int, workers: int = 2) -> List[bytes]:
    """n distinct client Initials (each a fresh connection attempt) addressed to host:port."""
    chunks = [n // workers + (1 if i < n % workers else 0) for i in range(workers)]
    ctx = multiprocessing.get_context("fork")
    with concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_worker_init) as pool:
        parts = list(pool.map(_make, [(host, port, c) for c in chunks]))
    initials = [d for p in parts for d in p]
    assert len(initials) == n and all(len(d) >= 1200 for d in initials)
    return initials


class Flooder(threading.Thread):
    """Sends `initials` to (host, port) from `ports` UDP sockets, round robin, at
    `rate` datagrams per second. Bounded in count (the list) and time (`max_s`).
    Answers (Retry, Version Negotiation, server Initials) are never read."""

    def __init__(self, initials: List[bytes], host: str, port: int, rate: float, ports: int = 50, max_s: float = 60.0,
                 sources: Optional[List[str]] = None):
        super().__init__(daemon=True)
        self.initials, self.addr, self.rate, self.max_s = initials, (host, port), rate, max_s
        self.socks = []
        # One socket per port, all on `host`, or one per source address in `sources`.
        for src in sources or [host] * ports:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((src, 0))
            self.socks.append(s)
        self.sent = 0
        self.bytes = 0
        self.started = None
        self.finished = None
        self.stop_flag = threading.Event()

    def run(self):
        self.started = time.monotonic()
        deadline = self.started + self.max_s
        batch = max(1, int(self.rate / 100))  # about one batch every 10 ms
        try:
            for i, d in enumerate(self.initials):
                if self.stop_flag.is_set() or time.monotonic() > deadline:
                    break
                if i % batch == 0:
                    wait = self.started + i / self.rate - time.monotonic()
                    if wait > 0:
                        time.sleep(wait)
                try:
                    self.socks[i % len(self.socks)].sendto(d, self.addr)
                    self.sent += 1
                    self.bytes += len(d)
                except BlockingIOError:
                    pass
        finally:
            self.finished = time.monotonic()
            for s in self.socks:
                s.close()
