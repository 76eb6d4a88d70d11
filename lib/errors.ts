/**
 * Errors: one message factory for argument errors and one error class
 * ({@link RnnkitError}, with a stable code) for failures of the native core,
 * of a model's lifecycle, of training (non-finite values) and of model files
 * (rnnkit checkpoints, safetensors).
 *
 * Argument errors follow sharp / better-sqlite3: a TypeError for a wrong type,
 * a RangeError for a wrong value, length or shape, with the message
 * "Expected <what> for <name> but received <value>", where <name> is the path
 * of the offending argument as the user wrote it (e.g. `inputs[1][3]`,
 * `options.optimizer.lr`).
 */

/** A pre-rendered description of a received value (for shapes, counts, ...). */
class Received {
  constructor(readonly text: string) {}
}

/**
 * Wraps a ready-made description of a received value, for when the value
 * itself would render badly (e.g. a shape).
 *
 * @throws never
 * @example
 * rangeError('shape [2, 3]', 'inputs.shape', received('shape [2, 4]'));
 */
export function received(text: string): Received {
  return new Received(text);
}

const MAX_REPR = 40;

function short(text: string): string {
  return text.length > MAX_REPR ? text.slice(0, MAX_REPR - 3) + '...' : text;
}

/**
 * Renders a value briefly for an error message: its type and a short repr,
 * e.g. `number 3.5`, `string 'abc'`, `array of length 3`,
 * `Float32Array of length 4`, `object { a, b }`.
 *
 * @throws never
 * @example
 * describe(3.5); // 'number 3.5'
 * describe([1, 2]); // 'array of length 2'
 */
export function describe(value: unknown): string {
  if (value instanceof Received) return value.text;
  if (value === null) return 'null';
  switch (typeof value) {
    case 'undefined':
      return 'undefined';
    case 'number':
      return `number ${Object.is(value, -0) ? '-0' : String(value)}`;
    case 'string':
      return `string '${short(value)}'`;
    case 'boolean':
      return `boolean ${value}`;
    case 'bigint':
      return `bigint ${value}n`;
    case 'symbol':
      return `symbol ${short(String(value.description ?? ''))}`;
    case 'function':
      return `function ${value.name || '(anonymous)'}`;
    default:
      break;
  }
  if (Array.isArray(value)) return `array of length ${value.length}`;
  if (ArrayBuffer.isView(value)) {
    const len = (value as unknown as { length?: number }).length ?? value.byteLength;
    return `${value.constructor.name} of length ${len}`;
  }
  const ctor = (value as object).constructor;
  if (ctor && ctor !== Object && typeof ctor.name === 'string' && ctor.name) return `${ctor.name} object`;
  const keys = Object.keys(value as object);
  return keys.length === 0 ? 'object {}' : `object { ${short(keys.join(', '))} }`;
}

function message(what: string, name: string, value: unknown): string {
  return `Expected ${what} for ${name} but received ${describe(value)}`;
}

/**
 * Builds the TypeError for an argument of the wrong type.
 *
 * @param what - what was expected, e.g. `a number`
 * @param name - the argument's path as the user wrote it, e.g. `options.lengths`
 * @param value - the received value (rendered with {@link describe})
 * @throws never (returns the error; the caller throws it)
 * @example
 * throw typeError('a boolean', 'options.bidirectional', 'yes');
 * // TypeError: Expected a boolean for options.bidirectional but received string 'yes'
 */
export function typeError(what: string, name: string, value: unknown): TypeError {
  return new TypeError(message(what, name, value));
}

/**
 * Builds the RangeError for an argument with a wrong value, length or shape.
 *
 * @param what - what was expected, e.g. `an integer in [1, 65536]`
 * @param name - the argument's path as the user wrote it, e.g. `units`
 * @param value - the received value (rendered with {@link describe}), or {@link received}
 * @throws never (returns the error; the caller throws it)
 * @example
 * throw rangeError('an integer in [1, 65536]', 'units', 0);
 * // RangeError: Expected an integer in [1, 65536] for units but received number 0
 */
export function rangeError(what: string, name: string, value: unknown): RangeError {
  return new RangeError(message(what, name, value));
}

/**
 * Stable codes carried by {@link RnnkitError}.
 *
 * @example
 * if ((err as RnnkitError).code === 'ERR_BUSY') await previousCall;
 */
export type RnnkitErrorCode =
  | 'ERR_BUSY'
  | 'ERR_DISPOSED'
  | 'ERR_NATIVE'
  | 'ERR_NONFINITE'
  | 'ERR_CHECKPOINT'
  | 'ERR_SAFETENSORS'
  | 'ERR_TORCH_PACKAGE'
  | 'ERR_TORCH'
  | 'ERR_VECTORS'
  | 'ERR_CLOSED';

const CODES: ReadonlySet<string> = new Set<RnnkitErrorCode>([
  'ERR_BUSY',
  'ERR_DISPOSED',
  'ERR_NATIVE',
  'ERR_NONFINITE',
  'ERR_CHECKPOINT',
  'ERR_SAFETENSORS',
  'ERR_CLOSED',
]);

/**
 * A failure of the native core or of the model's lifecycle, with a stable
 * `code`: `ERR_BUSY` (another call is already running on the model, or
 * `setThreads()` was called while a native call runs),
 * `ERR_DISPOSED` (the model was disposed), `ERR_NONFINITE` (a non-finite
 * loss or gradient), `ERR_CHECKPOINT` (an rnnkit model file cannot be read or
 * written), `ERR_SAFETENSORS` (a safetensors file cannot be read or written,
 * or does not fit the model), `ERR_TORCH_PACKAGE` (a PyTorch training package
 * or train.py's output directory cannot be written or read, or is damaged),
 * `ERR_TORCH` (torchrun or PyTorch is missing, or training under it failed),
 * `ERR_VECTORS` (a word-vector file cannot be read or is malformed),
 * `ERR_CLOSED` (the batched sampler was closed before the request ended)
 * or `ERR_NATIVE` (anything else the core reports, e.g. out of memory).
 *
 * @throws never
 * @example
 * try {
 *   await model.predict(inputs);
 * } catch (err) {
 *   if (err instanceof RnnkitError && err.code === 'ERR_BUSY') { ... }
 * }
 */
export class RnnkitError extends Error {
  readonly code: RnnkitErrorCode;

  constructor(code: RnnkitErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RnnkitError';
    this.code = code;
  }
}

/**
 * Captures the caller's stack synchronously, before a call goes async, so a
 * rejection from a worker thread can point at the user's code.
 *
 * @throws never
 * @example
 * const site = callSite();
 * return promise.catch((err) => { throw fromNative(err, site); });
 */
export function callSite(): Error {
  const site = new Error('call site');
  Error.captureStackTrace?.(site, callSite);
  return site;
}

function frames(stack: string | undefined): string {
  if (!stack) return '';
  const nl = stack.indexOf('\n');
  return nl < 0 ? '' : stack.slice(nl);
}

/**
 * Maps an error thrown or rejected by the binding to the public error:
 * TypeError / RangeError (the binding's own argument checks) pass through
 * unchanged; anything else becomes an {@link RnnkitError} that keeps the
 * native `code` (`ERR_NATIVE` when it has none), the native error as `cause`,
 * and, when `site` is given, the stack of the user's call.
 *
 * @throws never (returns the error; the caller throws it)
 * @example
 * try { native.getParams(); } catch (err) { throw fromNative(err); }
 */
export function fromNative(err: unknown, site?: Error): Error {
  if (err instanceof TypeError || err instanceof RangeError || err instanceof RnnkitError) return err;
  const raw = err as { code?: unknown; message?: unknown } | null | undefined;
  const code: RnnkitErrorCode = raw && typeof raw.code === 'string' && CODES.has(raw.code) ? (raw.code as RnnkitErrorCode) : 'ERR_NATIVE';
  const msg = raw && typeof raw.message === 'string' ? raw.message : String(err);
  const out = new RnnkitError(code, msg, { cause: err });
  if (site) out.stack = `${out.name} [${code}]: ${msg}${frames(site.stack)}`;
  return out;
}

/**
 * Runs a native call that returns a Promise (or throws synchronously) and
 * maps its failure with {@link fromNative}, attaching the stack captured in
 * `site`.
 *
 * @throws RnnkitError when the native call fails; TypeError / RangeError from the binding unchanged
 * @example
 * const site = callSite();
 * const out = await nativeCall(site, () => handle.forward(batch, false));
 */
export async function nativeCall<T>(site: Error, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw fromNative(err, site);
  }
}
