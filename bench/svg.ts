// A dependency-free SVG line chart for bench/charts/: time against scale, log axes where the
// values span decades, every measured point marked, the legend under the plot. Self-contained
// (white background, generic fonts) so that GitHub's markdown shows it the same in light and
// dark mode.
import type { ChartSpec } from './common.js';

const PALETTE = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#000000'];
const W = 760, PLOT_H = 330, LEFT = 78, RIGHT = 24, TOP0 = 64, AXIS = 52, LEGEND_LINE = 20;

const esc = (s: string) => s.replace(/`/g, '').replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const num = (x: number) => (Math.round(x * 10) / 10).toString();

/** Splits a line at '; ' (else at spaces) into lines of at most `max` characters. */
function wrap(text: string, max: number): string[] {
  if (!text) return [];
  const lines: string[] = [];
  let cur = '';
  for (const part of text.split(/(?<=;) /)) {
    if (cur && cur.length + 1 + part.length > max) { lines.push(cur); cur = part; } else cur = cur ? `${cur} ${part}` : part;
  }
  if (cur) lines.push(cur);
  return lines;
}

/** A scale label: 1k, 20k, 1M. */
export function shortCount(v: number): string {
  const t = (x: number, s: string) => `${Number(x.toPrecision(3))}${s}`;
  if (v >= 1e6) return t(v / 1e6, 'M');
  if (v >= 1e3) return t(v / 1e3, 'k');
  return t(v, '');
}

/** A time label from milliseconds: 50 µs, 2 ms, 1.5 s. */
export function shortTime(ms: number): string {
  const t = (x: number, s: string) => `${Number(x.toPrecision(3))} ${s}`;
  if (ms >= 1000) return t(ms / 1000, 's');
  if (ms >= 1) return t(ms, 'ms');
  if (ms >= 0.001) return t(ms * 1000, 'µs');
  return t(ms * 1e6, 'ns');
}

interface Axis {
  log: boolean;
  lo: number;
  hi: number;
  ticks: number[];
}

const isDecade = (v: number) => Math.abs(Math.log10(v) - Math.round(Math.log10(v))) < 1e-9;

function axis(values: number[]): Axis {
  let lo = Math.min(...values), hi = Math.max(...values);
  if (!(lo > 0) || hi / lo < 8) {
    // linear from 0, nice steps
    lo = 0;
    const raw = (hi || 1) / 5;
    const mag = 10 ** Math.floor(Math.log10(raw));
    const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
    hi = Math.ceil((hi || 1) / step) * step;
    const ticks: number[] = [];
    for (let v = 0; v <= hi + step / 2; v += step) ticks.push(v);
    return { log: false, lo, hi, ticks };
  }
  // log: the ends on the 1-2-5 sequence around the data, ticks on it too where few decades
  const nice: number[] = [];
  for (let d = Math.floor(Math.log10(lo)) - 1; d <= Math.ceil(Math.log10(hi)); d++) for (const m of [1, 2, 5]) nice.push(m * 10 ** d);
  lo = nice.filter((v) => v <= lo * (1 + 1e-9)).pop()!;
  hi = nice.find((v) => v >= hi * (1 - 1e-9))!;
  const few = Math.log10(hi / lo) <= 3.5;
  const ticks = nice.filter((v) => v >= lo && v <= hi && (few || isDecade(v) || v === lo || v === hi));
  return { log: true, lo, hi, ticks };
}

const pos = (a: Axis, v: number) => (a.log ? (Math.log10(v) - Math.log10(a.lo)) / (Math.log10(a.hi) - Math.log10(a.lo)) : (v - a.lo) / (a.hi - a.lo));

export function lineChart(spec: ChartSpec): string {
  const series = spec.series.filter((s) => s.points.length > 0 || s.capped);
  const xs = series.flatMap((s) => [...s.points.map((p) => p[0]), ...(s.capped ? [s.capped[0]] : [])]);
  const ys = series.flatMap((s) => [...s.points.map((p) => p[1]), ...(s.capped ? [s.capped[1]] : [])]);
  const plotW = W - LEFT - RIGHT;
  const subtitle = wrap(spec.subtitle ?? '', 95);
  const TOP = TOP0 + Math.max(0, subtitle.length - 1) * 17;
  const height = TOP + PLOT_H + AXIS + 12 + series.length * LEGEND_LINE + 8;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" viewBox="0 0 ${W} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="13">`);
  out.push(`<title>${esc(spec.title)}</title>`);
  out.push(`<rect width="${W}" height="${height}" fill="#ffffff"/>`);
  out.push(`<text x="${LEFT}" y="24" font-size="16" font-weight="bold" fill="#222">${esc(spec.title)}</text>`);
  subtitle.forEach((line, i) => out.push(`<text x="${LEFT}" y="${44 + i * 17}" fill="#555">${esc(line)}</text>`));
  if (!xs.length) {
    out.push(`<text x="${LEFT}" y="${TOP + 40}" fill="#555">no measurements in this run</text></svg>`);
    return out.join('\n') + '\n';
  }
  const ax = axis(xs), ay = axis(ys);
  const X = (v: number) => LEFT + pos(ax, v) * plotW;
  const Y = (v: number) => TOP + (1 - pos(ay, v)) * PLOT_H;

  // grid and tick labels
  for (const t of ay.ticks) {
    const major = !ay.log || isDecade(t);
    out.push(`<line x1="${LEFT}" x2="${LEFT + plotW}" y1="${num(Y(t))}" y2="${num(Y(t))}" stroke="${major ? '#ccc' : '#eee'}"/>`);
    out.push(`<text x="${LEFT - 6}" y="${num(Y(t) + 4)}" text-anchor="end" fill="#333">${esc(shortTime(t))}</text>`);
  }
  for (const t of ax.ticks) {
    const major = !ax.log || isDecade(t);
    out.push(`<line x1="${num(X(t))}" x2="${num(X(t))}" y1="${TOP}" y2="${TOP + PLOT_H}" stroke="${major ? '#ccc' : '#eee'}"/>`);
    out.push(`<text x="${num(X(t))}" y="${TOP + PLOT_H + 18}" text-anchor="middle" fill="#333">${esc(shortCount(t))}</text>`);
  }
  out.push(`<rect x="${LEFT}" y="${TOP}" width="${plotW}" height="${PLOT_H}" fill="none" stroke="#888"/>`);
  out.push(`<text x="${LEFT + plotW / 2}" y="${TOP + PLOT_H + 40}" text-anchor="middle" fill="#222">${esc(spec.xLabel)}${ax.log ? ' (log scale)' : ''}</text>`);
  out.push(`<text transform="translate(18 ${TOP + PLOT_H / 2}) rotate(-90)" text-anchor="middle" fill="#222">${esc(spec.yLabel)}${ay.log ? ' (log scale)' : ''}</text>`);

  series.forEach((s, i) => {
    const color = PALETTE[i % PALETTE.length]!;
    const pts = [...s.points].sort((a, b) => a[0] - b[0]);
    const dash = s.dashed ? ' stroke-dasharray="7 5"' : '';
    if (pts.length > 1) out.push(`<polyline fill="none" stroke="${color}" stroke-width="2.2"${dash} points="${pts.map(([x, y]) => `${num(X(x))},${num(Y(y))}`).join(' ')}"/>`);
    for (const [x, y] of pts) {
      out.push(`<circle cx="${num(X(x))}" cy="${num(Y(y))}" r="4" fill="${color}"><title>${esc(`${s.name}: ${shortCount(x)} → ${shortTime(y)}`)}</title></circle>`);
    }
    if (s.capped) {
      const [cx, cy] = s.capped;
      const last = pts[pts.length - 1];
      if (last) out.push(`<line x1="${num(X(last[0]))}" y1="${num(Y(last[1]))}" x2="${num(X(cx))}" y2="${num(Y(cy))}" stroke="${color}" stroke-width="1.5" stroke-dasharray="2 4"/>`);
      out.push(`<circle cx="${num(X(cx))}" cy="${num(Y(cy))}" r="5" fill="#fff" stroke="${color}" stroke-width="2"><title>${esc(`${s.name}: ${shortCount(cx)} did not finish within ${shortTime(cy)}`)}</title></circle>`);
      out.push(`<text x="${num(X(cx) - 8)}" y="${num(Y(cy) - 8)}" text-anchor="end" fill="${color}">&gt; ${esc(shortTime(cy))} (cap)</text>`);
    }
    const ly = TOP + PLOT_H + AXIS + 12 + i * LEGEND_LINE;
    out.push(`<line x1="${LEFT}" x2="${LEFT + 34}" y1="${ly}" y2="${ly}" stroke="${color}" stroke-width="2.2"${dash}/>`);
    out.push(`<circle cx="${LEFT + 17}" cy="${ly}" r="4" fill="${color}"/>`);
    out.push(`<text x="${LEFT + 44}" y="${ly + 4}" fill="#222">${esc(s.name)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}
