// @ts-check
/**
 * The setup step (`npm run setup`; npm runs it before `npm test` and `npm run demo` through
 * the `pretest` / `predemo` hooks, and `.ci/run` calls it): everything between a fresh clone
 * and a working tree, done only when needed, reported in one line on stdout.
 *
 * In a clone (lib/ exists):
 *  1. The native addon, build/Release/rnnkit.node, is rebuilt (`npm run build:native`) when it
 *     is missing or older than native/, binding/, CMakeLists.txt or package.json. Only then are
 *     the system packages checked (dpkg-query) and the missing ones installed with apt-get: as
 *     root, or through `sudo -n` when sudo needs no password. Otherwise it prints the exact
 *     command to run and exits 1. Without dpkg-query (not Debian/Ubuntu) it checks that cmake
 *     and a C++ compiler are on PATH and names what to install.
 *  2. The TypeScript, dist/, is rebuilt (`npm run build:ts`) when dist/index.js is missing or
 *     older than lib/ or tsconfig.json.
 * "Older" compares the newest mtime among the sources (files and folders, so a deleted file
 * counts) with the later of the artifact's mtime and a stamp in build/ set to the start of
 * this step's last successful build of it: cmake-js does not relink rnnkit.node when only a
 * C++ test or package.json changed, and without the stamp such a change would rebuild forever.
 *
 * In an installed package (no lib/: it is not packed; only dist/ and prebuilds/ are) it never
 * builds: it loads the binary the package would load (dist/native.js's loadBinding) and says
 * which, or prints that function's error (what was looked for, how to build) and exits 1.
 *
 * Plain JavaScript so that it runs before anything is built (and without tsx, which an
 * installed package lacks); type-checked by `npm run typecheck` through JSDoc.
 * Command output goes to a temporary log, whose last lines are printed when a command fails.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** The Debian/Ubuntu packages the native build needs (cmake only recommends make). */
const PACKAGES = ['libopenblas-dev', 'cmake', 'g++', 'make'];

const ROOT = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');
const LOG_TAIL = 40;

/**
 * @typedef {object} Target
 * @property {string} what       how the line names it
 * @property {string} artifact   the file whose mtime says when it was built
 * @property {string[]} sources  files and folders it is built from
 * @property {string} script     the npm script that builds it
 * @property {string} stamp      build/<name>: mtime = start of this step's last successful build
 */

/** @type {Target[]} */
const TARGETS = [
  {
    what: 'the native addon',
    artifact: 'build/Release/rnnkit.node',
    sources: ['native', 'binding', 'CMakeLists.txt', 'package.json'],
    script: 'build:native',
    stamp: 'build/setup-native.stamp',
  },
  {
    what: 'the TypeScript',
    artifact: 'dist/index.js',
    sources: ['lib', 'tsconfig.json'],
    script: 'build:ts',
    stamp: 'build/setup-ts.stamp',
  },
];

class SetupError extends Error {}

const t0 = performance.now();
const seconds = () => `${((performance.now() - t0) / 1000).toFixed(2)} s`;

/**
 * mtime in ms of a path, or -Infinity when it does not exist.
 * @param {string} path
 */
function mtime(path) {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return -Infinity;
  }
}

/**
 * The newest mtime among the given files and folders (folders recursively, themselves included).
 * @param {string[]} sources relative to ROOT
 * @returns {{ path: string, ms: number }}
 */
function newestSource(sources) {
  let newest = { path: '', ms: -Infinity };
  /** @param {string} rel */
  const consider = (rel) => {
    const ms = mtime(join(ROOT, rel));
    if (ms > newest.ms) newest = { path: rel, ms };
  };
  for (const source of sources) {
    consider(source);
    const abs = join(ROOT, source);
    if (existsSync(abs) && statSync(abs).isDirectory()) {
      for (const entry of readdirSync(abs, { recursive: true })) consider(join(source, String(entry)));
    }
  }
  return newest;
}

/**
 * Why the target needs a build, or null when it is up to date.
 * @param {Target} target
 */
function staleness(target) {
  const artifact = mtime(join(ROOT, target.artifact));
  if (artifact === -Infinity) return `${target.artifact} missing`;
  const builtAt = Math.max(artifact, mtime(join(ROOT, target.stamp)));
  const newest = newestSource(target.sources);
  return newest.ms > builtAt ? `${newest.path} changed` : null;
}

/**
 * The full path of a command found on PATH, or null.
 * @param {string} name
 */
function onPath(name) {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    try {
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // not in this directory
    }
  }
  return null;
}

/**
 * Runs a command with its output in the log; throws a SetupError with the log's tail on failure.
 * @param {string[]} argv
 * @param {string} log
 * @param {string} doing  what the command does, for the error
 */
function run(argv, log, doing) {
  const fd = openSync(log, 'a');
  let result;
  try {
    result = spawnSync(argv[0] ?? '', argv.slice(1), {
      cwd: ROOT,
      stdio: ['ignore', fd, fd],
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
  } finally {
    closeSync(fd);
  }
  if (result.status === 0) return;
  const how = result.error ? result.error.message : result.signal ? `killed by ${result.signal}` : `exit code ${result.status}`;
  const tail = readFileSync(log, 'utf8').trimEnd().split('\n').slice(-LOG_TAIL).join('\n');
  throw new SetupError(`${doing} failed (${argv.join(' ')}: ${how}). Last lines of ${log}:\n${tail}`);
}

/**
 * Packages of PACKAGES that dpkg does not list as installed, or null without dpkg-query.
 * @returns {string[] | null}
 */
function missingPackages() {
  const query = spawnSync('dpkg-query', ['-W', '-f=${Package} ${db:Status-Status}\n', ...PACKAGES], { encoding: 'utf8' });
  if (query.error) return null; // ENOENT: not a dpkg system
  const installed = new Set(
    query.stdout
      .split('\n')
      .filter((line) => line.endsWith(' installed'))
      .map((line) => line.split(' ')[0]?.split(':')[0]),
  );
  return PACKAGES.filter((p) => !installed.has(p));
}

/**
 * Makes the build's system requirements present, or throws a SetupError that says what to run.
 * @param {string} log
 * @returns {string} what it did, for the line ('' when nothing)
 */
function ensurePackages(log) {
  const missing = missingPackages();
  if (missing === null) {
    const lacking = [onPath('cmake') ? '' : 'cmake', ['c++', 'g++', 'clang++'].some(onPath) ? '' : 'a C++17 compiler'].filter(Boolean);
    if (lacking.length > 0) {
      throw new SetupError(
        `${lacking.join(' and ')} not found on PATH, and no dpkg-query to install packages with apt-get: ` +
          'install OpenBLAS (with its cblas.h), CMake >= 3.18 and a C++17 compiler with your package manager, ' +
          'then run this again (docs/install.md)',
      );
    }
    return '';
  }
  if (missing.length === 0) return '';
  const asRoot = process.getuid?.() === 0;
  const sudo = !asRoot && onPath('sudo') !== null;
  const passwordless = sudo && spawnSync('sudo', ['-n', 'true'], { stdio: 'ignore' }).status === 0;
  const prefix = passwordless ? ['sudo', '-n'] : [];
  const aptGet = onPath('apt-get') !== null;
  if ((!asRoot && !passwordless) || !aptGet) {
    const list = missing.join(' ');
    /** @param {string} s */
    const command = (s) => `${s}apt-get update && ${s}apt-get install -y ${list}`;
    const how = !aptGet
      ? "install them (or your system's equivalents)"
      : sudo
        ? `run: ${command('sudo ')}`
        : `run as root: ${command('')}`;
    throw new SetupError(`missing system packages ${list} (needed to build the native addon); ${how}, then run this again`);
  }
  run([...prefix, 'apt-get', 'update', '-qq'], log, 'apt-get update');
  run([...prefix, 'apt-get', 'install', '-y', '-qq', ...missing], log, `installing ${missing.join(' ')}`);
  const still = missingPackages() ?? [];
  if (still.length > 0) throw new SetupError(`apt-get install succeeded but dpkg does not list ${still.join(' ')} as installed`);
  return `installed ${missing.join(' ')} with ${passwordless ? 'sudo apt-get' : 'apt-get (as root)'}`;
}

/** In an installed package: load the binary it would load; never build. */
async function installedPackage() {
  const nativeJs = join(ROOT, 'dist', 'native.js');
  if (!existsSync(nativeJs)) throw new SetupError(`no lib/ (an installed package?) and no ${relative(ROOT, nativeJs)} either`);
  /** @type {{ loadBinding: (root: string) => { path: string } }} */
  const { loadBinding } = await import(pathToFileURL(nativeJs).href);
  let loaded;
  try {
    loaded = loadBinding(ROOT);
  } catch (err) {
    throw new SetupError(err instanceof Error ? err.message : String(err));
  }
  return `an installed package (no lib/), nothing to build: loads ${relative(ROOT, loaded.path)}`;
}

/** In a clone: packages and builds as needed. */
function clone() {
  const stale = TARGETS.map((target) => ({ target, why: staleness(target) })).filter((s) => s.why !== null);
  if (stale.length === 0) return `up to date (${TARGETS.map((t) => t.artifact).join(' and ')} newer than their sources)`;
  const logDir = mkdtempSync(join(tmpdir(), 'rnnkit-setup-'));
  const log = join(logDir, 'setup.log');
  /** @type {string[]} */
  const did = [];
  try {
    if (stale.some((s) => s.target === TARGETS[0])) {
      const installed = ensurePackages(log);
      if (installed) did.push(installed);
    }
    for (const { target, why } of stale) {
      const started = Date.now() / 1000;
      run(['npm', 'run', '--silent', target.script], log, `building ${target.what} (npm run ${target.script})`);
      mkdirSync(join(ROOT, 'build'), { recursive: true });
      writeFileSync(join(ROOT, target.stamp), '');
      utimesSync(join(ROOT, target.stamp), started, started);
      did.push(`built ${target.what} (${why})`);
    }
  } catch (err) {
    if (!existsSync(log)) rmSync(logDir, { recursive: true, force: true }); // kept when a failed command's log is named
    throw err;
  }
  rmSync(logDir, { recursive: true, force: true });
  return did.join('; ');
}

async function main() {
  if (process.argv.length > 2) throw new SetupError(`takes no arguments but received ${JSON.stringify(process.argv.slice(2))}`);
  const did = existsSync(join(ROOT, 'lib')) ? clone() : await installedPackage();
  console.log(`rnnkit setup: ${did}, in ${seconds()}`);
}

try {
  await main();
} catch (err) {
  if (!(err instanceof SetupError)) throw err;
  console.error(`rnnkit setup: ${err.message}`);
  process.exitCode = 1;
}
