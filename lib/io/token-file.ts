/**
 * The binary token file of a PyTorch training package (`train.bin`,
 * `val.bin`; see ./torch-package.ts): a token stream with what a reader
 * needs to refuse data that does not belong to the model. Little-endian:
 *
 * ```
 * bytes 0-7    magic 'RNNKTOK1'
 * bytes 8-11   uint32 format version (TOKEN_FILE_VERSION, 1)
 * bytes 12-15  uint32 vocabulary size V (every id is in [0, V))
 * bytes 16-19  uint32 CRC-32 (zlib's) of the package's tokenizer.json bytes
 * bytes 20-23  uint32 reserved, 0
 * bytes 24-31  uint64 number of tokens N
 * bytes 32-    N int32 token ids
 * ```
 *
 * templates/train.py reads the same layout (its `read_tokens`) with the same checks.
 */
import { crc32 } from 'node:zlib';
import { RnnkitError } from '../errors.js';

/** The 8 bytes a token file starts with. */
export const TOKEN_FILE_MAGIC = 'RNNKTOK1';
/** The token file version this build writes and reads. */
export const TOKEN_FILE_VERSION = 1;
const HEADER = 32;

/**
 * The CRC-32 (zlib's, as Python's `zlib.crc32`) of a file's bytes, as an unsigned 32-bit integer.
 *
 * @throws never
 * @example
 * tokenizerCrc(Buffer.from(JSON.stringify(tok.toJSON())));
 */
export function tokenizerCrc(bytes: Uint8Array): number {
  return crc32(bytes) >>> 0;
}

/**
 * Encodes a token stream for a vocabulary of `vocab` tokens and the tokenizer whose JSON has CRC-32 `crc`.
 *
 * @throws never (the caller passes ids of its own tokenizer)
 * @example
 * const bytes = encodeTokenFile(tok.encode(text), tok.size, tokenizerCrc(tokJson));
 */
export function encodeTokenFile(ids: Int32Array, vocab: number, crc: number): Buffer {
  const out = Buffer.alloc(HEADER + 4 * ids.length);
  out.write(TOKEN_FILE_MAGIC, 0, 'latin1');
  out.writeUInt32LE(TOKEN_FILE_VERSION, 8);
  out.writeUInt32LE(vocab, 12);
  out.writeUInt32LE(crc, 16);
  out.writeBigUInt64LE(BigInt(ids.length), 24);
  for (let i = 0; i < ids.length; i++) out.writeInt32LE(ids[i]!, HEADER + 4 * i);
  return out;
}

/**
 * Decodes a token file and checks it against the model's vocabulary size and the tokenizer's CRC-32.
 *
 * @param file - names the source in error messages
 * @throws RnnkitError ERR_TORCH_PACKAGE naming `file` for a file that is not a
 *   token file, of another version, truncated, or encoded for another
 *   vocabulary or tokenizer, or that holds an id outside [0, vocab)
 * @example
 * const ids = decodeTokenFile(await readFile('pkg/train.bin'), 'pkg/train.bin', tok.size, crc);
 */
export function decodeTokenFile(bytes: Uint8Array, file: string, vocab: number, crc: number): Int32Array {
  const bad = (what: string) => new RnnkitError('ERR_TORCH_PACKAGE', `Token file '${file}' ${what}`);
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < HEADER || buf.toString('latin1', 0, 8) !== TOKEN_FILE_MAGIC)
    throw bad(`is not an rnnkit token file (no ${TOKEN_FILE_MAGIC} header)`);
  const version = buf.readUInt32LE(8);
  if (version !== TOKEN_FILE_VERSION) throw bad(`has version ${version}; this rnnkit reads version ${TOKEN_FILE_VERSION}`);
  const v = buf.readUInt32LE(12);
  if (v !== vocab) throw bad(`was encoded for a vocabulary of ${v} tokens but the model has ${vocab}: data and model do not match`);
  const c = buf.readUInt32LE(16);
  const hex = (x: number) => x.toString(16).padStart(8, '0');
  if (c !== crc) throw bad(`was encoded with another tokenizer (CRC-32 ${hex(c)}, tokenizer.json has ${hex(crc)})`);
  const count = buf.readBigUInt64LE(24);
  const expected = BigInt(HEADER) + 4n * count;
  if (BigInt(buf.length) !== expected)
    throw bad(`should hold ${count} tokens (${expected} bytes) but has ${buf.length} bytes: truncated or damaged`);
  const ids = new Int32Array(Number(count));
  for (let i = 0; i < ids.length; i++) {
    const id = buf.readInt32LE(HEADER + 4 * i);
    if (id < 0 || id >= vocab) throw bad(`has token id ${id} at position ${i}, outside [0, ${vocab}): data and tokenizer do not match`);
    ids[i] = id;
  }
  return ids;
}
