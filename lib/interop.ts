/**
 * PyTorch interop through safetensors files: which name each weight gets in
 * the file, the metadata that lets rnnkit rebuild a model from the file
 * alone, and loading a file (written by rnnkit or by torch) into a model.
 * The container itself is ./io/safetensors.ts; docs/interop.md is the guide.
 *
 * Names. A weight is stored under its `getWeights()` name, which is already
 * PyTorch's: `<prefix>.weight_ih_l0`, `<prefix>.bias_hh_l0_reverse`, dense
 * `<prefix>.weight` [out, in], where `<prefix>` is `layers.<i>` (i = the
 * layer's index in `config.layers`, dropout layers included), the layer's
 * `name`, or `condition`. These defaults match the state_dict of a torch
 * module that holds the same layers in an `nn.ModuleList` called `layers`
 * (nn.Dropout has no parameters, so indices line up). `options.names` maps
 * layer prefixes to the prefixes of the user's own module, e.g.
 * `{ 'layers.0': 'rnn', 'layers.1': 'fc' }`; `''` drops the prefix (a bare
 * `nn.LSTM().state_dict()`). Recurrent layers mapped to the same prefix are
 * the layers of one multi-layer torch module (`nn.LSTM(num_layers=K)`): in
 * model order the k-th gets `_l<k>` instead of `_l0`.
 *
 * Metadata (`__metadata__`, all strings): `format` 'pt' (the Hugging Face
 * convention for PyTorch-layout tensors), `rnnkit.format`
 * 'rnnkit-safetensors', `rnnkit.version` '1', `rnnkit.config` (the model
 * config as JSON), `rnnkit.tokenizer` (the tokenizer's JSON, when the model
 * has one), `rnnkit.names` (the prefix map as JSON, when one was given).
 */
import type { Dtype } from './native.js';
import { normalizeConfig, type ModelConfig, type SequentialConfig } from './config.js';
import { rangeError, received, RnnkitError, typeError } from './errors.js';
import { isRecurrent, type LayerConfig } from './layers.js';
import type { SafetensorsContent, SafetensorsTensor } from './io/safetensors.js';
import { floatArrayOf, formatShape } from './tensor.js';
import { tokenizerFromJSON, type Tokenizer } from './tokenizers/index.js';
import type { Tensor } from './types.js';
import { boolean, isObject, knownKeys, oneOf, optionalObject, withDefault } from './validate.js';

/**
 * The value of `__metadata__['rnnkit.format']` in files rnnkit writes.
 *
 * @example
 * metadata['rnnkit.format'] === SAFETENSORS_FORMAT; // an rnnkit-written file
 */
export const SAFETENSORS_FORMAT = 'rnnkit-safetensors';

/**
 * The value of `__metadata__['rnnkit.version']` this build writes, and the only one it reads.
 *
 * @example
 * metadata['rnnkit.version'] === String(SAFETENSORS_VERSION);
 */
export const SAFETENSORS_VERSION = 1;

const KEY = {
  format: 'rnnkit.format',
  version: 'rnnkit.version',
  config: 'rnnkit.config',
  tokenizer: 'rnnkit.tokenizer',
  names: 'rnnkit.names',
} as const;

/**
 * Maps layer prefixes (`layers.<i>`, a layer's `name`, or `condition`; a
 * trailing '.' is optional) to the prefixes the file uses (e.g. `rnn`, `fc`;
 * `''` for none). Layers not listed keep their own prefix. Recurrent layers
 * mapped to one prefix form one multi-layer torch module (`_l0`, `_l1`, ...).
 *
 * @example
 * const names: SafetensorsNames = { 'layers.0': 'rnn', 'layers.1': 'rnn', 'layers.2': 'fc' };
 */
export type SafetensorsNames = Record<string, string>;

/**
 * Options of {@link Model.saveSafetensors}.
 *
 * @example
 * await model.saveSafetensors('lm.safetensors', { names: { 'layers.0': 'rnn', 'layers.1': 'fc' } });
 */
export interface SaveSafetensorsOptions {
  /** prefix map to match a torch module's state_dict; default: the `getWeights()` names */
  names?: SafetensorsNames;
  /** element type in the file: 'float32' (F32) or 'float64' (F64); default the model's dtype */
  dtype?: Dtype;
  /** extra `__metadata__` entries (strings); keys starting with 'rnnkit.' are reserved */
  metadata?: Record<string, string>;
}

/**
 * Options of {@link loadSafetensors}.
 *
 * @example
 * await loadSafetensors('torch.safetensors', { config, names: { 'layers.0': 'rnn', 'layers.1': 'fc' } });
 */
export interface LoadSafetensorsOptions {
  /** the model to build (as `sequential(config)` takes); default: the config in the file's metadata */
  config?: SequentialConfig;
  /** prefix map (as for saving); default: the one in the file's metadata, else none */
  names?: SafetensorsNames;
  /** refuse tensors the model has no weight for (torch's load_state_dict strict); default true */
  strict?: boolean;
}

/** The part of a Model the conversion needs (kept structural to avoid an import cycle). */
interface ModelLike {
  readonly config: ModelConfig;
  readonly weightNames: readonly string[];
  tokenizer: Tokenizer | undefined;
  getWeights(): Record<string, Tensor>;
  setWeights(weights: Record<string, Tensor>): void;
  dispose(): void;
}

/** The weight prefixes of a model, with the layer each belongs to (-1: the conditioning layer). */
function prefixesOf(config: ModelConfig, weightNames: readonly string[]): Map<string, number> {
  const byName = new Map<string, number>();
  config.layers.forEach((layer, i) => byName.set(layer.name ?? `layers.${i}`, i));
  const out = new Map<string, number>();
  for (const w of weightNames) {
    const prefix = w.slice(0, w.lastIndexOf('.'));
    out.set(prefix, byName.get(prefix) ?? -1);
  }
  return out;
}

function describeLayer(layer: LayerConfig | undefined): string {
  if (!layer) return 'condition';
  return layer.type;
}

/** What torch needs to be equal for layers to be the layers of one multi-layer module. */
function stackKey(layer: LayerConfig): string | undefined {
  if (!isRecurrent(layer)) return undefined;
  const { type, units, bidirectional } = layer;
  const extra = type === 'lstm' ? layer.peephole : type === 'gru' ? `${layer.variant}/${layer.resetAfter}` : layer.activation;
  return JSON.stringify([type, units, bidirectional, extra]);
}

/**
 * The file name of every weight: rnnkit name -> name in the file.
 *
 * @throws TypeError / RangeError naming `argName` for a bad map (unknown
 *   prefix, non-string value, layers that cannot share a prefix, two weights
 *   on one name)
 */
function nameTable(
  config: ModelConfig,
  weightNames: readonly string[],
  names: unknown,
  argName: string,
): { table: Map<string, string>; changed: Record<string, string> | undefined } {
  const prefixes = prefixesOf(config, weightNames);
  const target = new Map<string, string>();
  if (names !== undefined) {
    if (!isObject(names) || Array.isArray(names)) throw typeError('an object mapping layer prefixes to file prefixes', argName, names);
    for (const [rawKey, value] of Object.entries(names)) {
      const key = rawKey.endsWith('.') ? rawKey.slice(0, -1) : rawKey;
      const at = `${argName}[${JSON.stringify(rawKey)}]`;
      if (!prefixes.has(key)) {
        throw rangeError(`a layer prefix of this model (${[...prefixes.keys()].map((p) => `'${p}'`).join(', ')})`, argName, rawKey);
      }
      if (target.has(key)) throw rangeError(`each layer prefix once (with or without the trailing '.')`, argName, rawKey);
      if (typeof value !== 'string') throw typeError("a string prefix (e.g. 'rnn', or '' for none)", at, value);
      target.set(key, value === '' || value.endsWith('.') ? value : `${value}.`);
    }
  }
  // Group the layers by the prefix they get in the file.
  const groups = new Map<string, string[]>();
  for (const prefix of prefixes.keys()) {
    const to = target.get(prefix) ?? `${prefix}.`;
    groups.set(to, [...(groups.get(to) ?? []), prefix]);
  }
  const rank = new Map<string, number>();
  for (const [to, members] of groups) {
    members.forEach((p, k) => rank.set(p, k));
    if (members.length < 2) continue;
    const layers = members.map((p) => config.layers[prefixes.get(p)!]);
    const keys = layers.map((l) => (l ? stackKey(l) : undefined));
    const incompatible = keys.some((k) => k === undefined || k !== keys[0]);
    const indices = members.map((p) => prefixes.get(p)!);
    const between = indices.slice(1).some((idx, j) => config.layers.slice(indices[j]! + 1, idx).some((l) => l.type !== 'dropout'));
    if (incompatible || between) {
      throw rangeError(
        'only recurrent layers of one kind (same type, units, direction and cell options, with only dropout ' +
          'between them) to share a file prefix, as the layers of one multi-layer torch module',
        argName,
        received(`${members.map((p, j) => `'${p}' (${describeLayer(layers[j])})`).join(', ')} all mapped to '${to}'`),
      );
    }
  }
  const table = new Map<string, string>();
  const seen = new Map<string, string>();
  for (const w of weightNames) {
    const cut = w.lastIndexOf('.');
    const prefix = w.slice(0, cut);
    let local = w.slice(cut + 1);
    const k = rank.get(prefix)!;
    if (k > 0) local = local.replace(/_l0(_reverse)?$/, `_l${k}$1`);
    const name = (target.get(prefix) ?? `${prefix}.`) + local;
    const clash = seen.get(name);
    if (clash !== undefined) {
      throw rangeError('prefixes that keep every file name unique', argName, received(`'${clash}' and '${w}' both named '${name}'`));
    }
    seen.set(name, w);
    table.set(w, name);
  }
  const changed = [...target].filter(([prefix, to]) => to !== `${prefix}.`);
  return { table, changed: changed.length > 0 ? Object.fromEntries(changed) : undefined };
}

const RESERVED = /^rnnkit\./;

/**
 * The tensors and metadata {@link Model.saveSafetensors} writes: a consistent
 * snapshot of the weights, taken synchronously.
 *
 * @throws TypeError / RangeError for invalid options (naming `options.<field>`)
 * @throws RnnkitError ERR_BUSY / ERR_DISPOSED from the model
 * @example
 * const { tensors, metadata } = safetensorsParts(model, { names: { 'layers.0': 'rnn' } });
 */
export function safetensorsParts(
  model: ModelLike,
  options: unknown,
): { tensors: Record<string, SafetensorsTensor>; metadata: Record<string, string> } {
  const opts = optionalObject(options, 'options');
  knownKeys(opts, ['names', 'dtype', 'metadata'], 'options');
  const { config, weightNames } = model;
  const dtype = withDefault(opts.dtype, config.dtype, (v) => oneOf(v, 'options.dtype', ['float32', 'float64'] as const));
  const { table, changed } = nameTable(config, weightNames, opts.names, 'options.names');
  const extra = optionalObject(opts.metadata, 'options.metadata');
  for (const [key, value] of Object.entries(extra)) {
    if (RESERVED.test(key)) throw rangeError("a key not starting with 'rnnkit.' (reserved)", 'options.metadata', key);
    if (typeof value !== 'string') throw typeError('a string', `options.metadata[${JSON.stringify(key)}]`, value);
  }
  const metadata: Record<string, string> = { format: 'pt' };
  Object.assign(metadata, Object.fromEntries(Object.entries(extra)));
  metadata[KEY.format] = SAFETENSORS_FORMAT;
  metadata[KEY.version] = String(SAFETENSORS_VERSION);
  metadata[KEY.config] = JSON.stringify(config);
  if (model.tokenizer) metadata[KEY.tokenizer] = JSON.stringify(model.tokenizer.toJSON());
  if (changed) metadata[KEY.names] = JSON.stringify(changed);

  const weights = model.getWeights();
  const Float = floatArrayOf(dtype);
  const tensors = Object.fromEntries(
    weightNames.map((w): [string, SafetensorsTensor] => {
      const { shape, data } = weights[w]!;
      return [table.get(w)!, { shape, data: data instanceof Float ? data : new Float(data) }];
    }),
  );
  return { tensors, metadata };
}

/**
 * Checked options of {@link loadSafetensors}; `config` is normalized here so
 * that a bad config is an argument error before the file is read.
 *
 * @example
 * const plan: LoadPlan = { config: undefined, names: { 'layers.0': 'rnn' }, strict: true };
 */
export interface LoadPlan {
  config: ModelConfig | undefined;
  names: SafetensorsNames | undefined;
  strict: boolean;
}

/**
 * Checks the options of {@link loadSafetensors}.
 *
 * @throws TypeError / RangeError for an unknown key, a non-boolean strict, an
 *   invalid config (as `sequential` does) or a names value that is not an object
 * @example
 * const plan = loadPlan({ strict: false });
 */
export function loadPlan(options: unknown): LoadPlan {
  const opts = optionalObject(options, 'options');
  knownKeys(opts, ['config', 'names', 'strict'], 'options');
  const strict = withDefault(opts.strict, true, (v) => boolean(v, 'options.strict'));
  const config = opts.config === undefined ? undefined : normalizeConfig(opts.config);
  const names = opts.names;
  if (names !== undefined && (!isObject(names) || Array.isArray(names))) {
    throw typeError('an object mapping layer prefixes to file prefixes', 'options.names', names);
  }
  return { config, names: names as SafetensorsNames | undefined, strict };
}

const MAX_LISTED = 5;

function list(names: string[]): string {
  const shown = names.slice(0, MAX_LISTED).join(', ');
  return names.length > MAX_LISTED ? `${shown} and ${names.length - MAX_LISTED} more` : shown;
}

/**
 * Builds a model from a decoded safetensors file: the config from the plan
 * or the file's metadata, the prefix map likewise, then every weight checked
 * (present, right shape, finite in the model's dtype) and set; the tokenizer
 * comes from the metadata.
 *
 * @param build - constructs the model for a config (injected to avoid an import cycle)
 * @throws RangeError for a prefix map (from the plan) that does not fit the model
 * @throws RnnkitError ERR_SAFETENSORS naming `file` (and the tensor) for a
 *   file that does not describe a model, or whose tensors do not fit it
 * @example
 * const model = modelFromSafetensors(await readSafetensors(path), path, loadPlan({}), (c) => new Model(c));
 */
export function modelFromSafetensors<M extends ModelLike>(
  content: SafetensorsContent,
  file: string,
  plan: LoadPlan,
  build: (config: SequentialConfig) => M,
): M {
  const { tensors, metadata } = content;
  const bad = (what: string, cause?: unknown): RnnkitError =>
    new RnnkitError('ERR_SAFETENSORS', `Safetensors file '${file}' ${what}`, cause === undefined ? undefined : { cause });
  const format = metadata[KEY.format];
  if (format !== undefined && format !== SAFETENSORS_FORMAT) throw bad(`has an unknown ${KEY.format} ${JSON.stringify(format)}`);
  const version = metadata[KEY.version];
  if (version !== undefined && version !== String(SAFETENSORS_VERSION)) {
    throw bad(`was written in rnnkit safetensors version ${JSON.stringify(version)}; this rnnkit reads version ${SAFETENSORS_VERSION}`);
  }
  const json = (key: string): unknown => {
    try {
      return JSON.parse(metadata[key]!);
    } catch (err) {
      throw bad(`has invalid JSON in __metadata__['${key}'] (${(err as Error).message})`, err);
    }
  };

  let model: M;
  if (plan.config) {
    model = build(plan.config);
  } else {
    if (metadata[KEY.config] === undefined) {
      throw bad(
        `has no rnnkit model config in its metadata (written by torch?): pass options.config, the sequential() config of the model it holds`,
      );
    }
    const config = json(KEY.config);
    try {
      model = build(config as SequentialConfig);
    } catch (err) {
      throw bad(`holds a model config that is not valid here (${(err as Error).message})`, err);
    }
  }
  try {
    let table: Map<string, string>;
    if (plan.names !== undefined) {
      table = nameTable(model.config, model.weightNames, plan.names, 'options.names').table;
    } else {
      const stored = metadata[KEY.names] === undefined ? undefined : json(KEY.names);
      try {
        table = nameTable(model.config, model.weightNames, stored, `__metadata__['${KEY.names}']`).table;
      } catch (err) {
        throw bad(`has a prefix map that does not fit the model (${(err as Error).message})`, err);
      }
    }

    const Float = floatArrayOf(model.config.dtype);
    const shapes = model.getWeights();
    const missing: string[] = [];
    const weights: Record<string, Tensor> = {};
    for (const w of model.weightNames) {
      const name = table.get(w)!;
      const expected = shapes[w]!.shape;
      const t = Object.hasOwn(tensors, name) ? tensors[name] : undefined;
      if (!t) {
        missing.push(`'${name}' ${name === w ? '' : `(rnnkit '${w}') `}of shape ${formatShape(expected)}`);
        continue;
      }
      if (t.shape.length !== expected.length || t.shape.some((d, i) => d !== expected[i])) {
        throw bad(`has tensor '${name}' of shape ${formatShape(t.shape)}; the model's weight '${w}' is ${formatShape(expected)}`);
      }
      const data = t.data instanceof Float ? t.data : new Float(t.data);
      const at = data.findIndex((v) => !Number.isFinite(v));
      if (at >= 0) {
        const why = Number.isFinite(t.data[at]!) ? `does not fit ${model.config.dtype}` : 'is not finite';
        throw bad(`has tensor '${name}' whose element ${at} (${t.data[at]}) ${why}`);
      }
      weights[w] = { shape: expected.slice(), data };
    }
    if (missing.length > 0) throw bad(`is missing tensor${missing.length > 1 ? 's' : ''} ${list(missing)} that the model needs`);
    if (plan.strict) {
      const wanted = new Set(table.values());
      const extra = Object.keys(tensors)
        .filter((n) => !wanted.has(n))
        .map((n) => `'${n}'`);
      if (extra.length > 0) {
        throw bad(
          `has tensor${extra.length > 1 ? 's' : ''} ${list(extra)} that the model has no weight for (pass strict: false to ignore them)`,
        );
      }
    }
    model.setWeights(weights);
    if (metadata[KEY.tokenizer] !== undefined) {
      const tok = json(KEY.tokenizer);
      try {
        model.tokenizer = tokenizerFromJSON(tok);
      } catch (err) {
        throw bad(`holds an invalid tokenizer (${(err as Error).message})`, err);
      }
    }
  } catch (err) {
    model.dispose();
    throw err;
  }
  return model;
}
