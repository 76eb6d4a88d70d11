/**
 * The course's "shapes of problem" and its bidirectional / deep RNNs, each
 * proved by a task that only a correctly wired model can learn:
 *
 * 1. many-to-many tagging that needs the future (tag<t> = x<t+1>): a
 *    bidirectional GRU learns it, the same GRU one-way cannot (it can do no
 *    better than the Bayes bound of a causal tagger, ~23%); ragged rows,
 *    accuracy counted at valid positions only (model.evaluate);
 * 2. many-to-one over ragged batches (label = the last valid token, padding
 *    that would flip it): softmax + crossEntropy and sigmoid +
 *    binaryCrossEntropy; a row alone predicts exactly what it predicts inside
 *    a padded batch, one-way and bidirectional (whose backward output is the
 *    one at t = 0);
 * 3. one-to-many with `condition`: generated sequences follow the class;
 *    finite-difference checks of conditionGrad and condition.weight / .bias;
 *    the errors of the condition option;
 * 4. a deep stack of mixed cells and per-step dense layers learns a tagging
 *    task and passes a float64 gradient check.
 *
 * Everything is seeded (model seeds, data RNG, fit's shuffling).
 */
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { languageModelData, layers, sequential, type Model, type ModelInput, type Tensor } from '../lib/index.js';
import { assertGradcheck, gradcheck, prod, randint, randomizeWeights, rng, uniform, type GradModel } from './helpers/gradcheck.js';

// ---------------------------------------------------------------- helpers

/** Ragged rows of a tagging data set. */
interface Rows {
  inputs: number[][];
  targets: number[][];
}

/** Dense [B, T] Int32Array of ragged rows, padded with `pad(b, t)`. */
function padded(rows: readonly (readonly number[])[], pad: (b: number, t: number) => number): { data: Int32Array; shape: number[] } {
  const T = Math.max(...rows.map((r) => r.length));
  const data = new Int32Array(rows.length * T);
  rows.forEach((r, b) => {
    for (let t = 0; t < T; t++) data[b * T + t] = t < r.length ? r[t]! : pad(b, t);
  });
  return { data, shape: [rows.length, T] };
}

function argmax(a: ArrayLike<number>, from: number, n: number): number {
  let best = 0;
  for (let k = 1; k < n; k++) if (a[from + k]! > a[from + best]!) best = k;
  return best;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

const pct = (x: number | undefined) => `${((x ?? NaN) * 100).toFixed(1)}%`;

/**
 * Checks that every row of a batch, run alone (T = its own length), gives
 * the same output as inside the padded batch: padded steps change nothing,
 * in either direction. `out` is [B, T, K] or [B, K].
 */
async function assertRowsAlone(
  t: ExecutionContext,
  model: Model,
  rows: readonly (readonly unknown[])[],
  batchOut: Tensor,
  tol: number,
): Promise<void> {
  const seq = batchOut.shape.length === 3;
  const T = batchOut.shape[1]!;
  const K = batchOut.shape.at(-1)!;
  let worst = 0;
  for (let b = 0; b < rows.length; b++) {
    const alone = await model.predict([rows[b]!] as ModelInput);
    const L = rows[b]!.length;
    const start = seq ? b * T * K : b * K;
    const mine = batchOut.data.subarray(start, start + (seq ? L : 1) * K);
    t.is(alone.data.length, mine.length);
    worst = Math.max(worst, maxAbsDiff(alone.data, mine));
    if (seq) {
      // padded steps of the batch output are 0
      const pad = batchOut.data.subarray(start + L * K, start + T * K);
      t.true(
        pad.every((v) => v === 0),
        `row ${b}: padded outputs are 0`,
      );
    }
  }
  t.log(`row alone vs inside the padded batch: max |diff| ${worst.toExponential(2)}`);
  t.true(worst <= tol, `row alone vs batch differ by ${worst}`);
}

// ------------------------------------------------ 1. tagging that needs the future

const SYMBOLS = 5; // tokens 1..5; 0 is only padding
const END_TAG = SYMBOLS; // tag of the last position; tags 0..4 name the next symbol

/** tag<t> = x<t+1> - 1, tag<last> = END_TAG; lengths uniform in [4, 10]. */
function futureTagRows(n: number, seed: number): Rows {
  const r = rng(seed);
  const inputs: number[][] = [];
  const targets: number[][] = [];
  for (let i = 0; i < n; i++) {
    const L = 4 + randint(r, 7);
    const x = Array.from({ length: L }, () => 1 + randint(r, SYMBOLS));
    inputs.push(x);
    targets.push(x.map((_, t) => (t + 1 < L ? x[t + 1]! - 1 : END_TAG)));
  }
  return { inputs, targets };
}

/**
 * The best accuracy any causal (one-way) tagger can reach on futureTagRows:
 * at step t it knows only that the row is at least t + 1 long, so it picks
 * the likelier of "the row ends here" and one of the 5 equally likely next
 * symbols. About 0.233.
 */
function causalBayesAccuracy(): number {
  const lens = [4, 5, 6, 7, 8, 9, 10];
  let right = 0;
  let total = 0;
  for (let t = 0; t < 10; t++) {
    const alive = lens.filter((L) => L >= t + 1).length;
    const pEnd = lens.filter((L) => L === t + 1).length / alive;
    right += alive * Math.max(pEnd, (1 - pEnd) / SYMBOLS);
    total += alive;
  }
  return right / total;
}

function tagger(bidirectional: boolean, seed: number): Model {
  return sequential({
    input: { vocabSize: SYMBOLS + 1 },
    layers: [layers.gru({ units: 16, bidirectional }), layers.dense({ units: SYMBOLS + 1, activation: 'softmax' })],
    seed,
  });
}

test('many-to-many: a bidirectional GRU tags x<t+1> at t, a one-way GRU of the same size cannot', async (t) => {
  const train = futureTagRows(600, 11);
  const heldOut = futureTagRows(200, 12);
  const validPositions = heldOut.inputs.reduce((n, r) => n + r.length, 0);
  const fitOpts = { epochs: 15, batchSize: 32, optimizer: { type: 'adam' as const, lr: 0.02 } };

  const bi = tagger(true, 3);
  const uni = tagger(false, 3);
  await bi.fit(train, fitOpts);
  await uni.fit(train, fitOpts);
  const evBi = await bi.evaluate(heldOut);
  const evUni = await uni.evaluate(heldOut);
  const bayes = causalBayesAccuracy();
  t.log(
    `held-out accuracy: bidirectional ${pct(evBi.accuracy)}, one-way ${pct(evUni.accuracy)} (causal Bayes bound ${pct(bayes)}, chance 20%)`,
  );
  t.true(evBi.accuracy! > 0.9, `bidirectional accuracy ${evBi.accuracy}`);
  t.true(evUni.accuracy! < 0.4, `one-way accuracy ${evUni.accuracy}`);
  t.true(bayes < 0.25);

  // evaluate scores the valid positions only ...
  t.is(evBi.tokens, validPositions);
  // ... and equals an argmax count over predict's valid positions
  const out = await bi.predict(heldOut.inputs);
  const [B, T, K] = out.shape as [number, number, number];
  let right = 0;
  for (let b = 0; b < B; b++) {
    for (let s = 0; s < heldOut.inputs[b]!.length; s++) if (argmax(out.data, (b * T + s) * K, K) === heldOut.targets[b]![s]) right++;
  }
  t.true(Math.abs(right / validPositions - evBi.accuracy!) < 1e-12, 'evaluate accuracy = argmax over valid positions');

  // Junk at the padded positions of dense inputs and targets (ids that would be
  // wrong there) changes neither the loss nor the accuracy nor the count.
  const junk = rng(99);
  const x = padded(heldOut.inputs, () => 1 + randint(junk, SYMBOLS));
  const y = padded(heldOut.targets, () => randint(junk, SYMBOLS + 1));
  const lengths = heldOut.inputs.map((r) => r.length);
  for (const m of [bi, uni]) {
    const ragged = await m.evaluate(heldOut);
    const dense = await m.evaluate({ inputs: x, targets: y, lengths });
    t.is(dense.tokens, validPositions);
    t.true(Math.abs(dense.loss - ragged.loss) < 1e-6, `loss ${dense.loss} vs ${ragged.loss}`);
    t.is(dense.accuracy, ragged.accuracy);
  }
  // and reading the padding as data would change the score (the check above is not vacuous)
  const leaky = await bi.evaluate({ inputs: x, targets: y });
  t.true(leaky.tokens > validPositions && leaky.accuracy! < evBi.accuracy! - 0.05);

  // the backward direction starts at each row's own last valid step: a row alone
  // tags exactly as inside the padded batch
  await assertRowsAlone(t, bi, heldOut.inputs.slice(0, 12), await bi.predict(heldOut.inputs.slice(0, 12)), 1e-6);
  bi.dispose();
  uni.dispose();
});

// ------------------------------------------------ 2. many-to-one over ragged batches

/**
 * Rows of symbols 0..V-1 (lengths 2..9) as feature vectors: symbol s > 0 is
 * the one-hot e_(s-1) of width V-1, and symbol 0 is the zero vector, which
 * is exactly what a padded step holds. Label = the last valid symbol. A
 * model that read the padded steps would see a 0 last and could not tell it
 * from a genuine final 0: every padded row ending in a non-zero symbol
 * would flip (to 0, or to "even" for the parity label).
 */
function lastSymbolRows(n: number, V: number, seed: number): { inputs: number[][][]; symbols: number[][]; last: number[] } {
  const r = rng(seed);
  const symbols: number[][] = [];
  for (let i = 0; i < n; i++) symbols.push(Array.from({ length: 2 + randint(r, 8) }, () => randint(r, V)));
  const inputs = symbols.map((row) => row.map((s) => Array.from({ length: V - 1 }, (_, j) => (j === s - 1 ? 1 : 0))));
  return { inputs, symbols, last: symbols.map((x) => x[x.length - 1]!) };
}

/** The rows as one dense [B, T, D] array, zero-padded, read to the end (lengths = T). */
function readPaddingToo(inputs: number[][][]): { inputs: { data: Float32Array; shape: number[] }; lengths: number[] } {
  const T = Math.max(...inputs.map((r) => r.length));
  const D = inputs[0]![0]!.length;
  const data = new Float32Array(inputs.length * T * D);
  inputs.forEach((row, b) => row.forEach((v, s) => data.set(v, (b * T + s) * D)));
  return { inputs: { data, shape: [inputs.length, T, D] }, lengths: inputs.map(() => T) };
}

test('many-to-one: lstm (returnSequences false) + softmax + crossEntropy learns the last valid symbol of ragged rows; padding is never read', async (t) => {
  const V = 4;
  const train = lastSymbolRows(600, V, 21);
  const heldOut = lastSymbolRows(200, V, 22);
  const m = sequential({
    input: { features: V - 1 },
    layers: [layers.lstm({ units: 16, returnSequences: false }), layers.dense({ units: V, activation: 'softmax' })],
    seed: 4,
  });
  t.deepEqual(m.outputShape(3, 7), [3, V]);
  await m.fit({ inputs: train.inputs, targets: train.last }, { epochs: 12, batchSize: 32, optimizer: { type: 'adam', lr: 0.02 } });
  const ev = await m.evaluate({ inputs: heldOut.inputs, targets: heldOut.last });
  t.is(ev.tokens, heldOut.inputs.length, 'one scored position per row');

  // the same rows read through their padding: the answer flips for padded rows ending in 1..3
  const leaky = await m.evaluate({ ...readPaddingToo(heldOut.inputs), targets: heldOut.last });
  t.log(`held-out accuracy ${pct(ev.accuracy)}; reading the zero padding as data: ${pct(leaky.accuracy)}`);
  t.true(ev.accuracy! > 0.95, `accuracy ${ev.accuracy}`);
  t.true(leaky.accuracy! < 0.6, `reading padding ${leaky.accuracy}`);

  // junk (NaN) padding with explicit lengths: identical predictions to the ragged rows
  const dense = readPaddingToo(heldOut.inputs).inputs;
  const T = dense.shape[1]!;
  heldOut.inputs.forEach((row, b) => dense.data.fill(NaN, (b * T + row.length) * (V - 1), (b + 1) * T * (V - 1)));
  const a = await m.predict(heldOut.inputs);
  const b = await m.predict(dense, { lengths: heldOut.inputs.map((r) => r.length) });
  t.deepEqual(a.shape, [heldOut.inputs.length, V]);
  t.is(maxAbsDiff(a.data, b.data), 0);
  await assertRowsAlone(t, m, heldOut.inputs.slice(0, 16), a, 1e-6);
  m.dispose();
});

test('many-to-one: lstm (returnSequences false) + sigmoid + binaryCrossEntropy learns the parity of the last valid symbol', async (t) => {
  const V = 4;
  const odd = (rows: { last: number[] }) => rows.last.map((v) => [v % 2]); // [B, 1]; a padded 0 reads as even
  const train = lastSymbolRows(600, V, 31);
  const heldOut = lastSymbolRows(200, V, 32);
  const m = sequential({
    input: { features: V - 1 },
    layers: [layers.lstm({ units: 8, returnSequences: false }), layers.dense({ units: 1, activation: 'sigmoid' })],
    loss: 'binaryCrossEntropy',
    seed: 6,
  });
  await m.fit({ inputs: train.inputs, targets: odd(train) }, { epochs: 12, batchSize: 32, optimizer: { type: 'adam', lr: 0.02 } });
  const ev = await m.evaluate({ inputs: heldOut.inputs, targets: odd(heldOut) });
  const leaky = await m.evaluate({ ...readPaddingToo(heldOut.inputs), targets: odd(heldOut) });
  t.log(`held-out accuracy ${pct(ev.accuracy)}; reading the zero padding as data: ${pct(leaky.accuracy)}`);
  t.is(ev.tokens, heldOut.inputs.length);
  t.true(ev.accuracy! > 0.95, `accuracy ${ev.accuracy}`);
  t.true(leaky.accuracy! < 0.75, `reading padding ${leaky.accuracy}`);
  // predict gives probabilities in (0, 1), and p > 0.5 is evaluate's rule
  const p = await m.predict(heldOut.inputs);
  t.deepEqual(p.shape, [heldOut.inputs.length, 1]);
  t.true(p.data.every((v) => v > 0 && v < 1));
  const right = heldOut.last.filter((v, b) => (p.data[b]! > 0.5 ? 1 : 0) === v % 2).length;
  t.is(right / heldOut.inputs.length, ev.accuracy!);
  await assertRowsAlone(t, m, heldOut.inputs.slice(0, 16), p, 1e-6);
  m.dispose();
});

/** Ragged token rows (ids 0..V-1, lengths 2..9). */
function tokenRows(n: number, V: number, seed: number): number[][] {
  return lastSymbolRows(n, V, seed).symbols;
}

for (const cell of ['lstm', 'gru'] as const) {
  test(`many-to-one, bidirectional ${cell}: forward output at the last valid step, backward output at t = 0; a row alone = inside a padded batch`, async (t) => {
    const V = 5;
    const H = 6;
    const K = 3;
    const rec = (returnSequences: boolean) =>
      cell === 'lstm'
        ? layers.lstm({ units: H, bidirectional: true, returnSequences })
        : layers.gru({ units: H, bidirectional: true, returnSequences });
    const m2o = sequential({ input: { vocabSize: V }, layers: [rec(false), layers.dense({ units: K })], loss: 'mse', seed: 8 });
    const seq = sequential({ input: { vocabSize: V }, layers: [rec(true), layers.dense({ units: K })], loss: 'mse', seed: 9 });
    randomizeWeights(m2o, 80, 0.8);
    const w = m2o.getWeights();
    seq.setWeights(Object.fromEntries(Object.entries(w)));

    const rows = tokenRows(10, V, 41);
    const out = await m2o.predict(rows);
    t.deepEqual(out.shape, [rows.length, K]);
    await assertRowsAlone(t, m2o, rows, out, 1e-6);

    // Split the dense layer into its forward half and its backward half: with
    // only the forward half the many-to-one output is the sequence model's output
    // at each row's last valid step; with only the backward half, at t = 0.
    const Wd = w['layers.1.weight']!.data; // [K, 2H]: columns 0..H-1 read the forward direction
    const half = (keepForward: boolean) => {
      const x = Float32Array.from(Wd);
      for (let k = 0; k < K; k++) for (let j = 0; j < 2 * H; j++) if (j < H !== keepForward) x[k * 2 * H + j] = 0;
      return x;
    };
    for (const keepForward of [true, false]) {
      m2o.setWeights({ 'layers.1.weight': half(keepForward) });
      seq.setWeights({ 'layers.1.weight': half(keepForward) });
      const a = await m2o.predict(rows);
      const s = await seq.predict(rows);
      const T = s.shape[1]!;
      let worst = 0;
      rows.forEach((r, b) => {
        const step = keepForward ? r.length - 1 : 0;
        worst = Math.max(
          worst,
          maxAbsDiff(a.data.subarray(b * K, (b + 1) * K), s.data.subarray((b * T + step) * K, (b * T + step + 1) * K)),
        );
      });
      t.true(worst <= 1e-6, `${keepForward ? 'forward' : 'backward'} half: max diff ${worst}`);
      // and the half is not trivially constant: it varies across rows
      t.true(maxAbsDiff(a.data.subarray(0, K), a.data.subarray(K, 2 * K)) > 1e-3);
    }
    m2o.dispose();
    seq.dispose();
  });
}

// ------------------------------------------------ 3. one-to-many with a condition

const PAD = 0,
  BOS = 2,
  EOS = 3,
  A = 4,
  Bt = 5;
const LM_V = 6;
const CLASSES = [
  [1, 0, 0],
  [0, 1, 0],
  [0, 0, 1],
];
/** class 0: a a a ..., class 1: b b b ..., class 2: a b a b ... (lengths 2..6) */
function classSequence(cls: number, len: number): number[] {
  return Array.from({ length: len }, (_, i) => (cls === 0 ? A : cls === 1 ? Bt : i % 2 === 0 ? A : Bt));
}
function followsClass(seq: readonly number[], cls: number): boolean {
  return seq.length >= 1 && seq.every((v, i) => v === classSequence(cls, seq.length)[i]);
}

function conditionedLm(seed: number, cell: 'lstm' | 'gru' = 'lstm'): Model {
  return sequential({
    input: { vocabSize: LM_V },
    condition: { features: 3 },
    layers: [
      cell === 'lstm' ? layers.lstm({ units: 24 }) : layers.gru({ units: 24 }),
      layers.dense({ units: LM_V, activation: 'softmax' }),
    ],
    seed,
  });
}

test("one-to-many: a model conditioned on a one-hot class generates that class's sequences", async (t) => {
  const r = rng(51);
  const seqs: number[][] = [];
  const cond: number[][] = [];
  for (let i = 0; i < 300; i++) {
    const cls = i % 3;
    seqs.push(classSequence(cls, 2 + randint(r, 5)));
    cond.push(CLASSES[cls]!);
  }
  const data = languageModelData(seqs, { bos: BOS, eos: EOS, condition: cond });
  const m = conditionedLm(5);
  t.deepEqual(m.getWeights()['condition.weight']!.shape, [2 * 24, 3], 'h0 and c0 of the LSTM');
  await m.fit(data, { epochs: 60, batchSize: 32, optimizer: { type: 'adam', lr: 0.02 }, clipNorm: 5 });
  const ev = await m.evaluate(data);
  // the same rows with the wrong class for each: the condition carries the information
  const wrong = languageModelData(seqs, { bos: BOS, eos: EOS, condition: cond.map((_, i) => CLASSES[(i + 1) % 3]!) });
  const evWrong = await m.evaluate(wrong);
  t.log(
    `loss ${ev.loss.toFixed(3)}, accuracy ${pct(ev.accuracy)}; with the wrong class: loss ${evWrong.loss.toFixed(3)}, accuracy ${pct(evWrong.accuracy)}`,
  );
  t.true(evWrong.loss > ev.loss + 1, 'the wrong condition makes the data much less likely');

  const gen = { prime: [BOS], maxLength: 20, stopTokens: [EOS], banTokens: [PAD, 1, BOS] };
  for (let cls = 0; cls < 3; cls++) {
    const greedy = await m.generate({ ...gen, temperature: 0, condition: CLASSES[cls]! });
    const sampled = await m.generate({ ...gen, n: 12, temperature: 1, seed: 7 + cls, condition: CLASSES[cls]! });
    t.log(`class ${cls}: greedy ${JSON.stringify(greedy[0])}; sampled lengths ${sampled.map((s) => s.length).join(' ')}`);
    for (const s of [...greedy, ...sampled]) {
      t.true(followsClass(s, cls), `class ${cls}: ${JSON.stringify(s)}`);
      t.true(s.length >= 2 && s.length <= 6, `class ${cls}: stopped at <eos> within the trained lengths: ${s.length}`);
    }
    t.true(new Set(sampled.map((s) => s.length)).size > 1, 'sampled lengths vary');
  }
  // one condition per sample
  const mixed = await m.generate({ ...gen, n: 3, temperature: 0, condition: CLASSES });
  mixed.forEach((s, cls) => t.true(followsClass(s, cls), `mixed sample ${cls}: ${JSON.stringify(s)}`));
  m.dispose();
});

/** Wraps a conditioned model for the gradcheck helper: every call gets `condition`; no initial-state checks. */
function withCondition(model: Model, condition: Tensor): GradModel {
  return {
    getWeights: () => model.getWeights(),
    setWeights: (w) => model.setWeights(w),
    gradients: async (inputs, targets, opts) => {
      const res = await model.gradients(inputs, targets, { ...opts, condition });
      return { ...res, initialStateGrads: [] };
    },
  };
}

for (const variant of ['lstm', 'bidirectional gru + rnn'] as const) {
  test(`condition gradients (${variant}, float64): conditionGrad and condition.weight / .bias match central differences`, async (t) => {
    const V = 5,
      k = 3,
      H = 4,
      B = 3,
      T = 4;
    const m = sequential({
      input: { vocabSize: V },
      condition: { features: k },
      layers:
        variant === 'lstm'
          ? [layers.lstm({ units: H }), layers.dense({ units: V })]
          : [layers.gru({ units: H, bidirectional: true }), layers.rnn({ units: H }), layers.dense({ units: V })],
      dtype: 'float64',
      seed: 3,
    });
    randomizeWeights(m, 61);
    const R = 2 * H; // lstm: h0 and c0 of 1 direction; bidirectional gru: h0 of 2 directions
    t.deepEqual(m.getWeights()['condition.weight']!.shape, [R, k]);
    t.deepEqual(m.getWeights()['condition.bias']!.shape, [R]);

    const r = rng(62);
    const inputs = { data: Int32Array.from({ length: B * T }, () => randint(r, V)), shape: [B, T] };
    const targets = { data: Int32Array.from({ length: B * T }, () => randint(r, V)), shape: [B, T] };
    const lengths = [4, 2, 3];
    const c = new Float64Array(B * k).map(() => uniform(r, -1, 1));
    const condition: Tensor = { data: c, shape: [B, k] };

    // every weight, condition.weight and condition.bias included
    const res = await gradcheck({ model: withCondition(m, condition), inputs, targets, lengths });
    t.true(res.weights.some((w) => w.name === 'condition.weight') && res.weights.some((w) => w.name === 'condition.bias'));
    assertGradcheck(t, res);

    // conditionGrad, every element
    const base = await m.gradients(inputs, targets, { lengths, condition });
    t.deepEqual(base.conditionGrad?.shape, [B, k]);
    const eps = 1e-5;
    let worst = 0;
    for (let i = 0; i < B * k; i++) {
      const at = async (d: number) => {
        const ci = Float64Array.from(c);
        ci[i] = ci[i]! + d;
        return (await m.gradients(inputs, targets, { lengths, condition: { data: ci, shape: [B, k] } })).loss;
      };
      const numeric = ((await at(eps)) - (await at(-eps))) / (2 * eps);
      const a = base.conditionGrad!.data[i]!;
      const err = Math.abs(a - numeric) / Math.max(Math.abs(a) + Math.abs(numeric), 1e-4);
      worst = Math.max(worst, err);
      t.true(err < 1e-5, `conditionGrad[${i}]: analytic ${a} numeric ${numeric}`);
    }
    t.true(maxAbsDiff(base.conditionGrad!.data, new Float64Array(B * k)) > 1e-4, 'conditionGrad is non-negligible');
    t.log(`conditionGrad: worst err ${worst.toExponential(2)} over ${B * k} elements`);

    // the condition is exactly the initial state tanh(W c + b) of the first recurrent
    // layer: columns h0 in (direction, unit) order, then c0 for an LSTM
    const W = m.getWeights()['condition.weight']!.data;
    const bias = m.getWeights()['condition.bias']!.data;
    const dirs = variant === 'lstm' ? 1 : 2;
    const S = new Float64Array(B * R);
    for (let b = 0; b < B; b++) {
      for (let j = 0; j < R; j++) {
        let s = bias[j]!;
        for (let q = 0; q < k; q++) s += W[j * k + q]! * c[b * k + q]!;
        S[b * R + j] = Math.tanh(s);
      }
    }
    const state = (offset: number) => {
      const x = new Float64Array(dirs * B * H);
      for (let d = 0; d < dirs; d++)
        for (let b = 0; b < B; b++) for (let j = 0; j < H; j++) x[(d * B + b) * H + j] = S[b * R + offset + d * H + j]!;
      return { data: x, shape: [dirs, B, H] };
    };
    const explicit = variant === 'lstm' ? { h: state(0), c: state(H) } : { h: state(0) };
    const viaCondition = await m.gradients(inputs, targets, { lengths, condition });
    const viaState = await m.gradients(inputs, targets, { lengths, initialState: [explicit] });
    t.true(Math.abs(viaCondition.loss - viaState.loss) < 1e-12, `loss ${viaCondition.loss} vs ${viaState.loss}`);
    // chain rule: conditionGrad = W^T ((1 - S^2) * dS) with dS the initial-state gradient
    const sg = viaState.initialStateGrads[0]!;
    for (let b = 0; b < B; b++) {
      for (let q = 0; q < k; q++) {
        let g = 0;
        for (let j = 0; j < R; j++) {
          const isCell = j >= dirs * H;
          const d = Math.floor((isCell ? j - dirs * H : j) / H);
          const u = (isCell ? j - dirs * H : j) % H;
          const dS = (isCell ? sg.c! : sg.h).data[(d * B + b) * H + u]!;
          g += W[j * k + q]! * (1 - S[b * R + j]! ** 2) * dS;
        }
        const a = viaCondition.conditionGrad!.data[b * k + q]!;
        t.true(Math.abs(g - a) <= 1e-10 * Math.max(1, Math.abs(g)), `chain rule [${b}][${q}]: ${g} vs ${a}`);
      }
    }
    m.dispose();
  });
}

test('condition errors: missing -> TypeError, on a model without one / wrong width / with initialState[0] -> RangeError', async (t) => {
  const m = conditionedLm(1, 'gru');
  const plain = sequential({ input: { vocabSize: LM_V }, layers: [layers.gru({ units: 4 }), layers.dense({ units: LM_V })] });
  const x = [[BOS, A, A]];
  const y = [[A, A, EOS]];
  const one = [[1, 0, 0]];
  const named = /options\.condition/;

  // missing
  for (const call of [
    () => m.predict(x),
    () => m.forward(x),
    () => m.gradients(x, y),
    () => m.trainStep(x, y),
    () => m.evaluateBatch(x, y),
    () => m.evaluate({ inputs: x, targets: y }),
    () => m.fit(languageModelData([[A, A]], { bos: BOS, eos: EOS })),
    () => m.generate({ prime: [BOS], maxLength: 3 }),
  ]) {
    await t.throwsAsync(call, { instanceOf: TypeError, message: named });
  }
  // on a model built without one
  await t.throwsAsync(() => plain.predict(x, { condition: one }), { instanceOf: RangeError, message: named });
  await t.throwsAsync(() => plain.gradients(x, y, { condition: one }), { instanceOf: RangeError, message: named });
  await t.throwsAsync(() => plain.generate({ prime: [BOS], maxLength: 3, condition: [1, 0, 0] }), {
    instanceOf: RangeError,
    message: named,
  });
  await t.throwsAsync(() => plain.evaluate({ inputs: x, targets: y, condition: one }), { instanceOf: RangeError, message: named });
  // wrong width or row count
  await t.throwsAsync(() => m.predict(x, { condition: [[1, 0]] }), { instanceOf: RangeError, message: named });
  await t.throwsAsync(() => m.predict(x, { condition: [[1, 0, 0, 0]] }), { instanceOf: RangeError, message: named });
  await t.throwsAsync(() => m.predict(x, { condition: { data: new Float32Array(4), shape: [1, 4] } }), {
    instanceOf: RangeError,
    message: named,
  });
  await t.throwsAsync(() => m.predict(x, { condition: new Float32Array(2) }), { instanceOf: RangeError, message: named });
  await t.throwsAsync(
    () =>
      m.predict(x, {
        condition: [
          [1, 0, 0],
          [0, 1, 0],
        ],
      }),
    { instanceOf: RangeError, message: named },
  );
  await t.throwsAsync(() => m.generate({ prime: [BOS], maxLength: 3, condition: [1, 0] }), { instanceOf: RangeError, message: named });
  // together with initialState[0] (the condition sets it)
  const h0 = { h: new Float32Array(24) };
  await t.throwsAsync(() => m.predict(x, { condition: one, initialState: [h0] }), { instanceOf: RangeError, message: /initialState\[0\]/ });
  await t.throwsAsync(() => m.gradients(x, y, { condition: one, initialState: [h0] }), {
    instanceOf: RangeError,
    message: /initialState\[0\]/,
  });

  // the valid forms work: number[][], a Tensor, a flat float array; initialState[0]
  // alone (carrying a state on) needs no condition
  const a = await m.predict(x, { condition: one });
  const b = await m.predict(x, { condition: { data: new Float32Array([1, 0, 0]), shape: [1, 3] } });
  const c = await m.predict(x, { condition: new Float32Array([1, 0, 0]) });
  t.deepEqual(a, b);
  t.deepEqual(a, c);
  const other = await m.predict(x, { condition: [[0, 1, 0]] });
  t.true(maxAbsDiff(a.data, other.data) > 1e-6, 'the condition changes the output');
  const { finalState } = await m.forward(x, { condition: one });
  await t.notThrowsAsync(() => m.predict(x, { initialState: finalState }));
  m.dispose();
  plain.dispose();
});

// ------------------------------------------------ 4. deep RNNs

function deepLayers(units: number, hidden: [number, number], out: number) {
  return [
    layers.lstm({ units }),
    layers.gru({ units, bidirectional: true }),
    layers.rnn({ units }),
    layers.dense({ units: hidden[0], activation: 'relu' }),
    layers.dense({ units: hidden[1], activation: 'tanh' }),
    layers.dense({ units: out, activation: 'softmax' }),
  ];
}

test('deep: lstm -> bidirectional gru -> rnn -> dense relu -> dense tanh -> dense softmax learns the future-tagging task', async (t) => {
  const m = sequential({ input: { vocabSize: SYMBOLS + 1 }, layers: deepLayers(16, [24, 16], SYMBOLS + 1), seed: 2 });
  t.deepEqual(m.outputShape(2, 5), [2, 5, SYMBOLS + 1]);
  const train = futureTagRows(600, 71);
  const heldOut = futureTagRows(200, 72);
  await m.fit(train, { epochs: 40, batchSize: 32, optimizer: { type: 'adam', lr: 0.01 }, clipNorm: 5 });
  const ev = await m.evaluate(heldOut);
  t.log(`held-out accuracy ${pct(ev.accuracy)} (a causal tagger can reach at most ${pct(causalBayesAccuracy())})`);
  // only the bidirectional middle layer sees the future: passing it up through the
  // one-way rnn and the dense layers is what makes this learnable
  t.true(ev.accuracy! > 0.9, `accuracy ${ev.accuracy}`);
  await assertRowsAlone(t, m, heldOut.inputs.slice(0, 8), await m.predict(heldOut.inputs.slice(0, 8)), 1e-6);
  m.dispose();
});

test('deep: the mixed stack passes a float64 finite-difference gradient check (ragged rows, all initial states)', async (t) => {
  const V = 5,
    B = 3,
    T = 5;
  const m = sequential({ input: { vocabSize: V }, layers: deepLayers(3, [5, 4], V), dtype: 'float64', seed: 12 });
  randomizeWeights(m, 1212);
  const r = rng(13);
  const inputs = { data: Int32Array.from({ length: B * T }, () => randint(r, V)), shape: [B, T] };
  const targets = { data: Int32Array.from({ length: B * T }, () => randint(r, V)), shape: [B, T] };
  const res = await gradcheck({ model: m, inputs, targets, lengths: [5, 3, 2], kinkGuard: true, perTensor: 5 });
  const skipped = [...res.weights, ...res.states].reduce((n, c) => n + c.skipped.length, 0);
  const checked = [...res.weights, ...res.states].reduce((n, c) => n + c.checked.length, 0);
  t.log(`${checked} elements checked, ${skipped} skipped at ReLU kinks`);
  t.true(skipped <= checked / 3);
  assertGradcheck(t, res, { stateLayers: 3 });
  t.is(prod(res.states.find((s) => s.name === 'state[1].h')!.shape), 2 * B * 3, 'the bidirectional layer has 2 directions');
  m.dispose();
});
