// Runs the C++ test binaries built by `npm run build` from native/tests, without Node:
// the core tests (BLAS seam vs the naive reference, double-precision gradient checks),
// the worker pool's tests, and the tests of OpenBLAS's core choice.
import test, { type ExecutionContext } from 'ava';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../lib/native.js';

/** Runs build/<name>, logs its summary line and returns its stdout after checking it exited 0. */
function runBinary(t: ExecutionContext, name: string, env: NodeJS.ProcessEnv = {}, args: string[] = []): string {
  const exe = join(packageRoot(), 'build', name);
  t.true(existsSync(exe), `${exe} is built by npm run build`);
  const r = spawnSync(exe, args, { encoding: 'utf8', timeout: 120_000, env: { ...process.env, ...env } });
  t.log(r.stdout.trim().split('\n').slice(-1)[0]);
  t.is(r.status, 0, r.stdout + r.stderr);
  t.notRegex(r.stdout, /^FAIL/m);
  return r.stdout;
}

// The kernels are compiled per instruction-set level and chosen by native/cpu.h's isa();
// RNNKIT_ISA lowers the level, so every clone a kernel adds runs here on a machine that
// supports the highest one (the float == double cases reach the float SIMD kernels).
// One test per level: each run takes ~7 s on a quiet machine, far more on a loaded one.
const LEVELS = ['avx512', 'avx2', 'baseline'];
const coreTests = join(packageRoot(), 'build', 'rnnkit_core_tests');
const best = existsSync(coreTests)
  ? /^# kernels at isa (\w+)$/m.exec(spawnSync(coreTests, ['--isa'], { encoding: 'utf8' }).stdout)?.[1]
  : undefined;

test('the C++ core tests name the instruction-set level this CPU runs', (t) => {
  t.true(existsSync(coreTests), `${coreTests} is built by npm run build`);
  t.true(best !== undefined && LEVELS.includes(best), `the core tests name their level (got ${best})`);
});

for (const level of LEVELS) {
  const runs = best !== undefined && LEVELS.indexOf(level) >= LEVELS.indexOf(best);
  (runs ? test : test.skip)(
    `C++ core tests pass with the kernels at ${level} (gemm vs reference, float64 gradient checks, float kernels vs double)${runs ? '' : ': this CPU lacks the level'}`,
    (t) => {
      const out = runBinary(t, 'rnnkit_core_tests', { RNNKIT_ISA: level });
      t.regex(out, new RegExp(`^# kernels at isa ${level}$`, 'm'));
      t.regex(out, /^\d+ passed, 0 failed$/m);
    },
  );
}

// Products of 16 rows or more run on OpenBLAS, or on rnnkit's kernels when those are in a stronger
// instruction-set class than OpenBLAS's core (native/blas_core.h ownKernelsOutrank). Under OpenBLAS's
// Prescott (SSE3) kernels the avx512 and avx2 levels take the products and baseline leaves them to
// OpenBLAS, so both paths of the seam run here whatever core this machine's OpenBLAS picks.
for (const level of LEVELS) {
  const runs = best !== undefined && LEVELS.indexOf(level) >= LEVELS.indexOf(best);
  const own = level !== 'baseline';
  (runs ? test : test.skip)(
    `large products under OpenBLAS's Prescott kernels run on ${own ? "rnnkit's" : "OpenBLAS's"} at ${level} and equal the reference${runs ? '' : ': this CPU lacks the level'}`,
    (t) => {
      const out = runBinary(t, 'rnnkit_core_tests', { RNNKIT_ISA: level, OPENBLAS_CORETYPE: 'Prescott' }, ['--gemm']);
      t.regex(out, /^48 passed, 0 failed$/m);
      const lines = out.split('\n').filter((l) => /^ok (parallel)?[gG]emm<float> on /.test(l));
      t.is(lines.length, 48);
      for (const l of lines) t.true(l.includes(own ? " on rnnkit's kernels " : ' on OpenBLAS '), l);
    },
  );
}

test('worker pool tests pass (every chunk once over 5000 jobs, workers take chunks, the caller takes over unscheduled workers, idle exit and restart, a stalled job makes the next run on the caller alone, nested jobs inline, join on destruction)', (t) => {
  t.regex(runBinary(t, 'rnnkit_pool_tests'), /^8 passed, 0 failed$/m);
});

test('OpenBLAS core choice tests pass (the decision on recorded CPUs, the switch on the linked OpenBLAS)', (t) => {
  const out = runBinary(t, 'rnnkit_blas_core_tests');
  t.regex(out, /^\d+ passed, 0 failed$/m);
  t.regex(out, /^ok decision: Intel CPU with AVX-512 reported as Prescott/m);
  t.regex(out, /^ok decision: AMD Zen 4 with OPENBLAS_CORETYPE=Haswell set by the user/m);
});
