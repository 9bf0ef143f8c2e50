#!/usr/bin/env bash
# aioquic (independent implementation) against our server and our client, the
# session-ticket / 0-RTT test, and bad-input tests. Needs the release binaries
# from 10-rust.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release --bins
timeout 900 python3 -m pytest -q tests
