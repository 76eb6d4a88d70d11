/**
 * Checkpoint file IO: read and write checkpoint files. The byte layout is
 * documented in ./io/checkpoint.ts, atomic replacement in ./io/atomic.ts.
 *
 * Every failure to read or write a checkpoint, including a missing file or an
 * fs error, is an RnnkitError with code `ERR_CHECKPOINT` whose message names
 * the file; an fs error is kept as `cause` (so `err.cause.code === 'ENOENT'`
 * tells a missing file apart).
 */
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { RnnkitError, typeError } from './errors.js';
import { replaceFile } from './io/atomic.js';
import { decodeCheckpoint, encodeCheckpoint, type CheckpointParts } from './io/checkpoint.js';

export { writeFileAtomic } from './io/atomic.js';
export {
  CHECKPOINT_VERSION,
  decodeCheckpoint,
  encodeCheckpoint,
  type CheckpointArray,
  type CheckpointData,
  type CheckpointDtype,
  type CheckpointParts,
} from './io/checkpoint.js';

/**
 * A short reason for an fs error, for messages that name the file themselves.
 * For a write (`written` is the path written), ENOENT names the missing directory.
 *
 * @throws never
 * @example
 * fsReason(Object.assign(new Error('x'), { code: 'ENOENT' })); // 'no such file (ENOENT)'
 * fsReason(Object.assign(new Error('x'), { code: 'ENOENT' }), 'out/m.rnnkit'); // "the directory 'out' does not exist (ENOENT)"
 */
export function fsReason(err: unknown, written?: string): string {
  const e = err as NodeJS.ErrnoException;
  switch (e?.code) {
    case 'ENOENT':
      return written === undefined ? 'no such file (ENOENT)' : `the directory '${dirname(written)}' does not exist (ENOENT)`;
    case 'EISDIR':
      return 'it is a directory (EISDIR)';
    case 'EACCES':
    case 'EPERM':
      return `permission denied (${e.code})`;
    default:
      return e instanceof Error ? e.message : String(err);
  }
}

/**
 * Reads and decodes a checkpoint file.
 *
 * @param path - the checkpoint file
 * @returns the header and fresh typed arrays, as given to {@link writeCheckpoint}
 * @throws TypeError when `path` is not a non-empty string
 * @throws RnnkitError with code `ERR_CHECKPOINT` and a message naming `path`
 *   when the file cannot be read (missing, a directory, no permission: the fs
 *   error is the `cause`) or is not a valid checkpoint (see {@link decodeCheckpoint})
 * @example
 * const { header, arrays } = await readCheckpoint('model.rnnkit');
 */
export async function readCheckpoint(path: string): Promise<CheckpointParts> {
  if (typeof path !== 'string' || path === '') throw typeError('a non-empty string', 'path', path);
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new RnnkitError('ERR_CHECKPOINT', `Cannot read checkpoint '${path}': ${fsReason(err)}`, { cause: err });
  }
  return decodeCheckpoint(bytes, path);
}

/**
 * Encodes a checkpoint and writes it atomically (see {@link writeFileAtomic}):
 * an existing file at `path` is replaced only by a complete new one.
 *
 * @param path - the checkpoint file to create or replace; its directory must exist
 * @param parts - the header (JSON values) and named typed arrays, as for {@link encodeCheckpoint}
 * @throws TypeError when `path` is not a non-empty string, or `parts` has the wrong type (see {@link encodeCheckpoint})
 * @throws RangeError when `parts` holds a bad value (see {@link encodeCheckpoint})
 * @throws RnnkitError with code `ERR_CHECKPOINT` and a message naming `path`
 *   when the write fails (missing directory, no permission, disk full, `path`
 *   is a directory, ...); the fs error is the `cause`
 * @example
 * await writeCheckpoint('model.rnnkit', {
 *   header: { kind: 'sequential', version: 1 },
 *   arrays: [{ name: 'params', data: new Float32Array([0.1, -0.2]) }],
 * });
 */
export async function writeCheckpoint(path: string, parts: CheckpointParts): Promise<void> {
  if (typeof path !== 'string' || path === '') throw typeError('a non-empty string', 'path', path);
  const bytes = encodeCheckpoint(parts);
  try {
    await replaceFile(path, bytes);
  } catch (err) {
    throw new RnnkitError('ERR_CHECKPOINT', `Cannot write checkpoint '${path}': ${fsReason(err, path)}`, { cause: err });
  }
}
