/**
 * Small argument predicates. Each checks one value, names it in the error
 * (TypeError for a wrong type, RangeError for a wrong value) and returns the
 * value with a narrowed type.
 */
import { rangeError, received, typeError } from './errors.js';

/** A plain object (not null, not an array, not a typed array). */
export type Dict = Record<string, unknown>;

/**
 * True for a non-null object that is not an array or a typed array.
 *
 * @throws never
 * @example
 * isObject({}); // true
 * isObject([]); // false
 */
export function isObject(value: unknown): value is Dict {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !ArrayBuffer.isView(value);
}

/**
 * Checks that `value` is an object (see {@link isObject}).
 *
 * @throws TypeError when it is not
 * @example
 * const opts = object(options, 'options');
 */
export function object(value: unknown, name: string): Dict {
  if (!isObject(value)) throw typeError('an object', name, value);
  return value;
}

/**
 * Like {@link object} but `undefined` gives an empty object.
 *
 * @throws TypeError when it is neither undefined nor an object
 * @example
 * const opts = optionalObject(options, 'options');
 */
export function optionalObject(value: unknown, name: string): Dict {
  return value === undefined ? {} : object(value, name);
}

/**
 * Rejects keys outside `allowed` (catches typos such as `returnSequence`),
 * like Python's "unexpected keyword argument".
 *
 * @throws TypeError naming the first unknown key
 * @example
 * knownKeys(opts, ['units', 'name'], 'options');
 */
export function knownKeys(value: Dict, allowed: readonly string[], name: string): void {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) {
      throw typeError(`only the keys ${allowed.join(', ')}`, name, received(`unknown key '${key}'`));
    }
  }
}

/**
 * Checks a finite number within optional bounds.
 *
 * @throws TypeError when not a number; RangeError when NaN, infinite or out of bounds
 * @example
 * number(lr, 'options.optimizer.lr', { min: 0, minExclusive: true });
 */
export function number(
  value: unknown,
  name: string,
  bounds: { min?: number; max?: number; minExclusive?: boolean; maxExclusive?: boolean } = {},
): number {
  if (typeof value !== 'number') throw typeError('a number', name, value);
  const { min, max, minExclusive = false, maxExclusive = false } = bounds;
  const ok =
    Number.isFinite(value) &&
    (min === undefined || (minExclusive ? value > min : value >= min)) &&
    (max === undefined || (maxExclusive ? value < max : value <= max));
  if (!ok) throw rangeError(describeBounds('a finite number', bounds), name, value);
  return value;
}

function describeBounds(
  kind: string,
  { min, max, minExclusive = false, maxExclusive = false }: { min?: number; max?: number; minExclusive?: boolean; maxExclusive?: boolean },
): string {
  if (min !== undefined && max !== undefined) {
    return `${kind} in ${minExclusive ? '(' : '['}${min}, ${max}${maxExclusive ? ')' : ']'}`;
  }
  if (min !== undefined) return `${kind} ${minExclusive ? '>' : '>='} ${min}`;
  if (max !== undefined) return `${kind} ${maxExclusive ? '<' : '<='} ${max}`;
  return kind;
}

/**
 * Checks an integer in [min, max].
 *
 * @throws TypeError when not a number; RangeError when not an integer or out of range
 * @example
 * integer(units, 'options.units', 1, 65536);
 */
export function integer(value: unknown, name: string, min: number, max: number): number {
  if (typeof value !== 'number') throw typeError('an integer', name, value);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw rangeError(`an integer in [${min}, ${max}]`, name, value);
  }
  return value;
}

/**
 * Checks a boolean.
 *
 * @throws TypeError when not a boolean
 * @example
 * boolean(opts.bidirectional, 'options.bidirectional');
 */
export function boolean(value: unknown, name: string): boolean {
  if (typeof value !== 'boolean') throw typeError('a boolean', name, value);
  return value;
}

/**
 * Checks one of a fixed set of strings.
 *
 * @throws TypeError when not a string; RangeError when not one of `allowed`
 * @example
 * oneOf(activation, 'options.activation', ['tanh', 'relu'] as const);
 */
export function oneOf<const A extends readonly string[]>(value: unknown, name: string, allowed: A): A[number] {
  const what = `one of ${allowed.map((a) => `'${a}'`).join(', ')}`;
  if (typeof value !== 'string') throw typeError(what, name, value);
  if (!allowed.includes(value)) throw rangeError(what, name, value);
  return value as A[number];
}

/**
 * Checks a layer name: a non-empty string without '.' (names prefix weight
 * names, which use '.' as a separator).
 *
 * @throws TypeError when not a string; RangeError when empty or containing '.'
 * @example
 * layerName('encoder', 'options.name');
 */
export function layerName(value: unknown, name: string): string {
  const what = "a non-empty string without '.'";
  if (typeof value !== 'string') throw typeError(what, name, value);
  if (value.length === 0 || value.includes('.')) throw rangeError(what, name, value);
  return value;
}

/**
 * Returns `value`, or `fallback` when it is undefined, after checking it with `check`.
 *
 * @throws whatever `check` throws
 * @example
 * const rate = withDefault(opts.rate, 0, (v) => number(v, 'rate'));
 */
export function withDefault<T>(value: unknown, fallback: T, check: (v: unknown) => T): T {
  return value === undefined ? fallback : check(value);
}

/**
 * Checks that a typed array views an ordinary, attached ArrayBuffer and
 * returns it. A SharedArrayBuffer may be written by another thread while it is
 * read (results would silently depend on timing); a detached buffer (after a
 * transfer) reads as empty and would be reported as a confusing length error.
 *
 * @throws RangeError for a SharedArrayBuffer-backed or detached typed array
 * @example
 * const ids = ordinaryBuffer(value, 'inputs[0]');
 */
export function ordinaryBuffer<A extends ArrayBufferView>(value: A, name: string): A {
  const buf: ArrayBufferLike = value.buffer;
  if (typeof SharedArrayBuffer === 'function' && buf instanceof SharedArrayBuffer) {
    throw rangeError('a typed array on an ordinary ArrayBuffer', name, received('one on a SharedArrayBuffer'));
  }
  if (buf.byteLength === 0 && isDetached(buf as ArrayBuffer)) {
    throw rangeError('a typed array on an attached ArrayBuffer', name, received('one on a detached ArrayBuffer'));
  }
  return value;
}

/** Node 20 has no ArrayBuffer#detached; a view over a detached buffer cannot be made. */
function isDetached(buf: ArrayBuffer): boolean {
  try {
    new Uint8Array(buf, 0, 0);
    return false;
  } catch {
    return true;
  }
}

/**
 * Checks an array (or Int32Array) of token ids, each an integer in [0, limit),
 * and returns a copy as an Int32Array.
 *
 * @throws TypeError when not an array or an id is not a number; RangeError for an id out of range, an empty
 *   list when `nonEmpty`, more than `maxLength` ids, or a SharedArrayBuffer-backed / detached Int32Array
 * @example
 * const prime = tokenIds(options.prime, 'options.prime', vocab, { nonEmpty: true });
 */
export function tokenIds(value: unknown, name: string, limit: number, { nonEmpty = false, maxLength = Infinity } = {}): Int32Array {
  if (!Array.isArray(value) && !(value instanceof Int32Array)) throw typeError('an array of token ids', name, value);
  if (value instanceof Int32Array) ordinaryBuffer(value, name);
  if (nonEmpty && value.length === 0) throw rangeError('at least one token id', name, value);
  if (value.length > maxLength) throw rangeError(`at most ${maxLength} token ids`, name, received(`${value.length} ids`));
  const out = new Int32Array(value.length);
  for (let i = 0; i < value.length; i++) {
    const v: unknown = value[i];
    if (typeof v !== 'number') throw typeError('a token id (integer)', `${name}[${i}]`, v);
    if (!Number.isInteger(v) || v < 0 || v >= limit) throw rangeError(`an integer in [0, ${limit})`, `${name}[${i}]`, v);
    out[i] = v;
  }
  return out;
}
