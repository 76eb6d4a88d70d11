/**
 * Every argument error path of the public API: the error class, and a message
 * that follows "Expected <what> for <name> but received <value>" and names the
 * argument. Plus native failures (ERR_DISPOSED, ERR_BUSY) and their stacks.
 */
import { totalmem } from 'node:os';
import test from 'ava';
import { layers, Model, RnnkitError, sequential, type SequentialConfig } from '../lib/index.js';
import { describe, fromNative } from '../lib/errors.js';
import { rawDense } from './helpers/models.js';

type Ctor = typeof TypeError | typeof RangeError;

/** Asserts `fn` throws `cls` whose message names `name` (escaped) and follows the template. */
function throwsNamed(t: import('ava').ExecutionContext, fn: () => unknown, cls: Ctor, name: string, extra?: RegExp) {
  const err = t.throws(fn, { instanceOf: cls });
  if (!err) return;
  t.true(err.constructor === cls, `expected exactly ${cls.name}, got ${err.constructor.name}`);
  t.regex(err.message, /^Expected .+ for .+ but received .+$/s);
  t.true(err.message.includes(` for ${name} but`), `message should name ${name}: ${err.message}`);
  if (extra) t.regex(err.message, extra);
}

async function rejectsNamed(t: import('ava').ExecutionContext, fn: () => Promise<unknown>, cls: Ctor, name: string, extra?: RegExp) {
  const err = await t.throwsAsync(fn, { instanceOf: cls });
  if (!err) return;
  t.true(err.constructor === cls, `expected exactly ${cls.name}, got ${err.constructor.name}`);
  t.regex(err.message, /^Expected .+ for .+ but received .+$/s);
  t.true(err.message.includes(` for ${name} but`), `message should name ${name}: ${err.message}`);
  if (extra) t.regex(err.message, extra);
}

// ---------------------------------------------------------------------------
// errors.ts helpers

test('describe renders values briefly', (t) => {
  t.is(describe(3.5), 'number 3.5');
  t.is(describe(NaN), 'number NaN');
  t.is(describe('abc'), "string 'abc'");
  t.is(describe('x'.repeat(100)).length < 60, true);
  t.is(describe(true), 'boolean true');
  t.is(describe(null), 'null');
  t.is(describe(undefined), 'undefined');
  t.is(describe([1, 2]), 'array of length 2');
  t.is(describe(new Float32Array(4)), 'Float32Array of length 4');
  t.is(describe({ a: 1, b: 2 }), 'object { a, b }');
  t.is(describe(new Map()), 'Map object');
  t.is(describe(10n), 'bigint 10n');
});

test('fromNative keeps the code, passes TypeError/RangeError through, attaches the call site', (t) => {
  const site = new Error('site');
  const busy = Object.assign(new Error('busy'), { code: 'ERR_BUSY' });
  const out = fromNative(busy, site);
  t.true(out instanceof RnnkitError);
  t.is((out as RnnkitError).code, 'ERR_BUSY');
  t.is(out.message, 'busy');
  t.is(out.cause, busy);
  t.true(out.stack!.startsWith('RnnkitError [ERR_BUSY]: busy\n'));
  t.true(out.stack!.includes('errors.test.ts'));
  t.is((fromNative(Object.assign(new Error('x'), { code: 'ERR_WHATEVER' })) as RnnkitError).code, 'ERR_NATIVE');
  t.is((fromNative('boom') as RnnkitError).code, 'ERR_NATIVE');
  const te = new TypeError('t');
  const re = new RangeError('r');
  t.is(fromNative(te, site), te);
  t.is(fromNative(re, site), re);
});

// ---------------------------------------------------------------------------
// layer factories

test('layers.*: options must be an object', (t) => {
  throwsNamed(t, () => layers.lstm(undefined as never), TypeError, 'layers.lstm() options');
  throwsNamed(t, () => layers.gru(null as never), TypeError, 'layers.gru() options');
  throwsNamed(t, () => layers.rnn(5 as never), TypeError, 'layers.rnn() options');
  throwsNamed(t, () => layers.dense([] as never), TypeError, 'layers.dense() options');
  throwsNamed(t, () => layers.dropout('0.5' as never), TypeError, 'layers.dropout() options');
});

test('layers.*: units', (t) => {
  throwsNamed(t, () => layers.lstm({} as never), TypeError, 'layers.lstm() options.units', /undefined/);
  throwsNamed(t, () => layers.lstm({ units: '32' as never }), TypeError, 'layers.lstm() options.units', /string '32'/);
  for (const bad of [0, -1, 1.5, 65537, NaN, Infinity]) {
    throwsNamed(t, () => layers.gru({ units: bad }), RangeError, 'layers.gru() options.units', /\[1, 65536\]/);
  }
  throwsNamed(t, () => layers.rnn({ units: 0 }), RangeError, 'layers.rnn() options.units');
  throwsNamed(t, () => layers.dense({ units: 2.5 }), RangeError, 'layers.dense() options.units', /number 2.5/);
  t.is(layers.dense({ units: 65536 }).units, 65536);
});

test('layers.*: booleans', (t) => {
  throwsNamed(t, () => layers.lstm({ units: 2, returnSequences: 'yes' as never }), TypeError, 'layers.lstm() options.returnSequences');
  throwsNamed(t, () => layers.gru({ units: 2, bidirectional: 1 as never }), TypeError, 'layers.gru() options.bidirectional');
  throwsNamed(t, () => layers.gru({ units: 2, resetAfter: null as never }), TypeError, 'layers.gru() options.resetAfter');
});

test('layers.*: enum strings', (t) => {
  throwsNamed(t, () => layers.lstm({ units: 2, peephole: 'partial' as never }), RangeError, 'layers.lstm() options.peephole', /'diagonal'/);
  throwsNamed(t, () => layers.lstm({ units: 2, peephole: 1 as never }), TypeError, 'layers.lstm() options.peephole');
  throwsNamed(t, () => layers.gru({ units: 2, variant: 'tiny' as never }), RangeError, 'layers.gru() options.variant');
  throwsNamed(t, () => layers.rnn({ units: 2, activation: 'sigmoid' as never }), RangeError, 'layers.rnn() options.activation');
  throwsNamed(t, () => layers.dense({ units: 2, activation: 'gelu' as never }), RangeError, 'layers.dense() options.activation');
  throwsNamed(t, () => layers.dense({ units: 2, activation: 3 as never }), TypeError, 'layers.dense() options.activation');
});

test('layers.dropout: rate in [0, 1)', (t) => {
  throwsNamed(t, () => layers.dropout({} as never), TypeError, 'layers.dropout() options.rate');
  throwsNamed(t, () => layers.dropout({ rate: '0.1' as never }), TypeError, 'layers.dropout() options.rate');
  for (const bad of [1, -0.1, 1.5, NaN]) {
    throwsNamed(t, () => layers.dropout({ rate: bad }), RangeError, 'layers.dropout() options.rate', /\[0, 1\)/);
  }
  t.is(layers.dropout({ rate: 0 }).rate, 0);
});

test('layers.*: name', (t) => {
  throwsNamed(t, () => layers.lstm({ units: 2, name: '' }), RangeError, 'layers.lstm() options.name');
  throwsNamed(t, () => layers.dense({ units: 2, name: 'a.b' }), RangeError, 'layers.dense() options.name', /'a.b'/);
  throwsNamed(t, () => layers.dropout({ rate: 0.1, name: 3 as never }), TypeError, 'layers.dropout() options.name');
});

test('layers.*: unknown keys and a mismatched type are rejected', (t) => {
  throwsNamed(t, () => layers.lstm({ units: 2, returnSequence: false } as never), TypeError, 'layers.lstm() options', /returnSequence'/);
  throwsNamed(t, () => layers.dense({ units: 2, rate: 0.1 } as never), TypeError, 'layers.dense() options', /rate/);
  throwsNamed(t, () => layers.lstm({ type: 'gru', units: 2 } as never), RangeError, 'layers.lstm() options.type');
});

// ---------------------------------------------------------------------------
// sequential config

const okLayers = () => [layers.gru({ units: 4 }), layers.dense({ units: 5 })];
const cfg = (over: Record<string, unknown>) => ({ input: { vocabSize: 5 }, layers: okLayers(), ...over }) as SequentialConfig;

test('sequential: config object and keys', (t) => {
  throwsNamed(t, () => sequential(undefined as never), TypeError, 'config');
  throwsNamed(t, () => sequential(cfg({ optimizer: 'adam' })), TypeError, 'config', /optimizer/);
  throwsNamed(t, () => new Model(null as never), TypeError, 'config');
});

test('sequential: input', (t) => {
  throwsNamed(t, () => sequential(cfg({ input: undefined })), TypeError, 'config.input');
  throwsNamed(t, () => sequential(cfg({ input: {} })), TypeError, 'config.input');
  throwsNamed(t, () => sequential(cfg({ input: { vocabSize: 3, features: 3 } })), TypeError, 'config.input');
  throwsNamed(t, () => sequential(cfg({ input: { vocab: 3 } })), TypeError, 'config.input', /vocab'/);
  throwsNamed(t, () => sequential(cfg({ input: { vocabSize: 0 } })), RangeError, 'config.input.vocabSize');
  throwsNamed(t, () => sequential(cfg({ input: { vocabSize: '5' } })), TypeError, 'config.input.vocabSize');
  throwsNamed(t, () => sequential(cfg({ input: { features: 2.5 }, loss: 'mse' })), RangeError, 'config.input.features');
});

test('sequential: layers list', (t) => {
  throwsNamed(t, () => sequential(cfg({ layers: undefined })), TypeError, 'config.layers');
  throwsNamed(t, () => sequential(cfg({ layers: [] })), RangeError, 'config.layers', /at least one layer/);
  throwsNamed(t, () => sequential(cfg({ layers: [3] })), TypeError, 'config.layers[0]');
  throwsNamed(t, () => sequential(cfg({ layers: [{ type: 'conv', units: 3 }] })), RangeError, 'config.layers[0].type');
  throwsNamed(
    t,
    () => sequential(cfg({ layers: [{ type: 'gru', units: 0 }, layers.dense({ units: 5 })] })),
    RangeError,
    'config.layers[0].units',
  );
  throwsNamed(
    t,
    () => sequential(cfg({ layers: [{ type: 'gru', units: 3, foo: 1 }, layers.dense({ units: 5 })] })),
    TypeError,
    'config.layers[0]',
    /foo/,
  );
});

test('sequential: structural rules', (t) => {
  throwsNamed(
    t,
    () =>
      sequential(
        cfg({ layers: [layers.lstm({ units: 3, returnSequences: false }), layers.gru({ units: 3 }), layers.dense({ units: 5 })] }),
      ),
    RangeError,
    'config.layers[1].type',
    /returnSequences false/,
  );
  throwsNamed(
    t,
    () => sequential(cfg({ layers: [layers.dropout({ rate: 0.1 }), layers.gru({ units: 3 }), layers.dense({ units: 5 })] })),
    RangeError,
    'config.layers[0].type',
    /token input/,
  );
  throwsNamed(
    t,
    () => sequential(cfg({ layers: [layers.gru({ units: 3 })] })),
    RangeError,
    'config.layers[0]',
    /final dense layer with activation softmax or linear/,
  );
  throwsNamed(
    t,
    () => sequential(cfg({ layers: [layers.gru({ units: 3 }), layers.dense({ units: 5 }), layers.dropout({ rate: 0.1 })] })),
    RangeError,
    'config.layers[2]',
  );
  throwsNamed(
    t,
    () => sequential(cfg({ layers: [layers.gru({ units: 3 }), layers.dense({ units: 5, activation: 'sigmoid' })] })),
    RangeError,
    'config.layers[1].activation',
    /crossEntropy/,
  );
  throwsNamed(
    t,
    () =>
      sequential(
        cfg({ loss: 'binaryCrossEntropy', layers: [layers.gru({ units: 3 }), layers.dense({ units: 5, activation: 'softmax' })] }),
      ),
    RangeError,
    'config.layers[1].activation',
    /binaryCrossEntropy/,
  );
  throwsNamed(
    t,
    () => sequential(cfg({ layers: [layers.gru({ units: 3, name: 'enc' }), layers.dense({ units: 5, name: 'enc' })] })),
    RangeError,
    'config.layers[1].name',
    /unique/,
  );
});

test('sequential: loss, reduction, seed, dtype', (t) => {
  throwsNamed(t, () => sequential(cfg({ loss: 'hinge' })), RangeError, 'config.loss');
  throwsNamed(t, () => sequential(cfg({ loss: 1 })), TypeError, 'config.loss');
  throwsNamed(t, () => sequential(cfg({ reduction: 'avg' })), RangeError, 'config.reduction');
  for (const bad of [-1, 2 ** 32, 1.5, NaN]) throwsNamed(t, () => sequential(cfg({ seed: bad })), RangeError, 'config.seed');
  throwsNamed(t, () => sequential(cfg({ seed: '1' })), TypeError, 'config.seed');
  throwsNamed(t, () => sequential(cfg({ dtype: 'float16' })), RangeError, 'config.dtype');
});

// ---------------------------------------------------------------------------
// model calls (need the native addon)

const V = 6;
const tokenModel = () => sequential({ input: { vocabSize: V }, layers: [layers.gru({ units: 4 }), layers.dense({ units: 3 })], seed: 1 });
const lastStepModel = () =>
  sequential({
    input: { vocabSize: V },
    layers: [layers.lstm({ units: 4, returnSequences: false }), layers.dense({ units: 3 })],
    seed: 1,
  });
const featureModel = (loss: 'mse' | 'binaryCrossEntropy' = 'mse') =>
  sequential({
    input: { features: 3 },
    layers: [layers.lstm({ units: 4 }), layers.dense({ units: 2, activation: loss === 'mse' ? 'linear' : 'sigmoid' })],
    loss,
    seed: 1,
  });

test('inputs: container and batch', async (t) => {
  const m = tokenModel();
  await rejectsNamed(t, () => m.predict(5 as never), TypeError, 'inputs', /Int32Array/);
  await rejectsNamed(t, () => m.predict({ shape: [1, 2] } as never), TypeError, 'inputs');
  await rejectsNamed(t, () => m.predict([]), RangeError, 'inputs', /non-empty batch/);
  await rejectsNamed(t, () => m.predict([[], []]), RangeError, 'inputs', /at least one time step/);
  await rejectsNamed(t, () => m.predict([[1, 2], 3] as never), TypeError, 'inputs[1]');
  await rejectsNamed(t, () => m.predict([[1, 2], []]), RangeError, 'inputs[1]', /non-empty row/);
  m.dispose();
});

test('inputs: token ids', async (t) => {
  const m = tokenModel();
  await rejectsNamed(
    t,
    () =>
      m.predict([
        [1, 2, 3],
        [4, 6],
      ]),
    RangeError,
    'inputs[1][1]',
    /\[0, 6\).*number 6/,
  );
  await rejectsNamed(t, () => m.predict([[-1]]), RangeError, 'inputs[0][0]');
  await rejectsNamed(t, () => m.predict([[1.5]]), RangeError, 'inputs[0][0]', /number 1.5/);
  await rejectsNamed(t, () => m.predict([[1, '2']] as never), TypeError, 'inputs[0][1]');
  await rejectsNamed(t, () => m.predict([[[0.1, 0.2]]] as never), TypeError, 'inputs[0][0]');
  // positions beyond lengths are not checked
  await t.notThrowsAsync(() => m.predict([[1, 2, 99]], { lengths: [2] }));
  await t.notThrowsAsync(() => m.predict({ data: Int32Array.from([1, 2, -1]), shape: [1, 3] }, { lengths: [2] }));
  m.dispose();
});

test('inputs: token tensors', async (t) => {
  const m = tokenModel();
  await rejectsNamed(t, () => m.predict({ data: new Float32Array(4), shape: [2, 2] } as never), TypeError, 'inputs.data');
  await rejectsNamed(t, () => m.predict({ data: new Int32Array(4), shape: [4] }), RangeError, 'inputs.shape', /rank 1/);
  await rejectsNamed(t, () => m.predict({ data: new Int32Array(4), shape: 4 as never }), TypeError, 'inputs.shape');
  await rejectsNamed(t, () => m.predict({ data: new Int32Array(4), shape: [0, 4] }), RangeError, 'inputs.shape[0]');
  await rejectsNamed(t, () => m.predict({ data: new Int32Array(4), shape: [2, 1.5] }), RangeError, 'inputs.shape[1]');
  await rejectsNamed(t, () => m.predict({ data: new Int32Array(5), shape: [2, 2] }), RangeError, 'inputs.data', /length 5/);
  await rejectsNamed(t, () => m.predict({ data: Int32Array.from([0, 1, 2, 7]), shape: [2, 2] }), RangeError, 'inputs[1][1]');
  m.dispose();
});

test('options.lengths', async (t) => {
  const m = tokenModel();
  await rejectsNamed(t, () => m.predict([[1, 2, 3]], { lengths: 3 as never }), TypeError, 'options.lengths');
  await rejectsNamed(t, () => m.predict([[1, 2, 3]], { lengths: [3, 3] }), RangeError, 'options.lengths', /1 lengths/);
  await rejectsNamed(t, () => m.predict([[1, 2, 3]], { lengths: [0] }), RangeError, 'options.lengths[0]');
  await rejectsNamed(t, () => m.predict([[1, 2, 3]], { lengths: [4] }), RangeError, 'options.lengths[0]', /\[1, 3\]/);
  await rejectsNamed(t, () => m.predict([[1, 2, 3]], { lengths: [1.5] }), RangeError, 'options.lengths[0]');
  await rejectsNamed(t, () => m.predict([[1, 2, 3]], { lengths: ['2'] as never }), TypeError, 'options.lengths[0]');
  await rejectsNamed(t, () => m.predict([[1, 2, 3], [1]], { lengths: [3, 2] }), RangeError, 'options.lengths[1]', /length of inputs\[1\]/);
  await rejectsNamed(
    t,
    () => m.predict({ data: new Int32Array(6), shape: [2, 3] }, { lengths: Int32Array.from([3, 4]) }),
    RangeError,
    'options.lengths[1]',
  );
  m.dispose();
});

test('options object and keys', async (t) => {
  const m = tokenModel();
  await rejectsNamed(t, () => m.predict([[1]], 5 as never), TypeError, 'options');
  await rejectsNamed(t, () => m.predict([[1]], { length: [1] } as never), TypeError, 'options', /length'/);
  await rejectsNamed(t, () => m.predict([[1]], { training: true } as never), TypeError, 'options', /training/);
  await rejectsNamed(t, () => m.forward([[1]], { training: 'yes' as never }), TypeError, 'options.training');
  await rejectsNamed(t, () => m.gradients([[1]], [[1]], { training: 1 as never }), TypeError, 'options.training');
  await rejectsNamed(t, () => m.trainStep([[1]], [[1]], { training: true } as never), TypeError, 'options');
  m.dispose();
});

test('inputs: features', async (t) => {
  const m = featureModel();
  await rejectsNamed(t, () => m.predict([[1, 2, 3]] as never), TypeError, 'inputs[0][0]', /3 numbers/);
  await rejectsNamed(
    t,
    () =>
      m.predict([
        [
          [1, 2, 3],
          [1, 2],
        ],
      ]),
    RangeError,
    'inputs[0][1]',
    /3 features.*length 2/,
  );
  await rejectsNamed(t, () => m.predict([[[1, 2, NaN]]]), RangeError, 'inputs[0][0][2]', /NaN/);
  await rejectsNamed(t, () => m.predict([[[1, 2, '3']]] as never), TypeError, 'inputs[0][0][2]');
  await rejectsNamed(t, () => m.predict([[[1, 2, 1e39]]]), RangeError, 'inputs[0][0][2]', /float32 range/);
  await rejectsNamed(t, () => m.predict({ data: new Float32Array(8), shape: [1, 2, 4] }), RangeError, 'inputs.shape[2]');
  await rejectsNamed(t, () => m.predict({ data: new Int32Array(6), shape: [1, 2, 3] } as never), TypeError, 'inputs.data');
  await rejectsNamed(t, () => m.predict({ data: new Float32Array(5), shape: [1, 2, 3] }), RangeError, 'inputs.data');
  const bad = new Float64Array(6);
  bad[4] = Infinity;
  await rejectsNamed(t, () => m.predict({ data: bad, shape: [1, 2, 3] }), RangeError, 'inputs[0][1][1]', /Infinity/);
  // non-finite values at padded positions are ignored
  await t.notThrowsAsync(() => m.predict({ data: bad, shape: [1, 2, 3] }, { lengths: [1] }));
  m.dispose();
});

test('targets: crossEntropy', async (t) => {
  const m = tokenModel();
  const x = [
    [1, 2, 3],
    [4, 5],
  ];
  await rejectsNamed(t, () => m.gradients(x, undefined as never), TypeError, 'targets');
  await rejectsNamed(t, () => m.gradients(x, 'a' as never), TypeError, 'targets');
  await rejectsNamed(t, () => m.gradients(x, [[0, 1, 2]]), RangeError, 'targets', /2 rows/);
  await rejectsNamed(
    t,
    () =>
      m.gradients(x, [
        [0, 1, 3],
        [0, 1],
      ]),
    RangeError,
    'targets[0][2]',
    /\[0, 3\).*number 3/,
  );
  await rejectsNamed(t, () => m.gradients(x, [[0, 1, 2], [0]]), RangeError, 'targets[1]', /between 2 and 3/);
  await rejectsNamed(t, () => m.gradients(x, [[0, 1, 2], 1] as never), TypeError, 'targets[1]');
  await rejectsNamed(
    t,
    () =>
      m.gradients(x, [
        [0, 1, 0.5],
        [0, 1],
      ]),
    RangeError,
    'targets[0][2]',
  );
  await rejectsNamed(
    t,
    () =>
      m.trainStep(x, [
        [0, 1, null],
        [0, 1],
      ] as never),
    TypeError,
    'targets[0][2]',
  );
  await rejectsNamed(t, () => m.gradients(x, { data: new Int32Array(6), shape: [2, 2] }), RangeError, 'targets.shape', /\[2, 3\]/);
  await rejectsNamed(t, () => m.gradients(x, { data: new Float32Array(6), shape: [2, 3] }), TypeError, 'targets.data');
  // padded positions of targets are ignored
  await t.notThrowsAsync(() => m.gradients(x, { data: Int32Array.from([0, 1, 2, 0, 1, -100]), shape: [2, 3] }));
  m.dispose();
});

test('targets: crossEntropy on a last-step output', async (t) => {
  const m = lastStepModel();
  const x = [
    [1, 2, 3],
    [4, 5],
  ];
  await rejectsNamed(
    t,
    () =>
      m.gradients(x, [
        [0, 1, 2],
        [0, 1],
      ]),
    TypeError,
    'targets[0]',
    /class id/,
  );
  await rejectsNamed(t, () => m.gradients(x, [0, 3]), RangeError, 'targets[1]', /\[0, 3\)/);
  await rejectsNamed(t, () => m.gradients(x, [0]), RangeError, 'targets', /2 rows/);
  await rejectsNamed(t, () => m.gradients(x, { data: new Int32Array(6), shape: [2, 3] }), RangeError, 'targets.shape', /\[2\]/);
  await t.notThrowsAsync(() => m.gradients(x, [0, 2]));
  m.dispose();
});

test('targets: binaryCrossEntropy and mse values', async (t) => {
  const bce = featureModel('binaryCrossEntropy');
  const x = [
    [
      [1, 2, 3],
      [0, 0, 1],
    ],
  ];
  await rejectsNamed(
    t,
    () =>
      bce.gradients(x, [
        [
          [0, 1],
          [1, 2],
        ],
      ]),
    RangeError,
    'targets[0][1][1]',
    /\[0, 1\]/,
  );
  await rejectsNamed(t, () => bce.gradients(x, [[[0, 1], [1]]]), RangeError, 'targets[0][1]', /2 values/);
  await rejectsNamed(t, () => bce.gradients(x, [[0, 1]] as never), TypeError, 'targets[0][0]');
  await rejectsNamed(t, () => bce.gradients(x, { data: new Float32Array(4), shape: [1, 4] }), RangeError, 'targets.shape', /\[1, 2, 2\]/);
  await rejectsNamed(t, () => bce.gradients(x, { data: new Int32Array(4), shape: [1, 2, 2] } as never), TypeError, 'targets.data');
  await rejectsNamed(t, () => bce.gradients(x, { data: new Float32Array(3), shape: [1, 2, 2] }), RangeError, 'targets.data');
  const mse = featureModel('mse');
  await rejectsNamed(
    t,
    () =>
      mse.gradients(x, [
        [
          [0, 1],
          [NaN, 2],
        ],
      ]),
    RangeError,
    'targets[0][1][0]',
    /NaN/,
  );
  await rejectsNamed(
    t,
    () =>
      mse.gradients(x, [
        [
          [0, 1],
          [1e39, 2],
        ],
      ]),
    RangeError,
    'targets[0][1][0]',
    /float32 range/,
  );
  await t.notThrowsAsync(() =>
    mse.gradients(x, [
      [
        [0, 1],
        [-5, 2],
      ],
    ]),
  );
  bce.dispose();
  mse.dispose();
});

test('options.initialState', async (t) => {
  const m = sequential({
    input: { vocabSize: V },
    layers: [layers.gru({ units: 4, bidirectional: true }), layers.lstm({ units: 3 }), layers.dense({ units: 3 })],
  });
  const x = [
    [1, 2],
    [3, 4],
  ];
  const h0 = new Float32Array(2 * 2 * 4);
  await rejectsNamed(t, () => m.predict(x, { initialState: { h: h0 } as never }), TypeError, 'options.initialState');
  await rejectsNamed(t, () => m.predict(x, { initialState: [null, null, null] }), RangeError, 'options.initialState', /at most 2/);
  await rejectsNamed(t, () => m.predict(x, { initialState: [5 as never] }), TypeError, 'options.initialState[0]');
  await rejectsNamed(t, () => m.predict(x, { initialState: [{} as never] }), TypeError, 'options.initialState[0].h');
  await rejectsNamed(t, () => m.predict(x, { initialState: [{ h: h0, x: 1 } as never] }), TypeError, 'options.initialState[0]', /x'/);
  await rejectsNamed(
    t,
    () => m.predict(x, { initialState: [{ h: new Float32Array(8) }] }),
    RangeError,
    'options.initialState[0].h',
    /16 elements/,
  );
  await rejectsNamed(t, () => m.predict(x, { initialState: [{ h: [0, 0] as never }] }), TypeError, 'options.initialState[0].h');
  await rejectsNamed(
    t,
    () => m.predict(x, { initialState: [{ h: { shape: [1, 2, 8], data: h0 } }] }),
    RangeError,
    'options.initialState[0].h.shape',
    /\[2, 2, 4\]/,
  );
  await rejectsNamed(
    t,
    () => m.predict(x, { initialState: [{ h: { shape: [2, 2, 4], data: [1] as never } }] }),
    TypeError,
    'options.initialState[0].h.data',
  );
  await rejectsNamed(t, () => m.predict(x, { initialState: [{ h: h0, c: h0 }] }), RangeError, 'options.initialState[0].c', /not an LSTM/);
  const nan = new Float32Array(6);
  nan[3] = NaN;
  await rejectsNamed(t, () => m.predict(x, { initialState: [null, { h: nan }] }), RangeError, 'options.initialState[1].h[3]');
  await rejectsNamed(
    t,
    () => m.predict(x, { initialState: [null, { h: new Float32Array(6), c: new Float32Array(5) }] }),
    RangeError,
    'options.initialState[1].c',
  );
  await t.notThrowsAsync(() => m.predict(x, { initialState: [undefined, { h: new Float64Array(6), c: new Float32Array(6) }] }));
  m.dispose();
});

test('trainStep: optimizer options', async (t) => {
  const m = tokenModel();
  const x = [[1, 2, 3]];
  const y = [[0, 1, 2]];
  const step = (options: Record<string, unknown>) => () => m.trainStep(x, y, options as never);
  await rejectsNamed(t, step({ optimizer: 5 }), TypeError, 'options.optimizer');
  await rejectsNamed(t, step({ optimizer: 'rmsprop' }), RangeError, 'options.optimizer.type');
  await rejectsNamed(t, step({ optimizer: { lr: 0.1 } }), TypeError, 'options.optimizer.type');
  await rejectsNamed(t, step({ optimizer: { type: 'sgd', lr: 0 } }), RangeError, 'options.optimizer.lr', /> 0/);
  await rejectsNamed(t, step({ optimizer: { type: 'adam', lr: -1 } }), RangeError, 'options.optimizer.lr');
  await rejectsNamed(t, step({ optimizer: { type: 'adam', lr: '0.1' } }), TypeError, 'options.optimizer.lr');
  await rejectsNamed(t, step({ optimizer: { type: 'adam', lr: Infinity } }), RangeError, 'options.optimizer.lr');
  await rejectsNamed(t, step({ optimizer: { type: 'sgd', momentum: -0.1 } }), RangeError, 'options.optimizer.momentum');
  await rejectsNamed(t, step({ optimizer: { type: 'sgd', nesterov: true } }), RangeError, 'options.optimizer.momentum', /nesterov/);
  await rejectsNamed(t, step({ optimizer: { type: 'sgd', nesterov: 1, momentum: 0.9 } }), TypeError, 'options.optimizer.nesterov');
  await rejectsNamed(t, step({ optimizer: { type: 'adam', beta1: 1 } }), RangeError, 'options.optimizer.beta1', /\[0, 1\)/);
  await rejectsNamed(t, step({ optimizer: { type: 'adamw', beta2: -0.5 } }), RangeError, 'options.optimizer.beta2');
  await rejectsNamed(t, step({ optimizer: { type: 'adam', eps: 0 } }), RangeError, 'options.optimizer.eps');
  await rejectsNamed(t, step({ optimizer: { type: 'adamw', weightDecay: -1 } }), RangeError, 'options.optimizer.weightDecay');
  await rejectsNamed(t, step({ optimizer: { type: 'adam', momentum: 0.9 } }), TypeError, 'options.optimizer', /momentum/);
  await rejectsNamed(t, step({ optimizer: { type: 'sgd', beta1: 0.9 } }), TypeError, 'options.optimizer', /beta1/);
  await rejectsNamed(t, step({ clipValue: 0 }), RangeError, 'options.clipValue');
  await rejectsNamed(t, step({ clipNorm: Infinity }), RangeError, 'options.clipNorm');
  await rejectsNamed(t, step({ clipNorm: '5' }), TypeError, 'options.clipNorm');
  await t.notThrowsAsync(step({ optimizer: 'sgd', clipValue: 1, clipNorm: 1 }));
  await t.notThrowsAsync(step({ optimizer: { type: 'sgd', lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 1e-4 } }));
  m.dispose();
});

test('setWeights', (t) => {
  const m = tokenModel();
  const name = m.weightNames[0]!;
  const shape = m.getWeights()[name]!.shape;
  const size = shape.reduce((a, b) => a * b, 1);
  throwsNamed(t, () => m.setWeights(5 as never), TypeError, 'weights');
  throwsNamed(t, () => m.setWeights({ 'layers.9.weight': new Float32Array(1) }), RangeError, 'weights', /'layers\.9\.weight'/);
  throwsNamed(
    t,
    () => m.setWeights({ [name]: new Float32Array(size + 1) }),
    RangeError,
    `weights['${name}']`,
    new RegExp(`${size} elements`),
  );
  throwsNamed(t, () => m.setWeights({ [name]: { shape: [size], data: new Float32Array(size) } }), RangeError, `weights['${name}'].shape`);
  throwsNamed(t, () => m.setWeights({ [name]: Array.from({ length: size }, () => 0) as never }), TypeError, `weights['${name}']`);
  const nan = new Float32Array(size);
  nan[1] = NaN;
  throwsNamed(t, () => m.setWeights({ [name]: nan }), RangeError, `weights['${name}'][1]`);
  // nothing was written by the failed calls
  const before = m.getWeights();
  throwsNamed(t, () => m.setWeights({ [name]: new Float32Array(size), bogus: new Float32Array(1) }), RangeError, 'weights', /bogus/);
  t.deepEqual(m.getWeights()[name]!.data, before[name]!.data);
  m.dispose();
});

test('dispose: later calls fail with ERR_DISPOSED', async (t) => {
  const m = tokenModel();
  m.dispose();
  t.true(m.disposed);
  t.notThrows(() => m.dispose());
  const err = await t.throwsAsync(() => m.predict([[1]]), { instanceOf: RnnkitError });
  t.is((err as RnnkitError).code, 'ERR_DISPOSED');
  for (const call of [() => m.forward([[1]]), () => m.gradients([[1]], [[1]]), () => m.trainStep([[1]], [[1]])]) {
    const e = await t.throwsAsync(call, { instanceOf: RnnkitError });
    t.is((e as RnnkitError).code, 'ERR_DISPOSED');
  }
  const e1 = t.throws(() => m.getWeights(), { instanceOf: RnnkitError });
  t.is((e1 as RnnkitError).code, 'ERR_DISPOSED');
  const e2 = t.throws(() => m.setWeights({}), { instanceOf: RnnkitError });
  t.is((e2 as RnnkitError).code, 'ERR_DISPOSED');
});

test('concurrent calls on one model: ERR_BUSY with the caller stack', async (t) => {
  const m = sequential({ input: { vocabSize: 50 }, layers: [layers.lstm({ units: 64 }), layers.dense({ units: 50 })] });
  const x = Array.from({ length: 16 }, (_, b) => Array.from({ length: 64 }, (_, i) => (b * 7 + i) % 50));
  const first = m.trainStep(x, x);
  const err = await t.throwsAsync(() => m.predict([[1, 2]]), { instanceOf: RnnkitError });
  t.is((err as RnnkitError).code, 'ERR_BUSY');
  t.true(err!.stack!.includes('errors.test.ts'), err!.stack);
  // the weights cannot be read or written while a call may be updating them
  const e1 = t.throws(() => m.getWeights(), { instanceOf: RnnkitError });
  t.is((e1 as RnnkitError).code, 'ERR_BUSY');
  const e2 = t.throws(() => m.setWeights({}), { instanceOf: RnnkitError });
  t.is((e2 as RnnkitError).code, 'ERR_BUSY');
  await t.notThrowsAsync(() => first);
  // the model works again once the first call is done
  await t.notThrowsAsync(() => m.predict([[1, 2]]));
  t.notThrows(() => m.getWeights());
  m.dispose();
});

test('dispose while a call runs: the call finishes, later calls fail with ERR_DISPOSED', async (t) => {
  const m = sequential({ input: { vocabSize: 50 }, layers: [layers.lstm({ units: 64 }), layers.dense({ units: 50 })] });
  const x = Array.from({ length: 16 }, (_, b) => Array.from({ length: 64 }, (_, i) => (b * 3 + i) % 50));
  const running = m.trainStep(x, x);
  m.dispose();
  const res = await running;
  t.true(Number.isFinite(res.loss));
  const err = await t.throwsAsync(() => m.predict([[1]]), { instanceOf: RnnkitError });
  t.is((err as RnnkitError).code, 'ERR_DISPOSED');
});

// ---------------------------------------------------------------------------
// Shared and detached buffers: a SharedArrayBuffer can change under a copy
// (another thread), and a detached one reads as empty. Both are RangeErrors
// naming the argument, in the API and again in the raw binding.

function sharedInt32(values: number[]): Int32Array {
  const a = new Int32Array(new SharedArrayBuffer(values.length * 4));
  a.set(values);
  return a;
}
function detached<A extends Int32Array | Float32Array>(a: A): A {
  structuredClone(a.buffer, { transfer: [a.buffer as ArrayBuffer] });
  return a;
}

test('SharedArrayBuffer-backed and detached arrays are RangeErrors naming the argument', async (t) => {
  const model = sequential({ input: { vocabSize: 5 }, layers: [layers.gru({ units: 3 }), layers.dense({ units: 5 })] });
  const shared = { shape: [1, 3], data: sharedInt32([1, 2, 3]) };
  await rejectsNamed(t, () => model.predict(shared), RangeError, 'inputs.data', /SharedArrayBuffer/);
  await rejectsNamed(
    t,
    () => model.predict({ shape: [1, 3], data: detached(new Int32Array([1, 2, 3])) }),
    RangeError,
    'inputs.data',
    /detached/,
  );
  await rejectsNamed(
    t,
    () => model.predict([[1, 2, 3]], { lengths: sharedInt32([2]) }),
    RangeError,
    'options.lengths',
    /SharedArrayBuffer/,
  );
  const sharedBias = new Float32Array(new SharedArrayBuffer(5 * 4));
  throwsNamed(t, () => model.setWeights({ 'layers.1.bias': sharedBias }), RangeError, "weights['layers.1.bias']", /SharedArrayBuffer/);
  throwsNamed(
    t,
    () => model.setWeights({ 'layers.1.bias': { shape: [5], data: detached(new Float32Array(5)) } }),
    RangeError,
    "weights['layers.1.bias'].data",
    /detached/,
  );
  await rejectsNamed(
    t,
    () => model.trainStep([[1, 2]], { shape: [1, 2], data: sharedInt32([2, 3]) }),
    RangeError,
    'targets.data',
    /SharedArrayBuffer/,
  );
  await rejectsNamed(
    t,
    () => model.generate({ prime: sharedInt32([1]), maxLength: 2, seed: 1 }),
    RangeError,
    'options.prime',
    /SharedArrayBuffer/,
  );
  // an ordinary zero-length array is not mistaken for a detached one
  await rejectsNamed(t, () => model.predict({ shape: [1, 3], data: new Int32Array(0) }), RangeError, 'inputs.data', /length 0/);
  model.dispose();
});

test('the raw binding refuses shared / detached arrays and non-finite parameters with RangeErrors', async (t) => {
  const rnn = { type: 'rnn', units: 2, activation: 'tanh', bidirectional: false, returnSequences: true } as const;
  const m = rawDense(4, { layers: [rnn, { type: 'dense', units: 4, activation: 'linear' }] });
  const batch = (tokens: Int32Array) => ({ B: 1, T: 2, tokens, lengths: new Int32Array([2]) });
  t.throws(() => m.forward(batch(sharedInt32([1, 2])), false), {
    instanceOf: RangeError,
    message: /ordinary ArrayBuffer for batch\.tokens but received one on a SharedArrayBuffer/,
  });
  t.throws(() => m.forward(batch(detached(new Int32Array([1, 2]))), false), {
    instanceOf: RangeError,
    message: /attached ArrayBuffer for batch\.tokens but received one on a detached ArrayBuffer/,
  });
  const before = m.getParams();
  for (const bad of [NaN, Infinity, -Infinity]) {
    t.throws(() => m.setParams(0, new Float32Array([0.5, bad])), { instanceOf: RangeError, message: /finite values for data.*data\[1\]/ });
  }
  t.deepEqual(m.getParams(), before, 'a refused setParams writes nothing');
  const ok = await m.forward(batch(new Int32Array([1, 2])), false);
  t.is(ok.output.length, 8);
  m.dispose();
});

// LSTM-23000 in float64: 2.1e9 parameters (under the 2^31 cap), 68 GB with gradients and Adam moments
(totalmem() < 60e9 ? test : test.skip)('a model larger than the machine is refused before anything is allocated', (t) => {
  const t0 = performance.now();
  const err = t.throws(
    () => sequential({ input: { vocabSize: 64 }, dtype: 'float64', layers: [layers.lstm({ units: 23000 }), layers.dense({ units: 64 })] }),
    { instanceOf: RangeError },
  );
  t.regex(err?.message ?? '', /GB for its parameters, gradients and optimizer moments, more than this machine's \d+ GB/);
  t.true(performance.now() - t0 < 2000, 'refused up front, not after allocating');
});

test('generate refuses options that are not an object (a number is not read as {})', async (t) => {
  const model = sequential({ input: { vocabSize: 5 }, layers: [layers.gru({ units: 3 }), layers.dense({ units: 5 })] });
  await rejectsNamed(t, () => model.generate(5 as never), TypeError, 'options');
  await rejectsNamed(t, () => model.generate('n=3' as never), TypeError, 'options');
  model.dispose();
});
