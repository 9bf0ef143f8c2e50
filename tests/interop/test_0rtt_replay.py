"""0-RTT anti-replay (docs/TLS.md): a ClientHello with early data, captured
on the wire by a UDP relay and resent from another port, must not have its
early data processed a second time, neither by the same server process nor by
a server restarted with the same --ticket-key inside the freshness window.

Observable: the server echoes every stream byte it processes. The captured
first flight carries BYTES of stream data in 0-RTT packets (the server's
connection_closed event for the original connection reports early_data_bytes);
if the replay's early data were processed, the server would echo those bytes
to the replaying port, so it would send it more than BYTES. Without early
data it can only send its handshake flight (and retransmissions of it), which
is a small fraction of that. The server's zero_rtt counters must agree."""

import json
import select
import socket
import threading
import time

from conftest import Server, run_client

BYTES = 8000  # fits in the client's first flight (initial congestion window ~13.5 KB)


class Relay:
    """Forwards UDP between our client and the server, keeping a copy of the
    client's datagrams whose first packet is a long-header Initial or 0-RTT
    packet (its first flight: ClientHello + early data)."""

    def __init__(self, server_port):
        self.server = ("127.0.0.1", server_port)
        self.front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.front.bind(("127.0.0.1", 0))
        self.back = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.back.bind(("127.0.0.1", 0))
        self.port = self.front.getsockname()[1]
        self.client = None
        self.first_flight = []
        self.stop = False
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        # After close() is called, keep forwarding until 0.3 s pass without a
        # datagram, so the client's CONNECTION_CLOSE reaches the server.
        while True:
            r, _, _ = select.select([self.front, self.back], [], [], 0.3 if self.stop else 0.05)
            if not r and self.stop:
                return
            if self.front in r:
                data, self.client = self.front.recvfrom(65536)
                if data and data[0] & 0x80 and (data[0] >> 4) & 0x3 in (0, 1):
                    self.first_flight.append(data)
                self.back.sendto(data, self.server)
            if self.back in r and self.client:
                data = self.back.recv(65536)
                self.front.sendto(data, self.client)

    def close(self):
        self.stop = True
        self.t.join(5)
        self.front.close()
        self.back.close()


def replay(datagrams, server_port, listen_s=1.0) -> int:
    """Resends `datagrams` from a fresh port; returns the bytes the server sent back."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    for d in datagrams:
        s.sendto(d, ("127.0.0.1", server_port))
    total = 0
    deadline = time.monotonic() + listen_s
    while (left := deadline - time.monotonic()) > 0:
        r, _, _ = select.select([s], [], [], left)
        if r:
            total += len(s.recv(65536))
    s.close()
    return total


class Events:
    """Collects the server's JSON events (stdout) in the background."""

    def __init__(self, server):
        self.lines = []
        self.t = threading.Thread(target=self.run, args=(server.proc.stdout,), daemon=True)
        self.t.start()

    def run(self, f):
        for line in f:
            try:
                self.lines.append(json.loads(line))
            except ValueError:
                pass

    def wait(self, pred, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for e in list(self.lines):
                if pred(e):
                    return e
            time.sleep(0.05)
        raise AssertionError(f"no matching server event in {self.lines}")


def zero_rtt_through_relay(server, events, session):
    """A resumed connection with BYTES of 0-RTT data through a relay; returns its captured first flight."""
    relay = Relay(server.port)
    relay_port = relay.back.getsockname()[1]
    try:
        rc, rep, err = run_client(relay.port, "--cert-hash", server.info["cert_sha256"], "--session", session,
                                  "--bytes", str(BYTES))
        assert rc == 0, err
        assert rep["resumed"] and rep["early_data"] == "accepted", rep
    finally:
        relay.close()
    # The original connection's early data was processed (and the connection is gone).
    closed = events.wait(lambda e: e.get("event") == "connection_closed" and e["peer"].endswith(f":{relay_port}"))
    assert closed["early_data_bytes"] == BYTES, closed
    assert relay.first_flight, "the relay captured no first flight"
    return relay.first_flight


def stop_and_stats(server, events):
    server.stop()
    return events.wait(lambda e: e.get("event") == "stopped")["zero_rtt"]


def test_replayed_0rtt_client_hello_is_not_processed_twice(tmp_path):
    key, session = str(tmp_path / "ticket.key"), str(tmp_path / "s.json")
    s = Server("--ticket-key", key)
    ev = Events(s)
    try:
        rc, _, err = run_client(s.port, "--session", session)
        assert rc == 0, err
        flight = zero_rtt_through_relay(s, ev, session)
        sent_back = replay(flight, s.port)
        # The replay only gets a handshake flight, not BYTES of echo.
        assert sent_back < BYTES // 2, f"server sent {sent_back} bytes to the replayed ClientHello"
    finally:
        stats = stop_and_stats(s, ev)
    assert stats["admitted"] == 1 and stats["refused_replay"] >= 1, stats


def test_replay_after_restart_inside_the_window_is_refused(tmp_path):
    key, session = str(tmp_path / "ticket.key"), str(tmp_path / "s.json")
    s = Server("--ticket-key", key)
    ev = Events(s)
    try:
        rc, _, err = run_client(s.port, "--session", session)
        assert rc == 0, err
        flight = zero_rtt_through_relay(s, ev, session)
    finally:
        stop_and_stats(s, ev)
    # Same key, new process (QUIC routes by connection ID, so the new port does not matter).
    s2 = Server("--ticket-key", key)
    ev2 = Events(s2)
    try:
        sent_back = replay(flight, s2.port)
        assert sent_back < BYTES // 2, f"restarted server sent {sent_back} bytes to the replayed ClientHello"
        # A fresh resumption with 0-RTT still works after the restart.
        rc, rep, err = run_client(s2.port, "--session", session)
        assert rc == 0, err
        assert rep["resumed"] and rep["early_data"] == "accepted", rep
    finally:
        stats = stop_and_stats(s2, ev2)
    assert stats["admitted"] == 1 and stats["refused_replay"] >= 1, stats
