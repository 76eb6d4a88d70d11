/**
 * `model.fit` and `model.evaluate`: the training loop over a dataset, with
 * validation, metrics, callbacks and clean cancellation. Each step is one
 * native trainStep off the event loop, so the loop never blocks it.
 */
import { planBatches, type Batch, type Dataset } from './data.js';
import { typeError } from './errors.js';
import type { Model, TrainStepOptions } from './model.js';
import type { OptimizerConfig } from './optimizer.js';
import type { LayerState } from './types.js';
import { boolean, integer, knownKeys, number, oneOf, optionalObject, withDefault } from './validate.js';

/**
 * Metrics of one epoch. Losses are per scored token (position, or element
 * for binaryCrossEntropy / mse), whatever the model's reduction.
 *
 * @example
 * onEpochEnd: (e) => console.log(e.epoch, e.loss, e.valBitsPerToken)
 */
export interface EpochLog {
  /** 0-based index over the model's whole life (see model.epoch) */
  epoch: number;
  loss: number;
  /** exp(loss), crossEntropy only */
  perplexity?: number;
  /** loss / ln 2, crossEntropy only */
  bitsPerToken?: number;
  valLoss?: number;
  valPerplexity?: number;
  valBitsPerToken?: number;
  valAccuracy?: number;
  tokensPerSec: number;
  seconds: number;
}

/**
 * Progress after one batch.
 *
 * @example
 * onBatchEnd: (b) => bar.update(b.batch + 1, { loss: b.loss })
 */
export interface BatchLog {
  epoch: number;
  /** 0-based index within the epoch */
  batch: number;
  batches: number;
  /** per-token loss of this batch */
  loss: number;
  tokens: number;
  /** over the epoch so far */
  tokensPerSec: number;
}

/**
 * What `fit` returns.
 *
 * @example
 * const { epochs, aborted } = await model.fit(data, { epochs: 3 });
 */
export interface History {
  epochs: EpochLog[];
  batches: { epoch: number; batch: number; loss: number; tokens: number }[];
  /** true when options.signal stopped training early */
  aborted: boolean;
  /** steps skipped because they were not finite (options.nonFinite 'skip') */
  skipped: number;
}

/**
 * Options of `fit`.
 *
 * @example
 * await model.fit(data, { epochs: 10, batchSize: 32, optimizer: { type: 'adam', lr: 3e-3 }, clipNorm: 5 });
 */
export interface FitOptions {
  /** epochs to run now (default 1); the model's epoch counter continues */
  epochs?: number;
  /** rows per batch, or parallel streams for a textStream (default 32) */
  batchSize?: number;
  optimizer?: OptimizerConfig;
  clipNorm?: number;
  clipValue?: number;
  /** shuffle rows each epoch (default true; streams keep their order) */
  shuffle?: boolean;
  /** evaluated after each epoch */
  validation?: Dataset;
  /** stops cleanly after the current step; history.aborted is then true */
  signal?: AbortSignal;
  /** 'skip' skips a step whose loss, gradient or update is not finite (history.skipped counts them); default 'throw' */
  nonFinite?: 'throw' | 'skip';
  /** shuffling seed (default: the model's seed); the order of epoch e depends only on (seed, e) */
  seed?: number;
  onBatchEnd?: (log: BatchLog) => void | Promise<void>;
  onEpochEnd?: (log: EpochLog) => void | Promise<void>;
}

/**
 * What `evaluate` returns.
 *
 * @example
 * const { loss, perplexity, bitsPerToken, accuracy } = await model.evaluate(test);
 */
export interface Evaluation {
  /** mean loss per scored token */
  loss: number;
  perplexity?: number;
  bitsPerToken?: number;
  /** share of positions whose argmax (or p > 0.5) is right; undefined for mse */
  accuracy?: number;
  /** scored tokens (positions, or elements for binaryCrossEntropy / mse) */
  tokens: number;
}

/**
 * A seeded permutation of [0, n): Fisher-Yates driven by a SplitMix32-style
 * generator; depends only on (seed, epoch).
 *
 * @throws never
 * @example
 * const order = permutation(100, 1, 0);
 */
export function permutation(n: number, seed: number, epoch: number): number[] {
  let s = (seed ^ Math.imul(epoch + 1, 0x9e3779b9)) >>> 0;
  const next = () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return ((z ^ (z >>> 16)) >>> 0) / 4294967296;
  };
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
}

function lossMetrics(model: Model, loss: number): { perplexity?: number; bitsPerToken?: number } {
  if (model.config.loss !== 'crossEntropy') return {};
  return { perplexity: Math.exp(loss), bitsPerToken: loss / Math.LN2 };
}

/** Per-token loss of a batch from the model's reduction. */
function perToken(model: Model, loss: number, batch: Batch): number {
  if (model.config.reduction === 'mean') return loss;
  const width = model.config.loss === 'crossEntropy' ? 1 : model.outputShape(1, 1).at(-1)!;
  return loss / (batch.tokens * width);
}

/**
 * Evaluates a dataset in inference mode (no dropout), carrying the state
 * across windows of a stream.
 *
 * @throws TypeError / RangeError for a malformed dataset or options
 * @throws RnnkitError ERR_BUSY / ERR_DISPOSED / ERR_NATIVE
 * @example
 * const ev = await evaluate(model, data, { batchSize: 64 });
 */
export async function evaluate(model: Model, data: Dataset, options?: { batchSize?: number }): Promise<Evaluation> {
  const opts = optionalObject(options, 'options');
  knownKeys(opts, ['batchSize'], 'options');
  const batchSize = withDefault(opts.batchSize, 32, (v) => integer(v, 'options.batchSize', 1, 1e6));
  const plan = planBatches(data, batchSize);
  let lossSum = 0;
  let count = 0;
  let correct = 0;
  let state: LayerState[] | undefined;
  for (let i = 0; i < plan.batches; i++) {
    const b = plan.batch(i);
    const r = await model.evaluateBatch(b.inputs, b.targets, {
      lengths: b.lengths,
      ...(b.condition ? { condition: b.condition } : {}),
      ...(b.carry && state ? { initialState: state } : {}),
    });
    lossSum += r.lossSum;
    count += r.count;
    correct += r.correct;
    state = r.finalState;
  }
  const loss = lossSum / Math.max(1, count);
  return {
    loss,
    ...lossMetrics(model, loss),
    ...(model.config.loss === 'mse' ? {} : { accuracy: correct / Math.max(1, count) }),
    tokens: count,
  };
}

const FIT_KEYS = [
  'epochs',
  'batchSize',
  'optimizer',
  'clipNorm',
  'clipValue',
  'shuffle',
  'validation',
  'signal',
  'seed',
  'onBatchEnd',
  'onEpochEnd',
  'nonFinite',
] as const;

function callback(value: unknown, name: string): ((log: never) => unknown) | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'function') throw typeError('a function', name, value);
  return value as (log: never) => unknown;
}

/**
 * Trains the model on a dataset for some epochs: shuffled batches (streams
 * in order, state carried), one optimizer step each, validation after each
 * epoch. The model's epoch counter continues, so two fits of 2 epochs train
 * exactly like one fit of 4 (same seed, same batches, same dropout masks).
 *
 * @throws TypeError / RangeError for a malformed dataset or options
 * @throws RnnkitError ERR_NONFINITE when a loss or gradient is not finite (the weights keep their values from before that step)
 * @example
 * const history = await fit(model, data, { epochs: 5, onEpochEnd: (e) => console.log(e) });
 */
export async function fit(model: Model, data: Dataset, options?: FitOptions): Promise<History> {
  const opts = optionalObject(options, 'options');
  knownKeys(opts, FIT_KEYS, 'options');
  const epochs = withDefault(opts.epochs, 1, (v) => integer(v, 'options.epochs', 0, 1e9));
  const batchSize = withDefault(opts.batchSize, 32, (v) => integer(v, 'options.batchSize', 1, 1e6));
  const shuffle = withDefault(opts.shuffle, true, (v) => boolean(v, 'options.shuffle'));
  const seed = withDefault(opts.seed, model.config.seed, (v) => integer(v, 'options.seed', 0, 0xffffffff));
  const signal = opts.signal;
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw typeError('an AbortSignal', 'options.signal', signal);
  const onBatchEnd = callback(opts.onBatchEnd, 'options.onBatchEnd') as FitOptions['onBatchEnd'];
  const onEpochEnd = callback(opts.onEpochEnd, 'options.onEpochEnd') as FitOptions['onEpochEnd'];
  const stepOptions: TrainStepOptions = {};
  if (opts.optimizer !== undefined) stepOptions.optimizer = opts.optimizer as OptimizerConfig;
  if (opts.clipNorm !== undefined) stepOptions.clipNorm = number(opts.clipNorm, 'options.clipNorm', { min: 0, minExclusive: true });
  if (opts.clipValue !== undefined) stepOptions.clipValue = number(opts.clipValue, 'options.clipValue', { min: 0, minExclusive: true });
  if (opts.nonFinite !== undefined) stepOptions.nonFinite = oneOf(opts.nonFinite, 'options.nonFinite', ['throw', 'skip'] as const);
  const plan = planBatches(data, batchSize);
  const validation = opts.validation as Dataset | undefined;
  if (validation !== undefined) planBatches(validation, batchSize); // fail early on a malformed one

  const history: History = { epochs: [], batches: [], aborted: false, skipped: 0 };
  for (let e = 0; e < epochs && !history.aborted; e++) {
    const epoch = model.epoch;
    const order = shuffle && !plan.stateful ? permutation(plan.rows, seed, epoch) : undefined;
    const t0 = performance.now();
    let lossSum = 0;
    let tokens = 0;
    let state: LayerState[] | undefined;
    for (let i = 0; i < plan.batches; i++) {
      if (signal?.aborted) {
        history.aborted = true;
        break;
      }
      const b = plan.batch(i, order);
      const r = await model.trainStep(b.inputs, b.targets, {
        ...stepOptions,
        lengths: b.lengths,
        ...(b.condition ? { condition: b.condition } : {}),
        ...(b.carry && state ? { initialState: state } : {}),
        ...(plan.stateful ? { returnState: true } : {}),
      });
      if (r.skipped) {
        history.skipped++;
        state = undefined; // the state of a skipped window is not carried on
        continue;
      }
      state = r.finalState;
      const loss = perToken(model, r.loss, b);
      lossSum += loss * b.tokens;
      tokens += b.tokens;
      history.batches.push({ epoch, batch: i, loss, tokens: b.tokens });
      if (onBatchEnd) {
        const seconds = (performance.now() - t0) / 1e3;
        await onBatchEnd({ epoch, batch: i, batches: plan.batches, loss, tokens: b.tokens, tokensPerSec: tokens / seconds });
      }
    }
    if (history.aborted && tokens === 0) break;
    const seconds = (performance.now() - t0) / 1e3;
    const loss = tokens > 0 ? lossSum / tokens : NaN; // NaN, not 0, when every step of the epoch was skipped
    const log: EpochLog = { epoch, loss, ...lossMetrics(model, loss), tokensPerSec: tokens / seconds, seconds };
    if (validation !== undefined) {
      const v = await evaluate(model, validation, { batchSize });
      log.valLoss = v.loss;
      if (v.perplexity !== undefined) log.valPerplexity = v.perplexity;
      if (v.bitsPerToken !== undefined) log.valBitsPerToken = v.bitsPerToken;
      if (v.accuracy !== undefined) log.valAccuracy = v.accuracy;
    }
    if (!history.aborted) model.epoch = epoch + 1;
    history.epochs.push(log);
    if (onEpochEnd) await onEpochEnd(log);
  }
  return history;
}

