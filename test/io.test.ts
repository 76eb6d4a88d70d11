/**
 * The checkpoint container and its file IO: exact round trips, every way a
 * file can be bad (each an RnnkitError ERR_CHECKPOINT naming the file), a
 * seeded fuzz test over mutated files, and atomic writes.
 *
 * Files are built here by hand from the documented layout (see forge()), so
 * the tests check the format, not just that the encoder and decoder agree.
 */
import test, { type ExecutionContext } from 'ava';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { rng } from '../examples/lib/random.js';
import { RnnkitError } from '../lib/errors.js';
import { decodeCheckpoint, encodeCheckpoint, readCheckpoint, writeCheckpoint, writeFileAtomic, type CheckpointParts } from '../lib/io.js';

// ---------------------------------------------------------------------------
// helpers

const FILE = '/some dir/weights-π.rnnkit';

function align8(n: number): number {
  return Math.ceil(n / 8) * 8;
}

/** Rewrites the trailer (CRC-32 of everything before it, end magic) of a file that ends with one. */
function fixTrailer(buf: Buffer): Buffer {
  const end = buf.length - 12;
  buf.writeUInt32LE(crc32(buf.subarray(0, end)), end);
  buf.write('KCTIKNNR', end + 4, 'latin1');
  return buf;
}

/** Builds a file by hand from the documented layout, with a correct checksum. */
function forge(
  meta: unknown,
  data: Uint8Array = new Uint8Array(0),
  { version = 1, headerText }: { version?: number; headerText?: string } = {},
): Buffer {
  const header = Buffer.from(headerText ?? JSON.stringify(meta), 'utf8');
  const dataStart = align8(16 + header.length);
  const out = Buffer.alloc(dataStart + data.length + 12);
  out.write('RNNKITCK', 0, 'latin1');
  out.writeUInt32LE(version, 8);
  out.writeUInt32LE(header.length, 12);
  header.copy(out, 16);
  out.set(data, dataStart);
  return fixTrailer(out);
}

/** A valid two-array file (float32 x3 at 0, int32 x2 at 16) and its header, for mutation. */
function validMeta() {
  return {
    header: { kind: 'test' },
    arrays: [
      { name: 'a', dtype: 'float32', offset: 0, length: 3 },
      { name: 'b', dtype: 'int32', offset: 16, length: 2 },
    ],
    dataBytes: 24,
  };
}

function checkpointError(t: ExecutionContext, fn: () => unknown, pattern: RegExp, file = FILE): void {
  const err = t.throws(fn, { instanceOf: RnnkitError });
  if (!err) return;
  t.is((err as { code?: unknown }).code, 'ERR_CHECKPOINT');
  t.true(err.message.includes(file), `message should name ${file}: ${err.message}`);
  t.regex(err.message, pattern);
}

function bad(t: ExecutionContext, bytes: Uint8Array, pattern: RegExp): void {
  checkpointError(t, () => decodeCheckpoint(bytes, FILE), pattern);
}

function bytesOf(a: ArrayBufferView): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

async function tempDir(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'rnnkit-io-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function sample(): CheckpointParts {
  const f32 = new Float32Array([1.5, -0, 1e-45, -1.17e-38, 3.4028234663852886e38, -Infinity, Infinity]);
  const nan32 = new Uint32Array(f32.buffer.slice(0));
  const f32nan = new Float32Array(nan32.buffer);
  f32nan[0] = NaN;
  new Uint32Array(f32nan.buffer)[1] = 0x7fc12345; // a NaN with a payload
  const f64 = new Float64Array([Math.PI, -0, Number.MIN_VALUE, 2.2250738585072e-308, -Number.MAX_VALUE, NaN]);
  new Uint32Array(f64.buffer)[10] = 0xdeadbeef; // low word of the NaN: a payload
  return {
    header: { kind: 'sequential', units: 8, lr: 0.001, nested: { list: [1, 'two', null, true, { x: -0.5 }] }, text: 'héllo ✓ 🙂' },
    arrays: [
      { name: 'odd', data: f32 }, // 28 bytes: the next array needs padding
      { name: 'nan32', data: f32nan },
      { name: 'empty32', data: new Float32Array(0) },
      { name: 'f64', data: f64 },
      { name: 'ints', data: new Int32Array([0, -1, 2147483647, -2147483648, 42]) },
      { name: 'emptyInt', data: new Int32Array(0) },
      { name: 'empty64', data: new Float64Array(0) },
    ],
  };
}

// ---------------------------------------------------------------------------
// round trip and layout

test('round trip keeps the header and every array bit for bit', (t) => {
  const parts = sample();
  const bytes = encodeCheckpoint(parts);
  const out = decodeCheckpoint(bytes, FILE);
  t.deepEqual(out.header, parts.header);
  t.deepEqual(
    out.arrays.map((a) => a.name),
    parts.arrays.map((a) => a.name),
  );
  out.arrays.forEach((a, i) => {
    const want = parts.arrays[i].data;
    t.is(a.data.constructor, want.constructor, a.name);
    t.is(a.data.length, want.length, a.name);
    t.true(bytesOf(a.data).equals(bytesOf(want)), `${a.name} bytes differ`);
    // Fresh, exactly sized arrays that share nothing with the input buffer.
    t.is(a.data.byteOffset, 0);
    t.is(a.data.buffer.byteLength, a.data.byteLength);
    t.not(a.data.buffer, bytes.buffer);
  });
  t.true(Object.is(out.arrays[0].data[1], -0));
  t.is(out.arrays[0].data[2], new Float32Array([1e-45])[0]);
  t.is(out.arrays[3].data[2], Number.MIN_VALUE);
});

test('the bytes follow the documented layout', (t) => {
  const parts = sample();
  const bytes = encodeCheckpoint(parts);
  t.is(bytes.toString('latin1', 0, 8), 'RNNKITCK');
  t.is(bytes.readUInt32LE(8), 1);
  const headerLength = bytes.readUInt32LE(12);
  const meta = JSON.parse(bytes.toString('utf8', 16, 16 + headerLength));
  t.deepEqual(meta.header, parts.header);
  const dataStart = align8(16 + headerLength);
  t.is(bytes.length, dataStart + meta.dataBytes + 12);
  t.is(meta.dataBytes % 8, 0);
  for (const [i, d] of meta.arrays.entries()) {
    const src = parts.arrays[i].data;
    t.is(d.name, parts.arrays[i].name);
    t.is(d.dtype, { Float32Array: 'float32', Float64Array: 'float64', Int32Array: 'int32' }[src.constructor.name]);
    t.is(d.offset % 8, 0);
    t.is(d.length, src.length);
    t.true(bytes.subarray(dataStart + d.offset, dataStart + d.offset + src.byteLength).equals(bytesOf(src)));
  }
  const end = dataStart + meta.dataBytes;
  t.is(bytes.readUInt32LE(end), crc32(bytes.subarray(0, end)));
  t.is(bytes.toString('latin1', end + 4), 'KCTIKNNR');
  // The encoder's output equals a hand-built file with the same header.
  t.true(forge(meta, bytes.subarray(dataStart, end)).equals(bytes));
  // Deterministic.
  t.true(encodeCheckpoint(sample()).equals(bytes));
});

test('decode reads a view at a non-zero offset, and the result does not alias it', (t) => {
  const bytes = encodeCheckpoint({ header: {}, arrays: [{ name: 'w', data: new Float64Array([1, 2, 3]) }] });
  const big = new Uint8Array(bytes.length + 5);
  big.set(bytes, 3);
  const view = big.subarray(3, 3 + bytes.length);
  const out = decodeCheckpoint(view, FILE);
  big.fill(0);
  t.deepEqual(Array.from(out.arrays[0].data), [1, 2, 3]);
});

test('no arrays, and undefined header properties are dropped as in JSON', (t) => {
  const out = decodeCheckpoint(encodeCheckpoint({ header: { a: 1, b: undefined }, arrays: [] }), FILE);
  t.deepEqual(out, { header: { a: 1 }, arrays: [] });
});

test('a hand-built file with gaps and unordered arrays decodes', (t) => {
  const data = Buffer.alloc(32);
  data.writeInt32LE(7, 24);
  data.writeFloatLE(2.5, 0);
  const meta = {
    header: {},
    arrays: [
      { name: 'late', dtype: 'int32', offset: 24, length: 1 },
      { name: 'early', dtype: 'float32', offset: 0, length: 1 },
      { name: 'none', dtype: 'float64', offset: 32, length: 0 },
    ],
    dataBytes: 32,
  };
  const out = decodeCheckpoint(forge(meta, data), FILE);
  t.deepEqual(
    out.arrays.map((a) => [a.name, Array.from(a.data)]),
    [
      ['late', [7]],
      ['early', [2.5]],
      ['none', []],
    ],
  );
});

// ---------------------------------------------------------------------------
// encode argument errors

test('encodeCheckpoint validates its argument', (t) => {
  const f = new Float32Array(1);
  const cases: [unknown, typeof TypeError | typeof RangeError, string][] = [
    [null, TypeError, 'for parts but'],
    [{ header: [], arrays: [] }, TypeError, 'for parts.header but'],
    [{ header: new Map(), arrays: [] }, TypeError, 'for parts.header but'],
    [{ header: { a: 1n }, arrays: [] }, TypeError, 'for parts.header.a but'],
    [{ header: { a: [1, () => 0] }, arrays: [] }, TypeError, 'for parts.header.a[1] but'],
    [{ header: { 'a b': new Date(0) }, arrays: [] }, TypeError, 'for parts.header["a b"] but'],
    [{ header: { lr: NaN }, arrays: [] }, RangeError, 'for parts.header.lr but'],
    [{ header: { s: 'x\ud800' }, arrays: [] }, RangeError, 'for parts.header.s but'],
    [{ header: {}, arrays: {} }, TypeError, 'for parts.arrays but'],
    [{ header: {}, arrays: [null] }, TypeError, 'for parts.arrays[0] but'],
    [{ header: {}, arrays: [{ name: 3, data: f }] }, TypeError, 'for parts.arrays[0].name but'],
    [{ header: {}, arrays: [{ name: '', data: f }] }, RangeError, 'for parts.arrays[0].name but'],
    [
      {
        header: {},
        arrays: [
          { name: 'w', data: f },
          { name: 'w', data: f },
        ],
      },
      RangeError,
      'for parts.arrays[1].name but',
    ],
    [{ header: {}, arrays: [{ name: 'w', data: new Uint8Array(4) }] }, TypeError, 'for parts.arrays[0].data but'],
    [{ header: {}, arrays: [{ name: 'w', data: [1, 2] }] }, TypeError, 'for parts.arrays[0].data but'],
  ];
  for (const [parts, cls, name] of cases) {
    const err = t.throws(() => encodeCheckpoint(parts as CheckpointParts), { instanceOf: cls });
    t.is(err?.constructor, cls);
    t.true(err?.message.includes(name), `${err?.message} should contain ${name}`);
    t.regex(err?.message ?? '', /^Expected .+ for .+ but received .+$/s);
  }
  const cyclic: Record<string, unknown> = {};
  cyclic.self = { back: cyclic };
  t.throws(() => encodeCheckpoint({ header: cyclic, arrays: [] }), { instanceOf: TypeError, message: /parts\.header\.self\.back/ });
});

test('decodeCheckpoint validates its arguments', (t) => {
  t.throws(() => decodeCheckpoint('RNNKITCK' as never, FILE), { instanceOf: TypeError, message: /for buf but/ });
  t.throws(() => decodeCheckpoint(Buffer.alloc(0), undefined as never), { instanceOf: TypeError, message: /for file but/ });
});

// ---------------------------------------------------------------------------
// bad files

test('empty and too-short files', (t) => {
  bad(t, Buffer.alloc(0), /empty/);
  bad(t, Buffer.from('RNNK'), /truncated/);
  bad(t, Buffer.from('RNNKITCK\x01\x00'), /truncated/);
  bad(t, encodeCheckpoint({ header: {}, arrays: [] }).subarray(0, 27), /truncated/);
});

test('a foreign file is not an rnnkit checkpoint', (t) => {
  bad(t, Buffer.from('{"header": {}}'), /not an rnnkit checkpoint/);
  bad(t, Buffer.from('\x89PNG\r\n\x1a\n0000000000000000000000000000', 'latin1'), /not an rnnkit checkpoint/);
  bad(t, Buffer.from('X'), /not an rnnkit checkpoint/);
  const bytes = encodeCheckpoint(sample());
  bytes[0] ^= 0x20;
  bad(t, bytes, /not an rnnkit checkpoint/);
});

test('a newer or unknown format version names both versions', (t) => {
  bad(t, forge(validMeta(), Buffer.alloc(24), { version: 2 }), /format version 2, newer .*version 1\b.*upgrade/);
  bad(t, forge(validMeta(), Buffer.alloc(24), { version: 0xffffffff }), /format version 4294967295, newer/);
  bad(t, forge(validMeta(), Buffer.alloc(24), { version: 0 }), /unknown format version 0; .*reads version 1/);
});

test('truncation anywhere is reported as truncated', (t) => {
  const bytes = encodeCheckpoint(sample());
  const headerEnd = 16 + bytes.readUInt32LE(12);
  for (const n of [12, 16, 20, headerEnd - 1, headerEnd, headerEnd + 30, bytes.length - 12, bytes.length - 1]) {
    bad(t, bytes.subarray(0, n), /truncated/);
  }
  // Once the header is readable, the message says how much is missing.
  bad(t, bytes.subarray(0, bytes.length - 1), new RegExp(`truncated \\(${bytes.length - 1} of ${bytes.length} bytes\\)`));
});

test('a changed byte is a checksum mismatch', (t) => {
  const bytes = encodeCheckpoint(sample());
  for (const pos of [14, 20, bytes.length - 40, bytes.length - 12]) {
    const copy = Buffer.from(bytes);
    copy[pos] ^= 0x01;
    bad(t, copy, pos === 14 ? /truncated or corrupted|corrupted/ : /corrupted \(checksum mismatch/);
  }
});

test('a damaged end marker is corruption', (t) => {
  const bytes = encodeCheckpoint(sample());
  bytes[bytes.length - 3] ^= 0xff;
  bad(t, bytes, /corrupted \(its end marker is missing\)/);
});

test('trailing garbage is reported with its size', (t) => {
  const bytes = encodeCheckpoint(sample());
  bad(t, Buffer.concat([bytes, Buffer.from('garbage')]), /7 bytes of trailing garbage/);
  bad(t, Buffer.concat([bytes, Buffer.alloc(1)]), /1 bytes of trailing garbage/);
  // Even when the garbage is a second copy of the trailer.
  bad(t, Buffer.concat([bytes, bytes.subarray(bytes.length - 12)]), /12 bytes of trailing garbage/);
});

test('a forged header length never allocates or reads past the end', (t) => {
  const bytes = encodeCheckpoint(sample());
  for (const len of [0xffffffff, 0x7fffffff, bytes.length, bytes.length - 16]) {
    const copy = Buffer.from(bytes);
    copy.writeUInt32LE(len, 12);
    bad(t, copy, /truncated or corrupted/);
  }
  const copy = Buffer.from(bytes);
  copy.writeUInt32LE(3, 12);
  bad(t, fixTrailer(copy), /not valid JSON|declares/);
});

test('a header that is not valid JSON, or not the expected object', (t) => {
  bad(t, forge(null, undefined, { headerText: '{"header": {}, "arr' }), /header is not valid JSON/);
  bad(t, forge(null, undefined, { headerText: '\xff' }), /header is not valid JSON/);
  const invalidUtf8 = forge(null, undefined, { headerText: '{}' });
  invalidUtf8[16] = 0xff;
  bad(t, fixTrailer(invalidUtf8), /not valid UTF-8/);
  bad(t, forge([1, 2]), /header is not a JSON object/);
  bad(t, forge({ arrays: [], dataBytes: 0 }), /no "header" object/);
  bad(t, forge({ header: [], arrays: [], dataBytes: 0 }), /no "header" object/);
  bad(t, forge({ header: {}, dataBytes: 0 }), /no "arrays" list/);
  bad(t, forge({ header: {}, arrays: [] }), /declares undefined data bytes but the file holds 0/);
  bad(t, forge({ header: {}, arrays: [], dataBytes: 8 }), /declares 8 data bytes but the file holds 0/);
  bad(t, forge({ header: {}, arrays: [], dataBytes: 0 }, Buffer.alloc(8)), /declares 0 data bytes but the file holds 8/);
});

test('bad array descriptors', (t) => {
  const withArrays = (arrays: unknown[]) => forge({ header: {}, arrays, dataBytes: 24 }, Buffer.alloc(24));
  const d = { name: 'w', dtype: 'float32', offset: 0, length: 2 };
  bad(t, withArrays([d, 7]), /array descriptor 1 is not an object/);
  bad(t, withArrays([{ ...d, name: '' }]), /array descriptor 0 has an invalid name ""/);
  bad(t, withArrays([{ ...d, name: 5 }]), /array descriptor 0 has an invalid name 5/);
  bad(t, withArrays([d, { ...d, offset: 8 }]), /array "w" appears twice/);
  bad(t, withArrays([{ ...d, dtype: 'float16' }]), /array "w" has unknown dtype "float16"/);
  bad(t, withArrays([{ ...d, dtype: 'toString' }]), /unknown dtype "toString"/);
  bad(t, withArrays([{ ...d, dtype: undefined }]), /unknown dtype undefined/);
  bad(t, withArrays([{ ...d, offset: -8 }]), /invalid offset -8/);
  bad(t, withArrays([{ ...d, offset: '0' }]), /invalid offset "0"/);
  bad(t, withArrays([{ ...d, offset: 8.5 }]), /invalid offset 8.5/);
  bad(t, withArrays([{ ...d, offset: 4 }]), /array "w" is misaligned \(offset 4 is not a multiple of 8\)/);
  bad(t, withArrays([{ ...d, length: -1 }]), /invalid length -1/);
  bad(t, withArrays([{ ...d, length: 1.5 }]), /invalid length 1.5/);
  bad(t, withArrays([{ ...d, length: 7 }]), /array "w" is out of bounds \(7 float32 elements at offset 0/);
  bad(t, withArrays([{ ...d, offset: 32, length: 0 }]), /out of bounds/);
  bad(t, withArrays([{ ...d, length: 2 ** 53 - 1 }]), /out of bounds/);
  bad(t, withArrays([{ ...d, dtype: 'float64', offset: 16, length: 2 }]), /out of bounds/);
  bad(t, withArrays([{ ...d, offset: 2 ** 50 }]), /out of bounds/);
  bad(t, withArrays([d, { ...d, name: 'v', dtype: 'float64', offset: 0, length: 1 }]), /arrays "w" and "v" overlap/);
  bad(
    t,
    withArrays([
      { ...d, length: 4 },
      { ...d, name: 'v', offset: 8 },
    ]),
    /arrays "w" and "v" overlap/,
  );
  // Empty arrays occupy no bytes, so they overlap nothing.
  t.notThrows(() => decodeCheckpoint(withArrays([d, { ...d, name: 'e', length: 0 }, { ...d, name: 'f', length: 0, offset: 24 }]), FILE));
});

// ---------------------------------------------------------------------------
// fuzz

test('fuzz: mutated files give ERR_CHECKPOINT and nothing else', (t) => {
  const r = rng(20240601);
  const int = (n: number) => Math.floor(r() * n);
  const base = encodeCheckpoint({
    header: { kind: 'fuzz', layers: [{ type: 'lstm', units: 4 }] },
    arrays: [
      { name: 'a', data: new Float32Array([1, 2, 3]) },
      { name: 'b', data: new Float64Array([4, 5]) },
      { name: 'c', data: new Int32Array([6]) },
      { name: 'd', data: new Float32Array(0) },
    ],
  });
  const headerLength = base.readUInt32LE(12);
  const meta = JSON.parse(base.toString('utf8', 16, 16 + headerLength));
  const data = base.subarray(align8(16 + headerLength), base.length - 12);
  const weird = [
    -1,
    0,
    1,
    3,
    4,
    8,
    16,
    24,
    2 ** 31,
    2 ** 32,
    2 ** 53,
    1e300,
    0.5,
    '8',
    null,
    true,
    [],
    {},
    'float16',
    'int32',
    'float64',
    'a',
  ];
  const N = 10000;
  const failures: string[] = [];
  const counts = { rejected: 0, accepted: 0 };
  const started = Date.now();
  for (let i = 0; i < N; i++) {
    const kind = i % 8;
    let m: Buffer;
    let forged = false; // the checksum was recomputed, so a successful decode is allowed
    switch (kind) {
      case 0: {
        m = Buffer.from(base);
        for (let k = 1 + int(4); k > 0; k--) m[int(m.length)] ^= 1 << int(8);
        break;
      }
      case 1:
        m = Buffer.from(base.subarray(0, int(base.length)));
        break;
      case 2: {
        const extra = Buffer.alloc(1 + int(64));
        for (let k = 0; k < extra.length; k++) extra[k] = int(256);
        m = Buffer.concat([base, extra]);
        break;
      }
      case 3: {
        m = Buffer.from(base);
        const choices = [int(2 ** 32), headerLength + int(17) - 8, int(base.length * 2), 0xffffffff - int(16)];
        m.writeUInt32LE(choices[int(choices.length)] >>> 0, 12);
        if (r() < 0.5) fixTrailer(m);
        forged = true; // with header length unchanged it is the original
        break;
      }
      case 4: {
        m = Buffer.from(base);
        for (let k = 1 + int(4); k > 0; k--) m[16 + int(m.length - 28)] ^= 1 << int(8);
        fixTrailer(m);
        forged = true;
        break;
      }
      case 5: {
        m = Buffer.from(base);
        const pos = 16 + int(headerLength);
        const junk = '{}[]",:0123456789-.eE ntfa\\';
        for (let k = 1 + int(6); k > 0 && pos + k < 16 + headerLength; k--) m[pos + k] = junk.charCodeAt(int(junk.length));
        fixTrailer(m);
        forged = true;
        break;
      }
      case 6: {
        const copy = structuredClone(meta);
        const desc = copy.arrays[int(copy.arrays.length)];
        const field = ['name', 'dtype', 'offset', 'length'][int(4)];
        desc[field] = weird[int(weird.length)];
        if (r() < 0.2) copy.dataBytes = weird[int(weird.length)];
        m = forge(copy, data);
        forged = true;
        break;
      }
      default: {
        // Random bytes over a random span, sometimes re-checksummed.
        m = Buffer.from(base);
        const pos = int(m.length);
        for (let k = int(16); k > 0 && pos + k < m.length; k--) m[pos + k] = int(256);
        if (r() < 0.5 && m.length >= 28) {
          fixTrailer(m);
          forged = true;
        }
        break;
      }
    }
    try {
      decodeCheckpoint(m, FILE);
      counts.accepted++;
      if (!forged && !m.equals(base)) failures.push(`#${i} kind ${kind}: a mutated file decoded`);
    } catch (err) {
      counts.rejected++;
      const e = err as { code?: unknown; message?: string };
      if (!(err instanceof RnnkitError) || e.code !== 'ERR_CHECKPOINT' || !e.message?.includes(FILE)) {
        failures.push(`#${i} kind ${kind}: ${String(err)}`);
      }
    }
  }
  const elapsed = Date.now() - started;
  t.deepEqual(failures.slice(0, 10), []);
  t.is(counts.accepted + counts.rejected, N);
  t.true(counts.rejected > N / 2, `most mutations should be rejected: ${JSON.stringify(counts)}`);
  t.log(`${N} mutations in ${elapsed} ms: ${JSON.stringify(counts)}`);
});

// ---------------------------------------------------------------------------
// file IO

test('writeCheckpoint / readCheckpoint round trip, replacing an existing file', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'model.rnnkit');
  await writeFile(path, 'old content');
  await writeCheckpoint(path, sample());
  const out = await readCheckpoint(path);
  t.deepEqual(out.header, sample().header);
  out.arrays.forEach((a, i) => t.true(bytesOf(a.data).equals(bytesOf(sample().arrays[i].data))));
  t.true((await readFile(path)).equals(encodeCheckpoint(sample())));
  t.deepEqual(await readdir(dir), ['model.rnnkit']);
});

test('readCheckpoint: a missing file, a directory, a bad file', async (t) => {
  const dir = await tempDir(t);
  const missing = join(dir, 'nope.rnnkit');
  const err = await t.throwsAsync(readCheckpoint(missing), { instanceOf: RnnkitError });
  t.is((err as { code?: unknown }).code, 'ERR_CHECKPOINT');
  t.true(err!.message.includes(missing));
  t.regex(err!.message, /no such file/);
  t.is((err!.cause as NodeJS.ErrnoException).code, 'ENOENT');

  const dirErr = await t.throwsAsync(readCheckpoint(dir), { instanceOf: RnnkitError });
  t.is((dirErr as { code?: unknown }).code, 'ERR_CHECKPOINT');
  t.true(dirErr!.message.includes(dir));

  const foreign = join(dir, 'notes.txt');
  await writeFile(foreign, 'hello');
  const fErr = await t.throwsAsync(readCheckpoint(foreign), { instanceOf: RnnkitError });
  t.true(fErr!.message.includes(foreign));
  t.regex(fErr!.message, /not an rnnkit checkpoint/);
});

test('readCheckpoint / writeCheckpoint validate their arguments', async (t) => {
  await t.throwsAsync(readCheckpoint('' as never), { instanceOf: TypeError, message: /for path but received string ''/ });
  await t.throwsAsync(readCheckpoint(7 as never), { instanceOf: TypeError, message: /for path but/ });
  await t.throwsAsync(writeCheckpoint(undefined as never, sample()), { instanceOf: TypeError, message: /for path but/ });
  await t.throwsAsync(writeCheckpoint('x', { header: { a: NaN }, arrays: [] }), { instanceOf: RangeError });
});

test('writeCheckpoint into a missing directory gives ERR_CHECKPOINT naming the path', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'missing', 'model.rnnkit');
  const err = await t.throwsAsync(writeCheckpoint(path, sample()), { instanceOf: RnnkitError });
  t.is((err as { code?: unknown }).code, 'ERR_CHECKPOINT');
  t.true(err!.message.includes(path));
  t.is((err!.cause as NodeJS.ErrnoException).code, 'ENOENT');
});

test('writeFileAtomic writes and replaces, leaving no temporary files', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'out.bin');
  await writeFileAtomic(path, Buffer.from('first'));
  t.is(await readFile(path, 'utf8'), 'first');
  await writeFileAtomic(path, new Uint8Array([104, 105]));
  t.is(await readFile(path, 'utf8'), 'hi');
  await writeFileAtomic(path, Buffer.alloc(0));
  t.is((await readFile(path)).length, 0);
  t.deepEqual(await readdir(dir), ['out.bin']);
});

test('writeFileAtomic: concurrent writers each leave a complete file', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'race.bin');
  const contents = Array.from({ length: 8 }, (_, i) => Buffer.alloc(64 * 1024, i + 1));
  await Promise.all(contents.map((c) => writeFileAtomic(path, c)));
  const final = await readFile(path);
  t.true(contents.some((c) => c.equals(final)));
  t.deepEqual(await readdir(dir), ['race.bin']);
});

test('writeFileAtomic: when rename fails the target is untouched and the temporary file removed', async (t) => {
  const dir = await tempDir(t);
  const target = join(dir, 'target');
  await mkdir(target);
  await writeFile(join(target, 'keep.txt'), 'kept');
  const err = await t.throwsAsync(writeFileAtomic(target, Buffer.from('new')));
  t.true(err!.message.includes(target), err!.message);
  t.truthy((err as NodeJS.ErrnoException).code);
  t.truthy(err!.cause);
  t.deepEqual(await readdir(dir), ['target']);
  t.is(await readFile(join(target, 'keep.txt'), 'utf8'), 'kept');
});

test('writeFileAtomic: an unwritable directory keeps the old file (skipped as root)', async (t) => {
  if (process.platform === 'win32' || process.getuid?.() === 0) {
    t.pass('root and Windows ignore directory permissions');
    return;
  }
  const dir = await tempDir(t);
  const path = join(dir, 'model.rnnkit');
  await writeFile(path, 'old');
  await chmod(dir, 0o555);
  t.teardown(() => chmod(dir, 0o755));
  const err = await t.throwsAsync(writeFileAtomic(path, Buffer.from('new')));
  t.true(err!.message.includes(path));
  t.is(await readFile(path, 'utf8'), 'old');
  t.deepEqual(await readdir(dir), ['model.rnnkit']);
});

test('writeFileAtomic validates its arguments', async (t) => {
  await t.throwsAsync(writeFileAtomic('' as never, Buffer.alloc(1)), { instanceOf: TypeError, message: /for path but/ });
  await t.throwsAsync(writeFileAtomic(null as never, Buffer.alloc(1)), { instanceOf: TypeError, message: /for path but/ });
  await t.throwsAsync(writeFileAtomic('x', 'text' as never), { instanceOf: TypeError, message: /for data but/ });
});
