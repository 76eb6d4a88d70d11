/**
 * Training throughput: tokens/s of a char-level language model step
 * (one-hot V=64 input, B=32, T=64, recurrent layer + linear + cross-entropy,
 * Adam, clipNorm 5), the median over timed steps, plus sgemm GFLOP/s on this
 * machine and each figure as a share of its GEMM bound.
 *
 *   npm run bench                 # all configurations
 *   npm run bench -- --cell lstm --units 128,512 --steps 20
 *
 * Prints a table and writes JSON to bench/results/train-<date>.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { layers, sequential } from '../lib/index.js';
import { native, packageRoot } from '../lib/native.js';

const { values: args } = parseArgs({
  options: {
    cell: { type: 'string', default: 'lstm,gru,rnn' },
    units: { type: 'string', default: '128,512' },
    steps: { type: 'string', default: '15' },
    batch: { type: 'string', default: '32' },
    seq: { type: 'string', default: '64' },
    vocab: { type: 'string', default: '64' },
  },
});
const V = Number(args.vocab), B = Number(args.batch), T = Number(args.seq), steps = Number(args.steps);
const gates: Record<string, number> = { lstm: 4, gru: 3, rnn: 1 };

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** GEMM FLOPs of one training step (forward + backward); the token gather costs none. */
function trainFlops(G: number, H: number): number {
  const rows = T * B;
  const recurrent = 2 * rows * G * H * H; // h W_hh^T per step, summed over T
  const dense = 2 * rows * H * V;
  return 3 * recurrent + 3 * dense; // forward, dh (dX) and dW for each product
}

const gflops = await native().sgemmBench(1024, 10);
const rows: Record<string, unknown>[] = [];
for (const cell of args.cell.split(',')) {
  for (const H of args.units.split(',').map(Number)) {
    const rec =
      cell === 'lstm' ? layers.lstm({ units: H }) : cell === 'gru' ? layers.gru({ units: H }) : layers.rnn({ units: H });
    const model = sequential({
      input: { vocabSize: V },
      layers: [rec, layers.dense({ units: V, activation: 'linear' })],
      loss: 'crossEntropy',
      seed: 1,
    });
    let s = 12345;
    const rand = () => ((s = (s * 1103515245 + 12345) >>> 0) >>> 8) % V;
    const inputs = { data: Int32Array.from({ length: B * T }, rand), shape: [B, T] };
    const targets = { data: Int32Array.from({ length: B * T }, rand), shape: [B, T] };
    const opts = { optimizer: { type: 'adam' as const, lr: 1e-3 }, clipNorm: 5 };
    for (let i = 0; i < 2; i++) await model.trainStep(inputs, targets, opts); // warm up
    const times: number[] = [];
    for (let i = 0; i < steps; i++) {
      const t0 = process.hrtime.bigint();
      await model.trainStep(inputs, targets, opts);
      times.push(Number(process.hrtime.bigint() - t0) / 1e9);
    }
    const sec = median(times);
    const tokensPerSec = (B * T) / sec;
    const gemmShare = trainFlops(gates[cell]!, H) / (gflops * 1e9) / sec;
    rows.push({ cell, units: H, V, B, T, tokensPerSec: Math.round(tokensPerSec), medianStepMs: +(sec * 1e3).toFixed(2), gemmShare: +gemmShare.toFixed(3) });
    model.dispose();
  }
}

const info = native().info();
console.log(`rnnkit ${info.version} | ${info.blas} | threads ${info.threads} | ${cpus()[0]?.model ?? '?'} x${cpus().length}`);
console.log(`sgemm 1024^3: ${gflops.toFixed(1)} GFLOP/s`);
console.table(rows);
const dir = join(packageRoot(), 'bench', 'results');
mkdirSync(dir, { recursive: true });
const file = join(dir, `train-${new Date().toISOString().slice(0, 19).replace(/[:T]/g, '-')}.json`);
writeFileSync(file, JSON.stringify({ date: new Date().toISOString(), info, sgemmGflops: gflops, rows }, null, 2));
console.log(`wrote ${file}`);
