"""Stateless Reset (RFC 9000 10.3) across a server restart, with quinn in both roles.

A server that loses a connection's state (a restart, a handshake or idle timeout it
gave up on) answers that connection's next short-header packet with a Stateless
Reset, so the client ends at once instead of waiting out its idle timeout. The
token must be one the client already holds: our server derives its tokens from the
ticket key, so a server restarted with the same `--ticket-key` can reset its
predecessor's connections (quinn's server: the same `--reset-key`).

Each test runs an echo through tests/interop/udp_relay.py, blackholes the path
while the server is killed and started again on the same port, and checks how the
client's connection ended and how long that took (the idle timeouts are 30 s).
The Rust side is also covered without sockets (tests/rust/memory_pair.rs, with the
control case of a new key; src/quic/server/tests.rs for sizes and budgets)."""

import os
import secrets
import subprocess
import time

import pytest

import matrix
from udp_relay import UdpRelay

BLACKHOLE_S = 3.0


def _echo_through_a_restart(start_server, run_client):
    """Starts a server (start_server(port) -> Proc, port 0 the first time), runs
    run_client(relay_port, cert) in a thread-like Popen, restarts the server during
    the blackhole; returns (client's result, seconds from the restart to its end, new server)."""
    s = start_server(0)
    port = s.port
    with UdpRelay(("127.0.0.1", port), blackhole=(512 * 1024, BLACKHOLE_S), max_seconds=90) as relay:
        p = run_client(relay.port, s.info["cert_sha256"])
        end = time.monotonic() + 20
        while relay.report()["impaired"]["blackhole_s"] == 0 and time.monotonic() < end and p.poll() is None:
            time.sleep(0.01)
        assert relay.report()["impaired"]["blackhole_s"] > 0, "the transfer never reached the blackhole"
        s.proc.kill()
        s.proc.wait()
        s.stop()
        restarted = time.monotonic()
        s2 = start_server(port)
        try:
            out, err = p.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
            s2.stop()
            pytest.fail("the client did not end within 60 s of the restart")
        took = time.monotonic() - restarted
    return out, err, took, s2


def test_our_restarted_server_resets_quinns_connection(tmp_path):
    key = str(tmp_path / "ticket.key")

    def start(port):
        return matrix.Proc([os.path.join(matrix.BIN, "socket-iwa-server"), "--listen", f"127.0.0.1:{port}", "--json",
                            "--ticket-key", key], what="socket-iwa-server")

    def client(port, cert):
        return subprocess.Popen([*matrix.PEERS["quinn"], "client", "--connect", f"127.0.0.1:{port}", "--cert-hash", cert,
                                 "--timeout", "60", "--bytes", str(8 << 20)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    out, err, took, s2 = _echo_through_a_restart(start, client)
    s2.stop()
    time.sleep(0.3)
    stats = next(e["stats"] for e in reversed(s2.events) if e.get("event") == "stopped")
    r = matrix.json.loads(out.strip().splitlines()[-1])["connections"][0]
    assert r.get("close_reason") == "reset by peer", (r, err[-500:])
    # The blackhole, then quinn's next probe; not its 30 s idle timeout.
    assert took < BLACKHOLE_S + 10, f"quinn ended {took:.1f} s after the restart"
    assert stats["stateless_resets_sent"] >= 1, stats


def test_our_client_names_quinns_stateless_reset(tmp_path):
    reset_key = secrets.token_hex(32)

    def start(port):
        return matrix.Proc([*matrix.PEERS["quinn"], "server", "--listen", f"127.0.0.1:{port}", "--reset-key", reset_key],
                           what="quinn server")

    def client(port, cert):
        return subprocess.Popen([os.path.join(matrix.BIN, "socket-iwa-client"), "--connect", f"127.0.0.1:{port}",
                                 "--cert-hash", cert, "--json", "--timeout", "60", "--bytes", str(8 << 20)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    out, err, took, s2 = _echo_through_a_restart(start, client)
    s2.stop()
    r = matrix.json.loads(out.strip().splitlines()[-1])
    assert not r["verified"] and "stateless reset" in (r.get("error") or ""), (r, err[-500:])
    assert took < BLACKHOLE_S + 10, f"our client ended {took:.1f} s after the restart"
