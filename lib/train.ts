/**
 * `model.fit` and `model.evaluate`: the training loop over a dataset, with
 * validation, metrics, callbacks and clean cancellation. Each step is one
 * native trainStep off the event loop, so the loop never blocks it.
 */
import { planBatches, type Batch, type Dataset } from './data.js';
import { RnnkitError, rangeError, received, typeError } from './errors.js';
import type { TrainStepOptions } from './calls.js';
import type { Model } from './model.js';
import { DEFAULT_OPTIMIZER, toNativeOptimizer, type OptimizerConfig } from './optimizer.js';
import {
  ensureLoopState,
  loopPolicies,
  lrAt,
  plateauStep,
  type CheckpointOptions,
  type EarlyStopping,
  type LoopPolicies,
  type LrSchedule,
} from './schedules.js';
import { labelSmoothingOption } from './targets.js';
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
  /** the learning rate of this epoch's steps (options.lrSchedule, else the optimizer's) */
  lr: number;
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
  /** true when options.earlyStopping ended training before options.epochs */
  stoppedEarly: boolean;
  /** with options.earlyStopping: the epoch (model.epoch numbering) whose monitored loss was the best */
  bestEpoch?: number;
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
  /** each step's label smoothing, as trainStep's (crossEntropy; default 0) */
  labelSmoothing?: number;
  /** shuffle rows each epoch (default true; streams keep their order) */
  shuffle?: boolean;
  /**
   * batches of rows of similar length (default false): each epoch's shuffled
   * order is cut into pools of 50 batches, each pool sorted by row length and
   * cut into batches, and the batches shuffled. Less padding (a batch is as
   * long as its longest row), the same rows every epoch. For ragged rows
   * (Seq2Seq pairs, sequence datasets); streams and padded tensors refuse it
   */
  bucketByLength?: boolean;
  /** evaluated after each epoch */
  validation?: Dataset;
  /** stops cleanly after the current step; history.aborted is then true */
  signal?: AbortSignal;
  /** 'skip' skips a step whose loss, gradient or update is not finite (history.skipped counts them); default 'throw' */
  nonFinite?: 'throw' | 'skip';
  /** each step, as trainStep's: 'wait' waits for running inference calls instead of ERR_BUSY (default 'reject') */
  whenBusy?: 'reject' | 'wait';
  /** shuffling seed (default: the model's seed); the order of epoch e depends only on (seed, e) */
  seed?: number;
  /** a per-epoch learning-rate schedule over the optimizer's lr (see {@link LrSchedule}) */
  lrSchedule?: LrSchedule;
  /** stop when the monitored loss (validation, else training) stops improving (see {@link EarlyStopping}) */
  earlyStopping?: EarlyStopping;
  /** save the model during training, atomically (see {@link CheckpointOptions}) */
  checkpoint?: CheckpointOptions;
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

const identity = (n: number) => Array.from({ length: n }, (_, i) => i);

/**
 * A seeded permutation of [0, n): Fisher-Yates driven by a SplitMix32-style
 * generator; depends only on (seed, epoch).
 *
 * @throws never
 * @example
 * const order = permutation(100, 1, 0);
 */
export function permutation(n: number, seed: number, epoch: number): number[] {
  return shuffleInPlace(identity(n), seed, epoch);
}

/** Fisher-Yates on `items` driven by a SplitMix32-style generator seeded by (seed, epoch). */
function shuffleInPlace<T>(items: T[], seed: number, epoch: number): T[] {
  let s = (seed ^ Math.imul(epoch + 1, 0x9e3779b9)) >>> 0;
  const next = () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return ((z ^ (z >>> 16)) >>> 0) / 4294967296;
  };
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

/** Batches a pool of rows sorted by length holds (options.bucketByLength). */
export const BUCKET_POOL_BATCHES = 50;

/**
 * An epoch's order regrouped so that consecutive runs of `batchSize` rows
 * have similar lengths (options.bucketByLength): pools of
 * {@link BUCKET_POOL_BATCHES} batches of `order`, each sorted by length
 * (stable), cut into batches; the full batches shuffled by `shuffle`'s
 * (seed, epoch) (in pool order without it), the one partial batch (N not a
 * multiple of batchSize) kept last. A permutation of `order`; depends only on
 * its arguments.
 *
 * @throws never
 * @example
 * const bucketed = bucketOrder(permutation(1000, 1, 0), lengths, 32, { seed: 1, epoch: 0 });
 */
export function bucketOrder(
  order: readonly number[],
  lengths: readonly number[],
  batchSize: number,
  shuffle?: { seed: number; epoch: number },
): number[] {
  const pool = BUCKET_POOL_BATCHES * batchSize;
  const batches: number[][] = [];
  for (let p = 0; p < order.length; p += pool) {
    const rows = order.slice(p, p + pool).sort((a, b) => lengths[a]! - lengths[b]!);
    for (let k = 0; k < rows.length; k += batchSize) batches.push(rows.slice(k, k + batchSize));
  }
  const last = batches.length > 0 && batches[batches.length - 1]!.length < batchSize ? batches.pop() : undefined;
  if (shuffle) shuffleInPlace(batches, shuffle.seed ^ 0x5bd1e995, shuffle.epoch);
  if (last) batches.push(last);
  return batches.flat();
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
  'labelSmoothing',
  'shuffle',
  'bucketByLength',
  'validation',
  'signal',
  'seed',
  'onBatchEnd',
  'onEpochEnd',
  'nonFinite',
  'lrSchedule',
  'earlyStopping',
  'checkpoint',
  'whenBusy',
] as const;

function callback(value: unknown, name: string): ((log: never) => unknown) | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'function') throw typeError('a function', name, value);
  return value as (log: never) => unknown;
}

/**
 * The options of every fit loop (Model and Seq2Seq), checked, with defaults.
 *
 * @example
 * const s = fitSettings({ epochs: 3 }, model.config.seed);
 */
export interface FitSettings {
  epochs: number;
  batchSize: number;
  shuffle: boolean;
  bucketByLength: boolean;
  seed: number;
  signal: AbortSignal | undefined;
  onBatchEnd: FitOptions['onBatchEnd'];
  onEpochEnd: FitOptions['onEpochEnd'];
  /** the per-step options, passed on to each trainStep */
  step: Pick<TrainStepOptions, 'optimizer' | 'clipNorm' | 'clipValue' | 'labelSmoothing' | 'nonFinite' | 'whenBusy'>;
  /** options.validation, unchecked: each model kind checks its own data */
  validation: unknown;
  /** options.lrSchedule, earlyStopping and checkpoint, checked */
  policies: LoopPolicies;
  /** the optimizer's lr, which a schedule scales */
  baseLr: number;
}

/**
 * Checks the options of `fit` (see {@link FitOptions}); the shuffling seed defaults to `defaultSeed`.
 *
 * @throws TypeError / RangeError naming the option
 * @example
 * const s = fitSettings(options, model.config.seed);
 */
export function fitSettings(options: unknown, defaultSeed: number): FitSettings {
  const opts = optionalObject(options, 'options');
  knownKeys(opts, FIT_KEYS, 'options');
  const signal = opts.signal;
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw typeError('an AbortSignal', 'options.signal', signal);
  const step: FitSettings['step'] = {};
  if (opts.optimizer !== undefined) step.optimizer = opts.optimizer as OptimizerConfig;
  if (opts.clipNorm !== undefined) step.clipNorm = number(opts.clipNorm, 'options.clipNorm', { min: 0, minExclusive: true });
  if (opts.clipValue !== undefined) step.clipValue = number(opts.clipValue, 'options.clipValue', { min: 0, minExclusive: true });
  const smoothing = labelSmoothingOption(opts.labelSmoothing, 'options.labelSmoothing');
  if (smoothing !== undefined) step.labelSmoothing = smoothing;
  if (opts.nonFinite !== undefined) step.nonFinite = nonFiniteOption(opts.nonFinite);
  if (opts.whenBusy !== undefined) step.whenBusy = whenBusyOption(opts.whenBusy);
  return {
    epochs: withDefault(opts.epochs, 1, (v) => integer(v, 'options.epochs', 0, 1e9)),
    batchSize: withDefault(opts.batchSize, 32, (v) => integer(v, 'options.batchSize', 1, 1e6)),
    shuffle: withDefault(opts.shuffle, true, (v) => boolean(v, 'options.shuffle')),
    bucketByLength: withDefault(opts.bucketByLength, false, (v) => boolean(v, 'options.bucketByLength')),
    seed: withDefault(opts.seed, defaultSeed, (v) => integer(v, 'options.seed', 0, 0xffffffff)),
    signal,
    onBatchEnd: callback(opts.onBatchEnd, 'options.onBatchEnd') as FitOptions['onBatchEnd'],
    onEpochEnd: callback(opts.onEpochEnd, 'options.onEpochEnd') as FitOptions['onEpochEnd'],
    step,
    validation: opts.validation,
    policies: loopPolicies(opts),
    baseLr: toNativeOptimizer(step.optimizer, undefined, undefined).lr,
  };
}

/** The per-step options of an epoch at learning rate `lr` (the optimizer given, or the default, with that lr). */
function stepAt(s: FitSettings, lr: number): FitSettings['step'] {
  if (s.policies.schedule === undefined) return s.step;
  const o = s.step.optimizer ?? DEFAULT_OPTIMIZER;
  return { ...s.step, optimizer: { ...(typeof o === 'string' ? { type: o } : o), lr } as OptimizerConfig };
}

/**
 * Checks `options.whenBusy` ('reject' | 'wait'; undefined: 'reject').
 *
 * @throws TypeError / RangeError naming options.whenBusy
 * @example
 * const wait = whenBusyOption(opts.whenBusy) === 'wait';
 */
export function whenBusyOption(value: unknown): 'reject' | 'wait' {
  return value === undefined ? 'reject' : oneOf(value, 'options.whenBusy', ['reject', 'wait'] as const);
}

/**
 * Checks `options.nonFinite` ('throw' | 'skip').
 *
 * @throws TypeError / RangeError naming options.nonFinite
 * @example
 * const skip = nonFiniteOption(opts.nonFinite ?? 'throw') === 'skip';
 */
export function nonFiniteOption(value: unknown): 'throw' | 'skip' {
  return oneOf(value, 'options.nonFinite', ['throw', 'skip'] as const);
}

/**
 * Runs one training step; with `skip`, a step the core refused as not finite
 * (ERR_NONFINITE: nothing was written) resolves as skipped instead of rejecting.
 *
 * @throws whatever the step throws, except ERR_NONFINITE when `skip`
 * @example
 * return skipNonFinite(nonFinite === 'skip', () => run());
 */
export async function skipNonFinite<T>(
  skip: boolean,
  run: () => Promise<T>,
): Promise<T | { loss: number; gradNorm: number; skipped: true }> {
  try {
    return await run();
  } catch (err) {
    if (skip && err instanceof RnnkitError && err.code === 'ERR_NONFINITE') return { loss: NaN, gradNorm: NaN, skipped: true };
    throw err;
  }
}

/** What one step of the loop reports. */
export interface StepOutcome {
  skipped?: boolean;
  /** per scored token */
  loss: number;
  tokens: number;
  finalState?: LayerState[];
}

/**
 * What the one training loop needs of a model kind: its batches, one step,
 * validation and the loss metrics.
 *
 * @example
 * const plan: TrainingPlan = { batches: 10, rows: 320, stateful: false, step, metrics: () => ({}) };
 */
export interface TrainingPlan {
  readonly batches: number;
  /** rows shuffled each epoch (unless stateful) */
  readonly rows: number;
  /** each row's length (a sort key: Seq2Seq's combines source and target lengths), for options.bucketByLength; absent: the rows are not ragged */
  readonly rowLengths?: readonly number[];
  /** streams: batches in order, each carrying the previous one's final state */
  readonly stateful: boolean;
  /** one optimizer step on batch i of this epoch's order (undefined: in order) with this epoch's step options */
  step(i: number, order: number[] | undefined, state: LayerState[] | undefined, options: FitSettings['step']): Promise<StepOutcome>;
  validate?: () => Promise<Evaluation>;
  /** saves the model (options.checkpoint) */
  save(path: string): Promise<void>;
  /** a copy of the weights now, as a function that puts them back (earlyStopping.restoreBest) */
  snapshot(): () => void;
  metrics(loss: number): { perplexity?: number; bitsPerToken?: number };
}

/**
 * The training loop of every model kind: epochs of (shuffled) batches, one
 * step each, callbacks, history, abort and skipped steps, validation after
 * each epoch. `target.epoch` continues across calls.
 *
 * @throws whatever a step, a callback or validation throws
 * @example
 * const history = await trainLoop(model, plan, fitSettings(options, model.config.seed));
 */
export async function trainLoop(target: { epoch: number }, plan: TrainingPlan, s: FitSettings): Promise<History> {
  const history: History = { epochs: [], batches: [], aborted: false, skipped: 0, stoppedEarly: false };
  const { schedule, earlyStopping, checkpoint } = s.policies;
  const loop = schedule?.type === 'plateau' || checkpoint?.keepBest ? ensureLoopState(target) : undefined;
  let best = Infinity; // early stopping: the best monitored loss of this call
  let wait = 0;
  let restoreBest: (() => void) | undefined;
  const lengths = plan.rowLengths;
  if (s.bucketByLength && lengths === undefined) {
    throw rangeError('ragged rows (Seq2Seq pairs or a sequence dataset)', 'options.bucketByLength', received('a stream or padded tensors'));
  }
  for (let e = 0; e < s.epochs && !history.aborted && !history.stoppedEarly; e++) {
    const epoch = target.epoch;
    const shuffled = s.shuffle && !plan.stateful ? permutation(plan.rows, s.seed, epoch) : undefined;
    const order = s.bucketByLength
      ? bucketOrder(shuffled ?? identity(plan.rows), lengths!, s.batchSize, shuffled ? { seed: s.seed, epoch } : undefined)
      : shuffled;
    const lr = schedule ? lrAt(schedule, epoch, s.baseLr, loop) : s.baseLr;
    const stepOptions = stepAt(s, lr);
    const t0 = performance.now();
    let lossSum = 0;
    let tokens = 0;
    let state: LayerState[] | undefined;
    for (let i = 0; i < plan.batches; i++) {
      if (s.signal?.aborted) {
        history.aborted = true;
        break;
      }
      const r = await plan.step(i, order, state, stepOptions);
      if (r.skipped) {
        history.skipped++;
        state = undefined; // the state of a skipped window is not carried on
        continue;
      }
      state = r.finalState;
      lossSum += r.loss * r.tokens;
      tokens += r.tokens;
      history.batches.push({ epoch, batch: i, loss: r.loss, tokens: r.tokens });
      if (s.onBatchEnd) {
        const seconds = (performance.now() - t0) / 1e3;
        await s.onBatchEnd({ epoch, batch: i, batches: plan.batches, loss: r.loss, tokens: r.tokens, tokensPerSec: tokens / seconds });
      }
    }
    if (history.aborted && tokens === 0) break;
    const seconds = (performance.now() - t0) / 1e3;
    const loss = tokens > 0 ? lossSum / tokens : NaN; // NaN, not 0, when every step of the epoch was skipped
    const log: EpochLog = { epoch, loss, ...plan.metrics(loss), lr, tokensPerSec: tokens / seconds, seconds };
    if (plan.validate) {
      const v = await plan.validate();
      log.valLoss = v.loss;
      if (v.perplexity !== undefined) log.valPerplexity = v.perplexity;
      if (v.bitsPerToken !== undefined) log.valBitsPerToken = v.bitsPerToken;
      if (v.accuracy !== undefined) log.valAccuracy = v.accuracy;
    }
    history.epochs.push(log);
    if (!history.aborted) {
      // the policies judge whole epochs only: what a loss "improves" on is the validation loss, else the training loss
      const monitored = log.valLoss ?? log.loss;
      const improved = Number.isFinite(monitored) && monitored < best - (earlyStopping?.minDelta ?? 0);
      target.epoch = epoch + 1;
      if (schedule?.type === 'plateau') plateauStep(schedule, loop!, monitored);
      if (earlyStopping) {
        if (improved) {
          best = monitored;
          wait = 0;
          history.bestEpoch = epoch;
          if (earlyStopping.restoreBest) restoreBest = plan.snapshot();
        } else if (++wait >= earlyStopping.patience) {
          history.stoppedEarly = e + 1 < s.epochs;
        }
      }
      if (checkpoint) {
        if (!checkpoint.keepBest) {
          if ((e + 1) % checkpoint.every === 0) await plan.save(checkpoint.path);
        } else if (Number.isFinite(monitored) && (loop!.checkpointBest === null || monitored < loop!.checkpointBest)) {
          loop!.checkpointBest = monitored;
          await plan.save(checkpoint.path);
        }
      }
    }
    if (s.onEpochEnd) await s.onEpochEnd(log);
  }
  // the best epoch's weights, when a later one is where training ended
  if (restoreBest && history.bestEpoch !== target.epoch - 1) restoreBest();
  return history;
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
  const s = fitSettings(options, model.config.seed);
  const plan = planBatches(data, s.batchSize);
  const validation = s.validation as Dataset | undefined;
  if (validation !== undefined) planBatches(validation, s.batchSize); // fail early on a malformed one
  return trainLoop(
    model,
    {
      batches: plan.batches,
      rows: plan.rows,
      stateful: plan.stateful,
      ...(plan.rowLengths ? { rowLengths: plan.rowLengths } : {}),
      async step(i, order, state, options) {
        const b = plan.batch(i, order);
        const r = await model.trainStep(b.inputs, b.targets, {
          ...options,
          lengths: b.lengths,
          ...(b.condition ? { condition: b.condition } : {}),
          ...(b.carry && state ? { initialState: state } : {}),
          ...(plan.stateful ? { returnState: true } : {}),
        });
        if (r.skipped) return { skipped: true, loss: NaN, tokens: 0 };
        return { loss: perToken(model, r.loss, b), tokens: b.tokens, ...(r.finalState ? { finalState: r.finalState } : {}) };
      },
      ...(validation !== undefined ? { validate: () => evaluate(model, validation, { batchSize: s.batchSize }) } : {}),
      metrics: (loss) => lossMetrics(model, loss),
      save: (path) => model.save(path),
      snapshot() {
        const weights = model.getWeights();
        return () => model.setWeights(weights);
      },
    },
    s,
  );
}
