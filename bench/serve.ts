/**
 * `npm run bench:serve`: generation requests from concurrent clients on one
 * model (issue 19), the batched sampler against the serialized baseline.
 *
 * An in-process load generator: `c` clients each send requests back to back
 * (closed loop) for 200 tokens (no stop token, so every request is 200 tokens),
 * with its own seed. `batched`: every request goes to one `batchedSampler`;
 * `serialized`: one `model.generate` at a time, the others waiting their turn
 * in a FIFO (what a server does without the sampler: a second generate on a
 * busy model is not faster than the first). Each level sends
 * max(2c, --min-requests) requests. Reports aggregate tokens/s and per-request
 * latency p50 / p99 (from the client's send to the last token), and the
 * batched / serialized throughput ratio; the two run alternately, `--rounds`
 * times, order reversed every other round, medians over rounds.
 *
 * Model: LSTM-256 char model (V = 64, random weights: sampling cost does not
 * depend on training).
 *
 *   npm run bench:serve
 *   npm run bench:serve -- --clients 1,32 --rounds 5 --units 512
 *   npm run bench:serve -- --neighbours 2     # two busy processes beside it
 */
import { parseArgs } from 'node:util';
import { batchedSampler, layers, sequential, type Model } from '../lib/index.js';
import { median } from './configs.js';
import { printTable, stringOptions } from './harness.js';
import { startNeighbours } from './neighbours.js';

const { values: args } = parseArgs({
  // neighbours: busy single-threaded processes beside the benchmark (bench/neighbours.ts)
  options: stringOptions({
    clients: '1,8,32,128',
    tokens: '200',
    units: '256',
    vocab: '64',
    rounds: '3',
    'min-requests': '16',
    neighbours: '0',
  }),
});
const levels = args.clients.split(',').map(Number);
const tokens = Number(args.tokens);
const rounds = Number(args.rounds);
const minRequests = Number(args['min-requests']);
const V = Number(args.vocab);

const model = sequential({
  input: { vocabSize: V },
  layers: [layers.lstm({ units: Number(args.units) }), layers.dense({ units: V })],
  seed: 1,
});

type Mode = 'batched' | 'serialized';
interface Run {
  tokensPerSecond: number;
  p50: number;
  p99: number;
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
}

/** A FIFO lock: one generate at a time, the others waiting their turn. */
function serializer(m: Model): (seed: number) => Promise<number[]> {
  let tail: Promise<unknown> = Promise.resolve();
  return (seed) => {
    const run = tail.then(() => m.generate({ prime: [2], maxLength: tokens, seed }));
    tail = run.catch(() => {});
    return run.then((r) => r[0]!);
  };
}

/** One sampler for the whole run, made and warmed up once, as a server makes it at startup. */
const sampler = batchedSampler(model, { maxBatch: 256 });

async function load(mode: Mode, clients: number): Promise<Run> {
  const serial = serializer(model);
  const ask = (seed: number) => (mode === 'batched' ? sampler.generate({ prime: [2], maxLength: tokens, seed }) : serial(seed));
  const total = Math.max(2 * clients, minRequests);
  let sent = 0;
  let drawn = 0;
  const latencies: number[] = [];
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (sent < total) {
        const seed = sent++;
        const start = performance.now();
        const sequence = await ask(seed);
        latencies.push(performance.now() - start);
        drawn += sequence.length;
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  latencies.sort((a, b) => a - b);
  return { tokensPerSecond: drawn / seconds, p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99) };
}

const neighbours = startNeighbours(Number(args.neighbours));
console.log(
  `bench:serve  LSTM-${args.units} V=${V}, ${tokens} tokens a request, ${rounds} rounds (medians), ${args.neighbours} busy neighbours`,
);
await load('batched', 32); // warm up both paths: the buffers of the largest batches are allocated once
await load('serialized', 1);
const rows: (string | number)[][] = [];
for (const c of levels) {
  const runs: Record<Mode, Run[]> = { batched: [], serialized: [] };
  for (let r = 0; r < rounds; r++) {
    const order: Mode[] = r % 2 === 0 ? ['batched', 'serialized'] : ['serialized', 'batched'];
    for (const mode of order) runs[mode].push(await load(mode, c));
  }
  const med = (mode: Mode, key: keyof Run) => median(runs[mode].map((x) => x[key]));
  const ratios = runs.batched.map((b, i) => b.tokensPerSecond / runs.serialized[i]!.tokensPerSecond);
  rows.push([
    c,
    Math.round(med('batched', 'tokensPerSecond')),
    Math.round(med('serialized', 'tokensPerSecond')),
    median(ratios).toFixed(2),
    med('batched', 'p50').toFixed(1),
    med('batched', 'p99').toFixed(1),
    med('serialized', 'p50').toFixed(1),
    med('serialized', 'p99').toFixed(1),
  ]);
}
printTable(
  ['clients', 'batched tok/s', 'serialized tok/s', 'ratio', 'batched p50 ms', 'batched p99 ms', 'serial p50 ms', 'serial p99 ms'],
  rows,
);
neighbours.stop();
await sampler.close();
model.dispose();
