// The setup step, scripts/setup.mjs (npm's pretest / predemo hooks and `npm run setup`).
//
// Most tests run a copy of the step in a throw-away tree that looks like a clone (lib/,
// native/, binding/, CMakeLists.txt, package.json, tsconfig.json) or like an installed package
// (no lib/, a prebuild), with PATH holding only fake `npm`, `dpkg-query`, `apt-get`, `sudo`,
// `cmake` and `c++` programs. They record every call and act on a JSON state file (which
// packages are installed, whether sudo asks for a password, whether apt or a build fails),
// so the apt paths are proven without touching this machine's packages. The non-root paths
// run the step as user nobody (setpriv) when the tests run as root.
import test from 'ava';
import { execFile } from 'node:child_process';
import {
  chownSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const STEP = join(ROOT, 'scripts', 'setup.mjs');
const NOBODY = 65534;
const isRoot = process.getuid?.() === 0;
const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));

/** What the fakes read (FAKE_STATE) and change (apt-get install adds to `installed`). */
interface FakeState {
  /** packages dpkg-query reports as installed */
  installed: string[];
  /** sudo exists in the fake PATH; 'password' makes `sudo -n true` fail */
  sudo?: 'passwordless' | 'password';
  aptFails?: boolean;
  /** the npm script that fails, with a CMake-like error ('*': every one, before touching anything) */
  buildFails?: string;
  /** npm leaves the artifact alone when it exists (cmake-js when only a test source changed) */
  noRelink?: boolean;
  /** no dpkg-query in PATH (not Debian); `tools` then says which of cmake / c++ exist */
  noDpkg?: boolean;
  tools?: string[];
}

interface Call {
  cmd: string;
  args: string[];
  uid: number;
}

// One program behind every fake command, dispatching on its file name.
const FAKE = `
import { appendFileSync, mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { basename, dirname } from 'node:path';
const state = JSON.parse(readFileSync(process.env.FAKE_STATE, 'utf8'));
const save = () => writeFileSync(process.env.FAKE_STATE, JSON.stringify(state));
let cmd = basename(process.argv[1]);
let args = process.argv.slice(2);
appendFileSync(process.env.FAKE_LOG, JSON.stringify({ cmd, args, uid: process.getuid() }) + '\\n');
if (cmd === 'sudo') {
  if (args[0] !== '-n') process.exit(2);
  if (state.sudo !== 'passwordless') { console.error('sudo: a password is required'); process.exit(1); }
  args = args.slice(1);
  cmd = args.shift();
  if (cmd === 'true') process.exit(0);
}
const touch = (file) => {
  if (state.noRelink && existsSync(file)) return;
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, 'built');
};
switch (cmd) {
  case 'dpkg-query': {
    const pkgs = args.filter((a) => !a.startsWith('-'));
    let code = 0;
    for (const p of pkgs) {
      if (state.installed.includes(p)) console.log(p + ' installed');
      else { console.error('dpkg-query: no packages found matching ' + p); code = 1; }
    }
    process.exit(code);
  }
  case 'apt-get':
    if (state.aptFails) { console.error('E: Unable to locate package'); process.exit(100); }
    if (args[0] === 'install') { state.installed.push(...args.slice(1).filter((a) => !a.startsWith('-'))); save(); }
    process.exit(0);
  case 'npm': {
    const script = args[args.length - 1];
    if (state.buildFails === script || state.buildFails === '*') { console.log('CMake Error at CMakeLists.txt:22 (find_package):'); console.log('  Could NOT find BLAS'); process.exit(1); }
    if (script === 'build:native') touch('build/Release/rnnkit.node');
    else if (script === 'build:ts') touch('dist/index.js');
    else process.exit(3);
    process.exit(0);
  }
  default:
    process.exit(0); // cmake, c++: present
}
`;

interface Tree {
  dir: string;
  state: string;
  log: string;
  bin: string;
  /** TMPDIR of the step (its command log goes there) */
  tmp: string;
}

/** A clone-like (or, with installed, package-like) tree with its fakes; sources dated an hour ago. */
function makeTree(t: { teardown: (fn: () => void) => void }, state: FakeState, installed = false): Tree {
  const dir = mkdtempSync(join(tmpdir(), 'rnnkit-setup-test-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const files: Record<string, string> = {
    'package.json': '{ "name": "rnnkit", "version": "0.0.0" }\n',
    'CMakeLists.txt': 'project(rnnkit)\n',
    'native/model.cc': '// core\n',
    'native/tests/core_tests.cc': '// core tests\n',
    'binding/addon.cc': '// binding\n',
    ...(installed ? {} : { 'lib/index.ts': 'export {};\n', 'tsconfig.json': '{}\n' }),
  };
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, rel)), { recursive: true });
    writeFileSync(join(dir, rel), text);
  }
  mkdirSync(join(dir, 'scripts'));
  copyFileSync(STEP, join(dir, 'scripts', 'setup.mjs'));
  const hourAgo = Date.now() / 1000 - 3600;
  for (const rel of ['', ...readdirSync(dir, { recursive: true }).map(String)]) utimesSync(join(dir, rel), hourAgo, hourAgo);

  const bin = join(dir, '.fake-bin');
  mkdirSync(bin);
  const commands = ['npm', 'apt-get'];
  if (!state.noDpkg) commands.push('dpkg-query');
  if (state.sudo) commands.push('sudo');
  commands.push(...(state.tools ?? ['cmake', 'c++']));
  for (const cmd of commands) writeFileSync(join(bin, cmd), `#!${process.execPath}\n${FAKE}`, { mode: 0o755 });
  const tree = { dir, state: join(dir, '.fake-state.json'), log: join(dir, '.fake-calls.log'), bin, tmp: join(dir, '.tmp') };
  mkdirSync(tree.tmp);
  writeFileSync(tree.state, JSON.stringify(state));
  writeFileSync(tree.log, '');
  // user nobody must be able to write the tree (the step builds and stamps there)
  for (const rel of ['', ...readdirSync(dir, { recursive: true }).map(String)]) chownSync(join(dir, rel), NOBODY, NOBODY);
  return tree;
}

interface StepRun {
  code: number;
  stdout: string;
  stderr: string;
  calls: Call[];
}

/** Runs the tree's step (as nobody with asNobody) with PATH = the fakes only; returns what it printed and called. */
function step(
  tree: Tree,
  { asNobody = false, args = [] as string[], script = join(tree.dir, 'scripts', 'setup.mjs'), cwd = tree.dir } = {},
): Promise<StepRun> {
  writeFileSync(tree.log, '');
  const node = [process.execPath, script, ...args];
  const argv = asNobody && isRoot ? [SETPRIV!, `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', '--', ...node] : node;
  const env = { PATH: tree.bin, FAKE_STATE: tree.state, FAKE_LOG: tree.log, TMPDIR: tree.tmp };
  return new Promise((resolve) => {
    execFile(argv[0]!, argv.slice(1), { env, cwd, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      const calls = readFileSync(tree.log, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as Call);
      resolve({ code, stdout, stderr, calls });
    });
  });
}

const commandLines = (run: StepRun) => run.calls.map((c) => [c.cmd, ...c.args].join(' '));
const stateOf = (tree: Tree) => JSON.parse(readFileSync(tree.state, 'utf8')) as FakeState;
/** Sets the mtime of a path in the tree to now + secondsFromNow. */
const dated = (tree: Tree, rel: string, secondsFromNow: number) => {
  const t = Date.now() / 1000 + secondsFromNow;
  utimesSync(join(tree.dir, rel), t, t);
};

const ALL = ['libopenblas-dev', 'cmake', 'g++', 'make'];
// Serial: each test starts a few Node processes, and in parallel they would crowd the timing-
// sensitive tests of other files (concurrency.test.ts measures event-loop lag) on a small machine.
const serial = test.serial;
const rootOnly = isRoot ? serial : serial.skip;
const nobodyOk = !isRoot || SETPRIV !== undefined ? serial : serial.skip;

serial('a fresh clone: builds the addon then the TypeScript, prints one line; the second run does nothing', async (t) => {
  const tree = makeTree(t, { installed: ALL });
  const first = await step(tree);
  t.is(first.code, 0, first.stderr);
  t.is(first.stderr, '');
  t.regex(
    first.stdout,
    /^rnnkit setup: built the native addon \(build\/Release\/rnnkit\.node missing\); built the TypeScript \(dist\/index\.js missing\), in \d+\.\d\d s\n$/,
  );
  t.deepEqual(commandLines(first), [
    `dpkg-query -W -f=\${Package} \${db:Status-Status}\n ${ALL.join(' ')}`,
    'npm run --silent build:native',
    'npm run --silent build:ts',
  ]);
  t.true(existsSync(join(tree.dir, 'build', 'Release', 'rnnkit.node')));

  const second = await step(tree);
  t.is(second.code, 0, second.stderr);
  t.regex(
    second.stdout,
    /^rnnkit setup: up to date \(build\/Release\/rnnkit\.node and dist\/index\.js newer than their sources\), in \d+\.\d\d s\n$/,
  );
  t.deepEqual(second.calls, [], 'a warm run starts no program (no npm, no dpkg-query)');
  t.deepEqual(readdirSync(tree.tmp), [], 'the log of a successful run is removed');
});

serial(
  'rebuilds only what is older than its sources: lib/ -> TypeScript; native/, binding/, CMakeLists.txt, package.json -> addon',
  async (t) => {
    const tree = makeTree(t, { installed: ALL });
    t.is((await step(tree)).code, 0);
    let ahead = 10;
    for (const [rel, script] of [
      ['lib/index.ts', 'build:ts'],
      ['tsconfig.json', 'build:ts'],
      ['native/model.cc', 'build:native'],
      ['binding/addon.cc', 'build:native'],
      ['CMakeLists.txt', 'build:native'],
      ['package.json', 'build:native'],
    ] as const) {
      dated(tree, rel, (ahead += 10));
      const run = await step(tree);
      t.is(run.code, 0, run.stderr);
      t.deepEqual(
        run.calls.filter((c) => c.cmd === 'npm').map((c) => c.args.at(-1)),
        [script],
        `${rel} changed`,
      );
      t.true(run.stdout.includes(`(${rel} changed)`), run.stdout);
      // the artifact now has a future source: bring it level so the next case starts clean
      const artifact = script === 'build:ts' ? 'dist/index.js' : 'build/Release/rnnkit.node';
      dated(tree, artifact, ahead + 1);
    }
  },
);

serial('a change that cmake-js does not relink for (a C++ test) builds once, then the stamp keeps it warm', async (t) => {
  const tree = makeTree(t, { installed: ALL, noRelink: true });
  t.is((await step(tree)).code, 0);
  const artifactBefore = readFileSync(join(tree.dir, 'build', 'Release', 'rnnkit.node'), 'utf8');
  // the last build 50 minutes ago (sources: an hour ago), then a test source edited a second ago
  for (const rel of ['build/Release/rnnkit.node', 'build/setup-native.stamp']) dated(tree, rel, -3000);
  dated(tree, 'native/tests/core_tests.cc', -1);
  const rebuilt = await step(tree);
  t.deepEqual(
    rebuilt.calls.filter((c) => c.cmd === 'npm').map((c) => c.args.at(-1)),
    ['build:native'],
  );
  t.is(readFileSync(join(tree.dir, 'build', 'Release', 'rnnkit.node'), 'utf8'), artifactBefore);
  const again = await step(tree);
  t.deepEqual(again.calls, []);
  t.regex(again.stdout, /up to date/);
});

serial('a deleted source file counts as a change (its folder is newer)', async (t) => {
  const tree = makeTree(t, { installed: ALL });
  t.is((await step(tree)).code, 0);
  await new Promise((r) => setTimeout(r, 20));
  rmSync(join(tree.dir, 'native', 'tests', 'core_tests.cc'));
  const run = await step(tree);
  t.deepEqual(
    run.calls.filter((c) => c.cmd === 'npm').map((c) => c.args.at(-1)),
    ['build:native'],
  );
  t.true(run.stdout.includes('(native/tests changed)'), run.stdout);
});

rootOnly('as root with packages missing: apt-get update, then install of the missing ones only, then the build', async (t) => {
  const tree = makeTree(t, { installed: ['g++', 'make'] });
  const run = await step(tree);
  t.is(run.code, 0, run.stderr);
  t.deepEqual(commandLines(run).slice(1, 4), [
    'apt-get update -qq',
    'apt-get install -y -qq libopenblas-dev cmake',
    `dpkg-query -W -f=\${Package} \${db:Status-Status}\n ${ALL.join(' ')}`,
  ]);
  t.true(run.calls.every((c) => c.uid === 0));
  t.deepEqual(stateOf(tree).installed.sort(), [...ALL].sort());
  t.regex(
    run.stdout,
    /^rnnkit setup: installed libopenblas-dev cmake with apt-get \(as root\); built the native addon .*; built the TypeScript .*\n$/,
  );
});

rootOnly('as root when apt-get fails: a clear error with the log tail, exit 1, no build attempted', async (t) => {
  const tree = makeTree(t, { installed: [], aptFails: true });
  const run = await step(tree);
  t.is(run.code, 1);
  t.is(run.stdout, '');
  t.regex(
    run.stderr,
    /^rnnkit setup: apt-get update failed \(apt-get update -qq: exit code 100\)\. Last lines of .*setup\.log:\nE: Unable to locate package\n$/,
  );
  t.false(run.calls.some((c) => c.cmd === 'npm'));
});

nobodyOk('not root, sudo without a password: installs through sudo -n', async (t) => {
  const tree = makeTree(t, { installed: ['libopenblas-dev', 'make'], sudo: 'passwordless' });
  const run = await step(tree, { asNobody: true });
  t.is(run.code, 0, run.stderr);
  t.true(
    run.calls.every((c) => c.uid !== 0),
    'the step really ran as a non-root user',
  );
  t.deepEqual(commandLines(run).slice(1, 4), ['sudo -n true', 'sudo -n apt-get update -qq', 'sudo -n apt-get install -y -qq cmake g++']);
  t.regex(run.stdout, /^rnnkit setup: installed cmake g\+\+ with sudo apt-get; built the native addon/);
});

nobodyOk('not root, sudo asks for a password: prints the exact sudo command, exits 1, installs and builds nothing', async (t) => {
  const tree = makeTree(t, { installed: ['libopenblas-dev', 'make'], sudo: 'password' });
  const run = await step(tree, { asNobody: true });
  t.is(run.code, 1);
  t.is(run.stdout, '');
  t.is(
    run.stderr,
    'rnnkit setup: missing system packages cmake g++ (needed to build the native addon); ' +
      'run: sudo apt-get update && sudo apt-get install -y cmake g++, then run this again\n',
  );
  t.deepEqual(commandLines(run).slice(1), ['sudo -n true']);
  t.false(existsSync(join(tree.dir, 'build')));
  t.deepEqual(readdirSync(tree.tmp), [], 'no log folder left behind when no command ran');
});

nobodyOk('not root, no sudo: prints the command to run as root, exits 1', async (t) => {
  const tree = makeTree(t, { installed: [] });
  const run = await step(tree, { asNobody: true });
  t.is(run.code, 1);
  t.is(
    run.stderr,
    `rnnkit setup: missing system packages ${ALL.join(' ')} (needed to build the native addon); ` +
      `run as root: apt-get update && apt-get install -y ${ALL.join(' ')}, then run this again\n`,
  );
  t.is(run.calls.length, 1, 'only dpkg-query ran');
});

serial('no dpkg (not Debian/Ubuntu) and no cmake: names what to install instead of a CMake error', async (t) => {
  const tree = makeTree(t, { installed: [], noDpkg: true, tools: ['c++'] });
  const run = await step(tree);
  t.is(run.code, 1);
  t.regex(
    run.stderr,
    /^rnnkit setup: cmake not found on PATH, and no dpkg-query to install packages with apt-get: install OpenBLAS .*CMake >= 3\.18 and a C\+\+17 compiler/,
  );
  t.deepEqual(run.calls, []);
});

serial('no dpkg but cmake and a compiler on PATH: goes ahead and builds', async (t) => {
  const tree = makeTree(t, { installed: [], noDpkg: true });
  const run = await step(tree);
  t.is(run.code, 0, run.stderr);
  t.deepEqual(commandLines(run), ['npm run --silent build:native', 'npm run --silent build:ts']);
});

serial('a failing build: exit 1 with the tail of its output, no stamp, so the next run tries again', async (t) => {
  const tree = makeTree(t, { installed: ALL, buildFails: 'build:native' });
  const run = await step(tree);
  t.is(run.code, 1);
  t.regex(
    run.stderr,
    /^rnnkit setup: building the native addon \(npm run build:native\) failed \(npm run --silent build:native: exit code 1\)\./,
  );
  t.true(run.stderr.includes('Could NOT find BLAS'));
  const logPath = /Last lines of (\S+):/.exec(run.stderr)?.[1] ?? '';
  t.true(logPath.startsWith(tree.tmp) && readFileSync(logPath, 'utf8').includes('Could NOT find BLAS'), 'the named log is kept');
  t.false(
    run.calls.some((c) => c.args.includes('build:ts')),
    'stops at the first failure',
  );
  t.false(existsSync(join(tree.dir, 'build', 'setup-native.stamp')));
  const again = await step(tree);
  t.true(again.calls.some((c) => c.args.includes('build:native')));
});

serial('arguments are refused', async (t) => {
  const tree = makeTree(t, { installed: ALL });
  const run = await step(tree, { args: ['--force'] });
  t.is(run.code, 1);
  t.is(run.stderr, 'rnnkit setup: takes no arguments but received ["--force"]\n');
  t.deepEqual(run.calls, []);
});

/** An installed-package tree: no lib/, dist/ from this repository, native sources newer than everything. */
function installedTree(t: { teardown: (fn: () => void) => void }, withPrebuild: boolean): Tree {
  const tree = makeTree(t, { installed: [] }, true);
  symlinkSync(join(ROOT, 'dist'), join(tree.dir, 'dist'));
  if (withPrebuild) {
    const dir = join(tree.dir, 'prebuilds', `${process.platform}-${process.arch}`);
    mkdirSync(dir, { recursive: true });
    copyFileSync(join(ROOT, 'build', 'Release', 'rnnkit.node'), join(dir, 'rnnkit.node'));
  }
  dated(tree, 'native/model.cc', -1);
  return tree;
}

const withBuild =
  existsSync(join(ROOT, 'dist', 'native.js')) && existsSync(join(ROOT, 'build', 'Release', 'rnnkit.node')) ? serial : serial.skip;

withBuild('an installed package with a prebuild: never builds, never checks packages, names the binary it loads', async (t) => {
  const tree = installedTree(t, true);
  const run = await step(tree);
  t.is(run.code, 0, run.stderr);
  t.is(run.stdout.split('\n').length, 2);
  t.regex(
    run.stdout,
    new RegExp(
      `^rnnkit setup: an installed package \\(no lib/\\), nothing to build: loads prebuilds/${process.platform}-${process.arch}/rnnkit\\.node, in`,
    ),
  );
  t.deepEqual(run.calls, []);
  t.false(existsSync(join(tree.dir, 'build')));
});

withBuild('an installed package without a binary for this platform: the loader error (how to build), exit 1, no build', async (t) => {
  const tree = installedTree(t, false);
  const run = await step(tree);
  t.is(run.code, 1);
  t.regex(run.stderr, /^rnnkit setup: rnnkit: no native binary fits /);
  t.true(run.stderr.includes('npx cmake-js compile -d'), run.stderr);
  t.deepEqual(run.calls, []);
  t.false(existsSync(join(tree.dir, 'build')));
});

serial("this clone after `npm test`'s pretest: the real step is a no-op that starts nothing", async (t) => {
  // fakes only: were the step to build, the fake npm would fail without writing into this clone
  const tree = makeTree(t, { installed: [], buildFails: '*' });
  const run = await step(tree, { script: STEP, cwd: ROOT });
  t.is(run.code, 0, `${run.stderr}\n(is this clone built? \`npm run setup\` or \`npm test\` builds it)`);
  t.regex(
    run.stdout,
    /^rnnkit setup: up to date \(build\/Release\/rnnkit\.node and dist\/index\.js newer than their sources\), in \d+\.\d\d s\n$/,
  );
  t.deepEqual(run.calls, []);
});

serial('npm test, npm run demo and .ci/run all go through the step; the package ships it', (t) => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string>; files: string[] };
  t.is(pkg.scripts.pretest, 'node scripts/setup.mjs');
  t.is(pkg.scripts.predemo, 'node scripts/setup.mjs');
  t.is(pkg.scripts.setup, 'node scripts/setup.mjs');
  t.true(pkg.files.includes('scripts/setup.mjs'));
  const ci = readFileSync(join(ROOT, '.ci', 'run'), 'utf8');
  t.regex(ci, /^npm run setup\b/m);
  t.notRegex(ci, /^npm run build\b/m, '.ci/run builds through the step, not around it');
});
