/**
 * `npm run bench`: rnnkit's throughput in one run, each case in a fresh process.
 *
 * - sgemm GFLOP/s through the addon (n x n x n squares, default and 1 thread);
 * - per configuration (rnn/gru/lstm at H = 128, 256, 512; a 2-layer LSTM and a
 *   bidirectional LSTM at H = 256; V = 64 one-hot tokens, B = 32, T = 64):
 *   training tokens/s (trainStep: dense(64, linear), crossEntropy, Adam,
 *   clipNorm 5), forward-only tokens/s (predict), batch-1 sampling tokens/s
 *   (generate, n = 1, no stop token), peak memory (VmHWM) of the training case,
 *   and the training and forward figures as a share of their GEMM bound.
 *
 *   npm run bench
 *   npm run bench -- --configs lstm-128,lstm-512 --modes train --target 2
 *
 * Prints a table and writes JSON to bench/results/bench-<date>.json.
 */
import { forwardFlops, modesFor, trainFlops, type Mode } from './configs.js';
import {
  caseSpec,
  checkBuilds,
  fmt,
  gemmBound,
  matrix,
  MATRIX_OPTIONS,
  parseBenchArgs,
  printResults,
  printTable,
  runGroup,
  runSgemm,
  SHAPE,
  startRun,
  writeResults,
  type CaseRecord,
} from './harness.js';

const args = parseBenchArgs({
  ...MATRIX_OPTIONS,
  /** seconds of timed steps per case */
  target: { type: 'string', default: '1' },
  'sample-length': { type: 'string', default: '2000' },
});
const { configs, modes } = matrix(args);
const { V, B, T } = SHAPE;

const { env, guard } = await startRun(args);

const SIZES = [128, 256, 512, 1024, 2048];
const sgemm = await runSgemm(SIZES);
const sgemm1 = await runSgemm(SIZES, 1);
console.log('\nsgemm through the addon (C = A B^T, n x n x n, median of 7 calls), GFLOP/s:');
printTable(
  ['threads', ...SIZES.map((n) => `n=${n}`)],
  [sgemm, sgemm1].map((s) => [String(s.threads), ...SIZES.map((n) => fmt.f1(s.gflops[n]!))]),
);
console.log('');

const records: CaseRecord[] = [];
const over = { targetSeconds: Number(args.target), sampleLength: Number(args['sample-length']) };
for (const c of configs) {
  for (const mode of modesFor(c, modes)) {
    const group = await runGroup([caseSpec('rnnkit', mode, c, over)], guard, (r) =>
      console.log(
        `  ${c.id.padEnd(11)} ${mode.padEnd(8)} ${fmt.int(r.tokensPerSec).padStart(9)} tokens/s  (${r.steps} steps, median ${(r.medianSeconds * 1e3).toFixed(2)} ms, peak ${fmt.mb(r.peakBytes)} MB, other CPU ${r.otherCores.toFixed(2)} cores)`,
      ),
    );
    records.push(...group);
  }
}
const { after: sgemmAfter, boundGflops } = await gemmBound(sgemm, guard);
console.log(`\nsgemm after the cases: n=1024 ${fmt.f1(sgemmAfter.gflops[1024]!)}, n=2048 ${fmt.f1(sgemmAfter.gflops[2048]!)} GFLOP/s`);
console.log(`GEMM bound uses ${boundGflops.toFixed(1)} GFLOP/s (best large square, ${sgemm.threads} threads, before or after)`);
const builds = checkBuilds(records);

const find = (id: string, mode: Mode) => records.find((r) => r.id === id && r.mode === mode);
const headers = [
  'config',
  'train tok/s',
  'step ms',
  'train GFLOP/s',
  'of GEMM bound',
  'forward tok/s',
  'fwd of bound',
  'sample tok/s',
  'train peak MB',
  'other CPU',
];
const rows = configs.map((c) => {
  const tr = find(c.id, 'train'),
    fw = find(c.id, 'forward'),
    sa = find(c.id, 'sample');
  const trGflops = tr ? trainFlops(c, V, B, T) / tr.medianSeconds / 1e9 : NaN;
  const fwGflops = fw ? forwardFlops(c, V, B, T) / fw.medianSeconds / 1e9 : NaN;
  const present = [tr, fw, sa].filter((r) => r !== undefined);
  const other = Math.max(...present.map((r) => r.otherCores));
  const disturbed = present.some((r) => r.disturbed);
  return [
    c.id,
    fmt.int(tr?.tokensPerSec ?? NaN),
    tr ? (tr.medianSeconds * 1e3).toFixed(1) : '-',
    fmt.f1(trGflops),
    fmt.pct(trGflops / boundGflops),
    fmt.int(fw?.tokensPerSec ?? NaN),
    fmt.pct(fwGflops / boundGflops),
    fmt.int(sa?.tokensPerSec ?? NaN),
    fmt.mb(tr?.peakBytes ?? NaN),
    other.toFixed(2) + (disturbed ? ' *' : ''),
  ];
});
console.log(
  `\nrnnkit, V=${V} B=${B} T=${T}, medians (other CPU: cores used by other processes during the timed steps, worst case of the row; * = still disturbed after retries)`,
);
printResults(headers, rows, args.markdown);

const file = writeResults('bench', { environment: env, builds, sgemm: [sgemm, sgemm1], sgemmAfter, boundGflops, V, B, T, cases: records });
console.log(`\nwrote ${file}`);
