/**
 * `Tokenizer`: what every rnnkit tokenizer shares — the token list and its
 * id lookup, the special ids, encode / decode / oneHot and their argument
 * checks. Subclasses only say how text splits into tokens and how tokens
 * join back into text.
 */
import { rangeError, typeError } from '../errors.js';
import { boolean, integer, knownKeys, optionalObject, ordinaryBuffer, withDefault } from '../validate.js';
import type { TokenizerJSON, TokenizerKind } from './json.js';
import { BOS_ID, EOS_ID, NUM_SPECIAL, PAD_ID, UNK_ID } from './special.js';

/**
 * Options of {@link Tokenizer.encode}.
 *
 * @example
 * tok.encode('hello', { addBos: true, addEos: true });
 */
export interface EncodeOptions {
  /** prepend `<bos>` (id 2); default false */
  addBos?: boolean;
  /** append `<eos>` (id 3); default false */
  addEos?: boolean;
}

/**
 * Options of {@link Tokenizer.decode}.
 *
 * @example
 * tok.decode(ids, { skipSpecial: false }); // shows <bos>, <eos>, <pad> too
 */
export interface DecodeOptions {
  /**
   * drop `<pad>`, `<bos>` and `<eos>`; default true. `<unk>` is always kept
   * and shown as the text "<unk>", so a reader sees where a token was lost.
   */
  skipSpecial?: boolean;
}

/**
 * Base class of {@link CharTokenizer} and {@link WordTokenizer} (use it for
 * `instanceof` checks and as the type of "any tokenizer"). Ids: `<pad>` 0,
 * `<unk>` 1, `<bos>` 2, `<eos>` 3, then the vocabulary by frequency. A
 * tokenizer is immutable once built.
 *
 * @example
 * function describeVocab(tok: Tokenizer) {
 *   return `${tok.kind} tokenizer with ${tok.size} tokens`;
 * }
 */
export abstract class Tokenizer {
  /** 'char' or 'word' */
  abstract readonly kind: TokenizerKind;
  /** id of `<pad>`: 0 */
  readonly padId: number = PAD_ID;
  /** id of `<unk>`: 1 */
  readonly unkId: number = UNK_ID;
  /** id of `<bos>`: 2 */
  readonly bosId: number = BOS_ID;
  /** id of `<eos>`: 3 */
  readonly eosId: number = EOS_ID;
  /** vocabulary size including the 4 specials: the width of a one-hot row */
  readonly size: number;

  readonly #tokens: readonly string[];
  readonly #ids: ReadonlyMap<string, number>;

  /** `tokens`: the validated token list in id order, specials first. */
  protected constructor(tokens: readonly string[]) {
    this.#tokens = Object.freeze([...tokens]);
    this.#ids = new Map(tokens.map((token, id) => [token, id]));
    this.size = tokens.length;
  }

  /** Normalizes (e.g. lowercases) and splits text into token strings. */
  protected abstract split(text: string): string[];

  /** Joins decoded token strings back into text. */
  protected abstract join(tokens: readonly string[]): string;

  /**
   * The saved form: format tag, version, kind, options and the token list in
   * id order. `fromJSON` of it gives a tokenizer with the same ids.
   *
   * @throws never
   * @example
   * fs.writeFileSync('vocab.json', JSON.stringify(tok)); // JSON.stringify calls toJSON
   */
  abstract toJSON(): TokenizerJSON;

  /**
   * Token strings to ids. Unseen tokens (and tokens cut by minFrequency /
   * maxVocab) become `<unk>` (1). Text spelled like a special token is text:
   * "<bos>" in the input never encodes to the `<bos>` id.
   *
   * @param text - the text to encode
   * @param options - `addBos` / `addEos` (default false)
   * @throws TypeError when `text` is not a string or an option has the wrong type or is unknown (never on content)
   * @example
   * const tok = CharTokenizer.fromText('hello');
   * tok.encode('hel', { addBos: true }); // Int32Array [2, 6, 5, 4]
   */
  encode(text: string, options?: EncodeOptions): Int32Array {
    if (typeof text !== 'string') throw typeError('a string', 'text', text);
    const opts = optionalObject(options, 'options');
    knownKeys(opts, ['addBos', 'addEos'], 'options');
    const addBos = withDefault(opts.addBos, false, (v) => boolean(v, 'options.addBos'));
    const addEos = withDefault(opts.addEos, false, (v) => boolean(v, 'options.addEos'));
    const pieces = this.split(text);
    const out = new Int32Array(pieces.length + (addBos ? 1 : 0) + (addEos ? 1 : 0));
    let k = 0;
    if (addBos) out[k++] = BOS_ID;
    for (const piece of pieces) {
      const id = this.#ids.get(piece);
      // Specials are not text: a piece spelled '<eos>' is an unknown token.
      out[k++] = id === undefined || id < NUM_SPECIAL ? UNK_ID : id;
    }
    if (addEos) out[k] = EOS_ID;
    return out;
  }

  /**
   * The pieces of `text` that are not in the vocabulary (each once, in order of
   * appearance): what {@link encode} turns into `<unk>`.
   *
   * @throws TypeError when `text` is not a string
   * @example
   * WordTokenizer.fromText('the cat').unknownTokens('the dog and the cow'); // ['dog', 'and', 'cow']
   */
  unknownTokens(text: string): string[] {
    if (typeof text !== 'string') throw typeError('a string', 'text', text);
    const out = new Set<string>();
    for (const piece of this.split(text)) {
      const id = this.#ids.get(piece);
      if (id === undefined || id < NUM_SPECIAL) out.add(piece);
    }
    return [...out];
  }

  /**
   * Ids to text. By default drops `<pad>`, `<bos>`, `<eos>` and shows
   * `<unk>` as the text "<unk>"; with `skipSpecial: false` shows all four.
   *
   * @param ids - an Int32Array or an array of integers in [0, size - 1]
   * @param options - `skipSpecial` (default true)
   * @throws TypeError when `ids` is not an Int32Array or array of numbers, or for a bad option; RangeError naming `ids[i]` for an id that is not an integer in [0, size - 1]
   * @example
   * tok.decode(tok.encode('hello', { addBos: true, addEos: true })); // 'hello'
   */
  decode(ids: Int32Array | readonly number[], options?: DecodeOptions): string {
    const list = this.#checkIds(ids, 'ids');
    const opts = optionalObject(options, 'options');
    knownKeys(opts, ['skipSpecial'], 'options');
    const skipSpecial = withDefault(opts.skipSpecial, true, (v) => boolean(v, 'options.skipSpecial'));
    const pieces: string[] = [];
    for (let i = 0; i < list.length; i++) {
      const id = list[i]!;
      if (skipSpecial && id < NUM_SPECIAL && id !== UNK_ID) continue;
      pieces.push(this.#tokens[id]!);
    }
    return this.join(pieces);
  }

  /**
   * One-hot rows for a sequence of ids: a Float32Array of shape [T, size]
   * (row-major), row t all zeros except a 1 at column `ids[t]`.
   *
   * @throws TypeError when `ids` is not an Int32Array or array of numbers; RangeError naming `ids[i]` for an id out of [0, size - 1]
   * @example
   * const x = tok.oneHot(tok.encode('ab')); // length 2 * tok.size
   */
  oneHot(ids: Int32Array | readonly number[]): Float32Array {
    const list = this.#checkIds(ids, 'ids');
    const out = new Float32Array(list.length * this.size); // (T, V)
    for (let t = 0; t < list.length; t++) out[t * this.size + list[t]!] = 1;
    return out;
  }

  /**
   * The token list in id order (a fresh copy), specials first.
   *
   * @throws never
   * @example
   * tok.tokens().slice(0, 4); // ['<pad>', '<unk>', '<bos>', '<eos>']
   */
  tokens(): string[] {
    return [...this.#tokens];
  }

  /**
   * The id of an exact token string (no lowercasing or splitting), or
   * `unkId` when absent. Specials are found by their spelling:
   * `idOf('<eos>') === 3`.
   *
   * @throws TypeError when `token` is not a string
   * @example
   * tok.idOf('<eos>'); // 3
   * tok.idOf('never seen'); // 1
   */
  idOf(token: string): number {
    if (typeof token !== 'string') throw typeError('a string', 'token', token);
    return this.#ids.get(token) ?? UNK_ID;
  }

  /**
   * The token string of an id.
   *
   * @throws TypeError when `id` is not a number; RangeError when not an integer in [0, size - 1]
   * @example
   * tok.tokenOf(2); // '<bos>'
   */
  tokenOf(id: number): string {
    return this.#tokens[integer(id, 'id', 0, this.size - 1)]!;
  }

  #checkIds(ids: unknown, name: string): ArrayLike<number> {
    const max = this.size - 1;
    const what = `an integer in [0, ${max}]`;
    if (ids instanceof Int32Array) {
      ordinaryBuffer(ids, name);
      for (let i = 0; i < ids.length; i++) {
        if (ids[i]! < 0 || ids[i]! > max) throw rangeError(what, `${name}[${i}]`, ids[i]);
      }
      return ids;
    }
    if (!Array.isArray(ids)) throw typeError('an Int32Array or an array of integers', name, ids);
    for (let i = 0; i < ids.length; i++) {
      const id: unknown = ids[i];
      if (typeof id !== 'number') throw typeError('an integer', `${name}[${i}]`, id);
      if (!Number.isInteger(id) || id < 0 || id > max) throw rangeError(what, `${name}[${i}]`, id);
    }
    return ids as number[];
  }
}
