// Variational dropout of recurrent layers (Gal & Ghahramani 2016; Keras's dropout /
// recurrent_dropout): configs and errors, off at inference, seeded, resumable. The
// float64 gradient checks with fixed masks are in native/tests/core_tests.cc.
import test from 'ava';
import { layers, sequential, type LayerInput } from '../lib/index.js';
import { assertResumesExactly } from './helpers/resume.js';

const V = 9;
const x = [
  [1, 2, 3, 4, 5],
  [6, 7, 8],
  [2, 4, 6, 8],
];
const y = x.map((r) => r.map((v) => (v + 1) % V));

function model(drop: { dropout?: number; recurrentDropout?: number }) {
  return sequential({
    input: { vocabSize: V },
    layers: [
      layers.embedding({ dim: 5 }),
      layers.lstm({ units: 6, ...drop }),
      layers.gru({ units: 5, ...drop }),
      layers.dense({ units: V }),
    ],
    seed: 3,
  });
}

test('configs carry the rates only when set; recurrent layers of every cell take them', (t) => {
  t.deepEqual(layers.lstm({ units: 4, dropout: 0.2, recurrentDropout: 0.3 }), {
    type: 'lstm',
    units: 4,
    returnSequences: true,
    bidirectional: false,
    dropout: 0.2,
    recurrentDropout: 0.3,
    peephole: 'none',
  });
  t.false('dropout' in layers.gru({ units: 4, dropout: 0 }), 'a zero rate is no field');
  t.is(layers.rnn({ units: 4, recurrentDropout: 0.5 }).recurrentDropout, 0.5);
  t.is(layers.gru({ units: 4, variant: 'minimal', recurrentDropout: 0.1 }).recurrentDropout, 0.1);
});

test('off at inference: predict equals the same weights without dropout; training steps differ and are seeded', async (t) => {
  const plain = model({});
  const dropped = model({ dropout: 0.4, recurrentDropout: 0.4 });
  t.deepEqual((await dropped.predict(x)).data, (await plain.predict(x)).data, 'same init, same inference output');
  const a = await plain.trainStep(x, y);
  const b = await dropped.trainStep(x, y);
  t.not(a.loss, b.loss, 'the masks change the training loss');
  const again = model({ dropout: 0.4, recurrentDropout: 0.4 });
  t.is((await again.trainStep(x, y)).loss, b.loss, 'the same seed and step give the same masks');
  for (const m of [plain, dropped, again]) m.dispose();
});

test('resumed training with variational dropout continues exactly (the masks follow the saved step counter)', async (t) => {
  await assertResumesExactly(
    t,
    () => model({ dropout: 0.3, recurrentDropout: 0.3 }),
    { inputs: x, targets: y },
    {
      batchSize: 2,
      optimizer: { type: 'adam', lr: 0.02 },
    },
  );
});

test('bad rates and unsupported combinations are TypeErrors / RangeErrors naming the option', (t) => {
  t.throws(() => layers.lstm({ units: 4, dropout: 1 }), { instanceOf: RangeError, message: /options\.dropout but received number 1$/ });
  t.throws(() => layers.gru({ units: 4, recurrentDropout: -0.1 }), {
    instanceOf: RangeError,
    message: /options\.recurrentDropout but received number -0\.1$/,
  });
  t.throws(() => layers.rnn({ units: 4, dropout: '0.2' as never }), {
    instanceOf: TypeError,
    message: /options\.dropout but received string/,
  });
  const build = (ls: LayerInput[]) => () => sequential({ input: { vocabSize: V }, layers: ls });
  t.throws(build([layers.lstm({ units: 4, dropout: 0.2 }), layers.dense({ units: V })]), {
    instanceOf: RangeError,
    message:
      'Expected feature inputs (an embedding first, not token ids) for input dropout for config.layers[0].dropout but received number 0.2',
  });
  t.throws(
    build([layers.embedding({ dim: 4 }), layers.gru({ units: 4, resetAfter: false, recurrentDropout: 0.2 }), layers.dense({ units: V })]),
    {
      instanceOf: RangeError,
      message: /a GRU with resetAfter true \(or the minimal GRU\) for recurrent dropout for config\.layers\[1\]\.recurrentDropout/,
    },
  );
  t.notThrows(
    build([layers.lstm({ units: 4, recurrentDropout: 0.2 }), layers.dense({ units: V })]),
    'recurrent dropout on token inputs is fine',
  );
});
