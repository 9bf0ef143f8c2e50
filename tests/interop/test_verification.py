"""Clients verify the server's certificate by default (issue 8, "Certificates:
clients verify by default"; docs/TLS.md): chain + name against the system
roots or --ca, or a --cert-hash pin, or an explicit, loudly logged --insecure.
Certificates are made here with `cryptography` (aioquic's dependency)."""

import asyncio
import datetime
import ipaddress
import os
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from aioquic_peers import make_cert, start_echo_server
from conftest import BIN, Server, cert_sha256_of_pem, free_udp_port, run_client

NOW = datetime.datetime.now(datetime.timezone.utc)
DAY = datetime.timedelta(days=1)


def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write(path, obj):
    with open(path, "wb") as f:
        f.write(obj)
    return str(path)


def make_ca(d, cn="Test CA"):
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(_name(cn))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(NOW - DAY).not_valid_after(NOW + 30 * DAY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    return key, cert, _write(d / f"{cn.replace(' ', '_')}.pem", cert.public_bytes(serialization.Encoding.PEM))


def make_leaf(d, tag, ca=None, dns=("localhost",), ips=("127.0.0.1",), not_before=NOW - DAY, not_after=NOW + 10 * DAY):
    """A leaf for `dns` / `ips`, signed by `ca` (key, cert) or self-signed; returns (cert.pem, key.pem)."""
    key = ec.generate_private_key(ec.SECP256R1())
    issuer_key, issuer = (ca[0], ca[1].subject) if ca else (key, _name(dns[0] if dns else "leaf"))
    sans = [x509.DNSName(n) for n in dns] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    cert = (x509.CertificateBuilder().subject_name(_name(dns[0] if dns else "leaf")).issuer_name(issuer)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(not_before).not_valid_after(not_after)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(issuer_key, hashes.SHA256()))
    c = _write(d / f"{tag}.pem", cert.public_bytes(serialization.Encoding.PEM))
    k = _write(d / f"{tag}.key", key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                   serialization.NoEncryption()))
    return c, k


def one_line_error(err, *needles):
    lines = [l for l in err.splitlines() if l.strip()]
    assert len(lines) == 1, err
    for n in needles:
        assert n in lines[0], err


@pytest.fixture
def ca(tmp_path):
    return make_ca(tmp_path)


# ---- pins -------------------------------------------------------------------------------

def test_pinned_certificate_works(server):
    rc, rep, err = run_client(server.port, "--cert-hash", server.info["cert_sha256"])
    assert rc == 0, err
    assert rep["verified"] and rep["verification"] == "pin"


def test_pin_accepts_colons_and_upper_case(server):
    h = server.info["cert_sha256"].upper()
    rc, rep, err = run_client(server.port, "--cert-hash", ":".join(h[i:i + 2] for i in range(0, 64, 2)))
    assert rc == 0, err


def test_wrong_pin_fails_with_a_clear_error(server):
    wrong = "00" + server.info["cert_sha256"][2:]
    rc, rep, err = run_client(server.port, "--cert-hash", wrong)
    assert rc != 0 and not rep["verified"]
    one_line_error(err, "certificate verification failed (pin)", f"does not match --cert-hash {wrong}")
    assert rep["bytes_echoed"] == 0


def test_bad_pin_value_names_the_flag(server):
    rc, rep, err = run_client(server.port, "--cert-hash", "abc")
    assert rc == 1 and rep is None
    one_line_error(err, "--cert-hash")


def test_expired_pinned_certificate_fails(tmp_path):
    cert, key = make_leaf(tmp_path, "old", not_before=NOW - 30 * DAY, not_after=NOW - DAY)
    s = Server("--cert", cert, "--key", key)
    try:
        rc, rep, err = run_client(s.port, "--cert-hash", cert_sha256_of_pem(cert))
        assert rc != 0
        one_line_error(err, "pinned certificate has expired")
    finally:
        s.stop()


# ---- chain + name against CAs ----------------------------------------------------------------

@pytest.mark.parametrize("name", ["localhost", "127.0.0.1"])
def test_ca_signed_certificate_with_ca_flag_works(tmp_path, ca, name):
    cert, key = make_leaf(tmp_path, "leaf", ca=ca)
    s = Server("--cert", cert, "--key", key)
    try:
        rc, rep, err = run_client(s.port, "--ca", ca[2], "--server-name", name)
        assert rc == 0, err
        assert rep["verified"] and rep["verification"] == "ca"
    finally:
        s.stop()


@pytest.mark.parametrize("name,why", [("example.org", "DNS name mismatch"), ("127.0.0.2", "IP address mismatch")])
def test_wrong_name_fails(tmp_path, ca, name, why):
    cert, key = make_leaf(tmp_path, "leaf", ca=ca)
    s = Server("--cert", cert, "--key", key)
    try:
        rc, rep, err = run_client(s.port, "--ca", ca[2], "--server-name", name)
        assert rc != 0 and not rep["verified"]
        one_line_error(err, "certificate verification failed (ca)", why)
    finally:
        s.stop()


def test_expired_ca_signed_certificate_fails(tmp_path, ca):
    cert, key = make_leaf(tmp_path, "leaf", ca=ca, not_before=NOW - 30 * DAY, not_after=NOW - DAY)
    s = Server("--cert", cert, "--key", key)
    try:
        rc, rep, err = run_client(s.port, "--ca", ca[2])
        assert rc != 0
        one_line_error(err, "certificate verification failed (ca)", "expired")
    finally:
        s.stop()


@pytest.mark.parametrize("cn,why", [("Other CA", "not signed by a trusted CA"),
                                    ("Test CA", "signature does not verify")])  # same name, other key
def test_certificate_from_another_ca_fails(tmp_path, ca, cn, why):
    (tmp_path / "other").mkdir()
    other = make_ca(tmp_path / "other", cn)
    cert, key = make_leaf(tmp_path, "leaf", ca=other)
    s = Server("--cert", cert, "--key", key)
    try:
        rc, rep, err = run_client(s.port, "--ca", ca[2])
        assert rc != 0
        one_line_error(err, "certificate verification failed (ca)", why)
    finally:
        s.stop()


def test_default_system_roots_refuse_a_self_signed_server(server):
    # No flag at all (run_client would add the pin): the system roots (Debian's ca-certificates) do not know our self-signed certificate.
    p = subprocess.run([os.path.join(BIN, "socket-iwa-client"), "--connect", f"127.0.0.1:{server.port}", "--json"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode != 0
    one_line_error(p.stderr, "certificate verification failed (ca)", "not signed by a trusted CA")
    assert '"verification":"ca"' in p.stdout


def test_missing_ca_file_is_named(server, tmp_path):
    rc, rep, err = run_client(server.port, "--ca", str(tmp_path / "nope.pem"))
    assert rc == 1
    one_line_error(err, "nope.pem")


# ---- explicit opt-out ---------------------------------------------------------------------------

def test_insecure_is_an_explicit_loud_opt_out(server):
    rc, rep, err = run_client(server.port, "--insecure")
    assert rc == 0 and rep["verified"] and rep["verification"] == "insecure"
    assert "WARNING" in err and "NOT verified" in err


def test_flags_are_mutually_exclusive(server):
    rc, rep, err = run_client(server.port, "--insecure", "--cert-hash", server.info["cert_sha256"])
    assert rc == 2 and "cannot be used with" in err


# ---- the HTTP/3 client, and aioquic as the server --------------------------------------------------

def test_h3_client_pin_and_wrong_pin(server):
    base = [os.path.join(BIN, "socket-iwa-h3-client"), "--connect", f"127.0.0.1:{server.port}", "--json"]
    p = subprocess.run(base + ["--cert-hash", server.info["cert_sha256"]], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    assert '"verification":"pin"' in p.stdout
    p = subprocess.run(base + ["--cert-hash", "11" * 32], capture_output=True, text=True, timeout=30)
    assert p.returncode != 0
    one_line_error(p.stderr, "certificate verification failed (pin)", "does not match")
    p = subprocess.run(base, capture_output=True, text=True, timeout=30)
    assert p.returncode != 0
    one_line_error(p.stderr, "not signed by a trusted CA")


def test_our_client_pins_aioquic_server(tmp_path):
    cert, key = make_cert(str(tmp_path))

    async def main():
        port = free_udp_port()
        srv = await start_echo_server("127.0.0.1", port, cert, key)
        try:
            ok = await asyncio.to_thread(run_client, port, "--cert-hash", cert_sha256_of_pem(cert))
            bad = await asyncio.to_thread(run_client, port, "--cert-hash", "22" * 32)
            byname = await asyncio.to_thread(run_client, port, "--ca", cert, "--server-name", "127.0.0.1")
        finally:
            srv.close()
        return ok, bad, byname
    (rc, rep, err), (rc2, _, err2), (rc3, rep3, err3) = asyncio.run(asyncio.wait_for(main(), 60))
    assert rc == 0 and rep["verification"] == "pin", err
    assert rc2 != 0 and "does not match" in err2
    # aioquic's self-signed certificate as its own trust anchor: chain + IP SAN check.
    assert rc3 == 0 and rep3["verification"] == "ca", err3


def test_session_is_resumed_only_under_the_verification_it_was_obtained_with(server, tmp_path):
    """A resumed handshake presents no certificate: a ticket obtained with
    --insecure must not let a later --cert-hash run skip the pin check."""
    session = str(tmp_path / "s.json")
    rc, rep, err = run_client(server.port, "--insecure", "--session", session)
    assert rc == 0, err
    rc, rep, err = run_client(server.port, "--cert-hash", "33" * 32, "--session", session)
    assert rc != 0 and not rep["resumed"], rep
    assert "not resuming" in err and "does not match --cert-hash" in err
    rc, rep, err = run_client(server.port, "--session", session)  # the right pin (added by run_client)
    assert rc == 0 and not rep["resumed"], err
    rc, rep, err = run_client(server.port, "--session", session)
    assert rc == 0 and rep["resumed"] and rep["early_data"] == "accepted", err
