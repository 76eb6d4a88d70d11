/**
 * `npm run bench:scaling`: LSTM H=256 training as the batch grows
 * (B = 1, 8, 32, 128 at T = 64) and the sequence grows (T = 16, 64, 256 at
 * B = 32), each (B, T) in a fresh process. Prints tokens/s, the cost per token
 * and the peak memory per (B, T): the cost per token should fall or stay flat
 * as B*T grows (no cliff), and the memory above the process baseline should
 * grow linearly in B*T.
 *
 *   npm run bench:scaling
 *   npm run bench:scaling -- --torch          # PyTorch alongside, interleaved
 *
 * Writes JSON to bench/results/scaling-<date>.json.
 */
import { configById, median, type Lib } from './configs.js';
import { caseSpec, checkBuilds, fmt, parseBenchArgs, printResults, runGroup, startRun, writeResults, type CaseRecord } from './harness.js';

const args = parseBenchArgs({
  config: { type: 'string', default: 'lstm-256' },
  torch: { type: 'boolean', default: false },
  rounds: { type: 'string', default: '1' },
  target: { type: 'string', default: '1' },
});
const config = configById(args.config);
const SHAPES: [number, number][] = [
  [1, 64],
  [8, 64],
  [32, 64],
  [128, 64],
  [32, 16],
  [32, 256],
];
const libs: Lib[] = args.torch ? ['rnnkit', 'torch'] : ['rnnkit'];
const rounds = Number(args.rounds);

const { env, guard } = await startRun(args, { torch: args.torch });

const records: CaseRecord[] = [];
for (const [B, T] of SHAPES) {
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? libs : [...libs].reverse();
    const group = await runGroup(
      order.map((lib) => caseSpec(lib, 'train', config, { B, T, targetSeconds: Number(args.target) })),
      guard,
      (r) =>
        console.log(
          `  B=${String(B).padEnd(4)} T=${String(T).padEnd(4)} ${r.lib.padEnd(6)} ${fmt.int(r.tokensPerSec).padStart(9)} tokens/s  (${r.steps} steps, peak ${fmt.mb(r.peakBytes)} MB, other CPU ${r.otherCores.toFixed(2)})`,
        ),
    );
    records.push(...group.map((r) => ({ ...r, round })));
  }
}
const builds = checkBuilds(records);

const summaries = SHAPES.flatMap(([B, T]) =>
  libs.map((lib) => {
    const rs = records.filter((r) => r.B === B && r.T === T && r.lib === lib);
    const tokensPerSec = median(rs.map((r) => r.tokensPerSec));
    const peak = median(rs.map((r) => r.peakBytes));
    const above = median(rs.map((r) => r.peakBytes - r.baselineBytes));
    return {
      lib,
      B,
      T,
      tokens: B * T,
      tokensPerSec,
      usPerToken: 1e6 / tokensPerSec,
      stepMs: median(rs.map((r) => r.medianSeconds)) * 1e3,
      peak,
      above,
      otherCores: Math.max(...rs.map((r) => r.otherCores)),
      disturbed: rs.some((r) => r.disturbed),
    };
  }),
);
const headers = [
  'lib',
  'B',
  'T',
  'B*T',
  'tokens/s',
  'us/token',
  'vs B=32,T=64',
  'step ms',
  'peak MB',
  'above baseline MB',
  'KB/token',
  'other CPU',
];
const rows = summaries.map((s) => {
  const ref = summaries.find((x) => x.lib === s.lib && x.B === 32 && x.T === 64)!;
  return [
    s.lib,
    s.B,
    s.T,
    s.tokens,
    fmt.int(s.tokensPerSec),
    s.usPerToken.toFixed(2),
    fmt.x(s.usPerToken / ref.usPerToken),
    s.stepMs.toFixed(1),
    fmt.mb(s.peak),
    fmt.mb(s.above),
    (s.above / 1024 / s.tokens).toFixed(1),
    s.otherCores.toFixed(2) + (s.disturbed ? ' *' : ''),
  ];
});
console.log(`\n${config.id} training, V=64, medians; "vs B=32,T=64" = cost per token relative to the reference shape; peak = VmHWM`);
printResults(headers, rows, args.markdown);

const file = writeResults('scaling', { environment: env, builds, config, rounds, summaries, cases: records });
console.log(`\nwrote ${file}`);
