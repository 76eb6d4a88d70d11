/**
 * The checkpoint container: one binary file holding a JSON header and named
 * typed arrays, checked by a CRC-32. This file only encodes and decodes bytes;
 * file IO is in ./atomic.ts and ../io.ts.
 *
 * Layout (integers are uint32 little-endian; positions are bytes from the
 * start of the file; align8(x) rounds x up to a multiple of 8):
 *
 *   position  bytes  content
 *   0         8      magic "RNNKITCK"
 *   8         4      format version (1)
 *   12        4      H, the byte length of the header
 *   16        H      header: UTF-8 JSON, see below
 *   16+H      -      zero bytes up to P = align8(16 + H)
 *   P         D      data section: each array's elements at P + offset
 *                    (offset a multiple of 8), little-endian IEEE 754
 *                    float32/float64 or two's-complement int32; zero bytes
 *                    between arrays and after the last one; D a multiple of 8
 *   P+D       4      CRC-32 (zlib's) of bytes [0, P+D)
 *   P+D+4     8      end magic "KCTIKNNR"
 *   total size: P + D + 12 bytes
 *
 * Header JSON:
 *   { "header": { ...the caller's object... },
 *     "arrays": [{ "name": "w", "dtype": "float32" | "float64" | "int32",
 *                  "offset": 0, "length": 6 }, ...],
 *     "dataBytes": D }
 * `offset` is relative to P, not to the start of the file: P depends on the
 * header's own length, so the header cannot hold absolute positions.
 * `length` is the element count. Arrays are stored in the order given, names
 * are unique, and no two non-empty arrays overlap.
 *
 * A reader checks, in order: the magic (else: not an rnnkit checkpoint), the
 * version (else: newer/unknown version), that the header fits in the file
 * (else: truncated), the end magic and CRC at the end of the file (else:
 * truncated, trailing garbage or corrupted, told apart by where the
 * unverified header's `dataBytes` puts the end), then the
 * header's structure and every array descriptor. Every length read from the
 * file is checked against the file's size before anything is allocated, so a
 * forged length cannot exhaust memory.
 */
import { constants as bufferConstants } from 'node:buffer';
import { crc32 } from 'node:zlib';
import { RnnkitError, rangeError, received, typeError } from '../errors.js';
import { isCount, isPlainObject } from './predicates.js';

/**
 * Element type of a checkpoint array, as written in the header.
 *
 * @example
 * const dtype: CheckpointDtype = 'float32';
 */
export type CheckpointDtype = 'float32' | 'float64' | 'int32';

/**
 * A typed array a checkpoint can hold.
 *
 * @example
 * const data: CheckpointData = new Int32Array([1, 2, 3]);
 */
export type CheckpointData = Float32Array | Float64Array | Int32Array;

/**
 * One named array of a checkpoint.
 *
 * @example
 * const entry: CheckpointArray = { name: 'params', data: new Float32Array(16) };
 */
export interface CheckpointArray {
  name: string;
  data: CheckpointData;
}

/**
 * What a checkpoint holds: a JSON-serialisable header and named arrays.
 *
 * @example
 * const parts: CheckpointParts = { header: { units: 8 }, arrays: [{ name: 'w', data: new Float32Array(8) }] };
 */
export interface CheckpointParts {
  header: Record<string, unknown>;
  arrays: CheckpointArray[];
}

/**
 * The format version this build writes and the only one it reads.
 *
 * @example
 * bytes.readUInt32LE(8) === CHECKPOINT_VERSION; // true for a file this build wrote
 */
export const CHECKPOINT_VERSION = 1;

const MAGIC = Buffer.from('RNNKITCK', 'latin1');
const END_MAGIC = Buffer.from('KCTIKNNR', 'latin1');
const PREFIX = 16; // magic, version, header length
const TRAILER = 12; // CRC-32, end magic
const MAX_HEADER = 0xffffffff;

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

interface DtypeInfo {
  size: 4 | 8;
  make: (length: number) => CheckpointData;
}

const DTYPES: ReadonlyMap<string, DtypeInfo> = new Map<string, DtypeInfo>([
  ['float32', { size: 4, make: (n) => new Float32Array(n) }],
  ['float64', { size: 8, make: (n) => new Float64Array(n) }],
  ['int32', { size: 4, make: (n) => new Int32Array(n) }],
]);

function align8(n: number): number {
  return Math.ceil(n / 8) * 8;
}

function dtypeOf(data: unknown): CheckpointDtype | undefined {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  if (data instanceof Int32Array) return 'int32';
  return undefined;
}

/** A lone UTF-16 surrogate would be replaced by U+FFFD in UTF-8, so the header would not round-trip. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function keyPath(base: string, key: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(key) ? `${base}.${key}` : `${base}[${JSON.stringify(key)}]`;
}

/**
 * Checks that `value` survives JSON unchanged: null, booleans, finite numbers,
 * well-formed strings, arrays and plain objects, without cycles. Object
 * properties whose value is `undefined` are allowed (JSON drops them).
 */
function checkJson(value: unknown, name: string, ancestors: Set<object>): void {
  switch (typeof value) {
    case 'boolean':
      return;
    case 'number':
      if (!Number.isFinite(value)) throw rangeError('a finite number', name, value);
      return;
    case 'string':
      if (LONE_SURROGATE.test(value)) throw rangeError('a well-formed string (no lone surrogates)', name, value);
      return;
    default:
      break;
  }
  if (value === null) return;
  const isArray = Array.isArray(value);
  if (!isArray && !isPlainObject(value)) {
    throw typeError('a JSON value (null, boolean, finite number, string, array or plain object)', name, value);
  }
  if (ancestors.has(value)) throw typeError('an acyclic value', name, received('a reference to one of its ancestors'));
  ancestors.add(value);
  if (isArray) {
    for (let i = 0; i < value.length; i++) checkJson(value[i], `${name}[${i}]`, ancestors);
  } else {
    for (const [key, item] of Object.entries(value)) {
      if (LONE_SURROGATE.test(key)) throw rangeError('well-formed keys (no lone surrogates)', name, key);
      if (item !== undefined) checkJson(item, keyPath(name, key), ancestors);
    }
  }
  ancestors.delete(value);
}

function checkParts(parts: unknown): asserts parts is CheckpointParts {
  if (typeof parts !== 'object' || parts === null) throw typeError('an object { header, arrays }', 'parts', parts);
  const { header, arrays } = parts as Record<string, unknown>;
  if (!isPlainObject(header)) throw typeError('a plain object', 'parts.header', header);
  checkJson(header, 'parts.header', new Set());
  if (!Array.isArray(arrays)) throw typeError('an array', 'parts.arrays', arrays);
  const names = new Set<string>();
  arrays.forEach((entry: unknown, i) => {
    const at = `parts.arrays[${i}]`;
    if (typeof entry !== 'object' || entry === null) throw typeError('an object { name, data }', at, entry);
    const { name, data } = entry as Record<string, unknown>;
    if (typeof name !== 'string') throw typeError('a string', `${at}.name`, name);
    if (name === '' || LONE_SURROGATE.test(name)) throw rangeError('a non-empty, well-formed string', `${at}.name`, name);
    if (names.has(name)) throw rangeError('a name not used by another array', `${at}.name`, name);
    names.add(name);
    if (!dtypeOf(data)) throw typeError('a Float32Array, Float64Array or Int32Array', `${at}.data`, data);
  });
}

/** Copies `data`'s elements, little-endian, into `out` at `pos`. */
function putArray(out: Buffer, pos: number, data: CheckpointData): void {
  if (LITTLE_ENDIAN) {
    out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), pos);
    return;
  }
  const view = new DataView(out.buffer, out.byteOffset + pos, data.byteLength);
  for (let i = 0; i < data.length; i++) {
    if (data instanceof Float32Array) view.setFloat32(i * 4, data[i], true);
    else if (data instanceof Float64Array) view.setFloat64(i * 8, data[i], true);
    else view.setInt32(i * 4, data[i], true);
  }
}

/** Reads `length` little-endian elements at `pos` into a fresh typed array. */
function getArray(buf: Uint8Array, pos: number, length: number, dtype: DtypeInfo): CheckpointData {
  const out = dtype.make(length);
  const bytes = length * dtype.size;
  if (LITTLE_ENDIAN) {
    new Uint8Array(out.buffer).set(buf.subarray(pos, pos + bytes));
    return out;
  }
  const view = new DataView(buf.buffer, buf.byteOffset + pos, bytes);
  for (let i = 0; i < length; i++) {
    if (out instanceof Float32Array) out[i] = view.getFloat32(i * 4, true);
    else if (out instanceof Float64Array) out[i] = view.getFloat64(i * 8, true);
    else out[i] = view.getInt32(i * 4, true);
  }
  return out;
}

/**
 * Encodes a header and named typed arrays into checkpoint bytes (layout at the
 * top of this file). The header must survive JSON unchanged; properties whose
 * value is `undefined` are dropped, as JSON.stringify does.
 *
 * @param parts - `header`: a plain object of JSON values; `arrays`: `{ name, data }`
 *   with unique non-empty names and Float32Array / Float64Array / Int32Array data
 * @returns a fresh Buffer holding the whole file
 * @throws TypeError when `parts`, the header or an array entry has the wrong type
 *   (e.g. a BigInt, a Map or a cycle in the header, a Uint8Array as data)
 * @throws RangeError for a non-finite number or lone surrogate in the header, an
 *   empty or duplicate array name, or a checkpoint too large for one Buffer
 * @example
 * const bytes = encodeCheckpoint({
 *   header: { kind: 'sequential', layers: [{ type: 'lstm', units: 8 }] },
 *   arrays: [{ name: 'params', data: new Float32Array(1024) }],
 * });
 */
export function encodeCheckpoint(parts: CheckpointParts): Buffer {
  checkParts(parts);
  let cursor = 0;
  const descriptors = parts.arrays.map(({ name, data }) => {
    const offset = align8(cursor);
    cursor = offset + data.byteLength;
    return { name, dtype: dtypeOf(data)!, offset, length: data.length };
  });
  const dataBytes = align8(cursor);
  const headerBytes = Buffer.from(JSON.stringify({ header: parts.header, arrays: descriptors, dataBytes }), 'utf8');
  if (headerBytes.length > MAX_HEADER) {
    throw rangeError(`a header of at most ${MAX_HEADER} bytes as JSON`, 'parts.header', received(`${headerBytes.length} bytes`));
  }
  const dataStart = align8(PREFIX + headerBytes.length);
  const total = dataStart + dataBytes + TRAILER;
  if (total > bufferConstants.MAX_LENGTH) {
    throw rangeError(`a checkpoint of at most ${bufferConstants.MAX_LENGTH} bytes`, 'parts', received(`one of ${total} bytes`));
  }
  const out = Buffer.alloc(total);
  MAGIC.copy(out, 0);
  out.writeUInt32LE(CHECKPOINT_VERSION, 8);
  out.writeUInt32LE(headerBytes.length, 12);
  headerBytes.copy(out, PREFIX);
  parts.arrays.forEach(({ data }, i) => putArray(out, dataStart + descriptors[i].offset, data));
  const end = dataStart + dataBytes;
  out.writeUInt32LE(crc32(out.subarray(0, end)), end);
  END_MAGIC.copy(out, end + 4);
  return out;
}

function sameBytes(buf: Uint8Array, pos: number, expected: Buffer, count = expected.length): boolean {
  if (pos < 0 || pos + count > buf.length) return false;
  for (let i = 0; i < count; i++) if (buf[pos + i] !== expected[i]) return false;
  return true;
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}

/** The header's parsed JSON, or the reason it cannot be parsed. */
function parseJson(buf: Uint8Array, length: number): { json: unknown } | { error: string } {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(buf.subarray(PREFIX, PREFIX + length));
  } catch {
    return { error: 'the header is not valid UTF-8' };
  }
  try {
    return { json: JSON.parse(text) as unknown };
  } catch (err) {
    return { error: `the header is not valid JSON (${(err as Error).message})` };
  }
}

interface Descriptor {
  index: number;
  name: string;
  dtype: DtypeInfo;
  offset: number;
  length: number;
  bytes: number;
}

/**
 * Decodes checkpoint bytes written by {@link encodeCheckpoint}, checking every
 * field. Arrays come back as fresh typed arrays that share no memory with
 * `buf`; the header is a fresh object.
 *
 * @param buf - the file's bytes
 * @param file - the file's path or another name for it, used in error messages only
 * @throws RnnkitError with code `ERR_CHECKPOINT` and a message naming `file`,
 *   when the bytes are empty, truncated, not an rnnkit checkpoint (wrong
 *   magic), of a newer or unknown format version, corrupted (checksum
 *   mismatch, damaged end marker), followed by trailing garbage, or have a
 *   header that is not valid JSON or whose array descriptors are malformed,
 *   duplicated, of an unknown dtype, misaligned, out of bounds or overlapping
 * @throws TypeError when `buf` is not a Uint8Array or `file` is not a string
 * @example
 * const { header, arrays } = decodeCheckpoint(await readFile(path), path);
 * const params = arrays.find((a) => a.name === 'params')!.data;
 */
export function decodeCheckpoint(buf: Buffer | Uint8Array, file: string): CheckpointParts {
  if (!(buf instanceof Uint8Array)) throw typeError('a Buffer or Uint8Array', 'buf', buf);
  if (typeof file !== 'string') throw typeError('a string', 'file', file);
  const fail = (reason: string) => new RnnkitError('ERR_CHECKPOINT', `Cannot read checkpoint '${file}': ${reason}`);
  const size = buf.length;

  if (size === 0) throw fail('the file is empty');
  if (!sameBytes(buf, 0, MAGIC, Math.min(size, MAGIC.length))) {
    throw fail(`not an rnnkit checkpoint (the file does not start with "${MAGIC.toString('latin1')}")`);
  }
  const minimum = PREFIX + TRAILER;
  if (size < minimum) throw fail(`the file is truncated (${size} bytes, less than the ${minimum}-byte minimum)`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const version = view.getUint32(8, true);
  if (version !== CHECKPOINT_VERSION) {
    throw fail(
      version > CHECKPOINT_VERSION
        ? `it has format version ${version}, newer than this build of rnnkit reads (version ${CHECKPOINT_VERSION}); upgrade rnnkit to read it`
        : `it has unknown format version ${version}; this build of rnnkit reads version ${CHECKPOINT_VERSION}`,
    );
  }
  const headerLength = view.getUint32(12, true);
  const dataStart = align8(PREFIX + headerLength);
  if (dataStart + TRAILER > size) {
    throw fail(`the file is truncated or corrupted (its header length, ${headerLength} bytes, runs past the end of the ${size}-byte file)`);
  }
  const crcAt = (end: number) => ({ stored: view.getUint32(end, true), actual: crc32(buf.subarray(0, end)) });
  const trailerAt = (end: number) => {
    if (end < dataStart || !sameBytes(buf, end + 4, END_MAGIC)) return false;
    const { stored, actual } = crcAt(end);
    return stored === actual;
  };

  if (!trailerAt(size - TRAILER)) {
    // Not the file as written. Tell truncation, trailing garbage and
    // corruption apart by where the (unverified) header says the end is.
    const parsed = parseJson(buf, headerLength);
    const declared = 'json' in parsed && isPlainObject(parsed.json) ? parsed.json.dataBytes : undefined;
    const expected = isCount(declared) ? dataStart + declared + TRAILER : undefined;
    const endMarker = sameBytes(buf, size - END_MAGIC.length, END_MAGIC);
    if (expected !== undefined && size < expected && !endMarker) {
      throw fail(`the file is truncated (${size} of ${expected} bytes)`);
    }
    if (expected !== undefined && size > expected && trailerAt(expected - TRAILER)) {
      throw fail(`the file has ${size - expected} bytes of trailing garbage after the end of the checkpoint`);
    }
    if (endMarker) {
      const { stored, actual } = crcAt(size - TRAILER);
      throw fail(`the file is corrupted (checksum mismatch: stored ${hex(stored)}, computed ${hex(actual)})`);
    }
    throw fail(`the file is ${expected === undefined ? 'truncated or ' : ''}corrupted (its end marker is missing)`);
  }

  // The bytes are as written; now check that what was written makes sense.
  const parsed = parseJson(buf, headerLength);
  if ('error' in parsed) throw fail(parsed.error);
  const meta = parsed.json;
  if (!isPlainObject(meta)) throw fail('the header is not a JSON object');
  const { header, arrays, dataBytes } = meta;
  if (!isPlainObject(header)) throw fail('the header has no "header" object');
  if (!Array.isArray(arrays)) throw fail('the header has no "arrays" list');
  const actualData = size - TRAILER - dataStart;
  if (!isCount(dataBytes) || dataBytes !== actualData) {
    throw fail(`the header declares ${JSON.stringify(dataBytes)} data bytes but the file holds ${actualData}`);
  }

  const names = new Set<string>();
  const descriptors = arrays.map((entry: unknown, index): Descriptor => {
    const bad = (what: string) => fail(`array descriptor ${index} ${what}`);
    if (!isPlainObject(entry)) throw bad('is not an object');
    const { name, dtype, offset, length } = entry;
    if (typeof name !== 'string' || name === '') throw bad(`has an invalid name ${JSON.stringify(name)}`);
    const label = (what: string) => fail(`array ${JSON.stringify(name)} ${what}`);
    if (names.has(name)) throw label('appears twice');
    names.add(name);
    const info = typeof dtype === 'string' ? DTYPES.get(dtype) : undefined;
    if (!info) throw label(`has unknown dtype ${JSON.stringify(dtype)} (expected float32, float64 or int32)`);
    if (!isCount(offset)) throw label(`has an invalid offset ${JSON.stringify(offset)}`);
    if (offset % 8 !== 0) throw label(`is misaligned (offset ${offset} is not a multiple of 8)`);
    if (!isCount(length)) throw label(`has an invalid length ${JSON.stringify(length)}`);
    // Compare before multiplying so a forged length cannot overflow.
    if (offset > dataBytes || length > (dataBytes - offset) / info.size) {
      throw label(`is out of bounds (${length} ${dtype as string} elements at offset ${offset} do not fit in ${dataBytes} data bytes)`);
    }
    return { index, name, dtype: info, offset, length, bytes: length * info.size };
  });

  const byOffset = descriptors.filter((d) => d.bytes > 0).sort((a, b) => a.offset - b.offset || a.index - b.index);
  for (let i = 1; i < byOffset.length; i++) {
    const prev = byOffset[i - 1];
    const cur = byOffset[i];
    if (prev.offset + prev.bytes > cur.offset) {
      throw fail(`arrays ${JSON.stringify(prev.name)} and ${JSON.stringify(cur.name)} overlap`);
    }
  }

  return {
    header,
    arrays: descriptors.map((d) => ({ name: d.name, data: getArray(buf, dataStart + d.offset, d.length, d.dtype) })),
  };
}
