// Encoder-decoder models: learning a T_x = T_y-free task, the encoder-to-decoder
// gradient (finite differences), beam search against greedy, save/load, errors.
import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CharTokenizer, layers, loadSeq2Seq, RnnkitError, seq2seq, type Seq2Seq } from '../lib/index.js';
import { smallSeq2Seq } from './helpers/models.js';
import { checkSeq2SeqGradients } from './helpers/seq2seq-gradcheck.js';

const BOS = 1,
  EOS = 2,
  V = 13; // digits are 3..12

function rng(seed: number) {
  let s = seed >>> 0;
  return () => ((s = (s * 1103515245 + 12345) >>> 0) >>> 8) / 16777216;
}

function digitStrings(n: number, seed: number, min = 2, max = 7): number[][] {
  const r = rng(seed);
  return Array.from({ length: n }, () => Array.from({ length: min + Math.floor(r() * (max - min + 1)) }, () => 3 + Math.floor(r() * 10)));
}

const reverse = (rows: number[][]) => rows.map((r) => [...r].reverse());
const exact = (out: number[][], want: number[][]) =>
  out.filter((o, i) => JSON.stringify(o) === JSON.stringify(want[i])).length / want.length;

test('learns to reverse digit strings of varying length, decoded greedily and by beam search', async (t) => {
  const train = digitStrings(4000, 1);
  const held = digitStrings(200, 2);
  const m = smallSeq2Seq(V, 96, { seed: 1 });
  t.is(m.bridge, 'identity');
  const h = await m.fit(
    { sources: train, targets: reverse(train) },
    { epochs: 20, batchSize: 64, optimizer: { type: 'adam', lr: 0.003 }, clipNorm: 5 },
  );
  t.is(m.epoch, 20);
  t.true(h.epochs.at(-1)!.loss < 0.1, `final loss ${h.epochs.at(-1)!.loss}`);
  const greedy = await m.translate(held, { maxLength: 12 });
  const beam = await m.translate(held, { beamWidth: 4, maxLength: 12 });
  t.log(`held-out exact match: greedy ${exact(greedy, reverse(held))}, beam ${exact(beam, reverse(held))}`);
  t.true(exact(greedy, reverse(held)) > 0.9);
  t.true(exact(beam, reverse(held)) > 0.9);
  t.true(
    greedy.every((o) => !o.includes(BOS) && !o.includes(EOS)),
    'outputs exclude <bos>/<eos>',
  );
  const ev = await m.evaluate({ sources: held, targets: reverse(held) });
  t.true(ev.accuracy > 0.97, `teacher-forced token accuracy ${ev.accuracy}`);
  m.dispose();
});

test("beam search never scores below greedy on the model's own log-probability", async (t) => {
  // a half-trained model, where beam search has room to differ from greedy
  const train = digitStrings(500, 3);
  const m = smallSeq2Seq(V, 24, {
    encoder: [layers.lstm({ units: 24, bidirectional: true })],
    decoder: [layers.lstm({ units: 32 })],
    seed: 4,
  });
  t.is(m.bridge, 'projection', '2 x 24 != 32: the encoder state is projected');
  await m.fit({ sources: train, targets: reverse(train) }, { epochs: 2, batchSize: 32, optimizer: { type: 'adam', lr: 0.01 } });
  const src = digitStrings(60, 5);
  for (const lengthPenalty of [0, 1]) {
    const g = await m.translateWithScores(src, { beamWidth: 1, maxLength: 10, lengthPenalty });
    const b = await m.translateWithScores(src, { beamWidth: 5, maxLength: 10, lengthPenalty });
    const worse = b.filter((x, i) => x.score < g[i]!.score - 1e-9).length;
    const better = b.filter((x, i) => x.score > g[i]!.score + 1e-9).length;
    t.log(`lengthPenalty ${lengthPenalty}: beam better than greedy on ${better}/60, worse on ${worse}`);
    t.is(worse, 0);
    if (lengthPenalty === 0) t.true(b.every((x, i) => x.logProb >= g[i]!.logProb - 1e-9));
    // the reported scores are the model's: re-score the outputs with a teacher-forced pass
    const lp = await logProbs(
      m,
      src,
      b.map((x) => x.tokens),
    );
    b.forEach((x, i) => {
      if (x.tokens.length < 10) t.true(Math.abs(lp[i]! - x.logProb) < 1e-3, `row ${i}: ${lp[i]} vs ${x.logProb}`);
    });
  }
  m.dispose();
});

/** log P(tokens <eos> | source) by a teacher-forced decoder pass. */
async function logProbs(m: Seq2Seq, sources: number[][], outputs: number[][]): Promise<number[]> {
  const res: number[] = [];
  for (let i = 0; i < sources.length; i++) {
    const ev = await m.evaluate({ sources: [sources[i]!], targets: [outputs[i]!] }, { batchSize: 1 });
    res.push(-ev.loss * ev.tokens); // loss is the mean negative log-probability per token
  }
  return res;
}

for (const [name, enc, dec] of [
  ['identity bridge, LSTM -> LSTM (h and c)', layers.lstm({ units: 4 }), layers.lstm({ units: 4 })],
  ['projection bridge, bidirectional GRU -> LSTM', layers.gru({ units: 3, bidirectional: true }), layers.lstm({ units: 4 })],
  ['projection bridge, bidirectional LSTM -> GRU', layers.lstm({ units: 3, bidirectional: true }), layers.gru({ units: 5 })],
] as const) {
  test(`encoder and decoder gradients match finite differences (${name})`, async (t) => {
    const m = seq2seq({ sourceVocab: 7, targetVocab: 6, bos: 1, eos: 2, encoder: [enc], decoder: [dec], seed: 3, dtype: 'float64' });
    const sources = [
      [3, 4, 5, 6],
      [6, 3],
      [4, 4, 5],
    ];
    const targets = [[3, 5], [4, 4, 3, 5], []];
    const { checked } = await checkSeq2SeqGradients(t, m, sources, targets, (d) => [0, Math.floor(d.length / 2), d.length - 1]);
    t.true(checked > 10);
    // the encoder really receives the decoder's gradient
    const g = await m.gradients(sources, targets, { training: false });
    let encNorm = 0;
    for (const x of Object.values(g.encoder)) for (const v of x.data) encNorm += v * v;
    t.true(encNorm > 1e-8);
    m.dispose();
  });
}

test('save/load round trip is exact and training resumes identically', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'rnnkit-s2s-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const train = digitStrings(300, 6);
  const data = { sources: train, targets: reverse(train) };
  const opts = { batchSize: 32, optimizer: { type: 'adam' as const, lr: 0.01 }, clipNorm: 1 };
  const make = () =>
    seq2seq({
      sourceVocab: V,
      targetVocab: V,
      bos: BOS,
      eos: EOS,
      encoder: [layers.lstm({ units: 16, bidirectional: true }), layers.dropout({ rate: 0.1 }), layers.gru({ units: 12 })],
      decoder: [layers.lstm({ units: 20 })],
      seed: 2,
    });
  const straight = make();
  const h = await straight.fit(data, { ...opts, epochs: 2 });
  const a = make();
  const h1 = await a.fit(data, { ...opts, epochs: 1 });
  const file = join(dir, 'm.rnnkit');
  await a.save(file);
  const b = await loadSeq2Seq(file);
  t.deepEqual(b.config, a.config);
  t.deepEqual(await b.translate(train.slice(0, 20), { beamWidth: 3 }), await a.translate(train.slice(0, 20), { beamWidth: 3 }));
  const h2 = await b.fit(data, { ...opts, epochs: 1 });
  t.deepEqual(
    [...h1.batches, ...h2.batches].map((x) => x.loss),
    h.batches.map((x) => x.loss),
  );
  const err = await t.throwsAsync(loadSeq2Seq(join(dir, 'missing.rnnkit')), { instanceOf: RnnkitError });
  t.is((err as RnnkitError).code, 'ERR_CHECKPOINT');
  for (const m of [straight, a, b]) m.dispose();
});

test('seq2seq arguments are validated', async (t) => {
  const base = { sourceVocab: 5, targetVocab: 5, bos: 1, eos: 2, encoder: [layers.gru({ units: 4 })], decoder: [layers.gru({ units: 4 })] };
  t.throws(() => seq2seq({ ...base, eos: 1 }), { instanceOf: RangeError, message: /config\.eos/ });
  t.throws(() => seq2seq({ ...base, encoder: [layers.gru({ units: 4 }), layers.dense({ units: 3 })] }), {
    instanceOf: RangeError,
    message: /config\.encoder\[1\]/,
  });
  t.throws(() => seq2seq({ ...base, decoder: [layers.gru({ units: 4, bidirectional: true })] }), {
    instanceOf: RangeError,
    message: /config\.decoder/,
  });
  t.throws(() => seq2seq({ ...base, decoder: [] }), { instanceOf: TypeError, message: /config\.decoder/ });
  const m = seq2seq(base);
  await t.throwsAsync(m.fit({ sources: [[3]], targets: [] }), { instanceOf: RangeError, message: /data\.targets/ });
  await t.throwsAsync(m.fit({ sources: [[]], targets: [[3]] }), { instanceOf: RangeError, message: /data\.sources\[0\]/ });
  await t.throwsAsync(m.fit({ sources: [[9]], targets: [[3]] }), { instanceOf: RangeError, message: /data\.sources\[0\]\[0\]/ });
  await t.throwsAsync(m.translate([[3]], { beamWidth: 0 }), { instanceOf: RangeError, message: /options\.beamWidth/ });
  await t.throwsAsync(m.translate([[3]], { banTokens: [2] }), { instanceOf: RangeError, message: /options\.banTokens/ });
  m.dispose();
});

test("translate never produces the target tokenizer's <unk>, however likely", async (t) => {
  const tok = CharTokenizer.fromText('abcd');
  const m = seq2seq({
    sourceVocab: 7,
    targetVocab: tok.size,
    bos: tok.bosId,
    eos: tok.eosId,
    encoder: [layers.gru({ units: 4 })],
    decoder: [layers.gru({ units: 4 })],
    seed: 1,
  });
  const names = m.decoder.weightNames;
  const bias = m.decoder.getWeights()[names.at(-1)!]!;
  bias.data[tok.unkId] = 30; // <unk> is by far the likeliest token at every step
  m.decoder.setWeights({ [names.at(-1)!]: bias.data });
  const src = [
    [3, 4],
    [5, 6, 3],
  ];
  for (const beamWidth of [1, 3]) {
    const bare = await m.translate(src, { beamWidth, maxLength: 4 });
    t.true(
      bare.every((o) => o.includes(tok.unkId)),
      'without a tokenizer, <unk> is just an id',
    );
    m.targetTokenizer = tok;
    const out = await m.translate(src, { beamWidth, maxLength: 4 });
    t.true(
      out.every((o) => !o.includes(tok.unkId) && o.length > 0),
      JSON.stringify(out),
    );
    m.targetTokenizer = undefined;
  }
  m.dispose();
});
