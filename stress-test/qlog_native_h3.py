#!/usr/bin/env python3
"""Congestion control of a 32 MiB GET by Debian's C ngtcp2 client, read from the
servers' own qlogs (issue 11, goal 4): our native server (`--qlog-dir`) and
Debian's C ngtcp2 example server (`gtlsserver --qlog-dir`), same client, same run.

Per transfer, from the server's qlog (`recovery:metrics_updated`,
`recovery:packet_lost`) and the kernel's UDP RcvbufErrors around it:

  drops              datagrams the client's socket dropped (its 208 KiB buffer overflowed)
  lost               packets the server declared lost
  first loss         when (ms after the connection started) and at what congestion window
                     the first loss was declared: the end of slow start
  peak cwnd          the largest congestion window of the transfer
  cwnd reductions    congestion events (the window cut by 10% or more)
  steady cwnd        median congestion window over the second half of the transfer

Both servers pay for formatting their qlog alike, so transfers are slower than in
bench_native_h3.py; compare the servers with each other. Writes docs/perf/native_cwnd.{json,md,svg}
(the SVG plots the congestion window over the first round's transfer).

Usage: python3 stress-test/qlog_native_h3.py [--repeat 5] [--bytes 33554432] [--no-write]
"""

import argparse
import glob
import json
import os
import shutil
import statistics
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import bench_native_h3 as bench  # noqa: E402
from lib.debian_ngtcp2 import ensure_debian_ngtcp2  # noqa: E402
from lib.svg import line_chart  # noqa: E402
from trace_native_h3 import rcvbuf_errors  # noqa: E402

SERVERS = ("ours", "c")


def read_qlog(path):
    """Records of a JSON-SEQ qlog; a record cut short (a writer that never flushed its last one) is skipped."""
    out = []
    with open(path, "rb") as f:
        for raw in f.read().split(b"\x1e"):
            if raw.strip():
                try:
                    out.append(json.loads(raw))
                except ValueError:
                    pass
    return out


def summarise(records):
    cw, lost = [], []
    for r in records[1:]:
        name, t, data = r.get("name"), r.get("time", 0), r.get("data") or {}
        if name == "recovery:metrics_updated" and "congestion_window" in data:
            cw.append((t, data["congestion_window"]))
        elif name == "recovery:packet_lost":
            lost.append(t)
    if not cw:
        raise RuntimeError("qlog has no congestion_window samples")
    first = lost[0] if lost else None
    at_first = max((c for t, c in cw if t <= first), default=0) if lost else None
    cuts = sum(1 for a, b in zip(cw, cw[1:]) if b[1] < a[1] * 0.9)
    end = cw[-1][0]
    steady = [c for t, c in cw if t > end / 2]
    return {
        "lost": len(lost), "first_loss_ms": first, "cwnd_at_first_loss": at_first,
        "peak_cwnd": max(c for _, c in cw), "cwnd_reductions": cuts,
        "steady_cwnd": statistics.median(steady) if steady else None,
        "series": cw,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bytes", type=int, default=32 << 20)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "perf"))
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args()
    ensure_debian_ngtcp2("qlog_native_h3")
    if not os.path.exists(os.path.join(bench.BIN, "socket-iwa-server")):
        sys.exit(f"qlog_native_h3: {bench.BIN}/socket-iwa-server missing: cargo build --release --bins")
    rows = {s: [] for s in SERVERS}
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        key, cert, _, docroot, want = bench.prepare(tmp, a.bytes)
        for r in range(a.repeat):
            for s in SERVERS:
                qdir = os.path.join(tmp, f"qlog-{s}-{r}")
                os.makedirs(qdir)
                srv = bench.RunningServer(s, key, cert, docroot, qlog_dir=qdir)
                try:
                    e0 = rcvbuf_errors()
                    m = bench.get_once("c", srv, a.bytes, "", want, tmp)
                    drops = rcvbuf_errors() - e0
                finally:
                    srv.stop()
                files = glob.glob(os.path.join(qdir, "*"))
                if len(files) != 1:
                    raise RuntimeError(f"{s}: expected one qlog file, found {files}")
                q = summarise(read_qlog(files[0]))
                shutil.rmtree(qdir)
                q.update(mb_s=m["mb_s"], drops=drops)
                rows[s].append(q)
                print(f"round {r + 1}/{a.repeat} {bench.SERVER_NAMES[s]:<28} {m['mb_s']:6.1f} MB/s  drops {drops:4d}  lost {q['lost']:4d}  "
                      + (f"first loss at {q['first_loss_ms']:.0f} ms, cwnd {q['cwnd_at_first_loss'] / 1e3:.0f} kB  " if q["lost"] else "no loss  ")
                      + f"peak {q['peak_cwnd'] / 1e3:.0f} kB  reductions {q['cwnd_reductions']}  "
                      f"steady {q['steady_cwnd'] / 1e3:.0f} kB", file=sys.stderr)
    load_after = os.getloadavg()

    def med(s, k):
        v = [x[k] for x in rows[s] if x[k] is not None]
        return statistics.median(v) if v else None

    def fmt(v, div):
        return "-" if v is None else f"{v / div:.0f}"

    cmd = f"python3 stress-test/qlog_native_h3.py --repeat {a.repeat}"
    lines = [
        f"32 MiB GET by Debian's C ngtcp2 client (`gtlsclient`), both servers writing qlog; medians of {a.repeat} "
        f"(loadavg {load_before[0]:.2f} -> {load_after[0]:.2f}, nproc {os.cpu_count()}; `{cmd}`).",
        "",
        "| server | MB/s (qlog on) | client socket drops | packets declared lost | transfers without loss | first loss at, ms | cwnd at first loss, kB | peak cwnd, kB | cwnd reductions | steady cwnd, kB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in SERVERS:
        lines.append(f"| {bench.SERVER_NAMES[s]} | {med(s, 'mb_s'):.1f} | {med(s, 'drops'):.0f} | {med(s, 'lost'):.0f} | "
                     f"{sum(1 for x in rows[s] if not x['lost'])}/{len(rows[s])} | "
                     f"{fmt(med(s, 'first_loss_ms'), 1)} | {fmt(med(s, 'cwnd_at_first_loss'), 1e3)} | {med(s, 'peak_cwnd') / 1e3:.0f} | "
                     f"{med(s, 'cwnd_reductions'):.0f} | {med(s, 'steady_cwnd') / 1e3:.0f} |")
    md = "\n".join(lines) + "\n"
    print(md)
    if a.no_write:
        return
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "native_cwnd.md"), "w") as f:
        f.write(md)
    with open(os.path.join(a.out, "native_cwnd.json"), "w") as f:
        json.dump({"command": cmd, "load": [load_before, load_after],
                   "rounds": {s: [{k: v for k, v in x.items() if k != "series"} for x in rows[s]] for s in SERVERS}}, f, indent=1)
    series = []
    for s in SERVERS:
        pts = rows[s][0]["series"]
        step = max(1, len(pts) // 1500)
        series.append((bench.SERVER_NAMES[s], [(t, c / 1e3) for t, c in pts[::step]]))
    line_chart(os.path.join(a.out, "native_cwnd.svg"), "Congestion window, 32 MiB GET by the C client (round 1)",
               series, "ms since the connection started", "cwnd, kB")


if __name__ == "__main__":
    main()
