/**
 * The options and results of a model's calls (predict, forward, gradients,
 * trainStep, backwardFrom, evaluateBatch, step), shared by the modules that
 * take a model.
 */
import type { OptimizerConfig } from './optimizer.js';
import type { FloatArray, LayerState, StateTensors, Tensor } from './types.js';

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
  /**
   * for a model with an attention layer (a Seq2Seq decoder): what it attends over, the
   * encoder's outputs [B, T_x, E] with each row's source length
   */
  memory?: MemoryInput;
}

/**
 * The memory of an attention layer: `data` [B_m, T_x, E] batch-first, `lengths` (each
 * row's valid steps, default T_x) and `rows` (the memory row of each batch row; default
 * row b, and B_m must then be the batch's B).
 *
 * @example
 * const memory: MemoryInput = { data: enc.output.data, shape: [2, 5, 64], lengths: [5, 3] };
 */
export interface MemoryInput {
  data: FloatArray;
  shape: readonly number[];
  lengths?: readonly number[] | Int32Array;
  rows?: readonly number[] | Int32Array;
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
  /**
   * crossEntropy: train against (1 - e) onehot(y) + e / K instead of the one-hot target
   * (torch's `label_smoothing`, Keras's `label_smoothing`); in [0, 1), default 0. The loss
   * reported is the smoothed one; evaluate() always scores against the one-hot target.
   */
  labelSmoothing?: number;
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
  /**
   * crossEntropy: train against (1 - e) onehot(y) + e / K instead of the one-hot target
   * (torch's `label_smoothing`, Keras's `label_smoothing`); in [0, 1), default 0. The loss
   * reported is the smoothed one; evaluate() always scores against the one-hot target.
   */
  labelSmoothing?: number;
  /** also return each recurrent layer's final state (to carry into the next window); default false */
  returnState?: boolean;
  /**
   * what a non-finite loss, gradient or update does: 'throw' (default) rejects with
   * ERR_NONFINITE; 'skip' resolves with `skipped: true`. Either way the weights and the
   * optimizer state stay as they were before the step.
   */
  nonFinite?: 'throw' | 'skip';
  /**
   * a step that arrives while inference calls run on the model: 'reject' (default)
   * rejects with ERR_BUSY; 'wait' starts it when they have ended (new calls are
   * refused with ERR_BUSY while it waits and runs)
   */
  whenBusy?: 'reject' | 'wait';
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
  /** a model with attention: its weights over the memory, [B, T, T_x] (0 past each row's source length) */
  attention?: Tensor;
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
  /** gradient of the loss with respect to options.memory, shaped like it, for a model with attention */
  memoryGrad?: Tensor;
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
