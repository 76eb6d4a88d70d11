/**
 * `CharTokenizer`: one token per Unicode code point (the course's
 * character-level language model: no <UNK> problem once every character of
 * the corpus is in the vocabulary, but longer sequences).
 */
import { boolean, knownKeys, object, optionalObject, withDefault } from '../validate.js';
import { Tokenizer } from './base.js';
import { readHeader, readTokens, TOKENIZER_FORMAT, TOKENIZER_VERSION, type CharTokenizerJSON } from './json.js';
import { corpus, maxVocab, minFrequency } from './options.js';
import { buildVocab, count } from './vocab.js';

/**
 * Options of {@link CharTokenizer.fromText}.
 *
 * @example
 * CharTokenizer.fromText(names, { lowercase: true, minFrequency: 2 });
 */
export interface CharTokenizerOptions {
  /** lowercase the text (String.prototype.toLowerCase, locale-independent) before counting and encoding; default false */
  lowercase?: boolean;
  /** keep only characters seen at least this often (integer >= 1); rarer ones encode to `<unk>`; default 1 */
  minFrequency?: number;
  /** cap on the vocabulary size including the 4 specials (integer >= 5, or Infinity); default Infinity */
  maxVocab?: number;
}

interface CharSettings {
  lowercase: boolean;
  minFrequency: number;
  maxVocab: number;
}

const OPTION_KEYS = ['lowercase', 'minFrequency', 'maxVocab'] as const;

/**
 * Character-level tokenizer: splits text into Unicode code points
 * (`Array.from(text)`, so "🙂" is one token, not two UTF-16 halves). No
 * Unicode normalization is applied: call `text.normalize('NFC')` yourself if
 * your corpus mixes composed and decomposed accents. Text such as "<unk>" is
 * just the characters '<', 'u', 'n', 'k', '>'.
 *
 * @example
 * const tok = CharTokenizer.fromText('hello world');
 * const ids = tok.encode('hello', { addBos: true, addEos: true });
 * tok.decode(ids); // 'hello'
 */
export class CharTokenizer extends Tokenizer {
  /** always 'char' */
  override readonly kind = 'char' as const;
  readonly #settings: CharSettings;

  private constructor(tokens: readonly string[], settings: CharSettings) {
    super(tokens);
    this.#settings = settings;
  }

  /**
   * Builds the vocabulary from a text or a list of texts: specials at 0..3,
   * then characters by frequency (descending), ties by code-point order.
   *
   * @param text - a string, or an array of strings (e.g. one name per entry)
   * @param options - see {@link CharTokenizerOptions}
   * @throws TypeError when `text` is not a string or array of strings, `options` is not an object, has an unknown key or an option has the wrong type; RangeError when `options.minFrequency` is not an integer >= 1 or `options.maxVocab` not an integer >= 5 or Infinity
   * @example
   * const tok = CharTokenizer.fromText(['anna', 'bob'], { maxVocab: 30 });
   * tok.tokens(); // ['<pad>', '<unk>', '<bos>', '<eos>', 'a', 'b', 'n', 'o']
   */
  static fromText(text: string | readonly string[], options?: CharTokenizerOptions): CharTokenizer {
    const parts = corpus(text, 'text');
    const opts = optionalObject(options, 'options');
    knownKeys(opts, OPTION_KEYS, 'options');
    const settings: CharSettings = {
      lowercase: withDefault(opts.lowercase, false, (v) => boolean(v, 'options.lowercase')),
      minFrequency: withDefault(opts.minFrequency, 1, (v) => minFrequency(v, 'options.minFrequency')),
      maxVocab: withDefault(opts.maxVocab, Infinity, (v) => maxVocab(v, 'options.maxVocab')),
    };
    const counts = new Map<string, number>();
    for (const part of parts) {
      for (const ch of settings.lowercase ? part.toLowerCase() : part) count(counts, ch);
    }
    return new CharTokenizer(buildVocab(counts, settings.minFrequency, settings.maxVocab), settings);
  }

  /**
   * Rebuilds a tokenizer from {@link CharTokenizer.toJSON} output (e.g. after
   * JSON.parse), with the same id for every token. Checks everything first.
   *
   * @throws TypeError / RangeError naming `json` or the offending field (`json.format`, `json.version`, `json.kind` (must be 'char'), `json.options.*`, `json.tokens[i]`): wrong format or version, unknown keys, specials not at ids 0..3, duplicate, empty or multi-code-point tokens, more tokens than maxVocab
   * @example
   * const tok2 = CharTokenizer.fromJSON(JSON.parse(fs.readFileSync('vocab.json', 'utf8')));
   */
  static fromJSON(json: unknown): CharTokenizer {
    const { json: j } = readHeader(json, 'char');
    const o = object(j.options, 'json.options');
    knownKeys(o, OPTION_KEYS, 'json.options');
    const settings: CharSettings = {
      lowercase: boolean(o.lowercase, 'json.options.lowercase'),
      minFrequency: minFrequency(o.minFrequency, 'json.options.minFrequency'),
      maxVocab: maxVocab(o.maxVocab, 'json.options.maxVocab', true),
    };
    return new CharTokenizer(readTokens(j.tokens, settings.maxVocab, true), settings);
  }

  /**
   * The options it was built with (a fresh object; `maxVocab` Infinity when uncapped).
   *
   * @throws never
   * @example
   * tok.options; // { lowercase: false, minFrequency: 1, maxVocab: Infinity }
   */
  get options(): Required<CharTokenizerOptions> {
    return { ...this.#settings };
  }

  /**
   * The saved form (see {@link CharTokenizerJSON}).
   *
   * @throws never
   * @example
   * CharTokenizer.fromJSON(tok.toJSON()).tokens(); // same as tok.tokens()
   */
  override toJSON(): CharTokenizerJSON {
    const { lowercase, minFrequency: minFreq, maxVocab: cap } = this.#settings;
    return {
      format: TOKENIZER_FORMAT,
      version: TOKENIZER_VERSION,
      kind: 'char',
      options: { lowercase, minFrequency: minFreq, maxVocab: cap === Infinity ? null : cap },
      tokens: this.tokens(),
    };
  }

  protected override split(text: string): string[] {
    return Array.from(this.#settings.lowercase ? text.toLowerCase() : text);
  }

  protected override join(tokens: readonly string[]): string {
    return tokens.join('');
  }
}
