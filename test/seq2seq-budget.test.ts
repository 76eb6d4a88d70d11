/**
 * examples/lib/seq2seq-budget.ts, the training loop of the encoder-decoder
 * examples: the kept weights are the best dev epoch's, or with `average` the
 * mean of the last epochs' weights when that decodes the dev pairs at least as
 * well.
 */
import test from 'ava';
import { layers, seq2seq, type Seq2Seq, type Tensor } from '../lib/index.js';
import { fitWithinBudget } from '../examples/lib/seq2seq-budget.js';
import { rng } from '../examples/lib/random.js';

type Weights = { encoder: Record<string, Tensor>; decoder: Record<string, Tensor> };

const V = 9;
const rand = rng(5);
const word = () => Array.from({ length: 2 + Math.floor(rand() * 4) }, () => 3 + Math.floor(rand() * (V - 3)));
/** reverse-a-word pairs: learnable enough that the dev accuracy moves in a few epochs */
const pairs = (n: number) => {
  const sources = Array.from({ length: n }, word);
  return { sources, targets: sources.map((s) => [...s].reverse()) };
};
const train = pairs(256);
const dev = pairs(32);

const model = (): Seq2Seq =>
  seq2seq({
    sourceVocab: V,
    targetVocab: V,
    bos: 1,
    eos: 2,
    encoder: [layers.lstm({ units: 12 })],
    decoder: [layers.lstm({ units: 12 })],
    attention: { type: 'general' },
    seed: 4,
  });

const weightsOf = (m: Seq2Seq): Weights => ({ encoder: m.encoder.getWeights(), decoder: m.decoder.getWeights() });

/** Runs the loop for `epochs` epochs, recording the weights at each epoch's end (when it logs the epoch). */
async function run(m: Seq2Seq, epochs: number, average?: number, lr = 0.01) {
  const ends: Weights[] = [];
  const lines: string[] = [];
  const result = await fitWithinBudget(m, {
    seconds: 600,
    maxEpochs: epochs,
    data: () => train,
    dev,
    batchSize: 32,
    lr,
    maxLength: 8,
    schedule: 'cosine',
    ...(average === undefined ? {} : { average }),
    log: (line) => {
      lines.push(line);
      if (line.startsWith('epoch')) ends.push(weightsOf(m));
    },
  });
  return { result, ends, lines };
}

function maxDiff(a: Weights, b: Weights): number {
  let worst = 0;
  for (const part of ['encoder', 'decoder'] as const)
    for (const [name, t] of Object.entries(a[part])) {
      const u = b[part][name]!;
      for (let i = 0; i < t.data.length; i++) worst = Math.max(worst, Math.abs(t.data[i]! - u.data[i]!));
    }
  return worst;
}

/** The element-wise mean of weight sets, each element summed in float64 and rounded once. */
function meanOf(sets: readonly Weights[]): Weights {
  const mean = (part: 'encoder' | 'decoder') =>
    Object.fromEntries(
      Object.entries(sets[0]![part]).map(([name, w]) => [
        name,
        {
          shape: w.shape,
          data: Float32Array.from(w.data, (_, i) => sets.reduce((sum, set) => sum + set[part][name]!.data[i]!, 0) / sets.length),
        },
      ]),
    );
  return { encoder: mean('encoder'), decoder: mean('decoder') };
}

test('without average the best dev epoch is kept', async (t) => {
  const m = model();
  const { result, ends } = await run(m, 3);
  t.is(result.epochs, 3);
  t.is(result.averaged, undefined);
  t.true(result.bestEpoch >= 1 && result.bestEpoch <= 3);
  t.is(maxDiff(weightsOf(m), ends[result.bestEpoch - 1]!), 0);
  m.dispose();
});

test('average: n averages the last n epochs and keeps the mean only when it decodes the dev pairs at least as well', async (t) => {
  const m = model();
  const { result, ends, lines } = await run(m, 4, 3);
  t.like(result, { epochs: 4, averaged: { from: 2, to: 4 } });
  const a = result.averaged!;
  t.true(a.devExact >= 0 && a.devExact <= 1);
  t.is(a.kept, a.devExact >= result.bestDevExact);
  t.regex(lines.at(-1)!, /^average of epochs 2-4 {2}dev exact [\d.]+% {2}(kept|not kept \(epoch \d: [\d.]+%\))$/);
  const want = a.kept ? meanOf(ends.slice(1)) : ends[result.bestEpoch - 1]!;
  t.true(maxDiff(weightsOf(m), want) < 1e-7, `weights are the ${a.kept ? 'mean' : 'best epoch'}`);
  m.dispose();
});

test('average: a mean that decodes as well as the best epoch replaces it', async (t) => {
  // a learning rate too small to get any dev word right in 3 epochs: 0% everywhere, so the mean is kept
  const m = model();
  const { result, ends } = await run(m, 3, 3, 1e-4);
  t.like(result, { bestDevExact: 0, averaged: { from: 1, to: 3, devExact: 0, kept: true } });
  const want = meanOf(ends);
  t.true(maxDiff(weightsOf(m), want) < 1e-7);
  t.true(maxDiff(want, ends[2]!) > 1e-5, 'the mean differs from the last epoch');
  m.dispose();
});

test('average: 1 (or 0) means no averaging', async (t) => {
  const m = model();
  const { result } = await run(m, 2, 1);
  t.is(result.averaged, undefined);
  m.dispose();
});
