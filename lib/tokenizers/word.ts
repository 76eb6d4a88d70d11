/**
 * `WordTokenizer`: words, numbers and punctuation marks as tokens (the
 * course's word-level language model, where rare and unseen words map to
 * <UNK>).
 */
import { boolean, knownKeys, object, optionalObject, withDefault } from '../validate.js';
import { Tokenizer } from './base.js';
import { readHeader, readTokens, TOKENIZER_FORMAT, TOKENIZER_VERSION, type WordTokenizerJSON } from './json.js';
import { corpus, maxVocab, minFrequency, pattern, patternFromJSON } from './options.js';
import { buildVocab, count } from './vocab.js';

// Letters, combining marks, digits and '_' (Unicode-aware \w).
const W = String.raw`[\p{L}\p{M}\p{N}_]`;

/**
 * The default word pattern (flags `gu`), tried in this order:
 * - a number with decimal or thousands separators: `3.50`, `1,000`;
 * - a word: letters / digits / marks / '_', with internal apostrophes or
 *   hyphens: `don't`, `rock’n’roll`, `well-known`, `covid-19`;
 * - any other single non-space character: each punctuation mark, symbol or
 *   emoji is its own token (so the text "<unk>" is '<', 'unk', '>').
 */
const DEFAULT_SOURCE = String.raw`\p{N}+(?:[.,]\p{N}+)+|${W}+(?:['’-]${W}+)*|[^\s\p{L}\p{M}\p{N}_]`;
const DEFAULT_FLAGS = 'gu';

/** No space before these when decoding. */
const CLOSING: ReadonlySet<string> = new Set([',', '.', ';', ':', '!', '?', ')', ']', '}', "'"]);
/** No space after these when decoding. */
const OPENING: ReadonlySet<string> = new Set(['(', '[', '{', '`', '``', '“', '‘']);
/** Closing quotes: no space before them (Brown's '' and the typographic ones). */
const CLOSING_QUOTES: ReadonlySet<string> = new Set(["''", '”', '’']);
/** Quotes that open and close alike: the first of a pair opens, the next one closes. */
const PAIRED_QUOTES: ReadonlySet<string> = new Set(['"']);

/**
 * Options of {@link WordTokenizer.fromText}.
 *
 * @example
 * WordTokenizer.fromText(sentences, { minFrequency: 2, maxVocab: 10000 });
 */
export interface WordTokenizerOptions {
  /** lowercase the text (String.prototype.toLowerCase) before splitting; default true */
  lowercase?: boolean;
  /**
   * how to split: every match is a token (empty matches are skipped). Made
   * global if it is not; copied, never mutated. Default: numbers, words with
   * internal apostrophes / hyphens, and each other non-space character.
   */
  pattern?: RegExp;
  /** keep only words seen at least this often (integer >= 1); rarer ones encode to `<unk>`; default 1 */
  minFrequency?: number;
  /** cap on the vocabulary size including the 4 specials (integer >= 5, or Infinity); default Infinity */
  maxVocab?: number;
}

interface WordSettings {
  lowercase: boolean;
  pattern: RegExp;
  minFrequency: number;
  maxVocab: number;
}

const OPTION_KEYS = ['lowercase', 'pattern', 'minFrequency', 'maxVocab'] as const;

function splitWords(text: string, settings: WordSettings): string[] {
  const out: string[] = [];
  // matchAll works on a copy of the RegExp, so settings.pattern.lastIndex stays 0.
  for (const m of (settings.lowercase ? text.toLowerCase() : text).matchAll(settings.pattern)) {
    if (m[0].length > 0) out.push(m[0]);
  }
  return out;
}

/**
 * Word-level tokenizer. Splits with a RegExp (see {@link WordTokenizerOptions}),
 * lowercasing first by default. `decode` joins tokens with spaces, except
 * none before `, . ; : ! ? ) ] } '` and none after `( [ {`, so
 * `decode(encode(s))` gives the lowercased text with normalized spacing
 * (`"Hello , world ( again )"` -> `"hello, world (again)"`). Quotes hug what
 * they quote: `"` alternately opens and closes (`he said " hi "` -> `he said
 * "hi"`), as do `` `` `` / `''` (the Brown corpus's) and `“` / `”`; other
 * marks, such as `-`, stand between spaces.
 *
 * Special tokens: with the default pattern, text like "<unk>" splits into
 * '<', 'unk', '>'. A custom pattern that yields a token spelled like a
 * special (e.g. `/\S+/g` on "<eos>") treats it as text: it is never added to
 * the vocabulary and encodes to `<unk>`, never to the special's id.
 *
 * @example
 * const tok = WordTokenizer.fromText(['The cat sat.', "The dog didn't."]);
 * tok.decode(tok.encode('the cat didn\'t.')); // "the cat didn't."
 */
export class WordTokenizer extends Tokenizer {
  /** always 'word' */
  override readonly kind = 'word' as const;
  readonly #settings: WordSettings;

  private constructor(tokens: readonly string[], settings: WordSettings) {
    super(tokens);
    this.#settings = settings;
  }

  /**
   * Builds the vocabulary from a text or a list of texts: specials at 0..3,
   * then tokens by frequency (descending), ties by code-point order.
   *
   * @param text - a string, or an array of strings (tokens never span two entries)
   * @param options - see {@link WordTokenizerOptions}
   * @throws TypeError when `text` is not a string or array of strings, `options` is not an object, has an unknown key or an option has the wrong type (`options.pattern` must be a RegExp); RangeError when `options.minFrequency` is not an integer >= 1 or `options.maxVocab` not an integer >= 5 or Infinity
   * @example
   * const tok = WordTokenizer.fromText('A well-known cat. A cat!', { maxVocab: 6 });
   * tok.tokens(); // ['<pad>', '<unk>', '<bos>', '<eos>', 'a', 'cat']
   */
  static fromText(text: string | readonly string[], options?: WordTokenizerOptions): WordTokenizer {
    const parts = corpus(text, 'text');
    const opts = optionalObject(options, 'options');
    knownKeys(opts, OPTION_KEYS, 'options');
    const settings: WordSettings = {
      lowercase: withDefault(opts.lowercase, true, (v) => boolean(v, 'options.lowercase')),
      pattern: withDefault(opts.pattern, new RegExp(DEFAULT_SOURCE, DEFAULT_FLAGS), (v) => pattern(v, 'options.pattern')),
      minFrequency: withDefault(opts.minFrequency, 1, (v) => minFrequency(v, 'options.minFrequency')),
      maxVocab: withDefault(opts.maxVocab, Infinity, (v) => maxVocab(v, 'options.maxVocab')),
    };
    const counts = new Map<string, number>();
    for (const part of parts) for (const word of splitWords(part, settings)) count(counts, word);
    return new WordTokenizer(buildVocab(counts, settings.minFrequency, settings.maxVocab), settings);
  }

  /**
   * Rebuilds a tokenizer from {@link WordTokenizer.toJSON} output (e.g. after
   * JSON.parse), with the same id for every token and the same pattern.
   * Checks everything first.
   *
   * @throws TypeError / RangeError naming `json` or the offending field (`json.format`, `json.version`, `json.kind` (must be 'word'), `json.options.*`, `json.options.pattern`, `json.tokens[i]`): wrong format or version, unknown keys, invalid or non-global pattern, specials not at ids 0..3, duplicate or empty tokens, more tokens than maxVocab
   * @example
   * const tok2 = WordTokenizer.fromJSON(JSON.parse(JSON.stringify(tok)));
   */
  static fromJSON(json: unknown): WordTokenizer {
    const { json: j } = readHeader(json, 'word');
    const o = object(j.options, 'json.options');
    knownKeys(o, OPTION_KEYS, 'json.options');
    const settings: WordSettings = {
      lowercase: boolean(o.lowercase, 'json.options.lowercase'),
      pattern: patternFromJSON(o.pattern, 'json.options.pattern'),
      minFrequency: minFrequency(o.minFrequency, 'json.options.minFrequency'),
      maxVocab: maxVocab(o.maxVocab, 'json.options.maxVocab', true),
    };
    return new WordTokenizer(readTokens(j.tokens, settings.maxVocab, false), settings);
  }

  /**
   * The options it was built with (a fresh object with a fresh copy of the
   * pattern; `maxVocab` Infinity when uncapped).
   *
   * @throws never
   * @example
   * tok.options.pattern.flags; // 'gu' for the default pattern
   */
  get options(): Required<WordTokenizerOptions> {
    const { lowercase, pattern: re, minFrequency: minFreq, maxVocab: cap } = this.#settings;
    return { lowercase, pattern: new RegExp(re.source, re.flags), minFrequency: minFreq, maxVocab: cap };
  }

  /**
   * The saved form (see {@link WordTokenizerJSON}); the pattern is always
   * stored, the default one too.
   *
   * @throws never
   * @example
   * WordTokenizer.fromJSON(tok.toJSON()).tokens(); // same as tok.tokens()
   */
  override toJSON(): WordTokenizerJSON {
    const { lowercase, pattern: re, minFrequency: minFreq, maxVocab: cap } = this.#settings;
    return {
      format: TOKENIZER_FORMAT,
      version: TOKENIZER_VERSION,
      kind: 'word',
      options: {
        lowercase,
        pattern: { source: re.source, flags: re.flags },
        minFrequency: minFreq,
        maxVocab: cap === Infinity ? null : cap,
      },
      tokens: this.tokens(),
    };
  }

  protected override split(text: string): string[] {
    return splitWords(text, this.#settings);
  }

  protected override join(tokens: readonly string[]): string {
    let out = '';
    let open = ''; // the paired quote ('"') opened and not yet closed
    let glueNext = true; // no space before the next token (the start, or after an opening mark)
    for (const token of tokens) {
      let glue = glueNext || CLOSING.has(token) || CLOSING_QUOTES.has(token);
      glueNext = OPENING.has(token);
      if (PAIRED_QUOTES.has(token)) {
        if (open === token) {
          glue = true; // closes: against the word before it
          open = '';
        } else if (open === '') {
          glueNext = true; // opens: against the word after it
          open = token;
        }
      }
      out += glue ? token : ' ' + token;
    }
    return out;
  }
}
