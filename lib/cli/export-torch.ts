/**
 * `rnnkit export-torch <model-file> --data <text-or-dir> --out <dir>`: writes
 * a PyTorch DDP training package (lib/io/torch-package.ts), and
 * `rnnkit train-torch <dir>`: runs its train.py under torchrun.
 */
import { readdir, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { exportTorch } from '../io/torch-package.js';
import { runTorchTraining } from '../io/torch-run.js';
import { load, loadSafetensors } from '../io/model-file.js';
import type { Model } from '../model.js';
import { CliError, type CliIO } from './io.js';
import { readText } from './train.js';

/**
 * Options of `rnnkit export-torch`, as parsed by commander (see lib/cli.ts for the defaults).
 *
 * @example
 * await exportTorchCommand('m.rnnkit', { data: 'input.txt', out: 'pkg', seqLen: 64, batchSize: 32, epochs: 1, lr: 2e-3, clipNorm: 5, validationShare: 0.1, maxUnknown: 0.05 }, io);
 */
export interface ExportTorchCommandOptions {
  data: string;
  out: string;
  seqLen: number;
  batchSize: number;
  epochs: number;
  lr: number;
  clipNorm: number;
  validationShare: number;
  maxUnknown: number;
  seed?: number;
}

/**
 * A model file: `.safetensors` through loadSafetensors, anything else as an rnnkit model file.
 *
 * @throws RnnkitError ERR_CHECKPOINT / ERR_SAFETENSORS naming the file when it cannot be loaded
 * @example
 * const model = await loadModelFile('names.rnnkit');
 */
export function loadModelFile(file: string): Promise<Model> {
  return extname(file).toLowerCase() === '.safetensors' ? loadSafetensors(file) : load(file);
}

/**
 * The texts of `--data`: one UTF-8 file, or every regular file of a directory (not hidden ones) in name order.
 *
 * @throws CliError naming the path when it is missing, a directory without files, or a file is not UTF-8 text
 * @example
 * const texts = await readTexts('corpus/');
 */
export async function readTexts(path: string): Promise<string[]> {
  const info = await stat(path).catch(() => undefined);
  if (!info) throw new CliError(`cannot read '${path}': no such file or directory`);
  if (!info.isDirectory()) return [await readText(path)];
  const names = (await readdir(path, { withFileTypes: true })).filter((e) => e.isFile() && !e.name.startsWith('.')).map((e) => e.name);
  if (names.length === 0) throw new CliError(`'${path}' holds no text files`);
  names.sort();
  const texts: string[] = [];
  for (const name of names) texts.push(await readText(join(path, name)));
  return texts;
}

const n = (v: number) => v.toLocaleString('en-US');

/**
 * Runs `rnnkit export-torch`.
 *
 * @returns the exit code, 0
 * @throws CliError for unreadable data; RangeError for a model or data the package cannot hold (unsupported layer, data that does not match the tokenizer); RnnkitError for a model file that cannot be loaded or an output directory that exists
 * @example
 * await exportTorchCommand('m.rnnkit', options, io);
 */
export async function exportTorchCommand(file: string, o: ExportTorchCommandOptions, io: CliIO): Promise<number> {
  const texts = await readTexts(o.data);
  const model = await loadModelFile(file);
  try {
    if (!model.tokenizer)
      throw new CliError(`'${file}' has no tokenizer: export-torch needs a language model trained on text (rnnkit train)`);
    const m = await exportTorch(model, texts, {
      out: o.out,
      seqLen: o.seqLen,
      batchSize: o.batchSize,
      epochs: o.epochs,
      optimizer: { type: 'adam', lr: o.lr },
      clipNorm: o.clipNorm,
      validationShare: o.validationShare,
      maxUnknown: o.maxUnknown,
      ...(o.seed !== undefined ? { seed: o.seed } : {}),
    });
    const { train, validation } = m.data;
    io.stdout.write(
      `wrote ${o.out}: ${n(model.numParams)} parameters; train ${n(train.tokens)} tokens (${n(train.windows)} windows of ${m.data.seqLen}), ` +
        `validation ${validation ? `${n(validation.tokens)} tokens` : 'none'}; ${m.data.unknownTokens} unknown tokens\n` +
        `next:\n  torchrun --standalone --nproc_per_node=2 ${join(o.out, 'train.py')} --epochs ${o.epochs} --out ${o.out}-trained\n` +
        `  rnnkit import-torch ${o.out}-trained --out ${o.out}-trained.rnnkit\n`,
    );
    return 0;
  } finally {
    model.dispose();
  }
}

/**
 * Options of `rnnkit train-torch`, as parsed by commander.
 *
 * @example
 * await trainTorchCommand('pkg', ['--epochs', '2'], { nprocPerNode: 2, torchrun: 'torchrun' }, io);
 */
export interface TrainTorchCommandOptions {
  nprocPerNode: number;
  torchrun: string;
}

/**
 * Runs `rnnkit train-torch`: the package's train.py under torchrun, its output passed through.
 *
 * @returns the exit code, 0
 * @throws RnnkitError ERR_TORCH (torchrun or PyTorch missing, or a failed run) / ERR_TORCH_PACKAGE (a damaged package)
 * @example
 * await trainTorchCommand('pkg', ['--out', 'trained'], { nprocPerNode: 2, torchrun: 'torchrun' }, io);
 */
export async function trainTorchCommand(dir: string, args: string[], o: TrainTorchCommandOptions, io: CliIO): Promise<number> {
  await runTorchTraining(dir, {
    nprocPerNode: o.nprocPerNode,
    torchrun: o.torchrun.split(' ').filter((s) => s !== ''),
    args,
    onOutput: (s) => void io.stdout.write(s),
  });
  return 0;
}
