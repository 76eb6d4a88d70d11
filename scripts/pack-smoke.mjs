// The user's first program, run by scripts/pack-test.sh from an empty project where the
// packed tarball was installed, with the system OpenBLAS and the compilers hidden and
// PREBUILDS_ONLY=1: imports 'rnnkit' by package name, trains a small char-level LSTM for a
// few steps (the loss must go down), samples text and prints info().
// Plain ESM JavaScript on purpose: it runs against dist/ as published, without tsx.
// Exits 1 with "pack-smoke: FAIL: ..." on any failure.
const t0 = performance.now();
const ms = (from) => `${Math.round(performance.now() - from)} ms`;
function fail(what, err) {
  console.error(`pack-smoke: FAIL: ${what}${err ? `\n${err.stack ?? err}` : ''}`);
  process.exit(1);
}
process.on('unhandledRejection', (err) => fail('unexpected error', err));
process.on('uncaughtException', (err) => fail('unexpected error', err));

let rnnkit;
try {
  rnnkit = await import('rnnkit');
  rnnkit.info(); // loads the native binary
} catch (err) {
  fail("load: import('rnnkit') or loading its native binary failed", err);
}
const info = rnnkit.info();
console.log(`pack-smoke: loaded in ${ms(t0)}: ${info.binary}`);
if (!info.blasStatic) fail(`the loaded binary does not link OpenBLAS statically (info().blasStatic false): ${info.binary}`);
if (!/[/\\]node_modules[/\\]rnnkit[/\\]prebuilds[/\\]/.test(info.binary)) fail(`not the shipped prebuild: ${info.binary}`);

const { CharTokenizer, generateText, languageModelData, layers, sequential } = rnnkit;
const text = [
  'the quick brown fox jumps over the lazy dog',
  'a stitch in time saves nine',
  'all that glitters is not gold',
  'the early bird catches the worm',
  'where there is smoke there is fire',
  'actions speak louder than words',
];
const tok = CharTokenizer.fromText(text);
const data = languageModelData(
  text.map((s) => tok.encode(s)),
  { bos: tok.bosId, eos: tok.eosId },
);
const model = sequential({
  input: { vocabSize: tok.size },
  layers: [layers.lstm({ units: 48 }), layers.dense({ units: tok.size })],
  seed: 1,
});
model.tokenizer = tok;

const t1 = performance.now();
const history = await model.fit(data, { epochs: 100, batchSize: 6, optimizer: { type: 'adam', lr: 1e-2 }, clipNorm: 5, shuffle: false });
const losses = history.epochs.map((e) => e.loss);
const first = losses[0];
const last = losses[losses.length - 1];
console.log(
  `pack-smoke: trained ${losses.length} steps in ${ms(t1)}: loss ${first.toFixed(3)} -> ${last.toFixed(3)} ` +
    `(${losses.filter((_, i) => i % 20 === 0).map((l) => l.toFixed(2)).join(' ')} ...)`,
);
if (!(Number.isFinite(first) && Number.isFinite(last) && last < first * 0.8)) {
  fail(`the loss did not go down by 20%: ${first} -> ${last}`);
}

const t2 = performance.now();
const samples = await generateText(model, tok, { n: 3, temperature: 0.5, seed: 7, maxLength: 60 });
console.log(`pack-smoke: sampled in ${ms(t2)}: ${samples.map((s) => JSON.stringify(s)).join(', ')}`);
if (!Array.isArray(samples) || samples.length !== 3 || samples.some((s) => typeof s !== 'string')) {
  fail(`generateText returned ${JSON.stringify(samples)}`);
}

// OpenBLAS's core by the CPU's features in the static prebuild: a child where OpenBLAS "picked"
// Prescott at load (RNNKIT_TEST_BLAS_DETECTED, test-only) must end on the class the CPU runs.
// x86-64 only: OpenBLAS's arm64 cores are not switched (and under qemu-user a child process,
// started without qemu, could not run the arm64 Node).
if (process.arch === 'x64') {
  const { execFileSync } = await import('node:child_process');
  const { OPENBLAS_CORETYPE: _user, ...env } = process.env;
  const script = "import('rnnkit').then((r) => { const i = r.info(); console.log(JSON.stringify({ ...i, env: process.env.OPENBLAS_CORETYPE ?? null })); })";
  const child = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { env: { ...env, RNNKIT_TEST_BLAS_DETECTED: 'Prescott' }, encoding: 'utf8' }));
  const c = child.cpu;
  const want = c.avx512f && c.avx512bw && c.avx512dq && c.avx512vl ? (c.avx512bf16 ? 'Cooperlake' : 'SkylakeX') : c.avx2 && c.fma ? 'Haswell' : 'Prescott';
  console.log(`pack-smoke: OpenBLAS picked Prescott (simulated): now ${child.blasCore}, chosen by ${child.blasCoreChosenBy}`);
  if (child.blasCoreDetected !== 'Prescott' || child.blasCore !== want || child.blasCoreWanted !== null || child.env !== null) {
    fail(`the prebuild did not switch OpenBLAS to ${want}: ${JSON.stringify(child)}`);
  }
}

const wantDir = `prebuilds/linux-${process.arch}/`;
if (!info.binary.replaceAll('\\', '/').includes(wantDir)) fail(`on ${process.arch} the loaded binary is not under ${wantDir}: ${info.binary}`);
console.log(`pack-smoke: info() ${JSON.stringify(info)}`);
console.log(`pack-smoke: ok in ${ms(t0)}`);
