"""A loopback UDP relay between one QUIC client and one server: a NAT simulator
and a passive observer for the interop matrix.

The client sends to the relay's front socket; the relay forwards each datagram
to the server from its back socket and the server's answers back to the client.
Modes:

  pass              forward everything (and classify packets, see below)
  rebind-port       after `rebind_after` server->client bytes, forward from a new
                    back socket (new source port), as a NAT that lost its mapping;
                    datagrams the server still sends to the old port are dropped
  rebind-addr       the same, but the new back socket has another source address
                    (`addr_from` -> `addr_to`, e.g. 127.0.0.2 -> 127.0.0.3)
  amplification     forward only the client's first datagram, drop everything else
                    the client sends for `window` seconds, count what the server
                    sends meanwhile (RFC 9000 8.1: at most 3x what it received
                    before the address is validated), then forward normally so the
                    handshake can still complete

Impairments (any mode), each direction on its own, from a seeded generator so a
failing run can be told apart from an unlucky one: `loss` drops a datagram with
that probability, `corrupt` flips one random bit of one random byte of a
forwarded datagram with that probability (the QUIC interop runner's
handshakeloss / transferloss / *corruption cases), `blackhole=(after, seconds)`
drops everything in both directions for `seconds` once the server has sent
`after` bytes (its blackhole case). Counted in the report's "impaired".

`delay` (seconds, any mode) holds every server->client datagram that long: a path
with a round trip, so what a client sends before the server's answer arrives
(0-RTT) is observable on loopback. `spacing` (seconds) forwards server->client
datagrams at least that far apart, in order, as a slow link does: the client
gets them one at a time instead of in the bursts a fast sender writes (so how
it acknowledges single packets is observable).

ECN: the relay reads each datagram's ECN codepoint (IP_RECVTOS) and forwards it
with the same one (an IP_TOS control message), as a router that supports ECN does,
counting the codepoints per direction in the report's "ecn" ([Not-ECT, ECT(1),
ECT(0), CE]). `ecn="bleach"` forwards every datagram as Not-ECT instead, as a
middlebox that clears the TOS byte does (ECN validation must then fail, RFC 9000
13.4.2).

Every QUIC packet (coalesced ones too) is classified from its long header (type
and version, RFC 9000 17.2 and RFC 9369 3.2), so a test can assert e.g. that a Retry
was sent, that 0-RTT packets were used, or that QUIC v2 was spoken. Short-header
packets are counted as 1-RTT; their key phase is encrypted and not visible here.

Bounded: the relay runs until stop() or `max_seconds`, whichever comes first.
"""

import random
import select
import socket
import struct
import threading
import time

IP_RECVTOS = getattr(socket, "IP_RECVTOS", 13)  # Linux
ECN_NAMES = ("not-ect", "ect1", "ect0", "ce")

V1 = 0x00000001
V2 = 0x6B3343CF
LONG_TYPES = {
    V1: {0: "initial", 1: "0rtt", 2: "handshake", 3: "retry"},
    V2: {1: "initial", 2: "0rtt", 3: "handshake", 0: "retry"},
}


def classify(d: bytes):
    """(kind, version) of the first packet in a UDP datagram."""
    if not d:
        return "empty", None
    if d[0] & 0x80 == 0:
        return "1rtt", None
    if len(d) < 5:
        return "short-garbage", None
    version = int.from_bytes(d[1:5], "big")
    if version == 0:
        return "version_negotiation", 0
    kind = LONG_TYPES.get(version, {}).get((d[0] >> 4) & 0x3, "long-unknown")
    return kind, version


def _varint(d: bytes, i: int):
    n = 1 << (d[i] >> 6)
    v = d[i] & 0x3F
    for b in d[i + 1:i + n]:
        v = (v << 8) | b
    return v, i + n


def classify_all(d: bytes):
    """(kind, version) of every packet coalesced in a UDP datagram (RFC 9000 12.2):
    long-header Initial, 0-RTT and Handshake packets carry a Length field; a Retry,
    Version Negotiation or short-header packet runs to the end of the datagram."""
    out = []
    i = 0
    while i < len(d):
        kind, version = classify(d[i:])
        out.append((kind, version))
        if kind not in ("initial", "0rtt", "handshake"):
            break
        try:
            j = i + 5
            j += 1 + d[j]  # DCID
            j += 1 + d[j]  # SCID
            if kind == "initial":
                tlen, j = _varint(d, j)
                j += tlen
            length, j = _varint(d, j)
            i = j + length
        except IndexError:
            break
    return out


class UdpRelay:
    def __init__(self, server, mode="pass", rebind_after=1 << 20, addr_from="127.0.0.1", addr_to=None,
                 window=1.0, max_seconds=120, front_host="127.0.0.1", delay=0.0, spacing=0.0,
                 loss=0.0, corrupt=0.0, blackhole=None, seed=1, ecn="pass"):
        if mode not in ("pass", "rebind-port", "rebind-addr", "amplification"):
            raise ValueError(f"unknown relay mode {mode!r}")
        if ecn not in ("pass", "bleach"):
            raise ValueError(f"unknown relay ecn handling {ecn!r}")
        self.ecn = ecn
        self.server = server
        self.mode = mode
        self.rebind_after = rebind_after
        self.addr_to = addr_to or addr_from
        self.window = window
        self.delay = delay
        self.spacing = spacing
        self._last_due = 0.0
        self._held = []  # (due, datagram, ecn) server->client, when delayed or spaced
        self.max_seconds = max_seconds
        self.loss, self.corrupt, self.blackhole = loss, corrupt, blackhole
        self._rng = random.Random(seed)
        self._blackhole_until = None
        self.impaired = {"seed": seed, "lost_c2s": 0, "lost_s2c": 0, "corrupted_c2s": 0, "corrupted_s2c": 0,
                         "blackholed": 0, "blackhole_s": 0.0, "handshake_hit": 0}
        self.front = self._socket(front_host)
        self.port = self.front.getsockname()[1]
        self.back = self._socket(addr_from)
        self.old_backs = []
        self.client = None
        self.stats = {
            "c2s_datagrams": 0, "c2s_bytes": 0, "s2c_datagrams": 0, "s2c_bytes": 0,
            "c2s": {}, "s2c": {}, "versions": [], "c2s_versions": [], "s2c_versions": [], "rebinds": 0, "back_addrs": [self._addr(self.back)],
            "dropped_c2s": 0, "dropped_to_old_path": 0,
            "ecn": {"c2s": [0, 0, 0, 0], "s2c": [0, 0, 0, 0], "handling": ecn},
        }
        # amplification accounting
        self.amp = {"server_received": 0, "server_sent": 0, "window_s": window, "client_datagrams_dropped": 0}
        self._first_c2s_at = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _socket(host):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.IPPROTO_IP, IP_RECVTOS, 1)
        s.bind((host, 0))
        return s

    def _recv(self, s):
        """One datagram, its sender and its ECN codepoint."""
        d, anc, _flags, src = s.recvmsg(65535, socket.CMSG_SPACE(4))
        ecn = 0
        for level, kind, data in anc:
            if level == socket.IPPROTO_IP and kind == socket.IP_TOS and data:
                ecn = data[0] & 3
        return d, src, ecn

    def _send(self, s, d, to, ecn):
        """Forwards `d` with the codepoint it came with (Not-ECT when bleaching)."""
        if ecn and self.ecn == "pass":
            s.sendmsg([d], [(socket.IPPROTO_IP, socket.IP_TOS, struct.pack("i", ecn))], 0, to)
        else:
            s.sendto(d, to)

    @staticmethod
    def _addr(sock):
        h, p = sock.getsockname()[:2]
        return f"{h}:{p}"

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        self._stop.set()
        self._thread.join(5)
        for s in [self.front, self.back, *self.old_backs]:
            s.close()

    def _count(self, direction, d):
        c = self.stats[direction]
        for kind, version in classify_all(d):
            c[kind] = c.get(kind, 0) + 1
            if version and version not in self.stats["versions"]:
                self.stats["versions"].append(version)
            if version and version not in self.stats[direction + "_versions"]:
                self.stats[direction + "_versions"].append(version)

    def _rebind(self):
        host = self.addr_to if self.mode == "rebind-addr" else self.back.getsockname()[0]
        new = self._socket(host)
        self.old_backs.append(self.back)
        self.back = new
        self.stats["rebinds"] += 1
        self.stats["back_addrs"].append(self._addr(new))

    def _impair(self, direction, d, now):
        """None if `d` is dropped on the way (blackhole, loss), else what arrives."""
        if self.blackhole and self._blackhole_until is None and self.stats["s2c_bytes"] >= self.blackhole[0]:
            self._blackhole_until = now + self.blackhole[1]
            self.impaired["blackhole_s"] = self.blackhole[1]
        if self._blackhole_until is not None and now < self._blackhole_until:
            self.impaired["blackholed"] += 1
            return None
        if self.loss and self._rng.random() < self.loss:
            self.impaired["lost_" + direction] += 1
            self._hit(d)
            return None
        if self.corrupt and d and self._rng.random() < self.corrupt:
            self._hit(d)
            i = self._rng.randrange(len(d))
            d = d[:i] + bytes([d[i] ^ (1 << self._rng.randrange(8))]) + d[i + 1:]
            self.impaired["corrupted_" + direction] += 1
        return d

    def _hit(self, d):
        # Datagrams lost or corrupted that carried Initial or Handshake packets.
        if any(k in ("initial", "handshake") for k, _ in classify_all(d)):
            self.impaired["handshake_hit"] += 1

    def _run(self):
        end = time.monotonic() + self.max_seconds
        while not self._stop.is_set() and time.monotonic() < end:
            socks = [self.front, self.back, *self.old_backs]
            while self._held and self._held[0][0] <= time.monotonic():
                _, held, held_ecn = self._held.pop(0)
                self._send(self.front, held, self.client, held_ecn)
            wait = 0.05 if not self._held else max(0.0, min(0.05, self._held[0][0] - time.monotonic()))
            ready, _, _ = select.select(socks, [], [], wait)
            for s in ready:
                try:
                    d, src, ecn = self._recv(s)
                except OSError:
                    continue
                now = time.monotonic()
                if s is self.front:
                    self.stats["ecn"]["c2s"][ecn] += 1
                    self.client = src
                    self._count("c2s", d)
                    if self.mode == "amplification":
                        if self._first_c2s_at is None:
                            self._first_c2s_at = now
                            self.amp["server_received"] += len(d)
                        elif now - self._first_c2s_at < self.window:
                            self.amp["client_datagrams_dropped"] += 1
                            self.stats["dropped_c2s"] += 1
                            continue
                    self.stats["c2s_datagrams"] += 1
                    self.stats["c2s_bytes"] += len(d)
                    d = self._impair("c2s", d, now)
                    if d is not None:
                        self._send(self.back, d, self.server, ecn)
                elif s is self.back:
                    self.stats["ecn"]["s2c"][ecn] += 1
                    self._count("s2c", d)
                    if self.mode == "amplification" and self._first_c2s_at is not None \
                            and now - self._first_c2s_at < self.window:
                        self.amp["server_sent"] += len(d)
                    self.stats["s2c_datagrams"] += 1
                    self.stats["s2c_bytes"] += len(d)
                    d = self._impair("s2c", d, now)
                    if d is None:
                        pass
                    elif self.client and (self.delay > 0 or self.spacing > 0):
                        due = max(now + self.delay, self._last_due + self.spacing)
                        self._last_due = due
                        self._held.append((due, d, ecn))
                    elif self.client:
                        self._send(self.front, d, self.client, ecn)
                    if self.mode.startswith("rebind") and self.stats["rebinds"] == 0 \
                            and self.stats["s2c_bytes"] >= self.rebind_after:
                        self._rebind()
                else:
                    # The server still answering an address the NAT no longer maps.
                    self.stats["dropped_to_old_path"] += 1

    def report(self):
        r = dict(self.stats)
        for k in ("versions", "c2s_versions", "s2c_versions"):
            r[k] = [hex(v) for v in self.stats[k]]
        r["impaired"] = dict(self.impaired)
        r["ecn"] = {"handling": self.ecn, **{d: dict(zip(ECN_NAMES, self.stats["ecn"][d])) for d in ("c2s", "s2c")}}
        if self.mode == "amplification":
            a = dict(self.amp)
            a["ratio"] = a["server_sent"] / a["server_received"] if a["server_received"] else None
            r["amplification"] = a
        return r


def main():
    """Command line, for tests in other languages (tests/iwa/js_quic_client_iwa.test.mjs):
    `udp_relay.py --server H:P [--delay S]` prints {"event":"relay","port":N}; each line
    "report" on stdin prints the report as JSON; end of stdin stops it."""
    import argparse
    import json
    import sys
    ap = argparse.ArgumentParser(description=main.__doc__.splitlines()[0])
    ap.add_argument("--server", required=True, help="HOST:PORT of the server to relay to")
    ap.add_argument("--delay", type=float, default=0.0, help="seconds each server->client datagram is held")
    ap.add_argument("--max-seconds", type=float, default=300)
    a = ap.parse_args()
    host, _, port = a.server.rpartition(":")
    with UdpRelay((host, int(port)), delay=a.delay, max_seconds=a.max_seconds) as relay:
        print(json.dumps({"event": "relay", "port": relay.port}), flush=True)
        for line in sys.stdin:
            if line.strip() == "report":
                print(json.dumps(relay.report()), flush=True)


if __name__ == "__main__":
    main()
