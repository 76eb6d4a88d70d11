/**
 * Levenshtein distance between token sequences, and the scores built on it
 * for sequence outputs: exact match (word / sentence error rate) and token
 * error rate (phoneme or character error rate).
 */

/**
 * The fewest insertions, deletions and substitutions that turn `a` into `b`
 * (one row of the dynamic programme at a time: O(|a| |b|) time, O(|b|) memory).
 *
 * @throws never
 * @example
 * editDistance(['K', 'AE', 'T'], ['K', 'AA', 'T', 'S']); // 2
 */
export function editDistance<T>(a: readonly T[], b: readonly T[]): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length]!;
}

/**
 * Sequence-level and token-level error rates of predictions against
 * references: `sequenceError` is the share of outputs that are not exactly
 * right (word error rate in G2P), `tokenError` the summed edit distance over
 * the summed reference length (phoneme error rate; can exceed 1).
 *
 * @throws RangeError when the lists differ in length or are empty
 * @example
 * errorRates([['K', 'AE', 'T']], [['K', 'AE', 'T']]); // { sequenceError: 0, tokenError: 0, n: 1 }
 */
export function errorRates<T>(
  predicted: readonly (readonly T[])[],
  reference: readonly (readonly T[])[],
): { sequenceError: number; tokenError: number; n: number } {
  if (predicted.length !== reference.length || reference.length === 0) {
    throw new RangeError(`Expected ${reference.length} predictions (one per reference, at least one) but received ${predicted.length}`);
  }
  let wrong = 0;
  let edits = 0;
  let length = 0;
  predicted.forEach((p, i) => {
    const r = reference[i]!;
    const d = editDistance(p, r);
    if (d > 0) wrong++;
    edits += d;
    length += r.length;
  });
  return { sequenceError: wrong / reference.length, tokenError: edits / Math.max(1, length), n: reference.length };
}
