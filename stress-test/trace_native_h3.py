#!/usr/bin/env python3
"""Why a GET from our native server runs slower than from Debian's C ngtcp2
server with the C client (issue 11, goal 4): a packet trace, not a timed test.

For each round and server (ours, the C example server; the C client `gtlsclient`
downloading 32 MiB, as in bench_native_h3.py) it captures the transfer on
loopback with tcpdump and reads the kernel's UDP RcvbufErrors around it, then
reports per transfer:

  drops        datagrams the kernel dropped because a receive buffer was full
               (the C client reads one datagram per recvmsg from a 208 KiB buffer;
               the server's socket drops nothing here)
  bytes sent   the server's UDP payload bytes / the body size (retransmissions,
               headers and ACKs above 1.0)
  GSO runs     how many datagrams each send carried (loopback passes a GSO run
               as one packet)
  idle gaps    pauses of more than 0.5 ms in the server's sending after the
               handshake, their total, and the server's reaction time: from the
               last client packet inside a gap to the server's next send

Medians over --repeat rounds. Needs tcpdump and root (capture on lo).
Usage: python3 stress-test/trace_native_h3.py [--repeat 3] [--bytes 33554432] [--servers ours,c]
"""

import argparse
import bisect
import collections
import os
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_native_h3 as bench  # noqa: E402  (servers, client, certificate, body)
from lib.debian_ngtcp2 import ensure_debian_ngtcp2  # noqa: E402


def rcvbuf_errors():
    with open("/proc/net/snmp") as f:
        rows = [line.split() for line in f if line.startswith("Udp:")]
    return int(rows[1][rows[0].index("RcvbufErrors")])


def read_pcap(path):
    """(time, sport, dport, udp payload length) for each IPv4/UDP packet of a pcap."""
    with open(path, "rb") as f:
        d = f.read()
    if len(d) < 24:
        return []
    link = struct.unpack("<I", d[20:24])[0]
    off, out = 24, []
    while off + 16 <= len(d):
        ts, us, incl, _ = struct.unpack("<IIII", d[off:off + 16])
        pkt = d[off + 16:off + 16 + incl]
        off += 16 + incl
        ip = pkt[14:] if link == 1 else pkt[16:]
        if len(ip) < 28 or ip[0] >> 4 != 4:
            continue
        ihl = (ip[0] & 15) * 4
        sport, dport, ulen = struct.unpack(">HHH", ip[ihl:ihl + 6])
        out.append((ts + us / 1e6, sport, dport, ulen - 8))
    return out


def analyse(packets, port, n, seg=1444):
    down = [p for p in packets if p[1] == port]
    up_t = [p[0] for p in packets if p[2] == port]
    data = [p for p in down if p[3] > 1000]
    gaps, reactions = [], []
    start = data[0][0] + 0.005 if data else 0   # after the handshake's flights
    for a, b in zip(data, data[1:]):
        if b[0] - a[0] > 0.0005 and a[0] > start:
            gaps.append(b[0] - a[0])
            i0, i1 = bisect.bisect_right(up_t, a[0]), bisect.bisect_left(up_t, b[0])
            if i1 > i0:
                reactions.append(b[0] - up_t[i1 - 1])
    runs = collections.Counter(min(-(-p[3] // seg), 64) for p in down)
    return {
        "bytes_sent_ratio": sum(p[3] for p in down) / n,
        "sends": len(down),
        "gso_runs": {str(k): v for k, v in sorted(runs.items())},
        "gaps": len(gaps), "gap_ms": sum(gaps) * 1e3,
        "reaction_us_median": statistics.median(reactions) * 1e6 if reactions else None,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bytes", type=int, default=32 << 20)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--servers", default="ours,c")
    a = ap.parse_args()
    servers = a.servers.split(",")
    for s in servers:
        if s not in bench.SERVER_NAMES:
            sys.exit(f"trace_native_h3: unknown server {s!r} (one of {','.join(bench.SERVER_NAMES)})")
    if not shutil.which("tcpdump"):
        sys.exit("trace_native_h3: tcpdump is missing (apt-get install tcpdump)")
    if os.geteuid() != 0:
        sys.exit("trace_native_h3: capturing on lo needs root")
    ensure_debian_ngtcp2("trace_native_h3")
    rows = collections.defaultdict(list)
    with tempfile.TemporaryDirectory() as tmp:
        key, cert, cert_hash, docroot, want = bench.prepare(tmp, a.bytes)
        running = {s: bench.RunningServer(s, key, cert, docroot) for s in servers}
        try:
            for r in range(a.repeat):
                for s in servers:
                    srv = running[s]
                    pcap = os.path.join(tmp, "t.pcap")
                    td = subprocess.Popen(["tcpdump", "-i", "lo", "-n", "-s", "64", "-B", "65536", "-U", "-w", pcap,
                                           f"udp port {srv.port}"], stderr=subprocess.DEVNULL)
                    time.sleep(0.8)
                    e0 = rcvbuf_errors()
                    m = bench.get_once("c", srv, a.bytes, cert_hash, want, tmp)
                    e1 = rcvbuf_errors()
                    time.sleep(0.3)
                    td.terminate()
                    td.wait()
                    t = analyse(read_pcap(pcap), srv.port, a.bytes)
                    t.update(mb_s=m["mb_s"], drops=e1 - e0)
                    rows[s].append(t)
                    print(f"round {r + 1}/{a.repeat} {bench.SERVER_NAMES[s]:<28} {m['mb_s']:6.1f} MB/s  drops {t['drops']:4d}  "
                          f"sent {t['bytes_sent_ratio']:.3f}x  gaps {t['gaps']:3d} ({t['gap_ms']:.1f} ms)  "
                          f"reaction {t['reaction_us_median'] or 0:.0f} us", file=sys.stderr)
        finally:
            for srv in running.values():
                srv.stop()
    med = lambda s, k: statistics.median(x[k] for x in rows[s] if x[k] is not None)  # noqa: E731
    print(f"32 MiB GET by the C ngtcp2 client, medians of {a.repeat} (loadavg {os.getloadavg()[0]:.2f}, nproc {os.cpu_count()};"
          f" `python3 stress-test/trace_native_h3.py --repeat {a.repeat}`)\n")
    print("| server | MB/s | client socket drops | bytes sent / body | idle gaps > 0.5 ms | idle ms | reaction to the last ACK, µs |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for s in servers:
        print(f"| {bench.SERVER_NAMES[s]} | {med(s, 'mb_s'):.1f} | {med(s, 'drops'):.0f} | {med(s, 'bytes_sent_ratio'):.3f} | "
              f"{med(s, 'gaps'):.0f} | {med(s, 'gap_ms'):.1f} | {med(s, 'reaction_us_median'):.0f} |")
    print("\nDatagrams per send (GSO run length: count of sends), first round:")
    for s in servers:
        runs = {k: v for k, v in rows[s][0]["gso_runs"].items() if v >= 10}
        print(f"- {bench.SERVER_NAMES[s]}: {runs}")


if __name__ == "__main__":
    main()
