/**
 * `npm run bench:ab -- --base <other checkout>`: this checkout against another
 * build of rnnkit, in alternating fresh processes (never both builds in one
 * process: their worker threads would share it), paired by round.
 *
 * Each round runs every case once per build, the order of the builds swapped
 * every other round; a case process times `--blocks` blocks of work and reports
 * the median block. The result per case is the median over rounds of the
 * per-round ratio this / base, which cancels the slow drift of a shared
 * machine that medians of each build alone do not.
 *
 * Cases: `<cell>-<units>-train` (a language model trainStep, V = 64, B = 32,
 * T = 64, Adam, clipNorm 5, 10 steps a block) and `<cell>-<units>-sample`
 * (batch-1 generate of 5,000 tokens a block), cell lstm / gru / rnn.
 *
 *   npm run bench:ab -- --base ../rnnkit-before --cases lstm-128-train,gru-128-train,lstm-128-sample --rounds 8
 *
 * The other checkout must be built (`npm run build` there).
 */
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { median } from './configs.js';
import { printTable } from './harness.js';

const { values: args } = parseArgs({
  options: {
    base: { type: 'string' },
    cases: { type: 'string', default: 'lstm-128-train,gru-128-train,lstm-128-sample,gru-128-sample' },
    rounds: { type: 'string', default: '6' },
    blocks: { type: 'string', default: '7' },
    /** internal: run one case in this process for the checkout at --root */
    child: { type: 'string' },
    root: { type: 'string' },
  },
});

type Lib = typeof import('../lib/index.js');

/** Runs one case with the library of `root`; returns tokens/s of the median block. */
async function runCase(root: string, id: string, blocks: number): Promise<number> {
  const lib = (await import(pathToFileURL(resolve(root, 'lib/index.ts')).href)) as Lib;
  const m = /^(lstm|gru|rnn)-(\d+)-(train|sample)$/.exec(id);
  if (!m) throw new RangeError(`Expected a case like lstm-128-train for --cases but received '${id}'`);
  const [, cell, units, mode] = m as unknown as [string, 'lstm' | 'gru' | 'rnn', string, 'train' | 'sample'];
  const V = 64;
  const model = lib.sequential({
    input: { vocabSize: V },
    layers: [lib.layers[cell]({ units: Number(units) }), lib.layers.dense({ units: V, activation: 'linear' })],
    seed: 1,
  });
  let s = 1;
  const row = () => Array.from({ length: 64 }, () => ((s = (s * 1103515245 + 12345) >>> 0) >>> 8) % V);
  const x = Array.from({ length: 32 }, row);
  const y = x.map((r) => r.map((v) => (v + 1) % V));
  const opts = { optimizer: { type: 'adam' as const, lr: 1e-3 }, clipNorm: 5 };
  const work =
    mode === 'train' ? async () => model.trainStep(x, y, opts) : async () => model.generate({ prime: [1], maxLength: 5000, seed: 1 });
  const perBlock = mode === 'train' ? 10 : 1;
  const tokens = mode === 'train' ? 10 * 32 * 64 : 5000;
  for (let i = 0; i < 3; i++) await work();
  const rates: number[] = [];
  for (let b = 0; b < blocks; b++) {
    const t0 = performance.now();
    for (let i = 0; i < perBlock; i++) await work();
    rates.push(tokens / ((performance.now() - t0) / 1e3));
  }
  model.dispose();
  return median(rates);
}

if (args.child !== undefined) {
  console.log(`RESULT ${await runCase(args.root!, args.child, Number(args.blocks))}`);
} else {
  if (!args.base) {
    console.error('usage: npm run bench:ab -- --base <other built checkout> [--cases lstm-128-train,...] [--rounds 6] [--blocks 7]');
    process.exit(2);
  }
  const roots = { this: resolve('.'), base: resolve(args.base) };
  const cases = args.cases.split(',');
  const rounds = Number(args.rounds);
  const results = new Map<string, { this: number[]; base: number[] }>();
  const run = (root: string, id: string): number => {
    const r = spawnSync(process.execPath, ['--import=tsx', 'bench/ab.ts', '--child', id, '--root', root, '--blocks', args.blocks], {
      encoding: 'utf8',
    });
    const line = /^RESULT (\S+)$/m.exec(r.stdout);
    if (r.status !== 0 || !line) throw new Error(`case ${id} in ${root} failed: ${r.stderr.slice(-2000)}`);
    return Number(line[1]);
  };
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 ? (['base', 'this'] as const) : (['this', 'base'] as const);
    for (const id of cases) {
      const entry = results.get(id) ?? { this: [], base: [] };
      for (const side of order) entry[side].push(run(roots[side], id));
      results.set(id, entry);
      console.log(
        `  round ${round + 1}  ${id.padEnd(16)} this ${Math.round(entry.this.at(-1)!)}  base ${Math.round(entry.base.at(-1)!)} tok/s`,
      );
    }
  }
  console.log(`\nthis checkout (${roots.this}) / base (${roots.base}), ${rounds} rounds of alternating fresh processes`);
  printTable(
    ['case', 'base tok/s (median)', 'this tok/s (median)', 'paired ratio (median)', 'ratios'],
    cases.map((id) => {
      const e = results.get(id)!;
      const ratios = e.this.map((v, i) => v / e.base[i]!);
      return [
        id,
        Math.round(median(e.base)).toLocaleString('en-US'),
        Math.round(median(e.this)).toLocaleString('en-US'),
        `${median(ratios).toFixed(3)}x`,
        ratios.map((r) => r.toFixed(2)).join(' '),
      ];
    }),
  );
}
