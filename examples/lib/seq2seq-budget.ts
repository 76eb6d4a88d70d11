/**
 * Training an encoder-decoder for a wall-clock budget: one `fit` call per
 * epoch (so the data can be re-drawn and the learning rate changed between
 * epochs), the last epoch cut short by an AbortSignal when the time is up.
 * After each epoch the dev pairs are decoded greedily; the weights with the
 * best dev exact-match rate (ties: lower dev loss) are kept. The learning
 * rate halves whenever an epoch does not improve on them (`schedule:
 * 'plateau'`), or follows a cosine from `lr` down to 0 over the budget, set at
 * each epoch's start from the time spent (`'cosine'`). With `average: n`
 * the weights at the end of the last n epochs are also averaged at the end
 * (checkpoint averaging, as fairseq's average_checkpoints.py does for
 * translation models) and the average replaces the kept epoch when it decodes
 * the dev pairs at least as well; the time that check takes is kept out of
 * the training budget.
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
  /** average the weights of the last this many epochs at the end (default 0 or 1: no averaging) */
  average?: number;
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
  /** with `average`: the epochs averaged (1-based, inclusive), the average's dev exact-match rate, and whether it was kept */
  averaged?: { from: number; to: number; devExact: number; kept: boolean };
  seconds: number;
}

type Weights = { encoder: Record<string, Tensor>; decoder: Record<string, Tensor> };

/** The element-wise mean of weight sets with the same names and shapes. */
function meanWeights(sets: readonly Weights[]): Weights {
  const mean = (part: 'encoder' | 'decoder'): Record<string, Tensor> =>
    Object.fromEntries(
      Object.entries(sets[0]![part]).map(([name, t]) => {
        const data = new Float64Array(t.data.length);
        for (const w of sets) {
          const d = w[part][name]!.data;
          for (let i = 0; i < d.length; i++) data[i]! += d[i]!;
        }
        return [name, { shape: [...t.shape], data: Float32Array.from(data, (v) => v / sets.length) }];
      }),
    );
  return { encoder: mean('encoder'), decoder: mean('decoder') };
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
  const averageOf = Math.max(1, Math.floor(o.average ?? 1));
  // with averaging, the time of one more dev check (the last one's, with a margin) stays out of training
  let reserve = 0;
  const left = () => o.seconds - reserve - (performance.now() - t0) / 1e3;
  let lr = o.lr;
  let best = { exact: -1, loss: Infinity, epoch: 0, weights: undefined as Weights | undefined };
  const recent: Weights[] = [];
  const weights = (): Weights => ({ encoder: model.encoder.getWeights(), decoder: model.decoder.getWeights() });
  const devExact = async () => exactMatch(await model.translate(o.dev.sources, { maxLength: o.maxLength, batchSize: 256 }), o.dev.targets);
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
    const devStart = performance.now();
    const exact = await devExact();
    if (averageOf > 1) {
      reserve = (1.5 * (performance.now() - devStart)) / 1e3 + 1;
      recent.push(weights());
      if (recent.length > averageOf) recent.shift();
    }
    const improved = exact > best.exact || (exact === best.exact && e.valLoss! < best.loss);
    log(
      `epoch ${String(epochs).padStart(2)}  train loss ${e.loss.toFixed(3)}  dev loss ${e.valLoss!.toFixed(3)}  ` +
        `dev exact ${(100 * exact).toFixed(1)}%  lr ${lr.toPrecision(2)}  ${seen.toLocaleString('en-US')} pairs` +
        `${history.aborted ? ' (cut by the budget)' : ''}  ${e.seconds.toFixed(1)} s${improved ? '  *' : ''}`,
    );
    if (improved) {
      best = { exact, loss: e.valLoss!, epoch: epochs, weights: recent.at(-1) ?? weights() };
    } else if (o.schedule !== 'cosine') {
      lr /= 2;
    }
  }
  let averaged: BudgetResult['averaged'];
  if (recent.length > 1) {
    const mean = meanWeights(recent);
    model.encoder.setWeights(mean.encoder);
    model.decoder.setWeights(mean.decoder);
    const exact = await devExact();
    averaged = { from: epochs - recent.length + 1, to: epochs, devExact: exact, kept: exact >= best.exact };
    log(
      `average of epochs ${averaged.from}-${averaged.to}  dev exact ${(100 * exact).toFixed(1)}%  ` +
        (averaged.kept ? 'kept' : `not kept (epoch ${best.epoch}: ${(100 * best.exact).toFixed(1)}%)`),
    );
  }
  if (best.weights && !averaged?.kept) {
    model.encoder.setWeights(best.weights.encoder);
    model.decoder.setWeights(best.weights.decoder);
  }
  return {
    epochs,
    pairs,
    bestEpoch: best.epoch,
    bestDevExact: Math.max(0, best.exact),
    ...(averaged ? { averaged } : {}),
    seconds: (performance.now() - t0) / 1e3,
  };
}
