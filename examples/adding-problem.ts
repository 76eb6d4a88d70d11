/**
 * The adding problem (Hochreiter & Schmidhuber 1997; Le, Jaitly & Hinton
 * 2015): the course's vanishing-gradient experiment. Each input step carries
 * two features: a random value in [0, 1] and a marker that is 1 at exactly
 * two random positions (0 elsewhere); the target is the sum of the two marked
 * values, read out after the last step (many-to-one, mse). To solve it the
 * network must carry a value across up to T steps; the gradient that would
 * teach it to has to flow back just as far.
 *
 *   npm run example:adding                      # T = 100, 2,000 steps per model, about 2.5 minutes on 2 cores
 *   npm run example:adding -- --steps 5000 --T 200
 *   npm run example:adding -- --quick           # T = 20, a few seconds (smoke test)
 *
 * Predicting the mean, 1, whatever the input gives MSE = Var(u1 + u2) = 2/12
 * = 0.167: that is the baseline a model that learned nothing gets.
 *
 * An LSTM, a GRU and a vanilla tanh RNN (each `units` wide, + dense(1)) train
 * with the same budget: the same batches (fresh random sequences each step),
 * the same number of Adam steps, the same lr and clipNorm. They take turns
 * step by step, and every `eval-every` steps each is scored on the same 1,000
 * fixed test sequences. The curves are printed as a table and written to
 * adding-problem.json, adding-problem.csv and adding-problem.svg (--out,
 * default: the current directory).
 *
 * The LSTM's forget-gate bias starts at 1 (--forget-bias; 'none' keeps the
 * library's small random initialisation), the usual practice since Gers et
 * al. (2000): the cell then keeps its content by default at the start of
 * training. The GRU and the RNN keep the library's initialisation.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { layers, sequential, type Model } from '../lib/index.js';
import { lineChartSvg } from '../lib/plot.js';
import { seconds } from './lib/progress.js';
import { rng } from './lib/random.js';
import { exampleArgs } from './lib/args.js';

const t0 = performance.now();
const { str, num, quick } = exampleArgs(
  'adding-problem.ts',
  '--T 100 --steps 2000 --units 64 --batch 64 --lr 0.002 --clip-norm 1 --forget-bias 1 --eval-every 100 --test 1000 --cells lstm,gru,rnn --seed 1 --out . --quick',
);
const T = quick ? 20 : num('T', { integer: true, min: 2 });
const steps = quick ? 60 : num('steps', { integer: true, min: 1 });
const units = quick ? 16 : num('units', { integer: true, min: 1 });
const B = num('batch', { integer: true, min: 1 });
const lr = num('lr');
const clipNorm = num('clip-norm');
/** the LSTM's initial forget-gate bias; null = keep the library's initialisation ('none') */
const forgetBias = str('forget-bias') === 'none' ? null : Number(str('forget-bias'));
if (forgetBias !== null && !Number.isFinite(forgetBias)) {
  throw new RangeError(`Expected a number or 'none' for --forget-bias but received ${str('forget-bias')}`);
}
const evalEvery = quick ? 20 : num('eval-every', { integer: true, min: 1 });
const nTest = quick ? 200 : num('test', { integer: true, min: 1 });
const seed = num('seed', { integer: true });
const CELLS = ['lstm', 'gru', 'rnn'] as const;
type Cell = (typeof CELLS)[number];
const cells = str('cells')
  .split(',')
  .map((c) => c.trim()) as Cell[];
for (const c of cells) if (!CELLS.includes(c)) throw new RangeError(`Expected lstm, gru or rnn in --cells but received ${c}`);

// ---- data ---------------------------------------------------------------------------
/** n adding-problem sequences: inputs [n, T, 2] (value, marker) and targets [n, 1]. */
function addingBatch(n: number, next: () => number): { x: Float32Array; y: Float32Array } {
  const x = new Float32Array(n * T * 2);
  const y = new Float32Array(n);
  for (let b = 0; b < n; b++) {
    const i = Math.floor(next() * T);
    let j = Math.floor(next() * (T - 1));
    if (j >= i) j++; // two distinct positions
    for (let t = 0; t < T; t++) x[(b * T + t) * 2] = next();
    x[(b * T + i) * 2 + 1] = 1;
    x[(b * T + j) * 2 + 1] = 1;
    y[b] = x[(b * T + i) * 2]! + x[(b * T + j) * 2]!;
  }
  return { x, y };
}
const test = addingBatch(nTest, rng(seed + 1_000_003));
let baseline = 0;
for (const v of test.y) baseline += (v - 1) ** 2;
baseline /= nTest;
console.log(
  `adding problem, T = ${T}: ${nTest} test sequences; predicting 1 always gives test MSE ${baseline.toFixed(4)} (expected 1/6 = 0.1667)`,
);

// ---- models --------------------------------------------------------------------------
const LAYER = {
  lstm: () => layers.lstm({ units, returnSequences: false }),
  gru: () => layers.gru({ units, returnSequences: false }),
  rnn: () => layers.rnn({ units, activation: 'tanh', returnSequences: false }),
};
const models = new Map<Cell, Model>(
  cells.map((c) => [c, sequential({ input: { features: 2 }, layers: [LAYER[c](), layers.dense({ units: 1 })], loss: 'mse', seed })]),
);
// The LSTM's forget-gate bias starts at forgetBias (Gers et al. 2000; Jozefowicz et al. 2015): with
// the default small random bias the forget gate starts half closed, so the cell forgets its content
// within a few steps, and the gradient from step T back to a marked step vanishes like a vanilla RNN's.
const lstm = models.get('lstm');
if (lstm && forgetBias !== null) {
  const w = lstm.getWeights();
  const bih = Float32Array.from(w['layers.0.bias_ih_l0']!.data); // [4H], gates i, f, g, o
  const bhh = Float32Array.from(w['layers.0.bias_hh_l0']!.data);
  bih.fill(forgetBias, units, 2 * units);
  bhh.fill(0, units, 2 * units);
  lstm.setWeights({ 'layers.0.bias_ih_l0': bih, 'layers.0.bias_hh_l0': bhh });
}
console.log(
  `models: ${cells.map((c) => `${c} ${units} (${models.get(c)!.numParams.toLocaleString('en-US')} params)`).join(', ')}, each + dense(1); ` +
    `${steps} Adam steps each (lr ${lr}, clipNorm ${clipNorm}), batch ${B}, the same batches for all; LSTM forget-gate bias ${forgetBias ?? 'as initialised (small random)'}`,
);

async function testMse(m: Model): Promise<number> {
  let sum = 0;
  for (let i = 0; i < nTest; i += 500) {
    const n = Math.min(500, nTest - i);
    const out = await m.predict({ data: test.x.subarray(i * T * 2, (i + n) * T * 2), shape: [n, T, 2] });
    for (let b = 0; b < n; b++) sum += (out.data[b]! - test.y[i + b]!) ** 2;
  }
  return sum / nTest;
}

// ---- training, in turns ------------------------------------------------------------------
type Row = { step: number } & Partial<Record<Cell, number>>;
const curve: Row[] = [];
const trainSeconds = Object.fromEntries(cells.map((c) => [c, 0])) as Record<Cell, number>;
const header = `${'step'.padStart(6)}  ${cells.map((c) => `${c} test MSE`.padStart(14)).join('  ')}`;
console.log(`\n${header}`);
const record = async (step: number) => {
  const row: Row = { step };
  for (const c of cells) row[c] = await testMse(models.get(c)!);
  curve.push(row);
  console.log(`${String(step).padStart(6)}  ${cells.map((c) => row[c]!.toFixed(4).padStart(14)).join('  ')}`);
};
await record(0);
const next = rng(seed);
for (let s = 1; s <= steps; s++) {
  const { x, y } = addingBatch(B, next);
  for (const c of cells) {
    const t = performance.now();
    await models
      .get(c)!
      .trainStep({ data: x, shape: [B, T, 2] }, { data: y, shape: [B, 1] }, { optimizer: { type: 'adam', lr }, clipNorm });
    trainSeconds[c] += (performance.now() - t) / 1e3;
  }
  if (s % evalEvery === 0 || s === steps) await record(s);
}

// ---- results ------------------------------------------------------------------------------
const last = curve.at(-1)!;
const best = Object.fromEntries(cells.map((c) => [c, Math.min(...curve.map((r) => r[c]!))])) as Record<Cell, number>;
console.log(`\nafter ${steps} steps (baseline ${baseline.toFixed(4)}):`);
for (const c of cells) {
  console.log(
    `  ${c.padEnd(4)} final test MSE ${last[c]!.toFixed(4)} (${(last[c]! / baseline).toFixed(3)} x baseline), best ${best[c]!.toFixed(4)}, ` +
      `training ${seconds(trainSeconds[c])}`,
  );
}
const out = str('out');
const base = join(out, 'adding-problem');
writeFileSync(
  `${base}.json`,
  `${JSON.stringify({ T, steps, units, batch: B, lr, clipNorm, forgetBias, seed, baseline, trainSeconds, curve }, null, 2)}\n`,
);
writeFileSync(`${base}.csv`, `step,${cells.join(',')}\n${curve.map((r) => [r.step, ...cells.map((c) => r[c])].join(',')).join('\n')}\n`);
// step 0 (untrained, MSE ~1) is left out of the plot: it would squash the interesting range near the baseline
const plotted = curve.length > 1 ? curve.slice(1) : curve;
const COLORS: Record<Cell, string> = { lstm: '#1f77b4', gru: '#2ca02c', rnn: '#d62728' };
writeFileSync(
  `${base}.svg`,
  lineChartSvg({
    title: `Adding problem, T = ${T}: test MSE`,
    xLabel: 'training step',
    yLabel: 'test MSE',
    series: [
      ...cells.map((c) => ({
        label: c === 'rnn' ? 'vanilla tanh RNN' : c.toUpperCase(),
        color: COLORS[c],
        points: plotted.map((r) => ({ x: r.step, y: r[c]! })),
      })),
      {
        label: 'baseline (predict 1)',
        color: '#888',
        width: 1,
        points: [
          { x: 0, y: baseline },
          { x: steps, y: baseline },
        ],
      },
    ],
  }),
);
console.log(`wrote ${base}.json, ${base}.csv and ${base}.svg`);
console.log(`\ntotal time ${seconds((performance.now() - t0) / 1e3)}`);
for (const m of models.values()) m.dispose();
