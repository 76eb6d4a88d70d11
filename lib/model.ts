/**
 * `sequential(config)` and the `Model` it returns: named weights, inference,
 * gradients and training steps on top of the native model.
 */
import { layerShapes, nativeSpec, normalizeConfig, type LayerShape, type ModelConfig, type SequentialConfig } from './config.js';
import { callSite, fromNative, nativeCall, rangeError, received, RnnkitError, typeError } from './errors.js';
import { toBatch, type InputSpec } from './inputs.js';
import { native, type NativeBatch, type NativeGradientsResult, type NativeModel, type NativeStateInfo, type NativeTrainingState } from './native.js';
import { toNativeOptimizer, type OptimizerConfig } from './optimizer.js';
import { stateTensors, toInitialStates } from './state.js';
import { toTargets } from './targets.js';
import { trackCall } from './runtime.js';
import { floatData, isFloatArray, tensor } from './tensor.js';
import type { FloatArray, LayerState, ModelInput, StateTensors, Targets, Tensor } from './types.js';
import { boolean, integer, knownKeys, object, optionalObject, withDefault, type Dict } from './validate.js';
import type { Dataset } from './data.js';
import { evaluate, fit, nonFiniteOption, skipNonFinite, type Evaluation, type FitOptions, type History } from './train.js';
import { registerHandle } from './compute.js';
import { generateOptions, softmaxRows, type GenerateOptions } from './sample.js';

import { readCheckpoint, writeCheckpoint, type CheckpointParts } from './io.js';
import { readSafetensors, writeSafetensors } from './io/safetensors.js';
import { loadPlan, modelFromSafetensors, safetensorsParts, type LoadSafetensorsOptions, type SaveSafetensorsOptions } from './interop.js';
import { tokenizerFromJSON, type Tokenizer } from './tokenizers/index.js';

const MODEL_FORMAT = 'rnnkit-model';
const MODEL_VERSION = 1;

/**
 * Options shared by predict / forward / gradients / trainStep.
 *
 * @example
 * await model.predict([[1, 2, 0]], { lengths: [2] });
 */
export interface CallOptions {
  /** valid steps per row, each in [1, T]; default: inferred from ragged rows, else T */
  lengths?: number[] | Int32Array;
  /** per recurrent layer (in order): PyTorch's h0 / c0 of shape [dirs, B, H]; missing = zeros */
  initialState?: (LayerState | null | undefined)[];
  /**
   * for a model built with `condition: { features: k }`: one conditioning vector per row,
   * as `number[][]` [B][k], a Tensor [B, k] or a float array of B*k; it sets the first
   * recurrent layer's initial state (so that layer takes no `initialState`)
   */
  condition?: ConditionInput;
}

/**
 * Conditioning vectors, one per row: `number[][]` [B][k], a Tensor [B, k] or a float array of B*k.
 *
 * @example
 * const condition: ConditionInput = [[1, 0], [0, 1]];
 */
export type ConditionInput = number[][] | Tensor | FloatArray;

/**
 * Options of {@link Model.forward}.
 *
 * @example
 * await model.forward(x, { training: true });
 */
export interface ForwardOptions extends CallOptions {
  /** run dropout as in training; default false */
  training?: boolean;
}

/**
 * Options of {@link Model.gradients}.
 *
 * @example
 * await model.gradients(x, y, { training: false });
 */
export interface GradientsOptions extends CallOptions {
  /** run dropout as in training; default true */
  training?: boolean;
}

/**
 * Options of {@link Model.trainStep}.
 *
 * @example
 * await model.trainStep(x, y, { optimizer: { type: 'sgd', lr: 0.1 }, clipNorm: 5 });
 */
export interface TrainStepOptions extends CallOptions {
  /** default `{ type: 'adam', lr: 1e-3 }` */
  optimizer?: OptimizerConfig;
  /** clip each gradient element to [-clipValue, clipValue] (applied first); default off */
  clipValue?: number;
  /** clip the global L2 norm of the gradient (torch clip_grad_norm_); default off */
  clipNorm?: number;
  /** also return each recurrent layer's final state (to carry into the next window); default false */
  returnState?: boolean;
  /**
   * what a non-finite loss, gradient or update does: 'throw' (default) rejects with
   * ERR_NONFINITE; 'skip' resolves with `skipped: true`. Either way the weights and the
   * optimizer state stay as they were before the step.
   */
  nonFinite?: 'throw' | 'skip';
}

/**
 * Options of {@link Model.backwardFrom}.
 *
 * @example
 * await encoder.backwardFrom(src, { finalStateGrads: [{ h: dh, c: dc }] });
 */
export interface BackwardFromOptions extends CallOptions {
  /** run dropout as in training; default true */
  training?: boolean;
  /** the gradient at the output, shaped like forward()'s output; default zeros */
  outputGrad?: Tensor | FloatArray;
  /** per recurrent layer, the gradient at its final state [dirs, B, H]; missing = zeros */
  finalStateGrads?: (LayerState | null | undefined)[];
}

/**
 * Result of {@link Model.forward}.
 *
 * @example
 * const { output, finalState } = await model.forward(x);
 */
export interface ForwardResult {
  /** [B, T, K] for a sequence output, [B, K] otherwise; padded steps are 0 */
  output: Tensor;
  /** per recurrent layer: the state at each row's last valid step, [dirs, B, H] */
  finalState: StateTensors[];
}

/**
 * Result of {@link Model.gradients}.
 *
 * @example
 * const { loss, grads, initialStateGrads } = await model.gradients(x, y);
 */
export interface GradientsResult {
  loss: number;
  /** keyed like {@link Model.getWeights} */
  grads: Record<string, Tensor>;
  /** gradient of the loss with respect to each recurrent layer's initial state */
  initialStateGrads: StateTensors[];
  /** gradient of the loss with respect to options.condition, [B, k], when one was given */
  conditionGrad?: Tensor;
}

/**
 * Result of {@link Model.trainStep}.
 *
 * @example
 * const { loss, gradNorm } = await model.trainStep(x, y);
 */
export interface TrainStepResult {
  /** the loss before the update */
  loss: number;
  /** global L2 norm of the gradient before clipping */
  gradNorm: number;
  /** each recurrent layer's final state, when options.returnState */
  finalState?: StateTensors[];
  /** true when the step was skipped (options.nonFinite 'skip'); loss and gradNorm are then NaN */
  skipped?: boolean;
}

/**
 * Result of {@link Model.evaluateBatch}.
 *
 * @example
 * const { lossSum, count } = await model.evaluateBatch(x, y);
 */
export interface BatchEvaluation {
  /** loss summed over valid positions (elements for binaryCrossEntropy / mse) */
  lossSum: number;
  /** valid positions (elements for binaryCrossEntropy / mse) */
  count: number;
  /** how many were predicted right (argmax, or p > 0.5); 0 for mse */
  correct: number;
  /** each recurrent layer's final state */
  finalState: StateTensors[];
}

/**
 * Result of {@link Model.step}.
 *
 * @example
 * const { probs, state } = await model.step(model.initialState(), 2);
 */
export interface StepResult {
  /** next-token probabilities, [B, V] row-major */
  probs: FloatArray;
  /** the state after the step, to pass to the next step */
  state: StateTensors[];
}

/** One named weight: a view into the native parameter block. */
interface WeightEntry {
  readonly name: string;
  readonly layer: number;
  readonly shape: readonly number[];
  readonly offset: number;
  readonly size: number;
}

const COMMON_KEYS = ['lengths', 'initialState', 'condition'] as const;

/**
 * A sequential recurrent model. Create it with {@link sequential} (or
 * `new Model(config)`, which is the same). Async methods run on a worker
 * thread; one call at a time per model (a second concurrent call rejects
 * with code `ERR_BUSY`). Call {@link Model.dispose} to free native memory
 * early.
 *
 * @throws TypeError / RangeError for an invalid config (see {@link sequential})
 * @example
 * const model = new Model({ input: { features: 3 }, layers: [layers.gru({ units: 8 })], loss: 'mse' });
 */
export class Model {
  /** The normalized, frozen config (every default filled in). */
  readonly config: ModelConfig;
  /** Weight names in parameter-block order, e.g. `layers.0.weight_ih_l0`. */
  readonly weightNames: readonly string[];
  /** Total number of parameters. */
  readonly numParams: number;
  /** The tokenizer of a language model; saved and loaded with it. */
  tokenizer: Tokenizer | undefined;
  /** Completed training epochs; {@link Model.fit} continues from here (saved in checkpoints). */
  epoch = 0;

  #handle: NativeModel | null;
  /** native calls in flight (a refused concurrent call counts while it settles) */
  #inflight = 0;
  readonly #weights: readonly WeightEntry[];
  readonly #byName: ReadonlyMap<string, WeightEntry>;
  readonly #states: readonly NativeStateInfo[];
  readonly #shapes: readonly LayerShape[];
  readonly #input: InputSpec;

  constructor(config: SequentialConfig) {
    this.config = normalizeConfig(config);
    const { input, dtype } = this.config;
    this.#input =
      'vocabSize' in input ? { kind: 'tokens', vocabSize: input.vocabSize } : { kind: 'features', features: input.features, dtype };
    this.#shapes = layerShapes(this.config);
    let handle: NativeModel;
    try {
      handle = new (native().NativeModel)(nativeSpec(this.config));
    } catch (err) {
      throw fromNative(err);
    }
    this.#handle = handle;
    registerHandle(this, {
      native: () => this.#alive(),
      run: (site, fn) => this.#run(site, fn),
      forward: (inputs, options) => this.#forward(inputs, options, false),
      gradients: (inputs, targets, options) => this.#gradients(inputs, targets, options, false),
      backwardFrom: (inputs, options) => this.#backwardFrom(inputs, options, false),
    });
    this.#weights = Object.freeze(
      handle.paramTable().map((p) => {
        const prefix = p.layer < 0 ? 'condition' : (this.config.layers[p.layer]?.name ?? `layers.${p.layer}`);
        return Object.freeze({ name: `${prefix}.${p.name}`, layer: p.layer, shape: Object.freeze(p.shape.slice()), offset: p.offset, size: p.size });
      }),
    );
    this.#byName = new Map(this.#weights.map((w) => [w.name, w]));
    this.#states = Object.freeze(handle.stateTable().map((s) => Object.freeze({ ...s })));
    this.weightNames = Object.freeze(this.#weights.map((w) => w.name));
    this.numParams = handle.numParams;
  }

  /** True after {@link Model.dispose}. */
  get disposed(): boolean {
    return this.#handle === null;
  }

  /**
   * The output shape of the model for a batch of B rows and T steps.
   *
   * @throws never
   * @example
   * model.outputShape(2, 5); // [2, 5, 27] or [2, 27]
   */
  outputShape(B: number, T: number): number[] {
    const last = this.#shapes[this.#shapes.length - 1]!;
    return last.seq ? [B, T, last.width] : [B, last.width];
  }

  /**
   * A Keras-like table of the layers: name, type, output shape, parameter count.
   *
   * @throws never
   * @example
   * console.log(model.summary());
   */
  summary(): string {
    const rows = this.config.layers.map((layer, i) => {
      const shape = this.#shapes[i]!;
      const params = this.#weights.filter((w) => w.layer === i).reduce((n, w) => n + w.size, 0);
      const extra =
        layer.type === 'lstm' && layer.peephole !== 'none'
          ? ` peephole=${layer.peephole}`
          : layer.type === 'gru' && layer.variant === 'minimal'
            ? ' minimal'
            : '';
      const bi = 'bidirectional' in layer && layer.bidirectional ? ' bidirectional' : '';
      return [
        layer.name ?? `layers.${i}`,
        `${layer.type}${bi}${extra}`,
        shape.seq ? `[B, T, ${shape.width}]` : `[B, ${shape.width}]`,
        params.toLocaleString('en-US'),
      ];
    });
    const header = ['Layer', 'Type', 'Output shape', 'Params'];
    const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
    const line = (r: string[]) => r.map((cell, c) => (c === 3 ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join('  ');
    const rule = '-'.repeat(widths.reduce((a, b) => a + b + 2, -2));
    const input = 'vocabSize' in this.config.input ? `tokens (vocabSize ${this.config.input.vocabSize})` : `features (${this.config.input.features})`;
    return [
      `Input: ${input}`,
      line(header),
      rule,
      ...rows.map(line),
      rule,
      `Total params: ${this.numParams.toLocaleString('en-US')} (${this.config.dtype}), loss ${this.config.loss} (${this.config.reduction})`,
    ].join('\n');
  }

  /**
   * A copy of every weight, keyed by name (PyTorch layout, e.g.
   * `layers.0.weight_ih_l0` of shape [G*H, D]). The Tensors of one call may
   * share one fresh ArrayBuffer; none aliases native memory.
   *
   * @throws RnnkitError ERR_DISPOSED after dispose(); ERR_BUSY while a call runs
   * @example
   * const w = model.getWeights();
   * w['layers.0.weight_hh_l0'].shape; // [4 * H, H] for an LSTM
   */
  getWeights(): Record<string, Tensor> {
    const handle = this.#alive();
    this.#idle();
    let block: FloatArray;
    try {
      block = handle.getParams();
    } catch (err) {
      throw fromNative(err);
    }
    return this.#split(block);
  }

  /**
   * Overwrites any subset of the weights. Each value is a Tensor of the
   * weight's exact shape or a Float32Array / Float64Array of its size
   * (converted to the model's dtype). Everything is checked before anything
   * is written.
   *
   * @throws TypeError when `weights` is not an object or a value is not a Tensor / float array
   * @throws RangeError for an unknown weight name, a wrong shape or size, or a non-finite value
   * @throws RnnkitError ERR_DISPOSED after dispose(); ERR_BUSY while a call runs
   * @example
   * model.setWeights({ 'layers.0.bias_ih_l0': new Float32Array(4 * 32).fill(0.1) });
   */
  setWeights(weights: Record<string, Tensor | FloatArray>): void {
    const handle = this.#alive();
    this.#idle();
    const given = object(weights, 'weights');
    const writes: [WeightEntry, FloatArray][] = Object.keys(given).map((key) => {
      const entry = this.#byName.get(key);
      if (!entry) throw rangeError('a weight name of this model (see model.weightNames)', 'weights', key);
      return [entry, floatData(given[key], entry.shape, `weights['${key}']`, this.config.dtype)];
    });
    try {
      for (const [entry, data] of writes) handle.setParams(entry.offset, data);
    } catch (err) {
      throw fromNative(err);
    }
  }

  /**
   * Runs the model in inference mode (no dropout) and returns its output:
   * [B, T, K] when the last recurrent layer returns sequences, else [B, K];
   * padded steps are 0.
   *
   * @throws TypeError / RangeError for invalid inputs or options (the Promise rejects)
   * @throws RnnkitError ERR_BUSY, ERR_DISPOSED or ERR_NATIVE (the Promise rejects)
   * @example
   * const y = await model.predict([[1, 2, 3], [4, 5]]);
   * y.shape; // [2, 3, K]
   */
  async predict(inputs: ModelInput, options?: CallOptions): Promise<Tensor> {
    const site = callSite();
    const handle = this.#alive();
    const opts = this.#options(options, COMMON_KEYS);
    const batch = this.#batch(inputs, opts);
    const res = await this.#run(site, () => handle.forward(batch, false));
    return tensor(res.output, res.outputShape);
  }

  /**
   * Runs the model and returns its output and each recurrent layer's final
   * state (at each row's last valid step), for carrying state across calls
   * (truncated BPTT, generation).
   *
   * @throws TypeError / RangeError for invalid inputs or options (the Promise rejects)
   * @throws RnnkitError ERR_BUSY, ERR_DISPOSED or ERR_NATIVE (the Promise rejects)
   * @example
   * const { output, finalState } = await model.forward(x);
   * const next = await model.forward(x2, { initialState: finalState });
   */
  forward(inputs: ModelInput, options?: ForwardOptions): Promise<ForwardResult> {
    return this.#forward(inputs, options, true);
  }

  /** forward(); with `wantOutput` false the output stays native (its data comes back empty). */
  async #forward(inputs: ModelInput, options: ForwardOptions | undefined, wantOutput: boolean): Promise<ForwardResult> {
    const site = callSite();
    const handle = this.#alive();
    const opts = this.#options(options, [...COMMON_KEYS, 'training']);
    const training = withDefault(opts.training, false, (v) => boolean(v, 'options.training'));
    const batch = this.#batch(inputs, opts);
    const res = await this.#run(site, () => handle.forward(batch, training, wantOutput));
    return {
      output: tensor(res.output, res.outputShape),
      finalState: stateTensors(res.finalStates, this.#states, batch.B),
    };
  }

  /**
   * Computes the loss and its gradient with respect to every weight and each
   * recurrent layer's initial state, without changing the weights. Dropout is
   * active unless `training: false`; it does not advance the dropout mask, so
   * repeated calls see the same mask.
   *
   * @throws TypeError / RangeError for invalid inputs, targets or options (the Promise rejects)
   * @throws RnnkitError ERR_BUSY, ERR_DISPOSED or ERR_NATIVE (the Promise rejects)
   * @example
   * const { loss, grads } = await model.gradients([[1, 2, 3]], [[2, 3, 4]]);
   * grads['layers.0.weight_ih_l0'].shape; // same as the weight
   */
  gradients(inputs: ModelInput, targets: Targets, options?: GradientsOptions): Promise<GradientsResult> {
    return this.#gradients(inputs, targets, options, true);
  }

  /** gradients(); with `wantGrads` false the gradient stays native (for stepTogether) and `grads` is {}. */
  async #gradients(inputs: ModelInput, targets: Targets, options: GradientsOptions | undefined, wantGrads: boolean): Promise<GradientsResult> {
    const site = callSite();
    const handle = this.#alive();
    const opts = this.#options(options, [...COMMON_KEYS, 'training']);
    const training = withDefault(opts.training, true, (v) => boolean(v, 'options.training'));
    const batch = this.#batch(inputs, opts);
    const t = toTargets(targets, batch, this.#shapes[this.#shapes.length - 1]!, this.config.loss, this.config.dtype);
    const res = await this.#run(site, () => handle.gradients(batch, t, training, wantGrads));
    return { loss: res.loss, ...this.#gradientParts(res, batch.B) };
  }

  /** The named gradients (when they came back), the initial-state and the condition gradients. */
  #gradientParts(res: Omit<NativeGradientsResult, 'loss'>, B: number): Omit<GradientsResult, 'loss'> {
    return {
      grads: res.grads.length > 0 ? this.#split(res.grads) : {},
      initialStateGrads: stateTensors(res.stateGrads, this.#states, B),
      ...(res.dCondition ? { conditionGrad: tensor(res.dCondition, [B, this.config.condition!.features]) } : {}),
    };
  }

  /**
   * One optimizer step on a batch: forward with dropout, loss, BPTT,
   * clipping (by value, then by global norm), update. Returns the loss before
   * the update and the gradient norm before clipping.
   *
   * @throws TypeError / RangeError for invalid inputs, targets or options (the Promise rejects)
   * @throws RnnkitError ERR_NONFINITE when the loss, the gradient or the updated weights would
   *   not be finite (the weights, optimizer moments and counters are left unchanged; with
   *   `nonFinite: 'skip'` the Promise resolves with `skipped: true` instead), ERR_BUSY,
   *   ERR_DISPOSED or ERR_NATIVE (the Promise rejects)
   * @example
   * for (let i = 0; i < 100; i++) {
   *   const { loss } = await model.trainStep(x, y, { optimizer: { type: 'adam', lr: 1e-2 }, clipNorm: 5 });
   * }
   */
  async trainStep(inputs: ModelInput, targets: Targets, options?: TrainStepOptions): Promise<TrainStepResult> {
    const site = callSite();
    const handle = this.#alive();
    const opts = this.#options(options, [...COMMON_KEYS, 'optimizer', 'clipValue', 'clipNorm', 'returnState', 'nonFinite']);
    const nonFinite = withDefault(opts.nonFinite, 'throw' as const, nonFiniteOption);
    const optimizer = toNativeOptimizer(opts.optimizer, opts.clipValue, opts.clipNorm);
    const returnState = withDefault(opts.returnState, false, (v) => boolean(v, 'options.returnState'));
    const batch = this.#batch(inputs, opts);
    const t = toTargets(targets, batch, this.#shapes[this.#shapes.length - 1]!, this.config.loss, this.config.dtype);
    // the native step checks before it writes: nothing changed, so skipping is safe
    const res = await skipNonFinite(nonFinite === 'skip', () => this.#run(site, () => handle.trainStep(batch, t, optimizer, returnState)));
    if ('skipped' in res) return res;
    return {
      loss: res.loss,
      gradNorm: res.gradNorm,
      ...(res.finalStates ? { finalState: stateTensors(res.finalStates, this.#states, batch.B) } : {}),
    };
  }

  /**
   * Scores one batch in inference mode (no dropout, no gradients): the loss
   * summed over valid positions, their count, how many were right, and the
   * final states. {@link Model.evaluate} runs it over a dataset.
   *
   * @throws TypeError / RangeError for invalid inputs, targets or options (the Promise rejects)
   * @throws RnnkitError ERR_BUSY, ERR_DISPOSED or ERR_NATIVE (the Promise rejects)
   * @example
   * const { lossSum, count } = await model.evaluateBatch([[2, 5, 6]], [[5, 6, 3]]);
   */
  async evaluateBatch(inputs: ModelInput, targets: Targets, options?: CallOptions): Promise<BatchEvaluation> {
    const site = callSite();
    const handle = this.#alive();
    const opts = this.#options(options, COMMON_KEYS);
    const batch = this.#batch(inputs, opts);
    const t = toTargets(targets, batch, this.#shapes[this.#shapes.length - 1]!, this.config.loss, this.config.dtype);
    const res = await this.#run(site, () => handle.evaluate(batch, t));
    return { lossSum: res.lossSum, count: res.count, correct: res.correct, finalState: stateTensors(res.finalStates, this.#states, batch.B) };
  }

  /**
   * Backpropagation from given upstream gradients instead of a loss (a
   * vector-Jacobian product): `outputGrad` shaped like the output of
   * {@link Model.forward} and `finalStateGrads`, per recurrent layer, shaped
   * like its final state (missing = zeros). Chains models: an encoder under a
   * decoder gets the decoder's initial-state gradient here. The weights do not
   * change; pass the gradients to {@link Model.applyGradients}.
   *
   * @throws TypeError / RangeError for invalid inputs, gradients or options (the Promise rejects)
   * @throws RnnkitError ERR_BUSY, ERR_DISPOSED or ERR_NATIVE (the Promise rejects)
   * @example
   * const { grads } = await encoder.backwardFrom(src, { finalStateGrads: [{ h: dh, c: dc }] });
   */
  backwardFrom(inputs: ModelInput, options?: BackwardFromOptions): Promise<Omit<GradientsResult, 'loss'>> {
    return this.#backwardFrom(inputs, options, true);
  }

  /** backwardFrom(); with `wantGrads` false the gradient stays native (for stepTogether) and `grads` is {}. */
  async #backwardFrom(inputs: ModelInput, options: BackwardFromOptions | undefined, wantGrads: boolean): Promise<Omit<GradientsResult, 'loss'>> {
    const site = callSite();
    const handle = this.#alive();
    const opts = this.#options(options, [...COMMON_KEYS, 'training', 'outputGrad', 'finalStateGrads']);
    const training = withDefault(opts.training, true, (v) => boolean(v, 'options.training'));
    const batch = this.#batch(inputs, opts);
    const outputGrad =
      opts.outputGrad === undefined ? null : floatData(opts.outputGrad, this.outputShape(batch.B, batch.T), 'options.outputGrad', this.config.dtype);
    const finals = toInitialStates(opts.finalStateGrads, this.#states, batch.B, this.config.dtype, 'options.finalStateGrads') ?? null;
    const res = await this.#run(site, () => handle.backwardFrom(batch, training, outputGrad, finals, wantGrads));
    return this.#gradientParts(res, batch.B);
  }

  /**
   * One optimizer step with a given gradient (keyed like {@link Model.getWeights};
   * missing weights count as zero): element-wise clipping, then global-norm
   * clipping, then the update. Returns the gradient norm before clipping.
   *
   * @throws TypeError / RangeError for unknown names, wrong sizes or options
   * @throws RnnkitError ERR_NONFINITE (weights unchanged), ERR_BUSY, ERR_DISPOSED (the Promise rejects)
   * @example
   * await model.applyGradients(grads, { optimizer: { type: 'adam', lr: 1e-3 }, clipNorm: 5 });
   */
  async applyGradients(
    grads: Record<string, Tensor | FloatArray>,
    options?: { optimizer?: OptimizerConfig; clipValue?: number; clipNorm?: number },
  ): Promise<{ gradNorm: number }> {
    const site = callSite();
    const handle = this.#alive();
    const opts = this.#options(options, ['optimizer', 'clipValue', 'clipNorm']);
    const optimizer = toNativeOptimizer(opts.optimizer, opts.clipValue, opts.clipNorm);
    const given = object(grads, 'grads');
    const Float = this.config.dtype === 'float64' ? Float64Array : Float32Array;
    const block = new Float(this.numParams);
    for (const key of Object.keys(given)) {
      const entry = this.#byName.get(key);
      if (!entry) throw rangeError('a weight name of this model (see model.weightNames)', 'grads', key);
      block.set(floatData(given[key], entry.shape, `grads['${key}']`, this.config.dtype), entry.offset);
    }
    return this.#run(site, () => handle.applyGradients(block, optimizer));
  }

  /**
   * Trains on a dataset for some epochs (see {@link FitOptions}); returns the
   * history of losses, validation metrics and throughput.
   *
   * @throws TypeError / RangeError for a malformed dataset or options (the Promise rejects)
   * @throws RnnkitError ERR_NONFINITE, ERR_BUSY, ERR_DISPOSED or ERR_NATIVE (the Promise rejects)
   * @example
   * const data = languageModelData(names.map((s) => tok.encode(s)), { bos: tok.bosId, eos: tok.eosId });
   * const history = await model.fit(data, { epochs: 10, batchSize: 32, optimizer: { type: 'adam', lr: 3e-3 } });
   */
  fit(data: Dataset, options?: FitOptions): Promise<History> {
    return fit(this, data, options);
  }

  /**
   * Loss, perplexity, bits per token and accuracy over a dataset, in inference mode.
   *
   * @throws TypeError / RangeError for a malformed dataset or options (the Promise rejects)
   * @throws RnnkitError ERR_BUSY, ERR_DISPOSED or ERR_NATIVE (the Promise rejects)
   * @example
   * const { bitsPerToken } = await model.evaluate(heldOut);
   */
  evaluate(data: Dataset, options?: { batchSize?: number }): Promise<Evaluation> {
    return evaluate(this, data, options);
  }

  /**
   * Samples token sequences (see {@link GenerateOptions}): starts from the
   * prime (default `<bos>` of the attached tokenizer), feeds each sampled
   * token back, stops at a stop token (not included) or maxLength, never
   * produces a banned token. The same seed gives the same output.
   *
   * @throws TypeError / RangeError for invalid options, or a model that is not a language model (the Promise rejects)
   * @throws RnnkitError ERR_BUSY, ERR_DISPOSED or ERR_NATIVE (the Promise rejects)
   * @example
   * const ids = await model.generate({ maxLength: 40, n: 5, temperature: 0.8, seed: 7, stopTokens: [3], banTokens: [0, 1, 2] });
   */
  async generate(options?: GenerateOptions): Promise<number[][]> {
    const site = callSite();
    const handle = this.#alive();
    this.#languageModel();
    const vocab = (this.config.input as { vocabSize: number }).vocabSize;
    const outputs = this.outputShape(1, 1).at(-1)!;
    // checked before destructuring: a number or string would otherwise destructure to {}
    const { condition, initialState, ...rest } = optionalObject(options, 'options') as GenerateOptions & { condition?: unknown; initialState?: unknown };
    const g = generateOptions(rest, vocab, outputs, this.tokenizer?.bosId);
    const states = toInitialStates(initialState, this.#states, g.n, this.config.dtype) ?? null;
    let cond: FloatArray | null = null;
    if (this.config.condition && !states?.[0]) {
      if (condition === undefined) throw typeError(`a conditioning vector (the model was built with a condition)`, 'options.condition', undefined);
      cond = this.#sampleConditions(condition, g.n);
    } else if (condition !== undefined) {
      throw rangeError('no condition (the model was built without one, or initialState[0] is given)', 'options.condition', condition);
    }
    const res = await this.#run(site, () => handle.generate(g, states, cond));
    return res.map((a) => Array.from(a));
  }

  /**
   * A zero state for {@link Model.step}: per recurrent layer, h (and c for
   * LSTM) of shape [dirs, batch, H].
   *
   * @throws TypeError when batch is not a number
   * @throws RangeError when batch is not an integer in [1, 1e5]
   * @example
   * let state = model.initialState();
   */
  initialState(batch = 1): StateTensors[] {
    const B = integer(batch, 'batch', 1, 1e5);
    const Float = this.config.dtype === 'float64' ? Float64Array : Float32Array;
    return this.#states.map((s) => {
      const shape = [s.dirs, B, s.units];
      const n = s.dirs * B * s.units;
      return s.hasCell ? { h: tensor(new Float(n), shape), c: tensor(new Float(n), shape) } : { h: tensor(new Float(n), shape) };
    });
  }

  /**
   * One step of a language model for interactive use: feeds one token per
   * row from the given state and returns the next-token probabilities and
   * the new state.
   *
   * @throws TypeError / RangeError for an invalid state or token ids (the Promise rejects)
   * @throws RnnkitError ERR_BUSY, ERR_DISPOSED or ERR_NATIVE (the Promise rejects)
   * @example
   * let state = model.initialState();
   * const { probs, state: next } = await model.step(state, tok.bosId);
   */
  async step(state: readonly LayerState[], tokens: number | readonly number[]): Promise<StepResult> {
    this.#languageModel();
    const ids = typeof tokens === 'number' ? [tokens] : tokens;
    if (!Array.isArray(ids)) throw typeError('a token id or an array of token ids (one per row)', 'tokens', tokens);
    const { output, finalState } = await this.forward(
      ids.map((t: number) => [t]),
      { initialState: state as LayerState[] },
    );
    const V = output.shape[2]!;
    const probs = output.data;
    const last = this.config.layers[this.config.layers.length - 1]!;
    if (last.type === 'dense' && last.activation === 'linear') softmaxRows(probs, V);
    return { probs, state: finalState };
  }

  /**
   * Writes the model to one file: the configuration, the weights, the
   * optimizer state, the training counters (epochs, dropout step) and the
   * attached tokenizer. The write is atomic (temporary file, fsync, rename):
   * an error or a crash never leaves a half-written file or loses the old
   * one. Load it with {@link load}.
   *
   * @throws TypeError when `path` is not a non-empty string
   * @throws RnnkitError ERR_CHECKPOINT when the file cannot be written (the message names it); ERR_BUSY / ERR_DISPOSED
   * @example
   * await model.save('names.rnnkit');
   * const again = await load('names.rnnkit');
   */
  async save(path: string): Promise<void> {
    if (typeof path !== 'string' || path === '') throw typeError('a non-empty string', 'path', path);
    await writeCheckpoint(path, this.toCheckpoint());
  }

  /**
   * Writes the weights to a safetensors file with PyTorch's names and layouts
   * (`layers.0.weight_ih_l0` [G*H, D], `layers.1.weight` [out, in], gate
   * order LSTM i,f,g,o, GRU r,z,n), plus metadata (the config, the tokenizer)
   * from which {@link loadSafetensors} rebuilds the model alone. Weights only:
   * no optimizer state or training counters (use {@link Model.save} to resume
   * training). Peephole weights (`weight_peephole_l0`), the minimal GRU
   * (G = 2: u, c~) and the GRU with `resetAfter: false` have no PyTorch
   * module: they are saved under rnnkit's names and marked in the config, and
   * the torch side must refuse them (docs/interop.md). The write is atomic.
   *
   * `options.names` maps layer prefixes to the file's prefixes to match a
   * torch module, e.g. `{ 'layers.0': 'rnn', 'layers.1': 'fc' }`; recurrent
   * layers mapped to one prefix become the layers of one multi-layer module
   * (`_l0`, `_l1`, ...). `options.dtype` ('float32' | 'float64', default the
   * model's) sets the file's element type; `options.metadata` adds string
   * entries to `__metadata__`.
   *
   * @throws TypeError when `path` is not a non-empty string or an option has the wrong type (the Promise rejects)
   * @throws RangeError for an unknown layer prefix in `options.names`, layers that cannot share a prefix, or a reserved metadata key (the Promise rejects)
   * @throws RnnkitError ERR_SAFETENSORS when the file cannot be written (the message names it); ERR_BUSY / ERR_DISPOSED
   * @example
   * await model.saveSafetensors('lm.safetensors', { names: { 'layers.0': 'rnn', 'layers.1': 'fc' } });
   * // torch: net.load_state_dict(safetensors.torch.load_file('lm.safetensors'))
   */
  async saveSafetensors(path: string, options?: SaveSafetensorsOptions): Promise<void> {
    if (typeof path !== 'string' || path === '') throw typeError('a non-empty string', 'path', path);
    const { tensors, metadata } = safetensorsParts(this, options);
    await writeSafetensors(path, tensors, metadata);
  }

  /**
   * Reads a model from a safetensors file. See {@link loadSafetensors}.
   *
   * @throws TypeError / RangeError for invalid arguments (the Promise rejects)
   * @throws RnnkitError ERR_SAFETENSORS for an unreadable, malformed or unfitting file (the message names it and the tensor)
   * @example
   * const model = await Model.loadSafetensors('lm.safetensors');
   */
  static async loadSafetensors(path: string, options?: LoadSafetensorsOptions): Promise<Model> {
    if (typeof path !== 'string' || path === '') throw typeError('a non-empty string', 'path', path);
    const plan = loadPlan(options);
    const content = await readSafetensors(path);
    return modelFromSafetensors(content, path, plan, (config) => new Model(config));
  }

  /**
   * The model as checkpoint parts (a JSON header and named arrays), taken
   * synchronously so it is one consistent snapshot. {@link Model.save} writes
   * them; containers of several models (seq2seq) embed them.
   *
   * @throws RnnkitError ERR_BUSY / ERR_DISPOSED
   * @example
   * const { header, arrays } = model.toCheckpoint();
   */
  toCheckpoint(): CheckpointParts {
    const handle = this.#alive();
    this.#idle();
    const params = handle.getParams();
    const training = handle.getTrainingState();
    const header = {
      format: MODEL_FORMAT,
      version: MODEL_VERSION,
      config: this.config,
      tokenizer: this.tokenizer ? this.tokenizer.toJSON() : null,
      epoch: this.epoch,
      step: training.step,
      optimizer: { type: training.optimizer.type, steps: training.optimizer.steps },
      weights: this.#weights.map((w) => ({ name: w.name, shape: w.shape, offset: w.offset, size: w.size })),
    };
    return {
      header,
      arrays: [
        { name: 'params', data: params },
        { name: 'optimizer.m', data: training.optimizer.m },
        { name: 'optimizer.v', data: training.optimizer.v },
      ],
    };
  }

  /**
   * Reads a model written by {@link Model.save}. See {@link load}.
   *
   * @throws TypeError when `path` is not a non-empty string
   * @throws RnnkitError ERR_CHECKPOINT for a missing, truncated, corrupted, foreign or incompatible file (the message names it)
   * @example
   * const model = await Model.load('names.rnnkit');
   */
  static async load(path: string): Promise<Model> {
    return Model.fromCheckpoint(await readCheckpoint(path), path);
  }

  /**
   * Rebuilds a model from {@link Model.toCheckpoint} parts; `file` names the
   * source in error messages.
   *
   * @throws RnnkitError ERR_CHECKPOINT when the parts do not describe a valid model
   * @example
   * const copy = Model.fromCheckpoint(model.toCheckpoint(), 'memory');
   */
  static fromCheckpoint(parts: CheckpointParts, file: string): Model {
    const { header, arrays } = parts;
    const path = file;
    const bad = (what: string, cause?: unknown): RnnkitError =>
      new RnnkitError('ERR_CHECKPOINT', `Invalid model file '${path}': ${what}`, cause === undefined ? undefined : { cause });
    if (header.format !== MODEL_FORMAT) throw bad(`not an rnnkit model (format ${JSON.stringify(header.format)})`);
    if (header.version !== MODEL_VERSION) {
      throw bad(`model format version ${JSON.stringify(header.version)}; this rnnkit reads version ${MODEL_VERSION}`);
    }
    let model: Model;
    try {
      model = new Model(header.config as SequentialConfig);
    } catch (err) {
      throw bad(`its configuration is not valid here (${(err as Error).message})`, err);
    }
    try {
      const byName = new Map(arrays.map((a) => [a.name, a.data]));
      const params = byName.get('params');
      const Float = model.config.dtype === 'float64' ? Float64Array : Float32Array;
      if (!(params instanceof Float) || params.length !== model.numParams) {
        throw bad(`expected ${model.numParams} ${model.config.dtype} parameters`);
      }
      const weights = header.weights;
      if (
        !Array.isArray(weights) ||
        weights.length !== model.#weights.length ||
        weights.some((w, i) => {
          const e = model.#weights[i]!;
          const x = w as { name?: unknown; offset?: unknown; shape?: unknown };
          return x.name !== e.name || x.offset !== e.offset || JSON.stringify(x.shape) !== JSON.stringify(e.shape);
        })
      ) {
        throw bad('its weight table does not match its configuration');
      }
      const handle = model.#alive();
      handle.setParams(0, params);
      const opt = header.optimizer as { type?: unknown; steps?: unknown } | undefined;
      const m = byName.get('optimizer.m');
      const v = byName.get('optimizer.v');
      if (!opt || !(m instanceof Float) || !(v instanceof Float)) throw bad('the optimizer state is missing');
      handle.setTrainingState({
        step: header.step as number,
        optimizer: { type: opt.type as NativeTrainingState['optimizer']['type'], steps: opt.steps as number, m, v },
      });
      const epoch = header.epoch;
      if (typeof epoch !== 'number' || !Number.isInteger(epoch) || epoch < 0) throw bad('the epoch counter is not a non-negative integer');
      model.epoch = epoch;
      if (header.tokenizer !== null && header.tokenizer !== undefined) model.tokenizer = tokenizerFromJSON(header.tokenizer);
    } catch (err) {
      model.dispose();
      if (err instanceof RnnkitError && err.code === 'ERR_CHECKPOINT') throw err;
      throw bad((err as Error).message, err);
    }
    return model;
  }

  #languageModel(): void {
    const last = this.#shapes[this.#shapes.length - 1]!;
    if (!('vocabSize' in this.config.input) || !last.seq || this.config.loss !== 'crossEntropy') {
      throw rangeError('a language model (token input, sequence output, crossEntropy loss)', 'model', received('this model'));
    }
    const bi = this.config.layers.findIndex((l) => 'bidirectional' in l && l.bidirectional);
    if (bi >= 0) {
      throw rangeError('unidirectional recurrent layers (sampling cannot read the future)', `model.config.layers[${bi}].bidirectional`, true);
    }
  }

  /**
   * Frees the native memory now (otherwise the garbage collector does it).
   * A call still running finishes first and the memory is freed when it
   * ends. Later calls fail with code `ERR_DISPOSED`; calling dispose() again
   * does nothing.
   *
   * @throws never in normal use (a native failure would be an RnnkitError)
   * @example
   * model.dispose();
   */
  dispose(): void {
    if (this.#handle === null) return;
    try {
      this.#handle.dispose();
    } catch (err) {
      throw fromNative(err);
    }
    this.#handle = null;
  }

  #alive(): NativeModel {
    if (this.#handle === null) throw new RnnkitError('ERR_DISPOSED', 'rnnkit: the model has been disposed');
    return this.#handle;
  }

  /** Sync methods must not read or write the weights while a call runs (a trainStep may be updating them). */
  #idle(): void {
    if (this.#inflight > 0) {
      throw new RnnkitError('ERR_BUSY', 'rnnkit: the model is busy with another call; await it first');
    }
  }

  /** Every async native call goes through here: counted per model (ERR_BUSY) and per JS thread (setThreads). */
  async #run<T>(site: Error, fn: () => Promise<T>): Promise<T> {
    this.#inflight++;
    try {
      return await trackCall(() => nativeCall(site, fn));
    } finally {
      this.#inflight--;
    }
  }

  #options(options: unknown, keys: readonly string[]): Dict {
    const opts = optionalObject(options, 'options');
    knownKeys(opts, keys, 'options');
    return opts;
  }

  #batch(inputs: unknown, opts: Dict): NativeBatch {
    const batch: NativeBatch = toBatch(inputs, this.#input, opts.lengths);
    const states = toInitialStates(opts.initialState, this.#states, batch.B, this.config.dtype);
    if (states) batch.initialStates = states;
    const condition = this.#condition(opts.condition, batch.B, 'options.condition');
    if (condition) {
      if (states?.[0]) {
        throw rangeError('no initialState[0] when a condition is given (the condition sets it)', 'options.initialState[0]', received('a state'));
      }
      batch.condition = condition;
    } else if (this.config.condition && !states?.[0]) {
      throw typeError(`conditioning vectors [B, ${this.config.condition.features}] (the model was built with a condition)`, 'options.condition', undefined);
    }
    return batch;
  }

  /** One conditioning vector for all n samples, or one per sample, as n checked rows. */
  #sampleConditions(value: unknown, n: number): FloatArray {
    const k = this.config.condition!.features;
    const single = isFloatArray(value) ? value.length === k : Array.isArray(value) && !Array.isArray(value[0]);
    const rows = single ? Array.from({ length: n }, () => Array.from(value as ArrayLike<number>)) : value;
    return this.#condition(rows, n, 'options.condition', 'one vector for all samples, or one per sample (options.n)')!;
  }

  /** Checks conditioning vectors for B rows; undefined when none were given. */
  #condition(value: unknown, B: number, name: string, rowsAre = 'one per row of inputs'): FloatArray | undefined {
    if (value === undefined) return undefined;
    const k = this.config.condition?.features;
    if (k === undefined) throw rangeError('no condition (the model was built without one)', name, value);
    if (Array.isArray(value)) {
      if (value.length !== B) throw rangeError(`${B} rows (${rowsAre})`, name, received(`${value.length} rows`));
      const Float = this.config.dtype === 'float64' ? Float64Array : Float32Array;
      const out = new Float(B * k);
      value.forEach((row: unknown, b) => {
        if (!Array.isArray(row)) throw typeError(`an array of ${k} numbers`, `${name}[${b}]`, row);
        if (row.length !== k) throw rangeError(`${k} numbers`, `${name}[${b}]`, received(`length ${row.length}`));
        row.forEach((v: unknown, j) => {
          if (typeof v !== 'number') throw typeError('a number', `${name}[${b}][${j}]`, v);
          if (!Number.isFinite(v)) throw rangeError('a finite number', `${name}[${b}][${j}]`, v);
          out[b * k + j] = v;
        });
      });
      return out;
    }
    return floatData(value, [B, k], name, this.config.dtype);
  }

  #split(block: FloatArray): Record<string, Tensor> {
    const out: Record<string, Tensor> = {};
    for (const w of this.#weights) out[w.name] = tensor(block.subarray(w.offset, w.offset + w.size), w.shape);
    return out;
  }
}

/**
 * Builds a sequential model: token or feature input, a stack of layers
 * (recurrent, dense, dropout), a loss. Weights are initialised from `seed`
 * (the same seed gives the same weights).
 *
 * Config: `input` ({ vocabSize } or { features }, positive integers);
 * `layers` (at least one; from {@link layers}); `loss` 'crossEntropy'
 * (default) | 'binaryCrossEntropy' | 'mse'; `reduction` 'mean' (default) |
 * 'sum'; `seed` uint32 (default 0); `dtype` 'float32' (default) | 'float64'.
 *
 * @throws TypeError for a wrongly typed field or an unknown key
 * @throws RangeError for an out-of-range value, no layers, duplicate layer
 *   names, a recurrent layer after one with returnSequences false, a token
 *   input starting with dropout, or a last layer that does not fit the loss
 *   (crossEntropy: dense softmax/linear; binaryCrossEntropy: dense sigmoid/linear)
 * @example
 * const model = sequential({
 *   input: { vocabSize: 27 },
 *   layers: [layers.lstm({ units: 32 }), layers.dense({ units: 27, activation: 'softmax' })],
 *   seed: 1,
 * });
 * const probs = await model.predict([[1, 2, 3]]); // shape [1, 3, 27]
 */
export function sequential(config: SequentialConfig): Model {
  return new Model(config);
}

/**
 * Reads a model written by `model.save(path)`: it predicts exactly what the
 * saved model did, and training continues as if never interrupted (optimizer
 * moments, epoch and dropout counters are restored); the tokenizer comes
 * back as `model.tokenizer`.
 *
 * @throws TypeError when `path` is not a non-empty string
 * @throws RnnkitError ERR_CHECKPOINT for a missing, truncated, corrupted, foreign or incompatible file (the message names it)
 * @example
 * const model = await load('names.rnnkit');
 * console.log(await generateText(model, model.tokenizer!, { n: 5 }));
 */
export function load(path: string): Promise<Model> {
  return Model.load(path);
}

/**
 * Reads a model from a safetensors file, e.g. one written by
 * {@link Model.saveSafetensors} or a PyTorch state_dict saved with
 * `safetensors.torch.save_file`. The model is built from `options.config`
 * (a `sequential()` config) or else from the config in the file's metadata;
 * each weight is looked up under its PyTorch name (mapped by `options.names`,
 * else by the map stored in the file), must be present with its exact shape,
 * and is converted (F32 / F64) to the model's dtype. With `strict` (default
 * true) a tensor the model has no weight for is an error. The tokenizer in
 * the metadata, if any, comes back as `model.tokenizer`.
 *
 * @throws TypeError when `path` is not a non-empty string or an option has the wrong type (the Promise rejects)
 * @throws TypeError / RangeError for an invalid `options.config` (as {@link sequential}) or an `options.names` that does not fit it (the Promise rejects)
 * @throws RnnkitError ERR_SAFETENSORS naming the file (and the tensor) when it
 *   cannot be read, is not a valid safetensors file of F32 / F64 tensors, has
 *   no config and none was given, or lacks a weight, has one of the wrong
 *   shape, a non-finite value, or (strict) an extra tensor
 * @example
 * // a torch model: class Net(nn.Module) with self.rnn = nn.LSTM(V, 64, batch_first=True), self.fc = nn.Linear(64, V)
 * const model = await loadSafetensors('net.safetensors', {
 *   config: { input: { vocabSize: V }, layers: [layers.lstm({ units: 64 }), layers.dense({ units: V })] },
 *   names: { 'layers.0': 'rnn', 'layers.1': 'fc' },
 * });
 */
export function loadSafetensors(path: string, options?: LoadSafetensorsOptions): Promise<Model> {
  return Model.loadSafetensors(path, options);
}
