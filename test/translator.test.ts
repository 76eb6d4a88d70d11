/**
 * The batched translator (lib/translator.ts): concurrent translate requests on
 * one Seq2Seq model decode together and each gets what translate gives its
 * source alone (row-exact forwards), greedy and beam; bad requests fail alone;
 * abort and close settle requests; a disposed model refuses new translators.
 */
import test from 'ava';
import { batchedSampler, layers, RnnkitError, seq2seq, type Seq2Seq } from '../lib/index.js';

function model(dtype: 'float32' | 'float64' = 'float32'): Seq2Seq {
  return seq2seq({
    sourceVocab: 30,
    targetVocab: 25,
    bos: 1,
    eos: 2,
    encoder: [layers.lstm({ units: 40, bidirectional: true }), layers.gru({ units: 36 })],
    decoder: [layers.lstm({ units: 36 }), layers.gru({ units: 24 })],
    seed: 5,
    dtype,
  });
}

/** Ragged sources, deterministic. */
const sources = Array.from({ length: 37 }, (_, i) => Array.from({ length: 1 + ((i * 7) % 11) }, (_, k) => 3 + ((i * 5 + k * 3) % 27)));

for (const dtype of ['float32', 'float64'] as const) {
  test(`${dtype}: 37 concurrent requests, greedy and beam, each equal to translate alone`, async (t) => {
    const m = model(dtype);
    const tr = batchedSampler(m, { maxBatch: 16 });
    for (const opts of [{ maxLength: 12 }, { beamWidth: 3, maxLength: 10, lengthPenalty: 0.6 }]) {
      const got = await Promise.all(sources.map((s) => tr.translateWithScores(s, opts)));
      for (let i = 0; i < sources.length; i++) {
        const [alone] = await m.translateWithScores([sources[i]!], opts);
        t.deepEqual(got[i], alone, `source ${i}, ${JSON.stringify(opts)}`);
      }
    }
    // requests with different options in flight together: each decoded with its own
    const mixed = await Promise.all(sources.slice(0, 6).map((s, i) => tr.translate(s, { beamWidth: 1 + (i % 2), maxLength: 8 })));
    for (let i = 0; i < 6; i++) t.deepEqual(mixed[i], (await m.translate([sources[i]!], { beamWidth: 1 + (i % 2), maxLength: 8 }))[0]);
    await tr.close();
  });
}

test('bad requests fail alone; abort and close settle requests; a disposed model is refused', async (t) => {
  const m = model();
  const tr = batchedSampler(m);
  const good = tr.translate(sources[3]!, { maxLength: 9 });
  await t.throwsAsync(tr.translate([99]), { instanceOf: RangeError, message: /source/ });
  await t.throwsAsync(tr.translate([]), { instanceOf: RangeError, message: /source/ });
  await t.throwsAsync(tr.translate([3], { beamWidth: 0 }), { instanceOf: RangeError, message: /options\.beamWidth/ });
  await t.throwsAsync(tr.translate([3], { banTokens: [2] }), { instanceOf: RangeError, message: /options\.banTokens/ });
  await t.throwsAsync(tr.translate([3], { batchSize: 4 } as never), { instanceOf: TypeError, message: /unknown key 'batchSize'/ });
  await t.throwsAsync(tr.translate([3], { signal: 1 } as never), { instanceOf: TypeError, message: /options\.signal/ });
  t.deepEqual(await good, (await m.translate([sources[3]!], { maxLength: 9 }))[0]);
  t.throws(() => batchedSampler(m, { maxBatch: 0 }), { instanceOf: RangeError, message: /options\.maxBatch/ });
  t.throws(() => batchedSampler(m, { tokenizer: {} } as never), { instanceOf: TypeError, message: /unknown key 'tokenizer'/ });

  const ac = new AbortController();
  const aborted = tr.translate(sources[5]!, { signal: ac.signal });
  ac.abort(new Error('gone'));
  await t.throwsAsync(aborted, { message: 'gone' });

  const pending = sources.map((s) => tr.translate(s, { beamWidth: 4, maxLength: 30 }));
  await tr.close();
  let closed = 0;
  for (const p of pending) {
    const out = await p.then(
      () => null,
      (err: unknown) => err,
    );
    if (out instanceof RnnkitError && out.code === 'ERR_CLOSED') closed++;
  }
  t.true(closed > 0, 'requests not yet answered were rejected with ERR_CLOSED');
  const late = await t.throwsAsync(tr.translate([3]), { instanceOf: RnnkitError });
  t.is((late as RnnkitError).code, 'ERR_CLOSED');
  m.dispose();
  const err = t.throws(() => batchedSampler(m), { instanceOf: RnnkitError });
  t.is((err as RnnkitError).code, 'ERR_DISPOSED');
});

for (const bridge of ['identity', 'projection'] as const) {
  test(`greedy translate decodes token by token on the decoder's batched sampler (${bridge} bridge), each as alone`, async (t) => {
    const m = seq2seq({
      sourceVocab: 30,
      targetVocab: 25,
      bos: 1,
      eos: 2,
      encoder: [layers.lstm({ units: bridge === 'identity' ? 32 : 20, bidirectional: bridge === 'projection' })],
      decoder: [layers.lstm({ units: 32 }), layers.gru({ units: 24 })],
      seed: 9,
    });
    t.is(m.bridge, bridge);
    const tr = batchedSampler(m, { maxBatch: 8 }); // more requests than slots: they queue and join as slots free
    const first = sources.slice(0, 20).map((s) => tr.translate(s, { maxLength: 15 }));
    await new Promise((r) => setTimeout(r, 1));
    const later = sources.slice(20).map((s) => tr.translate(s, { maxLength: 15, banTokens: [3] })); // join a running batch
    const got = await Promise.all([...first, ...later]);
    for (let i = 0; i < sources.length; i++) {
      const [alone] = await m.translate([sources[i]!], i < 20 ? { maxLength: 15 } : { maxLength: 15, banTokens: [3] });
      t.deepEqual(got[i], alone, `source ${i}`);
    }
    t.is(tr.size, 0);
    const ac = new AbortController();
    const aborted = tr.translate(sources[0]!, { maxLength: 15, signal: ac.signal });
    ac.abort(new Error('left'));
    await t.throwsAsync(aborted, { message: 'left' });
    await tr.close();
    const late = await t.throwsAsync(tr.translate(sources[0]!), { instanceOf: RnnkitError });
    t.is((late as RnnkitError).code, 'ERR_CLOSED');
  });
}
