/**
 * What the encoder-decoder examples (examples/dates.ts, examples/g2p.ts)
 * share: the options of the training budget and the model size, the model
 * itself, and the end of a run (save, total time).
 */
import { layers, seq2seq, type Seq2Seq, type Tokenizer } from '../../lib/index.js';
import type { exampleArgs } from './args.js';
import { seconds } from './progress.js';

/** `--help` notes of the options {@link seq2seqSettings} reads that need one. */
export const SEQ2SEQ_NOTES = [
  '--epochs    stop after this many epochs even with time left (0: none); with a generous --minutes the run no longer depends on machine speed',
  '--units     encoder LSTM units per direction (the decoder has twice as many)',
];

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
export function biLstmSeq2Seq(source: Tokenizer, target: Tokenizer, o: Seq2SeqSettings & { seed: number }): Seq2Seq {
  const model = seq2seq({
    sourceVocab: source.size,
    targetVocab: target.size,
    bos: target.bosId,
    eos: target.eosId,
    encoder: [layers.lstm({ units: o.units, bidirectional: true })],
    decoder: [layers.lstm({ units: 2 * o.units })],
    seed: o.seed,
  });
  model.sourceTokenizer = source;
  model.targetTokenizer = target;
  console.log(
    `model: bidirectional LSTM ${o.units} encoder -> LSTM ${2 * o.units} decoder (${model.bridge} bridge), ` +
      `${(model.encoder.numParams + model.decoder.numParams).toLocaleString('en-US')} parameters; ` +
      `Adam lr ${o.lr}, batch ${o.batchSize}, clipNorm 5; budget ${seconds(o.budget)}`,
  );
  return model;
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
