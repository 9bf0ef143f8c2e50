"""The interop matrix's server-role cells (tests/interop/matrix.py) against our server
built for wasm32 and run under Node 26 on the Direct Sockets bridge (node/): the same
Rust code as the native server, through the bridge's sockets (GSO/GRO via node:ffi,
JSPI), met by aioquic's and quinn's clients. The table goes to
.test-output/interop-matrix-wasm.md; docs/INTEROP.md says what each case checks."""

import os

import pytest

import matrix
from conftest import ROOT, WASM_DIR

RESULTS = []


@pytest.fixture(scope="module", autouse=True)
def wasm_server(request):
    if not os.access(matrix.QUINN_PEER, os.X_OK):
        pytest.fail(f"{matrix.QUINN_PEER} is missing: scripts/setup.sh builds it")
    if not os.path.exists(os.path.join(WASM_DIR, "socket_iwa_server.wasm")):
        pytest.fail("the wasm server is missing: cargo build --release --target wasm32-unknown-emscripten --bins")
    matrix.our_server_kind = "wasm"
    yield
    matrix.our_server_kind = "native"
    if RESULTS:
        out = os.path.join(ROOT, ".test-output")
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, "interop-matrix-wasm.md"), "w") as f:
            f.write(matrix.markdown(RESULTS) + "\n")


@pytest.mark.parametrize("peer", list(matrix.PEERS))
@pytest.mark.parametrize("case", matrix.CASES)
def test_cell(case, peer):
    r = matrix.run_cell(case, "server", peer)
    RESULTS.append(r)
    assert r["status"] in ("pass", "n/a"), f"{case}, our wasm server with {peer}: {r['detail']}"
    if r["status"] == "n/a":
        # quinn's missing QUIC v2, and what the platform lacks: ECN (the bridge cannot read
        # or set the TOS byte, which the cell checks: no datagram of ours marked) and the
        # local address of each datagram, without which --preferred-address is refused.
        assert (peer == "quinn" and case in ("v2", "v2-direct")) or case in ("ecn", "connectionmigration"), f"unexpected n/a: {r['detail']}"
