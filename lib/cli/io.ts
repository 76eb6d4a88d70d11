/**
 * What the command line writes to and how it fails: injectable output
 * streams (so tests can capture them) and the error type whose message is
 * shown as `rnnkit: <message>`.
 */

/** A writable text stream: process.stdout / process.stderr, or a test's collector. */
export interface CliStream {
  write(chunk: string): unknown;
  /** true for a terminal: then the progress bar is drawn (redrawn in place) */
  isTTY?: boolean;
}

/**
 * The command line's environment.
 *
 * @example
 * let out = '';
 * await main(['sample', 'm.rnnkit'], { stdout: { write: (s) => (out += s) }, stderr: process.stderr });
 */
export interface CliIO {
  stdout: CliStream;
  stderr: CliStream;
  /**
   * Stops `train` after the current step, as Ctrl-C does (the model is
   * still saved). For tests and embedding; SIGINT is handled either way.
   */
  signal?: AbortSignal;
}

/**
 * A failure to report to the user as `rnnkit: <message>` (exit code 1),
 * without a stack trace: a missing input file, a model without tokenizer, ...
 *
 * @example
 * throw new CliError(`cannot read 'input.txt': no such file`);
 */
export class CliError extends Error {
  override readonly name = 'CliError';
}

/**
 * One text on one line: backslashes, newlines, carriage returns and tabs
 * are written as `\\`, `\n`, `\r` and `\t`, so n texts are exactly n lines
 * (and the escaping can be undone).
 *
 * @throws never
 * @example
 * oneLine('to be\nor not'); // 'to be\\nor not'
 */
export function oneLine(text: string): string {
  return text.replace(/[\\\n\r\t]/g, (c) => (c === '\\' ? '\\\\' : c === '\n' ? '\\n' : c === '\r' ? '\\r' : '\\t'));
}
