/**
 * Conditioning vectors (`options.condition` of a model built with
 * `condition: { features: k }`): checked into one flat float array of B rows.
 */
import type { ModelConfig } from './config.js';
import { rangeError, received, typeError } from './errors.js';
import { floatData, isFloatArray } from './tensor.js';
import type { FloatArray } from './types.js';

/**
 * Checks conditioning vectors for B rows (`number[][]`, a Tensor [B, k] or a
 * float array of B*k); undefined when none were given.
 *
 * @throws TypeError / RangeError naming `name` (or the row / element)
 * @example
 * const rows = conditionRows(options.condition, B, model.config, 'options.condition');
 */
export function conditionRows(
  value: unknown,
  B: number,
  config: Pick<ModelConfig, 'condition' | 'dtype'>,
  name: string,
  rowsAre = 'one per row of inputs',
): FloatArray | undefined {
  if (value === undefined) return undefined;
  const k = config.condition?.features;
  if (k === undefined) throw rangeError('no condition (the model was built without one)', name, value);
  if (!Array.isArray(value)) return floatData(value, [B, k], name, config.dtype);
  if (value.length !== B) throw rangeError(`${B} rows (${rowsAre})`, name, received(`${value.length} rows`));
  const out = new (config.dtype === 'float64' ? Float64Array : Float32Array)(B * k);
  value.forEach((row: unknown, b) => {
    if (!Array.isArray(row)) throw typeError(`an array of ${k} numbers`, `${name}[${b}]`, row);
    if (row.length !== k) throw rangeError(`${k} numbers`, `${name}[${b}]`, received(`length ${row.length}`));
    row.forEach((v: unknown, j) => {
      if (typeof v !== 'number') throw typeError('a number', `${name}[${b}][${j}]`, v);
      if (!Number.isFinite(v)) throw rangeError('a finite number', `${name}[${b}][${j}]`, v);
      out[b * k + j] = v;
    });
  });
  return out;
}

/**
 * One conditioning vector for all n samples, or one per sample, as n checked rows.
 *
 * @throws TypeError / RangeError naming options.condition
 * @example
 * const rows = sampleConditionRows([1, 0], 5, model.config);
 */
export function sampleConditionRows(value: unknown, n: number, config: Pick<ModelConfig, 'condition' | 'dtype'>): FloatArray {
  const k = config.condition!.features;
  const single = isFloatArray(value) ? value.length === k : Array.isArray(value) && !Array.isArray(value[0]);
  const rows = single ? Array.from({ length: n }, () => Array.from(value as ArrayLike<number>)) : value;
  return conditionRows(rows, n, config, 'options.condition', 'one vector for all samples, or one per sample (options.n)')!;
}
