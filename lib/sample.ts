/**
 * Sampling from a language model: `model.generate` (ids), `generateText`
 * (strings through a tokenizer) and the streaming `initialState` / `step`.
 *
 * The loop (step, softmax, sample, feed back) runs in C++ in one call per
 * request, n sequences in parallel; it never crosses N-API per token.
 */
import type { StepResult } from './calls.js';
import { handleOf } from './compute.js';
import { sampleConditionRows } from './condition.js';
import { callSite, rangeError, received, typeError } from './errors.js';
import { LIMITS } from './limits.js';
import type { Model } from './model.js';
import type { NativeGenerateOptions } from './native.js';
import { toInitialStates } from './state.js';
import { tensor } from './tensor.js';
import type { FloatArray, LayerState, StateTensors } from './types.js';
import { integer, knownKeys, number, optionalObject, tokenIds, withDefault } from './validate.js';

/**
 * What sampling needs of a tokenizer (CharTokenizer and WordTokenizer fit).
 *
 * @example
 * const tok: SamplingTokenizer = CharTokenizer.fromText(text);
 */
export interface SamplingTokenizer {
  readonly kind: 'char' | 'word';
  readonly padId: number;
  readonly unkId: number;
  readonly bosId: number;
  readonly eosId: number;
  /** the number of ids (CharTokenizer and WordTokenizer have it); when given, it must equal the model's vocabulary */
  readonly size?: number;
  encode(text: string, options?: { addBos?: boolean; addEos?: boolean }): Int32Array;
  decode(ids: ArrayLike<number>, options?: { skipSpecial?: boolean }): string;
}

/**
 * Options of `model.generate`.
 *
 * @example
 * await model.generate({ prime: [2], maxLength: 40, n: 5, temperature: 0.8, seed: 7, stopTokens: [3], banTokens: [0, 1, 2] });
 */
export interface GenerateOptions {
  /** token ids fed before sampling (default: [tokenizer.bosId] of the attached tokenizer) */
  prime?: readonly number[] | Int32Array;
  /** most tokens per sequence (default 100) */
  maxLength?: number;
  /** sequences (default 1) */
  n?: number;
  /** softmax temperature; 0 = greedy (default 1) */
  temperature?: number;
  /** sample among the k most likely tokens; 0 = all (default 0) */
  topK?: number;
  /** nucleus sampling: the smallest set with probability >= topP (default 1 = all) */
  topP?: number;
  /** the same seed gives the same output (default 0) */
  seed?: number;
  /** end a sequence (not included in it) */
  stopTokens?: readonly number[];
  /** never produced, however likely */
  banTokens?: readonly number[];
  /**
   * for a model built with a condition: one conditioning vector for all n
   * samples (`number[]` / float array of k) or one per sample (`number[][]`)
   */
  condition?: readonly number[] | readonly (readonly number[])[] | Float32Array | Float64Array;
  /** per recurrent layer, the state to start from for each of the n samples ([dirs, n, H]) */
  initialState?: (LayerState | null | undefined)[];
}

const MAX_SAMPLED = LIMITS.sampledTokens;

const GENERATE_KEYS = ['prime', 'maxLength', 'n', 'temperature', 'topK', 'topP', 'seed', 'stopTokens', 'banTokens'] as const;

/**
 * Checks generate options against a model's vocabulary and fills defaults.
 *
 * @throws TypeError / RangeError naming the option
 * @example
 * const native = generateOptions(options, 27, 27, 2);
 */
export function generateOptions(options: unknown, vocab: number, outputs: number, bos: number | undefined): NativeGenerateOptions {
  const o = optionalObject(options, 'options');
  knownKeys(o, GENERATE_KEYS, 'options');
  let prime: Int32Array;
  if (o.prime === undefined) {
    if (bos === undefined) {
      throw typeError('token ids (the model has no tokenizer to take <bos> from)', 'options.prime', undefined);
    }
    prime = Int32Array.of(bos);
  } else {
    prime = tokenIds(o.prime, 'options.prime', vocab, { maxLength: LIMITS.idList });
    if (prime.length === 0) throw rangeError('at least one token id (e.g. <bos>)', 'options.prime', o.prime);
  }
  const banTokens = tokenIds(o.banTokens ?? [], 'options.banTokens', outputs, { maxLength: LIMITS.idList });
  if (new Set(banTokens).size >= outputs) throw rangeError('at least one token left unbanned', 'options.banTokens', o.banTokens);
  const maxLength = withDefault(o.maxLength, 100, (v) => integer(v, 'options.maxLength', 1, LIMITS.generateLength));
  const n = withDefault(o.n, 1, (v) => integer(v, 'options.n', 1, LIMITS.samples));
  if (n * maxLength > MAX_SAMPLED) {
    throw rangeError(`n x maxLength at most ${MAX_SAMPLED} tokens per call`, 'options.maxLength', received(`${n} x ${maxLength}`));
  }
  return {
    prime,
    maxLength,
    n,
    temperature: withDefault(o.temperature, 1, (v) => number(v, 'options.temperature', { min: 0, max: 1e6 })),
    topK: withDefault(o.topK, 0, (v) => integer(v, 'options.topK', 0, LIMITS.topK)),
    topP: withDefault(o.topP, 1, (v) => number(v, 'options.topP', { min: 0, max: 1, minExclusive: true })),
    seed: withDefault(o.seed, 0, (v) => integer(v, 'options.seed', 0, Number.MAX_SAFE_INTEGER)),
    stopTokens: tokenIds(o.stopTokens ?? [], 'options.stopTokens', outputs, { maxLength: LIMITS.idList }),
    banTokens,
  };
}

/**
 * Options of {@link generateText}.
 *
 * @example
 * await generateText(model, tok, { prime: 'Ma', maxLength: 40, n: 10, seed: 7 });
 */
export interface GenerateTextOptions extends Pick<
  GenerateOptions,
  'maxLength' | 'n' | 'temperature' | 'topK' | 'topP' | 'seed' | 'condition'
> {
  /** text to continue (default ''); each result starts with it */
  prime?: string;
}

/**
 * Samples texts from a language model: starts from `<bos>` and the prime,
 * never emits `<unk>`, `<pad>` or `<bos>`, and stops at `<eos>` (or
 * maxLength tokens). Each text starts with the prime. Without a tokenizer
 * argument it uses `model.tokenizer` (a model trained on a tokenizer's data,
 * or loaded from a file that has one).
 *
 * @throws TypeError when there is no tokenizer or it lacks encode / decode, or an option has the wrong type
 * @throws RangeError for an out-of-range option, or a tokenizer whose size or special ids do not fit the model
 * @example
 * const texts = await generateText(model, tok, { prime: 'Ma', n: 5, seed: 7 });
 * const same = await generateText(model, { prime: 'Ma', n: 5, seed: 7 }); // model.tokenizer
 */
export async function generateText(model: Model, options?: GenerateTextOptions): Promise<string[]>;
export async function generateText(
  model: Model,
  tokenizer: SamplingTokenizer | undefined,
  options?: GenerateTextOptions,
): Promise<string[]>;
export async function generateText(model: Model, ...args: unknown[]): Promise<string[]> {
  const explicit = args.length >= 2 || isTokenizerLike(args[0]);
  const tokenizer = samplingTokenizer(model, explicit ? args[0] : undefined, explicit);
  const { options, primeText } = textRequest(tokenizer, explicit ? args[1] : args[0], ['n']);
  const out = await model.generate(options);
  return out.map((seq) => textOf(tokenizer, primeText, seq));
}

/**
 * A text request as generate options: `<bos>` and the encoded prime, stopping at `<eos>`,
 * never `<unk>`, `<pad>` or `<bos>` (what {@link generateText} and the batched sampler's text
 * requests sample). `extraKeys`: option keys passed through besides the one-sequence ones.
 *
 * @throws TypeError / RangeError naming the option
 * @example
 * const { options, primeText } = textRequest(tok, { prime: 'Ma', seed: 7 }, []);
 */
export function textRequest(
  tokenizer: SamplingTokenizer,
  value: unknown,
  extraKeys: readonly string[],
): { options: GenerateOptions; primeText: string } {
  const o = optionalObject(value, 'options');
  knownKeys(o, ['prime', 'maxLength', 'temperature', 'topK', 'topP', 'seed', 'condition', ...extraKeys], 'options');
  const primeText = o.prime ?? '';
  if (typeof primeText !== 'string') throw typeError('a string', 'options.prime', primeText);
  const { prime: _ignored, ...rest } = o;
  const options = {
    ...(rest as GenerateOptions),
    prime: [tokenizer.bosId, ...tokenizer.encode(primeText)],
    stopTokens: [tokenizer.eosId],
    banTokens: [tokenizer.unkId, tokenizer.padId, tokenizer.bosId],
  };
  return { options, primeText };
}

/**
 * The text of a sampled sequence: the prime, then the decoded tokens (a space between
 * them for word tokens).
 *
 * @throws never
 * @example
 * textOf(tok, 'Ma', [14, 20]); // 'Mary'
 */
export function textOf(tokenizer: SamplingTokenizer, primeText: string, seq: ArrayLike<number>): string {
  const text = tokenizer.decode(seq);
  if (text.length === 0) return primeText;
  return primeText + (tokenizer.kind === 'word' && primeText.length > 0 ? ' ' : '') + text;
}

function isTokenizerLike(v: unknown): v is SamplingTokenizer {
  return v !== null && typeof v === 'object' && typeof (v as SamplingTokenizer).encode === 'function';
}

/**
 * The tokenizer generateText samples through: the given one (when `explicit`,
 * even undefined, which means the model's) or model.tokenizer, checked against
 * the model: its size, when it has one, is the model's vocabulary, and its
 * special ids are ids of the model.
 */
export function samplingTokenizer(model: Model, given: unknown, explicit: boolean): SamplingTokenizer {
  const name = explicit && given !== undefined ? 'tokenizer' : 'model.tokenizer';
  const tok = explicit && given !== undefined ? given : model.tokenizer;
  if (tok === undefined) throw typeError('a tokenizer (the model has none: pass one, or set model.tokenizer)', 'tokenizer', undefined);
  if (!isTokenizerLike(tok) || typeof tok.decode !== 'function') {
    throw typeError('a tokenizer (CharTokenizer or WordTokenizer)', name, tok);
  }
  const input = model.config.input as { vocabSize?: number };
  const vocab = input.vocabSize;
  if (vocab !== undefined && tok.size !== undefined && tok.size !== vocab) {
    throw rangeError(`a tokenizer of ${vocab} ids (the model's vocabSize)`, name, received(`a tokenizer of ${tok.size} ids`));
  }
  for (const key of ['padId', 'unkId', 'bosId', 'eosId'] as const) {
    if (vocab !== undefined) integer(tok[key], `${name}.${key}`, 0, vocab - 1);
  }
  return tok;
}

/** Softmax of each row of a [rows, V] block, in place. */
export function softmaxRows(data: Float32Array | Float64Array, V: number): void {
  for (let r = 0; r < data.length / V; r++) {
    let m = -Infinity;
    for (let k = 0; k < V; k++) m = Math.max(m, data[r * V + k]!);
    let s = 0;
    for (let k = 0; k < V; k++) s += data[r * V + k] = Math.exp(data[r * V + k]! - m);
    for (let k = 0; k < V; k++) data[r * V + k]! /= s;
  }
}

export type { LayerState };

/**
 * Checks that a model can be sampled: token input, sequence output,
 * crossEntropy loss, no bidirectional layer.
 *
 * @throws RangeError naming what the model lacks
 * @example
 * checkLanguageModel(model);
 */
export function checkLanguageModel(model: Model): void {
  const last = handleOf(model).shapes.at(-1)!;
  if (!('vocabSize' in model.config.input) || !last.seq || model.config.loss !== 'crossEntropy') {
    throw rangeError('a language model (token input, sequence output, crossEntropy loss)', 'model', received('this model'));
  }
  const bi = model.config.layers.findIndex((l) => 'bidirectional' in l && l.bidirectional);
  if (bi >= 0) {
    throw rangeError('unidirectional recurrent layers (sampling cannot read the future)', `model.config.layers[${bi}].bidirectional`, true);
  }
}

/**
 * `model.generate`: samples token sequences in one native call (see {@link GenerateOptions}).
 *
 * @throws TypeError / RangeError for invalid options, or a model that is not a language model (the Promise rejects)
 * @throws RnnkitError ERR_BUSY, ERR_DISPOSED or ERR_NATIVE (the Promise rejects)
 * @example
 * const ids = await generate(model, { maxLength: 40, n: 5, seed: 7, stopTokens: [3] });
 */
export async function generate(model: Model, options?: GenerateOptions): Promise<number[][]> {
  const site = callSite();
  const h = handleOf(model);
  const handle = h.native();
  const { g, states, cond } = generateCall(model, options);
  const res = await h.run(site, () => handle.generate(g, states, cond));
  return res.map((a) => Array.from(a));
}

/**
 * generate options checked against a language model, as the native call takes them: the
 * options, the initial states and the condition rows (one owner for generate and the
 * batched sampler's requests).
 *
 * @throws TypeError / RangeError for invalid options, or a model that is not a language model
 * @example
 * const { g, states, cond } = generateCall(model, { maxLength: 40, seed: 7 });
 */
export function generateCall(
  model: Model,
  options: unknown,
): { g: NativeGenerateOptions; states: ReturnType<typeof toInitialStates> | null; cond: FloatArray | null } {
  const h = handleOf(model);
  checkLanguageModel(model);
  const { config } = model;
  const vocab = (config.input as { vocabSize: number }).vocabSize;
  const outputs = model.outputShape(1, 1).at(-1)!;
  // checked before destructuring: a number or string would otherwise destructure to {}
  const { condition, initialState, ...rest } = optionalObject(options, 'options') as GenerateOptions & {
    condition?: unknown;
    initialState?: unknown;
  };
  const g = generateOptions(rest, vocab, outputs, model.tokenizer?.bosId);
  const states = toInitialStates(initialState, h.states, g.n, config.dtype) ?? null;
  let cond: FloatArray | null = null;
  if (config.condition && !states?.[0]) {
    if (condition === undefined)
      throw typeError(`a conditioning vector (the model was built with a condition)`, 'options.condition', undefined);
    cond = sampleConditionRows(condition, g.n, config);
  } else if (condition !== undefined) {
    throw rangeError('no condition (the model was built without one, or initialState[0] is given)', 'options.condition', condition);
  }
  return { g, states, cond };
}

/**
 * `model.initialState`: a zero state for {@link step}, per recurrent layer h
 * (and c for LSTM) of shape [dirs, batch, H].
 *
 * @throws TypeError when batch is not a number; RangeError when not an integer in [1, 1e5]
 * @example
 * let state = initialState(model, 1);
 */
export function initialState(model: Model, batch: unknown): StateTensors[] {
  const B = integer(batch, 'batch', 1, 1e5);
  const Float = model.config.dtype === 'float64' ? Float64Array : Float32Array;
  return handleOf(model).states.map((s) => {
    const shape = [s.dirs, B, s.units];
    const n = s.dirs * B * s.units;
    return s.hasCell ? { h: tensor(new Float(n), shape), c: tensor(new Float(n), shape) } : { h: tensor(new Float(n), shape) };
  });
}

/**
 * `model.step`: feeds one token per row from the given state; returns the
 * next-token probabilities and the new state.
 *
 * @throws TypeError / RangeError for an invalid state or token ids (the Promise rejects)
 * @throws RnnkitError ERR_BUSY, ERR_DISPOSED or ERR_NATIVE (the Promise rejects)
 * @example
 * const { probs, state: next } = await step(model, initialState(model, 1), tok.bosId);
 */
export async function step(model: Model, state: readonly LayerState[], tokens: number | readonly number[]): Promise<StepResult> {
  checkLanguageModel(model);
  const ids = typeof tokens === 'number' ? [tokens] : tokens;
  if (!Array.isArray(ids)) throw typeError('a token id or an array of token ids (one per row)', 'tokens', tokens);
  const { output, finalState } = await model.forward(
    ids.map((t: number) => [t]),
    { initialState: state as LayerState[] },
  );
  const V = output.shape[2]!;
  const probs = output.data;
  const last = model.config.layers[model.config.layers.length - 1]!;
  if (last.type === 'dense' && last.activation === 'linear') softmaxRows(probs, V);
  return { probs, state: finalState };
}
