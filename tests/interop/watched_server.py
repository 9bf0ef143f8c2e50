"""Our server with its JSON events and logs read continuously, plus /proc readers."""

import json
import os
import threading
import time

from conftest import Server

TICK = os.sysconf("SC_CLK_TCK")


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of the process so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


class Watched(Server):
    """Our server with its stdout (JSON events, `stats` every 200 ms) and
    stderr (log lines) read continuously, so neither pipe can fill up."""

    def __init__(self, *extra):
        super().__init__("--stats-interval", "200", *extra)
        self.stats = []
        self.events = []
        self.log = []
        threading.Thread(target=self._read_out, daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()

    def _read_out(self):
        for line in self.proc.stdout:
            ev = json.loads(line)
            self.events.append(ev.get("event"))
            if ev.get("event") in ("stats", "stopped"):
                self.stats.append(ev["stats"])

    def _read_err(self):
        for line in self.proc.stderr:
            self.log.append(line)

    def latest(self, timeout=2.0):
        n = len(self.stats)
        deadline = time.monotonic() + timeout
        while len(self.stats) == n and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.stats[-1]
