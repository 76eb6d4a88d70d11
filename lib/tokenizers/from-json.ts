/**
 * `tokenizerFromJSON`: rebuilds whichever tokenizer a saved JSON describes.
 */
import { CharTokenizer } from './char.js';
import { readHeader } from './json.js';
import { WordTokenizer } from './word.js';

/**
 * Rebuilds a {@link CharTokenizer} or {@link WordTokenizer} from its saved
 * form, dispatching on `json.kind`. Use it when loading a tokenizer whose
 * kind you do not know (e.g. from a model checkpoint).
 *
 * @param json - the output of `tok.toJSON()`, typically after JSON.parse
 * @throws TypeError / RangeError naming `json` or the offending field, as {@link CharTokenizer.fromJSON} / {@link WordTokenizer.fromJSON}; RangeError naming `json.kind` when it is not 'char' or 'word'
 * @example
 * const tok = tokenizerFromJSON(JSON.parse(text));
 * if (tok.kind === 'word') console.log(tok.options.pattern);
 */
export function tokenizerFromJSON(json: unknown): CharTokenizer | WordTokenizer {
  const { kind } = readHeader(json);
  return kind === 'char' ? CharTokenizer.fromJSON(json) : WordTokenizer.fromJSON(json);
}
