/**
 * `rnnkit train <text-file>`: a character- or word-level language model on
 * one text file, char-rnn style (one long token stream, stateful truncated
 * BPTT), with a live progress bar, a line per epoch, Ctrl-C that stops
 * cleanly and still saves, the model file, a loss-curve SVG next to it and
 * a few samples at the end.
 */
import { readFile, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, extname } from 'node:path';
import { isRecurrent, layers as L, type LayerInput } from '../layers.js';
import { load } from '../io/model-file.js';
import type { Model } from '../model.js';
import { setThreads } from '../runtime.js';
import { sequential } from '../sequential.js';
import { holdOut, textStream } from '../data.js';
import { fsReason } from '../io.js';
import { generateText } from '../sample.js';
import { CharTokenizer, WordTokenizer } from '../tokenizers/index.js';
import type { EpochLog, History } from '../train.js';
import { lossCurveSvg } from '../plot.js';
import { CliError, oneLine, type CliIO } from './io.js';
import { formatDuration, progressBar } from './progress.js';

/**
 * Options of `rnnkit train`, as parsed by commander (see lib/cli.ts for the
 * defaults).
 *
 * @example
 * await train('input.txt', { level: 'char', cell: 'lstm', units: 128, layers: 2, epochs: 10, seqLen: 64, batchSize: 32, lr: 2e-3, dropout: 0, seed: 0, samples: 3 }, io);
 */
export interface TrainCommandOptions {
  level: 'char' | 'word';
  cell: 'lstm' | 'gru' | 'rnn';
  units: number;
  layers: number;
  epochs: number;
  seqLen: number;
  batchSize: number;
  lr: number;
  dropout: number;
  seed: number;
  /** samples printed at the end (0: none) */
  samples: number;
  /** default: `<text-file basename without extension>.rnnkit` in the working directory */
  out?: string;
  minFrequency?: number;
  /** default: no cap for characters, 10000 for words */
  maxVocab?: number;
  /** an embedding of this width as the first layer (token ids, not one-hot rows) */
  embedding?: number;
  /** variational recurrent dropout of every recurrent layer */
  recurrentDropout?: number;
  /** the output layer shares the embedding table (needs embedding = units) */
  tie?: boolean;
  /** the embedding's steps update only the batch's rows (layers.embedding({ sparse: true })) */
  sparseEmbedding?: boolean;
  /** rnnkit's threads for this run (rnnkit.setThreads) */
  threads?: number;
  /** seconds of training; the run stops after the step that passes it, then saves as after Ctrl-C (exit 0) */
  timeBudget?: number;
  /** continue training this saved model (its architecture and tokenizer) on the text */
  resume?: string;
  /** stop after this many epochs without a better validation loss, keeping the best epoch's weights */
  earlyStopping?: number;
}

/** Default vocabulary cap of word-level models (including the 4 specials). */
export const WORD_MAX_VOCAB = 10000;
/** Share of the token stream held out for validation (its tail); `export-torch` uses it too. */
export const VALIDATION_SHARE = 0.1;
/** Gradient clipping (global L2 norm), as in char-rnn. */
const CLIP_NORM = 5;
/** Exit code of a run stopped by Ctrl-C (128 + SIGINT), after saving. */
export const EXIT_INTERRUPTED = 130;

/**
 * Reads a UTF-8 text file (a BOM is dropped).
 *
 * @throws CliError naming the file when it is missing, unreadable, empty or not UTF-8
 * @example
 * const text = await readText('input.txt');
 */
export async function readText(file: string): Promise<string> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    throw new CliError(`cannot read '${file}': ${fsReason(err)}`, { cause: err });
  }
  if (bytes.length === 0) throw new CliError(`'${file}' is empty`);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (err) {
    throw new CliError(`'${file}' is not UTF-8 text`, { cause: err });
  }
}

/** A saved model's architecture in the words of the epoch lines: `lstm 2x128, embedding 64 tied`. */
function describeModel(m: Model): string {
  const rec = m.config.layers.filter(isRecurrent);
  const first = m.config.layers[0]!;
  const last = m.config.layers.at(-1)!;
  const emb =
    first.type === 'embedding'
      ? `, embedding ${first.dim}${last.type === 'dense' && last.tieEmbedding ? ' tied' : ''}${first.sparse ? ' sparse' : ''}`
      : '';
  return `${rec[0]?.type ?? 'dense'} ${rec.length}x${rec[0]?.units ?? 0}${emb}`;
}

/** `input.txt` -> `input.rnnkit` (in the working directory). */
export function defaultOut(file: string): string {
  return `${basename(file, extname(file)) || 'model'}.rnnkit`;
}

const n = (v: number) => v.toLocaleString('en-US');

/** Per-token quality in the unit people quote: bits per char, perplexity per word. */
function quality(level: 'char' | 'word', loss: number): string {
  return level === 'char' ? `${(loss / Math.LN2).toFixed(3)} bpc` : `ppl ${Math.exp(loss).toFixed(1)}`;
}

function epochLine(e: EpochLog, first: number, epochs: number, level: 'char' | 'word'): string {
  const parts = [`epoch ${e.epoch - first + 1}/${epochs}`, `loss ${e.loss.toFixed(4)} (${quality(level, e.loss)})`];
  if (e.valLoss !== undefined) parts.push(`val ${e.valLoss.toFixed(4)} (${quality(level, e.valLoss)})`);
  parts.push(`${n(Math.round(e.tokensPerSec))} tok/s`, formatDuration(e.seconds));
  return parts.join('  ');
}

/**
 * Runs `rnnkit train`.
 *
 * @returns the exit code: 0, or {@link EXIT_INTERRUPTED} after Ctrl-C (the model is saved either way)
 * @throws CliError for an unreadable or too short file; errors of the library (saving, training) as they are
 * @example
 * const code = await train('input.txt', options, { stdout: process.stdout, stderr: process.stderr });
 */
export async function train(file: string, o: TrainCommandOptions, io: CliIO): Promise<number> {
  const text = await readText(file);
  const out = o.out ?? defaultOut(file);
  const plot = `${out}.loss.svg`;
  // Fail before training, not after it, when the model cannot be saved there.
  const folder = dirname(out);
  if (
    !(await stat(folder).then(
      (s) => s.isDirectory(),
      () => false,
    ))
  ) {
    throw new CliError(`cannot write '${out}': no such directory '${folder}'`);
  }
  if (o.tie && o.embedding === undefined) throw new CliError('--tie needs --embedding (the table the output layer shares)');
  if (o.tie && o.embedding !== o.units) {
    throw new CliError(
      `--tie needs --embedding equal to --units (the output layer reads ${o.units} units): got --embedding ${o.embedding}`,
    );
  }
  if (o.sparseEmbedding && o.embedding === undefined) throw new CliError('--sparse-embedding needs --embedding (the table it updates)');
  if (o.sparseEmbedding && o.tie) {
    throw new CliError("--sparse-embedding and --tie do not go together: the tied output layer's gradient fills every row");
  }
  if (o.threads !== undefined) setThreads(o.threads);
  const resumed = o.resume === undefined ? undefined : await load(o.resume);
  if (resumed && !resumed.tokenizer) {
    resumed.dispose();
    throw new CliError(`'${o.resume}' has no tokenizer: --resume needs a language model saved by rnnkit train`);
  }
  const vocab = {
    ...(o.minFrequency !== undefined ? { minFrequency: o.minFrequency } : {}),
    ...(o.maxVocab !== undefined ? { maxVocab: o.maxVocab } : o.level === 'word' ? { maxVocab: WORD_MAX_VOCAB } : {}),
  };
  const tok = resumed?.tokenizer ?? (o.level === 'char' ? CharTokenizer.fromText(text, vocab) : WordTokenizer.fromText(text, vocab));
  const level = tok.kind;
  const ids = tok.encode(text);
  const unit = level === 'char' ? 'characters' : 'word tokens';
  if (ids.length < 2) throw new CliError(`'${file}' is too short: ${ids.length} ${unit} (at least 2 needed)`);

  // The tail is the validation text when it can fill one window and its target, else there is none.
  const split = holdOut(ids, VALIDATION_SHARE, o.seqLen);
  const trainIds = split.train;
  const held = split.validation?.length ?? 0;
  const data = textStream(trainIds, { seqLen: o.seqLen });
  const validation = split.validation ? textStream(split.validation, { seqLen: o.seqLen }) : undefined;

  const stack: LayerInput[] =
    o.embedding === undefined ? [] : [L.embedding({ dim: o.embedding, paddingIdx: tok.padId, sparse: o.sparseEmbedding ?? false })];
  for (let i = 0; i < o.layers; i++) {
    stack.push(L[o.cell]({ units: o.units, ...(o.recurrentDropout ? { recurrentDropout: o.recurrentDropout } : {}) }));
    if (o.dropout > 0) stack.push(L.dropout({ rate: o.dropout }));
  }
  stack.push(L.dense({ units: tok.size, activation: 'linear', tieEmbedding: o.tie ?? false }));
  const model = resumed ?? sequential({ input: { vocabSize: tok.size }, layers: stack, loss: 'crossEntropy', seed: o.seed });
  model.tokenizer = tok;
  const shape = resumed
    ? describeModel(resumed)
    : `${o.cell} ${o.layers}x${o.units}${o.embedding !== undefined ? `, embedding ${o.embedding}${o.tie ? ' tied' : ''}${o.sparseEmbedding ? ' sparse' : ''}` : ''}`;

  try {
    io.stdout.write(
      `${file}: ${n(ids.length)} ${unit}, vocabulary ${n(tok.size)}; train ${n(trainIds.length)}, validation ${held > 0 ? n(held) : 'none (text too short)'}\n` +
        `model: ${resumed ? `${shape} (resumed from ${o.resume}, epoch ${resumed.epoch})` : shape}${o.dropout > 0 && !resumed ? `, dropout ${o.dropout}` : ''}, ${n(model.numParams)} parameters; ` +
        `batch ${o.batchSize}, seq-len ${o.seqLen}, adam lr ${o.lr}, ${o.epochs} epoch${o.epochs === 1 ? '' : 's'}\n`,
    );

    const controller = new AbortController();
    const bar = progressBar(io.stderr, o.epochs, model.epoch);
    const stop = () => {
      bar.stop();
      io.stderr.write('rnnkit: stopping after the current step, then saving (Ctrl-C again to quit without saving)\n');
      controller.abort();
    };
    const onSigint = () => {
      if (controller.signal.aborted) process.exit(EXIT_INTERRUPTED);
      stop();
    };
    const onAbort = () => {
      if (!controller.signal.aborted) stop();
    };
    if (io.signal?.aborted) onAbort();
    io.signal?.addEventListener('abort', onAbort, { once: true });
    process.on('SIGINT', onSigint);
    // the time budget stops like Ctrl-C, after the current step, but is a normal end (exit 0)
    let outOfTime = false;
    const budget =
      o.timeBudget === undefined
        ? undefined
        : setTimeout(() => {
            outOfTime = true;
            bar.stop();
            io.stderr.write(`rnnkit: the time budget of ${o.timeBudget} s is spent; stopping after the current step\n`);
            controller.abort();
          }, o.timeBudget * 1000);

    const first = model.epoch;
    let batchesPerEpoch = 1;
    let history: History;
    try {
      history = await model.fit(data, {
        epochs: o.epochs,
        batchSize: o.batchSize,
        optimizer: { type: 'adam', lr: o.lr },
        clipNorm: CLIP_NORM,
        ...(validation ? { validation } : {}),
        ...(o.earlyStopping !== undefined ? { earlyStopping: { patience: o.earlyStopping, restoreBest: true } } : {}),
        signal: controller.signal,
        onBatchEnd: (b) => {
          batchesPerEpoch = b.batches;
          if (!controller.signal.aborted) bar.update(b);
        },
        onEpochEnd: (e) => {
          bar.stop();
          io.stdout.write(`${epochLine(e, first, o.epochs, level)}${controller.signal.aborted ? '  (stopped early)' : ''}\n`);
        },
      });
    } finally {
      if (budget) clearTimeout(budget);
      process.off('SIGINT', onSigint);
      io.signal?.removeEventListener('abort', onAbort);
      bar.stop();
    }

    await model.save(out);
    const title = `rnnkit train ${basename(file)}: ${shape}, ${level} level`;
    try {
      await writeFile(plot, lossCurveSvg({ title, batches: history.batches, batchesPerEpoch, epochs: history.epochs }));
    } catch (err) {
      throw new CliError(`cannot write '${plot}': ${fsReason(err, plot)}`, { cause: err });
    }
    io.stdout.write(`saved ${out}\nloss curve ${plot}\n`);

    // samples of what was learned, also after Ctrl-C (the model is saved by then)
    if (history.stoppedEarly)
      io.stdout.write(`early stopping: kept the weights of epoch ${history.bestEpoch! + 1 - first} (best validation loss)\n`);
    if (o.samples > 0) {
      const temperature = 0.8;
      const texts = await generateText(model, tok, {
        n: o.samples,
        maxLength: level === 'char' ? 200 : 50,
        temperature,
        seed: o.seed,
      });
      io.stdout.write(`samples (temperature ${temperature}; try: rnnkit sample ${out}):\n`);
      for (const t of texts) io.stdout.write(`  ${oneLine(t)}\n`);
    }
    return history.aborted && !outOfTime ? EXIT_INTERRUPTED : 0;
  } finally {
    model.dispose();
  }
}
