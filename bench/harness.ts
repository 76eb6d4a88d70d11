/**
 * The benchmark harness: runs each case in a fresh child process (bench/case.ts
 * for rnnkit, bench/torch_bench.py for PyTorch, bench/sgemm.ts for sgemm),
 * records the machine, versions and build, prints tables and writes JSON to
 * bench/results/.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { cpus, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { native, packageRoot } from '../lib/native.js';
import { CONFIGS, configById, type CaseResult, type CaseSpec, type Config, type Lib, type Mode } from './configs.js';
import { machineBusySeconds } from './proc.js';
import type { SgemmResult } from './sgemm.js';

export const ROOT = packageRoot();
/** Debian's PyTorch is installed for the system Python, which may not be the `python3` on PATH. */
export const PYTHON = process.env.RNNKIT_BENCH_PYTHON ?? '/usr/bin/python3';

/**
 * The environment as the user started the benchmark, taken before this process
 * loaded the addon, so that nothing set since reaches the PyTorch processes (an
 * earlier loader set OPENBLAS_THREAD_TIMEOUT, and torch's OpenBLAS then slept
 * between calls: torch RNN-128 training measured 0.7-0.8x with it). Each library
 * runs with its own defaults.
 */
const USER_ENV: NodeJS.ProcessEnv = { ...process.env };

/** The environment of a PyTorch child: the user's, with passive OpenMP waiting. */
export function torchEnv(): NodeJS.ProcessEnv {
  return { ...USER_ENV, OMP_WAIT_POLICY: 'PASSIVE' };
}
const ADDON = join(ROOT, 'build', 'Release', 'rnnkit.node');

/**
 * Where the child processes run from: a snapshot of lib/, bench/, package.json
 * and the addon binary taken when the run starts (node_modules linked), so a
 * rebuild or an edit during a long run cannot mix two builds into one table.
 * `--no-snapshot` runs the children from the working tree instead.
 */
let runRoot = ROOT;

export function snapshotBuild(enabled = true): string {
  if (!enabled) return ROOT;
  const dir = mkdtempSync(join(tmpdir(), 'rnnkit-bench-'));
  for (const p of ['package.json', 'tsconfig.json', 'lib', 'bench']) {
    if (existsSync(join(ROOT, p)))
      cpSync(join(ROOT, p), join(dir, p), { recursive: true, filter: (src) => !src.includes(join('bench', 'results')) });
  }
  mkdirSync(join(dir, 'build', 'Release'), { recursive: true });
  cpSync(ADDON, join(dir, 'build', 'Release', 'rnnkit.node'));
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  runRoot = dir;
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export interface CaseRecord extends CaseResult {
  /** sha256 (12 hex digits) of the addon binary when the case started, rnnkit only */
  build?: string;
  /** 1-minute load average when the case started */
  load1: number;
  round?: number;
  /** runs of its group (1 = not rerun) and whether other work still disturbed the kept run */
  attempts?: number;
  disturbed?: boolean;
}

/** The case shape the tables report unless a command sets its own: V one-hot tokens, batch B, T time steps. */
export const SHAPE = { V: 64, B: 32, T: 64 } as const;

/** Timing defaults shared by both libraries, so each side gets the same budget. */
export function caseSpec(lib: Lib, mode: Mode, config: Config, over: Partial<CaseSpec> = {}): CaseSpec {
  return {
    lib,
    mode,
    config,
    ...SHAPE,
    warmup: mode === 'sample' ? 1 : 3,
    targetSeconds: 1,
    minSteps: mode === 'sample' ? 3 : 5,
    maxSteps: 40,
    sampleLength: 2000,
    ...over,
  };
}

export function load1(): number {
  return Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
}

/** Cores the rest of the machine keeps busy, sampled from /proc/stat over `ms` while this process sleeps. */
export async function busyCores(ms = 2000): Promise<number> {
  const b0 = machineBusySeconds(),
    t0 = process.hrtime.bigint();
  await sleep(ms);
  return (machineBusySeconds() - b0) / (Number(process.hrtime.bigint() - t0) / 1e9);
}

export interface Quiet {
  /** the rest of the machine's busy cores when the waiting stopped, and the 1-minute load average */
  busyCores: number;
  load1: number;
  waitedSeconds: number;
}

/**
 * Waits (up to maxWaitSeconds) until other processes use at most maxOther
 * cores (load average lags and counts this benchmark's own work, so the
 * check samples /proc/stat instead).
 */
export async function waitForQuiet(maxOther: number, maxWaitSeconds: number): Promise<Quiet> {
  const t0 = Date.now();
  const waited = () => (Date.now() - t0) / 1e3;
  let c = await busyCores();
  while (c > maxOther && waited() < maxWaitSeconds) {
    console.log(`  other work keeps ${c.toFixed(2)} cores busy (> ${maxOther}): waiting (${Math.round(waited())}s of ${maxWaitSeconds}s)`);
    await sleep(8000);
    c = await busyCores();
  }
  if (c > maxOther) console.log(`  WARNING: going on while other work keeps ${c.toFixed(2)} cores busy; figures will be low and noisy`);
  return { busyCores: c, load1: load1(), waitedSeconds: waited() };
}

/** parseArgs options every bench command takes: the busy-machine guard, markdown output, snapshots. */
export const COMMON_OPTIONS = {
  /** a case is rerun when other processes used more cores than this during its timed steps */
  'max-other': { type: 'string', default: '0.25' },
  retries: { type: 'string', default: '3' },
  /** seconds to wait for quiet before a (re)run */
  'max-wait': { type: 'string', default: '120' },
  markdown: { type: 'boolean', default: false },
  /** run the children from the working tree instead of a snapshot of lib/, bench/ and the addon */
  'no-snapshot': { type: 'boolean', default: false },
} as const;

export interface GuardOptions {
  /** a group is disturbed when another process used more than this many cores during one of its timed parts */
  maxOther: number;
  /** reruns of a disturbed group (after waiting for quiet) */
  retries: number;
  maxWaitSeconds: number;
}

export function guardOptions(args: { 'max-other'?: string; retries?: string; 'max-wait'?: string }): GuardOptions {
  return {
    maxOther: Number(args['max-other'] ?? 0.25),
    retries: Number(args.retries ?? 3),
    maxWaitSeconds: Number(args['max-wait'] ?? 120),
  };
}

/** `--configs` and `--modes` of the commands that measure every configuration in every mode by default (`matrix` reads them). */
export const MATRIX_OPTIONS = {
  configs: { type: 'string', default: CONFIGS.map((c) => c.id).join(',') },
  modes: { type: 'string', default: 'train,forward,sample' },
} as const;

export function matrix(args: { configs: string; modes: string }): { configs: Config[]; modes: Mode[] } {
  return { configs: list(args.configs).map(configById), modes: list(args.modes) as Mode[] };
}

/** Parses a bench command's own options and COMMON_OPTIONS (an unknown option throws). */
export function parseBenchArgs<const O extends NonNullable<ParseArgsConfig['options']>>(
  options: O,
): ReturnType<typeof parseArgs<{ options: O & typeof COMMON_OPTIONS }>>['values'] {
  return parseArgs({ options: { ...options, ...COMMON_OPTIONS } }).values;
}

/**
 * The start every bench command makes before its cases: snapshots the build
 * (unless --no-snapshot), checks PyTorch when `torch` is set (exits with the
 * setup instructions when it is not usable), records the environment, waits
 * for a quiet machine as the guard options say and prints the environment.
 * Returns the environment record (for the JSON) and the guard.
 */
export async function startRun(
  args: { 'no-snapshot'?: boolean } & Parameters<typeof guardOptions>[0],
  { torch = false } = {},
): Promise<{ env: Record<string, unknown>; guard: GuardOptions }> {
  snapshotBuild(!args['no-snapshot']);
  const torchInfo = torch ? await torchVersions() : undefined;
  const env = environment();
  if (torchInfo) env.torch = torchInfo;
  const guard = guardOptions(args);
  env.quiet = await waitForQuiet(guard.maxOther, guard.maxWaitSeconds);
  printEnvironment(env);
  return { env, guard };
}

/**
 * Runs a group of cases one after another (e.g. the rnnkit and PyTorch
 * processes of one interleaved round); when other work disturbed any of
 * them, waits for quiet and reruns the whole group, up to `retries` times.
 * The last attempt is kept, marked `disturbed` if it still was.
 */
export async function runGroup(
  specs: CaseSpec[],
  guard: GuardOptions,
  log: (r: CaseRecord) => void,
  env?: NodeJS.ProcessEnv,
): Promise<CaseRecord[]> {
  for (let attempt = 0; ; attempt++) {
    const group: CaseRecord[] = [];
    for (const spec of specs) {
      const r = await runCase(spec, env);
      log(r);
      group.push(r);
    }
    const worst = Math.max(...group.map((r) => r.otherCores));
    if (worst <= guard.maxOther || attempt >= guard.retries) {
      return group.map((r) => ({ ...r, attempts: attempt + 1, disturbed: worst > guard.maxOther }));
    }
    console.log(
      `  disturbed: other work used ${worst.toFixed(2)} cores; waiting for quiet, then rerunning (attempt ${attempt + 2} of ${guard.retries + 1})`,
    );
    await waitForQuiet(guard.maxOther, guard.maxWaitSeconds);
  }
}

export function addonHash(file = join(runRoot, 'build', 'Release', 'rnnkit.node')): string {
  return existsSync(file) ? createHash('sha256').update(readFileSync(file)).digest('hex').slice(0, 12) : 'missing';
}

function runChild(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: runRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '',
      err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const line = out.split('\n').find((l) => l.startsWith('RESULT '));
      if (code === 0 && line) resolve(line.slice(7));
      else reject(new Error(`${cmd} ${args.slice(0, 2).join(' ')} ... exited with ${code}\n${err.trim()}`));
    });
  });
}

/** Runs one case in a fresh process of its library; `env` replaces an rnnkit child's environment (default: this process's). */
export async function runCase(spec: CaseSpec, env: NodeJS.ProcessEnv = process.env): Promise<CaseRecord> {
  const load = load1();
  if (spec.lib === 'torch') {
    const out = await runChild(PYTHON, [join('bench', 'torch_bench.py'), JSON.stringify(spec)], torchEnv());
    return { ...(JSON.parse(out) as CaseResult), load1: load };
  }
  const build = addonHash();
  const out = await runChild(process.execPath, ['--import=tsx', join('bench', 'case.ts'), JSON.stringify(spec)], env);
  return { ...(JSON.parse(out) as CaseResult), build, load1: load };
}

/** sgemm GFLOP/s through the addon, in a fresh process, with the given OpenBLAS thread count (undefined = default). */
export async function runSgemm(sizes: number[], threads?: number, calls = 7): Promise<SgemmResult> {
  const env = { ...process.env };
  if (threads !== undefined) env.OPENBLAS_NUM_THREADS = String(threads);
  else delete env.OPENBLAS_NUM_THREADS;
  return JSON.parse(
    await runChild(process.execPath, ['--import=tsx', join('bench', 'sgemm.ts'), JSON.stringify({ sizes, calls })], env),
  ) as SgemmResult;
}

/**
 * The GEMM bound of a run: sgemm is measured again after the cases (once the
 * machine is quiet), and the bound is the best large-square (n = 1024, 2048)
 * figure of `before` and of that run, the strictest bound.
 */
export async function gemmBound(before: SgemmResult, guard: GuardOptions): Promise<{ after: SgemmResult; boundGflops: number }> {
  await waitForQuiet(guard.maxOther, guard.maxWaitSeconds);
  const after = await runSgemm([1024, 2048]);
  return { after, boundGflops: Math.max(...[before, after].flatMap((s) => [s.gflops[1024]!, s.gflops[2048]!])) };
}

/** Checks that PyTorch imports for PYTHON; exits with the setup instructions when it does not. */
export async function torchVersions(): Promise<Record<string, string | number>> {
  try {
    return JSON.parse(await runChild(PYTHON, [join('bench', 'torch_bench.py'), '--check'], torchEnv())) as Record<string, string | number>;
  } catch (err) {
    console.error(
      `PyTorch is not usable with ${PYTHON}:\n${err instanceof Error ? err.message : String(err)}\n\n` +
        'Setup (Debian 12): sudo apt-get install -y python3-torch\n' +
        'or point RNNKIT_BENCH_PYTHON at a Python that has torch (see docs/benchmarks.md).',
    );
    process.exit(3);
  }
}

function sh(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { cwd: ROOT, encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : '';
}

/** Date, machine, OS, versions and the build the run measures. */
export function environment(): Record<string, unknown> {
  const info = native().info();
  const os = /PRETTY_NAME="([^"]+)"/.exec(existsSync('/etc/os-release') ? readFileSync('/etc/os-release', 'utf8') : '')?.[1] ?? '?';
  const dirty = sh('git', ['status', '--short', 'native', 'binding', 'lib']);
  return {
    date: new Date().toISOString(),
    cpu: cpus()[0]?.model ?? '?',
    cores: cpus().length,
    memoryGiB: +(totalmem() / 2 ** 30).toFixed(1),
    os,
    kernel: release(),
    node: process.version,
    rnnkit: info.version,
    blas: info.blas,
    blasThreads: info.threads,
    openblasPackage: sh('dpkg-query', ['-W', '-f=${Version}', 'libopenblas0-pthread']) || '?',
    commit: sh('git', ['rev-parse', '--short', 'HEAD']) || '?',
    uncommitted: dirty ? dirty.split('\n') : [],
    addon: { sha256: addonHash(), mtime: existsSync(ADDON) ? statSync(ADDON).mtime.toISOString() : null, snapshot: runRoot !== ROOT },
    loadAverage: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).map(Number),
  };
}

/* eslint-disable @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-call -- env is the untyped environment record */
export function printEnvironment(env: Record<string, unknown>): void {
  const e = env as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  console.log(`${e.date} | ${e.cpu} x${e.cores}, ${e.memoryGiB} GiB | ${e.os}, Linux ${e.kernel} | node ${e.node}`);
  console.log(
    `rnnkit ${e.rnnkit} @ ${e.commit}${e.uncommitted.length ? ` + uncommitted changes in native/binding/lib (${e.uncommitted.length} files)` : ''} | addon ${e.addon.sha256}${e.addon.snapshot ? ' (snapshot)' : ''} | ${e.blas} (${e.openblasPackage}), ${e.blasThreads} threads`,
  );
  if (e.torch)
    console.log(
      `torch ${e.torch.torch} (python ${e.torch.python}), ${e.torch.threads} threads, OMP_WAIT_POLICY=${e.torch.OMP_WAIT_POLICY}`,
    );
  console.log(
    `load average at start: ${e.loadAverage.join(' ')}${e.quiet ? `; other work at start: ${e.quiet.busyCores.toFixed(2)} cores` : ''}`,
  );
}
/* eslint-enable @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-call */

/** Warns when the addon binary changed during the run (someone rebuilt it): the figures mix two builds. */
export function checkBuilds(records: CaseRecord[]): string[] {
  const builds = [...new Set(records.filter((r) => r.build).map((r) => r.build!))];
  if (builds.length > 1)
    console.log(`WARNING: the addon was rebuilt during the run; cases measured ${builds.length} builds: ${builds.join(', ')}`);
  return builds;
}

/** util.parseArgs string options from their defaults (the benchmarks' flags): `{ rounds: '7' }`. */
export function stringOptions<K extends string>(defaults: Record<K, string>): Record<K, { type: 'string'; default: string }> {
  const out = {} as Record<K, { type: 'string'; default: string }>;
  for (const k of Object.keys(defaults) as K[]) out[k] = { type: 'string', default: defaults[k] };
  return out;
}

/** Prints rows as an aligned text table (numbers right-aligned). */
export function printTable(headers: string[], rows: (string | number)[][]): void {
  const cells = rows.map((r) => r.map((c) => String(c)));
  const w = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ');
  console.log(line(headers));
  console.log(w.map((n) => '-'.repeat(n)).join('  '));
  for (const r of cells) console.log(line(r));
}

/** Prints a command's results table, and the same rows again as Markdown with `--markdown`. */
export function printResults(headers: string[], rows: (string | number)[][], markdown: boolean): void {
  printTable(headers, rows);
  if (markdown) console.log('\n' + markdownTable(headers, rows));
}

/** Prints rows as a Markdown table, for pasting into docs/benchmarks.md. */
export function markdownTable(headers: string[], rows: (string | number)[][]): string {
  const out = [`| ${headers.join(' | ')} |`, `|${headers.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`];
  for (const r of rows) out.push(`| ${r.join(' | ')} |`);
  return out.join('\n');
}

export function writeResults(name: string, data: unknown): string {
  const dir = join(ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}-${new Date().toISOString().slice(0, 19).replace(/[:T]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify(data, null, 2) + '\n');
  return file;
}

export const fmt = {
  int: (x: number) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '-'),
  mb: (bytes: number) => (Number.isFinite(bytes) ? (bytes / 2 ** 20).toFixed(0) : '-'),
  pct: (x: number) => (Number.isFinite(x) ? `${(x * 100).toFixed(0)}%` : '-'),
  x: (x: number) => (Number.isFinite(x) ? `${x.toFixed(2)}x` : '-'),
  f1: (x: number) => (Number.isFinite(x) ? x.toFixed(1) : '-'),
};

/** Parses a comma-separated list option. */
export function list(s: string): string[] {
  return s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);
}
