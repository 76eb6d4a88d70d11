/**
 * PyTorch interop through safetensors (lib/io/safetensors.ts, lib/interop.ts).
 *
 * (a) Files written by torch (test/fixtures/safetensors/, made by
 *     scripts/gen_safetensors_fixtures.py; no torch needed here) load into
 *     rnnkit, whose outputs match torch's logits.
 * (b) rnnkit writes them back bit for bit under the same names.
 * (c) save -> load in rnnkit is exact for every cell type, rnnkit-only
 *     weights and tokenizers included.
 * (d) malformed or unfitting files give ERR_SAFETENSORS naming the file (and
 *     the tensor), never a crash.
 * (e) a failed write leaves the previous file intact.
 */
import test from 'ava';
import { execFile, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  CharTokenizer,
  layers,
  loadSafetensors,
  readSafetensors,
  RnnkitError,
  sequential,
  WordTokenizer,
  writeSafetensors,
  type LayerInput,
  type Model,
  type SequentialConfig,
} from '../lib/index.js';
import { decodeSafetensors, encodeSafetensors, SAFETENSORS_MAX_HEADER, type SafetensorsTensor } from '../lib/io/safetensors.js';
import { example } from './helpers/examples.js';
import { tensorDiff } from './helpers/fixtures.js';

const FIXTURES = fileURLToPath(new URL('./fixtures/safetensors/', import.meta.url));

interface Fixture {
  name: string;
  description: string;
  file: string;
  dtype: 'F32' | 'F64';
  config: SequentialConfig;
  names: Record<string, string> | null;
  tokens: number[][];
  logits: { shape: number[]; data: number[] };
  logits32?: { shape: number[]; data: number[] };
  torch: string;
}

const fixtures: Fixture[] = readdirSync(FIXTURES)
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((f) => JSON.parse(readFileSync(join(FIXTURES, f), 'utf8')) as Fixture);

/** max |diff| allowed relative to max(|logit|, 1): float32 rounding vs float64 arithmetic */
const TOL = { float32: 1e-5, float64: 1e-10 } as const;

async function tmp(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'rnnkit-safetensors-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function loadFixture(fx: Fixture, dtype: 'float32' | 'float64'): Promise<Model> {
  return loadSafetensors(join(FIXTURES, fx.file), { config: { ...fx.config, dtype }, ...(fx.names ? { names: fx.names } : {}) });
}

function bytesOf(data: Float32Array | Float64Array): Buffer {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

test('the torch fixtures are all there', (t) => {
  t.true(fixtures.length >= 7, `${fixtures.length} fixtures`);
  const kinds = new Set(fixtures.flatMap((fx) => fx.config.layers.map((l) => (l as { type: string }).type)));
  for (const k of ['lstm', 'gru', 'rnn', 'dense', 'dropout']) t.true(kinds.has(k), k);
  t.true(fixtures.some((fx) => fx.dtype === 'F64'));
  t.true(fixtures.some((fx) => fx.config.layers.some((l) => (l as { bidirectional?: boolean }).bidirectional)));
  t.true(
    fixtures.some((fx) => fx.names && new Set(Object.values(fx.names)).size < Object.keys(fx.names).length),
    'a multi-layer torch module',
  );
});

// ---------------------------------------------------------------- (a) torch -> rnnkit

for (const fx of fixtures) {
  for (const dtype of ['float32', 'float64'] as const) {
    test(`(a) ${fx.name}: torch's file loads into a ${dtype} model that predicts torch's logits`, async (t) => {
      const model = await loadFixture(fx, dtype);
      t.teardown(() => model.dispose());
      const out = await model.predict(fx.tokens);
      t.deepEqual(out.shape, fx.logits.shape);
      const d = tensorDiff(out.data, fx.logits.data, 1);
      t.log(`${fx.description}: max|rnnkit ${dtype} - torch float64| = ${d.maxAbs.toExponential(2)} (scale ${d.scale.toFixed(2)})`);
      // float32 weights are exact in float64, so a float64 model matches torch's float64 logits to rounding
      const tol = TOL[dtype];
      t.true(d.rel <= tol, `rel ${d.rel} > ${tol}`);
      if (dtype === 'float32' && fx.logits32) {
        const d32 = tensorDiff(out.data, fx.logits32.data, 1);
        t.log(`max|rnnkit float32 - torch float32| = ${d32.maxAbs.toExponential(2)}`);
        t.true(d32.rel <= TOL.float32);
      }
    });
  }
}

test('(a) a torch file without rnnkit metadata needs options.config, and says so', async (t) => {
  const path = join(FIXTURES, fixtures[0]!.file);
  const err = await t.throwsAsync(loadSafetensors(path), { instanceOf: RnnkitError });
  t.is((err as RnnkitError).code, 'ERR_SAFETENSORS');
  t.regex(err!.message, /options\.config/);
  t.true(err!.message.includes(path));
});

test('(a) without the prefix map the torch names are missing, listed by name', async (t) => {
  const fx = fixtures.find((f) => f.name === 'gru_2layer')!;
  const path = join(FIXTURES, fx.file);
  const err = await t.throwsAsync(loadSafetensors(path, { config: fx.config }), { instanceOf: RnnkitError });
  t.true(err!.message.includes(path));
  t.regex(err!.message, /missing tensors 'layers\.0\.weight_ih_l0' of shape \[24, 11\]/);
  // a map that stacks the layers the wrong way round is caught by the shapes (l1 takes H inputs, l0 takes V)
  const err2 = await t.throwsAsync(
    loadSafetensors(path, { config: fx.config, names: { 'layers.0': 'fc', 'layers.2': 'rnn', 'layers.3': 'x' } }),
    { instanceOf: RnnkitError },
  );
  t.regex(err2!.message, /tensor 'rnn\.weight_ih_l0' of shape \[24, 11\]; the model's weight 'layers\.2\.weight_ih_l0' is \[24, 8\]/);
});

// ---------------------------------------------------------------- (b) rnnkit -> torch names, bit for bit

for (const fx of fixtures) {
  test(`(b) ${fx.name}: rnnkit writes torch's tensors back bit for bit, under torch's names`, async (t) => {
    const dir = await tmp(t);
    const dtype = fx.dtype === 'F64' ? 'float64' : 'float32';
    const model = await loadFixture(fx, dtype);
    t.teardown(() => model.dispose());
    const out = join(dir, 'back.safetensors');
    await model.saveSafetensors(out, fx.names ? { names: fx.names } : undefined);
    const original = await readSafetensors(join(FIXTURES, fx.file));
    const back = await readSafetensors(out);
    t.deepEqual(Object.keys(back.tensors).sort(), Object.keys(original.tensors).sort());
    for (const [name, want] of Object.entries(original.tensors)) {
      const got = back.tensors[name]!;
      t.deepEqual(got.shape, want.shape, name);
      t.is(got.data.constructor, want.data.constructor, `${name}: same dtype`);
      t.true(bytesOf(got.data).equals(bytesOf(want.data)), `${name}: bitwise equal`);
    }
    t.is(back.metadata.format, 'pt');
    t.is(back.metadata['rnnkit.format'], 'rnnkit-safetensors');
    // ...and the file alone rebuilds the model (config and prefix map from its metadata)
    const again = await loadSafetensors(out);
    t.teardown(() => again.dispose());
    t.deepEqual((await again.predict(fx.tokens)).data, (await model.predict(fx.tokens)).data);
  });
}

test('(b) a float32 model saved as F64 and loaded back is exact; F64 is stored as such', async (t) => {
  const dir = await tmp(t);
  const fx = fixtures.find((f) => f.name === 'lstm_char')!;
  const model = await loadFixture(fx, 'float32');
  t.teardown(() => model.dispose());
  const out = join(dir, 'f64.safetensors');
  await model.saveSafetensors(out, { dtype: 'float64', names: fx.names! });
  const content = await readSafetensors(out);
  t.true(Object.values(content.tensors).every((x) => x.data instanceof Float64Array));
  const back = await loadSafetensors(out);
  t.teardown(() => back.dispose());
  t.is(back.config.dtype, 'float32');
  t.deepEqual(back.getWeights(), model.getWeights());
});

// ---------------------------------------------------------------- (c) rnnkit save -> load

const charTok = CharTokenizer.fromText(['the cat', 'sat on', 'the mat']);
const wordTok = WordTokenizer.fromText(['the cat sat', 'on the mat', 'the dog ran']);
const V = charTok.size;

interface Case {
  name: string;
  config: SequentialConfig;
  tokenizer?: CharTokenizer | WordTokenizer;
  /** rnnkit-only weight names expected in the file */
  rnnkitOnly?: string[];
  names?: Record<string, string>;
}

const lm = (recurrent: LayerInput[], vocab = V): SequentialConfig => ({
  input: { vocabSize: vocab },
  layers: [...recurrent, layers.dense({ units: vocab })],
  seed: 5,
});

const CASES: Case[] = [
  { name: 'lstm', config: lm([layers.lstm({ units: 6 })]), tokenizer: charTok },
  {
    name: 'lstm diagonal peepholes',
    config: lm([layers.lstm({ units: 6, peephole: 'diagonal' })]),
    tokenizer: charTok,
    rnnkitOnly: ['layers.0.weight_peephole_l0'],
  },
  {
    name: 'lstm full peepholes, bidirectional',
    config: lm([layers.lstm({ units: 5, peephole: 'full', bidirectional: true })]),
    rnnkitOnly: ['layers.0.weight_peephole_l0', 'layers.0.weight_peephole_l0_reverse'],
  },
  { name: 'gru', config: lm([layers.gru({ units: 6 })]), tokenizer: charTok },
  { name: 'gru resetAfter false', config: lm([layers.gru({ units: 6, resetAfter: false })]) },
  { name: 'minimal gru', config: lm([layers.gru({ units: 6, variant: 'minimal' })]), tokenizer: charTok },
  {
    name: 'rnn tanh + rnn relu stacked with dropout',
    config: lm([layers.rnn({ units: 7 }), layers.dropout({ rate: 0.3 }), layers.rnn({ units: 4, activation: 'relu' })]),
  },
  {
    name: 'word model, named layers, prefix map',
    config: lm([layers.gru({ units: 6, name: 'enc' }), layers.gru({ units: 6, name: 'enc2' })], wordTok.size),
    tokenizer: wordTok,
    names: { enc: 'rnn', enc2: 'rnn', 'layers.2': 'fc' },
  },
  {
    name: 'features, last step only, conditioned, float64',
    config: {
      input: { features: 3 },
      layers: [layers.lstm({ units: 5, returnSequences: false }), layers.dense({ units: 2, activation: 'tanh' })],
      loss: 'mse',
      condition: { features: 2 },
      dtype: 'float64',
      seed: 8,
    },
  },
];

async function outputsOf(model: Model): Promise<Float32Array | Float64Array> {
  if ('features' in model.config.input) {
    const x = [
      [
        [0.1, -0.2, 0.3],
        [0.5, 0.4, -0.1],
      ],
      [
        [1, 0, -1],
        [0.2, 0.2, 0.2],
      ],
    ];
    return (
      await model.predict(x, {
        condition: [
          [0.3, -0.7],
          [1, 0.5],
        ],
      })
    ).data;
  }
  return (
    await model.predict([
      [1, 4, 5, 6, 2],
      [3, 2, 1, 4, 4],
    ])
  ).data;
}

for (const c of CASES) {
  test(`(c) save -> load is exact: ${c.name}`, async (t) => {
    const dir = await tmp(t);
    const a = sequential(c.config);
    t.teardown(() => a.dispose());
    // move the weights off their seeded init, so a loader that re-initialised would be caught
    const w = a.getWeights();
    for (const x of Object.values(w)) for (let i = 0; i < x.data.length; i++) x.data[i] = x.data[i]! * 1.5 + 0.01 * Math.sin(i);
    a.setWeights(w);
    if (c.tokenizer) a.tokenizer = c.tokenizer;
    const path = join(dir, 'm.safetensors');
    await a.saveSafetensors(path, c.names ? { names: c.names } : undefined);
    const content = await readSafetensors(path);
    for (const name of c.rnnkitOnly ?? []) t.truthy(content.tensors[name], `rnnkit-only weight ${name} is in the file`);
    t.deepEqual(JSON.parse(content.metadata['rnnkit.config']!), JSON.parse(JSON.stringify(a.config)));
    const b = await loadSafetensors(path);
    t.teardown(() => b.dispose());
    t.deepEqual(b.config, a.config);
    t.deepEqual(b.getWeights(), a.getWeights());
    t.deepEqual(await outputsOf(b), await outputsOf(a));
    if (c.tokenizer) t.deepEqual(b.tokenizer!.toJSON(), c.tokenizer.toJSON());
    else t.is(b.tokenizer, undefined);
    t.deepEqual(await readdir(dir), ['m.safetensors'], 'no temporary file is left');
  });
}

test('(c) the prefix map: stacked layers become one multi-layer module, bad maps are refused', async (t) => {
  const model = sequential(lm([layers.lstm({ units: 4 }), layers.dropout({ rate: 0.1 }), layers.lstm({ units: 4 })]));
  t.teardown(() => model.dispose());
  const dir = await tmp(t);
  const path = join(dir, 'm.safetensors');
  await model.saveSafetensors(path, { names: { 'layers.0.': 'rnn.', 'layers.2': 'rnn', 'layers.3': 'fc' } });
  const { tensors, metadata } = await readSafetensors(path);
  t.deepEqual(Object.keys(tensors), [
    'rnn.weight_ih_l0',
    'rnn.weight_hh_l0',
    'rnn.bias_ih_l0',
    'rnn.bias_hh_l0',
    'rnn.weight_ih_l1',
    'rnn.weight_hh_l1',
    'rnn.bias_ih_l1',
    'rnn.bias_hh_l1',
    'fc.weight',
    'fc.bias',
  ]);
  t.deepEqual(tensors['rnn.weight_ih_l1']!.shape, [16, 4]);
  t.deepEqual(JSON.parse(metadata['rnnkit.names']!), { 'layers.0': 'rnn.', 'layers.2': 'rnn.', 'layers.3': 'fc.' });
  // '' drops the prefix (a bare nn.LSTM state_dict); an unmapped layer keeps its own
  await model.saveSafetensors(path, { names: { 'layers.0': '' } });
  t.deepEqual(Object.keys((await readSafetensors(path)).tensors).slice(0, 1), ['weight_ih_l0']);
  t.true('layers.3.weight' in (await readSafetensors(path)).tensors);

  const bad: [Record<string, unknown>, RegExp][] = [
    [{ 'layers.1': 'rnn' }, /a layer prefix of this model.*received string 'layers\.1'/], // dropout has no weights
    [{ 'layers.9': 'rnn' }, /a layer prefix of this model/],
    [{ 'layers.0': 'x', 'layers.0.': 'y' }, /each layer prefix once/],
    [{ 'layers.0': 3 }, /Expected a string prefix/],
    [{ 'layers.0': 'rnn', 'layers.3': 'rnn' }, /'layers\.0' \(lstm\), 'layers\.3' \(dense\) all mapped to 'rnn\.'/],
  ];
  for (const [names, message] of bad) {
    await t.throwsAsync(model.saveSafetensors(path, { names: names as Record<string, string> }), { message }, JSON.stringify(names));
  }
  const mixed = sequential(lm([layers.lstm({ units: 4 }), layers.gru({ units: 4 })]));
  t.teardown(() => mixed.dispose());
  await t.throwsAsync(mixed.saveSafetensors(path, { names: { 'layers.0': 'rnn', 'layers.1': 'rnn' } }), {
    instanceOf: RangeError,
    message: /same type, units, direction/,
  });
  const between = sequential(lm([layers.gru({ units: 4 }), layers.dense({ units: 4 }), layers.gru({ units: 4 })]));
  t.teardown(() => between.dispose());
  await t.throwsAsync(between.saveSafetensors(path, { names: { 'layers.0': 'rnn', 'layers.2': 'rnn' } }), {
    instanceOf: RangeError,
    message: /only dropout between/,
  });
  // two dense layers on one prefix would collide
  await t.throwsAsync(between.saveSafetensors(path, { names: { 'layers.1': 'fc', 'layers.3': 'fc' } }), { instanceOf: RangeError });
});

test('(c) options are checked: types, reserved metadata keys, extra metadata is written', async (t) => {
  const model = sequential(lm([layers.rnn({ units: 3 })]));
  t.teardown(() => model.dispose());
  const dir = await tmp(t);
  const path = join(dir, 'm.safetensors');
  await t.throwsAsync(model.saveSafetensors('' as string), { instanceOf: TypeError, message: /for path/ });
  await t.throwsAsync(model.saveSafetensors(path, { dtype: 'float16' as 'float32' }), {
    instanceOf: RangeError,
    message: /options\.dtype/,
  });
  await t.throwsAsync(model.saveSafetensors(path, { nmaes: {} } as never), { instanceOf: TypeError, message: /nmaes/ });
  await t.throwsAsync(model.saveSafetensors(path, { names: 'rnn' as never }), { instanceOf: TypeError, message: /options\.names/ });
  await t.throwsAsync(model.saveSafetensors(path, { metadata: { 'rnnkit.config': 'x' } }), { instanceOf: RangeError, message: /reserved/ });
  await t.throwsAsync(model.saveSafetensors(path, { metadata: { note: 1 as never } }), { instanceOf: TypeError, message: /note/ });
  await model.saveSafetensors(path, { metadata: { note: 'hello', format: 'pt' } });
  t.is((await readSafetensors(path)).metadata.note, 'hello');
  await t.throwsAsync(loadSafetensors(path, { strict: 'no' as never }), { instanceOf: TypeError, message: /options\.strict/ });
  await t.throwsAsync(loadSafetensors(path, { config: { layers: [] } as never }), { instanceOf: TypeError, message: /config\.input/ });
  await t.throwsAsync(loadSafetensors(path, { bogus: 1 } as never), { instanceOf: TypeError, message: /bogus/ });
  await t.throwsAsync(loadSafetensors(42 as never), { instanceOf: TypeError, message: /for path/ });
  model.dispose();
  await t.throwsAsync(model.saveSafetensors(path), { instanceOf: RnnkitError, message: /disposed/ });
});

// ---------------------------------------------------------------- (d) malformed and unfitting files

/** A header built by hand (for files the encoder refuses to make), with the data bytes after it. */
function rawFile(header: unknown, dataBytes: number, headerLength?: bigint): Buffer {
  const json = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header), 'utf8');
  const out = Buffer.alloc(8 + json.length + dataBytes);
  out.writeBigUInt64LE(headerLength ?? BigInt(json.length), 0);
  json.copy(out, 8);
  return out;
}

const T2x3 = { dtype: 'F32', shape: [2, 3], data_offsets: [0, 24] };

const MALFORMED: [string, () => Buffer, RegExp][] = [
  ['empty', () => Buffer.alloc(0), /0 bytes is too short/],
  ['five bytes', () => Buffer.from([1, 2, 3, 4, 5]), /too short/],
  ['header longer than the file', () => rawFile({ w: T2x3 }, 24, 5000n), /header length 5000 runs past the end of the file/],
  ['header length over the cap', () => rawFile({ w: T2x3 }, 24, 1n << 40n), /exceeds the limit of 100000000 bytes/],
  ['header length of 2^64 - 1', () => rawFile({ w: T2x3 }, 24, (1n << 64n) - 1n), /exceeds the limit/],
  ['not UTF-8', () => rawFile(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]).toString('latin1'), 0), /header is not valid UTF-8|not valid JSON/],
  ['not JSON', () => rawFile('{"w": ', 0), /not valid JSON/],
  ['not an object', () => rawFile('[1, 2]', 0), /does not start with '\{'/],
  [
    'a pickle (torch.save)',
    () => Buffer.concat([Buffer.from([0x80, 0x02, 0x63, 0x63, 0, 0, 0, 0]), Buffer.alloc(64)]),
    /header length|not a safetensors/,
  ],
  ['truncated data', () => rawFile({ w: T2x3 }, 20), /tensor "w" has data_offsets \[0, 24\] past the end of the data \(20 bytes\)/],
  [
    'overlapping offsets',
    () => rawFile({ a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] }, b: { dtype: 'F32', shape: [4], data_offsets: [8, 24] } }, 24),
    /tensors "a" and "b" overlap/,
  ],
  [
    'a gap',
    () => rawFile({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [16, 24] } }, 24),
    /bytes 8\.\.16 of the data belong to no tensor/,
  ],
  ['trailing bytes', () => rawFile({ w: T2x3 }, 32), /8 trailing bytes after the last tensor/],
  [
    'size does not match the shape',
    () => rawFile({ w: { dtype: 'F32', shape: [2, 4], data_offsets: [0, 24] } }, 24),
    /tensor "w" .*shape \[2, 4\] of F32 needs 32 bytes/,
  ],
  [
    'a forged huge shape',
    () => rawFile({ w: { dtype: 'F64', shape: [2 ** 40, 2 ** 40, 3], data_offsets: [0, 24] } }, 24),
    /tensor "w" .*needs more than 2\^50 bytes/,
  ],
  [
    'dtype F16',
    () => rawFile({ w: { dtype: 'F16', shape: [2], data_offsets: [0, 4] } }, 4),
    /tensor "w" has dtype F16; rnnkit reads only F32 and F64/,
  ],
  ['dtype I64', () => rawFile({ step: { dtype: 'I64', shape: [], data_offsets: [0, 8] } }, 8), /tensor "step" has dtype I64/],
  ['unknown dtype', () => rawFile({ w: { dtype: 'Q7', shape: [1], data_offsets: [0, 4] } }, 4), /tensor "w" has unknown dtype "Q7"/],
  ['negative offset', () => rawFile({ w: { dtype: 'F32', shape: [1], data_offsets: [-4, 0] } }, 4), /tensor "w" has invalid data_offsets/],
  ['begin after end', () => rawFile({ w: { dtype: 'F32', shape: [0], data_offsets: [4, 0] } }, 4), /begin > end/],
  ['fractional shape', () => rawFile({ w: { dtype: 'F32', shape: [1.5], data_offsets: [0, 4] } }, 4), /tensor "w" has an invalid shape/],
  ['unknown field', () => rawFile({ w: { ...T2x3, strides: [3, 1] } }, 24), /tensor "w" has an unknown field "strides"/],
  ['non-string metadata', () => rawFile({ __metadata__: { epoch: 3 }, w: T2x3 }, 24), /__metadata__\["epoch"\] is not a string/],
];

for (const [name, make, message] of MALFORMED) {
  test(`(d) malformed file: ${name}`, async (t) => {
    const dir = await tmp(t);
    const path = join(dir, `${name.replace(/\W+/g, '-')}.safetensors`);
    await writeFile(path, make());
    for (const attempt of [() => readSafetensors(path), () => loadSafetensors(path, { config: lm([layers.rnn({ units: 2 })]) })]) {
      const err = await t.throwsAsync(attempt(), { instanceOf: RnnkitError });
      t.is((err as RnnkitError).code, 'ERR_SAFETENSORS');
      t.true(err!.message.includes(path), err!.message);
      t.regex(err!.message, message);
    }
  });
}

test('(d) the encoder writes nothing the decoder refuses, and refuses bad input itself', (t) => {
  const empty = encodeSafetensors({});
  t.is(empty.length % 8, 0);
  t.deepEqual(decodeSafetensors(empty, 'x'), { tensors: {}, metadata: {} });
  const odd: Record<string, SafetensorsTensor> = {
    'a.b': { shape: [3], data: new Float32Array([1, 2, 3]) },
    d: { shape: [1], data: new Float64Array([Math.PI]) },
    e: { shape: [0, 5], data: new Float32Array(0) },
    s: { shape: [], data: new Float32Array([-0]) },
  };
  const bytes = encodeSafetensors(odd, { k: 'ü ✓' });
  t.is(Number(bytes.readBigUInt64LE(0)) % 8, 0, 'header padded to 8 bytes');
  const back = decodeSafetensors(bytes, 'x');
  t.deepEqual(back.metadata, { k: 'ü ✓' });
  for (const [k, v] of Object.entries(odd)) {
    t.deepEqual(back.tensors[k]!.shape, v.shape);
    t.true(bytesOf(back.tensors[k]!.data).equals(bytesOf(v.data)), k);
  }
  t.throws(() => encodeSafetensors({ w: { shape: [2, 2], data: new Float32Array(3) } }), {
    instanceOf: RangeError,
    message: /tensors\["w"\]\.data/,
  });
  t.throws(() => encodeSafetensors({ w: { shape: [3], data: new Int32Array(3) as never } }), { instanceOf: TypeError });
  t.throws(() => encodeSafetensors({ __metadata__: { shape: [1], data: new Float32Array(1) } }), { instanceOf: RangeError });
  t.throws(() => encodeSafetensors({}, { k: 1 as never }), { instanceOf: TypeError, message: /metadata\["k"\]/ });
  t.throws(() => decodeSafetensors('abc' as never, 'x'), { instanceOf: TypeError });
  t.true(SAFETENSORS_MAX_HEADER >= 1e6);
});

test('(d) every truncation and random corruption of a model file is a clean ERR_SAFETENSORS or a valid load', async (t) => {
  const model = sequential(lm([layers.gru({ units: 3 })]));
  model.tokenizer = charTok;
  t.teardown(() => model.dispose());
  const dir = await tmp(t);
  const good = join(dir, 'good.safetensors');
  await model.saveSafetensors(good);
  const bytes = await readFile(good);
  let refused = 0;
  for (let n = 0; n < bytes.length; n++) {
    const err = t.throws(() => decodeSafetensors(bytes.subarray(0, n), `cut${n}`), { instanceOf: RnnkitError });
    t.true(err!.message.includes(`cut${n}`));
    refused++;
  }
  // seeded byte flips through the whole load path: header flips must be refused, data flips may load
  let seed = 12345;
  const rand = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
  const outcomes = { loaded: 0, refused: 0 };
  const path = join(dir, 'flipped.safetensors');
  for (let i = 0; i < 60; i++) {
    const copy = Buffer.from(bytes);
    const at = Math.floor(rand() * copy.length);
    copy[at] = copy[at]! ^ (1 << Math.floor(rand() * 8));
    await writeFile(path, copy);
    try {
      const m = await loadSafetensors(path);
      m.dispose();
      outcomes.loaded++;
    } catch (err) {
      t.true(err instanceof RnnkitError && err.code === 'ERR_SAFETENSORS', `flip at ${at}: ${String(err)}`);
      t.true((err as Error).message.includes(path));
      outcomes.refused++;
    }
  }
  t.log(`${refused} truncations refused; flips: ${JSON.stringify(outcomes)}`);
  t.true(outcomes.refused > 0);
});

test('(d) a file that does not fit the model names the tensor: missing, wrong shape, extra, non-finite', async (t) => {
  const dir = await tmp(t);
  const config = lm([layers.lstm({ units: 4 })]);
  const model = sequential(config);
  t.teardown(() => model.dispose());
  const base = join(dir, 'base.safetensors');
  await model.saveSafetensors(base, { names: { 'layers.0': 'rnn', 'layers.1': 'fc' } });
  const { tensors, metadata } = await readSafetensors(base);
  const variant = async (name: string, edit: (t: Record<string, SafetensorsTensor>) => void) => {
    const copy = Object.fromEntries(Object.entries(tensors).map(([k, v]) => [k, { shape: v.shape.slice(), data: v.data.slice() }]));
    edit(copy);
    const path = join(dir, `${name}.safetensors`);
    await writeSafetensors(path, copy, metadata);
    return path;
  };
  const expectError = async (path: string, message: RegExp, options = {}) => {
    const err = await t.throwsAsync(loadSafetensors(path, options), { instanceOf: RnnkitError });
    t.is((err as RnnkitError).code, 'ERR_SAFETENSORS');
    t.true(err!.message.includes(path), err!.message);
    t.regex(err!.message, message);
  };
  await expectError(
    await variant('missing', (x) => delete x['rnn.bias_hh_l0']),
    /missing tensor 'rnn\.bias_hh_l0' \(rnnkit 'layers\.0\.bias_hh_l0'\) of shape \[16\]/,
  );
  await expectError(
    await variant('shape', (x) => (x['fc.weight']!.shape = [4, V])),
    /tensor 'fc\.weight' of shape \[4, \d+\]; the model's weight 'layers\.1\.weight' is \[\d+, 4\]/,
  );
  const extra = await variant('extra', (x) => (x['rnn.weight_peephole_l0'] = { shape: [12], data: new Float32Array(12) }));
  await expectError(extra, /tensor 'rnn\.weight_peephole_l0' that the model has no weight for \(pass strict: false/);
  const lenient = await loadSafetensors(extra, { strict: false });
  t.teardown(() => lenient.dispose());
  t.deepEqual(lenient.getWeights(), model.getWeights());
  await expectError(
    await variant('nan', (x) => (x['rnn.weight_hh_l0']!.data[5] = NaN)),
    /tensor 'rnn\.weight_hh_l0' whose element 5 \(NaN\) is not finite/,
  );
  await expectError(
    await variant(
      'overflow',
      (x) => (x['fc.bias'] = { shape: x['fc.bias']!.shape, data: Float64Array.from(x['fc.bias']!.data, (_, i) => (i === 2 ? 1e300 : 0)) }),
    ),
    /tensor 'fc\.bias' whose element 2 \(1e\+300\) does not fit float32/,
  );
  // the stored config is what rebuilds the model: a broken one is named as such
  const broken = join(dir, 'broken.safetensors');
  await writeSafetensors(broken, tensors, { ...metadata, 'rnnkit.config': '{"input": 3}' });
  await expectError(broken, /holds a model config that is not valid here/);
  await writeSafetensors(broken, tensors, { ...metadata, 'rnnkit.config': '{nope' });
  await expectError(broken, /invalid JSON in __metadata__\['rnnkit\.config'\]/);
  await writeSafetensors(broken, tensors, { ...metadata, 'rnnkit.version': '2' });
  await expectError(broken, /version "2"/);
  await writeSafetensors(broken, tensors, { ...metadata, 'rnnkit.tokenizer': '{"kind": "bpe"}' });
  await expectError(broken, /invalid tokenizer/);
  await writeSafetensors(broken, tensors, { ...metadata, 'rnnkit.names': '{"layers.7": "x"}' });
  await expectError(broken, /prefix map that does not fit the model/);
});

test('(d) not a file: a directory and a missing path are ERR_SAFETENSORS naming the path', async (t) => {
  const dir = await tmp(t);
  for (const [path, message] of [
    [dir, /it is a directory \(EISDIR\)/],
    [join(dir, 'nope.safetensors'), /no such file \(ENOENT\)/],
  ] as const) {
    const err = await t.throwsAsync(loadSafetensors(path), { instanceOf: RnnkitError });
    t.is((err as RnnkitError).code, 'ERR_SAFETENSORS');
    t.true(err!.message.includes(path));
    t.regex(err!.message, message);
  }
});

// ---------------------------------------------------------------- (e) atomic writes

test('(e) a failed write leaves the previous file intact: target is a directory', async (t) => {
  const dir = await tmp(t);
  const model = sequential(lm([layers.gru({ units: 4 })]));
  t.teardown(() => model.dispose());
  const keep = join(dir, 'keep.safetensors');
  await model.saveSafetensors(keep);
  const before = await readFile(keep);
  const blocked = join(dir, 'blocked.safetensors');
  await mkdir(blocked);
  const err = await t.throwsAsync(model.saveSafetensors(blocked), { instanceOf: RnnkitError });
  t.is((err as RnnkitError).code, 'ERR_SAFETENSORS');
  t.true(err!.message.includes(blocked));
  t.true((await readFile(keep)).equals(before));
  t.deepEqual((await readdir(dir)).sort(), ['blocked.safetensors', 'keep.safetensors']);
});

test('(e) a write that fails half way (file size limit) keeps the old file whole and leaves no temporary file', async (t) => {
  if (process.platform === 'win32') return t.pass('no ulimit on Windows');
  const dir = await tmp(t);
  const path = join(dir, 'model.safetensors');
  const small = sequential(lm([layers.rnn({ units: 2 })]));
  t.teardown(() => small.dispose());
  await small.saveSafetensors(path);
  const before = await readFile(path);
  // A child process with RLIMIT_FSIZE = 16 KiB (SIGXFSZ ignored, so write() fails with EFBIG)
  // tries to replace the file with a ~70 KB model.
  const child = join(dir, 'child.mts');
  const lib = new URL('../lib/index.js', import.meta.url).href;
  await writeFile(
    child,
    `import { sequential, layers } from ${JSON.stringify(lib)};
const m = sequential({ input: { vocabSize: 60 }, layers: [layers.lstm({ units: 64 }), layers.dense({ units: 60 })] });
try { await m.saveSafetensors(process.argv[2]); console.log(JSON.stringify({ ok: true })); }
catch (e) { console.log(JSON.stringify({ name: e.name, code: e.code, message: e.message, cause: e.cause?.code })); }
`,
  );
  const tsx = import.meta.resolve('tsx');
  const script = `ulimit -f 16; trap '' XFSZ; exec "$0" --import "$1" "$2" "$3"`;
  const { stdout } = await promisify(execFile)('bash', ['-c', script, process.execPath, tsx, child, path], { timeout: 60_000 });
  const result = JSON.parse(stdout.trim().split('\n').pop()!) as { ok?: boolean; code?: string; message?: string; cause?: string };
  t.log(result);
  t.is(result.code, 'ERR_SAFETENSORS');
  t.is(result.cause, 'EFBIG');
  t.true(result.message!.includes(path));
  t.true((await readFile(path)).equals(before), 'the old file is untouched');
  t.deepEqual((await readdir(dir)).sort(), ['child.mts', 'model.safetensors'], 'the temporary file was removed');
  const again = await loadSafetensors(path);
  t.teardown(() => again.dispose());
  t.deepEqual(again.getWeights(), small.getWeights());
});

// ---------------------------------------------------------------- the example (only where torch is installed)

const PYTHON = '/usr/bin/python3';
const hasTorch = spawnSync(PYTHON, ['-c', 'import torch, numpy'], { stdio: 'ignore', timeout: 60_000 }).status === 0;

(hasTorch ? test : test.skip)(
  'examples/torch-interop.ts --quick: rnnkit -> torch -> rnnkit within 1e-4 (needs python3-torch)',
  async (t) => {
    const dir = await tmp(t);
    const stdout = await example('torch-interop.ts', ['--quick', '--dir', join(dir, 'out'), '--python', PYTHON], dir, 120_000);
    t.log(
      stdout
        .split('\n')
        .filter((l) => /diff|refused/.test(l))
        .join('\n'),
    );
    t.regex(stdout, /lstm +LSTM: torch\(rnnkit weights\) vs rnnkit logits: max abs diff/);
    t.regex(stdout, /peephole +refused, as it should be: .*peepholes/);
    t.regex(stdout, /bare torch file \+ config\) vs torch logits/);
    t.regex(stdout, /all within 1e-4/);
  },
);
