/**
 * The model config given to `sequential`: validation, defaults, structural
 * rules, the shapes that flow through the layers, and the native spec.
 */
import { rangeError, received, typeError } from './errors.js';
import { isRecurrent, normalizeLayer, type LayerConfig, type RecurrentConfig, type LayerInput } from './layers.js';
import type { Dtype, NativeLayerSpec, NativeModelSpec } from './native.js';
import { LIMITS } from './limits.js';
import { integer, isObject, knownKeys, object, oneOf, withDefault } from './validate.js';

/** Largest accepted vocabulary size or feature count. */
export const MAX_INPUT_SIZE = LIMITS.inputSize;

/**
 * Loss functions.
 *
 * @example
 * const loss: Loss = 'mse';
 */
export type Loss = 'crossEntropy' | 'binaryCrossEntropy' | 'mse';
/**
 * Loss reductions over valid positions.
 *
 * @example
 * const reduction: Reduction = 'sum'; // the course's J = sum_t L<t>
 */
export type Reduction = 'mean' | 'sum';

/**
 * What a model reads: token ids over a vocabulary, or feature vectors.
 *
 * @example
 * const input: InputConfig = { vocabSize: 27 };
 */
export type InputConfig = { readonly vocabSize: number } | { readonly features: number };

/**
 * The config of `sequential(config)`.
 *
 * @example
 * const config: SequentialConfig = {
 *   input: { vocabSize: 27 },
 *   layers: [layers.gru({ units: 32 }), layers.dense({ units: 27 })],
 * };
 */
export interface SequentialConfig {
  input: { vocabSize: number } | { features: number };
  layers: readonly LayerInput[];
  /** default 'crossEntropy' */
  loss?: Loss;
  /** default 'mean' */
  reduction?: Reduction;
  /** uint32, default 0: seeds weight initialisation and dropout masks */
  seed?: number;
  /** default 'float32'; 'float64' is meant for gradient checks */
  dtype?: Dtype;
  /**
   * One-to-many: a conditioning vector of `features` floats per row, mapped by a
   * dense tanh layer (`condition.weight`, `condition.bias`) into the initial
   * state of the first recurrent layer (h0, and c0 for an LSTM). Calls then
   * take `options.condition`.
   */
  condition?: { features: number };
}

/**
 * A normalized, frozen model config (`model.config`): every default filled in.
 *
 * @example
 * model.config.layers[0].type; // 'lstm'
 */
export interface ModelConfig {
  readonly input: InputConfig;
  readonly layers: readonly LayerConfig[];
  readonly loss: Loss;
  readonly reduction: Reduction;
  readonly seed: number;
  readonly dtype: Dtype;
  /** present when the model takes a conditioning vector */
  readonly condition?: { readonly features: number };
}

/** The shape a layer produces: `seq` = [B, T, width], else [B, width]. */
export interface LayerShape {
  readonly seq: boolean;
  readonly width: number;
}

const PATH = 'config';

function normalizeInput(value: unknown): InputConfig {
  const input = object(value, `${PATH}.input`);
  knownKeys(input, ['vocabSize', 'features'], `${PATH}.input`);
  const hasVocab = input.vocabSize !== undefined;
  const hasFeatures = input.features !== undefined;
  if (hasVocab === hasFeatures) {
    throw typeError('an object with exactly one of vocabSize, features', `${PATH}.input`, value);
  }
  if (hasVocab) return Object.freeze({ vocabSize: integer(input.vocabSize, `${PATH}.input.vocabSize`, 1, MAX_INPUT_SIZE) });
  return Object.freeze({ features: integer(input.features, `${PATH}.input.features`, 1, MAX_INPUT_SIZE) });
}

/**
 * The input width of a model: the vocabulary size for tokens, the feature count otherwise.
 *
 * @throws never
 * @example
 * inputWidth({ vocabSize: 27 }); // 27
 */
export function inputWidth(input: InputConfig): number {
  return 'vocabSize' in input ? input.vocabSize : input.features;
}

/**
 * The output shape of every layer, in order (the last one is the model's output).
 *
 * @throws never (the config is already validated)
 * @example
 * layerShapes(model.config).at(-1); // { seq: true, width: 27 }
 */
export function layerShapes(config: Pick<ModelConfig, 'input' | 'layers'>): LayerShape[] {
  let shape: LayerShape = { seq: true, width: inputWidth(config.input) };
  const out: LayerShape[] = [];
  for (const layer of config.layers) {
    if (isRecurrent(layer)) {
      shape = { seq: layer.returnSequences, width: (layer.bidirectional ? 2 : 1) * layer.units };
    } else if (layer.type === 'dense') {
      shape = { seq: shape.seq, width: layer.units };
    } else if (layer.type === 'embedding') {
      shape = { seq: shape.seq, width: layer.dim };
    } else if (layer.type === 'attention') {
      shape = { seq: shape.seq, width: layer.units };
    }
    out.push(shape);
  }
  return out;
}

function checkStructure(config: Omit<ModelConfig, 'seed' | 'dtype'>): void {
  const { layers, loss } = config;
  if (layers.length === 0) throw rangeError('at least one layer', `${PATH}.layers`, config.layers);
  if (layers.length > LIMITS.layers) throw rangeError(`at most ${LIMITS.layers} layers`, `${PATH}.layers`, config.layers);
  const names = new Map<string, number>();
  let collapsed = -1;
  layers.forEach((layer, i) => {
    const path = `${PATH}.layers[${i}]`;
    if (layer.name !== undefined) {
      const prev = names.get(layer.name);
      if (prev !== undefined) {
        throw rangeError(`a name unique among the layers (layers[${prev}] has it)`, `${path}.name`, layer.name);
      }
      names.set(layer.name, i);
    }
    if (isRecurrent(layer) && collapsed >= 0) {
      throw rangeError(`only dense or dropout layers after layers[${collapsed}] (returnSequences false)`, `${path}.type`, layer.type);
    }
    if (isRecurrent(layer) && !layer.returnSequences) collapsed = i;
    if (layer.type === 'attention') checkAttention(layers, i, collapsed);
  });
  if ('vocabSize' in config.input && layers[0]!.type === 'dropout') {
    throw rangeError('a recurrent, dense or embedding first layer for token input', `${PATH}.layers[0].type`, 'dropout');
  }
  checkEmbedding(config);
  layers.forEach((layer, i) => {
    const path = `${PATH}.layers[${i}]`;
    if (isRecurrent(layer) && layer.dropout !== undefined && i === 0 && 'vocabSize' in config.input) {
      throw rangeError('feature inputs (an embedding first, not token ids) for input dropout', `${path}.dropout`, layer.dropout);
    }
    if (layer.type === 'gru' && layer.recurrentDropout !== undefined && layer.variant === 'full' && !layer.resetAfter) {
      throw rangeError(
        'a GRU with resetAfter true (or the minimal GRU) for recurrent dropout',
        `${path}.recurrentDropout`,
        layer.recurrentDropout,
      );
    }
  });
  const last = layers[layers.length - 1]!;
  const lastPath = `${PATH}.layers[${layers.length - 1}]`;
  if (loss === 'crossEntropy' || loss === 'binaryCrossEntropy') {
    const allowed = loss === 'crossEntropy' ? ['softmax', 'linear'] : ['sigmoid', 'linear'];
    if (last.type !== 'dense') {
      throw rangeError(
        `a final dense layer with activation ${allowed.join(' or ')} (loss '${loss}')`,
        lastPath,
        received(`a final ${last.type} layer`),
      );
    }
    if (!allowed.includes(last.activation)) {
      throw rangeError(`${allowed.map((a) => `'${a}'`).join(' or ')} (loss '${loss}')`, `${lastPath}.activation`, last.activation);
    }
  }
}

/** Attention on a recurrent layer's sequence output, once per model; dot over a memory as wide as its input. */
function checkAttention(layers: readonly LayerConfig[], i: number, collapsed: number): void {
  const path = `${PATH}.layers[${i}]`;
  const below = layers.slice(0, i).filter(isRecurrent);
  if (below.length === 0 || collapsed >= 0) {
    throw rangeError('a recurrent layer with returnSequences true below an attention layer', `${path}.type`, 'attention');
  }
  const other = layers.findIndex((l, k) => k !== i && l.type === 'attention');
  if (other >= 0) throw rangeError(`one attention layer per model (layers[${other}] is one)`, `${path}.type`, 'attention');
  const a = layers[i] as Extract<LayerConfig, { type: 'attention' }>;
  const input = layerShapes({ input: { features: 1 }, layers: layers.slice(0, i) }).at(-1)!.width;
  if (a.score === 'dot' && a.memory !== input) {
    throw rangeError(`a memory as wide as the layer's input (${input}) for dot attention`, `${path}.memory`, a.memory);
  }
}

/** An embedding only first over token input, its paddingIdx a token, a tied dense layer the table's transpose. */
function checkEmbedding(config: Omit<ModelConfig, 'seed' | 'dtype'>): void {
  const { layers, input } = config;
  const vocab = 'vocabSize' in input ? input.vocabSize : undefined;
  layers.forEach((layer, i) => {
    const path = `${PATH}.layers[${i}]`;
    if (layer.type === 'embedding') {
      if (i !== 0 || vocab === undefined) {
        throw rangeError('an embedding only as the first layer of a token-input model', `${path}.type`, 'embedding');
      }
      if (layer.paddingIdx !== undefined && layer.paddingIdx >= vocab) {
        throw rangeError(`a token id in [0, ${vocab - 1}] (config.input.vocabSize)`, `${path}.paddingIdx`, layer.paddingIdx);
      }
    }
    if (layer.type === 'dense' && layer.tieEmbedding) {
      const first = layers[0]!;
      if (first.type !== 'embedding') {
        throw rangeError('an embedding as the first layer (its table is the tied weight)', `${path}.tieEmbedding`, true);
      }
      if (first.sparse) {
        // the tied output layer's gradient fills every row of the table
        throw rangeError(`a dense embedding (${PATH}.layers[0].sparse false) for a tied weight`, `${path}.tieEmbedding`, true);
      }
      if (layer.units !== vocab) {
        throw rangeError(`units = the vocabulary, ${vocab} (a tied weight is the embedding table)`, `${path}.units`, layer.units);
      }
      const width = i === 0 ? vocab : layerShapes(config)[i - 1]!.width;
      if (width !== first.dim) {
        throw rangeError(
          `an input as wide as the embedding (dim ${first.dim}) for a tied weight`,
          `${path}.tieEmbedding`,
          received(`an input of width ${width}`),
        );
      }
    }
  });
}

/**
 * Validates a `sequential` config and returns it normalized and frozen.
 *
 * @throws TypeError for a wrongly typed field, a missing input or an unknown key
 * @throws RangeError for an out-of-range value, no layers, duplicate layer
 *   names, or a structure the model cannot run (see the API contract)
 * @example
 * const config = normalizeConfig({ input: { features: 3 }, layers: [{ type: 'rnn', units: 4 }], loss: 'mse' });
 */
export function normalizeConfig(value: unknown): ModelConfig {
  const config = object(value, PATH);
  knownKeys(config, ['input', 'layers', 'loss', 'reduction', 'seed', 'dtype', 'condition'], PATH);
  const input = normalizeInput(config.input);
  if (!Array.isArray(config.layers)) throw typeError('an array of layers', `${PATH}.layers`, config.layers);
  const layers = Object.freeze(
    Array.from(config.layers as unknown[], (layer: unknown, i) => {
      const path = `${PATH}.layers[${i}]`;
      if (!isObject(layer)) throw typeError('a layer config (e.g. layers.lstm({ units }))', path, layer);
      return normalizeLayer(layer, path);
    }),
  );
  const loss = withDefault(config.loss, 'crossEntropy' as const, (v) =>
    oneOf(v, `${PATH}.loss`, ['crossEntropy', 'binaryCrossEntropy', 'mse'] as const),
  );
  const reduction = withDefault(config.reduction, 'mean' as const, (v) => oneOf(v, `${PATH}.reduction`, ['mean', 'sum'] as const));
  const seed = withDefault(config.seed, 0, (v) => integer(v, `${PATH}.seed`, 0, 0xffffffff));
  const dtype = withDefault(config.dtype, 'float32' as const, (v) => oneOf(v, `${PATH}.dtype`, ['float32', 'float64'] as const));
  checkStructure({ input, layers, loss, reduction });
  if (config.condition === undefined) return Object.freeze({ input, layers, loss, reduction, seed, dtype });
  const cond = object(config.condition, `${PATH}.condition`);
  knownKeys(cond, ['features'], `${PATH}.condition`);
  const features = integer(cond.features, `${PATH}.condition.features`, 1, MAX_INPUT_SIZE);
  if (!layers.some(isRecurrent)) {
    throw rangeError('a recurrent layer whose initial state the condition sets', `${PATH}.condition`, received('no recurrent layer'));
  }
  return Object.freeze({ input, layers, loss, reduction, seed, dtype, condition: Object.freeze({ features }) });
}

/** A recurrent layer's variational dropout rates, for the native spec (absent when 0). */
function variational(layer: RecurrentConfig): { dropout?: number; recurrentDropout?: number } {
  return {
    ...(layer.dropout !== undefined ? { dropout: layer.dropout } : {}),
    ...(layer.recurrentDropout !== undefined ? { recurrentDropout: layer.recurrentDropout } : {}),
  };
}

function nativeLayer(layer: LayerConfig): NativeLayerSpec {
  switch (layer.type) {
    case 'lstm':
      return {
        type: 'lstm',
        units: layer.units,
        peephole: layer.peephole,
        bidirectional: layer.bidirectional,
        returnSequences: layer.returnSequences,
        ...variational(layer),
      };
    case 'gru':
      return {
        type: 'gru',
        units: layer.units,
        variant: layer.variant,
        resetAfter: layer.resetAfter,
        bidirectional: layer.bidirectional,
        returnSequences: layer.returnSequences,
        ...variational(layer),
      };
    case 'rnn':
      return {
        type: 'rnn',
        units: layer.units,
        activation: layer.activation,
        bidirectional: layer.bidirectional,
        returnSequences: layer.returnSequences,
        ...variational(layer),
      };
    case 'dense':
      return { type: 'dense', units: layer.units, activation: layer.activation, ...(layer.tieEmbedding ? { tieEmbedding: true } : {}) };
    case 'dropout':
      return { type: 'dropout', rate: layer.rate };
    case 'embedding':
      return {
        type: 'embedding',
        units: layer.dim,
        paddingIdx: layer.paddingIdx ?? -1,
        frozen: layer.trainable === false,
        sparse: layer.sparse === true,
      };
    case 'attention':
      return {
        type: 'attention',
        units: layer.units,
        score: layer.score,
        memoryCols: layer.memory,
        ...(layer.attentionUnits !== undefined ? { attentionUnits: layer.attentionUnits } : {}),
      };
  }
}

/**
 * The native addon's spec for a normalized config.
 *
 * @throws never
 * @example
 * new (native().NativeModel)(nativeSpec(config));
 */
export function nativeSpec(config: ModelConfig): NativeModelSpec {
  const tokens = 'vocabSize' in config.input;
  return {
    inputKind: tokens ? 'tokens' : 'features',
    inputSize: inputWidth(config.input),
    layers: config.layers.map(nativeLayer),
    loss: config.loss,
    reduction: config.reduction,
    seed: config.seed,
    dtype: config.dtype,
    ...(config.condition ? { conditionFeatures: config.condition.features } : {}),
  };
}
