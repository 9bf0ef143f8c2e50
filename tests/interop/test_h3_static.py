"""Static files over HTTP/3 (`socket-iwa-server --static [/PREFIX=]DIR`) fetched by
aioquic's HTTP/3 client: the real join page (iwa/join.html + join.js),
Content-Type/-Length, a file larger than the server's send window, refused
traversals, and the demo routes still answering. Natively and as wasm under
Node (the directory copied into the module's memory file system, symlinks
included, by emscripten/run-node.mjs's SOCKET_IWA_COPY_IN). Loopback only."""

import asyncio
import base64
import json
import os
import shutil
import subprocess

import pytest

from conftest import BIN, BOTH_KINDS, ROOT, Server
from h3_peers import STEP, bytes_pattern, h3_connect, status

SECRET = b"TOP SECRET outside the served directory"


def big() -> bytes:
    return bytes((i * 7 + (i >> 11)) & 255 for i in range((2 << 20) + 3))


@pytest.fixture
def tree(tmp_path):
    site = tmp_path / "site"
    (site / "sub").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.txt").write_bytes(SECRET)
    for name in ("join.html", "join.js"):
        shutil.copy(os.path.join(ROOT, "iwa", name), site / name)
    (site / "big.bin").write_bytes(big())
    (site / "sub" / "index.html").write_text("<p>sub</p>")
    os.symlink(tmp_path / "outside" / "secret.txt", site / "link-out")
    os.symlink(tmp_path / "outside", site / "dir-out")
    return tmp_path


async def fetch(c, method: str, path: str, body: bytes = b""):
    """One request; (status, headers dict, body)."""
    sid = c._quic.get_next_available_stream_id()
    c.h3.send_headers(sid, [(b":method", method.encode()), (b":scheme", b"https"), (b":authority", b"localhost"),
                            (b":path", path.encode())], end_stream=not body)
    if body:
        c.h3.send_data(sid, body, end_stream=True)
    c.transmit()
    s = c.stream(sid)
    await asyncio.wait_for(s.ended, STEP * 3)
    return status(s.headers), {k.decode(): v.decode() for k, v in s.headers if not k.startswith(b":")}, bytes(s.data)


def start(kind, tree, monkeypatch, *extra):
    if kind == "wasm-node":
        monkeypatch.setenv("SOCKET_IWA_COPY_IN", str(tree))
    return Server("--static", str(tree / "site"), *extra, kind=kind)


@pytest.mark.parametrize("kind", BOTH_KINDS)
def test_join_page_and_files_over_h3(kind, tree, monkeypatch):
    s = start(kind, tree, monkeypatch)
    try:
        assert s.info["static"] == [{"prefix": "/", "dir": str((tree / "site").resolve())}]

        async def main():
            async with h3_connect("127.0.0.1", s.port) as c:
                st, h, body = await fetch(c, "GET", "/join.html")
                page = open(os.path.join(ROOT, "iwa", "join.html"), "rb").read()
                assert (st, body) == (200, page)
                assert h["content-type"] == "text/html; charset=utf-8" and h["content-length"] == str(len(page))
                st, h, body = await fetch(c, "GET", "/join.js")
                assert st == 200 and body == open(os.path.join(ROOT, "iwa", "join.js"), "rb").read()
                assert h["content-type"] == "text/javascript; charset=utf-8"
                # No HEAD here: aioquic 1.7.2's client checks Content-Length against the (empty) body
                # without knowing the request was HEAD and closes the connection (H3_MESSAGE_ERROR).
                # HEAD is checked in tests/rust/h3_static.rs and from Chromium in the demo IWA test.
                st, h, body = await fetch(c, "GET", "/big.bin")
                assert st == 200 and h["content-type"] == "application/octet-stream" and body == big()
                st, h, _ = await fetch(c, "GET", "/sub")
                assert (st, h.get("location")) == (301, "/sub/")
                assert (await fetch(c, "GET", "/sub/"))[2] == b"<p>sub</p>"
                assert (await fetch(c, "GET", "/missing.html"))[0] == 404
                # Out of the directory: refused (400) or not there (404), never the file.
                for p in ["/../outside/secret.txt", "/%2e%2e/outside/secret.txt", "/%2E%2E%2Foutside%2Fsecret.txt",
                          "/sub/..%2f..%2foutside/secret.txt", "/link-out", "/dir-out/secret.txt", "//outside/secret.txt"]:
                    st, _, body = await fetch(c, "GET", p)
                    assert st in (400, 404) and SECRET not in body, (p, st, body)
                # The demo's routes are still the demo's.
                st, _, body = await fetch(c, "GET", "/bytes/70000")
                assert st == 200 and body == bytes_pattern(70000)
                st, _, body = await fetch(c, "POST", "/echo", b"x" * 5000)
                assert (st, body) == (200, b"x" * 5000)
                st, _, body = await fetch(c, "GET", "/")
                assert st == 200 and b"socket-iwa HTTP/3" in body
                _, st = await c.connect_protocol("webtransport", "/wt/echo")
                assert st == 200
        asyncio.run(asyncio.wait_for(main(), 90))
        assert s.alive()
    finally:
        s.stop()


def test_prefix_mount_and_spki_in_listening(tree, tmp_path):
    pem = str(tmp_path / "cert.pem")
    s = Server("--static", f"/join={tree / 'site'}", "--write-cert", pem)
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        cert = x509.load_pem_x509_certificate(open(pem, "rb").read())
        d = hashes.Hash(hashes.SHA256())
        d.update(cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo))
        assert s.info["spki_sha256_base64"] == base64.b64encode(d.finalize()).decode()
        assert s.info["static"][0]["prefix"] == "/join"

        async def main():
            async with h3_connect("127.0.0.1", s.port) as c:
                assert (await fetch(c, "GET", "/join/join.html"))[0] == 200
                assert (await fetch(c, "GET", "/join.html"))[0] == 404
                st, h, _ = await fetch(c, "GET", "/join")
                assert (st, h.get("location")) == (301, "/join/")
        asyncio.run(asyncio.wait_for(main(), 60))
    finally:
        s.stop()
    assert s.proc.returncode == 0, s.proc.stderr.read()


@pytest.mark.parametrize("value,msg", [("/definitely/not/here", "cannot use directory"),
                                       ("/x=", "no directory given"),
                                       ("/a/../b=/tmp", "must be plain /segments")])
def test_bad_static_flag_names_itself(value, msg):
    p = subprocess.run([os.path.join(BIN, "socket-iwa-server"), "--listen", "127.0.0.1:0", "--static", value],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 1
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and f'--static "{value}"' in lines[0] and msg in lines[0], p.stderr
