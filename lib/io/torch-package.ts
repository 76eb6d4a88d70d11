/**
 * PyTorch training packages: the way out to torch's DistributedDataParallel
 * ({@link exportTorch}) and the way back ({@link importTorch}). A package is a
 * directory (docs/scale-out.md is the guide):
 *
 * ```
 * manifest.json     format, data files, window length, training defaults (the fit options)
 * init.safetensors  the weights under torch's names, with the rnnkit config and tokenizer
 *                   in __metadata__ (what loadSafetensors reads)
 * tokenizer.json    the tokenizer's JSON
 * train.bin         training token ids (./token-file.ts); val.bin: validation, when held out
 * train.py          templates/train.py: builds the torch.nn modules, trains under torchrun
 * ```
 *
 * train.py writes its output directory (`--out`) with `model.safetensors`
 * (trained weights, the same metadata) and `result.json` (per-epoch losses).
 *
 * Training rows are consecutive windows of the stream ({@link windowRows}), so
 * rnnkit's `fit` on {@link readTorchPackage}'s dataset with its fit options
 * takes the same steps train.py takes in one process.
 */
import { readFileSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { RowDataset } from '../data.js';
import { holdOut } from '../data.js';
import { rangeError, received, RnnkitError, typeError } from '../errors.js';
import { safetensorsParts } from '../interop.js';
import { isRecurrent, type LayerConfig } from '../layers.js';
import { Model } from '../model.js';
import { packageRoot, type NativeOptimizer } from '../native.js';
import { toNativeOptimizer, type OptimizerConfig } from '../optimizer.js';
import { tokenizerFromJSON, type Tokenizer } from '../tokenizers/index.js';
import type { FitOptions } from '../train.js';
import { integer, isObject, knownKeys, number, object, withDefault } from '../validate.js';
import { writeDirectoryAtomic } from './atomic.js';
import { encodeSafetensors } from './safetensors.js';
import { decodeTokenFile, encodeTokenFile, tokenizerCrc } from './token-file.js';

/**
 * `manifest.json`'s `format`.
 *
 * @example
 * manifest.format === TORCH_PACKAGE_FORMAT;
 */
export const TORCH_PACKAGE_FORMAT = 'rnnkit-torch-package';
/**
 * The package version this build writes and reads (`manifest.json`'s `version`).
 *
 * @example
 * manifest.version === TORCH_PACKAGE_VERSION;
 */
export const TORCH_PACKAGE_VERSION = 1;
/** `result.json`'s `format` (written by train.py). */
const RESULT_FORMAT = 'rnnkit-torch-result';

const FILES = {
  manifest: 'manifest.json',
  weights: 'init.safetensors',
  tokenizer: 'tokenizer.json',
  train: 'train.bin',
  validation: 'val.bin',
  script: 'train.py',
} as const;
const RESULT_FILES = { weights: 'model.safetensors', result: 'result.json' } as const;

/**
 * Options of {@link exportTorch}. The training settings become train.py's
 * defaults (its command line overrides them) and {@link readTorchPackage}'s
 * fit options.
 *
 * @example
 * const options: ExportTorchOptions = { out: 'pkg', seqLen: 64, batchSize: 32, optimizer: { type: 'adam', lr: 2e-3 }, clipNorm: 5 };
 */
export interface ExportTorchOptions {
  /** the package directory to create; it must not exist, its parent must */
  out: string;
  /** tokens per training window (row), default 64 */
  seqLen?: number;
  /** share of the stream's tail held out for validation, in [0, 0.9], default 0.1 (none when the tail is shorter than a window) */
  validationShare?: number;
  /** largest share of `<unk>` tokens the data may encode to, in [0, 1], default 0.05: more means the data does not match the tokenizer */
  maxUnknown?: number;
  /** default 1 */
  epochs?: number;
  /** rows per step and process, default 32 */
  batchSize?: number;
  /** as for fit, default `{ type: 'adam', lr: 2e-3 }` (rnnkit train's) */
  optimizer?: OptimizerConfig;
  /** global L2 norm clip, default 5 (rnnkit train's); 0 = off */
  clipNorm?: number;
  /** clip by value, default 0 = off */
  clipValue?: number;
  /** seeds the row order, default the model's seed */
  seed?: number;
}

/**
 * `manifest.json` of a package.
 *
 * @example
 * const { data, training } = (await readTorchPackage('pkg')).manifest;
 */
export interface TorchPackageManifest {
  format: typeof TORCH_PACKAGE_FORMAT;
  version: typeof TORCH_PACKAGE_VERSION;
  rnnkit: string;
  weights: string;
  tokenizer: string;
  script: string;
  data: {
    seqLen: number;
    documents: number;
    unknownTokens: number;
    train: { file: string; tokens: number; windows: number };
    validation: { file: string; tokens: number; windows: number } | null;
  };
  training: {
    epochs: number;
    batchSize: number;
    /** rnnkit's optimizer with every default filled in (torch.optim's semantics) */
    optimizer: Omit<NativeOptimizer, 'clipValue' | 'clipNorm'>;
    clipNorm: number;
    clipValue: number;
    seed: number;
    /** the model's epoch counter at export: epoch e of train.py is epoch startEpoch + e of the permutation */
    startEpoch: number;
  };
}

/**
 * A package read back ({@link readTorchPackage}).
 *
 * @example
 * const pkg = await readTorchPackage('pkg');
 * await model.fit(pkg.train, pkg.fitOptions); // the steps train.py takes in one process
 */
export interface TorchPackage {
  manifest: TorchPackageManifest;
  tokenizer: Tokenizer;
  /** the training windows as rnnkit rows */
  train: RowDataset;
  validation: RowDataset | undefined;
  /** the package's training settings as fit options (shuffle on, as train.py's default) */
  fitOptions: Pick<FitOptions, 'epochs' | 'batchSize' | 'optimizer' | 'clipNorm' | 'clipValue' | 'seed'>;
}

/**
 * What train.py's `result.json` holds.
 *
 * @example
 * const { result } = await importTorch('trained');
 * result.history.map((e) => e.loss);
 */
export interface TorchResult {
  format: typeof RESULT_FORMAT;
  version: 1;
  startEpoch: number;
  endEpoch: number;
  steps: number;
  worldSize: number;
  backend: string;
  device: string;
  torch: string;
  history: { epoch: number; loss: number; valLoss?: number; tokens: number; seconds: number; tokensPerSec: number }[];
}

/**
 * Why torch.nn has no module for a layer, or undefined when it has one.
 * templates/train.py's `unsupported` says the same.
 *
 * @throws never
 * @example
 * torchUnsupported(layers.lstm({ units: 8, peephole: true })); // 'an LSTM with diagonal peepholes (torch.nn.LSTM has none)'
 */
export function torchUnsupported(layer: LayerConfig): string | undefined {
  if (layer.type === 'lstm' && layer.peephole !== 'none') return `an LSTM with ${layer.peephole} peepholes (torch.nn.LSTM has none)`;
  if (layer.type === 'gru' && layer.variant !== 'full') return 'the minimal GRU (update gate only; torch.nn.GRU has r, z, n)';
  if (layer.type === 'gru' && !layer.resetAfter)
    return 'a GRU with resetAfter false (reset gate before W_hn; torch.nn.GRU applies it after)';
  if (isRecurrent(layer) && !layer.returnSequences)
    return 'a recurrent layer with returnSequences false (a language model scores every step)';
  if (isRecurrent(layer) && (layer.dropout !== undefined || layer.recurrentDropout !== undefined))
    return 'variational (input or recurrent) dropout (torch.nn.LSTM / GRU / RNN drop only between layers)';
  return undefined;
}

/**
 * The training rows of a token stream: row r is input `ids[r*T .. r*T+T)`,
 * target `ids[r*T+1 .. r*T+T]` (T = seqLen); the last `(n - 1) mod T` tokens
 * form no row. Each row starts from a zero state. templates/train.py's
 * `windows` cuts the same rows.
 *
 * @throws TypeError / RangeError for ids that are not an Int32Array or a seqLen that is not a positive integer
 * @example
 * windowRows(Int32Array.of(5, 6, 7, 8, 9), 2); // inputs [[5, 6], [7, 8]], targets [[6, 7], [8, 9]]
 */
export function windowRows(ids: Int32Array, seqLen: number): RowDataset {
  if (!(ids instanceof Int32Array)) throw typeError('an Int32Array of token ids', 'ids', ids);
  const T = integer(seqLen, 'seqLen', 1, 1e6);
  const rows = Math.max(0, Math.floor((ids.length - 1) / T));
  return {
    inputs: { data: ids.slice(0, rows * T), shape: [rows, T] },
    targets: { data: ids.slice(1, rows * T + 1), shape: [rows, T] },
  };
}

function checkModel(model: unknown): { model: Model; tokenizer: Tokenizer } {
  if (!(model instanceof Model)) throw typeError('a Model (sequential, load or loadSafetensors)', 'model', model);
  const { config } = model;
  const tokenizer = model.tokenizer;
  const lm = 'vocabSize' in config.input && config.loss === 'crossEntropy' && !config.condition;
  if (!lm) {
    throw rangeError(
      'a language model (token input, crossEntropy loss, no condition)',
      'model.config',
      received(`input ${JSON.stringify(config.input)}, loss '${config.loss}'${config.condition ? ', a condition' : ''}`),
    );
  }
  if (!tokenizer) throw rangeError('a model with a tokenizer (model.tokenizer) to encode the data', 'model.tokenizer', undefined);
  const vocab = (config.input as { vocabSize: number }).vocabSize;
  if (tokenizer.size !== vocab)
    throw rangeError(`a tokenizer of ${vocab} tokens (the model's vocabSize)`, 'model.tokenizer', received(`${tokenizer.size} tokens`));
  config.layers.forEach((layer, i) => {
    const why = torchUnsupported(layer);
    if (why)
      throw rangeError(
        'a layer torch.nn has a module for (LSTM without peepholes, full GRU with resetAfter, RNN, dense, dropout)',
        `model.config.layers[${i}]`,
        received(why),
      );
  });
  return { model, tokenizer };
}

function checkTexts(texts: unknown): readonly string[] {
  if (typeof texts === 'string') return [texts];
  if (!Array.isArray(texts) || texts.length === 0) throw typeError('a string or a non-empty array of strings', 'texts', texts);
  texts.forEach((t: unknown, i) => {
    if (typeof t !== 'string') throw typeError('a string', `texts[${i}]`, t);
  });
  return texts as string[];
}

/** A file shipped in rnnkit's own package (templates/train.py, package.json). */
function shippedFile(relative: string): Buffer {
  return readFileSync(join(packageRoot(), relative));
}

function rnnkitVersion(): string {
  try {
    return (JSON.parse(shippedFile('package.json').toString('utf8')) as { version?: string }).version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

/**
 * Writes a PyTorch training package for `model` and `texts` into the new
 * directory `options.out`, atomically (a temporary sibling renamed at the
 * end: the directory appears complete or not at all). The texts are encoded
 * with the model's tokenizer (several texts are joined with `<eos>` between
 * them), the tail held out for validation, and both written as token files.
 *
 * @param model - a language model with a tokenizer whose layers torch.nn has modules for
 * @param texts - the training text, or several (e.g. one per file)
 * @returns the manifest written
 * @throws TypeError for arguments of the wrong type
 * @throws RangeError naming the argument: a model that is not a token-input
 *   crossEntropy language model with a tokenizer, a layer torch.nn has no
 *   module for (peephole LSTM, minimal GRU, GRU with resetAfter false; named
 *   `model.config.layers[i]`), texts with more `<unk>` than
 *   `options.maxUnknown` or too short for one window, an option out of range
 * @throws RnnkitError ERR_TORCH_PACKAGE naming `options.out` when it exists or cannot be written
 * @example
 * const manifest = await exportTorch(model, text, { out: 'pkg', seqLen: 64 });
 * // then: torchrun --standalone --nproc_per_node=2 pkg/train.py --epochs 3 --out trained
 */
export async function exportTorch(
  model: Model,
  texts: string | readonly string[],
  options: ExportTorchOptions,
): Promise<TorchPackageManifest> {
  const checked = checkModel(model);
  const tok = checked.tokenizer;
  const docs = checkTexts(texts);
  const opts = object(options, 'options');
  knownKeys(
    opts,
    ['out', 'seqLen', 'validationShare', 'maxUnknown', 'epochs', 'batchSize', 'optimizer', 'clipNorm', 'clipValue', 'seed'],
    'options',
  );
  if (typeof opts.out !== 'string' || opts.out === '')
    throw typeError('a non-empty string (a directory to create)', 'options.out', opts.out);
  const out = opts.out;
  const seqLen = withDefault(opts.seqLen, 64, (v) => integer(v, 'options.seqLen', 1, 1e6));
  const share = withDefault(opts.validationShare, 0.1, (v) => number(v, 'options.validationShare', { min: 0, max: 0.9 }));
  const maxUnknown = withDefault(opts.maxUnknown, 0.05, (v) => number(v, 'options.maxUnknown', { min: 0, max: 1 }));
  const epochs = withDefault(opts.epochs, 1, (v) => integer(v, 'options.epochs', 1, 1e9));
  const batchSize = withDefault(opts.batchSize, 32, (v) => integer(v, 'options.batchSize', 1, 1e6));
  const seed = withDefault(opts.seed, model.config.seed, (v) => integer(v, 'options.seed', 0, 0xffffffff));
  const clipNorm = withDefault(opts.clipNorm, 5, (v) => number(v, 'options.clipNorm', { min: 0 }));
  const clipValue = withDefault(opts.clipValue, 0, (v) => number(v, 'options.clipValue', { min: 0 }));
  // rnnkit's own check and defaults of the optimizer (torch.optim's); clips of 0 mean off there too
  const o = toNativeOptimizer(opts.optimizer ?? { type: 'adam', lr: 2e-3 }, undefined, undefined);
  const optimizer = {
    type: o.type,
    lr: o.lr,
    momentum: o.momentum,
    nesterov: o.nesterov,
    beta1: o.beta1,
    beta2: o.beta2,
    eps: o.eps,
    weightDecay: o.weightDecay,
  };

  const parts: Int32Array[] = docs.map((d) => tok.encode(d));
  const total = parts.reduce((a, p) => a + p.length, 0) + parts.length - 1;
  const ids = new Int32Array(total);
  let at = 0;
  parts.forEach((p, i) => {
    if (i > 0) ids[at++] = tok.eosId;
    ids.set(p, at);
    at += p.length;
  });
  let unknown = 0;
  for (const id of ids) if (id === tok.unkId) unknown++;
  if (ids.length > 0 && unknown / ids.length > maxUnknown) {
    const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
    throw rangeError(
      `text the model's tokenizer covers (at most ${pct(maxUnknown)} <unk> tokens, options.maxUnknown)`,
      'texts',
      received(`${unknown} of ${ids.length} tokens unknown (${pct(unknown / ids.length)}): data and tokenizer do not match`),
    );
  }
  const split = holdOut(ids, share, seqLen);
  const train = windowRows(split.train, seqLen);
  const windows = (train.inputs as { shape: number[] }).shape[0]!;
  if (windows < 1)
    throw rangeError(
      `at least ${seqLen + 1} tokens to train on (one window of options.seqLen and its target)`,
      'texts',
      received(`${split.train.length} tokens`),
    );

  const tokJson = Buffer.from(JSON.stringify(tok.toJSON()));
  const crc = tokenizerCrc(tokJson);
  const vocab = tok.size;
  const { tensors, metadata } = safetensorsParts(model, {});
  const manifest: TorchPackageManifest = {
    format: TORCH_PACKAGE_FORMAT,
    version: TORCH_PACKAGE_VERSION,
    rnnkit: rnnkitVersion(),
    weights: FILES.weights,
    tokenizer: FILES.tokenizer,
    script: FILES.script,
    data: {
      seqLen,
      documents: docs.length,
      unknownTokens: unknown,
      train: { file: FILES.train, tokens: split.train.length, windows },
      validation: split.validation
        ? { file: FILES.validation, tokens: split.validation.length, windows: Math.floor((split.validation.length - 1) / seqLen) }
        : null,
    },
    training: { epochs, batchSize, optimizer, clipNorm, clipValue, seed, startEpoch: model.epoch },
  };
  const files: Record<string, Uint8Array> = {
    [FILES.manifest]: Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`),
    [FILES.weights]: encodeSafetensors(tensors, metadata),
    [FILES.tokenizer]: tokJson,
    [FILES.train]: encodeTokenFile(split.train, vocab, crc),
    [FILES.script]: shippedFile('templates/train.py'),
  };
  if (split.validation) files[FILES.validation] = encodeTokenFile(split.validation, vocab, crc);
  try {
    await writeDirectoryAtomic(out, files);
  } catch (err) {
    throw new RnnkitError('ERR_TORCH_PACKAGE', (err as Error).message, { cause: err });
  }
  return manifest;
}

async function readPackageFile(dir: string, name: string): Promise<Buffer> {
  const path = join(dir, name);
  try {
    return await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new RnnkitError(
      'ERR_TORCH_PACKAGE',
      `Cannot read '${path}': ${code === 'ENOENT' ? 'no such file (an incomplete or damaged directory?)' : (err as Error).message}`,
      { cause: err },
    );
  }
}

async function readJson(dir: string, name: string): Promise<Record<string, unknown>> {
  const bytes = await readPackageFile(dir, name);
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new RnnkitError('ERR_TORCH_PACKAGE', `'${join(dir, name)}' is not valid JSON (${(err as Error).message}): damaged?`, {
      cause: err,
    });
  }
  if (!isObject(value)) throw new RnnkitError('ERR_TORCH_PACKAGE', `'${join(dir, name)}' is not a JSON object: damaged?`);
  return value;
}

async function checkDirectory(dir: unknown, name: string): Promise<string> {
  if (typeof dir !== 'string' || dir === '') throw typeError('a non-empty string (a directory)', name, dir);
  const isDir = await stat(dir).then(
    (s) => s.isDirectory(),
    () => false,
  );
  if (!isDir) throw new RnnkitError('ERR_TORCH_PACKAGE', `'${dir}' is not a directory`);
  return dir;
}

/**
 * The fields of a manifest that reading a package relies on, checked (a hand-edited or
 * damaged manifest is an ERR_TORCH_PACKAGE naming the field, not a crash).
 */
function checkManifest(raw: Record<string, unknown>, file: string): TorchPackageManifest {
  const bad = (field: string, what: string) => new RnnkitError('ERR_TORCH_PACKAGE', `'${file}' has no valid ${field} (${what}): damaged?`);
  const at = (path: string): unknown => path.split('.').reduce<unknown>((v, k) => (isObject(v) ? v[k] : undefined), raw);
  const fileName = (path: string) => {
    const v = at(path);
    if (typeof v !== 'string' || !/^[^/\\]+$/.test(v)) throw bad(path, 'a file name in the package');
  };
  const count = (path: string, min: number) => {
    const v = at(path);
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) throw bad(path, `an integer >= ${min}`);
  };
  ['weights', 'tokenizer', 'data.train.file'].forEach(fileName);
  if (at('data.validation') !== null) fileName('data.validation.file');
  count('data.seqLen', 1);
  count('training.epochs', 1);
  count('training.batchSize', 1);
  count('training.seed', 0);
  count('training.startEpoch', 0);
  for (const key of [
    'clipNorm',
    'clipValue',
    'optimizer.lr',
    'optimizer.momentum',
    'optimizer.beta1',
    'optimizer.beta2',
    'optimizer.eps',
    'optimizer.weightDecay',
  ]) {
    const v = at(`training.${key}`);
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw bad(`training.${key}`, 'a finite number >= 0');
  }
  if (!['sgd', 'adam', 'adamw'].includes(at('training.optimizer.type') as string))
    throw bad('training.optimizer.type', "'sgd', 'adam' or 'adamw'");
  return raw as unknown as TorchPackageManifest;
}

/**
 * Reads a package written by {@link exportTorch}: the manifest, the tokenizer
 * and the token files, checked as train.py checks them, with the training
 * windows as rnnkit rows and the training settings as fit options.
 *
 * @throws TypeError when `dir` is not a non-empty string
 * @throws RnnkitError ERR_TORCH_PACKAGE naming the file for a missing
 *   directory or file, a manifest of another format or version, a damaged
 *   tokenizer, or a token file that does not match the tokenizer
 * @example
 * const pkg = await readTorchPackage('pkg');
 * const history = await model.fit(pkg.train, { ...pkg.fitOptions, shuffle: false });
 */
export async function readTorchPackage(dir: string): Promise<TorchPackage> {
  await checkDirectory(dir, 'dir');
  const raw = await readJson(dir, FILES.manifest);
  if (raw.format !== TORCH_PACKAGE_FORMAT || raw.version !== TORCH_PACKAGE_VERSION) {
    throw new RnnkitError(
      'ERR_TORCH_PACKAGE',
      `'${join(dir, FILES.manifest)}' is not an rnnkit torch package of version ${TORCH_PACKAGE_VERSION}`,
    );
  }
  const manifest = checkManifest(raw, join(dir, FILES.manifest));
  const tokBytes = await readPackageFile(dir, manifest.tokenizer);
  let tokenizer: Tokenizer;
  try {
    tokenizer = tokenizerFromJSON(JSON.parse(tokBytes.toString('utf8')));
  } catch (err) {
    throw new RnnkitError('ERR_TORCH_PACKAGE', `'${join(dir, manifest.tokenizer)}' is not a valid tokenizer (${(err as Error).message})`, {
      cause: err,
    });
  }
  const crc = tokenizerCrc(tokBytes);
  const rows = async (file: string) =>
    windowRows(decodeTokenFile(await readPackageFile(dir, file), join(dir, file), tokenizer.size, crc), manifest.data.seqLen);
  const t = manifest.training;
  return {
    manifest,
    tokenizer,
    train: await rows(manifest.data.train.file),
    validation: manifest.data.validation ? await rows(manifest.data.validation.file) : undefined,
    fitOptions: {
      epochs: t.epochs,
      batchSize: t.batchSize,
      optimizer:
        t.optimizer.type === 'sgd'
          ? {
              type: 'sgd',
              lr: t.optimizer.lr,
              momentum: t.optimizer.momentum,
              nesterov: t.optimizer.nesterov,
              weightDecay: t.optimizer.weightDecay,
            }
          : {
              type: t.optimizer.type,
              lr: t.optimizer.lr,
              beta1: t.optimizer.beta1,
              beta2: t.optimizer.beta2,
              eps: t.optimizer.eps,
              weightDecay: t.optimizer.weightDecay,
            },
      ...(t.clipNorm > 0 ? { clipNorm: t.clipNorm } : {}),
      ...(t.clipValue > 0 ? { clipValue: t.clipValue } : {}),
      seed: t.seed,
    },
  };
}

/**
 * Loads what train.py wrote into its `--out` directory: the model from
 * `model.safetensors` (config and tokenizer from its metadata, through
 * loadSafetensors) and `result.json`; the model's epoch counter continues
 * from the result's `endEpoch`.
 *
 * @throws TypeError when `dir` is not a non-empty string
 * @throws RnnkitError ERR_TORCH_PACKAGE naming the file for a missing
 *   directory, an export package given instead of train.py's output, a
 *   missing or damaged result.json, or a model without tokenizer
 * @throws RnnkitError ERR_SAFETENSORS naming the file for a missing, truncated
 *   or damaged model.safetensors, or one that does not fit its config
 * @example
 * const { model, result } = await importTorch('trained');
 * await model.save('model.rnnkit');
 */
export async function importTorch(dir: string): Promise<{ model: Model; result: TorchResult }> {
  await checkDirectory(dir, 'dir');
  const weights = join(dir, RESULT_FILES.weights);
  const hasWeights = await stat(weights).then(
    () => true,
    () => false,
  );
  const isPackage = await stat(join(dir, FILES.manifest)).then(
    () => true,
    () => false,
  );
  if (!hasWeights && isPackage) {
    throw new RnnkitError(
      'ERR_TORCH_PACKAGE',
      `'${dir}' is an export package, not train.py's output: run its train.py (torchrun ... train.py --out DIR) and import DIR`,
    );
  }
  const result = (await readJson(dir, RESULT_FILES.result)) as unknown as TorchResult;
  if (result.format !== RESULT_FORMAT || !Number.isSafeInteger(result.endEpoch) || result.endEpoch < 0 || !Array.isArray(result.history)) {
    throw new RnnkitError(
      'ERR_TORCH_PACKAGE',
      `'${join(dir, RESULT_FILES.result)}' is not train.py's result (format ${RESULT_FORMAT}): damaged?`,
    );
  }
  const model = await Model.loadSafetensors(weights);
  if (!model.tokenizer) {
    model.dispose();
    throw new RnnkitError(
      'ERR_TORCH_PACKAGE',
      `'${weights}' has no tokenizer in its metadata: not written by an export package's train.py`,
    );
  }
  model.epoch = result.endEpoch;
  return { model, result };
}
