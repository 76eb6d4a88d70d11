/**
 * Attention alignments as an SVG heatmap: one panel per example, rows the
 * output tokens, columns the source tokens, each cell shaded by the attention
 * weight (white 0, dark blue 1). What the dates and G2P examples write with
 * `--alignments PATH` (from `translateWithScores(...).attention`).
 */

/** One panel: the source tokens, the output tokens and attention[output][source]. */
export interface Alignment {
  source: readonly string[];
  output: readonly string[];
  /** [output.length][source.length], each row summing to 1 */
  weights: readonly (readonly number[])[];
  title?: string;
}

const CELL = 18;
const LABEL = 46;

const escape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** A cell's fill: white at 0 to rnnkit blue at 1 (linear in each channel). */
function shade(w: number): string {
  const x = Math.min(1, Math.max(0, w));
  const c = (from: number, to: number) => Math.round(from + (to - from) * x);
  return `rgb(${c(255, 16)},${c(255, 64)},${c(255, 160)})`;
}

function panel(a: Alignment, x0: number, y0: number): { svg: string; width: number; height: number } {
  if (a.weights.length !== a.output.length || a.weights.some((r) => r.length !== a.source.length)) {
    throw new RangeError(`Expected weights [${a.output.length}][${a.source.length}] for an alignment`);
  }
  const top = y0 + (a.title ? 18 : 0) + LABEL;
  const left = x0 + LABEL;
  const parts: string[] = [];
  if (a.title) parts.push(`<text x="${x0}" y="${y0 + 13}" font-size="13" font-weight="bold">${escape(a.title)}</text>`);
  a.source.forEach((s, j) => {
    const x = left + j * CELL + CELL / 2;
    parts.push(
      `<text x="${x}" y="${top - 6}" font-size="12" text-anchor="start" transform="rotate(-60 ${x} ${top - 6})">${escape(s)}</text>`,
    );
  });
  a.output.forEach((o, i) => {
    parts.push(`<text x="${left - 6}" y="${top + i * CELL + CELL * 0.7}" font-size="12" text-anchor="end">${escape(o)}</text>`);
    a.weights[i]!.forEach((w, j) => {
      parts.push(
        `<rect x="${left + j * CELL}" y="${top + i * CELL}" width="${CELL}" height="${CELL}" fill="${shade(w)}"><title>${escape(o)} / ${escape(a.source[j]!)}: ${w.toFixed(3)}</title></rect>`,
      );
    });
  });
  parts.push(
    `<rect x="${left}" y="${top}" width="${a.source.length * CELL}" height="${a.output.length * CELL}" fill="none" stroke="#888" stroke-width="0.5"/>`,
  );
  return { svg: parts.join('\n'), width: LABEL + a.source.length * CELL, height: top - y0 + a.output.length * CELL };
}

/**
 * An SVG document with the panels side by side.
 *
 * @throws RangeError when a panel's weights do not match its tokens
 * @example
 * await writeFile('alignment.svg', alignmentSvg([{ source: [...'3 May 1979'], output: [...'1979-05-03'], weights }]));
 */
export function alignmentSvg(panels: readonly Alignment[], caption = ''): string {
  const gap = 28;
  let x = 10;
  let height = 0;
  const body: string[] = [];
  for (const a of panels) {
    const p = panel(a, x, 10 + (caption ? 20 : 0));
    body.push(p.svg);
    x += p.width + gap;
    height = Math.max(height, p.height);
  }
  const width = x - gap + 10;
  const total = height + 20 + (caption ? 20 : 0);
  const head = caption ? `<text x="10" y="18" font-size="14">${escape(caption)}</text>\n` : '';
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${total}" viewBox="0 0 ${width} ${total}" font-family="sans-serif">\n` +
    `<rect width="100%" height="100%" fill="white"/>\n${head}${body.join('\n')}\n</svg>\n`
  );
}
