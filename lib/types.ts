/**
 * Public data types shared by the model's methods.
 */
import type { Dtype, FloatArray } from './native.js';

export type { Dtype, FloatArray };

/**
 * A dense row-major array with its shape, like a PyTorch tensor's
 * `(shape, data)`. `data.length` is the product of `shape`.
 *
 * @example
 * const t: Tensor = { shape: [2, 3], data: new Float32Array(6) };
 */
export interface Tensor {
  shape: number[];
  data: FloatArray;
}

/**
 * A batch of token ids, batch-first: rows of ids, each an array or an
 * Int32Array such as `tok.encode` returns (ragged rows allowed, padded with 0,
 * lengths inferred), or a dense `[B, T]` Int32Array.
 *
 * @example
 * const x: TokenInput = [[1, 2, 3], [4, 5]];
 * const y: TokenInput = [tok.encode('a b'), tok.encode('c')];
 */
export type TokenInput = (number[] | Int32Array)[] | { data: Int32Array; shape: number[] };

/**
 * A batch of feature vectors, batch-first: `[B][T][D]` nested arrays (ragged
 * on T allowed) or a dense `[B, T, D]` typed array.
 *
 * @example
 * const x: FeatureInput = { data: new Float32Array(2 * 5 * 8), shape: [2, 5, 8] };
 */
export type FeatureInput = number[][][] | { data: FloatArray; shape: number[] };

/**
 * Inputs of a model: tokens for `input: { vocabSize }`, features for
 * `input: { features }`.
 *
 * @example
 * await model.predict([[1, 2, 3]]);
 */
export type ModelInput = TokenInput | FeatureInput;

/**
 * Targets: class ids for crossEntropy (`[B, T]` for a sequence output, `[B]`
 * otherwise), or values of the output's shape for binaryCrossEntropy / mse.
 *
 * @example
 * await model.trainStep([[1, 2, 3]], [[2, 3, 4]]);
 */
export type Targets = number[] | number[][] | number[][][] | { data: Int32Array; shape: number[] } | { data: FloatArray; shape: number[] };

/**
 * The initial (or final) state of one recurrent layer, PyTorch's h0 / c0:
 * shape `[dirs, B, H]`; `c` only for LSTM layers.
 *
 * @example
 * const s: LayerState = { h: new Float32Array(1 * 2 * 16) };
 */
export interface LayerState {
  h: Tensor | FloatArray;
  c?: Tensor | FloatArray;
}

/**
 * A returned state of one recurrent layer (always Tensors of shape `[dirs, B, H]`).
 *
 * @example
 * const { finalState } = await model.forward(x);
 * finalState[0].h.shape; // [dirs, B, H]
 */
export interface StateTensors {
  h: Tensor;
  c?: Tensor;
}
