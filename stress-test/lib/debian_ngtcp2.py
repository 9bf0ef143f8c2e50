"""Debian's C ngtcp2 example programs (gtlsserver/gtlsclient: ngtcp2 + GnuTLS), the C
peers of stress-test/bench_handshake.py and bench_native_h3.py."""

import os
import shutil
import subprocess
import sys


def ensure_debian_ngtcp2(who):
    """Installs ngtcp2-server/ngtcp2-client when gtlsserver/gtlsclient are missing (as root), else exits naming the command."""
    if shutil.which("gtlsserver") and shutil.which("gtlsclient"):
        return
    if os.geteuid() != 0:
        sys.exit(f"{who}: gtlsserver/gtlsclient missing; run: apt-get install -y ngtcp2-server ngtcp2-client")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", "ngtcp2-server", "ngtcp2-client"],
                   check=True, env=env, stdout=subprocess.DEVNULL)
