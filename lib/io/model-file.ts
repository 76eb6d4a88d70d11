/**
 * A model's files: rnnkit checkpoints (the weights, the optimizer state, the
 * training counters and the tokenizer; `model.save`, `load`) and safetensors
 * with PyTorch's names (`model.saveSafetensors`, `loadSafetensors`).
 * Functions over a model; `Model`'s methods call them.
 */
import { loopStateOf, restoreLoopState } from '../schedules.js';
import { handleOf } from '../compute.js';
import type { SequentialConfig } from '../config.js';
import { RnnkitError, typeError } from '../errors.js';
import { loadPlan, modelFromSafetensors, safetensorsParts, type LoadSafetensorsOptions, type SaveSafetensorsOptions } from '../interop.js';
import { readCheckpoint, writeCheckpoint, type CheckpointParts } from '../io.js';
import { Model } from '../model.js';
import type { NativeTrainingState } from '../native.js';
import { tokenizerFromJSON } from '../tokenizers/index.js';
import { readSafetensors, writeSafetensors } from './safetensors.js';

const MODEL_FORMAT = 'rnnkit-model';
const MODEL_VERSION = 1;

function checkPath(path: unknown): void {
  if (typeof path !== 'string' || path === '') throw typeError('a non-empty string', 'path', path);
}

/**
 * `model.save`: writes the model to one file, atomically.
 *
 * @throws TypeError when `path` is not a non-empty string
 * @throws RnnkitError ERR_CHECKPOINT when the file cannot be written; ERR_BUSY / ERR_DISPOSED
 * @example
 * await save(model, 'names.rnnkit');
 */
export async function save(model: Model, path: string): Promise<void> {
  checkPath(path);
  await writeCheckpoint(path, toCheckpoint(model));
}

/**
 * `model.saveSafetensors`: the weights with PyTorch's names and layouts, plus metadata.
 *
 * @throws TypeError / RangeError for a bad path or option (the Promise rejects)
 * @throws RnnkitError ERR_SAFETENSORS when the file cannot be written; ERR_BUSY / ERR_DISPOSED
 * @example
 * await saveSafetensors(model, 'lm.safetensors', { names: { 'layers.0': 'rnn' } });
 */
export async function saveSafetensors(model: Model, path: string, options?: SaveSafetensorsOptions): Promise<void> {
  checkPath(path);
  const { tensors, metadata } = safetensorsParts(model, options);
  await writeSafetensors(path, tensors, metadata);
}

/**
 * `model.toCheckpoint`: the model as checkpoint parts (a JSON header and named
 * arrays), taken synchronously so it is one consistent snapshot.
 *
 * @throws RnnkitError ERR_BUSY / ERR_DISPOSED
 * @example
 * const { header, arrays } = toCheckpoint(model);
 */
export function toCheckpoint(model: Model): CheckpointParts {
  const h = handleOf(model);
  const handle = h.native();
  h.idle();
  const params = handle.getParams();
  const training = handle.getTrainingState();
  const header = {
    format: MODEL_FORMAT,
    version: MODEL_VERSION,
    config: model.config,
    tokenizer: model.tokenizer ? model.tokenizer.toJSON() : null,
    epoch: model.epoch,
    step: training.step,
    optimizer: { type: training.optimizer.type, steps: training.optimizer.steps },
    weights: h.weights.map((w) => ({ name: w.name, shape: w.shape, offset: w.offset, size: w.size })),
    ...(loopStateOf(model) ? { loop: loopStateOf(model) } : {}),
  };
  return {
    header,
    arrays: [
      { name: 'params', data: params },
      { name: 'optimizer.m', data: training.optimizer.m },
      { name: 'optimizer.v', data: training.optimizer.v },
    ],
  };
}

/**
 * `Model.fromCheckpoint`: rebuilds a model from checkpoint parts; `file` names
 * the source in error messages.
 *
 * @throws RnnkitError ERR_CHECKPOINT when the parts do not describe a valid model
 * @example
 * const copy = fromCheckpoint(toCheckpoint(model), 'memory');
 */
export function fromCheckpoint(parts: CheckpointParts, file: string): Model {
  const { header, arrays } = parts;
  const bad = (what: string, cause?: unknown): RnnkitError =>
    new RnnkitError('ERR_CHECKPOINT', `Invalid model file '${file}': ${what}`, cause === undefined ? undefined : { cause });
  if (header.format !== MODEL_FORMAT) throw bad(`not an rnnkit model (format ${JSON.stringify(header.format)})`);
  if (header.version !== MODEL_VERSION) {
    throw bad(`model format version ${JSON.stringify(header.version)}; this rnnkit reads version ${MODEL_VERSION}`);
  }
  let model: Model;
  try {
    model = new Model(header.config as SequentialConfig);
  } catch (err) {
    throw bad(`its configuration is not valid here (${(err as Error).message})`, err);
  }
  try {
    const { weights: table } = handleOf(model);
    const byName = new Map(arrays.map((a) => [a.name, a.data]));
    const params = byName.get('params');
    const Float = model.config.dtype === 'float64' ? Float64Array : Float32Array;
    if (!(params instanceof Float) || params.length !== model.numParams) {
      throw bad(`expected ${model.numParams} ${model.config.dtype} parameters`);
    }
    const weights = header.weights;
    if (
      !Array.isArray(weights) ||
      weights.length !== table.length ||
      weights.some((w, i) => {
        const e = table[i]!;
        const x = w as { name?: unknown; offset?: unknown; shape?: unknown };
        return x.name !== e.name || x.offset !== e.offset || JSON.stringify(x.shape) !== JSON.stringify(e.shape);
      })
    ) {
      throw bad('its weight table does not match its configuration');
    }
    const handle = handleOf(model).native();
    handle.setParams(0, params);
    const opt = header.optimizer as { type?: unknown; steps?: unknown } | undefined;
    const m = byName.get('optimizer.m');
    const v = byName.get('optimizer.v');
    if (!opt || !(m instanceof Float) || !(v instanceof Float)) throw bad('the optimizer state is missing');
    handle.setTrainingState({
      step: header.step as number,
      optimizer: { type: opt.type as NativeTrainingState['optimizer']['type'], steps: opt.steps as number, m, v },
    });
    const epoch = header.epoch;
    if (typeof epoch !== 'number' || !Number.isInteger(epoch) || epoch < 0) throw bad('the epoch counter is not a non-negative integer');
    model.epoch = epoch;
    restoreLoopState(model, header.loop, file);
    if (header.tokenizer !== null && header.tokenizer !== undefined) model.tokenizer = tokenizerFromJSON(header.tokenizer);
  } catch (err) {
    model.dispose();
    if (err instanceof RnnkitError && err.code === 'ERR_CHECKPOINT') throw err;
    throw bad((err as Error).message, err);
  }
  return model;
}

/**
 * Reads a model written by `model.save(path)`: it predicts exactly what the
 * saved model did, and training continues as if never interrupted (optimizer
 * moments, epoch and dropout counters are restored); the tokenizer comes
 * back as `model.tokenizer`.
 *
 * @throws TypeError when `path` is not a non-empty string
 * @throws RnnkitError ERR_CHECKPOINT for a missing, truncated, corrupted, foreign or incompatible file (the message names it)
 * @example
 * const model = await load('names.rnnkit');
 * console.log(await generateText(model, model.tokenizer!, { n: 5 }));
 */
export async function load(path: string): Promise<Model> {
  return fromCheckpoint(await readCheckpoint(path), path);
}

/**
 * Reads a model from a safetensors file, e.g. one written by
 * {@link Model.saveSafetensors} or a PyTorch state_dict saved with
 * `safetensors.torch.save_file`. The model is built from `options.config`
 * (a `sequential()` config) or else from the config in the file's metadata;
 * each weight is looked up under its PyTorch name (mapped by `options.names`,
 * else by the map stored in the file), must be present with its exact shape,
 * and is converted (F32 / F64) to the model's dtype. With `strict` (default
 * true) a tensor the model has no weight for is an error. The tokenizer in
 * the metadata, if any, comes back as `model.tokenizer`.
 *
 * @throws TypeError when `path` is not a non-empty string or an option has the wrong type (the Promise rejects)
 * @throws TypeError / RangeError for an invalid `options.config` (as {@link sequential}) or an `options.names` that does not fit it (the Promise rejects)
 * @throws RnnkitError ERR_SAFETENSORS naming the file (and the tensor) when it
 *   cannot be read, is not a valid safetensors file of F32 / F64 tensors, has
 *   no config and none was given, or lacks a weight, has one of the wrong
 *   shape, a non-finite value, or (strict) an extra tensor
 * @example
 * // a torch model: class Net(nn.Module) with self.rnn = nn.LSTM(V, 64, batch_first=True), self.fc = nn.Linear(64, V)
 * const model = await loadSafetensors('net.safetensors', {
 *   config: { input: { vocabSize: V }, layers: [layers.lstm({ units: 64 }), layers.dense({ units: V })] },
 *   names: { 'layers.0': 'rnn', 'layers.1': 'fc' },
 * });
 */
export async function loadSafetensors(path: string, options?: LoadSafetensorsOptions): Promise<Model> {
  if (typeof path !== 'string' || path === '') throw typeError('a non-empty string', 'path', path);
  const plan = loadPlan(options);
  const content = await readSafetensors(path);
  return modelFromSafetensors(content, path, plan, (config) => new Model(config));
}
