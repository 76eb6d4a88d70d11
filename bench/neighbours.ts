/**
 * Busy neighbours for the benchmarks: single-threaded processes that spin
 * (`sh -c 'while :; do :; done'`), as other work on a shared server would.
 * Every neighbour this module starts is killed by its PID when the caller
 * stops it, and also when this process exits, is interrupted (Ctrl-C,
 * SIGTERM) or dies of an uncaught error, so none outlives a benchmark.
 */
import { spawn, type ChildProcess } from 'node:child_process';

const running = new Set<ChildProcess>();

function killAll(): void {
  for (const child of running) child.kill('SIGKILL');
  running.clear();
}

let hooked = false;
function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', killAll);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      killAll();
      process.exit(128 + ({ SIGINT: 2, SIGTERM: 15, SIGHUP: 1 } as const)[signal]);
    });
  }
}

/** Started neighbours; `stop()` kills them (idempotent). */
export interface Neighbours {
  pids: number[];
  stop(): void;
}

/**
 * Starts `n` busy single-threaded processes and returns once each is running.
 *
 * @throws Error when a neighbour cannot be started (the ones started are killed)
 */
export function startNeighbours(n: number): Neighbours {
  hookExit();
  const started: ChildProcess[] = [];
  for (let i = 0; i < n; i++) {
    const child = spawn('sh', ['-c', 'while :; do :; done'], { stdio: 'ignore' });
    child.on('error', () => running.delete(child)); // no pid: reported below
    running.add(child);
    started.push(child);
    if (child.pid === undefined) {
      for (const c of started) c.kill('SIGKILL');
      throw new Error('bench: could not start a busy neighbour (sh)');
    }
  }
  return {
    pids: started.map((c) => c.pid!),
    stop() {
      for (const c of started) {
        c.kill('SIGKILL');
        running.delete(c);
      }
    },
  };
}
