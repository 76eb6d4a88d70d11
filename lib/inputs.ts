/**
 * Converting user inputs (batch-first nested arrays or `{ data, shape }`) and
 * `lengths` into the flat arrays the native core reads.
 *
 * Values are checked at valid positions (t < lengths[b]) only; padded
 * positions are zeroed in the array handed to the core, so the caller's
 * padding value (e.g. -1 or NaN) never reaches it.
 */
import { rangeError, received, typeError } from './errors.js';
import { LIMITS } from './limits.js';
import { conditionRows } from './condition.js';
import type { ModelConfig } from './config.js';
import type { Dtype, FloatArray, NativeBatch, NativeMemory, NativeStateInfo } from './native.js';
import { toInitialStates } from './state.js';
import { floatArrayOf, floatData, isFloatArray, parseShape } from './tensor.js';
import { isObject, ordinaryBuffer } from './validate.js';

/** A converted batch (see `NativeBatch` without the state). */
export interface Batch {
  B: number;
  T: number;
  lengths: Int32Array;
  tokens?: Int32Array;
  features?: FloatArray;
}

/** How the model reads its input. */
export type InputSpec = { kind: 'tokens'; vocabSize: number } | { kind: 'features'; features: number; dtype: Dtype };

const LENGTHS = 'options.lengths';
const MAX_ROWS = LIMITS.rows;
const MAX_STEPS = LIMITS.steps;

/**
 * Checks `options.lengths` (number[] or Int32Array of B integers in [1, T])
 * or, when undefined, returns the row lengths of a ragged array (or T).
 *
 * @param rowLens - the row lengths of a nested array; each length must not exceed its row
 * @throws TypeError when not an array; RangeError for a wrong count or a value outside [1, T]
 * @example
 * const lengths = parseLengths(options.lengths, B, T, rowLens);
 */
export function parseLengths(value: unknown, B: number, T: number, rowLens?: readonly number[], name = LENGTHS): Int32Array {
  const out = new Int32Array(B);
  if (value === undefined) {
    for (let b = 0; b < B; b++) out[b] = rowLens ? rowLens[b]! : T;
    return out;
  }
  if (!Array.isArray(value) && !(value instanceof Int32Array)) {
    throw typeError('an array or Int32Array of sequence lengths', name, value);
  }
  if (value instanceof Int32Array) ordinaryBuffer(value, LENGTHS);
  if (value.length !== B) {
    throw rangeError(`${B} lengths (one per row of inputs)`, name, received(`length ${value.length}`));
  }
  for (let b = 0; b < B; b++) {
    const n: unknown = value[b];
    const max = rowLens ? rowLens[b]! : T;
    if (typeof n !== 'number') throw typeError('an integer', `${name}[${b}]`, n);
    if (!Number.isInteger(n) || n < 1 || n > max) {
      const what = rowLens && max < T ? `an integer in [1, ${max}] (the length of inputs[${b}])` : `an integer in [1, ${T}]`;
      throw rangeError(what, `${name}[${b}]`, n);
    }
    out[b] = n;
  }
  return out;
}

function checkToken(v: unknown, V: number, b: number, t: number): number {
  if (typeof v !== 'number') throw typeError('a token id (integer)', `inputs[${b}][${t}]`, v);
  if (!Number.isInteger(v) || v < 0 || v >= V) throw rangeError(`a token id in [0, ${V})`, `inputs[${b}][${t}]`, v);
  return v;
}

function checkFeature(v: unknown, b: number, t: number, d: number): number {
  if (typeof v !== 'number') throw typeError('a number', `inputs[${b}][${t}][${d}]`, v);
  if (!Number.isFinite(v)) throw rangeError('a finite number', `inputs[${b}][${t}][${d}]`, v);
  return v;
}

/** The shared limit on one batch's positions (B x T), which bounds the native activations. */
function checkPositions(B: number, T: number, name: string): void {
  if (B * T > LIMITS.positions) throw rangeError(`at most ${LIMITS.positions} positions (B*T)`, name, received(`${B} x ${T}`));
}

/** Checks the batch is non-empty and returns its rows' lengths and T. */
function rowsOf(inputs: unknown[], rowWhat: string, typedRows = false): { rowLens: number[]; T: number } {
  if (inputs.length === 0) throw rangeError('a non-empty batch', 'inputs', inputs);
  if (inputs.length > MAX_ROWS) throw rangeError(`at most ${MAX_ROWS} rows`, 'inputs', received(`${inputs.length} rows`));
  // plain loops: a spread or map over a huge (or sparse) array would overflow the stack or heap
  const rowLens: number[] = new Array<number>(inputs.length);
  let T = 0;
  for (let b = 0; b < inputs.length; b++) {
    const row: unknown = inputs[b];
    if (!Array.isArray(row) && !(typedRows && row instanceof Int32Array)) throw typeError(rowWhat, `inputs[${b}]`, row);
    if (row.length > MAX_STEPS) throw rangeError(`at most ${MAX_STEPS} steps`, `inputs[${b}]`, received(`${row.length} steps`));
    rowLens[b] = row.length;
    if (row.length > T) T = row.length;
  }
  checkPositions(inputs.length, T, 'inputs');
  if (T === 0) throw rangeError('at least one time step', 'inputs', received('only empty rows'));
  return { rowLens, T };
}

function inferLengths(value: unknown, inputs: unknown[], rowLens: number[], T: number): Int32Array {
  if (value === undefined) {
    rowLens.forEach((n, b) => {
      if (n === 0) throw rangeError('a non-empty row', `inputs[${b}]`, inputs[b]);
    });
  }
  return parseLengths(value, inputs.length, T, rowLens);
}

function nestedTokens(inputs: unknown[], V: number, lengthsOpt: unknown): Batch {
  // rows may be Int32Arrays: what a tokenizer's encode returns
  const { rowLens, T } = rowsOf(inputs, 'an array of token ids or an Int32Array', true);
  const B = inputs.length;
  const lengths = inferLengths(lengthsOpt, inputs, rowLens, T);
  const tokens = new Int32Array(B * T);
  for (let b = 0; b < B; b++) {
    const row = inputs[b] as ArrayLike<unknown>;
    for (let t = 0; t < lengths[b]!; t++) tokens[b * T + t] = checkToken(row[t], V, b, t);
  }
  return { B, T, lengths, tokens };
}

function nestedFeatures(inputs: unknown[], D: number, dtype: Dtype, lengthsOpt: unknown): Batch {
  const { rowLens, T } = rowsOf(inputs, `an array of time steps (arrays of ${D} numbers)`);
  const B = inputs.length;
  const lengths = inferLengths(lengthsOpt, inputs, rowLens, T);
  const features = new (floatArrayOf(dtype))(B * T * D);
  for (let b = 0; b < B; b++) {
    const row = inputs[b] as unknown[];
    for (let t = 0; t < lengths[b]!; t++) {
      const step = row[t];
      if (!Array.isArray(step)) throw typeError(`an array of ${D} numbers`, `inputs[${b}][${t}]`, step);
      if (step.length !== D) {
        throw rangeError(`${D} features (config.input.features)`, `inputs[${b}][${t}]`, received(`length ${step.length}`));
      }
      const base = (b * T + t) * D;
      for (let d = 0; d < D; d++) {
        features[base + d] = checkFeature(step[d], b, t, d);
        // a finite float64 can overflow float32
        if (!Number.isFinite(features[base + d]!)) {
          throw rangeError(`a number within ${dtype} range`, `inputs[${b}][${t}][${d}]`, step[d]);
        }
      }
    }
  }
  return { B, T, lengths, features };
}

function denseTokens(inputs: Record<string, unknown>, V: number, lengthsOpt: unknown): Batch {
  const [B, T] = parseShape(inputs.shape, ['B', 'T'], 'inputs.shape') as [number, number];
  checkPositions(B, T, 'inputs.shape');
  const data = inputs.data;
  if (!(data instanceof Int32Array)) throw typeError('an Int32Array', 'inputs.data', data);
  ordinaryBuffer(data, 'inputs.data');
  if (data.length !== B * T) {
    throw rangeError(`${B * T} elements (shape [${B}, ${T}])`, 'inputs.data', received(`length ${data.length}`));
  }
  const lengths = parseLengths(lengthsOpt, B, T);
  let tokens = data;
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const v = data[b * T + t]!;
      if (t < lengths[b]!) checkToken(v, V, b, t);
      else if ((v < 0 || v >= V) && tokens === data) tokens = zeroPadding(data, lengths, T, 1);
    }
  }
  return { B, T, lengths, tokens };
}

function denseFeatures(inputs: Record<string, unknown>, D: number, dtype: Dtype, lengthsOpt: unknown): Batch {
  const [B, T, width] = parseShape(inputs.shape, ['B', 'T', 'D'], 'inputs.shape') as [number, number, number];
  checkPositions(B, T, 'inputs.shape');
  if (width !== D) throw rangeError(`${D} (config.input.features)`, 'inputs.shape[2]', width);
  const data = inputs.data;
  if (!isFloatArray(data)) throw typeError('a Float32Array or Float64Array', 'inputs.data', data);
  ordinaryBuffer(data, 'inputs.data');
  if (data.length !== B * T * D) {
    throw rangeError(`${B * T * D} elements (shape [${B}, ${T}, ${D}])`, 'inputs.data', received(`length ${data.length}`));
  }
  const lengths = parseLengths(lengthsOpt, B, T);
  const Ctor = floatArrayOf(dtype);
  let features: FloatArray = data instanceof Ctor ? data : new Ctor(data);
  let dirty = false;
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const base = (b * T + t) * D;
      for (let d = 0; d < D; d++) {
        const v = features[base + d]!;
        if (Number.isFinite(v)) continue;
        if (t < lengths[b]!) throw rangeError('a finite number', `inputs[${b}][${t}][${d}]`, v);
        dirty = true;
      }
    }
  }
  if (dirty) features = zeroPadding(features === data ? new Ctor(data) : features, lengths, T, D, true);
  return { B, T, lengths, features };
}

/**
 * Sets positions t >= lengths[b] to 0 (in a copy unless `inPlace`).
 *
 * @param width - elements per (b, t) position
 * @throws never
 * @example
 * const clean = zeroPadding(tokens, lengths, T, 1);
 */
export function zeroPadding<A extends Int32Array | FloatArray>(data: A, lengths: Int32Array, T: number, width: number, inPlace = false): A {
  const out = inPlace ? data : (data.slice() as A);
  for (let b = 0; b < lengths.length; b++) out.fill(0, (b * T + lengths[b]!) * width, (b + 1) * T * width);
  return out;
}

/**
 * Converts `inputs` (and `options.lengths`) for the model's input kind.
 *
 * @throws TypeError for a wrong container or element type
 * @throws RangeError for an empty batch, a wrong shape or length, a token id
 *   outside [0, vocabSize) or a non-finite feature at a valid position
 * @example
 * const batch = toBatch([[1, 2, 3], [4]], { kind: 'tokens', vocabSize: 10 }, undefined);
 * // batch.T === 3, batch.lengths = Int32Array [3, 1]
 */
export function toBatch(inputs: unknown, spec: InputSpec, lengthsOpt: unknown): Batch {
  const tokens = spec.kind === 'tokens';
  if (Array.isArray(inputs)) {
    return tokens ? nestedTokens(inputs, spec.vocabSize, lengthsOpt) : nestedFeatures(inputs, spec.features, spec.dtype, lengthsOpt);
  }
  if (isObject(inputs) && 'data' in inputs && 'shape' in inputs) {
    return tokens ? denseTokens(inputs, spec.vocabSize, lengthsOpt) : denseFeatures(inputs, spec.features, spec.dtype, lengthsOpt);
  }
  const what = tokens
    ? 'token rows (number[][]) or { data: Int32Array, shape: [B, T] }'
    : 'feature rows (number[][][]) or { data: Float32Array | Float64Array, shape: [B, T, D] }';
  throw typeError(what, 'inputs', inputs);
}

/**
 * Checks `options.memory` (a {@link MemoryInput}) for a batch of B rows: required by
 * a model with an attention layer, refused by any other.
 *
 * @throws TypeError / RangeError naming options.memory or its field
 * @example
 * const memory = memoryOf(opts.memory, batch.B, model.config);
 */
function memoryOf(value: unknown, B: number, config: Pick<ModelConfig, 'dtype' | 'layers'>): NativeMemory | undefined {
  const name = 'options.memory';
  const layer = config.layers.find((l) => l.type === 'attention');
  if (!layer) {
    if (value === undefined) return undefined;
    throw rangeError('no memory (the model has no attention layer)', name, value);
  }
  if (!isObject(value)) throw typeError('the encoder outputs { data, shape: [B, T_x, E], lengths } (the model has attention)', name, value);
  const shape = parseShape(value.shape, ['B', 'T_x', 'E'], `${name}.shape`);
  const E = layer.memory;
  if (shape[2] !== E) throw rangeError(`a shape [B, T_x, ${E}]`, `${name}.shape`, value.shape);
  const [Bm, Tm] = shape as [number, number, number];
  const data = floatData(value.data, shape, `${name}.data`, config.dtype);
  const lengths =
    value.lengths === undefined ? new Int32Array(Bm).fill(Tm) : parseLengths(value.lengths, Bm, Tm, undefined, `${name}.lengths`);
  const out: NativeMemory = { data, B: Bm, T: Tm, lengths };
  if (value.rows === undefined) {
    if (Bm !== B) throw rangeError(`${B} memory rows (one per batch row) or options.memory.rows`, `${name}.shape`, value.shape);
    return out;
  }
  if (!Array.isArray(value.rows) && !(value.rows instanceof Int32Array))
    throw typeError('an array of row indices', `${name}.rows`, value.rows);
  if (value.rows.length !== B) throw rangeError(`${B} rows (one per batch row)`, `${name}.rows`, received(`${value.rows.length}`));
  out.index = Int32Array.from(value.rows as ArrayLike<number>, (r, i) => {
    if (!Number.isInteger(r) || r < 0 || r >= Bm) throw rangeError(`an integer in [0, ${Bm - 1}]`, `${name}.rows[${i}]`, r);
    return r;
  });
  return out;
}

/**
 * The batch of one model call: the inputs (`toBatch`), `options.initialState`
 * and `options.condition`, checked against each other (a condition sets the
 * first recurrent layer's state, so the two exclude each other; a model built
 * with a condition needs one of them).
 *
 * @throws TypeError / RangeError naming the input or option
 * @example
 * const batch = callBatch(inputs, opts, input, states, model.config);
 */
export function callBatch(
  inputs: unknown,
  opts: { lengths?: unknown; initialState?: unknown; condition?: unknown; memory?: unknown },
  input: InputSpec,
  stateInfo: readonly NativeStateInfo[],
  config: Pick<ModelConfig, 'condition' | 'dtype' | 'layers'>,
): NativeBatch {
  const batch: NativeBatch = toBatch(inputs, input, opts.lengths);
  const memory = memoryOf(opts.memory, batch.B, config);
  if (memory) batch.memory = memory;
  const states = toInitialStates(opts.initialState, stateInfo, batch.B, config.dtype);
  if (states) batch.initialStates = states;
  const condition = conditionRows(opts.condition, batch.B, config, 'options.condition');
  if (condition) {
    if (states?.[0]) {
      throw rangeError(
        'no initialState[0] when a condition is given (the condition sets it)',
        'options.initialState[0]',
        received('a state'),
      );
    }
    batch.condition = condition;
  } else if (config.condition && !states?.[0]) {
    throw typeError(
      `conditioning vectors [B, ${config.condition.features}] (the model was built with a condition)`,
      'options.condition',
      undefined,
    );
  }
  return batch;
}
