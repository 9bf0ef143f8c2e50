#!/usr/bin/env python3
"""The flood sender (one process): sends one mode's datagrams to HOST:PORT and prints,
every 200 ms, one JSON line {"t": seconds since start, "sent": datagrams so far}, then
{"done": true, "sent": N, "elapsed": S}. Bounded: it stops at the mode's count or its
duration (plus a 5 s cap on top), whichever comes first.

  sender.py HOST PORT MODE SCALE POOL.pickle

MODE: burst | constant | ramp | chaos | garbage (modes.py has the schedules). The pool
file holds real client Initials (built once per run by run.py with aioquic).
"""
import json
import os
import pickle
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from modes import MODES, packet_source  # noqa: E402


def main():
    host, port, mode, scale, pool_path = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4]), sys.argv[5]
    with open(pool_path, "rb") as f:
        initials = pickle.load(f)
    m = MODES[mode].scaled(scale)
    nxt = packet_source(mode, initials, seed=port)
    socks = []
    for _ in range(4):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    addr = (host, port)
    sent = 0
    start = time.monotonic()
    next_report = 0.2
    cap = m.duration + 5.0
    print(json.dumps({"t": 0.0, "sent": 0}), flush=True)
    while sent < m.count:
        e = time.monotonic() - start
        if e >= cap or (m.duration and e >= m.duration):
            break
        if e >= next_report:
            print(json.dumps({"t": round(e, 3), "sent": sent}), flush=True)
            next_report += 0.2
        due = min(m.count, m.due(e))
        n = min(due - sent, 200)
        if n <= 0:
            time.sleep(0.0005)
            continue
        for i in range(n):
            try:
                socks[(sent + i) & 3].sendto(nxt(), addr)
            except OSError:
                pass  # ENOBUFS and the like: counted as offered anyway (the kernel's loss, not the server's)
        sent += n
    e = time.monotonic() - start
    print(json.dumps({"t": round(e, 3), "sent": sent}), flush=True)
    print(json.dumps({"done": True, "sent": sent, "elapsed": round(e, 3)}), flush=True)


if __name__ == "__main__":
    main()
