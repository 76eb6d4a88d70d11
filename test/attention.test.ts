// Attention in encoder-decoder models (issue 14): float64 finite-difference
// gradients for every score type with ragged sources, bidirectional and stacked
// encoders and stacked decoders over LSTM, GRU and RNN cells; masking; beam
// search against greedy; the attention matrices; save / load; bad input.
import test from 'ava';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readCheckpoint, writeCheckpoint } from '../lib/io.js';
import {
  batchedSampler,
  layers,
  loadSafetensors,
  loadSeq2Seq,
  RnnkitError,
  seq2seq,
  type AttentionOptions,
  type LayerInput,
  type Seq2Seq,
} from '../lib/index.js';
import { rng } from '../examples/lib/random.js';
import { checkSeq2SeqGradients } from './helpers/seq2seq-gradcheck.js';

/** A seq2seq over V ids (bos 1, eos 2) with attention (null: without). */
function attModel(
  V: number,
  encoder: LayerInput[],
  decoder: LayerInput[],
  attention: AttentionOptions | null,
  seed: number,
  dtype?: 'float64',
) {
  const vocab = { sourceVocab: V, targetVocab: V, bos: 1, eos: 2 };
  return seq2seq({ ...vocab, encoder, decoder, ...(attention ? { attention } : {}), seed, ...(dtype ? { dtype } : {}) });
}

const SOURCES = [[3, 4, 5, 6, 3], [6, 3], [4, 4, 5], [5]];
const TARGETS = [[3, 5], [4, 4, 3, 5], [], [5, 5, 3]];

/** Sets every weight to seeded uniform(-0.8, 0.8) values (biases included), so no gradient is trivially small. */
function randomize(m: Seq2Seq, seed: number): void {
  const r = rng(seed);
  for (const part of [m.encoder, m.decoder]) {
    const w = part.getWeights();
    for (const name of Object.keys(w)) w[name]!.data.forEach((_, i, a) => (a[i] = (r() * 2 - 1) * 0.8));
    part.setWeights(w);
  }
}

const CASES: [string, LayerInput[], LayerInput[], { type: 'dot' | 'general' | 'additive'; units?: number }][] = [
  [
    'general, bidirectional LSTM -> 2 stacked LSTMs',
    [layers.lstm({ units: 3, bidirectional: true })],
    [layers.lstm({ units: 4 }), layers.lstm({ units: 5 })],
    { type: 'general' },
  ],
  ['dot, bidirectional GRU -> GRU', [layers.gru({ units: 3, bidirectional: true })], [layers.gru({ units: 6 })], { type: 'dot' }],
  [
    'additive, 2 stacked RNNs -> LSTM',
    [layers.rnn({ units: 4 }), layers.rnn({ units: 3, bidirectional: true })],
    [layers.lstm({ units: 5 })],
    { type: 'additive', units: 3 },
  ],
  [
    'additive, bidirectional LSTM -> GRU, RNN stacked',
    [layers.lstm({ units: 2, bidirectional: true })],
    [layers.gru({ units: 4 }), layers.rnn({ units: 4 })],
    { type: 'additive' },
  ],
  [
    'general, GRU -> 2 stacked GRUs (reset before)',
    [layers.gru({ units: 4 })],
    [layers.gru({ units: 3, resetAfter: false }), layers.gru({ units: 4 })],
    { type: 'general' },
  ],
];

for (const [name, encoder, decoder, attention] of CASES) {
  test(`attention gradients match finite differences (${name})`, async (t) => {
    const m = attModel(7, encoder, decoder, attention, 3, 'float64');
    randomize(m, 11);
    const { checked } = await checkSeq2SeqGradients(t, m, SOURCES, TARGETS, (data, ga) => {
      let big = 0;
      for (let i = 0; i < ga.length; i++) if (Math.abs(ga[i]!) > Math.abs(ga[big]!)) big = i;
      t.true(Math.abs(ga[big]!) > 1e-7, 'every weight has a gradient');
      return new Set([0, big, Math.floor(data.length / 2), data.length - 1]);
    });
    t.true(checked > 20);
    t.true(
      m.decoder.weightNames.some((n) => n.startsWith('attention.')),
      'the decoder holds the attention weights',
    );
    m.dispose();
  });
}

test('ragged sources never attend to padding: padded memory positions change nothing and get no gradient', async (t) => {
  for (const type of ['dot', 'general', 'additive'] as const) {
    const m = attModel(7, [layers.gru({ units: 3, bidirectional: true })], [layers.gru({ units: 6 })], { type }, 5, 'float64');
    randomize(m, 12);
    const B = 3,
      Tx = 5,
      E = 6;
    const lengths = [5, 2, 3];
    const r = rng(7);
    const clean = new Float64Array(B * Tx * E).map(() => r() - 0.5);
    const noisy = Float64Array.from(clean);
    for (let b = 0; b < B; b++)
      for (let j = lengths[b]!; j < Tx; j++) for (let e = 0; e < E; e++) noisy[(b * Tx + j) * E + e] = 1e3 * (r() - 0.5);
    const inputs = [[1, 3, 4], [1, 5], [1]];
    const targets = [[3, 4, 2], [5, 2], [2]];
    const run = (data: Float64Array) =>
      m.decoder.gradients(inputs, targets, { memory: { data, shape: [B, Tx, E], lengths }, training: false });
    const [a, b] = [await run(clean), await run(noisy)];
    t.is(a.loss, b.loss, type);
    for (const k of Object.keys(a.grads)) t.deepEqual(a.grads[k]!.data, b.grads[k]!.data, `${type} ${k}`);
    const mg = a.memoryGrad!.data;
    t.deepEqual(a.memoryGrad!.shape, [B, Tx, E]);
    for (let bb = 0; bb < B; bb++)
      for (let j = 0; j < Tx; j++) {
        const row = mg.subarray((bb * Tx + j) * E, (bb * Tx + j + 1) * E);
        const any = row.some((v) => v !== 0);
        t.is(any, j < lengths[bb]!, `${type}: memory gradient at row ${bb} step ${j}`);
      }
    const f = await m.decoder.forward(inputs, { memory: { data: noisy, shape: [B, Tx, E], lengths } });
    const att = f.attention!;
    t.deepEqual(att.shape, [B, 3, Tx]);
    for (let bb = 0; bb < B; bb++)
      for (let s = 0; s < 3; s++) {
        const row = Array.from(att.data.subarray((bb * 3 + s) * Tx, (bb * 3 + s + 1) * Tx));
        t.true(Math.abs(row.reduce((x, y) => x + y, 0) - 1) < 1e-12);
        t.true(row.slice(lengths[bb]).every((v) => v === 0));
      }
    m.dispose();
  }
});

test('a source decodes the same alone and beside longer sources (the mask, row-exact decoding)', async (t) => {
  const m = attModel(9, [layers.lstm({ units: 8, bidirectional: true })], [layers.lstm({ units: 16 })], { type: 'additive', units: 8 }, 2);
  randomize(m, 3);
  const sources = [[3, 4], [5, 6, 7, 8, 3, 4, 5], [8]];
  const together = await m.translateWithScores(sources, { maxLength: 6, beamWidth: 3 });
  for (let i = 0; i < sources.length; i++) {
    const [alone] = await m.translateWithScores([sources[i]!], { maxLength: 6, beamWidth: 3 });
    t.deepEqual(together[i], alone);
    t.is(alone!.attention!.length, alone!.tokens.length);
    for (const row of alone!.attention!) t.is(row.length, sources[i]!.length);
  }
  // the batched translator decodes attention models in groups, with the same results
  const translator = batchedSampler(m);
  const served = await Promise.all(sources.map((s) => translator.translate(s, { maxLength: 6 })));
  t.deepEqual(served, await m.translate(sources, { maxLength: 6 }));
  await translator.close();
  m.dispose();
});

function digitStrings(n: number, seed: number, min: number, max: number): number[][] {
  const r = rng(seed);
  return Array.from({ length: n }, () => Array.from({ length: min + Math.floor(r() * (max - min + 1)) }, () => 3 + Math.floor(r() * 10)));
}
const reverse = (rows: number[][]) => rows.map((x) => [...x].reverse());

test("with attention, beam search never scores below greedy on the model's own score; attention rows are distributions", async (t) => {
  const train = digitStrings(400, 3, 2, 7);
  const m = attModel(13, [layers.gru({ units: 16, bidirectional: true })], [layers.gru({ units: 24 })], { type: 'general' }, 4);
  await m.fit({ sources: train, targets: reverse(train) }, { epochs: 2, batchSize: 32, optimizer: { type: 'adam', lr: 0.01 } });
  const src = digitStrings(50, 5, 2, 7);
  for (const lengthPenalty of [0, 1]) {
    const g = await m.translateWithScores(src, { beamWidth: 1, maxLength: 10, lengthPenalty });
    const b = await m.translateWithScores(src, { beamWidth: 4, maxLength: 10, lengthPenalty });
    t.is(b.filter((x, i) => x.score < g[i]!.score - 1e-9).length, 0);
    for (const x of [...g, ...b]) {
      t.is(x.attention!.length, x.tokens.length);
      for (const row of x.attention!) t.true(Math.abs(row.reduce((p, q) => p + q, 0) - 1) < 1e-4);
    }
  }
  m.dispose();
});

test('attention learns to reverse strings far beyond what the same model does without it', async (t) => {
  const train = digitStrings(3000, 8, 8, 12);
  const held = digitStrings(100, 9, 8, 12);
  const exact = (out: number[][], want: number[][]) =>
    out.filter((o, i) => JSON.stringify(o) === JSON.stringify(want[i])).length / want.length;
  const result: Record<string, number> = {};
  for (const attention of [null, { type: 'general' as const }]) {
    const m = attModel(13, [layers.gru({ units: 32, bidirectional: true })], [layers.gru({ units: 64 })], attention, 1);
    await m.fit(
      { sources: train, targets: reverse(train) },
      { epochs: 6, batchSize: 64, optimizer: { type: 'adam', lr: 0.005 }, clipNorm: 5 },
    );
    result[attention ? 'attention' : 'none'] = exact(await m.translate(held, { maxLength: 14 }), reverse(held));
    m.dispose();
  }
  t.log(`held-out exact match (8-12 digits, 6 epochs): without attention ${result.none}, with ${result.attention}`);
  t.true(result.attention! >= 0.8);
  t.true(result.attention! > result.none! + 0.3);
});

test('save / load carries the attention weights and config; damaged attention weights are refused', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'rnnkit-att-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const m = attModel(9, [layers.lstm({ units: 4, bidirectional: true })], [layers.lstm({ units: 8 })], { type: 'additive', units: 5 }, 6);
  randomize(m, 4);
  const file = join(dir, 'att.rnnkit');
  await m.save(file);
  const back = await loadSeq2Seq(file);
  t.deepEqual(back.config, m.config);
  t.deepEqual(back.attention, { type: 'additive', units: 5 });
  t.deepEqual(back.decoder.getWeights(), m.decoder.getWeights());
  const src = [
    [3, 4, 5],
    [6, 7],
  ];
  t.deepEqual(await back.translateWithScores(src, { beamWidth: 2 }), await m.translateWithScores(src, { beamWidth: 2 }));
  back.dispose();
  // a flipped byte near the end (the decoder's arrays): the checksum refuses the file
  const bytes = await readFile(file);
  await writeFile(join(dir, 'flipped.rnnkit'), Buffer.from(bytes.map((v, i) => (i === bytes.length - 40 ? v ^ 0x10 : v))));
  const flipped = await t.throwsAsync(loadSeq2Seq(join(dir, 'flipped.rnnkit')), { instanceOf: RnnkitError });
  t.is((flipped as RnnkitError).code, 'ERR_CHECKPOINT');
  // well-formed files whose decoder block lost an element, or whose attention layer config was changed: refused
  const parts = await readCheckpoint(file);
  const at = parts.arrays.findIndex((a) => a.name === 'decoder.params');
  const short = parts.arrays.map((a, i) => (i === at ? { name: a.name, data: a.data.slice(1) } : a));
  await writeCheckpoint(join(dir, 'short.rnnkit'), { header: parts.header, arrays: short });
  const e1 = await t.throwsAsync(loadSeq2Seq(join(dir, 'short.rnnkit')), { instanceOf: RnnkitError });
  t.is((e1 as RnnkitError).code, 'ERR_CHECKPOINT');
  const header = JSON.parse(JSON.stringify(parts.header)) as { decoder: { config: { layers: { type: string; memory?: number }[] } } };
  const layer = header.decoder.config.layers.find((l) => l.type === 'attention')!;
  const header2 = JSON.parse(JSON.stringify(parts.header)) as { config: { attention?: unknown } };
  for (const attention of [undefined, { type: 'dot' }]) {
    header2.config.attention = attention;
    await writeCheckpoint(join(dir, 'config2.rnnkit'), { header: header2, arrays: parts.arrays });
    const e3 = await t.throwsAsync(loadSeq2Seq(join(dir, 'config2.rnnkit')), { instanceOf: RnnkitError });
    t.is((e3 as RnnkitError).code, 'ERR_CHECKPOINT', JSON.stringify(attention));
  }
  for (const memory of [9, -1]) {
    layer.memory = memory;
    await writeCheckpoint(join(dir, 'config.rnnkit'), { header, arrays: parts.arrays });
    const e2 = await t.throwsAsync(loadSeq2Seq(join(dir, 'config.rnnkit')), { instanceOf: RnnkitError });
    t.is((e2 as RnnkitError).code, 'ERR_CHECKPOINT', `memory ${memory}`);
  }
  m.dispose();
});

test('a decoder with attention round-trips through safetensors: its config and attention.* weights', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'rnnkit-att-st-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const m = attModel(6, [layers.gru({ units: 3, bidirectional: true })], [layers.gru({ units: 6 })], { type: 'additive', units: 4 }, 2);
  randomize(m, 9);
  const file = join(dir, 'decoder.safetensors');
  await m.decoder.saveSafetensors(file);
  const back = await loadSafetensors(file);
  t.deepEqual(back.config, m.decoder.config);
  t.deepEqual(back.getWeights(), m.decoder.getWeights());
  t.deepEqual(
    back.weightNames.filter((n) => n.startsWith('attention.')),
    ['attention.W_s', 'attention.W_h', 'attention.v', 'attention.W_c', 'attention.b_c'],
  );
  back.dispose();
  m.dispose();
});

test('attention options are validated', (t) => {
  const base = { sourceVocab: 5, targetVocab: 5, bos: 1, eos: 2, encoder: [layers.gru({ units: 4 })], decoder: [layers.gru({ units: 6 })] };
  t.throws(() => seq2seq({ ...base, attention: { type: 'luong' as 'dot' } }), {
    instanceOf: RangeError,
    message: /config\.attention\.type/,
  });
  t.throws(() => seq2seq({ ...base, attention: { type: 'dot' } }), { instanceOf: RangeError, message: /config\.attention\.type/ });
  t.throws(() => seq2seq({ ...base, attention: { type: 'additive', units: 0 } }), {
    instanceOf: RangeError,
    message: /config\.attention\.units/,
  });
  t.throws(() => seq2seq({ ...base, attention: { type: 'additive', units: 1.5 } }), {
    instanceOf: RangeError,
    message: /config\.attention\.units/,
  });
  t.throws(() => seq2seq({ ...base, attention: { type: 'general', units: 4 } }), {
    instanceOf: RangeError,
    message: /config\.attention\.units/,
  });
  t.throws(() => seq2seq({ ...base, attention: { kind: 'dot' } as never }), { instanceOf: TypeError, message: /config\.attention/ });
  t.throws(() => seq2seq({ ...base, attention: 'dot' as never }), { instanceOf: TypeError, message: /config\.attention/ });
  t.throws(() => seq2seq({ ...base, encoder: [layers.gru({ units: 4, returnSequences: false })], attention: {} }), {
    instanceOf: RangeError,
    message: /config\.encoder\[0\]\.returnSequences/,
  });
  t.throws(() => seq2seq({ ...base, encoder: [layers.dense({ units: 4 })] as never, attention: {} }), {
    instanceOf: RangeError,
    message: /config\.encoder\[0\]/,
  });
  const m = seq2seq({ ...base, attention: {} });
  t.deepEqual(m.attention, { type: 'general' });
  m.dispose();
});

test('a decoder with attention cannot be sampled alone', async (t) => {
  const m = attModel(5, [layers.gru({ units: 4 })], [layers.gru({ units: 4 })], {}, 0);
  await t.throwsAsync(m.decoder.generate({ prime: [1], maxLength: 3 }), { instanceOf: RangeError, message: /attention/ });
  m.dispose();
});

test('a decoder with attention checks its memory', async (t) => {
  const m = attModel(5, [layers.gru({ units: 4 })], [layers.gru({ units: 4 })], { type: 'dot' }, 0);
  await t.throwsAsync(m.decoder.forward([[1, 3]]), { instanceOf: TypeError, message: /options\.memory/ });
  const data = new Float32Array(2 * 3 * 4);
  await t.throwsAsync(m.decoder.forward([[1, 3]], { memory: { data, shape: [2, 3, 4] } }), {
    instanceOf: RangeError,
    message: /options\.memory/,
  });
  await t.throwsAsync(m.decoder.forward([[1, 3]], { memory: { data, shape: [2, 3, 5] } }), {
    instanceOf: RangeError,
    message: /options\.memory\.shape/,
  });
  await t.throwsAsync(m.decoder.forward([[1, 3]], { memory: { data, shape: [2, 3, 4], rows: [2] } }), {
    instanceOf: RangeError,
    message: /options\.memory\.rows\[0\]/,
  });
  await t.throwsAsync(m.decoder.forward([[1, 3]], { memory: { data, shape: [2, 3, 4], lengths: [1, 4], rows: [0] } }), {
    instanceOf: RangeError,
    message: /options\.memory\.lengths\[1\]/,
  });
  const ok = await m.decoder.forward([[1, 3]], { memory: { data, shape: [2, 3, 4], lengths: [1, 3], rows: [1] } });
  t.deepEqual(ok.attention!.shape, [1, 2, 3]);
  await t.throwsAsync(m.encoder.forward([[1, 3]], { memory: { data, shape: [2, 3, 4] } }), {
    instanceOf: RangeError,
    message: /options\.memory/,
  });
  m.dispose();
});
