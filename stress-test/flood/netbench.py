#!/usr/bin/env python3
"""Benchmarks over a delayed / lossy path in a network namespace the script creates (the
seeds' session-ticket story under real delay and netem_loss.sh; issue 11).

  python3 stress-test/flood/netbench.py zero-rtt [--delay-ms 50] [--runs 9] [--servers native,wasm-node,iwa]
  python3 stress-test/flood/netbench.py loss [--delay-ms 10] [--loss 0,0.01,0.05] [--bytes 262144] [--runs 3]

Both run server, relay and client inside a fresh namespace (`ip netns add`; only its `lo`), the
client reaching the server through delay_relay.py (the kernel here has no sch_netem, see there):
one-way delay D each direction, so the path RTT is 2D plus the relay's own scheduling, which is
measured (relay pings) and reported.

zero-rtt: our client (socket-iwa-client, native) against our server, per run: a full handshake
(no session) and a resumed one whose echo travels as 0-RTT (--session; the ticket of the
previous connection), interleaved; we report the client's first echoed byte time
(`first_byte_ms`, from connection start) in ms and in RTTs: each run divided by the relay's
round trip measured just before it (median of 3 pings), then the median (and best) of those. Goal (issue 11): 0-RTT <= 1.1 RTT, full ~ 2 RTT.

Server "iwa": the wasm server inside an installed Isolated Web App in headless Chromium, on
Chromium's Direct Sockets (stress-test/flood/iwa_server.mjs --dev: the app from iwa/, the wasm build
mounted), Chromium itself started inside the namespace, so its UDP socket is on the same path.

loss: one echo of --bytes on one stream per run through the lossy path: completion time and
goodput by loss rate, native and wasm under Node.

Writes docs/perf/<zero_rtt|loss>.{json,md} and an SVG (unless --no-docs). Needs root (netns).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "interop"))
sys.path.insert(0, os.path.join(ROOT, "stress-test", "lib"))

import svg  # noqa: E402
from conftest import BIN, NODE26, server_command  # noqa: E402

NAMES = {"native": "ours, native", "wasm-node": "ours, wasm (Node 26)", "iwa": "ours, wasm in an IWA (Chromium 156, Direct Sockets)"}
SERVER_PORT, RELAY_PORT = 4433, 5433


class Netns:
    def __init__(self):
        self.name = f"siwa-net-{os.getpid()}"
        try:
            subprocess.run(["ip", "netns", "add", self.name], check=True, capture_output=True)
            subprocess.run(["ip", "-n", self.name, "link", "set", "lo", "up"], check=True, capture_output=True)
        except (subprocess.CalledProcessError, FileNotFoundError) as e:
            self.destroy()
            raise SystemExit(f"netbench: cannot create network namespace {self.name} (root needed): {getattr(e, 'stderr', e)}")
        self.procs = []

    def popen(self, cmd, **kw):
        p = subprocess.Popen(["ip", "netns", "exec", self.name, *cmd], **kw)
        self.procs.append(p)
        return p

    def run(self, cmd, timeout=60):
        return subprocess.run(["ip", "netns", "exec", self.name, *cmd], capture_output=True, text=True, timeout=timeout)

    def destroy(self):
        for p in getattr(self, "procs", []):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)


def start_iwa_server(ns):
    """The wasm server in an IWA (headless Chromium started in the namespace): iwa_server.mjs
    forwards the server's JSON lines; the first "listening" one gives the certificate pin. Its
    other output is drained by a thread; stop_server() sends it "quit" (it closes Chromium)."""
    p = ns.popen([NODE26, os.path.join(HERE, "iwa_server.mjs"), "--port", str(SERVER_PORT), "--dev", "--no-stats"],
                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    info = {}
    for _ in range(200):
        line = p.stdout.readline()
        if not line:
            break
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        if ev.get("event") == "listening":
            info = ev
        if ev.get("event") == "ready":
            break
    if info.get("event") != "listening":
        raise RuntimeError(f"the IWA server did not start in {ns.name}")
    threading.Thread(target=lambda: [None for _ in p.stdout], daemon=True).start()
    return p, info["cert_sha256"]


def stop_server(p, kind):
    if kind == "iwa":
        try:
            p.stdin.write("quit\n")
            p.stdin.flush()
            p.wait(30)
            return
        except (OSError, subprocess.TimeoutExpired):
            pass
    p.terminate()
    p.wait(10)


def start_server(ns, kind):
    if kind == "iwa":
        return start_iwa_server(ns)
    p = ns.popen([*server_command(kind), "--listen", f"127.0.0.1:{SERVER_PORT}", "--json"],
                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = p.stdout.readline()
    info = json.loads(line) if line.startswith("{") else {}
    if info.get("event") != "listening":
        raise RuntimeError(f"{kind} server did not start in {ns.name}: {line!r}")
    return p, info["cert_sha256"]


def start_relay(ns, delay_ms, loss):
    p = ns.popen([sys.executable, os.path.join(HERE, "delay_relay.py"), "--listen", f"127.0.0.1:{RELAY_PORT}",
                  "--to", f"127.0.0.1:{SERVER_PORT}", "--delay-ms", str(delay_ms), "--loss", str(loss), "--max-seconds", "600"],
                 stdout=subprocess.PIPE, text=True)
    if '"listening"' not in p.stdout.readline():
        raise RuntimeError("delay_relay did not start")
    return p


def relay_rtt(ns, n=10):
    """Median round trip through the relay, ms (its own pings, measured inside the namespace)."""
    code = ("import socket,time,statistics,json;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.settimeout(5);r=[]\n"
            f"for i in range({n}):\n t=time.monotonic();s.sendto(b'SIWA-PING',('127.0.0.1',{RELAY_PORT}));s.recvfrom(100);r.append((time.monotonic()-t)*1000);time.sleep(0.02)\n"
            "print(json.dumps(r))")
    p = ns.run([sys.executable, "-c", code])
    r = json.loads(p.stdout)
    return statistics.median(r), r


def client(ns, pin, *extra, timeout=60):
    p = ns.run([os.path.join(BIN, "socket-iwa-client"), "--connect", f"127.0.0.1:{RELAY_PORT}", "--cert-hash", pin, "--json", *extra],
               timeout=timeout)
    lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
    if not lines:
        raise RuntimeError(f"client printed nothing: {p.stderr[-300:]}")
    return json.loads(lines[-1])


def meta(extra):
    return {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "nproc": os.cpu_count(), "loadavg": os.getloadavg(),
            "commit": subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip(),
            **extra}


def zero_rtt(a):
    res = {"meta": meta({"delay_ms_one_way": a.delay_ms, "runs": a.runs}), "servers": {}}
    ns = Netns()
    try:
        start_relay(ns, a.delay_ms, 0.0)
        rtt, rtts = relay_rtt(ns)
        res["meta"]["relay_rtt_ms"] = round(rtt, 2)
        print(f"path RTT through the relay: median {rtt:.1f} ms (one-way delay {a.delay_ms} ms)", file=sys.stderr)
        for kind in a.servers.split(","):
            srv, pin = start_server(ns, kind)
            session = os.path.join(tempfile.mkdtemp(), "session.json")
            first = client(ns, pin, "--session", session)  # stores a ticket
            full, zr, accepted, fr, zrr = [], [], 0, [], []
            for i in range(a.runs):
                # The path RTT right now (the relay's scheduling on a busy machine varies): each run's
                # times are also taken in units of the RTT measured just before it.
                now_rtt, _ = relay_rtt(ns, 3)
                f = client(ns, pin)
                z = client(ns, pin, "--session", session)
                if f.get("verified") and f.get("first_byte_ms"):
                    full.append(f["first_byte_ms"])
                    fr.append(f["first_byte_ms"] / now_rtt)
                if z.get("verified") and z.get("first_byte_ms"):
                    zr.append(z["first_byte_ms"])
                    zrr.append(z["first_byte_ms"] / now_rtt)
                    accepted += z.get("early_data") == "accepted" and z.get("resumed") is True
                print(f"  {kind} run {i}: full {f.get('first_byte_ms')} ms, 0-RTT {z.get('first_byte_ms')} ms ({z.get('early_data')})", file=sys.stderr)
            stop_server(srv, kind)
            fm, zm = statistics.median(full), statistics.median(zr)
            res["servers"][kind] = {"full_first_byte_ms": full, "zero_rtt_first_byte_ms": zr, "zero_rtt_accepted": accepted,
                                    "runs": a.runs, "primed": bool(first.get("verified")),
                                    "full_median_ms": round(fm, 2), "zero_rtt_median_ms": round(zm, 2),
                                    "full_rtts": round(statistics.median(fr), 2), "zero_rtt_rtts": round(statistics.median(zrr), 2),
                                    "full_best_rtts": round(min(fr), 2), "zero_rtt_best_rtts": round(min(zrr), 2),
                                    "zero_rtt_goal_met": statistics.median(zrr) <= 1.1}
    finally:
        ns.destroy()
    m = res["meta"]
    md = [f"0-RTT vs full handshake, first echoed byte, through a {a.delay_ms:g} ms one-way delay (path RTT measured "
          f"{m['relay_rtt_ms']} ms) in a test netns; medians of {a.runs}; {m['date']}, loadavg {m['loadavg'][0]:.1f}, {m['nproc']} cores. "
          f"`python3 stress-test/flood/netbench.py zero-rtt{'' if a.servers == 'native,wasm-node,iwa' else ' --servers ' + a.servers}`", "",
          "| server | full handshake: first byte (median ms / RTTs; best RTTs) | 0-RTT: first byte (median ms / RTTs; best RTTs) | 0-RTT accepted | goal 0-RTT <= 1.1 RTT (median) |",
          "|---|---:|---:|---:|---|"]
    for kind, r in res["servers"].items():
        md.append(f"| {NAMES[kind]} | {r['full_median_ms']} / {r['full_rtts']}; {r['full_best_rtts']} | "
                  f"{r['zero_rtt_median_ms']} / {r['zero_rtt_rtts']}; {r['zero_rtt_best_rtts']} | "
                  f"{r['zero_rtt_accepted']}/{r['runs']} | {'met' if r['zero_rtt_goal_met'] else 'missed by ' + str(round(r['zero_rtt_rtts'] - 1.1, 2)) + ' RTT'} |")
    write(a, "zero_rtt", res, "\n".join(md))
    if not a.no_docs:
        svg.bar_chart(os.path.join(a.docs, "zero_rtt.svg"), f"First echoed byte in RTTs (path RTT {m['relay_rtt_ms']} ms)",
                      [(NAMES[k], [r["full_rtts"], r["zero_rtt_rtts"]]) for k, r in res["servers"].items()],
                      ["full handshake", "0-RTT (session ticket)"], "RTTs")


def loss(a):
    rates = [float(x) for x in a.loss.split(",")]
    res = {"meta": meta({"delay_ms_one_way": a.delay_ms, "bytes": a.bytes, "runs": a.runs}), "servers": {}}
    for kind in a.servers.split(","):
        res["servers"][kind] = {}
        for lr in rates:
            ns = Netns()
            try:
                start_relay(ns, a.delay_ms, lr)
                srv, pin = start_server(ns, kind)
                times, ok = [], 0
                for i in range(a.runs):
                    r = client(ns, pin, "--bytes", str(a.bytes), "--timeout", "60", timeout=90)
                    if r.get("verified"):
                        ok += 1
                        times.append(r["total_ms"])
                stop_server(srv, kind)
                med = statistics.median(times) if times else None
                res["servers"][kind][str(lr)] = {"completed": ok, "runs": a.runs, "total_ms": times,
                                                 "median_ms": med and round(med, 1),
                                                 "goodput_kb_s": med and round(a.bytes / 1024 / (med / 1000), 1)}
                print(f"  {kind} loss {lr:.0%}: {ok}/{a.runs} completed, median {med} ms", file=sys.stderr)
            finally:
                ns.destroy()
    md = [f"Echo of {a.bytes} bytes on one stream through a lossy path ({a.delay_ms:g} ms one-way delay, loss each direction) "
          f"in a test netns; medians of {a.runs}; {res['meta']['date']}, loadavg {res['meta']['loadavg'][0]:.1f}, "
          f"{res['meta']['nproc']} cores. `python3 stress-test/flood/netbench.py loss`", "",
          "| server | " + " | ".join(f"loss {r:.0%}" for r in rates) + " |", "|---|" + "---:|" * len(rates)]
    for kind, rows in res["servers"].items():
        md.append(f"| {NAMES[kind]} | " + " | ".join(
            f"{v['completed']}/{v['runs']} ok, {v['median_ms']} ms ({v['goodput_kb_s']} KiB/s)" for v in rows.values()) + " |")
    write(a, "loss", res, "\n".join(md))


def write(a, name, res, md):
    print(md)
    if a.no_docs:
        return
    with open(os.path.join(a.docs, f"{name}.json"), "w") as f:
        json.dump(res, f, indent=1)
    with open(os.path.join(a.docs, f"{name}.md"), "w") as f:
        f.write(md + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    z = sub.add_parser("zero-rtt")
    z.add_argument("--delay-ms", type=float, default=50.0)
    z.add_argument("--runs", type=int, default=9)
    z.add_argument("--servers", default="native,wasm-node,iwa", help="iwa needs /usr/bin/chromium")
    l = sub.add_parser("loss")
    l.add_argument("--delay-ms", type=float, default=10.0)
    l.add_argument("--loss", default="0,0.01,0.05")
    l.add_argument("--bytes", type=int, default=262144)
    l.add_argument("--runs", type=int, default=3)
    l.add_argument("--servers", default="native,wasm-node")
    for p in (z, l):
        p.add_argument("--no-docs", action="store_true")
    a = ap.parse_args()
    a.docs = os.path.join(ROOT, "docs", "perf")
    os.makedirs(a.docs, exist_ok=True)
    for k in a.servers.split(","):
        if k not in NAMES:
            ap.error(f"--servers: unknown server {k!r} (known: {', '.join(NAMES)})")
    if a.runs < 1:
        ap.error("--runs: at least 1")
    zero_rtt(a) if a.cmd == "zero-rtt" else loss(a)


if __name__ == "__main__":
    main()
