"""createHttp3Server's certificate and session-ticket-key storage (issue 10;
docs/JS_SERVERS.md "Certificate and ticket-key storage") under Node 26: the app
tests/js_servers/h3_storage_app.mjs, against our native QUIC client (pinning the
certificate hash, resuming with --session, 0-RTT) and aioquic's HTTP/3 client.
Loopback only; each test has its own storage directory and HOME."""

import asyncio
import datetime
import hashlib
import json
import os
import ssl
import stat
import subprocess
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from conftest import BIN, NODE26, ROOT, run_client
from js_app import JsApp
from h3_peers import h3_connect
from udp_relay import UdpRelay

APP = os.path.join(ROOT, "tests", "js_servers", "h3_storage_app.mjs")
FILES = ["cert.pem", "key.pem", "ticket.key"]


class App(JsApp):
    """One server process; `cfg` becomes the app's options (see the app's header)."""

    def __init__(self, home, **cfg):
        super().__init__(APP, json.dumps(cfg), env=dict(os.environ, HOME=str(home)), ready=("listening", "start_failed"))
        self.first = self.info
        self.hash = (self.first.get("hashes") or [None])[0]

    def close(self):
        """close() on the server; waits for it (the storage is final then)."""
        if self.proc.poll() is None:
            self.send("close")
            self.event("closed")
            self.proc.wait(30)
        assert not [e for e in self.seen if e["event"] == "error"], self.seen


@pytest.fixture
def apps():
    started = []
    yield lambda *a, **k: started.append(App(*a, **k)) or started[-1]
    for a in started:
        a.kill()


def pem_sha256(path) -> str:
    with open(path) as f:
        return hashlib.sha256(ssl.PEM_cert_to_DER_cert(f.read())).hexdigest()


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def client(port, pin, *extra):
    return run_client(port, "--cert-hash", pin, *extra, timeout=60)


def make_cert(tmp_path, not_after: datetime.datetime, name="given"):
    """An ECDSA P-256 self-signed pair written as PEM (cryptography, not our code)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(not_after)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
            .sign(key, hashes.SHA256()))
    c, k = tmp_path / f"{name}-cert.pem", tmp_path / f"{name}-key.pem"
    c.write_bytes(cert.public_bytes(Encoding.PEM))
    k.write_bytes(key.private_bytes(Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    os.chmod(k, 0o600)
    return str(c), str(k), hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest()


def test_same_storage_same_certificate_and_0rtt_across_restarts(apps, tmp_path):
    store = tmp_path / "a" / "store"  # neither exists: both created 0700
    session = str(tmp_path / "s.json")
    a = apps(tmp_path, storage=str(store))
    assert a.first["event"] == "listening", a.first
    rc, r1, err = client(a.port, a.hash, "--session", session)
    assert rc == 0, err
    assert r1["verified"] and not r1["resumed"] and r1["early_data"] == "none"
    a.close()
    assert sorted(os.listdir(store)) == sorted(FILES + ["ticket.key.replay"])
    assert (store / "ticket.key.replay").stat().st_size == 0  # no 0-RTT yet: no anti-replay record
    assert mode(store) == 0o700 and mode(store.parent) == 0o700
    for f in os.listdir(store):
        assert mode(store / f) == 0o600, f
    assert pem_sha256(store / "cert.pem") == a.hash
    assert (store / "ticket.key").stat().st_size == 48
    assert b"BEGIN EC PRIVATE KEY" in (store / "key.pem").read_bytes()

    # A second server (a restart, or a reloaded IWA) with the same storage: same
    # certificate hash, and the ticket the client saved resumes with 0-RTT accepted.
    b = apps(tmp_path, storage=str(store))
    assert b.hash == a.hash
    rc, r2, err = client(b.port, b.hash, "--session", session)
    assert rc == 0, err
    assert r2["verified"] and r2["resumed"] and r2["early_data"] == "accepted", r2
    b.close()
    # The anti-replay record that admitted this 0-RTT reached the storage (docs/TLS.md, 40-byte records).
    assert (store / "ticket.key.replay").stat().st_size >= 40
    assert mode(store / "ticket.key.replay") == 0o600


def test_a_restarted_server_resets_the_connections_of_the_one_before(apps, tmp_path):
    """The stored ticket key also roots the server's stateless reset tokens (docs/TLS.md):
    a client still connected when the server restarts (a reloaded IWA) gets a Stateless
    Reset for its next packet and ends at once, not after its 30 s idle timeout. The path
    goes dark (relay blackhole) while the server is killed and started on the same port."""
    store = tmp_path / "store"
    a = apps(tmp_path, storage=str(store))
    with UdpRelay(("127.0.0.1", a.port), blackhole=(256 * 1024, 3.0), max_seconds=90) as relay:
        p = subprocess.Popen([os.path.join(BIN, "socket-iwa-client"), "--connect", f"127.0.0.1:{relay.port}",
                              "--cert-hash", a.hash, "--json", "--timeout", "60", "--bytes", str(16 << 20)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        end = time.monotonic() + 30
        while relay.report()["impaired"]["blackhole_s"] == 0 and p.poll() is None and time.monotonic() < end:
            time.sleep(0.01)
        assert relay.report()["impaired"]["blackhole_s"] > 0, "the echo never reached the blackhole"
        a.kill()
        restarted = time.monotonic()
        b = apps(tmp_path, storage=str(store), port=a.port)
        out, err = p.communicate(timeout=60)
        took = time.monotonic() - restarted
    r = json.loads(out.strip().splitlines()[-1])
    assert not r["verified"] and "stateless reset" in (r.get("error") or ""), (r, err[-400:])
    assert took < 3.0 + 10, f"the client ended {took:.1f} s after the restart"
    b.close()


def test_storage_false_keeps_nothing_and_default_is_home(apps, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    a = apps(home, storage=False)
    b = apps(home, storage=False)
    assert a.hash and b.hash and a.hash != b.hash
    a.close()
    b.close()
    assert os.listdir(home) == []
    # No storage option under Node: ~/.socket-iwa/, kept across restarts.
    c = apps(home)
    c.close()
    d = apps(home)
    d.close()
    assert c.hash == d.hash == pem_sha256(home / ".socket-iwa" / "cert.pem")
    assert mode(home / ".socket-iwa") == 0o700


def test_explicit_certificate_is_used_and_not_stored(apps, tmp_path):
    cert, key, digest = make_cert(tmp_path, datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=10))
    store = tmp_path / "store"
    a = apps(tmp_path, storage=str(store), cert=cert, key=key)
    assert a.hash == digest
    rc, r, err = client(a.port, digest)
    assert rc == 0 and r["verified"], err
    a.close()
    # The ticket key is kept; the caller's certificate is theirs to keep.
    assert "cert.pem" not in os.listdir(store) and "key.pem" not in os.listdir(store)
    assert (store / "ticket.key").stat().st_size == 48


def test_corrupt_or_open_stored_files_are_refused_by_name(apps, tmp_path):
    store = tmp_path / "store"
    a = apps(tmp_path, storage=str(store))
    a.close()
    good = {f: (store / f).read_bytes() for f in FILES}

    (store / "cert.pem").write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
    b = apps(tmp_path, storage=str(store))
    assert b.first["event"] == "start_failed" and b.first["code"] == "ERR_STORAGE_CORRUPT", b.first
    assert str(store / "cert.pem") in b.first["message"], b.first
    (store / "cert.pem").write_bytes(good["cert.pem"])

    (store / "ticket.key").write_bytes(good["ticket.key"][:20])
    c = apps(tmp_path, storage=str(store))
    assert c.first["event"] == "start_failed" and c.first["code"] == "ERR_STORAGE_CORRUPT", c.first
    assert str(store / "ticket.key") in c.first["message"], c.first
    (store / "ticket.key").write_bytes(good["ticket.key"])

    os.chmod(store / "key.pem", 0o644)
    d = apps(tmp_path, storage=str(store))
    assert d.first["event"] == "start_failed" and d.first["code"] == "ERR_STORAGE_PERMISSIONS", d.first
    assert str(store / "key.pem") in d.first["message"], d.first
    os.chmod(store / "key.pem", 0o600)

    e = apps(tmp_path, storage=str(store))
    assert e.hash == a.hash
    e.close()

    f = apps(tmp_path, storage=123)
    assert f.first["event"] == "start_failed" and f.first["code"] == "ERR_INVALID_ARG_TYPE" and f.first["type"] == "TypeError"


def test_certificate_renewed_before_expiry_without_restart(apps, tmp_path):
    """A stored certificate whose renewal time (a day before notAfter) comes 15 s
    after it was made: the running server generates a new one, stores it, tells
    ('certificate' event), new handshakes get it, and a connection made before
    keeps working. 15 s leaves the app time to start on a loaded machine; the
    test fails with a clear message if it took longer."""
    store = tmp_path / "store"
    store.mkdir(mode=0o700)
    not_after = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1, seconds=15)
    cert, key, old = make_cert(tmp_path, not_after)
    os.replace(cert, store / "cert.pem")
    os.replace(key, store / "key.pem")
    a = apps(tmp_path, storage=str(store))
    assert a.first["event"] == "listening", a.first
    assert a.hash == old, "the app took longer than 15 s to start: the stored certificate was already due"

    async def main():
        async with h3_connect("127.0.0.1", a.port) as conn:
            assert hashlib.sha256(conn._quic.tls._peer_certificate.public_bytes(Encoding.DER)).hexdigest() == old
            assert await conn.request("GET", "/hi?name=before") == (200, b"hello before")
            loop = asyncio.get_running_loop()
            ev = await loop.run_in_executor(None, a.event, "certificate")
            # A new handshake gets the new certificate (the server switched to a new
            # wolfSSL context and released the old one) ...
            rc, r, err = await loop.run_in_executor(None, client, a.port, ev["hashes"][0])
            assert rc == 0 and r["verified"], err
            # ... and the connection made with the old one goes on.
            assert await conn.request("GET", "/hi?name=after") == (200, b"hello after")
            return ev

    ev = asyncio.run(asyncio.wait_for(main(), 90))
    new = ev["hashes"][0]
    assert new != old and ev["current"] == ev["hashes"]
    assert pem_sha256(store / "cert.pem") == new and mode(store / "key.pem") == 0o600
    rc, r, err = client(a.port, old)
    assert rc != 0, "a new handshake still got the old certificate"
    a.close()
    # The renewed certificate is what the next start uses (and it is not due for 13 days).
    b = apps(tmp_path, storage=str(store))
    assert b.hash == new
    b.close()


def test_chromium_accepts_the_13_day_certificate_and_refuses_a_longer_one(tmp_path):
    """Why 13 days (docs/JS_SERVERS.md): wolfSSL back-dates notBefore by a day, so
    --cert-days 13 spans exactly 14 days, which Chromium's WebTransport
    serverCertificateHashes still accepts; the control, a certificate one minute
    longer, is refused (so the check is real). Native server (the same Rust code
    generates the wasm server's certificate)."""
    from conftest import Server
    from udp_relay import UdpRelay

    def webtransport(server, digest):
        with UdpRelay(("127.0.0.1", server.port)) as relay:
            p = subprocess.run(["node", os.path.join(ROOT, "tests", "interop", "h3_chromium.mjs"), str(relay.port), digest],
                               capture_output=True, text=True, timeout=120, cwd=ROOT)
        lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
        assert lines, p.stderr
        return json.loads(lines[-1])

    s = Server("--cert-days", "13", "--write-cert", str(tmp_path / "gen.pem"))
    try:
        x = x509.load_pem_x509_certificate((tmp_path / "gen.pem").read_bytes())
        assert x.not_valid_after_utc - x.not_valid_before_utc == datetime.timedelta(days=14)
        r = webtransport(s, s.info["cert_sha256"])
        assert r.get("error") is None and r["ready"] is True, r
    finally:
        s.stop()
    now = datetime.datetime.now(datetime.timezone.utc)
    cert, key, digest = make_cert(tmp_path, now - datetime.timedelta(hours=1) + datetime.timedelta(days=14, minutes=1), "long")
    s = Server("--cert", cert, "--key", key)
    try:
        r = webtransport(s, digest)
        assert r.get("error") and "ready" not in r, r
    finally:
        s.stop()


def test_servers_starting_together_share_one_stored_certificate(tmp_path):
    """Several servers in one process (or IWA page) with the same storage, started at
    once: the storage is used by one start at a time, so the later ones reuse the
    first one's certificate instead of each generating and interleaving their writes."""
    store = tmp_path / "store"
    script = f"""
import SocketIWA from './api/direct_sockets_api.js';
const hex = (s) => Buffer.from(s.certificateHashes[0].value).toString('hex');
const opts = {{ storage: {json.dumps(str(store))}, fetch: () => new Response('x') }};
const servers = await Promise.all([0, 1, 2].map(() => SocketIWA.createHttp3Server('127.0.0.1', opts)));
console.log(JSON.stringify(servers.map(hex)));
await Promise.all(servers.map((s) => s.close()));
process.exit(0);
"""
    out = subprocess.run([NODE26, "--input-type=module", "-e", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    hashes = json.loads(out.stdout.strip().splitlines()[-1])
    assert len(set(hashes)) == 1, hashes
    assert pem_sha256(store / "cert.pem") == hashes[0]


def test_early_request_runs_only_after_its_anti_replay_record_is_stored(apps, tmp_path):
    """aioquic resumes and sends GET in 0-RTT; once the answer is back the server is
    killed (no close(), like a crashed or reloaded page): the record that admitted the
    early data must already be in the storage, since the handler ran only after it
    was written (docs/JS_SERVERS.md, "0-RTT across a reload")."""
    from aioquic.asyncio import connect
    from h3_peers import H3Client, config

    store = tmp_path / "store"
    a = apps(tmp_path, storage=str(store))

    async def get(ticket, path="/x?name=early"):
        tickets = []
        cfg = config()
        cfg.session_ticket = ticket
        async with connect("127.0.0.1", a.port, configuration=cfg, create_protocol=H3Client,
                           session_ticket_handler=tickets.append, wait_connected=ticket is None) as c:
            answer = await c.request("GET", path)
            for _ in range(200):
                if tickets:
                    break
                await asyncio.sleep(0.01)
            return answer, getattr(c._quic.tls, "early_data_accepted", None), tickets[-1] if tickets else None

    (answer, _, ticket) = asyncio.run(asyncio.wait_for(get(None), 60))
    assert answer == (200, b"hello early") and ticket is not None
    assert (store / "ticket.key.replay").stat().st_size == 0
    (answer, early, _) = asyncio.run(asyncio.wait_for(get(ticket, "/replay-size"), 60))
    # The handler of the early request already saw the record in the storage.
    assert early is True and answer[0] == 200 and int(answer[1]) >= 40, (answer, early)
    a.kill()
    assert (store / "ticket.key.replay").stat().st_size >= 40
