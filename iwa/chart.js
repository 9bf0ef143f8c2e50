// A small rate chart drawn on a <canvas>: the last 60 one-second samples of
// two series (in and out), a scale that follows the largest value, and an
// aria-label that states the current values for screen readers. No library:
// two polylines and a few labels are all the demo needs (docs/IWA_APP.md).

export const WINDOW_SECONDS = 60;

/** Formats a rate: 1234 -> "1.2 k". */
export function formatRate(v) {
  if (!Number.isFinite(v)) return '0';
  const units = ['', ' k', ' M', ' G'];
  let i = 0;
  while (Math.abs(v) >= 1000 && i < units.length - 1) { v /= 1000; i++; }
  if (i === 0) return Math.abs(v) < 10 && !Number.isInteger(v) ? v.toFixed(1) : Math.round(v).toString();
  return v.toFixed(1) + units[i];
}

export class RateChart {
  /**
   * @param {HTMLCanvasElement} canvas
   * @param {{ title: string, unit: string }} opts
   */
  constructor(canvas, { title, unit }) {
    this.canvas = canvas;
    this.title = title;
    this.unit = unit;
    this.inSeries = [];
    this.outSeries = [];
    canvas.setAttribute('role', 'img');
    this.draw();
  }

  /** Adds one sample (per-second rates) and redraws. */
  push(inRate, outRate) {
    this.inSeries.push(Math.max(0, inRate));
    this.outSeries.push(Math.max(0, outRate));
    if (this.inSeries.length > WINDOW_SECONDS) { this.inSeries.shift(); this.outSeries.shift(); }
    this.draw();
  }

  draw() {
    const c = this.canvas;
    const dpr = globalThis.devicePixelRatio || 1;
    const w = c.clientWidth || 300;
    const h = c.clientHeight || 120;
    if (c.width !== Math.round(w * dpr) || c.height !== Math.round(h * dpr)) {
      c.width = Math.round(w * dpr);
      c.height = Math.round(h * dpr);
    }
    const g = c.getContext('2d');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);
    const css = getComputedStyle(c);
    const fg = css.color || '#222';
    const inColor = css.getPropertyValue('--chart-in').trim() || '#1565c0';
    const outColor = css.getPropertyValue('--chart-out').trim() || '#c62828';
    const pad = { l: 44, r: 8, t: 18, b: 16 };
    const max = Math.max(1, ...this.inSeries, ...this.outSeries);
    g.font = '11px system-ui, sans-serif';
    g.fillStyle = fg;
    g.strokeStyle = 'rgba(128,128,128,0.35)';
    g.lineWidth = 1;
    for (let i = 0; i <= 2; i++) {
      const y = pad.t + ((h - pad.t - pad.b) * i) / 2;
      g.beginPath(); g.moveTo(pad.l, y); g.lineTo(w - pad.r, y); g.stroke();
      g.fillText(formatRate((max * (2 - i)) / 2), 2, y + 4);
    }
    g.fillText(`${this.title} (${this.unit}/s), last ${WINDOW_SECONDS} s`, pad.l, 12);
    g.fillText(`-${WINDOW_SECONDS}s`, pad.l, h - 3);
    g.fillText('now', w - pad.r - 20, h - 3);
    const plot = (series, color) => {
      if (!series.length) return;
      g.strokeStyle = color;
      g.lineWidth = 2;
      g.beginPath();
      const n = WINDOW_SECONDS - 1;
      const offset = WINDOW_SECONDS - series.length;
      series.forEach((v, i) => {
        const x = pad.l + ((w - pad.l - pad.r) * (i + offset)) / n;
        const y = pad.t + (h - pad.t - pad.b) * (1 - v / max);
        if (i === 0) g.moveTo(x, y); else g.lineTo(x, y);
      });
      g.stroke();
    };
    plot(this.inSeries, inColor);
    plot(this.outSeries, outColor);
    const last = (s) => (s.length ? s[s.length - 1] : 0);
    this.canvas.setAttribute('aria-label',
      `${this.title}: in ${formatRate(last(this.inSeries))} ${this.unit}/s, out ${formatRate(last(this.outSeries))} ${this.unit}/s (blue in, red out)`);
  }
}
