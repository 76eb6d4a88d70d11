/**
 * Type test of the published declarations (`npm run test:types`, after `npm run build`).
 *
 * tsc checks this file against dist/*.d.ts, reached through the package name and
 * package.json "exports", as a user's project would reach them. Nothing here runs.
 * `expectTypeOf` pins what the API returns; every `@ts-expect-error` line is a
 * call the types must reject: if one starts to compile, tsc reports the unused
 * directive and the check fails. Keep each rejected call on one line, with one
 * mistake, so the directive cannot be satisfied by some other error.
 */
import { expectTypeOf } from 'expect-type';
import {
  batchedSampler,
  BatchedSampler,
  BatchedTranslator,
  BOS_ID,
  CharTokenizer,
  EOS_ID,
  exportTorch,
  generateText,
  importTorch,
  info,
  languageModelData,
  layers,
  load,
  loadSafetensors,
  loadSeq2Seq,
  Model,
  NUM_SPECIAL,
  PAD_ID,
  readSafetensors,
  readTorchPackage,
  RnnkitError,
  runTorchTraining,
  SAFETENSORS_FORMAT,
  SAFETENSORS_MAX_HEADER,
  SAFETENSORS_VERSION,
  Seq2Seq,
  seq2seq,
  sequential,
  setThreads,
  SPECIAL_TOKENS,
  textStream,
  Tokenizer,
  TOKENIZER_FORMAT,
  TOKENIZER_VERSION,
  tokenizerFromJSON,
  TORCH_PACKAGE_FORMAT,
  TORCH_PACKAGE_VERSION,
  torchUnsupported,
  UNK_ID,
  windowRows,
  WordTokenizer,
  writeSafetensors,
} from 'rnnkit';
import type {
  BatchEvaluation,
  BatchLog,
  BlasCoreChooser,
  CharTokenizerJSON,
  CpuInfo,
  Dataset,
  DenseConfig,
  ExportTorchOptions,
  DropoutConfig,
  EmbeddingConfig,
  EpochLog,
  Evaluation,
  FitOptions,
  FloatArray,
  ForwardResult,
  GradientsResult,
  GruConfig,
  History,
  Info,
  IsaLevel,
  LoadSafetensorsOptions,
  LayerConfig,
  LayerState,
  LstmConfig,
  ModelConfig,
  OptimizerConfig,
  RnnConfig,
  RnnkitErrorCode,
  RowDataset,
  RunTorchOptions,
  SafetensorsContent,
  SafetensorsDtype,
  SafetensorsNames,
  SafetensorsTensor,
  SamplingTokenizer,
  SaveSafetensorsOptions,
  SequenceDataset,
  SequentialConfig,
  StateTensors,
  StepResult,
  StreamDataset,
  Tensor,
  TokenizerJSON,
  TorchPackage,
  TorchPackageManifest,
  TorchResult,
  TrainStepResult,
  Translation,
  WordTokenizerJSON,
} from 'rnnkit';

// ---- internals stay out of the public entry point -------------------------------------

// @ts-expect-error -- normalizeConfig is internal
import { normalizeConfig } from 'rnnkit';
// @ts-expect-error -- the native binding is internal
import { native } from 'rnnkit';
// @ts-expect-error -- the safetensors codec is internal
import { decodeSafetensors } from 'rnnkit';
// @ts-expect-error -- subpaths are not exported
import { CharTokenizer as Deep } from 'rnnkit/dist/tokenizers/char.js';
void [normalizeConfig, native, decodeSafetensors, Deep];

// ---- layers -----------------------------------------------------------------------------

expectTypeOf(layers.lstm({ units: 32 })).toEqualTypeOf<LstmConfig>();
expectTypeOf(layers.gru({ units: 8, variant: 'minimal', resetAfter: false })).toEqualTypeOf<GruConfig>();
expectTypeOf(layers.rnn({ units: 8, activation: 'relu', bidirectional: true })).toEqualTypeOf<RnnConfig>();
expectTypeOf(layers.dense({ units: 4, activation: 'softmax' })).toEqualTypeOf<DenseConfig>();
expectTypeOf(layers.dropout({ rate: 0.1, name: 'drop' })).toEqualTypeOf<DropoutConfig>();
expectTypeOf(layers.lstm({ units: 4, peephole: true, returnSequences: false }).peephole).toEqualTypeOf<'none' | 'diagonal' | 'full'>();
expectTypeOf<LayerConfig['type']>().toEqualTypeOf<'lstm' | 'gru' | 'rnn' | 'dense' | 'dropout' | 'embedding' | 'attention'>();
expectTypeOf(layers.embedding({ dim: 8, paddingIdx: 0 })).toEqualTypeOf<EmbeddingConfig>();
expectTypeOf(layers.dense({ units: 4, tieEmbedding: true }).tieEmbedding).toEqualTypeOf<true | undefined>();
expectTypeOf(layers.lstm({ units: 4, dropout: 0.1, recurrentDropout: 0.2 }).recurrentDropout).toEqualTypeOf<number | undefined>();
// @ts-expect-error -- an embedding's width is dim, not units
layers.embedding({ units: 8 });

// @ts-expect-error -- units must be a number
layers.lstm({ units: '32' });
// @ts-expect-error -- units is required
layers.gru({});
// @ts-expect-error -- misspelled option name
layers.lstm({ units: 4, returnSequence: true });
// @ts-expect-error -- GRU variants are 'full' and 'minimal'
layers.gru({ units: 4, variant: 'tiny' });
// @ts-expect-error -- a plain RNN is tanh or relu
layers.rnn({ units: 4, activation: 'sigmoid' });
// @ts-expect-error -- no such dense activation
layers.dense({ units: 4, activation: 'gelu' });
// @ts-expect-error -- peephole is a boolean or 'none' | 'diagonal' | 'full'
layers.lstm({ units: 4, peephole: 'partial' });
// @ts-expect-error -- dropout takes a rate, not units
layers.dropout({ units: 4 });
// @ts-expect-error -- the builders' results are readonly
layers.lstm({ units: 4 }).units = 8;
// @ts-expect-error -- no convolution layer
void layers.conv1d;

// ---- sequential -------------------------------------------------------------------------

const lm = sequential({
  input: { vocabSize: 30 },
  layers: [layers.lstm({ units: 32 }), layers.dropout({ rate: 0.1 }), layers.dense({ units: 30, activation: 'softmax' })],
  loss: 'crossEntropy',
  reduction: 'mean',
  seed: 1,
  dtype: 'float32',
});
expectTypeOf(lm).toEqualTypeOf<Model>();
expectTypeOf(
  new Model({
    input: { features: 3 },
    layers: [
      { type: 'gru', units: 4 },
      { type: 'dense', units: 1 },
    ],
    loss: 'mse',
  }),
).toEqualTypeOf<Model>();
// layer literals, with or without the builders; a condition input
const config: SequentialConfig = {
  input: { features: 2 },
  layers: [
    { type: 'rnn', units: 3, activation: 'tanh' },
    { type: 'dropout', rate: 0.5 },
    { type: 'dense', units: 1, activation: 'sigmoid' },
  ],
  loss: 'binaryCrossEntropy',
  condition: { features: 4 },
};
sequential(config);

// @ts-expect-error -- layers is required
sequential({ input: { vocabSize: 3 } });
// @ts-expect-error -- input is vocabSize or features
sequential({ input: { vocab: 3 }, layers: [] });
// @ts-expect-error -- vocabSize must be a number
sequential({ input: { vocabSize: '3' }, layers: [] });
// @ts-expect-error -- losses are camelCase
sequential({ input: { vocabSize: 3 }, layers: [], loss: 'crossentropy' });
// @ts-expect-error -- no such reduction
sequential({ input: { vocabSize: 3 }, layers: [], reduction: 'none' });
// @ts-expect-error -- dtype is float32 or float64
sequential({ input: { vocabSize: 3 }, layers: [], dtype: 'float16' });
// @ts-expect-error -- no such layer type
sequential({ input: { vocabSize: 3 }, layers: [{ type: 'conv', units: 3 }] });
// @ts-expect-error -- an LSTM has no activation option
sequential({ input: { vocabSize: 3 }, layers: [{ type: 'lstm', units: 3, activation: 'relu' }] });
// @ts-expect-error -- a layer literal needs its type
sequential({ input: { vocabSize: 3 }, layers: [{ units: 3 }] });
// @ts-expect-error -- misspelled top-level option
sequential({ input: { vocabSize: 3 }, layers: [], seeed: 1 });

// ---- Model: properties and synchronous methods -------------------------------------------

declare const model: Model;
expectTypeOf(model.config).toEqualTypeOf<ModelConfig>();
expectTypeOf(model.config.layers).toEqualTypeOf<readonly LayerConfig[]>();
expectTypeOf(model.numParams).toEqualTypeOf<number>();
expectTypeOf(model.weightNames).toEqualTypeOf<readonly string[]>();
expectTypeOf(model.disposed).toEqualTypeOf<boolean>();
expectTypeOf(model.tokenizer).toEqualTypeOf<Tokenizer | undefined>();
expectTypeOf(model.summary()).toEqualTypeOf<string>();
expectTypeOf(model.outputShape(2, 5)).toEqualTypeOf<number[]>();
expectTypeOf(model.getWeights()).toEqualTypeOf<Record<string, Tensor>>();
expectTypeOf(model.initialState(2)).toEqualTypeOf<StateTensors[]>();
expectTypeOf(model.dispose()).toEqualTypeOf<void>();
model.setWeights({ 'lstm_0.W': new Float32Array(4), 'dense_1.b': { shape: [4], data: new Float64Array(4) } });
model.epoch = 3;
model.tokenizer = CharTokenizer.fromText('abc');

// @ts-expect-error -- numParams is readonly
model.numParams = 3;
// @ts-expect-error -- the normalized config is readonly
model.config.loss = 'mse';
// @ts-expect-error -- disposed is a getter only
model.disposed = true;
// @ts-expect-error -- weights are typed arrays or tensors
model.setWeights({ 'dense_1.b': [0, 0] });
// @ts-expect-error -- the batch size is a number
model.initialState('2');

// ---- Model: asynchronous methods ---------------------------------------------------------

const tokens = [
  [1, 2, 3],
  [4, 5, 0],
];
const next = [
  [2, 3, 4],
  [5, 6, 0],
];
const features = { data: new Float32Array(2 * 3 * 2), shape: [2, 3, 2] };

expectTypeOf(await model.predict(tokens)).toEqualTypeOf<Tensor>();
expectTypeOf(await model.predict(features, { lengths: [3, 2] })).toEqualTypeOf<Tensor>();
expectTypeOf((await model.predict(tokens)).data).toEqualTypeOf<FloatArray>();
expectTypeOf<FloatArray>().toEqualTypeOf<Float32Array | Float64Array>();
const fwd = await model.forward(tokens, { training: false, initialState: [null, { h: new Float32Array(8) }] });
expectTypeOf(fwd).toEqualTypeOf<ForwardResult>();
expectTypeOf(fwd.finalState).toEqualTypeOf<StateTensors[]>();
const g = await model.gradients(tokens, next, { lengths: new Int32Array([3, 2]) });
expectTypeOf(g).toEqualTypeOf<GradientsResult>();
expectTypeOf(g.grads).toEqualTypeOf<Record<string, Tensor>>();
expectTypeOf(g.conditionGrad).toEqualTypeOf<Tensor | undefined>();
const ts = await model.trainStep(tokens, next, {
  optimizer: { type: 'adamw', lr: 1e-3, weightDecay: 0.01 },
  clipNorm: 1,
  nonFinite: 'skip',
  returnState: true,
});
expectTypeOf(ts).toEqualTypeOf<TrainStepResult>();
expectTypeOf(ts.skipped).toEqualTypeOf<boolean | undefined>();
expectTypeOf(await model.evaluateBatch(tokens, next)).toEqualTypeOf<BatchEvaluation>();
expectTypeOf(await model.applyGradients(g.grads, { optimizer: 'sgd' })).toEqualTypeOf<{ gradNorm: number }>();
expectTypeOf(await model.backwardFrom(tokens, { outputGrad: new Float32Array(6) })).toEqualTypeOf<Omit<GradientsResult, 'loss'>>();
const step = await model.step(model.initialState(2), [BOS_ID, BOS_ID]);
expectTypeOf(step).toEqualTypeOf<StepResult>();
expectTypeOf(step.probs).toEqualTypeOf<FloatArray>();
await model.step(step.state, 5);
expectTypeOf(model.save('model.rnnkit')).toEqualTypeOf<Promise<void>>();
expectTypeOf(load('model.rnnkit')).toEqualTypeOf<Promise<Model>>();
expectTypeOf(Model.load('model.rnnkit')).toEqualTypeOf<Promise<Model>>();
const optimizers: OptimizerConfig[] = [
  'sgd',
  'adam',
  'adamw',
  { type: 'sgd', momentum: 0.9, nesterov: true },
  { type: 'adam', beta1: 0.9, beta2: 0.999, eps: 1e-8 },
];
void optimizers;

// @ts-expect-error -- inputs are token ids or features, not text
await model.predict('hello');
// @ts-expect-error -- a flat array is not a batch
await model.predict([1, 2, 3]);
// @ts-expect-error -- lengths are numbers
await model.predict(tokens, { lengths: ['3', '2'] });
// @ts-expect-error -- no such optimizer
await model.trainStep(tokens, next, { optimizer: 'rmsprop' });
// @ts-expect-error -- optimizer names are lower case
await model.trainStep(tokens, next, { optimizer: { type: 'Adam' } });
// @ts-expect-error -- SGD has no beta1
await model.trainStep(tokens, next, { optimizer: { type: 'sgd', beta1: 0.9 } });
// @ts-expect-error -- the learning rate is a number
await model.trainStep(tokens, next, { optimizer: { type: 'adam', lr: '1e-3' } });
// @ts-expect-error -- clipNorm is a number
await model.trainStep(tokens, next, { clipNorm: '1' });
// @ts-expect-error -- nonFinite is 'throw' or 'skip'
await model.trainStep(tokens, next, { nonFinite: 'ignore' });
// @ts-expect-error -- targets are required
await model.gradients(tokens);
// @ts-expect-error -- targets are numbers
await model.gradients(tokens, [['a']]);
// @ts-expect-error -- a token id, not a string
await model.step(model.initialState(), 'a');
// @ts-expect-error -- the path is a string
await model.save(42);

// ---- data and fit -----------------------------------------------------------------------

const lmData = languageModelData([[5, 6, 7], new Int32Array([8, 9])], { bos: BOS_ID, eos: EOS_ID });
expectTypeOf(lmData).toEqualTypeOf<SequenceDataset>();
expectTypeOf(lmData.kind).toEqualTypeOf<'sequences'>();
const stream = textStream(new Int32Array(100), { seqLen: 16 });
expectTypeOf(stream).toEqualTypeOf<StreamDataset>();
const rows: RowDataset = { inputs: features, targets: [[1], [0]], lengths: [3, 2] };
const datasets: Dataset[] = [lmData, stream, rows];
void datasets;

const fitOptions: FitOptions = {
  epochs: 2,
  batchSize: 32,
  optimizer: { type: 'adam', lr: 1e-3 },
  clipNorm: 5,
  shuffle: true,
  validation: lmData,
  signal: new AbortController().signal,
  nonFinite: 'throw',
  seed: 7,
  onBatchEnd: (log) => {
    expectTypeOf(log).toEqualTypeOf<BatchLog>();
  },
  onEpochEnd: async (log) => {
    expectTypeOf(log).toEqualTypeOf<EpochLog>();
    expectTypeOf(log.perplexity).toEqualTypeOf<number | undefined>();
    await Promise.resolve();
  },
};
const history = await model.fit(lmData, fitOptions);
expectTypeOf(history).toEqualTypeOf<History>();
expectTypeOf(history.epochs).toEqualTypeOf<EpochLog[]>();
expectTypeOf(history.aborted).toEqualTypeOf<boolean>();
expectTypeOf(await model.fit(rows)).toEqualTypeOf<History>();
expectTypeOf(await model.evaluate(stream, { batchSize: 8 })).toEqualTypeOf<Evaluation>();

// @ts-expect-error -- bos and eos are required
languageModelData([[1, 2]], { bos: BOS_ID });
// @ts-expect-error -- sequences of ids, not strings
languageModelData(['abc'], { bos: BOS_ID, eos: EOS_ID });
// @ts-expect-error -- misspelled seqLen
textStream([1, 2, 3], { seqlen: 2 });
// @ts-expect-error -- misspelled fit option
await model.fit(lmData, { epoch: 3 });
// @ts-expect-error -- batchSize is a number
await model.fit(lmData, { batchSize: '32' });
// @ts-expect-error -- validation data is a dataset
await model.fit(lmData, { validation: [1, 2, 3] });
// @ts-expect-error -- the callback gets a BatchLog, which has no accuracy
await model.fit(lmData, { onBatchEnd: (log) => void log.accuracy });
// @ts-expect-error -- a dataset has inputs and targets
await model.fit({ inputs: tokens });

// ---- generation ---------------------------------------------------------------------------

expectTypeOf(
  await model.generate({
    prime: [BOS_ID],
    maxLength: 20,
    n: 3,
    temperature: 0.8,
    topK: 5,
    topP: 0.9,
    seed: 1,
    stopTokens: [EOS_ID],
    banTokens: [UNK_ID],
  }),
).toEqualTypeOf<number[][]>();
await model.generate({ prime: new Int32Array([BOS_ID]), condition: [[0, 1]], initialState: [null] });
const charTok = CharTokenizer.fromText('hello world', { lowercase: true, minFrequency: 1, maxVocab: 100 });
expectTypeOf(await generateText(model, charTok, { prime: 'he', maxLength: 10, temperature: 0.5 })).toEqualTypeOf<string[]>();
expectTypeOf(charTok).toExtend<SamplingTokenizer>();

// @ts-expect-error -- generate primes with ids; text goes through generateText
await model.generate({ prime: 'abc' });
// @ts-expect-error -- misspelled temperature
await model.generate({ temp: 0.5 });
// @ts-expect-error -- maxLength is a number
await model.generate({ maxLength: '20' });
// @ts-expect-error -- generateText primes with text
await generateText(model, charTok, { prime: [BOS_ID] });
// @ts-expect-error -- generateText has no stopTokens (it stops at <eos>)
await generateText(model, charTok, { stopTokens: [EOS_ID] });
// without a tokenizer: model.tokenizer
expectTypeOf(generateText(model, { prime: 'a' })).toEqualTypeOf<Promise<string[]>>();
// @ts-expect-error -- generateText primes with text, also without a tokenizer
await generateText(model, { prime: [BOS_ID] });

const sampler = batchedSampler(model, { maxBatch: 64, maxWaitMs: 2 });
expectTypeOf(sampler).toEqualTypeOf<BatchedSampler>();
expectTypeOf(sampler.generate({ prime: [BOS_ID], maxLength: 20, seed: 1, signal: new AbortController().signal })).toEqualTypeOf<
  Promise<number[]>
>();
expectTypeOf(sampler.generateText({ prime: 'he', temperature: 0.8 })).toEqualTypeOf<Promise<string>>();
for await (const token of sampler.stream({ prime: 'he' })) expectTypeOf(token).toEqualTypeOf<{ id: number; text?: string }>();
expectTypeOf(sampler.close()).toEqualTypeOf<Promise<void>>();
// @ts-expect-error -- a request is one sequence: no n
await sampler.generate({ n: 2 });
// @ts-expect-error -- no initialState in a request
await sampler.generate({ initialState: [] });

// ---- tokenizers -------------------------------------------------------------------------

expectTypeOf(charTok).toEqualTypeOf<CharTokenizer>();
expectTypeOf(charTok).toExtend<Tokenizer>();
expectTypeOf(charTok.kind).toEqualTypeOf<'char'>();
expectTypeOf(charTok.encode('hi', { addBos: true, addEos: true })).toEqualTypeOf<Int32Array>();
expectTypeOf(charTok.decode([5, 6], { skipSpecial: false })).toEqualTypeOf<string>();
expectTypeOf(charTok.decode(new Int32Array([5, 6]))).toEqualTypeOf<string>();
expectTypeOf(charTok.oneHot([5])).toEqualTypeOf<Float32Array>();
expectTypeOf(charTok.tokens()).toEqualTypeOf<string[]>();
expectTypeOf(charTok.idOf('h')).toEqualTypeOf<number>();
expectTypeOf(charTok.tokenOf(5)).toEqualTypeOf<string>();
expectTypeOf(charTok.options).toEqualTypeOf<{ lowercase: boolean; minFrequency: number; maxVocab: number }>();
expectTypeOf(charTok.toJSON()).toEqualTypeOf<CharTokenizerJSON>();
const wordTok = WordTokenizer.fromText(['the cat', 'the dog'], { pattern: /\w+/gu, maxVocab: 1000 });
expectTypeOf(wordTok.kind).toEqualTypeOf<'word'>();
expectTypeOf(wordTok.options.pattern).toEqualTypeOf<RegExp>();
expectTypeOf(wordTok.toJSON()).toEqualTypeOf<WordTokenizerJSON>();
const restored = tokenizerFromJSON(JSON.parse('{}'));
expectTypeOf(restored).toEqualTypeOf<CharTokenizer | WordTokenizer>();
if (restored.kind === 'word') expectTypeOf(restored).toEqualTypeOf<WordTokenizer>();
expectTypeOf(CharTokenizer.fromJSON(charTok.toJSON())).toEqualTypeOf<CharTokenizer>();
const json: TokenizerJSON = wordTok.toJSON();
expectTypeOf(json.format).toEqualTypeOf<'rnnkit-tokenizer'>();
expectTypeOf<typeof TOKENIZER_FORMAT>().toEqualTypeOf<'rnnkit-tokenizer'>();
expectTypeOf<typeof TOKENIZER_VERSION>().toEqualTypeOf<1>();
expectTypeOf(SPECIAL_TOKENS).toEqualTypeOf<readonly ['<pad>', '<unk>', '<bos>', '<eos>']>();
expectTypeOf([PAD_ID, UNK_ID, BOS_ID, EOS_ID, NUM_SPECIAL] as const).toEqualTypeOf<readonly [0, 1, 2, 3, 4]>();

// @ts-expect-error -- constructors are private: use fromText or fromJSON
new CharTokenizer(['a']);
// @ts-expect-error -- Tokenizer is an abstract base with a protected constructor
new Tokenizer(['a']);
// @ts-expect-error -- the corpus is text
CharTokenizer.fromText(42);
// @ts-expect-error -- the word pattern is a RegExp
WordTokenizer.fromText('a b', { pattern: '\\w+' });
// @ts-expect-error -- char tokenizers have no pattern
CharTokenizer.fromText('ab', { pattern: /./u });
// @ts-expect-error -- misspelled encode option
charTok.encode('a', { bos: true });
// @ts-expect-error -- decode takes ids, not text
charTok.decode('abc');
// @ts-expect-error -- the vocabulary size is readonly
charTok.size = 3;
// @ts-expect-error -- the char tokenizer is not a word tokenizer
expectTypeOf(charTok.kind).toEqualTypeOf<'word'>();

// ---- Seq2Seq ------------------------------------------------------------------------------

const s2s = seq2seq({
  sourceVocab: 40,
  targetVocab: 30,
  bos: BOS_ID,
  eos: EOS_ID,
  encoder: [layers.gru({ units: 16, bidirectional: true })],
  decoder: [layers.gru({ units: 32 }), { type: 'dense', units: 30, activation: 'linear' }],
  seed: 3,
  dtype: 'float64',
});
expectTypeOf(s2s).toEqualTypeOf<Seq2Seq>();
expectTypeOf(s2s.encoder).toEqualTypeOf<Model>();
expectTypeOf(s2s.bridge).toEqualTypeOf<'identity' | 'projection'>();
expectTypeOf(s2s.config.sourceVocab).toEqualTypeOf<number>();
expectTypeOf(s2s.config.decoder).toEqualTypeOf<readonly LayerConfig[]>();
const pairs = { sources: [[5, 6, 7]], targets: [new Int32Array([8, 9])] };
expectTypeOf(await s2s.fit(pairs, { epochs: 1, batchSize: 16, validation: pairs, onEpochEnd: () => undefined })).toEqualTypeOf<History>();
expectTypeOf(await s2s.translate(pairs.sources, { beamWidth: 4, maxLength: 20, lengthPenalty: 0.6 })).toEqualTypeOf<number[][]>();
const translator = batchedSampler(s2s, { maxBatch: 32 });
expectTypeOf(translator).toEqualTypeOf<BatchedTranslator>();
expectTypeOf(translator.translate([5, 6, 7], { beamWidth: 4 })).toEqualTypeOf<Promise<number[]>>();
// @ts-expect-error -- a translator takes no tokenizer
batchedSampler(s2s, { tokenizer: charTok });
// @ts-expect-error -- one source per request
await translator.translate([[5, 6]]);
expectTypeOf(await s2s.translateWithScores(pairs.sources)).toEqualTypeOf<Translation[]>();
expectTypeOf((await s2s.evaluate(pairs)).accuracy).toEqualTypeOf<number>();
expectTypeOf((await s2s.trainStep(pairs.sources, pairs.targets, { optimizer: 'adam' })).gradNorm).toEqualTypeOf<number>();
expectTypeOf((await s2s.trainStep(pairs.sources, pairs.targets, { nonFinite: 'skip' })).skipped).toEqualTypeOf<true | undefined>();
expectTypeOf(await s2s.fit(pairs, { nonFinite: 'skip' })).toEqualTypeOf<History>();
// @ts-expect-error -- nonFinite is 'throw' or 'skip'
await s2s.fit(pairs, { nonFinite: 'ignore' });
expectTypeOf(loadSeq2Seq('s2s.rnnkit')).toEqualTypeOf<Promise<Seq2Seq>>();
expectTypeOf(Seq2Seq.load('s2s.rnnkit')).toEqualTypeOf<Promise<Seq2Seq>>();

// @ts-expect-error -- eos is required
seq2seq({ sourceVocab: 4, targetVocab: 4, bos: BOS_ID, encoder: [], decoder: [] });
// @ts-expect-error -- vocabulary sizes are numbers
seq2seq({ sourceVocab: '4', targetVocab: 4, bos: BOS_ID, eos: EOS_ID, encoder: [], decoder: [] });
// @ts-expect-error -- misspelled beamWidth
await s2s.translate(pairs.sources, { beamSize: 4 });
// @ts-expect-error -- sources are id sequences, not text
await s2s.translate(['hello']);
// @ts-expect-error -- the data is { sources, targets }
await s2s.fit({ inputs: pairs.sources, targets: pairs.targets });
// @ts-expect-error -- the bridge is chosen from the config
s2s.bridge = 'identity';

// ---- safetensors (PyTorch interop) ---------------------------------------------------------

const names: SafetensorsNames = { 'layers.0': 'rnn', 'layers.1': 'fc' };
const saveOptions: SaveSafetensorsOptions = { names, dtype: 'float32', metadata: { note: 'x' } };
expectTypeOf(model.saveSafetensors('lm.safetensors', saveOptions)).toEqualTypeOf<Promise<void>>();
const loadOptions: LoadSafetensorsOptions = { config, names, strict: false };
expectTypeOf(loadSafetensors('lm.safetensors', loadOptions)).toEqualTypeOf<Promise<Model>>();
expectTypeOf(Model.loadSafetensors('lm.safetensors')).toEqualTypeOf<Promise<Model>>();
const content = await readSafetensors('lm.safetensors');
expectTypeOf(content).toEqualTypeOf<SafetensorsContent>();
expectTypeOf(content.tensors).toEqualTypeOf<Record<string, SafetensorsTensor>>();
expectTypeOf(content.metadata).toEqualTypeOf<Record<string, string>>();
expectTypeOf(writeSafetensors('copy.safetensors', content.tensors, content.metadata)).toEqualTypeOf<Promise<void>>();
expectTypeOf<SafetensorsDtype>().toEqualTypeOf<'F32' | 'F64'>();
expectTypeOf<typeof SAFETENSORS_FORMAT>().toEqualTypeOf<'rnnkit-safetensors'>();
expectTypeOf<typeof SAFETENSORS_VERSION>().toEqualTypeOf<1>();
expectTypeOf(SAFETENSORS_MAX_HEADER).toEqualTypeOf<number>();

// @ts-expect-error -- dtype is float32 or float64, not the file's F32
await model.saveSafetensors('lm.safetensors', { dtype: 'F32' });
// @ts-expect-error -- names map prefixes to strings
await model.saveSafetensors('lm.safetensors', { names: { 'layers.0': 0 } });
// @ts-expect-error -- metadata values are strings
await model.saveSafetensors('lm.safetensors', { metadata: { epoch: 3 } });
// @ts-expect-error -- strict is a boolean
await loadSafetensors('lm.safetensors', { strict: 'yes' });
// @ts-expect-error -- misspelled option
await loadSafetensors('lm.safetensors', { name: names });
// @ts-expect-error -- tensors are typed arrays with a shape
await writeSafetensors('w.safetensors', { w: [1, 2, 3] });

// ---- scaling out to PyTorch ---------------------------------------------------------------

{
  const lm = sequential({ input: { vocabSize: 10 }, layers: [layers.lstm({ units: 4 }), layers.dense({ units: 10 })] });
  expectTypeOf(exportTorch(lm, 'text', { out: 'pkg', seqLen: 32, optimizer: { type: 'sgd', momentum: 0.9 } })).toEqualTypeOf<
    Promise<TorchPackageManifest>
  >();
  expectTypeOf(exportTorch(lm, ['a', 'b'], { out: 'pkg' })).toEqualTypeOf<Promise<TorchPackageManifest>>();
  expectTypeOf<ExportTorchOptions['out']>().toEqualTypeOf<string>();
  const pkg = await readTorchPackage('pkg');
  expectTypeOf(pkg).toEqualTypeOf<TorchPackage>();
  expectTypeOf(pkg.train).toEqualTypeOf<RowDataset>();
  expectTypeOf(pkg.validation).toEqualTypeOf<RowDataset | undefined>();
  await lm.fit(pkg.train, pkg.fitOptions);
  expectTypeOf(pkg.manifest.training.optimizer.type).toEqualTypeOf<'sgd' | 'adam' | 'adamw'>();
  const { model, result } = await importTorch('trained');
  expectTypeOf(model).toEqualTypeOf<Model>();
  expectTypeOf(result).toEqualTypeOf<TorchResult>();
  expectTypeOf(result.history[0]!.valLoss).toEqualTypeOf<number | undefined>();
  const runOptions: RunTorchOptions = {
    nprocPerNode: 2,
    torchrun: ['/usr/bin/python3', '-m', 'torch.distributed.run'],
    args: ['--epochs', '2'],
  };
  expectTypeOf(runTorchTraining('pkg', runOptions)).toEqualTypeOf<Promise<{ stdout: string; stderr: string }>>();
  expectTypeOf(windowRows(new Int32Array(4), 2)).toEqualTypeOf<RowDataset>();
  expectTypeOf(torchUnsupported(layers.gru({ units: 4 }))).toEqualTypeOf<string | undefined>();
  expectTypeOf<typeof TORCH_PACKAGE_FORMAT>().toEqualTypeOf<'rnnkit-torch-package'>();
  expectTypeOf<typeof TORCH_PACKAGE_VERSION>().toEqualTypeOf<1>();
  // @ts-expect-error -- out is required
  await exportTorch(lm, 'text', { seqLen: 32 });
  // @ts-expect-error -- texts are strings
  await exportTorch(lm, [1, 2], { out: 'pkg' });
  // @ts-expect-error -- train.py's arguments are strings
  await runTorchTraining('pkg', { args: ['--epochs', 2] });
}

// ---- errors -------------------------------------------------------------------------------

type CallCode = 'ERR_BUSY' | 'ERR_DISPOSED' | 'ERR_NATIVE' | 'ERR_NONFINITE' | 'ERR_CLOSED';
type FileCode = 'ERR_CHECKPOINT' | 'ERR_SAFETENSORS' | 'ERR_TORCH_PACKAGE' | 'ERR_TORCH' | 'ERR_VECTORS';
expectTypeOf<RnnkitErrorCode>().toEqualTypeOf<CallCode | FileCode>();
const error = new RnnkitError('ERR_CHECKPOINT', 'bad file', { cause: new Error('short read') });
expectTypeOf(error).toExtend<Error>();
expectTypeOf(error.code).toEqualTypeOf<RnnkitErrorCode>();
function codeOf(err: unknown): RnnkitErrorCode | undefined {
  return err instanceof RnnkitError ? err.code : undefined;
}
if (codeOf(error) === 'ERR_BUSY') expectTypeOf(error.code).toEqualTypeOf<RnnkitErrorCode>();

// @ts-expect-error -- misspelled error code
if (error.code === 'ERR_BUZY') void error;
// @ts-expect-error -- only the listed codes exist
new RnnkitError('ERR_TIMEOUT', 'late');
// @ts-expect-error -- the code is readonly
error.code = 'ERR_BUSY';

// ---- state shapes -----------------------------------------------------------------------

const state: LayerState = { h: new Float32Array(4), c: { shape: [1, 1, 4], data: new Float32Array(4) } };
void state;
// @ts-expect-error -- a state needs h
const noH: LayerState = { c: new Float32Array(4) };
void noH;

// ---- runtime ------------------------------------------------------------------------------

const runtime: Info = info();
expectTypeOf(runtime).toEqualTypeOf<{
  version: string;
  binary: string;
  cpu: CpuInfo;
  isa: IsaLevel;
  blas: string;
  blasCore: string;
  blasCoreDetected: string;
  blasCoreChosenBy: BlasCoreChooser;
  blasCoreWanted: string | null;
  largeProducts: 'openblas' | 'rnnkit';
  blasStatic: boolean;
  threads: number;
  maxThreads: number;
  buildType: string;
}>();
expectTypeOf<CpuInfo>().toEqualTypeOf<{
  vendor: string;
  avx: boolean;
  avx2: boolean;
  fma: boolean;
  avx512f: boolean;
  avx512bw: boolean;
  avx512dq: boolean;
  avx512vl: boolean;
  avx512bf16: boolean;
}>();
expectTypeOf<IsaLevel>().toEqualTypeOf<'avx512' | 'avx2' | 'baseline'>();
expectTypeOf<BlasCoreChooser>().toEqualTypeOf<'user' | 'openblas' | 'rnnkit'>();
// @ts-expect-error -- only the three choosers
const chooser: BlasCoreChooser = 'system';
void chooser;
expectTypeOf(setThreads).parameters.toEqualTypeOf<[n: number]>();
expectTypeOf(setThreads(runtime.threads)).toEqualTypeOf<void>();
// @ts-expect-error -- n is a number, not a string
setThreads('2');
