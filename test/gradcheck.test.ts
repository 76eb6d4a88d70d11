/**
 * Finite-difference gradient checks (double precision) through the public
 * API: every cell and option, BPTT over T >= 3, ragged lengths with padding,
 * initial-state gradients, both directions, stacks with dropout, many-to-one,
 * every loss x final activation x reduction. Plus: padded positions change
 * neither the loss nor any gradient.
 *
 * How: test/helpers/gradcheck.ts. Each model is float64 with all weights
 * overwritten by seeded uniform(-0.6, 0.6) values (biases included), inputs
 * and targets come from a seeded RNG; for each weight tensor and each initial
 * state h0 / c0 up to 6 elements are checked (always including the largest
 * |analytic| one) against (f(w+eps) - f(w-eps)) / (2 eps), eps = 1e-5 (why
 * not 1e-6: see the helper), where f is gradients()'s loss. Metric
 * |a-n| / max(|a|+|n|, 1e-4); max < 1e-5. Every test also asserts that grads
 * has exactly getWeights()'s names (and the contract's names and shapes), that
 * every tensor's gradient is non-negligible, and, with dropout, that the
 * dropout is active in gradients().
 * Initial states that a case does not give are checked around zeros.
 *
 * ReLU (rnn activation 'relu', dense 'relu'): the loss has kinks where a
 * pre-activation is exactly 0. Inputs are continuous features and all
 * weights and biases are random, so pre-activations are almost surely
 * > ~1e-3 away from 0 and a +-1e-5 step does not cross one; the helper's kink
 * guard (second difference / eps^2 > 1e3) would still detect a crossing and
 * skip that element instead of failing, and the test asserts that at most a
 * third of the elements are skipped and that every tensor is still checked.
 * With the seeds used no element is skipped (the guard itself was verified by
 * placing a pre-activation 1e-7 from 0: bias_ih[0] and bias_hh[0] skipped).
 */
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { sequential, layers, type Model, type ModelInput, type Targets } from '../lib/index.js';
import {
  assertGradcheck,
  gradcheck,
  prod,
  randint,
  randomizeWeights,
  rng,
  uniform,
  type GivenState,
  type GradModel,
  type Tensor,
} from './helpers/gradcheck.js';

// ---------------------------------------------------------------- cases

type Loss = 'crossEntropy' | 'binaryCrossEntropy' | 'mse';
type Act = 'linear' | 'softmax' | 'sigmoid' | 'tanh' | 'relu';

type LayerSpec =
  | { type: 'rnn'; units: number; activation?: 'tanh' | 'relu'; bidirectional?: boolean; returnSequences?: boolean; name?: string }
  | {
      type: 'gru';
      units: number;
      variant?: 'full' | 'minimal';
      resetAfter?: boolean;
      bidirectional?: boolean;
      returnSequences?: boolean;
      name?: string;
    }
  | {
      type: 'lstm';
      units: number;
      peephole?: boolean | 'none' | 'diagonal' | 'full';
      bidirectional?: boolean;
      returnSequences?: boolean;
      name?: string;
    }
  | { type: 'dense'; units: number; activation?: Act; name?: string }
  | { type: 'dropout'; rate: number; name?: string };

interface Case {
  input: { vocabSize: number } | { features: number };
  layers: LayerSpec[];
  loss?: Loss;
  reduction?: 'mean' | 'sum';
  /** batch size; default 3 */
  B?: number;
  /** padded length; default 4 */
  T?: number;
  /** valid lengths; default [T, T-1, 2, ...] */
  lengths?: number[];
  /**
   * 'nested': ragged number arrays, lengths inferred (no lengths option);
   * 'typed': { data, shape } with explicit lengths (default)
   */
  form?: 'nested' | 'typed';
  /** give a random h0 (and c0) to every recurrent layer */
  initialState?: boolean;
  /** model and data seed */
  seed?: number;
  kinkGuard?: boolean;
}

function buildLayer(l: LayerSpec) {
  const { type, ...opts } = l;
  switch (type) {
    case 'rnn':
      return layers.rnn(opts as Parameters<typeof layers.rnn>[0]);
    case 'gru':
      return layers.gru(opts as Parameters<typeof layers.gru>[0]);
    case 'lstm':
      return layers.lstm(opts as Parameters<typeof layers.lstm>[0]);
    case 'dense':
      return layers.dense(opts as Parameters<typeof layers.dense>[0]);
    case 'dropout':
      return layers.dropout(opts as Parameters<typeof layers.dropout>[0]);
  }
}

type RecSpec = Extract<LayerSpec, { type: 'rnn' | 'gru' | 'lstm' }>;
const isRecurrent = (l: LayerSpec): l is RecSpec => l.type === 'rnn' || l.type === 'gru' || l.type === 'lstm';

/** Weight names and shapes the contract prescribes for a layer stack. */
function expectedWeights(c: Case): Record<string, number[]> {
  let d = 'vocabSize' in c.input ? c.input.vocabSize : c.input.features;
  const out: Record<string, number[]> = {};
  c.layers.forEach((l, i) => {
    const prefix = l.name ?? `layers.${i}`;
    if (isRecurrent(l)) {
      const H = l.units;
      const G = l.type === 'lstm' ? 4 : l.type === 'rnn' ? 1 : l.variant === 'minimal' ? 2 : 3;
      const peep = l.type === 'lstm' ? (l.peephole === true ? 'diagonal' : l.peephole || 'none') : 'none';
      const dirs = l.bidirectional ? 2 : 1;
      for (const sfx of dirs === 2 ? ['', '_reverse'] : ['']) {
        out[`${prefix}.weight_ih_l0${sfx}`] = [G * H, d];
        out[`${prefix}.weight_hh_l0${sfx}`] = [G * H, H];
        out[`${prefix}.bias_ih_l0${sfx}`] = [G * H];
        out[`${prefix}.bias_hh_l0${sfx}`] = [G * H];
        if (peep === 'diagonal') out[`${prefix}.weight_peephole_l0${sfx}`] = [3 * H];
        if (peep === 'full') out[`${prefix}.weight_peephole_l0${sfx}`] = [3 * H, H];
      }
      d = dirs * H;
    } else if (l.type === 'dense') {
      out[`${prefix}.weight`] = [l.units, d];
      out[`${prefix}.bias`] = [l.units];
      d = l.units;
    }
  });
  return out;
}

/** Output layout: K and whether the output is a sequence ([B, T, K]) or last-step ([B, K]). */
function outputInfo(c: Case): { K: number; seq: boolean } {
  let K = 'vocabSize' in c.input ? c.input.vocabSize : c.input.features;
  let seq = true;
  for (const l of c.layers) {
    if (isRecurrent(l)) {
      K = (l.bidirectional ? 2 : 1) * l.units;
      if (l.returnSequences === false) seq = false;
    } else if (l.type === 'dense') K = l.units;
  }
  return { K, seq };
}

interface Data {
  inputs: ModelInput;
  targets: Targets;
  lengths?: number[];
  initialState?: GivenState[];
}

/**
 * Seeded inputs / targets / initial states. Padded positions get arbitrary
 * (valid) junk values in 'typed' form; 'nested' inputs are ragged rows.
 */
function makeData(c: Case, seed: number): Data {
  const r = rng(seed);
  const T = c.T ?? 4;
  const B = c.B ?? 3;
  const lengths = c.lengths ?? Array.from({ length: B }, (_, b) => Math.max(2, T - b));
  if (lengths.length !== B) throw new Error('bad case: lengths');
  const loss = c.loss ?? 'crossEntropy';
  const { K, seq } = outputInfo(c);
  const form = c.form ?? 'typed';
  const data: Data = { inputs: [], targets: [] };

  if ('vocabSize' in c.input) {
    const V = c.input.vocabSize;
    const ids = new Int32Array(B * T);
    for (let i = 0; i < ids.length; i++) ids[i] = randint(r, V);
    data.inputs = form === 'typed' ? { data: ids, shape: [B, T] } : lengths.map((len, b) => Array.from(ids.subarray(b * T, b * T + len)));
  } else {
    const D = c.input.features;
    const x = new Float64Array(B * T * D);
    for (let i = 0; i < x.length; i++) x[i] = uniform(r, -1, 1);
    data.inputs =
      form === 'typed'
        ? { data: x, shape: [B, T, D] }
        : lengths.map((len, b) => Array.from({ length: len }, (_, t) => Array.from(x.subarray((b * T + t) * D, (b * T + t + 1) * D))));
  }
  if (form === 'typed') data.lengths = lengths;

  // targets: always the full shape (padded positions are ignored by the loss)
  const P = seq ? B * T : B;
  if (loss === 'crossEntropy') {
    const y = new Int32Array(P);
    for (let i = 0; i < P; i++) y[i] = randint(r, K);
    if (form === 'typed') data.targets = { data: y, shape: seq ? [B, T] : [B] };
    else data.targets = seq ? Array.from({ length: B }, (_, b) => Array.from(y.subarray(b * T, (b + 1) * T))) : Array.from(y);
  } else {
    const y = new Float64Array(P * K);
    for (let i = 0; i < y.length; i++) y[i] = loss === 'binaryCrossEntropy' ? randint(r, 2) : uniform(r, -0.9, 0.9);
    if (form === 'typed') data.targets = { data: y, shape: seq ? [B, T, K] : [B, K] };
    else {
      const row = (p: number) => Array.from(y.subarray(p * K, (p + 1) * K));
      data.targets = seq
        ? Array.from({ length: B }, (_, b) => Array.from({ length: T }, (_, t) => row(b * T + t)))
        : Array.from({ length: B }, (_, b) => row(b));
    }
  }

  if (c.initialState) {
    // alternate the accepted forms: Tensor for even layers, bare Float64Array for odd ones
    data.initialState = c.layers.filter(isRecurrent).map((l, i) => {
      const shape = [l.bidirectional ? 2 : 1, B, l.units];
      const arr = () => {
        const a = new Float64Array(prod(shape));
        for (let j = 0; j < a.length; j++) a[j] = uniform(r, -0.8, 0.8);
        return i % 2 === 0 ? ({ shape, data: a } as Tensor) : a;
      };
      return l.type === 'lstm' ? { h: arr(), c: arr() } : { h: arr() };
    });
  }
  return data;
}

/** gradients() options of a data set, without undefined keys. */
function optionsOf(d: Data): { lengths?: number[]; initialState?: GivenState[] } {
  const o: { lengths?: number[]; initialState?: GivenState[] } = {};
  if (d.lengths) o.lengths = d.lengths;
  if (d.initialState) o.initialState = d.initialState;
  return o;
}

function makeModel(c: Case): Model {
  const model = sequential({
    input: c.input,
    layers: c.layers.map(buildLayer),
    loss: c.loss ?? 'crossEntropy',
    reduction: c.reduction ?? 'mean',
    seed: c.seed ?? 7,
    dtype: 'float64',
  });
  randomizeWeights(model, (c.seed ?? 7) + 1000);
  return model;
}

async function runCase(t: ExecutionContext, c: Case): Promise<void> {
  const model = makeModel(c);
  try {
    const seed = c.seed ?? 7;
    const d = makeData(c, seed);

    // weight names and shapes follow the contract
    const w = model.getWeights();
    const shapes = Object.fromEntries(Object.entries(w).map(([k, v]) => [k, v.shape]));
    t.deepEqual(shapes, expectedWeights(c), 'weight names and shapes');
    for (const [k, v] of Object.entries(w)) t.true(v.data instanceof Float64Array, `${k} is Float64Array`);

    if (c.layers.some((l) => l.type === 'dropout')) {
      // the dropout must be active in gradients() (training defaults to true) ...
      const opts = optionsOf(d);
      const on = await model.gradients(d.inputs, d.targets, opts);
      const off = await model.gradients(d.inputs, d.targets, { ...opts, training: false });
      t.not(on.loss, off.loss, 'dropout changes the training loss');
    }

    const res = await gradcheck({
      model,
      inputs: d.inputs,
      targets: d.targets,
      lengths: d.lengths,
      initialState: d.initialState,
      seed,
      kinkGuard: c.kinkGuard,
    });
    const recurrent = c.layers.filter(isRecurrent).length;
    assertGradcheck(t, res, { stateLayers: recurrent });
    if (c.kinkGuard) {
      const all = [...res.weights, ...res.states];
      const skipped = all.reduce((s, x) => s + x.skipped.length, 0);
      const checked = all.reduce((s, x) => s + x.checked.length, 0);
      t.log(`kink guard: ${skipped} skipped, ${checked} checked`);
      t.true(skipped * 3 <= skipped + checked, 'at most a third of the elements sit on a kink');
    }
  } finally {
    model.dispose();
  }
}

const V = 6; // vocabulary
const D = 3; // features
const K = 4; // classes / outputs
const tokens = { vocabSize: V };
const features = { features: D };
const head = (activation: Act = 'softmax', units = K): LayerSpec => ({ type: 'dense', units, activation });

// ---------------------------------------------------------------- cells

test('rnn tanh (tokens, nested ragged input, lengths inferred)', (t) =>
  runCase(t, { input: tokens, layers: [{ type: 'rnn', units: 4, activation: 'tanh' }, head()], form: 'nested' }));

test('rnn relu (features; kink guard)', (t) =>
  runCase(t, {
    input: features,
    layers: [{ type: 'rnn', units: 5, activation: 'relu' }, head('linear')],
    loss: 'mse',
    T: 5,
    lengths: [5, 4, 2],
    kinkGuard: true,
  }));

test('gru full, resetAfter true (tokens)', (t) =>
  runCase(t, { input: tokens, layers: [{ type: 'gru', units: 4, resetAfter: true }, head()] }));

test('gru full, resetAfter false (features, nested ragged input)', (t) =>
  runCase(t, {
    input: features,
    layers: [{ type: 'gru', units: 4, resetAfter: false }, head()],
    form: 'nested',
  }));

test('gru minimal (tokens)', (t) =>
  runCase(t, { input: tokens, layers: [{ type: 'gru', units: 4, variant: 'minimal' }, head()], T: 5, lengths: [5, 4, 2] }));

test('lstm (features)', (t) => runCase(t, { input: features, layers: [{ type: 'lstm', units: 4 }, head()] }));

test("lstm peephole 'diagonal' (tokens)", (t) =>
  runCase(t, { input: tokens, layers: [{ type: 'lstm', units: 4, peephole: 'diagonal' }, head()] }));

test('lstm peephole true (= diagonal, features)', (t) =>
  runCase(t, { input: features, layers: [{ type: 'lstm', units: 3, peephole: true }, head()] }));

test("lstm peephole 'full' (features, nested ragged input)", (t) =>
  runCase(t, { input: features, layers: [{ type: 'lstm', units: 4, peephole: 'full' }, head()], form: 'nested' }));

test('mse directly on a recurrent output (gru, no dense head)', (t) =>
  runCase(t, { input: features, layers: [{ type: 'gru', units: 3 }], loss: 'mse' }));

test('no row has the full length; a length-1 row (lstm, features)', (t) =>
  runCase(t, {
    input: features,
    layers: [{ type: 'lstm', units: 3 }, head()],
    B: 4,
    T: 5,
    lengths: [4, 3, 1, 2],
    initialState: true,
  }));

// ---------------------------------------------------------------- initial states

test('rnn with h0 given (tokens)', (t) => runCase(t, { input: tokens, layers: [{ type: 'rnn', units: 4 }, head()], initialState: true }));

test('gru with h0 given (features)', (t) =>
  runCase(t, { input: features, layers: [{ type: 'gru', units: 4 }, head()], initialState: true }));

test('gru minimal with h0 given (tokens, nested)', (t) =>
  runCase(t, {
    input: tokens,
    layers: [{ type: 'gru', units: 3, variant: 'minimal' }, head()],
    initialState: true,
    form: 'nested',
  }));

test('lstm with h0 and c0 given (tokens)', (t) =>
  runCase(t, { input: tokens, layers: [{ type: 'lstm', units: 4 }, head()], initialState: true }));

test("lstm peephole 'full' with h0 and c0 given (features)", (t) =>
  runCase(t, {
    input: features,
    layers: [{ type: 'lstm', units: 3, peephole: 'full' }, head()],
    initialState: true,
  }));

test("lstm peephole 'diagonal' with h0 and c0 given (features)", (t) =>
  runCase(t, {
    input: features,
    layers: [{ type: 'lstm', units: 3, peephole: 'diagonal' }, head()],
    initialState: true,
  }));

// ---------------------------------------------------------------- bidirectional

test('bidirectional lstm (features, h0 c0 given)', (t) =>
  runCase(t, {
    input: features,
    layers: [{ type: 'lstm', units: 3, bidirectional: true }, head()],
    initialState: true,
  }));

test("bidirectional lstm peephole 'diagonal' (tokens)", (t) =>
  runCase(t, { input: tokens, layers: [{ type: 'lstm', units: 3, bidirectional: true, peephole: 'diagonal' }, head()] }));

test('bidirectional gru resetAfter true (tokens, nested)', (t) =>
  runCase(t, { input: tokens, layers: [{ type: 'gru', units: 3, bidirectional: true }, head()], form: 'nested' }));

test('bidirectional gru resetAfter false (features, h0 given)', (t) =>
  runCase(t, {
    input: features,
    layers: [{ type: 'gru', units: 3, bidirectional: true, resetAfter: false }, head()],
    initialState: true,
  }));

test('bidirectional gru minimal (features)', (t) =>
  runCase(t, { input: features, layers: [{ type: 'gru', units: 3, bidirectional: true, variant: 'minimal' }, head()] }));

test('bidirectional rnn tanh (tokens, h0 given)', (t) =>
  runCase(t, { input: tokens, layers: [{ type: 'rnn', units: 3, bidirectional: true }, head()], initialState: true }));

// ---------------------------------------------------------------- stacks and dropout

test('stack lstm -> dropout -> gru -> dense (features, h0/c0 given to both)', (t) =>
  runCase(t, {
    input: features,
    layers: [{ type: 'lstm', units: 4 }, { type: 'dropout', rate: 0.3 }, { type: 'gru', units: 3 }, head()],
    initialState: true,
  }));

test('stack rnn -> dropout -> lstm -> dropout -> dense (tokens)', (t) =>
  runCase(t, {
    input: tokens,
    layers: [
      { type: 'rnn', units: 4 },
      { type: 'dropout', rate: 0.25 },
      { type: 'lstm', units: 3 },
      { type: 'dropout', rate: 0.2 },
      head(),
    ],
  }));

test('stack bidirectional gru -> dropout -> bidirectional lstm peephole full, named layers (features)', (t) =>
  runCase(t, {
    input: features,
    layers: [
      { type: 'gru', units: 3, bidirectional: true, name: 'enc' },
      { type: 'dropout', rate: 0.3 },
      { type: 'lstm', units: 3, bidirectional: true, peephole: 'full', name: 'dec' },
      { type: 'dense', units: K, activation: 'softmax', name: 'out' },
    ],
    initialState: true,
  }));

test('stack gru minimal -> dense tanh -> rnn relu -> dense (features; kink guard)', (t) =>
  runCase(t, {
    input: features,
    layers: [{ type: 'gru', units: 4, variant: 'minimal' }, head('tanh', 4), { type: 'rnn', units: 4, activation: 'relu' }, head('linear')],
    loss: 'mse',
    kinkGuard: true,
  }));

test('dense relu between recurrent and output layers (features; kink guard)', (t) =>
  runCase(t, {
    input: features,
    layers: [{ type: 'lstm', units: 4 }, head('relu', 5), head('softmax')],
    kinkGuard: true,
  }));

test('dense first layer on tokens, then gru (tokens)', (t) =>
  runCase(t, { input: tokens, layers: [head('tanh', 3), { type: 'gru', units: 3 }, head()] }));

// ---------------------------------------------------------------- many-to-one

test('many-to-one lstm -> dense softmax (tokens)', (t) =>
  runCase(t, { input: tokens, layers: [{ type: 'lstm', units: 4, returnSequences: false }, head()] }));

test('many-to-one bidirectional lstm -> dense (features, zero initial state)', (t) =>
  runCase(t, {
    input: features,
    layers: [{ type: 'lstm', units: 3, bidirectional: true, returnSequences: false }, head('linear')],
    reduction: 'sum',
  }));

test('many-to-one bidirectional gru -> dropout -> dense sigmoid, binaryCrossEntropy (tokens, h0 given)', (t) =>
  runCase(t, {
    input: tokens,
    layers: [{ type: 'gru', units: 3, bidirectional: true, returnSequences: false }, { type: 'dropout', rate: 0.3 }, head('sigmoid', 3)],
    loss: 'binaryCrossEntropy',
    initialState: true,
  }));

test('many-to-one stack gru -> dropout -> lstm -> dense tanh, mse (features, nested)', (t) =>
  runCase(t, {
    input: features,
    layers: [
      { type: 'gru', units: 4 },
      { type: 'dropout', rate: 0.3 },
      { type: 'lstm', units: 3, returnSequences: false },
      head('tanh', 2),
    ],
    loss: 'mse',
    reduction: 'sum',
    form: 'nested',
  }));

test('many-to-one bidirectional rnn -> dense linear, crossEntropy sum (tokens, nested)', (t) =>
  runCase(t, {
    input: tokens,
    layers: [{ type: 'rnn', units: 3, bidirectional: true, returnSequences: false }, head('linear')],
    reduction: 'sum',
    form: 'nested',
  }));

// ---------------------------------------------------------------- losses x final activation x reduction

const LOSS_ACTS: [Loss, Act][] = [
  ['crossEntropy', 'softmax'],
  ['crossEntropy', 'linear'],
  ['binaryCrossEntropy', 'sigmoid'],
  ['binaryCrossEntropy', 'linear'],
  ['mse', 'tanh'],
  ['mse', 'linear'],
];
let variant = 0;
for (const [loss, act] of LOSS_ACTS) {
  for (const reduction of ['mean', 'sum'] as const) {
    const v = variant++;
    // alternate inputs, input forms and cells so the grid also varies the rest
    const input = v % 2 === 0 ? tokens : features;
    const form = v % 3 === 0 ? 'nested' : 'typed';
    const cell: LayerSpec = v % 3 === 2 ? { type: 'lstm', units: 3 } : { type: 'gru', units: 3, resetAfter: v % 2 === 0 };
    test(`loss ${loss}, final dense ${act}, reduction ${reduction} (${cell.type}, ${'vocabSize' in input ? 'tokens' : 'features'}, ${form})`, (t) =>
      runCase(t, { input, layers: [cell, head(act)], loss, reduction, form, seed: 100 + v }));
  }
}

// ---------------------------------------------------------------- padding does not matter

/** Float64 copy of a Tensor's data. */
const copyData = (x: Tensor) => Float64Array.from(x.data);

/** Exact equality of two results' loss, gradients and initial-state gradients. */
function assertSameResult(
  t: ExecutionContext,
  a: Awaited<ReturnType<GradModel['gradients']>>,
  b: Awaited<ReturnType<GradModel['gradients']>>,
): void {
  t.is(a.loss, b.loss, 'loss unchanged');
  t.deepEqual(Object.keys(a.grads).sort(), Object.keys(b.grads).sort());
  for (const k of Object.keys(a.grads)) {
    const x = copyData(a.grads[k]!);
    const y = copyData(b.grads[k]!);
    let diff = 0;
    for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) diff++;
    t.is(diff, 0, `${k}: ${diff} gradient elements changed`);
  }
  t.is(a.initialStateGrads.length, b.initialStateGrads.length);
  a.initialStateGrads.forEach((s, l) => {
    for (const which of ['h', 'c'] as const) {
      const x = s[which];
      const y = b.initialStateGrads[l]![which];
      t.is(x === undefined, y === undefined);
      if (x && y) t.deepEqual(copyData(x), copyData(y), `state[${l}].${which} gradient unchanged`);
    }
  });
}

/**
 * Rewrites inputs and targets at padded positions (t >= lengths[b]) with
 * other valid values; returns fresh objects.
 */
function scramblePadding(c: Case, d: Data, seed: number): Data {
  const r = rng(seed);
  const T = c.T ?? 4;
  const lengths = d.lengths!;
  const { K, seq } = outputInfo(c);
  const x = d.inputs as { data: Int32Array | Float64Array; shape: number[] };
  const per = x.shape.length === 3 ? x.shape[2]! : 1;
  const xd = x.data.slice();
  lengths.forEach((len, b) => {
    for (let t = len; t < T; t++) {
      for (let j = 0; j < per; j++) {
        const i = (b * T + t) * per + j;
        xd[i] = xd instanceof Int32Array ? (xd[i]! + 1 + randint(r, V - 1)) % V : xd[i]! + uniform(r, 1, 5);
      }
    }
  });
  const y = d.targets as { data: Int32Array | Float64Array; shape: number[] };
  const yd = y.data.slice();
  if (seq) {
    const perY = y.shape.length === 3 ? K : 1;
    lengths.forEach((len, b) => {
      for (let t = len; t < T; t++) {
        for (let j = 0; j < perY; j++) {
          const i = (b * T + t) * perY + j;
          if (yd instanceof Int32Array) yd[i] = (yd[i]! + 1 + randint(r, K - 1)) % K;
          else yd[i] = c.loss === 'binaryCrossEntropy' ? 1 - yd[i]! : yd[i]! + uniform(r, 1, 3);
        }
      }
    });
  }
  const inputs: ModelInput = xd instanceof Int32Array ? { data: xd, shape: x.shape } : { data: xd, shape: x.shape };
  const targets: Targets = yd instanceof Int32Array ? { data: yd, shape: y.shape } : { data: yd, shape: y.shape };
  return { ...d, inputs, targets };
}

async function runPaddingCase(t: ExecutionContext, c: Case): Promise<void> {
  const model = makeModel(c);
  try {
    const d = makeData({ ...c, form: 'typed' }, c.seed ?? 7);
    const e = scramblePadding(c, d, 99);
    // sanity: the scramble did change padded data
    t.notDeepEqual((e.inputs as Tensor).data, (d.inputs as Tensor).data, 'padded inputs changed');
    const opts = optionsOf(d);
    const a = await model.gradients(d.inputs, d.targets, opts);
    const b = await model.gradients(e.inputs, e.targets, opts);
    assertSameResult(t, a, b);
    // and a valid position does matter (the comparison is not vacuous)
    const f = structuredClone(d) as Data;
    const fx = (f.inputs as Tensor).data as Int32Array | Float64Array;
    fx[0] = fx instanceof Int32Array ? (fx[0]! + 1) % V : fx[0]! + 0.5;
    const g = await model.gradients(f.inputs, f.targets, opts);
    t.not(g.loss, a.loss, 'changing a valid input changes the loss');
  } finally {
    model.dispose();
  }
}

test('padding: bidirectional lstm -> gru -> dense softmax, crossEntropy (tokens, h0/c0 given)', (t) =>
  runPaddingCase(t, {
    input: tokens,
    layers: [{ type: 'lstm', units: 3, bidirectional: true, peephole: 'diagonal' }, { type: 'gru', units: 3 }, head()],
    T: 5,
    lengths: [5, 3, 1],
    initialState: true,
  }));

test('padding: bidirectional gru many-to-one -> dense sigmoid, binaryCrossEntropy sum (features)', (t) =>
  runPaddingCase(t, {
    input: features,
    layers: [{ type: 'gru', units: 3, bidirectional: true, returnSequences: false }, head('sigmoid', 2)],
    loss: 'binaryCrossEntropy',
    reduction: 'sum',
    T: 5,
    lengths: [4, 2, 3],
  }));

test('padding: rnn -> dropout -> bidirectional lstm full peephole -> dense tanh, mse (features)', (t) =>
  runPaddingCase(t, {
    input: features,
    layers: [
      { type: 'rnn', units: 4 },
      { type: 'dropout', rate: 0.3 },
      { type: 'lstm', units: 3, bidirectional: true, peephole: 'full' },
      head('tanh', 2),
    ],
    loss: 'mse',
    T: 5,
    lengths: [5, 2, 4],
  }));

test('padding: bidirectional gru minimal -> dense sigmoid, binaryCrossEntropy mean, sequence (tokens)', (t) =>
  runPaddingCase(t, {
    input: tokens,
    layers: [{ type: 'gru', units: 3, bidirectional: true, variant: 'minimal' }, head('sigmoid', 2)],
    loss: 'binaryCrossEntropy',
    T: 4,
    lengths: [3, 4, 2],
  }));
