// Scaling training out to PyTorch: export-torch packages (lib/io/torch-package.ts), the
// binary token files, train.py (templates/train.py) under torchrun, and the way back.
// The tests that run PyTorch need Debian's python3-torch (/usr/bin/python3, /usr/bin/torchrun)
// and are skipped, with the reason in their title, where it is missing.
import test from 'ava';
import { execFile, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { main } from '../lib/cli.js';
import {
  CharTokenizer,
  exportTorch,
  generateText,
  importTorch,
  layers,
  load,
  loadSafetensors,
  readTorchPackage,
  RnnkitError,
  runTorchTraining,
  sequential,
  windowRows,
  type ExportTorchOptions,
  type LayerInput,
  type Model,
} from '../lib/index.js';
import { writeDirectoryAtomic } from '../lib/io/atomic.js';
import { decodeTokenFile, encodeTokenFile, tokenizerCrc } from '../lib/io/token-file.js';

const run = promisify(execFile);
const PYTHON = '/usr/bin/python3';
const hasTorch =
  spawnSync(PYTHON, ['-c', 'import torch, numpy, torch.distributed as d; assert d.is_gloo_available()'], {
    stdio: 'ignore',
    timeout: 60_000,
  }).status === 0;
const hasTorchrun = hasTorch && spawnSync('torchrun', ['--help'], { stdio: 'ignore', timeout: 60_000 }).status === 0;
const hasPython = spawnSync(PYTHON, ['-c', 'pass'], { stdio: 'ignore' }).status === 0;
const withTorch = hasTorch ? test.serial : test.skip;
const withTorchrun = hasTorchrun ? test.serial : test.skip;
const NEEDS = '(needs python3-torch: apt-get install -y python3-torch)';

const SUBJECTS = ['the cat', 'a dog', 'the old man', 'my sister', 'the bird'];
const VERBS = ['sat on', 'looked at', 'ran to', 'jumped over', 'sang to'];
const OBJECTS = ['the mat', 'a tree', 'the river', 'the red house', 'a small boat'];
const TEXT =
  Array.from({ length: 60 }, (_, i) => `${SUBJECTS[i % 5]} ${VERBS[(i * 3) % 5]} ${OBJECTS[(i * 7 + 1) % 5]}.`).join('\n') + '\n';
const TOK = CharTokenizer.fromText(TEXT);

function lm(stack: LayerInput[], extra: { reduction?: 'mean' | 'sum'; seed?: number } = {}): Model {
  const model = sequential({
    input: { vocabSize: TOK.size },
    layers: [...stack, layers.dense({ units: TOK.size })],
    seed: extra.seed ?? 7,
    ...(extra.reduction ? { reduction: extra.reduction } : {}),
  });
  model.tokenizer = TOK;
  return model;
}

async function tmp(t: { teardown(fn: () => unknown): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'rnnkit-scale-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function cli(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) } });
  return { code, stdout, stderr };
}

/** Runs a package's train.py in one process (no torchrun); never rejects. */
async function trainPy(python: string[], pkg: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const [program, ...pre] = python as [string, ...string[]];
  try {
    // one torch thread: other test files run at the same time on a small machine
    const env = { ...process.env, OMP_NUM_THREADS: '1' };
    const { stdout, stderr } = await run(program, [...pre, join(pkg, 'train.py'), ...args], { timeout: 120_000, env });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

// ---------------------------------------------------------------- the package (no torch needed)

test('exportTorch writes a complete package whose files read back to the tokenizer and data', async (t) => {
  const dir = await tmp(t);
  const model = lm([layers.lstm({ units: 8 })]);
  t.teardown(() => model.dispose());
  model.epoch = 2;
  const out = join(dir, 'pkg');
  const manifest = await exportTorch(model, [TEXT.slice(0, 800), TEXT.slice(800)], { out, seqLen: 16, batchSize: 4, validationShare: 0.1 });
  t.deepEqual((await readdir(out)).sort(), ['init.safetensors', 'manifest.json', 'tokenizer.json', 'train.bin', 'train.py', 'val.bin']);
  t.deepEqual((await readdir(dir)).sort(), ['pkg'], 'no temporary directory is left beside it');
  t.is(manifest.training.startEpoch, 2);
  t.is(manifest.training.optimizer.type, 'adam');
  t.is(manifest.training.optimizer.lr, 2e-3);
  t.is(manifest.training.clipNorm, 5);
  // the two texts joined with <eos>, the last 10% held out
  const ids = new Int32Array([...TOK.encode(TEXT.slice(0, 800)), TOK.eosId, ...TOK.encode(TEXT.slice(800))]);
  const held = Math.floor(ids.length * 0.1);
  t.is(manifest.data.train.tokens, ids.length - held);
  t.is(manifest.data.validation?.tokens, held);
  const pkg = await readTorchPackage(out);
  t.deepEqual(pkg.tokenizer.toJSON(), TOK.toJSON());
  t.deepEqual(pkg.train, windowRows(ids.subarray(0, ids.length - held), 16));
  t.deepEqual(pkg.validation, windowRows(ids.subarray(ids.length - held), 16));
  t.deepEqual(pkg.fitOptions, {
    epochs: 1,
    batchSize: 4,
    optimizer: { type: 'adam', lr: 2e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 },
    clipNorm: 5,
    seed: 7,
  });
  // the weights file is the model's safetensors: it loads back into the same model
  const back = await loadSafetensors(join(out, 'init.safetensors'));
  t.teardown(() => back.dispose());
  t.deepEqual(back.getWeights(), model.getWeights());
});

test('windowRows cuts consecutive windows, each target one token later; the tail that fills no window is left out', (t) => {
  const rows = windowRows(Int32Array.of(5, 6, 7, 8, 9, 10), 2);
  t.deepEqual(rows.inputs, { data: Int32Array.of(5, 6, 7, 8), shape: [2, 2] });
  t.deepEqual(rows.targets, { data: Int32Array.of(6, 7, 8, 9), shape: [2, 2] });
  t.throws(() => windowRows(Int32Array.of(1, 2), 0), { instanceOf: RangeError, message: /for seqLen/ });
});

test('token files: a round trip, and every kind of mismatch or damage is an ERR_TORCH_PACKAGE naming the file', (t) => {
  const ids = Int32Array.of(4, 5, 6, 7);
  const bytes = encodeTokenFile(ids, 10, 0xdeadbeef);
  t.deepEqual(decodeTokenFile(bytes, 'f.bin', 10, 0xdeadbeef), ids);
  const cases: [string, Uint8Array, number, number, RegExp][] = [
    ['another vocabulary', bytes, 11, 0xdeadbeef, /vocabulary of 10 tokens but the model has 11/],
    ['another tokenizer', bytes, 10, 0x12345678, /another tokenizer \(CRC-32 deadbeef, tokenizer.json has 12345678\)/],
    ['truncated', bytes.subarray(0, bytes.length - 2), 10, 0xdeadbeef, /should hold 4 tokens .* truncated/],
    ['not a token file', Buffer.from('hello world, this is not a token file at all'), 10, 0xdeadbeef, /not an rnnkit token file/],
    [
      'an id out of range',
      encodeTokenFile(Int32Array.of(4, 12), 10, 0xdeadbeef),
      10,
      0xdeadbeef,
      /token id 12 at position 1, outside \[0, 10\)/,
    ],
  ];
  for (const [what, b, vocab, crc, message] of cases) {
    const err = t.throws(() => decodeTokenFile(b, 'f.bin', vocab, crc), { instanceOf: RnnkitError, message }, what);
    t.is((err as RnnkitError).code, 'ERR_TORCH_PACKAGE');
    t.regex(err!.message, /'f\.bin'/);
  }
  t.is(tokenizerCrc(Buffer.from('123456789')), 0xcbf43926, 'CRC-32 check value (zlib, Python zlib.crc32)');
});

test('layers torch.nn has no module for are refused naming the layer, and nothing is written', async (t) => {
  const dir = await tmp(t);
  const cases: [LayerInput[], number, RegExp][] = [
    [[layers.lstm({ units: 4, peephole: true })], 0, /an LSTM with diagonal peepholes/],
    [[layers.lstm({ units: 4 }), layers.lstm({ units: 4, peephole: 'full' })], 1, /an LSTM with full peepholes/],
    [[layers.gru({ units: 4, variant: 'minimal' })], 0, /the minimal GRU/],
    [[layers.gru({ units: 4, resetAfter: false })], 0, /resetAfter false/],
  ];
  for (const [stack, i, message] of cases) {
    const model = lm(stack);
    t.teardown(() => model.dispose());
    const err = await t.throwsAsync(exportTorch(model, TEXT, { out: join(dir, 'pkg') }), { instanceOf: RangeError });
    t.regex(
      err!.message,
      new RegExp(`^Expected a layer torch\\.nn has a module for .* for model\\.config\\.layers\\[${i}\\] but received `),
    );
    t.regex(err!.message, message);
  }
  t.deepEqual(await readdir(dir), []);
});

test('data that does not match the tokenizer, too little data, a model without tokenizer and bad options are clear errors', async (t) => {
  const dir = await tmp(t);
  const out = join(dir, 'pkg');
  const model = lm([layers.gru({ units: 4 })]);
  t.teardown(() => model.dispose());
  await t.throwsAsync(exportTorch(model, 'Съешь же ещё этих мягких французских булок', { out }), {
    instanceOf: RangeError,
    message:
      /^Expected text the model's tokenizer covers \(at most 5\.0% <unk> tokens, options\.maxUnknown\) for texts but received \d+ of \d+ tokens unknown .*data and tokenizer do not match/,
  });
  await t.throwsAsync(exportTorch(model, 'the cat', { out, seqLen: 16 }), {
    instanceOf: RangeError,
    message: /at least 17 tokens to train on .* for texts but received 7 tokens/,
  });
  await t.throwsAsync(exportTorch(model, TEXT, { out, seqLen: 0 }), {
    instanceOf: RangeError,
    message: /for options\.seqLen but received number 0/,
  });
  await t.throwsAsync(exportTorch(model, TEXT, { out, optimizer: { type: 'adam', lr: -1 } }), {
    instanceOf: RangeError,
    message: /for options\.optimizer\.lr/,
  });
  await t.throwsAsync(exportTorch(model, [TEXT, 3] as unknown as string[], { out }), {
    instanceOf: TypeError,
    message: /for texts\[1\] but received number 3/,
  });
  await t.throwsAsync(exportTorch({} as Model, TEXT, { out }), { instanceOf: TypeError, message: /for model but received object/ });
  const bare = sequential({ input: { vocabSize: TOK.size }, layers: [layers.rnn({ units: 4 }), layers.dense({ units: TOK.size })] });
  t.teardown(() => bare.dispose());
  await t.throwsAsync(exportTorch(bare, TEXT, { out }), { instanceOf: RangeError, message: /for model\.tokenizer but received undefined/ });
  const features = sequential({ input: { features: 3 }, layers: [layers.rnn({ units: 4 })], loss: 'mse' });
  t.teardown(() => features.dispose());
  await t.throwsAsync(exportTorch(features, TEXT, { out }), {
    instanceOf: RangeError,
    message: /Expected a language model .* for model\.config/,
  });
  t.deepEqual(await readdir(dir), [], 'nothing was written');
});

test('the output directory appears atomically: an existing one is refused untouched, a missing parent leaves nothing', async (t) => {
  const dir = await tmp(t);
  const model = lm([layers.rnn({ units: 4 })]);
  t.teardown(() => model.dispose());
  const out = join(dir, 'pkg');
  await mkdir(out);
  await writeFile(join(out, 'mine.txt'), 'keep me');
  const err = await t.throwsAsync(exportTorch(model, TEXT, { out }), {
    instanceOf: RnnkitError,
    message: /Cannot write '.*pkg': it already exists/,
  });
  t.is((err as RnnkitError).code, 'ERR_TORCH_PACKAGE');
  t.deepEqual(await readdir(out), ['mine.txt']);
  t.deepEqual((await readdir(dir)).sort(), ['pkg'], 'no temporary directory is left');
  await t.throwsAsync(exportTorch(model, TEXT, { out: join(dir, 'no', 'such', 'pkg') }), { instanceOf: RnnkitError, message: /ENOENT/ });
  t.deepEqual((await readdir(dir)).sort(), ['pkg']);
  // the helper itself: the files are complete, the temporary directory is gone
  await writeDirectoryAtomic(join(dir, 'two'), { a: Buffer.from('x'), b: new Uint8Array([1, 2]) });
  t.deepEqual((await readdir(dir)).sort(), ['pkg', 'two']);
  t.deepEqual([...(await readFile(join(dir, 'two', 'b')))], [1, 2]);
  await t.throwsAsync(writeDirectoryAtomic(join(dir, 'three'), { '../x': Buffer.from('') }), {
    instanceOf: TypeError,
    message: /a plain file name for files/,
  });
  t.false(existsSync(join(dir, 'three')));
});

test('a damaged package or output directory is a clear error on read and import', async (t) => {
  const dir = await tmp(t);
  const model = lm([layers.gru({ units: 4 })]);
  t.teardown(() => model.dispose());
  const pkg = join(dir, 'pkg');
  await exportTorch(model, TEXT, { out: pkg, seqLen: 16 });
  const code = (p: Promise<unknown>) =>
    p.then(
      () => 'ok',
      (e: RnnkitError) => `${e.code}: ${e.message}`,
    );
  t.regex(await code(readTorchPackage(join(dir, 'missing'))), /^ERR_TORCH_PACKAGE: '.*missing' is not a directory/);
  t.regex(await code(importTorch(pkg)), /^ERR_TORCH_PACKAGE: '.*pkg' is an export package, not train\.py's output/);
  await truncate(join(pkg, 'train.bin'), 100);
  t.regex(
    await code(readTorchPackage(pkg)),
    /^ERR_TORCH_PACKAGE: Token file '.*train\.bin' should hold \d+ tokens .* truncated or damaged/,
  );
  const manifest = JSON.parse(await readFile(join(pkg, 'manifest.json'), 'utf8')) as { data: { seqLen: unknown }; weights: string };
  manifest.data.seqLen = 'sixteen';
  await writeFile(join(pkg, 'manifest.json'), JSON.stringify(manifest));
  t.regex(
    await code(readTorchPackage(pkg)),
    /^ERR_TORCH_PACKAGE: '.*manifest\.json' has no valid data\.seqLen \(an integer >= 1\): damaged\?/,
  );
  manifest.data.seqLen = 16;
  manifest.weights = '../../etc/passwd';
  await writeFile(join(pkg, 'manifest.json'), JSON.stringify(manifest));
  t.regex(await code(readTorchPackage(pkg)), /^ERR_TORCH_PACKAGE: '.*manifest\.json' has no valid weights \(a file name in the package\)/);
  await writeFile(join(pkg, 'manifest.json'), '{"format": "rnnkit-torch-pack');
  t.regex(await code(readTorchPackage(pkg)), /^ERR_TORCH_PACKAGE: '.*manifest\.json' is not valid JSON/);
  await rm(join(pkg, 'manifest.json'));
  t.regex(await code(readTorchPackage(pkg)), /^ERR_TORCH_PACKAGE: Cannot read '.*manifest\.json': no such file/);

  // an output directory like train.py's, then damaged
  const trained = join(dir, 'trained');
  await mkdir(trained);
  await model.saveSafetensors(join(trained, 'model.safetensors'));
  await writeFile(join(trained, 'result.json'), JSON.stringify({ format: 'rnnkit-torch-result', version: 1, endEpoch: 3, history: [] }));
  const { model: back } = await importTorch(trained);
  t.teardown(() => back.dispose());
  t.is(back.epoch, 3);
  t.deepEqual(back.getWeights(), model.getWeights());
  await writeFile(join(trained, 'result.json'), '[]');
  t.regex(await code(importTorch(trained)), /^ERR_TORCH_PACKAGE: '.*result\.json' is not a JSON object/);
  await writeFile(join(trained, 'result.json'), JSON.stringify({ format: 'something else', endEpoch: 1, history: [] }));
  t.regex(await code(importTorch(trained)), /^ERR_TORCH_PACKAGE: '.*result\.json' is not train\.py's result/);
  await writeFile(join(trained, 'result.json'), JSON.stringify({ format: 'rnnkit-torch-result', version: 1, endEpoch: 3, history: [] }));
  await truncate(join(trained, 'model.safetensors'), 300);
  t.regex(await code(importTorch(trained)), /^ERR_SAFETENSORS: .*model\.safetensors/);
  await rm(join(trained, 'model.safetensors'));
  t.regex(await code(importTorch(trained)), /^ERR_SAFETENSORS: Cannot read safetensors file '.*model\.safetensors': no such file/);
  await t.throwsAsync(importTorch(3 as unknown as string), { instanceOf: TypeError, message: /for dir but received number 3/ });
});

test('CLI: export-torch and import-torch report bad input with exit codes 1 (runtime) and 2 (usage)', async (t) => {
  const dir = await tmp(t);
  const model = lm([layers.lstm({ units: 4, peephole: true })]);
  t.teardown(() => model.dispose());
  await model.save(join(dir, 'peep.rnnkit'));
  await writeFile(join(dir, 'input.txt'), TEXT);
  let r = await cli(['export-torch', join(dir, 'peep.rnnkit'), '--data', join(dir, 'input.txt'), '--out', join(dir, 'pkg')]);
  t.is(r.code, 1);
  t.regex(
    r.stderr,
    /^rnnkit: Expected a layer torch\.nn has a module for .* for model\.config\.layers\[0\] but received an LSTM with diagonal peepholes/,
  );
  r = await cli(['export-torch', join(dir, 'peep.rnnkit'), '--out', join(dir, 'pkg')]);
  t.is(r.code, 2);
  t.regex(r.stderr, /required option '--data <path>' not specified/);
  r = await cli(['export-torch', join(dir, 'peep.rnnkit'), '--data', join(dir, 'nothing'), '--out', join(dir, 'pkg')]);
  t.is(r.code, 1);
  t.regex(r.stderr, /cannot read '.*nothing': no such file or directory/);
  r = await cli(['import-torch', join(dir, 'nothing')]);
  t.is(r.code, 1);
  t.regex(r.stderr, /^rnnkit: '.*nothing' is not a directory/);
  t.deepEqual((await readdir(dir)).sort(), ['input.txt', 'peep.rnnkit']);
});

test('CLI: export-torch takes a directory of texts, one document per file', async (t) => {
  const dir = await tmp(t);
  const model = lm([layers.rnn({ units: 4 })]);
  t.teardown(() => model.dispose());
  await model.save(join(dir, 'm.rnnkit'));
  await mkdir(join(dir, 'corpus'));
  await writeFile(join(dir, 'corpus', 'b.txt'), TEXT.slice(600));
  await writeFile(join(dir, 'corpus', 'a.txt'), TEXT.slice(0, 600));
  await writeFile(join(dir, 'corpus', '.hidden'), 'ЖЖЖЖЖЖ');
  const r = await cli([
    'export-torch',
    join(dir, 'm.rnnkit'),
    '--data',
    join(dir, 'corpus'),
    '--out',
    join(dir, 'pkg'),
    '--seq-len',
    '8',
    '--validation-share',
    '0',
  ]);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /wrote .*pkg: .* 0 unknown tokens\nnext:\n {2}torchrun --standalone --nproc_per_node=2 .*train\.py/);
  const pkg = await readTorchPackage(join(dir, 'pkg'));
  const ids = new Int32Array([...TOK.encode(TEXT.slice(0, 600)), TOK.eosId, ...TOK.encode(TEXT.slice(600))]);
  t.deepEqual(pkg.train, windowRows(ids, 8), 'a.txt, <eos>, b.txt; the hidden file is skipped');
  t.is(pkg.validation, undefined);
});

// ---------------------------------------------------------------- launching torch (no torch needed to fail)

test('runTorchTraining: a run past options.timeoutMs is stopped and rejects with ERR_TORCH; a bad timeoutMs is a RangeError', async (t) => {
  const started = performance.now();
  const err = await t.throwsAsync(runTorchTraining('pkg', { torchrun: ['/bin/sh', '-c', 'exec sleep 30'], timeoutMs: 300 }), {
    instanceOf: RnnkitError,
  });
  t.is((err as RnnkitError).code, 'ERR_TORCH');
  t.regex(err!.message, /did not finish within options\.timeoutMs \(300 ms\) and was stopped/);
  t.true(performance.now() - started < 20_000, 'stopped, not waited out');
  await t.throwsAsync(runTorchTraining('pkg', { timeoutMs: -1 }), { instanceOf: RangeError, message: /for options\.timeoutMs/ });
});

test('runTorchTraining: a missing torchrun is an ERR_TORCH that says what to install', async (t) => {
  const err = await t.throwsAsync(runTorchTraining('pkg', { torchrun: '/nonexistent/torchrun' }), { instanceOf: RnnkitError });
  t.is((err as RnnkitError).code, 'ERR_TORCH');
  t.regex(
    err!.message,
    /^torchrun is missing: '\/nonexistent\/torchrun' was not found; install PyTorch \(Debian\/Ubuntu: apt-get install -y python3-torch/,
  );
  const r = await cli(['train-torch', 'pkg', '--torchrun', '/nonexistent/torchrun']);
  t.is(r.code, 1);
  t.regex(r.stderr, /^rnnkit: torchrun is missing/);
  await t.throwsAsync(runTorchTraining('pkg', { nprocPerNode: 0 }), { instanceOf: RangeError, message: /for options\.nprocPerNode/ });
});

(hasPython ? test : test.skip)(
  'a Python without PyTorch: train.py exits 3 and runTorchTraining says PyTorch is missing (needs /usr/bin/python3)',
  async (t) => {
    const dir = await tmp(t);
    const model = lm([layers.rnn({ units: 4 })]);
    t.teardown(() => model.dispose());
    const pkg = join(dir, 'pkg');
    await exportTorch(model, TEXT, { out: pkg, seqLen: 16 });
    // -S: no site-packages, so no torch, whether or not this machine has it
    const r = await trainPy([PYTHON, '-S'], pkg, ['--out', join(dir, 'out')]);
    t.is(r.code, 3);
    t.regex(r.stderr, /train\.py: PyTorch is not installed for .*\nInstall it: Debian\/Ubuntu `apt-get install -y python3-torch`/);
    const err = await t.throwsAsync(runTorchTraining(pkg, { torchrun: [PYTHON, '-S', '-m', 'torch.distributed.run'] }), {
      instanceOf: RnnkitError,
    });
    t.is((err as RnnkitError).code, 'ERR_TORCH');
    t.regex(err!.message, /^PyTorch is not installed for '\/usr\/bin\/python3'/);
    t.false(existsSync(join(dir, 'out')));
  },
);

// ---------------------------------------------------------------- PyTorch

/** Per-step losses of train.py (one process) and of rnnkit's fit on the package's rows with its fit options. */
async function parity(
  t: { teardown(fn: () => unknown): void },
  model: Model,
  exportOptions: Omit<ExportTorchOptions, 'out'>,
  steps: number,
) {
  const dir = await tmp(t);
  const pkg = join(dir, 'pkg');
  await exportTorch(model, TEXT, { ...exportOptions, out: pkg });
  const read = await readTorchPackage(pkg);
  const r = await trainPy([PYTHON], pkg, ['--max-steps', String(steps), '--step-log', join(dir, 'steps.jsonl'), '--out', join(dir, 'out')]);
  if (r.code !== 0) throw new Error(`train.py exited ${r.code}: ${r.stderr}`);
  const torch = (await readFile(join(dir, 'steps.jsonl'), 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { epoch: number; loss: number });
  const history = await model.fit(read.train, read.fitOptions);
  const rnnkit = history.batches.slice(0, steps);
  return { torch, rnnkit, dir };
}

function maxRelative(a: readonly { loss: number }[], b: readonly { loss: number }[]): number {
  return Math.max(...a.map((x, i) => Math.abs(x.loss - b[i]!.loss) / Math.abs(b[i]!.loss)));
}

withTorch(
  `parity: train.py and fit give the same 20 per-step losses within 1e-4 (Adam, clip norm, shuffled over 2 epochs, LSTM + bidirectional GRU) ${NEEDS}`,
  async (t) => {
    const model = lm([layers.lstm({ units: 12 }), layers.gru({ units: 8, bidirectional: true })]);
    t.teardown(() => model.dispose());
    model.epoch = 3; // the row order of epochs 3 and 4: train.py starts where the model's counter is
    // TEXT is 54 windows of 32 characters: 14 steps of 4 rows per epoch, so 20 steps cross into the second epoch
    const { torch, rnnkit } = await parity(
      t,
      model,
      { seqLen: 32, batchSize: 4, epochs: 2, clipNorm: 0.5, optimizer: { type: 'adam', lr: 1e-2 }, validationShare: 0 },
      20,
    );
    t.is(torch.length, 20);
    t.is(rnnkit.length, 20);
    t.deepEqual([...new Set(torch.map((s) => s.epoch))], [3, 4]);
    t.deepEqual(
      torch.map((s) => s.epoch),
      rnnkit.map((s) => s.epoch),
    );
    const rel = maxRelative(torch, rnnkit);
    t.log(
      `max relative difference over 20 steps: ${rel.toExponential(2)}; loss ${rnnkit[0]!.loss.toFixed(4)} -> ${rnnkit[19]!.loss.toFixed(4)}`,
    );
    t.true(rel < 1e-4, `max relative difference ${rel}`);
    t.true(rnnkit[19]!.loss < rnnkit[0]!.loss - 0.1, 'the steps trained');
  },
);

withTorch(`parity: SGD with Nesterov momentum, clip by value, a summed loss and a ReLU RNN, 20 steps within 1e-4 ${NEEDS}`, async (t) => {
  const model = lm([layers.rnn({ units: 16, activation: 'relu' })], { reduction: 'sum' });
  t.teardown(() => model.dispose());
  const { torch, rnnkit } = await parity(
    t,
    model,
    {
      seqLen: 16,
      batchSize: 8,
      epochs: 3,
      clipValue: 0.05,
      clipNorm: 0,
      optimizer: { type: 'sgd', lr: 2e-3, momentum: 0.9, nesterov: true },
      validationShare: 0,
    },
    20,
  );
  t.is(torch.length, 20);
  const rel = maxRelative(torch, rnnkit);
  t.log(
    `max relative difference over 20 steps: ${rel.toExponential(2)}; loss ${rnnkit[0]!.loss.toFixed(4)} -> ${rnnkit[19]!.loss.toFixed(4)}`,
  );
  t.true(rel < 1e-4, `max relative difference ${rel}`);
});

withTorch(
  `parity in float64: AdamW, bidirectional GRU and RNN, a tanh dense layer between, softmax output, 20 steps within 1e-10 ${NEEDS}`,
  async (t) => {
    const model = sequential({
      input: { vocabSize: TOK.size },
      dtype: 'float64',
      seed: 5,
      layers: [
        layers.gru({ units: 8, bidirectional: true }),
        layers.dense({ units: 12, activation: 'tanh' }),
        layers.rnn({ units: 6, bidirectional: true }),
        layers.dense({ units: TOK.size, activation: 'softmax' }),
      ],
    });
    model.tokenizer = TOK;
    t.teardown(() => model.dispose());
    const { torch, rnnkit } = await parity(
      t,
      model,
      { seqLen: 16, batchSize: 4, optimizer: { type: 'adamw', lr: 5e-3 }, validationShare: 0 },
      20,
    );
    t.is(torch.length, 20);
    const rel = maxRelative(torch, rnnkit);
    t.log(`max relative difference over 20 steps (float64): ${rel.toExponential(2)}`);
    t.true(rel < 1e-10, `max relative difference ${rel}`);
  },
);

withTorch(
  `parity: an embedding (padding row, tied output) and a frozen one, through nn.Embedding, 20 steps within 1e-4, and back ${NEEDS}`,
  async (t) => {
    for (const trainable of [true, false]) {
      const model = sequential({
        input: { vocabSize: TOK.size },
        seed: 3,
        layers: [
          layers.embedding({ dim: 10, paddingIdx: TOK.padId, trainable }),
          layers.lstm({ units: 10 }),
          layers.dense({ units: TOK.size, tieEmbedding: trainable }),
        ],
      });
      model.tokenizer = TOK;
      const table = model.getWeights()['layers.0.weight']!;
      const { torch, rnnkit, dir } = await parity(
        t,
        model,
        { seqLen: 16, batchSize: 4, epochs: 2, clipNorm: 1, optimizer: { type: 'adamw', lr: 1e-2, weightDecay: 0.1 }, validationShare: 0 },
        20,
      );
      t.is(torch.length, 20);
      const rel = maxRelative(torch, rnnkit);
      t.log(`trainable ${trainable}: max relative difference over 20 steps ${rel.toExponential(2)}`);
      t.true(rel < 1e-4, `trainable ${trainable}: max relative difference ${rel}`);
      const { model: back } = await importTorch(join(dir, 'out'));
      t.deepEqual(back.weightNames, model.weightNames, 'the tied table comes back once, under the embedding');
      if (!trainable) t.deepEqual(back.getWeights()['layers.0.weight'], table, 'a frozen table comes back as it went');
      back.dispose();
      model.dispose();
    }
  },
);

withTorch(`train.py refuses a damaged package (exit 4, naming the file) and an existing --out (exit 2) ${NEEDS}`, async (t) => {
  const dir = await tmp(t);
  const model = lm([layers.gru({ units: 4 })]);
  t.teardown(() => model.dispose());
  const pkg = join(dir, 'pkg');
  await exportTorch(model, TEXT, { out: pkg, seqLen: 16 });
  // data encoded by another tokenizer: tokenizer.json no longer has the CRC the data files carry
  const other = CharTokenizer.fromText(`${TEXT}XYZ`);
  await writeFile(join(pkg, 'tokenizer.json'), JSON.stringify(other.toJSON()));
  let r = await trainPy([PYTHON], pkg, ['--out', join(dir, 'out')]);
  t.is(r.code, 4, r.stderr);
  t.regex(r.stderr, /train\.py: damaged or inconsistent package: .*train\.bin was encoded with another tokenizer/);
  const err = await t.throwsAsync(
    runTorchTraining(pkg, { torchrun: [PYTHON, '-m', 'torch.distributed.run'], args: ['--out', join(dir, 'out')] }),
    { instanceOf: RnnkitError },
  );
  t.is((err as RnnkitError).code, 'ERR_TORCH_PACKAGE');
  t.regex(err!.message, /^train\.py refused the package: .*train\.bin was encoded with another tokenizer/);
  t.false(existsSync(join(dir, 'out')));
  await writeFile(join(pkg, 'tokenizer.json'), JSON.stringify(TOK.toJSON()));
  const manifest = JSON.parse(await readFile(join(pkg, 'manifest.json'), 'utf8')) as { training: { batchSize: unknown } };
  manifest.training.batchSize = -3;
  await writeFile(join(pkg, 'manifest.json'), JSON.stringify(manifest));
  r = await trainPy([PYTHON], pkg, ['--out', join(dir, 'out')]);
  t.is(r.code, 4, r.stderr);
  t.regex(r.stderr, /manifest\.json has no valid training\.batchSize \(an integer >= 1\): damaged\?/);
  manifest.training.batchSize = 4;
  await writeFile(join(pkg, 'manifest.json'), JSON.stringify(manifest));
  await mkdir(join(dir, 'out'));
  r = await trainPy([PYTHON], pkg, ['--out', join(dir, 'out')]);
  t.is(r.code, 2);
  t.regex(r.stderr, /--out .*out already exists/);
});

withTorchrun(
  `torchrun --standalone --nproc_per_node=2 (gloo) trains the package as fit does with twice the batch; the result imports into rnnkit and samples text ${NEEDS}`,
  async (t) => {
    const dir = await tmp(t);
    const model = lm([layers.lstm({ units: 16 }), layers.lstm({ units: 16 })]);
    t.teardown(() => model.dispose());
    await model.save(join(dir, 'start.rnnkit'));
    await writeFile(join(dir, 'input.txt'), TEXT);
    let r = await cli([
      'export-torch',
      join(dir, 'start.rnnkit'),
      '--data',
      join(dir, 'input.txt'),
      '--out',
      join(dir, 'pkg'),
      '--seq-len',
      '16',
      '--batch-size',
      '8',
    ]);
    t.is(r.code, 0, r.stderr);
    const started = performance.now();
    const steps = join(dir, 'steps.jsonl');
    const { stdout } = await runTorchTraining(join(dir, 'pkg'), {
      nprocPerNode: 2,
      args: ['--epochs', '2', '--lr', '0.01', '--step-log', steps, '--out', join(dir, 'trained')],
      timeoutMs: 100_000, // a hung rank fails this test instead of stalling the suite (5-28 s seen)
    });
    t.log(`torchrun, 2 processes: ${((performance.now() - started) / 1e3).toFixed(1)} s`);
    t.regex(stdout, /2 processes \(gloo on cpu\)/);
    t.regex(stdout, /epoch 1\/2 {2}loss \d+\.\d+ {2}val \d+\.\d+/);
    t.regex(stdout, /epoch 2\/2 {2}loss \d+\.\d+/);
    const { model: trained, result } = await importTorch(join(dir, 'trained'));
    t.teardown(() => trained.dispose());
    t.is(result.worldSize, 2);
    t.is(result.backend, 'gloo');
    t.is(result.history.length, 2);
    t.is(trained.epoch, 2);
    t.true(result.history[1]!.loss < result.history[0]!.loss, 'the loss went down');
    t.notDeepEqual(trained.getWeights(), model.getWeights(), 'the weights changed');
    // 2 processes x 8 rows = fit with batches of 16: process k takes rows k, k+2, ... of the same
    // order, and DDP averages the two batches' gradients (98 rows: no padding)
    const pkg = await readTorchPackage(join(dir, 'pkg'));
    t.is(pkg.manifest.data.train.windows, 98);
    const history = await model.fit(pkg.train, { ...pkg.fitOptions, epochs: 2, batchSize: 16, optimizer: { type: 'adam', lr: 0.01 } });
    const torchSteps = (await readFile(steps, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { loss: number; tokens: number });
    t.is(torchSteps.length, 14);
    t.deepEqual(
      torchSteps.map((s) => s.tokens),
      history.batches.map((b) => b.tokens),
    );
    const rel = maxRelative(torchSteps, history.batches);
    t.log(`DDP (2 x 8 rows) vs fit (16 rows), 14 steps: max relative difference ${rel.toExponential(2)}`);
    t.true(rel < 1e-4, `max relative difference ${rel}`);
    t.true(Math.abs(history.epochs[1]!.loss - result.history[1]!.loss) < 1e-4 * history.epochs[1]!.loss, 'the epoch losses agree');
    const mine = model.getWeights();
    const theirs = trained.getWeights();
    const weightDiff = Math.max(
      ...Object.keys(mine).map((k) => Math.max(...mine[k]!.data.map((v, i) => Math.abs(v - theirs[k]!.data[i]!)))),
    );
    t.log(`weights after 14 steps, torch DDP vs rnnkit fit: max abs difference ${weightDiff.toExponential(2)}`);
    t.true(weightDiff < 1e-4);
    // torch's loss on the validation rows is what rnnkit computes with the imported weights
    const ev = await trained.evaluate(pkg.validation!);
    t.true(Math.abs(ev.loss - result.history[1]!.valLoss!) < 1e-4 * ev.loss, `rnnkit ${ev.loss} vs torch ${result.history[1]!.valLoss}`);
    const [text] = await generateText(trained, trained.tokenizer!, { maxLength: 60, seed: 1 });
    t.true(typeof text === 'string' && text.length > 0);
    // the CLI way back: import-torch, then sample
    r = await cli(['import-torch', join(dir, 'trained'), '--out', join(dir, 'trained.rnnkit')]);
    t.is(r.code, 0, r.stderr);
    t.regex(r.stdout, /trained by torch .* on 2 processes \(gloo, cpu\), 2 epochs/);
    const saved = await load(join(dir, 'trained.rnnkit'));
    t.teardown(() => saved.dispose());
    t.deepEqual(saved.getWeights(), trained.getWeights());
    r = await cli(['sample', join(dir, 'trained.rnnkit'), '-n', '3', '--max-length', '40']);
    t.is(r.code, 0, r.stderr);
    t.is(r.stdout.split('\n').filter((l) => l.length > 0).length, 3);
  },
);
