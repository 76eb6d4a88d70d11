/**
 * sgemm throughput through the addon, run in its own process by the harness
 * (OPENBLAS_NUM_THREADS in its environment picks rnnkit's thread count, across which the
 * products are split as a model's are: parallelGemm, one OpenBLAS thread a chunk). For each
 * n, native().sgemmBench(n, reps) times reps products C = A B^T of n x n x n
 * floats (after one untimed product); it is called `calls` times and the
 * median GFLOP/s is kept. Prints one line "RESULT {json}".
 *
 *   node --import=tsx bench/sgemm.ts '{"sizes":[128,1024],"calls":7}'
 */
import { native } from '../lib/native.js';
import { median } from './configs.js';

export interface SgemmResult {
  threads: number;
  /** n -> median GFLOP/s of the n x n x n product */
  gflops: Record<string, number>;
  /** every call's GFLOP/s, per n */
  samples: Record<string, number[]>;
  reps: Record<string, number>;
}

const { sizes, calls } = JSON.parse(process.argv[2] ?? '{}') as { sizes: number[]; calls: number };
const result: SgemmResult = { threads: native().info().threads, gflops: {}, samples: {}, reps: {} };
for (const n of sizes) {
  // about 5 GFLOP per call: tens of milliseconds at the expected speeds
  const reps = Math.max(1, Math.min(100000, Math.ceil(5e9 / (2 * n ** 3))));
  const samples: number[] = [];
  for (let i = 0; i < calls; i++) samples.push(await native().sgemmBench(n, reps));
  result.gflops[n] = median(samples);
  result.samples[n] = samples;
  result.reps[n] = reps;
}
process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
