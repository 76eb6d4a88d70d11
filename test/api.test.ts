/**
 * The public API end to end: configs and defaults, output and state shapes,
 * weight names and shapes per cell type, weights round trip, determinism,
 * training on tiny memorisation tasks, padding, dropout, carried state.
 */
import test from 'ava';
import { layers, Model, sequential, type FloatArray, type LayerConfig, type Tensor } from '../lib/index.js';
import { rng } from '../examples/lib/random.js';

function tokens(B: number, T: number, V: number, seed = 1): number[][] {
  const r = rng(seed);
  return Array.from({ length: B }, () => Array.from({ length: T }, () => Math.floor(r() * V)));
}

function features(B: number, T: number, D: number, seed = 1): number[][][] {
  const r = rng(seed);
  return Array.from({ length: B }, () => Array.from({ length: T }, () => Array.from({ length: D }, () => r() * 2 - 1)));
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** Row b of a [B, ...] tensor. */
function row(t: Tensor, b: number): FloatArray {
  const per = t.data.length / t.shape[0]!;
  return t.data.subarray(b * per, (b + 1) * per);
}

// ---------------------------------------------------------------------------
// configs

test('layer factories fill defaults and freeze', (t) => {
  const l = layers.lstm({ units: 8 });
  t.deepEqual(l, { type: 'lstm', units: 8, returnSequences: true, bidirectional: false, peephole: 'none' });
  t.true(Object.isFrozen(l));
  t.is(layers.lstm({ units: 8, peephole: true }).peephole, 'diagonal');
  t.is(layers.lstm({ units: 8, peephole: false }).peephole, 'none');
  t.is(layers.lstm({ units: 8, peephole: 'full' }).peephole, 'full');
  t.deepEqual(layers.gru({ units: 4, name: 'enc' }), {
    type: 'gru',
    units: 4,
    returnSequences: true,
    bidirectional: false,
    variant: 'full',
    resetAfter: true,
    name: 'enc',
  });
  t.deepEqual(layers.rnn({ units: 3, bidirectional: true }), {
    type: 'rnn',
    units: 3,
    returnSequences: true,
    bidirectional: true,
    activation: 'tanh',
  });
  t.deepEqual(layers.dense({ units: 2 }), { type: 'dense', units: 2, activation: 'linear' });
  t.deepEqual(layers.dropout({ rate: 0.25 }), { type: 'dropout', rate: 0.25 });
});

test('sequential normalizes the config (object literals accepted)', (t) => {
  const m = sequential({
    input: { vocabSize: 7 },
    layers: [
      { type: 'gru', units: 4 },
      { type: 'dense', units: 7 },
    ],
  });
  t.true(m instanceof Model);
  t.deepEqual(m.config as unknown, {
    input: { vocabSize: 7 },
    layers: [layers.gru({ units: 4 }), layers.dense({ units: 7 })] as LayerConfig[],
    loss: 'crossEntropy',
    reduction: 'mean',
    seed: 0,
    dtype: 'float32',
  });
  t.true(Object.isFrozen(m.config) && Object.isFrozen(m.config.layers) && Object.isFrozen(m.config.input));
  t.regex(m.summary(), /layers\.0\s+gru\s+\[B, T, 4\]/);
  t.regex(m.summary(), /Total params: /);
  m.dispose();
});

// ---------------------------------------------------------------------------
// shapes

test('output shapes: sequence, last step, bidirectional, recurrent last', async (t) => {
  const x = tokens(3, 5, 10);
  const seq = sequential({ input: { vocabSize: 10 }, layers: [layers.lstm({ units: 6 }), layers.dense({ units: 4 })] });
  const y = await seq.predict(x);
  t.deepEqual(y.shape, [3, 5, 4]);
  t.true(y.data instanceof Float32Array);
  t.is(y.data.length, 60);
  t.deepEqual(seq.outputShape(3, 5), [3, 5, 4]);

  const last = sequential({
    input: { vocabSize: 10 },
    layers: [layers.gru({ units: 6, returnSequences: false }), layers.dense({ units: 4, activation: 'softmax' })],
  });
  const z = await last.predict(x);
  t.deepEqual(z.shape, [3, 4]);
  for (let b = 0; b < 3; b++) t.true(Math.abs(Array.from(row(z, b)).reduce((a, v) => a + v, 0) - 1) < 1e-5);

  const bi = sequential({
    input: { features: 2 },
    layers: [layers.rnn({ units: 5, bidirectional: true })],
    loss: 'mse',
  });
  const { output, finalState } = await bi.forward(features(3, 4, 2));
  t.deepEqual(output.shape, [3, 4, 10]);
  t.is(finalState.length, 1);
  t.deepEqual(finalState[0]!.h.shape, [2, 3, 5]);
  t.is(finalState[0]!.c, undefined);

  const biLast = sequential({
    input: { features: 2 },
    layers: [layers.lstm({ units: 5, bidirectional: true, returnSequences: false })],
    loss: 'mse',
  });
  const r = await biLast.forward(features(3, 4, 2));
  t.deepEqual(r.output.shape, [3, 10]);
  t.deepEqual(r.finalState[0]!.h.shape, [2, 3, 5]);
  t.deepEqual(r.finalState[0]!.c!.shape, [2, 3, 5]);
  for (const m of [seq, last, bi, biLast]) m.dispose();
});

test('stacked layers: one final state per recurrent layer', async (t) => {
  const m = sequential({
    input: { vocabSize: 9 },
    layers: [
      layers.lstm({ units: 4, bidirectional: true }),
      layers.dropout({ rate: 0.2 }),
      layers.gru({ units: 3 }),
      layers.rnn({ units: 2, returnSequences: false }),
      layers.dense({ units: 9 }),
    ],
  });
  const { output, finalState } = await m.forward(tokens(2, 3, 9));
  t.deepEqual(output.shape, [2, 9]);
  t.deepEqual(
    finalState.map((s) => [s.h.shape, s.c?.shape]),
    [
      [
        [2, 2, 4],
        [2, 2, 4],
      ],
      [[1, 2, 3], undefined],
      [[1, 2, 2], undefined],
    ],
  );
  m.dispose();
});

// ---------------------------------------------------------------------------
// weights

function weightShapes(m: Model): Record<string, number[]> {
  return Object.fromEntries(Object.entries(m.getWeights()).map(([k, v]) => [k, v.shape]));
}

test('weight names and shapes for each cell type', (t) => {
  const D = 5;
  const H = 3;
  const cases: [LayerConfig, Record<string, number[]>][] = [
    [layers.rnn({ units: H }), { weight_ih_l0: [H, D], weight_hh_l0: [H, H], bias_ih_l0: [H], bias_hh_l0: [H] }],
    [layers.gru({ units: H }), { weight_ih_l0: [3 * H, D], weight_hh_l0: [3 * H, H], bias_ih_l0: [3 * H], bias_hh_l0: [3 * H] }],
    [
      layers.gru({ units: H, variant: 'minimal' }),
      { weight_ih_l0: [2 * H, D], weight_hh_l0: [2 * H, H], bias_ih_l0: [2 * H], bias_hh_l0: [2 * H] },
    ],
    [layers.lstm({ units: H }), { weight_ih_l0: [4 * H, D], weight_hh_l0: [4 * H, H], bias_ih_l0: [4 * H], bias_hh_l0: [4 * H] }],
    [
      layers.lstm({ units: H, peephole: true }),
      { weight_ih_l0: [4 * H, D], weight_hh_l0: [4 * H, H], bias_ih_l0: [4 * H], bias_hh_l0: [4 * H], weight_peephole_l0: [3 * H] },
    ],
    [
      layers.lstm({ units: H, peephole: 'full' }),
      { weight_ih_l0: [4 * H, D], weight_hh_l0: [4 * H, H], bias_ih_l0: [4 * H], bias_hh_l0: [4 * H], weight_peephole_l0: [3 * H, H] },
    ],
  ];
  for (const [layer, local] of cases) {
    const m = sequential({ input: { features: D }, layers: [layer, layers.dense({ units: 2 })], loss: 'mse' });
    const expected: Record<string, number[]> = { 'layers.1.weight': [2, H], 'layers.1.bias': [2] };
    for (const [k, v] of Object.entries(local)) expected[`layers.0.${k}`] = v;
    t.deepEqual(weightShapes(m), expected, JSON.stringify(layer));
    t.deepEqual([...m.weightNames].sort(), Object.keys(expected).sort());
    const total = Object.values(expected).reduce((n, s) => n + s.reduce((a, b) => a * b, 1), 0);
    t.is(m.numParams, total);
    m.dispose();
  }
});

test('bidirectional weights get _reverse names; named layers prefix their weights', (t) => {
  const m = sequential({
    input: { vocabSize: 11 },
    layers: [
      layers.gru({ units: 4, bidirectional: true, name: 'encoder' }),
      layers.dropout({ rate: 0.1, name: 'drop' }),
      layers.dense({ units: 11, name: 'head' }),
    ],
  });
  t.deepEqual(weightShapes(m), {
    'encoder.weight_ih_l0': [12, 11],
    'encoder.weight_hh_l0': [12, 4],
    'encoder.bias_ih_l0': [12],
    'encoder.bias_hh_l0': [12],
    'encoder.weight_ih_l0_reverse': [12, 11],
    'encoder.weight_hh_l0_reverse': [12, 4],
    'encoder.bias_ih_l0_reverse': [12],
    'encoder.bias_hh_l0_reverse': [12],
    'head.weight': [11, 8],
    'head.bias': [11],
  });
  m.dispose();
});

test('getWeights / setWeights round trip, subsets, dtype conversion', async (t) => {
  const m = sequential({ input: { vocabSize: 6 }, layers: [layers.lstm({ units: 3 }), layers.dense({ units: 6 })], seed: 3 });
  const x = tokens(2, 4, 6);
  const w0 = m.getWeights();
  const y0 = await m.predict(x);
  // fresh arrays: mutating the returned copy changes nothing
  w0['layers.1.bias']!.data.fill(100);
  t.notDeepEqual(m.getWeights()['layers.1.bias']!.data, w0['layers.1.bias']!.data);

  const r = rng(9);
  const next: Record<string, Tensor> = {};
  for (const [k, v] of Object.entries(m.getWeights())) {
    next[k] = { shape: v.shape, data: Float32Array.from(v.data, () => r() - 0.5) };
  }
  m.setWeights(next);
  const back = m.getWeights();
  for (const k of m.weightNames) t.deepEqual(back[k]!.data, next[k]!.data, k);
  t.true(maxDiff((await m.predict(x)).data, y0.data) > 1e-4);

  // a subset, as a bare Float64Array converted to float32
  const bias = Float64Array.from({ length: 6 }, (_, i) => i / 10);
  m.setWeights({ 'layers.1.bias': bias });
  const got = m.getWeights()['layers.1.bias']!;
  t.true(got.data instanceof Float32Array);
  t.true(maxDiff(got.data, bias) < 1e-7);
  t.deepEqual(m.getWeights()['layers.0.weight_ih_l0']!.data, next['layers.0.weight_ih_l0']!.data);
  m.dispose();
});

test('float64 models return Float64Array everywhere and accept Float32Array weights', async (t) => {
  const m = sequential({
    input: { features: 2 },
    layers: [layers.gru({ units: 3 }), layers.dense({ units: 1 })],
    loss: 'mse',
    dtype: 'float64',
  });
  const x = features(2, 3, 2);
  t.true((await m.predict(x)).data instanceof Float64Array);
  const { grads, initialStateGrads } = await m.gradients(x, [
    [[0], [1], [0]],
    [[1], [0], [1]],
  ]);
  t.true(Object.values(grads).every((g) => g.data instanceof Float64Array));
  t.true(initialStateGrads[0]!.h.data instanceof Float64Array);
  m.setWeights({ 'layers.1.bias': new Float32Array([0.5]) });
  const b = m.getWeights()['layers.1.bias']!;
  t.true(b.data instanceof Float64Array);
  t.is(b.data[0], 0.5);
  m.dispose();
});

test('seed determinism: same seed same weights, different seed different', (t) => {
  const make = (seed: number) =>
    sequential({ input: { vocabSize: 8 }, layers: [layers.lstm({ units: 4 }), layers.dense({ units: 8 })], seed });
  const [a, b, c] = [make(42), make(42), make(43)];
  const [wa, wb, wc] = [a.getWeights(), b.getWeights(), c.getWeights()];
  for (const k of a.weightNames) t.deepEqual(wa[k]!.data, wb[k]!.data, k);
  t.true(maxDiff(wa['layers.0.weight_ih_l0']!.data, wc['layers.0.weight_ih_l0']!.data) > 0);
  t.true(maxDiff(wa['layers.0.weight_hh_l0']!.data, wc['layers.0.weight_hh_l0']!.data) > 0);
  // PyTorch-like uniform(-1/sqrt(H), 1/sqrt(H)) init is bounded; at least: finite, non-constant
  const w = wa['layers.0.weight_hh_l0']!.data;
  t.true(w.every(Number.isFinite));
  t.true(Math.max(...w) > Math.min(...w));
  for (const m of [a, b, c]) m.dispose();
});

test('predict is deterministic', async (t) => {
  const m = sequential({ input: { vocabSize: 8 }, layers: [layers.gru({ units: 5 }), layers.dense({ units: 8 })], seed: 5 });
  const x = tokens(3, 6, 8);
  const y1 = await m.predict(x);
  const y2 = await m.predict(x);
  t.deepEqual(y1.data, y2.data);
  const f = await m.forward(x);
  t.deepEqual(f.output.data, y1.data);
  m.dispose();
});

test('nested and tensor inputs give the same result', async (t) => {
  const tm = sequential({ input: { vocabSize: 8 }, layers: [layers.gru({ units: 5 }), layers.dense({ units: 8 })] });
  const x = [
    [1, 2, 3],
    [4, 5],
  ];
  const a = await tm.predict(x);
  const b = await tm.predict({ data: Int32Array.from([1, 2, 3, 4, 5, 0]), shape: [2, 3] }, { lengths: [3, 2] });
  t.deepEqual(a.data, b.data);
  // rows as Int32Arrays (what a tokenizer's encode returns), alone or mixed with arrays
  t.deepEqual((await tm.predict([Int32Array.of(1, 2, 3), Int32Array.of(4, 5)])).data, a.data);
  t.deepEqual((await tm.predict([Int32Array.of(1, 2, 3), [4, 5]])).data, a.data);
  await t.throwsAsync(tm.predict([Int32Array.of(1, 9)]), { instanceOf: RangeError, message: /for inputs\[0\]\[1\] but received number 9/ });
  await t.throwsAsync(tm.predict([Float32Array.of(1, 2)] as never), {
    instanceOf: TypeError,
    message: /^Expected an array of token ids or an Int32Array for inputs\[0\] but received Float32Array/,
  });

  const fm = sequential({ input: { features: 2 }, layers: [layers.lstm({ units: 3 })], loss: 'mse' });
  const xf = features(2, 3, 2);
  const c = await fm.predict(xf);
  const d = await fm.predict({ data: Float64Array.from(xf.flat(2)), shape: [2, 3, 2] });
  t.true(maxDiff(c.data, d.data) < 1e-6);
  tm.dispose();
  fm.dispose();
});

// ---------------------------------------------------------------------------
// padding

for (const [label, layer] of [
  ['lstm', layers.lstm({ units: 4 })],
  ['bidirectional gru', layers.gru({ units: 4, bidirectional: true })],
  ['bidirectional peephole lstm', layers.lstm({ units: 4, bidirectional: true, peephole: true })],
  ['rnn', layers.rnn({ units: 4 })],
] as const) {
  test(`ragged inputs: padding does not leak into a row (${label})`, async (t) => {
    const m = sequential({ input: { vocabSize: 7 }, layers: [layer, layers.dense({ units: 3 })], seed: 2 });
    const batch = [
      [1, 2, 3, 4, 5],
      [6, 1],
      [2, 2, 2],
    ];
    const y = await m.predict(batch);
    t.deepEqual(y.shape, [3, 5, 3]);
    for (let b = 0; b < batch.length; b++) {
      const alone = await m.predict([batch[b]!]);
      const L = batch[b]!.length;
      const mine = row(y, b);
      t.true(maxDiff(mine.subarray(0, L * 3), alone.data) < 1e-5, `row ${b}`);
      t.true(
        mine.subarray(L * 3).every((v) => v === 0),
        `padded steps of row ${b} are 0`,
      );
    }
    // padded token values do not matter either
    const y2 = await m.predict(
      { data: Int32Array.from([1, 2, 3, 4, 5, 6, 1, 5, 5, 5, 2, 2, 2, 6, 6]), shape: [3, 5] },
      { lengths: [5, 2, 3] },
    );
    t.deepEqual(y2.data, y.data);
    m.dispose();
  });
}

test("ragged inputs: last-step output and final state use each row's last valid step", async (t) => {
  const m = sequential({
    input: { vocabSize: 7 },
    layers: [layers.lstm({ units: 4, returnSequences: false, bidirectional: true }), layers.dense({ units: 3 })],
    seed: 4,
  });
  const batch = [
    [1, 2, 3, 4],
    [5, 6],
  ];
  const all = await m.forward(batch);
  for (let b = 0; b < 2; b++) {
    const alone = await m.forward([batch[b]!]);
    t.true(maxDiff(row(all.output, b), alone.output.data) < 1e-5);
    const h = all.finalState[0]!.h; // [2, B, H]
    for (let dir = 0; dir < 2; dir++) {
      const mine = h.data.subarray((dir * 2 + b) * 4, (dir * 2 + b + 1) * 4);
      const ref = alone.finalState[0]!.h.data.subarray(dir * 4, dir * 4 + 4);
      t.true(maxDiff(mine, ref) < 1e-5, `row ${b} dir ${dir}`);
    }
  }
  // gradients of a ragged batch: padded targets ignored, equal to per-row gradients summed (reduction sum)
  m.dispose();
});

test('padded positions do not contribute to the loss or gradients', async (t) => {
  const m = sequential({
    input: { vocabSize: 5 },
    layers: [layers.gru({ units: 3 }), layers.dense({ units: 5 })],
    reduction: 'sum',
    seed: 8,
  });
  const x = [
    [1, 2, 3],
    [4, 0],
  ];
  const y = [
    [2, 3, 4],
    [0, 1],
  ];
  const both = await m.gradients(x, y);
  const a = await m.gradients([x[0]!], [y[0]!]);
  const b = await m.gradients([x[1]!], [y[1]!]);
  t.true(Math.abs(both.loss - (a.loss + b.loss)) < 1e-4);
  for (const k of m.weightNames) {
    const sum = a.grads[k]!.data.map((v, i) => v + b.grads[k]!.data[i]!);
    t.true(maxDiff(both.grads[k]!.data, sum) < 1e-4, k);
  }
  // different class ids at padded target positions change nothing
  const other = await m.gradients(x, { data: Int32Array.from([2, 3, 4, 0, 1, 4]), shape: [2, 3] });
  t.is(other.loss, both.loss);
  m.dispose();
});

// ---------------------------------------------------------------------------
// gradients and state

test('gradients: keys and shapes match the weights; state gradients match states', async (t) => {
  const m = sequential({
    input: { features: 3 },
    layers: [layers.lstm({ units: 4, bidirectional: true }), layers.gru({ units: 2, returnSequences: false }), layers.dense({ units: 1 })],
    loss: 'mse',
  });
  const x = features(2, 4, 3);
  const { loss, grads, initialStateGrads } = await m.gradients(x, [[0.5], [-0.5]]);
  t.true(Number.isFinite(loss) && loss > 0);
  t.deepEqual(Object.keys(grads).sort(), [...m.weightNames].sort());
  const w = m.getWeights();
  for (const k of m.weightNames) t.deepEqual(grads[k]!.shape, w[k]!.shape);
  t.deepEqual(
    initialStateGrads.map((s) => [s.h.shape, s.c?.shape]),
    [
      [
        [2, 2, 4],
        [2, 2, 4],
      ],
      [[1, 2, 2], undefined],
    ],
  );
  // gradients() does not change the weights
  t.deepEqual(m.getWeights()['layers.2.bias']!.data, w['layers.2.bias']!.data);
  m.dispose();
});

test('carried state: two chunks with initialState = finalState equal one pass', async (t) => {
  for (const layer of [layers.lstm({ units: 4, peephole: true }), layers.gru({ units: 4 }), layers.rnn({ units: 4 })]) {
    const m = sequential({ input: { vocabSize: 6 }, layers: [layer, layers.lstm({ units: 3 }), layers.dense({ units: 6 })], seed: 6 });
    const x = tokens(2, 6, 6, 3);
    const whole = await m.predict(x);
    const first = await m.forward(x.map((r) => r.slice(0, 4)));
    const second = await m.forward(
      x.map((r) => r.slice(4)),
      { initialState: first.finalState },
    );
    for (let b = 0; b < 2; b++) {
      const w = row(whole, b);
      t.true(maxDiff(w.subarray(0, 4 * 6), row(first.output, b)) < 1e-5, layer.type);
      t.true(maxDiff(w.subarray(4 * 6), row(second.output, b)) < 1e-5, layer.type);
    }
    m.dispose();
  }
});

// ---------------------------------------------------------------------------
// training

for (const type of ['lstm', 'gru', 'rnn'] as const) {
  test(`trainStep memorises a tiny batch (${type})`, async (t) => {
    const V = 8;
    const m = sequential({
      input: { vocabSize: V },
      layers: [layers[type]({ units: 16 }), layers.dense({ units: V })],
      seed: 11,
    });
    const x = tokens(4, 6, V, 21);
    const y = tokens(4, 6, V, 22);
    const first = await m.trainStep(x, y, { optimizer: { type: 'adam', lr: 0.05 } });
    t.true(Number.isFinite(first.loss) && first.gradNorm > 0);
    let last = first.loss;
    for (let i = 0; i < 29; i++) last = (await m.trainStep(x, y, { optimizer: { type: 'adam', lr: 0.05 } })).loss;
    t.true(last < 0.5 * first.loss, `loss ${first.loss} -> ${last}`);
    m.dispose();
  });
}

test('trainStep with the default optimizer, sgd, clipping, mse and binaryCrossEntropy', async (t) => {
  const x = features(3, 4, 2, 5);
  const mse = sequential({
    input: { features: 2 },
    layers: [layers.gru({ units: 8, returnSequences: false }), layers.dense({ units: 1 })],
    loss: 'mse',
  });
  const y = [[0.5], [-0.5], [0.25]];
  const l0 = (await mse.gradients(x, y)).loss;
  for (let i = 0; i < 40; i++) await mse.trainStep(x, y, { optimizer: { type: 'sgd', lr: 0.1, momentum: 0.9 }, clipNorm: 1 });
  t.true((await mse.gradients(x, y)).loss < 0.5 * l0);

  const bce = sequential({
    input: { features: 2 },
    layers: [layers.lstm({ units: 8 }), layers.dense({ units: 2, activation: 'sigmoid' })],
    loss: 'binaryCrossEntropy',
  });
  const yb = x.map((r) => r.map((s) => [s[0]! > 0 ? 1 : 0, s[1]! > 0 ? 1 : 0]));
  const b0 = (await bce.trainStep(x, yb)).loss;
  let b1 = b0;
  for (let i = 0; i < 60; i++) b1 = (await bce.trainStep(x, yb, { optimizer: { type: 'adamw', lr: 0.03 }, clipValue: 1 })).loss;
  t.true(b1 < 0.7 * b0, `${b0} -> ${b1}`);
  mse.dispose();
  bce.dispose();
});

// ---------------------------------------------------------------------------
// dropout

test('dropout is active in trainStep / gradients and absent in predict', async (t) => {
  const make = (rate: number) =>
    sequential({
      input: { vocabSize: 6 },
      layers: [layers.lstm({ units: 16 }), layers.dropout({ rate }), layers.dense({ units: 6 })],
      seed: 7,
    });
  const m = make(0.5);
  const ref = make(0);
  const x = tokens(4, 5, 6);
  const y = tokens(4, 5, 6, 2);
  // predict ignores dropout: same as the model without dropout (same seed = same weights)
  t.deepEqual((await m.predict(x)).data, (await ref.predict(x)).data);
  // forward(training: true) applies it
  t.true(maxDiff((await m.forward(x, { training: true })).output.data, (await m.predict(x)).data) > 1e-3);
  // gradients: training true (default) differs from false; repeated calls see the same mask
  const g1 = await m.gradients(x, y);
  const g2 = await m.gradients(x, y);
  const g0 = await m.gradients(x, y, { training: false });
  t.is(g1.loss, g2.loss);
  t.not(g1.loss, g0.loss);
  t.is(g0.loss, (await ref.gradients(x, y)).loss);
  // trainStep uses dropout: its loss (before the update) equals the training-mode loss of gradients()
  const before = m.getWeights();
  const step = await m.trainStep(x, y, { optimizer: { type: 'sgd', lr: 1e-3 } });
  t.true(Math.abs(step.loss - g1.loss) < 1e-5);
  t.not(step.loss, g0.loss);
  // the mask advances with each trainStep
  m.setWeights(before);
  const g3 = await m.gradients(x, y);
  t.not(g3.loss, g1.loss);
  m.dispose();
  ref.dispose();
});
