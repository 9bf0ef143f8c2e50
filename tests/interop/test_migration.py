"""Connection migration and NAT rebinding (issue 8, defect 2): a client moves to
a new UDP socket halfway through a 4 MiB echo, by port and by address
(127.0.0.1 -> 127.0.0.2; all of 127.0.0.0/8 is loopback on Linux). The server
must answer on the new path (PATH_CHALLENGE there, data there); before the fix
it kept sending to the address fixed at accept and the transfer stalled.

Peers: aioquic's client (sans-IO, its socket swapped by the test) against our
server; our client (`--rebind-after`, a deliberate migration through
ngtcp2_conn_initiate_immediate_migration) against our server and aioquic's."""

import json
import os
import select
import time

import pytest

from aioquic_rebind import echo_server_thread, rebinding_echo_client
from conftest import Server, run_client

SIZE = 4 << 20
HALF = SIZE // 2


def server_events(s: Server, want, timeout: float = 15.0) -> list:
    """Reads the server's JSON events until `want(event)` holds for one (or the timeout)."""
    fd = s.proc.stdout.fileno()
    os.set_blocking(fd, False)
    buf, events = b"", []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        select.select([fd], [], [], 0.1)
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            chunk = b""
        buf += chunk or b""
        *lines, buf = buf.split(b"\n")
        for line in lines:
            if line.startswith(b"{"):
                events.append(json.loads(line))
        if any(want(e) for e in events):
            break
    return events


def closed_peer(s: Server) -> str:
    """The peer address the server had for the connection when it closed."""
    evs = server_events(s, lambda e: e.get("event") == "connection_closed")
    closed = [e for e in evs if e.get("event") == "connection_closed"]
    assert closed, f"server reported no closed connection: {evs}"
    return closed[-1]["peer"]


# ---- aioquic's client -> our server -------------------------------------------

@pytest.mark.parametrize("new_ip,change_cid", [
    ("127.0.0.1", False),  # NAT rebinding: new port, same connection ID
    ("127.0.0.1", True),   # deliberate migration to a new port
    ("127.0.0.2", True),   # deliberate migration to a new address
], ids=["port-rebinding", "port-migration", "address-migration"])
def test_aioquic_client_rebinds_mid_transfer(server, new_ip, change_cid):
    r = rebinding_echo_client("127.0.0.1", server.port, SIZE, rebind_at=HALF, new_ip=new_ip, change_cid=change_cid)
    assert r.error is None, r.error
    assert r.new_local is not None and r.new_local != r.old_local
    assert r.new_local[0] == new_ip
    assert r.verified and r.echoed == SIZE
    # The second half really travelled on the new path.
    assert r.received_after_rebind > 100, r.received_after_rebind
    assert closed_peer(server) == f"{r.new_local[0]}:{r.new_local[1]}"


# ---- our client -> our server and aioquic's server ------------------------------

def check_migrated(rep: dict, rc: int, err: str, new_ip=None):
    assert rc == 0, err
    assert rep["verified"] and rep["bytes_echoed"] == SIZE
    m = rep["migration"]
    assert m["migrated"] is True and m["error"] is None, m
    assert m["to"] != m["from"] and rep["local_addr"] == m["to"]
    assert HALF <= m["at_bytes"] < SIZE
    if new_ip:
        assert m["to"].startswith(new_ip + ":")


@pytest.mark.parametrize("new_ip", [None, "127.0.0.2"], ids=["port", "address"])
def test_our_client_migrates_to_our_server(server, new_ip):
    extra = ["--rebind-addr", new_ip] if new_ip else []
    rc, rep, err = run_client(server.port, "--bytes", str(SIZE), "--rebind-after", str(HALF), *extra, "--timeout", "60",
                              timeout=90)
    check_migrated(rep, rc, err, new_ip)
    port = rep["migration"]["to"].rsplit(":", 1)[1]
    assert closed_peer(server) == f"{new_ip or '127.0.0.1'}:{port}"


def test_our_client_migrates_to_wasm_server():
    # The same server built for wasm32-unknown-emscripten under Node 26: the Direct
    # Sockets bridge must report each datagram's real source address.
    s = Server(kind="wasm-node")
    try:
        rc, rep, err = run_client(s.port, "--bytes", str(SIZE), "--rebind-after", str(HALF), "--rebind-addr", "127.0.0.2",
                                  "--timeout", "60", timeout=90)
        check_migrated(rep, rc, err, "127.0.0.2")
        assert closed_peer(s) == rep["migration"]["to"]
    finally:
        s.stop()


@pytest.mark.parametrize("new_ip", [None, "127.0.0.2"], ids=["port", "address"])
def test_our_client_migrates_to_aioquic_server(new_ip):
    extra = ["--rebind-addr", new_ip] if new_ip else []
    with echo_server_thread() as port:
        rc, rep, err = run_client(port, "--bytes", str(SIZE), "--rebind-after", str(HALF), *extra, "--timeout", "60",
                                  timeout=90)
    check_migrated(rep, rc, err, new_ip)


def test_rebind_addr_needs_rebind_after():
    rc, rep, err = run_client(9, "--rebind-addr", "127.0.0.2")
    assert rc == 2 and "--rebind-after" in err
