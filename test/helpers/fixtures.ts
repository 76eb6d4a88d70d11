/**
 * Loading and comparing the PyTorch parity fixtures in test/fixtures/parity/
 * (written by scripts/gen_parity_fixtures.py; see the header there).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface FixtureTensor {
  shape: number[];
  data: number[];
}

export interface FixtureState {
  /** flat [dirs, B, H] */
  h: number[];
  c?: number[];
}

export interface FixtureLayer {
  type: 'rnn' | 'gru' | 'lstm' | 'dense' | 'embedding';
  /** every layer but the embedding */
  units: number;
  /** embedding */
  dim?: number;
  paddingIdx?: number;
  sparse?: boolean;
  /** dense */
  tieEmbedding?: boolean;
  bidirectional?: boolean;
  returnSequences?: boolean;
  activation?: string;
  resetAfter?: boolean;
  variant?: 'full' | 'minimal';
  peephole?: boolean;
}

export interface FixtureSteps {
  optimizer: { type: 'adam' | 'sgd'; lr: number; momentum?: number };
  clipNorm?: number;
  clipValue?: number;
  /** loss of step k, computed at the weights after k-1 updates */
  losses: number[];
  /** global L2 norm of the gradient before clipping, per step */
  gradNorms: number[];
  clipActive: boolean[];
  /** step k's batch, when the steps do not all train on the fixture's tokens / targets */
  batches?: { tokens: number[][]; targets: number[][] }[];
  /** every weight after the last step */
  finalWeights?: Record<string, FixtureTensor>;
}

export interface ParityFixture {
  name: string;
  description: string;
  /** the targets' label smoothing (torch CrossEntropyLoss(label_smoothing)), for gradients and trainStep */
  labelSmoothing?: number;
  config: {
    input: { vocabSize: number };
    layers: FixtureLayer[];
    loss: 'crossEntropy';
    reduction: 'mean' | 'sum';
  };
  tokens: number[][];
  lengths: number[];
  targets: number[][];
  initialState?: FixtureState[];
  weights: Record<string, FixtureTensor>;
  output: FixtureTensor;
  finalState: FixtureState[];
  loss: number;
  grads: Record<string, FixtureTensor>;
  initialStateGrads?: FixtureState[];
  steps: FixtureSteps[];
}

export const PARITY_DIR = fileURLToPath(new URL('../fixtures/parity/', import.meta.url));

export function loadParityFixtures(dir: string = PARITY_DIR): ParityFixture[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => JSON.parse(readFileSync(dir + f, 'utf8')) as ParityFixture);
}

export interface Diff {
  /** max |a - b| */
  maxAbs: number;
  /** max |a - b| / max(max |b|, floor): the error relative to the reference tensor's scale */
  rel: number;
  /** max |b| */
  scale: number;
}

/** Compares `actual` to the reference `expected` element-wise (lengths must match). */
export function tensorDiff(actual: ArrayLike<number>, expected: ArrayLike<number>, floor = 1e-3): Diff {
  if (actual.length !== expected.length) {
    throw new RangeError(`length mismatch: actual ${actual.length}, expected ${expected.length}`);
  }
  let maxAbs = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const b = expected[i]!;
    const d = Math.abs(a - b);
    // NaN must fail, not vanish in Math.max
    maxAbs = Number.isNaN(d) ? Number.POSITIVE_INFINITY : Math.max(maxAbs, d);
    scale = Math.max(scale, Math.abs(b));
  }
  return { maxAbs, rel: maxAbs / Math.max(scale, floor), scale };
}

/** Typed array of the model's dtype holding `data`. */
export function floatArray(dtype: 'float32' | 'float64', data: number[]): Float32Array | Float64Array {
  return dtype === 'float32' ? Float32Array.from(data) : Float64Array.from(data);
}
