/**
 * Soak test for leaks: long runs of the operations a server repeats, with the
 * process RSS sampled along the way (after a full GC), and a flat / not-flat
 * verdict per phase.
 *
 * Phases (sizes are options):
 *   train     --steps 100000 trainStep calls on a small LSTM language model
 *   sample    --tokens 1000000 sampled tokens (model.generate, 100 sequences per call)
 *   dispose   --models 100000 models created, used once and disposed (after --warmup-models 80000)
 *   gc        --models 100000 models created, used once and dropped without dispose() (same warm-up)
 *             (the garbage collector must free them: native memory is reported to V8)
 *   pool      --pool-models 100000 models (after --warmup-pool-models 50000), one trainStep
 *             each on a 32-row batch (split across the model's worker threads), every other
 *             one disposed, the rest dropped; the process's thread count must level off too
 *             (a model's threads are joined when it is freed, idle ones exit after 1 s)
 *
 * Verdict: a least-squares line through the RSS samples after the first 20 %
 * of a phase (warm-up: allocator pools, JIT); the phase is flat when that line
 * grows by less than --tolerance-mb (default 8 MB) over the phase.
 *
 * Usage: node --expose-gc --import=tsx scripts/soak.ts [--steps N] [--tokens N] [--models N] [--warmup-models N]
 *          [--pool-models N] [--warmup-pool-models N] [--samples N] [--tolerance-mb MB] [--phases train,sample,dispose,gc,pool] [--json]
 * Exit code 0 when every phase is flat, 1 otherwise.
 */
import { readFileSync } from 'node:fs';

import { layers, sequential, type Model } from '../lib/index.js';

interface Sample {
  /** progress through the phase, 0..1 */
  at: number;
  rssMB: number;
  /** V8's external memory, which includes native memory the addon reports */
  externalMB: number;
  heapMB: number;
  /** the process's threads (/proc/self/status), 0 where unknown */
  threads: number;
}

interface Phase {
  name: string;
  what: string;
  seconds: number;
  samples: Sample[];
  /** growth of the fitted line over the phase (after warm-up), MB */
  growthMB: number;
  flat: boolean;
}

function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = Number(process.argv[i + 1]);
  if (!Number.isFinite(v) || v < 0) {
    process.stderr.write(`soak: --${name} needs a non-negative number\n`);
    process.exit(2);
  }
  return v;
}

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) {
  process.stderr.write('soak: run with --expose-gc (node --expose-gc --import=tsx scripts/soak.ts)\n');
  process.exit(2);
}

function sample(at: number): Sample {
  gc!();
  gc!();
  const m = process.memoryUsage();
  return { at, rssMB: m.rss / 2 ** 20, externalMB: m.external / 2 ** 20, heapMB: m.heapUsed / 2 ** 20, threads: threadCount() };
}

function threadCount(): number {
  try {
    return Number(/^Threads:\s+(\d+)/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/** Slope of the least-squares line through (at, rss) (or another reading), times the phase span after warm-up. */
function growth(samples: readonly Sample[], key: 'rssMB' | 'threads' = 'rssMB'): number {
  const s = samples.filter((x) => x.at >= 0.2);
  if (s.length < 2) return 0;
  const n = s.length;
  const mx = s.reduce((a, x) => a + x.at, 0) / n;
  const my = s.reduce((a, x) => a + x[key], 0) / n;
  let num = 0;
  let den = 0;
  for (const x of s) {
    num += (x.at - mx) * (x[key] - my);
    den += (x.at - mx) ** 2;
  }
  const slope = den > 0 ? num / den : 0;
  return slope * (s[n - 1]!.at - s[0]!.at);
}

async function phase(
  name: string,
  what: string,
  total: number,
  samples: number,
  tolerance: number,
  work: (i: number) => Promise<void>,
  warmup = 0,
): Promise<Phase> {
  // unmeasured warm-up iterations first: the allocator's pools and V8's
  // caches grow in steps before they settle, which is not a leak
  for (let i = 0; i < warmup; i++) await work(-1 - i);
  const out: Sample[] = [sample(0)];
  const every = Math.max(1, Math.floor(total / samples));
  const t0 = performance.now();
  for (let i = 0; i < total; i++) {
    await work(i);
    if ((i + 1) % every === 0 || i === total - 1) out.push(sample((i + 1) / total));
  }
  const seconds = (performance.now() - t0) / 1000;
  const g = growth(out);
  const p: Phase = { name, what, seconds, samples: out, growthMB: g, flat: g < tolerance };
  print(p);
  return p;
}

function print(p: Phase): void {
  const series = p.samples.map((s) => s.rssMB.toFixed(1)).join(' ');
  const ext = p.samples.map((s) => s.externalMB.toFixed(1));
  console.log(`\n== ${p.name}: ${p.what} in ${p.seconds.toFixed(1)} s`);
  console.log(`   RSS MB:      ${series}`);
  console.log(`   external MB: ${ext[0]} .. ${ext[ext.length - 1]} (max ${Math.max(...p.samples.map((s) => s.externalMB)).toFixed(1)})`);
  console.log(`   heap MB:     ${p.samples[0]!.heapMB.toFixed(1)} .. ${p.samples[p.samples.length - 1]!.heapMB.toFixed(1)}`);
  console.log(`   threads:     ${p.samples.map((s) => s.threads).join(' ')}`);
  console.log(
    `   fitted growth after warm-up: ${p.growthMB >= 0 ? '+' : ''}${p.growthMB.toFixed(2)} MB -> ${p.flat ? 'FLAT' : 'NOT FLAT'}`,
  );
}

function lm(seed: number): Model {
  return sequential({
    input: { vocabSize: 40 },
    layers: [layers.lstm({ units: 32 }), layers.dense({ units: 40, activation: 'softmax' })],
    seed,
  });
}

async function main(): Promise<void> {
  const steps = option('steps', 100_000);
  const tokens = option('tokens', 1_000_000);
  const models = option('models', 100_000);
  // create/dispose grows in steps up to ~75k models, then stays flat (500k-model run in docs/reliability.md)
  const warmupModels = option('warmup-models', 80_000);
  const poolModels = option('pool-models', 100_000);
  // the live thread count steps up once (V8 adapts how often it collects) somewhere in the first ~45k models
  const warmupPool = option('warmup-pool-models', 50_000);
  const samples = option('samples', 20);
  const tolerance = option('tolerance-mb', 8);
  const pi = process.argv.indexOf('--phases');
  const phases = new Set((pi >= 0 ? process.argv[pi + 1]! : 'train,sample,dispose,gc').split(','));
  const json = process.argv.includes('--json');
  const results: Phase[] = [];
  console.log(`soak: node ${process.version}, pid ${process.pid}, start RSS ${(process.memoryUsage().rss / 2 ** 20).toFixed(1)} MB`);

  if (phases.has('train')) {
    const model = lm(1);
    // a few distinct batches (B 8, T 16), as number[][] so the JS validation path runs every time
    const batches = Array.from({ length: 4 }, (_, k) => {
      const x = Array.from({ length: 8 }, (_, b) => Array.from({ length: 16 }, (_, t) => (b * 7 + t * 3 + k) % 40));
      const y = x.map((row) => row.map((v) => (v + 1) % 40));
      return { x, y };
    });
    results.push(
      await phase(
        'train',
        `${steps} trainStep calls (LSTM 32, vocab 40, B 8, T 16, adam, clipNorm 5)`,
        steps,
        samples,
        tolerance,
        async (i) => {
          const b = batches[i % batches.length]!;
          await model.trainStep(b.x, b.y, { optimizer: { type: 'adam', lr: 1e-3 }, clipNorm: 5 });
        },
      ),
    );
    model.dispose();
  }

  if (phases.has('sample')) {
    const model = lm(2);
    const perCall = 100 * 100; // n 100 x maxLength 100, no stop token: exactly 10k tokens
    const calls = Math.ceil(tokens / perCall);
    let produced = 0;
    results.push(
      await phase('sample', `${tokens} sampled tokens (generate n 100 x maxLength 100, top-k 10)`, calls, samples, tolerance, async (i) => {
        const out = await model.generate({ prime: [2], n: 100, maxLength: 100, temperature: 1, topK: 10, seed: i });
        produced += out.reduce((a, s) => a + s.length, 0);
      }),
    );
    console.log(`   tokens produced: ${produced}`);
    model.dispose();
  }

  const small = () => sequential({ input: { vocabSize: 40 }, layers: [layers.gru({ units: 64 }), layers.dense({ units: 40 })], seed: 3 });
  // The same model lifecycle twice: disposed by the caller, then left to the garbage collector.
  const lifecycles = [
    ['dispose', `disposed (GRU 64: ~${(small().numParams / 1e3).toFixed(0)}k params)`, true],
    ['gc', 'dropped without dispose()', false],
  ] as const;
  for (const [name, fate, dispose] of lifecycles) {
    if (!phases.has(name)) continue;
    const run = async () => {
      const m = small();
      await m.predict([[1, 2, 3]]);
      if (dispose) m.dispose();
    };
    results.push(await phase(name, `${models} models created, one predict each, ${fate}`, models, samples, tolerance, run, warmupModels));
  }

  if (phases.has('pool')) {
    // 32 rows: the recurrence, the dense layer and the loss split across the model's worker pool
    const x = Array.from({ length: 32 }, (_, b) => Array.from({ length: 8 }, (_, t) => (b * 5 + t * 3) % 40));
    const y = x.map((row) => row.map((v) => (v + 1) % 40));
    const p = await phase(
      'pool',
      `${poolModels} models, one 32-row trainStep each (worker pool), half disposed, half dropped`,
      poolModels,
      samples,
      tolerance,
      async (i) => {
        const m = lm(5);
        await m.trainStep(x, y, { optimizer: { type: 'adam', lr: 1e-3 }, clipNorm: 5 });
        if (i % 2 === 0) m.dispose();
      },
      warmupPool,
    );
    // Dropped models' pools are joined when the GC frees them and idle workers exit after 1 s, so
    // the count levels off at the models awaiting collection; a leak of threads would climb.
    const threadGrowth = growth(p.samples, 'threads');
    const threadsFlat = threadGrowth < 2;
    console.log(
      `   fitted thread-count growth after warm-up: ${threadGrowth >= 0 ? '+' : ''}${threadGrowth.toFixed(1)} -> ${threadsFlat ? 'FLAT' : 'GROWING'}`,
    );
    results.push({ ...p, flat: p.flat && threadsFlat });
  }

  const bad = results.filter((p) => !p.flat);
  console.log(
    `\nsoak verdict: ${bad.length === 0 ? 'FLAT' : `NOT FLAT (${bad.map((p) => p.name).join(', ')})`}; end RSS ${(process.memoryUsage().rss / 2 ** 20).toFixed(1)} MB`,
  );
  if (json)
    console.log(
      `SOAK_RESULT ${JSON.stringify(results.map(({ name, what, seconds, growthMB, flat, samples: s }) => ({ name, what, seconds, growthMB, flat, rssMB: s.map((x) => +x.rssMB.toFixed(1)) })))}`,
    );
  process.exit(bad.length === 0 ? 0 : 1);
}

void main();
