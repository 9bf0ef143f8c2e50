"""Floods of real client Initials (aioquic connection attempts, never continued)
against our server, while a legitimate client connects (issue 8, "Address
validation and abuse limits"). Loopback only; every loop is bounded in count
and time. Limits and policy: docs/LIMITS.md."""

import json
import time

import pytest

from conftest import run_client
from initial_flood import Flooder, make_initials
from watched_server import Watched, cpu_s, rss_kb

HOST = "127.0.0.1"


def legit_echo(port):
    """One full connection of our client (handshake + 4 KiB echo); its report."""
    rc, report, err = run_client(port, "--bytes", "4096", "--timeout", "5")
    assert rc == 0 and report and report["verified"], f"legitimate client failed: rc={rc} {report} {err[-500:]}"
    return report


@pytest.fixture(scope="module")
def initials():
    # 10,000 distinct connection attempts; ~5-10 s to build on two cores.
    return make_initials(10_000, HOST, 4433)


def test_10000_initials_from_50_ports_legit_client_served_memory_and_cpu_return(initials):
    srv = Watched()
    try:
        pid = srv.proc.pid
        legit_echo(srv.port)
        time.sleep(0.5)
        base_rss = rss_kb(pid)
        # 10,000 Initials (12 MB) in 4 s from 50 source ports, as in the measurement.
        fl = Flooder(initials, HOST, srv.port, rate=2500, ports=50, max_s=20)
        fl.start()
        during = []
        for at in (1.0, 2.0, 3.0):
            while fl.started is None or time.monotonic() < fl.started + at:
                time.sleep(0.01)
            during.append(legit_echo(srv.port))
        fl.join(30)
        assert not fl.is_alive() and fl.sent == len(initials)
        flood_s = fl.finished - fl.started
        for r in during:
            # The bound: connects and echoes within 2 s while the flood runs.
            assert r["total_ms"] < 2000, f"legitimate connection took {r['total_ms']} ms during the flood"
        # CPU returns to idle: the old code burned a full core for ~33 s after such a
        # burst. Allow 10% of one core over a 2 s window starting 1 s after the flood
        # (idle timers and the 200 ms stats line cost far less than that).
        time.sleep(1.0)
        c0 = cpu_s(pid)
        time.sleep(2.0)
        cpu = cpu_s(pid) - c0
        s = srv.latest()
        after_rss = rss_kb(pid)
        post = legit_echo(srv.port)
        print(f"\nflood: {fl.sent} Initials, {fl.bytes / 1e6:.1f} MB in {flood_s:.1f} s; legit total_ms during: "
              f"{[round(r['total_ms'], 1) for r in during]} (retry {[r['retry'] for r in during]}); after: {post['total_ms']:.1f} ms; "
              f"cpu in quiet 2 s: {cpu:.3f} s; RSS {base_rss} -> {after_rss} KiB; stats {json.dumps(s)}")
        assert cpu <= 0.2, f"server used {cpu:.2f} s of CPU in a 2 s quiet window after the flood"
        # Memory: without limits the old code kept 3,988 handshake states (RSS 3.6 -> 82 MB).
        # Now at most max_half_open_per_source (16) unvalidated handshakes from one source
        # exist; the rest got a stateless Retry. 8 MiB covers those, allocator slack and
        # the stats/log buffers, and is a tenth of the old growth.
        assert after_rss - base_rss <= 8 * 1024, f"RSS grew from {base_rss} to {after_rss} KiB"
        assert s["retries_sent"] >= 0.9 * fl.sent, "the flood should have been answered with Retry"
        assert max(x["half_open"] for x in srv.stats) <= 256
        assert s["initials_dropped"]["server_full"] == 0
        # The drop/Retry path logs at most a summary line per second, not a line per Initial.
        assert len(srv.log) < 50, f"{len(srv.log)} log lines"
    finally:
        srv.stop()
    assert srv.proc.returncode == 0


def test_flood_from_50_addresses_engages_retry_and_reclaims_half_open_quickly(initials):
    # 50 source addresses (127.0.0.2-51), so no single source reaches its quota:
    # the global pressure mark (64 handshakes in progress) must switch on Retry,
    # and the handshakes created before it must go after the 2 s short timeout
    # instead of the normal 10 s.
    srv = Watched()
    try:
        sources = [f"127.0.0.{i}" for i in range(2, 52)]
        fl = Flooder(initials[:2000], HOST, srv.port, rate=1000, sources=sources, max_s=20)
        fl.start()
        while fl.started is None or time.monotonic() < fl.started + 1.0:
            time.sleep(0.01)
        during = legit_echo(srv.port)
        fl.join(30)
        end = fl.finished
        deadline = end + 8
        s = srv.latest()
        while time.monotonic() < deadline and not (s["half_open"] == 0 and s["accepted"] > 0):
            s = srv.latest()
        reclaimed_after = time.monotonic() - end
        print(f"\n50-address flood: {fl.sent} Initials; legit during {during['total_ms']:.1f} ms (retry {during['retry']}); "
              f"half-open gone {reclaimed_after:.1f} s after the flood; stats {json.dumps(s)}")
        # No time bound on `during` here (the 2 s bound is for the 50-port flood
        # above): the 64 handshakes admitted before the mark cost a full TLS handshake
        # each, ~1 s of CPU on a loaded machine, and the legitimate Initial waits behind them.
        assert during["verified"] and during["retry"]
        assert s["retries_sent"] >= 0.9 * fl.sent, "pressure should have switched Retry on"
        assert max(x["half_open"] for x in srv.stats) <= 64 + 1
        assert s["half_open_reclaimed"] > 0 and s["half_open"] == 0
        # Expected ~1-2 s (handshakes created in the first second, reclaimed 2 s later);
        # with the normal 10 s handshake timeout it would be ~8 s or more.
        assert reclaimed_after < 6.0
    finally:
        srv.stop()
    assert srv.proc.returncode == 0


def test_dropped_initials_are_logged_as_a_rate_limited_summary(initials):
    # --max-connections 0 refuses every newcomer: each Initial is a drop. The old
    # code wrote one warn line per dropped Initial; now one summary a second.
    srv = Watched("--max-connections", "0")
    try:
        fl = Flooder(initials[:2000], HOST, srv.port, rate=1000, ports=50, max_s=20)
        fl.start()
        fl.join(30)
        # A refused client learns it at once (CONNECTION_REFUSED), not by timing out.
        rc, r, err = run_client(srv.port, "--timeout", "5")
        s = srv.latest()
        time.sleep(1.5)  # the last summary comes at most 1 s after the last drop
        warns = [l for l in srv.log if "dropped" in l]
        print(f"\n{fl.sent} refused Initials -> {len(srv.log)} log lines; client: {r and r['error']} "
              f"in {r and r['total_ms']} ms; stats {json.dumps(s)}")
        assert s["initials_dropped"]["server_full"] >= fl.sent
        assert 1 <= len(warns) <= 8 and len(srv.log) <= 10, f"{len(srv.log)} log lines"
        assert rc != 0 and r["total_ms"] < 2000 and "0x2" in r["error"], r
    finally:
        srv.stop()
    assert srv.proc.returncode == 0


def test_trickle_of_36kb_per_s_for_30s_every_legit_handshake_succeeds(initials):
    # --max-connections 100 is the setting under which the old code locked clients out.
    srv = Watched("--max-connections", "100")
    try:
        trickle = initials[:900]  # 30 Initials/s x 1200 bytes = 36 KB/s, for 30 s
        fl = Flooder(trickle, HOST, srv.port, rate=30, ports=50, max_s=40)
        fl.start()
        while fl.started is None:
            time.sleep(0.01)
        results = []
        k = 0
        # A legitimate handshake every 500 ms while the trickle runs (at most 80).
        while fl.is_alive() and k < 80:
            next_at = fl.started + 0.5 * k
            while time.monotonic() < next_at:
                time.sleep(0.01)
            rc, report, err = run_client(srv.port, "--bytes", "100", "--timeout", "5")
            results.append((rc, report, err))
            k += 1
        fl.join(45)
        failed = [(rc, r, e[-300:]) for rc, r, e in results if rc != 0 or not r or not r["verified"]]
        s = srv.latest()
        print(f"\ntrickle: {fl.sent} Initials in {fl.finished - fl.started:.1f} s, {len(results)} legit handshakes, "
              f"{len(failed)} failed; stats {json.dumps(s)}")
        assert fl.sent == len(trickle)
        assert len(results) >= 50
        assert not failed, f"{len(failed)} of {len(results)} legitimate handshakes failed: {failed[:3]}"
    finally:
        srv.stop()
    assert srv.proc.returncode == 0


def test_hundreds_of_half_open_handshakes_are_reclaimed_and_memory_returned(initials):
    # Retry switched off by the limits, so 400 Initials each become a handshake
    # state (~65 KiB each, and a full TLS handshake of CPU each). When they time
    # out (10 s handshake timeout) the memory must go back to the OS: glibc keeps
    # freed memory, so the server calls malloc_trim after a large reclaim.
    big = "100000"
    srv = Watched("--retry-threshold", big, "--max-half-open", big, "--max-half-open-per-source", big)
    try:
        pid = srv.proc.pid
        legit_echo(srv.port)
        time.sleep(0.5)
        base_rss = rss_kb(pid)
        fl = Flooder(initials[:400], HOST, srv.port, rate=100, ports=50, max_s=20)
        fl.start()
        fl.join(30)
        peak_half_open, peak_rss = 0, 0
        # Wait (bounded) for every state to be created and then reclaimed.
        deadline = time.monotonic() + 40
        s = srv.latest()
        while time.monotonic() < deadline:
            s = srv.latest()
            peak_half_open = max(peak_half_open, s["half_open"])
            peak_rss = max(peak_rss, rss_kb(pid))
            if s["accepted"] >= len(fl.initials) and s["half_open"] == 0:
                break
        time.sleep(0.5)
        after_rss = rss_kb(pid)
        r = legit_echo(srv.port)
        print(f"\nhalf-open flood: peak {peak_half_open} handshakes in progress, RSS {base_rss} -> {peak_rss} -> {after_rss} KiB, "
              f"legit after: {r['total_ms']:.1f} ms, stats {json.dumps(s)}")
        assert peak_half_open >= 200, "the flood should have created hundreds of handshake states"
        assert s["half_open"] == 0, "handshake states were not reclaimed"
        # Within 8 MiB of the baseline after the reclaim; the peak is ~20 MiB above it
        # and the old code (no malloc_trim) kept all of it.
        assert after_rss - base_rss <= 8 * 1024, f"RSS {base_rss} -> peak {peak_rss} -> {after_rss} KiB"
    finally:
        srv.stop()
    assert srv.proc.returncode == 0


def test_initial_flood_from_few_ports_gets_bounded_retries_and_newcomers_connect(initials):
    # The stress suite's IWA lockout (docs/perf/STRESS.md): every flood Initial cost a
    # Retry, and the Retries crowded the legitimate client's packets out of a send path
    # with one datagram in flight. Stateless answers now have a budget, in all and per
    # client address and port (docs/LIMITS.md, "Stateless answer budget"): a flood from
    # 4 ports gets at most 4 x (burst + rate x time) Retries, the rest are dropped and
    # counted, and a newcomer on its own port still gets its Retry and connects.
    # The old code answered ~all 10,000 (>= 90% asserted in the first test above).
    srv = Watched()
    try:
        fl = Flooder(initials, HOST, srv.port, rate=5000, ports=4, max_s=20)
        fl.start()
        during = []
        for at in (0.5, 1.0):
            while fl.started is None or time.monotonic() < fl.started + at:
                time.sleep(0.01)
            during.append(legit_echo(srv.port))
        fl.join(30)
        assert not fl.is_alive()
        time.sleep(0.5)
        s = srv.latest()
        # Upper bound on the time Retries could be sent to the flood: from its start until now
        # (a slower machine only lowers the count, so load cannot fail this).
        elapsed = time.monotonic() - fl.started
        bound = 4 * (32 + 100 * elapsed) + 10 * len(during)
        print(f"\nfew-port flood: {fl.sent} Initials in {fl.finished - fl.started:.1f} s; retries {s['retries_sent']} "
              f"(bound {bound:.0f}); legit {[round(r['total_ms'], 1) for r in during]} ms; stats {json.dumps(s)}")
        assert s["retries_sent"] <= bound, "Retries to a flood from 4 ports must stay within the per-peer budget"
        assert s["initials_dropped"]["stateless_budget"] > 0 and s["stateless_withheld"] > 0
        p = s["packets"]
        assert p["refused"] >= s["initials_dropped"]["stateless_budget"]
        for r in during:
            assert r["verified"], r
    finally:
        srv.stop()
    assert srv.proc.returncode == 0
