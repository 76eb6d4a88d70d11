/**
 * `rnnkit import-torch <dir> --out <file>`: the model train.py wrote (its
 * `--out` directory) as an rnnkit model file, ready for `rnnkit sample`.
 */
import { basename, resolve } from 'node:path';
import { importTorch } from '../io/torch-package.js';
import type { CliIO } from './io.js';

/**
 * Options of `rnnkit import-torch`, as parsed by commander.
 *
 * @example
 * await importTorchCommand('trained', { out: 'model.rnnkit' }, io);
 */
export interface ImportTorchCommandOptions {
  /** default: `<dir name>.rnnkit` in the working directory */
  out?: string;
}

/**
 * Runs `rnnkit import-torch`.
 *
 * @returns the exit code, 0
 * @throws RnnkitError ERR_TORCH_PACKAGE / ERR_SAFETENSORS naming the file for a missing or damaged directory; ERR_CHECKPOINT when the model file cannot be written
 * @example
 * await importTorchCommand('trained', {}, io);
 */
export async function importTorchCommand(dir: string, o: ImportTorchCommandOptions, io: CliIO): Promise<number> {
  const { model, result } = await importTorch(dir);
  try {
    const out = o.out ?? `${basename(resolve(dir)) || 'model'}.rnnkit`;
    await model.save(out);
    const last = result.history.at(-1);
    io.stdout.write(
      `${dir}: trained by torch ${result.torch} on ${result.worldSize} process${result.worldSize === 1 ? '' : 'es'} (${result.backend}, ${result.device}), ` +
        `${result.history.length} epoch${result.history.length === 1 ? '' : 's'}, ${result.steps} steps` +
        `${last ? `, last loss ${last.loss.toFixed(4)}${last.valLoss !== undefined ? ` val ${last.valLoss.toFixed(4)}` : ''}` : ''}\n` +
        `saved ${out} (try: rnnkit sample ${out})\n`,
    );
    return 0;
  } finally {
    model.dispose();
  }
}
