/**
 * The typed contract of the native addon (`binding/`), and its loader.
 *
 * Everything here is internal: the public API in `model.ts` validates user
 * input fully, converts it to the flat batch-first arrays described below and
 * calls these methods. The binding re-checks types and lengths cheaply (the
 * `.node` file can be required directly) and throws TypeError / RangeError.
 *
 * Layout conventions (all arrays flat, row-major, batch-first):
 *   tokens    Int32Array   [B, T]
 *   features  FloatArray   [B, T, D]
 *   lengths   Int32Array   [B], each in [1, T]
 *   state h/c FloatArray   [dirs, B, H]   (PyTorch's h0/c0 layout for one layer)
 *   output    FloatArray   [B, T, K] for a sequence output, [B, K] otherwise;
 *             positions t >= lengths[b] are zero.
 * FloatArray is Float32Array for dtype 'float32' and Float64Array for 'float64'.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export type Dtype = 'float32' | 'float64';
export type FloatArray = Float32Array | Float64Array;

export type NativeLayerSpec =
  | { type: 'rnn'; units: number; activation: 'tanh' | 'relu'; bidirectional: boolean; returnSequences: boolean }
  | {
      type: 'gru';
      units: number;
      variant: 'full' | 'minimal';
      resetAfter: boolean;
      bidirectional: boolean;
      returnSequences: boolean;
    }
  | {
      type: 'lstm';
      units: number;
      peephole: 'none' | 'diagonal' | 'full';
      bidirectional: boolean;
      returnSequences: boolean;
    }
  | { type: 'dense'; units: number; activation: 'linear' | 'softmax' | 'sigmoid' | 'tanh' | 'relu' }
  | { type: 'dropout'; rate: number };

export interface NativeModelSpec {
  inputKind: 'tokens' | 'features';
  /** vocabulary size for tokens, feature count for features */
  inputSize: number;
  layers: NativeLayerSpec[];
  loss: 'crossEntropy' | 'binaryCrossEntropy' | 'mse';
  reduction: 'mean' | 'sum';
  /** uint32; seeds weight initialisation and dropout masks */
  seed: number;
  dtype: Dtype;
  /** width of a conditioning vector mapped into the first recurrent layer's initial state; 0/absent = none */
  conditionFeatures?: number;
}

/** One named parameter inside the contiguous parameter block. */
export interface NativeParamInfo {
  /** index of the layer in spec.layers; -1 for the condition layer */
  layer: number;
  /** PyTorch-style local name, e.g. 'weight_ih_l0', 'bias_hh_l0_reverse', 'weight', 'bias' */
  name: string;
  shape: number[];
  /** offset in elements into the flat block */
  offset: number;
  size: number;
}

/** One recurrent layer's state description, in layer order (recurrent layers only). */
export interface NativeStateInfo {
  layer: number;
  dirs: 1 | 2;
  units: number;
  /** true for LSTM (has a cell state c) */
  hasCell: boolean;
}

export interface NativeState {
  h: FloatArray;
  c?: FloatArray;
}

export interface NativeBatch {
  B: number;
  T: number;
  tokens?: Int32Array;
  features?: FloatArray;
  lengths: Int32Array;
  /** one entry per recurrent layer (NativeStateInfo order); null or missing = zeros */
  initialStates?: (NativeState | null)[];
  /** [B, conditionFeatures] for a model with a condition (unless initialStates[0] is given) */
  condition?: FloatArray;
}

export interface NativeTargets {
  /** class ids for crossEntropy: [B, T] for a sequence output, [B] otherwise */
  classes?: Int32Array;
  /** 0/1 targets (binaryCrossEntropy) or values (mse): same shape as the output */
  values?: FloatArray;
}

export interface NativeOptimizer {
  type: 'sgd' | 'adam' | 'adamw';
  lr: number;
  momentum: number;
  nesterov: boolean;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** element-wise clip to [-clipValue, clipValue]; 0 = off. Applied before clipNorm. */
  clipValue: number;
  /** global L2-norm clip; 0 = off */
  clipNorm: number;
}

export interface NativeForwardResult {
  output: FloatArray;
  outputShape: number[];
  /** final state of each recurrent layer (state at each row's last valid step) */
  finalStates: NativeState[];
}

export interface NativeGradientsResult {
  loss: number;
  /** gradient of the whole parameter block, same layout as getParams() */
  grads: FloatArray;
  /** gradient with respect to each recurrent layer's initial state */
  stateGrads: NativeState[];
  /** gradient with respect to the condition, [B, conditionFeatures], when one was given */
  dCondition?: FloatArray;
}

export interface NativeTrainResult {
  loss: number;
  /** global L2 norm of the gradient before clipping */
  gradNorm: number;
  /** each recurrent layer's final state, when trainStep was asked for it (truncated BPTT) */
  finalStates?: NativeState[];
}

export interface NativeGenerateOptions {
  n: number;
  maxLength: number;
  /** 0 = greedy */
  temperature: number;
  /** 0 = no limit */
  topK: number;
  /** in (0, 1]; 1 = no limit */
  topP: number;
  /** non-negative integer <= 2^53 - 1 */
  seed: number;
  /** fed before sampling starts (e.g. <bos> and a prefix); at least one id */
  prime: Int32Array;
  /** end a sequence; not included in the output */
  stopTokens: Int32Array;
  /** never produced */
  banTokens: Int32Array;
}

/** Optimizer moments and counters, for checkpoints. */
export interface NativeTrainingState {
  /** training steps taken (drives the dropout masks) */
  step: number;
  optimizer: {
    type: 'sgd' | 'adam' | 'adamw' | null;
    steps: number;
    /** momentum buffer (sgd) or first moment (adam); empty when type is null */
    m: FloatArray;
    /** second moment (adam); empty for sgd or null */
    v: FloatArray;
  };
}

export interface NativeModel {
  readonly numParams: number;
  readonly dtype: Dtype;
  paramTable(): NativeParamInfo[];
  stateTable(): NativeStateInfo[];
  /** a fresh copy of the whole parameter block */
  getParams(): FloatArray;
  /** copies data into the block at the given element offset */
  setParams(offset: number, data: FloatArray): void;
  forward(batch: NativeBatch, training: boolean): Promise<NativeForwardResult>;
  gradients(batch: NativeBatch, targets: NativeTargets, training: boolean): Promise<NativeGradientsResult>;
  trainStep(
    batch: NativeBatch,
    targets: NativeTargets,
    optimizer: NativeOptimizer,
    returnState?: boolean,
  ): Promise<NativeTrainResult>;
  /** loss summed over valid positions (inference mode), their count, and how many were right */
  evaluate(
    batch: NativeBatch,
    targets: NativeTargets,
  ): Promise<{ lossSum: number; count: number; correct: number; finalStates: NativeState[] }>;
  /** samples options.n sequences in one call; initialStates and condition are for n rows */
  generate(
    options: NativeGenerateOptions,
    initialStates?: (NativeState | null)[] | null,
    condition?: FloatArray | null,
  ): Promise<Int32Array[]>;
  /**
   * Backpropagation from given upstream gradients (no loss): outputGrad shaped like forward()'s
   * output (null = zeros) and per-recurrent-layer final-state gradients (null entries = zeros).
   */
  backwardFrom(
    batch: NativeBatch,
    training: boolean,
    outputGrad: FloatArray | null,
    finalStateGrads: (NativeState | null)[] | null,
  ): Promise<Omit<NativeGradientsResult, 'loss'>>;
  /** one optimizer step with the given gradient (clipping per the optimizer's clip fields) */
  applyGradients(grads: FloatArray, optimizer: NativeOptimizer): Promise<{ gradNorm: number }>;
  getTrainingState(): NativeTrainingState;
  setTrainingState(state: NativeTrainingState): void;
  /** frees native memory; later calls reject with code ERR_DISPOSED */
  dispose(): void;
}

export interface NativeBinding {
  NativeModel: new (spec: NativeModelSpec) => NativeModel;
  /** runs n x n x n sgemm `reps` times and returns GFLOP/s (benchmarks) */
  sgemmBench(n: number, reps: number): Promise<number>;
  info(): { version: string; blas: string; threads: number };
}

/** Walks up from this file to the directory holding package.json. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('rnnkit: cannot find the package root (package.json) above ' + import.meta.url);
    dir = up;
  }
}

let cached: NativeBinding | undefined;

/** Loads the addon once per module instance (node-gyp-build: prebuilds/ or build/Release). */
export function native(): NativeBinding {
  if (cached) return cached;
  const require = createRequire(import.meta.url);
  const load = require('node-gyp-build') as (dir: string) => unknown;
  const root = packageRoot();
  try {
    cached = load(root) as NativeBinding;
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    throw new Error(
      `rnnkit: no native binary for ${process.platform}-${process.arch} (node ${process.version}, N-API 8) ` +
        `in ${join(root, 'prebuilds')} or ${join(root, 'build', 'Release')}. ` +
        `Build it from source with: npm run build (needs libopenblas-dev, cmake, g++). Cause: ${msg}`,
      { cause: err },
    );
  }
  return cached;
}
