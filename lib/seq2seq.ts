/**
 * Encoder-decoder models (T_x != T_y, the course's translation shape).
 *
 * Two native models: the encoder (token input, recurrent stack) reads the
 * source; its last recurrent layer's final state (both directions,
 * concatenated) initialises the decoder's first recurrent layer, directly
 * when the sizes match and through a learned dense tanh projection (the
 * decoder's `condition` layer) when they differ. The decoder is a
 * teacher-forced language model over the target vocabulary: input
 * `<bos> y1..yT`, target `y1..yT <eos>`.
 *
 * One training step: encoder forward, decoder loss and gradients (including
 * the gradient at its initial state), encoder backward from that gradient
 * (reusing the forward's activations), then one core step over both models
 * (`stepTogether`, lib/compute.ts): clipping by one global norm over both
 * blocks and the optimizer update of each (Adam and SGD act element-wise, so
 * two optimizers over two blocks equal one over both), every update checked
 * before any is written. Fitting is lib/train.ts's loop.
 */
import { rangeError, received, RnnkitError, typeError } from './errors.js';
import { readCheckpoint, writeCheckpoint, type CheckpointArray } from './io.js';
import type { LayerConfig, LayerInput } from './layers.js';
import { LIMITS } from './limits.js';
import { layers as layerFactories } from './layers.js';
import { handleOf, stepTogether } from './compute.js';
import { normalizeConfig } from './config.js';
import { loopStateOf, restoreLoopState } from './schedules.js';
import { batchRows } from './data.js';
import { Model } from './model.js';
import type { Dtype, FloatArray } from './native.js';
import { toNativeOptimizer, type OptimizerConfig } from './optimizer.js';
import { tokenizerFromJSON, type Tokenizer } from './tokenizers/index.js';
import { fitSettings, nonFiniteOption, skipNonFinite, trainLoop, type FitOptions, type History } from './train.js';
import { labelSmoothingOption } from './targets.js';
import type { MemoryInput } from './calls.js';
import type { LayerState, StateTensors, Tensor } from './types.js';
import { boolean, integer, isObject, knownKeys, number, object, oneOf, optionalObject, tokenIds, withDefault } from './validate.js';

/**
 * The configuration of {@link seq2seq}.
 *
 * @example
 * const config: Seq2SeqConfig = { sourceVocab: 40, targetVocab: 14, bos: 2, eos: 3,
 *   encoder: [layers.lstm({ units: 64, bidirectional: true })], decoder: [layers.lstm({ units: 128 })] };
 */
export interface Seq2SeqConfig {
  sourceVocab: number;
  targetVocab: number;
  /** target id that starts decoding (never produced) */
  bos: number;
  /** target id that ends a translation (not included in it) */
  eos: number;
  /** recurrent (and dropout) layers; the last one must be recurrent */
  encoder: readonly LayerInput[];
  /** recurrent, dropout and dense layers; a dense(targetVocab) output layer is appended */
  decoder: readonly LayerInput[];
  /** default 0 */
  seed?: number;
  /** default 'float32' */
  dtype?: Dtype;
  /**
   * attention over the encoder's outputs (Luong et al. 2015) on the decoder's top recurrent
   * layer: `type` 'general' (default), 'dot' or 'additive' (Bahdanau's score), `units` the
   * additive score's width (default: the decoder's units). Default: none
   */
  attention?: AttentionOptions;
}

/**
 * The attention of a {@link Seq2SeqConfig}.
 *
 * @example
 * const attention: AttentionOptions = { type: 'additive', units: 64 };
 */
export interface AttentionOptions {
  type?: 'dot' | 'general' | 'additive';
  units?: number;
}

/** A checked `config.attention` (units resolved for additive); null when absent. */
function attentionOptions(value: unknown, topUnits: number): Readonly<{ type: 'dot' | 'general' | 'additive'; units?: number }> | null {
  if (value === undefined || value === null) return null;
  const o = object(value, 'config.attention');
  knownKeys(o, ['type', 'units'], 'config.attention');
  const type = withDefault(o.type, 'general' as const, (v) => oneOf(v, 'config.attention.type', ['dot', 'general', 'additive'] as const));
  if (type !== 'additive') {
    if (o.units !== undefined) throw rangeError("no units (they size the 'additive' score only)", 'config.attention.units', o.units);
    return Object.freeze({ type });
  }
  return Object.freeze({ type, units: withDefault(o.units, topUnits, (v) => integer(v, 'config.attention.units', 1, LIMITS.units)) });
}

/**
 * Training data: parallel lists of token-id sequences (each source non-empty).
 *
 * @example
 * const data: Seq2SeqData = { sources: [[5, 6, 7]], targets: [[7, 6, 5]] };
 */
export interface Seq2SeqData {
  sources: readonly (readonly number[] | Int32Array)[];
  targets: readonly (readonly number[] | Int32Array)[];
}

/**
 * Options of {@link Seq2Seq.fit}.
 *
 * @example
 * await m.fit(data, { epochs: 20, batchSize: 64, optimizer: { type: 'adam', lr: 3e-3 }, clipNorm: 5 });
 */
export interface Seq2SeqFitOptions extends Omit<FitOptions, 'validation'> {
  /** pairs evaluated after each epoch */
  validation?: Seq2SeqData;
}

/**
 * Options of {@link Seq2Seq.trainStep}.
 *
 * @example
 * await m.trainStep(sources, targets, { optimizer: { type: 'adam', lr: 1e-3 }, clipNorm: 5, nonFinite: 'skip' });
 */
export interface Seq2SeqStepOptions {
  optimizer?: OptimizerConfig;
  clipNorm?: number;
  clipValue?: number;
  /** train the decoder against (1 - e) onehot + e / K (torch's `label_smoothing`); in [0, 1), default 0 */
  labelSmoothing?: number;
  /** 'skip': a step whose loss, gradient or update is not finite resolves with `skipped: true` (both models unchanged) instead of rejecting; default 'throw' */
  nonFinite?: 'throw' | 'skip';
}

/**
 * Options of {@link Seq2Seq.translate}.
 *
 * @example
 * await m.translate(sources, { beamWidth: 4, maxLength: 20 });
 */
export interface TranslateOptions {
  /** 1 = greedy (default); > 1 = beam search */
  beamWidth?: number;
  /** most tokens per output (default 50) */
  maxLength?: number;
  /** score = log-probability / length^lengthPenalty (default 1; 0 = raw log-probability) */
  lengthPenalty?: number;
  /** target ids never produced (bos always is, and `<unk>` of an attached targetTokenizer) */
  banTokens?: readonly number[];
  /** rows per batch (default 64) */
  batchSize?: number;
}

/**
 * A translation with its scores under the model.
 *
 * @example
 * const [{ tokens, logProb, score }] = await m.translateWithScores([[5, 6]]);
 */
export interface Translation {
  /** output ids without <bos> / <eos> */
  tokens: number[];
  /** log-probability of tokens (and <eos> when it ended) under the model */
  logProb: number;
  /** logProb / length^lengthPenalty, the quantity beam search maximises */
  score: number;
  /** a model with attention: row i is the attention over the source while producing tokens[i] ([T_y][T_x]) */
  attention?: number[][];
}

/**
 * Translate options checked against a model, with defaults (one owner for
 * `translateWithScores` and the batched translator's requests). `extraKeys`: keys
 * accepted besides the decoding ones. The ban holds `<bos>`, the target tokenizer's
 * `<unk>` when one is attached, and `options.banTokens`.
 *
 * @throws TypeError / RangeError naming the option
 * @example
 * const { beamWidth, maxLength, alpha, ban } = translateOptions(m, { beamWidth: 4 }, []);
 */
export function translateOptions(
  m: { config: Pick<Seq2SeqConfig, 'bos' | 'eos' | 'targetVocab'>; targetTokenizer: Tokenizer | undefined },
  options: unknown,
  extraKeys: readonly string[],
): { beamWidth: number; maxLength: number; alpha: number; batchSize: number; ban: Set<number> } {
  const { config } = m;
  const o = optionalObject(options, 'options');
  knownKeys(o, ['beamWidth', 'maxLength', 'lengthPenalty', 'banTokens', ...extraKeys], 'options');
  const beamWidth = withDefault(o.beamWidth, 1, (v) => integer(v, 'options.beamWidth', 1, 1000));
  const maxLength = withDefault(o.maxLength, 50, (v) => integer(v, 'options.maxLength', 1, 1e5));
  const alpha = withDefault(o.lengthPenalty, 1, (v) => number(v, 'options.lengthPenalty', { min: 0, max: 10 }));
  const batchSize = withDefault(o.batchSize, 64, (v) => integer(v, 'options.batchSize', 1, 1e5));
  const ban = new Set([config.bos, ...tokenIds(o.banTokens ?? [], 'options.banTokens', config.targetVocab)]);
  if (ban.has(config.eos)) throw rangeError('ids other than config.eos', 'options.banTokens', o.banTokens);
  const unk = m.targetTokenizer?.unkId;
  if (unk !== undefined && unk >= 0 && unk < config.targetVocab && unk !== config.eos) ban.add(unk);
  return { beamWidth, maxLength, alpha, batchSize, ban };
}

/**
 * The decoder's start for each source (a row-exact encoder forward through the bridge):
 * element b is what greedy decoding of source b starts from. For the batched translator
 * (translator.ts), which decodes on a batched sampler of the decoder; not exported from
 * the package.
 */
export let decoderStarts: (
  m: Seq2Seq,
  sources: readonly Int32Array[],
) => Promise<{ initialState?: LayerState[]; condition?: FloatArray }[]>;

/** Row b of a layer state [dirs, B, H] as a [dirs, 1, H] state. */
function sliceRow(state: LayerState, b: number, B: number): LayerState {
  const one = (t: Tensor): Tensor => {
    const [dirs, , H] = t.shape as [number, number, number];
    const out = new (t.data.constructor as new (n: number) => FloatArray)(dirs * H);
    for (let d = 0; d < dirs; d++) out.set(t.data.subarray((d * B + b) * H, (d * B + b + 1) * H), d * H);
    return { shape: [dirs, 1, H], data: out };
  };
  const h = one(state.h as Tensor);
  return state.c ? { h, c: one(state.c as Tensor) } : { h };
}

const FORMAT = 'rnnkit-seq2seq';
const VERSION = 1;

const isRecurrent = (l: LayerConfig): boolean => l.type === 'lstm' || l.type === 'gru' || l.type === 'rnn';

/** Pads rows of ids into a [B, T] token batch with their lengths. */
function pad(rows: readonly Int32Array[]): { data: Int32Array; shape: number[]; lengths: Int32Array } {
  const B = rows.length;
  let T = 1;
  for (const r of rows) if (r.length > T) T = r.length;
  const data = new Int32Array(B * T);
  rows.forEach((r, b) => data.set(r, b * T));
  return { data, shape: [B, T], lengths: Int32Array.from(rows, (r) => Math.max(1, r.length)) };
}

/** [dirs, B, H] -> [B, dirs*H] (the directions side by side, forward first). */
function concatDirs(s: FloatArray, dirs: number, B: number, H: number): FloatArray {
  const out = new (s.constructor as new (n: number) => FloatArray)(B * dirs * H);
  for (let d = 0; d < dirs; d++) for (let b = 0; b < B; b++) out.set(s.subarray((d * B + b) * H, (d * B + b + 1) * H), (b * dirs + d) * H);
  return out;
}

/** Columns [from, from + dirs*H) of a [B, width] block -> [dirs, B, H]. */
function splitDirs(g: FloatArray, width: number, from: number, dirs: number, B: number, H: number): FloatArray {
  const out = new (g.constructor as new (n: number) => FloatArray)(dirs * B * H);
  for (let d = 0; d < dirs; d++)
    for (let b = 0; b < B; b++) out.set(g.subarray(b * width + from + d * H, b * width + from + (d + 1) * H), (d * B + b) * H);
  return out;
}

/** Rows `rows` of each layer's state [dirs, B, H] -> [dirs, rows.length, H]. */
function gatherStates(states: readonly StateTensors[], rows: readonly number[]): StateTensors[] {
  const pick = (t: Tensor): Tensor => {
    const [dirs, B, H] = t.shape as [number, number, number];
    const out = new (t.data.constructor as new (n: number) => FloatArray)(dirs * rows.length * H);
    for (let d = 0; d < dirs; d++)
      rows.forEach((r, i) => out.set(t.data.subarray((d * B + r) * H, (d * B + r + 1) * H), (d * rows.length + i) * H));
    return { shape: [dirs, rows.length, H], data: out };
  };
  return states.map((s) => (s.c ? { h: pick(s.h), c: pick(s.c) } : { h: pick(s.h) }));
}

function logSoftmaxRow(row: FloatArray, out: Float64Array): void {
  let m = -Infinity;
  for (const v of row) m = Math.max(m, v);
  let s = 0;
  for (const v of row) s += Math.exp(v - m);
  const lse = m + Math.log(s);
  for (let k = 0; k < row.length; k++) out[k] = row[k]! - lse;
}

interface Bridge {
  kind: 'identity' | 'projection';
  /** encoder's last recurrent layer: index in its state table, directions, units, has a cell */
  encIndex: number;
  dirs: number;
  units: number;
  encCell: boolean;
  decCell: boolean;
}

/**
 * An encoder-decoder model. Build it with {@link seq2seq}.
 *
 * @example
 * const m = seq2seq({ sourceVocab: 13, targetVocab: 13, bos: 1, eos: 2,
 *   encoder: [layers.gru({ units: 32 })], decoder: [layers.gru({ units: 32 })], seed: 1 });
 */
export class Seq2Seq {
  readonly config: Readonly<Required<Omit<Seq2SeqConfig, 'encoder' | 'decoder' | 'attention'>>> & {
    readonly encoder: readonly LayerConfig[];
    readonly decoder: readonly LayerConfig[];
    readonly attention?: Readonly<AttentionOptions>;
  };
  readonly encoder: Model;
  readonly decoder: Model;
  /** how the encoder's final state reaches the decoder */
  readonly bridge: 'identity' | 'projection';
  /** the decoder's attention over the encoder's outputs (`config.attention`, units resolved), or null */
  readonly attention: Readonly<{ type: 'dot' | 'general' | 'additive'; units?: number }> | null;
  /** completed epochs; fit continues from here */
  epoch = 0;
  sourceTokenizer: Tokenizer | undefined;
  targetTokenizer: Tokenizer | undefined;
  readonly #bridge: Bridge;

  /**
   * @throws TypeError / RangeError for an invalid configuration (see {@link seq2seq})
   * @example
   * const m = new Seq2Seq({ sourceVocab: 10, targetVocab: 10, bos: 1, eos: 2, encoder: [layers.lstm({ units: 8 })], decoder: [layers.lstm({ units: 8 })] });
   */
  constructor(config: Seq2SeqConfig, models?: { encoder: Model; decoder: Model }) {
    const c = object(config, 'config');
    knownKeys(c, ['sourceVocab', 'targetVocab', 'bos', 'eos', 'encoder', 'decoder', 'seed', 'dtype', 'attention'], 'config');
    const sourceVocab = integer(c.sourceVocab, 'config.sourceVocab', 1, LIMITS.inputSize);
    const targetVocab = integer(c.targetVocab, 'config.targetVocab', 2, LIMITS.inputSize);
    const bos = integer(c.bos, 'config.bos', 0, targetVocab - 1);
    const eos = integer(c.eos, 'config.eos', 0, targetVocab - 1);
    if (bos === eos) throw rangeError('an id different from config.bos', 'config.eos', eos);
    const seed = withDefault(c.seed, 0, (v) => integer(v, 'config.seed', 0, 0xffffffff));
    const dtype = withDefault(c.dtype, 'float32' as Dtype, (v) => {
      if (v !== 'float32' && v !== 'float64') throw rangeError("'float32' | 'float64'", 'config.dtype', v);
      return v;
    });
    if (!Array.isArray(c.encoder) || c.encoder.length === 0) throw typeError('a non-empty array of layers', 'config.encoder', c.encoder);
    if (!Array.isArray(c.decoder) || c.decoder.length === 0) throw typeError('a non-empty array of layers', 'config.decoder', c.decoder);

    const encoder =
      models?.encoder ?? new Model({ input: { vocabSize: sourceVocab }, layers: c.encoder as LayerInput[], loss: 'mse', seed, dtype });
    const encLayers = encoder.config.layers;
    const last = encLayers[encLayers.length - 1]!;
    if (!isRecurrent(last)) {
      encoder.dispose();
      throw rangeError(
        'a recurrent last encoder layer (its final state feeds the decoder)',
        `config.encoder[${encLayers.length - 1}]`,
        last.type,
      );
    }
    const encStates = encoder.initialState(1);
    const encIndex = encStates.length - 1;
    const encTop = encStates[encIndex]!;
    const dirs = encTop.h.shape[0]!;
    const units = encTop.h.shape[2]!;
    const encCell = encTop.c !== undefined;

    // The decoder's first recurrent layer, from its normalized config (no native model needed).
    const decLayersIn = c.decoder as LayerInput[];
    const decInput = { input: { vocabSize: targetVocab }, layers: [...decLayersIn, layerFactories.dense({ units: targetVocab })], dtype };
    let decLayers: readonly LayerConfig[];
    try {
      decLayers = models?.decoder.config.layers ?? normalizeConfig(decInput).layers;
    } catch (err) {
      if (!models) encoder.dispose();
      throw err;
    }
    const first = decLayers.find(isRecurrent);
    let topAt = -1;
    decLayers.forEach((l, i) => (topAt = isRecurrent(l) ? i : topAt));
    const topUnits = topAt >= 0 ? (decLayers[topAt] as { units: number }).units : 0;
    let attention: ReturnType<typeof attentionOptions>;
    try {
      attention = attentionOptions(c.attention, topUnits);
      if (attention && 'returnSequences' in last && !last.returnSequences) {
        throw rangeError(
          'returnSequences true (attention reads every encoder step)',
          `config.encoder[${encLayers.length - 1}].returnSequences`,
          false,
        );
      }
      const layer = models ? decLayers.find((l) => l.type === 'attention') : undefined;
      if (models && (layer?.type === 'attention' ? layer.score !== attention?.type || layer.memory !== dirs * units : attention)) {
        throw rangeError("a decoder whose attention layer matches config.attention and the encoder's width", 'config.attention', attention);
      }
      if (attention?.type === 'dot' && dirs * units !== topUnits) {
        const what = `the encoder's output width (${dirs * units}) = the decoder's top units (${topUnits}) for dot attention, or type 'general'`;
        throw rangeError(what, 'config.attention.type', 'dot');
      }
    } catch (err) {
      if (!models) encoder.dispose();
      throw err;
    }
    const decCell = first?.type === 'lstm';
    const decUnits = first && 'units' in first ? first.units : 0;
    const decBidirectional = decLayers.some((l) => isRecurrent(l) && 'bidirectional' in l && l.bidirectional);
    const refuse = (what: string, got: string): never => {
      if (!models) encoder.dispose();
      throw rangeError(what, 'config.decoder', received(got));
    };
    if (!first) refuse('at least one recurrent decoder layer', 'no recurrent layer');
    if (decBidirectional) refuse('unidirectional decoder layers (decoding runs left to right)', 'a bidirectional layer');
    const kind = dirs * units === decUnits ? 'identity' : 'projection';
    if (attention && !models) {
      const layer = { type: 'attention', name: 'attention', score: attention.type, units: topUnits, memory: dirs * units };
      const extra = attention.units !== undefined ? { attentionUnits: attention.units } : {};
      decInput.layers.splice(topAt + 1, 0, { ...layer, ...extra } as unknown as LayerInput);
    }
    const decoder =
      models?.decoder ??
      new Model({
        ...decInput,
        loss: 'crossEntropy',
        seed: (seed + 1) >>> 0,
        dtype,
        ...(kind === 'projection' ? { condition: { features: dirs * units * (encCell ? 2 : 1) } } : {}),
      });
    this.encoder = encoder;
    this.decoder = decoder;
    this.bridge = kind;
    this.#bridge = { kind, encIndex, dirs, units, encCell, decCell };
    this.attention = attention;
    this.config = Object.freeze({
      sourceVocab,
      targetVocab,
      bos,
      eos,
      seed,
      dtype,
      encoder: encoder.config.layers,
      decoder: decoder.config.layers.slice(0, -1).filter((l) => l.type !== 'attention'),
      ...(attention ? { attention } : {}),
    });
  }

  /** Decoder options that start it from the encoder's final states. */
  #decoderStart(final: readonly StateTensors[], B: number): { initialState: LayerState[] } | { condition: Tensor } {
    const { kind, encIndex, dirs, units, encCell, decCell } = this.#bridge;
    const top = final[encIndex]!;
    const h = concatDirs(top.h.data, dirs, B, units);
    if (kind === 'identity') {
      const state: LayerState = { h: { shape: [1, B, dirs * units], data: h } };
      if (encCell && decCell) state.c = { shape: [1, B, dirs * units], data: concatDirs(top.c!.data, dirs, B, units) };
      return { initialState: [state] };
    }
    const width = dirs * units * (encCell ? 2 : 1);
    const cond = new (h.constructor as new (n: number) => FloatArray)(B * width);
    const c = encCell ? concatDirs(top.c!.data, dirs, B, units) : undefined;
    for (let b = 0; b < B; b++) {
      cond.set(h.subarray(b * dirs * units, (b + 1) * dirs * units), b * width);
      if (c) cond.set(c.subarray(b * dirs * units, (b + 1) * dirs * units), b * width + dirs * units);
    }
    return { condition: { shape: [B, width], data: cond } };
  }

  /** The gradient at the encoder's final states from the decoder's start gradient. */
  #encoderFinalGrads(dec: { initialStateGrads: StateTensors[]; conditionGrad?: Tensor }, B: number): (LayerState | null)[] {
    const { kind, encIndex, dirs, units, encCell, decCell } = this.#bridge;
    const out: (LayerState | null)[] = Array.from({ length: encIndex + 1 }, () => null);
    const shape = [dirs, B, units];
    if (kind === 'identity') {
      const g = dec.initialStateGrads[0]!;
      const state: LayerState = { h: { shape, data: splitDirs(g.h.data, dirs * units, 0, dirs, B, units) } };
      if (encCell && decCell && g.c) state.c = { shape, data: splitDirs(g.c.data, dirs * units, 0, dirs, B, units) };
      out[encIndex] = state;
      return out;
    }
    const g = dec.conditionGrad!.data;
    const width = dirs * units * (encCell ? 2 : 1);
    const state: LayerState = { h: { shape, data: splitDirs(g, width, 0, dirs, B, units) } };
    if (encCell) state.c = { shape, data: splitDirs(g, width, dirs * units, dirs, B, units) };
    out[encIndex] = state;
    return out;
  }

  /** The decoder's memory option (the encoder's outputs) for a model with attention; {} otherwise. */
  #memory(output: Tensor, lengths: Int32Array, rows?: readonly number[]): { memory?: MemoryInput } {
    if (!this.attention) return {};
    return { memory: { data: output.data, shape: output.shape, lengths, ...(rows ? { rows } : {}) } };
  }

  #batch(sources: readonly Int32Array[], targets?: readonly Int32Array[]) {
    const { bos, eos } = this.config;
    const src = pad(sources);
    if (!targets) return { src };
    const tin = pad(targets.map((t) => Int32Array.of(bos, ...t)));
    const tout = pad(targets.map((t) => Int32Array.of(...t, eos)));
    return { src, tin, tout };
  }

  #checkData(data: unknown, name: string): { sources: Int32Array[]; targets: Int32Array[] } {
    const d = object(data, name);
    knownKeys(d, ['sources', 'targets'], name);
    if (!Array.isArray(d.sources)) throw typeError('an array of source sequences', `${name}.sources`, d.sources);
    if (!Array.isArray(d.targets)) throw typeError('an array of target sequences', `${name}.targets`, d.targets);
    if (d.sources.length !== d.targets.length) {
      throw rangeError(`${d.sources.length} targets (one per source)`, `${name}.targets`, received(`${d.targets.length}`));
    }
    if (d.sources.length === 0) throw rangeError('at least one pair', `${name}.sources`, received('0 sources'));
    // Array.from visits holes of sparse arrays (map would skip them)
    return {
      sources: Array.from(d.sources, (s, i) => tokenIds(s, `${name}.sources[${i}]`, this.config.sourceVocab, { nonEmpty: true })),
      targets: Array.from(d.targets, (t, i) => tokenIds(t, `${name}.targets[${i}]`, this.config.targetVocab)),
    };
  }

  /**
   * The loss (mean per target token) and its gradient with respect to every
   * weight of the encoder and the decoder, without changing them.
   *
   * @throws TypeError / RangeError for invalid data (the Promise rejects)
   * @throws RnnkitError ERR_BUSY, ERR_DISPOSED or ERR_NATIVE (from the encoder or decoder; the Promise rejects)
   * @example
   * const { loss, encoder, decoder } = await m.gradients([[5, 6]], [[6, 5]]);
   */
  async gradients(
    sources: readonly (readonly number[] | Int32Array)[],
    targets: readonly (readonly number[] | Int32Array)[],
    options?: { training?: boolean },
  ): Promise<{ loss: number; encoder: Record<string, Tensor>; decoder: Record<string, Tensor> }> {
    const d = this.#checkData({ sources, targets }, 'data');
    const o = optionalObject(options, 'options');
    knownKeys(o, ['training'], 'options');
    const training = withDefault(o.training, true, (v) => boolean(v, 'options.training'));
    const g = await this.#gradients(d.sources, d.targets, training);
    return { loss: g.loss, encoder: g.enc, decoder: g.dec };
  }

  /**
   * Loss and gradients of both models on one batch (weights unchanged): encoder
   * forward, decoder loss and gradients, encoder backward from the decoder's
   * start gradient (reusing the encoder's forward activations). With `keep`
   * the gradients stay in the models for {@link stepTogether} (enc and dec are {}).
   */
  async #gradients(
    sources: readonly Int32Array[],
    targets: readonly Int32Array[],
    training: boolean,
    keep = false,
    labelSmoothing?: number,
  ) {
    const { src, tin, tout } = this.#batch(sources, targets);
    const B = sources.length;
    const [encoder, decoder] = keep ? [handleOf(this.encoder), handleOf(this.decoder)] : [this.encoder, this.decoder];
    const srcBatch = { data: src.data, shape: src.shape };
    const enc = await handleOf(this.encoder).forward(srcBatch, { lengths: src.lengths, training }, { wantOutput: this.attention !== null });
    const dec = await decoder.gradients(
      { data: tin!.data, shape: tin!.shape },
      { data: tout!.data, shape: tout!.shape },
      {
        lengths: tin!.lengths,
        training,
        ...(labelSmoothing ? { labelSmoothing } : {}),
        ...this.#decoderStart(enc.finalState, B),
        ...this.#memory(enc.output, src.lengths),
      },
    );
    const finalStateGrads = this.#encoderFinalGrads(dec, B);
    const outputGrad = dec.memoryGrad ? { outputGrad: dec.memoryGrad } : {};
    const encG = await encoder.backwardFrom(srcBatch, { lengths: src.lengths, training, finalStateGrads, ...outputGrad });
    return { loss: dec.loss, enc: encG.grads, dec: dec.grads };
  }

  /**
   * One optimizer step on a batch of (source, target) pairs, clipping by one
   * global norm over the encoder and the decoder. Returns the loss (mean per
   * target token, <eos> included) and the gradient norm before clipping; with
   * `nonFinite: 'skip'`, a step that would not be finite returns
   * `{ loss: NaN, gradNorm: NaN, skipped: true }` and changes nothing.
   *
   * @throws TypeError / RangeError for invalid data or options (the Promise rejects)
   * @throws RnnkitError ERR_NONFINITE (weights unchanged; unless `nonFinite: 'skip'`), ERR_BUSY, ERR_DISPOSED
   * @example
   * const { loss } = await m.trainStep([[5, 6, 7]], [[7, 6, 5]], { optimizer: { type: 'adam', lr: 1e-3 }, clipNorm: 5 });
   */
  async trainStep(
    sources: readonly (readonly number[] | Int32Array)[],
    targets: readonly (readonly number[] | Int32Array)[],
    options?: Seq2SeqStepOptions,
  ): Promise<{ loss: number; gradNorm: number; skipped?: true }> {
    const data = this.#checkData({ sources, targets }, 'data');
    const o = optionalObject(options, 'options');
    knownKeys(o, ['optimizer', 'clipNorm', 'clipValue', 'labelSmoothing', 'nonFinite'], 'options');
    const skip = withDefault(o.nonFinite, 'throw' as const, nonFiniteOption) === 'skip';
    const optimizer = toNativeOptimizer(o.optimizer, o.clipValue, o.clipNorm);
    const smoothing = labelSmoothingOption(o.labelSmoothing, 'options.labelSmoothing');
    const g = await this.#gradients(data.sources, data.targets, true, true, smoothing);
    // Both models hold their gradients now; the core clips them by one global norm and
    // checks every update before it writes any (a refused step changes neither model).
    const r = await skipNonFinite(skip, () => stepTogether([this.encoder, this.decoder], optimizer, g.loss));
    return 'skipped' in r ? r : { loss: g.loss, gradNorm: r.gradNorm };
  }

  /**
   * Trains on (source, target) pairs for some epochs, teacher-forced, in
   * seeded shuffled batches; validates after each epoch. The epoch counter
   * continues across calls (and checkpoints). The loop is `model.fit`'s.
   *
   * @throws TypeError / RangeError for invalid data or options (the Promise rejects)
   * @throws RnnkitError ERR_NONFINITE (unless `nonFinite: 'skip'`), ERR_BUSY, ERR_DISPOSED
   * @example
   * const history = await m.fit({ sources, targets }, { epochs: 10, batchSize: 64, optimizer: { type: 'adam', lr: 3e-3 } });
   */
  async fit(data: Seq2SeqData, options?: Seq2SeqFitOptions): Promise<History> {
    const d = this.#checkData(data, 'data');
    const s = fitSettings(options, this.config.seed);
    const validation = s.validation === undefined ? undefined : this.#checkData(s.validation, 'options.validation');
    const N = d.sources.length;
    return trainLoop(
      this,
      {
        batches: Math.ceil(N / s.batchSize),
        rows: N,
        stateful: false,
        // options.bucketByLength: by source length, then target length
        rowLengths: d.sources.map((x, r) => x.length * 65536 + d.targets[r]!.length),
        step: async (i, order, _state, options) => {
          const rows = batchRows(i, s.batchSize, N, order);
          const tgt = rows.map((r) => d.targets[r]!);
          const r = await this.trainStep(
            rows.map((r) => d.sources[r]!),
            tgt,
            options,
          );
          return r.skipped ? { skipped: true, loss: NaN, tokens: 0 } : { loss: r.loss, tokens: tgt.reduce((a, t) => a + t.length + 1, 0) };
        },
        ...(validation ? { validate: () => this.evaluate(validation, { batchSize: s.batchSize }) } : {}),
        metrics: (loss) => ({ perplexity: Math.exp(loss), bitsPerToken: loss / Math.LN2 }),
        save: (path) => this.save(path),
        snapshot: () => {
          const enc = this.encoder.getWeights();
          const dec = this.decoder.getWeights();
          return () => {
            this.encoder.setWeights(enc);
            this.decoder.setWeights(dec);
          };
        },
      },
      s,
    );
  }

  /**
   * Teacher-forced loss per target token, perplexity and next-token accuracy.
   *
   * @throws TypeError / RangeError for invalid data (the Promise rejects)
   * @throws RnnkitError ERR_BUSY, ERR_DISPOSED or ERR_NATIVE (from the encoder or decoder; the Promise rejects)
   * @example
   * const { loss, accuracy } = await m.evaluate({ sources, targets });
   */
  async evaluate(
    data: Seq2SeqData,
    options?: { batchSize?: number },
  ): Promise<{ loss: number; perplexity: number; bitsPerToken: number; accuracy: number; tokens: number }> {
    const d = this.#checkData(data, 'data');
    const o = optionalObject(options, 'options');
    knownKeys(o, ['batchSize'], 'options');
    const batchSize = withDefault(o.batchSize, 64, (v) => integer(v, 'options.batchSize', 1, 1e6));
    let lossSum = 0;
    let count = 0;
    let correct = 0;
    for (let i = 0; i < d.sources.length; i += batchSize) {
      const src = d.sources.slice(i, i + batchSize);
      const tgt = d.targets.slice(i, i + batchSize);
      const b = this.#batch(src, tgt);
      const enc = await this.encoder.forward({ data: b.src.data, shape: b.src.shape }, { lengths: b.src.lengths });
      const r = await this.decoder.evaluateBatch(
        { data: b.tin!.data, shape: b.tin!.shape },
        { data: b.tout!.data, shape: b.tout!.shape },
        {
          lengths: b.tin!.lengths,
          ...this.#decoderStart(enc.finalState, src.length),
          ...this.#memory(enc.output, b.src.lengths),
        },
      );
      lossSum += r.lossSum;
      count += r.count;
      correct += r.correct;
    }
    const loss = lossSum / Math.max(1, count);
    return { loss, perplexity: Math.exp(loss), bitsPerToken: loss / Math.LN2, accuracy: correct / Math.max(1, count), tokens: count };
  }

  /**
   * Translates sources: greedy decoding (`beamWidth: 1`) or beam search
   * with length normalisation, `batchSize` sources at a time. Each decoding
   * pass runs the encoder once, then the decoder one step at a time: one
   * `decoder.forward` call per output step, all live hypotheses of the batch
   * together. With `beamWidth > 1` a greedy pass runs first, then the beam
   * pass, and the greedy output is kept when no beam hypothesis scores
   * higher. Outputs exclude `<bos>` and `<eos>`.
   *
   * @throws TypeError / RangeError for invalid sources or options (the Promise rejects)
   * @throws RnnkitError ERR_BUSY, ERR_DISPOSED or ERR_NATIVE (from the encoder or decoder; the Promise rejects)
   * @example
   * const out = await m.translate([[5, 6, 7]], { beamWidth: 4, maxLength: 20 });
   */
  async translate(sources: readonly (readonly number[] | Int32Array)[], options?: TranslateOptions): Promise<number[][]> {
    return (await this.translateWithScores(sources, options)).map((t) => t.tokens);
  }

  /**
   * Like {@link Seq2Seq.translate}, with each output's log-probability and
   * normalised score. Beam search keeps the greedy output when no beam
   * hypothesis scores higher, so its score is never below greedy's.
   *
   * @throws TypeError / RangeError for invalid sources or options (the Promise rejects)
   * @throws RnnkitError ERR_BUSY, ERR_DISPOSED or ERR_NATIVE (from the encoder or decoder; the Promise rejects)
   * @example
   * const [{ tokens, score }] = await m.translateWithScores([[5, 6, 7]], { beamWidth: 4 });
   */
  async translateWithScores(sources: readonly (readonly number[] | Int32Array)[], options?: TranslateOptions): Promise<Translation[]> {
    if (!Array.isArray(sources)) throw typeError('an array of source sequences', 'sources', sources);
    const src = Array.from(sources, (s, i) => tokenIds(s, `sources[${i}]`, this.config.sourceVocab, { nonEmpty: true }));
    const { beamWidth, maxLength, alpha, batchSize, ban } = translateOptions(this, options, ['batchSize']);
    const out: Translation[] = [];
    for (let i = 0; i < src.length; i += batchSize) {
      const chunk = src.slice(i, i + batchSize);
      const greedy = await this.#beam(chunk, 1, maxLength, alpha, ban);
      if (beamWidth === 1) {
        out.push(...greedy);
        continue;
      }
      const beams = await this.#beam(chunk, beamWidth, maxLength, alpha, ban);
      beams.forEach((b, k) => out.push(b.score >= greedy[k]!.score ? b : greedy[k]!));
    }
    return out;
  }

  static {
    decoderStarts = (m, sources) => m.#decoderStarts(sources);
  }

  async #decoderStarts(sources: readonly Int32Array[]): Promise<{ initialState?: LayerState[]; condition?: FloatArray }[]> {
    const B = sources.length;
    const { src } = this.#batch(sources);
    const exact = { wantOutput: true, rowExact: true };
    const enc = await handleOf(this.encoder).forward({ data: src.data, shape: src.shape }, { lengths: src.lengths }, exact);
    const start = this.#decoderStart(enc.finalState, B);
    return sources.map((_, b) => {
      if ('condition' in start) {
        const w = start.condition.shape[1]!;
        return { condition: start.condition.data.slice(b * w, (b + 1) * w) };
      }
      return { initialState: start.initialState.map((l) => sliceRow(l, b, B)) };
    });
  }

  /** Beam search for a batch of sources (beamWidth 1 = greedy), all beams stepped together. */
  async #beam(
    sources: readonly Int32Array[],
    width: number,
    maxLength: number,
    alpha: number,
    ban: ReadonlySet<number>,
  ): Promise<Translation[]> {
    const { bos, eos, targetVocab: V } = this.config;
    const B = sources.length;
    const { src } = this.#batch(sources);
    // Row-exact forwards: each source decodes to the same tokens whatever sources share its batch
    // (the batched translator, sampler.ts, merges concurrent requests into one call).
    const exact = { wantOutput: true, rowExact: true };
    const [encoder, decoder] = [handleOf(this.encoder), handleOf(this.decoder)];
    const enc = await encoder.forward({ data: src.data, shape: src.shape }, { lengths: src.lengths }, exact);
    // The first step runs from the encoder's state (through the bridge) on <bos>.
    const first = await decoder.forward(
      sources.map(() => [bos]),
      { ...this.#decoderStart(enc.finalState, B), ...this.#memory(enc.output, src.lengths) },
      exact,
    );
    // with attention: each hypothesis keeps the attention row of every token it produced
    type Hyp = { tokens: number[]; logProb: number; row: number; attn: FloatArray[] };
    const attnRow = (att: Tensor | undefined, row: number, b: number): FloatArray[] => {
      if (!att) return [];
      const Tm = att.shape[2]!;
      return [att.data.slice(row * Tm, row * Tm + src.lengths[b]!)];
    };
    let attention = first.attention;
    const withAttention = (t: Translation, rows: readonly FloatArray[]): Translation =>
      this.attention ? { ...t, attention: rows.map((r) => Array.from(r)) } : t;
    const score = (h: { tokens: number[]; logProb: number }, ended: boolean) =>
      h.logProb / Math.pow(Math.max(1, h.tokens.length + (ended ? 1 : 0)), alpha);
    const finished: Translation[][] = Array.from({ length: B }, () => []);
    let live: Hyp[][] = Array.from({ length: B }, (_, b) => [{ tokens: [], logProb: 0, row: b, attn: [] }]);
    let logits = first.output.data; // [rows, 1, V]
    let states = first.finalState;
    const lp = new Float64Array(V);
    for (let t = 0; t < maxLength; t++) {
      const next: Hyp[][] = [];
      const parents: number[] = []; // the row (in the last step) each new hypothesis extends
      const feed: number[] = []; // and the token it feeds next
      const source: number[] = []; // and its source (the memory row it attends over)
      for (let b = 0; b < B; b++) {
        const cands: { tokens: number[]; logProb: number; row: number; tok: number; attn: FloatArray[] }[] = [];
        for (const h of live[b]!) {
          logSoftmaxRow(logits.subarray(h.row * V, (h.row + 1) * V), lp);
          // the best `width` extensions of this hypothesis
          const best: number[] = [];
          for (let k = 0; k < V; k++) {
            if (ban.has(k)) continue;
            if (best.length < width) best.push(k);
            else {
              let worst = 0;
              for (let q = 1; q < best.length; q++) if (lp[best[q]!]! < lp[best[worst]!]!) worst = q;
              if (lp[k]! > lp[best[worst]!]!) best[worst] = k;
            }
          }
          for (const k of best) cands.push({ tokens: h.tokens, logProb: h.logProb + lp[k]!, row: h.row, tok: k, attn: h.attn });
        }
        cands.sort((a, c) => c.logProb - a.logProb);
        const keep: Hyp[] = [];
        for (const c of cands) {
          if (keep.length >= width || finished[b]!.length >= width) break;
          if (c.tok === eos) {
            finished[b]!.push(withAttention({ tokens: c.tokens, logProb: c.logProb, score: score(c, true) }, c.attn));
            continue;
          }
          const tokens = [...c.tokens, c.tok];
          const attn = attention ? [...c.attn, ...attnRow(attention, c.row, b)] : c.attn;
          if (tokens.length >= maxLength) {
            finished[b]!.push(withAttention({ tokens, logProb: c.logProb, score: score({ tokens, logProb: c.logProb }, false) }, attn));
            continue;
          }
          keep.push({ tokens, logProb: c.logProb, row: -1, attn });
          parents.push(c.row);
          feed.push(c.tok);
          source.push(b);
          keep[keep.length - 1]!.row = parents.length - 1;
        }
        // a source is done once `width` hypotheses have ended
        if (finished[b]!.length >= width) {
          for (const h of keep) parents[h.row] = -1;
          next.push([]);
        } else {
          next.push(keep);
        }
      }
      // compact away the rows of finished sources
      const rows: number[] = [];
      const tokens: number[] = [];
      const sourceRows: number[] = [];
      const index = new Map<number, number>();
      parents.forEach((p, r) => {
        if (p < 0) return;
        index.set(r, rows.length);
        rows.push(p);
        tokens.push(feed[r]!);
        sourceRows.push(source[r]!);
      });
      for (const hs of next) for (const h of hs) h.row = index.get(h.row)!;
      live = next;
      if (rows.length === 0) break;
      const step = await decoder.forward(
        tokens.map((tok) => [tok]),
        { initialState: gatherStates(states, rows), ...this.#memory(enc.output, src.lengths, sourceRows) },
        exact,
      );
      logits = step.output.data;
      states = step.finalState;
      attention = step.attention;
    }
    return finished.map((f, b) => {
      const all = [...f, ...live[b]!.map((h) => withAttention({ tokens: h.tokens, logProb: h.logProb, score: score(h, false) }, h.attn))];
      all.sort((a, c) => c.score - a.score);
      return all[0] ?? { tokens: [], logProb: 0, score: 0 };
    });
  }

  /**
   * Writes both models, their optimizer states, the counters and the
   * tokenizers to one file, atomically. Load it with {@link loadSeq2Seq}.
   *
   * @throws TypeError when `path` is not a non-empty string
   * @throws RnnkitError ERR_CHECKPOINT when the file cannot be written; ERR_BUSY / ERR_DISPOSED
   * @example
   * await m.save('dates.rnnkit');
   */
  async save(path: string): Promise<void> {
    if (typeof path !== 'string' || path === '') throw typeError('a non-empty string', 'path', path);
    const enc = this.encoder.toCheckpoint();
    const dec = this.decoder.toCheckpoint();
    const prefixed = (p: string, arrays: readonly CheckpointArray[]) => arrays.map((a) => ({ name: `${p}.${a.name}`, data: a.data }));
    await writeCheckpoint(path, {
      header: {
        format: FORMAT,
        version: VERSION,
        config: { ...this.config, encoder: this.config.encoder, decoder: this.config.decoder },
        epoch: this.epoch,
        encoder: enc.header,
        decoder: dec.header,
        sourceTokenizer: this.sourceTokenizer ? this.sourceTokenizer.toJSON() : null,
        targetTokenizer: this.targetTokenizer ? this.targetTokenizer.toJSON() : null,
        ...(loopStateOf(this) ? { loop: loopStateOf(this) } : {}),
      },
      arrays: [...prefixed('encoder', enc.arrays), ...prefixed('decoder', dec.arrays)],
    });
  }

  /**
   * Reads a model written by {@link Seq2Seq.save}.
   *
   * @throws TypeError when `path` is not a non-empty string
   * @throws RnnkitError ERR_CHECKPOINT for a missing, corrupted, foreign or incompatible file (the message names it)
   * @example
   * const m = await Seq2Seq.load('dates.rnnkit');
   */
  static async load(path: string): Promise<Seq2Seq> {
    const { header, arrays } = await readCheckpoint(path);
    const bad = (what: string, cause?: unknown) =>
      new RnnkitError('ERR_CHECKPOINT', `Invalid seq2seq file '${path}': ${what}`, cause === undefined ? undefined : { cause });
    if (header.format !== FORMAT) throw bad(`not an rnnkit seq2seq model (format ${JSON.stringify(header.format)})`);
    if (header.version !== VERSION) throw bad(`format version ${JSON.stringify(header.version)}; this rnnkit reads version ${VERSION}`);
    const part = (p: string) => ({
      header: header[p] as Record<string, unknown>,
      arrays: arrays.filter((a) => a.name.startsWith(`${p}.`)).map((a) => ({ name: a.name.slice(p.length + 1), data: a.data })),
    });
    if (!isObject(header.encoder) || !isObject(header.decoder) || !isObject(header.config)) throw bad('the encoder or decoder is missing');
    const encoder = Model.fromCheckpoint(part('encoder'), path);
    let decoder: Model;
    try {
      decoder = Model.fromCheckpoint(part('decoder'), path);
    } catch (err) {
      encoder.dispose();
      throw err;
    }
    let m: Seq2Seq;
    try {
      m = new Seq2Seq(header.config as unknown as Seq2SeqConfig, { encoder, decoder });
      if (typeof header.epoch !== 'number' || !Number.isInteger(header.epoch) || header.epoch < 0)
        throw bad('the epoch counter is not a non-negative integer');
      m.epoch = header.epoch;
      restoreLoopState(m, header.loop, path);
      if (header.sourceTokenizer) m.sourceTokenizer = tokenizerFromJSON(header.sourceTokenizer);
      if (header.targetTokenizer) m.targetTokenizer = tokenizerFromJSON(header.targetTokenizer);
    } catch (err) {
      encoder.dispose();
      decoder.dispose();
      if (err instanceof RnnkitError) throw err;
      throw bad((err as Error).message, err);
    }
    return m;
  }

  /**
   * Frees both models' native memory.
   *
   * @throws never
   * @example
   * m.dispose();
   */
  dispose(): void {
    this.encoder.dispose();
    this.decoder.dispose();
  }
}

/**
 * Builds an encoder-decoder model (see {@link Seq2Seq}).
 *
 * @throws TypeError / RangeError for an invalid configuration: vocabularies,
 *   bos/eos ids, an encoder whose last layer is not recurrent, a decoder
 *   without a recurrent layer or with a bidirectional one
 * @example
 * const m = seq2seq({ sourceVocab: 40, targetVocab: 14, bos: 2, eos: 3,
 *   encoder: [layers.lstm({ units: 64, bidirectional: true })],
 *   decoder: [layers.lstm({ units: 128 })], seed: 1 });
 * await m.fit({ sources, targets }, { epochs: 10, batchSize: 64, optimizer: { type: 'adam', lr: 3e-3 } });
 * const out = await m.translate(sources, { beamWidth: 4, maxLength: 20 });
 */
export function seq2seq(config: Seq2SeqConfig): Seq2Seq {
  return new Seq2Seq(config);
}

/**
 * Reads a seq2seq model written by `m.save(path)`. See {@link Seq2Seq.load}.
 *
 * @throws TypeError when `path` is not a non-empty string (the Promise rejects)
 * @throws RnnkitError ERR_CHECKPOINT for a missing, corrupted, foreign or incompatible file (the message names it)
 * @example
 * const m = await loadSeq2Seq('dates.rnnkit');
 */
export function loadSeq2Seq(path: string): Promise<Seq2Seq> {
  return Seq2Seq.load(path);
}
