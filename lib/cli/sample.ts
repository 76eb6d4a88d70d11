/**
 * `rnnkit sample <model-file>`: texts from a saved language model, one per
 * line.
 */
import { load } from '../index.js';
import { generateText } from '../sample.js';
import { CliError, oneLine, type CliIO } from './io.js';

/**
 * Options of `rnnkit sample`, as parsed by commander (see lib/cli.ts for the
 * defaults).
 *
 * @example
 * await sample('input.rnnkit', { prime: 'The ', temperature: 0.8, n: 5, seed: 1, maxLength: 200, topK: 0, topP: 1 }, io);
 */
export interface SampleCommandOptions {
  prime: string;
  temperature: number;
  n: number;
  seed: number;
  maxLength: number;
  topK: number;
  topP: number;
}

/**
 * Runs `rnnkit sample`: loads the model, samples `n` texts and prints each
 * on one line (newlines inside a text written as `\n`, see {@link oneLine}).
 *
 * @returns the exit code, 0
 * @throws CliError when the model has no tokenizer; RnnkitError ERR_CHECKPOINT naming the file when it cannot be loaded
 * @example
 * await sample('input.rnnkit', options, { stdout: process.stdout, stderr: process.stderr });
 */
export async function sample(file: string, o: SampleCommandOptions, io: CliIO): Promise<number> {
  const model = await load(file);
  try {
    const tok = model.tokenizer;
    if (!tok) throw new CliError(`'${file}' has no tokenizer: sample needs a language model trained on text (rnnkit train)`);
    const unknown = tok.unknownTokens(o.prime);
    if (unknown.length > 0) {
      const list =
        unknown
          .slice(0, 10)
          .map((w) => JSON.stringify(w))
          .join(', ') + (unknown.length > 10 ? ', ...' : '');
      io.stderr.write(
        `warning: --prime has ${unknown.length} ${tok.kind === 'word' ? 'word' : 'character'}${unknown.length === 1 ? '' : 's'} the model never saw, sampled from as <unk>: ${list}\n`,
      );
    }
    const texts = await generateText(model, tok, {
      prime: o.prime,
      temperature: o.temperature,
      n: o.n,
      seed: o.seed,
      maxLength: o.maxLength,
      topK: o.topK,
      topP: o.topP,
    });
    io.stdout.write(texts.map((t) => `${oneLine(t)}\n`).join(''));
    return 0;
  } finally {
    model.dispose();
  }
}
