#!/usr/bin/env python3
"""A UDP relay that delays and drops datagrams: this project's stand-in for the seeds'
`tc qdisc ... netem delay/loss` (netem_loss.sh), because the kernel this project runs on has
no sch_netem (`tc qdisc add dev lo root netem delay 50ms` fails: "Specified qdisc kind is
unknown"). The benchmarks run it inside a network namespace they create, between a client
and a server on that namespace's loopback.

  delay_relay.py --listen H:P --to H:P [--delay-ms 50] [--loss 0.0] [--seed 1] [--max-seconds 300]

Each datagram, each direction, waits --delay-ms (one way, so the round trip gains twice that)
and is dropped with probability --loss. One client at a time (the last address seen on the
front socket). A datagram starting with b"SIWA-PING" sent to the front socket is answered by
the relay itself after both delays, so a caller measures the relay's real round trip
(including this process's scheduling on a busy machine). Prints {"event":"listening"} then
runs until killed or --max-seconds.
"""
import argparse
import heapq
import json
import random
import select
import socket
import time


def hostport(s):
    h, _, p = s.rpartition(":")
    if not h or not p.isdigit():
        raise argparse.ArgumentTypeError(f"{s!r}: expected HOST:PORT")
    return h, int(p)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--listen", type=hostport, required=True)
    ap.add_argument("--to", type=hostport, required=True)
    ap.add_argument("--delay-ms", type=float, default=50.0)
    ap.add_argument("--loss", type=float, default=0.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--max-seconds", type=float, default=300.0)
    a = ap.parse_args()
    if not 0 <= a.loss < 1:
        ap.error("--loss: a probability in [0, 1)")
    rng = random.Random(a.seed)
    front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    front.bind(a.listen)
    back = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    back.bind((a.to[0], 0))
    for s in (front, back):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        s.setblocking(False)
    d = a.delay_ms / 1000
    q = []  # (due, seq, sock, data, addr)
    seq = 0
    client = None
    stats = {"forwarded": 0, "dropped": 0}
    print(json.dumps({"event": "listening", "addr": f"{a.listen[0]}:{front.getsockname()[1]}"}), flush=True)
    end = time.monotonic() + a.max_seconds
    while time.monotonic() < end:
        now = time.monotonic()
        while q and q[0][0] <= now:
            _, _, sock, data, addr = heapq.heappop(q)
            try:
                sock.sendto(data, addr)
            except OSError:
                pass
        timeout = max(0.0, q[0][0] - time.monotonic()) if q else 0.5
        r, _, _ = select.select([front, back], [], [], timeout)
        now = time.monotonic()
        for s in r:
            for _ in range(64):
                try:
                    data, addr = s.recvfrom(65536)
                except BlockingIOError:
                    break
                if s is front and data.startswith(b"SIWA-PING"):
                    seq += 1
                    heapq.heappush(q, (now + 2 * d, seq, front, data, addr))
                    continue
                if a.loss and rng.random() < a.loss:
                    stats["dropped"] += 1
                    continue
                stats["forwarded"] += 1
                seq += 1
                if s is front:
                    client = addr
                    heapq.heappush(q, (now + d, seq, back, data, a.to))
                elif client is not None:
                    heapq.heappush(q, (now + d, seq, front, data, client))


if __name__ == "__main__":
    main()
