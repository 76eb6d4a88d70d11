/**
 * A loss curve as a standalone SVG file: train loss per batch and validation
 * loss per epoch against (fractional) epochs, with axes, nice ticks, labels,
 * a title and a legend.
 *
 * Hand-written on purpose: a loss curve is two polylines, a few tick marks
 * and some text. A plotting library (vega, plotly, d3 + jsdom) would add
 * megabytes to every install of rnnkit for that, and a browser-less SVG
 * renderer on top. This module stays small, has no dependencies and never
 * writes NaN: non-finite points are dropped, an empty or constant series
 * still gets a sensible axis, and a single point is drawn as a marker.
 */

/** One point of a series: x in epochs, y a loss. */
export interface PlotPoint {
  x: number;
  y: number;
}

/** A named series. */
export interface PlotSeries {
  label: string;
  points: readonly PlotPoint[];
  /** CSS colour; default: from a small palette */
  color?: string;
  /** draw a marker at every point (default: only when the series has one point) */
  markers?: boolean;
  /** stroke width in px (default 1.5) */
  width?: number;
}

/**
 * Options of {@link lineChartSvg}.
 *
 * @example
 * lineChartSvg({ title: 'loss', xLabel: 'epoch', yLabel: 'loss', series: [{ label: 'train', points }] });
 */
export interface LineChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: readonly PlotSeries[];
  /** default 720 */
  width?: number;
  /** default 420 */
  height?: number;
  /** the lower end of the x axis (default: the smallest x) */
  xMin?: number;
}

/** Axis domain and ticks. */
export interface Ticks {
  min: number;
  max: number;
  step: number;
  values: number[];
}

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd'];

/** 1, 2, 5 or 10 times a power of ten, near `x` (Heckbert's "nice numbers"). */
function niceNumber(x: number, round: boolean): number {
  const exp = Math.floor(Math.log10(x));
  const f = x / 10 ** exp;
  const nf = round ? (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) : f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10;
  return nf * 10 ** exp;
}

/**
 * Nice ticks covering [lo, hi]: about `count` round values (steps of 1, 2 or
 * 5 times a power of ten), the domain widened to whole steps. An empty or
 * zero-width range is widened around its value first; non-finite bounds give
 * [0, 1].
 *
 * @throws never
 * @example
 * niceTicks(0.13, 2.71); // { min: 0, max: 3, step: 0.5, values: [0, 0.5, ..., 3] }
 */
export function niceTicks(lo: number, hi: number, count = 5): Ticks {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) [lo, hi] = [0, 1];
  if (lo > hi) [lo, hi] = [hi, lo];
  if (hi - lo < 1e-12 * Math.max(1, Math.abs(lo))) {
    const pad = lo === 0 ? 1 : Math.abs(lo) * 0.1;
    [lo, hi] = [lo - pad, hi + pad];
  }
  const step = niceNumber(niceNumber(hi - lo, false) / Math.max(1, count - 1), true);
  const min = Math.floor(lo / step) * step;
  const max = Math.ceil(hi / step) * step;
  const values: number[] = [];
  const n = Math.round((max - min) / step);
  // Multiply rather than accumulate, then round away binary noise (0.30000000000000004).
  for (let i = 0; i <= n; i++) values.push(Number((min + i * step).toPrecision(12)));
  return { min: values[0]!, max: values[n]!, step, values };
}

/** A tick label with just enough decimals for the step. */
function tickLabel(v: number, step: number): string {
  const decimals = Math.max(0, Math.min(10, -Math.floor(Math.log10(step) + 1e-9)));
  return v.toFixed(decimals);
}

function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A coordinate with 2 decimals, never NaN / -0. */
function fmt(v: number): string {
  const r = Math.round(v * 100) / 100;
  return Object.is(r, -0) ? '0' : String(r);
}

/**
 * Renders line series as a standalone SVG document (a string). Points with a
 * non-finite x or y are dropped.
 *
 * @throws never
 * @example
 * fs.writeFileSync('loss.svg', lineChartSvg({ title: 'Loss', xLabel: 'epoch', yLabel: 'loss', series }));
 */
export function lineChartSvg(options: LineChartOptions): string {
  const W = options.width ?? 720;
  const H = options.height ?? 420;
  const m = { left: 64, right: 20, top: 40, bottom: 52 };
  const pw = W - m.left - m.right;
  const ph = H - m.top - m.bottom;
  const series = options.series.map((s, i) => ({
    ...s,
    color: s.color ?? PALETTE[i % PALETTE.length]!,
    points: s.points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y)),
  }));
  const all = series.flatMap((s) => s.points);
  const xs = all.map((p) => p.x);
  const ys = all.map((p) => p.y);
  const xLo = Math.min(options.xMin ?? Infinity, ...xs);
  const xT = niceTicks(xLo, Math.max(...xs), 6);
  const yT = niceTicks(Math.min(...ys), Math.max(...ys), 6);
  const sx = (x: number) => m.left + ((x - xT.min) / (xT.max - xT.min)) * pw;
  const sy = (y: number) => m.top + ph - ((y - yT.min) / (yT.max - yT.min)) * ph;

  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${fmt(W / 2)}" y="22" text-anchor="middle" font-size="15">${escapeXml(options.title)}</text>`,
  );
  // grid and ticks
  out.push('<g stroke="#e5e5e5" stroke-width="1">');
  for (const v of xT.values) out.push(`<line x1="${fmt(sx(v))}" y1="${m.top}" x2="${fmt(sx(v))}" y2="${m.top + ph}"/>`);
  for (const v of yT.values) out.push(`<line x1="${m.left}" y1="${fmt(sy(v))}" x2="${m.left + pw}" y2="${fmt(sy(v))}"/>`);
  out.push('</g>');
  out.push('<g fill="#333">');
  for (const v of xT.values) {
    out.push(`<text x="${fmt(sx(v))}" y="${m.top + ph + 16}" text-anchor="middle">${tickLabel(v, xT.step)}</text>`);
  }
  for (const v of yT.values) {
    out.push(`<text x="${m.left - 6}" y="${fmt(sy(v) + 4)}" text-anchor="end">${tickLabel(v, yT.step)}</text>`);
  }
  out.push('</g>');
  // axes and their labels
  out.push(
    `<path d="M${m.left} ${m.top}V${m.top + ph}H${m.left + pw}" fill="none" stroke="#333" stroke-width="1"/>`,
    `<text x="${fmt(m.left + pw / 2)}" y="${H - 12}" text-anchor="middle">${escapeXml(options.xLabel)}</text>`,
    `<text transform="translate(16 ${fmt(m.top + ph / 2)}) rotate(-90)" text-anchor="middle">${escapeXml(options.yLabel)}</text>`,
  );
  if (all.length === 0) {
    out.push(`<text x="${fmt(m.left + pw / 2)}" y="${fmt(m.top + ph / 2)}" text-anchor="middle" fill="#888">no data</text>`);
  }
  // series
  for (const s of series) {
    const pts = s.points.map((p) => `${fmt(sx(p.x))},${fmt(sy(p.y))}`);
    if (pts.length > 1) {
      out.push(
        `<polyline fill="none" stroke="${s.color}" stroke-width="${s.width ?? 1.5}" stroke-linejoin="round" points="${pts.join(' ')}"/>`,
      );
    }
    if (s.markers || pts.length === 1) {
      for (const p of s.points) out.push(`<circle cx="${fmt(sx(p.x))}" cy="${fmt(sy(p.y))}" r="3" fill="${s.color}"/>`);
    }
  }
  // legend, top right inside the plot
  const shown = series.filter((s) => s.points.length > 0);
  if (shown.length > 0) {
    out.push(
      `<rect x="${m.left + pw - 158}" y="${m.top + 2}" width="154" height="${shown.length * 18 + 6}" fill="white" fill-opacity="0.85"/>`,
    );
  }
  shown.forEach((s, i) => {
    const y = m.top + 14 + i * 18;
    const x = m.left + pw - 150;
    out.push(
      `<line x1="${x}" y1="${y - 4}" x2="${x + 24}" y2="${y - 4}" stroke="${s.color}" stroke-width="2.5"/>`,
      `<text x="${x + 30}" y="${y}">${escapeXml(s.label)}</text>`,
    );
  });
  out.push('</svg>', '');
  return out.join('\n');
}

/**
 * What {@link lossCurveSvg} plots: the `batches` and `epochs` of a
 * `model.fit` history (several fits may be concatenated).
 *
 * @example
 * const curve: LossCurve = { title: 'lstm on input.txt', batches: history.batches, batchesPerEpoch: 120, epochs: history.epochs };
 */
export interface LossCurve {
  title: string;
  /** train loss of each batch, `batch` 0-based within `epoch` */
  batches: readonly { epoch: number; batch: number; loss: number }[];
  /** batches in a full epoch, to place each batch at epoch + (batch + 1) / batchesPerEpoch */
  batchesPerEpoch: number;
  /** per epoch: the mean train loss and the validation loss, if any */
  epochs: readonly { epoch: number; loss: number; valLoss?: number }[];
  /** y axis label (default 'cross-entropy loss (nats per token)') */
  yLabel?: string;
}

/** Most train points drawn; longer runs are averaged in buckets so the file stays small. */
const MAX_POINTS = 1000;

function bucketed(points: PlotPoint[]): PlotPoint[] {
  if (points.length <= MAX_POINTS) return points;
  const size = Math.ceil(points.length / MAX_POINTS);
  const out: PlotPoint[] = [];
  for (let i = 0; i < points.length; i += size) {
    const chunk = points.slice(i, i + size);
    out.push({ x: chunk[chunk.length - 1]!.x, y: chunk.reduce((a, p) => a + p.y, 0) / chunk.length });
  }
  return out;
}

/**
 * The loss curve of a training run as an SVG document: train loss per batch
 * (averaged in buckets beyond 1000 points), mean train loss and validation
 * loss per epoch (with markers), against epochs (x = 0 is the start).
 *
 * @throws never
 * @example
 * await writeFile('model.rnnkit.loss.svg', lossCurveSvg({ title: 'char lstm', batches: h.batches, batchesPerEpoch: n, epochs: h.epochs }));
 */
export function lossCurveSvg(curve: LossCurve): string {
  const per = Math.max(1, curve.batchesPerEpoch);
  const train = bucketed(curve.batches.map((b) => ({ x: b.epoch + (b.batch + 1) / per, y: b.loss })));
  // An epoch's points sit at its last batch: epoch + 1, or earlier for one stopped early.
  const lastBatch = new Map<number, number>();
  for (const b of curve.batches) lastBatch.set(b.epoch, Math.max(lastBatch.get(b.epoch) ?? -1, b.batch));
  const epochEnd = (e: { epoch: number }) => e.epoch + Math.min(1, ((lastBatch.get(e.epoch) ?? per - 1) + 1) / per);
  const series: PlotSeries[] = [{ label: 'train (per batch)', points: train, color: '#9ecae1', width: 1 }];
  series.push({
    label: 'train (epoch mean)',
    points: curve.epochs.map((e) => ({ x: epochEnd(e), y: e.loss })),
    color: '#1f77b4',
    markers: true,
    width: 2,
  });
  const val = curve.epochs.filter((e) => e.valLoss !== undefined).map((e) => ({ x: epochEnd(e), y: e.valLoss! }));
  if (val.length > 0) series.push({ label: 'validation', points: val, color: '#d62728', markers: true, width: 2 });
  const first = curve.batches[0]?.epoch ?? curve.epochs[0]?.epoch;
  return lineChartSvg({
    title: curve.title,
    xLabel: 'epoch',
    yLabel: curve.yLabel ?? 'cross-entropy loss (nats per token)',
    series,
    ...(first !== undefined ? { xMin: first } : {}),
  });
}
