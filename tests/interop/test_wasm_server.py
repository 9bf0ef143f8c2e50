"""The same Rust server compiled to wasm32-unknown-emscripten, running under
Node 26 on the Direct Sockets bridge (libdirectsockets.js + node/direct-sockets.js,
JSPI): our native client and aioquic's client against it over loopback UDP."""

import asyncio

import pytest

from aioquic_peers import run_echo_client
from conftest import Server, run_client

MIB = 1 << 20


@pytest.fixture(scope="module")
def wasm_server():
    s = Server(kind="wasm-node")
    yield s
    s.stop()


def aio(coro, timeout=90):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def test_native_client_1mib(wasm_server):
    rc, rep, err = run_client(wasm_server.port, "--bytes", str(MIB), timeout=90)
    assert rc == 0, err
    assert rep["verified"] and rep["bytes_echoed"] == MIB


def test_native_client_100_streams_and_datagrams(wasm_server):
    rc, rep, err = run_client(wasm_server.port, "--streams", "100", "--bytes", "2000", "--datagrams", "20", timeout=90)
    assert rc == 0, err
    assert rep["streams_completed"] == 100 and rep["datagrams_echoed"] >= 18


def test_native_client_0rtt(wasm_server, tmp_path):
    session = str(tmp_path / "s.json")
    rc, first, err = run_client(wasm_server.port, "--session", session)
    assert rc == 0 and first["resumed"] is False, err
    rc, second, err = run_client(wasm_server.port, "--session", session)
    assert rc == 0, err
    assert second["resumed"] is True and second["early_data"] == "accepted"


def test_aioquic_client_echo_and_datagrams(wasm_server):
    r = aio(run_echo_client("127.0.0.1", wasm_server.port, streams=1, nbytes=MIB, datagrams=20))
    assert r.streams_ok == 1 and r.datagrams_echoed >= 18


def test_aioquic_client_100_streams(wasm_server):
    r = aio(run_echo_client("127.0.0.1", wasm_server.port, streams=100, nbytes=2000))
    assert r.streams_ok == 100


def test_aioquic_client_0rtt(wasm_server):
    first = aio(run_echo_client("127.0.0.1", wasm_server.port, streams=1, nbytes=100))
    assert first.ticket is not None
    second = aio(run_echo_client("127.0.0.1", wasm_server.port, streams=1, nbytes=100, ticket=first.ticket, early=True))
    assert second.resumed and second.early_data_accepted is True and second.streams_ok == 1


def test_garbage_does_not_stop_the_wasm_server(wasm_server):
    import os
    import socket
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for n in (0, 1, 40, 1200, 1500):
        s.sendto(os.urandom(n), ("127.0.0.1", wasm_server.port))
    s.close()
    rc, rep, err = run_client(wasm_server.port, "--bytes", "5000", timeout=60)
    assert rc == 0 and rep["verified"], err
    assert wasm_server.alive()
