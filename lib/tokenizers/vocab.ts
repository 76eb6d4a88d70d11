/**
 * Vocabulary building shared by the tokenizers: count tokens, drop the rare
 * ones, order by frequency (descending) with ties by code-point order, cap
 * the size, and put the specials first.
 */
import { NUM_SPECIAL, SPECIAL_TOKENS } from './special.js';

const SPECIAL_SET: ReadonlySet<string> = new Set(SPECIAL_TOKENS);

/**
 * True when `token` is spelled like a special token (`<pad>`, `<unk>`,
 * `<bos>`, `<eos>`). Text that happens to contain such a spelling is text:
 * it is never counted into the vocabulary and never encodes to the special's id.
 *
 * @throws never
 * @example
 * isSpecialSpelling('<unk>'); // true
 */
export function isSpecialSpelling(token: string): boolean {
  return SPECIAL_SET.has(token);
}

/**
 * Compares two strings by Unicode code points (not UTF-16 code units, which
 * is what `<` and `localeCompare`-free sorts use: those put an astral
 * character such as U+1F642 before U+FF01 because its lead surrogate is
 * U+D83D). Locale-independent, so ids do not depend on the machine.
 *
 * @throws never
 * @example
 * ['🙂', '！'].sort(compareCodePoints); // ['！', '🙂']
 */
export function compareCodePoints(a: string, b: string): number {
  // i advances identically in both strings while their code points agree.
  let i = 0;
  while (i < a.length && i < b.length) {
    const ca = a.codePointAt(i)!;
    const cb = b.codePointAt(i)!;
    if (ca !== cb) return ca - cb;
    i += ca > 0xffff ? 2 : 1;
  }
  return a.length - i - (b.length - i);
}

/**
 * Adds one to the count of `token`.
 *
 * @throws never
 * @example
 * const counts = new Map<string, number>();
 * for (const ch of 'hello') count(counts, ch);
 */
export function count(counts: Map<string, number>, token: string): void {
  counts.set(token, (counts.get(token) ?? 0) + 1);
}

/**
 * The token list in id order: the 4 specials, then the tokens seen at least
 * `minFrequency` times, most frequent first, ties by code-point order, at
 * most `maxVocab` entries in all (`Infinity` for no cap). Tokens spelled like
 * a special are left out (see {@link isSpecialSpelling}).
 *
 * @throws never (options are validated by the caller)
 * @example
 * buildVocab(new Map([['b', 2], ['a', 2], ['c', 1]]), 1, 6); // ['<pad>', '<unk>', '<bos>', '<eos>', 'a', 'b']
 */
export function buildVocab(counts: ReadonlyMap<string, number>, minFrequency: number, maxVocab: number): string[] {
  const kept = [...counts].filter(([token, n]) => n >= minFrequency && !SPECIAL_SET.has(token));
  kept.sort((x, y) => y[1] - x[1] || compareCodePoints(x[0], y[0]));
  const room = Math.min(kept.length, maxVocab - NUM_SPECIAL);
  const tokens: string[] = [...SPECIAL_TOKENS];
  for (let i = 0; i < room; i++) tokens.push(kept[i]![0]);
  return tokens;
}
