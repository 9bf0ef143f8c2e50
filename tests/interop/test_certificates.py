"""--cert/--key with ECDSA and RSA PEM files, the generated default certificate
(<= 14 days, hash printed), and --write-cert."""

import asyncio
import datetime
import hashlib
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from aioquic_peers import run_echo_client
from conftest import Server


def write_pair(tmp_path, key):
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=30)).sign(key, hashes.SHA256()))
    c, k = tmp_path / "c.pem", tmp_path / "k.pem"
    c.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    k.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()))
    return str(c), str(k), hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def check(tmp_path, key):
    cert, keyfile, digest = write_pair(tmp_path, key)
    s = Server("--cert", cert, "--key", keyfile)
    try:
        assert s.info["cert_sha256"] == digest
        r = asyncio.run(asyncio.wait_for(run_echo_client("127.0.0.1", s.port, streams=1, nbytes=5000), 30))
        assert r.streams_ok == 1
    finally:
        s.stop()


def test_ecdsa_p256_pem(tmp_path):
    check(tmp_path, ec.generate_private_key(ec.SECP256R1()))


def test_rsa_2048_pem(tmp_path):
    check(tmp_path, rsa.generate_private_key(public_exponent=65537, key_size=2048))


def test_generated_certificate_is_short_lived_ecdsa_and_hash_matches(tmp_path):
    out = tmp_path / "served.pem"
    s = Server("--write-cert", str(out))
    try:
        cert = x509.load_pem_x509_certificate(out.read_bytes())
        assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
        assert cert.public_key().curve.name == "secp256r1"
        days = (cert.not_valid_after_utc - cert.not_valid_before_utc).total_seconds() / 86400
        assert days <= 14, days
        assert hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest() == s.info["cert_sha256"]
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert "localhost" in san.get_values_for_type(x509.DNSName)
    finally:
        s.stop()
