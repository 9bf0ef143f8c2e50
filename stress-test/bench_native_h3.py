#!/usr/bin/env python3
"""HTTP/3 GET throughput benchmark (not a timed test), native, loopback, one run
side by side (issue 11, goal 4):

  servers: our native socket-iwa-server (GET /bytes/N), the same server with
           the batched UDP path switched off (SOCKET_IWA_UDP_BATCH=off: one
           sendmsg/recvmsg per datagram, the path before this benchmark's
           optimisation), and Debian's C ngtcp2 example server (`gtlsserver`,
           ngtcp2 0.12.1 + GnuTLS) serving a file of the same N bytes from a
           document root (-d), at the same path.
  clients: Debian's C ngtcp2 example client (`gtlsclient`, --download, the file's
           SHA-256 checked) and our socket-iwa-h3-client --get (checks every byte).

Each transfer is one fresh client process, one GET of N bytes (default 32 MiB).
Measured per transfer: the client's wall time (process start to exit, so the
handshake is included alike for every server) -> MB/s, and the server's CPU
time (on-CPU ns of its threads from /proc/<pid>/task/*/schedstat, before and
after) and the client's (rusage). Runs are interleaved
(repeat x client x server) so load from other processes hits all alike; medians
over --repeat. Ratios are ours / C server with the same client.

Installs ngtcp2-server/ngtcp2-client with apt-get when missing (idempotent).
Writes docs/perf/native_h3.{json,md,svg} and native_h3_cpu.svg (--out to change the directory,
--no-write to only print). Records loadavg and nproc.

Usage: python3 stress-test/bench_native_h3.py [--bytes 33554432] [--repeat 3]
           [--servers ours,ours-nobatch,c] [--clients c,ours] [--out docs/perf]
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
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "interop"))
sys.path.insert(0, os.path.join(ROOT, "stress-test"))

from conftest import BIN, free_udp_port  # noqa: E402
from lib.debian_ngtcp2 import ensure_debian_ngtcp2  # noqa: E402
from lib.svg import bar_chart  # noqa: E402

SERVER_NAMES = {"ours": "ours (native)", "ours-nobatch": "ours, batching off",
                "c": "C ngtcp2 example (GnuTLS)"}
CLIENT_NAMES = {"c": "C ngtcp2 example client", "ours": "socket-iwa-h3-client"}


def pattern(n):
    """The body of our server's /bytes/N: byte i is (i*31) % 251 (src/app/h3/demo.rs)."""
    period = bytes((i * 31) % 251 for i in range(251))
    whole = period * (n // 251 + 1)
    return whole[:n]


def make_cert(d):
    key, cert = os.path.join(d, "key.pem"), os.path.join(d, "cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", key, "-out", cert, "-days", "10", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"], check=True, capture_output=True)
    der = subprocess.run(["openssl", "x509", "-in", cert, "-outform", "DER"], check=True, capture_output=True).stdout
    return key, cert, hashlib.sha256(der).hexdigest()


def prepare(tmp, n):
    """A certificate and the C server's document root holding /bytes/N (our server's body
    for that path) in `tmp`: (key, cert, cert SHA-256, docroot, body SHA-256)."""
    key, cert, cert_hash = make_cert(tmp)
    docroot = os.path.join(tmp, "htdocs")
    os.makedirs(os.path.join(docroot, "bytes"))
    body = pattern(n)
    with open(os.path.join(docroot, "bytes", str(n)), "wb") as f:
        f.write(body)
    return key, cert, cert_hash, docroot, hashlib.sha256(body).hexdigest()


def cpu_s(pid):
    """On-CPU seconds of every thread of `pid` (/proc/<pid>/task/*/schedstat, ns resolution)."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total / 1e9


class RunningServer:
    def __init__(self, kind, key, cert, docroot, qlog_dir=None):
        self.kind = kind
        self.port = free_udp_port()
        env = dict(os.environ)
        qlog = [f"--qlog-dir={qlog_dir}"] if qlog_dir else []
        if kind == "c":
            cmd = ["gtlsserver", "-q", *qlog, "-d", docroot, "127.0.0.1", str(self.port), key, cert]
        else:
            cmd = [os.path.join(BIN, "socket-iwa-server"), "--listen", f"127.0.0.1:{self.port}", "--json",
                   "--cert", cert, "--key", key, *qlog]
            env["SOCKET_IWA_UDP_BATCH"] = "off" if kind == "ours-nobatch" else "on"
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
        if kind != "c":
            line = self.proc.stdout.readline()
            if not line or json.loads(line).get("event") != "listening":
                raise RuntimeError(f"{kind} server did not start: {line}")
        else:
            time.sleep(0.3)
            if self.proc.poll() is not None:
                raise RuntimeError("gtlsserver did not start")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def get_once(client, srv, n, cert_hash, want_sha, tmp):
    path = f"/bytes/{n}"
    if client == "ours":
        cmd = [os.path.join(BIN, "socket-iwa-h3-client"), "--connect", f"127.0.0.1:{srv.port}", "--json",
               "--cert-hash", cert_hash, "--get", path, "--timeout", "120"]
    else:
        dl = tempfile.mkdtemp(dir=tmp)
        cmd = ["gtlsclient", "-q", "--exit-on-all-streams-close", "--no-quic-dump", "--no-http-dump",
               f"--download={dl}", "127.0.0.1", str(srv.port), f"https://127.0.0.1:{srv.port}{path}"]
    c0 = cpu_s(srv.proc.pid)
    t0 = time.monotonic()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True)
        _, status, ru = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.monotonic() - t0
        out.seek(0)
        err.seek(0)
        p = subprocess.CompletedProcess(cmd, proc.returncode, out.read(), err.read())
    cpu = cpu_s(srv.proc.pid) - c0
    client_cpu = ru.ru_utime + ru.ru_stime
    if client == "ours":
        lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
        rep = json.loads(lines[-1]) if lines else {}
        ok = bool(rep.get("verified")) and rep.get("bytes_received") == n
        if not ok:
            raise RuntimeError(f"our client against {srv.kind}: not verified: {p.stdout[-500:]} {p.stderr[-500:]}")
    else:
        f = os.path.join(dl, str(n))
        got = hashlib.sha256(open(f, "rb").read()).hexdigest() if os.path.exists(f) else None
        shutil.rmtree(dl, ignore_errors=True)
        if got != want_sha:
            raise RuntimeError(f"C client against {srv.kind}: wrong or missing body (exit {p.returncode}) {p.stderr[-500:]}")
    return {"mb_s": n / 1e6 / wall, "wall_s": wall, "server_cpu_s": cpu, "client_cpu_s": client_cpu}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bytes", type=int, default=32 << 20)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--servers", default="ours,ours-nobatch,c")
    ap.add_argument("--clients", default="c,ours")
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "perf"))
    ap.add_argument("--name", default="native_h3")
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args()
    servers = a.servers.split(",")
    clients = a.clients.split(",")
    for s in servers:
        if s not in SERVER_NAMES:
            sys.exit(f"bench_native_h3: unknown server {s!r} (one of {','.join(SERVER_NAMES)})")
    for c in clients:
        if c not in CLIENT_NAMES:
            sys.exit(f"bench_native_h3: unknown client {c!r} (one of {','.join(CLIENT_NAMES)})")
    ensure_debian_ngtcp2("bench_native_h3")
    for b in ("socket-iwa-server", "socket-iwa-h3-client"):
        if not os.path.exists(os.path.join(BIN, b)):
            sys.exit(f"bench_native_h3: {os.path.join(BIN, b)} missing: cargo build --release --bins")
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        key, cert, cert_hash, docroot, want_sha = prepare(tmp, a.bytes)
        running = {s: RunningServer(s, key, cert, docroot) for s in servers}
        samples = {(c, s): [] for c in clients for s in servers}
        try:
            for r in range(a.repeat):
                for c in clients:
                    for s in servers:
                        m = get_once(c, running[s], a.bytes, cert_hash, want_sha, tmp)
                        samples[(c, s)].append(m)
                        print(f"run {r + 1}/{a.repeat} {CLIENT_NAMES[c]:>24} <- {SERVER_NAMES[s]:<28} "
                              f"{m['mb_s']:7.1f} MB/s  server CPU {m['server_cpu_s']:.2f} s  client CPU {m['client_cpu_s']:.2f} s", file=sys.stderr)
        finally:
            for srv in running.values():
                srv.stop()
    load_after = os.getloadavg()
    rows = []
    for c in clients:
        base = statistics.median(x["mb_s"] for x in samples[(c, "c")]) if "c" in servers else None
        base_cpu = statistics.median(x["server_cpu_s"] for x in samples[(c, "c")]) if "c" in servers else None
        for s in servers:
            mbs = statistics.median(x["mb_s"] for x in samples[(c, s)])
            cpu = statistics.median(x["server_cpu_s"] for x in samples[(c, s)])
            ccpu = statistics.median(x["client_cpu_s"] for x in samples[(c, s)])
            rows.append({"client": c, "server": s, "mb_s": round(mbs, 1),
                         "runs_mb_s": [round(x["mb_s"], 1) for x in samples[(c, s)]],
                         "server_cpu_s": round(cpu, 3), "client_cpu_s": round(ccpu, 3),
                         "vs_c_server": round(mbs / base, 2) if base else None,
                         "cpu_vs_c_server": round(cpu / base_cpu, 2) if base_cpu else None})
    res = {"bench": "native_h3", "bytes": a.bytes, "repeat": a.repeat, "median_of": a.repeat,
           "command": "python3 stress-test/bench_native_h3.py" + (f" --bytes {a.bytes}" if a.bytes != 32 << 20 else "")
           + (f" --repeat {a.repeat}" if a.repeat != 3 else ""),
           "nproc": os.cpu_count(), "loadavg_before": [round(x, 2) for x in load_before],
           "loadavg_after": [round(x, 2) for x in load_after], "kernel": os.uname().release,
           "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()), "rows": rows}
    load = f"loadavg {load_before[0]:.1f} -> {load_after[0]:.1f}, nproc {os.cpu_count()}"
    md = [f"HTTP/3 GET of {a.bytes >> 20} MiB on loopback, medians of {a.repeat} ({load}; {res['date_utc']} UTC, "
          f"`{res['command']}`). MB/s = bytes / client wall time; ratios are ours / C server with the same client.", "",
          "| client | server | GET MB/s | vs C server | server CPU s | CPU vs C server | client CPU s |",
          "|---|---|---:|---:|---:|---:|---:|"]
    for row in rows:
        ratio = f"**{row['vs_c_server']:.2f}x**" if row["vs_c_server"] is not None else "-"
        cratio = f"{row['cpu_vs_c_server']:.2f}x" if row["cpu_vs_c_server"] is not None else "-"
        md.append(f"| {CLIENT_NAMES[row['client']]} | {SERVER_NAMES[row['server']]} | {row['mb_s']:.1f} | {ratio} | "
                  f"{row['server_cpu_s']:.2f} | {cratio} | {row['client_cpu_s']:.2f} |")
    table = "\n".join(md)
    print(json.dumps(res, indent=1))
    print(table)
    if not a.no_write:
        os.makedirs(a.out, exist_ok=True)
        with open(os.path.join(a.out, f"{a.name}.json"), "w") as f:
            json.dump(res, f, indent=1)
            f.write("\n")
        with open(os.path.join(a.out, f"{a.name}.md"), "w") as f:
            f.write(table + "\n")
        vals = [[next((r["mb_s"] for r in rows if r["client"] == c and r["server"] == s), None) for s in servers]
                for c in clients]
        bar_chart(os.path.join(a.out, f"{a.name}.svg"), f"HTTP/3 GET {a.bytes >> 20} MiB, loopback, median of {a.repeat} ({load})",
                  list(zip([CLIENT_NAMES[c] for c in clients], vals)), [SERVER_NAMES[s] for s in servers], "MB/s")
        cpu = [[next((r["server_cpu_s"] * 1000 for r in rows if r["client"] == c and r["server"] == s), None) for s in servers]
               for c in clients]
        bar_chart(os.path.join(a.out, f"{a.name}_cpu.svg"), f"Server CPU per {a.bytes >> 20} MiB GET, median of {a.repeat}; less is better ({load})",
                  list(zip([CLIENT_NAMES[c] for c in clients], cpu)), [SERVER_NAMES[s] for s in servers], "server CPU ms")


if __name__ == "__main__":
    main()
