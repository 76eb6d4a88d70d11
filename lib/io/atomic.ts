/**
 * Atomic file replacement: write a temporary file in the target's directory,
 * fsync it, rename it over the target, fsync the directory. A reader (or a
 * crash) sees either the old file or the complete new one, never a partial
 * write. rename() is atomic only within one filesystem, hence the temporary
 * file lives next to the target.
 */
import { randomBytes } from 'node:crypto';
import { lstat, mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { typeError } from '../errors.js';

/** Errors from fsync on a directory that mean "not supported here", not "failed". */
const DIR_SYNC_UNSUPPORTED = new Set(['EINVAL', 'ENOTSUP', 'EOPNOTSUPP', 'EISDIR', 'EPERM', 'EBADF']);

function checkWriteArgs(path: unknown, data: unknown): asserts path is string {
  if (typeof path !== 'string' || path === '') throw typeError('a non-empty string', 'path', path);
  if (!(data instanceof Uint8Array)) throw typeError('a Buffer or Uint8Array', 'data', data);
}

async function syncDirectory(dir: string): Promise<void> {
  if (process.platform === 'win32') return; // directories cannot be opened for fsync there
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } catch (err) {
    if (!DIR_SYNC_UNSUPPORTED.has((err as NodeJS.ErrnoException).code ?? '')) throw err;
  } finally {
    await handle.close();
  }
}

/**
 * Replaces `path` with `data` atomically and durably, without validating the
 * arguments. On failure, removes the temporary file and rethrows the
 * underlying error unchanged (its message names the temporary file, not
 * `path`); callers add the path.
 *
 * @throws the fs error (e.g. ENOENT for a missing directory, EISDIR when `path` is a directory)
 * @example
 * await replaceFile('model.rnnkit', bytes);
 */
export async function replaceFile(path: string, data: Uint8Array): Promise<void> {
  const dir = dirname(path);
  const temp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  // Keep the permissions of a file being replaced; a new file gets 0o666 minus the umask.
  const mode = await stat(path).then(
    (s) => (s.isFile() ? s.mode & 0o7777 : 0o666),
    () => 0o666,
  );
  let created = false;
  try {
    const handle = await open(temp, 'wx', mode); // 'x': never clobber another writer's file
    created = true;
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
    created = false;
  } catch (err) {
    if (created) await rm(temp, { force: true }).catch(() => undefined);
    throw err;
  }
  await syncDirectory(dir);
}

/**
 * Writes `data` to `path` atomically: a temporary file in the same directory
 * (`.<name>.<pid>.<random>.tmp`) is written, fsynced and renamed over `path`,
 * then the directory is fsynced. An existing file at `path` is never replaced
 * by a partial one, and the temporary file is removed when anything fails. A
 * replaced file keeps its permissions; a symbolic link at `path` is replaced
 * by a regular file (the link's target is left alone).
 *
 * @param path - the file to create or replace; its directory must exist
 * @param data - the complete new content
 * @throws TypeError when `path` is not a non-empty string or `data` is not a Buffer / Uint8Array
 * @throws Error when the write fails (missing directory, no permission, disk
 *   full, `path` is a directory, ...): the message names `path`, `code` is the
 *   underlying fs error's code (e.g. `ENOENT`, `EISDIR`) and `cause` the fs error
 * @example
 * await writeFileAtomic('vocab.json', Buffer.from(JSON.stringify(vocab)));
 */
export async function writeFileAtomic(path: string, data: Buffer | Uint8Array): Promise<void> {
  checkWriteArgs(path, data);
  try {
    await replaceFile(path, data);
  } catch (err) {
    const cause = err as NodeJS.ErrnoException;
    throw Object.assign(new Error(`Cannot write '${path}': ${cause.message}`, { cause: err }), {
      code: cause.code,
    });
  }
}

/**
 * Creates the directory `dir` holding `files` (name -> content) atomically:
 * the files are written and fsynced in a temporary sibling directory
 * (`.<name>.<pid>.<random>.tmp`), which is then renamed to `dir`, and the
 * parent directory is fsynced. A reader (or a crash) sees no `dir`, or `dir`
 * with every file complete; the temporary directory is removed when anything
 * fails. An existing `dir` is never replaced or merged into.
 *
 * @param dir - the directory to create; its parent must exist
 * @param files - plain file names (no '/', not '.' or '..') -> complete contents
 * @throws TypeError when `dir` is not a non-empty string, `files` is not an
 *   object of Buffer / Uint8Array values or a name is not a plain file name
 * @throws Error when `dir` already exists (`code` 'EEXIST') or the write fails
 *   (missing parent, no permission, disk full, ...): the message names `dir`,
 *   `code` is the fs error's code and `cause` the fs error
 * @example
 * await writeDirectoryAtomic('package', { 'manifest.json': Buffer.from('{}'), 'train.bin': bytes });
 */
export async function writeDirectoryAtomic(dir: string, files: Record<string, Uint8Array>): Promise<void> {
  if (typeof dir !== 'string' || dir === '') throw typeError('a non-empty string', 'dir', dir);
  if (typeof files !== 'object' || files === null) throw typeError('an object of file name -> Buffer', 'files', files);
  for (const [name, data] of Object.entries(files)) {
    if (name === '' || name === '.' || name === '..' || /[/\\\0]/.test(name)) throw typeError('a plain file name', 'files', name);
    if (!(data instanceof Uint8Array)) throw typeError('a Buffer or Uint8Array', `files[${JSON.stringify(name)}]`, data);
  }
  const fail = (err: unknown): Error => {
    const cause = err as NodeJS.ErrnoException;
    return Object.assign(new Error(`Cannot write '${dir}': ${cause.message}`, { cause: err }), { code: cause.code });
  };
  const exists = await lstat(dir).then(
    () => true,
    () => false,
  );
  if (exists) throw fail(Object.assign(new Error('it already exists (EEXIST)'), { code: 'EEXIST' }));
  const parent = dirname(dir);
  const temp = join(parent, `.${basename(dir)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  let created = false;
  try {
    await mkdir(temp);
    created = true;
    for (const [name, data] of Object.entries(files)) {
      const handle = await open(join(temp, name), 'wx');
      try {
        await handle.writeFile(data);
        await handle.sync();
      } finally {
        await handle.close();
      }
    }
    await syncDirectory(temp);
    // rename() replaces an empty directory that appeared meanwhile and fails (ENOTEMPTY) on a full one.
    await rename(temp, dir);
    created = false;
    await syncDirectory(parent);
  } catch (err) {
    if (created) await rm(temp, { recursive: true, force: true }).catch(() => undefined);
    throw fail(err);
  }
}
