"""Our server listening on a wildcard address (`--listen 0.0.0.0:P`, `[::]:P`) answers
each client from the address that client reached, not from whichever of the host's
addresses the routing table would pick (src/io/udp.rs: IP_PKTINFO / IPV6_PKTINFO,
docs/ARCHITECTURE.md "Local addresses").

On loopback every 127.0.0.0/8 address is the host's, and the kernel's own choice of
source towards a client on 127.0.0.1 is 127.0.0.1: a client that reached the server at
127.0.0.2 gets answers from 127.0.0.2 only if the server names the source per datagram.
Before that, every such handshake timed out. The clients are aioquic's, quinn's and
ours, each verifying an echo; `--retry` makes the server's first answer a stateless
Retry, which must leave from the same address too."""

import os
import subprocess

import pytest

import matrix
from conftest import Server

ECHO = str(100_000)


def _echo(peer, port, cert, host):
    if peer == "ours":
        r = matrix.run_our_client(port, cert, "--bytes", ECHO, host=host, timeout=30)[0][0]
    else:
        r = matrix.run_peer_client(peer, port, cert, "--bytes", ECHO, host=host, timeout=30)[0]
    matrix.verified(r, f"{peer} client via {host}")
    assert r["bytes_echoed"] == int(ECHO), r


@pytest.mark.parametrize("peer", ["aioquic", "quinn", "ours"])
@pytest.mark.parametrize("listen,targets", [("0.0.0.0", ["127.0.0.2", "127.0.0.1", "127.0.0.3"]),
                                            ("::", ["::1", "127.0.0.2", "127.0.0.1"])])
@pytest.mark.parametrize("retry", [False, True], ids=["plain", "retry"])
def test_wildcard_server_answers_from_the_address_it_was_reached_at(peer, listen, targets, retry):
    s = Server(*(["--retry"] if retry else []), host=listen)
    try:
        for host in targets:
            _echo(peer, s.port, s.info["cert_sha256"], host)
        assert s.alive()
    finally:
        s.stop()


@pytest.mark.parametrize("peer", ["aioquic", "ours"])
@pytest.mark.parametrize("listen", ["0.0.0.0", "::"])
def test_clients_move_to_the_preferred_address(peer, listen):
    """`--preferred-address` (RFC 9000 9.6): a client that reached the server at
    127.0.0.1 moves to 127.0.0.2 after the handshake (aioquic's and ours; quinn's client
    does not move, see the interop matrix), says so in its report, and the server's side
    of the path ends there too. On `[::]` the IPv4 client is an IPv4-mapped peer."""
    port = matrix._free_port()
    preferred = f"127.0.0.2:{port}"
    s = Server("--preferred-address", preferred, host=listen, port=port)
    try:
        if peer == "ours":
            r = matrix.run_our_client(port, s.info["cert_sha256"], "--bytes", ECHO, timeout=30)[0][0]
        else:
            r = matrix.run_peer_client(peer, port, s.info["cert_sha256"], "--bytes", ECHO, timeout=30)[0]
        matrix.verified(r)
        assert r["server_addr"] == preferred, r
        local = [e["local"].replace("[::ffff:", "").replace("]", "") for e in s.closed_events(1)]
        assert local == [preferred], local
    finally:
        s.stop()


@pytest.mark.parametrize("args,why", [
    (["--listen", "127.0.0.1:{port}", "--preferred-address", "127.0.0.2:{port}"], "needs --listen on 0.0.0.0 or [::]"),
    (["--listen", "0.0.0.0:{port}", "--preferred-address", "127.0.0.2:1"], "must use the listening port"),
    (["--listen", "0.0.0.0:{port}", "--preferred-address", "0.0.0.0:{port}"], "must be a specific unicast address"),
    (["--listen", "0.0.0.0:{port}", "--preferred-address", "[::1]:{port}"], "is IPv6 but the server listens on"),
    (["--listen", "0.0.0.0:{port}", "--preferred-address", "127.0.0.2:{port}", "--preferred-address", "127.0.0.3:{port}"],
     "one IPv4 and one IPv6 preferred address at most"),
])
def test_a_preferred_address_the_server_cannot_serve_is_refused(args, why):
    port = matrix._free_port()
    p = subprocess.run([os.path.join(matrix.BIN, "socket-iwa-server"), *[a.format(port=port) for a in args]],
                       capture_output=True, text=True, timeout=10)
    assert p.returncode != 0, p.stdout
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("socket-iwa-server: --preferred-address ") and why in lines[0], p.stderr
