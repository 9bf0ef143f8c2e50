"""A tiny SVG writer for benchmark plots (no plotting dependency, nothing fetched
at run time). Shared by the stress-test/ benchmarks.

    bar_chart(path, title, groups, series, values, unit)

draws grouped horizontal bars: one group per entry of `groups`, one bar per
entry of `series` inside each group, `values[g][s]` its length (None: no bar).
"""

from xml.sax.saxutils import escape

PALETTE = ["#3b6ea8", "#d9822b", "#4f9a52", "#b5443c", "#7a5aa6", "#8c6d31"]


def bar_chart(path, title, groups, series, values, unit="", caption=""):
    bar_h, gap, left, right, top = 18, 14, 250, 90, 50
    vmax = max([v for row in values for v in row if v is not None] or [1]) or 1
    plot_w = 460
    height = top + len(groups) * (len(series) * bar_h + gap) + 30 + 18 * len(series)
    width = left + plot_w + right
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="10" y="20" font-size="14" font-weight="bold">{escape(title)}</text>']
    if caption:
        out.append(f'<text x="10" y="38" fill="#555">{escape(caption)}</text>')
    y = top
    for g, name in enumerate(groups):
        out.append(f'<text x="{left - 8}" y="{y + len(series) * bar_h / 2 + 4}" text-anchor="end">{escape(name)}</text>')
        for s in range(len(series)):
            v = values[g][s]
            if v is not None:
                w = max(1.0, plot_w * v / vmax)
                out.append(f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{bar_h - 3}" fill="{PALETTE[s % len(PALETTE)]}"/>')
                out.append(f'<text x="{left + w + 4:.1f}" y="{y + bar_h - 6}">{v:.1f}{escape(unit)}</text>')
            y += bar_h
        y += gap
    y += 10
    for s, name in enumerate(series):
        out.append(f'<rect x="{left}" y="{y - 10}" width="12" height="12" fill="{PALETTE[s % len(PALETTE)]}"/>')
        out.append(f'<text x="{left + 18}" y="{y}">{escape(name)}</text>')
        y += 18
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")
