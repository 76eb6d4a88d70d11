/**
 * Checks shared by the file readers (checkpoint.ts, safetensors.ts): what a
 * parsed JSON header may contain.
 */

/**
 * True for an object made by JSON.parse or an object literal (prototype
 * Object.prototype or null): not an array, a class instance or a typed array.
 *
 * @throws never
 * @example
 * isPlainObject(JSON.parse('{"a": 1}')); // true
 */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * True for a non-negative safe integer (a size, an offset, a dimension).
 *
 * @throws never
 * @example
 * isCount(3); // true
 */
export function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}
