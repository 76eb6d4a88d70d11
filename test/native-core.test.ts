// Runs the C++ core's own test binary (built by `npm run build` from native/tests):
// BLAS seam vs the naive reference and double-precision gradient checks, without Node.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../lib/native.js';

test('C++ core tests pass (gemm vs reference, float64 gradient checks)', (t) => {
  const exe = join(packageRoot(), 'build', 'rnnkit_core_tests');
  t.true(existsSync(exe), `${exe} is built by npm run build`);
  const r = spawnSync(exe, { encoding: 'utf8', timeout: 60_000 });
  t.log(r.stdout.trim().split('\n').slice(-1)[0]);
  t.is(r.status, 0, r.stdout + r.stderr);
  t.regex(r.stdout, /^\d+ passed, 0 failed$/m);
  t.notRegex(r.stdout, /^FAIL/m);
});

test('worker pool tests pass (every chunk once over 20000 jobs, idle exit and restart, join on destruction)', (t) => {
  const exe = join(packageRoot(), 'build', 'rnnkit_pool_tests');
  t.true(existsSync(exe), `${exe} is built by npm run build`);
  const r = spawnSync(exe, { encoding: 'utf8', timeout: 60_000 });
  t.log(r.stdout.trim().split('\n').slice(-1)[0]);
  t.is(r.status, 0, r.stdout + r.stderr);
  t.regex(r.stdout, /^4 passed, 0 failed$/m);
});
