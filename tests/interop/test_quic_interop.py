"""Socket.IWA's QUIC echo server and client against aioquic, both directions."""

import asyncio
import os
import subprocess
import tempfile

import pytest

from aioquic_peers import make_cert, run_echo_client, start_echo_server
from conftest import Server, cert_sha256_of_pem, free_udp_port, register_cert, run_client

MIB = 1 << 20


def aio(coro, timeout=60):
    return asyncio.run(asyncio.wait_for(coro, timeout))


# ---- aioquic client -> our server ----------------------------------------------

def test_aioquic_client_echoes_1mib_on_one_stream(server):
    r = aio(run_echo_client("127.0.0.1", server.port, streams=1, nbytes=MIB))
    assert r.streams_ok == 1


def test_aioquic_client_100_concurrent_streams(server):
    r = aio(run_echo_client("127.0.0.1", server.port, streams=100, nbytes=4096))
    assert r.streams_ok == 100


def test_aioquic_client_datagram_echo(server):
    r = aio(run_echo_client("127.0.0.1", server.port, streams=1, nbytes=10, datagrams=20))
    # Loopback does not lose packets in practice; allow a little slack for unreliability.
    assert r.datagrams_echoed >= 18


def test_aioquic_client_resumes_with_0rtt(server):
    first = aio(run_echo_client("127.0.0.1", server.port, streams=1, nbytes=100))
    assert first.ticket is not None, "server issued no session ticket"
    assert not first.resumed
    second = aio(run_echo_client("127.0.0.1", server.port, streams=1, nbytes=100, ticket=first.ticket, early=True))
    assert second.streams_ok == 1
    assert second.resumed
    assert second.early_data_accepted is True


def test_aioquic_client_over_ipv6():
    s = Server(host="::1")
    try:
        r = aio(run_echo_client("::1", s.port, streams=2, nbytes=1000))
        assert r.streams_ok == 2
    finally:
        s.stop()


# ---- our client -> aioquic server ----------------------------------------------

@pytest.fixture(scope="module")
def aioquic_server():
    tmp = tempfile.mkdtemp()
    cert, key = make_cert(tmp)
    port = free_udp_port()
    ready = asyncio.Event()
    import threading

    state = {}

    def runner():
        loop = asyncio.new_event_loop()
        state["loop"] = loop
        asyncio.set_event_loop(loop)
        state["srv"] = loop.run_until_complete(start_echo_server("127.0.0.1", port, cert, key))
        state["ready"] = True
        loop.run_forever()

    t = threading.Thread(target=runner, daemon=True)
    t.start()
    import time
    for _ in range(200):
        if state.get("ready"):
            break
        time.sleep(0.01)
    assert state.get("ready"), "aioquic server did not start"
    register_cert(port, cert_sha256_of_pem(cert))
    yield port
    state["loop"].call_soon_threadsafe(state["srv"].close)
    state["loop"].call_soon_threadsafe(state["loop"].stop)


def test_our_client_to_aioquic_1mib(aioquic_server):
    rc, rep, err = run_client(aioquic_server, "--bytes", str(MIB))
    assert rc == 0, err
    assert rep["verified"] and rep["bytes_echoed"] == MIB


def test_our_client_to_aioquic_100_streams(aioquic_server):
    rc, rep, err = run_client(aioquic_server, "--streams", "100", "--bytes", "4096")
    assert rc == 0, err
    assert rep["streams_completed"] == 100


def test_our_client_to_aioquic_datagrams(aioquic_server):
    rc, rep, err = run_client(aioquic_server, "--datagrams", "20")
    assert rc == 0, err
    assert rep["datagrams_sent"] == 20 and rep["datagrams_echoed"] >= 18


def test_our_client_windowed_datagrams_against_aioquic(aioquic_server):
    # --datagram-window (the benchmarks' steady echo rate): 3,000 datagrams with at most
    # 32 unanswered; one more goes out per echo, so all are sent only if echoes keep coming.
    rc, rep, err = run_client(aioquic_server, "--datagrams", "3000", "--datagram-window", "32")
    assert rc == 0, err
    assert rep["datagrams_sent"] == 3000 and rep["datagrams_echoed"] >= 2900, rep
    assert rep["datagram_rate"] > 0, rep


def test_our_client_resumes_against_aioquic_with_0rtt(aioquic_server, tmp_path):
    session = str(tmp_path / "session.json")
    rc, first, err = run_client(aioquic_server, "--session", session)
    assert rc == 0, err
    assert first["resumed"] is False and first["early_data"] == "none"
    assert os.path.exists(session), "no session ticket was stored"
    rc, second, err = run_client(aioquic_server, "--session", session)
    assert rc == 0, err
    assert second["resumed"] is True
    assert second["early_data"] == "accepted"
