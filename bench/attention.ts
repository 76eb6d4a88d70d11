/**
 * `npm run bench:attention`: what attention costs a Seq2Seq training step
 * (issue 14's target: at most 1.6x the same model without attention at B=64,
 * T_x = T_y = 20, H = 256).
 *
 * Models: an LSTM encoder and an LSTM decoder of `--units` each (identity
 * bridge), vocabularies of `--vocab` on both sides, without attention and with
 * each score type (dot, general, additive with units = H). Every model trains
 * on the same `--steps` batches of B pairs of exactly T_x / T_y tokens (Adam,
 * clipNorm 5). Rounds interleave the models, the order rotating each round;
 * medians over rounds of ms per step, and each model's median of its
 * per-round ratios to the model without attention (the ratio of two runs of
 * one round, as little disturbed by drift as a paired comparison can be).
 *
 *   npm run bench:attention
 *   npm run bench:attention -- --units 128 --batch 32 --rounds 9
 *   npm run bench:attention -- --neighbours 2   # two busy processes beside it
 */
import { parseArgs } from 'node:util';
import { layers, seq2seq, type Seq2Seq } from '../lib/index.js';
import { rng } from '../examples/lib/random.js';
import { median } from './configs.js';
import { printTable, stringOptions } from './harness.js';
import { startNeighbours } from './neighbours.js';

const { values: args } = parseArgs({
  options: stringOptions({ units: '256', batch: '64', tx: '20', ty: '20', vocab: '64', steps: '5', rounds: '7', neighbours: '0' }),
});
const [H, B, Tx, Ty, V, steps, rounds] = ['units', 'batch', 'tx', 'ty', 'vocab', 'steps', 'rounds'].map((k) => Number(args[k as 'units']));
const rand = rng(1);
const seq = (n: number) => Array.from({ length: n }, () => 4 + Math.floor(rand() * (V! - 4)));
const batches = Array.from({ length: steps! }, () => ({
  src: Array.from({ length: B! }, () => seq(Tx!)),
  tgt: Array.from({ length: B! }, () => seq(Ty! - 1)), // + <eos>: T_y steps
}));

const kinds = ['none', 'dot', 'general', 'additive'] as const;
type Kind = (typeof kinds)[number];
const models = Object.fromEntries(
  kinds.map((k) => [
    k,
    seq2seq({
      sourceVocab: V!,
      targetVocab: V!,
      bos: 2,
      eos: 3,
      encoder: [layers.lstm({ units: H! })],
      decoder: [layers.lstm({ units: H! })],
      ...(k === 'none' ? {} : { attention: { type: k } }),
      seed: 1,
    }),
  ]),
) as Record<Kind, Seq2Seq>;
const options = { optimizer: { type: 'adam' as const, lr: 1e-3 }, clipNorm: 5 };

async function steps_(m: Seq2Seq): Promise<number> {
  const t0 = performance.now();
  for (const b of batches) await m.trainStep(b.src, b.tgt, options);
  return (performance.now() - t0) / batches.length;
}

const neighbours = startNeighbours(Number(args.neighbours));
try {
  for (const k of kinds) await steps_(models[k]); // warm-up: buffers grown, caches packed
  const ms: Record<Kind, number[]> = { none: [], dot: [], general: [], additive: [] };
  const ratio: Record<Kind, number[]> = { none: [], dot: [], general: [], additive: [] };
  for (let r = 0; r < rounds!; r++) {
    const order = kinds.map((_, i) => kinds[(i + r) % kinds.length]!);
    const round = {} as Record<Kind, number>;
    for (const k of order) round[k] = await steps_(models[k]);
    for (const k of kinds) {
      ms[k].push(round[k]);
      ratio[k].push(round[k] / round.none);
    }
  }
  console.log(
    `Seq2Seq.trainStep, LSTM-${H} -> LSTM-${H}, B=${B}, T_x=${Tx}, T_y=${Ty}, V=${V}, ${rounds} rounds x ${steps} steps` +
      (Number(args.neighbours) > 0 ? `, ${args.neighbours} busy neighbour(s)` : ''),
  );
  printTable(
    ['attention', 'ms/step (median)', 'x no attention (median of per-round ratios)', 'params'],
    kinds.map((k) => [
      k,
      median(ms[k]).toFixed(1),
      median(ratio[k]).toFixed(2),
      String(models[k].encoder.numParams + models[k].decoder.numParams),
    ]),
  );
} finally {
  neighbours.stop();
  for (const k of kinds) models[k].dispose();
}
