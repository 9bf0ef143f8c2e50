"""aioquic's HTTP/3 client against the relay app (tests/js_servers/relay_app.js): GET/POST,
WebTransport relay between two aioquic sessions, WebSocket over HTTP/3 (RFC 9220).
Imported by tests/interop/test_js_relay_app.py (the app under Node); run as a program by
tests/iwa/relay_app_iwa.test.mjs (the app in an IWA page or worker):

    python3 tests/interop/relay_peers.py PORT [http] [wt] [ws] [get]
    python3 tests/interop/relay_peers.py PORT hold LINE...    (see hold())

prints one JSON object with what each check saw (the tests assert on it)."""

import asyncio
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from h3_peers import STEP, h3_connect  # noqa: E402


async def get_hello(port: int, name: str = "py") -> list:
    async with h3_connect("127.0.0.1", port) as c:
        st, body = await c.request("GET", f"/hello?name={name}")
        return [st, body.decode()]


async def http_checks(port: int, sum_bytes: int = 1 << 20) -> dict:
    """GET /hello?name=py, POST /sum with `sum_bytes` bytes, and a 404, on one connection."""
    async with h3_connect("127.0.0.1", port) as c:
        out = {}
        st, body = await c.request("GET", "/hello?name=py")
        out["hello"] = [st, body.decode()]
        st, body = await c.request("POST", "/sum", body=bytes(i % 251 for i in range(sum_bytes)))
        out["sum"] = [st, json.loads(body) if st == 200 else body.decode()]
        st, body = await c.request("POST", "/sum", body=b"x" * 5)
        out["sum_small"] = [st, json.loads(body) if st == 200 else body.decode()]
        st, _ = await c.request("GET", "/nope")
        out["missing"] = st
        return out


async def wt_session(c, path: str = "/relay") -> int:
    sess, st = await c.connect_protocol("webtransport", path)
    assert st == 200, f"CONNECT {path}: {st}"
    return sess


async def wt_send(c, sess: int, lines) -> list:
    """One bidi stream: the lines, FIN; returns the answer's lines."""
    sid = c.wt_bidi(sess)
    c._quic.send_stream_data(sid, "".join(f"{l}\n" for l in lines).encode(), end_stream=True)
    c.transmit()
    await c.wait_for(lambda: c.stream(sid).ended.done(), f"answer on stream {sid}", STEP)
    return bytes(c.stream(sid).data).decode().split("\n")[:-1]


async def wait_datagrams(c, expected, timeout: float = 5.0) -> list:
    def have():
        got = [d.decode() for _, d in c.datagrams]
        return all(e in got for e in expected)
    try:
        await c.wait_for(have, "datagrams", timeout)
    except AssertionError:
        pass  # reported below; the test asserts on what arrived
    return [d.decode() for _, d in c.datagrams]


async def wt_relay(port: int) -> dict:
    """Two aioquic connections, one session each: each joins (line upper-cased), then each writes
    lines the other must receive as datagrams (and not itself)."""
    async with h3_connect("127.0.0.1", port) as c1, h3_connect("127.0.0.1", port) as c2:
        s1, s2 = await wt_session(c1), await wt_session(c2)
        out = {"joins": [await wt_send(c1, s1, ["join py1"]), await wt_send(c2, s2, ["join py2"])]}
        m1 = ["py1 says hello", "py1: second line on the same stream"]
        m2 = ["py2 says hi"]
        out["answers"] = [await wt_send(c1, s1, m1), await wt_send(c2, s2, m2)]
        out["sent"] = [m1, m2]
        out["datagrams"] = [await wait_datagrams(c1, m2), await wait_datagrams(c2, m1)]
        return out


async def hold(port: int, expected) -> dict:
    """One aioquic session that joins, prints {"joined": true} (the caller then makes its other
    clients write `expected`), waits for `expected` as datagrams, then writes a line of its own."""
    async with h3_connect("127.0.0.1", port) as c:
        s = await wt_session(c)
        out = {"join": await wt_send(c, s, ["join py-hold"])}
        print(json.dumps({"joined": True}), flush=True)
        out["datagrams"] = await wait_datagrams(c, expected, 20.0)
        out["answer"] = await wt_send(c, s, ["py-hold says hi"])
        return out


async def ws_reverse(port: int) -> dict:
    from test_js_h3_websocket import Ws  # aioquic + wsproto framing (RFC 9220)
    async with h3_connect("127.0.0.1", port) as c:
        ws, st, _ = await Ws.open(c, "/reverse")
        ws.send("stressed")
        ws.send("héllo wörld")
        msgs = await ws.wait(2)
        return {"status": st, "messages": [m[1] for m in msgs]}


async def main(port: int, what) -> dict:
    out = {}
    if "get" in what:
        out["get"] = await get_hello(port)
    if "http" in what:
        out["http"] = await http_checks(port)
    if "wt" in what:
        out["wt"] = await wt_relay(port)
    if "ws" in what:
        out["ws"] = await ws_reverse(port)
    return out


if __name__ == "__main__":
    port = int(sys.argv[1])
    if sys.argv[2:3] == ["hold"]:
        print(json.dumps(asyncio.run(asyncio.wait_for(hold(port, sys.argv[3:]), 60)), ensure_ascii=False))
        sys.exit(0)
    what = sys.argv[2:] or ["http", "wt", "ws"]
    print(json.dumps(asyncio.run(asyncio.wait_for(main(port, what), 90)), ensure_ascii=False))
