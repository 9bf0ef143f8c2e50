#!/usr/bin/env python3
"""Handshake cost benchmark (not a timed test), one run, side by side:

  servers: our native server, Debian's C ngtcp2 example server (`gtlsserver`,
           package ngtcp2-server 0.12.1, GnuTLS backend) and our wasm server
           under Node 26 (emscripten/run-node.mjs)
  clients: Debian's C ngtcp2 example client (`gtlsclient`, package ngtcp2-client,
           ALPN h3, GET /) and our socket-iwa-h3-client (GET /), each doing N
           sequential full handshakes (a fresh process per connection, no session
           file, so no resumption).

The native servers use the same ECDSA P-256 certificate and key (made here with
openssl); the wasm server, which has no host file system under Node, presents
its generated self-signed ECDSA P-256 certificate. For each (client, server) pair we read the server's CPU time before and
after the N handshakes: utime+stime from /proc/<pid>/stat (clock ticks, all
threads) and, for a finer reading, the sum of /proc/<pid>/task/*/schedstat
on-CPU nanoseconds. Latency is the client's: our client's `handshake_ms`;
for gtlsclient the qlog time (integer ms) of its first Handshake packet, i.e.
when it had the server's whole first flight and sent its Finished. Medians over
--repeat runs; pairs are interleaved so that load from other processes hits all
servers alike. Ratios are ours / C server.

Usage: python3 stress-test/bench_handshake.py [--handshakes 200] [--repeat 3]
           [--servers native,c,wasm] [--clients ngtcp2,ours] [--markdown]
       python3 stress-test/bench_handshake.py --callgrind 50
The second form runs our native server under valgrind --tool=callgrind and prints
its instruction count (Ir) per full handshake with gtlsclient: the difference
between a run with 5 + N handshakes and one with 5, divided by N (startup and
shutdown cancel out). Load-independent, unlike CPU time. Under valgrind
wolfSSL's cpuid dispatch sees valgrind's CPU model, so the x86_64 code path may
differ from the one taken natively.
Installs ngtcp2-server/ngtcp2-client with apt-get when missing (idempotent).
"""

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "interop"))
sys.path.insert(0, os.path.join(ROOT, "stress-test"))

from conftest import BIN, free_udp_port, server_command  # noqa: E402
from lib.debian_ngtcp2 import ensure_debian_ngtcp2  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
SERVER_NAMES = {"native": "ours (native)", "c": "C ngtcp2-server (GnuTLS)", "wasm": "ours (wasm, Node 26)"}
CLIENT_NAMES = {"ngtcp2": "ngtcp2-client (C)", "ours": "socket-iwa-h3-client"}


def make_cert(d):
    key, cert = os.path.join(d, "key.pem"), os.path.join(d, "cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", key, "-out", cert, "-days", "10", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True)
    der = subprocess.run(["openssl", "x509", "-in", cert, "-outform", "DER"], check=True, capture_output=True).stdout
    return key, cert, hashlib.sha256(der).hexdigest()


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)


def cpu_ns(pid):
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total


class RunningServer:
    def __init__(self, kind, key, cert, workdir):
        self.port = free_udp_port()
        self.cert_sha256 = None
        if kind == "c":
            docroot = os.path.join(workdir, "htdocs")
            os.makedirs(docroot, exist_ok=True)
            with open(os.path.join(docroot, "index.html"), "w") as f:
                f.write("hello\n")
            cmd = ["gtlsserver", "-q", "-d", docroot, "127.0.0.1", str(self.port), key, cert]
        else:
            cmd = [*server_command("native" if kind == "native" else "wasm-node"),
                   "--listen", f"127.0.0.1:{self.port}", "--json"]
            if kind == "native":
                cmd += ["--cert", cert, "--key", key]
            # The wasm program has no host file system under Node: it presents its
            # generated identity, also a self-signed ECDSA P-256 certificate.
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if kind == "c":
            line = self.proc.stderr.readline()  # "Using document root ..."
            if not line.startswith("Using document root"):
                raise RuntimeError(f"gtlsserver did not start: {line}{self.proc.stderr.read()}")
        else:
            line = self.proc.stdout.readline()
            if not line or json.loads(line).get("event") != "listening":
                raise RuntimeError(f"{kind} server did not start: {line}{self.proc.stderr.read()}")
            self.cert_sha256 = json.loads(line).get("cert_sha256")
        # Drain both pipes so a chatty server never blocks on a full pipe.
        for pipe in (self.proc.stdout, self.proc.stderr):
            threading.Thread(target=lambda p=pipe: [None for _ in p], daemon=True).start()

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


GTLS_EXTRA = []  # --group: only this key-exchange group for gtlsclient


def ngtcp2_client_handshake(port, qlog):
    p = subprocess.run(["gtlsclient", "-q", "--exit-on-all-streams-close", f"--qlog-file={qlog}", "--timeout=10s",
                        *GTLS_EXTRA, "127.0.0.1", str(port), f"https://127.0.0.1:{port}/"],
                       capture_output=True, text=True, timeout=30)
    if p.returncode != 0:
        raise RuntimeError(f"gtlsclient failed ({p.returncode}): {p.stderr[-500:]}")
    t = None
    with open(qlog) as f:
        for line in f:
            ev = json.loads(line.lstrip("\x1e"))
            if ev.get("name") == "transport:packet_sent" and \
                    ev["data"]["header"]["packet_type"] == "handshake":
                t = float(ev["time"])
                break
    if t is None:
        raise RuntimeError("gtlsclient: no Handshake packet sent (handshake did not complete)")
    return t


def our_client_handshake(port, pin_args):
    p = subprocess.run([os.path.join(BIN, "socket-iwa-h3-client"), "--connect", f"127.0.0.1:{port}", "--get", "/",
                        "--json", "--timeout", "10", *pin_args], capture_output=True, text=True, timeout=30)
    lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
    r = json.loads(lines[-1]) if lines else None
    if p.returncode != 0 or not r or r.get("completed") != 1:
        raise RuntimeError(f"socket-iwa-h3-client failed ({p.returncode}): {p.stdout[-300:]} {p.stderr[-300:]}")
    return float(r["handshake_ms"])


def measure(server_kind, client_kind, n, key, cert, pin, pins, workdir):
    srv = RunningServer(server_kind, key, cert, workdir)
    pin_args = ["--cert-hash", srv.cert_sha256 or pin] if pins else []
    qlog = os.path.join(workdir, "client.qlog")
    one = (lambda: ngtcp2_client_handshake(srv.port, qlog)) if client_kind == "ngtcp2" \
        else (lambda: our_client_handshake(srv.port, pin_args))
    try:
        for _ in range(3):  # warm-up: lazy initialisation, Node's JIT
            one()
        time.sleep(0.2)
        t0, n0, w0 = cpu_ticks(srv.proc.pid), cpu_ns(srv.proc.pid), time.perf_counter()
        lat = [one() for _ in range(n)]
        t1, n1, w1 = cpu_ticks(srv.proc.pid), cpu_ns(srv.proc.pid), time.perf_counter()
        if srv.proc.poll() is not None:
            raise RuntimeError(f"{server_kind} server exited during the run")
    finally:
        srv.stop()
    return {"cpu_ms": (t1 - t0) * 1000.0 / TICK / n, "cpu_ns_ms": (n1 - n0) / 1e6 / n,
            "lat_ms": statistics.median(lat), "lat_mean_ms": statistics.mean(lat), "wall_s": w1 - w0}


def callgrind_ir(n, key, cert, workdir):
    out = os.path.join(workdir, f"callgrind.{n}")
    port = free_udp_port()
    proc = subprocess.Popen(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                             os.path.join(BIN, "socket-iwa-server"), "--listen", f"127.0.0.1:{port}", "--json",
                             "--cert", cert, "--key", key], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = proc.stdout.readline()
        if not line or json.loads(line).get("event") != "listening":
            raise RuntimeError("server under valgrind did not start")
        threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
        qlog = os.path.join(workdir, "client.qlog")
        for _ in range(n):
            ngtcp2_client_handshake(port, qlog)
    finally:
        proc.terminate()
        proc.wait(60)
    with open(out) as f:
        for line in f:
            if line.startswith("summary:") or line.startswith("totals:"):
                return int(line.split()[1])
    raise RuntimeError(f"no totals in {out}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--handshakes", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--servers", default="native,c,wasm")
    ap.add_argument("--clients", default="ngtcp2,ours")
    ap.add_argument("--markdown", action="store_true", help="print a markdown table (default: JSON lines)")
    ap.add_argument("--group", choices=["X25519", "SECP256R1", "SECP384R1"],
                    help="gtlsclient offers only this group (default: its own list, X25519 first)")
    ap.add_argument("--callgrind", type=int, metavar="N", help="callgrind Ir per handshake over N handshakes")
    a = ap.parse_args()
    if a.group:
        GTLS_EXTRA.append(f"--groups=-GROUP-ALL:+GROUP-{a.group}")
    if a.callgrind is not None:
        if not 1 <= a.callgrind <= 1000:
            sys.exit("bench_handshake: --callgrind must be 1..1000")
        if not shutil.which("valgrind"):
            sys.exit("bench_handshake: valgrind missing (apt-get install valgrind)")
        ensure_debian_ngtcp2("bench_handshake")
        with tempfile.TemporaryDirectory(prefix="bench-hs-") as d:
            key, cert, _ = make_cert(d)
            base = callgrind_ir(5, key, cert, d)
            more = callgrind_ir(5 + a.callgrind, key, cert, d)
        print(json.dumps({"server": os.path.join(BIN, "socket-iwa-server"), "handshakes": a.callgrind,
                          "ir_per_handshake": (more - base) // a.callgrind}))
        return
    if not 1 <= a.handshakes <= 5000 or not 1 <= a.repeat <= 20:
        sys.exit("bench_handshake: --handshakes must be 1..5000 and --repeat 1..20")
    servers = a.servers.split(",")
    clients = a.clients.split(",")
    for s in servers:
        if s not in SERVER_NAMES:
            sys.exit(f"bench_handshake: unknown server {s!r} (native, c, wasm)")
    for c in clients:
        if c not in CLIENT_NAMES:
            sys.exit(f"bench_handshake: unknown client {c!r} (ngtcp2, ours)")
    ensure_debian_ngtcp2("bench_handshake")
    with tempfile.TemporaryDirectory(prefix="bench-hs-") as d:
        key, cert, pin = make_cert(d)
        helptext = subprocess.run([os.path.join(BIN, "socket-iwa-h3-client"), "--help"],
                                  capture_output=True, text=True).stdout
        pins = "--cert-hash" in helptext  # clients that verify by default take the pin
        runs = {}
        for rep in range(a.repeat):
            for c in clients:
                for s in servers:
                    r = measure(s, c, a.handshakes, key, cert, pin, pins, d)
                    runs.setdefault((c, s), []).append(r)
                    print(json.dumps({"repeat": rep, "client": c, "server": s, **r}), file=sys.stderr, flush=True)
    med = {k: {f: statistics.median(r[f] for r in v) for f in v[0]} for k, v in runs.items()}
    if not a.markdown:
        for (c, s), m in med.items():
            print(json.dumps({"client": c, "server": s, **m}))
        return
    print(f"{a.handshakes} sequential full handshakes per run, median of {a.repeat} runs "
          f"(ECDSA P-256 certificate; gtlsclient groups: {a.group or 'default'}).\n")
    print("| client | server | server CPU/handshake, /proc stat (ms) | same, schedstat (ms) | ours/C (CPU) "
          "| handshake latency median (ms) |")
    print("|---|---|---|---|---|---|")
    for c in clients:
        base = med.get((c, "c"))
        for s in servers:
            m = med[(c, s)]
            ratio = f"{m['cpu_ns_ms'] / base['cpu_ns_ms']:.2f}x" if base and s != "c" else "1.00x" if s == "c" else "-"
            print(f"| {CLIENT_NAMES[c]} | {SERVER_NAMES[s]} | {m['cpu_ms']:.2f} | {m['cpu_ns_ms']:.3f} | {ratio} "
                  f"| {m['lat_ms']:.2f} |")


if __name__ == "__main__":
    main()
