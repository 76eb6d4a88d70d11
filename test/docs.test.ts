/**
 * The docs stay true to the code:
 * - every runtime export of lib/index.ts has a `###` heading in docs/api.md,
 *   and every heading there names something that exists (or is pending);
 * - every public method of Model and Seq2Seq has a heading, and the
 *   tokenizers' members, the layer builders, the models' properties and every
 *   RnnkitError code are documented;
 * - code blocks marked runnable (info string "ts runnable") in README.md,
 *   docs/api.md and docs/course-guide.md run (each block as its own module,
 *   importing 'rnnkit' from lib/) and type-check; the README quick start runs
 *   in its own child process, time-bounded;
 * - local links and #anchors in those files resolve.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as rnnkit from '../lib/index.js';

const run = promisify(execFile);

/** The package root: the nearest directory above this file with a package.json. */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('package.json not found above test/');
    dir = up;
  }
  return dir;
}
const root = packageRoot();
const read = (file: string) => readFileSync(join(root, file), 'utf8');

/** Exports and members other branches are adding, documented ahead of them (none now: list names here only while their branch is open). */
const PENDING_EXPORTS: readonly string[] = [];
const PENDING_MODEL_METHODS: readonly string[] = [];
/** Files linked ahead of their branches (none now). */
const PENDING_FILES: readonly string[] = [];
/** Members of the tokenizers that are protected (not public API). */
const PROTECTED = new Set(['split', 'join']);
/** Files whose runnable blocks are run. */
const DOCS = ['README.md', 'docs/api.md', 'docs/course-guide.md'];

interface Block {
  file: string;
  /** 1-based line of the opening fence */
  line: number;
  lang: string;
  meta: string[];
  code: string;
  /** the nearest heading above the block */
  heading: string;
}

function codeBlocks(file: string): Block[] {
  const lines = read(file).split('\n');
  const out: Block[] = [];
  let heading = '';
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S*)\s*(.*)$/.exec(lines[i]!);
    if (!open) {
      if (/^#{1,6} /.test(lines[i]!)) heading = lines[i]!;
      continue;
    }
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i]!); i++) body.push(lines[i]!);
    out.push({ file, line: start + 1, lang: open[1]!, meta: open[2]!.split(/\s+/).filter(Boolean), code: body.join('\n'), heading });
  }
  return out;
}

const isRunnable = (b: Block) => (b.lang === 'ts' || b.lang === 'typescript') && b.meta.includes('runnable');

/** Headings outside code blocks, as [level, text]. */
function headings(file: string): { level: number; text: string }[] {
  const text = read(file).replace(/^```[\s\S]*?^```\s*$/gm, '');
  return [...text.matchAll(/^(#{1,6}) (.+)$/gm)].map((m) => ({ level: m[1]!.length, text: m[2]!.trim() }));
}

/** GitHub's heading anchor: lowercase, punctuation dropped, spaces to '-'. */
function slug(heading: string): string {
  return heading
    .replace(/`/g, '')
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
    .replace(/ /g, '-');
}

function anchors(file: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const h of headings(file)) {
    const base = slug(h.text);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const apiHeadings = () =>
  headings('docs/api.md')
    .filter((h) => h.level === 3)
    .map((h) => h.text);
/** A `###` heading whose code spans name `name` (e.g. `layers.lstm(options)` names `layers` and `layers.lstm`). */
const hasHeading = (name: string) => apiHeadings().some((h) => new RegExp('`(?:new\\s+)?' + escape(name) + '(?![\\w$])').test(h));

function ownNames(obj: object): string[] {
  return Object.getOwnPropertyNames(obj).filter((n) => !['constructor', 'length', 'name', 'prototype'].includes(n) && !n.startsWith('#'));
}

test('every runtime export of lib/index.ts has a ### heading in docs/api.md', (t) => {
  const exports = Object.keys(rnnkit);
  t.true(exports.length > 20, `only ${exports.length} exports found`);
  const missing = [...exports, ...PENDING_EXPORTS].filter((name) => !hasHeading(name));
  t.deepEqual(missing, [], `exports without a ### heading in docs/api.md: ${missing.join(', ')}`);
});

test('every ### heading of docs/api.md names an export, a pending export or a member that exists', (t) => {
  const exports = new Set([...Object.keys(rnnkit), ...PENDING_EXPORTS]);
  const members: Record<string, Set<string>> = {
    model: new Set([...ownNames(rnnkit.Model.prototype), ...PENDING_MODEL_METHODS]),
    m: new Set(ownNames(rnnkit.Seq2Seq.prototype)),
    Model: new Set(ownNames(rnnkit.Model)),
    Seq2Seq: new Set(ownNames(rnnkit.Seq2Seq)),
    CharTokenizer: new Set(ownNames(rnnkit.CharTokenizer)),
    WordTokenizer: new Set(ownNames(rnnkit.WordTokenizer)),
    layers: new Set(Object.keys(rnnkit.layers)),
  };
  const wrong: string[] = [];
  for (const h of apiHeadings()) {
    for (const span of h.matchAll(/`(?:new\s+)?([A-Za-z_$][\w$]*)(?:\.([A-Za-z_$][\w$]*))?/g)) {
      const [, head, member] = span as unknown as [string, string, string | undefined];
      if (member === undefined) {
        if (!exports.has(head)) wrong.push(`${h}: '${head}' is not exported`);
      } else if (!members[head]?.has(member)) {
        wrong.push(`${h}: '${head}.${member}' does not exist`);
      }
    }
  }
  t.deepEqual(wrong, []);
});

test('every public method of Model and Seq2Seq has a ### heading; their properties are documented', (t) => {
  const api = read('docs/api.md');
  const missing: string[] = [];
  for (const name of [...ownNames(rnnkit.Model.prototype), ...PENDING_MODEL_METHODS])
    if (!hasHeading(`model.${name}`)) missing.push(`model.${name}`);
  for (const name of ownNames(rnnkit.Model)) if (!hasHeading(`Model.${name}`)) missing.push(`Model.${name}`);
  for (const name of ownNames(rnnkit.Seq2Seq.prototype)) if (!hasHeading(`m.${name}`)) missing.push(`m.${name}`);
  for (const name of ownNames(rnnkit.Seq2Seq)) if (!hasHeading(`Seq2Seq.${name}`)) missing.push(`Seq2Seq.${name}`);
  const model = rnnkit.sequential({
    input: { vocabSize: 5 },
    layers: [rnnkit.layers.gru({ units: 2 }), rnnkit.layers.dense({ units: 5 })],
  });
  const s2s = rnnkit.seq2seq({
    sourceVocab: 5,
    targetVocab: 5,
    bos: 2,
    eos: 3,
    encoder: [rnnkit.layers.gru({ units: 2 })],
    decoder: [rnnkit.layers.gru({ units: 2 })],
  });
  try {
    for (const name of Object.keys(model)) if (!api.includes(`\`model.${name}\``)) missing.push(`model.${name} (property)`);
    for (const name of Object.keys(s2s)) if (!new RegExp('`m\\.' + name + '`').test(api)) missing.push(`m.${name} (property)`);
  } finally {
    model.dispose();
    s2s.dispose();
  }
  t.deepEqual(missing, [], `undocumented: ${missing.join(', ')}`);
});

test('every layer builder and every public tokenizer member is documented in docs/api.md', (t) => {
  const api = read('docs/api.md');
  const missing: string[] = [];
  for (const name of Object.keys(rnnkit.layers)) if (!hasHeading(`layers.${name}`)) missing.push(`layers.${name}`);
  const tok = rnnkit.CharTokenizer.fromText('ab');
  const members = new Set([
    ...Object.keys(tok),
    ...ownNames(rnnkit.Tokenizer.prototype),
    ...ownNames(rnnkit.CharTokenizer.prototype),
    ...ownNames(rnnkit.WordTokenizer.prototype),
  ]);
  for (const name of members) if (!PROTECTED.has(name) && !api.includes(`tok.${name}`)) missing.push(`tok.${name}`);
  for (const [cls, ctor] of [
    ['CharTokenizer', rnnkit.CharTokenizer],
    ['WordTokenizer', rnnkit.WordTokenizer],
  ] as const) {
    for (const name of ownNames(ctor)) if (!hasHeading(`${cls}.${name}`)) missing.push(`${cls}.${name}`);
  }
  t.deepEqual(missing, [], `undocumented: ${missing.join(', ')}`);
});

test('every RnnkitError code is listed in the Errors section of docs/api.md', (t) => {
  const union = /export type RnnkitErrorCode =([^;]+);/.exec(read('lib/errors.ts'));
  t.truthy(union, 'RnnkitErrorCode not found in lib/errors.ts');
  const codes = [...union![1]!.matchAll(/'(ERR_\w+)'/g)].map((m) => m[1]!);
  t.true(codes.length >= 5);
  const api = read('docs/api.md');
  const section = api.slice(api.indexOf('\n## Errors'), api.indexOf('\n## ', api.indexOf('\n## Errors') + 1));
  const missing = codes.filter((code) => !section.includes(`| \`${code}\` |`));
  t.deepEqual(missing, [], `codes without a row in the errors table: ${missing.join(', ')}`);
});

test('local links and #anchors in the docs resolve', (t) => {
  const broken: string[] = [];
  for (const file of [...DOCS, 'CHANGELOG.md']) {
    const text = read(file).replace(/^```[\s\S]*?^```\s*$/gm, '');
    for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = m[1]!;
      if (/^[a-z]+:/i.test(target)) continue; // http(s):, mailto:
      const [path, anchor] = target.split('#') as [string, string | undefined];
      const resolved = path === '' ? file : join(dirname(file), path).replace(/\\/g, '/');
      if (path !== '' && !existsSync(join(root, resolved))) {
        if (!PENDING_FILES.includes(resolved)) broken.push(`${file}: ${target} (no such file)`);
        continue;
      }
      if (anchor !== undefined && resolved.endsWith('.md') && !anchors(resolved).has(anchor)) {
        broken.push(`${file}: ${target} (no such heading)`);
      }
    }
  }
  t.deepEqual(broken, []);
});

/** A scratch directory inside the package (so bare imports resolve through its node_modules). */
function scratch(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(root, '.docs-test-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The block as a module of a scratch directory, importing 'rnnkit' from lib/. */
function asModule(block: Block): string {
  return `// ${block.file}:${block.line}\n` + block.code.replace(/from\s+(['"])rnnkit\1/g, "from '../lib/index.js'") + '\nexport {};\n';
}

const tsx = import.meta.resolve('tsx');

const quickStart = () => codeBlocks('README.md').find((b) => isRunnable(b) && /^## Quick start/i.test(b.heading));

test('the README quick start trains, samples and saves a model (its own process, time-bounded)', async (t) => {
  t.timeout(120_000);
  const block = quickStart();
  t.truthy(block, 'README.md has no "ts runnable" block under "## Quick start"');
  const lines = block!.code.split('\n').filter((l) => l.trim() !== '');
  t.true(lines.length <= 22, `the quick start has ${lines.length} lines`);
  const dir = scratch(t);
  writeFileSync(join(dir, 'quickstart.ts'), asModule(block!));
  const { stdout } = await run(process.execPath, ['--import', tsx, 'quickstart.ts'], {
    cwd: dir,
    timeout: 90_000,
    env: { ...process.env, NO_COLOR: '1' },
  });
  t.true(stdout.trim().length > 0, 'the quick start printed nothing');
  t.true(
    readdirSync(dir).some((f) => f.endsWith('.rnnkit')),
    `no model file written; stdout:\n${stdout}`,
  );
});

const MARK = '@@rnnkit-docs-test@@';
const RUNNER = `
const files = JSON.parse(process.argv[2]);
for (const file of files) {
  try {
    await import(new URL(file, 'file://' + process.cwd() + '/').href);
    console.log('${MARK}' + JSON.stringify({ file, ok: true }));
  } catch (err) {
    console.log('${MARK}' + JSON.stringify({ file, ok: false, error: String(err && err.stack || err) }));
  }
}
process.exit(0);
`;

/** Runs blocks in one child process, each as its own module, in order; returns the failures. */
async function runBlocks(t: { teardown(fn: () => void): void }, blocks: Block[]): Promise<string[]> {
  const dir = scratch(t);
  const files = blocks.map((b, i) => {
    const name = `block-${String(i).padStart(3, '0')}.ts`;
    writeFileSync(join(dir, name), asModule(b));
    return name;
  });
  writeFileSync(join(dir, 'runner.mjs'), RUNNER);
  const { stdout } = await run(process.execPath, ['--import', tsx, 'runner.mjs', JSON.stringify(files)], {
    cwd: dir,
    timeout: 150_000,
    maxBuffer: 16 << 20,
    env: { ...process.env, NO_COLOR: '1' },
  });
  const results = new Map<string, { ok: boolean; error?: string }>();
  for (const line of stdout.split('\n'))
    if (line.startsWith(MARK)) {
      const r = JSON.parse(line.slice(MARK.length));
      results.set(r.file, r);
    }
  return blocks.flatMap((b, i) => {
    const r = results.get(files[i]!);
    if (r?.ok) return [];
    return [`${b.file}:${b.line} (${b.heading}): ${r ? r.error : 'did not finish (the runner stopped)'}`];
  });
}

for (const file of DOCS) {
  test(`the runnable code blocks of ${file} run`, async (t) => {
    t.timeout(180_000);
    const qs = quickStart();
    const blocks = codeBlocks(file).filter((b) => isRunnable(b) && !(qs && b.file === qs.file && b.line === qs.line));
    if (file === 'docs/api.md') t.true(blocks.length >= 40, `only ${blocks.length} runnable blocks in docs/api.md`);
    if (blocks.length === 0) return t.pass();
    const failures = await runBlocks(t, blocks);
    t.deepEqual(failures, [], failures.join('\n\n'));
  });
}

test('the runnable code blocks type-check (tsc, strict)', async (t) => {
  t.timeout(180_000);
  const blocks = DOCS.flatMap(codeBlocks).filter(isRunnable);
  const dir = scratch(t);
  const names = blocks.map((b, i) => {
    const name = `block-${String(i).padStart(3, '0')}.ts`;
    writeFileSync(join(dir, name), asModule(b));
    return name;
  });
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      extends: '../tsconfig.json',
      compilerOptions: { noEmit: true, rootDir: '..', noUnusedLocals: false },
      include: ['*.ts'],
    }),
  );
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  try {
    await run(process.execPath, [tsc, '-p', join(dir, 'tsconfig.json'), '--pretty', 'false'], {
      cwd: dir,
      timeout: 150_000,
      maxBuffer: 16 << 20,
    });
    t.pass();
  } catch (err) {
    const out = String((err as { stdout?: string }).stdout ?? err);
    // point each error at the doc line: block-NNN.ts(line,col) -> file:line
    const mapped = out.replace(/block-(\d+)\.ts\((\d+),(\d+)\)/g, (_, i: string, l: string) => {
      const b = blocks[Number(i)]!;
      return `${b.file}:${b.line + Number(l) - 1}`;
    });
    t.fail(`runnable blocks do not type-check:\n${mapped}\n(${names.length} blocks)`);
  }
});
