/**
 * `npm run bench:embedding`: does a training step with an embedding scale with
 * the vocabulary? (issue 15: V = 20,000 against V = 2,000 at H = 256, B = 32,
 * T = 35.)
 *
 * Cases, each timed as the median of `--steps` trainSteps (Adam or `--optimizer sgd`, clipNorm 5)
 * after warm-up, rounds interleaved (`--rounds`, the order reversed every
 * other round), medians over rounds:
 * - `lm`: embedding(256) -> LSTM 256 -> dense(V) over every step (a word
 *   language model: the output layer and its softmax are [B*T, V]);
 * - `lm-tied`: the same with the output tied to the embedding;
 * - `one-hot`: LSTM 256 over one-hot rows -> dense(V), today's word model;
 * - `encoder`: embedding(256) -> LSTM 256 -> dense(1) on the last step (mse):
 *   only the embedding sees V, so this isolates its cost (the sparse scatter
 *   into [V, 256] and the optimizer's sweep of the table).
 * - `lm-sparse`, `encoder-sparse`: `lm` and `encoder` with `layers.embedding({ sparse: true })`:
 *   the step reads and updates only the table's rows of the batch's tokens (Adam as SparseAdam).
 * Prints ms per step for each V and the ratio V = 20,000 / V = 2,000.
 *
 *   npm run bench:embedding
 *   npm run bench:embedding -- --vocab 2000,20000,50000 --steps 10 --rounds 5
 *   npm run bench:embedding -- --cases encoder --optimizer sgd
 */
import { parseArgs } from 'node:util';
import { layers, sequential, type LayerInput, type Model } from '../lib/index.js';
import { median } from './configs.js';
import { printTable } from './harness.js';

const { values: args } = parseArgs({
  options: {
    vocab: { type: 'string', default: '2000,20000' },
    steps: { type: 'string', default: '8' },
    rounds: { type: 'string', default: '3' },
    units: { type: 'string', default: '256' },
    cases: { type: 'string', default: 'lm,lm-sparse,lm-tied,one-hot,encoder,encoder-sparse' },
    /** adam (default) or sgd (plain: no moments, no weight decay) */
    optimizer: { type: 'string', default: 'adam' },
  },
});
const vocabs = args.vocab.split(',').map(Number);
const steps = Number(args.steps);
const rounds = Number(args.rounds);
const H = Number(args.units);
const B = 32;
const T = 35;
const KINDS = ['lm', 'lm-sparse', 'lm-tied', 'one-hot', 'encoder', 'encoder-sparse'] as const;
const CASES = args.cases.split(',') as (typeof KINDS)[number][];
for (const c of CASES) if (!KINDS.includes(c)) throw new RangeError(`--cases: unknown case ${c} (cases: ${KINDS.join(', ')})`);

function build(kind: (typeof CASES)[number], V: number): Model {
  const emb = layers.embedding({ dim: H });
  const sparse = layers.embedding({ dim: H, sparse: true });
  const stacks: Record<typeof kind, LayerInput[]> = {
    lm: [emb, layers.lstm({ units: H }), layers.dense({ units: V })],
    'lm-sparse': [sparse, layers.lstm({ units: H }), layers.dense({ units: V })],
    'lm-tied': [emb, layers.lstm({ units: H }), layers.dense({ units: V, tieEmbedding: true })],
    'one-hot': [layers.lstm({ units: H }), layers.dense({ units: V })],
    encoder: [emb, layers.lstm({ units: H, returnSequences: false }), layers.dense({ units: 1 })],
    'encoder-sparse': [sparse, layers.lstm({ units: H, returnSequences: false }), layers.dense({ units: 1 })],
  };
  const loss = kind.startsWith('encoder') ? 'mse' : 'crossEntropy';
  return sequential({ input: { vocabSize: V }, layers: stacks[kind], loss, seed: 1 });
}

/** Deterministic ids in [0, V) (the LCG of bench/case.ts). */
function ids(n: number, V: number, seed: number): number[] {
  let s = seed >>> 0;
  return Array.from({ length: n }, () => ((s = (s * 1103515245 + 12345) >>> 0) >>> 8) % V);
}

async function timeCase(kind: (typeof CASES)[number], V: number): Promise<number> {
  const model = build(kind, V);
  const flat = ids(B * T, V, 7);
  const x = Array.from({ length: B }, (_, b) => flat.slice(b * T, (b + 1) * T));
  const y = kind.startsWith('encoder') ? x.map((row) => [row[0]! / V]) : x.map((row) => row.map((v) => (v + 1) % V));
  const opts = { optimizer: { type: args.optimizer === 'sgd' ? ('sgd' as const) : ('adam' as const), lr: 1e-3 }, clipNorm: 5 };
  for (let i = 0; i < 2; i++) await model.trainStep(x, y, opts);
  const times: number[] = [];
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    await model.trainStep(x, y, opts);
    times.push(performance.now() - t0);
  }
  model.dispose();
  return median(times);
}

const results = new Map<string, number[]>();
for (let r = 0; r < rounds; r++) {
  const order = r % 2 ? [...vocabs].reverse() : vocabs;
  for (const kind of CASES)
    for (const V of order) {
      const ms = await timeCase(kind, V);
      const key = `${kind}/${V}`;
      results.set(key, [...(results.get(key) ?? []), ms]);
      console.log(`  round ${r + 1}  ${kind.padEnd(14)} V=${String(V).padStart(6)}  ${ms.toFixed(1)} ms/step`);
    }
}

console.log(
  `\ntrainStep, H=${H} B=${B} T=${T}, ${args.optimizer === 'sgd' ? 'SGD' : 'Adam'}, clipNorm 5; medians of ${rounds} rounds x ${steps} steps (ms)`,
);
const headers = ['case', ...vocabs.map((V) => `V=${V}`), `V=${vocabs.at(-1)} / V=${vocabs[0]}`];
printTable(
  headers,
  CASES.map((kind) => {
    const ms = vocabs.map((V) => median(results.get(`${kind}/${V}`)!));
    return [kind, ...ms.map((v) => v.toFixed(1)), `${(ms.at(-1)! / ms[0]!).toFixed(2)}x`];
  }),
);
