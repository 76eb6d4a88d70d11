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
import type { LIMITS } from './limits.js';
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Info } from './runtime.js';

export type Dtype = 'float32' | 'float64';
export type FloatArray = Float32Array | Float64Array;

/** A recurrent layer's variational dropout rates (optional: 0). */
type Variational = { dropout?: number; recurrentDropout?: number };

export type NativeLayerSpec =
  | ({ type: 'rnn'; units: number; activation: 'tanh' | 'relu'; bidirectional: boolean; returnSequences: boolean } & Variational)
  | ({
      type: 'gru';
      units: number;
      variant: 'full' | 'minimal';
      resetAfter: boolean;
      bidirectional: boolean;
      returnSequences: boolean;
    } & Variational)
  | ({
      type: 'lstm';
      units: number;
      peephole: 'none' | 'diagonal' | 'full';
      bidirectional: boolean;
      returnSequences: boolean;
    } & Variational)
  | { type: 'dense'; units: number; activation: 'linear' | 'softmax' | 'sigmoid' | 'tanh' | 'relu'; tieEmbedding?: boolean }
  | { type: 'dropout'; rate: number }
  | { type: 'embedding'; units: number; paddingIdx: number; frozen: boolean; sparse?: boolean }
  | { type: 'attention'; units: number; score: 'dot' | 'general' | 'additive'; memoryCols: number; attentionUnits?: number };

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
  /** an inference forward on the row-exact kernels: each row's output is the same bits whatever rows share the batch */
  rowExact?: boolean;
  /**
   * what an attention layer attends over: data [B, T, E] (memoryCols wide), each row's length, and optionally the memory
   * row each batch row reads (index [batch B]; absent: row b, memory B = batch B)
   */
  memory?: NativeMemory;
}

export interface NativeMemory {
  data: FloatArray;
  B: number;
  T: number;
  lengths: Int32Array;
  index?: Int32Array;
}

export interface NativeTargets {
  /** class ids for crossEntropy: [B, T] for a sequence output, [B] otherwise */
  classes?: Int32Array;
  /** 0/1 targets (binaryCrossEntropy) or values (mse): same shape as the output */
  values?: FloatArray;
  /** crossEntropy: the smoothing e of the target (1 - e) onehot + e / K; absent = 0 */
  labelSmoothing?: number;
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
  /** a model with attention, when the output came back: its weights [B, T, memory T] */
  attention?: FloatArray;
}

export interface NativeGradientsResult {
  loss: number;
  /** gradient of the whole parameter block, same layout as getParams() */
  grads: FloatArray;
  /** gradient with respect to each recurrent layer's initial state */
  stateGrads: NativeState[];
  /** gradient with respect to the condition, [B, conditionFeatures], when one was given */
  dCondition?: FloatArray;
  /** gradient with respect to the memory, [memory B, memory T, E], for a model with attention */
  dMemory?: FloatArray;
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
  /** forward passes run so far (a backwardFrom that reuses forward()'s activations adds none) */
  readonly forwardPasses: number;
  paramTable(): NativeParamInfo[];
  stateTable(): NativeStateInfo[];
  /** a fresh copy of the whole parameter block */
  getParams(): FloatArray;
  /** copies data into the block at the given element offset */
  setParams(offset: number, data: FloatArray): void;
  /** wantOutput false: `output` comes back empty (only the final states are wanted) */
  forward(batch: NativeBatch, training: boolean, wantOutput?: boolean): Promise<NativeForwardResult>;
  /** wantGrads false: `grads` comes back empty; the gradient stays in the model for stepTogether */
  gradients(batch: NativeBatch, targets: NativeTargets, training: boolean, wantGrads?: boolean): Promise<NativeGradientsResult>;
  trainStep(
    batch: NativeBatch,
    targets: NativeTargets,
    optimizer: NativeOptimizer,
    returnState?: boolean,
    /** start once the running readers have ended instead of ERR_BUSY */
    wait?: boolean,
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
   * Right after forward() on the same batch and training flag it reuses that forward's
   * activations (the result is the same).
   */
  backwardFrom(
    batch: NativeBatch,
    training: boolean,
    outputGrad: FloatArray | null,
    finalStateGrads: (NativeState | null)[] | null,
    wantGrads?: boolean,
  ): Promise<Omit<NativeGradientsResult, 'loss'>>;
  /** one optimizer step with the given gradient (clipping per the optimizer's clip fields) */
  applyGradients(grads: FloatArray, optimizer: NativeOptimizer): Promise<{ gradNorm: number }>;
  getTrainingState(): NativeTrainingState;
  setTrainingState(state: NativeTrainingState): void;
  /** frees native memory; later calls reject with code ERR_DISPOSED */
  dispose(): void;
}

/** One request's news from a {@link NativeSampler} run: the tokens it drew, and whether it ended. */
export interface NativeSamplerEvent {
  id: number;
  tokens: Int32Array;
  ended: boolean;
}

/**
 * A batched sampler over one NativeModel (binding/sampler_wrap.cc): requests join its batch
 * between runs and leave when they end. add / cancel / run while a run is in flight throw
 * (reject) ERR_BUSY; after close() they fail with ERR_CLOSED.
 */
export interface NativeSampler {
  /** a sequence that joins at the next run (options.n must be 1); condition: the model's conditionFeatures values */
  add(id: number, options: NativeGenerateOptions, condition: FloatArray | null, initialStates?: (NativeState | null)[] | null): void;
  /** the sequence leaves at the next run, which reports it ended */
  cancel(id: number): void;
  /**
   * Advances the batch on the pool until no sequence is left, about 1 ms after a sequence
   * ends or wake(), at once when one ends while requests wait for a slot (`waiting`), and
   * about every 4 ms while a stream is live (`streaming`). Rejects ERR_BUSY while a writer
   * runs or waits and the sampler holds no reader slot.
   */
  run(waiting: boolean, streaming: boolean): Promise<{ events: NativeSamplerEvent[]; writerWaiting: boolean }>;
  /** ends the run in flight at its next step */
  wake(): void;
  /** frees the sampler (after the run in flight, if any); the model may then be freed */
  close(): void;
}

/** What the binary reports about itself: the public `Info` without the loaded file's path, which `info()` adds. */
export type NativeInfo = Omit<Info, 'binary'>;

/** The NativeModel class: its constructor and static methods. */
export interface NativeModelClass {
  new (spec: NativeModelSpec): NativeModel;
  /**
   * One optimizer step over several models' gradients (each held since its last gradients()
   * or backwardFrom()) as if they were one block: the loss and the global norm are checked,
   * clipping uses the global norm, and every update is checked before any is written
   * (ERR_NONFINITE: no model changed). Resolves with the global norm before clipping.
   */
  stepTogether(models: NativeModel[], optimizer: NativeOptimizer, loss: number): Promise<{ gradNorm: number }>;
}

export interface NativeBinding {
  NativeModel: NativeModelClass;
  NativeSampler: new (model: NativeModel) => NativeSampler;
  /** runs n x n x n sgemm `reps` times and returns GFLOP/s (benchmarks) */
  sgemmBench(n: number, reps: number): Promise<number>;
  info(): NativeInfo;
  /** rnnkit's thread count for the whole process, an integer in [1, info().maxThreads] */
  setThreads(n: number): void;
  /** native/limits.h: the same keys and numbers as lib/limits.ts's LIMITS (test/limits.test.ts) */
  readonly limits: Readonly<Record<keyof typeof LIMITS, number>>;
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

/** The N-API version of rnnkit's binaries (package.json "binary.napi_versions", binding's NAPI_VERSION). */
export const NAPI_VERSION = 8;

interface NodeGypBuild {
  (dir: string): unknown;
  /** the path of the .node file load(dir) would require; throws when none fits */
  resolve(dir: string): string;
}

/** This process's C library, as the error message names it: `glibc 2.36`, or `not glibc (musl?)`. */
function libcName(): string {
  const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined;
  const glibc = report?.header?.glibcVersionRuntime;
  return glibc ? `glibc ${glibc}` : process.platform === 'linux' ? 'not glibc (musl?)' : 'no glibc';
}

/** The directories node-gyp-build searches for `root`, in its order (see node-gyp-build.js). */
export function searchedDirs(root: string, env: NodeJS.ProcessEnv = process.env): string[] {
  // <NAME>_PREBUILD replaces the package directory (scripts/sanitize.sh uses it)
  const dir = env.RNNKIT_PREBUILD && existsSync(join(root, 'package.json')) ? env.RNNKIT_PREBUILD : root;
  const tuple = `${process.platform}-${process.arch}`;
  return [
    ...(env.PREBUILDS_ONLY ? [] : [join(dir, 'build', 'Release'), join(dir, 'build', 'Debug')]),
    join(dir, 'prebuilds', tuple),
    join(dirname(process.execPath), 'prebuilds', tuple),
  ];
}

/**
 * The message for a binary that is missing or does not load: what was looked for (platform,
 * arch, libc, N-API), where, and the one way to build from source that works in an installed
 * package (checked by hand: cmake-js and node-addon-api are rnnkit's devDependencies, so the
 * user's project installs them without saving; CMakeLists.txt finds node-addon-api from there).
 */
export function loadErrorMessage(root: string, cause: string, file?: string, env: NodeJS.ProcessEnv = process.env): string {
  const q = (path: string) => (/^[\w./@+-]+$/.test(path) ? path : JSON.stringify(path));
  const wanted =
    `${process.platform}-${process.arch}, ${libcName()}, Node ${process.version} ` +
    `(N-API ${process.versions.napi ?? '?'}; rnnkit's binaries use N-API ${NAPI_VERSION})`;
  const head = file
    ? `rnnkit: the native binary ${file} was found but failed to load, for ${wanted}.`
    : `rnnkit: no native binary fits ${wanted}.\nSearched: ${searchedDirs(root, env).join(', ')}` +
      (env.PREBUILDS_ONLY ? ' (PREBUILDS_ONLY is set: build/ skipped)' : '') +
      '.\nThe published package ships a prebuilt binary for linux-x64 with glibc >= 2.34 only.';
  return (
    `${head}\n` +
    'Build it from source: install OpenBLAS, CMake and a C++17 compiler ' +
    '(Debian/Ubuntu: apt-get install libopenblas-dev cmake g++), then in your project run\n' +
    `  npm install --no-save cmake-js@8.0.0 node-addon-api@8.9.2 && npx cmake-js compile -d ${q(root)}\n` +
    '(in a clone of rnnkit: npm ci && npm run setup). See docs/install.md.\n' +
    `Cause: ${cause}`
  );
}

/** The loaded binary and the file it came from. */
export interface LoadedBinding {
  binding: NativeBinding;
  path: string;
}

/**
 * Finds and loads the addon under `root` with node-gyp-build (build/Release, else
 * prebuilds/<platform>-<arch>; PREBUILDS_ONLY=1 skips build/). Internal: tests point it
 * at an empty directory to check the error.
 *
 * @throws Error naming what was looked for, where, and how to build from source
 */
export function loadBinding(root: string): LoadedBinding {
  const require = createRequire(import.meta.url);
  const gypBuild = require('node-gyp-build') as NodeGypBuild;
  let path: string;
  try {
    path = gypBuild.resolve(root);
  } catch (err) {
    throw new Error(loadErrorMessage(root, firstLine(err)), { cause: err });
  }
  try {
    return { binding: require(path) as NativeBinding, path };
  } catch (err) {
    throw new Error(loadErrorMessage(root, firstLine(err), path), { cause: err });
  }
}

function firstLine(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.split('\n')[0]!.trim();
}

let cached: LoadedBinding | undefined;

/**
 * Loads the addon once per module instance (see {@link loadBinding}).
 *
 * @throws Error when no binary fits or it fails to load (the message says how to build one)
 */
export function native(): NativeBinding {
  cached ??= loadBinding(packageRoot());
  return cached.binding;
}

/** The path of the loaded .node file (loads it first). */
export function nativePath(): string {
  native();
  return cached!.path;
}
