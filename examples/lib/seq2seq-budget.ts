/**
 * Training an encoder-decoder for a wall-clock budget: one `fit` call per
 * epoch (so the data can be re-drawn and the learning rate changed between
 * epochs), the last epoch cut short by an AbortSignal when the time is up.
 * After each epoch the dev pairs are decoded greedily; the weights with the
 * best dev exact-match rate (ties: lower dev loss) are kept. The learning
 * rate halves whenever an epoch does not improve on them (`schedule:
 * 'plateau'`), or follows a cosine from `lr` down to 0 over the budget, set at
 * each epoch's start from the time spent (`'cosine'`).
 */
import type { Seq2Seq, Seq2SeqData, Tensor } from '../../lib/index.js';
import { batchStatus } from './progress.js';

/**
 * Options of {@link fitWithinBudget}.
 *
 * @example
 * const opts: BudgetOptions = { seconds: 90, data: () => train, dev, batchSize: 64, lr: 0.003, maxLength: 12 };
 */
export interface BudgetOptions {
  /** wall-clock budget for training and the dev checks, in seconds */
  seconds: number;
  /** stop after this many epochs even with time left (default unlimited) */
  maxEpochs?: number;
  /** the training pairs of an epoch (0-based); may draw fresh ones each time */
  data: (epoch: number) => Seq2SeqData;
  /** pairs decoded after each epoch for model selection */
  dev: Seq2SeqData;
  batchSize: number;
  /** Adam's initial learning rate */
  lr: number;
  /** global-norm clipping (default 5) */
  clipNorm?: number;
  /** fit's labelSmoothing (default 0: the one-hot target) */
  labelSmoothing?: number;
  /** most tokens per greedy dev output */
  maxLength: number;
  /** one line per epoch (default console.log) */
  log?: (line: string) => void;
  /** 'plateau' (default): halve the learning rate after an epoch without dev improvement; 'cosine': anneal it over the budget */
  schedule?: 'plateau' | 'cosine';
  /** batches of pairs of similar length (fit's bucketByLength; default false) */
  bucketByLength?: boolean;
}

/**
 * What {@link fitWithinBudget} did.
 *
 * @example
 * const { epochs, bestEpoch, bestDevExact, seconds } = await fitWithinBudget(m, opts);
 */
export interface BudgetResult {
  /** epochs run (the last may be partial) */
  epochs: number;
  /** training pairs seen */
  pairs: number;
  /** the epoch (1-based) whose weights were kept */
  bestEpoch: number;
  /** its dev exact-match rate, in [0, 1] */
  bestDevExact: number;
  seconds: number;
}

const same = (a: readonly number[], b: ArrayLike<number>): boolean => a.length === b.length && a.every((v, i) => v === b[i]);

/**
 * The share of outputs equal to their reference, token for token.
 *
 * @throws never
 * @example
 * exactMatch([[5, 6]], [[5, 6]]); // 1
 */
export function exactMatch(outputs: readonly (readonly number[])[], references: readonly ArrayLike<number>[]): number {
  return outputs.filter((o, i) => same(o, references[i]!)).length / Math.max(1, references.length);
}

/**
 * Trains `model` with Adam until the budget (or `maxEpochs`) is spent and
 * leaves it with the best dev weights.
 *
 * @throws whatever `fit` throws (invalid data, non-finite loss)
 * @example
 * const r = await fitWithinBudget(m, { seconds: 90, data: (e) => render(e), dev, batchSize: 64, lr: 0.003, maxLength: 12 });
 */
export async function fitWithinBudget(model: Seq2Seq, o: BudgetOptions): Promise<BudgetResult> {
  const log = o.log ?? console.log;
  const t0 = performance.now();
  const left = () => o.seconds - (performance.now() - t0) / 1e3;
  let lr = o.lr;
  let best = {
    exact: -1,
    loss: Infinity,
    epoch: 0,
    weights: undefined as { encoder: Record<string, Tensor>; decoder: Record<string, Tensor> } | undefined,
  };
  let epochs = 0;
  let pairs = 0;
  while (left() > 0.5 && epochs < (o.maxEpochs ?? Infinity)) {
    if (o.schedule === 'cosine') lr = (o.lr * (1 + Math.cos(Math.PI * Math.min(1, 1 - left() / o.seconds)))) / 2;
    const data = o.data(epochs);
    const status = batchStatus(`epoch ${epochs + 1}`);
    let seen = 0;
    const history = await model.fit(data, {
      epochs: 1,
      batchSize: o.batchSize,
      bucketByLength: o.bucketByLength ?? false,
      optimizer: { type: 'adam', lr },
      clipNorm: o.clipNorm ?? 5,
      ...(o.labelSmoothing ? { labelSmoothing: o.labelSmoothing } : {}),
      validation: o.dev,
      signal: AbortSignal.timeout(Math.max(1, Math.round(left() * 1e3))),
      onBatchEnd: (b) => {
        seen += Math.min(o.batchSize, data.sources.length - b.batch * o.batchSize);
        status.update(b);
      },
    });
    status.done();
    const e = history.epochs[0];
    if (!e) break; // the budget ended before the first batch
    epochs++;
    pairs += seen;
    const out = await model.translate(o.dev.sources, { maxLength: o.maxLength, batchSize: 256 });
    const exact = exactMatch(out, o.dev.targets);
    const improved = exact > best.exact || (exact === best.exact && e.valLoss! < best.loss);
    log(
      `epoch ${String(epochs).padStart(2)}  train loss ${e.loss.toFixed(3)}  dev loss ${e.valLoss!.toFixed(3)}  ` +
        `dev exact ${(100 * exact).toFixed(1)}%  lr ${lr.toPrecision(2)}  ${seen.toLocaleString('en-US')} pairs` +
        `${history.aborted ? ' (cut by the budget)' : ''}  ${e.seconds.toFixed(1)} s${improved ? '  *' : ''}`,
    );
    if (improved) {
      best = {
        exact,
        loss: e.valLoss!,
        epoch: epochs,
        weights: { encoder: model.encoder.getWeights(), decoder: model.decoder.getWeights() },
      };
    } else if (o.schedule !== 'cosine') {
      lr /= 2;
    }
  }
  if (best.weights) {
    model.encoder.setWeights(best.weights.encoder);
    model.decoder.setWeights(best.weights.decoder);
  }
  return { epochs, pairs, bestEpoch: best.epoch, bestDevExact: Math.max(0, best.exact), seconds: (performance.now() - t0) / 1e3 };
}
