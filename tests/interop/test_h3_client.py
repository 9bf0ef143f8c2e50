"""Our Rust HTTP/3 client (socket-iwa-h3-client) against aioquic's HTTP/3
server and against our own server. Loopback only."""

import asyncio
import json
import os

from conftest import BIN, Server, cert_sha256_of_pem, pin_args, register_cert
from aioquic_peers import make_cert
from h3_peers import start_h3_server
from conftest import free_udp_port

CLIENT = os.path.join(BIN, "socket-iwa-h3-client")


async def run_client(port, *args, timeout=60):
    p = await asyncio.create_subprocess_exec(CLIENT, "--connect", f"127.0.0.1:{port}", "--json", *pin_args(port, args), *args,
                                             stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(p.communicate(), timeout)
    lines = [l for l in out.decode().splitlines() if l.startswith("{")]
    return p.returncode, (json.loads(lines[-1]) if lines else None), err.decode()


def test_rust_client_against_aioquic_server(tmp_path):
    cert, key = make_cert(str(tmp_path))

    async def main():
        port = free_udp_port()
        srv = await start_h3_server("127.0.0.1", port, cert, key)
        register_cert(port, cert_sha256_of_pem(cert))
        try:
            rc, rep, err = await run_client(port, "--get", "/bytes/1048576", "--get", "/bytes/7", "--post", "/echo",
                                            "--post-bytes", "200000", "--repeat", "3")
            assert rc == 0, (rep, err)
            assert rep["verified"] and rep["completed"] == 9
            assert rep["bytes_received"] == 3 * (1048576 + 7 + 200000)
            rc, rep, err = await run_client(port, "--get", "/nothing")
            assert rc == 2 and rep["responses"][0]["status"] == 404
        finally:
            srv.close()
    asyncio.run(asyncio.wait_for(main(), 90))


def test_rust_client_against_our_server():
    s = Server()
    try:
        async def main():
            rc, rep, err = await run_client(s.port, "--get", "/bytes/4194304", "--get", "/", "--post", "/echo",
                                            "--post-bytes", "1000000", "--repeat", "4", "--concurrency", "4")
            assert rc == 0, (rep, err)
            assert rep["verified"] and rep["completed"] == 12
            assert all(r["status"] == 200 for r in rep["responses"])
        asyncio.run(main())
    finally:
        s.stop()
    assert s.proc.returncode == 0, s.proc.stderr.read()
