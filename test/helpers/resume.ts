// One owner of the "resumed training continues exactly" check (persistence, variational
// dropout, sparse embeddings): a straight run against a run saved halfway, loaded and
// continued, compared batch loss by batch loss and weight by weight.
import type { ExecutionContext } from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { load, type Model } from '../../lib/index.js';

type FitData = Parameters<Model['fit']>[0];
type FitOptions = NonNullable<Parameters<Model['fit']>[1]>;

/**
 * Fits `make()` for `before + after` epochs, and another `make()` for `before` epochs, saves
 * it, loads it and fits `after` more: the losses of every batch and the final weights must be
 * the same. `inspect` sees the loaded model before it trains on.
 */
export async function assertResumesExactly(
  t: ExecutionContext,
  make: () => Model,
  data: FitData,
  opts: Omit<FitOptions, 'epochs'>,
  { before = 2, after = 2, inspect }: { before?: number; after?: number; inspect?: (loaded: Model) => void } = {},
): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'rnnkit-resume-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const straight = make();
  const h = await straight.fit(data, { ...opts, epochs: before + after });
  const first = make();
  const h1 = await first.fit(data, { ...opts, epochs: before });
  const file = join(dir, 'ckpt.rnnkit');
  await first.save(file);
  first.dispose();
  const resumed = await load(file);
  inspect?.(resumed);
  const h2 = await resumed.fit(data, { ...opts, epochs: after });
  t.deepEqual(
    [...h1.batches, ...h2.batches].map((b) => b.loss),
    h.batches.map((b) => b.loss),
    'same losses step by step (optimizer moments, dropout masks and shuffling restored)',
  );
  t.deepEqual(resumed.getWeights(), straight.getWeights());
  straight.dispose();
  resumed.dispose();
}
