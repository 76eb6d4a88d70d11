/**
 * The safetensors container (Hugging Face's format, the usual way PyTorch
 * weights are shared): encode, decode with strict validation, and atomic file
 * IO. Model-level naming and metadata live in ../interop.ts.
 *
 * Layout (positions are bytes from the start of the file):
 *
 *   position  bytes  content
 *   0         8      N, the byte length of the header: uint64 little-endian
 *   8         N      header: UTF-8 JSON object, starting with '{'; this writer
 *                    pads it with spaces (0x20) so that 8 + N is a multiple of 8
 *   8+N       D      byte buffer: each tensor's elements, little-endian,
 *                    row-major (C order), at its data_offsets
 *
 * Header JSON:
 *   { "__metadata__": { "<key>": "<string value>", ... },        (optional)
 *     "<tensor name>": { "dtype": "F32", "shape": [4, 3],
 *                        "data_offsets": [begin, end] }, ... }
 * `data_offsets` are relative to the byte buffer (not to the file), end
 * exclusive. The tensors tile the buffer exactly: sorted by offset they are
 * contiguous from 0 to D, with no gap, overlap or trailing byte, and each one
 * spans prod(shape) * itemsize bytes (a scalar has shape [] and one element).
 *
 * rnnkit reads and writes the float dtypes F32 and F64 only; a file holding
 * any other dtype (F16, BF16, I64, ...) is refused naming the tensor. The
 * reader checks, in order: the file is at least 8 bytes; N is at most
 * {@link SAFETENSORS_MAX_HEADER} (the reference implementation's limit) and
 * fits in the file; the header is UTF-8, starts with '{' and parses as a JSON
 * object; `__metadata__` maps strings to strings; every entry has exactly
 * dtype / shape / data_offsets of the right types; offsets within the buffer
 * and consistent with the shape; the tiling above. Every number is checked
 * before it is used to allocate or index, so a forged file cannot exhaust
 * memory or read out of bounds. Every failure is an RnnkitError with code
 * `ERR_SAFETENSORS` whose message names the file.
 */
import { constants as bufferConstants } from 'node:buffer';
import { readFile } from 'node:fs/promises';
import { RnnkitError, rangeError, received, typeError } from '../errors.js';
import { fsReason } from '../io.js';
import { formatShape } from '../tensor.js';
import { replaceFile } from './atomic.js';
import { isCount, isPlainObject } from './predicates.js';

/**
 * The safetensors dtypes rnnkit reads and writes.
 *
 * @example
 * const dtype: SafetensorsDtype = 'F32';
 */
export type SafetensorsDtype = 'F32' | 'F64';

/**
 * One tensor of a safetensors file: its shape and row-major data (a
 * Float32Array for F32, a Float64Array for F64).
 *
 * @example
 * const t: SafetensorsTensor = { shape: [2, 3], data: new Float32Array(6) };
 */
export interface SafetensorsTensor {
  shape: number[];
  data: Float32Array | Float64Array;
}

/**
 * What a safetensors file holds: named tensors (in the order of their data in
 * the file, except that JavaScript lists integer-like names first) and the
 * string-to-string `__metadata__` ({} when absent).
 *
 * @example
 * const { tensors, metadata } = await readSafetensors('model.safetensors');
 */
export interface SafetensorsContent {
  tensors: Record<string, SafetensorsTensor>;
  metadata: Record<string, string>;
}

/**
 * The largest header this reader accepts, in bytes (100 MB, the limit of the
 * reference implementation).
 *
 * @example
 * if (headerBytes > SAFETENSORS_MAX_HEADER) console.log('too large');
 */
export const SAFETENSORS_MAX_HEADER = 100_000_000;

const METADATA_KEY = '__metadata__';
const ENTRY_KEYS = ['dtype', 'shape', 'data_offsets'];
const ITEM_SIZE: Readonly<Record<SafetensorsDtype, 4 | 8>> = { F32: 4, F64: 8 };
/** The other dtypes of the format, named in the message that refuses them. */
const OTHER_DTYPES = new Set([
  'BOOL',
  'U8',
  'I8',
  'F8_E5M2',
  'F8_E4M3',
  'F8_E8M0',
  'I16',
  'U16',
  'F16',
  'BF16',
  'I32',
  'U32',
  'I64',
  'U64',
  'F4',
  'F6_E2M3',
  'F6_E3M2',
  'C64',
]);
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
/** A lone UTF-16 surrogate would be replaced by U+FFFD in UTF-8, so a name would not round-trip. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function dtypeOf(data: unknown): SafetensorsDtype | undefined {
  if (data instanceof Float32Array) return 'F32';
  if (data instanceof Float64Array) return 'F64';
  return undefined;
}

// ---------------------------------------------------------------- encode

interface Prepared {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  data: Float32Array | Float64Array;
}

function checkTensors(tensors: unknown): Prepared[] {
  if (!isPlainObject(tensors)) throw typeError('an object of named tensors { shape, data }', 'tensors', tensors);
  return Object.entries(tensors).map(([name, value]) => {
    const at = `tensors[${JSON.stringify(name)}]`;
    if (name === '' || name === METADATA_KEY || LONE_SURROGATE.test(name)) {
      throw rangeError(`a non-empty, well-formed tensor name other than '${METADATA_KEY}'`, 'tensors', name);
    }
    if (typeof value !== 'object' || value === null) throw typeError('a tensor { shape, data }', at, value);
    const { shape, data } = value as { shape?: unknown; data?: unknown };
    const dtype = dtypeOf(data);
    if (!dtype) throw typeError('a Float32Array or Float64Array', `${at}.data`, data);
    if (!Array.isArray(shape) || !shape.every(isCount)) {
      throw typeError('an array of non-negative integers', `${at}.shape`, shape);
    }
    const size = (shape as number[]).reduce((a, b) => a * b, 1);
    const arr = data as Float32Array | Float64Array;
    if (size !== arr.length) {
      throw rangeError(`${size} elements (shape ${formatShape(shape as number[])})`, `${at}.data`, received(`length ${arr.length}`));
    }
    return { name, dtype, shape: (shape as number[]).slice(), data: arr };
  });
}

function checkMetadata(metadata: unknown): [string, string][] {
  if (metadata === undefined) return [];
  if (!isPlainObject(metadata)) throw typeError('an object of string values', 'metadata', metadata);
  return Object.entries(metadata).map(([key, value]) => {
    if (typeof value !== 'string') throw typeError('a string', `metadata[${JSON.stringify(key)}]`, value);
    if (LONE_SURROGATE.test(key) || LONE_SURROGATE.test(value)) {
      throw rangeError('well-formed strings (no lone surrogates)', `metadata[${JSON.stringify(key)}]`, value);
    }
    return [key, value];
  });
}

/** Copies `data`'s elements, little-endian, into `out` at `pos`. */
function putArray(out: Buffer, pos: number, data: Float32Array | Float64Array): void {
  if (LITTLE_ENDIAN) {
    out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), pos);
    return;
  }
  const view = new DataView(out.buffer, out.byteOffset + pos, data.byteLength);
  for (let i = 0; i < data.length; i++) {
    if (data instanceof Float32Array) view.setFloat32(i * 4, data[i]!, true);
    else view.setFloat64(i * 8, data[i]!, true);
  }
}

/**
 * Encodes named tensors and string metadata as safetensors bytes (layout at
 * the top of this file). F64 tensors are stored before F32 ones, otherwise in
 * the given order, so every tensor starts at a multiple of its item size; the
 * header is padded with spaces to a multiple of 8 bytes.
 *
 * @param tensors - name -> `{ shape, data }` with Float32Array (F32) or
 *   Float64Array (F64) data of prod(shape) elements; names non-empty and not `__metadata__`
 * @param metadata - optional `__metadata__` entries, string -> string (omitted when empty)
 * @returns a fresh Buffer holding the whole file
 * @throws TypeError for a tensor that is not `{ shape, data }` with a float array, or a non-string metadata value
 * @throws RangeError for a bad name, a shape that does not match the data's length, or a file too large for one Buffer
 * @example
 * const bytes = encodeSafetensors({ 'fc.weight': { shape: [2, 3], data: new Float32Array(6) } }, { format: 'pt' });
 */
export function encodeSafetensors(tensors: Record<string, SafetensorsTensor>, metadata?: Record<string, string>): Buffer {
  const prepared = checkTensors(tensors);
  const meta = checkMetadata(metadata);
  // F64 first (stable), so that both kinds stay aligned to their item size in the buffer.
  const ordered = [...prepared.filter((t) => t.dtype === 'F64'), ...prepared.filter((t) => t.dtype === 'F32')];
  let cursor = 0;
  // The header is assembled by hand: an object literal would reorder integer-like
  // names and treat a tensor named "__proto__" as the prototype.
  const parts: string[] = [];
  if (meta.length > 0) {
    parts.push(`${JSON.stringify(METADATA_KEY)}:{${meta.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',')}}`);
  }
  const positions = ordered.map((t) => {
    const begin = cursor;
    cursor += t.data.byteLength;
    parts.push(`${JSON.stringify(t.name)}:${JSON.stringify({ dtype: t.dtype, shape: t.shape, data_offsets: [begin, cursor] })}`);
    return begin;
  });
  const json = Buffer.from(`{${parts.join(',')}}`, 'utf8');
  const headerBytes = Math.ceil(json.length / 8) * 8;
  const total = 8 + headerBytes + cursor;
  if (total > bufferConstants.MAX_LENGTH || headerBytes > SAFETENSORS_MAX_HEADER) {
    const what = `a file of at most ${bufferConstants.MAX_LENGTH} bytes with a header of at most ${SAFETENSORS_MAX_HEADER}`;
    throw rangeError(what, 'tensors', received(`${total} bytes`));
  }
  const out = Buffer.alloc(total);
  out.writeBigUInt64LE(BigInt(headerBytes), 0);
  json.copy(out, 8);
  out.fill(0x20, 8 + json.length, 8 + headerBytes);
  ordered.forEach((t, i) => putArray(out, 8 + headerBytes + positions[i]!, t.data));
  return out;
}

// ---------------------------------------------------------------- decode

interface Entry {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  begin: number;
  end: number;
}

/** Reads `length` little-endian elements at `pos` into a fresh typed array. */
function getArray(buf: Uint8Array, pos: number, length: number, dtype: SafetensorsDtype): Float32Array | Float64Array {
  const out = dtype === 'F32' ? new Float32Array(length) : new Float64Array(length);
  if (LITTLE_ENDIAN) {
    new Uint8Array(out.buffer).set(buf.subarray(pos, pos + out.byteLength));
    return out;
  }
  const view = new DataView(buf.buffer, buf.byteOffset + pos, out.byteLength);
  for (let i = 0; i < length; i++) out[i] = dtype === 'F32' ? view.getFloat32(i * 4, true) : view.getFloat64(i * 8, true);
  return out;
}

/**
 * Decodes and validates safetensors bytes (checks listed at the top of this
 * file). Tensors come back as fresh arrays (never views of `bytes`).
 *
 * @param bytes - the whole file
 * @param file - how to name the source in error messages (usually its path)
 * @throws TypeError when `bytes` is not a Buffer / Uint8Array
 * @throws RnnkitError with code `ERR_SAFETENSORS` and a message naming `file`
 *   (and the tensor, where one is at fault) for a truncated, malformed or
 *   inconsistent file, or a tensor whose dtype is not F32 or F64
 * @example
 * const { tensors, metadata } = decodeSafetensors(await readFile('m.safetensors'), 'm.safetensors');
 */
export function decodeSafetensors(bytes: Uint8Array, file: string): SafetensorsContent {
  if (!(bytes instanceof Uint8Array)) throw typeError('a Buffer or Uint8Array', 'bytes', bytes);
  const fail = (what: string): RnnkitError => new RnnkitError('ERR_SAFETENSORS', `Invalid safetensors file '${file}': ${what}`);
  const size = bytes.length;
  if (size < 8) throw fail(`${size} bytes is too short to hold the 8-byte header length (empty or truncated)`);
  const n = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(SAFETENSORS_MAX_HEADER)) {
    throw fail(`the header length ${n} exceeds the limit of ${SAFETENSORS_MAX_HEADER} bytes (not a safetensors file?)`);
  }
  const headerBytes = Number(n);
  if (8 + headerBytes > size) {
    throw fail(`the header length ${headerBytes} runs past the end of the file (${size} bytes): truncated or not a safetensors file`);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes.subarray(8, 8 + headerBytes));
  } catch {
    throw fail('the header is not valid UTF-8');
  }
  if (!text.startsWith('{')) throw fail(`the header does not start with '{' (not a safetensors file?)`);
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (err) {
    throw fail(`the header is not valid JSON (${(err as Error).message})`);
  }
  if (!isPlainObject(header)) throw fail('the header is not a JSON object');

  const dataStart = 8 + headerBytes;
  const dataBytes = size - dataStart;
  const metadata: [string, string][] = [];
  const entries: Entry[] = [];
  for (const [name, value] of Object.entries(header)) {
    if (name === METADATA_KEY) {
      if (!isPlainObject(value)) throw fail(`${METADATA_KEY} is not an object of strings`);
      for (const [key, v] of Object.entries(value)) {
        if (typeof v !== 'string') throw fail(`${METADATA_KEY}[${JSON.stringify(key)}] is not a string`);
        metadata.push([key, v]);
      }
      continue;
    }
    const bad = (what: string) => fail(`tensor ${JSON.stringify(name)} ${what}`);
    if (!isPlainObject(value)) throw bad('is not an object { dtype, shape, data_offsets }');
    const keys = Object.keys(value);
    const unknown = keys.find((k) => !ENTRY_KEYS.includes(k));
    if (unknown !== undefined) throw bad(`has an unknown field ${JSON.stringify(unknown)}`);
    const { dtype, shape, data_offsets: offsets } = value as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof dtype !== 'string') throw bad(`has no dtype string (got ${JSON.stringify(dtype)})`);
    if (dtype !== 'F32' && dtype !== 'F64') {
      throw bad(
        OTHER_DTYPES.has(dtype)
          ? `has dtype ${dtype}; rnnkit reads only F32 and F64 (convert it, e.g. tensor.float(), before saving)`
          : `has unknown dtype ${JSON.stringify(dtype)} (rnnkit reads F32 and F64)`,
      );
    }
    if (!Array.isArray(shape) || !shape.every(isCount))
      throw bad(`has an invalid shape ${JSON.stringify(shape)} (expected non-negative integers)`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount)) {
      throw bad(`has invalid data_offsets ${JSON.stringify(offsets)} (expected [begin, end], non-negative integers)`);
    }
    const [begin, end] = offsets as [number, number];
    if (begin > end) throw bad(`has data_offsets [${begin}, ${end}] with begin > end`);
    if (end > dataBytes) {
      throw bad(`has data_offsets [${begin}, ${end}] past the end of the data (${dataBytes} bytes): truncated file?`);
    }
    // prod(shape) * itemsize, stopping before the product leaves the exact integer range
    const span = end - begin;
    const item = ITEM_SIZE[dtype];
    const dims = shape as number[];
    let elements = dims.includes(0) ? 0 : 1;
    let overflow = false;
    for (const d of dims) {
      if (elements === 0) break;
      elements *= d;
      if (elements > Number.MAX_SAFE_INTEGER / 8) {
        overflow = true;
        break;
      }
    }
    if (overflow || elements * item !== span) {
      const needs = overflow ? 'more than 2^50' : String(elements * item);
      throw bad(`has data_offsets [${begin}, ${end}] (${span} bytes) but shape ${formatShape(dims)} of ${dtype} needs ${needs} bytes`);
    }
    entries.push({ name, dtype, shape: (shape as number[]).slice(), begin, end });
  }

  // Sorted by offset, the tensors must tile [0, dataBytes) exactly.
  const sorted = entries.slice().sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  let prev: Entry | undefined;
  for (const e of sorted) {
    if (e.begin < cursor)
      throw fail(`tensors ${JSON.stringify(prev!.name)} and ${JSON.stringify(e.name)} overlap (bytes ${e.begin}..${cursor})`);
    if (e.begin > cursor) {
      throw fail(`bytes ${cursor}..${e.begin} of the data belong to no tensor (a gap before ${JSON.stringify(e.name)})`);
    }
    cursor = e.end;
    prev = e;
  }
  if (cursor !== dataBytes) {
    throw fail(`${dataBytes - cursor} trailing bytes after the last tensor (data is ${dataBytes} bytes, tensors cover ${cursor})`);
  }

  const tensors = sorted.map((e): [string, SafetensorsTensor] => {
    const count = (e.end - e.begin) / ITEM_SIZE[e.dtype];
    return [e.name, { shape: e.shape, data: getArray(bytes, dataStart + e.begin, count, e.dtype) }];
  });
  return { tensors: Object.fromEntries(tensors), metadata: Object.fromEntries(metadata) };
}

// ---------------------------------------------------------------- files

function checkPath(path: unknown): asserts path is string {
  if (typeof path !== 'string' || path === '') throw typeError('a non-empty string', 'path', path);
}

/**
 * Reads and validates a safetensors file (see {@link decodeSafetensors}).
 *
 * @param path - the file
 * @throws TypeError when `path` is not a non-empty string
 * @throws RnnkitError with code `ERR_SAFETENSORS` and a message naming `path`
 *   when the file cannot be read (missing, a directory, no permission: the fs
 *   error is the `cause`) or is not a valid safetensors file of F32 / F64 tensors
 * @example
 * const { tensors, metadata } = await readSafetensors('lstm.safetensors');
 * tensors['rnn.weight_ih_l0'].shape; // [4 * H, V]
 */
export async function readSafetensors(path: string): Promise<SafetensorsContent> {
  checkPath(path);
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new RnnkitError('ERR_SAFETENSORS', `Cannot read safetensors file '${path}': ${fsReason(err)}`, { cause: err });
  }
  return decodeSafetensors(bytes, path);
}

/**
 * Encodes tensors and metadata (see {@link encodeSafetensors}) and writes them
 * atomically: a temporary file next to `path` is written, fsynced and renamed
 * over it, so an existing file is only ever replaced by a complete new one.
 *
 * @param path - the file to create or replace; its directory must exist
 * @param tensors - name -> `{ shape, data }` (Float32Array: F32, Float64Array: F64)
 * @param metadata - optional `__metadata__` entries, string -> string
 * @throws TypeError / RangeError for a bad path, tensor or metadata entry (see {@link encodeSafetensors})
 * @throws RnnkitError with code `ERR_SAFETENSORS` and a message naming `path`
 *   when the write fails (missing directory, no permission, disk full, `path`
 *   is a directory, ...); the fs error is the `cause`
 * @example
 * await writeSafetensors('io.safetensors', { logits: { shape: [2, 3], data: new Float32Array(6) } }, { note: 'outputs' });
 */
export async function writeSafetensors(
  path: string,
  tensors: Record<string, SafetensorsTensor>,
  metadata?: Record<string, string>,
): Promise<void> {
  checkPath(path);
  const bytes = encodeSafetensors(tensors, metadata);
  try {
    await replaceFile(path, bytes);
  } catch (err) {
    throw new RnnkitError('ERR_SAFETENSORS', `Cannot write safetensors file '${path}': ${fsReason(err, path)}`, { cause: err });
  }
}
