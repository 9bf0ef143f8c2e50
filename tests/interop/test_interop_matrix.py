"""The interop matrix (tests/interop/matrix.py): every QUIC interop runner case
in both roles against aioquic and quinn. Each cell is one test; a cell passes
only on evidence of its property (see docs/INTEROP.md). The whole matrix is
printed at the end and written to .test-output/interop-matrix.md."""

import os

import pytest

import matrix
from conftest import ROOT

RESULTS = []


@pytest.fixture(scope="module", autouse=True)
def print_matrix(request):
    if not os.access(matrix.QUINN_PEER, os.X_OK):
        pytest.fail(f"{matrix.QUINN_PEER} is missing: scripts/setup.sh builds it "
                    "(cargo build --release --manifest-path tests/peers/quinn-peer/Cargo.toml)")
    yield
    if RESULTS:
        table = matrix.markdown(RESULTS)
        out = os.path.join(ROOT, ".test-output")
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, "interop-matrix.md"), "w") as f:
            f.write(table + "\n")
        capman = request.config.pluginmanager.getplugin("capturemanager")
        with capman.global_and_fixture_disabled():
            print("\n" + table)


NOT_APPLICABLE = {(role, "quinn", c) for role in ("server", "client") for c in ("v2", "v2-direct")} | {
    ("server", "aioquic", "ecn"), ("client", "aioquic", "ecn"),
    ("server", "quinn", "connectionmigration"), ("client", "aioquic", "connectionmigration")}


@pytest.mark.parametrize("peer", list(matrix.PEERS))
@pytest.mark.parametrize("role", matrix.ROLES)
@pytest.mark.parametrize("case", matrix.CASES)
def test_cell(case, role, peer):
    r = matrix.run_cell(case, role, peer)
    RESULTS.append(r)
    assert r["status"] in ("pass", "n/a"), f"{case}, our {role} with {peer}: {r['detail']}"
    if r["status"] == "n/a":
        # Only a peer's own missing feature may be n/a, never ours: quinn's QUIC v2,
        # aioquic's ECN (the cell still checks that our side stopped marking for it),
        # quinn's client not moving to a preferred address and aioquic's server not offering one.
        assert (role, peer, case) in NOT_APPLICABLE, f"unexpected n/a: {r['detail']}"


def test_relay_classifies_long_headers():
    """The relay's packet classification, on hand-made headers (RFC 9000 17.2, RFC 9369 3.2)."""
    from udp_relay import V1, V2, classify
    assert classify(bytes([0xC0]) + V1.to_bytes(4, "big")) == ("initial", V1)
    assert classify(bytes([0xF0]) + V1.to_bytes(4, "big")) == ("retry", V1)
    assert classify(bytes([0xD0]) + V2.to_bytes(4, "big")) == ("initial", V2)
    assert classify(bytes([0xC0]) + V2.to_bytes(4, "big")) == ("retry", V2)
    assert classify(bytes([0xE0]) + V2.to_bytes(4, "big")) == ("0rtt", V2)
    assert classify(bytes([0x40, 1, 2])) == ("1rtt", None)
    assert classify(bytes([0x80, 0, 0, 0, 0])) == ("version_negotiation", 0)


def test_relay_walks_coalesced_packets():
    """Initial + Handshake coalesced in one datagram (RFC 9000 12.2) are both counted."""
    from udp_relay import V1, classify_all
    initial = bytes([0xC0]) + V1.to_bytes(4, "big") + bytes([1, 0xAA, 1, 0xBB, 0, 3]) + b"abc"
    handshake = bytes([0xE0]) + V1.to_bytes(4, "big") + bytes([1, 0xAA, 0, 2]) + b"xy"
    assert classify_all(initial + handshake + b"\x40short") == [("initial", V1), ("handshake", V1), ("1rtt", None)]
