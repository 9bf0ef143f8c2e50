"""QUIC v2 (RFC 9369) and compatible version negotiation (RFC 9368) between our
own client and server, Version Negotiation, tickets across versions, and our
client against a v2-only and a v1-only aioquic server. The policy is in
docs/INTEROP.md, "QUIC versions". Loopback only."""

import json
import os
import socket
import subprocess
import sys

from conftest import ROOT, Server, register_cert, run_client

V1, V2 = 0x00000001, 0x6B3343CF
PEER = [sys.executable, os.path.join(ROOT, "tests", "interop", "aioquic_peer.py")]


def test_version_negotiation_lists_v2_then_v1():
    """An Initial of an unknown version gets a Version Negotiation packet that
    lists our versions, most preferred first."""
    s = Server()
    try:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.settimeout(5)
        dcid, scid = os.urandom(8), os.urandom(8)
        pkt = bytes([0xC0]) + (0x1A2A3A4A).to_bytes(4, "big") + bytes([8]) + dcid + bytes([8]) + scid
        sock.sendto(pkt + bytes(1200 - len(pkt)), ("127.0.0.1", s.port))
        data, _ = sock.recvfrom(1500)
        sock.close()
        assert data[0] & 0x80 and data[1:5] == bytes(4), "not a Version Negotiation packet"
        # Long header: version, DCID (= our SCID), SCID (= our DCID), then the versions.
        i = 5
        assert data[i + 1:i + 1 + data[i]] == scid
        i += 1 + data[i]
        assert data[i + 1:i + 1 + data[i]] == dcid
        i += 1 + data[i]
        versions = [int.from_bytes(data[j:j + 4], "big") for j in range(i, len(data), 4)]
        assert versions == [V2, V1]
    finally:
        s.stop()


def test_our_pair_negotiates_v2_and_pins_versions(tmp_path):
    """Default: the client starts in v1, offers v2, our server upgrades it.
    --quic-version v1 / v2 pin the version. A ticket from a v2 connection used
    for a v1-only connection (and the reverse) still resumes."""
    s = Server()
    session = str(tmp_path / "s.json")
    got = []
    try:
        for flag in ("auto", "v1", "v2", "auto"):
            rc, r, err = run_client(s.port, "--quic-version", flag, "--session", session, "--bytes", "3000")
            assert rc == 0 and r["verified"], (flag, r, err)
            got.append((r["quic_version"], r["resumed"], r["early_data"]))
        ev = s.closed_events(4)
    finally:
        s.stop()
    assert [g[0] for g in got] == ["v2", "v1", "v2", "v2"]
    assert got[0][1] is False
    # Tickets cross versions (v2 -> v1, v1 -> v2, v2 -> compatible): resumed,
    # 0-RTT accepted or cleanly rejected (the data is then resent over 1-RTT).
    for version, resumed, early in got[1:]:
        assert resumed is True, got
        assert early in ("accepted", "rejected"), got
    assert sorted(e["quic_version"] for e in ev) == ["v1", "v2", "v2", "v2"], ev


def test_tickets_across_versions_with_aioquic(tmp_path):
    """The same sequence as above against aioquic's server (v1 and v2, --v2):
    our client's tickets from v2 and v1 connections resume in the other version."""
    p, port = peer_server("--v2")
    session = str(tmp_path / "s.json")
    got = []
    try:
        for flag in ("auto", "v1", "v2"):
            rc, r, err = run_client(port, "--quic-version", flag, "--session", session, "--bytes", "2000",
                                    "--timeout", "10")
            assert rc == 0 and r["verified"], (flag, r, err)
            got.append((r["quic_version"], r["resumed"], r["early_data"]))
    finally:
        stop(p)
    assert [g[0] for g in got] == ["v2", "v1", "v2"] and got[0][1] is False, got
    assert all(g[1] is True and g[2] in ("accepted", "rejected") for g in got[1:]), got


def test_bad_quic_version_flag_is_named():
    p = subprocess.run([os.path.join(ROOT, "target", "release", "socket-iwa-client"), "--quic-version", "v3"],
                       capture_output=True, text=True, timeout=10)
    assert p.returncode != 0 and "--quic-version" in p.stderr and "v3" in p.stderr


def peer_server(*extra):
    p = subprocess.Popen([*PEER, "server", "--listen", "127.0.0.1:0", *extra], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    info = json.loads(p.stdout.readline())
    port = int(info["addr"].rsplit(":", 1)[1])
    register_cert(port, info["cert_sha256"])  # our clients pin it
    return p, port


def stop(p):
    p.terminate()
    try:
        p.wait(10)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def test_our_client_against_v2_only_aioquic():
    """--quic-version v2 reaches a v2-only server. The default client starts in
    v1 and gets Version Negotiation; ngtcp2 leaves reconnecting in another version
    to the application and we do not reconnect, so it must stop with a clear error."""
    p, port = peer_server("--v2-only")
    try:
        rc, r, err = run_client(port, "--quic-version", "v2", "--bytes", "2000", "--timeout", "10")
        assert rc == 0 and r["verified"] and r["quic_version"] == "v2", (r, err)
        rc, r, err = run_client(port, "--bytes", "2000", "--timeout", "10")
        assert rc != 0 and r["error"], (r, err)
        assert "version negotiation" in r["error"].lower(), r
    finally:
        stop(p)


def test_our_client_v2_against_v1_only_aioquic():
    p, port = peer_server()
    try:
        rc, r, err = run_client(port, "--bytes", "2000", "--timeout", "10")
        assert rc == 0 and r["verified"] and r["quic_version"] == "v1", (r, err)
        rc, r, err = run_client(port, "--quic-version", "v2", "--bytes", "2000", "--timeout", "10")
        assert rc != 0 and r["error"] and "version negotiation" in r["error"].lower(), (r, err)
    finally:
        stop(p)
