/**
 * The live progress bar of `rnnkit train` (cli-progress): epoch, batch,
 * loss, tokens/s and the ETA of the whole run. Drawn only on a terminal; on
 * a pipe or in CI it draws nothing, so logs get just the per-epoch lines.
 */
import cliProgress from 'cli-progress';
import type { BatchLog } from '../train.js';
import type { CliStream } from './io.js';

/**
 * Receives training progress.
 *
 * @example
 * const bar = progressBar(process.stderr, 10); bar.update(log); bar.stop();
 */
export interface ProgressBar {
  /** after each batch */
  update(log: BatchLog): void;
  /** clears the bar (before printing an epoch line, and at the end) */
  stop(): void;
}

/**
 * Seconds as 1h02m, 3m05s or 12s ('?' when unknown).
 *
 * @throws never
 * @example
 * formatDuration(185); // '3m05s'
 */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (h > 0) return `${h}h${String(m).padStart(2, '0')}m`;
  if (m > 0) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  return `${s}s`;
}

/**
 * A progress bar on `stream` when it is a terminal, else one that draws nothing.
 *
 * @param epochs - epochs in this run, for "epoch e/E" and the ETA
 * @param firstEpoch - the model's epoch counter when the run starts
 * @throws never
 * @example
 * const bar = progressBar(io.stderr, 10, model.epoch);
 */
export function progressBar(stream: CliStream, epochs: number, firstEpoch = 0): ProgressBar {
  if (!stream.isTTY) return { update() {}, stop() {} };
  const bar = new cliProgress.SingleBar(
    {
      stream: stream as NodeJS.WritableStream,
      format: 'epoch {ep}/{epochs} {bar} {value}/{total} | loss {loss} | {speed} tok/s | ETA {eta_run}',
      barsize: 24,
      hideCursor: true,
      clearOnComplete: true,
      fps: 10,
    },
    cliProgress.Presets.shades_classic,
  );
  let active = -1;
  let steps = 0;
  let stepSeconds = 0;
  let last = performance.now();
  return {
    update(log) {
      const now = performance.now();
      // mean time per step over the run; validation is left out (`last` restarts in stop())
      stepSeconds += (now - last) / 1e3;
      last = now;
      steps++;
      const done = (log.epoch - firstEpoch) * log.batches + log.batch + 1;
      const remaining = epochs * log.batches - done;
      const payload = {
        ep: log.epoch - firstEpoch + 1,
        epochs,
        loss: log.loss.toFixed(4),
        speed: Math.round(log.tokensPerSec).toLocaleString('en-US'),
        eta_run: formatDuration((stepSeconds / steps) * remaining),
      };
      if (active !== log.epoch) {
        if (active !== -1) bar.stop();
        bar.start(log.batches, log.batch + 1, payload);
        active = log.epoch;
      } else {
        bar.update(log.batch + 1, payload);
      }
    },
    stop() {
      if (active !== -1) bar.stop();
      active = -1;
      last = performance.now();
    },
  };
}
