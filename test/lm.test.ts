// Language models end to end: datasets and batching, fit/evaluate, sampling rules
// (never <unk>, stop at <eos>, seeds), streaming steps and cancellation.
import test from 'ava';
import { CharTokenizer, generateText, languageModelData, layers, sequential, textStream, type Model } from '../lib/index.js';
import { planBatches } from '../lib/data.js';

const PAD = 0,
  UNK = 1,
  BOS = 2,
  EOS = 3;
const V = 10;

/** A tiny tokenizer over the letters a..f (ids 4..9: equal counts sort by code point). */
const tok = CharTokenizer.fromText('abcdef');

function lm(seed = 1, cell: 'lstm' | 'gru' | 'rnn' = 'lstm'): Model {
  const rec = cell === 'lstm' ? layers.lstm({ units: 16 }) : cell === 'gru' ? layers.gru({ units: 16 }) : layers.rnn({ units: 16 });
  const m = sequential({ input: { vocabSize: V }, layers: [rec, layers.dense({ units: V })], seed });
  m.tokenizer = tok;
  return m;
}

const words = ['abc', 'bad', 'cab', 'fed', 'dead', 'face', 'bead', 'decaf', 'faded', 'ace'];
const data = languageModelData(
  words.map((w) => tok.encode(w)),
  { bos: BOS, eos: EOS },
);

/** Sets the output bias so that token `id` gets (almost) all the probability. */
function forceToken(model: Model, id: number, logit = 50): void {
  const name = model.weightNames.find((n) => n.endsWith('.bias') && !n.includes('_'))!;
  const bias = new Float32Array(V);
  bias[id] = logit;
  model.setWeights({ [name]: bias });
}

test('the test tokenizer maps a..f to 4..9', (t) => {
  t.deepEqual(Array.from(tok.encode('abcdefz')), [4, 5, 6, 7, 8, 9, UNK]);
  t.is(tok.size, V);
});

test('languageModelData: <bos> y1..yT in, y1..yT <eos> out', (t) => {
  const d = languageModelData([[5, 6, 7], []], { bos: BOS, eos: EOS });
  t.deepEqual(Array.from(d.inputs[0]!), [BOS, 5, 6, 7]);
  t.deepEqual(Array.from(d.targets[0]!), [5, 6, 7, EOS]);
  t.deepEqual(Array.from(d.inputs[1]!), [BOS]);
  t.deepEqual(Array.from(d.targets[1]!), [EOS]);
});

test('sequence batches are padded with 0 to the longest row and keep lengths', (t) => {
  const plan = planBatches(data, 4);
  t.is(plan.batches, 3);
  const order = [9, 8, 7, 6, 5, 4, 3, 2, 1, 0];
  const b = plan.batch(0, order); // rows ace, faded, decaf, bead
  t.deepEqual((b.inputs as { shape: number[] }).shape, [4, 6]);
  t.deepEqual(Array.from(b.lengths), [4, 6, 6, 5]);
  t.is(b.tokens, 21);
  const x = (b.inputs as { data: Int32Array }).data;
  t.deepEqual(Array.from(x.subarray(0, 6)), [BOS, ...tok.encode('ace'), PAD, PAD]);
  const y = (b.targets as { data: Int32Array }).data;
  t.deepEqual(Array.from(y.subarray(0, 6)), [...tok.encode('ace'), EOS, PAD, PAD]);
  t.is(plan.batch(2).lengths.length, 2, 'the last batch holds the remainder');
});

test('textStream: parallel streams of consecutive windows, targets shifted by one, state carried', (t) => {
  const ids = Int32Array.from({ length: 23 }, (_, i) => 4 + (i % 6));
  const plan = planBatches(textStream(ids, { seqLen: 4 }), 2); // 22 pairs -> 2 streams of 11 -> windows 4, 4, 3
  t.is(plan.batches, 3);
  t.true(plan.stateful);
  const w0 = plan.batch(0);
  const w2 = plan.batch(2);
  t.false(w0.carry);
  t.true(w2.carry);
  t.deepEqual((w2.inputs as { shape: number[] }).shape, [2, 3]);
  const x0 = (w0.inputs as { data: Int32Array }).data;
  const y0 = (w0.targets as { data: Int32Array }).data;
  t.deepEqual(Array.from(x0.subarray(0, 4)), Array.from(ids.subarray(0, 4)));
  t.deepEqual(Array.from(y0.subarray(0, 4)), Array.from(ids.subarray(1, 5)));
  t.deepEqual(Array.from(x0.subarray(4, 8)), Array.from(ids.subarray(11, 15)), 'the second stream starts half way');
});

test('fit learns a tiny corpus and reports perplexity and bits per token', async (t) => {
  const m = lm(3);
  const before = await m.evaluate(data);
  const h = await m.fit(data, { epochs: 40, batchSize: 5, optimizer: { type: 'adam', lr: 0.02 }, clipNorm: 5, validation: data });
  const after = await m.evaluate(data);
  t.is(h.epochs.length, 40);
  t.is(m.epoch, 40);
  t.true(after.loss < before.loss * 0.6, `loss ${before.loss} -> ${after.loss}`);
  const last = h.epochs.at(-1)!;
  t.true(Math.abs(last.perplexity! - Math.exp(last.loss)) < 1e-9);
  t.true(Math.abs(last.bitsPerToken! - last.loss / Math.LN2) < 1e-9);
  t.true(Math.abs(last.valLoss! - after.loss) < 1e-5, 'validation is evaluate() on the same data');
  t.true(last.tokensPerSec > 0);
  t.true(after.accuracy! > 0.3);
  t.is(
    after.tokens,
    words.reduce((n, w) => n + w.length + 1, 0),
  );
  m.dispose();
});

test('two fits of 2 epochs equal one fit of 4 (shuffling depends on the epoch counter)', async (t) => {
  const opts = { batchSize: 3, optimizer: { type: 'adam' as const, lr: 0.01 } };
  const a = lm(5);
  const ha = await a.fit(data, { ...opts, epochs: 4 });
  const b = lm(5);
  const hb1 = await b.fit(data, { ...opts, epochs: 2 });
  const hb2 = await b.fit(data, { ...opts, epochs: 2 });
  t.deepEqual(
    ha.batches.map((x) => x.loss),
    [...hb1.batches, ...hb2.batches].map((x) => x.loss),
  );
  t.deepEqual(a.getWeights(), b.getWeights());
});

test('stateful training on a text stream carries the state across windows', async (t) => {
  const ids = tok.encode('abcdefabcdefabcdefabcdefabcdefabcdefabcdef');
  const stream = textStream(ids, { seqLen: 5 });
  const m = lm(2, 'gru');
  const h = await m.fit(stream, { epochs: 30, batchSize: 2, optimizer: { type: 'adam', lr: 0.03 } });
  t.true(h.epochs.at(-1)!.loss < h.epochs[0]!.loss * 0.5);
  // evaluate carries state too: a fresh state at every window would score worse on a periodic text
  const ev = await m.evaluate(stream, { batchSize: 2 });
  t.true(ev.accuracy! > 0.8, `accuracy ${ev.accuracy}`);
});

test('aborting fit stops after the current step and reports it', async (t) => {
  const m = lm(1);
  const ac = new AbortController();
  let seen = 0;
  const h = await m.fit(data, {
    epochs: 5,
    batchSize: 2,
    signal: ac.signal,
    onBatchEnd: () => {
      seen++;
      if (seen === 3) ac.abort();
    },
  });
  t.true(h.aborted);
  t.is(h.batches.length, 3);
  t.is(m.epoch, 0, 'an interrupted epoch is not counted');
  // the model is usable afterwards
  await t.notThrowsAsync(m.predict([[BOS, 4]]));
});

test('a model whose output makes <unk> almost certain never emits it', async (t) => {
  const m = lm(1);
  forceToken(m, UNK, 40);
  const out = await m.generate({ n: 20, maxLength: 30, seed: 3, stopTokens: [EOS], banTokens: [UNK, PAD, BOS] });
  t.is(out.length, 20);
  const all = out.flat();
  t.true(all.length > 0);
  t.false(all.includes(UNK));
  t.false(all.includes(PAD));
  t.false(all.includes(BOS));
  const texts = await generateText(m, tok, { n: 10, maxLength: 20, seed: 1 });
  t.is(texts.length, 10);
});

test('a model whose output makes <eos> certain stops at once', async (t) => {
  const m = lm(1);
  forceToken(m, EOS, 50);
  const out = await m.generate({ n: 5, maxLength: 30, seed: 1, stopTokens: [EOS] });
  t.deepEqual(out, [[], [], [], [], []]);
  t.deepEqual(await generateText(m, tok, { n: 2, prime: 'ab' }), ['ab', 'ab']);
});

test('generateText without a tokenizer samples through model.tokenizer, as with it', async (t) => {
  const m = lm(2);
  const options = { n: 3, maxLength: 12, seed: 5, prime: 'ab' };
  const given = await generateText(m, tok, options);
  t.deepEqual(await generateText(m, options), given);
  t.deepEqual(await generateText(m, undefined, options), given);
  m.tokenizer = undefined;
  const err = await t.throwsAsync(generateText(m, options), { instanceOf: TypeError });
  t.regex(
    err!.message,
    /^Expected a tokenizer \(the model has none: pass one, or set model\.tokenizer\) for tokenizer but received undefined$/,
  );
  m.dispose();
});

test('generateText refuses a tokenizer whose size is not the model vocabulary, naming both sizes', async (t) => {
  const m = lm(1);
  const bigger = CharTokenizer.fromText('abcdefghijklmnopqrstuvwxyz');
  const smaller = CharTokenizer.fromText('ab');
  for (const [other, name] of [
    [bigger, 'tokenizer'],
    [smaller, 'tokenizer'],
  ] as const) {
    await t.throwsAsync(generateText(m, other, { n: 1 }), {
      instanceOf: RangeError,
      message: `Expected a tokenizer of ${V} ids (the model's vocabSize) for ${name} but received a tokenizer of ${other.size} ids`,
    });
  }
  m.tokenizer = bigger; // the model's own tokenizer is checked the same way, named as model.tokenizer
  await t.throwsAsync(generateText(m, { n: 1 }), {
    instanceOf: RangeError,
    message: /for model\.tokenizer but received a tokenizer of 30 ids$/,
  });
  // a tokenizer without a size: its special ids must be ids of the model
  const sizeless = { kind: 'char' as const, padId: 0, unkId: 1, bosId: V, eosId: 3, encode: () => new Int32Array(0), decode: () => '' };
  await t.throwsAsync(generateText(m, sizeless, { n: 1 }), {
    instanceOf: RangeError,
    message: /for tokenizer\.bosId but received number 10$/,
  });
  m.dispose();
});

test('maxLength bounds the output when no stop token comes', async (t) => {
  const m = lm(1);
  forceToken(m, 5, 50);
  const out = await m.generate({ n: 3, maxLength: 7, stopTokens: [EOS] });
  t.deepEqual(out, [Array(7).fill(5), Array(7).fill(5), Array(7).fill(5)]);
});

test('generation is reproducible by seed; temperature 0 is greedy', async (t) => {
  const m = lm(4);
  const opts = { n: 6, maxLength: 12, stopTokens: [EOS], banTokens: [PAD, UNK, BOS] };
  const a = await m.generate({ ...opts, seed: 11 });
  const b = await m.generate({ ...opts, seed: 11 });
  const c = await m.generate({ ...opts, seed: 12 });
  t.deepEqual(a, b);
  t.notDeepEqual(a, c);
  const g1 = await m.generate({ ...opts, temperature: 0, seed: 1 });
  const g2 = await m.generate({ ...opts, temperature: 0, seed: 2 });
  t.deepEqual(g1, g2, 'greedy ignores the seed');
  t.true(g1.every((row) => JSON.stringify(row) === JSON.stringify(g1[0])));
  const k1 = await m.generate({ ...opts, topK: 1, seed: 9 });
  t.deepEqual(k1, g1, 'topK 1 is greedy');
  const p = await m.generate({ ...opts, topP: 1e-9, seed: 9 });
  t.deepEqual(p, g1, 'a tiny topP keeps only the most likely token');
});

test('step() streams the same distribution as a full forward pass', async (t) => {
  const m = lm(6);
  const seq = [BOS, 4, 5, 6];
  const full = await m.predict([seq]);
  let state = m.initialState();
  for (let i = 0; i < seq.length; i++) {
    const { probs, state: next } = await m.step(state, seq[i]!);
    state = next;
    let sum = 0;
    let worst = 0;
    for (let k = 0; k < V; k++) {
      sum += probs[k]!;
      // predict returns logits for a linear head: softmax them for the comparison
      const row = Array.from(full.data.subarray(i * V, (i + 1) * V));
      const mx = Math.max(...row);
      const z = row.reduce((s, v) => s + Math.exp(v - mx), 0);
      worst = Math.max(worst, Math.abs(probs[k]! - Math.exp(row[k]! - mx) / z));
    }
    t.true(Math.abs(sum - 1) < 1e-5);
    t.true(worst < 1e-5, `step ${i}: ${worst}`);
  }
});

test('sampling options are validated', async (t) => {
  const m = lm(1);
  await t.throwsAsync(m.generate({ temperature: -1 }), { instanceOf: RangeError, message: /options\.temperature/ });
  await t.throwsAsync(m.generate({ prime: [V] }), { instanceOf: RangeError, message: /options\.prime\[0\]/ });
  await t.throwsAsync(m.generate({ banTokens: Array.from({ length: V }, (_, i) => i) }), {
    instanceOf: RangeError,
    message: /options\.banTokens/,
  });
  await t.throwsAsync(m.generate({ topP: 0 }), { instanceOf: RangeError, message: /options\.topP/ });
  await t.throwsAsync(m.generate({ n: 0 }), { instanceOf: RangeError, message: /options\.n/ });
  await t.throwsAsync(m.fit(data, { epochs: -1 }), { instanceOf: RangeError, message: /options\.epochs/ });
  await t.throwsAsync(m.fit({} as never), { instanceOf: TypeError, message: /data/ });
  const notLm = sequential({ input: { features: 2 }, layers: [layers.gru({ units: 3, returnSequences: false })], loss: 'mse' });
  await t.throwsAsync(notLm.generate({ prime: [0] }), { instanceOf: RangeError, message: /language model/ });
});

test('training leaves the event loop free: timers fire while one native step runs', async (t) => {
  const m = sequential({ input: { vocabSize: V }, layers: [layers.lstm({ units: 256 }), layers.dense({ units: V })], seed: 1 });
  const B = 32,
    T = 200;
  const x = { data: Int32Array.from({ length: B * T }, (_, i) => 4 + (i % 6)), shape: [B, T] };
  const y = { data: Int32Array.from({ length: B * T }, (_, i) => 4 + ((i + 1) % 6)), shape: [B, T] };
  let ticks = 0;
  const timer = setInterval(() => ticks++, 1);
  const t0 = performance.now();
  await m.trainStep(x, y); // one call into C++, tens of milliseconds or more
  const ms = performance.now() - t0;
  clearInterval(timer);
  // A call that blocked the loop would let no timer fire until it returned.
  t.true(ticks >= 3, `${ticks} timer ticks during a ${ms.toFixed(0)} ms step`);
  m.dispose();
});
