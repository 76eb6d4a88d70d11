/**
 * The saved form of a tokenizer (`tok.toJSON()`, stored in model checkpoints)
 * and the checks that `fromJSON` runs on it before trusting it.
 */
import { describe, rangeError, received, typeError } from '../errors.js';
import { knownKeys, object, type Dict } from '../validate.js';
import { NUM_SPECIAL, SPECIAL_TOKENS } from './special.js';

/**
 * Which tokenizer a JSON describes.
 *
 * @example
 * const kind: TokenizerKind = tok.kind; // 'char' or 'word'
 */
export type TokenizerKind = 'char' | 'word';

/**
 * The `format` tag of every saved tokenizer.
 *
 * @throws never
 * @example
 * tok.toJSON().format === TOKENIZER_FORMAT; // true
 */
export const TOKENIZER_FORMAT = 'rnnkit-tokenizer';

/**
 * The saved-form version this build reads and writes.
 *
 * @throws never
 * @example
 * tok.toJSON().version === TOKENIZER_VERSION; // true
 */
export const TOKENIZER_VERSION = 1;

/**
 * Saved {@link CharTokenizer}. `maxVocab` is `null` for Infinity (JSON has no
 * Infinity). `tokens` is the full token list in id order, specials first.
 *
 * @example
 * {
 *   format: 'rnnkit-tokenizer', version: 1, kind: 'char',
 *   options: { lowercase: false, minFrequency: 1, maxVocab: null },
 *   tokens: ['<pad>', '<unk>', '<bos>', '<eos>', 'a', 'b'],
 * }
 */
export interface CharTokenizerJSON {
  format: typeof TOKENIZER_FORMAT;
  version: typeof TOKENIZER_VERSION;
  kind: 'char';
  options: { lowercase: boolean; minFrequency: number; maxVocab: number | null };
  tokens: string[];
}

/**
 * Saved {@link WordTokenizer}: like {@link CharTokenizerJSON} plus the
 * splitting pattern as `{ source, flags }` (always stored, also the default,
 * so a saved tokenizer splits the same way in any later version).
 *
 * @example
 * {
 *   format: 'rnnkit-tokenizer', version: 1, kind: 'word',
 *   options: { lowercase: true, pattern: { source: '\\S+', flags: 'g' }, minFrequency: 1, maxVocab: null },
 *   tokens: ['<pad>', '<unk>', '<bos>', '<eos>', 'the', 'cat'],
 * }
 */
export interface WordTokenizerJSON {
  format: typeof TOKENIZER_FORMAT;
  version: typeof TOKENIZER_VERSION;
  kind: 'word';
  options: {
    lowercase: boolean;
    pattern: { source: string; flags: string };
    minFrequency: number;
    maxVocab: number | null;
  };
  tokens: string[];
}

/**
 * Any saved tokenizer; `kind` tells which (see {@link tokenizerFromJSON}).
 *
 * @example
 * const json: TokenizerJSON = tok.toJSON();
 * const again = tokenizerFromJSON(JSON.parse(JSON.stringify(json)));
 */
export type TokenizerJSON = CharTokenizerJSON | WordTokenizerJSON;

const KINDS: readonly TokenizerKind[] = ['char', 'word'];

/**
 * Checks the envelope of a saved tokenizer: an object with exactly the keys
 * format, version, kind, options, tokens; `format` 'rnnkit-tokenizer',
 * `version` 1, and `kind` one of 'char', 'word' (or exactly `expected`).
 *
 * @throws TypeError / RangeError naming `json` or `json.<key>`
 * @example
 * const { json: j, kind } = readHeader(value, 'char');
 */
export function readHeader(value: unknown, expected?: TokenizerKind): { json: Dict; kind: TokenizerKind } {
  const json = object(value, 'json');
  if (typeof json.format !== 'string') throw typeError(`'${TOKENIZER_FORMAT}'`, 'json.format', json.format);
  if (json.format !== TOKENIZER_FORMAT) throw rangeError(`'${TOKENIZER_FORMAT}'`, 'json.format', json.format);
  if (typeof json.version !== 'number') throw typeError(`version ${TOKENIZER_VERSION}`, 'json.version', json.version);
  if (json.version !== TOKENIZER_VERSION) throw rangeError(`version ${TOKENIZER_VERSION}`, 'json.version', json.version);
  const allowed = expected ? [expected] : KINDS;
  const what = `one of ${allowed.map((k) => `'${k}'`).join(', ')}`;
  if (typeof json.kind !== 'string') throw typeError(what, 'json.kind', json.kind);
  if (!allowed.includes(json.kind as TokenizerKind)) throw rangeError(what, 'json.kind', json.kind);
  knownKeys(json, ['format', 'version', 'kind', 'options', 'tokens'], 'json');
  return { json, kind: json.kind as TokenizerKind };
}

/**
 * Checks a saved token list: an array of non-empty strings without
 * duplicates, the 4 specials at ids 0..3, at most `maxVocab` entries, and,
 * when `singleCodePoint`, every other token exactly one code point (char level).
 *
 * @throws TypeError / RangeError naming `json.tokens` or `json.tokens[i]`
 * @example
 * const tokens = readTokens(json.tokens, Infinity, true);
 */
export function readTokens(value: unknown, maxVocab: number, singleCodePoint: boolean): string[] {
  const name = 'json.tokens';
  if (!Array.isArray(value)) throw typeError('an array of strings', name, value);
  if (value.length < NUM_SPECIAL) {
    throw rangeError(`an array starting with the ${NUM_SPECIAL} special tokens`, name, value);
  }
  if (value.length > maxVocab) {
    throw rangeError(`at most ${maxVocab} tokens (json.options.maxVocab)`, name, value);
  }
  const seen = new Map<string, number>();
  const tokens: string[] = [];
  for (let i = 0; i < value.length; i++) {
    const token: unknown = value[i];
    const at = `${name}[${i}]`;
    if (typeof token !== 'string') throw typeError('a string', at, token);
    if (i < NUM_SPECIAL && token !== SPECIAL_TOKENS[i]) {
      throw rangeError(`'${SPECIAL_TOKENS[i]}' (special id ${i})`, at, token);
    }
    if (token.length === 0) throw rangeError('a non-empty string', at, token);
    const first = seen.get(token);
    if (first !== undefined) {
      throw rangeError('a token not already in the list', at, received(`${describe(token)}, a duplicate of ${name}[${first}]`));
    }
    if (singleCodePoint && i >= NUM_SPECIAL && Array.from(token).length !== 1) {
      throw rangeError('a single Unicode code point', at, token);
    }
    seen.set(token, i);
    tokens.push(token);
  }
  return tokens;
}
