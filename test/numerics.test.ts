/**
 * Numerics: a non-finite loss or gradient stops training with RnnkitError
 * ERR_NONFINITE and leaves the weights, the optimizer moments and the step
 * counter exactly as they were before that step; gradient clipping (clipNorm,
 * clipValue) keeps a deliberately exploding vanilla RNN finite where the
 * unclipped run blows up.
 */
import test from 'ava';
import { layers, Model, RnnkitError, sequential, type Tensor } from '../lib/index.js';
import { nativeOptimizer, rawDense, REVERSE_PAIRS, smallSeq2Seq } from './helpers/models.js';

/** Everything a failed step must leave alone: weights, optimizer moments, counters. */
function snapshot(model: Model): { params: number[]; m: number[]; v: number[]; step: unknown; steps: unknown; epoch: number } {
  const { header, arrays } = model.toCheckpoint();
  const get = (name: string) => Array.from(arrays.find((a) => a.name === name)!.data);
  return {
    params: get('params'),
    m: get('optimizer.m'),
    v: get('optimizer.v'),
    step: header.step,
    steps: (header.optimizer as { steps: unknown }).steps,
    epoch: model.epoch,
  };
}

function allFinite(w: Record<string, Tensor>): boolean {
  return Object.values(w).every((t) => t.data.every(Number.isFinite));
}

async function nonFinite(t: import('ava').ExecutionContext, p: Promise<unknown>, what: string): Promise<void> {
  const err = await t.throwsAsync(p, undefined, what);
  t.true(err instanceof RnnkitError, `${what}: ${err?.constructor.name}: ${err?.message}`);
  t.is((err as RnnkitError | undefined)?.code, 'ERR_NONFINITE', `${what}: ${err?.message}`);
}

const FEATURES = { data: new Float32Array([0.5, -0.25, 1, 0.75, 0.1, 0.2]), shape: [1, 3, 2] };
const TARGETS = { data: new Float32Array([0.1, 0.2, 0.3]), shape: [1, 3, 1] };

for (const dtype of ['float32', 'float64'] as const) {
  test(`${dtype}: a weight that overflows the output to Inf stops trainStep with ERR_NONFINITE, nothing changes`, async (t) => {
    const model = sequential({
      input: { features: 2 },
      layers: [layers.gru({ units: 3 }), layers.dense({ units: 1 })],
      loss: 'mse',
      dtype,
      seed: 1,
    });
    // a few good steps first, so the optimizer moments and counters are non-trivial
    for (let i = 0; i < 3; i++) await model.trainStep(FEATURES, TARGETS, { optimizer: { type: 'adam', lr: 0.01 } });
    const Float = dtype === 'float64' ? Float64Array : Float32Array;
    // finite but huge: |h| <= 1 for a GRU, so the dense output reaches ~3 * big and its square overflows
    const big = dtype === 'float64' ? 1e300 : 3e38;
    model.setWeights({ 'layers.1.weight': new Float(3).fill(big) });
    const before = snapshot(model);
    t.true(before.params.every(Number.isFinite));
    await nonFinite(t, model.trainStep(FEATURES, TARGETS, { optimizer: { type: 'adam', lr: 0.01 } }), 'trainStep');
    t.deepEqual(snapshot(model), before, 'weights, optimizer moments and counters are exactly as before');
    // the model still works once the weight is repaired
    model.setWeights({ 'layers.1.weight': new Float(3).fill(0.1) });
    t.true(Number.isFinite((await model.trainStep(FEATURES, TARGETS)).loss));
    model.dispose();
  });
}

test('feature inputs near float32 max stop trainStep and fit with ERR_NONFINITE; weights and epoch unchanged', async (t) => {
  const model = sequential({
    input: { features: 2 },
    layers: [layers.dense({ units: 4 }), layers.dense({ units: 1 })],
    loss: 'mse',
    seed: 2,
  });
  await model.trainStep(FEATURES, TARGETS, { optimizer: 'adam' });
  const huge = { data: new Float32Array(6).fill(3.4e38), shape: [1, 3, 2] };
  let before = snapshot(model);
  await nonFinite(t, model.trainStep(huge, TARGETS, { optimizer: 'adam' }), 'trainStep');
  t.deepEqual(snapshot(model), before);
  // fit: the good first row trains, then the huge row fails; the weights are those after the good step
  const data = {
    inputs: [
      [
        [0.5, 0.5],
        [0.1, 0.2],
        [0.3, 0.3],
      ],
      [
        [3.4e38, 3.4e38],
        [3.4e38, 3.4e38],
        [3.4e38, 3.4e38],
      ],
    ],
    targets: [
      [[0.1], [0.2], [0.3]],
      [[0.1], [0.2], [0.3]],
    ],
  };
  const probe = sequential({
    input: { features: 2 },
    layers: [layers.dense({ units: 4 }), layers.dense({ units: 1 })],
    loss: 'mse',
    seed: 2,
  });
  await probe.trainStep(FEATURES, TARGETS, { optimizer: 'adam' });
  await probe.trainStep(
    { data: new Float32Array([0.5, 0.5, 0.1, 0.2, 0.3, 0.3]), shape: [1, 3, 2] },
    { data: new Float32Array([0.1, 0.2, 0.3]), shape: [1, 3, 1] },
    { optimizer: 'adam' },
  );
  const expected = snapshot(probe);
  before = snapshot(model);
  await nonFinite(t, model.fit(data, { epochs: 1, batchSize: 1, shuffle: false, optimizer: 'adam' }), 'fit');
  const after = snapshot(model);
  t.is(after.epoch, before.epoch, 'the failed epoch is not counted');
  t.deepEqual(after.params, expected.params, 'weights are those after the last good step');
  t.deepEqual(after.m, expected.m);
  probe.dispose();
  model.dispose();
});

test('gradients() of a non-finite loss reports it without touching the weights', async (t) => {
  const model = sequential({ input: { features: 2 }, layers: [layers.dense({ units: 1 })], loss: 'mse', seed: 3 });
  model.setWeights({ 'layers.0.weight': new Float32Array([3e38, 3e38]) });
  const before = snapshot(model);
  const res = await model
    .gradients({ data: new Float32Array([1, 1]), shape: [1, 1, 2] }, { data: new Float32Array([0]), shape: [1, 1, 1] })
    .then(
      (r) => `loss ${r.loss}`,
      (err: unknown) => (err instanceof RnnkitError ? err.code : String(err)),
    );
  t.log(`gradients on an overflowing output: ${res}`);
  t.true(res === 'ERR_NONFINITE' || /loss (Infinity|NaN)/.test(res), res);
  t.deepEqual(snapshot(model), before);
  model.dispose();
});

test('a non-finite gradient (finite loss) is refused by the update with ERR_NONFINITE, weights unchanged', async (t) => {
  // the public API rejects non-finite gradients before they reach the core (RangeError); the
  // core's own check is reached through the binding
  const model = sequential({
    input: { features: 2 },
    layers: [layers.gru({ units: 3 }), layers.dense({ units: 1 })],
    loss: 'mse',
    seed: 4,
  });
  const name = model.weightNames[0]!;
  const bad = new Float32Array(model.getWeights()[name]!.data.length).fill(0.1);
  bad[0] = Infinity;
  await t.throwsAsync(model.applyGradients({ [name]: bad }), { instanceOf: RangeError });
  const raw = rawDense(1, { inputKind: 'features', inputSize: 2, loss: 'mse', seed: 4 });
  const before = raw.getParams();
  const grads = new Float32Array(raw.numParams).fill(NaN);
  const opt = nativeOptimizer({ type: 'adam', clipNorm: 1 });
  const err = await t.throwsAsync(raw.applyGradients(grads, opt));
  t.is((err as { code?: string } | undefined)?.code, 'ERR_NONFINITE', err?.message);
  t.deepEqual(raw.getParams(), before);
  t.is(raw.getTrainingState().optimizer.steps, 0, 'the optimizer did not count the step');
  raw.dispose();
  model.dispose();
});

// ---------------------------------------------------------------------------
// An exploding vanilla RNN: relu, recurrent weights 1.3 on the diagonal, T = 50, a target far
// above the initial output. Unclipped SGD takes one enormous step and the next forward pass
// overflows; clipping keeps every step small.

const H = 8;
const T = 50;

function explodingRnn(): Model {
  const model = sequential({
    input: { features: 1 },
    layers: [layers.rnn({ units: H, activation: 'relu', returnSequences: false }), layers.dense({ units: 1 })],
    loss: 'mse',
    seed: 3,
  });
  const hh = new Float32Array(H * H);
  for (let i = 0; i < H; i++) for (let j = 0; j < H; j++) hh[i * H + j] = i === j ? 1.3 : 0.02;
  model.setWeights({
    'layers.0.weight_hh_l0': hh,
    'layers.0.weight_ih_l0': new Float32Array(H).fill(0.5),
    'layers.0.bias_ih_l0': new Float32Array(H),
    'layers.0.bias_hh_l0': new Float32Array(H),
    'layers.1.weight': new Float32Array(H).fill(0.1),
  });
  return model;
}

const X = { data: new Float32Array(4 * T).fill(1), shape: [4, T, 1] };
const Y = [[1e8], [1e8], [1e8], [1e8]];
const SGD = { type: 'sgd', lr: 0.01 } as const;

test('exploding RNN without clipping: training stops with ERR_NONFINITE, weights as before the failing step', async (t) => {
  const model = explodingRnn();
  let failed = false;
  for (let i = 0; i < 50 && !failed; i++) {
    const before = snapshot(model);
    try {
      await model.trainStep(X, Y, { optimizer: SGD });
    } catch (err) {
      t.true(err instanceof RnnkitError && err.code === 'ERR_NONFINITE', String(err));
      t.deepEqual(snapshot(model), before, 'the failing step changed nothing');
      t.log(`unclipped: ERR_NONFINITE at step ${i}: ${(err as Error).message}`);
      failed = true;
    }
  }
  t.true(failed, 'the unclipped run blows up');
  model.dispose();
});

for (const clip of [{ clipNorm: 1 }, { clipValue: 0.01 }, { clipNorm: 5, clipValue: 1 }]) {
  test(`exploding RNN with ${JSON.stringify(clip)}: 200 steps stay finite`, async (t) => {
    const model = explodingRnn();
    let maxLoss = 0;
    let maxNorm = 0;
    for (let i = 0; i < 200; i++) {
      const { loss, gradNorm } = await model.trainStep(X, Y, { optimizer: SGD, ...clip });
      t.true(Number.isFinite(loss) && Number.isFinite(gradNorm), `step ${i}: loss ${loss}, gradNorm ${gradNorm}`);
      maxLoss = Math.max(maxLoss, loss);
      maxNorm = Math.max(maxNorm, gradNorm);
    }
    t.true(allFinite(model.getWeights()));
    t.log(`${JSON.stringify(clip)}: max loss ${maxLoss.toExponential(2)}, max gradient norm before clipping ${maxNorm.toExponential(2)}`);
    model.dispose();
  });
}

/** An RNN over 2 features to one output, mse: the model whose steps the tests below overflow. */
function rnnRegressor(): Model {
  return sequential({
    input: { features: 2 },
    layers: [layers.rnn({ units: 3, returnSequences: false }), layers.dense({ units: 1 })],
    loss: 'mse',
    seed: 1,
  });
}

test('nonFinite: "skip" skips a non-finite step, weights and optimizer untouched, and training goes on', async (t) => {
  const model = rnnRegressor();
  const before = snapshot(model);
  const bad = await model.trainStep([[[100, 100]]], [[100]], { optimizer: { type: 'sgd', lr: 1e38 }, nonFinite: 'skip' });
  t.true(bad.skipped);
  t.true(Number.isNaN(bad.loss));
  t.deepEqual(snapshot(model).params, before.params);
  const good = await model.trainStep([[[0.1, 0.2]]], [[0.3]], { optimizer: { type: 'sgd', lr: 0.1 }, nonFinite: 'skip' });
  t.falsy(good.skipped);
  t.true(Number.isFinite(good.loss));
  t.notDeepEqual(snapshot(model).params, before.params);
  // fit counts skipped steps and finishes the epoch
  const h = await model.fit(
    { inputs: [[[0.1, 0.2]], [[0.2, 0.1]], [[0.3, 0.1]]], targets: [[0.3], [3e38], [0.2]] },
    { epochs: 1, batchSize: 1, shuffle: false, optimizer: { type: 'sgd', lr: 0.1 }, nonFinite: 'skip' },
  );
  t.is(h.skipped, 1);
  t.is(h.batches.length, 2);
  t.true(Number.isFinite(h.epochs[0]!.loss));
  t.is(model.epoch, 1);
  // an epoch whose every step is skipped reports a NaN loss, not 0
  const all = await model.fit(
    { inputs: [[[0.1, 0.2]]], targets: [[3e38]] },
    { epochs: 1, batchSize: 1, optimizer: { type: 'sgd', lr: 0.1 }, nonFinite: 'skip' },
  );
  t.is(all.skipped, 1);
  t.true(Number.isNaN(all.epochs[0]!.loss), `epoch loss ${all.epochs[0]!.loss}`);
  await t.throwsAsync(model.trainStep([[[1, 1]]], [[1]], { nonFinite: 'ignore' as never }), {
    instanceOf: RangeError,
    message: /options\.nonFinite/,
  });
  model.dispose();
});

// The optimizer update itself can overflow: the loss and the gradient are finite but
// lr * gradient is not representable. The update is checked before it is written (was bug K6).
test('K6: an update that would make a weight non-finite is refused with ERR_NONFINITE, weights unchanged', async (t) => {
  const model = rnnRegressor();
  const before = snapshot(model);
  const step = model.trainStep([[[100, 100]]], [[100]], { optimizer: { type: 'sgd', lr: 1e38 } }).then(
    () => 'resolved',
    (err: unknown) => (err instanceof RnnkitError ? err.code : String(err)),
  );
  const outcome = await step;
  t.true(allFinite(model.getWeights()), `weights became non-finite after a step that ${outcome}`);
  t.is(outcome, 'ERR_NONFINITE');
  t.deepEqual(snapshot(model).params, before.params);
  model.dispose();
});

/**
 * A huge (finite) bias on a class no target uses: the loss and gradients stay
 * finite, but L2 weight decay (weightDecay: 1) puts 3.3e38 into the decoder's
 * gradient, whose squared Adam moment overflows float32, so the decoder's
 * update is refused. The encoder's own update is fine.
 */
function poisonDecoder(s: { decoder: Model }): void {
  const bias = s.decoder.weightNames.find((n) => n.endsWith('.bias') && !n.includes('_l0'))!;
  const b = s.decoder.getWeights()[bias]!;
  b.data[0] = 3.3e38;
  s.decoder.setWeights({ [bias]: b });
}

test('Seq2Seq: a step refused by the decoder (ERR_NONFINITE) leaves the encoder unchanged too', async (t) => {
  const s = smallSeq2Seq(6, 4, { seed: 3 });
  const src = [
    [3, 4, 5],
    [5, 4],
  ];
  const tgt = [
    [5, 4, 3],
    [4, 5],
  ];
  const opt = { type: 'adam' as const, lr: 1e-3, weightDecay: 1 };
  await s.trainStep(src, tgt, { optimizer: opt }); // one good step: moments are non-zero
  poisonDecoder(s);
  const enc0 = s.encoder.getWeights();
  const dec0 = s.decoder.getWeights();
  const encCk0 = s.encoder.toCheckpoint();
  const err = await t.throwsAsync(s.trainStep(src, tgt, { optimizer: opt }));
  t.true(
    err instanceof RnnkitError && err.code === 'ERR_NONFINITE',
    `got ${err?.constructor.name} ${(err as RnnkitError | undefined)?.code}: ${err?.message}`,
  );
  t.deepEqual(s.encoder.getWeights(), enc0, 'encoder weights as before the refused step');
  t.deepEqual(s.decoder.getWeights(), dec0, 'decoder weights as before the refused step');
  const encCk1 = s.encoder.toCheckpoint();
  t.deepEqual(encCk1.header, encCk0.header, 'encoder step counters as before');
  t.deepEqual(encCk1.arrays, encCk0.arrays, 'encoder Adam moments as before');
  s.dispose();
});

test("Seq2Seq nonFinite 'skip': refused steps resolve as skipped, fit counts them, nothing changes", async (t) => {
  const s = smallSeq2Seq(6, 4, { seed: 3 });
  const { sources: src, targets: tgt } = REVERSE_PAIRS;
  const opt = { type: 'adam' as const, lr: 1e-3, weightDecay: 1 };
  await s.trainStep(src, tgt, { optimizer: opt });
  poisonDecoder(s); // every update of the decoder is refused
  const enc0 = s.encoder.getWeights();
  const dec0 = s.decoder.getWeights();
  const r = await s.trainStep(src, tgt, { optimizer: opt, nonFinite: 'skip' });
  t.true(r.skipped === true && Number.isNaN(r.loss) && Number.isNaN(r.gradNorm), JSON.stringify(r));
  const h = await s.fit({ sources: src, targets: tgt }, { epochs: 2, batchSize: 2, optimizer: opt, nonFinite: 'skip' });
  t.is(h.skipped, 4, '2 epochs x 2 batches, all skipped');
  t.is(h.batches.length, 0);
  t.is(h.epochs.length, 2);
  t.true(
    h.epochs.every((e) => Number.isNaN(e.loss)),
    'epochs with every step skipped report a NaN loss, not 0',
  );
  t.deepEqual(s.encoder.getWeights(), enc0);
  t.deepEqual(s.decoder.getWeights(), dec0);
  const err = await t.throwsAsync(s.fit({ sources: src, targets: tgt }, { epochs: 1, optimizer: opt }));
  t.true(err instanceof RnnkitError && err.code === 'ERR_NONFINITE', 'the default still throws');
  await t.throwsAsync(s.trainStep(src, tgt, { nonFinite: 'ignore' as 'skip' }), { instanceOf: RangeError, message: /options\.nonFinite/ });
  await t.throwsAsync(s.fit({ sources: src, targets: tgt }, { nonFinite: 1 as unknown as 'skip' }), { message: /options\.nonFinite/ });
  s.dispose();
});
