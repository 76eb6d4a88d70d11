/**
 * The examples run end to end: examples/names.ts and examples/brown.ts in
 * --quick mode, each as a child process (node --import=tsx) in a fresh
 * temporary directory, checked on what they print and write.
 */
import test from 'ava';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { example } from './helpers/examples.js';
import { load } from '../lib/index.js';

function figure(stdout: string, pattern: RegExp): number {
  const m = pattern.exec(stdout);
  if (!m) throw new Error(`no match for ${pattern} in:\n${stdout}`);
  return Number(m[1]);
}

function tmp(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'rnnkit-example-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test.serial('examples/names.ts --quick trains, scores held-out names, samples ten names and saves the model', async (t) => {
  const cwd = tmp(t);
  const stdout = await example('names.ts', ['--quick'], cwd);
  const vocab = figure(stdout, /vocabulary (\d+) tokens/);
  const bits = figure(stdout, /held-out bits per character: ([\d.]+)/);
  t.true(vocab > 20 && vocab < 40, `vocabulary ${vocab}`);
  t.true(Number.isFinite(bits) && bits > 0 && bits < Math.log2(vocab), `held-out ${bits} bits/char vs uniform ${Math.log2(vocab)}`);
  const sampled = stdout.split('\n').filter((line) => /^\s*\d+\. [a-z' -]+?\s{2,}(new|in the training list|real name)/.test(line));
  t.is(sampled.length, 10, stdout);
  t.regex(stdout, /npx rnnkit sample names\.rnnkit --n 10/);
  t.regex(stdout, /total time [\d.]+ s/);
  const file = join(cwd, 'names.rnnkit');
  t.true(existsSync(file) && statSync(file).size > 0);
  const model = await load(file);
  t.is(model.tokenizer?.kind, 'char');
  t.deepEqual(model.config.input, { vocabSize: vocab });
  model.dispose();
});

test.serial('examples/names.ts --out writes the model where asked', async (t) => {
  const cwd = tmp(t);
  const stdout = await example('names.ts', ['--quick', '--epochs', '1', '--out', 'custom.rnnkit'], cwd);
  t.true(existsSync(join(cwd, 'custom.rnnkit')));
  t.regex(stdout, /npx rnnkit sample custom\.rnnkit --n 10/);
});

test.serial('examples/brown.ts --quick trains a character and a word model on a few documents', async (t) => {
  const cwd = tmp(t);
  const stdout = await example('brown.ts', ['--quick'], cwd);
  const charVocab = figure(stdout, /character model \((\d+) tokens\)/);
  const bpc = figure(stdout, /character LSTM \d+: held-out ([\d.]+) bits per character/);
  t.true(Number.isFinite(bpc) && bpc > 0 && bpc < Math.log2(charVocab), `char model ${bpc} bits/char`);
  const wordVocab = figure(stdout, /word LSTM \d+, vocabulary (\d+)/);
  const ppl = figure(stdout, /held-out perplexity ([\d.]+)/);
  const wordBpc = figure(stdout, /bits per word, ([\d.]+) bits per character/);
  t.true(Number.isFinite(ppl) && ppl > 1 && ppl < wordVocab, `word perplexity ${ppl}`);
  t.true(Number.isFinite(wordBpc) && wordBpc > 0);
  t.is(stdout.match(/^ {2}samples \(temperature/gm)?.length, 2);
  t.regex(stdout, /total time [\d.]+ s/);
});
