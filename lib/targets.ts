/**
 * Converting user targets into the flat arrays the native loss reads:
 * class ids (crossEntropy) or values of the output's shape
 * (binaryCrossEntropy, mse). Checked at valid positions only; padded
 * positions are zeroed in the array handed to the core.
 */
import type { Loss, LayerShape } from './config.js';
import { rangeError, received, typeError } from './errors.js';
import { zeroPadding, type Batch } from './inputs.js';
import type { Dtype, FloatArray, NativeTargets } from './native.js';
import { floatArrayOf, formatShape, isFloatArray } from './tensor.js';
import { UNIT_OPEN } from './limits.js';
import { isObject, number, ordinaryBuffer } from './validate.js';

const NAME = 'targets';

/** What the targets must look like for one batch. */
interface Expect {
  B: number;
  T: number;
  lengths: Int32Array;
  /** sequence output ([B, T, ...]) or last-step output ([B, ...]) */
  seq: boolean;
  K: number;
}

function sameShape(a: readonly unknown[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function shapeOf(value: Record<string, unknown>, expected: number[]): void {
  const shape = value.shape;
  if (!Array.isArray(shape)) throw typeError(`a shape ${formatShape(expected)}`, `${NAME}.shape`, shape);
  if (!sameShape(shape, expected)) {
    throw rangeError(`shape ${formatShape(expected)} (the output's)`, `${NAME}.shape`, received(`shape ${formatShape(shape)}`));
  }
}

function checkLength(data: { length: number }, size: number, shape: number[]): void {
  if (data.length !== size) {
    throw rangeError(`${size} elements (shape ${formatShape(shape)})`, `${NAME}.data`, received(`length ${data.length}`));
  }
}

/** Number of valid leading steps per row: lengths[b] for a sequence output, 1 otherwise. */
function validSteps(e: Expect, b: number): number {
  return e.seq ? e.lengths[b]! : 1;
}

/** Path of (b, t) in messages. */
function at(e: Expect, b: number, t: number): string {
  return e.seq ? `${NAME}[${b}][${t}]` : `${NAME}[${b}]`;
}

// The checks below run once per target element (B*T, or B*T*K values, every
// call): the fast path only compares, and the element's path for the message
// (`targets[b][t][k]`) is built only when it fails.

function checkClass(v: unknown, K: number, e: Expect, b: number, t: number): number {
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < K) return v;
  const name = at(e, b, t);
  if (typeof v !== 'number') throw typeError('a class id (integer)', name, v);
  throw rangeError(`a class id in [0, ${K})`, name, v);
}

function checkValue(v: unknown, loss: Loss, e: Expect, b: number, t: number, k: number): number {
  if (typeof v === 'number' && (loss === 'binaryCrossEntropy' ? v >= 0 && v <= 1 : Number.isFinite(v))) return v;
  const name = `${at(e, b, t)}[${k}]`;
  if (typeof v !== 'number') throw typeError('a number', name, v);
  if (loss === 'binaryCrossEntropy') throw rangeError('a number in [0, 1] (binaryCrossEntropy)', name, v);
  throw rangeError('a finite number', name, v);
}

/** Checks the outer array of nested targets and returns row b's entries at valid steps. */
function nestedRows(targets: unknown[], e: Expect, rowWhat: string): unknown[][] {
  if (targets.length !== e.B) {
    throw rangeError(`${e.B} rows (one per row of inputs)`, NAME, received(`length ${targets.length}`));
  }
  if (!e.seq) return targets.map((v) => [v]);
  return targets.map((row, b) => {
    if (!Array.isArray(row)) throw typeError(rowWhat, `${NAME}[${b}]`, row);
    if (row.length < e.lengths[b]! || row.length > e.T) {
      const what = `between ${e.lengths[b]} and ${e.T} steps (lengths[${b}] to T)`;
      throw rangeError(what, `${NAME}[${b}]`, received(`length ${row.length}`));
    }
    return row as unknown[];
  });
}

function classes(targets: unknown, e: Expect): Int32Array {
  const steps = e.seq ? e.T : 1;
  const shape = e.seq ? [e.B, e.T] : [e.B];
  if (Array.isArray(targets)) {
    const rows = nestedRows(targets, e, 'an array of class ids');
    const out = new Int32Array(e.B * steps);
    rows.forEach((row, b) => {
      for (let t = 0; t < validSteps(e, b); t++) out[b * steps + t] = checkClass(row[t], e.K, e, b, t);
    });
    return out;
  }
  if (isObject(targets) && 'data' in targets) {
    shapeOf(targets, shape);
    const data = targets.data;
    if (!(data instanceof Int32Array)) throw typeError('an Int32Array of class ids', `${NAME}.data`, data);
    ordinaryBuffer(data, `${NAME}.data`);
    checkLength(data, e.B * steps, shape);
    let out = data;
    for (let b = 0; b < e.B; b++) {
      for (let t = 0; t < steps; t++) {
        const v = data[b * steps + t]!;
        if (t < validSteps(e, b)) checkClass(v, e.K, e, b, t);
        else if ((v < 0 || v >= e.K) && out === data) out = zeroPadding(data, e.lengths, steps, 1);
      }
    }
    return out;
  }
  const what = e.seq
    ? 'class ids as number[][] or { data: Int32Array, shape: [B, T] }'
    : 'class ids as number[] or { data: Int32Array, shape: [B] }';
  throw typeError(what, NAME, targets);
}

function values(targets: unknown, e: Expect, loss: Loss, dtype: Dtype): FloatArray {
  const steps = e.seq ? e.T : 1;
  const shape = e.seq ? [e.B, e.T, e.K] : [e.B, e.K];
  const Ctor = floatArrayOf(dtype);
  if (Array.isArray(targets)) {
    const rows = nestedRows(targets, e, `an array of time steps (arrays of ${e.K} numbers)`);
    const out = new Ctor(e.B * steps * e.K);
    rows.forEach((row, b) => {
      for (let t = 0; t < validSteps(e, b); t++) {
        const vec = row[t];
        if (!Array.isArray(vec)) throw typeError(`an array of ${e.K} numbers`, at(e, b, t), vec);
        if (vec.length !== e.K) throw rangeError(`${e.K} values (the output width)`, at(e, b, t), received(`length ${vec.length}`));
        const base = (b * steps + t) * e.K;
        for (let k = 0; k < e.K; k++) {
          out[base + k] = checkValue(vec[k], loss, e, b, t, k);
          // a finite float64 can overflow float32
          if (!Number.isFinite(out[base + k]!)) throw rangeError(`a number within ${dtype} range`, `${at(e, b, t)}[${k}]`, vec[k]);
        }
      }
    });
    return out;
  }
  if (isObject(targets) && 'data' in targets) {
    shapeOf(targets, shape);
    const data = targets.data;
    if (!isFloatArray(data)) throw typeError('a Float32Array or Float64Array', `${NAME}.data`, data);
    ordinaryBuffer(data, `${NAME}.data`);
    checkLength(data, e.B * steps * e.K, shape);
    const out: FloatArray = data instanceof Ctor ? data : new Ctor(data);
    let dirty = false;
    for (let b = 0; b < e.B; b++) {
      for (let t = 0; t < steps; t++) {
        const base = (b * steps + t) * e.K;
        for (let k = 0; k < e.K; k++) {
          if (t < validSteps(e, b)) checkValue(out[base + k], loss, e, b, t, k);
          else if (!Number.isFinite(out[base + k]!)) dirty = true;
        }
      }
    }
    if (dirty) return zeroPadding(out === data ? new Ctor(data) : out, e.lengths, steps, e.K, true);
    return out;
  }
  const what = e.seq
    ? `values as number[][][] or { data: FloatArray, shape: [B, T, ${e.K}] }`
    : `values as number[][] or { data: FloatArray, shape: [B, ${e.K}] }`;
  throw typeError(what, NAME, targets);
}

/**
 * Converts `targets` for a batch and the model's output shape and loss.
 *
 * @throws TypeError for a wrong container or element type
 * @throws RangeError for a wrong shape or length, a class id outside [0, K),
 *   a binaryCrossEntropy value outside [0, 1] or a non-finite value, at a valid position
 * @example
 * const t = toTargets([[2, 3, 4]], batch, { seq: true, width: 10 }, 'crossEntropy', 'float32');
 */
export function toTargets(
  targets: unknown,
  batch: Batch,
  output: LayerShape,
  loss: Loss,
  dtype: Dtype,
  labelSmoothing?: unknown,
): NativeTargets {
  const e: Expect = { B: batch.B, T: batch.T, lengths: batch.lengths, seq: output.seq, K: output.width };
  const smoothing = labelSmoothingOption(labelSmoothing, 'options.labelSmoothing');
  if (smoothing !== undefined && loss !== 'crossEntropy') {
    throw rangeError(`the crossEntropy loss for label smoothing (this model's loss is ${loss})`, 'options.labelSmoothing', smoothing);
  }
  if (targets === undefined || targets === null) throw typeError('targets', NAME, targets);
  if (loss === 'crossEntropy') return { classes: classes(targets, e), ...(smoothing ? { labelSmoothing: smoothing } : {}) };
  return { values: values(targets, e, loss, dtype) };
}

/**
 * Checks a `labelSmoothing` option: undefined, or a number in [0, 1).
 *
 * @throws TypeError / RangeError naming `path`
 * @example
 * labelSmoothingOption(0.1, 'options.labelSmoothing'); // 0.1
 */
export function labelSmoothingOption(value: unknown, path: string): number | undefined {
  return value === undefined ? undefined : number(value, path, UNIT_OPEN);
}
