// Runs the C++ test binaries built by `npm run build` from native/tests, without Node:
// the core tests (BLAS seam vs the naive reference, double-precision gradient checks),
// the worker pool's tests, and the tests of OpenBLAS's core choice.
import test, { type ExecutionContext } from 'ava';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../lib/native.js';

/** Runs build/<name>, logs its summary line and returns its stdout after checking it exited 0. */
function runBinary(t: ExecutionContext, name: string): string {
  const exe = join(packageRoot(), 'build', name);
  t.true(existsSync(exe), `${exe} is built by npm run build`);
  const r = spawnSync(exe, { encoding: 'utf8', timeout: 60_000 });
  t.log(r.stdout.trim().split('\n').slice(-1)[0]);
  t.is(r.status, 0, r.stdout + r.stderr);
  t.notRegex(r.stdout, /^FAIL/m);
  return r.stdout;
}

test('C++ core tests pass (gemm vs reference, float64 gradient checks)', (t) => {
  t.regex(runBinary(t, 'rnnkit_core_tests'), /^\d+ passed, 0 failed$/m);
});

test('worker pool tests pass (every chunk once over 20000 jobs, idle exit and restart, join on destruction)', (t) => {
  t.regex(runBinary(t, 'rnnkit_pool_tests'), /^4 passed, 0 failed$/m);
});

test('OpenBLAS core choice tests pass (the decision on recorded CPUs, the switch on the linked OpenBLAS)', (t) => {
  const out = runBinary(t, 'rnnkit_blas_core_tests');
  t.regex(out, /^\d+ passed, 0 failed$/m);
  t.regex(out, /^ok decision: Intel CPU with AVX-512 reported as Prescott/m);
  t.regex(out, /^ok decision: AMD Zen 4 with OPENBLAS_CORETYPE=Haswell set by the user/m);
});
