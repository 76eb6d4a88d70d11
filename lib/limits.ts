/**
 * The limits that more than one layer enforces, in one table. The TypeScript
 * checks read it here; the binding and the core read the same numbers from
 * native/limits.h, which the binding exports as `limits`, and
 * test/limits.test.ts proves the two tables identical.
 */

/**
 * The shared limits (all inclusive maxima unless the name says otherwise).
 *
 * @example
 * integer(units, 'options.units', 1, LIMITS.units);
 */
export const LIMITS = Object.freeze({
  /** vocabulary size, feature count, condition features */
  inputSize: 2 ** 24,
  /** units of a recurrent or dense layer */
  units: 2 ** 16,
  /** layers of one model */
  layers: 1024,
  /** rows (B) of one batch */
  rows: 2 ** 24,
  /** steps (T) of one batch */
  steps: 2 ** 24,
  /** B * T of one batch */
  positions: 2 ** 28,
  /** parameters of one model */
  params: 2 ** 31,
  /** generate: sequences per call (n) */
  samples: 1e5,
  /** generate: tokens per sequence (maxLength) */
  generateLength: 1e6,
  /** generate: n x maxLength per call (a running call cannot be cancelled) */
  sampledTokens: 1e8,
  /** generate: topK */
  topK: 2 ** 24,
  /** generate: ids in prime, stopTokens, banTokens */
  idList: 2 ** 20,
  /** momentum, beta1, beta2 and a dropout rate lie in [0, unitOpenMax) */
  unitOpenMax: 1,
});

/**
 * The bounds of momentum, beta1, beta2 and a dropout rate, for `number()`:
 * [0, 1). At 1 a momentum buffer or an Adam moment never forgets and grows
 * without bound (PyTorch accepts momentum >= 1 and diverges); a dropout rate
 * of 1 drops everything.
 *
 * @example
 * number(momentum, 'options.optimizer.momentum', UNIT_OPEN);
 */
export const UNIT_OPEN = Object.freeze({ min: 0, max: LIMITS.unitOpenMax, maxExclusive: true });
