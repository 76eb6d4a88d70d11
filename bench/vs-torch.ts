/**
 * `npm run bench:torch`: rnnkit against PyTorch on the same configurations,
 * interleaved in one run. For each configuration and mode, `rounds` rounds
 * each run one rnnkit process and one PyTorch process (the order alternates
 * between rounds, so a drift in machine load hits both); the table shows each
 * library's median tokens/s over the rounds, the median of the per-round
 * ratios rnnkit / PyTorch, and peak memory (VmHWM) of each. Then the issue's
 * targets, met or not.
 *
 * PyTorch: Debian's python3-torch for /usr/bin/python3 (RNNKIT_BENCH_PYTHON
 * overrides), 2 threads, OMP_WAIT_POLICY=PASSIVE. See docs/benchmarks.md.
 *
 *   npm run bench:torch
 *   npm run bench:torch -- --configs lstm-128,lstm-512 --modes train --rounds 5
 *
 * Writes JSON to bench/results/torch-<date>.json.
 */
import { median, modesFor, trainFlops, type Config, type Lib, type Mode } from './configs.js';
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
  rounds: { type: 'string', default: '3' },
  /** seconds of timed steps per case (at least 5 steps, 3 sampling calls) */
  target: { type: 'string', default: '0.5' },
  'sample-length': { type: 'string', default: '1000' },
});
const { configs, modes } = matrix(args);
const rounds = Number(args.rounds);
const { V, B, T } = SHAPE;
const t0 = Date.now();

const { env, guard } = await startRun(args, { torch: true });

const sgemmBefore = await runSgemm([1024, 2048]);

const over = { targetSeconds: Number(args.target), sampleLength: Number(args['sample-length']) };
const records: CaseRecord[] = [];
for (const c of configs) {
  for (const mode of modesFor(c, modes)) {
    for (let round = 0; round < rounds; round++) {
      const order: Lib[] = round % 2 === 0 ? ['rnnkit', 'torch'] : ['torch', 'rnnkit'];
      const group = await runGroup(
        order.map((lib) => caseSpec(lib, mode, c, over)),
        guard,
        (r) =>
          console.log(
            `  ${c.id.padEnd(11)} ${mode.padEnd(8)} round ${round} ${r.lib.padEnd(6)} ${fmt.int(r.tokensPerSec).padStart(9)} tokens/s  (${r.steps} steps, peak ${fmt.mb(r.peakBytes)} MB, other CPU ${r.otherCores.toFixed(2)})`,
          ),
      );
      records.push(...group.map((r) => ({ ...r, round })));
    }
  }
}
const { after: sgemmAfter, boundGflops } = await gemmBound(sgemmBefore, guard);
const sgemm = [sgemmBefore, sgemmAfter];
console.log(
  `\nsgemm (addon, ${sgemmBefore.threads} threads) before / after: n=1024 ${fmt.f1(sgemmBefore.gflops[1024]!)} / ${fmt.f1(sgemmAfter.gflops[1024]!)}, ` +
    `n=2048 ${fmt.f1(sgemmBefore.gflops[2048]!)} / ${fmt.f1(sgemmAfter.gflops[2048]!)} GFLOP/s; GEMM bound uses ${fmt.f1(boundGflops)}`,
);
const builds = checkBuilds(records);

interface Summary {
  id: string;
  mode: Mode;
  config: Config;
  rnnkit: number;
  torch: number;
  /** median over rounds of rnnkit / torch within the round */
  ratio: number;
  ratios: number[];
  rnnkitPeak: number;
  torchPeak: number;
  rnnkitGemmShare: number;
  torchGemmShare: number;
  otherCores: number;
  disturbed: boolean;
}
const summaries: Summary[] = [];
for (const c of configs) {
  for (const mode of modesFor(c, modes)) {
    const of = (lib: Lib) => records.filter((r) => r.id === c.id && r.mode === mode && r.lib === lib).sort((a, b) => a.round! - b.round!);
    const rk = of('rnnkit'),
      pt = of('torch');
    const ratios = rk.map((r, i) => r.tokensPerSec / pt[i]!.tokensPerSec);
    const share = (rs: CaseRecord[]) =>
      mode === 'train' ? trainFlops(c, V, B, T) / median(rs.map((r) => r.medianSeconds)) / 1e9 / boundGflops : NaN;
    summaries.push({
      id: c.id,
      mode,
      config: c,
      rnnkit: median(rk.map((r) => r.tokensPerSec)),
      torch: median(pt.map((r) => r.tokensPerSec)),
      ratio: median(ratios),
      ratios,
      rnnkitPeak: median(rk.map((r) => r.peakBytes)),
      torchPeak: median(pt.map((r) => r.peakBytes)),
      rnnkitGemmShare: share(rk),
      torchGemmShare: share(pt),
      otherCores: Math.max(...rk.concat(pt).map((r) => r.otherCores)),
      disturbed: rk.concat(pt).some((r) => r.disturbed),
    });
  }
}

const headers = [
  'config',
  'mode',
  'rnnkit tok/s',
  'torch tok/s',
  'rnnkit/torch',
  'min..max',
  'rnnkit of bound',
  'torch of bound',
  'rnnkit peak MB',
  'torch peak MB',
  'other CPU',
];
const rows = summaries.map((s) => [
  s.id,
  s.mode,
  fmt.int(s.rnnkit),
  fmt.int(s.torch),
  fmt.x(s.ratio),
  `${Math.min(...s.ratios).toFixed(2)}..${Math.max(...s.ratios).toFixed(2)}`,
  fmt.pct(s.rnnkitGemmShare),
  fmt.pct(s.torchGemmShare),
  fmt.mb(s.rnnkitPeak),
  fmt.mb(s.torchPeak),
  s.otherCores.toFixed(2) + (s.disturbed ? ' *' : ''),
]);
console.log(
  `\nrnnkit vs PyTorch, V=${V} B=${B} T=${T}, ${rounds} interleaved rounds, medians; peak = VmHWM of the whole process; other CPU = worst cores used by other processes in a kept run (* = still disturbed after retries)`,
);
printResults(headers, rows, args.markdown);

// The targets (same run, same machine, medians).
interface Target {
  target: string;
  measured: string;
  met: boolean | null;
}
const targets: Target[] = [];
const get = (id: string, mode: Mode) => summaries.find((s) => s.id === id && s.mode === mode);
/** For each cell and each [H, want]: rnnkit's `mode` tokens/s at least `want` times PyTorch's. */
function ratioTargets(what: string, mode: Mode, wants: readonly (readonly [number, number])[]): void {
  for (const cell of ['lstm', 'gru', 'rnn']) {
    for (const [H, want] of wants) {
      const s = get(`${cell}-${H}`, mode);
      targets.push({
        target: `${what} ${cell} H=${H} >= ${want}x PyTorch`,
        measured: s ? `${s.ratio.toFixed(3)}x` : 'not run',
        met: s ? s.ratio >= want : null,
      });
    }
  }
}
ratioTargets('training', 'train', [
  [128, 2.5],
  [512, 1.5],
]);
for (const cell of ['lstm', 'gru', 'rnn']) {
  const s = get(`${cell}-512`, 'train');
  targets.push({
    target: `training ${cell} H=512 >= 60% of GEMM bound`,
    measured: s ? `${(s.rnnkitGemmShare * 100).toFixed(1)}%` : 'not run',
    met: s ? s.rnnkitGemmShare >= 0.6 : null,
  });
}
ratioTargets('batch-1 sampling', 'sample', [
  [128, 10],
  [512, 2],
]);
{
  const s = get('lstm-512', 'train');
  targets.push({
    target: 'peak memory training LSTM H=512 <= PyTorch',
    measured: s ? `${fmt.mb(s.rnnkitPeak)} vs ${fmt.mb(s.torchPeak)} MB` : 'not run',
    met: s ? s.rnnkitPeak <= s.torchPeak : null,
  });
}
console.log('\ntargets (issue 5):');
printTable(
  ['target', 'measured', 'status'],
  targets.map((t) => [t.target, t.measured, t.met === null ? 'not run' : t.met ? 'met' : 'NOT met']),
);

const minutes = (Date.now() - t0) / 60e3;
const file = writeResults('torch', {
  environment: env,
  builds,
  sgemm,
  boundGflops,
  V,
  B,
  T,
  rounds,
  minutes,
  summaries,
  targets,
  cases: records,
});
console.log(`\n${minutes.toFixed(1)} min; wrote ${file}`);
