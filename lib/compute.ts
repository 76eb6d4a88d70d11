/**
 * What a compute handle (a `Model`) lends to the modules of functions over it:
 * its native model, call accounting, weight and state tables, and the calls
 * that keep their results native. Sampling (sample.ts), model files
 * (io/model-file.ts), the summary and `Seq2Seq` (which steps its encoder and
 * decoder as one block through {@link stepTogether}) take a model and look its
 * handle up here. A model registers itself when it is built; nothing here is
 * exported from the package.
 */
import { callSite, rangeError } from './errors.js';
import { floatData, tensor } from './tensor.js';
import type { FloatArray, Tensor } from './types.js';
import { object } from './validate.js';
import type { BackwardFromOptions, ForwardOptions, ForwardResult, GradientsOptions, GradientsResult } from './calls.js';
import type { LayerShape } from './config.js';
import { native, type Dtype, type NativeModel, type NativeOptimizer, type NativeParamInfo, type NativeStateInfo } from './native.js';
import type { ModelInput, Targets } from './types.js';

/** One named weight: a view into the native parameter block. */
export interface WeightEntry {
  readonly name: string;
  readonly layer: number;
  readonly shape: readonly number[];
  readonly offset: number;
  readonly size: number;
}

/**
 * A model's named weights from the native parameter table: `layers.<i>.<name>`,
 * or `<layer name>.<name>`, or `condition.<name>`; frozen.
 *
 * @throws never
 * @example
 * const weights = weightTable(handle.paramTable(), config.layers);
 */
export function weightTable(params: readonly NativeParamInfo[], layers: readonly { name?: string | undefined }[]): readonly WeightEntry[] {
  return Object.freeze(
    params.map((p) => {
      const prefix = p.layer < 0 ? 'condition' : (layers[p.layer]?.name ?? `layers.${p.layer}`);
      return Object.freeze({
        name: `${prefix}.${p.name}`,
        layer: p.layer,
        shape: Object.freeze(p.shape.slice()),
        offset: p.offset,
        size: p.size,
      });
    }),
  );
}

/**
 * A parameter block (or a gradient of its layout) as named Tensors viewing it.
 *
 * @throws never
 * @example
 * const grads = splitBlock(weights, res.grads);
 */
export function splitBlock(weights: readonly WeightEntry[], block: FloatArray): Record<string, Tensor> {
  return Object.fromEntries(weights.map((w) => [w.name, tensor(block.subarray(w.offset, w.offset + w.size), w.shape)]));
}

/**
 * Named tensors (weights or gradients, `{ name: Tensor | float array }`) checked against the weight table: each with its
 * entry and its data in the model's dtype.
 *
 * @throws TypeError when `value` is not an object or a value not a Tensor / float array; RangeError for an unknown name,
 *   a wrong shape or size, or a non-finite value
 * @example
 * for (const [entry, data] of namedTensors(byName, grads, 'grads', 'float32')) block.set(data, entry.offset);
 */
export function namedTensors(
  byName: ReadonlyMap<string, WeightEntry>,
  value: unknown,
  name: string,
  dtype: Dtype,
): [WeightEntry, FloatArray][] {
  const given = object(value, name);
  return Object.keys(given).map((key) => {
    const entry = byName.get(key);
    if (!entry) throw rangeError('a weight name of this model (see model.weightNames)', name, key);
    return [entry, floatData(given[key], entry.shape, `${name}['${key}']`, dtype)];
  });
}

/** How {@link ComputeHandle.forward} runs: whether the output comes back, and on the row-exact kernels. */
export interface ForwardHow {
  wantOutput: boolean;
  rowExact?: boolean;
}

/** What a model lends to the modules of functions over it (sampling, files, summary, Seq2Seq). */
export interface ComputeHandle {
  /** the named weights, in parameter-block order */
  readonly weights: readonly WeightEntry[];
  /** per recurrent layer: directions, units, whether it has a cell state */
  readonly states: readonly NativeStateInfo[];
  /** each layer's output shape */
  readonly shapes: readonly LayerShape[];
  /** throws RnnkitError ERR_BUSY while an async call runs (sync reads and writes of the weights) */
  idle(): void;
  /** the live native model (throws RnnkitError ERR_DISPOSED after dispose) */
  native(): NativeModel;
  /** runs an async native call as one of the model's own (busy accounting, error mapping) */
  run<T>(site: Error, fn: () => Promise<T>): Promise<T>;
  /**
   * Model.forward; by default without copying the output back (its data is empty: the final states). `rowExact`: an
   * inference forward whose every row is the same bits whatever rows share the batch (Seq2Seq decoding)
   */
  forward(inputs: ModelInput, options?: ForwardOptions, how?: ForwardHow): Promise<ForwardResult>;
  /** Model.gradients leaving the gradient in the model for {@link stepTogether} (`grads` is {}) */
  gradients(inputs: ModelInput, targets: Targets, options?: GradientsOptions): Promise<GradientsResult>;
  /** Model.backwardFrom leaving the gradient in the model for {@link stepTogether} (`grads` is {}) */
  backwardFrom(inputs: ModelInput, options?: BackwardFromOptions): Promise<Omit<GradientsResult, 'loss'>>;
}

const handles = new WeakMap<object, ComputeHandle>();

/**
 * Registers the handle of a model (called once, by its constructor).
 *
 * @throws never
 * @example
 * registerHandle(this, { native: () => this.#alive(), run: (site, fn) => this.#run(site, fn) });
 */
export function registerHandle(model: object, handle: ComputeHandle): void {
  handles.set(model, handle);
}

/**
 * The handle a model registered.
 *
 * @throws TypeError when `model` is not a Model
 * @example
 * handleOf(encoder).native().forwardPasses;
 */
export function handleOf(model: object): ComputeHandle {
  const h = handles.get(model);
  if (!h) throw new TypeError('Expected a Model for models[] but received an object that is not one');
  return h;
}

/**
 * One optimizer step over several models as if their parameter blocks were one
 * (an encoder and its decoder): each uses the gradient its last `gradients` /
 * `backwardFrom` left in it; the core checks `loss` and the global gradient norm,
 * clips every block by value and by that global norm, and checks every update
 * before it writes any, so a refused step changes no model.
 *
 * @throws RnnkitError ERR_NONFINITE (no model changed), ERR_BUSY, ERR_DISPOSED (the Promise rejects)
 * @example
 * const { gradNorm } = await stepTogether([encoder, decoder], toNativeOptimizer(opt, 0, 5), loss);
 */
export function stepTogether(models: readonly object[], optimizer: NativeOptimizer, loss: number): Promise<{ gradNorm: number }> {
  const site = callSite();
  const owned = models.map(handleOf);
  const natives = owned.map((h) => h.native());
  // counted as a call of every model: each run wraps the next
  const call = owned.reduceRight<() => Promise<{ gradNorm: number }>>(
    (inner, h) => () => h.run(site, inner),
    () => native().NativeModel.stepTogether(natives, optimizer, loss),
  );
  return call();
}
