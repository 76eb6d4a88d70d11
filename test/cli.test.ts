// The rnnkit command line, driven in-process through main(argv, io), plus the
// SVG loss-curve module it writes with, and the built dist/cli.js as a program.
import test from 'ava';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { EXIT_ERROR, EXIT_USAGE, main, oneLine } from '../lib/cli.js';
import { defaultOut } from '../lib/cli/train.js';
import { load } from '../lib/index.js';
import { lineChartSvg, lossCurveSvg, niceTicks } from '../lib/plot.js';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(argv: string[], signal?: AbortSignal): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    ...(signal ? { signal } : {}),
  });
  return { code, stdout, stderr };
}

// A small deterministic text: a few sentence patterns over a small vocabulary.
const SUBJECTS = ['the cat', 'a dog', 'the old man', 'my sister', 'the bird'];
const VERBS = ['sat on', 'looked at', 'ran to', 'jumped over', 'sang to'];
const OBJECTS = ['the mat', 'a tree', 'the river', 'the red house', 'a small boat'];
const TEXT =
  Array.from({ length: 80 }, (_, i) => `${SUBJECTS[i % 5]} ${VERBS[(i * 3) % 5]} ${OBJECTS[(i * 7 + 1) % 5]}.`).join('\n') + '\n';

const TINY = ['--epochs', '1', '--units', '16', '--layers', '1', '--seq-len', '16', '--batch-size', '8', '--samples', '2'];

let dir = '';
let model = '';
let trained: Run;

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rnnkit-cli-'));
  await writeFile(join(dir, 'input.txt'), TEXT);
  model = join(dir, 'input.rnnkit');
  trained = await run(['train', join(dir, 'input.txt'), ...TINY, '--out', model]);
});

test.after.always(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Every number in the points / d / x / y / cx / cy attributes of an SVG. */
function coordinates(svg: string): string[] {
  const out: string[] = [];
  for (const m of svg.matchAll(/\s(?:points|d|x|y|x1|x2|y1|y2|cx|cy)="([^"]*)"/g)) {
    out.push(...m[1]!.split(/[\s,MVHL]+/).filter((s) => s !== ''));
  }
  return out;
}

function assertWellFormedSvg(t: { true(v: boolean, m?: string): void; regex(s: string, r: RegExp): void }, svg: string): void {
  t.true(svg.startsWith('<svg'), 'starts with <svg');
  t.regex(svg.trimEnd(), /<\/svg>$/);
  t.regex(svg, /<polyline [^>]*points="[^"]+"|<path [^>]*d="[^"]+"|<circle /);
  t.true(!/NaN|Infinity|undefined/.test(svg), 'no NaN / Infinity / undefined');
  const coords = coordinates(svg);
  t.true(coords.length > 0, 'has coordinates');
  t.true(
    coords.every((c) => Number.isFinite(Number(c))),
    `finite coordinates: ${coords
      .filter((c) => !Number.isFinite(Number(c)))
      .slice(0, 3)
      .join(' ')}`,
  );
  // every opened element is closed or self-closed (minimal well-formedness)
  const open = [...svg.matchAll(/<([a-z]+)[\s>]/g)].map((m) => m[1]);
  const selfClosed = (svg.match(/\/>/g) ?? []).length;
  const closed = (svg.match(/<\/[a-z]+>/g) ?? []).length;
  t.true(open.length === selfClosed + closed, `balanced tags: ${open.length} opened, ${selfClosed + closed} closed`);
}

test('train: exit 0, prints epoch and validation lines, saves a model that loads with its tokenizer', async (t) => {
  t.is(trained.code, 0, trained.stderr);
  t.regex(trained.stdout, /epoch 1\/1 {2}loss \d+\.\d+ \(\d+\.\d+ bpc\) {2}val \d+\.\d+ \(\d+\.\d+ bpc\)/);
  t.regex(trained.stdout, /validation \d+/);
  t.regex(trained.stdout, /saved .*input\.rnnkit/);
  t.is(trained.stderr, '', 'no progress bar redraws on a non-TTY');
  const m = await load(model);
  try {
    t.is(m.tokenizer?.kind, 'char');
    t.is(m.epoch, 1);
    t.is(m.config.layers[0]!.type, 'lstm');
    t.is((m.config.layers[0] as { units: number }).units, 16);
    t.is(m.config.loss, 'crossEntropy');
  } finally {
    m.dispose();
  }
});

test('train: prints --samples samples, one per line', (t) => {
  const after = trained.stdout.split('samples (')[1];
  t.truthy(after);
  t.is(after!.trimEnd().split('\n').length, 1 + 2);
});

test('train: writes a well-formed loss-curve SVG next to the model', async (t) => {
  const svg = await readFile(`${model}.loss.svg`, 'utf8');
  assertWellFormedSvg(t, svg);
  t.regex(svg, /<polyline /, 'a train-loss line');
  t.regex(svg, />validation</, 'a validation series in the legend');
  t.regex(svg, />epoch</);
  t.regex(svg, /input\.txt/, 'the title names the text');
});

test('train: word level, GRU, two layers with dropout', async (t) => {
  const out = join(dir, 'words.rnnkit');
  const r = await run([
    'train',
    join(dir, 'input.txt'),
    ...TINY,
    '--level',
    'word',
    '--cell',
    'gru',
    '--layers',
    '2',
    '--dropout',
    '0.2',
    '--min-frequency',
    '2',
    '--out',
    out,
  ]);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /ppl \d/);
  const m = await load(out);
  try {
    t.is(m.tokenizer?.kind, 'word');
    t.deepEqual(
      m.config.layers.map((l) => l.type),
      ['gru', 'dropout', 'gru', 'dropout', 'dense'],
    );
  } finally {
    m.dispose();
  }
});

test('train: stopping (Ctrl-C / io.signal) still saves the model and the plot, exit 130', async (t) => {
  const out = join(dir, 'stopped.rnnkit');
  const r = await run(['train', join(dir, 'input.txt'), ...TINY, '--out', out], AbortSignal.abort());
  t.is(r.code, 130, r.stderr);
  t.regex(r.stderr, /stopping after the current step/);
  t.is(r.stdout.split('samples (')[1]?.trimEnd().split('\n').length, 1 + 2, 'the samples are printed after Ctrl-C too');
  t.true((await stat(out)).size > 0);
  assertWellFormedSvg(t, await readFile(`${out}.loss.svg`, 'utf8'));
  const m = await load(out);
  t.is(m.epoch, 0);
  m.dispose();
});

test('train: --embedding and --tie build an embedding-first, tied model; --tie needs --embedding = --units', async (t) => {
  const out = join(dir, 'tied.rnnkit');
  const flags = ['--level', 'word', '--embedding', '16', '--tie', '--recurrent-dropout', '0.2'];
  const r = await run(['train', join(dir, 'input.txt'), ...TINY, ...flags, '--out', out]);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /model: lstm 1x16, embedding 16 tied, /);
  const m = await load(out);
  t.is(m.config.layers[0]!.type, 'embedding');
  t.deepEqual(m.config.layers.at(-1), { type: 'dense', units: m.tokenizer!.size, activation: 'linear', tieEmbedding: true });
  t.is((m.config.layers[0] as { paddingIdx?: number }).paddingIdx, m.tokenizer!.padId);
  t.is((m.config.layers[1] as { recurrentDropout?: number }).recurrentDropout, 0.2);
  m.dispose();
  for (const [args, message] of [
    [['--tie'], '--tie needs --embedding (the table the output layer shares)'],
    [['--tie', '--embedding', '8'], '--tie needs --embedding equal to --units (the output layer reads 16 units): got --embedding 8'],
    [['--sparse-embedding'], '--sparse-embedding needs --embedding (the table it updates)'],
    [
      ['--sparse-embedding', '--embedding', '16', '--tie'],
      "--sparse-embedding and --tie do not go together: the tied output layer's gradient fills every row",
    ],
  ] as const) {
    const bad = await run(['train', join(dir, 'input.txt'), ...TINY, ...args, '--out', join(dir, 'bad.rnnkit')]);
    t.is(bad.code, 1);
    t.is(bad.stderr, `rnnkit: ${message}\n`);
  }
});

test('train: --sparse-embedding builds a sparse table (layers.embedding({ sparse: true }))', async (t) => {
  const out = join(dir, 'sparse.rnnkit');
  const r = await run([
    'train',
    join(dir, 'input.txt'),
    ...TINY,
    '--level',
    'word',
    '--embedding',
    '8',
    '--sparse-embedding',
    '--out',
    out,
  ]);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /model: lstm 1x16, embedding 8 sparse, /);
  const m = await load(out);
  t.is((m.config.layers[0] as { sparse?: boolean }).sparse, true);
  m.dispose();
});

test.serial('train: --resume continues a saved model on the text (its tokenizer and epoch), --threads sets the threads', async (t) => {
  const out = join(dir, 'resumed.rnnkit');
  const r = await run([
    'train',
    join(dir, 'input.txt'),
    '--resume',
    model,
    '--epochs',
    '1',
    '--samples',
    '0',
    '--threads',
    '1',
    '--out',
    out,
  ]);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /model: lstm 1x16 \(resumed from .*input\.rnnkit, epoch 1\)/);
  const m = await load(out);
  t.is(m.epoch, 2, 'one more epoch on top of the first');
  m.dispose();
  const { info, setThreads } = await import('../lib/index.js');
  t.is(info().threads, 1);
  setThreads(2);
  const none = await run(['train', join(dir, 'input.txt'), '--resume', join(dir, 'none.rnnkit'), '--out', out]);
  t.is(none.code, 1);
  t.regex(none.stderr, /none\.rnnkit/);
});

test('train: --time-budget stops after the step that spends it, saves, prints samples and exits 0', async (t) => {
  const out = join(dir, 'budget.rnnkit');
  const r = await run(['train', join(dir, 'input.txt'), ...TINY, '--epochs', '1000', '--time-budget', '0.5', '--out', out]);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stderr, /the time budget of 0\.5 s is spent; stopping after the current step/);
  t.is(r.stdout.split('samples (')[1]?.trimEnd().split('\n').length, 1 + 2);
  const m = await load(out);
  t.true(m.epoch < 1000, `stopped at epoch ${m.epoch}`);
  m.dispose();
});

test('train: --early-stopping stops when the validation loss stops improving and keeps the best epoch', async (t) => {
  const out = join(dir, 'early.rnnkit');
  // a learning rate far too large: the validation loss gets worse after the first epochs
  const r = await run(['train', join(dir, 'input.txt'), ...TINY, '--epochs', '30', '--lr', '5', '--early-stopping', '1', '--out', out]);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /early stopping: kept the weights of epoch \d+ \(best validation loss\)/);
  t.true((r.stdout.match(/^epoch /gm) ?? []).length < 30);
});

test('train: a missing or empty text file is exit 1 with the file name', async (t) => {
  const missing = join(dir, 'no-such.txt');
  const r = await run(['train', missing, ...TINY]);
  t.is(r.code, EXIT_ERROR);
  t.is(r.stderr, `rnnkit: cannot read '${missing}': no such file (ENOENT)\n`);
  t.is(r.stdout, '');
  const empty = join(dir, 'empty.txt');
  await writeFile(empty, '');
  const e = await run(['train', empty, ...TINY]);
  t.is(e.code, EXIT_ERROR);
  t.is(e.stderr, `rnnkit: '${empty}' is empty\n`);
  const bad = join(dir, 'latin1.txt');
  await writeFile(bad, Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x0a]));
  const b = await run(['train', bad, ...TINY]);
  t.is(b.code, EXIT_ERROR);
  t.is(b.stderr, `rnnkit: '${bad}' is not UTF-8 text\n`);
});

test('train: an --out in a missing directory fails before training, naming it', async (t) => {
  const out = join(dir, 'no-such-dir', 'm.rnnkit');
  const r = await run(['train', join(dir, 'input.txt'), ...TINY, '--out', out]);
  t.is(r.code, EXIT_ERROR);
  t.is(r.stderr, `rnnkit: cannot write '${out}': no such directory '${join(dir, 'no-such-dir')}'\n`);
  t.is(r.stdout, '');
});

test('train: a text too short for validation trains without it', async (t) => {
  const short = join(dir, 'short.txt');
  await writeFile(short, 'hello world, hello rnnkit');
  const out = join(dir, 'short.rnnkit');
  const r = await run(['train', short, ...TINY, '--out', out]);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /validation none/);
  t.notRegex(r.stdout, /val \d/);
  const svg = await readFile(`${out}.loss.svg`, 'utf8');
  assertWellFormedSvg(t, svg);
  t.notRegex(svg, />validation</);
});

test('train: a single character is too short', async (t) => {
  const one = join(dir, 'one.txt');
  await writeFile(one, 'x');
  const r = await run(['train', one, ...TINY]);
  t.is(r.code, EXIT_ERROR);
  t.regex(r.stderr, /^rnnkit: '.*one\.txt' is too short: 1 characters/);
});

test('bad arguments are exit 2 with a message', async (t) => {
  const file = join(dir, 'input.txt');
  for (const argv of [
    ['train', file, '--units', 'abc'],
    ['train', file, '--units', '0'],
    ['train', file, '--epochs', '1.5'],
    ['train', file, '--level', 'byte'],
    ['train', file, '--cell', 'transformer'],
    ['train', file, '--lr', '0'],
    ['train', file, '--dropout', '1'],
    ['train', file, '--bogus'],
    ['train'],
    ['train', file, 'extra'],
    ['sample', model, '--temperature', '-1'],
    ['sample', model, '--n', 'many'],
    ['frobnicate'],
    [],
  ]) {
    const r = await run(argv);
    t.is(r.code, EXIT_USAGE, argv.join(' '));
    t.true(r.stderr.length > 0, argv.join(' '));
    t.is(r.stdout, '', argv.join(' '));
  }
  const r = await run(['train', file, '--units', 'abc']);
  t.regex(r.stderr, /--units <n>.*'abc' is invalid\. Expected an integer in \[1, 65536\]/);
});

test('--help and --version are exit 0 on stdout', async (t) => {
  const top = await run(['--help']);
  t.is(top.code, 0);
  t.regex(top.stdout, /Usage: rnnkit/);
  t.regex(top.stdout, /train/);
  t.regex(top.stdout, /sample/);
  const tr = await run(['train', '--help']);
  t.is(tr.code, 0);
  for (const opt of [
    '--level',
    '--cell',
    '--units',
    '--layers',
    '--epochs',
    '--seq-len',
    '--out',
    '--seed',
    '--dropout',
    '--lr',
    '--batch-size',
    '--min-frequency',
    '--max-vocab',
  ]) {
    t.true(tr.stdout.includes(opt), opt);
  }
  const sa = await run(['help', 'sample']);
  t.is(sa.code, 0);
  for (const opt of ['--prime', '--temperature', '--n', '--seed', '--max-length']) t.true(sa.stdout.includes(opt), opt);
  const v = await run(['--version']);
  t.is(v.code, 0);
  t.regex(v.stdout, /^\d+\.\d+\.\d+/);
});

test('sample: prints --n lines, each starting with the prime', async (t) => {
  const r = await run(['sample', model, '--n', '4', '--prime', 'the ', '--max-length', '30', '--seed', '7']);
  t.is(r.code, 0, r.stderr);
  const lines = r.stdout.split('\n');
  t.is(lines.pop(), '', 'ends with a newline');
  t.is(lines.length, 4);
  for (const line of lines) t.true(line.startsWith('the '), line);
});

test('sample: --prime characters the model never saw are named in a warning on stderr, and sampling goes on', async (t) => {
  const r = await run(['sample', model, '--n', '2', '--prime', 'the Ω', '--max-length', '10', '--seed', '7']);
  t.is(r.code, 0, r.stderr);
  t.is(r.stderr, 'warning: --prime has 1 character the model never saw, sampled from as <unk>: "Ω"\n');
  t.is(r.stdout.trimEnd().split('\n').length, 2);
  const known = await run(['sample', model, '--n', '1', '--prime', 'the ', '--max-length', '10']);
  t.is(known.stderr, '', 'no warning when every character is known');
});

test('sample: the same --seed gives the same output, another seed other output', async (t) => {
  const args = ['sample', model, '--n', '3', '--max-length', '40', '--temperature', '1.2'];
  const a = await run([...args, '--seed', '11']);
  const b = await run([...args, '--seed', '11']);
  const c = await run([...args, '--seed', '12']);
  t.is(a.code, 0, a.stderr);
  t.is(a.stdout, b.stdout);
  t.not(a.stdout, c.stdout);
});

test('sample: temperature 0 is greedy (all texts equal)', async (t) => {
  const r = await run(['sample', model, '--n', '3', '--max-length', '20', '--temperature', '0']);
  t.is(r.code, 0, r.stderr);
  const lines = r.stdout.trimEnd().split('\n');
  t.is(new Set(lines).size, 1);
});

test('sample: a missing or invalid model file is exit 1 with the file name', async (t) => {
  const missing = join(dir, 'none.rnnkit');
  const r = await run(['sample', missing]);
  t.is(r.code, EXIT_ERROR);
  t.true(r.stderr.startsWith('rnnkit: '));
  t.true(r.stderr.includes(missing));
  t.false(r.stderr.includes('    at '), 'no stack trace');
  const text = join(dir, 'input.txt');
  const n = await run(['sample', text]);
  t.is(n.code, EXIT_ERROR);
  t.true(n.stderr.includes(text));
});

test('defaultOut: the text file name with .rnnkit, in the working directory', (t) => {
  t.is(defaultOut('data/input.txt'), 'input.rnnkit');
  t.is(defaultOut('/a/b/shakespeare'), 'shakespeare.rnnkit');
  t.is(defaultOut('notes.v2.md'), 'notes.v2.rnnkit');
});

test('oneLine escapes newlines, tabs and backslashes', (t) => {
  t.is(oneLine('a\nb\tc\\d\re'), 'a\\nb\\tc\\\\d\\re');
  t.is(oneLine('plain'), 'plain');
});

// ---- lib/plot.ts ---------------------------------------------------------

test('niceTicks: round steps covering the range', (t) => {
  t.deepEqual(niceTicks(0.13, 2.71), { min: 0, max: 3, step: 1, values: [0, 1, 2, 3] });
  t.deepEqual(niceTicks(3.1, 4.6).values, [3, 3.5, 4, 4.5, 5]);
  const a = niceTicks(1, 15, 6);
  t.is(a.min, 0);
  t.true(a.max >= 15);
  t.true([1, 2, 5].includes(a.step / 10 ** Math.floor(Math.log10(a.step))));
  // binary noise rounded away
  t.deepEqual(niceTicks(0.1, 0.7).values, [0, 0.2, 0.4, 0.6, 0.8]); // not 0.6000000000000001
  // zero-width, reversed and non-finite ranges
  const z = niceTicks(2, 2);
  t.true(z.min < 2 && z.max > 2);
  t.deepEqual(niceTicks(0, 0).values.length > 1, true);
  t.deepEqual(niceTicks(5, 1), niceTicks(1, 5));
  t.deepEqual(niceTicks(NaN, 3), niceTicks(0, 1));
});

test('lineChartSvg: a single point is a marker, NaN points are dropped, no data is an empty chart', (t) => {
  const one = lineChartSvg({ title: 't', xLabel: 'x', yLabel: 'y', series: [{ label: 's', points: [{ x: 1, y: 2 }] }] });
  assertWellFormedSvg(t, one);
  t.regex(one, /<circle /);
  t.notRegex(one, /<polyline /);
  const nan = lineChartSvg({
    title: 't',
    xLabel: 'x',
    yLabel: 'y',
    series: [
      {
        label: 's',
        points: [
          { x: 0, y: 1 },
          { x: 1, y: NaN },
          { x: 2, y: Infinity },
          { x: 3, y: 0.5 },
        ],
      },
    ],
  });
  assertWellFormedSvg(t, nan);
  t.is([...nan.matchAll(/points="([^"]*)"/g)][0]![1]!.split(' ').length, 2);
  const none = lineChartSvg({ title: 'a < b & "c"', xLabel: 'x', yLabel: 'y', series: [{ label: 's', points: [] }] });
  t.true(none.startsWith('<svg'));
  t.notRegex(none, /NaN/);
  t.regex(none, /no data/);
  t.regex(none, /a &#60; b &#38; &#34;c&#34;/, 'title escaped');
});

test('lossCurveSvg: batches placed at fractional epochs, long runs bucketed', (t) => {
  const batches = Array.from({ length: 5000 }, (_, i) => ({ epoch: Math.floor(i / 1000), batch: i % 1000, loss: 3 / (1 + i / 500) }));
  const epochs = [0, 1, 2, 3, 4].map((e) => ({ epoch: e, loss: 3 / (1 + e), valLoss: 3.2 / (1 + e) }));
  const svg = lossCurveSvg({ title: 'run', batches, batchesPerEpoch: 1000, epochs });
  assertWellFormedSvg(t, svg);
  const lines = [...svg.matchAll(/points="([^"]*)"/g)].map((m) => m[1]!.split(' ').length);
  t.deepEqual(lines, [1000, 5, 5]);
  t.true(svg.length < 100_000);
  // an epoch stopped early is drawn at its last batch, not at the epoch's end
  const stopped = lossCurveSvg({
    title: 'stopped',
    batches: [
      { epoch: 0, batch: 0, loss: 2 },
      { epoch: 0, batch: 1, loss: 1.5 },
    ],
    batchesPerEpoch: 4,
    epochs: [{ epoch: 0, loss: 1.75, valLoss: 1.8 }],
  });
  const lastX = /points="[^"]* ([\d.]+),[\d.]+"/.exec(stopped)![1];
  const markers = [...stopped.matchAll(/<circle cx="([\d.]+)"/g)].map((m) => m[1]);
  t.deepEqual(markers, [lastX, lastX]);
});

// ---- the built program -----------------------------------------------------

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = join(root, 'dist', 'cli.js');
const built = existsSync(dist) ? test : test.skip;
const exec = promisify(execFile);

built('dist/cli.js runs as a program, directly and through a symlink (npm bin)', async (t) => {
  const direct = await exec(process.execPath, [dist, '--help']);
  t.regex(direct.stdout, /Usage: rnnkit/);
  t.true((await readFile(dist, 'utf8')).startsWith('#!/usr/bin/env node\n'));
  const link = join(dir, 'rnnkit');
  await symlink(dist, link);
  const viaLink = await exec(process.execPath, [link, 'sample', model, '--n', '2', '--max-length', '10']);
  t.is(viaLink.stdout.trimEnd().split('\n').length, 2);
  const err = await exec(process.execPath, [dist, 'train', join(dir, 'missing.txt')]).catch((e: { code: number; stderr: string }) => e);
  t.is((err as { code: number }).code, 1);
  t.regex((err as { stderr: string }).stderr, /^rnnkit: cannot read '.*missing\.txt': no such file \(ENOENT\)\n$/);
  const usage = await exec(process.execPath, [dist, 'train', 'x.txt', '--units', 'many']).catch((e: { code: number }) => e);
  t.is((usage as { code: number }).code, 2);
});
