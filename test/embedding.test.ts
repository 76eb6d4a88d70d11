// The embedding layer and weight tying through the typed API: configs and their
// errors, sparse gradients, the padding row, save / load and safetensors. The
// float64 gradient checks are in native/tests/core_tests.cc (test/native-core.test.ts)
// and PyTorch parity in test/parity.test.ts (emb_* fixtures).
import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { layers, load, loadSafetensors, sequential, type LayerInput } from '../lib/index.js';
import { assertResumesExactly } from './helpers/resume.js';

const V = 12;

function lm(tie = false, paddingIdx?: number) {
  return sequential({
    input: { vocabSize: V },
    layers: [
      layers.embedding({ dim: 6, ...(paddingIdx !== undefined ? { paddingIdx } : {}) }),
      layers.lstm({ units: 6 }),
      layers.dense({ units: V, tieEmbedding: tie }),
    ],
    seed: 4,
  });
}

async function tmp(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'rnnkit-embedding-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('an embedding is a [vocabSize, dim] table named like nn.Embedding; a tied dense layer owns only its bias', (t) => {
  const untied = lm();
  const tied = lm(true);
  t.deepEqual(untied.getWeights()['layers.0.weight']!.shape, [V, 6]);
  t.deepEqual(
    tied.weightNames.filter((n) => n.startsWith('layers.2.')),
    ['layers.2.bias'],
  );
  t.is(untied.numParams - tied.numParams, V * 6, 'tying saves the output weight');
  t.deepEqual(layers.dense({ units: 3 }), { type: 'dense', units: 3, activation: 'linear' }, 'an untied config is unchanged');
  untied.dispose();
  tied.dispose();
});

test('one SGD step moves only the embedding rows of the tokens in the batch; the padding row stays zero', async (t) => {
  const m = lm(false, 0);
  const before = m.getWeights()['layers.0.weight']!.data;
  t.deepEqual(Array.from(before.subarray(0, 6)), [0, 0, 0, 0, 0, 0], 'the padding row starts at zero');
  await m.trainStep([[0, 3, 5, 0]], [[3, 5, 0, 1]], { optimizer: { type: 'sgd', lr: 0.5 } });
  const after = m.getWeights()['layers.0.weight']!.data;
  const moved = Array.from({ length: V }, (_, v) => after.subarray(v * 6, v * 6 + 6).some((x, j) => x !== before[v * 6 + j]));
  t.deepEqual(
    moved.flatMap((m, v) => (m ? [v] : [])),
    [3, 5],
    'rows 3 and 5 moved; the padding token 0 and the unused ids did not',
  );
  m.dispose();
});

test('a frozen embedding (trainable: false) stays as set while the rest trains, even with weight decay', async (t) => {
  const m = sequential({
    input: { vocabSize: V },
    layers: [layers.embedding({ dim: 4, trainable: false }), layers.gru({ units: 4 }), layers.dense({ units: V })],
    seed: 1,
  });
  t.is((m.config.layers[0] as { trainable?: boolean }).trainable, false);
  const table = m.getWeights()['layers.0.weight']!;
  const before = m.getWeights();
  for (let i = 0; i < 3; i++) await m.trainStep([[1, 2, 3]], [[2, 3, 4]], { optimizer: { type: 'adamw', lr: 0.05, weightDecay: 0.5 } });
  const after = m.getWeights();
  t.deepEqual(after['layers.0.weight'], table);
  t.notDeepEqual(after['layers.1.weight_hh_l0'], before['layers.1.weight_hh_l0']);
  const g = await m.gradients([[1, 2, 3]], [[2, 3, 4]]);
  t.true(
    g.grads['layers.0.weight']!.data.every((v) => v === 0),
    'no gradient',
  );
  t.throws(() => layers.embedding({ dim: 4, trainable: 'no' as never }), {
    instanceOf: TypeError,
    message: /options\.trainable but received string/,
  });
  t.false('trainable' in layers.embedding({ dim: 4 }), 'a trainable table shows no field');
  m.dispose();
});

test('a tied model trains, samples, and saves / loads / round-trips safetensors with the table shared', async (t) => {
  const dir = await tmp(t);
  const m = lm(true);
  const x = [
    [1, 2, 3, 4],
    [5, 6, 7],
  ];
  const y = [
    [2, 3, 4, 5],
    [6, 7, 8],
  ];
  const first = await m.trainStep(x, y, { optimizer: { type: 'adam', lr: 0.05 } });
  for (let i = 0; i < 20; i++) await m.trainStep(x, y, { optimizer: { type: 'adam', lr: 0.05 } });
  const last = await m.trainStep(x, y, { optimizer: { type: 'adam', lr: 0.05 } });
  t.true(last.loss < first.loss, `loss ${first.loss} -> ${last.loss}`);
  const file = join(dir, 'tied.rnnkit');
  await m.save(file);
  const back = await load(file);
  t.deepEqual(back.getWeights(), m.getWeights());
  const g = { prime: [1], maxLength: 6, n: 2, seed: 3 };
  t.deepEqual(await back.generate(g), await m.generate(g));
  const st = join(dir, 'tied.safetensors');
  await m.saveSafetensors(st, { names: { 'layers.0': 'emb', 'layers.1': 'rnn', 'layers.2': 'fc' } });
  const fromSt = await loadSafetensors(st);
  t.deepEqual(fromSt.getWeights(), m.getWeights());
  t.deepEqual((await fromSt.predict(x)).data, (await m.predict(x)).data);
  m.dispose();
  back.dispose();
  fromSt.dispose();
});

test('bad embedding and tying configs are TypeErrors / RangeErrors naming the field', (t) => {
  const build =
    (ls: LayerInput[], input: object = { vocabSize: V }) =>
    () =>
      sequential({ input: input as never, layers: ls });
  t.throws(() => layers.embedding({} as never), {
    instanceOf: TypeError,
    message: /for layers\.embedding\(\) options\.dim but received undefined/,
  });
  t.throws(() => layers.embedding({ dim: 0 }), { instanceOf: RangeError, message: /options\.dim but received number 0/ });
  t.throws(() => layers.embedding({ dim: 4, paddingIdx: -1 }), {
    instanceOf: RangeError,
    message: /options\.paddingIdx but received number -1/,
  });
  t.throws(() => layers.embedding({ dim: 4, units: 4 } as never), { instanceOf: TypeError, message: /unknown key 'units'/ });
  t.throws(() => layers.dense({ units: 4, tieEmbedding: 'yes' as never }), {
    instanceOf: TypeError,
    message: /options\.tieEmbedding but received string/,
  });
  t.throws(build([layers.embedding({ dim: 4, paddingIdx: V }), layers.dense({ units: V })]), {
    instanceOf: RangeError,
    message: `Expected a token id in [0, ${V - 1}] (config.input.vocabSize) for config.layers[0].paddingIdx but received number ${V}`,
  });
  t.throws(build([layers.lstm({ units: 4 }), layers.embedding({ dim: 4 }), layers.dense({ units: V })]), {
    instanceOf: RangeError,
    message: /an embedding only as the first layer of a token-input model for config\.layers\[1\]\.type/,
  });
  t.throws(build([layers.embedding({ dim: 4 }), layers.dense({ units: 1 })], { features: 3 }), {
    instanceOf: RangeError,
    message: /an embedding only as the first layer of a token-input model for config\.layers\[0\]\.type/,
  });
  t.throws(build([layers.lstm({ units: 4 }), layers.dense({ units: V, tieEmbedding: true })]), {
    instanceOf: RangeError,
    message: /an embedding as the first layer .* for config\.layers\[1\]\.tieEmbedding/,
  });
  t.throws(build([layers.embedding({ dim: 4 }), layers.lstm({ units: 4 }), layers.dense({ units: V - 1, tieEmbedding: true })]), {
    instanceOf: RangeError,
    message: `Expected units = the vocabulary, ${V} (a tied weight is the embedding table) for config.layers[2].units but received number ${V - 1}`,
  });
  t.throws(build([layers.embedding({ dim: 4 }), layers.lstm({ units: 5 }), layers.dense({ units: V, tieEmbedding: true })]), {
    instanceOf: RangeError,
    message:
      'Expected an input as wide as the embedding (dim 4) for a tied weight for config.layers[2].tieEmbedding but received an input of width 5',
  });
});

function sparseLm(sparse: boolean, dtype: 'float32' | 'float64' = 'float64') {
  return sequential({
    input: { vocabSize: V },
    layers: [layers.embedding({ dim: 6, sparse }), layers.gru({ units: 5 }), layers.dense({ units: V })],
    seed: 9,
    dtype,
  });
}

/** The ids whose table row differs between two weight snapshots. */
function movedRows(a: Record<string, { data: ArrayLike<number> }>, b: Record<string, { data: ArrayLike<number> }>): number[] {
  const x = a['layers.0.weight']!.data,
    y = b['layers.0.weight']!.data;
  return Array.from({ length: V }, (_, v) => v).filter((v) => Array.from({ length: 6 }, (_, j) => v * 6 + j).some((i) => x[i] !== y[i]));
}

test('a sparse embedding under Adam steps only the rows of the batch (lazy, as SparseAdam); a dense one keeps moving the others', async (t) => {
  const adam = { optimizer: { type: 'adam' as const, lr: 0.05 }, clipNorm: 1 };
  const sparse = sparseLm(true);
  const dense = sparseLm(false);
  t.is((sparse.config.layers[0] as { sparse?: boolean }).sparse, true);
  t.false('sparse' in dense.config.layers[0]!, 'a dense table shows no field');
  for (const m of [sparse, dense]) await m.trainStep([[1, 2, 3]], [[2, 3, 4]], adam);
  const s0 = sparse.getWeights(),
    d0 = dense.getWeights();
  for (const m of [sparse, dense]) await m.trainStep([[7, 8]], [[8, 9]], adam);
  t.deepEqual(movedRows(s0, sparse.getWeights()), [7, 8], 'sparse: rows 1-3 wait for their tokens (weights and moments)');
  t.deepEqual(movedRows(d0, dense.getWeights()), [1, 2, 3, 7, 8], 'dense Adam: rows 1-3 move on their moments');
  t.notDeepEqual(sparse.getWeights()['layers.1.weight_hh_l0'], s0['layers.1.weight_hh_l0'], 'the rest of the model trains');
  // applyGradients: the rows given a non-zero gradient are the rows stepped
  const g = new Float64Array(V * 6);
  g.fill(0.1, 4 * 6, 5 * 6);
  const s1 = sparse.getWeights();
  await sparse.applyGradients({ 'layers.0.weight': g }, adam);
  t.deepEqual(movedRows(s1, sparse.getWeights()), [4], 'applyGradients steps row 4 alone');
  sparse.dispose();
  dense.dispose();
});

test('plain SGD gives the same weights with a sparse table as with a dense one; momentum and AdamW sweep the whole table', async (t) => {
  const x = [
    [1, 2, 3, 4],
    [5, 6, 1],
  ];
  const y = [
    [2, 3, 4, 5],
    [6, 7, 2],
  ];
  const other = [[9, 10]];
  for (const optimizer of [
    { type: 'sgd' as const, lr: 0.3 },
    { type: 'sgd' as const, lr: 0.3, momentum: 0.9 },
    { type: 'sgd' as const, lr: 0.3, weightDecay: 0.1 },
    { type: 'adamw' as const, lr: 0.05, weightDecay: 0.1 },
  ]) {
    const a = sparseLm(true, 'float32');
    const b = sparseLm(false, 'float32');
    for (const m of [a, b]) {
      await m.trainStep(x, y, { optimizer });
      await m.trainStep(other, other, { optimizer });
    }
    t.deepEqual(a.getWeights(), b.getWeights(), JSON.stringify(optimizer));
    a.dispose();
    b.dispose();
  }
});

test('a sparse table saves, loads and resumes Adam exactly; fit over varying batches lowers the loss', async (t) => {
  const data = {
    inputs: [
      [1, 2, 3],
      [4, 5],
      [6, 7, 8, 9],
      [10, 11],
      [2, 4, 6],
    ],
    targets: [
      [2, 3, 4],
      [5, 6],
      [7, 8, 9, 10],
      [11, 1],
      [4, 6, 8],
    ],
  };
  const opts = { batchSize: 2, optimizer: { type: 'adam' as const, lr: 0.05 }, clipNorm: 1, seed: 5 };
  const m = sparseLm(true);
  const h = await m.fit(data, { ...opts, epochs: 6 });
  t.true(h.epochs.at(-1)!.loss < h.epochs[0]!.loss, `loss ${h.epochs[0]!.loss} -> ${h.epochs.at(-1)!.loss}`);
  m.dispose();
  await assertResumesExactly(t, () => sparseLm(true), data, opts, {
    before: 3,
    after: 3,
    inspect: (loaded) => t.is((loaded.config.layers[0] as { sparse?: boolean }).sparse, true, 'the config keeps sparse'),
  });
});

test('bad sparse options: a TypeError naming sparse, and a RangeError for a sparse table with a tied output', (t) => {
  t.throws(() => layers.embedding({ dim: 4, sparse: 1 as never }), {
    instanceOf: TypeError,
    message: /options\.sparse but received number 1/,
  });
  t.throws(
    () =>
      sequential({
        input: { vocabSize: V },
        layers: [layers.embedding({ dim: 4, sparse: true }), layers.lstm({ units: 4 }), layers.dense({ units: V, tieEmbedding: true })],
      }),
    {
      instanceOf: RangeError,
      message: /a dense embedding \(config\.layers\[0\]\.sparse false\) for a tied weight for config\.layers\[2\]\.tieEmbedding/,
    },
  );
});
