/**
 * Validators for the tokenizers' inputs and options, shared by `fromText`
 * (names such as `options.maxVocab`) and `fromJSON` (names such as
 * `json.options.maxVocab`).
 */
import { rangeError, received, typeError } from '../errors.js';
import { isObject } from '../validate.js';
import { NUM_SPECIAL } from './special.js';

/** Largest vocabulary: ids must fit an Int32Array. */
export const MAX_VOCAB = 2 ** 31 - 1;

/**
 * Checks the training text: a string or an array of strings (e.g. a list of
 * names or sentences; tokens never span two entries).
 *
 * @throws TypeError naming `text` or `text[i]` when it is neither
 * @example
 * corpus(['anna', 'bob'], 'text'); // ['anna', 'bob']
 */
export function corpus(value: unknown, name: string): readonly string[] {
  if (typeof value === 'string') return [value];
  if (!Array.isArray(value)) throw typeError('a string or an array of strings', name, value);
  for (let i = 0; i < value.length; i++) {
    if (typeof value[i] !== 'string') throw typeError('a string', `${name}[${i}]`, value[i]);
  }
  return value as string[];
}

/**
 * Checks `minFrequency`: an integer >= 1.
 *
 * @throws TypeError when not a number; RangeError when not an integer >= 1
 * @example
 * minFrequency(2, 'options.minFrequency'); // 2
 */
export function minFrequency(value: unknown, name: string): number {
  const what = 'an integer >= 1';
  if (typeof value !== 'number') throw typeError(what, name, value);
  if (!Number.isSafeInteger(value) || value < 1) throw rangeError(what, name, value);
  return value;
}

/**
 * Checks `maxVocab`: `Infinity`, or an integer >= 5 (the 4 specials count,
 * so 5 leaves room for one text token). In JSON `null` stands for `Infinity`
 * (pass `nullIsInfinity`).
 *
 * @throws TypeError when not a number (or null in JSON); RangeError when not Infinity or an integer in [5, 2^31 - 1]
 * @example
 * maxVocab(100, 'options.maxVocab'); // 100
 * maxVocab(null, 'json.options.maxVocab', true); // Infinity
 */
export function maxVocab(value: unknown, name: string, nullIsInfinity = false): number {
  const what = `an integer in [${NUM_SPECIAL + 1}, ${MAX_VOCAB}] or ${nullIsInfinity ? 'null' : 'Infinity'}`;
  if (nullIsInfinity && value === null) return Infinity;
  if (typeof value !== 'number') throw typeError(what, name, value);
  if (!nullIsInfinity && value === Infinity) return Infinity;
  if (!Number.isInteger(value) || value < NUM_SPECIAL + 1 || value > MAX_VOCAB) throw rangeError(what, name, value);
  return value;
}

/**
 * Checks a user pattern for {@link WordTokenizer}: a RegExp. Returns a fresh
 * copy with the `g` flag added when missing and `lastIndex` 0, so the caller's
 * RegExp is never mutated or shared.
 *
 * @throws TypeError when not a RegExp
 * @example
 * pattern(/\S+/, 'options.pattern'); // /\S+/g
 */
export function pattern(value: unknown, name: string): RegExp {
  if (!(value instanceof RegExp)) throw typeError('a RegExp', name, value);
  return new RegExp(value.source, value.flags.includes('g') ? value.flags : value.flags + 'g');
}

/**
 * Reads a pattern saved as `{ source, flags }`; the flags must include `g`.
 *
 * @throws TypeError when not an object of two strings; RangeError when not global or not a valid RegExp
 * @example
 * patternFromJSON({ source: '\\S+', flags: 'g' }, 'json.options.pattern'); // /\S+/g
 */
export function patternFromJSON(value: unknown, name: string): RegExp {
  const what = 'an object { source, flags } of strings';
  if (!isObject(value)) throw typeError(what, name, value);
  const keys = Object.keys(value);
  if (keys.length !== 2 || typeof value.source !== 'string' || typeof value.flags !== 'string') {
    throw typeError(what, name, value);
  }
  let re: RegExp;
  try {
    re = new RegExp(value.source, value.flags);
  } catch (err) {
    throw rangeError('a valid RegExp', name, received(`/${value.source}/${value.flags} (${(err as Error).message})`));
  }
  if (!re.global) throw rangeError("flags with 'g' (a global RegExp)", `${name}.flags`, value.flags);
  return re;
}
