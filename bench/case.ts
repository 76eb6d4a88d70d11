/**
 * One rnnkit benchmark case, run in its own process by the harness (so its
 * peak memory is its own): builds the model, warms up, times steps, and
 * prints one line "RESULT {json}" (a CaseResult) on stdout.
 *
 *   node --import=tsx bench/case.ts '<CaseSpec as JSON>'
 *
 * bench/torch_bench.py is its PyTorch twin and takes the same JSON.
 */
import { layers, sequential } from '../lib/index.js';
import type { LayerConfig } from '../lib/index.js';
import { native } from '../lib/native.js';
import { median, type CaseResult, type CaseSpec } from './configs.js';
import { machineBusySeconds, procStatusBytes, selfCpuSeconds } from './proc.js';

/** Deterministic token ids in [0, V) (a small LCG; the same stream as before in bench/train.ts). */
function tokens(n: number, V: number, seed: number): Int32Array {
  let s = seed >>> 0;
  return Int32Array.from({ length: n }, () => ((s = (s * 1103515245 + 12345) >>> 0) >>> 8) % V);
}

/** Times `fn` warm-up times untimed, then enough timed calls to fill spec.targetSeconds. */
async function timeSteps(spec: CaseSpec, fn: () => Promise<unknown>): Promise<{ times: number[]; otherCores: number }> {
  let last = 0;
  for (let i = 0; i < spec.warmup; i++) {
    const t0 = process.hrtime.bigint();
    await fn();
    last = Number(process.hrtime.bigint() - t0) / 1e9;
  }
  const steps = Math.max(spec.minSteps, Math.min(spec.maxSteps, Math.ceil(spec.targetSeconds / Math.max(last, 1e-6))));
  const times: number[] = [];
  const busy0 = machineBusySeconds(),
    self0 = selfCpuSeconds(),
    wall0 = process.hrtime.bigint();
  for (let i = 0; i < steps; i++) {
    const t0 = process.hrtime.bigint();
    await fn();
    times.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  const wall = Number(process.hrtime.bigint() - wall0) / 1e9;
  const otherCores = Math.max(0, machineBusySeconds() - busy0 - (selfCpuSeconds() - self0)) / wall;
  return { times, otherCores };
}

async function run(spec: CaseSpec): Promise<CaseResult> {
  const { config: c, V, B, T } = spec;
  const info = native().info();
  const baselineBytes = procStatusBytes('VmRSS');
  const recurrent: LayerConfig[] = Array.from({ length: c.layers }, () => {
    const o = { units: c.units, bidirectional: c.bidirectional };
    return c.cell === 'lstm' ? layers.lstm(o) : c.cell === 'gru' ? layers.gru(o) : layers.rnn(o);
  });
  const model = sequential({
    input: { vocabSize: V },
    layers: [...recurrent, layers.dense({ units: V, activation: 'linear' })],
    loss: 'crossEntropy',
    seed: 1,
  });
  let timed: { times: number[]; otherCores: number };
  let tokensPerStep = B * T;
  if (spec.mode === 'sample') {
    tokensPerStep = spec.sampleLength;
    let seed = 0;
    timed = await timeSteps(spec, async () => {
      const out = await model.generate({ prime: [1], n: 1, maxLength: spec.sampleLength, temperature: 1, seed: seed++ });
      if (out[0]!.length !== spec.sampleLength)
        throw new Error(`generate returned ${out[0]!.length} tokens, expected ${spec.sampleLength}`);
    });
  } else {
    const inputs = { data: tokens(B * T, V, 12345), shape: [B, T] };
    if (spec.mode === 'forward') {
      timed = await timeSteps(spec, () => model.predict(inputs));
    } else {
      const targets = { data: tokens(B * T, V, 54321), shape: [B, T] };
      const opts = { optimizer: { type: 'adam' as const, lr: 1e-3 }, clipNorm: 5 };
      timed = await timeSteps(spec, () => model.trainStep(inputs, targets, opts));
    }
  }
  const peakBytes = procStatusBytes('VmHWM');
  model.dispose();
  const sec = median(timed.times);
  return {
    lib: 'rnnkit',
    mode: spec.mode,
    id: c.id,
    B,
    T,
    tokensPerStep,
    steps: timed.times.length,
    times: timed.times,
    medianSeconds: sec,
    tokensPerSec: tokensPerStep / sec,
    peakBytes,
    baselineBytes,
    otherCores: timed.otherCores,
    versions: {
      rnnkit: info.version,
      node: process.version,
      blas: info.blas,
      blasCore: info.blasCore,
      blasCoreChosenBy: info.blasCoreChosenBy,
      threads: info.threads,
    },
  };
}

const spec = JSON.parse(process.argv[2] ?? '') as CaseSpec;
const result = await run(spec);
process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
