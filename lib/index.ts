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
export { Model } from './model.js';
export { sequential } from './sequential.js';
export { load, loadSafetensors } from './io/model-file.js';
export type {
  CallOptions,
  ForwardOptions,
  ForwardResult,
  GradientsOptions,
  GradientsResult,
  TrainStepOptions,
  TrainStepResult,
  BatchEvaluation,
  ConditionInput,
  MemoryInput,
  StepResult,
} from './calls.js';
export {
  BOS_ID,
  CharTokenizer,
  EOS_ID,
  NUM_SPECIAL,
  PAD_ID,
  SPECIAL_TOKENS,
  TOKENIZER_FORMAT,
  TOKENIZER_VERSION,
  Tokenizer,
  tokenizerFromJSON,
  UNK_ID,
  WordTokenizer,
} from './tokenizers/index.js';
export type {
  CharTokenizerJSON,
  CharTokenizerOptions,
  DecodeOptions,
  EncodeOptions,
  TokenizerJSON,
  TokenizerKind,
  WordTokenizerJSON,
  WordTokenizerOptions,
} from './tokenizers/index.js';
export { languageModelData, textStream } from './data.js';
export type { Dataset, RowDataset, SequenceDataset, StreamDataset } from './data.js';
export type { BatchLog, EpochLog, Evaluation, FitOptions, History } from './train.js';
export type { CheckpointOptions, EarlyStopping, LrSchedule } from './schedules.js';
export { generateText } from './sample.js';
export { loadSeq2Seq, Seq2Seq, seq2seq } from './seq2seq.js';
export type {
  AttentionOptions,
  Seq2SeqConfig,
  Seq2SeqData,
  Seq2SeqFitOptions,
  Seq2SeqStepOptions,
  TranslateOptions,
  Translation,
} from './seq2seq.js';
export type { GenerateOptions, GenerateTextOptions, SamplingTokenizer } from './sample.js';
export { BatchedSampler, batchedSampler } from './sampler.js';
export type { BatchedSamplerOptions, SampledToken, SampleRequest, TextSampleRequest } from './sampler.js';
export { BatchedTranslator } from './translator.js';
export type { TranslateRequest } from './translator.js';
export { layers } from './layers.js';
export { readWordVectors, useWordVectors } from './vectors.js';
export type { WordVectors } from './vectors.js';
export type {
  AttentionConfig,
  DenseConfig,
  DenseOptions,
  DropoutConfig,
  DropoutOptions,
  EmbeddingConfig,
  EmbeddingOptions,
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
export type { Dtype, FeatureInput, FloatArray, LayerState, ModelInput, StateTensors, Targets, Tensor, TokenInput } from './types.js';
export { SAFETENSORS_FORMAT, SAFETENSORS_VERSION } from './interop.js';
export type { LoadSafetensorsOptions, SafetensorsNames, SaveSafetensorsOptions } from './interop.js';
export { readSafetensors, writeSafetensors, SAFETENSORS_MAX_HEADER } from './io/safetensors.js';
export type { SafetensorsContent, SafetensorsDtype, SafetensorsTensor } from './io/safetensors.js';
export { RnnkitError } from './errors.js';
export { info, setThreads } from './runtime.js';
export type { BlasCoreChooser, CpuInfo, Info, IsaLevel } from './runtime.js';
export type { RnnkitErrorCode } from './errors.js';
export {
  exportTorch,
  importTorch,
  readTorchPackage,
  torchUnsupported,
  windowRows,
  TORCH_PACKAGE_FORMAT,
  TORCH_PACKAGE_VERSION,
} from './io/torch-package.js';
export type { ExportTorchOptions, TorchPackage, TorchPackageManifest, TorchResult } from './io/torch-package.js';
export { runTorchTraining } from './io/torch-run.js';
export type { RunTorchOptions } from './io/torch-run.js';
