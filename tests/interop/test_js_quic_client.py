"""SocketIWA.createQuic (issue 10): a raw QUIC client whose streams and datagrams are
JavaScript's, on the wasm stack under Node 26 (tests/js_servers/quic_client_app.mjs),
against aioquic's QUIC server and our native server, both speaking ALPN 'echo'.
0-RTT on the second connection with the first one's `conn.session`; 1,000 streams
opened at once on one connection (they wait at the server's stream limit, 128);
certificate pins, CA verification, and the errors a user gets. Loopback only.
docs/JS_SERVERS.md, "QUIC clients"."""

import json
import os
import subprocess
import sys

import pytest

from conftest import NODE26, ROOT, WASM_DIR, Server
from udp_relay import UdpRelay
from test_verification import make_ca, make_leaf

APP = os.path.join(ROOT, "tests", "js_servers", "quic_client_app.mjs")
AIOQUIC_PEER = os.path.join(ROOT, "tests", "interop", "aioquic_peer.py")


def run_app(cfg, timeout=120):
    if not os.path.exists(os.path.join(WASM_DIR, "socket_iwa_client.wasm")):
        pytest.fail("the wasm client is missing: cargo build --release --target wasm32-unknown-emscripten --bins")
    p = subprocess.run([NODE26, APP, json.dumps(cfg)], capture_output=True, text=True, timeout=timeout)
    lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
    assert p.returncode == 0 and lines, f"app failed ({p.returncode}): {p.stdout}\n{p.stderr}"
    return json.loads(lines[-1])


class Aioquic:
    """aioquic's echo server (tests/interop/aioquic_peer.py), with session tickets and 0-RTT."""

    def __init__(self, *extra):
        self.proc = subprocess.Popen([sys.executable, AIOQUIC_PEER, "server", "--listen", "127.0.0.1:0", *extra],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.info = json.loads(self.proc.stdout.readline() or "{}")
        assert self.info.get("event") == "listening", self.proc.stderr.read()
        self.port = int(self.info["addr"].rsplit(":", 1)[1])

    def stop(self):
        self.proc.kill()
        self.proc.wait()


@pytest.fixture(params=["aioquic", "native"])
def echo_server(request):
    s = Aioquic() if request.param == "aioquic" else Server()
    s.kind = request.param
    yield s
    s.stop()


def test_echo_then_0rtt_with_the_saved_session(echo_server, tmp_path):
    session = str(tmp_path / "session.json")
    base = {"mode": "echo", "port": echo_server.port, "hashes": [echo_server.info["cert_sha256"]],
            "session": session, "streams": 50, "bytes": 20000, "datagrams": 20}
    first = run_app(base)
    assert first["event"] == "done", first
    assert (first["streamsOk"], first["streamErrors"]) == (50, []), first
    assert first["alpn"] == "echo"
    # Our wasm client offers ChaCha20-Poly1305 first; our native server follows the client's
    # order, aioquic's server its own (AES-256 first). docs/TLS.md "Cipher suites".
    assert first["cipherSuite"] == {"native": "TLS_CHACHA20_POLY1305_SHA256",
                                    "aioquic": "TLS_AES_256_GCM_SHA384"}[echo_server.kind], first
    assert first["earlyDataAtResolve"] == "none" and first["earlyData"] == "none", first
    assert first["datagrams"] >= 15, first  # unreliable, but loopback loses few
    assert first["session"] and first["sessionAlpn"] == "echo", first
    saved = json.load(open(session))
    assert saved["verification"] == "pin:" + echo_server.info["cert_sha256"], saved

    # The second connection crosses a relay that delays the server's answers by 250 ms (a path
    # with a round trip): the streams written right after createQuic resolves go in 0-RTT.
    with UdpRelay(("127.0.0.1", echo_server.port), delay=0.25) as relay:
        second = run_app({**base, "port": relay.port, "streams": 20, "bytes": 5000})
    assert relay.stats["c2s"].get("0rtt", 0) > 0, relay.report()
    assert second["event"] == "done", second
    # createQuic resolved before the handshake: streams were written in 0-RTT packets.
    assert second["earlyDataAtResolve"] == "pending", second
    assert second["earlyData"] == "accepted", second
    assert second["readyError"] is None
    assert (second["streamsOk"], second["streamErrors"]) == (20, []), second
    if echo_server.kind == "native":
        closes = echo_server.closed_events(2)
        assert len(closes) == 2, closes
        assert closes[0]["early_data_bytes"] == 0 and not closes[0]["resumed"], closes
        # The server counts stream bytes that arrived in 0-RTT packets.
        assert closes[1]["resumed"] and closes[1]["early_data_bytes"] > 0, closes


def test_migrate_moves_the_connection_to_new_ports_mid_transfer(echo_server):
    """conn.migrate() twice, the first while 20 streams echo 4 MB: each move binds a new port
    (RFC 9000 section 9, a fresh connection ID), the second on another local address
    (`{ localAddress: '127.0.0.2' }`, another interface's address as far as the server can tell),
    every stream completes, five more streams echo on the new path, and our native server's last
    view of the peer is 127.0.0.2 and the second new port. Then what migrate() says to bad
    arguments (TypeErrors with codes) and to an address of the other family (a refused move, the
    connection stays and serves the five streams)."""
    r = run_app({"mode": "echo", "port": echo_server.port, "hashes": [echo_server.info["cert_sha256"]],
                 "streams": 20, "bytes": 200000, "migrate": 2, "migrateTo": [None, "127.0.0.2"],
                 "migrateChecks": True}, timeout=180)
    assert r["event"] == "done" and r["migrateError"] is None, r
    assert (r["streamsOk"], r["streamErrors"]) == (20, []), r
    assert r["afterMigrationOk"] == 5, r
    assert r["streamsDoneAtFirstMove"] < 20, f"the first move was not mid-transfer: {r}"
    ports = [m["localPort"] for m in r["migrations"]]
    assert len(ports) == 2 and len(set(ports)) == 2 and all(p > 0 for p in ports), r
    # The first move stays on the socket's address (the client binds 0.0.0.0), the second does not.
    assert [m["localAddress"] for m in r["migrations"]] == ["0.0.0.0", "127.0.0.2"], r
    c = r["migrateChecks"]
    assert (c["notAnAddress"], c["notAString"], c["notAnObject"]) == (
        "ERR_INVALID_ARG_VALUE", "ERR_INVALID_ARG_TYPE", "ERR_INVALID_ARG_TYPE"), c
    # ::1 is refused before any socket is bound: the IPv4 peer cannot be reached from it.
    assert c["otherFamily"].get("code") == "ERR_QUIC_MIGRATION_FAILED", c
    assert "address family" in c["otherFamily"]["message"], c
    if echo_server.kind == "native":
        (close,) = echo_server.closed_events(1)
        assert close["peer"] == f"127.0.0.2:{ports[-1]}", (close, ports)


def test_migrate_refused_by_a_server_that_forbids_it():
    """quinn's server with disable_active_migration (RFC 9000 18.2): conn.migrate() rejects with
    ERR_QUIC_MIGRATION_FAILED naming the reason, and the connection goes on serving streams."""
    from matrix import QUINN_PEER
    p = subprocess.Popen([QUINN_PEER, "server", "--listen", "127.0.0.1:0", "--no-migration"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        info = json.loads(p.stdout.readline() or "{}")
        assert info.get("event") == "listening", p.stderr.read()
        port = int(info["addr"].rsplit(":", 1)[1])
        r = run_app({"mode": "echo", "port": port, "hashes": [info["cert_sha256"]], "streams": 5, "bytes": 10000, "migrate": 1})
    finally:
        p.kill()
        p.wait()
    assert r["migrateError"] == "ERR_QUIC_MIGRATION_FAILED", r
    assert "does not allow migration" in r["migrations"][-1], r
    assert (r["streamsOk"], r["afterMigrationOk"]) == (5, 5), r


def test_a_thousand_streams_opened_at_once_wait_for_the_stream_limit(echo_server):
    # aioquic's and our server's limit is 128 open client bidi streams: the rest wait
    # for MAX_STREAMS instead of failing.
    r = run_app({"mode": "echo", "port": echo_server.port, "hashes": [echo_server.info["cert_sha256"]],
                 "streams": 1000, "bytes": 1000}, timeout=240)
    assert (r["streamsOk"], r["streamErrors"]) == (1000, []), r


def test_a_stream_never_read_is_held_by_flow_control_then_read_whole():
    """aioquic's server floods 16 MiB on one stream that the app does not read for 2 s: the
    client's stream and connection windows stop it (what got through is what the client
    buffered; the bound, 6 MiB, is several times those windows, so timing cannot flip it),
    another stream on the same connection still works meanwhile (the status request), and
    once the app reads, every byte arrives in order."""
    srv = Aioquic("--commands")
    try:
        n = 16 * 1024 * 1024
        r = run_app({"mode": "never_read", "port": srv.port, "hashes": [srv.info["cert_sha256"]],
                     "bytes": n, "holdMs": 2000}, timeout=180)
    finally:
        srv.stop()
    assert r["event"] == "done", r
    assert 0 < r["sentWhileHeld"] <= 6 * 1024 * 1024, f"{r['sentWhileHeld']} bytes reached a reader that never read"
    assert (r["received"], r["firstBadByte"]) == (n, -1), r
    print(f"never-read stream: {r['sentWhileHeld']} of {n} bytes got through while held")


def test_0rtt_refused_by_a_restarted_server_fails_the_early_streams_with_a_code(tmp_path):
    # A new native server process has a new ticket key: the ticket resumes nothing, 0-RTT is rejected.
    cert = tmp_path / "c.pem"
    key = tmp_path / "k.pem"
    a = Server("--write-cert", str(cert), "--write-key", str(key))
    session = str(tmp_path / "s.json")
    cfg = {"mode": "echo", "port": a.port, "hashes": [a.info["cert_sha256"]], "session": session, "streams": 3}
    assert run_app(cfg)["streamsOk"] == 3
    a.stop()
    b = Server("--cert", str(cert), "--key", str(key))
    try:
        cfg["port"] = b.port
        r = run_app(cfg)
        assert r["earlyDataAtResolve"] == "pending", r
        assert r["earlyData"] == "rejected", r
        # Streams opened in 0-RTT are gone: they fail with the code (the app opens them at once).
        assert set(r["streamErrors"]) <= {"ERR_QUIC_EARLY_DATA_REJECTED"}, r
        assert r["streamsOk"] + r["streamsFailed"] == 3, r
        assert r["session"], "a full handshake after the rejection gives a new ticket"
    finally:
        b.stop()


def test_a_stateless_reset_from_a_restarted_server_rejects_closed_with_econnreset(tmp_path):
    # The server crashes (SIGKILL: no CONNECTION_CLOSE) and starts again on its port with the
    # same --ticket-key: the client's next datagram gets a Stateless Reset (RFC 9000 10.3), and
    # `closed` rejects at once with ECONNRESET naming it, as for a connection that went away,
    # not resolves as a clean close; without the reset it would take the 30 s idle timeout.
    key = str(tmp_path / "ticket.key")
    a = Server("--ticket-key", key)
    p = subprocess.Popen([NODE26, APP, json.dumps({"mode": "hold", "port": a.port, "hashes": [a.info["cert_sha256"]]})],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    b = None
    try:
        assert json.loads(p.stdout.readline() or "{}").get("event") == "connected", p.stderr.read()
        a.proc.kill()
        a.proc.wait()
        b = Server("--ticket-key", key, port=a.port)
        r = json.loads(p.stdout.readline() or "{}")
        assert r.get("event") == "closed" and "rejected" in r, (r, p.stderr.read())
        e = r["rejected"]
        assert (e["name"], e["code"]) == ("WebTransportError", "ECONNRESET"), e
        assert "stateless reset" in e["message"], e
        assert r["ms"] < 5000, r
    finally:
        p.kill()
        p.wait()
        a.stop()
        if b:
            b.stop()


def test_ca_verification_and_server_name(tmp_path):
    ca_key, ca_cert, ca_pem = make_ca(tmp_path)
    cert, key = make_leaf(tmp_path, "leaf", ca=(ca_key, ca_cert), dns=("quic.test",), ips=("127.0.0.1",))
    s = Server("--cert", cert, "--key", key)
    try:
        ok = run_app({"mode": "echo", "port": s.port, "ca": ca_pem, "serverName": "quic.test", "streams": 2})
        assert ok["streamsOk"] == 2, ok
        by_ip = run_app({"mode": "echo", "port": s.port, "ca": ca_pem, "streams": 1})
        assert by_ip["streamsOk"] == 1, by_ip  # the IP address SAN matches host 127.0.0.1
        wrong = run_app({"mode": "echo", "port": s.port, "ca": ca_pem, "serverName": "other.test"})
        assert wrong["event"] == "failed" and wrong["code"] == "ERR_TLS_CERT_INVALID", wrong
        assert "name" in wrong["message"], wrong
        # Node's own roots (the default) do not know this CA.
        default = run_app({"mode": "echo", "port": s.port, "serverName": "quic.test"})
        assert default["code"] == "ERR_TLS_CERT_INVALID" and "trusted" in default["message"], default
    finally:
        s.stop()


def test_errors_a_user_sees(tmp_path):
    s = Aioquic()
    try:
        bad_pin = run_app({"mode": "echo", "port": s.port, "hashes": ["00" * 32]})
        assert bad_pin["event"] == "failed" and bad_pin["code"] == "ERR_TLS_CERT_INVALID", bad_pin
        assert s.info["cert_sha256"] in bad_pin["message"], bad_pin
        alpn = run_app({"mode": "echo", "port": s.port, "hashes": [s.info["cert_sha256"]], "alpn": ["not-echo"]})
        assert alpn["code"] == "ERR_QUIC_HANDSHAKE_FAILED" and "no_application_protocol" in alpn["message"], alpn
        # Two pins: either certificate is accepted (a server renewing its certificate).
        two = run_app({"mode": "echo", "port": s.port, "hashes": ["11" * 32, s.info["cert_sha256"]]})
        assert two["streamsOk"] == 1, two
    finally:
        s.stop()


def test_bad_arguments_are_type_errors_with_codes():
    bad = run_app({"mode": "bad_args"})["bad"]
    want = {
        "host": "ERR_INVALID_IP_ADDRESS", "port": "ERR_SOCKET_BAD_PORT", "options": "ERR_INVALID_ARG_TYPE",
        "noAlpn": "ERR_INVALID_ARG_VALUE", "alpnComma": "ERR_INVALID_ARG_VALUE", "hashShort": "ERR_INVALID_ARG_VALUE",
        "hashAlgorithm": "ERR_INVALID_ARG_VALUE", "hashesEmpty": "ERR_INVALID_ARG_TYPE", "twoModes": "ERR_INVALID_ARG_VALUE",
        "caNotPem": "ERR_INVALID_ARG_VALUE", "session": "ERR_INVALID_ARG_VALUE", "sessionText": "ERR_INVALID_ARG_VALUE",
    }
    for k, code in want.items():
        assert bad[k] != "resolved", k
        name, got, message = bad[k]
        assert (name, got) == ("TypeError", code), (k, bad[k])
        assert message.startswith("createQuic"), (k, message)
