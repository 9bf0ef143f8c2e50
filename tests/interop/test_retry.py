"""Address validation: Retry and NEW_TOKEN between our server/client and aioquic
(issue 8, "Address validation and abuse limits"). Policy: docs/LIMITS.md."""

import asyncio
import json
import os
import socket
import tempfile
import threading
import time

import pytest
from aioquic.asyncio import QuicConnectionProtocol
from aioquic.quic.connection import QuicConnection

from aioquic_peers import EchoClientProtocol, client_config, make_cert, pattern, start_echo_server
from conftest import cert_sha256_of_pem, free_udp_port, register_cert, run_client
from watched_server import Watched

HOST = "127.0.0.1"


def aio(coro, timeout=30):
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def aioquic_echo(port, token=b"", local_host=HOST, nbytes=2000):
    """One aioquic connection from local_host: echo one stream, return
    (retry count, echo ok, tokens received, termination)."""
    cfg = client_config()
    cfg.token = token
    tokens = []
    loop = asyncio.get_running_loop()
    quic = QuicConnection(configuration=cfg, token_handler=tokens.append)
    transport, proto = await loop.create_datagram_endpoint(lambda: EchoClientProtocol(quic), local_addr=(local_host, 0))
    try:
        proto.connect((HOST, port))
        try:
            await asyncio.wait_for(proto.wait_connected(), 10)
        except ConnectionError:
            return quic._retry_count, False, tokens, proto.terminated
        sid, fut = proto.send_stream(pattern(1, nbytes))
        ok = await asyncio.wait_for(fut, 10) == pattern(1, nbytes)
        for _ in range(100):  # NEW_TOKEN comes right after the handshake
            if tokens:
                break
            await asyncio.sleep(0.01)
        proto.close()
        await proto.wait_closed()
        return quic._retry_count, ok, tokens, proto.terminated
    finally:
        transport.close()


def final_stats(srv):
    srv.stop()
    assert srv.proc.returncode == 0
    for _ in range(100):
        if srv.stats and "stopped" in srv.events:
            break
        time.sleep(0.02)
    return srv.stats[-1]


def test_aioquic_client_always_retry_server_and_new_token_skips_retry():
    srv = Watched("--retry")
    try:
        retries, ok, tokens, _ = aio(aioquic_echo(srv.port))
        assert ok and retries == 1, "an always-Retry server must send exactly one Retry"
        assert tokens, "the server sent no NEW_TOKEN token"
        # The same client address, a new connection with the token: no Retry.
        retries2, ok2, tokens2, _ = aio(aioquic_echo(srv.port, token=tokens[-1]))
        assert ok2 and retries2 == 0, "a valid NEW_TOKEN token must skip the Retry"
        # Another address with that token: it is bound to 127.0.0.1, so Retry again.
        retries3, ok3, _, _ = aio(aioquic_echo(srv.port, token=tokens2[-1], local_host="127.0.0.2"))
        assert ok3 and retries3 == 1, "a token from another address must not skip the Retry"
    finally:
        s = final_stats(srv)
    assert s["retries_sent"] == 2 and s["retry_tokens_ok"] == 2
    assert s["new_tokens_ok"] == 1 and s["new_tokens_bad"] == 1 and s["new_tokens_sent"] == 3


def test_forged_retry_token_gets_invalid_token_close():
    srv = Watched()
    try:
        forged = bytes([0xB7]) + os.urandom(175)
        retries, ok, _, term = aio(aioquic_echo(srv.port, token=forged))
        assert not ok and term is not None, "a forged Retry token must not be accepted"
        assert term.error_code == 0xB, f"expected INVALID_TOKEN, got 0x{term.error_code:x}"
        s = srv.latest()
        assert s["retry_tokens_bad"] == 1 and s["initials_dropped"]["bad_retry_token"] == 1
        assert s["accepted"] == 0, "no state may be kept for a bad Retry token"
    finally:
        final_stats(srv)


def test_made_up_token_does_not_lift_the_amplification_limit():
    """A client Initial with a token the server never issued, from a client that
    never answers: the server may send at most 3x what it received (RFC 9000 8.1).
    The old code handed any token to ngtcp2, which then treats the address as
    validated and lifts the limit."""
    srv = Watched()
    try:
        cfg = client_config()
        cfg.token = b"\x01" * 40
        quic = QuicConnection(configuration=cfg)
        quic.connect((HOST, srv.port), now=time.time())
        dgrams = quic.datagrams_to_send(now=time.time())
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((HOST, 0))
        sent = 0
        for d, _ in dgrams:
            sock.sendto(d, (HOST, srv.port))
            sent += len(d)
        received = 0
        sock.settimeout(0.2)
        deadline = time.monotonic() + 4.0  # several PTOs (initial PTO ~1 s, doubling)
        while time.monotonic() < deadline:
            try:
                received += len(sock.recv(65536))
            except socket.timeout:
                pass
        sock.close()
        print(f"\nsent {sent} bytes, received {received} bytes ({received / sent:.2f}x)")
        assert received > 0
        assert received <= 3 * sent, f"server sent {received} bytes to an unvalidated address after receiving {sent}"
    finally:
        final_stats(srv)


def test_our_client_always_retry_server_then_token_and_0rtt(tmp_path):
    srv = Watched("--retry")
    session = str(tmp_path / "s.json")
    try:
        rc, r1, err = run_client(srv.port, "--session", session, "--timeout", "10")
        assert rc == 0 and r1["verified"] and r1["retry"], f"{r1} {err}"
        saved = json.load(open(session))
        assert saved.get("token"), "the session file should keep the NEW_TOKEN token"
        rc, r2, err = run_client(srv.port, "--session", session, "--timeout", "10")
        assert rc == 0 and r2["verified"], f"{r2} {err}"
        assert not r2["retry"], "the stored token must let the client skip the Retry"
        assert r2["resumed"] and r2["early_data"] == "accepted"
        # A session file from before tokens existed (no "token") still loads; Retry again.
        saved = json.load(open(session))
        del saved["token"]
        json.dump(saved, open(session, "w"))
        rc, r3, err = run_client(srv.port, "--session", session, "--timeout", "10")
        assert rc == 0 and r3["verified"] and r3["retry"] and r3["resumed"], f"{r3} {err}"
    finally:
        s = final_stats(srv)
    assert s["retries_sent"] == 2 and s["retry_tokens_ok"] == 2 and s["new_tokens_ok"] == 1


@pytest.fixture(scope="module")
def aioquic_retry_server():
    cert, key = make_cert(tempfile.mkdtemp())
    port = free_udp_port()
    register_cert(port, cert_sha256_of_pem(cert))
    state = {}

    async def serve():
        from aioquic.asyncio import serve as aserve
        from aioquic.quic.configuration import QuicConfiguration
        from aioquic_peers import EchoServerProtocol

        cfg = QuicConfiguration(is_client=False, alpn_protocols=["echo"], max_datagram_frame_size=65536)
        cfg.load_cert_chain(cert, key)
        return await aserve(HOST, port, configuration=cfg, create_protocol=EchoServerProtocol, retry=True)

    def runner():
        loop = asyncio.new_event_loop()
        state["loop"] = loop
        asyncio.set_event_loop(loop)
        state["srv"] = loop.run_until_complete(serve())
        loop.run_forever()

    threading.Thread(target=runner, daemon=True).start()
    for _ in range(200):
        if "srv" in state:
            break
        time.sleep(0.02)
    yield port
    state["loop"].call_soon_threadsafe(state["srv"].close)
    state["loop"].call_soon_threadsafe(state["loop"].stop)


def test_our_client_against_aioquic_server_that_always_sends_retry(aioquic_retry_server):
    rc, r, err = run_client(aioquic_retry_server, "--streams", "4", "--bytes", "10000", "--timeout", "10")
    assert rc == 0 and r["verified"], f"{r} {err[-500:]}"
    assert r["retry"], "aioquic's retry=True server should have sent a Retry"
