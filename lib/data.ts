/**
 * Datasets for `fit` / `evaluate`: how training data is cut into batches.
 *
 * - {@link languageModelData}: many short sequences (names, sentences) become
 *   teacher-forced rows, input `<bos> y1 .. yT`, target `y1 .. yT <eos>`,
 *   padded per batch with their lengths kept.
 * - {@link textStream}: one long text becomes `batchSize` parallel streams cut
 *   into consecutive windows of `seqLen`; the recurrent state is carried from
 *   one window to the next (truncated BPTT, char-rnn's stateful training).
 * - A plain `{ inputs, targets, lengths? }` in the formats of `trainStep`
 *   (nested arrays or `{ data, shape }`) is cut into batches of rows.
 */
import { rangeError, received, typeError } from './errors.js';
import type { Targets } from './types.js';
import { integer, isObject, knownKeys, object, ordinaryBuffer } from './validate.js';
import type { ModelInput } from './types.js';

/**
 * Teacher-forced sequences: row i is `inputs[i]` with targets `targets[i]` (same length).
 *
 * @example
 * const data = languageModelData([[5, 6], [7]], { bos: 2, eos: 3 });
 */
export interface SequenceDataset {
  readonly kind: 'sequences';
  readonly inputs: readonly Int32Array[];
  readonly targets: readonly Int32Array[];
  /** one conditioning vector per row, for a model built with a condition */
  readonly condition?: readonly (readonly number[])[];
}

/**
 * One long token stream for stateful truncated BPTT.
 *
 * @example
 * const data = textStream(tokenizer.encode(text), { seqLen: 64 });
 */
export interface StreamDataset {
  readonly kind: 'stream';
  readonly ids: Int32Array;
  readonly seqLen: number;
}

/**
 * Rows in the formats `trainStep` takes; batches are slices of rows.
 *
 * @example
 * const data: RowDataset = { inputs: [[1, 2], [3]], targets: [1, 0] };
 */
export interface RowDataset {
  readonly inputs: ModelInput;
  readonly targets: Targets;
  readonly lengths?: number[] | Int32Array;
  /** one conditioning vector per row (`number[][]` or `{ data, shape: [N, k] }`) */
  readonly condition?: number[][] | { data: Float32Array | Float64Array; shape: number[] };
}

/**
 * Anything `fit` and `evaluate` accept.
 *
 * @example
 * await model.fit(languageModelData(seqs, { bos: 2, eos: 3 }), { epochs: 5 });
 */
export type Dataset = SequenceDataset | StreamDataset | RowDataset;

function idArray(value: unknown, name: string): Int32Array {
  if (value instanceof Int32Array) return ordinaryBuffer(value, name);
  if (!Array.isArray(value)) throw typeError('an array of token ids or an Int32Array', name, value);
  const out = new Int32Array(value.length);
  for (let i = 0; i < value.length; i++) {
    const v: unknown = value[i];
    if (typeof v !== 'number') throw typeError('a token id (integer)', `${name}[${i}]`, v);
    if (!Number.isInteger(v) || v < 0 || v > 0x7fffffff) throw rangeError('a non-negative integer token id', `${name}[${i}]`, v);
    out[i] = v;
  }
  return out;
}

/**
 * Teacher-forced language-model rows from token sequences: input
 * `<bos> y1 .. yT`, target `y1 .. yT <eos>` (the course's x<t+1> = y<t>).
 * Empty sequences are kept (input `<bos>`, target `<eos>`).
 *
 * @throws TypeError when `sequences` is not an array of arrays / Int32Arrays or an option is not an integer
 * @throws RangeError for negative ids or `bos` / `eos` outside [0, 2^31)
 * @example
 * const data = languageModelData(names.map((n) => tok.encode(n)), { bos: tok.bosId, eos: tok.eosId });
 */
export function languageModelData(
  sequences: readonly (readonly number[] | Int32Array)[],
  options: { bos: number; eos: number; condition?: readonly (readonly number[])[] },
): SequenceDataset {
  if (!Array.isArray(sequences)) throw typeError('an array of token sequences', 'sequences', sequences);
  const opts = object(options, 'options');
  knownKeys(opts, ['bos', 'eos', 'condition'], 'options');
  const condition = opts.condition;
  if (condition !== undefined) {
    if (!Array.isArray(condition)) throw typeError('an array of conditioning vectors (one per sequence)', 'options.condition', condition);
    if (condition.length !== sequences.length) {
      throw rangeError(`${sequences.length} conditioning vectors (one per sequence)`, 'options.condition', received(`${condition.length}`));
    }
  }
  const bos = integer(opts.bos, 'options.bos', 0, 0x7fffffff);
  const eos = integer(opts.eos, 'options.eos', 0, 0x7fffffff);
  const inputs: Int32Array[] = [];
  const targets: Int32Array[] = [];
  sequences.forEach((s, i) => {
    const ids = idArray(s, `sequences[${i}]`);
    const x = new Int32Array(ids.length + 1);
    const y = new Int32Array(ids.length + 1);
    x[0] = bos;
    x.set(ids, 1);
    y.set(ids, 0);
    y[ids.length] = eos;
    inputs.push(x);
    targets.push(y);
  });
  return Object.freeze({
    kind: 'sequences' as const,
    inputs: Object.freeze(inputs),
    targets: Object.freeze(targets),
    ...(condition !== undefined ? { condition: condition as readonly (readonly number[])[] } : {}),
  });
}

/**
 * One long token stream for stateful training (char-rnn): `fit` splits it
 * into `batchSize` contiguous streams and walks them in windows of `seqLen`,
 * predicting each next token and carrying the state across windows.
 *
 * @throws TypeError when `ids` is not an array / Int32Array or an id is not a number, or when
 *   `options` is not an object, has an unknown key, or its `seqLen` is not a number
 * @throws RangeError when an id is not a non-negative integer, there are fewer than 2 tokens,
 *   or `seqLen` is not an integer in [1, 1e6]
 * @example
 * const data = textStream(tok.encode(text), { seqLen: 100 });
 */
export function textStream(ids: readonly number[] | Int32Array, options: { seqLen: number }): StreamDataset {
  const arr = idArray(ids, 'ids');
  if (arr.length < 2) throw rangeError('at least 2 tokens', 'ids', received(`${arr.length} tokens`));
  const opts = object(options, 'options');
  knownKeys(opts, ['seqLen'], 'options');
  const seqLen = integer(opts.seqLen, 'options.seqLen', 1, 1e6);
  return Object.freeze({ kind: 'stream' as const, ids: arr, seqLen });
}

/**
 * Splits a token stream into training ids and a held-out tail for validation:
 * the last `share` of the stream when that tail fills one window of `seqLen`
 * and its target (seqLen + 1 tokens) and leaves at least 2 tokens to train on,
 * else no validation. Both parts are views of `ids`.
 *
 * @throws never (the caller checks its arguments)
 * @example
 * const { train, validation } = holdOut(tok.encode(text), 0.1, 64);
 */
export function holdOut(ids: Int32Array, share: number, seqLen: number): { train: Int32Array; validation: Int32Array | undefined } {
  let held = Math.floor(ids.length * share);
  if (held < seqLen + 1 || ids.length - held < 2) held = 0;
  return { train: ids.subarray(0, ids.length - held), validation: held > 0 ? ids.subarray(ids.length - held) : undefined };
}

/** One batch in `trainStep` form. */
export interface Batch {
  inputs: ModelInput;
  targets: Targets;
  lengths: Int32Array;
  /** valid (scored) positions in the batch */
  tokens: number;
  /** true when the state should be carried from the previous batch (streams) */
  carry: boolean;
  /** the rows' conditioning vectors, when the dataset has them */
  condition?: number[][] | { data: Float32Array | Float64Array; shape: number[] };
}

/** How a dataset is walked: the number of batches and the batch at index i of a given order. */
export interface BatchPlan {
  readonly batches: number;
  readonly stateful: boolean;
  batch(i: number, order?: readonly number[]): Batch;
  /** rows (sequences) or batches (streams) that an epoch's order permutes */
  readonly rows: number;
  /** each row's length when rows are ragged and padded per batch (options.bucketByLength) */
  readonly rowLengths?: readonly number[];
}

/** The rows of batch `i` of `N` rows in batches of `batchSize`: positions i*batchSize.. of `order` (an epoch's permutation), or the rows themselves. */
export function batchRows(i: number, batchSize: number, N: number, order?: readonly number[]): number[] {
  const rows: number[] = [];
  for (let k = i * batchSize; k < Math.min(N, (i + 1) * batchSize); k++) rows.push(order ? order[k]! : k);
  return rows;
}

/** A plan over N independent rows (no state carried between batches): batch i holds batchRows' rows. */
function independentRows(N: number, batchSize: number, batch: (rows: number[]) => Batch): BatchPlan {
  return {
    batches: Math.ceil(N / batchSize),
    stateful: false,
    rows: N,
    batch: (i, order) => batch(batchRows(i, batchSize, N, order)),
  };
}

function isSequenceDataset(d: Dataset): d is SequenceDataset {
  return (d as SequenceDataset).kind === 'sequences';
}
function isStreamDataset(d: Dataset): d is StreamDataset {
  return (d as StreamDataset).kind === 'stream';
}

/** A hand-made (or altered) sequences dataset gets the same checks languageModelData makes. */
function checkSequenceDataset(d: SequenceDataset): void {
  const { inputs, targets, condition } = d as { inputs: unknown; targets: unknown; condition?: unknown };
  if (!Array.isArray(inputs)) throw typeError('an array of Int32Array rows (use languageModelData)', 'data.inputs', inputs);
  if (!Array.isArray(targets)) throw typeError('an array of Int32Array rows (use languageModelData)', 'data.targets', targets);
  if (inputs.length < 1) throw rangeError('at least one sequence', 'data', received('0 sequences'));
  if (targets.length !== inputs.length) {
    throw rangeError(`${inputs.length} target rows (one per input row)`, 'data.targets', received(`${targets.length}`));
  }
  for (let i = 0; i < inputs.length; i++) {
    const x: unknown = inputs[i];
    const y: unknown = targets[i];
    if (!(x instanceof Int32Array) || x.length < 1) throw typeError('a non-empty Int32Array', `data.inputs[${i}]`, x);
    if (!(y instanceof Int32Array)) throw typeError('an Int32Array', `data.targets[${i}]`, y);
    ordinaryBuffer(x, `data.inputs[${i}]`);
    ordinaryBuffer(y, `data.targets[${i}]`);
    if (y.length !== x.length) throw rangeError(`${x.length} targets (as many as inputs)`, `data.targets[${i}]`, received(`${y.length}`));
  }
  if (condition !== undefined) {
    if (!Array.isArray(condition) || condition.length !== inputs.length) {
      throw rangeError(`${inputs.length} conditioning vectors (one per row)`, 'data.condition', condition);
    }
    for (let i = 0; i < condition.length; i++) {
      if (!Array.isArray(condition[i])) throw typeError('an array of numbers', `data.condition[${i}]`, condition[i]);
    }
  }
}

function sequencePlan(d: SequenceDataset, batchSize: number): BatchPlan {
  const N = d.inputs.length;
  const plan = independentRows(N, batchSize, (idx) => {
    const B = idx.length;
    const lengths = new Int32Array(B);
    let T = 1;
    idx.forEach((r, b) => {
      lengths[b] = d.inputs[r]!.length;
      T = Math.max(T, lengths[b]!);
    });
    const x = new Int32Array(B * T);
    const y = new Int32Array(B * T);
    let tokens = 0;
    idx.forEach((r, b) => {
      x.set(d.inputs[r]!, b * T);
      y.set(d.targets[r]!, b * T);
      tokens += lengths[b]!;
    });
    const batch: Batch = { inputs: { data: x, shape: [B, T] }, targets: { data: y, shape: [B, T] }, lengths, tokens, carry: false };
    if (d.condition) batch.condition = idx.map((r) => Array.from(d.condition![r]!));
    return batch;
  });
  return { ...plan, rowLengths: d.inputs.map((x) => x.length) };
}

function streamPlan(d: StreamDataset, batchSize: number): BatchPlan {
  // B contiguous streams of the (input, next-token) pairs; the last partial window is kept.
  const pairs = d.ids.length - 1;
  const B = Math.min(batchSize, pairs);
  const streamLen = Math.floor(pairs / B);
  const windows = Math.ceil(streamLen / d.seqLen);
  return {
    batches: windows,
    stateful: true,
    rows: windows,
    batch(w) {
      const start = w * d.seqLen;
      const T = Math.min(d.seqLen, streamLen - start);
      const x = new Int32Array(B * T);
      const y = new Int32Array(B * T);
      for (let b = 0; b < B; b++) {
        const base = b * streamLen + start;
        x.set(d.ids.subarray(base, base + T), b * T);
        y.set(d.ids.subarray(base + 1, base + T + 1), b * T);
      }
      return {
        inputs: { data: x, shape: [B, T] },
        targets: { data: y, shape: [B, T] },
        lengths: new Int32Array(B).fill(T),
        tokens: B * T,
        carry: w > 0,
      };
    },
  };
}

type Sliceable = unknown[] | { data: ArrayLike<number> & { subarray(a: number, b: number): unknown }; shape: number[] };

/**
 * Rows of a dataset field: nested arrays (checked per batch, when the batch is
 * built), or a tensor { data, shape } whose form is checked here, once, because
 * batches are cut from it by row: a typed array holding exactly prod(shape)
 * values, the shape non-negative integers with the rows first.
 */
function rowCount(value: unknown, name: string): number {
  if (Array.isArray(value)) return value.length;
  if (!isObject(value) || !('data' in value) || !('shape' in value)) throw typeError('nested arrays or { data, shape }', name, value);
  const shape = value.shape;
  if (!Array.isArray(shape) || shape.length < 1) throw typeError('a shape array with the rows first', `${name}.shape`, shape);
  shape.forEach((n: unknown, i) => {
    if (typeof n !== 'number') throw typeError('an integer', `${name}.shape[${i}]`, n);
    if (!Number.isInteger(n) || n < 0 || n > 2 ** 31) throw rangeError('an integer in [0, 2^31]', `${name}.shape[${i}]`, n);
  });
  const data = value.data;
  if (!ArrayBuffer.isView(data) || data instanceof DataView) throw typeError('a typed array', `${name}.data`, data);
  ordinaryBuffer(data, `${name}.data`);
  const size = (shape as number[]).reduce((a, b) => a * b, 1);
  const length = (data as unknown as ArrayLike<number>).length;
  if (length !== size) throw rangeError(`${size} values (shape [${shape.join(', ')}])`, `${name}.data`, received(`length ${length}`));
  return shape[0] as number;
}

function sliceRows(value: Sliceable, idx: readonly number[]): unknown {
  if (Array.isArray(value)) return idx.map((r) => value[r]);
  const rowSize = value.shape.slice(1).reduce((a, b) => a * b, 1);
  const Ctor = (value.data as unknown as { constructor: new (n: number) => { set(a: unknown, o: number): void } }).constructor;
  const out = new Ctor(idx.length * rowSize);
  idx.forEach((r, k) => out.set(value.data.subarray(r * rowSize, (r + 1) * rowSize), k * rowSize));
  return { data: out, shape: [idx.length, ...value.shape.slice(1)] };
}

function rowPlan(d: RowDataset, batchSize: number): BatchPlan {
  const N = rowCount(d.inputs, 'data.inputs');
  const NT = rowCount(d.targets, 'data.targets');
  if (NT !== N) throw rangeError(`${N} rows of targets (one per row of inputs)`, 'data.targets', received(`${NT} rows`));
  if (N < 1) throw rangeError('at least one row', 'data.inputs', received('0 rows'));
  if (d.condition !== undefined) {
    const NC = rowCount(d.condition, 'data.condition');
    if (NC !== N) throw rangeError(`${N} rows of condition (one per row of inputs)`, 'data.condition', received(`${NC} rows`));
  }
  let lengths: Int32Array | undefined;
  if (d.lengths !== undefined) {
    if (!Array.isArray(d.lengths) && !(d.lengths instanceof Int32Array))
      throw typeError('an array or Int32Array', 'data.lengths', d.lengths);
    if (d.lengths.length !== N) throw rangeError(`${N} lengths`, 'data.lengths', received(`length ${d.lengths.length}`));
    lengths = Int32Array.from(d.lengths);
  }
  const T = (value: unknown): number =>
    Array.isArray(value) ? 0 : isObject(value) && Array.isArray(value.shape) ? (value.shape[1] as number) : 0;
  return independentRows(N, batchSize, (idx) => {
    const inputs = sliceRows(d.inputs as Sliceable, idx) as ModelInput;
    const targets = sliceRows(d.targets as Sliceable, idx) as Targets;
    let lens: Int32Array;
    if (lengths) lens = Int32Array.from(idx, (r) => lengths![r]!);
    else if (Array.isArray(inputs)) lens = Int32Array.from(inputs as unknown[][], (row) => Math.max(1, row.length));
    else lens = new Int32Array(idx.length).fill(T(inputs));
    const tokens = lens.reduce((a, b) => a + b, 0);
    const batch: Batch = { inputs, targets, lengths: lens, tokens, carry: false };
    if (d.condition !== undefined) batch.condition = sliceRows(d.condition as Sliceable, idx) as Batch['condition'];
    return batch;
  });
}

/**
 * Plans the batches of a dataset.
 *
 * @throws TypeError / RangeError for a malformed dataset (named `data`)
 * @example
 * const plan = planBatches(data, 32);
 */
export function planBatches(data: Dataset, batchSize: number): BatchPlan {
  if (!isObject(data)) throw typeError('a dataset (languageModelData, textStream or { inputs, targets })', 'data', data);
  if (isSequenceDataset(data)) {
    checkSequenceDataset(data);
    return sequencePlan(data, batchSize);
  }
  if (isStreamDataset(data)) {
    if (!(data.ids instanceof Int32Array) || data.ids.length < 2) {
      throw typeError('an Int32Array of at least 2 token ids (use textStream)', 'data.ids', data.ids);
    }
    ordinaryBuffer(data.ids, 'data.ids');
    integer(data.seqLen, 'data.seqLen', 1, 1e6);
    return streamPlan(data, batchSize);
  }
  knownKeys(data as Record<string, unknown>, ['inputs', 'targets', 'lengths', 'condition'], 'data');
  return rowPlan(data as RowDataset, batchSize);
}
