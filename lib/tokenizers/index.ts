/**
 * Tokenizers: text to ids and back, with the specials `<pad>` 0, `<unk>` 1,
 * `<bos>` 2, `<eos>` 3 and a deterministic vocabulary order.
 *
 * @example
 * import { CharTokenizer, tokenizerFromJSON } from 'rnnkit';
 * const tok = CharTokenizer.fromText(names);
 * const again = tokenizerFromJSON(JSON.parse(JSON.stringify(tok)));
 */
export { Tokenizer } from './base.js';
export type { DecodeOptions, EncodeOptions } from './base.js';
export { CharTokenizer } from './char.js';
export type { CharTokenizerOptions } from './char.js';
export { WordTokenizer } from './word.js';
export type { WordTokenizerOptions } from './word.js';
export { tokenizerFromJSON } from './from-json.js';
export { TOKENIZER_FORMAT, TOKENIZER_VERSION } from './json.js';
export type { CharTokenizerJSON, TokenizerJSON, TokenizerKind, WordTokenizerJSON } from './json.js';
export { BOS_ID, EOS_ID, NUM_SPECIAL, PAD_ID, SPECIAL_TOKENS, UNK_ID } from './special.js';
