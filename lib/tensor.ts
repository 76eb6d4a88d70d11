/**
 * Tensor helpers: checking user shapes and float arrays, converting between
 * the model's dtypes, and building the Tensors the API returns.
 */
import { describe, rangeError, received, typeError } from './errors.js';
import type { Dtype, FloatArray } from './native.js';
import type { Tensor } from './types.js';
import { isObject, ordinaryBuffer } from './validate.js';

/** Largest accepted dimension of any user shape. */
const MAX_DIM = 2 ** 31 - 1;

/**
 * The typed-array constructor of a dtype.
 *
 * @throws never
 * @example
 * const buf = new (floatArrayOf('float64'))(10);
 */
export function floatArrayOf(dtype: Dtype): Float32ArrayConstructor | Float64ArrayConstructor {
  return dtype === 'float64' ? Float64Array : Float32Array;
}

/**
 * True for a Float32Array or Float64Array.
 *
 * @throws never
 * @example
 * isFloatArray(new Float32Array(2)); // true
 */
export function isFloatArray(value: unknown): value is FloatArray {
  return value instanceof Float32Array || value instanceof Float64Array;
}

/**
 * Renders a shape for messages, e.g. `[2, 3]`.
 *
 * @throws never
 * @example
 * formatShape([2, 3]); // '[2, 3]'
 */
export function formatShape(shape: readonly number[]): string {
  // entries may be anything a user passed: render non-numbers without calling their toString
  return `[${Array.from(shape as readonly unknown[], (d) => (typeof d === 'number' ? String(d) : describe(d))).join(', ')}]`;
}

/**
 * Checks a user shape of the given rank: an array of positive integers.
 *
 * @param dims - names of the dimensions, e.g. ['B', 'T'] (for messages)
 * @throws TypeError when not an array; RangeError for a wrong rank or a non-positive / non-integer entry
 * @example
 * const [B, T] = parseShape(inputs.shape, ['B', 'T'], 'inputs.shape');
 */
export function parseShape(value: unknown, dims: readonly string[], name: string): number[] {
  const what = `a shape [${dims.join(', ')}] of positive integers`;
  if (!Array.isArray(value)) throw typeError(what, name, value);
  if (value.length !== dims.length) throw rangeError(what, name, received(`shape of rank ${value.length}`));
  value.forEach((d: unknown, i) => {
    if (typeof d !== 'number') throw typeError(`an integer (${dims[i]})`, `${name}[${i}]`, d);
    if (!Number.isInteger(d) || d < 1 || d > MAX_DIM) {
      throw rangeError(`a positive integer (${dims[i]})`, `${name}[${i}]`, d);
    }
  });
  return value.slice() as number[];
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/**
 * Checks a Tensor or a bare float array against an expected shape, checks
 * every value is finite and returns the data in the model's dtype (converted
 * by copy when the dtype differs, else the caller's array itself).
 *
 * @throws TypeError when not a Tensor / Float32Array / Float64Array
 * @throws RangeError for a wrong shape or length, or a non-finite value
 * @example
 * const h = floatData(state.h, [1, B, H], 'options.initialState[0].h', 'float32');
 */
export function floatData(value: unknown, shape: readonly number[], name: string, dtype: Dtype): FloatArray {
  const size = shape.reduce((a, b) => a * b, 1);
  let data: unknown = value;
  if (!isFloatArray(value)) {
    if (!isObject(value) || !('data' in value)) {
      throw typeError(`a Tensor { shape, data } or a Float32Array / Float64Array of ${size} elements`, name, value);
    }
    data = value.data;
    if (!isFloatArray(data)) throw typeError('a Float32Array or Float64Array', `${name}.data`, data);
    const given = value.shape;
    if (!Array.isArray(given) || !sameShape(given as number[], shape)) {
      const got = Array.isArray(given) ? `shape ${formatShape(given as number[])}` : describe(given);
      throw rangeError(`shape ${formatShape(shape)}`, `${name}.shape`, received(got));
    }
  }
  const arr = ordinaryBuffer(data as FloatArray, isFloatArray(value) ? name : `${name}.data`);
  if (arr.length !== size) {
    throw rangeError(`${size} elements (shape ${formatShape(shape)})`, name, received(`length ${arr.length}`));
  }
  const Ctor = floatArrayOf(dtype);
  const out = arr instanceof Ctor ? arr : new Ctor(arr);
  for (let i = 0; i < out.length; i++) {
    // checked after conversion: a finite float64 can overflow float32
    if (!Number.isFinite(out[i])) throw rangeError(`finite values within ${dtype} range`, `${name}[${i}]`, arr[i]);
  }
  return out;
}

/**
 * Builds a returned Tensor.
 *
 * @throws never
 * @example
 * tensor(out.output, out.outputShape);
 */
export function tensor(data: FloatArray, shape: readonly number[]): Tensor {
  return { shape: shape.slice(), data };
}
