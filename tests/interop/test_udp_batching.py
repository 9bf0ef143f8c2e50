"""The native batched UDP path (src/io/udp.rs, docs/ARCHITECTURE.md "The io layer: batching"):
UDP GSO sends, recvmmsg + UDP GRO receives, on by default, off with SOCKET_IWA_UDP_BATCH=off (one
syscall per datagram, the wasm build's path). A download carries the same bytes whichever side batches,
with our client (it checks every byte of /bytes/N) and with Debian's C ngtcp2 client (the file's
SHA-256), and the closing `udp io` debug line of each side shows which path really ran: GSO sends and
GRO-coalesced receives with batching on, none with it off. The unit tests beside the code check the
segmenting itself and the fallback when the kernel refuses a GSO send. The wasm build of the same
server, under Node, sends its runs as UDP_SEGMENT sendmsg() calls to the bridge, and Node's side sends
each as one GSO sendmsg() read from the wasm heap; it reads what arrives with UDP_GRO, a run per
recvmsg(): the last two tests check both ends of that. About 10 s.
"""

import hashlib
import os
import re
import shutil
import subprocess
import tempfile

import pytest

from conftest import BIN, Server, pin_args

SIZE = 4 << 20  # 4 MiB: ~3000 datagrams, dozens of GSO runs; under a second on loopback.


def pattern(n: int) -> bytes:
    """Our server's /bytes/N body: byte i is (i*31) % 251 (src/app/h3/demo.rs)."""
    period = bytes((i * 31) % 251 for i in range(251))
    return (period * (n // 251 + 1))[:n]


def counters(line: str) -> dict:
    """The `name: N` pairs of a counters line."""
    return {k: int(v) for k, v in re.findall(r"(\w+): (\d+)", line)}


def udp_io(stderr: str) -> dict:
    """The counters of the `udp io:` debug line a driver writes when its loop ends."""
    lines = [l for l in stderr.splitlines() if "udp io:" in l]
    assert lines, f"no udp io line in: {stderr[-2000:]}"
    line = lines[-1]
    out = counters(line)
    for flag in ("batching", "gso", "gro"):
        out[flag] = f"{flag}=true" in line
    return out


def start_server(monkeypatch, batch: str, kind: str = "native") -> Server:
    monkeypatch.setenv("SOCKET_IWA_UDP_BATCH", batch)
    monkeypatch.setenv("SOCKET_IWA_NODE_UDP_STATS", "1")  # read by emscripten/run-node.mjs only
    try:
        return Server("-v", kind=kind)
    finally:
        monkeypatch.delenv("SOCKET_IWA_UDP_BATCH")
        monkeypatch.delenv("SOCKET_IWA_NODE_UDP_STATS")


def stop_server(s: Server, with_stderr: bool = False):
    s.stop()
    assert s.proc.returncode == 0, s.proc.returncode
    err = s.proc.stderr.read()
    return (udp_io(err), err) if with_stderr else udp_io(err)


def get_bytes(port: int, env=None) -> str:
    """A GET of /bytes/SIZE by our client (-v: its `udp io:` line); its stderr, every byte checked."""
    p = subprocess.run([os.path.join(BIN, "socket-iwa-h3-client"), "--connect", f"127.0.0.1:{port}", "--json", "-v",
                        *pin_args(port, []), "--get", f"/bytes/{SIZE}", "--timeout", "60"],
                       capture_output=True, text=True, timeout=90, env=env)
    report = [l for l in p.stdout.splitlines() if l.startswith("{")]
    assert report, f"client exit {p.returncode}: {p.stderr[-2000:]}"
    # The client compares every byte with the pattern (testkit/src/h3/mod.rs).
    assert '"verified":true' in report[-1].replace(" ", ""), report[-1]
    assert f'"bytes_received":{SIZE}' in report[-1].replace(" ", ""), report[-1]
    return p.stderr


def check_sender(io: dict, batch: str):
    if batch == "on":
        assert io["batching"] and io["gso"], io
        # Nearly all of the ~3000 data packets leave in GSO runs of many datagrams each.
        assert io["gso_datagrams"] > 2500 and io["gso_datagrams"] > 10 * io["gso_sends"] > 0, io
    else:
        assert not io["batching"] and not io["gso"] and not io["gro"], io
        assert io["gso_sends"] == 0 and io["single_datagrams"] > 2500, io


@pytest.mark.parametrize("server_batch", ["on", "off"])
@pytest.mark.parametrize("client_batch", ["on", "off"])
def test_our_client_gets_the_same_bytes(monkeypatch, server_batch, client_batch):
    s = start_server(monkeypatch, server_batch)
    try:
        client_err = get_bytes(s.port, env=dict(os.environ, SOCKET_IWA_UDP_BATCH=client_batch))
    finally:
        server_io = stop_server(s)
    check_sender(server_io, server_batch)
    client_io = udp_io(client_err)
    assert client_io["recv_datagrams"] > 2500, client_io
    if client_batch == "on":
        assert client_io["batching"] and client_io["gro"], client_io
        if server_batch == "on":
            # Loopback hands a GSO run to a GRO socket whole: far fewer receive calls than datagrams.
            assert client_io["gro_messages"] > 0 and client_io["recv_calls"] * 4 < client_io["recv_datagrams"], client_io
    else:
        assert not client_io["batching"] and client_io["gro_messages"] == 0, client_io
        assert client_io["recv_calls"] == client_io["recv_datagrams"], client_io


def test_c_client_gets_the_same_bytes(monkeypatch):
    if not shutil.which("gtlsclient"):
        pytest.fail("gtlsclient is missing: run scripts/setup.sh")
    want = hashlib.sha256(pattern(SIZE)).hexdigest()
    for batch in ("on", "off"):
        s = start_server(monkeypatch, batch)
        with tempfile.TemporaryDirectory() as dl:
            try:
                p = subprocess.run(["gtlsclient", "-q", "--exit-on-all-streams-close", "--no-quic-dump", "--no-http-dump",
                                    "--timeout=30s", f"--download={dl}", "127.0.0.1", str(s.port),
                                    f"https://127.0.0.1:{s.port}/bytes/{SIZE}"], capture_output=True, text=True, timeout=90)
            finally:
                io = stop_server(s)
            path = os.path.join(dl, str(SIZE))
            assert os.path.exists(path), f"batching {batch}: nothing downloaded (exit {p.returncode}): {p.stderr[-1000:]}"
            with open(path, "rb") as f:
                got = hashlib.sha256(f.read()).hexdigest()
        assert got == want, f"batching {batch}: the C client got other bytes"
        check_sender(io, batch)


def test_wasm_server_runs_leave_as_gso_sends_under_node(monkeypatch):
    """The wasm server's io layer gathers runs as natively (SendBatch) and hands each to the bridge
    as one sendmsg() with UDP_SEGMENT; under Node the run must then leave as one GSO sendmsg() read
    in place from the wasm heap (node/direct-sockets.js sendRun), not datagram by datagram. Both
    ends' counters: the wasm program's `udp io:` line and run-node.mjs's `udp sends:` line. A
    regression to one send per datagram anywhere on that path passes every other test."""
    s = start_server(monkeypatch, "on", kind="wasm-node")
    try:
        get_bytes(s.port)
    finally:
        io, err = stop_server(s, with_stderr=True)
    # The wasm side: the same SendBatch as natively, UDP_SEGMENT runs of many datagrams
    # (`batching` is the native recvmmsg/sendmmsg path, which the wasm build has not).
    assert io["gso"] and io["gso_datagrams"] > 2500 and io["gso_datagrams"] > 10 * io["gso_sends"] > 0, io
    lines = [l for l in err.splitlines() if "run-node: udp sends:" in l]
    assert lines, f"no run-node udp sends line in: {err[-2000:]}"
    node = counters(lines[-1])
    # Node's side: nearly every datagram the program sent left in a GSO run (the rest, e.g. a run
    # queued behind a datagram node:dgram had not sent yet, one by one), most runs read in place.
    assert node["gso_datagrams"] >= 0.9 * io["gso_datagrams"], (node, io)
    assert node["gso_datagrams"] > 10 * node["gso_runs"] > 0, node
    assert node["in_place_runs"] >= 0.9 * node["gso_runs"], node
    assert node["single_datagrams"] < 0.1 * node["gso_datagrams"], node


def test_wasm_server_reads_runs_with_udp_gro_under_node(monkeypatch):
    """The receiving half (docs/BRIDGE.md "UDP_GRO: runs in one recvmsg"): our native client uploads
    4 MiB to the wasm server's echo in GSO runs; Node's side reads them as GRO runs and the bridge
    hands each to the program's recvmsg() whole, so the program's `udp io:` line counts far fewer
    receive calls than datagrams, and GRO-coalesced messages. A regression to one recvmsg() per
    datagram (the bridge refusing UDP_GRO, or cutting runs) passes every other test."""
    s = start_server(monkeypatch, "on", kind="wasm-node")
    try:
        p = subprocess.run([os.path.join(BIN, "socket-iwa-client"), "--connect", f"127.0.0.1:{s.port}", "--json",
                            *pin_args(s.port, []), "--bytes", str(SIZE), "--timeout", "60"],
                           capture_output=True, text=True, timeout=90)
        report = [l for l in p.stdout.splitlines() if l.startswith("{")]
        assert report and f'"bytes_echoed":{SIZE}' in report[-1].replace(" ", ""), f"client exit {p.returncode}: {p.stderr[-2000:]}"
    finally:
        io = stop_server(s)
    assert io["gro"], io
    assert io["gro_messages"] > 0 and io["recv_datagrams"] > 2500, io
    assert io["recv_calls"] * 4 < io["recv_datagrams"], io
