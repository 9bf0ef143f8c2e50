"""A tiny SVG chart writer for the benchmarks (no plotting dependency, nothing fetched at run time).

Written here rather than taken from a library because the benchmark scripts must run offline
in CI-like environments without extra packages; it draws only what the perf notes need:
line/point charts with several series, and grouped bar charts.

    line_chart(path, title, series, xlabel, ylabel, points=False)
        series: [(name, [(x, y), ...]), ...]; y None = gap
    bar_chart(path, title, groups, names, ylabel)
        groups: [(group_label, [value or None per name]), ...]
"""
import html
import math

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]
W, H = 760, 420
L, R, T, B = 70, 180, 40, 50


def _nice_max(v):
    if v <= 0:
        return 1.0
    e = 10 ** math.floor(math.log10(v))
    for m in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if v <= m * e:
            return m * e
    return 10 * e


def _fmt(v):
    if v == 0:
        return "0"
    a = abs(v)
    if a >= 1e6:
        return f"{v / 1e6:g}M"
    if a >= 1e3:
        return f"{v / 1e3:g}k"
    if a >= 1:
        return f"{v:g}"
    return f"{v:.3g}"


def _frame(title, xlabel, ylabel, xmax, ymax, xmin=0.0, xticks=None):
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
           f'font-family="sans-serif" font-size="12">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<text x="{W / 2 - R / 2}" y="22" text-anchor="middle" font-size="14">{html.escape(title)}</text>']
    pw, ph = W - L - R, H - T - B
    for i in range(6):
        y = T + ph - ph * i / 5
        out.append(f'<line x1="{L}" y1="{y:.1f}" x2="{L + pw}" y2="{y:.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{L - 6}" y="{y + 4:.1f}" text-anchor="end">{_fmt(ymax * i / 5)}</text>')
    if xticks is None:
        for i in range(6):
            x = L + pw * i / 5
            out.append(f'<text x="{x:.1f}" y="{T + ph + 16}" text-anchor="middle">{_fmt(xmin + (xmax - xmin) * i / 5)}</text>')
    out.append(f'<rect x="{L}" y="{T}" width="{pw}" height="{ph}" fill="none" stroke="#333"/>')
    out.append(f'<text x="{L + pw / 2}" y="{H - 10}" text-anchor="middle">{html.escape(xlabel)}</text>')
    out.append(f'<text x="16" y="{T + ph / 2}" text-anchor="middle" transform="rotate(-90 16 {T + ph / 2})">'
               f'{html.escape(ylabel)}</text>')
    return out, pw, ph


def _legend(out, names):
    for i, name in enumerate(names):
        y = T + 10 + i * 18
        c = PALETTE[i % len(PALETTE)]
        out.append(f'<rect x="{W - R + 12}" y="{y - 9}" width="12" height="12" fill="{c}"/>')
        out.append(f'<text x="{W - R + 30}" y="{y + 1}">{html.escape(name)}</text>')


def line_chart(path, title, series, xlabel, ylabel, points=False, ymax=None, notes=()):
    xs = [x for _, pts in series for x, y in pts if y is not None]
    ys = [y for _, pts in series for x, y in pts if y is not None]
    xmin = min(xs, default=0.0)
    xmin = min(xmin, 0.0)
    xmax = _nice_max(max(xs, default=1.0))
    ymax = ymax or _nice_max(max(ys, default=1.0))
    out, pw, ph = _frame(title, xlabel, ylabel, xmax, ymax, xmin)

    def px(x):
        return L + pw * (x - xmin) / ((xmax - xmin) or 1)

    def py(y):
        return T + ph - ph * min(y, ymax) / ymax

    for x, label in notes:  # vertical markers (mode boundaries)
        out.append(f'<line x1="{px(x):.1f}" y1="{T}" x2="{px(x):.1f}" y2="{T + ph}" stroke="#aaa" stroke-dasharray="3,3"/>')
        out.append(f'<text x="{px(x) + 3:.1f}" y="{T + 12}" font-size="10" fill="#666">{html.escape(label)}</text>')
    for i, (name, pts) in enumerate(series):
        c = PALETTE[i % len(PALETTE)]
        if points:
            for x, y in pts:
                if y is not None:
                    out.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="2" fill="{c}" fill-opacity="0.7"/>')
            continue
        seg = []
        for x, y in pts + [(None, None)]:
            if y is None:
                if len(seg) > 1:
                    out.append(f'<polyline fill="none" stroke="{c}" stroke-width="1.5" points="{" ".join(seg)}"/>')
                seg = []
            else:
                seg.append(f"{px(x):.1f},{py(y):.1f}")
    _legend(out, [n for n, _ in series])
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def bar_chart(path, title, groups, names, ylabel, ymax=None):
    vals = [v for _, vs in groups for v in vs if v is not None]
    ymax = ymax or _nice_max(max(vals, default=1.0))
    out, pw, ph = _frame(title, "", ylabel, 1, ymax, xticks=[])
    gw = pw / max(len(groups), 1)
    bw = gw * 0.8 / max(len(names), 1)
    for g, (label, vs) in enumerate(groups):
        x0 = L + g * gw + gw * 0.1
        out.append(f'<text x="{L + g * gw + gw / 2:.1f}" y="{T + ph + 16}" text-anchor="middle">{html.escape(label)}</text>')
        for i, v in enumerate(vs):
            if v is None:
                continue
            h = ph * min(v, ymax) / ymax
            out.append(f'<rect x="{x0 + i * bw:.1f}" y="{T + ph - h:.1f}" width="{bw * 0.9:.1f}" height="{h:.1f}" '
                       f'fill="{PALETTE[i % len(PALETTE)]}"><title>{html.escape(names[i])}: {v:g}</title></rect>')
    _legend(out, names)
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")
