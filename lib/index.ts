/**
 * rnnkit: recurrent sequence models (RNN, GRU, LSTM) for Node.js.
 *
 * @example
 * import { sequential, layers } from 'rnnkit';
 * const model = sequential({
 *   input: { vocabSize: 27 },
 *   layers: [layers.lstm({ units: 32 }), layers.dense({ units: 27, activation: 'softmax' })],
 * });
 */
export { sequential, Model } from './model.js';
export type {
  CallOptions,
  ForwardOptions,
  ForwardResult,
  GradientsOptions,
  GradientsResult,
  TrainStepOptions,
  TrainStepResult,
} from './model.js';
export { layers } from './layers.js';
export type {
  DenseConfig,
  DenseOptions,
  DropoutConfig,
  DropoutOptions,
  GruConfig,
  GruOptions,
  LayerConfig,
  LayerInput,
  LstmConfig,
  LstmOptions,
  RecurrentConfig,
  RnnConfig,
  RnnOptions,
} from './layers.js';
export type { InputConfig, Loss, ModelConfig, Reduction, SequentialConfig } from './config.js';
export type { AdamConfig, OptimizerConfig, SgdConfig } from './optimizer.js';
export type {
  Dtype,
  FeatureInput,
  FloatArray,
  LayerState,
  ModelInput,
  StateTensors,
  Targets,
  Tensor,
  TokenInput,
} from './types.js';
export { RnnkitError } from './errors.js';
export type { RnnkitErrorCode } from './errors.js';
