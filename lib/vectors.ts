/**
 * Pretrained word vectors for an embedding layer: the common text format of
 * GloVe and word2vec (`word v1 v2 ... vd` per line; word2vec's optional first
 * line `count dim` is skipped), read line by line, so a multi-GB file never
 * sits in memory. Only the rows of the tokenizer's vocabulary are kept.
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { fsReason } from './io.js';
import { rangeError, received, RnnkitError, typeError } from './errors.js';
import type { Model } from './model.js';
import { LIMITS } from './limits.js';
import { NUM_SPECIAL } from './tokenizers/special.js';
import { integer, knownKeys, optionalObject } from './validate.js';
import type { Tokenizer } from './tokenizers/index.js';
import type { Tensor } from './types.js';

/**
 * What {@link readWordVectors} returns: a [vocabSize, dim] table with the
 * vectors found, and which ids they cover.
 *
 * @example
 * const { table, found, missing } = await readWordVectors('glove.6B.100d.txt', tok);
 */
export interface WordVectors {
  /** [tok.size, dim]; rows of ids without a vector are zero (see `found`) */
  table: Tensor;
  /** ids whose row came from the file */
  found: Int32Array;
  /** vocabulary words (special tokens excluded) that had no vector, in id order */
  missing: string[];
}

/**
 * Reads word vectors for a tokenizer's vocabulary. The first vector of a
 * word wins (files list words once). Special tokens (`<pad>`, `<unk>`,
 * `<bos>`, `<eos>`) are never read from the file.
 *
 * @param path - a GloVe / word2vec text file
 * @param tokenizer - the vocabulary (a WordTokenizer, usually the model's)
 * @param options - `dim`: the width every vector must have (default: the first vector's)
 * @throws TypeError / RangeError for bad arguments
 * @throws RnnkitError ERR_VECTORS naming the file (and the line) when it cannot be read, a vector is not
 *   `dim` finite numbers, or it holds no vector at all
 * @example
 * const { table, found } = await readWordVectors('glove.6B.100d.txt', tok, { dim: 100 });
 * const w = model.getWeights()['layers.0.weight']!; // keep the initialisation where no vector was found
 * for (const id of found) w.data.set(table.data.subarray(id * 100, (id + 1) * 100), id * 100);
 * model.setWeights({ 'layers.0.weight': w });
 */
export async function readWordVectors(path: string, tokenizer: Tokenizer, options?: { dim?: number }): Promise<WordVectors> {
  if (typeof path !== 'string' || path === '') throw typeError('a non-empty string', 'path', path);
  if (tokenizer === null || typeof tokenizer !== 'object' || typeof tokenizer.idOf !== 'function' || typeof tokenizer.size !== 'number') {
    throw typeError('a tokenizer (WordTokenizer or CharTokenizer)', 'tokenizer', tokenizer);
  }
  const opts = optionalObject(options, 'options');
  knownKeys(opts, ['dim'], 'options');
  let dim = opts.dim === undefined ? undefined : integer(opts.dim, 'options.dim', 1, LIMITS.units);
  const V = tokenizer.size;
  const bad = (what: string, cause?: unknown) =>
    new RnnkitError('ERR_VECTORS', `Cannot read word vectors '${path}': ${what}`, cause === undefined ? undefined : { cause });
  let data: Float32Array | undefined = dim === undefined ? undefined : new Float32Array(V * dim);
  const seen = new Uint8Array(V);
  let line = 0;
  const stream = createReadStream(path, { encoding: 'utf8' });
  const lines = createInterface({ input: stream, crlfDelay: Infinity });
  try {
    for await (const text of lines) {
      line++;
      const fields = text.trim().split(/\s+/);
      if (fields.length === 1 && fields[0] === '') continue;
      if (line === 1 && fields.length === 2 && fields.every((f) => /^\d+$/.test(f))) continue; // word2vec's "count dim"
      const width = fields.length - 1;
      if (dim === undefined) {
        if (width < 1) throw bad(`line ${line} holds a word without a vector`);
        dim = width;
        data = new Float32Array(V * dim);
      }
      if (width !== dim) throw bad(`line ${line} has ${width} numbers, expected ${dim}`);
      const id = tokenizer.idOf(fields[0]!);
      if (id < NUM_SPECIAL || seen[id]) continue;
      const row = data!.subarray(id * dim, (id + 1) * dim);
      for (let j = 0; j < dim; j++) {
        const v = Number(fields[j + 1]);
        if (!Number.isFinite(v)) throw bad(`line ${line}: ${JSON.stringify(fields[j + 1])} is not a finite number`);
        row[j] = v;
      }
      seen[id] = 1;
    }
  } catch (err) {
    if (err instanceof RnnkitError) throw err;
    throw bad(fsReason(err), err);
  } finally {
    lines.close();
    stream.destroy();
  }
  if (dim === undefined || data === undefined) throw bad('it holds no vectors', undefined);
  const found: number[] = [];
  const missing: string[] = [];
  for (let id = NUM_SPECIAL; id < V; id++) {
    if (seen[id]) found.push(id);
    else missing.push(tokenizer.tokenOf(id));
  }
  return { table: { shape: [V, dim], data }, found: Int32Array.from(found), missing };
}

/**
 * Reads word vectors ({@link readWordVectors}) into a model's embedding: the
 * rows of the words found are replaced, the others keep their values.
 *
 * @param model - a model whose first layer is an embedding
 * @param path - a GloVe / word2vec text file whose vectors are as wide as the embedding
 * @param options - `tokenizer` (default `model.tokenizer`)
 * @returns how many vocabulary words got a vector, and the words that did not
 * @throws TypeError when the model has no embedding first or there is no tokenizer; RangeError when the
 *   tokenizer's size is not the model's vocabulary
 * @throws RnnkitError ERR_VECTORS (see {@link readWordVectors}); ERR_BUSY / ERR_DISPOSED from the model
 * @example
 * const { found, missing } = await useWordVectors(model, 'glove.6B.100d.txt');
 * console.log(`${found} of ${found + missing.length} words have a GloVe vector`);
 */
export async function useWordVectors(
  model: Model,
  path: string,
  options?: { tokenizer?: Tokenizer },
): Promise<{ found: number; missing: string[] }> {
  const first = model.config.layers[0];
  if (first?.type !== 'embedding') throw typeError('a model whose first layer is an embedding', 'model', model);
  const tokenizer = options?.tokenizer ?? model.tokenizer;
  if (tokenizer === undefined) throw typeError('a tokenizer (the model has none: pass options.tokenizer)', 'options.tokenizer', undefined);
  const V = (model.config.input as { vocabSize: number }).vocabSize;
  if (tokenizer.size !== V) {
    throw rangeError(
      `a tokenizer of ${V} ids (the model's vocabSize)`,
      'options.tokenizer',
      received(`a tokenizer of ${tokenizer.size} ids`),
    );
  }
  const name = `${first.name ?? 'layers.0'}.weight`;
  const vectors = await readWordVectors(path, tokenizer, { dim: first.dim });
  const w = model.getWeights()[name]!;
  for (const id of vectors.found) w.data.set(vectors.table.data.subarray(id * first.dim, (id + 1) * first.dim), id * first.dim);
  model.setWeights({ [name]: w });
  return { found: vectors.found.length, missing: vectors.missing };
}
