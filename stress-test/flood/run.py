#!/usr/bin/env python3
"""The flood benchmark (issue 11, "The seeds' stress suite, honest"): every flood mode against
every server, measuring the SERVER, not the sender.

  python3 stress-test/flood/run.py [--quick] [--targets native,wasm-node,iwa,aioquic,ngtcp2-c]
                                   [--modes burst,constant,ramp,chaos,garbage] [--out DIR] [--no-docs]

For each server (started fresh) and each mode (modes.py): a legitimate client (legit.py, aioquic)
connects, then the sender (sender.py, its own process) floods the server's port on loopback while,
every 200 ms, we sample:
  - the server's CPU (sum of /proc/<pid>/task/*/schedstat on-CPU ns) and RSS (VmRSS) of its
    process(es): the native binary; Node for the wasm build; for the IWA, Chromium's app renderer
    plus its network service (the process that owns the UDP socket);
  - the datagrams the server read and how it classified them, from its own counters
    (`--stats-interval 200` stats lines, `stats.packets`, docs/LIMITS.md "Packet counters");
    aioquic's server is wrapped to count QuicServer.datagram_received (aioquic_server.py);
    Debian's C ngtcp2 server (gtlsserver) has no counters: its read count is derived as
    offered - kernel drops and marked so;
  - the kernel's receive drops for the server's socket (/proc/net/udp `drops`);
  - what the sender has sent.
The legitimate client asks for one small echo every 20 ms during the whole mode (p50/p99
latency, unanswered count) and opens one fresh connection 0.3 s into the flood.

Writes stress-test/results/<UTC date>/report.json (every sample), report.md (the table) and SVG
plots, and (unless --no-docs) copies the table, a sample-free JSON and the plots to docs/perf/
(stress.md, stress.json, stress_*.svg). Default run: ~5 min on 2 cores; --quick: counts and
durations x0.1 (~1.5 min). Every loop is bounded in count and time.
"""
import argparse
import datetime
import glob
import json
import os
import pickle
import queue
import shutil
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
sys.path.insert(0, HERE)

import svg  # noqa: E402
from conftest import NODE26, free_udp_port, server_command  # noqa: E402
from modes import MODES, ORDER  # noqa: E402

TARGETS = ["native", "wasm-node", "iwa", "aioquic", "ngtcp2-c"]
NAMES = {"native": "ours, native", "wasm-node": "ours, wasm (Node 26)", "iwa": "ours, wasm in the IWA",
         "aioquic": "aioquic server", "ngtcp2-c": "C ngtcp2 (gtlsserver)"}
SAMPLE = 0.2
CLASSES = ["to_connection", "new_connection", "retry", "version_negotiation", "refused", "unknown_cid", "garbage"]


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# ---- /proc readings ------------------------------------------------------------------

def cpu_ns(pid):
    total = 0
    for p in glob.glob(f"/proc/{pid}/task/*/schedstat"):
        try:
            with open(p) as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total


def rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def udp_drops(port):
    """The kernel's receive drops of the UDP socket(s) bound to `port` (IPv4 and IPv6)."""
    total, found = 0, False
    for name in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            with open(name) as f:
                next(f)
                for line in f:
                    fl = line.split()
                    if int(fl[1].rsplit(":", 1)[1], 16) == port:
                        total += int(fl[-1])
                        found = True
        except OSError:
            pass
    return total if found else None


# ---- servers ---------------------------------------------------------------------------

class Target:
    def __init__(self, kind, workdir):
        self.kind = kind
        self.port = free_udp_port()
        self.proto = "echo"
        self.counters = None  # (monotonic, packets dict)
        self.events = queue.Queue()
        self.pids = []
        self.derived = False
        stats = ["--stats-interval", "200", "--json"]
        listen = f"127.0.0.1:{self.port}"
        if kind in ("native", "wasm-node"):
            cmd = [*server_command(kind), "--listen", listen, *stats]
        elif kind == "iwa":
            cmd = [NODE26, os.path.join(HERE, "iwa_server.mjs"), "--port", str(self.port)]
        elif kind == "aioquic":
            cmd = [sys.executable, os.path.join(HERE, "aioquic_server.py"), "--listen", listen]
        elif kind == "ngtcp2-c":
            ensure_gtlsserver()
            docroot = os.path.join(workdir, "htdocs")
            os.makedirs(docroot, exist_ok=True)
            with open(os.path.join(docroot, "small"), "w") as f:
                f.write("p" * 64)
            key, cert = make_cert(workdir)
            cmd = ["gtlsserver", "-q", "-d", docroot, "127.0.0.1", str(self.port), key, cert]
            self.proto = "h3"
            self.derived = True
        else:
            raise SystemExit(f"run.py: unknown target {kind!r} (known: {', '.join(TARGETS)})")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.pids = [self.proc.pid]
        self.stderr_tail = []
        threading.Thread(target=self._read_out, daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()
        self._wait_listening(240 if kind == "iwa" else 30)

    def _read_out(self):
        for line in self.proc.stdout:
            if not line.startswith("{"):
                continue
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            if ev.get("event") == "stats":
                self.counters = (time.monotonic(), ev["stats"].get("packets", {}))
            else:
                self.events.put(ev)

    def _read_err(self):
        for line in self.proc.stderr:
            self.stderr_tail = (self.stderr_tail + [line.rstrip()])[-20:]
            if self.kind == "ngtcp2-c" and line.startswith("Using document root"):
                self.events.put({"event": "listening"})

    def _wait_listening(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                ev = self.events.get(timeout=0.5)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            if ev.get("event") == "pids":  # the IWA: Chromium's app renderer and network service
                self.pids = ev["pids"]
                self.pid_names = ev.get("names")
            if ev.get("event") == "listening":
                if self.kind == "iwa":
                    continue  # wait for the pids event that follows
                return
            if ev.get("event") == "ready":
                return
        raise RuntimeError(f"{self.kind} server did not start: {' | '.join(self.stderr_tail)}")

    def command(self, line):
        """The IWA helper takes commands on stdin (profile start/stop)."""
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def wait_event(self, name, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                ev = self.events.get(timeout=0.5)
            except queue.Empty:
                continue
            if ev.get("event") == name:
                return ev
        return None

    def cpu(self):
        return sum(cpu_ns(p) for p in self.pids) / 1e9

    def rss(self):
        return sum(rss_kb(p) for p in self.pids)

    def stop(self):
        if self.proc.poll() is None:
            if self.kind == "iwa":
                try:
                    self.command("quit")
                    self.proc.wait(30)
                except (OSError, subprocess.TimeoutExpired):
                    pass
            if self.proc.poll() is None:
                self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def ensure_gtlsserver():
    if shutil.which("gtlsserver"):
        return
    if os.geteuid() != 0:
        raise SystemExit("run.py: gtlsserver missing; run: apt-get install -y ngtcp2-server")
    subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", "ngtcp2-server"], check=True,
                   env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"), stdout=subprocess.DEVNULL)


def make_cert(d):
    key, cert = os.path.join(d, "key.pem"), os.path.join(d, "cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", key, "-out", cert, "-days", "10", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"], check=True, capture_output=True)
    return key, cert


# ---- one mode ----------------------------------------------------------------------------

def pct(xs, q):
    if not xs:
        return None
    xs = sorted(xs)
    return round(xs[min(len(xs) - 1, int(q * len(xs)))], 3)


def run_mode(t, mode, scale, pool_path, tail):
    legit = subprocess.Popen([sys.executable, os.path.join(HERE, "legit.py"), "127.0.0.1", str(t.port), t.proto],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lq = queue.Queue()
    threading.Thread(target=lambda: [lq.put(json.loads(l)) for l in legit.stdout if l.startswith("{")], daemon=True).start()
    legit_error = None
    legit_before = 0
    try:
        ev = lq.get(timeout=30)
        legit_before = ev.get("datagrams_sent", 0)
        if ev.get("event") != "connected":
            legit_error = f"legit client: {ev}"
    except queue.Empty:
        legit_error = "the legitimate client could not connect before the flood (30 s)"
    # The window's base is the server's first counters line after the legitimate client
    # connected, so that its handshake's datagrams (counted by the server, but sent before
    # the client's own count starts) do not pass for the flood's; the client stays quiet
    # until then ("go"). Lines come every 200 ms.
    connected_at = time.monotonic()
    for _ in range(40):
        if (t.counters is None and t.derived) or (t.counters is not None and t.counters[0] > connected_at):
            break
        time.sleep(0.025)
    c0 = t.counters
    try:
        legit.stdin.write("go\n")
        legit.stdin.flush()
    except (BrokenPipeError, OSError):
        pass
    sender = subprocess.Popen([sys.executable, os.path.join(HERE, "sender.py"), "127.0.0.1", str(t.port), mode, str(scale), pool_path],
                              stdout=subprocess.PIPE, text=True)
    sent = {"t": 0.0, "sent": 0, "done": False, "elapsed": None}

    def read_sender():
        for line in sender.stdout:
            ev = json.loads(line)
            if ev.get("done"):
                sent.update(done=True, elapsed=ev["elapsed"], sent=ev["sent"])
            else:
                sent.update(t=ev["t"], sent=ev["sent"])
    threading.Thread(target=read_sender, daemon=True).start()

    start = time.monotonic()
    cpu0, drops0 = t.cpu(), udp_drops(t.port) or 0
    samples = []
    # The first sample's rates are measured from the flood's start (the counters read just before
    # it), so a burst that is over within the first window still has its rate.
    prev = {"t": 0.0, "cpu_s": 0.0, "sent": 0, "kernel_drops": 0,
            "datagrams": 0 if c0 else None, "counter_t": round(c0[0] - start, 3) if c0 else None}
    end_at = None
    limit = MODES[mode].scaled(scale).duration + 30
    while True:
        time.sleep(SAMPLE)
        now = time.monotonic()
        ct = t.counters
        s = {"t": round(now - start, 3), "cpu_s": t.cpu() - cpu0, "rss_kb": t.rss(), "sent": sent["sent"],
             "kernel_drops": (udp_drops(t.port) or 0) - drops0,
             "datagrams": (ct[1].get("datagrams", 0) - (c0[1].get("datagrams", 0) if c0 else 0)) if ct else None,
             "counter_t": round(ct[0] - start, 3) if ct else None}
        if prev:
            dt = s["t"] - prev["t"]
            s["cpu_pct"] = round(100 * (s["cpu_s"] - prev["cpu_s"]) / dt, 1)
            s["offered_pps"] = round((s["sent"] - prev["sent"]) / dt)
            if t.derived:
                read = (s["sent"] - s["kernel_drops"]) - (prev["sent"] - prev["kernel_drops"])
                s["handled_pps"] = round(max(0, read) / dt)
            elif s["datagrams"] is not None and prev["datagrams"] is not None and s["counter_t"] != prev["counter_t"]:
                s["handled_pps"] = round((s["datagrams"] - prev["datagrams"]) / (s["counter_t"] - prev["counter_t"]))
            else:
                s["handled_pps"] = prev.get("handled_pps")
        samples.append(s)
        prev = s
        if sent["done"] and end_at is None:
            end_at = now + tail
        if (end_at and now >= end_at) or now - start > limit:
            break
    if sender.poll() is None:
        sender.terminate()
    sender.wait(10)
    c1 = t.counters
    try:
        legit.stdin.write("stop\n")
        legit.stdin.flush()
    except OSError:
        pass
    result = None
    # The legitimate client waits for its newcomer (at most 5 answer timeouts) before it reports.
    deadline = time.monotonic() + 5 * float(os.environ.get("SIWA_LEGIT_TIMEOUT", "2")) + 10
    while time.monotonic() < deadline:
        try:
            ev = lq.get(timeout=0.5)
        except queue.Empty:
            if legit.poll() is not None and lq.empty():
                break
            continue
        if ev.get("event") == "result":
            result = ev
            break
    if legit.poll() is None:
        legit.kill()
    legit.wait()
    if result is None and legit_error is None:
        legit_error = "the legitimate client reported nothing: " + legit.stderr.read()[-300:]
    lats = [l for _, l in (result or {}).get("samples", []) if l is not None]
    classes = None
    handled = None
    if c1 and not t.derived:
        base = c0[1] if c0 else {}
        handled = c1[1].get("datagrams", 0) - base.get("datagrams", 0)
        if "to_connection" in c1[1]:
            classes = {k: c1[1].get(k, 0) - base.get(k, 0) for k in CLASSES}
    drops = samples[-1]["kernel_drops"] if samples else None
    legit_sent = max(0, ((result or {}).get("datagrams_sent") or 0) - legit_before)
    if t.derived:
        handled = sent["sent"] - (drops or 0)
    elif handled is not None:
        # What the server read of the flood: its count minus the legitimate client's datagrams
        # (both connections'; sent while the window was open, give or take the handshake before it).
        handled = max(0, handled - legit_sent)
    rates = [s.get("handled_pps") for s in samples if s.get("handled_pps") is not None]
    return {
        "mode": mode,
        "offered": sent["sent"], "send_seconds": sent["elapsed"],
        "offered_pps": round(sent["sent"] / sent["elapsed"]) if sent["elapsed"] else None,
        "handled": handled, "handled_derived": t.derived,
        "handled_fraction": round(handled / sent["sent"], 4) if handled is not None and sent["sent"] else None,
        "peak_handled_pps": max(rates) if rates else None,
        "classes": classes, "kernel_drops": drops, "legit_datagrams": legit_sent,
        "cpu_s": round(samples[-1]["cpu_s"], 3) if samples else None,
        "cpu_pct_mean": round(100 * samples[-1]["cpu_s"] / samples[-1]["t"], 1) if samples else None,
        "cpu_pct_max": max((s.get("cpu_pct") or 0 for s in samples), default=None),
        "rss_max_kb": max((s["rss_kb"] for s in samples), default=None),
        "legit": {
            "error": legit_error or (None if result else "no result"),
            "echoes": (result or {}).get("echoes"), "answered": (result or {}).get("answered"),
            "p50_ms": pct(lats, 0.5), "p99_ms": pct(lats, 0.99), "max_ms": max(lats) if lats else None,
            "new_connection_ok": (result or {}).get("new_connection_ok"),
            "new_connection_ms": (result or {}).get("new_connection_ms"),
            "new_connection_error": (result or {}).get("new_connection_error"),
            "samples": (result or {}).get("samples", []),
        },
        "samples": samples,
    }


# ---- report ------------------------------------------------------------------------------

def fmt(v, unit=""):
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:.3g}{unit}" if v < 100 else f"{v:.0f}{unit}"
    return f"{v}{unit}"


def served(m):
    lg = m["legit"]
    if lg["error"] and not lg["echoes"]:
        return "NO (" + lg["error"][:60] + ")"
    ok = lg["answered"] == lg["echoes"] and lg["new_connection_ok"] is not False
    return ("yes" if ok else "NO") + f" {lg['answered']}/{lg['echoes']}" + ("" if lg["new_connection_ok"] else ", newcomer failed")


def markdown(rep):
    meta = rep["meta"]
    out = [f"Flood benchmark ({'--quick' if meta['quick'] else 'default sizes'}), {meta['date']}, "
           f"loadavg {meta['loadavg_before'][0]:.1f} before / {meta['loadavg_after'][0]:.1f} after, {meta['nproc']} cores "
           "(shared machine: absolute numbers are noisy, compare within a row group). "
           "`python3 stress-test/flood/run.py" + (" --quick" if meta["quick"] else "")
           + (" --profile" if rep["targets"].get("iwa", {}).get("profile") else "") + "`", "",
           "| server | mode | offered (pps) | read by server | peak read/s | kernel drops | server CPU (mean/max %) | RSS max (MB) | legit client served | echo p50 / p99 (ms) |",
           "|---|---|---:|---:|---:|---:|---:|---:|---|---:|"]
    for kind, modes in rep["targets"].items():
        if "error" in modes:
            out.append(f"| {NAMES[kind]} | all | n/a | n/a | n/a | n/a | n/a | n/a | {modes['error'][:80]} | n/a |")
            continue
        for m in modes["modes"]:
            h = "n/a" if m["handled"] is None else f"{m['handled']} ({100 * (m['handled_fraction'] or 0):.0f}%)" + ("*" if m["handled_derived"] else "")
            out.append(f"| {NAMES[kind]} | {m['mode']} | {m['offered']} ({fmt(m['offered_pps'])}/s) | {h} | {fmt(m['peak_handled_pps'])} | "
                       f"{fmt(m['kernel_drops'])} | {fmt(m['cpu_pct_mean'])} / {fmt(m['cpu_pct_max'])} | "
                       f"{fmt(m['rss_max_kb'] / 1024 if m['rss_max_kb'] else None)} | {served(m)} | "
                       f"{fmt(m['legit']['p50_ms'])} / {fmt(m['legit']['p99_ms'])} |")
    out += ["", "*: gtlsserver has no counters: offered minus the kernel's receive drops for its socket.",
            "Read by server: flood datagrams the server's own counters saw (ours: `stats.packets.datagrams`; aioquic: "
            "QuicServer.datagram_received calls), minus the legitimate client's own datagrams (the per-class table in docs/perf/stress.md includes them). "
            "Peak read/s: the highest rate between two samples (200 ms apart; the first window starts with the flood, so a burst shorter than a window still has its rate). For the IWA, CPU and RSS are Chromium's app renderer plus its network service.", ""]
    cls = [(kind, m) for kind, modes in rep["targets"].items() if "modes" in modes for m in modes["modes"] if m["classes"]]
    if cls:
        out += ["How our servers classified what they read (`stats.packets`, docs/LIMITS.md \"Packet counters\"):", "",
                "| server | mode | " + " | ".join(CLASSES) + " |", "|---|---|" + "---:|" * len(CLASSES)]
        for kind, m in cls:
            out.append(f"| {NAMES[kind]} | {m['mode']} | " + " | ".join(str(m["classes"][c]) for c in CLASSES) + " |")
        out.append("")
    return "\n".join(out)


def plots(rep, outdir):
    files = {}
    live = [(k, v["modes"]) for k, v in rep["targets"].items() if "modes" in v]
    # Handled vs offered: 1 s windows (5 samples; the sender's and the server's 200 ms reports are not
    # aligned, so single samples alias), binned by offered rate (2.5k/s bins, median read per bin).
    series = []
    top = 0
    for kind, modes in live:
        bins = {}
        for m in modes:
            ss = m["samples"]
            for i in range(5, len(ss), 5):
                a, b = ss[i - 5], ss[i]
                dt = b["t"] - a["t"]
                if dt <= 0:
                    continue
                off = (b["sent"] - a["sent"]) / dt
                if kind == "ngtcp2-c":
                    read = ((b["sent"] - b["kernel_drops"]) - (a["sent"] - a["kernel_drops"])) / dt
                elif a.get("datagrams") is not None and b.get("datagrams") is not None and b["counter_t"] != a["counter_t"]:
                    read = (b["datagrams"] - a["datagrams"]) / (b["counter_t"] - a["counter_t"])
                else:
                    continue
                if off < 500:
                    continue
                bins.setdefault(int(off // 2500), []).append(read)
                top = max(top, off)
        series.append((NAMES[kind], [((k + 0.5) * 2500, statistics.median(v)) for k, v in sorted(bins.items())]))
    series.append(("read = offered", [(0, 0), (top, top)]))
    p = os.path.join(outdir, "stress_handled_vs_offered.svg")
    svg.line_chart(p, "Datagrams the server read per second vs offered (1 s windows)", series, "offered datagrams/s",
                   "read by the server /s (median per 2.5k/s bin)")
    files["handled_vs_offered"] = p
    # Timelines: CPU, RSS, handled/s over the whole run of each server (modes back to back).
    for key, title, ylabel, get in [
        ("cpu", "Server CPU during the floods", "CPU % (100 = one core)", lambda s: s.get("cpu_pct")),
        ("rss", "Server RSS during the floods", "RSS (MB)", lambda s: s["rss_kb"] / 1024),
        ("handled", "Datagrams read by the server per second", "datagrams/s", lambda s: s.get("handled_pps")),
    ]:
        series, notes = [], []
        for i, (kind, modes) in enumerate(live):
            off, pts = 0.0, []
            for m in modes:
                if i == 0:
                    notes.append((off, m["mode"]))
                pts += [(off + s["t"], get(s)) for s in m["samples"]] + [(off + m["samples"][-1]["t"], None)] if m["samples"] else []
                off += MODE_SLOT[m["mode"]]
            series.append((NAMES[kind], pts))
        p = os.path.join(outdir, f"stress_{key}.svg")
        svg.line_chart(p, title, series, "seconds (modes back to back, aligned)", ylabel, notes=notes)
        files[key] = p
    # Legitimate client's latency: p99 per mode.
    modes_seen = [m for m in ORDER if any(m == x["mode"] for _, ms in live for x in ms)]
    groups = []
    for mode in modes_seen:
        vals = []
        for _, ms in live:
            m = next((x for x in ms if x["mode"] == mode), None)
            vals.append(m["legit"]["p99_ms"] if m else None)
        groups.append((mode, vals))
    p = os.path.join(outdir, "stress_latency.svg")
    svg.bar_chart(p, "Legitimate client's echo latency during each flood (p99)", groups, [NAMES[k] for k, _ in live], "ms")
    files["latency"] = p
    return files


MODE_SLOT = {}


def main():
    ap = argparse.ArgumentParser(description="flood benchmark: every mode against every server, measuring the server")
    ap.add_argument("--quick", action="store_true", help="counts and durations x0.1 (smoke)")
    ap.add_argument("--targets", default=",".join(TARGETS))
    ap.add_argument("--modes", default=",".join(ORDER))
    ap.add_argument("--out", help="results folder (default stress-test/results/<UTC date>)")
    ap.add_argument("--no-docs", action="store_true", help="do not copy the table and plots to docs/perf/")
    ap.add_argument("--profile", action="store_true", help="also record a Chromium CPU profile of the IWA server during the ramp flood")
    ap.add_argument("--pool", type=int, default=2000, help="distinct client Initials in the pool")
    ap.add_argument("--replot", metavar="DIR", help="only redraw the table and plots from DIR/report.json (and copy them to docs/perf/)")
    ap.add_argument("--legit-timeout", type=float, default=2.0, help="seconds after which a legitimate echo counts as unanswered")
    a = ap.parse_args()
    targets = [x for x in a.targets.split(",") if x]
    modes = [x for x in a.modes.split(",") if x]
    for x in targets:
        if x not in TARGETS:
            ap.error(f"--targets: unknown server {x!r} (known: {', '.join(TARGETS)})")
    for x in modes:
        if x not in MODES:
            ap.error(f"--modes: unknown mode {x!r} (known: {', '.join(ORDER)})")
    if a.legit_timeout <= 0 or a.pool < 1:
        ap.error("--legit-timeout and --pool must be positive")
    os.environ["SIWA_LEGIT_TIMEOUT"] = str(a.legit_timeout)
    scale = 0.1 if a.quick else 1.0
    tail = 0.6 if a.quick else 1.0
    if a.replot:
        with open(os.path.join(a.replot, "report.json")) as f:
            rep = json.load(f)
        scale = rep["meta"]["scale"]
        a.quick = rep["meta"]["quick"]
        tail = 0.6 if a.quick else 1.0
    for mode in MODES:
        MODE_SLOT[mode] = (MODES[mode].scaled(scale).duration or (3 if a.quick else 8)) + tail + 2
    if a.replot:
        return finish(a, rep, a.replot)
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    outdir = a.out or os.path.join(ROOT, "stress-test", "results", date)
    os.makedirs(outdir, exist_ok=True)
    work = tempfile.mkdtemp(prefix="siwa-flood-")
    log(f"building {a.pool if not a.quick else 200} client Initials with aioquic ...")
    from initial_flood import make_initials
    initials = make_initials(a.pool if not a.quick else 200, "127.0.0.1", 4433)
    pool_path = os.path.join(work, "initials.pickle")
    with open(pool_path, "wb") as f:
        pickle.dump(initials, f)
    rep = {"meta": {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"), "quick": a.quick,
                    "nproc": os.cpu_count(), "loadavg_before": os.getloadavg(), "scale": scale,
                    "commit": subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip(),
                    "sample_seconds": SAMPLE, "pool": len(initials)},
           "targets": {}}
    for kind in targets:
        log(f"== {NAMES[kind]}")
        try:
            t = Target(kind, work)
        except (RuntimeError, OSError, SystemExit) as e:
            log(f"   cannot start: {e}")
            rep["targets"][kind] = {"error": str(e)}
            continue
        res = {"pids": t.pids, "modes": []}
        try:
            for mode in modes:
                profiling = a.profile and kind == "iwa" and mode == "ramp"
                if profiling:
                    t.command("profile start")
                    t.wait_event("profile_started", 20)
                m = run_mode(t, mode, scale, pool_path, tail)
                if profiling:
                    t.command("profile stop " + os.path.join(outdir, "iwa_ramp.cpuprofile"))
                    ev = t.wait_event("profile_saved", 60)
                    res["profile"] = ev and ev.get("path")
                lg = m["legit"]
                log(f"   {mode:8s} offered {m['offered']} ({m['offered_pps']}/s)  read {m['handled']}  peak {m['peak_handled_pps']}/s  "
                    f"drops {m['kernel_drops']}  cpu {m['cpu_pct_mean']}%  rss {m['rss_max_kb']} kB  "
                    f"legit {lg['answered']}/{lg['echoes']} p50 {lg['p50_ms']} p99 {lg['p99_ms']} new {lg['new_connection_ok']} {lg['error'] or ''}")
                res["modes"].append(m)
                if t.proc.poll() is not None:
                    res["error"] = f"the server exited with {t.proc.returncode} during {mode}: {' | '.join(t.stderr_tail)}"
                    break
                time.sleep(2 if not a.quick else 0.5)
        finally:
            t.stop()
        res["exit_code"] = t.proc.returncode
        rep["targets"][kind] = res
    rep["meta"]["loadavg_after"] = os.getloadavg()
    with open(os.path.join(outdir, "report.json"), "w") as f:
        json.dump(rep, f, indent=1)
    return finish(a, rep, outdir)


def finish(a, rep, outdir):
    md = markdown(rep)
    files = plots(rep, outdir)
    prof = rep["targets"].get("iwa", {}).get("profile")
    if prof and os.path.exists(prof):
        from flamegraph import profile_to_svg, top_self
        p = os.path.join(outdir, "stress_iwa_flamegraph.svg")
        stacks = profile_to_svg(prof, p, "IWA server (Chromium renderer main thread) during the ramp flood",
                                os.path.join(outdir, "iwa_ramp.folded"))
        files["flamegraph"] = p
        md += ("\nChromium CPU profile of the IWA server's page during the ramp flood (CDP Profiler, 200 us sampling; "
               "docs/perf/stress_iwa_flamegraph.svg), frames with the most self time:\n\n| frame | self samples | share |\n|---|---:|---:|\n")
        md += "\n".join(f"| `{k[:90]}` | {v} | {100 * sh:.1f}% |" for k, v, sh in top_self(stacks, 12)) + "\n"
    with open(os.path.join(outdir, "report.md"), "w") as f:
        f.write(md + "\n")
    if not a.no_docs:
        docs = os.path.join(ROOT, "docs", "perf")
        os.makedirs(docs, exist_ok=True)
        for p in files.values():
            shutil.copy(p, docs)
        slim = json.loads(json.dumps(rep))
        for v in slim["targets"].values():
            for m in v.get("modes", []):
                m.pop("samples", None)
                m["legit"].pop("samples", None)
        with open(os.path.join(docs, "stress.json"), "w") as f:
            json.dump(slim, f, indent=1)
        with open(os.path.join(docs, "stress.md"), "w") as f:
            f.write(md + "\n")
    print(md)
    log(f"wrote {outdir}/report.json, report.md and {len(files)} SVG plots")
    bad = [k for k, v in rep["targets"].items() if "error" in v or v.get("exit_code") not in (0, None, -15)]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
