/**
 * The four special tokens every rnnkit tokenizer reserves, with fixed ids:
 * `<pad>` 0, `<unk>` 1, `<bos>` 2, `<eos>` 3. The vocabulary proper starts at
 * id 4. The course's language model starts from <BOS> (or 0), ends a sentence
 * with <EOS>, maps unknown tokens to <UNK> and never samples <UNK>.
 */

/**
 * The special tokens in id order: `SPECIAL_TOKENS[PAD_ID] === '<pad>'`, ...
 *
 * @throws never
 * @example
 * SPECIAL_TOKENS; // ['<pad>', '<unk>', '<bos>', '<eos>']
 */
export const SPECIAL_TOKENS: readonly ['<pad>', '<unk>', '<bos>', '<eos>'] = Object.freeze(['<pad>', '<unk>', '<bos>', '<eos>'] as const);

/**
 * Id of `<pad>`: fills the steps after a row's length in a padded batch.
 *
 * @throws never
 * @example
 * tok.padId === PAD_ID; // true
 */
export const PAD_ID = 0;

/**
 * Id of `<unk>`: what every unseen or cut-off token encodes to.
 *
 * @throws never
 * @example
 * tok.encode('never seen')[0] === UNK_ID; // true for an unseen token
 */
export const UNK_ID = 1;

/**
 * Id of `<bos>`: the first input of a language model (teacher forcing).
 *
 * @throws never
 * @example
 * tok.encode('hi', { addBos: true })[0] === BOS_ID; // true
 */
export const BOS_ID = 2;

/**
 * Id of `<eos>`: the last target of a sequence; sampling stops on it.
 *
 * @throws never
 * @example
 * tok.encode('hi', { addEos: true }).at(-1) === EOS_ID; // true
 */
export const EOS_ID = 3;

/**
 * How many ids the specials take; the vocabulary proper starts here.
 *
 * @throws never
 * @example
 * tok.size - NUM_SPECIAL; // number of text tokens
 */
export const NUM_SPECIAL = 4;
