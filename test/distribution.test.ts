/**
 * What distribution relies on: info() describes the loaded binary truthfully,
 * setThreads() changes OpenBLAS's thread count only when nothing runs, and a
 * missing or broken binary fails with a message that says what was looked
 * for, where, and how to build one. (The packed-tarball check with system
 * OpenBLAS and compilers hidden is scripts/pack-test.sh, `npm run test:pack`.)
 *
 * setThreads changes process-wide state: those tests are serial and restore it.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { info, layers, RnnkitError, sequential, setThreads, type Info } from '../lib/index.js';
import { loadBinding, loadErrorMessage, native, packageRoot } from '../lib/native.js';

const pkg = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string };

function tempDir(t: import('ava').ExecutionContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'rnnkit-dist-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A model whose trainStep takes a few ms, so a call is surely in flight right after it starts. */
function busyModel() {
  const m = sequential({ input: { vocabSize: 50 }, layers: [layers.lstm({ units: 64 }), layers.dense({ units: 50 })], seed: 3 });
  const x = Array.from({ length: 16 }, (_, b) => Array.from({ length: 64 }, (_, i) => (b * 7 + i) % 50));
  return { m, x };
}

// ---------------------------------------------------------------------------
// info()

test('info() reports every field with its type', (t) => {
  const i: Info = info();
  t.deepEqual(Object.keys(i).sort(), [
    'binary',
    'blas',
    'blasCore',
    'blasCoreChosenBy',
    'blasCoreDetected',
    'blasCoreWanted',
    'blasStatic',
    'buildType',
    'cpu',
    'isa',
    'largeProducts',
    'maxThreads',
    'threads',
    'version',
  ]);
  t.is(i.version, pkg.version);
  t.true(i.binary.endsWith('.node') && existsSync(i.binary), i.binary);
  t.regex(i.blas, /^OpenBLAS \d+\.\d+\.\d+/);
  t.true(typeof i.blasCore === 'string' && i.blasCore.length > 0, i.blasCore);
  t.true(i.blas.includes(i.blasCore), `the config string names the core: ${i.blas}`);
  t.is(typeof i.blasStatic, 'boolean');
  t.true(Number.isInteger(i.threads) && i.threads >= 1 && i.threads <= i.maxThreads, `threads ${i.threads}`);
  t.true(Number.isInteger(i.maxThreads) && i.maxThreads >= 1);
  const max = /MAX_THREADS=(\d+)/.exec(i.blas);
  if (max) t.is(i.maxThreads, Number(max[1]));
  t.regex(i.buildType, /^(Release|Debug|RelWithDebInfo|MinSizeRel)$/);
  t.not(info(), info(), 'a fresh object each call');
});

/** The level the CPU's features allow, by the rule of native/cpu.cc, from info().cpu. */
function isaFromFeatures(c: Info['cpu']): Info['isa'] {
  if (c.avx512f && c.avx512bw && c.avx512dq && c.avx512vl) return 'avx512';
  return c.avx2 && c.fma ? 'avx2' : 'baseline';
}

test("info() reports the CPU, the kernel level and who chose OpenBLAS's core", (t) => {
  const i = info();
  t.deepEqual(Object.keys(i.cpu).sort(), ['avx', 'avx2', 'avx512bf16', 'avx512bw', 'avx512dq', 'avx512f', 'avx512vl', 'fma', 'vendor']);
  for (const [k, v] of Object.entries(i.cpu)) t.is(typeof v, k === 'vendor' ? 'string' : 'boolean', k);
  if (process.arch === 'x64') t.regex(i.cpu.vendor, /^[\x20-\x7e]{12}$/, 'the 12-character CPUID vendor');
  t.true(!i.cpu.avx2 || i.cpu.avx, 'AVX2 implies AVX');
  const best = isaFromFeatures(i.cpu);
  const rank = ['baseline', 'avx2', 'avx512'];
  if (process.env.RNNKIT_ISA === undefined) t.is(i.isa, best);
  else t.true(rank.indexOf(i.isa) <= rank.indexOf(best), `${i.isa} never above ${best}`);
  t.true(['user', 'openblas', 'rnnkit'].includes(i.blasCoreChosenBy), i.blasCoreChosenBy);
  t.is(i.blasCoreChosenBy === 'user', Boolean(process.env.OPENBLAS_CORETYPE), 'user exactly when OPENBLAS_CORETYPE is set');
  if (i.blasCoreChosenBy !== 'rnnkit') t.is(i.blasCore, i.blasCoreDetected, 'nothing switched');
  else t.not(i.blasCore, i.blasCoreDetected, 'switched');
  t.is(i.blasCoreWanted, null, 'this OpenBLAS runs the core rnnkit chose');
});

/**
 * Loads rnnkit in a child with the given OpenBLAS environment; returns what info() said, the child's own
 * OPENBLAS_CORETYPE afterwards, and a few seeded training steps and a forward pass (products through
 * OpenBLAS: the dense layer and the weight gradients).
 */
function coreChild(env: Record<string, string>) {
  const script = `
    import { info, layers, sequential } from './lib/index.ts';
    const m = sequential({ input: { vocabSize: 40 }, layers: [layers.lstm({ units: 96 }), layers.dense({ units: 40 })], seed: 11 });
    const x = Array.from({ length: 16 }, (_, b) => Array.from({ length: 24 }, (_, i) => (b * 7 + i * 3) % 40));
    const y = x.map((row) => row.map((v) => (v + 1) % 40));
    const losses = [];
    for (let s = 0; s < 3; s++) losses.push((await m.trainStep(x, y, { optimizer: { type: 'adam', lr: 0.01 } })).loss);
    const out = await m.predict(x);
    const { blasCore, blasCoreDetected, blasCoreChosenBy, blasCoreWanted, largeProducts, cpu } = info();
    console.log(JSON.stringify({ blasCore, blasCoreDetected, blasCoreChosenBy, blasCoreWanted, largeProducts, cpu, env: process.env.OPENBLAS_CORETYPE ?? null, losses, out: Array.from(out.data) }));`;
  const { OPENBLAS_CORETYPE: _c, RNNKIT_TEST_BLAS_DETECTED: _d, ...base } = process.env;
  const stdout = execFileSync(process.execPath, ['--import=tsx', '--input-type=module', '-e', script], {
    env: { ...base, ...env },
    encoding: 'utf8',
  });
  return JSON.parse(stdout) as Pick<
    Info,
    'blasCore' | 'blasCoreDetected' | 'blasCoreChosenBy' | 'blasCoreWanted' | 'largeProducts' | 'cpu'
  > & {
    env: string | null;
    losses: number[];
    out: number[];
  };
}

function maxDiff(a: number[], b: number[]): number {
  return a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);
}

test('OPENBLAS_CORETYPE set by the user is respected, and left in the environment', (t) => {
  const r = coreChild({ OPENBLAS_CORETYPE: 'Prescott' });
  t.like(r, { blasCore: 'Prescott', blasCoreDetected: 'Prescott', blasCoreChosenBy: 'user', blasCoreWanted: null, env: 'Prescott' });
  // OpenBLAS keeps the user's SSE3 kernels; rnnkit's own AVX2 / AVX-512 kernels take the large products
  t.is(r.largeProducts, isaFromFeatures(r.cpu) === 'baseline' ? 'openblas' : 'rnnkit');
});

test('a weak core picked by OpenBLAS while OPENBLAS_CORETYPE is unset is switched; products stay correct', (t) => {
  // RNNKIT_TEST_BLAS_DETECTED (test-only) makes OpenBLAS run Prescott at load, as on a CPU it does not know
  const sim = coreChild({ RNNKIT_TEST_BLAS_DETECTED: 'Prescott' });
  const user = coreChild({ OPENBLAS_CORETYPE: 'Prescott' });
  const want = { avx512: sim.cpu.avx512bf16 ? 'Cooperlake' : 'SkylakeX', avx2: 'Haswell', baseline: 'Prescott' }[isaFromFeatures(sim.cpu)];
  t.is(sim.blasCoreDetected, 'Prescott');
  t.is(sim.blasCore, want, `switched by the CPU's features (${JSON.stringify(sim.cpu)})`);
  t.is(sim.blasCoreChosenBy, want === 'Prescott' ? 'openblas' : 'rnnkit');
  t.is(sim.blasCoreWanted, null);
  t.is(sim.largeProducts, 'openblas', "OpenBLAS now runs the CPU's class: it keeps the large products");
  t.is(sim.env, null, 'OPENBLAS_CORETYPE is not left set');
  // the same seeded steps under the switched core and under the user's Prescott (with rnnkit's kernels for large products)
  const dOut = maxDiff(sim.out, user.out),
    dLoss = maxDiff(sim.losses, user.losses);
  t.true(sim.out.length === 16 * 24 * 40 && dOut < 1e-4 && dLoss < 1e-4, `max diff: output ${dOut}, losses ${dLoss}`);
});

test('info().blasStatic agrees with the libraries the binary links (ldd)', (t) => {
  if (process.platform !== 'linux') return t.pass('ldd: linux only');
  const i = info();
  const linked = /libopenblas/.test(execFileSync('ldd', [i.binary], { encoding: 'utf8' }));
  t.is(i.blasStatic, !linked, `${i.binary}: blasStatic ${i.blasStatic}, ldd shows libopenblas: ${linked}`);
});

// ---------------------------------------------------------------------------
// setThreads(n)

test.serial('setThreads changes info().threads and back; models still run', async (t) => {
  const before = info().threads;
  t.teardown(() => setThreads(before));
  const other = before === 1 ? Math.min(2, info().maxThreads) : 1;
  t.is(setThreads(other), undefined);
  t.is(info().threads, other);
  const m = sequential({ input: { vocabSize: 5 }, layers: [layers.gru({ units: 4 }), layers.dense({ units: 5 })], seed: 1 });
  const out = await m.predict([[1, 2, 3]]);
  t.deepEqual(out.shape, [1, 3, 5]);
  setThreads(before);
  t.is(info().threads, before);
});

test.serial('setThreads rejects a wrong type with a TypeError naming n', (t) => {
  const before = info().threads;
  for (const v of ['2', undefined, null, true, 2n, [2], { n: 2 }]) {
    const err = t.throws(() => setThreads(v as never), { instanceOf: TypeError });
    t.is(err!.constructor, TypeError);
    t.regex(err!.message, /^Expected an integer for n but received .+$/);
  }
  t.is(info().threads, before);
});

test.serial('setThreads rejects a non-integer or out-of-range n with a RangeError naming n', (t) => {
  const { threads: before, maxThreads } = info();
  const cases: [number, string][] = [
    [0, 'number 0'],
    [-1, 'number -1'],
    [1.5, 'number 1.5'],
    [NaN, 'number NaN'],
    [Infinity, 'number Infinity'],
    [maxThreads + 1, `number ${maxThreads + 1}`],
  ];
  for (const [v, shown] of cases) {
    const err = t.throws(() => setThreads(v), { instanceOf: RangeError });
    t.is(err!.message, `Expected an integer in [1, ${maxThreads}] for n but received ${shown}`);
  }
  t.is(info().threads, before);
});

test.serial('setThreads refuses with ERR_BUSY while a model call runs, and works once it settles', async (t) => {
  const before = info().threads;
  t.teardown(() => setThreads(before));
  const { m, x } = busyModel();
  const running = m.trainStep(x, x);
  const err = t.throws(() => setThreads(1), { instanceOf: RnnkitError });
  t.is((err as RnnkitError).code, 'ERR_BUSY');
  t.regex(err!.message, /cannot change the thread count while 1 native call is running/);
  t.is(info().threads, before, 'unchanged when refused');
  await running;
  setThreads(1);
  t.is(info().threads, 1);
});

test.serial('setThreads counts calls of every model, and a call that failed is no longer in flight', async (t) => {
  const before = info().threads;
  t.teardown(() => setThreads(before));
  const a = busyModel();
  const b = busyModel();
  const running = [a.m.trainStep(a.x, a.x), b.m.trainStep(b.x, b.x)];
  const err = t.throws(() => setThreads(1), { instanceOf: RnnkitError });
  t.regex(err!.message, /while 2 native calls are running; await them first/);
  await Promise.all(running);
  // a rejected call (ERR_BUSY on the model) must not leave the count above zero
  const first = a.m.trainStep(a.x, a.x);
  await t.throwsAsync(() => a.m.trainStep(a.x, a.x), { instanceOf: RnnkitError });
  await first;
  t.notThrows(() => setThreads(1));
});

test('the raw binding re-checks setThreads arguments', (t) => {
  const raw = native();
  t.throws(() => (raw.setThreads as (...a: unknown[]) => void)(), { instanceOf: TypeError, message: /for n/ });
  t.throws(() => raw.setThreads('2' as never), { instanceOf: TypeError, message: /Expected an integer for n/ });
  for (const v of [0, 1.5, NaN, raw.info().maxThreads + 1]) {
    t.throws(() => raw.setThreads(v), { instanceOf: RangeError, message: /^Expected an integer in \[1, \d+\] for n/ });
  }
});

// ---------------------------------------------------------------------------
// the loader's error

test('no binary: the error names platform, arch, libc, N-API, the directories searched and the build command', (t) => {
  const dir = tempDir(t);
  const err = t.throws(() => loadBinding(dir), { instanceOf: Error });
  const msg = err!.message;
  t.true(msg.startsWith(`rnnkit: no native binary fits ${process.platform}-${process.arch}, `), msg);
  t.regex(msg, process.platform === 'linux' ? /glibc \d+\.\d+|not glibc/ : /no glibc/);
  t.true(msg.includes(`Node ${process.version} (N-API ${process.versions.napi}; rnnkit's binaries use N-API 8)`), msg);
  const tuple = `${process.platform}-${process.arch}`;
  const searchedDirs = [join(dir, 'prebuilds', tuple), ...(process.env.PREBUILDS_ONLY ? [] : [join(dir, 'build', 'Release')])];
  for (const searched of searchedDirs) {
    t.true(msg.includes(searched), `names ${searched}: ${msg}`);
  }
  t.true(msg.includes('apt-get install libopenblas-dev cmake g++'), msg);
  t.true(msg.includes(`npm install --no-save cmake-js@8.0.0 node-addon-api@8.9.2 && npx cmake-js compile -d ${dir}`), msg);
  t.true(msg.includes('npm ci && npm run setup'), msg);
  t.regex(msg, /Cause: No native build was found/);
  t.truthy(err!.cause);
});

test('no binary with PREBUILDS_ONLY: the message says build/ was skipped', (t) => {
  const dir = '/opt/some dir/rnnkit';
  const msg = loadErrorMessage(dir, 'x', undefined, { PREBUILDS_ONLY: '1' });
  t.false(msg.includes(join(dir, 'build', 'Release')), msg);
  t.true(msg.includes('(PREBUILDS_ONLY is set: build/ skipped)'), msg);
  t.true(msg.includes(`compile -d "${dir}"`), `a path with a space is quoted: ${msg}`);
});

test('a binary that does not load: the error names the file and the cause', (t) => {
  const dir = tempDir(t);
  mkdirSync(join(dir, 'build', 'Release'), { recursive: true });
  const file = join(dir, 'build', 'Release', 'rnnkit.node');
  writeFileSync(file, 'not an ELF file');
  if (process.env.PREBUILDS_ONLY) return t.pass('PREBUILDS_ONLY skips build/');
  const err = t.throws(() => loadBinding(dir), { instanceOf: Error });
  t.true(
    err!.message.startsWith(`rnnkit: the native binary ${file} was found but failed to load, for ${process.platform}-${process.arch}`),
    err!.message,
  );
  t.regex(err!.message, /npx cmake-js compile -d /);
  t.regex(err!.message, /Cause: .*(invalid ELF header|file too short)/);
});

test('loading the addon leaves the OpenBLAS variables of the environment as they were (child processes inherit it)', async (t) => {
  const { execFileSync } = await import('node:child_process');
  const script =
    "import { native } from './lib/native.ts'; native().info(); console.log(JSON.stringify(Object.keys(process.env).filter((k) => k.startsWith('OPENBLAS_')).sort()));";
  const run = (env: NodeJS.ProcessEnv) =>
    execFileSync(process.execPath, ['--import=tsx', '--input-type=module', '-e', script], { env, encoding: 'utf8' }).trim();
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OPENBLAS_')));
  t.is(run(base), '[]', 'no OPENBLAS_* variable appears');
  t.is(run({ ...base, OPENBLAS_NUM_THREADS: '1' }), '["OPENBLAS_NUM_THREADS"]', "the user's own stay");
});
