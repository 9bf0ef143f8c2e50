"""A JavaScript server app under Node 26 (tests/js_servers/*.mjs) driven the way
the test_js_* files drive it: one JSON event per stdout line, commands on stdin.
Shared by test_js_h3_server, test_js_h3_websocket, test_js_wt_server and
test_js_h3_storage."""

import json
import os
import subprocess
import time

import pytest

from conftest import NODE26, WASM_DIR


class JsApp:
    """Starts `script` with `args` and waits for one of `ready` (default 'listening').

    `event()` returns the next event with one of the given names; the others are
    kept, in order, in `self.seen`. With `reuse_seen`, an event kept earlier that
    matches is returned first (for tests whose events may arrive in either order)."""

    reuse_seen = False

    def __init__(self, script, *args, env=None, ready=("listening",)):
        if not os.path.exists(os.path.join(WASM_DIR, "socket_iwa_server.wasm")):
            pytest.fail("the wasm server is missing: cargo build --release --target wasm32-unknown-emscripten --bins")
        self.seen = []
        self.proc = subprocess.Popen([NODE26, script, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=env)
        self.info = self.event(*ready)
        self.port = self.info.get("port")

    def event(self, *names, pred=lambda ev: True, timeout=None):
        if self.reuse_seen:
            for i, ev in enumerate(self.seen):
                if ev["event"] in names and pred(ev):
                    return self.seen.pop(i)
        deadline = None if timeout is None else time.monotonic() + timeout
        while deadline is None or time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise AssertionError(f"app ended before {names}: {self.proc.stderr.read()}")
            ev = json.loads(line)
            if ev["event"] in names and pred(ev):
                return ev
            self.seen.append(ev)
        raise AssertionError(f"no {names} event; seen {self.seen}")

    def send(self, cmd):
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()

    def command(self, cmd, reply):
        self.send(cmd)
        return self.event(reply)

    def close(self):
        """Asks the app to close its server (it prints 'closed' when done)."""
        if self.proc.poll() is None:
            self.send("close")

    def events_until_closed(self):
        """Closes the server; returns every event it printed (after the ready one)."""
        self.send("close")
        self.event("closed")
        assert self.proc.wait(30) == 0
        return self.seen

    def cpu_seconds(self) -> float:
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
