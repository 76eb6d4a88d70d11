#!/usr/bin/env node
/**
 * The `rnnkit` command line:
 *
 *   rnnkit train <text-file> [--level char|word] [--cell lstm|gru|rnn] [--units N] [--layers N] [--epochs N] [--seq-len N] [--out FILE] ...
 *   rnnkit sample <model-file> [--prime TEXT] [--temperature T] [--n N] [--seed S] [--max-length N] ...
 *   rnnkit export-torch <model-file> --data <text-file-or-dir> --out <dir> [--seq-len N] [--epochs N] ...
 *   rnnkit train-torch <package-dir> [--nproc-per-node N] [-- train.py options]
 *   rnnkit import-torch <dir> [--out FILE]
 *
 * Everything runs through {@link main}, which takes the arguments and the
 * output streams and returns the exit code, so tests drive it in-process.
 * Exit codes: 0 success, 1 runtime error (`rnnkit: <message>`, the stack
 * too with RNNKIT_DEBUG=1), 2 bad usage (commander's message), 130 training
 * stopped by Ctrl-C (the model is saved).
 */
import { readFileSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError, Option } from 'commander';
import { intIn, numberIn } from './cli/args.js';
import type { CliIO } from './cli/io.js';
import {
  exportTorchCommand,
  trainTorchCommand,
  type ExportTorchCommandOptions,
  type TrainTorchCommandOptions,
} from './cli/export-torch.js';
import { importTorchCommand, type ImportTorchCommandOptions } from './cli/import-torch.js';
import { sample, type SampleCommandOptions } from './cli/sample.js';
import { train, VALIDATION_SHARE, WORD_MAX_VOCAB, type TrainCommandOptions } from './cli/train.js';

export { CliError, oneLine, type CliIO, type CliStream } from './cli/io.js';

/** Exit code of a usage error (bad option or argument). */
export const EXIT_USAGE = 2;
/** Exit code of a runtime error. */
export const EXIT_ERROR = 1;

function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

function program(io: CliIO, run: (code: Promise<number>) => void): Command {
  const cli = new Command('rnnkit')
    .description('Train recurrent language models on text files and sample from them.')
    .version(version(), '-V, --version')
    .exitOverride()
    .configureOutput({ writeOut: (s) => void io.stdout.write(s), writeErr: (s) => void io.stderr.write(s) })
    .showHelpAfterError('(run with --help for usage)');

  cli
    .command('train')
    .description('train a character- or word-level language model on a UTF-8 text file')
    .argument('<text-file>', 'the training text (the last 10% is held out for validation)')
    .addOption(new Option('--level <level>', 'tokens: characters or words').choices(['char', 'word']).default('char'))
    .addOption(new Option('--cell <cell>', 'recurrent cell').choices(['lstm', 'gru', 'rnn']).default('lstm'))
    .addOption(new Option('--units <n>', 'units per recurrent layer').argParser(intIn(1, 65536)).default(128))
    .addOption(new Option('--layers <n>', 'recurrent layers').argParser(intIn(1, 64)).default(2))
    .addOption(new Option('--dropout <rate>', 'dropout after each recurrent layer, 0 to 0.99').argParser(numberIn(0, 0.99)).default(0))
    .addOption(new Option('--epochs <n>', 'passes over the training text').argParser(intIn(1, 1e6)).default(10))
    .addOption(
      new Option('--seq-len <n>', 'tokens per BPTT window (the state carries across windows)').argParser(intIn(1, 1e5)).default(64),
    )
    .addOption(new Option('--batch-size <n>', 'parallel streams through the text').argParser(intIn(1, 1e5)).default(32))
    .addOption(new Option('--lr <rate>', 'Adam learning rate').argParser(numberIn(0, 10, true)).default(2e-3))
    .addOption(new Option('--seed <n>', 'seeds the weights, dropout and the final samples').argParser(intIn(0, 0xffffffff)).default(0))
    .addOption(
      new Option('--min-frequency <n>', 'keep only tokens seen at least n times (rarer ones become <unk>)').argParser(
        intIn(1, 2 ** 31 - 1),
      ),
    )
    .addOption(
      new Option(
        '--max-vocab <n>',
        `vocabulary cap including 4 special tokens (default: none for char, ${WORD_MAX_VOCAB} for word)`,
      ).argParser(intIn(5, 2 ** 31 - 1)),
    )
    .addOption(
      new Option('--embedding <dim>', 'an embedding of this width as the first layer (instead of one-hot rows)').argParser(intIn(1, 65536)),
    )
    .addOption(
      new Option(
        '--recurrent-dropout <rate>',
        "variational dropout on each recurrent layer's state into its recurrent product, 0 to 0.99",
      ).argParser(numberIn(0, 0.99)),
    )
    .addOption(new Option('--tie', 'the output layer shares the embedding table (needs --embedding = --units)'))
    .addOption(
      new Option('--sparse-embedding', "each step updates only the embedding's rows of the batch's tokens (needs --embedding, not --tie)"),
    )
    .addOption(new Option('--threads <n>', "rnnkit's threads (default: OPENBLAS_NUM_THREADS or the cores)").argParser(intIn(1, 64)))
    .addOption(
      new Option('--time-budget <seconds>', 'stop after the step that spends this many seconds, then save (exit 0)').argParser(
        numberIn(0, 1e9, true),
      ),
    )
    .addOption(
      new Option('--early-stopping <patience>', 'stop after this many epochs without a better validation loss; keep the best').argParser(
        intIn(0, 1e6),
      ),
    )
    .addOption(
      new Option('--resume <model-file>', 'continue training a saved model (its architecture and tokenizer; those options are ignored)'),
    )
    .addOption(new Option('--samples <n>', 'texts sampled at the end (0: none)').argParser(intIn(0, 1000)).default(3))
    .addOption(new Option('-o, --out <file>', 'model file; the loss curve goes to <file>.loss.svg (default: <text-file name>.rnnkit)'))
    .action((file: string, opts: TrainCommandOptions) => run(train(file, opts, io)));

  cli
    .command('sample')
    .description('print texts sampled from a trained model, one per line (newlines in a text are written as \\n)')
    .argument('<model-file>', 'a model saved by rnnkit train (or model.save)')
    .addOption(new Option('--prime <text>', 'text to continue; each sample starts with it').default(''))
    .addOption(
      new Option('-t, --temperature <t>', 'softmax temperature; 0 = greedy, < 1 safer, > 1 wilder').argParser(numberIn(0, 1e6)).default(1),
    )
    .addOption(new Option('-n, --n <n>', 'number of texts').argParser(intIn(1, 1e5)).default(1))
    .addOption(new Option('--seed <n>', 'the same seed gives the same texts').argParser(intIn(0, Number.MAX_SAFE_INTEGER)).default(0))
    .addOption(new Option('--max-length <n>', 'most tokens sampled per text').argParser(intIn(1, 1e6)).default(200))
    .addOption(new Option('--top-k <k>', 'sample among the k most likely tokens (0: all)').argParser(intIn(0, 1 << 24)).default(0))
    .addOption(
      new Option('--top-p <p>', 'nucleus sampling: the smallest set with probability >= p').argParser(numberIn(0, 1, true)).default(1),
    )
    .action((file: string, opts: SampleCommandOptions) => run(sample(file, opts, io)));

  cli
    .command('export-torch')
    .description('write a PyTorch training package: weights, tokenizer, encoded data and a train.py for torchrun (DDP)')
    .argument('<model-file>', 'a model saved by rnnkit train / model.save (or a .safetensors file with rnnkit metadata)')
    .requiredOption('--data <path>', 'the training text: a UTF-8 file, or a directory of them (joined with <eos>)')
    .requiredOption('-o, --out <dir>', 'the package directory to create (must not exist)')
    .addOption(new Option('--seq-len <n>', 'tokens per training window').argParser(intIn(1, 1e5)).default(64))
    .addOption(new Option('--batch-size <n>', "train.py's default rows per step and process").argParser(intIn(1, 1e5)).default(32))
    .addOption(new Option('--epochs <n>', "train.py's default epochs").argParser(intIn(1, 1e6)).default(1))
    .addOption(new Option('--lr <rate>', "train.py's default Adam learning rate").argParser(numberIn(0, 10, true)).default(2e-3))
    .addOption(new Option('--clip-norm <x>', 'global L2 norm clip, 0 = off').argParser(numberIn(0, 1e6)).default(5))
    .addOption(
      new Option('--validation-share <x>', "share of the data's tail held out").argParser(numberIn(0, 0.9)).default(VALIDATION_SHARE),
    )
    .addOption(new Option('--max-unknown <x>', 'refuse data with a larger share of <unk> tokens').argParser(numberIn(0, 1)).default(0.05))
    .addOption(new Option('--seed <n>', "seeds the row order (default: the model's seed)").argParser(intIn(0, 0xffffffff)))
    .action((file: string, opts: ExportTorchCommandOptions) => run(exportTorchCommand(file, opts, io)));

  cli
    .command('train-torch')
    .description("run an export-torch package's train.py under torchrun (gloo on CPU, nccl on GPUs)")
    .argument('<package-dir>', 'a directory written by rnnkit export-torch')
    .argument('[train-args...]', 'train.py options after --, e.g. -- --epochs 3 --out trained')
    .addOption(new Option('--nproc-per-node <n>', 'processes on this machine').argParser(intIn(1, 4096)).default(1))
    .addOption(new Option('--torchrun <command>', "the launcher, e.g. '/usr/bin/python3 -m torch.distributed.run'").default('torchrun'))
    .action((dir: string, args: string[], opts: TrainTorchCommandOptions) => run(trainTorchCommand(dir, args, opts, io)));

  cli
    .command('import-torch')
    .description("turn train.py's output directory into an rnnkit model file (for rnnkit sample)")
    .argument('<dir>', "train.py's --out directory (model.safetensors, result.json)")
    .addOption(new Option('-o, --out <file>', 'model file (default: <dir name>.rnnkit)'))
    .action((dir: string, opts: ImportTorchCommandOptions) => run(importTorchCommand(dir, opts, io)));

  return cli;
}

/**
 * Runs the command line.
 *
 * @param argv - the arguments after the program name, e.g. `['train', 'input.txt', '--epochs', '5']`
 * @param io - where output goes (default process.stdout / process.stderr); `io.signal` stops training like Ctrl-C
 * @returns the exit code: 0 ok, 1 runtime error, 2 usage error, 130 training stopped by Ctrl-C (model saved)
 * @throws never: every error becomes a message on `io.stderr` and an exit code
 * @example
 * process.exitCode = await main(process.argv.slice(2));
 */
export async function main(argv: readonly string[], io: CliIO = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  let pending: Promise<number> | undefined;
  try {
    await program(io, (p) => void (pending = p)).parseAsync([...argv], { from: 'user' });
    return pending ? await pending : 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : EXIT_USAGE;
    const message = err instanceof Error ? err.message : String(err);
    io.stderr.write(`rnnkit: ${message}\n`);
    if (process.env.RNNKIT_DEBUG === '1' && err instanceof Error && err.stack) {
      // the stack starts with "<name>: <message>", already shown above
      io.stderr.write(`${err.stack.split('\n').slice(1).join('\n')}\n`);
      if (err.cause !== undefined)
        // eslint-disable-next-line @typescript-eslint/no-base-to-string -- a non-Error cause is shown as String() shows it
        io.stderr.write(`caused by: ${err.cause instanceof Error ? (err.cause.stack ?? err.cause.message) : String(err.cause)}\n`);
    }
    return EXIT_ERROR;
  }
}

/** True when this file is the program being run (node dist/cli.js, or the npm bin symlink). */
function isMain(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMain()) {
  // `rnnkit sample m | head` closes stdout early: end quietly instead of throwing EPIPE.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
  process.exitCode = await main(process.argv.slice(2));
}
