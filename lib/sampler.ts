/**
 * The batched sampler: concurrent generation requests on one language model,
 * merged into one native batch that advances a token at a time (continuous
 * batching). A request joins at the next step and leaves when it stops,
 * without waiting for the others; its tokens are the ones `model.generate`
 * draws alone with the same seed (the core's forward is row-exact: a row's
 * logits do not depend on the rows beside it).
 *
 * The native half (binding/sampler_wrap.cc) runs on the libuv pool, never on
 * the event loop. It counts as a reader of the model while it has requests in
 * flight: a writer (trainStep, fit) with `whenBusy: 'wait'` waits for them,
 * and while it waits no new request joins.
 */
import { setTimeout as sleep } from 'node:timers/promises';

import { handleOf } from './compute.js';
import { callSite, fromNative, RnnkitError, typeError } from './errors.js';
import type { Model } from './model.js';
import { native, type NativeGenerateOptions, type NativeSampler, type NativeSamplerEvent } from './native.js';
import {
  checkLanguageModel,
  generateCall,
  samplingTokenizer,
  textOf,
  textRequest,
  type GenerateOptions,
  type GenerateTextOptions,
  type SamplingTokenizer,
} from './sample.js';
import { Seq2Seq } from './seq2seq.js';
import { BatchedTranslator } from './translator.js';
import type { FloatArray } from './types.js';
import { integer, knownKeys, number, optionalObject, withDefault } from './validate.js';

/**
 * Options of {@link batchedSampler}.
 *
 * @example
 * const sampler = batchedSampler(model, { maxBatch: 64, maxWaitMs: 2 });
 */
export interface BatchedSamplerOptions {
  /** most sequences in the batch at once; later requests wait for a slot (default 256) */
  maxBatch?: number;
  /** when the batch is empty, how long the first request waits for others to start with it, in ms (default 0) */
  maxWaitMs?: number;
  /** the tokenizer of text requests (default: model.tokenizer) */
  tokenizer?: SamplingTokenizer;
}

/**
 * One request of ids: `model.generate`'s options for one sequence, and an AbortSignal.
 *
 * @example
 * await sampler.generate({ prime: [2, 14], maxLength: 200, seed: 7, stopTokens: [3], signal });
 */
export interface SampleRequest extends Omit<GenerateOptions, 'n' | 'initialState' | 'condition'> {
  /** for a model built with a condition: its conditioning vector */
  condition?: readonly number[] | Float32Array | Float64Array;
  /** cancels the request: it rejects with `signal.reason` and its slot is freed at the next step */
  signal?: AbortSignal;
}

/**
 * One text request: `generateText`'s options for one text, and an AbortSignal.
 *
 * @example
 * await sampler.generateText({ prime: 'Ma', maxLength: 40, seed: 7 });
 */
export interface TextSampleRequest extends Omit<GenerateTextOptions, 'n' | 'condition'> {
  /** for a model built with a condition: its conditioning vector */
  condition?: readonly number[] | Float32Array | Float64Array;
  signal?: AbortSignal;
}

/**
 * A token of {@link BatchedSampler.stream}: its id, and for a text request the text it adds
 * (the prime followed by every piece is the text `generateText` returns).
 */
export interface SampledToken {
  id: number;
  text?: string;
}

interface Request {
  readonly id: number;
  readonly g: NativeGenerateOptions;
  readonly cond: FloatArray | null;
  /** per recurrent layer the start state of the one row (the batched translator's decoder), or null */
  readonly states?: ReturnType<typeof generateCall>['states'];
  readonly tokens: number[];
  /** called with each run's new tokens (streams) */
  onTokens?: (tokens: Int32Array) => void;
  resolve: () => void;
  reject: (err: unknown) => void;
  done: boolean;
  signal?: AbortSignal | undefined;
  onAbort?: () => void;
}

const SAMPLER_KEYS = ['maxBatch', 'maxWaitMs', 'tokenizer'] as const;
const REQUEST_KEYS = ['prime', 'maxLength', 'temperature', 'topK', 'topP', 'seed', 'stopTokens', 'banTokens', 'condition', 'signal'];
/** How long the sampler waits before it retries while a writer (trainStep, fit) has the model. */
const WRITER_POLL_MS = 2;
/** How many tokens before a new one a text piece is decoded with (word tokenizers join punctuation with its neighbour). */
const DECODE_CONTEXT = 16;

/**
 * Serves concurrent generation requests on one language model: see the module comment,
 * and docs/serving.md. Made by {@link batchedSampler}.
 */
/**
 * A request of full generate options, initialState included, checked by generateCall (the
 * batched translator's greedy decoding on its decoder): resolves with the ids.
 */
export let submitGenerate: (sampler: BatchedSampler, options: GenerateOptions, signal?: AbortSignal) => Promise<number[]>;

export class BatchedSampler {
  static {
    submitGenerate = async (sampler, options, signal) => {
      const { g, cond, states } = generateCall(sampler.#model, options);
      const r: Request = { id: sampler.#nextId++, g, cond, states, tokens: [], resolve: () => {}, reject: () => {}, done: false, signal };
      await sampler.#submit(r);
      return r.tokens;
    };
  }

  readonly #model: Model;
  readonly #native: NativeSampler;
  readonly #maxBatch: number;
  readonly #maxWaitMs: number;
  readonly #tokenizer: SamplingTokenizer | undefined;
  readonly #site: Error;
  #queue: Request[] = [];
  readonly #live = new Map<number, Request>();
  #cancels: number[] = [];
  #nextId = 0;
  #pump: Promise<void> | null = null;
  #inRun = false;
  #writerWaiting = false;
  #closed = false;

  /** @internal use {@link batchedSampler} */
  constructor(model: Model, options?: BatchedSamplerOptions) {
    this.#site = callSite();
    const o = optionalObject(options, 'options');
    knownKeys(o, SAMPLER_KEYS, 'options');
    checkLanguageModel(model);
    ({ maxBatch: this.#maxBatch, maxWaitMs: this.#maxWaitMs } = batchOptions(o));
    this.#tokenizer = o.tokenizer === undefined ? undefined : samplingTokenizer(model, o.tokenizer, true);
    this.#model = model;
    try {
      this.#native = new (native().NativeSampler)(handleOf(model).native());
    } catch (err) {
      throw fromNative(err, this.#site);
    }
  }

  /** requests queued or in the batch */
  get size(): number {
    return this.#queue.length + [...this.#live.values()].filter((r) => !r.done).length;
  }

  /**
   * One sequence of ids, as `model.generate({ ...options, n: 1 })` returns it alone.
   *
   * @throws TypeError / RangeError for invalid options (this request alone fails); RnnkitError ERR_CLOSED after close(),
   *   ERR_DISPOSED when the model was disposed; the signal's reason when aborted (the Promise rejects)
   * @example
   * const ids = await sampler.generate({ prime: [2], maxLength: 200, seed: 7 });
   */
  async generate(options?: SampleRequest): Promise<number[]> {
    const r = this.#request(options);
    await this.#submit(r);
    return r.tokens;
  }

  /**
   * One text, as `generateText(model, tokenizer, options)` returns it alone (the sampler's tokenizer, or model.tokenizer).
   *
   * @throws TypeError when there is no tokenizer; otherwise as {@link BatchedSampler.generate}
   * @example
   * const text = await sampler.generateText({ prime: 'Ma', maxLength: 40, seed: 7 });
   */
  async generateText(options?: TextSampleRequest): Promise<string> {
    const { tokenizer, r, primeText } = this.#textRequest(options);
    await this.#submit(r);
    return textOf(tokenizer, primeText, r.tokens);
  }

  /**
   * The tokens of one request as they are drawn: ids, and text pieces when `options.prime` is a string (a text request).
   * Breaking out of the loop cancels the request.
   *
   * @throws as {@link BatchedSampler.generate}, from the iterator
   * @example
   * for await (const { text } of sampler.stream({ prime: 'Once', maxLength: 200 })) res.write(`data: ${JSON.stringify(text)}\n\n`);
   */
  async *stream(options?: SampleRequest | TextSampleRequest): AsyncGenerator<SampledToken, void, undefined> {
    const isText = typeof (options as { prime?: unknown } | undefined)?.prime === 'string';
    const text = isText ? this.#textRequest(options) : undefined;
    const r = text ? text.r : this.#request(options);
    const pending: Int32Array[] = [];
    let wakeUp: (() => void) | null = null;
    r.onTokens = (tokens) => {
      pending.push(tokens);
      wakeUp?.();
    };
    let failure: { err: unknown } | null = null;
    let finished = false;
    void this.#submit(r).then(
      () => {
        finished = true;
        wakeUp?.();
      },
      (err: unknown) => {
        failure = { err };
        wakeUp?.();
      },
    );
    let emitted = 0;
    try {
      for (;;) {
        while (pending.length > 0) {
          for (const id of pending.shift()!) {
            const at = emitted++;
            yield text ? { id, text: piece(text.tokenizer, text.primeText, r.tokens, at) } : { id };
          }
        }
        if (failure) throw (failure as { err: unknown }).err;
        if (finished && pending.length === 0) return;
        await new Promise<void>((resolve) => (wakeUp = resolve));
        wakeUp = null;
      }
    } finally {
      if (!r.done) this.#abort(r, new DOMException('the stream was closed before the request ended', 'AbortError'));
    }
  }

  /**
   * Ends the sampler: every request not yet finished rejects with RnnkitError `ERR_CLOSED`, and the native batch is freed
   * once its run in flight stops (at its next step). Resolves when it is; the model can then be disposed. A second call
   * resolves the same way.
   *
   * @throws never
   * @example
   * await sampler.close();
   */
  async close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      const err = new RnnkitError('ERR_CLOSED', 'rnnkit: the batched sampler was closed before the request ended');
      for (const r of [...this.#queue, ...this.#live.values()]) this.#settle(r, err);
      this.#queue = [];
      this.#native.close();
    }
    await this.#pump;
  }

  #request(options: unknown, base?: GenerateOptions): Request {
    const o = optionalObject(options, 'options');
    if (!base) knownKeys(o, REQUEST_KEYS, 'options');
    const { signal, ...rest } = base ? { signal: o.signal, ...base } : o;
    if (signal !== undefined && !(signal instanceof AbortSignal)) throw typeError('an AbortSignal', 'options.signal', signal);
    const { g, cond } = generateCall(this.#model, rest); // n is not a request option: g.n is 1
    return { id: this.#nextId++, g, cond, tokens: [], resolve: () => {}, reject: () => {}, done: false, signal };
  }

  #textRequest(options: unknown): { tokenizer: SamplingTokenizer; r: Request; primeText: string } {
    const tokenizer = this.#tokenizer ?? samplingTokenizer(this.#model, undefined, false);
    const { options: base, primeText } = textRequest(tokenizer, options, ['signal']);
    const { signal: _signal, ...generateOptions } = base as GenerateOptions & { signal?: unknown };
    return { tokenizer, r: this.#request(options, generateOptions), primeText };
  }

  #submit(r: Request): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      r.resolve = resolve;
      r.reject = reject;
      if (this.#closed) return this.#settle(r, new RnnkitError('ERR_CLOSED', 'rnnkit: the batched sampler has been closed'));
      if (r.signal?.aborted) return this.#settle(r, r.signal.reason);
      if (r.signal) {
        const signal = r.signal;
        r.onAbort = () => this.#abort(r, signal.reason);
        signal.addEventListener('abort', r.onAbort, { once: true });
      }
      this.#queue.push(r);
      this.#kick();
    });
  }

  /** Settles a request once: resolved (err undefined) or rejected. */
  #settle(r: Request, err?: unknown): void {
    if (r.done) return;
    r.done = true;
    if (r.onAbort) r.signal!.removeEventListener('abort', r.onAbort);
    if (err === undefined) r.resolve();
    else r.reject(err);
  }

  #abort(r: Request, reason: unknown): void {
    if (r.done) return;
    this.#settle(r, reason);
    const queued = this.#queue.indexOf(r);
    if (queued >= 0) this.#queue.splice(queued, 1);
    else if (this.#live.has(r.id)) {
      this.#cancels.push(r.id); // its slot frees at the next step
      this.#kick();
    }
  }

  #kick(): void {
    if (this.#inRun) this.#native.wake();
    if (!this.#pump) {
      // from the next turn of the event loop: every request made in this one starts in the first run
      this.#pump = new Promise<void>((resolve) => setImmediate(resolve))
        .then(() => this.#loop())
        .finally(() => {
          this.#pump = null;
          if (!this.#closed && (this.#queue.length > 0 || this.#cancels.length > 0)) this.#kick();
        });
    }
  }

  /** Admits queued requests into free slots (none while a writer waits for the batch to drain). */
  #admit(): void {
    if (this.#writerWaiting && this.#live.size > 0) return;
    while (this.#queue.length > 0 && this.#live.size < this.#maxBatch) {
      const r = this.#queue.shift()!;
      try {
        this.#native.add(r.id, r.g, r.cond, r.states ?? null);
      } catch (err) {
        this.#settle(r, fromNative(err, this.#site));
        continue;
      }
      this.#live.set(r.id, r);
    }
  }

  async #loop(): Promise<void> {
    if (this.#maxWaitMs > 0 && this.#live.size === 0) await sleep(this.#maxWaitMs);
    const h = handleOf(this.#model);
    while (!this.#closed) {
      this.#admit();
      for (const id of this.#cancels) this.#native.cancel(id);
      this.#cancels = [];
      if (this.#live.size === 0) return;
      let res: { events: NativeSamplerEvent[]; writerWaiting: boolean };
      this.#inRun = true;
      try {
        const streaming = [...this.#live.values()].some((r) => r.onTokens && !r.done);
        res = await h.run(this.#site, () => this.#native.run(this.#queue.length > 0, streaming));
      } catch (err) {
        if (this.#closed) return;
        if (err instanceof RnnkitError && err.code === 'ERR_BUSY') {
          await sleep(WRITER_POLL_MS); // a writer has the model: the batch resumes when it ends
          continue;
        }
        for (const r of [...this.#queue, ...this.#live.values()]) this.#settle(r, err);
        this.#queue = [];
        this.#live.clear();
        return;
      } finally {
        this.#inRun = false;
      }
      this.#writerWaiting = res.writerWaiting;
      for (const ev of res.events) this.#deliver(ev);
    }
  }

  #deliver(ev: NativeSamplerEvent): void {
    const r = this.#live.get(ev.id);
    if (!r) return;
    if (!r.done && ev.tokens.length > 0) {
      for (const t of ev.tokens) r.tokens.push(t);
      r.onTokens?.(ev.tokens);
    }
    if (ev.ended) {
      this.#live.delete(ev.id);
      this.#settle(r);
    }
  }
}

/** The text token `at` of `tokens` adds: decoded with a few tokens before it, so word tokens join as the whole text does. */
function piece(tokenizer: SamplingTokenizer, primeText: string, tokens: readonly number[], at: number): string {
  if (at === 0) return textOf(tokenizer, primeText, tokens.slice(0, 1)).slice(primeText.length);
  const from = Math.max(0, at - DECODE_CONTEXT);
  const before = tokenizer.decode(tokens.slice(from, at));
  const after = tokenizer.decode(tokens.slice(from, at + 1));
  return after.startsWith(before) ? after.slice(before.length) : after;
}

/**
 * A batched sampler on a language model: concurrent `generate` / `generateText` / `stream`
 * requests are sampled together in one native batch. On a Seq2Seq model, a
 * {@link BatchedTranslator}: concurrent `translate` requests decoded together. Close it
 * before disposing of the model (the model's memory is freed only after its samplers close).
 *
 * @throws TypeError / RangeError for invalid options or a model that is not a language model; RnnkitError ERR_DISPOSED
 * @example
 * const sampler = batchedSampler(model, { maxBatch: 128 });
 * const [a, b] = await Promise.all([sampler.generate({ seed: 1 }), sampler.generate({ seed: 2 })]);
 * await sampler.close();
 */
export function batchedSampler(model: Seq2Seq, options?: Omit<BatchedSamplerOptions, 'tokenizer'>): BatchedTranslator;
export function batchedSampler(model: Model, options?: BatchedSamplerOptions): BatchedSampler;
export function batchedSampler(model: Model | Seq2Seq, options?: BatchedSamplerOptions): BatchedSampler | BatchedTranslator {
  if (!(model instanceof Seq2Seq)) return new BatchedSampler(model, options);
  const o = optionalObject(options, 'options');
  knownKeys(o, ['maxBatch', 'maxWaitMs'], 'options');
  const { maxBatch, maxWaitMs } = batchOptions(o);
  if (model.encoder.disposed) throw new RnnkitError('ERR_DISPOSED', 'rnnkit: the model has been disposed');
  return new BatchedTranslator(model, maxBatch, maxWaitMs);
}

/** maxBatch and maxWaitMs, checked, with their defaults (both kinds of sampler). */
function batchOptions(o: Record<string, unknown>): { maxBatch: number; maxWaitMs: number } {
  return {
    maxBatch: withDefault(o.maxBatch, 256, (v) => integer(v, 'options.maxBatch', 1, 4096)),
    maxWaitMs: withDefault(o.maxWaitMs, 0, (v) => number(v, 'options.maxWaitMs', { min: 0, max: 10_000 })),
  };
}
