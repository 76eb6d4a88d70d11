/**
 * The shared limits (lib/limits.ts, native/limits.h): the two tables are the
 * same numbers, and each limit is refused with the same message on every path
 * that reaches it (trainStep, fit, applyGradients, seq2seq, generate,
 * generateText, the raw binding).
 */
import test, { type ExecutionContext } from 'ava';
import { CharTokenizer, generateText, layers, sequential, type SequentialConfig } from '../lib/index.js';
import { LIMITS } from '../lib/limits.js';
import { native } from '../lib/native.js';
import { nativeOptimizer, oneToken, rawDense, smallSeq2Seq } from './helpers/models.js';

/** "Expected <what> for <name> but received <value>" -> what and value. */
function shape(message: string, name: string): { what: string; value: string } {
  const at = message.indexOf(` for ${name} but received `);
  if (!message.startsWith('Expected ') || at < 0) return { what: `(not the template) ${message}`, value: '' };
  return { what: message.slice('Expected '.length, at), value: message.slice(at + ` for ${name} but received `.length) };
}

/** Runs every path; each must fail with `cls` and the same "what" and "value" as the first, naming its own argument. */
async function sameEverywhere(
  t: ExecutionContext,
  cls: typeof RangeError | typeof TypeError,
  paths: Record<string, { name: string; run: () => unknown }>,
  expected: { what: string; value: string },
): Promise<void> {
  for (const [label, p] of Object.entries(paths)) {
    let err: unknown;
    try {
      await p.run();
    } catch (e) {
      err = e;
    }
    t.true(err instanceof cls && err.constructor === cls, `${label}: expected a ${cls.name}, got ${String(err)}`);
    const message = (err as Error | undefined)?.message ?? '';
    t.true(message.includes(` for ${p.name} but received `), `${label}: names ${p.name}: ${message}`);
    t.deepEqual(shape(message, p.name), expected, `${label}: ${message}`);
  }
}

const lm = (extra: Partial<SequentialConfig> = {}) =>
  sequential({ input: { vocabSize: 5 }, layers: [layers.gru({ units: 3 }), layers.dense({ units: 5 })], seed: 1, ...extra });

test('the binding exports the same limits table as lib/limits.ts', (t) => {
  t.deepEqual({ ...native().limits }, { ...LIMITS });
});

for (const momentum of [1, 1.5]) {
  test(`momentum ${momentum} is a RangeError with the same message on every training path`, async (t) => {
    const model = lm();
    const s2s = smallSeq2Seq();
    const optimizer = { type: 'sgd' as const, momentum };
    const data = { inputs: [[1, 2, 3]], targets: [[2, 3, 4]] };
    const grads = model.getWeights();
    const raw = rawDense();
    const batch = oneToken();
    const before = model.getWeights();
    await sameEverywhere(
      t,
      RangeError,
      {
        'Model.trainStep': { name: 'options.optimizer.momentum', run: () => model.trainStep(data.inputs, data.targets, { optimizer }) },
        'Model.fit': { name: 'options.optimizer.momentum', run: () => model.fit(data, { optimizer }) },
        'Model.applyGradients': { name: 'options.optimizer.momentum', run: () => model.applyGradients(grads, { optimizer }) },
        'Seq2Seq.trainStep': { name: 'options.optimizer.momentum', run: () => s2s.trainStep([[1, 2]], [[3]], { optimizer }) },
        'Seq2Seq.fit': { name: 'options.optimizer.momentum', run: () => s2s.fit({ sources: [[1, 2]], targets: [[3]] }, { optimizer }) },
        'NativeModel.trainStep': {
          name: 'optimizer.momentum',
          run: () => raw.trainStep(batch, { classes: Int32Array.of(2) }, nativeOptimizer({ momentum })),
        },
      },
      { what: 'a finite number in [0, 1)', value: `number ${momentum}` },
    );
    t.deepEqual(model.getWeights(), before, 'nothing was trained');
    raw.dispose();
    model.dispose();
    s2s.dispose();
  });
}

test('beta1, beta2 and a dropout rate share the [0, 1) limit with momentum, in TypeScript and the binding', async (t) => {
  const model = lm();
  const raw = rawDense();
  const batch = oneToken();
  const spec = (rate: number) => ({
    inputKind: 'features',
    inputSize: 2,
    layers: [
      { type: 'dropout', rate },
      { type: 'dense', units: 1, activation: 'linear' },
    ],
    loss: 'mse',
    reduction: 'mean',
    seed: 1,
    dtype: 'float32',
  });
  await sameEverywhere(
    t,
    RangeError,
    {
      'beta1 (TypeScript)': {
        name: 'options.optimizer.beta1',
        run: () => model.trainStep([[1]], [[2]], { optimizer: { type: 'adam', beta1: LIMITS.unitOpenMax } }),
      },
      'beta2 (TypeScript)': {
        name: 'options.optimizer.beta2',
        run: () => model.trainStep([[1]], [[2]], { optimizer: { type: 'adamw', beta2: LIMITS.unitOpenMax } }),
      },
      'dropout (TypeScript)': {
        name: 'config.layers[0].rate',
        run: () => sequential({ input: { features: 2 }, layers: [{ type: 'dropout', rate: 1 }, layers.dense({ units: 1 })], loss: 'mse' }),
      },
      'layers.dropout': { name: 'layers.dropout() options.rate', run: () => layers.dropout({ rate: 1 }) },
      'beta1 (binding)': {
        name: 'optimizer.beta1',
        run: () => raw.trainStep(batch, { classes: Int32Array.of(2) }, nativeOptimizer({ type: 'adam', beta1: 1 })),
      },
      'dropout (binding)': { name: 'spec.layers[0].rate', run: () => new (native().NativeModel)(spec(1) as never) },
    },
    { what: 'a finite number in [0, 1)', value: 'number 1' },
  );
  raw.dispose();
  model.dispose();
});

for (const labelSmoothing of [1, -0.1]) {
  test(`labelSmoothing ${labelSmoothing} is a RangeError with the same message on every training path`, async (t) => {
    const model = lm();
    const s2s = smallSeq2Seq();
    const data = { inputs: [[1, 2, 3]], targets: [[2, 3, 4]] };
    const raw = rawDense();
    const batch = oneToken();
    const before = model.getWeights();
    await sameEverywhere(
      t,
      RangeError,
      {
        'Model.trainStep': { name: 'options.labelSmoothing', run: () => model.trainStep(data.inputs, data.targets, { labelSmoothing }) },
        'Model.gradients': { name: 'options.labelSmoothing', run: () => model.gradients(data.inputs, data.targets, { labelSmoothing }) },
        'Model.fit': { name: 'options.labelSmoothing', run: () => model.fit(data, { labelSmoothing }) },
        'Seq2Seq.trainStep': { name: 'options.labelSmoothing', run: () => s2s.trainStep([[1, 2]], [[3]], { labelSmoothing }) },
        'Seq2Seq.fit': { name: 'options.labelSmoothing', run: () => s2s.fit({ sources: [[1, 2]], targets: [[3]] }, { labelSmoothing }) },
        'NativeModel.trainStep': {
          name: 'targets.labelSmoothing',
          run: () => raw.trainStep(batch, { classes: Int32Array.of(2), labelSmoothing }, nativeOptimizer({})),
        },
      },
      { what: 'a finite number in [0, 1)', value: `number ${labelSmoothing}` },
    );
    t.deepEqual(model.getWeights(), before, 'nothing was trained');
    raw.dispose();
    model.dispose();
    s2s.dispose();
  });
}

test('units and vocabulary limits are the same for sequential and seq2seq', async (t) => {
  const big = LIMITS.units + 1;
  const s2s = (extra: Record<string, unknown>) => () => smallSeq2Seq(5, 3, extra as never);
  await sameEverywhere(
    t,
    RangeError,
    {
      'sequential units': {
        name: 'config.layers[0].units',
        run: () => sequential({ input: { vocabSize: 5 }, layers: [{ type: 'lstm', units: big }, layers.dense({ units: 5 })] } as never),
      },
      'layers.gru units': { name: 'layers.gru() options.units', run: () => layers.gru({ units: big }) },
      'seq2seq encoder units': { name: 'config.layers[0].units', run: s2s({ encoder: [{ type: 'gru', units: big }] }) },
      'seq2seq decoder units': { name: 'config.layers[0].units', run: s2s({ decoder: [{ type: 'gru', units: big }] }) },
    },
    { what: `an integer in [1, ${LIMITS.units}]`, value: `number ${big}` },
  );
  const wide = LIMITS.inputSize + 1;
  await sameEverywhere(
    t,
    RangeError,
    {
      'sequential vocabSize': {
        name: 'config.input.vocabSize',
        run: () => sequential({ input: { vocabSize: wide }, layers: [layers.dense({ units: 2 })] }),
      },
      'sequential features': {
        name: 'config.input.features',
        run: () => sequential({ input: { features: wide }, layers: [layers.dense({ units: 2 })], loss: 'mse' }),
      },
      'condition features': { name: 'config.condition.features', run: () => lm({ condition: { features: wide } }) },
      'seq2seq sourceVocab': { name: 'config.sourceVocab', run: s2s({ sourceVocab: wide }) },
      'binding inputSize': {
        name: 'spec.inputSize',
        run: () => rawDense(wide),
      },
    },
    { what: `an integer in [1, ${LIMITS.inputSize}]`, value: `number ${wide}` },
  );
  t.throws(
    () => sequential({ input: { vocabSize: 5 }, layers: Array.from({ length: LIMITS.layers + 1 }, () => layers.dense({ units: 5 })) }),
    {
      instanceOf: RangeError,
      message: `Expected at most ${LIMITS.layers} layers for config.layers but received array of length ${LIMITS.layers + 1}`,
    },
  );
});

test('generation limits are the same for generate, generateText and the binding', async (t) => {
  const model = lm();
  const tok = CharTokenizer.fromText('abcd');
  const V = tok.size;
  const small = sequential({ input: { vocabSize: V }, layers: [layers.gru({ units: 3 }), layers.dense({ units: V })] });
  const raw = rawDense();
  const nativeGen = (o: Record<string, unknown>) => () =>
    raw.generate(
      {
        n: 1,
        maxLength: 1,
        temperature: 1,
        topK: 0,
        topP: 1,
        seed: 0,
        prime: Int32Array.of(1),
        stopTokens: new Int32Array(0),
        banTokens: new Int32Array(0),
        ...o,
      } as never,
      null,
      null,
    );
  for (const [key, max] of [
    ['n', LIMITS.samples],
    ['maxLength', LIMITS.generateLength],
    ['topK', LIMITS.topK],
  ] as const) {
    const min = key === 'topK' ? 0 : 1;
    await sameEverywhere(
      t,
      RangeError,
      {
        generate: { name: `options.${key}`, run: () => model.generate({ prime: [1], [key]: max + 1 }) },
        generateText: { name: `options.${key}`, run: () => generateText(small, tok, { [key]: max + 1 }) },
        binding: { name: `options.${key}`, run: nativeGen({ [key]: max + 1 }) },
      },
      { what: `an integer in [${min}, ${max}]`, value: `number ${max + 1}` },
    );
  }
  // n x maxLength: each within its own limit, the product over the shared one
  const n = LIMITS.samples;
  const maxLength = LIMITS.sampledTokens / n + 1;
  for (const run of [() => model.generate({ prime: [1], n, maxLength }), () => generateText(small, tok, { n, maxLength })]) {
    await t.throwsAsync(run, {
      instanceOf: RangeError,
      message: `Expected n x maxLength at most ${LIMITS.sampledTokens} tokens per call for options.maxLength but received ${n} x ${maxLength}`,
    });
  }
  await t.throwsAsync(nativeGen({ n, maxLength }), {
    instanceOf: RangeError,
    message: new RegExp(`at most 1e8 tokens per call but received ${n} x ${maxLength}`),
  });
  const ids = new Int32Array(LIMITS.idList + 1).fill(1);
  await t.throwsAsync(model.generate({ prime: ids }), {
    instanceOf: RangeError,
    message: `Expected at most ${LIMITS.idList} token ids for options.prime but received ${ids.length} ids`,
  });
  t.throws(nativeGen({ prime: ids }), {
    instanceOf: RangeError,
    message: `Expected at most ${LIMITS.idList} token ids for options.prime but received ${ids.length} ids`,
  });
  raw.dispose();
  small.dispose();
  model.dispose();
});

test('batch size limits: rows x steps over the shared positions limit, in TypeScript and the binding', async (t) => {
  const model = sequential({ input: { vocabSize: 5 }, layers: [layers.dense({ units: 5 })] });
  const raw = rawDense();
  const B = 2 ** 15;
  const T = LIMITS.positions / B + 1;
  await t.throwsAsync(() => model.predict({ shape: [B, T], data: new Int32Array(0) }), {
    instanceOf: RangeError,
    message: `Expected at most ${LIMITS.positions} positions (B*T) for inputs.shape but received ${B} x ${T}`,
  });
  t.throws(() => raw.forward({ B, T, tokens: new Int32Array(0), lengths: new Int32Array(B) }, false), {
    instanceOf: RangeError,
    message: `Expected at most ${LIMITS.positions} positions (B*T) for batch but received ${B} x ${T}`,
  });
  raw.dispose();
  model.dispose();
});
