#!/usr/bin/env python3
"""How often a full handshake outlasts the 10 s handshake timeout on a lossy path,
and how long handshakes take there: our server with aioquic's and quinn's clients,
and our client with their servers, each handshake a separate client process (1000-byte
echo) through tests/interop/udp_relay.py dropping (or corrupting) a share of the
datagrams in each direction. A measurement, not a test: the interop matrix's
handshakeloss / handshakecorruption cells take their rate from it (docs/INTEROP.md).

Usage: python3 stress-test/handshake_loss.py [--rate 0.3] [--handshakes 40] [--corrupt] [--seed 1000]
Bounded: --handshakes per pairing, each client run at most 30 s.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "interop"))
import matrix  # noqa: E402
from udp_relay import UdpRelay  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=float, default=0.3, help="share of datagrams dropped (or corrupted), each direction")
    ap.add_argument("--handshakes", type=int, default=40, help="handshakes per pairing (4 pairings)")
    ap.add_argument("--corrupt", action="store_true", help="flip one bit instead of dropping")
    ap.add_argument("--seed", type=int, default=1000)
    a = ap.parse_args()
    if not 0 <= a.rate < 1 or a.handshakes < 1:
        ap.error("--rate must be in [0, 1) and --handshakes at least 1")
    impair = {"corrupt" if a.corrupt else "loss": a.rate}
    fails, times = {}, []
    for role in ("server", "client"):
        for peer in ("aioquic", "quinn"):
            s = matrix.with_server(role, peer)
            try:
                with UdpRelay(("127.0.0.1", s.port), seed=a.seed, max_seconds=40 * a.handshakes, **impair) as relay:
                    for _ in range(a.handshakes):
                        t = time.monotonic()
                        try:
                            reps = matrix.client(role, peer, relay.port, s.info["cert_sha256"], "--bytes", "1000",
                                                 our_extra=("--bytes", "1000"), timeout=30)
                            ok = reps[0].get("verified") is True
                        except matrix.CellFail:
                            ok = False
                        times.append(time.monotonic() - t)
                        if not ok:
                            fails[f"our {role} / {peer}"] = fails.get(f"our {role} / {peer}", 0) + 1
            finally:
                s.stop()
    times.sort()
    q = lambda p: times[min(len(times) - 1, int(len(times) * p))]
    print(f"{'corruption' if a.corrupt else 'loss'} {a.rate:.0%} each way: {len(times)} handshakes, "
          f"{sum(fails.values())} failed {fails or ''}; seconds p50 {q(0.5):.2f} p90 {q(0.9):.2f} "
          f"p99 {q(0.99):.2f} max {times[-1]:.2f}")


if __name__ == "__main__":
    main()
