/**
 * Batches of similar length for `fit`: rows sorted by length and cut into
 * batches, the batch order shuffled per epoch (seeded). A batch is padded to
 * its longest row, so grouping similar lengths saves most of the padding
 * that random batches of sentences or e-mails would compute for nothing.
 * Pass the result to `model.fit(data, { epochs: 1, batchSize, shuffle: false })`.
 */
import { shuffled } from './random.js';

/**
 * Rows reordered so that consecutive runs of `batchSize` have similar lengths,
 * those runs in a seeded random order.
 *
 * @throws never
 * @example
 * const order = lengthBuckets(rows.map((r) => r.length), 32, seed + epoch);
 * await model.fit({ inputs: order.map((i) => x[i]), targets: order.map((i) => y[i]) }, { batchSize: 32, shuffle: false });
 */
export function lengthBuckets(lengths: readonly number[], batchSize: number, seed: number): number[] {
  const sorted = lengths.map((_, i) => i).sort((a, b) => lengths[a]! - lengths[b]! || a - b);
  const batches: number[][] = [];
  for (let i = 0; i < sorted.length; i += batchSize) batches.push(sorted.slice(i, i + batchSize));
  return shuffled(batches, seed).flat();
}
