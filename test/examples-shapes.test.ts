/**
 * The "shapes of problem" examples run end to end in --quick mode, each as a
 * child process (node --import=tsx) in a fresh temporary directory, checked
 * on the figures they print: examples/pos-tagging.ts (many-to-many),
 * examples/spam.ts (many-to-one), examples/names-by-gender.ts (one-to-many,
 * conditioned) and examples/adding-problem.ts (vanishing gradients).
 */
import test from 'ava';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { example } from './helpers/examples.js';

/** The numbers captured by `pattern`, each checked finite. */
function figures(t: { true(v: boolean, msg?: string): void }, stdout: string, pattern: RegExp): number[] {
  const m = pattern.exec(stdout);
  if (!m) throw new Error(`no match for ${pattern} in:\n${stdout}`);
  const values = m.slice(1).map(Number);
  for (const v of values) t.true(Number.isFinite(v), `${pattern} gave ${m.slice(1).join(', ')}`);
  return values;
}

function tmp(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'rnnkit-example-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const percent = String.raw`([\d.]+)%`;

test.serial('examples/pos-tagging.ts --quick tags held-out Brown files and the "I saw a saw" sentence', async (t) => {
  const stdout = await example('pos-tagging.ts', ['--quick'], tmp(t));
  const [tags] = figures(t, stdout, /(\d+) tags after mapping to the main tag/);
  t.true(tags! > 20 && tags! < 120, `${tags} tags`);
  const [model, baseline] = figures(
    t,
    stdout,
    new RegExp(`held-out token accuracy: ${percent} \\(BiLSTM\\) vs ${percent} \\(most-frequent-tag baseline\\)`),
  );
  t.true(model! > baseline!, `the BiLSTM (${model}%) beats the most-frequent-tag baseline (${baseline}%)`);
  const [seenModel, seenBase, unseenShare, unseenModel, unseenBase] = figures(
    t,
    stdout,
    new RegExp(`words seen in training: ${percent} vs ${percent}; unseen words \\(${percent} of tokens\\): ${percent} vs ${percent}`),
  );
  t.true(unseenModel! > unseenBase!, `on unseen words the BiLSTM (${unseenModel}%) beats the baseline (${unseenBase}%)`);
  // the overall accuracy is the seen / unseen split's weighted mean (to the printed precision)
  const mix = (seen: number, unseen: number) => (seen * (100 - unseenShare!) + unseen * unseenShare!) / 100;
  t.true(Math.abs(mix(seenModel!, unseenModel!) - model!) < 0.05, `BiLSTM: ${mix(seenModel!, unseenModel!)} vs ${model}`);
  t.true(Math.abs(mix(seenBase!, unseenBase!) - baseline!) < 0.05, `baseline: ${mix(seenBase!, unseenBase!)} vs ${baseline}`);
  t.regex(stdout, /^I saw a saw: I\/\S+ saw\/\S+ a\/\S+ saw\/\S+ \.\/\S+ {3}\(baseline: /m);
  t.regex(stdout, /total time [\d.]+ s/);
});

test.serial('examples/spam.ts --quick classifies held-out e-mails and prints accuracy and F1 against the majority class', async (t) => {
  const stdout = await example('spam.ts', ['--quick'], tmp(t));
  const [vocab] = figures(t, stdout, /WordTokenizer: vocabulary (\d+)/);
  t.true(vocab! > 100);
  const [acc, precision, recall, f1] = figures(
    t,
    stdout,
    new RegExp(`held-out \\(\\d+ messages\\): accuracy ${percent}, spam precision ${percent}, recall ${percent}, F1 ([\\d.]+)`),
  );
  // F1 is the harmonic mean of the printed precision and recall (0 when both are 0)
  const harmonic = precision! + recall! === 0 ? 0 : (2 * precision! * recall!) / (precision! + recall!) / 100;
  t.true(Math.abs(f1! - harmonic) < 1e-3, `F1 ${f1} vs 2PR/(P+R) = ${harmonic}`);
  const [baseAcc, baseF1] = figures(t, stdout, new RegExp(`majority-class baseline \\(always ham\\): accuracy ${percent}, F1 ([\\d.]+)`));
  t.true(baseAcc! > 50 && baseAcc! < 100);
  t.is(baseF1, 0);
  t.true(acc! >= baseAcc!, `the model (${acc}%) is at least as accurate as always answering ham (${baseAcc}%)`);
  t.regex(stdout, /total time [\d.]+ s/);
});

test.serial(
  'examples/names-by-gender.ts --quick scores each gender under the right and swapped condition and samples ten names each',
  async (t) => {
    const stdout = await example('names-by-gender.ts', ['--quick'], tmp(t));
    const [dropped] = figures(t, stdout, /(\d+) in both lists dropped/);
    t.true(dropped! > 0);
    for (const g of ['female', 'male']) {
      const [right, swapped] = figures(
        t,
        stdout,
        new RegExp(`${g} +names \\(\\d+\\): ([\\d.]+) bits/char with the right condition, ([\\d.]+) with the swapped one`),
      );
      t.true(right! > 0 && right! < Math.log2(40), `${g}: ${right} bits/char`);
      t.true(right! < swapped!, `${g}: the right condition (${right} bits/char) predicts better than the swapped one (${swapped})`);
      const line = new RegExp(`^ten ${g} names \\(temperature [\\d.]+\\): (.*)$`, 'm').exec(stdout);
      t.truthy(line, stdout);
      t.is(line![1]!.split(', ').length, 10, line![1]);
    }
    const [fa, ma] = figures(
      t,
      stdout,
      new RegExp(`sampled names ending in 'a' \\(\\d+ per condition\\): female ${percent}, male ${percent}`),
    );
    t.true(fa! > ma!, `more names end in 'a' under the female condition (${fa}%) than under the male one (${ma}%)`);
    t.regex(stdout, /total time [\d.]+ s/);
  },
);

test.serial(
  'examples/adding-problem.ts --quick trains LSTM, GRU and RNN in turns and writes the curves as JSON, CSV and SVG',
  async (t) => {
    const cwd = tmp(t);
    const stdout = await example('adding-problem.ts', ['--quick'], cwd);
    const [baseline] = figures(t, stdout, /predicting 1 always gives test MSE ([\d.]+)/);
    t.true(baseline! > 0.1 && baseline! < 0.25, `baseline ${baseline}`);
    t.regex(stdout, /^ +step +lstm test MSE +gru test MSE +rnn test MSE$/m);
    const json = JSON.parse(readFileSync(join(cwd, 'adding-problem.json'), 'utf8')) as {
      curve: Record<string, number>[];
      baseline: number;
    };
    for (const cell of ['lstm', 'gru', 'rnn']) {
      const [mse, ratio] = figures(t, stdout, new RegExp(`^  ${cell} +final test MSE ([\\d.]+) \\(([\\d.]+) x baseline\\)`, 'm'));
      t.true(Math.abs(ratio! - mse! / baseline!) < 2e-3, `${cell}: printed ratio ${ratio} vs ${mse} / ${baseline}`);
      t.true(Math.abs(json.curve.at(-1)![cell]! - mse!) < 1e-4, `${cell}: the JSON curve ends at the printed final MSE ${mse}`);
    }
    t.true(json.curve.length >= 2);
    t.true(json.curve.every((r) => ['lstm', 'gru', 'rnn'].every((c) => Number.isFinite(r[c]))));
    const csv = readFileSync(join(cwd, 'adding-problem.csv'), 'utf8').trim().split('\n');
    t.is(csv[0], 'step,lstm,gru,rnn');
    t.is(csv.length, json.curve.length + 1);
    t.true(existsSync(join(cwd, 'adding-problem.svg')));
    const svg = readFileSync(join(cwd, 'adding-problem.svg'), 'utf8');
    t.true(svg.startsWith('<svg') && !svg.includes('NaN'));
    t.regex(stdout, /total time [\d.]+ s/);
  },
);
