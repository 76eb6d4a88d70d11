/**
 * The benchmark configurations (issue 5) and the GEMM FLOP count of each.
 *
 * Dimension legend: V vocabulary (one-hot input and output width), B batch,
 * T time steps, H hidden units, G gates (rnn 1, gru 3, lstm 4), dirs 1 or 2.
 * Every model is a char-level language model: token input (one-hot in
 * PyTorch, a row gather in rnnkit), recurrent layer(s), a linear dense layer
 * to V logits, softmax cross-entropy; trained with Adam and clip-norm 5.
 */

export type Cell = 'rnn' | 'gru' | 'lstm';
export type Mode = 'train' | 'forward' | 'sample';
export type Lib = 'rnnkit' | 'torch';

export interface Config {
  /** short name used in tables and on the command line, e.g. 'lstm-256', 'lstm-256x2', 'bilstm-256' */
  id: string;
  cell: Cell;
  units: number;
  /** stacked recurrent layers */
  layers: number;
  bidirectional: boolean;
}

/** What one child process runs: one configuration in one mode, for one library. */
export interface CaseSpec {
  lib: Lib;
  mode: Mode;
  config: Config;
  V: number;
  B: number;
  T: number;
  /** untimed steps (train / forward) or untimed sampling calls before timing */
  warmup: number;
  /** the timed part aims at this many seconds: steps = clamp(ceil(target / warm-up step time), minSteps, maxSteps) */
  targetSeconds: number;
  minSteps: number;
  maxSteps: number;
  /** tokens per sampling call (batch 1, no stop token) */
  sampleLength: number;
}

/** What a child process prints (one JSON line after "RESULT "). */
export interface CaseResult {
  lib: Lib;
  mode: Mode;
  id: string;
  B: number;
  T: number;
  /** tokens per timed step (B*T), or per sampling call (sampleLength) */
  tokensPerStep: number;
  steps: number;
  /** every timed step, seconds */
  times: number[];
  medianSeconds: number;
  tokensPerSec: number;
  /** VmHWM (peak resident set) at the end of the case, bytes */
  peakBytes: number;
  /** VmRSS after imports, before the model is built, bytes */
  baselineBytes: number;
  /** CPU used by other processes during the timed part, in cores (from /proc/stat minus this process) */
  otherCores: number;
  /** library versions and threads as the child saw them */
  versions: Record<string, string | number>;
}

export const CELLS: Cell[] = ['rnn', 'gru', 'lstm'];
export const UNITS = [128, 256, 512];
export const GATES: Record<Cell, number> = { rnn: 1, gru: 3, lstm: 4 };

/** The configurations: rnn/gru/lstm at H = 128, 256, 512, a 2-layer LSTM and a bidirectional LSTM at 256. */
export const CONFIGS: Config[] = [
  ...CELLS.flatMap((cell) => UNITS.map((units) => ({ id: `${cell}-${units}`, cell, units, layers: 1, bidirectional: false }))),
  { id: 'lstm-256x2', cell: 'lstm', units: 256, layers: 2, bidirectional: false },
  { id: 'bilstm-256', cell: 'lstm', units: 256, layers: 1, bidirectional: true },
];

export function configById(id: string): Config {
  const c = CONFIGS.find((x) => x.id === id);
  if (!c) throw new RangeError(`Expected one of ${CONFIGS.map((x) => x.id).join(', ')} for --configs but received '${id}'`);
  return c;
}

/** Modes a configuration is measured in: a bidirectional model cannot sample left to right. */
export function modesFor(c: Config, wanted: readonly Mode[]): Mode[] {
  return wanted.filter((m) => !(m === 'sample' && c.bidirectional));
}

/**
 * GEMM FLOPs of one training step (forward + backward), counting each matrix
 * product as 2*M*N*K:
 * - first layer's input projection: 0 (a token gather forward, a row
 *   scatter-add for dW; no dX is needed for token input);
 * - later layers' input projection, per direction: x W_ih^T forward, dX and
 *   dW_ih backward: 3 * 2 * (B*T) * (G*H) * D with D = dirs*H of the layer below;
 * - recurrent product, per direction: h W_hh^T forward, dh and dW_hh backward:
 *   3 * 2 * (B*T) * (G*H) * H (counted for all T steps, including t = 0);
 * - dense: forward, dX and dW: 3 * 2 * (B*T) * (dirs*H) * V.
 * Element-wise work (gates, softmax, Adam) is not counted: it is not GEMM.
 */
export function trainFlops(c: Config, V: number, B: number, T: number): number {
  return 3 * forwardFlops(c, V, B, T);
}

/** GEMM FLOPs of one forward pass (the same products, forward only). */
export function forwardFlops(c: Config, V: number, B: number, T: number): number {
  const rows = B * T,
    G = GATES[c.cell],
    H = c.units,
    dirs = c.bidirectional ? 2 : 1;
  let flops = 0;
  for (let l = 0; l < c.layers; l++) {
    const D = l === 0 ? 0 : dirs * H;
    flops += dirs * 2 * rows * G * H * (D + H);
  }
  return flops + 2 * rows * dirs * H * V;
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
