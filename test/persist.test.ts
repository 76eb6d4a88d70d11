// Saving and loading models: exact round trips, exact resumption, clear errors.
import test from 'ava';
import { mkdtemp, readFile, readdir, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CharTokenizer, languageModelData, layers, load, RnnkitError, sequential } from '../lib/index.js';
import { assertResumesExactly } from './helpers/resume.js';

const text = ['anna', 'bob', 'carla', 'dave', 'eve', 'frank', 'gina', 'hank', 'ida', 'jo'];
const tok = CharTokenizer.fromText(text);
const data = languageModelData(
  text.map((s) => tok.encode(s)),
  { bos: tok.bosId, eos: tok.eosId },
);

function model(dtype: 'float32' | 'float64' = 'float32') {
  const m = sequential({
    input: { vocabSize: tok.size },
    layers: [
      layers.lstm({ units: 12, peephole: 'diagonal' }),
      layers.dropout({ rate: 0.2 }),
      layers.gru({ units: 8 }),
      layers.dense({ units: tok.size }),
    ],
    seed: 9,
    dtype,
  });
  m.tokenizer = tok;
  return m;
}

async function tmp(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'rnnkit-persist-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

for (const dtype of ['float32', 'float64'] as const) {
  test(`save/load round trip is exact (${dtype})`, async (t) => {
    const dir = await tmp(t);
    const a = model(dtype);
    await a.fit(data, { epochs: 2, batchSize: 4, optimizer: { type: 'adam', lr: 0.01 } });
    const file = join(dir, 'm.rnnkit');
    await a.save(file);
    const b = await load(file);
    t.deepEqual(b.config, a.config);
    t.deepEqual(b.getWeights(), a.getWeights());
    t.is(b.epoch, 2);
    t.deepEqual(b.tokenizer!.toJSON(), tok.toJSON());
    const x = [Array.from(tok.encode('anna', { addBos: true }))];
    t.deepEqual((await b.predict(x)).data, (await a.predict(x)).data);
    const g = { n: 4, maxLength: 10, seed: 3, stopTokens: [tok.eosId] };
    t.deepEqual(await b.generate(g), await a.generate(g));
    t.deepEqual(await readdir(dir), ['m.rnnkit'], 'no temporary file is left behind');
  });
}

test('training resumed from a checkpoint continues exactly like an uninterrupted run', async (t) => {
  await assertResumesExactly(t, model, data, { batchSize: 3, optimizer: { type: 'adam', lr: 0.01 }, clipNorm: 1 });
});

test('a failed save leaves the previous file intact', async (t) => {
  const dir = await tmp(t);
  const file = join(dir, 'keep.rnnkit');
  const a = model();
  await a.save(file);
  const before = await readFile(file);
  // a directory where the file should go: the rename fails, nothing is replaced
  const blocked = join(dir, 'blocked.rnnkit');
  await mkdir(blocked);
  const err = await t.throwsAsync(a.save(blocked), { instanceOf: RnnkitError });
  t.is((err as RnnkitError).code, 'ERR_CHECKPOINT');
  t.true(err!.message.includes(blocked));
  t.deepEqual(await readFile(file), before);
  t.deepEqual((await readdir(dir)).sort(), ['blocked.rnnkit', 'keep.rnnkit']);
});

test('truncated, corrupted, foreign and missing files fail with the file name', async (t) => {
  const dir = await tmp(t);
  const file = join(dir, 'good.rnnkit');
  await model().save(file);
  const good = await readFile(file);
  const cases: [string, Buffer][] = [
    ['truncated.rnnkit', good.subarray(0, Math.floor(good.length / 2))],
    ['flipped.rnnkit', Buffer.from(good.map((v, i) => (i === Math.floor(good.length * 0.7) ? v ^ 0x10 : v)))],
    ['foreign.rnnkit', Buffer.from('{"not": "a model"}\n')],
    ['empty.rnnkit', Buffer.alloc(0)],
  ];
  for (const [name, bytes] of cases) {
    const path = join(dir, name);
    await writeFile(path, bytes);
    const err = await t.throwsAsync(load(path), { instanceOf: RnnkitError }, name);
    t.is((err as RnnkitError).code, 'ERR_CHECKPOINT', name);
    t.true(err!.message.includes(path), `${name}: ${err!.message}`);
  }
  const missing = join(dir, 'missing.rnnkit');
  const err = await t.throwsAsync(load(missing), { instanceOf: RnnkitError });
  t.true(err!.message.includes(missing));
  await t.throwsAsync(load(''), { instanceOf: TypeError, message: /path/ });
});
