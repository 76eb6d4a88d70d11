/**
 * Optimizer options of `trainStep`: checking, defaults (PyTorch's), and the
 * native form.
 */
import { rangeError, typeError } from './errors.js';
import { UNIT_OPEN } from './limits.js';
import type { NativeOptimizer } from './native.js';
import { boolean, isObject, knownKeys, number, oneOf, withDefault } from './validate.js';

/**
 * Plain / momentum / Nesterov SGD (torch.optim.SGD).
 *
 * @example
 * const opt: SgdConfig = { type: 'sgd', lr: 0.1, momentum: 0.9, nesterov: true };
 */
export interface SgdConfig {
  type: 'sgd';
  /** default 0.01 */
  lr?: number;
  /** default 0; in [0, 1) */
  momentum?: number;
  /** default false; needs momentum > 0 */
  nesterov?: boolean;
  /** L2 penalty added to the gradient, default 0 */
  weightDecay?: number;
}

/**
 * Adam (torch.optim.Adam; weightDecay is an L2 penalty) or AdamW (decoupled decay).
 *
 * @example
 * const opt: AdamConfig = { type: 'adamw', lr: 3e-4 }; // weightDecay 0.01
 */
export interface AdamConfig {
  type: 'adam' | 'adamw';
  /** default 1e-3 */
  lr?: number;
  /** default 0.9 */
  beta1?: number;
  /** default 0.999 */
  beta2?: number;
  /** default 1e-8 */
  eps?: number;
  /** default 0 for adam, 0.01 for adamw */
  weightDecay?: number;
}

/**
 * An optimizer for `trainStep`: an object with a `type`, or just the type name.
 *
 * @example
 * const opt: OptimizerConfig = { type: 'sgd', lr: 0.1, momentum: 0.9 };
 */
export type OptimizerConfig = SgdConfig | AdamConfig | 'sgd' | 'adam' | 'adamw';

/**
 * The default optimizer: `{ type: 'adam', lr: 1e-3 }`.
 *
 * @example
 * await model.trainStep(x, y); // uses DEFAULT_OPTIMIZER
 */
export const DEFAULT_OPTIMIZER: Readonly<AdamConfig> = Object.freeze({ type: 'adam', lr: 1e-3 });

const NAME = 'options.optimizer';
const SGD_KEYS = ['type', 'lr', 'momentum', 'nesterov', 'weightDecay'];
const ADAM_KEYS = ['type', 'lr', 'beta1', 'beta2', 'eps', 'weightDecay'];

function clip(value: unknown, name: string): number {
  return withDefault(value, 0, (v) => number(v, name, { min: 0, minExclusive: true }));
}

/**
 * Checks the optimizer and clipping options of `trainStep` and returns the
 * native optimizer with every default filled in (clip 0 = off).
 *
 * @throws TypeError for a wrong type or an unknown key
 * @throws RangeError for lr <= 0, momentum outside [0, 1), nesterov without momentum,
 *   a beta outside [0, 1), eps <= 0, weightDecay < 0, or a clip that is not a
 *   positive finite number
 * @example
 * toNativeOptimizer({ type: 'adamw' }, 5, undefined);
 * // { type: 'adamw', lr: 0.001, ..., weightDecay: 0.01, clipValue: 5, clipNorm: 0 }
 */
export function toNativeOptimizer(value: unknown, clipValue: unknown, clipNorm: unknown): NativeOptimizer {
  const raw = value === undefined ? DEFAULT_OPTIMIZER : typeof value === 'string' ? { type: value } : value;
  if (!isObject(raw)) throw typeError("an optimizer object { type: 'sgd' | 'adam' | 'adamw', ... }", NAME, value);
  const type = oneOf(raw.type, `${NAME}.type`, ['sgd', 'adam', 'adamw'] as const);
  const keys = type === 'sgd' ? SGD_KEYS : ADAM_KEYS;
  knownKeys(raw, keys, NAME);
  const out: NativeOptimizer = {
    type,
    lr: type === 'sgd' ? 0.01 : 1e-3,
    momentum: 0,
    nesterov: false,
    beta1: 0.9,
    beta2: 0.999,
    eps: 1e-8,
    weightDecay: type === 'adamw' ? 0.01 : 0,
    clipValue: clip(clipValue, 'options.clipValue'),
    clipNorm: clip(clipNorm, 'options.clipNorm'),
  };
  const positive = { min: 0, minExclusive: true };
  const nonNegative = { min: 0 };
  out.lr = withDefault(raw.lr, out.lr, (v) => number(v, `${NAME}.lr`, positive));
  out.weightDecay = withDefault(raw.weightDecay, out.weightDecay, (v) => number(v, `${NAME}.weightDecay`, nonNegative));
  if (type === 'sgd') {
    out.momentum = withDefault(raw.momentum, 0, (v) => number(v, `${NAME}.momentum`, UNIT_OPEN));
    out.nesterov = withDefault(raw.nesterov, false, (v) => boolean(v, `${NAME}.nesterov`));
    if (out.nesterov && out.momentum === 0) {
      throw rangeError('momentum > 0 (nesterov needs momentum)', `${NAME}.momentum`, out.momentum);
    }
  } else {
    out.beta1 = withDefault(raw.beta1, out.beta1, (v) => number(v, `${NAME}.beta1`, UNIT_OPEN));
    out.beta2 = withDefault(raw.beta2, out.beta2, (v) => number(v, `${NAME}.beta2`, UNIT_OPEN));
    out.eps = withDefault(raw.eps, out.eps, (v) => number(v, `${NAME}.eps`, positive));
  }
  return out;
}
