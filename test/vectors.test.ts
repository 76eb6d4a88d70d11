// Pretrained word vectors into an embedding (lib/vectors.ts): GloVe / word2vec text.
import test from 'ava';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { layers, readWordVectors, RnnkitError, sequential, useWordVectors, WordTokenizer } from '../lib/index.js';

const tok = WordTokenizer.fromText('the cat sat on the mat');

async function file(t: { teardown(fn: () => Promise<void>): void }, text: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'rnnkit-vectors-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'vectors.txt');
  await writeFile(path, text);
  return path;
}

test('readWordVectors keeps the vocabulary rows, skips a word2vec header, the first vector of a word wins', async (t) => {
  const path = await file(t, '4 2\nthe 1 2\n<unk> 9 9\ndog 3 4\ncat -1.5 2e-3\nthe 7 7\n\n');
  const v = await readWordVectors(path, tok);
  t.deepEqual(v.table.shape, [tok.size, 2]);
  t.deepEqual(
    Array.from(v.found),
    [tok.idOf('the'), tok.idOf('cat')].sort((a, b) => a - b),
  );
  t.deepEqual(v.missing, ['mat', 'on', 'sat']);
  t.deepEqual(Array.from(v.table.data.subarray(tok.idOf('the') * 2, tok.idOf('the') * 2 + 2)), [1, 2]);
  t.deepEqual(Array.from(v.table.data.subarray(tok.unkId * 2, tok.unkId * 2 + 2)), [0, 0], 'special tokens are never read');
});

test('useWordVectors writes the found rows into the embedding and leaves the others', async (t) => {
  const path = await file(t, 'the 0.5 0.25 1\ncat 1 2 3\n');
  const model = sequential({
    input: { vocabSize: tok.size },
    layers: [layers.embedding({ dim: 3 }), layers.gru({ units: 4 }), layers.dense({ units: tok.size })],
    seed: 2,
  });
  model.tokenizer = tok;
  const before = model.getWeights()['layers.0.weight']!.data.slice();
  const r = await useWordVectors(model, path);
  t.is(r.found, 2);
  t.deepEqual(r.missing, ['mat', 'on', 'sat']);
  const after = model.getWeights()['layers.0.weight']!.data;
  t.deepEqual(Array.from(after.subarray(tok.idOf('cat') * 3, tok.idOf('cat') * 3 + 3)), [1, 2, 3]);
  const sat = tok.idOf('sat') * 3;
  t.deepEqual(Array.from(after.subarray(sat, sat + 3)), Array.from(before.subarray(sat, sat + 3)), 'a word without a vector keeps its row');
  const other = WordTokenizer.fromText('a b');
  await t.throwsAsync(useWordVectors(model, path, { tokenizer: other }), {
    instanceOf: RangeError,
    message: /for options\.tokenizer but received a tokenizer of 6 ids/,
  });
  const plain = sequential({ input: { vocabSize: tok.size }, layers: [layers.gru({ units: 4 }), layers.dense({ units: tok.size })] });
  await t.throwsAsync(useWordVectors(plain, path), { instanceOf: TypeError, message: /a model whose first layer is an embedding/ });
  model.dispose();
  plain.dispose();
});

test('damaged or missing vector files are ERR_VECTORS naming the file and the line', async (t) => {
  const cases: [string, RegExp][] = [
    ['the 1 2\ncat 1 2 3\n', /line 2 has 3 numbers, expected 2$/],
    ['the 1 x\n', /line 1: "x" is not a finite number$/],
    ['the 1 Infinity\n', /line 1: "Infinity" is not a finite number$/],
    ['\n\n', /it holds no vectors$/],
  ];
  for (const [text, message] of cases) {
    const path = await file(t, text);
    const err = await t.throwsAsync(readWordVectors(path, tok), { instanceOf: RnnkitError });
    t.is((err as RnnkitError).code, 'ERR_VECTORS');
    t.true(err!.message.startsWith(`Cannot read word vectors '${path}': `), err!.message);
    t.regex(err!.message, message);
  }
  const missing = await t.throwsAsync(readWordVectors('/nonexistent/vectors.txt', tok), { instanceOf: RnnkitError });
  t.regex(missing!.message, /^Cannot read word vectors '\/nonexistent\/vectors\.txt': no such file \(ENOENT\)$/);
  await t.throwsAsync(readWordVectors('', tok), { instanceOf: TypeError, message: /for path/ });
  await t.throwsAsync(readWordVectors('x', {} as never), { instanceOf: TypeError, message: /for tokenizer/ });
  await t.throwsAsync(readWordVectors('x', tok, { dim: 0 }), { instanceOf: RangeError, message: /for options\.dim but received number 0/ });
  const wide = await file(t, 'the 1 2\n');
  await t.throwsAsync(readWordVectors(wide, tok, { dim: 3 }), { instanceOf: RnnkitError, message: /line 1 has 2 numbers, expected 3$/ });
});
