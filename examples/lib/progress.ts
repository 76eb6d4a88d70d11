/**
 * Progress output for the examples: a live cli-progress bar on a terminal,
 * and the examples print one line per epoch. When stdout is not a terminal
 * (a pipe, a test, CI) only those lines are printed.
 */
import cliProgress from 'cli-progress';
import type { BatchLog } from '../../lib/index.js';

/**
 * Seconds as "1.2 s" or "3 min 05 s".
 *
 * @example
 * seconds(185.2); // '3 min 05 s'
 */
export function seconds(s: number): string {
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  return `${m} min ${String(Math.round(s - 60 * m)).padStart(2, '0')} s`;
}

/**
 * A live cli-progress bar for one `fit` call on a terminal (batch, loss in
 * bits per `unit`, the unit the example's epoch lines use, and tokens/s); on a
 * pipe, in a test or in CI it draws nothing. Call `done()` to clear it before
 * printing the epoch line.
 *
 * @example
 * const bar = batchStatus('epoch 3/20', 'char');
 * await model.fit(data, { onBatchEnd: bar.update });
 * bar.done();
 */
export function batchStatus(label: string, unit = 'token'): { update: (b: BatchLog) => void; done: () => void } {
  if (!process.stdout.isTTY) return { update() {}, done() {} };
  const bar = new cliProgress.SingleBar(
    {
      format: `${label} {bar} {value}/{total} | {bits} bits/${unit} | {speed} tok/s`,
      barsize: 24,
      hideCursor: true,
      clearOnComplete: true,
      fps: 10,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update(b) {
      const payload = { bits: (b.loss / Math.LN2).toFixed(3), speed: Math.round(b.tokensPerSec).toLocaleString('en-US') };
      if (!started) bar.start(b.batches, b.batch + 1, payload);
      else bar.update(b.batch + 1, payload);
      started = true;
    },
    done() {
      if (started) bar.stop();
      started = false;
    },
  };
}
