"""Smoke of the flood benchmark (stress-test/flood/run.py --quick, garbage mode, native server):
a garbage flood of 3000 datagrams while a legitimate aioquic client asks for an echo every
20 ms. Fails if the server's packet counters (`stats.packets`, docs/LIMITS.md) are missing or
saw none of the flood, or if the legitimate client
lost an echo or could not open a new connection during the flood.

Not timed: an echo counts as lost only after 20 s (--legit-timeout), far beyond any
retransmission on a loaded loopback; the flood itself is bounded (3000 datagrams, 5 s cap).
About 10 s."""
import json
import os
import subprocess
import sys

from conftest import ROOT


def test_garbage_flood_is_read_and_classified_and_the_legit_client_is_served(tmp_path):
    run = os.path.join(ROOT, "stress-test", "flood", "run.py")
    p = subprocess.run([sys.executable, run, "--quick", "--targets", "native", "--modes", "garbage", "--no-docs",
                        "--out", str(tmp_path), "--pool", "20", "--legit-timeout", "20"],
                       capture_output=True, text=True, timeout=180)
    assert p.returncode == 0, p.stderr[-2000:]
    rep = json.load(open(tmp_path / "report.json"))
    m = rep["targets"]["native"]["modes"][0]
    assert m["offered"] == 3000, m
    c = m["classes"]
    assert c is not None, "the server printed no stats.packets counters"
    # Random bytes land in the classes for non-QUIC input (docs/LIMITS.md "Packet counters").
    assert c["garbage"] + c["unknown_cid"] + c["version_negotiation"] > 0, c
    assert m["handled"] > 0, m
    assert m["handled"] <= m["offered"], m
    lg = m["legit"]
    assert lg["error"] is None, lg
    assert lg["echoes"] > 0 and lg["answered"] == lg["echoes"], lg
    assert lg["new_connection_ok"] is True, lg
