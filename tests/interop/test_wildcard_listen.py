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
