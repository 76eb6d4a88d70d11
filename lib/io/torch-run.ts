/**
 * Runs a package's train.py under torchrun (PyTorch's launcher) from Node,
 * and turns a missing torchrun, a missing PyTorch or a failed run into an
 * RnnkitError with a clear message. docs/scale-out.md shows the same
 * command to run by hand.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { RnnkitError, typeError } from '../errors.js';
import { integer, knownKeys, optionalObject, withDefault } from '../validate.js';

/**
 * Options of {@link runTorchTraining}.
 *
 * @example
 * await runTorchTraining('pkg', { nprocPerNode: 2, args: ['--epochs', '3', '--out', 'trained'] });
 */
export interface RunTorchOptions {
  /** processes on this machine (torchrun --nproc_per_node), default 1 */
  nprocPerNode?: number;
  /** the launcher: a program, or a program and its first arguments; default 'torchrun' (e.g. ['/usr/bin/python3', '-m', 'torch.distributed.run']) */
  torchrun?: string | readonly string[];
  /** train.py's arguments, e.g. ['--epochs', '3', '--out', 'trained'] */
  args?: readonly string[];
  /** environment of the run, default process.env */
  env?: NodeJS.ProcessEnv;
  /** receives the run's output (stdout and stderr) as it comes */
  onOutput?: (text: string) => void;
  /** stop the run (SIGTERM to torchrun, SIGKILL 10 s later) and reject with ERR_TORCH after this many ms; 0 (default) = no limit */
  timeoutMs?: number;
}

/**
 * torchrun flags besides the process count. `--redirects 9:1 --tee 9:1` send local
 * rank 9's stdout to a log file (a rank that only exists with 10+ processes, and
 * only process 0 prints): torch 1.13's torchrun on Python 3.11 (Debian 12) fails
 * on the default value 0 (AttributeError: 'NoneType' object has no attribute 'get')
 * because its Std flag parser finds no member for 0 there. `--monitor_interval 1`:
 * the agent checks its workers every second instead of every 5 s, which a short
 * run otherwise waits out at the end.
 */
const LAUNCH_FLAGS = ['--redirects', '9:1', '--tee', '9:1', '--monitor_interval', '1'];
const INSTALL = 'install PyTorch (Debian/Ubuntu: apt-get install -y python3-torch; elsewhere: pip install torch)';
const TAIL = 2000;

function stringArray(value: unknown, name: string): string[] {
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) throw typeError('an array of strings', name, value);
  return value as string[];
}

/**
 * Runs `torchrun --standalone --nproc_per_node=N DIR/train.py ...args` and
 * resolves with its output when it exits 0.
 *
 * @param dir - a package written by exportTorch
 * @throws TypeError / RangeError for bad options
 * @throws RnnkitError ERR_TORCH when the launcher is not found, PyTorch is
 *   not installed for it, the run fails (the message holds the end of its
 *   error output) or does not finish within `options.timeoutMs`; ERR_TORCH_PACKAGE when train.py reports a damaged or
 *   inconsistent package
 * @example
 * const { stdout } = await runTorchTraining('pkg', { nprocPerNode: 2, args: ['--out', 'trained'] });
 */
export async function runTorchTraining(dir: string, options?: RunTorchOptions): Promise<{ stdout: string; stderr: string }> {
  if (typeof dir !== 'string' || dir === '') throw typeError('a non-empty string (a package directory)', 'dir', dir);
  const opts = optionalObject(options, 'options');
  knownKeys(opts, ['nprocPerNode', 'torchrun', 'args', 'env', 'onOutput', 'timeoutMs'], 'options');
  const timeoutMs = withDefault(opts.timeoutMs, 0, (v) => integer(v, 'options.timeoutMs', 0, 2 ** 31 - 1));
  const nproc = withDefault(opts.nprocPerNode, 1, (v) => integer(v, 'options.nprocPerNode', 1, 4096));
  const launcher =
    typeof opts.torchrun === 'string'
      ? [opts.torchrun]
      : withDefault(opts.torchrun, ['torchrun'], (v) => stringArray(v, 'options.torchrun'));
  if (launcher.length === 0 || launcher[0] === '') throw typeError('a program name', 'options.torchrun', opts.torchrun);
  const args = withDefault(opts.args, [], (v) => stringArray(v, 'options.args'));
  const onOutput = opts.onOutput;
  if (onOutput !== undefined && typeof onOutput !== 'function') throw typeError('a function', 'options.onOutput', onOutput);
  const env = (opts.env as NodeJS.ProcessEnv | undefined) ?? process.env;

  const [program, ...first] = launcher as [string, ...string[]];
  const argv = [...first, '--standalone', `--nproc_per_node=${nproc}`, ...LAUNCH_FLAGS, join(dir, 'train.py'), ...args];
  const shown = [program, ...argv].join(' ');
  let stdout = '';
  let stderr = '';
  let timedOut = false;
  const { code, error } = await new Promise<{ code: number | null; error?: NodeJS.ErrnoException }>((resolve) => {
    const child = spawn(program, argv, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    // torchrun ends its workers when it gets SIGTERM; SIGKILL follows if it does not exit
    const timer = timeoutMs
      ? setTimeout(() => {
          timedOut = true;
          child.kill('SIGTERM');
          setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
        }, timeoutMs)
      : undefined;
    child.on('close', () => clearTimeout(timer));
    child.stdout.setEncoding('utf8').on('data', (s: string) => {
      stdout += s;
      (onOutput as RunTorchOptions['onOutput'])?.(s);
    });
    child.stderr.setEncoding('utf8').on('data', (s: string) => {
      stderr += s;
      (onOutput as RunTorchOptions['onOutput'])?.(s);
    });
    child.on('error', (err) => resolve({ code: null, error: err }));
    child.on('close', (c) => resolve({ code: c }));
  });
  if (error) {
    const what = error.code === 'ENOENT' ? `'${program}' was not found` : `'${program}' could not be started (${error.message})`;
    throw new RnnkitError('ERR_TORCH', `torchrun is missing: ${what}; ${INSTALL}, or pass options.torchrun`, { cause: error });
  }
  if (timedOut) throw new RnnkitError('ERR_TORCH', `${shown} did not finish within options.timeoutMs (${timeoutMs} ms) and was stopped`);
  if (code === 0) return { stdout, stderr };
  const tail = stderr.slice(-TAIL).trim();
  if (/No module named '?torch'?|PyTorch is not installed/.test(stderr)) {
    throw new RnnkitError('ERR_TORCH', `PyTorch is not installed for '${program}': ${INSTALL}`);
  }
  const packageError = /train\.py: damaged or inconsistent package: (.*)/.exec(stderr);
  if (packageError) throw new RnnkitError('ERR_TORCH_PACKAGE', `train.py refused the package: ${packageError[1]}`);
  throw new RnnkitError('ERR_TORCH', `${shown} failed (exit code ${code}):\n${tail}`);
}
