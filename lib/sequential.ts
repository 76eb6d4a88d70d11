/**
 * `sequential(config)`: builds a {@link Model}.
 */
import type { SequentialConfig } from './config.js';
import { Model } from './model.js';

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
