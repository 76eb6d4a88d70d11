/**
 * The batched translator: concurrent `translate` requests on one Seq2Seq model
 * decoded together (what `batchedSampler(seq2seq)` returns).
 *
 * Greedy `translate` requests (beamWidth 1) decode token by token on a batched
 * sampler of the decoder (continuous batching, as the language-model sampler):
 * the sources that arrive in one turn of the event loop are encoded in one
 * row-exact forward, and each joins the running decoder batch at the next
 * token, starting from its encoder's state, and leaves at `<eos>`.
 *
 * Beam search, `translateWithScores` (which needs each output's scores) and
 * every request on a model with attention (its decoder reads the encoder's
 * outputs at each step, which the sampler does not carry) queue instead: while no batch is decoding, every queued request with the
 * same decoding options, up to maxBatch, goes into one `translateWithScores`
 * call (the Seq2Seq's own decoding loop), and requests join at the next batch.
 *
 * Either way every forward is row-exact, so each request gets exactly the output
 * `translate` gives its source alone.
 */
import { RnnkitError, typeError } from './errors.js';
import { BatchedSampler, submitGenerate } from './sampler.js';
import type { Seq2Seq, TranslateOptions, Translation } from './seq2seq.js';
import { decoderStarts, translateOptions } from './seq2seq.js';
import type { FloatArray, LayerState } from './types.js';
import { tokenIds } from './validate.js';

/**
 * One translate request: `translate`'s decoding options for one source, and an AbortSignal.
 *
 * @example
 * await translator.translate([5, 6, 7], { beamWidth: 4, signal });
 */
export interface TranslateRequest extends Omit<TranslateOptions, 'batchSize'> {
  /** rejects the request with `signal.reason`; a request already decoding finishes with its batch, unseen */
  signal?: AbortSignal;
}

/** Where greedy decoding of one source starts (Seq2Seq.decoderStarts). */
type DecoderStart = { initialState?: LayerState[]; condition?: FloatArray };

interface Pending {
  source: Int32Array;
  options: Omit<TranslateOptions, 'batchSize'>;
  key: string;
  resolve: (t: Translation) => void;
  reject: (err: unknown) => void;
  done: boolean;
  signal?: AbortSignal | undefined;
  onAbort?: () => void;
}

/**
 * Serves concurrent translate requests on one Seq2Seq model (see the module comment). Made by
 * `batchedSampler(seq2seq, options)`.
 */
export class BatchedTranslator {
  readonly #model: Seq2Seq;
  readonly #maxBatch: number;
  readonly #maxWaitMs: number;
  #queue: Pending[] = [];
  #decoding: Pending[] = [];
  #pump: Promise<void> | null = null;
  #closed = false;
  /** the decoder's batched sampler (greedy requests); null for a model with attention (its decoder needs the memory) */
  readonly #sampler: BatchedSampler | null;
  /** greedy requests waiting for this turn's encoder forward */
  #encoding: { source: Int32Array; start: (s: DecoderStart) => void; fail: (err: unknown) => void }[] = [];
  #greedy = 0;

  /** @internal use `batchedSampler(seq2seq, options)` */
  constructor(model: Seq2Seq, maxBatch: number, maxWaitMs: number) {
    this.#model = model;
    this.#maxBatch = maxBatch;
    this.#maxWaitMs = maxWaitMs;
    this.#sampler = model.attention ? null : new BatchedSampler(model.decoder, { maxBatch, maxWaitMs });
  }

  /** requests queued or decoding */
  get size(): number {
    return this.#queue.length + this.#decoding.filter((r) => !r.done).length + this.#greedy;
  }

  /**
   * One source's output ids, as `m.translate([source], options)[0]` gives them alone.
   *
   * @throws TypeError / RangeError for a bad source or option (this request alone fails); RnnkitError ERR_CLOSED after
   *   close(), ERR_DISPOSED when the model was disposed; the signal's reason when aborted (the Promise rejects)
   * @example
   * const ids = await translator.translate([5, 6, 7], { maxLength: 20 });
   */
  async translate(source: readonly number[] | Int32Array, options?: TranslateRequest): Promise<number[]> {
    const { signal, ...rest } = (options ?? {}) as TranslateRequest & Record<string, unknown>;
    const o = translateOptions(this.#model, rest, []);
    if (o.beamWidth > 1 || !this.#sampler) return (await this.translateWithScores(source, options)).tokens;
    if (signal !== undefined && !(signal instanceof AbortSignal)) throw typeError('an AbortSignal', 'options.signal', signal);
    const config = this.#model.config;
    const src = tokenIds(source, 'source', config.sourceVocab, { nonEmpty: true });
    if (this.#closed) throw new RnnkitError('ERR_CLOSED', 'rnnkit: the batched translator has been closed');
    this.#greedy++;
    try {
      const start = await this.#encode(src);
      signal?.throwIfAborted();
      const banTokens = [...o.ban];
      return await submitGenerate(
        this.#sampler!,
        { prime: [config.bos], maxLength: o.maxLength, temperature: 0, stopTokens: [config.eos], banTokens, ...start },
        signal,
      );
    } finally {
      this.#greedy--;
    }
  }

  /** The decoder's start for `source`, from one row-exact encoder forward over every source queued this turn. */
  #encode(source: Int32Array): Promise<DecoderStart> {
    return new Promise((start, fail) => {
      this.#encoding.push({ source, start, fail });
      if (this.#encoding.length > 1) return;
      setImmediate(() => {
        const batch = this.#encoding;
        this.#encoding = [];
        decoderStarts(
          this.#model,
          batch.map((e) => e.source),
        ).then(
          (starts) => batch.forEach((e, i) => e.start(starts[i]!)),
          (err: unknown) => batch.forEach((e) => e.fail(err)),
        );
      });
    });
  }

  /**
   * Like {@link BatchedTranslator.translate}, with the output's log-probability and score.
   *
   * @throws as {@link BatchedTranslator.translate}
   * @example
   * const { tokens, score } = await translator.translateWithScores([5, 6, 7], { beamWidth: 4 });
   */
  translateWithScores(source: readonly number[] | Int32Array, options?: TranslateRequest): Promise<Translation> {
    return new Promise<Translation>((resolve, reject) => {
      const { signal, ...rest } = (options ?? {}) as TranslateRequest & Record<string, unknown>;
      if (signal !== undefined && !(signal instanceof AbortSignal)) throw typeError('an AbortSignal', 'options.signal', signal);
      const config = this.#model.config;
      const src = tokenIds(source, 'source', config.sourceVocab, { nonEmpty: true });
      const o = translateOptions(this.#model, rest, []);
      const key = JSON.stringify([o.beamWidth, o.maxLength, o.alpha, [...o.ban].sort((a, b) => a - b)]);
      const r: Pending = { source: src, options: rest, key, resolve, reject, done: false, signal };
      if (this.#closed) return this.#settle(r, new RnnkitError('ERR_CLOSED', 'rnnkit: the batched translator has been closed'));
      if (signal?.aborted) return this.#settle(r, signal.reason);
      if (signal) {
        r.onAbort = () => this.#abort(r, signal.reason);
        signal.addEventListener('abort', r.onAbort, { once: true });
      }
      this.#queue.push(r);
      if (!this.#pump) this.#pump = this.#loop().finally(() => (this.#pump = null));
    });
  }

  /**
   * Rejects every request not yet answered with RnnkitError `ERR_CLOSED` and resolves when the batch decoding, if any,
   * has ended.
   *
   * @throws never
   * @example
   * await translator.close();
   */
  async close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      const err = new RnnkitError('ERR_CLOSED', 'rnnkit: the batched translator was closed before the request ended');
      for (const r of [...this.#queue, ...this.#decoding]) this.#settle(r, err);
      this.#queue = [];
    }
    await Promise.all([this.#pump, this.#sampler?.close()]);
  }

  #settle(r: Pending, err: unknown, value?: Translation): void {
    if (r.done) return;
    r.done = true;
    if (r.onAbort) r.signal!.removeEventListener('abort', r.onAbort);
    if (value) r.resolve(value);
    else r.reject(err);
  }

  #abort(r: Pending, reason: unknown): void {
    this.#settle(r, reason);
    const at = this.#queue.indexOf(r);
    if (at >= 0) this.#queue.splice(at, 1);
  }

  async #loop(): Promise<void> {
    // from the next turn: every request made in this one starts in the first batch
    await new Promise<void>((resolve) => (this.#maxWaitMs > 0 ? setTimeout(resolve, this.#maxWaitMs) : setImmediate(resolve)));
    while (!this.#closed && this.#queue.length > 0) {
      const key = this.#queue[0]!.key;
      const batch = this.#queue.filter((r) => r.key === key).slice(0, this.#maxBatch);
      this.#queue = this.#queue.filter((r) => !batch.includes(r));
      this.#decoding = batch;
      try {
        const out = await this.#model.translateWithScores(
          batch.map((r) => r.source),
          { ...batch[0]!.options, batchSize: batch.length },
        );
        batch.forEach((r, i) => this.#settle(r, undefined, out[i]));
      } catch (err) {
        for (const r of batch) this.#settle(r, err);
      }
      this.#decoding = [];
    }
  }
}
