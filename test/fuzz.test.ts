/**
 * Fuzzing: thousands of seeded random malformed calls across the public API
 * and the raw binding (scripts/fuzz.ts) never crash or hang the process and
 * only produce documented errors: TypeError / RangeError (the public API's
 * with the "Expected <what> for <name>" template) and RnnkitError codes
 * ERR_BUSY | ERR_DISPOSED | ERR_NATIVE | ERR_NONFINITE | ERR_CHECKPOINT.
 *
 * Each fuzzer runs in a child process: a crash there would kill this ava
 * worker, so the test asserts the child's exit code, signal and report
 * instead. Each library bug the fuzzers found has its own named test below
 * (K1, K2, ...), reproducing the call that once failed; a new finding gets one
 * too, next to its fix.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { layers, sequential } from '../lib/index.js';
import { native } from '../lib/native.js';
import type { FuzzReport } from '../scripts/fuzz.js';
import { rawDense, smallSeq2Seq } from './helpers/models.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const script = join(root, 'scripts', 'fuzz.ts');

/**
 * Both fuzzers run at once (one per core), each for a fixed number of calls (about 11 s each
 * on a quiet 2-core machine). The deadline only stops a fuzzer that slows to a crawl, so a
 * loaded machine makes the test slower, not failing (a call budget in seconds once made it
 * fail there: 877 calls in 15 s beside other work).
 */
const SECONDS = 120;

interface Child {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

function runFuzzer(args: string[], killAfterMs: number): Promise<Child> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, ['--import=tsx', script, ...args], { cwd: root, env: process.env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    // a hang (or a fuzzer that ignores its deadline) is killed and reported as a signal
    const timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: performance.now() - t0 });
    });
  });
}

function report(child: Child): FuzzReport | undefined {
  const line = child.stdout.split('\n').find((l) => l.startsWith('FUZZ_RESULT '));
  return line ? (JSON.parse(line.slice('FUZZ_RESULT '.length)) as FuzzReport) : undefined;
}

const API_CLASSES =
  /^(ok|dispose ok|TypeError|RangeError|RnnkitError\[(ERR_BUSY|ERR_DISPOSED|ERR_NATIVE|ERR_NONFINITE|ERR_CHECKPOINT)\]|FuzzProbeError \(propagated\))$/;
const NATIVE_CLASSES =
  /^(ok|dispose ok|TypeError|RangeError|Error\[(ERR_BUSY|ERR_DISPOSED|ERR_NATIVE|ERR_NONFINITE|ERR_CHECKPOINT)\]|FuzzProbeError \(propagated\))$/;

for (const [target, seed, calls, classes] of [
  ['api', 20240601, 4000, API_CLASSES],
  ['native', 20240602, 8000, NATIVE_CLASSES],
] as const) {
  test(`fuzz ${target}: seeded malformed calls never crash or hang and only documented errors come out`, async (t) => {
    const child = await runFuzzer(
      [
        '--target',
        target,
        '--seed',
        String(seed),
        '--calls',
        String(calls),
        '--seconds',
        String(SECONDS),
        '--timeout-ms',
        '5000',
        '--json',
        '--quiet',
      ],
      (SECONDS + 30) * 1000,
    );
    t.is(child.signal, null, `the fuzzer process died by signal ${child.signal}; stderr:\n${child.stderr.slice(-3000)}`);
    const rep = report(child);
    if (!rep) {
      t.fail(`no report (exit ${child.code}); stderr:\n${child.stderr.slice(-3000)}`);
      return;
    }
    t.log(
      `${target}: ${rep.calls} calls in ${rep.seconds.toFixed(1)} s; ` +
        Object.entries(rep.outcomes)
          .sort((a, b) => b[1] - a[1])
          .map(([k, v]) => `${k} ${v}`)
          .join(', '),
    );
    for (const [id, n] of Object.entries(rep.known)) t.log(`known issue ${id}: ${n} calls`);
    t.true(rep.calls >= calls, `only ${rep.calls} of ${calls} calls were made within ${SECONDS} s`);
    t.deepEqual(rep.hangs, [], 'calls that did not settle within 5 s');
    t.deepEqual(rep.unexpectedKinds, {}, `unexpected outcomes, e.g. ${JSON.stringify(rep.unexpected.slice(0, 5), null, 1)}`);
    const undocumented = Object.keys(rep.outcomes).filter((k) => !classes.test(k) && !/not from rnnkit's validation|^Error$/.test(k));
    t.deepEqual(undocumented, [], 'outcome classes outside the documented set');
    t.is(child.code, 0);
  });
}

// ---------------------------------------------------------------------------
// Known library bugs found by the fuzzer: each asserts the correct behaviour and
// is expected to fail until it is fixed (KNOWN_ISSUES in scripts/fuzz.ts).

test('K1: NativeModel getters on a foreign `this` throw a TypeError', (t) => {
  const proto = native().NativeModel.prototype;
  for (const key of ['numParams', 'dtype']) {
    const get = Object.getOwnPropertyDescriptor(proto, key)!.get!;
    for (const self of [{}, Object.create(proto), null, 3]) {
      const err = t.throws(() => get.call(self));
      t.true(err instanceof TypeError, `${key}: got ${err?.constructor.name}: ${err?.message}`);
    }
  }
  const model = rawDense(3, { loss: 'mse', dtype: 'float64' });
  t.is(model.numParams, 12);
  t.is(model.dtype, 'float64');
  model.dispose();
  t.is(model.dtype, 'float64', 'dtype stays true after dispose');
});

test('K2: a batch of 200k one-step rows is validated without "Maximum call stack size exceeded"', async (t) => {
  const model = sequential({ input: { vocabSize: 3 }, layers: [layers.rnn({ units: 1 }), layers.dense({ units: 3 })] });
  const rows = Array.from({ length: 200_000 }, () => [1]);
  const y = await model.predict(rows);
  t.deepEqual(y.shape, [200_000, 1, 3]);
  model.dispose();
});

test("K4: fit / evaluate validate hand-made { kind: 'sequences' | 'stream' } datasets", async (t) => {
  const model = sequential({ input: { vocabSize: 7 }, layers: [layers.gru({ units: 3 }), layers.dense({ units: 7 })] });
  const cases: unknown[] = [
    { kind: 'sequences', inputs: [Int32Array.of(1, 4)] }, // no targets
    { kind: 'sequences', inputs: [Int32Array.of(1, 4)], targets: [Int32Array.of(1, 4, 5)] }, // longer target
    { kind: 'sequences', inputs: [Int32Array.of(1, 4)], targets: [Int32Array.of(4, 2)], condition: [] },
    { kind: 'stream', ids: new Int32Array(0), seqLen: 3 },
    { kind: 'stream', ids: [1, 2, 3], seqLen: 2 },
  ];
  for (const data of cases) {
    const err = await t.throwsAsync(() => model.evaluate(data as never));
    t.true(err instanceof TypeError || err instanceof RangeError);
    t.regex(err?.message ?? '', /^Expected .+ for data/, `${JSON.stringify(data)}: ${err?.message}`);
  }
  model.dispose();
});

test('K10: fit / evaluate validate the { data, shape } fields of { inputs, targets } datasets up front', async (t) => {
  // found by the API fuzzer (seed 11): data that is not a typed array reached .subarray(),
  // and a negative dimension reached a typed-array constructor
  const model = sequential({ input: { features: 2 }, layers: [layers.rnn({ units: 3 }), layers.dense({ units: 1 })], loss: 'mse' });
  const y = { data: new Float32Array(4), shape: [1, 4, 1] };
  const cases: [unknown, RegExp][] = [
    [{ inputs: { data: true, shape: [1, 4, 2] }, targets: y }, /for data\.inputs\.data/],
    [{ inputs: { data: Array(8).fill(0.1), shape: [1, 4, 2] }, targets: y }, /for data\.inputs\.data/],
    [{ inputs: { data: new Float32Array(2), shape: [1, 1, 2, -1] }, targets: y }, /for data\.inputs\.shape\[3\]/],
    [{ inputs: { data: new Float32Array(7), shape: [1, 4, 2] }, targets: y }, /for data\.inputs\.data/],
    [{ inputs: { data: new Float32Array(8), shape: '1,4,2' }, targets: y }, /for data\.inputs\.shape/],
    [
      { inputs: { data: new Float32Array(8), shape: [1, 4, 2] }, targets: { data: new DataView(new ArrayBuffer(16)), shape: [1, 4, 1] } },
      /for data\.targets\.data/,
    ],
    [
      { inputs: { data: new Float32Array(8), shape: [1, 4, 2] }, targets: y, condition: { data: new Float32Array(4), shape: [2, 2] } },
      /for data\.condition/,
    ],
  ];
  for (const [data, where] of cases) {
    for (const call of [() => model.evaluate(data as never), () => model.fit(data as never, { epochs: 1 })]) {
      const err = await t.throwsAsync(call);
      t.true(err instanceof TypeError || err instanceof RangeError, `${err?.constructor.name}: ${err?.message}`);
      t.regex(err?.message ?? '', where);
    }
  }
  // the well-formed dataset still trains
  const ok = await model.fit({ inputs: { data: new Float32Array(8), shape: [1, 4, 2] }, targets: y }, { epochs: 1 });
  t.is(ok.epochs.length, 1);
  model.dispose();
});

test('K7: Seq2Seq methods reject sources with holes with a TypeError naming the row', async (t) => {
  const s = smallSeq2Seq(6, 3);
  // eslint-disable-next-line no-sparse-arrays -- the hole is the input under test
  const err = await t.throwsAsync(s.translate([, [3]] as never));
  t.regex(err?.message ?? '', /^Expected .+ for .*\[0\]/);
  s.dispose();
});

test('K8 / K9: tensors with a detached or null-prototype shape get the template error', async (t) => {
  const model = sequential({ input: { vocabSize: 7 }, layers: [layers.gru({ units: 3 }), layers.dense({ units: 7 })] });
  const shape = new Int32Array(1);
  structuredClone(shape.buffer, { transfer: [shape.buffer] });
  const e1 = t.throws(() => model.setWeights({ 'layers.1.bias': { shape, data: new Float32Array(7) } as never }));
  t.regex(e1?.message ?? '', /^Expected .+ for weights/);
  const e2 = await t.throwsAsync(
    model.backwardFrom([[1]], { outputGrad: { data: new Float32Array(7), shape: Object.create(null) } as never }),
  );
  t.regex(e2?.message ?? '', /^Expected .+ for options\.outputGrad/);
  model.dispose();
});

test('K5: a layers array with holes is a TypeError naming config.layers[i]', (t) => {
  // eslint-disable-next-line no-sparse-arrays -- the hole is the input under test
  const err = t.throws(() => sequential({ input: { features: 2 }, layers: [, layers.dense({ units: 1 })] as never, loss: 'mse' }));
  t.regex(err?.message ?? '', /^Expected .+ for .*layers\[0\]/);
});
