"""Bad input: garbage datagrams, malformed Initials, unknown ALPN, vanished clients,
and bad files. The server must keep serving; CLI errors name the file."""

import asyncio
import os
import socket
import subprocess

import pytest

from aioquic_peers import EchoClientProtocol, client_config, run_echo_client
from aioquic.asyncio import connect
from conftest import BIN, Server, run_client


def send_raw(port, payloads):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for p in payloads:
        s.sendto(p, ("127.0.0.1", port))
    s.close()


def still_serves(server):
    assert server.alive()
    rc, rep, err = run_client(server.port, "--bytes", "2000")
    assert rc == 0 and rep["verified"], err


def test_garbage_datagrams_are_dropped(server):
    payloads = [b"", b"\x00", os.urandom(1), os.urandom(40), os.urandom(1200), os.urandom(1500), b"\xff" * 1300]
    payloads += [os.urandom(n) for n in range(1, 200, 7)]
    send_raw(server.port, payloads * 3)
    still_serves(server)


def test_truncated_and_oversized_initials(server):
    # A long-header Initial (version 1) that is too short to be a client Initial.
    dcid = os.urandom(8)
    hdr = bytes([0xC0]) + (1).to_bytes(4, "big") + bytes([len(dcid)]) + dcid + bytes([0]) + b"\x00" + b"\x40\x10"
    send_raw(server.port, [hdr, hdr + os.urandom(100), hdr + os.urandom(1100)])
    # Oversized: a datagram far larger than any QUIC packet we accept as an Initial.
    send_raw(server.port, [hdr + os.urandom(9000)])
    # Unknown version in a full-size datagram: answered with Version Negotiation.
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    vn = bytes([0xC0]) + (0x1A2A3A4A).to_bytes(4, "big") + bytes([8]) + dcid + bytes([8]) + os.urandom(8)
    s.sendto(vn + os.urandom(1200 - len(vn)), ("127.0.0.1", server.port))
    data, _ = s.recvfrom(2048)
    s.close()
    assert data[1:5] == b"\x00\x00\x00\x00", "expected a Version Negotiation packet"
    assert (1).to_bytes(4, "big") in data[5 + 1 + 8 + 1 + 8:]
    still_serves(server)


def test_unknown_alpn_is_refused_with_no_application_protocol(server):
    seen = []

    class Recorder(EchoClientProtocol):
        def quic_event_received(self, event):
            if type(event).__name__ == "ConnectionTerminated":
                seen.append(event)
            super().quic_event_received(event)

    async def attempt():
        cfg = client_config(alpn="not-echo")
        try:
            async with connect("127.0.0.1", server.port, configuration=cfg, create_protocol=Recorder):
                await asyncio.sleep(0.2)
        except ConnectionError:
            pass

    asyncio.run(asyncio.wait_for(attempt(), 20))
    # CRYPTO_ERROR (0x100) + TLS alert no_application_protocol (120 = 0x78).
    assert seen and seen[0].error_code == 0x178, seen
    still_serves(server)


def test_client_vanishing_mid_stream(server):
    async def vanish():
        cfg = client_config()
        async with connect("127.0.0.1", server.port, configuration=cfg, create_protocol=EchoClientProtocol) as p:
            sid = p._quic.get_next_available_stream_id()
            p._quic.send_stream_data(sid, b"x" * 200000, end_stream=False)
            p.transmit()
            await asyncio.sleep(0.2)
            # Drop the socket without CONNECTION_CLOSE: the server must time the connection out.
            p._transport.close()
            p._quic._close_pending = False

    try:
        asyncio.run(asyncio.wait_for(vanish(), 20))
    except Exception:
        pass
    still_serves(server)


def run_server_cmd(*args):
    return subprocess.run([os.path.join(BIN, "socket-iwa-server"), *args], capture_output=True, text=True, timeout=10)


def test_missing_cert_file_names_it(tmp_path):
    missing = str(tmp_path / "nope.pem")
    p = run_server_cmd("--listen", "127.0.0.1:0", "--cert", missing, "--key", missing)
    assert p.returncode != 0
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and missing in lines[0], p.stderr


def test_garbage_cert_file_names_it(tmp_path):
    cert = tmp_path / "cert.pem"
    key = tmp_path / "key.pem"
    cert.write_text("hello")
    key.write_text("world")
    p = run_server_cmd("--listen", "127.0.0.1:0", "--cert", str(cert), "--key", str(key))
    assert p.returncode != 0
    assert str(cert) in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr


def test_bad_ticket_key_file_names_it(tmp_path):
    key = tmp_path / "ticket.key"
    key.write_bytes(b"short")
    p = run_server_cmd("--listen", "127.0.0.1:0", "--ticket-key", str(key))
    assert p.returncode != 0
    assert str(key) in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr


def test_unreadable_ticket_key_names_it(tmp_path):
    key = tmp_path / "dir-not-file"
    key.mkdir()
    p = run_server_cmd("--listen", "127.0.0.1:0", "--ticket-key", str(key))
    assert p.returncode != 0
    assert str(key) in p.stderr, p.stderr


def test_bad_flag_is_one_clear_error():
    p = run_server_cmd("--listen", "not-an-address")
    assert p.returncode != 0
    assert "--listen" in p.stderr
