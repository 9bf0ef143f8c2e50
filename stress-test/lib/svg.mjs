// A tiny SVG writer for benchmark plots (no plotting dependency, nothing
// fetched at run time), the JavaScript twin of stress-test/lib/svg.py.
//
//   barChart({ title, caption, groups, series, values, unit }) -> SVG text
//
// draws grouped horizontal bars: one group per entry of `groups`, one bar per
// entry of `series` inside each group, `values[g][s]` its length (null: no bar).

const PALETTE = ['#3b6ea8', '#d9822b', '#4f9a52', '#b5443c', '#7a5aa6', '#8c6d31'];

export function escapeXml(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]);
}

export function barChart({ title, caption = '', groups, series, values, unit = '' }) {
  const barH = 18, gap = 14, left = 250, right = 90, top = 50, plotW = 460;
  const all = values.flat().filter((v) => v !== null && v !== undefined);
  const vmax = Math.max(1e-9, ...all);
  const height = top + groups.length * (series.length * barH + gap) + 30 + 18 * series.length;
  const width = left + plotW + right;
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="10" y="20" font-size="14" font-weight="bold">${escapeXml(title)}</text>`,
  ];
  if (caption) out.push(`<text x="10" y="38" fill="#555">${escapeXml(caption)}</text>`);
  let y = top;
  groups.forEach((name, g) => {
    out.push(`<text x="${left - 8}" y="${y + (series.length * barH) / 2 + 4}" text-anchor="end">${escapeXml(name)}</text>`);
    series.forEach((_, s) => {
      const v = values[g][s];
      if (v !== null && v !== undefined) {
        const w = Math.max(1, (plotW * v) / vmax);
        out.push(`<rect x="${left}" y="${y}" width="${w.toFixed(1)}" height="${barH - 3}" fill="${PALETTE[s % PALETTE.length]}"/>`);
        out.push(`<text x="${(left + w + 4).toFixed(1)}" y="${y + barH - 6}">${v.toFixed(1)}${escapeXml(unit)}</text>`);
      }
      y += barH;
    });
    y += gap;
  });
  y += 10;
  series.forEach((name, s) => {
    out.push(`<rect x="${left}" y="${y - 10}" width="12" height="12" fill="${PALETTE[s % PALETTE.length]}"/>`);
    out.push(`<text x="${left + 18}" y="${y}">${escapeXml(name)}</text>`);
    y += 18;
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}
