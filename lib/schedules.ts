/**
 * The per-epoch policies of the training loop (lib/train.ts): learning-rate
 * schedules, early stopping and checkpoints, checked here once for `fit` and
 * `Seq2Seq.fit`, and the state they keep between fit calls, which is saved
 * with the model so that a resumed fit continues exactly.
 *
 * Every schedule is a function of the model's epoch counter (resumable by
 * construction) except reduce-on-plateau, whose state ({@link LoopState})
 * travels in the model file.
 */
import { RnnkitError, typeError } from './errors.js';
import { boolean, integer, isObject, knownKeys, number, object, oneOf, withDefault } from './validate.js';

/**
 * A learning-rate schedule, applied per epoch to the optimizer's lr (its
 * "base" lr). `epoch` below is the model's 0-based epoch counter, so a fit
 * that resumes a saved model continues the schedule.
 * - `step`: lr * gamma^floor(epoch / stepSize) (PyTorch's StepLR)
 * - `exponential`: lr * gamma^epoch (ExponentialLR)
 * - `cosine`: a linear warm-up over the first `warmup` epochs (lr (epoch + 1)
 *   / (warmup + 1)), then a half cosine from lr at epoch `warmup` down to
 *   `minLr` at epoch `epochs`, `minLr` after (CosineAnnealingLR with warm-up)
 * - `plateau`: lr times `factor` whenever the monitored loss (validation loss,
 *   else training loss) has not improved by a relative `threshold` for more
 *   than `patience` epochs, never below `minLr` (ReduceLROnPlateau)
 *
 * @example
 * await model.fit(data, { epochs: 30, lrSchedule: { type: 'cosine', epochs: 30, warmup: 2 } });
 */
export type LrSchedule =
  | { type: 'step'; stepSize: number; gamma?: number }
  | { type: 'exponential'; gamma: number }
  | { type: 'cosine'; epochs: number; warmup?: number; minLr?: number }
  | { type: 'plateau'; factor?: number; patience?: number; threshold?: number; minLr?: number };

/**
 * Early stopping: training stops after `patience` epochs in a row whose
 * monitored loss (validation loss, else training loss) did not improve on the
 * best by more than `minDelta`. With `restoreBest` the model ends with the
 * weights of its best epoch (not the optimizer state). Counted within one fit
 * call, as Keras's EarlyStopping.
 *
 * @example
 * await model.fit(data, { epochs: 100, validation, earlyStopping: { patience: 3, restoreBest: true } });
 */
export interface EarlyStopping {
  /** epochs without improvement to stop after (default 0: the first one) */
  patience?: number;
  /** the least decrease that counts as an improvement (default 0) */
  minDelta?: number;
  /** end with the best epoch's weights (default false) */
  restoreBest?: boolean;
}

/**
 * Checkpoints during fit: `model.save(path)` (atomic: a crash leaves the
 * previous file whole) every `every` epochs, or with `keepBest` only after an
 * epoch whose monitored loss is the best so far (the best is kept in the saved
 * model, so a resumed fit does not overwrite a better file).
 *
 * @example
 * await model.fit(data, { epochs: 20, validation, checkpoint: { path: 'best.rnnkit', keepBest: true } });
 */
export interface CheckpointOptions {
  path: string;
  /** save after every this many epochs of the call (default 1); ignored with keepBest */
  every?: number;
  /** save only when the monitored loss improved (default false) */
  keepBest?: boolean;
}

/** A schedule with every default filled in. */
export type CheckedSchedule =
  | { type: 'step'; stepSize: number; gamma: number }
  | { type: 'exponential'; gamma: number }
  | { type: 'cosine'; epochs: number; warmup: number; minLr: number }
  | { type: 'plateau'; factor: number; patience: number; threshold: number; minLr: number };

/** The checked policies, with defaults. */
export interface LoopPolicies {
  schedule: CheckedSchedule | undefined;
  earlyStopping: Required<EarlyStopping> | undefined;
  checkpoint: Required<CheckpointOptions> | undefined;
}

const SCHEDULE_KEYS = {
  step: ['type', 'stepSize', 'gamma'],
  exponential: ['type', 'gamma'],
  cosine: ['type', 'epochs', 'warmup', 'minLr'],
  plateau: ['type', 'factor', 'patience', 'threshold', 'minLr'],
} as const;

const positive = { min: 0, minExclusive: true };
const unitOpen = { min: 0, max: 1, minExclusive: true, maxExclusive: true };

/**
 * Checks `options.lrSchedule`, `options.earlyStopping` and `options.checkpoint`.
 *
 * @throws TypeError / RangeError naming the option
 * @example
 * const p = loopPolicies(opts);
 */
export function loopPolicies(opts: Record<string, unknown>): LoopPolicies {
  return {
    schedule: opts.lrSchedule === undefined ? undefined : lrSchedule(opts.lrSchedule),
    earlyStopping: opts.earlyStopping === undefined ? undefined : earlyStopping(opts.earlyStopping),
    checkpoint: opts.checkpoint === undefined ? undefined : checkpoint(opts.checkpoint),
  };
}

function lrSchedule(value: unknown): CheckedSchedule {
  const name = 'options.lrSchedule';
  const o = object(value, name);
  const type = oneOf(o.type, `${name}.type`, ['step', 'exponential', 'cosine', 'plateau'] as const);
  knownKeys(o, SCHEDULE_KEYS[type], name);
  switch (type) {
    case 'step':
      return {
        type,
        stepSize: integer(o.stepSize, `${name}.stepSize`, 1, 1e9),
        gamma: withDefault(o.gamma, 0.1, (v) => number(v, `${name}.gamma`, { ...positive, max: 1 })),
      };
    case 'exponential':
      return { type, gamma: number(o.gamma, `${name}.gamma`, { ...positive, max: 1 }) };
    case 'cosine': {
      const epochs = integer(o.epochs, `${name}.epochs`, 1, 1e9);
      return {
        type,
        epochs,
        warmup: withDefault(o.warmup, 0, (v) => integer(v, `${name}.warmup`, 0, epochs - 1)),
        minLr: withDefault(o.minLr, 0, (v) => number(v, `${name}.minLr`, { min: 0 })),
      };
    }
    case 'plateau':
      return {
        type,
        factor: withDefault(o.factor, 0.1, (v) => number(v, `${name}.factor`, unitOpen)),
        patience: withDefault(o.patience, 10, (v) => integer(v, `${name}.patience`, 0, 1e9)),
        threshold: withDefault(o.threshold, 1e-4, (v) => number(v, `${name}.threshold`, { min: 0, max: 1, maxExclusive: true })),
        minLr: withDefault(o.minLr, 0, (v) => number(v, `${name}.minLr`, { min: 0 })),
      };
  }
}

function earlyStopping(value: unknown): Required<EarlyStopping> {
  const name = 'options.earlyStopping';
  const o = object(value, name);
  knownKeys(o, ['patience', 'minDelta', 'restoreBest'], name);
  return {
    patience: withDefault(o.patience, 0, (v) => integer(v, `${name}.patience`, 0, 1e9)),
    minDelta: withDefault(o.minDelta, 0, (v) => number(v, `${name}.minDelta`, { min: 0 })),
    restoreBest: withDefault(o.restoreBest, false, (v) => boolean(v, `${name}.restoreBest`)),
  };
}

function checkpoint(value: unknown): Required<CheckpointOptions> {
  const name = 'options.checkpoint';
  const o = object(value, name);
  knownKeys(o, ['path', 'every', 'keepBest'], name);
  if (typeof o.path !== 'string' || o.path === '') throw typeError('a non-empty string', `${name}.path`, o.path);
  return {
    path: o.path,
    every: withDefault(o.every, 1, (v) => integer(v, `${name}.every`, 1, 1e9)),
    keepBest: withDefault(o.keepBest, false, (v) => boolean(v, `${name}.keepBest`)),
  };
}

/**
 * What the loop keeps of a model between fit calls, saved in its file:
 * reduce-on-plateau's lr factor, best loss and bad-epoch count, and the best
 * loss a `keepBest` checkpoint was saved at. JSON-safe (no Infinity: null).
 */
export interface LoopState {
  lrScale: number;
  plateauBest: number | null;
  plateauWait: number;
  checkpointBest: number | null;
}

// One entry per model that has been trained with a policy that keeps state
// (set by the loop and by loading a file); a model without one starts fresh.
const states = new WeakMap<object, LoopState>();

/**
 * The loop state of a model (undefined before a fit with a stateful policy).
 *
 * @example
 * const s = loopStateOf(model); // saved by toCheckpoint when defined
 */
export function loopStateOf(model: object): LoopState | undefined {
  return states.get(model);
}

/** The loop state of a model, made fresh when it has none. */
export function ensureLoopState(model: object): LoopState {
  let s = states.get(model);
  if (!s) states.set(model, (s = { lrScale: 1, plateauBest: null, plateauWait: 0, checkpointBest: null }));
  return s;
}

/**
 * Sets a model's loop state from a model file's header value (`file` names it in errors).
 *
 * @throws RnnkitError ERR_CHECKPOINT when the value is not a loop state
 * @example
 * restoreLoopState(model, header.loop, 'model.rnnkit');
 */
export function restoreLoopState(model: object, value: unknown, file: string): void {
  if (value === undefined) return;
  const v = value as Record<string, unknown>;
  const finiteOrNull = (x: unknown) => x === null || (typeof x === 'number' && Number.isFinite(x));
  if (
    !isObject(value) ||
    !(typeof v.lrScale === 'number' && v.lrScale >= 0 && v.lrScale <= 1) ||
    !finiteOrNull(v.plateauBest) ||
    !(Number.isInteger(v.plateauWait) && (v.plateauWait as number) >= 0) ||
    !finiteOrNull(v.checkpointBest)
  ) {
    throw new RnnkitError('ERR_CHECKPOINT', `Invalid model file '${file}': its training loop state is damaged`);
  }
  states.set(model, {
    lrScale: v.lrScale,
    plateauBest: v.plateauBest as number | null,
    plateauWait: v.plateauWait as number,
    checkpointBest: v.checkpointBest as number | null,
  });
}

/**
 * The learning rate of an epoch under a schedule (`state` for plateau).
 *
 * @example
 * lrAt({ type: 'step', stepSize: 10, gamma: 0.5 }, 25, 0.1); // 0.025
 */
export function lrAt(schedule: CheckedSchedule, epoch: number, base: number, state?: LoopState): number {
  switch (schedule.type) {
    case 'step':
      return base * schedule.gamma ** Math.floor(epoch / schedule.stepSize);
    case 'exponential':
      return base * schedule.gamma ** epoch;
    case 'cosine': {
      const { epochs, warmup, minLr } = schedule;
      if (epoch < warmup) return (base * (epoch + 1)) / (warmup + 1);
      const progress = Math.min(1, (epoch - warmup) / Math.max(1, epochs - warmup));
      return minLr + ((base - minLr) * (1 + Math.cos(Math.PI * progress))) / 2;
    }
    case 'plateau':
      return Math.max(schedule.minLr, base * (state?.lrScale ?? 1));
  }
}

/**
 * Reduce-on-plateau after an epoch whose monitored loss was `loss`: a relative
 * improvement beyond `threshold` resets the count, more than `patience` bad
 * epochs multiply the lr factor by `factor` (and reset the count).
 *
 * @example
 * plateauStep(schedule, state, ev.valLoss);
 */
export function plateauStep(schedule: Extract<CheckedSchedule, { type: 'plateau' }>, s: LoopState, loss: number): void {
  if (Number.isFinite(loss) && (s.plateauBest === null || loss < s.plateauBest * (1 - schedule.threshold))) {
    s.plateauBest = loss;
    s.plateauWait = 0;
    return;
  }
  s.plateauWait++;
  if (s.plateauWait > schedule.patience) {
    s.lrScale *= schedule.factor;
    s.plateauWait = 0;
  }
}
