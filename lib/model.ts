/**
 * `sequential(config)` and the `Model` it returns: a compute handle (named weights, forward, gradients, steps, dispose) over the
 * native model. Training loops (train.ts), sampling (sample.ts), files (io/model-file.ts) and the summary (summary.ts) are modules
 * of functions over a model; the methods here that name them only delegate.
 */
import type { BackwardFromOptions, BatchEvaluation, CallOptions, ForwardOptions, ForwardResult } from './calls.js';
import type { GradientsOptions, GradientsResult, StepResult, TrainStepOptions, TrainStepResult } from './calls.js';
import { namedTensors, registerHandle, splitBlock, weightTable, type ForwardHow, type WeightEntry } from './compute.js';
import { layerShapes, nativeSpec, normalizeConfig, type LayerShape, type ModelConfig, type SequentialConfig } from './config.js';
import type { Dataset } from './data.js';
import { callSite, fromNative, nativeCall, RnnkitError } from './errors.js';
import { callBatch, type InputSpec } from './inputs.js';
import type { LoadSafetensorsOptions, SaveSafetensorsOptions } from './interop.js';
import type { CheckpointParts } from './io.js';
import * as files from './io/model-file.js';
import { native, type NativeBatch, type NativeGradientsResult, type NativeMemory } from './native.js';
import type { NativeModel, NativeStateInfo, NativeTargets } from './native.js';
import { toNativeOptimizer, type OptimizerConfig } from './optimizer.js';
import { trackCall } from './runtime.js';
import * as sampling from './sample.js';
import type { GenerateOptions } from './sample.js';
import { stateTensors, toInitialStates } from './state.js';
import { summary } from './summary.js';
import { toTargets } from './targets.js';
import { floatData, tensor } from './tensor.js';
import type { Tokenizer } from './tokenizers/index.js';
import { evaluate, fit, nonFiniteOption, skipNonFinite, whenBusyOption, type Evaluation, type FitOptions, type History } from './train.js';
import type { FloatArray, LayerState, ModelInput, StateTensors, Targets, Tensor } from './types.js';
import { boolean, knownKeys, optionalObject, withDefault } from './validate.js';

const COMMON_KEYS = ['lengths', 'initialState', 'condition', 'memory'] as const;
const TRAIN_KEYS = [...COMMON_KEYS, 'optimizer', 'clipValue', 'clipNorm', 'labelSmoothing', 'returnState', 'nonFinite', 'whenBusy'];

/**
 * A sequential recurrent model. Create it with {@link sequential} (or `new Model(config)`, which is the same). Async methods run
 * on a worker thread; inference calls run together, a call that changes the model alone (a conflicting call rejects with code
 * `ERR_BUSY`; docs/api.md, Conventions). Call {@link Model.dispose} to free native memory early.
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
    this.#weights = weightTable(handle.paramTable(), this.config.layers);
    this.#byName = new Map(this.#weights.map((w) => [w.name, w]));
    this.#states = Object.freeze(handle.stateTable().map((s) => Object.freeze({ ...s })));
    this.weightNames = Object.freeze(this.#weights.map((w) => w.name));
    this.numParams = handle.numParams;
    // what the modules of functions over a model (compute.ts) may use; the calls keep their results native
    const [weights, states, shapes] = [this.#weights, this.#states, this.#shapes];
    registerHandle(this, {
      weights,
      states,
      shapes,
      idle: () => this.#idle(),
      native: () => this.#alive(),
      run: (site, fn) => this.#run(site, fn),
      forward: (x, o, how) => this.#forward(how ?? { wantOutput: false }, x, o),
      gradients: (x, y, o) => this.#gradients(false, x, y, o),
      backwardFrom: (x, o) => this.#backwardFrom(false, x, o),
    });
  }

  /** True after {@link Model.dispose}. */
  get disposed(): boolean {
    return this.#handle === null;
  }

  /**
   * The output shape of the model for a batch of B rows and T steps.
   * @throws never
   * @example
   * model.outputShape(2, 5); // [2, 5, 27] or [2, 27]
   */
  outputShape(B: number, T: number): number[] {
    const last = this.#shapes[this.#shapes.length - 1]!;
    return last.seq ? [B, T, last.width] : [B, last.width];
  }

  /**
   * A Keras-like table of the layers: name, type, output shape, parameter count ({@link summary}).
   * @throws never
   * @example
   * console.log(model.summary());
   */
  summary(): string {
    return summary(this);
  }

  /**
   * A copy of every weight, keyed by name (PyTorch layout, e.g. `layers.0.weight_ih_l0` of shape [G*H, D]). The Tensors of one
   * call may share one fresh ArrayBuffer; none aliases native memory.
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
    return splitBlock(this.#weights, block);
  }

  /**
   * Overwrites any subset of the weights. Each value is a Tensor of the weight's exact shape or a Float32Array / Float64Array of
   * its size (converted to the model's dtype). Everything is checked before anything is written.
   * @throws TypeError when `weights` is not an object or a value is not a Tensor / float array
   * @throws RangeError for an unknown weight name, a wrong shape or size, or a non-finite value
   * @throws RnnkitError ERR_DISPOSED after dispose(); ERR_BUSY while a call runs
   * @example
   * model.setWeights({ 'layers.0.bias_ih_l0': new Float32Array(4 * 32).fill(0.1) });
   */
  setWeights(weights: Record<string, Tensor | FloatArray>): void {
    const handle = this.#alive();
    this.#idle();
    const writes = namedTensors(this.#byName, weights, 'weights', this.config.dtype);
    try {
      for (const [entry, data] of writes) handle.setParams(entry.offset, data);
    } catch (err) {
      throw fromNative(err);
    }
  }

  /**
   * Runs the model in inference mode (no dropout) and returns its output: [B, T, K] when the last recurrent layer returns
   * sequences, else [B, K]; padded steps are 0.
   * @throws TypeError / RangeError for invalid inputs or options (the Promise rejects)
   * @throws RnnkitError ERR_BUSY, ERR_DISPOSED or ERR_NATIVE (the Promise rejects)
   * @example
   * const y = await model.predict([[1, 2, 3], [4, 5]]);
   * y.shape; // [2, 3, K]
   */
  async predict(inputs: ModelInput, options?: CallOptions): Promise<Tensor> {
    const { site, handle, batch } = this.#prepare(inputs, options, COMMON_KEYS);
    const res = await this.#run(site, () => handle.forward(batch, false));
    return tensor(res.output, res.outputShape);
  }

  /**
   * Runs the model and returns its output and each recurrent layer's final state (at each row's last valid step), for carrying
   * state across calls (truncated BPTT, generation).
   * @throws TypeError / RangeError for invalid inputs or options (the Promise rejects)
   * @throws RnnkitError ERR_BUSY, ERR_DISPOSED or ERR_NATIVE (the Promise rejects)
   * @example
   * const { output, finalState } = await model.forward(x);
   * const next = await model.forward(x2, { initialState: finalState });
   */
  forward(inputs: ModelInput, options?: ForwardOptions): Promise<ForwardResult> {
    return this.#forward({ wantOutput: true }, inputs, options);
  }

  /** forward(); with `wantOutput` false the output stays native (its data comes back empty); `rowExact`: Batch::rowExact. */
  async #forward(how: ForwardHow, inputs: ModelInput, options?: ForwardOptions): Promise<ForwardResult> {
    const { site, handle, opts, batch } = this.#prepare(inputs, options, [...COMMON_KEYS, 'training']);
    const training = withDefault(opts.training, false, (v) => boolean(v, 'options.training'));
    const res = await this.#run(site, () => handle.forward({ ...batch, rowExact: how.rowExact === true }, training, how.wantOutput));
    const output = tensor(res.output, res.outputShape);
    const finalState = stateTensors(res.finalStates, this.#states, batch.B);
    if (!res.attention) return { output, finalState };
    return { output, finalState, attention: tensor(res.attention, [batch.B, batch.T, batch.memory!.T]) };
  }

  /**
   * Computes the loss and its gradient with respect to every weight and each recurrent layer's initial state, without changing the
   * weights. Dropout is active unless `training: false`; it does not advance the dropout mask, so repeated calls see the same
   * mask.
   * @throws TypeError / RangeError for invalid inputs, targets or options (the Promise rejects)
   * @throws RnnkitError ERR_BUSY, ERR_DISPOSED or ERR_NATIVE (the Promise rejects)
   * @example
   * const { loss, grads } = await model.gradients([[1, 2, 3]], [[2, 3, 4]]);
   * grads['layers.0.weight_ih_l0'].shape; // same as the weight
   */
  gradients(inputs: ModelInput, targets: Targets, options?: GradientsOptions): Promise<GradientsResult> {
    return this.#gradients(true, inputs, targets, options);
  }

  /** gradients(); with `wantGrads` false the gradient stays native (for stepTogether) and `grads` is {}. */
  async #gradients(wantGrads: boolean, inputs: ModelInput, targets: Targets, options?: GradientsOptions): Promise<GradientsResult> {
    const { site, handle, opts, batch } = this.#prepare(inputs, options, [...COMMON_KEYS, 'training', 'labelSmoothing']);
    const training = withDefault(opts.training, true, (v) => boolean(v, 'options.training'));
    const t = this.#targets(targets, batch, opts.labelSmoothing);
    const res = await this.#run(site, () => handle.gradients(batch, t, training, wantGrads));
    return { loss: res.loss, ...this.#gradientParts(res, batch.B, batch.memory) };
  }

  /** The named gradients (when they came back), the initial-state and the condition gradients. */
  #gradientParts(res: Omit<NativeGradientsResult, 'loss'>, B: number, mem?: NativeMemory): Omit<GradientsResult, 'loss'> {
    return {
      grads: res.grads.length > 0 ? splitBlock(this.#weights, res.grads) : {},
      initialStateGrads: stateTensors(res.stateGrads, this.#states, B),
      ...(res.dCondition ? { conditionGrad: tensor(res.dCondition, [B, this.config.condition!.features]) } : {}),
      ...(res.dMemory ? { memoryGrad: tensor(res.dMemory, [mem!.B, mem!.T, res.dMemory.length / (mem!.B * mem!.T)]) } : {}),
    };
  }

  /**
   * One optimizer step on a batch: forward with dropout, loss, BPTT, clipping (by value, then by global norm), update. Returns the
   * loss before the update and the gradient norm before clipping.
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
    const { site, handle, opts, batch } = this.#prepare(inputs, options, TRAIN_KEYS);
    const nonFinite = withDefault(opts.nonFinite, 'throw' as const, nonFiniteOption);
    const optimizer = toNativeOptimizer(opts.optimizer, opts.clipValue, opts.clipNorm);
    const returnState = withDefault(opts.returnState, false, (v) => boolean(v, 'options.returnState'));
    const wait = whenBusyOption(opts.whenBusy) === 'wait';
    const t = this.#targets(targets, batch, opts.labelSmoothing);
    // the native step checks before it writes: nothing changed, so skipping is safe
    const res = await skipNonFinite(nonFinite === 'skip', () =>
      this.#run(site, () => handle.trainStep(batch, t, optimizer, returnState, wait)),
    );
    if ('skipped' in res) return res;
    return {
      loss: res.loss,
      gradNorm: res.gradNorm,
      ...(res.finalStates ? { finalState: stateTensors(res.finalStates, this.#states, batch.B) } : {}),
    };
  }

  /**
   * Scores one batch in inference mode (no dropout, no gradients): the loss summed over valid positions, their count, how many
   * were right, and the final states. {@link Model.evaluate} runs it over a dataset.
   * @throws TypeError / RangeError for invalid inputs, targets or options (the Promise rejects)
   * @throws RnnkitError ERR_BUSY, ERR_DISPOSED or ERR_NATIVE (the Promise rejects)
   * @example
   * const { lossSum, count } = await model.evaluateBatch([[2, 5, 6]], [[5, 6, 3]]);
   */
  async evaluateBatch(inputs: ModelInput, targets: Targets, options?: CallOptions): Promise<BatchEvaluation> {
    const { site, handle, batch } = this.#prepare(inputs, options, COMMON_KEYS);
    const t = this.#targets(targets, batch);
    const res = await this.#run(site, () => handle.evaluate(batch, t));
    const finalState = stateTensors(res.finalStates, this.#states, batch.B);
    return { lossSum: res.lossSum, count: res.count, correct: res.correct, finalState };
  }

  /**
   * Backpropagation from given upstream gradients instead of a loss (a vector-Jacobian product): `outputGrad` shaped like the
   * output of {@link Model.forward} and `finalStateGrads`, per recurrent layer, shaped like its final state (missing = zeros).
   * Chains models: an encoder under a decoder gets the decoder's initial-state gradient here. The weights do not change; pass the
   * gradients to {@link Model.applyGradients}.
   * @throws TypeError / RangeError for invalid inputs, gradients or options (the Promise rejects)
   * @throws RnnkitError ERR_BUSY, ERR_DISPOSED or ERR_NATIVE (the Promise rejects)
   * @example
   * const { grads } = await encoder.backwardFrom(src, { finalStateGrads: [{ h: dh, c: dc }] });
   */
  backwardFrom(inputs: ModelInput, options?: BackwardFromOptions): Promise<Omit<GradientsResult, 'loss'>> {
    return this.#backwardFrom(true, inputs, options);
  }

  /** backwardFrom(); with `wantGrads` false the gradient stays native (for stepTogether) and `grads` is {}. */
  async #backwardFrom(wantGrads: boolean, inputs: ModelInput, options?: BackwardFromOptions): Promise<Omit<GradientsResult, 'loss'>> {
    const { site, handle, opts, batch } = this.#prepare(inputs, options, [...COMMON_KEYS, 'training', 'outputGrad', 'finalStateGrads']);
    const training = withDefault(opts.training, true, (v) => boolean(v, 'options.training'));
    const outputGrad =
      opts.outputGrad === undefined
        ? null
        : floatData(opts.outputGrad, this.outputShape(batch.B, batch.T), 'options.outputGrad', this.config.dtype);
    const finals = toInitialStates(opts.finalStateGrads, this.#states, batch.B, this.config.dtype, 'options.finalStateGrads') ?? null;
    const res = await this.#run(site, () => handle.backwardFrom(batch, training, outputGrad, finals, wantGrads));
    return this.#gradientParts(res, batch.B, batch.memory);
  }

  /**
   * One optimizer step with a given gradient (keyed like {@link Model.getWeights}; missing weights count as zero): element-wise
   * clipping, then global-norm clipping, then the update. Returns the gradient norm before clipping.
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
    const opts = optionalObject(options, 'options');
    knownKeys(opts, ['optimizer', 'clipValue', 'clipNorm'], 'options');
    const optimizer = toNativeOptimizer(opts.optimizer, opts.clipValue, opts.clipNorm);
    const block = new (this.config.dtype === 'float64' ? Float64Array : Float32Array)(this.numParams);
    for (const [entry, data] of namedTensors(this.#byName, grads, 'grads', this.config.dtype)) block.set(data, entry.offset);
    return this.#run(site, () => handle.applyGradients(block, optimizer));
  }

  /**
   * Trains on a dataset for some epochs (see {@link FitOptions}); returns the history of losses, validation metrics and
   * throughput.
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
   * @throws TypeError / RangeError for a malformed dataset or options (the Promise rejects)
   * @throws RnnkitError ERR_BUSY, ERR_DISPOSED or ERR_NATIVE (the Promise rejects)
   * @example
   * const { bitsPerToken } = await model.evaluate(heldOut);
   */
  evaluate(data: Dataset, options?: { batchSize?: number }): Promise<Evaluation> {
    return evaluate(this, data, options);
  }

  /**
   * Samples token sequences in one native call: from the prime (default the tokenizer's `<bos>`), feeding each token back, until a
   * stop token or maxLength, never a banned token; the same seed gives the same output (see {@link GenerateOptions}).
   * @throws TypeError / RangeError for invalid options or a model that is not a language model; RnnkitError ERR_BUSY / ERR_DISPOSED / ERR_NATIVE (the Promise rejects)
   * @example
   * const ids = await model.generate({ maxLength: 40, n: 5, temperature: 0.8, seed: 7, stopTokens: [3], banTokens: [0, 1, 2] });
   */
  generate(options?: GenerateOptions): Promise<number[][]> {
    return sampling.generate(this, options);
  }

  /**
   * A zero state for {@link Model.step}: per recurrent layer, h (and c for LSTM) of shape [dirs, batch, H].
   * @throws TypeError when batch is not a number; RangeError when not an integer in [1, 1e5]
   * @example
   * let state = model.initialState();
   */
  initialState(batch = 1): StateTensors[] {
    return sampling.initialState(this, batch);
  }

  /**
   * One step of a language model: one token per row from the given state; the next-token probabilities and the new state.
   * @throws TypeError / RangeError for an invalid state or token ids; RnnkitError ERR_BUSY / ERR_DISPOSED / ERR_NATIVE (the Promise rejects)
   * @example
   * const { probs, state: next } = await model.step(model.initialState(), tok.bosId);
   */
  step(state: readonly LayerState[], tokens: number | readonly number[]): Promise<StepResult> {
    return sampling.step(this, state, tokens);
  }

  /**
   * Writes the model (config, weights, optimizer state, epoch and dropout counters, tokenizer) to one file, atomically;
   * {@link load} reads it back.
   * @throws TypeError when `path` is not a non-empty string; RnnkitError ERR_CHECKPOINT / ERR_BUSY / ERR_DISPOSED
   * @example
   * await model.save('names.rnnkit');
   */
  save(path: string): Promise<void> {
    return files.save(this, path);
  }

  /**
   * Writes the weights to a safetensors file with PyTorch's names and layouts plus metadata, atomically (docs/interop.md;
   * `options.names` maps layer prefixes to a torch module's, `options.dtype` the file's element type).
   * @throws TypeError / RangeError for a bad path or option; RnnkitError ERR_SAFETENSORS / ERR_BUSY / ERR_DISPOSED (the Promise rejects)
   * @example
   * await model.saveSafetensors('lm.safetensors', { names: { 'layers.0': 'rnn', 'layers.1': 'fc' } });
   */
  saveSafetensors(path: string, options?: SaveSafetensorsOptions): Promise<void> {
    return files.saveSafetensors(this, path, options);
  }

  /**
   * Reads a model from a safetensors file. See {@link loadSafetensors}.
   * @throws TypeError / RangeError for invalid arguments; RnnkitError ERR_SAFETENSORS (the Promise rejects)
   * @example
   * const model = await Model.loadSafetensors('lm.safetensors');
   */
  static loadSafetensors(path: string, options?: LoadSafetensorsOptions): Promise<Model> {
    return files.loadSafetensors(path, options);
  }

  /**
   * The model as checkpoint parts (a JSON header and named arrays), one consistent snapshot.
   * @throws RnnkitError ERR_BUSY / ERR_DISPOSED
   * @example
   * const { header, arrays } = model.toCheckpoint();
   */
  toCheckpoint(): CheckpointParts {
    return files.toCheckpoint(this);
  }

  /**
   * Reads a model written by {@link Model.save}. See {@link load}.
   * @throws TypeError for a bad path; RnnkitError ERR_CHECKPOINT for a missing, corrupted, foreign or incompatible file
   * @example
   * const model = await Model.load('names.rnnkit');
   */
  static load(path: string): Promise<Model> {
    return files.load(path);
  }

  /**
   * Rebuilds a model from {@link Model.toCheckpoint} parts; `file` names the source in error messages.
   * @throws RnnkitError ERR_CHECKPOINT when the parts do not describe a valid model
   * @example
   * const copy = Model.fromCheckpoint(model.toCheckpoint(), 'memory');
   */
  static fromCheckpoint(parts: CheckpointParts, file: string): Model {
    return files.fromCheckpoint(parts, file);
  }

  /**
   * Frees the native memory now (otherwise the garbage collector does it). A call still running finishes first and the memory is
   * freed when it ends. Later calls fail with code `ERR_DISPOSED`; calling dispose() again does nothing.
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
    if (this.#inflight > 0) throw new RnnkitError('ERR_BUSY', 'rnnkit: the model is busy with another call; await it first');
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

  /** The start of every call on a batch: the caller's stack, the live handle, the checked options and the batch. */
  #prepare(inputs: unknown, options: unknown, keys: readonly string[]) {
    const site = callSite();
    const handle = this.#alive();
    const opts = optionalObject(options, 'options');
    knownKeys(opts, keys, 'options');
    const batch = callBatch(inputs, opts, this.#input, this.#states, this.config);
    return { site, handle, opts, batch };
  }

  #targets(targets: Targets, batch: NativeBatch, labelSmoothing?: unknown): NativeTargets {
    return toTargets(targets, batch, this.#shapes[this.#shapes.length - 1]!, this.config.loss, this.config.dtype, labelSmoothing);
  }
}
