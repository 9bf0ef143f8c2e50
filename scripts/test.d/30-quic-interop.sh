#!/usr/bin/env bash
# pytest: every tests/interop/test_*.py (rootdir and options in tests/interop/pytest.ini, fixtures in
# tests/interop/conftest.py, peers and helpers beside them), our native binaries and the wasm server against
# independent implementations, all on loopback:
#   aioquic vs our QUIC server/client   test_quic_interop, test_session_ticket, test_0rtt_replay,
#                                       test_ticket_nonce, test_migration, test_stream_limits, test_retry,
#                                       test_floods, test_budgets, test_bad_input, test_certificates,
#                                       test_verification, test_quic_versions, test_server_monitoring,
#                                       test_cipher_suites (which order decides; also our wasm client under Node)
#   flood benchmark smoke               test_flood_smoke (stress-test/flood/run.py --quick, garbage, native)
#   HTTP/3 / WebTransport               test_h3_server, test_h3_client, test_h3_rust_sessions, test_h3_static
#                                       (aioquic's H3 client/server), test_h3_chromium (Chromium 156's
#                                       WebTransport and fetch, tests/interop/h3_chromium*.mjs)
#   wasm server under Node 26           test_wasm_server, and the wasm cases (Server(kind="wasm-node")) of
#                                       test_migration, test_stream_limits, test_h3_server, test_h3_rust_sessions,
#                                       test_h3_static, test_h3_chromium, test_handshake_cost
#   interop runner matrix               test_interop_matrix (tests/interop/matrix.py; aioquic and quinn,
#                                       tests/peers/quinn-peer; loss, corruption and a blackhole too)
#   the matrix vs the wasm server       test_interop_matrix_wasm (server-role cells, wasm server under Node 26)
#   Stateless Reset across a restart    test_stateless_reset (quinn's client and server, both roles)
#   handshake cost                      test_handshake_cost (Debian's C ngtcp2 client, callgrind)
#   batched UDP (GSO/GRO) on and off    test_udp_batching (our client and Debian's C ngtcp2 client)
#   JavaScript HTTP/3 server            test_js_h3_server, test_js_h3_storage (SocketIWA.createHttp3Server under Node 26, the app in
#                                       tests/js_servers/, aioquic's H3 client), test_js_h3_websocket (its
#                                       on('websocket'): aioquic + wsproto, Chromium 156's WebSocket over HTTP/3)
#                                       test_js_wt_server (its 'webtransport' sessions, aioquic's WebTransport client)
#                                       test_js_quic_server (SocketIWA.createQuicServer: raw QUIC, custom ALPN, aioquic)
#                                       test_js_quic_client (SocketIWA.createQuic: raw QUIC client, 0-RTT, pins/CA, aioquic and our server)
#                                       test_js_relay_app (issue 10's relay app, tests/js_servers/relay_app.js, the
#                                       file the IWA test runs: aioquic GET/POST/WebTransport/WebSocket, Chromium
#                                       156's WebTransport between two pages and fetch(), h3_chromium_relay.mjs)
# Needs the release binaries (built here) and the wasm build from 20-wasm-link.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release --bins
timeout 900 python3 -m pytest -q tests/interop
