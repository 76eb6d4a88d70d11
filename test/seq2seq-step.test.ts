/**
 * A Seq2Seq training step on the shared modules: the encoder's forward pass
 * runs once (backwardFrom reuses its activations), and the core clips both
 * models by one global norm and updates them as one block.
 */
import test from 'ava';
import { layers, seq2seq, sequential, type Tensor } from '../lib/index.js';
import { handleOf } from '../lib/compute.js';
import { native } from '../lib/native.js';
import { nativeOptimizer, oneToken, rawDense, smallSeq2Seq } from './helpers/models.js';

const passes = (model: object) => handleOf(model).native().forwardPasses;

test('a Seq2Seq trainStep runs the encoder forward once and the decoder forward once', async (t) => {
  const s = seq2seq({
    sourceVocab: 7,
    targetVocab: 7,
    bos: 1,
    eos: 2,
    encoder: [layers.lstm({ units: 4, bidirectional: true })],
    decoder: [layers.lstm({ units: 8 })],
    seed: 2,
  });
  const enc0 = passes(s.encoder);
  const dec0 = passes(s.decoder);
  await s.trainStep(
    [
      [3, 4, 5],
      [6, 5],
    ],
    [[5, 4, 3], [5]],
  );
  t.is(passes(s.encoder) - enc0, 1, 'encoder forward passes in one step');
  t.is(passes(s.decoder) - dec0, 1, 'decoder forward passes in one step');
  s.dispose();
});

test('backwardFrom reuses the activations of the forward it follows, only when nothing changed', async (t) => {
  const model = sequential({
    input: { vocabSize: 6 },
    layers: [layers.gru({ units: 5 }), layers.dropout({ rate: 0.3 }), layers.dense({ units: 3 })],
    loss: 'mse',
    seed: 4,
  });
  const x = [
    [1, 2, 3],
    [4, 5],
  ];
  const outputGrad = { shape: [2, 3, 3], data: Float32Array.from({ length: 18 }, (_, i) => Math.sin(i)) } satisfies Tensor;
  const finalStateGrads = [{ h: { shape: [1, 2, 5], data: Float32Array.from({ length: 10 }, (_, i) => Math.cos(i)) } }];
  // the reference: backwardFrom with its own forward pass (after an unrelated forward)
  await model.forward([[5]], { training: true });
  let p = passes(model);
  const fresh = await model.backwardFrom(x, { training: true, outputGrad, finalStateGrads });
  t.is(passes(model) - p, 1, 'no matching forward: backwardFrom runs its own');
  await model.forward(x, { training: true });
  p = passes(model);
  const reused = await model.backwardFrom(x, { training: true, outputGrad, finalStateGrads });
  t.is(passes(model) - p, 0, 'right after forward on the same batch: no second forward pass');
  t.deepEqual(reused, fresh, 'the same gradients, bit for bit (dropout masks included)');
  // anything that differs runs the forward again
  const cases: [string, () => Promise<unknown>][] = [
    [
      'another input',
      () =>
        model.backwardFrom(
          [
            [1, 2, 3],
            [4, 4],
          ],
          { training: true, outputGrad },
        ),
    ],
    ['another length', () => model.backwardFrom(x, { training: true, outputGrad, lengths: [2, 2] })],
    ['another training flag', () => model.backwardFrom(x, { training: false, outputGrad })],
    [
      'an initial state',
      () => model.backwardFrom(x, { training: true, initialState: [{ h: { shape: [1, 2, 5], data: new Float32Array(10).fill(0.5) } }] }),
    ],
  ];
  for (const [label, run] of cases) {
    await model.forward(x, { training: true });
    p = passes(model);
    await run();
    t.is(passes(model) - p, 1, label);
  }
  await model.forward(x, { training: true });
  model.setWeights({ 'layers.2.bias': new Float32Array(3).fill(0.25) });
  p = passes(model);
  await model.backwardFrom(x, { training: true, outputGrad });
  t.is(passes(model) - p, 1, 'new weights');
  await model.forward(x, { training: true });
  await model.backwardFrom(x, { training: true, outputGrad });
  p = passes(model);
  await model.backwardFrom(x, { training: true, outputGrad });
  t.is(passes(model) - p, 1, 'a forward is reused once, not twice');
  model.dispose();
});

test('Seq2Seq trainStep clips both models by one global norm, computed in the core', async (t) => {
  const s = smallSeq2Seq(6, 4, { decoder: [layers.gru({ units: 6 })], seed: 5 });
  const src = [
    [3, 4, 5],
    [5, 4],
  ];
  const tgt = [[5, 4, 3], [4]];
  const g = await s.gradients(src, tgt);
  const all = [...Object.values(g.encoder), ...Object.values(g.decoder)];
  let sq = 0;
  for (const tensor of all) for (const v of tensor.data) sq += v * v;
  const norm = Math.sqrt(sq);
  const clipNorm = norm / 4;
  const lr = 0.5;
  const enc0 = s.encoder.getWeights();
  const dec0 = s.decoder.getWeights();
  const r = await s.trainStep(src, tgt, { optimizer: { type: 'sgd', lr }, clipNorm });
  t.true(Math.abs(r.gradNorm - norm) <= 1e-5 * norm, `gradNorm ${r.gradNorm} is the global norm ${norm}`);
  t.true(Math.abs(r.loss - g.loss) <= 1e-6 * Math.abs(g.loss), 'the loss of the same batch');
  const scale = clipNorm / (norm + 1e-6);
  let worst = 0;
  for (const [model, before, grads] of [
    [s.encoder, enc0, g.encoder],
    [s.decoder, dec0, g.decoder],
  ] as const) {
    const after = model.getWeights();
    for (const name of Object.keys(before)) {
      const w0 = before[name]!.data,
        w1 = after[name]!.data,
        gd = grads[name]!.data;
      for (let i = 0; i < w0.length; i++) worst = Math.max(worst, Math.abs(w1[i]! - (w0[i]! - lr * scale * gd[i]!)));
    }
  }
  t.true(worst < 1e-6, `both models stepped by lr x the globally clipped gradient (worst ${worst})`);
  s.dispose();
});

test('the binding refuses a joint step without fresh gradients, duplicates or mixed dtypes', async (t) => {
  const { NativeModel } = native();
  const a = rawDense(3);
  const b = rawDense(3, { dtype: 'float64' });
  const opt = nativeOptimizer();
  t.throws(() => NativeModel.stepTogether([a], opt, 0), {
    instanceOf: RangeError,
    message: /hold a gradient.* for models but received one without a fresh gradient/,
  });
  t.throws(() => NativeModel.stepTogether([a, a], opt, 0), {
    instanceOf: RangeError,
    message: /distinct models for models but received the same model twice/,
  });
  t.throws(() => NativeModel.stepTogether([a, b], opt, 0), { instanceOf: RangeError, message: /one dtype/ });
  t.throws(() => NativeModel.stepTogether([{} as never], opt, 0), { instanceOf: TypeError, message: /NativeModel for models\[0\]/ });
  const batch = oneToken();
  await a.gradients(batch, { classes: Int32Array.of(2) }, true);
  const before = a.getParams();
  await t.throwsAsync(NativeModel.stepTogether([a], opt, NaN), { message: /non-finite loss/ });
  t.deepEqual(a.getParams(), before, 'a refused loss writes nothing');
  await a.gradients(batch, { classes: Int32Array.of(2) }, true);
  const r = await NativeModel.stepTogether([a], opt, 1);
  t.true(r.gradNorm > 0);
  t.notDeepEqual(a.getParams(), before);
  a.dispose();
  b.dispose();
});
