#!/usr/bin/env python3
"""A Chromium CPU profile (.cpuprofile, from CDP Profiler.stop) -> folded stacks -> flamegraph SVG.

  python3 stress-test/flood/flamegraph.py PROFILE.cpuprofile OUT.svg [--title T] [--folded OUT.folded]

Written here (about 100 lines) instead of taken from a package: Brendan Gregg's flamegraph.pl is
not in Debian bookworm's main archive as a library we can call on a .cpuprofile, and the npm/PyPI
converters we could find either fetch at run time or need a browser; a folded-stacks file is also
written so any standard flamegraph tool can redraw it. Frames are "function (file:line)"; wasm
frames keep their wasm function names ("$name" or "wasm-function[N]"). Width = samples (each
sample is one Profiler sampling interval; "(idle)" is left out of the picture by default, its share
given in the title; "(program)" is the renderer's own native work outside JavaScript and wasm).
"""
import argparse
import html
import json
import os
import zlib
from collections import defaultdict

W = 1200
ROW = 16


def frame_name(cf):
    fn = cf.get("functionName") or "(anonymous)"
    url = cf.get("url") or ""
    if url:
        fn += f" ({os.path.basename(url.split('?')[0])}:{cf.get('lineNumber', -1) + 1})"
    return fn


def folded(profile):
    nodes = {n["id"]: n for n in profile["nodes"]}
    parent = {}
    for n in profile["nodes"]:
        for c in n.get("children", []):
            parent[c] = n["id"]
    counts = defaultdict(int)
    for s in profile.get("samples", []):
        counts[s] += 1
    if not counts:  # older profiles: hitCount only
        for n in profile["nodes"]:
            if n.get("hitCount"):
                counts[n["id"]] = n["hitCount"]
    stacks = defaultdict(int)
    for nid, c in counts.items():
        path = []
        x = nid
        while x in nodes:
            name = frame_name(nodes[x]["callFrame"])
            if name.startswith("(root)"):
                break
            path.append(name)
            x = parent.get(x)
        stacks[";".join(reversed(path)) or "(root)"] += c
    return stacks


def color(name):
    h = zlib.crc32(name.encode()) & 0xFFFF
    if name.startswith("(idle)") or name.startswith("(program)") or name.startswith("(garbage"):
        return "#c8c8c8"
    if "wasm" in name or name.startswith("$"):
        return f"rgb({200 + h % 55},{90 + h % 70},{40 + (h >> 8) % 40})"
    return f"rgb({230 + h % 25},{150 + h % 80},{40 + (h >> 8) % 50})"


def to_svg(stacks, path, title):
    tree = {"n": 0, "c": {}}
    for st, c in stacks.items():
        node = tree
        node["n"] += c
        for fr in st.split(";"):
            node = node["c"].setdefault(fr, {"n": 0, "c": {}})
            node["n"] += c
    total = tree["n"] or 1
    rects = []
    depth_max = [0]

    def walk(node, x, depth):
        for name, ch in sorted(node["c"].items(), key=lambda kv: -kv[1]["n"]):
            w = (W - 20) * ch["n"] / total
            if w >= 0.5:
                rects.append((x, depth, w, name, ch["n"]))
                depth_max[0] = max(depth_max[0], depth)
                walk(ch, x, depth + 1)
            x += w

    walk(tree, 10.0, 0)
    height = (depth_max[0] + 1) * ROW + 60
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{height}" font-family="monospace" font-size="11">',
           f'<rect width="{W}" height="{height}" fill="#fdfdf6"/>',
           f'<text x="{W / 2}" y="20" text-anchor="middle" font-size="14" font-family="sans-serif">{html.escape(title)} '
           f'({total} samples)</text>']
    for x, d, w, name, n in rects:
        y = height - 20 - (d + 1) * ROW
        label = f"{name} ({100 * n / total:.1f}%)"
        out.append(f'<g><title>{html.escape(label)}</title><rect x="{x:.1f}" y="{y}" width="{max(w - 0.3, 0.2):.1f}" '
                   f'height="{ROW - 1}" fill="{color(name)}"/>')
        chars = int(w / 6.6)
        if chars >= 4:
            t = label if len(label) <= chars else label[:chars - 2] + ".."
            out.append(f'<text x="{x + 2:.1f}" y="{y + ROW - 4}">{html.escape(t)}</text>')
        out.append("</g>")
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def profile_to_svg(profile_path, svg_path, title, folded_path=None, drop_idle=True):
    """Writes the flamegraph (without "(idle)" when drop_idle: its share goes into the title) and
    the folded stacks (all of them); returns the stacks."""
    with open(profile_path) as f:
        stacks = folded(json.load(f))
    if folded_path:
        with open(folded_path, "w") as f:
            for st, c in sorted(stacks.items()):
                f.write(f"{st} {c}\n")
    shown = stacks
    if drop_idle:
        total = sum(stacks.values()) or 1
        idle = stacks.get("(idle)", 0)
        shown = {k: v for k, v in stacks.items() if k != "(idle)"}
        title = f"{title}; idle {100 * idle / total:.0f}% left out"
    to_svg(shown, svg_path, title)
    return stacks


def top_self(stacks, n=15):
    """The frames with the most self samples: [(frame, samples, share)]."""
    selfc = defaultdict(int)
    for st, c in stacks.items():
        selfc[st.rsplit(";", 1)[-1]] += c
    total = sum(selfc.values()) or 1
    return [(k, v, round(v / total, 4)) for k, v in sorted(selfc.items(), key=lambda kv: -kv[1])[:n]]


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("profile")
    ap.add_argument("svg")
    ap.add_argument("--title", default="CPU profile")
    ap.add_argument("--folded")
    ap.add_argument("--keep-idle", action="store_true", help="draw the (idle) samples too")
    a = ap.parse_args()
    st = profile_to_svg(a.profile, a.svg, a.title, a.folded, drop_idle=not a.keep_idle)
    for k, v, s in top_self(st):
        print(f"{100 * s:5.1f}%  {v:6d}  {k}")
