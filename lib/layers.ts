/**
 * Layer factories: `layers.lstm/gru/rnn/dense/dropout/embedding(options)` return plain,
 * frozen config objects discriminated by `type`, with every default filled in.
 * Options are checked eagerly, so a typo fails where it is written.
 */
import { boolean, integer, knownKeys, layerName, number, object, oneOf, withDefault, type Dict } from './validate.js';
import { rangeError, typeError } from './errors.js';
import { LIMITS, UNIT_OPEN } from './limits.js';

/** Largest accepted `units` of any layer. */
export const MAX_UNITS = LIMITS.units;

/**
 * Fields shared by the recurrent layers' configs.
 *
 * @example
 * layers.gru({ units: 8 }).returnSequences; // true
 */
export interface RecurrentConfigBase {
  /** hidden size H */
  readonly units: number;
  /** output every step ([B, T, dirs*H]) or only the last valid one ([B, dirs*H]); default true */
  readonly returnSequences: boolean;
  /** run a backward direction too and concatenate both outputs; default false */
  readonly bidirectional: boolean;
  /**
   * variational dropout on the layer's inputs (Gal & Ghahramani 2016; Keras's
   * `dropout`): one mask per sequence, the same at every step, training only;
   * present when > 0. Needs feature inputs (an embedding first, not token ids).
   */
  readonly dropout?: number;
  /** the same on h<t-1> where it enters the recurrent product (Keras's `recurrent_dropout`); present when > 0 */
  readonly recurrentDropout?: number;
  /** prefix of the layer's weight names instead of `layers.<i>` */
  readonly name?: string;
}

/**
 * An LSTM layer (gates i, f, g, o), optionally with peepholes.
 *
 * @example
 * const l: LstmConfig = layers.lstm({ units: 8, peephole: true }); // peephole 'diagonal'
 */
export interface LstmConfig extends RecurrentConfigBase {
  readonly type: 'lstm';
  /** 'none' (default), 'diagonal' (one weight per unit and gate) or 'full' ([3H, H]) */
  readonly peephole: 'none' | 'diagonal' | 'full';
}

/**
 * A GRU layer: full (r, z, n; PyTorch) or minimal (update gate only).
 *
 * @example
 * const l: GruConfig = layers.gru({ units: 8, variant: 'minimal' });
 */
export interface GruConfig extends RecurrentConfigBase {
  readonly type: 'gru';
  /** 'full' (default) or 'minimal' */
  readonly variant: 'full' | 'minimal';
  /** reset gate applied after the recurrent product (PyTorch, default true) */
  readonly resetAfter: boolean;
}

/**
 * A vanilla (Elman) RNN layer.
 *
 * @example
 * const l: RnnConfig = layers.rnn({ units: 8, activation: 'relu' });
 */
export interface RnnConfig extends RecurrentConfigBase {
  readonly type: 'rnn';
  /** 'tanh' (default) or 'relu' */
  readonly activation: 'tanh' | 'relu';
}

/**
 * A (time-distributed) fully connected layer.
 *
 * @example
 * const l: DenseConfig = layers.dense({ units: 10, activation: 'softmax' });
 */
export interface DenseConfig {
  readonly type: 'dense';
  readonly units: number;
  /** 'linear' (default), 'softmax', 'sigmoid', 'tanh' or 'relu' */
  readonly activation: 'linear' | 'softmax' | 'sigmoid' | 'tanh' | 'relu';
  /**
   * present (true) when the weight is the first layer's embedding table (weight
   * tying, Press & Wolf 2017): units must be the vocabulary and the input as wide
   * as the embedding; the layer then has only its bias of its own
   */
  readonly tieEmbedding?: true;
  readonly name?: string;
}

/**
 * A token embedding, the first layer of a token-input model: a table of one
 * `dim`-wide row per token id (PyTorch's nn.Embedding: weight [vocabSize, dim],
 * initialised N(0, 1)). Its gradient touches only the rows of the batch's
 * tokens; the row of `paddingIdx` (if given) starts at zero and gets no gradient.
 *
 * @example
 * const l: EmbeddingConfig = layers.embedding({ dim: 64, paddingIdx: 0 });
 */
export interface EmbeddingConfig {
  readonly type: 'embedding';
  readonly dim: number;
  /** a token id whose row stays zero and gets no gradient (e.g. `<pad>`) */
  readonly paddingIdx?: number;
  /** present (false) when the table is frozen: no gradient, never updated (pretrained vectors kept) */
  readonly trainable?: false;
  /** present (true) when a step updates only the rows its batch used (Adam runs there as PyTorch's SparseAdam) */
  readonly sparse?: true;
  readonly name?: string;
}

/**
 * Inverted dropout, active only when training.
 *
 * @example
 * const l: DropoutConfig = layers.dropout({ rate: 0.2 });
 */
export interface DropoutConfig {
  readonly type: 'dropout';
  /** drop probability in [0, 1) */
  readonly rate: number;
  readonly name?: string;
}

/**
 * Attention over an encoder's outputs (Luong et al. 2015), the layer a Seq2Seq built
 * with `attention` puts on its decoder's top recurrent layer (native/attention.h has
 * the equations). It needs a `memory` in every call (the Seq2Seq passes the encoder's
 * outputs); there is no factory for it in `layers`.
 *
 * @example
 * const l: AttentionConfig = { type: 'attention', score: 'general', units: 64, memory: 128, name: 'attention' };
 */
export interface AttentionConfig {
  readonly type: 'attention';
  /** 'dot' (s . m), 'general' (s . W_a m) or 'additive' (v . tanh(W_s s + W_h m)) */
  readonly score: 'dot' | 'general' | 'additive';
  /** width of the attentional hidden state tanh(W_c [c; s] + b_c) */
  readonly units: number;
  /** width of the memory it attends over (the encoder's output) */
  readonly memory: number;
  /** additive: width of the score's hidden layer */
  readonly attentionUnits?: number;
  readonly name?: string;
}

/**
 * Any layer's normalized config.
 *
 * @example
 * const stack: LayerConfig[] = [layers.lstm({ units: 8 }), layers.dense({ units: 4 })];
 */
export type LayerConfig = LstmConfig | GruConfig | RnnConfig | DenseConfig | DropoutConfig | EmbeddingConfig | AttentionConfig;

/**
 * A recurrent layer's normalized config.
 *
 * @example
 * if (isRecurrent(layer)) layer.units;
 */
export type RecurrentConfig = LstmConfig | GruConfig | RnnConfig;

/**
 * Options of {@link layers}.lstm.
 *
 * @example
 * const o: LstmOptions = { units: 32, bidirectional: true };
 */
export interface LstmOptions {
  units: number;
  returnSequences?: boolean;
  bidirectional?: boolean;
  /** variational input dropout rate in [0, 1) (default 0) */
  dropout?: number;
  /** variational recurrent dropout rate in [0, 1) (default 0) */
  recurrentDropout?: number;
  /** false / 'none' (default), true / 'diagonal', or 'full' */
  peephole?: boolean | 'none' | 'diagonal' | 'full';
  name?: string;
}

/**
 * Options of {@link layers}.gru.
 *
 * @example
 * const o: GruOptions = { units: 32, resetAfter: false };
 */
export interface GruOptions {
  units: number;
  returnSequences?: boolean;
  bidirectional?: boolean;
  /** variational input dropout rate in [0, 1) (default 0) */
  dropout?: number;
  /** variational recurrent dropout rate in [0, 1) (default 0) */
  recurrentDropout?: number;
  variant?: 'full' | 'minimal';
  resetAfter?: boolean;
  name?: string;
}

/**
 * Options of {@link layers}.rnn.
 *
 * @example
 * const o: RnnOptions = { units: 32, activation: 'relu' };
 */
export interface RnnOptions {
  units: number;
  returnSequences?: boolean;
  bidirectional?: boolean;
  /** variational input dropout rate in [0, 1) (default 0) */
  dropout?: number;
  /** variational recurrent dropout rate in [0, 1) (default 0) */
  recurrentDropout?: number;
  activation?: 'tanh' | 'relu';
  name?: string;
}

/**
 * Options of {@link layers}.dense.
 *
 * @example
 * const o: DenseOptions = { units: 27, activation: 'softmax' };
 */
export interface DenseOptions {
  units: number;
  activation?: DenseConfig['activation'];
  /** share the first layer's embedding table as the weight (default false) */
  tieEmbedding?: boolean;
  name?: string;
}

/**
 * Options of {@link layers}.embedding.
 *
 * @example
 * const o: EmbeddingOptions = { dim: 128, paddingIdx: 0 };
 */
export interface EmbeddingOptions {
  dim: number;
  paddingIdx?: number;
  /** false freezes the table (Keras's trainable, PyTorch's freeze); default true */
  trainable?: boolean;
  /**
   * true: a step reads and updates only the rows of the batch's tokens, as PyTorch's
   * nn.Embedding(sparse=True) with SparseAdam (Adam's moments of the other rows wait until their
   * token comes back: lazy Adam). Plain SGD is unchanged by it (only faster); SGD with momentum or
   * weight decay, and AdamW, still sweep the whole table. Not with a tied output layer. Default false.
   */
  sparse?: boolean;
  name?: string;
}

/**
 * Options of {@link layers}.dropout.
 *
 * @example
 * const o: DropoutOptions = { rate: 0.1 };
 */
export interface DropoutOptions {
  rate: number;
  name?: string;
}

/**
 * A layer as accepted by `sequential`: a factory's result, or the same
 * options written as an object literal with a `type`.
 *
 * @example
 * const l: LayerInput = { type: 'gru', units: 16 };
 */
export type LayerInput =
  | LayerConfig
  | ({ type: 'lstm' } & LstmOptions)
  | ({ type: 'gru' } & GruOptions)
  | ({ type: 'rnn' } & RnnOptions)
  | ({ type: 'dense' } & DenseOptions)
  | ({ type: 'dropout' } & DropoutOptions)
  | ({ type: 'embedding' } & EmbeddingOptions);

const RECURRENT_KEYS = ['type', 'units', 'returnSequences', 'bidirectional', 'dropout', 'recurrentDropout', 'name'] as const;

function units(opts: Dict, path: string): number {
  if (opts.units === undefined) throw typeError('an integer', `${path}.units`, undefined);
  return integer(opts.units, `${path}.units`, 1, MAX_UNITS);
}

function named<T extends object>(config: T, opts: Dict, path: string): Readonly<T & { name?: string }> {
  if (opts.name === undefined) return Object.freeze(config);
  return Object.freeze({ ...config, name: layerName(opts.name, `${path}.name`) });
}

function recurrentBase(opts: Dict, path: string) {
  const rate = (key: 'dropout' | 'recurrentDropout') => withDefault(opts[key], 0, (v) => number(v, `${path}.${key}`, UNIT_OPEN));
  const dropout = rate('dropout');
  const recurrentDropout = rate('recurrentDropout');
  return {
    units: units(opts, path),
    returnSequences: withDefault(opts.returnSequences, true, (v) => boolean(v, `${path}.returnSequences`)),
    bidirectional: withDefault(opts.bidirectional, false, (v) => boolean(v, `${path}.bidirectional`)),
    ...(dropout > 0 ? { dropout } : {}),
    ...(recurrentDropout > 0 ? { recurrentDropout } : {}),
  };
}

function lstmFrom(value: unknown, path: string): LstmConfig {
  const opts = object(value, path);
  knownKeys(opts, [...RECURRENT_KEYS, 'peephole'], path);
  const base = recurrentBase(opts, path);
  let peephole: LstmConfig['peephole'] = 'none';
  if (typeof opts.peephole === 'boolean') peephole = opts.peephole ? 'diagonal' : 'none';
  else if (opts.peephole !== undefined) {
    peephole = oneOf(opts.peephole, `${path}.peephole`, ['none', 'diagonal', 'full'] as const);
  }
  return named({ type: 'lstm' as const, ...base, peephole }, opts, path);
}

function gruFrom(value: unknown, path: string): GruConfig {
  const opts = object(value, path);
  knownKeys(opts, [...RECURRENT_KEYS, 'variant', 'resetAfter'], path);
  const base = recurrentBase(opts, path);
  const variant = withDefault(opts.variant, 'full' as const, (v) => oneOf(v, `${path}.variant`, ['full', 'minimal'] as const));
  const resetAfter = withDefault(opts.resetAfter, true, (v) => boolean(v, `${path}.resetAfter`));
  return named({ type: 'gru' as const, ...base, variant, resetAfter }, opts, path);
}

function rnnFrom(value: unknown, path: string): RnnConfig {
  const opts = object(value, path);
  knownKeys(opts, [...RECURRENT_KEYS, 'activation'], path);
  const base = recurrentBase(opts, path);
  const activation = withDefault(opts.activation, 'tanh' as const, (v) => oneOf(v, `${path}.activation`, ['tanh', 'relu'] as const));
  return named({ type: 'rnn' as const, ...base, activation }, opts, path);
}

function denseFrom(value: unknown, path: string): DenseConfig {
  const opts = object(value, path);
  knownKeys(opts, ['type', 'units', 'activation', 'tieEmbedding', 'name'], path);
  const n = units(opts, path);
  const activation = withDefault(opts.activation, 'linear' as const, (v) =>
    oneOf(v, `${path}.activation`, ['linear', 'softmax', 'sigmoid', 'tanh', 'relu'] as const),
  );
  const tie = withDefault(opts.tieEmbedding, false, (v) => boolean(v, `${path}.tieEmbedding`));
  return named({ type: 'dense' as const, units: n, activation, ...(tie ? { tieEmbedding: true as const } : {}) }, opts, path);
}

function embeddingFrom(value: unknown, path: string): EmbeddingConfig {
  const opts = object(value, path);
  knownKeys(opts, ['type', 'dim', 'paddingIdx', 'trainable', 'sparse', 'name'], path);
  if (opts.dim === undefined) throw typeError('an integer', `${path}.dim`, undefined);
  const dim = integer(opts.dim, `${path}.dim`, 1, MAX_UNITS);
  // the upper bound (the vocabulary) is checked with the model's input
  const pad = opts.paddingIdx === undefined ? {} : { paddingIdx: integer(opts.paddingIdx, `${path}.paddingIdx`, 0, LIMITS.inputSize - 1) };
  const trainable = withDefault(opts.trainable, true, (v) => boolean(v, `${path}.trainable`));
  const sparse = withDefault(opts.sparse, false, (v) => boolean(v, `${path}.sparse`));
  return named(
    {
      type: 'embedding' as const,
      dim,
      ...pad,
      ...(trainable ? {} : { trainable: false as const }),
      ...(sparse ? { sparse: true as const } : {}),
    },
    opts,
    path,
  );
}

function dropoutFrom(value: unknown, path: string): DropoutConfig {
  const opts = object(value, path);
  knownKeys(opts, ['type', 'rate', 'name'], path);
  if (opts.rate === undefined) throw typeError('a number', `${path}.rate`, undefined);
  const rate = number(opts.rate, `${path}.rate`, UNIT_OPEN);
  return named({ type: 'dropout' as const, rate }, opts, path);
}

function attentionFrom(value: unknown, path: string): AttentionConfig {
  const opts = object(value, path);
  knownKeys(opts, ['type', 'score', 'units', 'memory', 'attentionUnits', 'name'], path);
  const score = oneOf(opts.score, `${path}.score`, ['dot', 'general', 'additive'] as const);
  const memory = integer(opts.memory, `${path}.memory`, 1, LIMITS.units);
  const extra: { attentionUnits?: number } = {};
  if (score === 'additive') extra.attentionUnits = integer(opts.attentionUnits, `${path}.attentionUnits`, 1, LIMITS.units);
  else if (opts.attentionUnits !== undefined)
    throw rangeError("no attentionUnits (score 'additive' only)", `${path}.attentionUnits`, opts.attentionUnits);
  return named({ type: 'attention' as const, score, units: units(opts, path), memory, ...extra }, opts, path);
}

const BUILDERS = {
  lstm: lstmFrom,
  gru: gruFrom,
  rnn: rnnFrom,
  dense: denseFrom,
  dropout: dropoutFrom,
  embedding: embeddingFrom,
  attention: attentionFrom,
} as const;

/**
 * Normalizes one layer given to `sequential` (a factory's result or an
 * object literal with a `type`), re-checking every field.
 *
 * @throws TypeError / RangeError naming `<path>.<field>`
 * @example
 * normalizeLayer({ type: 'dense', units: 4 }, 'config.layers[0]');
 */
export function normalizeLayer(value: unknown, path: string): LayerConfig {
  const opts = object(value, path);
  const type = oneOf(opts.type, `${path}.type`, ['lstm', 'gru', 'rnn', 'dense', 'dropout', 'embedding', 'attention'] as const);
  return BUILDERS[type](opts, path);
}

/**
 * True for the recurrent layer configs (lstm, gru, rnn).
 *
 * @throws never
 * @example
 * isRecurrent(layers.gru({ units: 8 })); // true
 */
export function isRecurrent(layer: LayerConfig): layer is RecurrentConfig {
  return layer.type === 'lstm' || layer.type === 'gru' || layer.type === 'rnn';
}

function withType<T>(type: string, options: unknown, build: (v: unknown, p: string) => T, path: string): T {
  const opts = object(options, path);
  if (opts.type !== undefined && opts.type !== type) {
    throw rangeError(`'${type}' or undefined`, `${path}.type`, opts.type);
  }
  return build(opts, path);
}

/**
 * Layer factories. Each returns a frozen config object with its defaults
 * filled in, to be listed in `sequential({ layers })`.
 *
 * - `lstm({ units, returnSequences = true, bidirectional = false, peephole = false, dropout = 0, recurrentDropout = 0, name })`;
 *   `peephole: true` means 'diagonal'.
 * - `gru({ units, returnSequences = true, bidirectional = false, variant = 'full', resetAfter = true, name })`
 * - `rnn({ units, returnSequences = true, bidirectional = false, activation = 'tanh', name })`
 * - `dense({ units, activation = 'linear', tieEmbedding = false, name })`
 * - `dropout({ rate, name })` with 0 <= rate < 1
 * - `embedding({ dim, paddingIdx, trainable, sparse, name })`: the first layer of a token-input model
 *
 * `units` is an integer in [1, 65536]; `name` a non-empty string without '.'.
 *
 * @throws TypeError for a missing or wrongly typed option or an unknown option key
 * @throws RangeError for an out-of-range number, an unknown enum string or a bad name
 * @example
 * const model = sequential({
 *   input: { vocabSize: 27 },
 *   layers: [layers.lstm({ units: 32 }), layers.dense({ units: 27, activation: 'softmax' })],
 * });
 */
export const layers = Object.freeze({
  /**
   * An LSTM layer config.
   * @throws TypeError / RangeError for invalid options
   * @example layers.lstm({ units: 64, bidirectional: true, peephole: true })
   */
  lstm(options: LstmOptions): LstmConfig {
    return withType('lstm', options, lstmFrom, 'layers.lstm() options');
  },
  /**
   * A GRU layer config.
   * @throws TypeError / RangeError for invalid options
   * @example layers.gru({ units: 64, variant: 'minimal' })
   */
  gru(options: GruOptions): GruConfig {
    return withType('gru', options, gruFrom, 'layers.gru() options');
  },
  /**
   * A vanilla RNN layer config.
   * @throws TypeError / RangeError for invalid options
   * @example layers.rnn({ units: 64, activation: 'relu' })
   */
  rnn(options: RnnOptions): RnnConfig {
    return withType('rnn', options, rnnFrom, 'layers.rnn() options');
  },
  /**
   * A dense (time-distributed) layer config.
   * @throws TypeError / RangeError for invalid options
   * @example layers.dense({ units: 10, activation: 'softmax' })
   */
  dense(options: DenseOptions): DenseConfig {
    return withType('dense', options, denseFrom, 'layers.dense() options');
  },
  /**
   * A dropout layer config (inverted dropout, training only).
   * @throws TypeError / RangeError for invalid options
   * @example layers.dropout({ rate: 0.2 })
   */
  dropout(options: DropoutOptions): DropoutConfig {
    return withType('dropout', options, dropoutFrom, 'layers.dropout() options');
  },
  /**
   * A token embedding layer config (the first layer of a token-input model).
   * @throws TypeError / RangeError for invalid options
   * @example layers.embedding({ dim: 128, paddingIdx: 0 })
   */
  embedding(options: EmbeddingOptions): EmbeddingConfig {
    return withType('embedding', options, embeddingFrom, 'layers.embedding() options');
  },
});
