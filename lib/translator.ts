/**
 * The batched translator: concurrent `translate` requests on one Seq2Seq model
 * merged into one decoding call (what `batchedSampler(seq2seq)` returns).
 *
 * Requests queue; while no batch is decoding, every queued request with the
 * same decoding options (beamWidth, maxLength, lengthPenalty, banTokens), up
 * to maxBatch, goes into one `translateWithScores` call, whose encoder and
 * decoder steps run on the row-exact kernels: each request gets the output
 * `translate` gives its source alone. Requests join at the next batch, not at
 * the next token (the decoding loop is the Seq2Seq's own, in TypeScript).
 */
import { RnnkitError, typeError } from './errors.js';
import type { Seq2Seq, TranslateOptions, Translation } from './seq2seq.js';
import { translateOptions } from './seq2seq.js';
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

  /** @internal use `batchedSampler(seq2seq, options)` */
  constructor(model: Seq2Seq, maxBatch: number, maxWaitMs: number) {
    this.#model = model;
    this.#maxBatch = maxBatch;
    this.#maxWaitMs = maxWaitMs;
  }

  /** requests queued or decoding */
  get size(): number {
    return this.#queue.length + this.#decoding.filter((r) => !r.done).length;
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
    return (await this.translateWithScores(source, options)).tokens;
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
      const o = translateOptions(config, rest, []);
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
    await this.#pump;
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
