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


NETNS_SCRIPT = r"""
set -e
ip link set lo up
for a in fd00::1 fd00::2 fd00::3; do ip -6 addr add "$a/128" dev lo nodad; done
pin_of() {  # $1: the server's output file, once it is listening
  for _ in $(seq 50); do grep -q '"listening"' "$1" && break; sleep 0.1; done
  grep -o '"cert_sha256":"[0-9a-f]*"' "$1" | cut -d'"' -f4
}
echo_to() {  # $1: address, $2: pin, $3: client (ours|aioquic|quinn)
  if [ "$3" = ours ]; then
    timeout 30 "$BIN/socket-iwa-client" --connect "[$1]:$PORT" --cert-hash "$2" --json --bytes 100000 --timeout 20 | tail -1
  elif [ "$3" = quinn ]; then
    timeout 30 "$QUINN" client --connect "[$1]:$PORT" --cert-hash "$2" --bytes 100000 --timeout 20 | tail -1
  else
    timeout 30 python3 "$INTEROP/aioquic_peer.py" client --connect "[$1]:$PORT" --cert-hash "$2" --bytes 100000 --timeout 20 | tail -1
  fi
}
"$BIN/socket-iwa-server" --listen "[::]:$PORT" --json > "$WORK/plain.out" 2>&1 & srv=$!
pin=$(pin_of "$WORK/plain.out")
for a in fd00::1 fd00::2 fd00::3; do for c in ours aioquic quinn; do echo "plain $a $c $(echo_to $a $pin $c)"; done; done
kill $srv; wait $srv || true
"$BIN/socket-iwa-server" --listen "[::]:$PORT" --json --preferred-address "[fd00::3]:$PORT" > "$WORK/preferred.out" 2>&1 & srv=$!
pin=$(pin_of "$WORK/preferred.out")
for c in ours aioquic; do echo "preferred fd00::1 $c $(echo_to fd00::1 $pin $c)"; done
sleep 1  # the connections' draining periods end, so connection_closed is printed
kill $srv; wait $srv || true
"""


def test_ipv6_addresses_in_a_network_namespace(tmp_path):
    """IPv6, where hosts have several addresses as a rule (privacy addresses): in a
    network namespace this test creates (`unshare -n`, three addresses on its loopback),
    a `[::]` server answers our, aioquic's and quinn's clients at each of fd00::1-3 from
    that address (quinn's client sends from ::1, so the kernel's own choice of source
    for the answer would be ::1: without the server naming the source these fail), and
    with `--preferred-address [fd00::3]:P` our and aioquic's clients move there."""
    import json
    if subprocess.run(["unshare", "-n", "true"]).returncode != 0:
        pytest.fail("unshare -n is not permitted here (needs root or user namespaces)")
    env = {**os.environ, "BIN": matrix.BIN, "QUINN": matrix.QUINN_PEER, "PORT": "4433", "WORK": str(tmp_path),
           "INTEROP": os.path.dirname(os.path.abspath(__file__))}
    p = subprocess.run(["unshare", "-n", "bash", "-c", NETNS_SCRIPT], env=env, capture_output=True, text=True, timeout=240)
    assert p.returncode == 0, p.stderr[-2000:]
    rows = [l.split(" ", 3) for l in p.stdout.splitlines() if l.startswith(("plain ", "preferred "))]
    assert len(rows) == 11, p.stdout + p.stderr[-1000:]
    for kind, addr, client, report in rows:
        r = json.loads(report) if report.startswith("{") else {}
        r = r["connections"][0] if "connections" in r else r
        assert r.get("verified") is True and not r.get("error"), (kind, addr, client, report[-300:])
        if client != "quinn":  # quinn's report does not say; its echo could not complete otherwise
            want = "[fd00::3]:4433" if kind == "preferred" else f"[{addr}]:4433"
            assert r.get("server_addr") == want, (kind, addr, client, r.get("server_addr"))
    locals_ = [json.loads(l)["local"] for l in open(tmp_path / "preferred.out") if '"connection_closed"' in l]
    assert locals_ == ["[fd00::3]:4433"] * 2, locals_
