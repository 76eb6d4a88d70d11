/**
 * What the encoder-decoder examples (examples/dates.ts, examples/g2p.ts)
 * share: the options of the training budget and the model size, the model
 * itself, and the end of a run (save, total time).
 */
import { writeFile } from 'node:fs/promises';
import { layers, seq2seq, type Seq2Seq, type Tokenizer } from '../../lib/index.js';
import { alignmentSvg } from './alignment-svg.js';
import type { exampleArgs } from './args.js';
import { seconds } from './progress.js';

/** `--help` notes of the options {@link seq2seqSettings} reads that need one. */
export const SEQ2SEQ_NOTES = [
  '--epochs    stop after this many epochs even with time left (0: none); with a generous --minutes the run no longer depends on machine speed',
  '--units     encoder LSTM units per direction (the decoder has twice as many)',
  "--attention the decoder's attention over the encoder's outputs: general, dot, additive or none",
  '--alignments an SVG heatmap of the attention of a few held-out examples is written here (needs attention)',
];

/** The values of --attention. */
export const ATTENTION_TYPES = ['general', 'dot', 'additive', 'none'] as const;
export type AttentionChoice = (typeof ATTENTION_TYPES)[number];

/**
 * Reads --attention (a bad value throws a RangeError naming it).
 *
 * @example
 * const attention = attentionChoice(str('attention'));
 */
export function attentionChoice(value: string): AttentionChoice {
  if (!(ATTENTION_TYPES as readonly string[]).includes(value)) {
    throw new RangeError(`Expected ${ATTENTION_TYPES.join(' | ')} for --attention but received ${value}`);
  }
  return value as AttentionChoice;
}

/** The training budget and model size of a run. */
export interface Seq2SeqSettings {
  /** seconds of training (--minutes; 4 with --quick) */
  budget: number;
  /** --epochs, Infinity for 0 */
  maxEpochs: number;
  /** encoder LSTM units per direction (--units; 16 with --quick) */
  units: number;
  batchSize: number;
  /** Adam's initial learning rate */
  lr: number;
}

/**
 * Reads --minutes, --epochs, --units, --batch and --lr (a bad value throws a
 * RangeError naming the option).
 *
 * @example
 * const { budget, maxEpochs, units, batchSize, lr } = seq2seqSettings(num, quick);
 */
export function seq2seqSettings(num: ReturnType<typeof exampleArgs>['num'], quick: boolean): Seq2SeqSettings {
  return {
    budget: quick ? 4 : 60 * num('minutes'),
    maxEpochs: num('epochs', { integer: true }) || Infinity,
    units: quick ? 16 : num('units', { integer: true, min: 1 }),
    batchSize: num('batch', { integer: true, min: 1 }),
    lr: num('lr'),
  };
}

/**
 * The examples' encoder-decoder: a bidirectional LSTM encoder of `units` per
 * direction whose final states, forward and backward side by side, start an
 * LSTM decoder of 2 x units (the identity bridge, h and c). Both tokenizers
 * are attached, so `save` keeps them. Prints a line on the model and the
 * training settings.
 *
 * @example
 * const model = biLstmSeq2Seq(srcTok, tgtTok, { ...settings, seed: 1 });
 */
export function biLstmSeq2Seq(
  source: Tokenizer,
  target: Tokenizer,
  o: Seq2SeqSettings & { seed: number; attention: AttentionChoice; dropout?: number },
): Seq2Seq {
  // --dropout p: variational dropout on both LSTMs' recurrent state, and dropout before the output layer
  const p = o.dropout ?? 0;
  const rd = p > 0 ? { recurrentDropout: p } : {};
  const model = seq2seq({
    ...(o.attention === 'none' ? {} : { attention: { type: o.attention } }),
    sourceVocab: source.size,
    targetVocab: target.size,
    bos: target.bosId,
    eos: target.eosId,
    encoder: [layers.lstm({ units: o.units, bidirectional: true, ...rd })],
    decoder: [layers.lstm({ units: 2 * o.units, ...rd }), ...(p > 0 ? [layers.dropout({ rate: p })] : [])],
    seed: o.seed,
  });
  model.sourceTokenizer = source;
  model.targetTokenizer = target;
  console.log(
    `model: bidirectional LSTM ${o.units} encoder -> LSTM ${2 * o.units} decoder (${model.bridge} bridge, ` +
      `${o.attention === 'none' ? 'no attention' : `${o.attention} attention`}${p > 0 ? `, dropout ${p}` : ''}), ` +
      `${(model.encoder.numParams + model.decoder.numParams).toLocaleString('en-US')} parameters; ` +
      `Adam lr ${o.lr}, batch ${o.batchSize}, clipNorm 5; budget ${seconds(o.budget)}`,
  );
  return model;
}

/**
 * Writes the attention of `sources` (their greedy translations) as an SVG
 * heatmap to `path` (examples/lib/alignment-svg.ts), with `label` naming a
 * source or output token; a model without attention writes nothing.
 *
 * @example
 * await writeAlignments(model, 'dates-alignment.svg', sources, srcTok, tgtTok, 12);
 */
export async function writeAlignments(
  model: Seq2Seq,
  path: string,
  sources: readonly Int32Array[],
  source: Tokenizer,
  target: Tokenizer,
  maxLength: number,
  caption: string,
): Promise<void> {
  if (!model.attention) return;
  const label = (t: Tokenizer, id: number) => {
    const s = t.tokenOf(id);
    return s === ' ' ? '␣' : s;
  };
  const out = await model.translateWithScores(sources, { maxLength });
  const panels = out.map((o, i) => ({
    source: Array.from(sources[i]!, (id) => label(source, id)),
    output: o.tokens.map((id) => label(target, id)),
    weights: o.attention!,
  }));
  await writeFile(path, alignmentSvg(panels, caption));
  console.log(`wrote ${path}: the attention of ${panels.length} held-out examples (rows: output tokens, columns: source tokens)`);
  // in text: each output token with the source token it attends to most (and that token's position)
  for (const p of panels) {
    const peaks = p.output.map((o, i) => {
      const w = p.weights[i]!;
      const j = w.indexOf(Math.max(...w));
      return `${o}<-${p.source[j]}@${j + 1}`;
    });
    console.log(`  ${p.source.join('')}: ${peaks.join(' ')}`);
  }
}

/**
 * Saves the model (encoder, decoder, tokenizers) to `out`, prints the total
 * time since `t0` (a performance.now() reading) and the training time, and
 * frees the model.
 *
 * @example
 * await saveAndDispose(model, 'dates.rnnkit', t0, fitted.seconds);
 */
export async function saveAndDispose(model: Seq2Seq, out: string, t0: number, trainingSeconds: number): Promise<void> {
  await model.save(out);
  console.log(`\nsaved ${out} (encoder, decoder and both tokenizers; load it with loadSeq2Seq)`);
  console.log(`total time ${seconds((performance.now() - t0) / 1e3)} (training ${seconds(trainingSeconds)})`);
  model.dispose();
}
