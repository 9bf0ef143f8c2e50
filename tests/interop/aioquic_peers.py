"""Independent QUIC peers built on aioquic (PyPI), used to test Socket.IWA's
server and client against an implementation nobody here wrote."""

import asyncio
import datetime
import os
import ssl
from dataclasses import dataclass, field
from typing import Dict, List, Optional

from aioquic.asyncio import QuicConnectionProtocol, connect, serve
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.events import (ConnectionTerminated, DatagramFrameReceived,
                                 HandshakeCompleted, StreamDataReceived, StreamReset)
from aioquic.tls import SessionTicket


def pattern(k: int, n: int) -> bytes:
    return bytes(((i * 31 + k * 7) % 251) for i in range(n))


@dataclass
class EchoResult:
    handshake_done: bool = False
    resumed: bool = False
    early_data_accepted: Optional[bool] = None
    streams_ok: int = 0
    datagrams_echoed: int = 0
    terminated: Optional[ConnectionTerminated] = None
    ticket: Optional[SessionTicket] = None


class EchoClientProtocol(QuicConnectionProtocol):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.buffers: Dict[int, bytearray] = {}
        self.finished: Dict[int, asyncio.Future] = {}
        self.datagrams: List[bytes] = []
        self.terminated: Optional[ConnectionTerminated] = None
        self.handshake = asyncio.get_event_loop().create_future()

    def quic_event_received(self, event):
        if isinstance(event, HandshakeCompleted) and not self.handshake.done():
            self.handshake.set_result(event)
        elif isinstance(event, StreamDataReceived):
            self.buffers.setdefault(event.stream_id, bytearray()).extend(event.data)
            if event.end_stream:
                fut = self.finished.get(event.stream_id)
                if fut and not fut.done():
                    fut.set_result(bytes(self.buffers[event.stream_id]))
        elif isinstance(event, DatagramFrameReceived):
            self.datagrams.append(event.data)
        elif isinstance(event, ConnectionTerminated):
            self.terminated = event
            if not self.handshake.done():
                self.handshake.set_exception(ConnectionError(f"terminated: 0x{event.error_code:x} {event.reason_phrase}"))
            for fut in self.finished.values():
                if not fut.done():
                    fut.set_exception(ConnectionError("terminated"))

    def send_stream(self, data: bytes) -> asyncio.Future:
        sid = self._quic.get_next_available_stream_id()
        self.finished[sid] = asyncio.get_event_loop().create_future()
        self._quic.send_stream_data(sid, data, end_stream=True)
        self.transmit()
        return sid, self.finished[sid]


def client_config(alpn: str = "echo", ticket: Optional[SessionTicket] = None, tickets: Optional[list] = None) -> QuicConfiguration:
    cfg = QuicConfiguration(is_client=True, alpn_protocols=[alpn], verify_mode=ssl.CERT_NONE,
                            max_datagram_frame_size=65536, server_name="localhost")
    cfg.session_ticket = ticket
    return cfg


async def run_echo_client(host: str, port: int, streams: int = 1, nbytes: int = 1024, datagrams: int = 0,
                          ticket: Optional[SessionTicket] = None, alpn: str = "echo", early: bool = False,
                          timeout: float = 20.0) -> EchoResult:
    """Connects, echoes `streams` x `nbytes` (+ datagrams), verifies every byte."""
    result = EchoResult()
    tickets: List[SessionTicket] = []
    cfg = client_config(alpn, ticket)

    async with connect(host, port, configuration=cfg, create_protocol=EchoClientProtocol,
                       session_ticket_handler=tickets.append, wait_connected=not early) as proto:
        pending = [proto.send_stream(pattern(k, nbytes)) for k in range(streams)]
        if early:
            await asyncio.wait_for(proto.handshake, timeout)
        result.handshake_done = True
        for k, (sid, fut) in enumerate(pending):
            data = await asyncio.wait_for(fut, timeout)
            if data == pattern(k, nbytes):
                result.streams_ok += 1
        for seq in range(datagrams):
            proto._quic.send_datagram_frame(seq.to_bytes(8, "big") + pattern(seq, 56))
        proto.transmit()
        deadline = asyncio.get_event_loop().time() + 3
        while len(proto.datagrams) < datagrams and asyncio.get_event_loop().time() < deadline:
            await asyncio.sleep(0.01)
        result.datagrams_echoed = sum(1 for d in set(proto.datagrams)
                                      if len(d) == 64 and d[8:] == pattern(int.from_bytes(d[:8], "big"), 56))
        tls = proto._quic.tls
        result.resumed = bool(getattr(tls, "session_resumed", False))
        result.early_data_accepted = getattr(tls, "early_data_accepted", None)
        # Wait briefly for the NewSessionTicket if it has not arrived yet.
        for _ in range(100):
            if tickets:
                break
            await asyncio.sleep(0.01)
        result.terminated = proto.terminated
    result.ticket = tickets[-1] if tickets else None
    return result


class EchoServerProtocol(QuicConnectionProtocol):
    def quic_event_received(self, event):
        if isinstance(event, StreamDataReceived):
            self._quic.send_stream_data(event.stream_id, event.data, end_stream=event.end_stream)
            self.transmit()
        elif isinstance(event, DatagramFrameReceived):
            self._quic.send_datagram_frame(event.data)
            self.transmit()


class TicketStore:
    def __init__(self):
        self.tickets: Dict[bytes, SessionTicket] = {}

    def add(self, ticket: SessionTicket) -> None:
        self.tickets[ticket.ticket] = ticket

    def pop(self, label: bytes) -> Optional[SessionTicket]:
        return self.tickets.pop(label, None)


def make_cert(dirpath: str):
    """A self-signed ECDSA P-256 certificate for localhost, written as PEM."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    import ipaddress

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=10))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                         x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .sign(key, hashes.SHA256()))
    cert_path = os.path.join(dirpath, "cert.pem")
    key_path = os.path.join(dirpath, "key.pem")
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    return cert_path, key_path


async def start_echo_server(host: str, port: int, cert: str, key: str):
    cfg = QuicConfiguration(is_client=False, alpn_protocols=["echo"], max_datagram_frame_size=65536)
    cfg.load_cert_chain(cert, key)
    store = TicketStore()
    return await serve(host, port, configuration=cfg, create_protocol=EchoServerProtocol,
                       session_ticket_fetcher=store.pop, session_ticket_handler=store.add)
