/**
 * Seq2Seq.trainStep at the g2p example's sizes (examples/g2p.ts: a
 * bidirectional LSTM encoder of 128 units per direction over 30 letters, an
 * LSTM decoder of 256 units over 43 phonemes, batches of 64 words of 2 to 12
 * letters, Adam, clipNorm 5), this checkout against another build of rnnkit,
 * in one process, interleaved: rounds alternate which goes first; each round
 * times `--steps` steps of each on the same batches. Then the same for a
 * plain Model.trainStep (an LSTM-128 language model), which must not be slower.
 *
 *   node --import=tsx bench/seq2seq-step.ts --base /path/to/other/checkout [--rounds 7] [--steps 10]
 *
 * The other checkout must be built (`npm run build` there). Prints the median
 * and the best round's milliseconds per step of each and their ratios (on a
 * shared machine the best round is the one least disturbed by neighbours).
 */
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { rng } from '../examples/lib/random.js';

type Lib = typeof import('../lib/index.js');

const { values } = parseArgs({
  options: { base: { type: 'string' }, rounds: { type: 'string', default: '7' }, steps: { type: 'string', default: '10' } },
});
if (!values.base) {
  console.error('usage: node --import=tsx bench/seq2seq-step.ts --base <other built checkout> [--rounds 7] [--steps 10]');
  process.exit(2);
}
const rounds = Number(values.rounds);
const steps = Number(values.steps);

const here = (await import('../lib/index.js')) as Lib;
const base = (await import(pathToFileURL(resolve(values.base, 'lib/index.ts')).href)) as Lib;

const SRC_V = 30;
const TGT_V = 43;
const B = 64;
const rand = rng(1);
const word = (V: number) => Array.from({ length: 2 + Math.floor(rand() * 11) }, () => 4 + Math.floor(rand() * (V - 4)));
const batches = Array.from({ length: steps }, () => ({
  src: Array.from({ length: B }, () => word(SRC_V)),
  tgt: Array.from({ length: B }, () => word(TGT_V)),
}));

function build(lib: Lib) {
  return lib.seq2seq({
    sourceVocab: SRC_V,
    targetVocab: TGT_V,
    bos: 2,
    eos: 3,
    encoder: [lib.layers.lstm({ units: 128, bidirectional: true })],
    decoder: [lib.layers.lstm({ units: 256 })],
    seed: 1,
  });
}
const options = { optimizer: { type: 'adam' as const, lr: 3e-3 }, clipNorm: 5 };
type Side = 'here' | 'base';

/** Times `run` (one call = `steps` training steps) for both builds, rounds alternating which goes first. */
async function compare(title: string, run: Record<Side, () => Promise<void>>): Promise<void> {
  for (const k of ['here', 'base'] as const) await run[k](); // warm-up
  const ms: Record<Side, number[]> = { here: [], base: [] };
  for (let r = 0; r < rounds; r++) {
    for (const k of r % 2 === 0 ? (['base', 'here'] as const) : (['here', 'base'] as const)) {
      const t0 = performance.now();
      await run[k]();
      ms[k].push((performance.now() - t0) / steps);
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const m = { here: median(ms.here), base: median(ms.base) };
  const best = { here: Math.min(...ms.here), base: Math.min(...ms.base) };
  const row = (k: Side) => `median ${m[k].toFixed(1)} ms/step, best ${best[k].toFixed(1)}  [${ms[k].map((x) => x.toFixed(1)).join(' ')}]`;
  console.log(`${title}, ${rounds} rounds x ${steps} steps, interleaved`);
  console.log(`  base ${values.base}: ${row('base')}`);
  console.log(`  this checkout: ${row('here')}`);
  console.log(`  speed-up: median ${(m.base / m.here).toFixed(2)}x, best ${(best.base / best.here).toFixed(2)}x`);
}

const s2s = { here: build(here), base: build(base) };
await compare(`Seq2Seq.trainStep at g2p sizes (B ${B}, bi-LSTM 128 -> LSTM 256)`, {
  here: async () => {
    for (const b of batches) await s2s.here.trainStep(b.src, b.tgt, options);
  },
  base: async () => {
    for (const b of batches) await s2s.base.trainStep(b.src, b.tgt, options);
  },
});
for (const x of Object.values(s2s)) x.dispose();

// A plain Model.trainStep (the path every other model takes): the redesign must not slow it.
const lmConfig = (lib: Lib) => ({
  input: { vocabSize: 64 },
  layers: [lib.layers.lstm({ units: 128 }), lib.layers.dense({ units: 64 })],
  seed: 1,
});
const lm = { here: here.sequential(lmConfig(here)), base: base.sequential(lmConfig(base)) };
const x = { shape: [32, 64], data: Int32Array.from({ length: 32 * 64 }, () => Math.floor(rand() * 64)) };
const y = { shape: [32, 64], data: Int32Array.from({ length: 32 * 64 }, () => Math.floor(rand() * 64)) };
await compare('Model.trainStep, LSTM 128 language model (B 32, T 64, V 64)', {
  here: async () => {
    for (let i = 0; i < steps; i++) await lm.here.trainStep(x, y, options);
  },
  base: async () => {
    for (let i = 0; i < steps; i++) await lm.base.trainStep(x, y, options);
  },
});
for (const m of Object.values(lm)) m.dispose();
