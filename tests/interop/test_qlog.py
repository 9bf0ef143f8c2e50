"""qlog (`--qlog-dir`): each connection's ngtcp2 qlog in a file of its own,
checked against two independent peers' qlog of the same connection, both
roles: aioquic's QuicFileLogger and quinn's (tests/peers/quinn-peer
--qlog-dir, qlog crate 0.15): the files share the original DCID, and what one
side logs as sent the other logs as received."""

import json
import os
import queue
import signal
import stat
import subprocess
import sys
import threading
import time

import pytest

from conftest import BIN, BOTH_KINDS, ROOT, Server, run_client, server_command
from matrix import QUINN_PEER

AIOQUIC_PEER = os.path.join(ROOT, "tests", "interop", "aioquic_peer.py")


def read_seq(path):
    """The records of a JSON-SEQ qlog (RFC 7464: RS before each record); all must parse."""
    data = open(path, "rb").read()
    assert data.startswith(b"\x1e"), path
    return [json.loads(r) for r in data.split(b"\x1e")[1:]]


def events(records, name):
    return [r for r in records[1:] if r.get("name") == name]


def sqlogs(d, role):
    return sorted(f for f in os.listdir(d) if f.endswith(f".{role}.sqlog"))


def check_ours(path, role, retried=False):
    st = os.stat(path)
    assert stat.S_IMODE(st.st_mode) == 0o600, oct(st.st_mode)
    recs = read_seq(path)
    head = recs[0]
    assert head["qlog_format"] == "JSON-SEQ", head
    assert head["trace"]["vantage_point"]["type"] == role, head
    odcid = os.path.basename(path).split(".")[0]
    # ngtcp2's group_id is the original DCID, except on a server that sent a Retry (then the Retry's ID).
    assert (head["trace"]["common_fields"]["group_id"] == odcid) != retried, (head, odcid)
    cw = [e["data"]["congestion_window"] for e in events(recs, "recovery:metrics_updated") if "congestion_window" in e["data"]]
    assert cw and max(cw) > 0
    return odcid, recs


def pkts(evs):
    """{(packet type, packet number)} of packet_sent/packet_received events."""
    return {(e["data"]["header"]["packet_type"], e["data"]["header"].get("packet_number")) for e in evs}


def stream_bytes(recs, event):
    """Stream payload bytes in the STREAM frames of the packets logged as `event` (ours)."""
    n = 0
    for e in events(recs, event):
        for f in e["data"].get("frames", []):
            if f.get("frame_type") == "stream":
                n += f.get("length", 0)
    return n


def test_server_qlog_matches_aioquic_client(tmp_path):
    ours, theirs = tmp_path / "ours", tmp_path / "aioquic"
    ours.mkdir()
    theirs.mkdir()
    srv = Server("--qlog-dir", str(ours))
    try:
        p = subprocess.run([sys.executable, AIOQUIC_PEER, "client", "--connect", f"127.0.0.1:{srv.port}",
                            "--cert-hash", srv.info["cert_sha256"], "--streams", "4", "--bytes", "100000",
                            "--connections", "2", "--qlog-dir", str(theirs)], capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stdout + p.stderr
        deadline = time.time() + 10
        while len(sqlogs(ours, "server")) < 2 and time.time() < deadline:
            time.sleep(0.1)
    finally:
        srv.stop()
    assert srv.proc.returncode == 0, srv.proc.stderr.read()
    files = sqlogs(ours, "server")
    assert len(files) == 2, os.listdir(ours)
    aio = {f.split(".")[0]: json.load(open(theirs / f)) for f in os.listdir(theirs)}
    assert len(aio) == 2, os.listdir(theirs)
    for f in files:
        odcid, recs = check_ours(ours / f, "server")
        # The same connection, as aioquic's client logged it (its file name is its ODCID).
        assert odcid in aio, (odcid, list(aio))
        # 4 streams x 100000 bytes arrive and go back (STREAM frames, retransmissions included).
        assert stream_bytes(recs, "transport:packet_received") >= 400000
        assert stream_bytes(recs, "transport:packet_sent") >= 400000
        # Packet by packet: what aioquic received we logged as sent, and what we
        # received aioquic logged as sent (type and number; packets still in
        # flight when aioquic closed are the only ones it may lack).
        theirs_ev = aio[odcid]["traces"][0]["events"]
        assert pkts(events(recs, "transport:packet_received")) <= pkts(e for e in theirs_ev if e["name"] == "transport:packet_sent")
        aio_got = pkts(e for e in theirs_ev if e["name"] == "transport:packet_received")
        our_sent = pkts(events(recs, "transport:packet_sent"))
        assert aio_got <= our_sent and len(aio_got) >= len(our_sent) // 2, (len(aio_got), len(our_sent))

def test_server_qlog_after_retry_pairs_with_aioquic(tmp_path):
    """With --retry the server's file is still named by the client's original DCID (aioquic's name)."""
    ours, theirs = tmp_path / "ours", tmp_path / "aioquic"
    ours.mkdir()
    theirs.mkdir()
    srv = Server("--retry", "--qlog-dir", str(ours))
    try:
        p = subprocess.run([sys.executable, AIOQUIC_PEER, "client", "--connect", f"127.0.0.1:{srv.port}",
                            "--cert-hash", srv.info["cert_sha256"], "--bytes", "50000", "--qlog-dir", str(theirs)],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stdout + p.stderr
        deadline = time.time() + 10
        while not sqlogs(ours, "server") and time.time() < deadline:
            time.sleep(0.1)
    finally:
        srv.stop()
    files = sqlogs(ours, "server")
    assert len(files) == 1, os.listdir(ours)
    odcid, recs = check_ours(ours / files[0], "server", retried=True)
    assert [f.split(".")[0] for f in os.listdir(theirs)] == [odcid], (os.listdir(theirs), odcid)
    assert stream_bytes(recs, "transport:packet_received") >= 50000


def test_client_qlog_against_aioquic_server(tmp_path):
    ours, theirs = tmp_path / "ours", tmp_path / "aioquic"
    ours.mkdir()
    theirs.mkdir()
    srv = subprocess.Popen([sys.executable, AIOQUIC_PEER, "server", "--listen", "127.0.0.1:0", "--qlog-dir", str(theirs)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        info = json.loads(srv.stdout.readline())
        port = int(info["addr"].rsplit(":", 1)[1])
        rc, rep, err = run_client(port, "--cert-hash", info["cert_sha256"], "--bytes", "200000", "--qlog-dir", str(ours))
        assert rc == 0, err
        assert rep["verified"], rep
        # aioquic writes its file once the connection's draining period ends.
        deadline = time.time() + 10
        while not os.listdir(theirs) and time.time() < deadline:
            time.sleep(0.1)
    finally:
        srv.send_signal(signal.SIGTERM)
        srv.wait(10)
    files = sqlogs(ours, "client")
    assert len(files) == 1, os.listdir(ours)
    odcid, recs = check_ours(ours / files[0], "client")
    assert stream_bytes(recs, "transport:packet_sent") >= 200000
    assert stream_bytes(recs, "transport:packet_received") >= 200000
    assert [f.split(".")[0] for f in os.listdir(theirs)] == [odcid], (os.listdir(theirs), odcid)


# ---- quinn (tests/peers/quinn-peer --qlog-dir) ------------------------------------

QUINN_TYPES = {"initial": "initial", "handshake": "handshake", "0rtt": "0RTT", "zerortt": "0RTT", "zero_rtt": "0RTT",
               "1rtt": "1RTT", "onertt": "1RTT", "one_rtt": "1RTT"}


def quinn_peer():
    if not os.access(QUINN_PEER, os.X_OK):
        pytest.fail(f"{QUINN_PEER} is missing: scripts/setup.sh builds it "
                    "(cargo build --release --manifest-path tests/peers/quinn-peer/Cargo.toml)")
    return QUINN_PEER


def read_quinn(path):
    """quinn's qlog, read tolerantly: JSON-SEQ (what qlog 0.15 writes) or one JSON
    document; event names with or without their "transport:" category; the packet
    number in the header or beside it; packet type names normalised to ngtcp2's.
    Returns {"sent"|"received": {(packet type, packet number)}}."""
    data = open(path, "rb").read()
    if data.startswith(b"\x1e"):
        recs = [json.loads(r) for r in data.split(b"\x1e")[1:] if r.strip()]
        evs = recs[1:]
    else:
        doc = json.loads(data)
        evs = doc.get("traces", [doc.get("trace", {})])[0].get("events", [])
    out = {"sent": set(), "received": set()}
    for e in evs:
        name = e.get("name", "").rsplit(":", 1)[-1]
        if name not in ("packet_sent", "packet_received"):
            continue
        d = e.get("data", {})
        h = d.get("header", {})
        pt = str(h.get("packet_type", d.get("packet_type", ""))).lower()
        pn = h.get("packet_number", d.get("packet_number"))
        out[name.split("_")[1]].add((QUINN_TYPES.get(pt, pt), pn))
    return out


def check_against_quinn(recs, theirs):
    """Packet by packet, as the aioquic tests: what we received quinn logged as sent,
    and what quinn received we logged as sent (type and number); packets still in
    flight when a side closed are the only ones the other may lack. A Retry is left
    out: quinn sends it from the endpoint, before any connection (and so any qlog) exists."""
    our_got = {p for p in pkts(events(recs, "transport:packet_received")) if p[0] != "retry"}
    our_sent = {p for p in pkts(events(recs, "transport:packet_sent")) if p[0] != "retry"}
    assert our_got <= theirs["sent"], sorted(our_got - theirs["sent"])[:10]
    assert theirs["received"] <= our_sent, sorted(theirs["received"] - our_sent)[:10]
    assert len(theirs["received"]) >= len(our_sent) // 2, (len(theirs["received"]), len(our_sent))
    # The application data space, both ways, not only the handshake.
    for s in (our_got, theirs["received"]):
        assert sum(t == "1RTT" for t, _ in s) >= 10, sorted(s)[:10]


@pytest.mark.parametrize("retry", [False, True], ids=["plain", "retry"])
def test_server_qlog_matches_quinn_client(tmp_path, retry):
    """Two connections in a row (the second resumes); with --retry a single one (a second
    could come with our NEW_TOKEN and skip the Retry), whose file is still named by
    quinn's original DCID."""
    ours, theirs = tmp_path / "ours", tmp_path / "quinn"
    ours.mkdir()
    theirs.mkdir()
    n = 1 if retry else 2
    srv = Server(*(["--retry"] if retry else []), "--qlog-dir", str(ours))
    try:
        p = subprocess.run([quinn_peer(), "client", "--connect", f"127.0.0.1:{srv.port}",
                            "--cert-hash", srv.info["cert_sha256"], "--streams", "4", "--bytes", "100000",
                            "--connections", str(n), "--qlog-dir", str(theirs)], capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stdout + p.stderr
        rep = json.loads(p.stdout.splitlines()[-1])
        deadline = time.time() + 10
        while len(sqlogs(ours, "server")) < n and time.time() < deadline:
            time.sleep(0.1)
    finally:
        srv.stop()
    assert srv.proc.returncode == 0, srv.proc.stderr.read()
    files = sqlogs(ours, "server")
    assert len(files) == n, os.listdir(ours)
    # quinn-peer names its file by the original DCID it chose (and reports it).
    qf = {f.split(".")[0]: read_quinn(theirs / f) for f in sqlogs(theirs, "client")}
    assert sorted(qf) == sorted(c["original_dcid"] for c in rep["connections"]), (os.listdir(theirs), rep)
    for f in files:
        odcid, recs = check_ours(ours / f, "server", retried=retry)
        assert odcid in qf, (odcid, list(qf))
        assert stream_bytes(recs, "transport:packet_received") >= 400000
        assert stream_bytes(recs, "transport:packet_sent") >= 400000
        check_against_quinn(recs, qf[odcid])


def lines_of(pipe):
    """A queue fed with the lines of a child's stdout (read in a thread)."""
    q = queue.Queue()
    def pump():
        for line in pipe:
            q.put(line)
    threading.Thread(target=pump, daemon=True).start()
    return q


@pytest.mark.parametrize("retry", [False, True], ids=["plain", "retry"])
def test_client_qlog_against_quinn_server(tmp_path, retry):
    ours, theirs = tmp_path / "ours", tmp_path / "quinn"
    ours.mkdir()
    theirs.mkdir()
    srv = subprocess.Popen([quinn_peer(), "server", "--listen", "127.0.0.1:0", "--qlog-dir", str(theirs),
                            *(["--retry"] if retry else [])],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out = lines_of(srv.stdout)
        info = json.loads(out.get(timeout=10))
        port = int(info["addr"].rsplit(":", 1)[1])
        rc, rep, err = run_client(port, "--cert-hash", info["cert_sha256"], "--bytes", "200000", "--qlog-dir", str(ours))
        assert rc == 0, err
        assert rep["verified"], rep
        # quinn writes each event as it happens; wait until it has seen the close.
        seen = []
        while not any(e.get("event") == "connection_closed" for e in seen):
            seen.append(json.loads(out.get(timeout=10)))
    finally:
        srv.send_signal(signal.SIGTERM)
        srv.wait(10)
    assert [e["event"] for e in seen if e["event"] == "retry_sent"] == (["retry_sent"] if retry else []), seen
    files = sqlogs(ours, "client")
    assert len(files) == 1, os.listdir(ours)
    odcid, recs = check_ours(ours / files[0], "client")
    assert stream_bytes(recs, "transport:packet_sent") >= 200000
    assert stream_bytes(recs, "transport:packet_received") >= 200000
    assert any(e["data"]["header"]["packet_type"] == "retry" for e in events(recs, "transport:packet_received")) == retry
    # quinn-peer's server names its file by the client's original DCID (after a
    # Retry: the one in its token, the first Initial's).
    assert sqlogs(theirs, "server") == [f"{odcid}.server.sqlog"], (os.listdir(theirs), odcid)
    check_against_quinn(recs, read_quinn(theirs / f"{odcid}.server.sqlog"))


HOLD_OPEN = r"""
import asyncio, sys
from aioquic.asyncio import connect
from aioquic.quic.configuration import QuicConfiguration
async def main(port):
    cfg = QuicConfiguration(is_client=True, alpn_protocols=["echo"], verify_mode=0)
    async with connect("127.0.0.1", port, configuration=cfg) as c:
        for _ in range(8):
            sid = c._quic.get_next_available_stream_id()
            c._quic.send_stream_data(sid, bytes(50000), end_stream=True)
        c.transmit()
        print("connected", flush=True)
        await asyncio.sleep(30)
asyncio.run(main(int(sys.argv[1])))
"""


def test_qlog_complete_when_server_stops_with_a_connection_open(tmp_path):
    """SIGTERM while an aioquic client is still connected: the server closes it and its
    qlog file ends with whole records (nothing left in the write buffer)."""
    d = tmp_path / "q"
    d.mkdir()
    srv = Server("--qlog-dir", str(d))
    client = subprocess.Popen([sys.executable, "-c", HOLD_OPEN, str(srv.port)], stdout=subprocess.PIPE, text=True)
    try:
        assert client.stdout.readline().strip() == "connected"
        time.sleep(0.5)
        assert client.poll() is None
    finally:
        srv.stop()
        client.kill()
        client.wait()
    assert srv.proc.returncode == 0, srv.proc.stderr.read()
    files = sqlogs(d, "server")
    assert len(files) == 1, os.listdir(d)
    _, recs = check_ours(d / files[0], "server")
    assert stream_bytes(recs, "transport:packet_received") >= 400000
    # The server's goodbye is in the file: its last packets carry CONNECTION_CLOSE.
    frames = [f.get("frame_type") for e in events(recs, "transport:packet_sent") for f in e["data"].get("frames", [])]
    assert "connection_close" in frames, frames[-10:]


def test_qlog_max_files_caps_the_files_not_the_connections(tmp_path):
    """--qlog-max-files 2: three connections are served, two are logged, one warning says why."""
    d = tmp_path / "q"
    d.mkdir()
    srv = Server("--qlog-dir", str(d), "--qlog-max-files", "2")
    try:
        for _ in range(3):
            rc, report, err = run_client(srv.port, "--bytes", "20000")
            assert rc == 0 and report["verified"], (rc, report, err)
        deadline = time.time() + 5
        while len(sqlogs(d, "server")) < 2 and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)
        assert len(sqlogs(d, "server")) == 2, os.listdir(d)
    finally:
        srv.stop()
    err = srv.proc.stderr.read()
    assert err.count("--qlog-max-files") == 1, err
    p = subprocess.run([os.path.join(BIN, "socket-iwa-server"), "--qlog-max-files", "5"], capture_output=True, text=True, timeout=10)
    assert p.returncode != 0 and "--qlog-dir" in p.stderr, p.stderr


def test_qlog_max_bytes_caps_each_file_on_a_record_boundary(tmp_path):
    """--qlog-max-bytes: a 2 MB echo's traces (each about 1.5 MB whole) stop below 64 KiB on
    both sides, end with whole records, and one warning names each file; the echo is unaffected."""
    d = tmp_path / "q"
    d.mkdir()
    cap = 64 << 10
    srv = Server("--qlog-dir", str(d), "--qlog-max-bytes", "64K")
    try:
        rc, report, err = run_client(srv.port, "--bytes", str(2 << 20), "--qlog-dir", str(d), "--qlog-max-bytes", "64K")
        assert rc == 0 and report["bytes_echoed"] == 2 << 20, (rc, report, err)
        client_warnings = [l for l in err.splitlines() if "--qlog-max-bytes" in l]
    finally:
        srv.stop()
    server_warnings = [l for l in srv.proc.stderr.read().splitlines() if "--qlog-max-bytes" in l]
    for role, warnings in (("server", server_warnings), ("client", client_warnings)):
        (name,) = sqlogs(d, role)
        size = os.path.getsize(d / name)
        assert cap // 2 < size <= cap, (role, size)
        check_ours(d / name, role)  # every record parses (read_seq), the header is whole
        assert len(warnings) == 1 and name in warnings[0], (role, warnings)
    for prog in ("socket-iwa-server", "socket-iwa-client", "socket-iwa-h3-client"):
        p = subprocess.run([os.path.join(BIN, prog), "--qlog-dir", str(d), "--qlog-max-bytes", "1K"], capture_output=True, text=True, timeout=10)
        assert p.returncode != 0 and "--qlog-max-bytes" in p.stderr.splitlines()[0], (prog, p.stderr)
        p = subprocess.run([os.path.join(BIN, prog), "--qlog-max-bytes", "1M"], capture_output=True, text=True, timeout=10)
        assert p.returncode != 0 and "--qlog-dir" in p.stderr, (prog, p.stderr)


def test_bad_qlog_dir_is_named(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    for arg, why in ((str(tmp_path / "missing"), "No such file"), (str(f), "not a directory")):
        for prog in ("socket-iwa-server", "socket-iwa-client", "socket-iwa-h3-client"):
            p = subprocess.run([os.path.join(BIN, prog), "--qlog-dir", arg], capture_output=True, text=True, timeout=10)
            assert p.returncode != 0
            first = p.stderr.splitlines()[0]
            assert "--qlog-dir" in first and why in first, (prog, p.stderr)


def test_wasm_server_refuses_qlog_dir(tmp_path):
    """The wasm build's files would live in the module's memory: refused by name."""
    if "wasm-node" not in BOTH_KINDS:
        pytest.skip("SOCKET_IWA_H3_WASM=0: no wasm server in this run")
    p = subprocess.run([*server_command("wasm-node"), "--listen", "127.0.0.1:0", "--qlog-dir", str(tmp_path)],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode != 0
    assert "--qlog-dir" in p.stderr and "wasm build" in p.stderr, p.stderr
