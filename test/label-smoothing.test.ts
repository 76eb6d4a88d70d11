// Label smoothing (trainStep / gradients / fit / Seq2Seq option labelSmoothing): the
// crossEntropy target (1 - e) onehot + e / K, as torch's CrossEntropyLoss(label_smoothing).
// Parity with torch: test/parity.test.ts (gru_label_smoothing); float64 gradient checks and
// the float kernels at every ISA level: native/tests/core_tests.cc.
import test from 'ava';
import { layers, sequential } from '../lib/index.js';
import { smallSeq2Seq } from './helpers/models.js';

const V = 6;
const x = [
  [1, 2, 3],
  [4, 5],
];
const y = [
  [2, 3, 4],
  [5, 0],
];

function model(loss: 'crossEntropy' | 'mse' = 'crossEntropy') {
  return sequential({
    input: { vocabSize: V },
    layers: [layers.lstm({ units: 4 }), layers.dense({ units: loss === 'mse' ? 1 : V })],
    loss,
    seed: 2,
    dtype: 'float64',
  });
}

test('the smoothed loss is (1 - e) CE + e times the mean of -log p over the classes, and 0 is the plain loss to the bit', async (t) => {
  const m = model();
  const plain = await m.gradients(x, y);
  t.is((await m.gradients(x, y, { labelSmoothing: 0 })).loss, plain.loss);
  const e = 0.2;
  const smoothed = await m.gradients(x, y, { labelSmoothing: e });
  // the uniform part, from the logits: -mean_k log p_k per valid position
  const logits = await m.predict(x);
  let uniform = 0,
    count = 0;
  for (let b = 0; b < 2; b++)
    for (let s = 0; s < x[b]!.length; s++) {
      const z = Array.from(logits.data.subarray((b * 3 + s) * V, (b * 3 + s + 1) * V));
      const mx = Math.max(...z);
      const lse = mx + Math.log(z.reduce((a, v) => a + Math.exp(v - mx), 0));
      uniform += z.reduce((a, v) => a + (lse - v), 0) / V;
      count++;
    }
  const expected = (1 - e) * plain.loss + (e * uniform) / count;
  t.true(Math.abs(smoothed.loss - expected) < 1e-12, `${smoothed.loss} vs ${expected}`);
  t.notDeepEqual(smoothed.grads, plain.grads);
  m.dispose();
});

test('fit and trainStep train with it; evaluate scores against the one-hot target', async (t) => {
  const a = model();
  const b = model();
  const data = { inputs: x, targets: y };
  const ha = await a.fit(data, { epochs: 2, batchSize: 2, shuffle: false, labelSmoothing: 0.1 });
  for (let i = 0; i < 2; i++) await b.trainStep(x, y, { labelSmoothing: 0.1 });
  t.deepEqual(a.getWeights(), b.getWeights(), 'fit passes it to every step');
  t.true(ha.batches.every((r) => Number.isFinite(r.loss)));
  const plain = model();
  await plain.fit(data, { epochs: 2, batchSize: 2, shuffle: false });
  t.notDeepEqual(plain.getWeights(), a.getWeights());
  const evaluated = await a.evaluate(data);
  const fresh = await a.gradients(x, y, { training: false });
  t.true(Math.abs(evaluated.loss - fresh.loss) < 1e-12, 'evaluate: the plain loss');
  for (const m of [a, b, plain]) m.dispose();
});

test('Seq2Seq trainStep and fit take it for the decoder; a non-crossEntropy model refuses it', async (t) => {
  const s = smallSeq2Seq();
  const t2 = smallSeq2Seq();
  const plain = await s.trainStep([[1, 2]], [[3, 4]], { labelSmoothing: 0 });
  const smoothed = await t2.trainStep([[1, 2]], [[3, 4]], { labelSmoothing: 0.3 });
  t.not(smoothed.loss, plain.loss);
  const h = await t2.fit({ sources: [[1, 2]], targets: [[3, 4]] }, { labelSmoothing: 0.3 });
  t.is(h.batches.length, 1);
  s.dispose();
  t2.dispose();
  const mse = model('mse');
  await t.throwsAsync(mse.trainStep(x, [[0.5], [0.2]], { labelSmoothing: 0.1 }), {
    instanceOf: RangeError,
    message: /the crossEntropy loss for label smoothing \(this model's loss is mse\) for options\.labelSmoothing but received number 0\.1/,
  });
  await t.throwsAsync(model().trainStep(x, y, { labelSmoothing: '0.1' as never }), {
    instanceOf: TypeError,
    message: /options\.labelSmoothing but received string/,
  });
  mse.dispose();
});
