/**
 * Runs an example script (examples/<file>) as a child process through tsx, in
 * any working directory, and returns its stdout; rejects on a non-zero exit
 * (with stderr in the error) or after the timeout.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const examples = fileURLToPath(new URL('../../examples/', import.meta.url));
/** tsx resolved from this repository, so the child can run in any cwd */
const tsx = import.meta.resolve('tsx');

export async function example(file: string, args: string[], cwd: string, timeout = 60_000): Promise<string> {
  const { stdout } = await run(process.execPath, ['--import', tsx, join(examples, file), ...args], {
    cwd,
    timeout,
    maxBuffer: 16 << 20,
    env: { ...process.env, NO_COLOR: '1' },
  });
  return stdout;
}
