// fit's per-epoch policies (lib/schedules.ts, run by lib/train.ts's one loop for
// Model and Seq2Seq): learning-rate schedules, early stopping, checkpoints, and
// exact resumption of all of them from a saved model.
import test from 'ava';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CharTokenizer,
  languageModelData,
  layers,
  load,
  loadSeq2Seq,
  RnnkitError,
  sequential,
  textStream,
  type FitOptions,
} from '../lib/index.js';
import { BUCKET_POOL_BATCHES, bucketOrder, permutation } from '../lib/train.js';
import { decodeCheckpoint, encodeCheckpoint } from '../lib/io/checkpoint.js';
import { lrAt, plateauStep, type CheckedSchedule, type LoopState } from '../lib/schedules.js';
import { REVERSE_PAIRS, smallSeq2Seq } from './helpers/models.js';

const text = ['anna', 'bob', 'carla', 'dave', 'eve', 'frank', 'gina', 'hank', 'ida', 'jo'];
const tok = CharTokenizer.fromText(text);
const data = languageModelData(
  text.map((s) => tok.encode(s)),
  { bos: tok.bosId, eos: tok.eosId },
);
const validation = languageModelData(
  ['anna', 'eve'].map((s) => tok.encode(s)),
  { bos: tok.bosId, eos: tok.eosId },
);

/** A char LM with dropout (so that resuming must restore the mask counter too). */
const model = () =>
  sequential({
    input: { vocabSize: tok.size },
    layers: [layers.lstm({ units: 12 }), layers.dropout({ rate: 0.2 }), layers.dense({ units: tok.size })],
    seed: 9,
  });

async function tmp(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'rnnkit-policies-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Options of a fit whose SGD lr is too small to move the validation loss: every epoch after the first is a bad one. */
const still = (lr: number, options: FitOptions): FitOptions => ({ validation, optimizer: { type: 'sgd', lr }, ...options });

const close = (a: number, b: number) => Math.abs(a - b) <= 1e-12 * Math.max(1, Math.abs(b));

test('lrAt: step, exponential, cosine with warm-up and plateau follow their formulas', (t) => {
  const step: CheckedSchedule = { type: 'step', stepSize: 10, gamma: 0.5 };
  t.deepEqual(
    [0, 9, 10, 25].map((e) => lrAt(step, e, 0.1)),
    [0.1, 0.1, 0.05, 0.025],
  );
  const exp: CheckedSchedule = { type: 'exponential', gamma: 0.9 };
  t.true(close(lrAt(exp, 3, 1), 0.729));
  const cos: CheckedSchedule = { type: 'cosine', epochs: 12, warmup: 2, minLr: 0.01 };
  t.true(close(lrAt(cos, 0, 0.3), 0.1), 'warm-up: lr (e + 1) / (warmup + 1)');
  t.true(close(lrAt(cos, 1, 0.3), 0.2));
  t.true(close(lrAt(cos, 2, 0.3), 0.3), 'the cosine starts at lr after the warm-up');
  t.true(close(lrAt(cos, 7, 0.3), 0.155), 'half way: (lr + minLr) / 2');
  t.true(close(lrAt(cos, 12, 0.3), 0.01) && close(lrAt(cos, 40, 0.3), 0.01), 'minLr at and after epochs');
  const plateau: Extract<CheckedSchedule, { type: 'plateau' }> = {
    type: 'plateau',
    factor: 0.5,
    patience: 1,
    threshold: 0.01,
    minLr: 0.02,
  };
  const s: LoopState = { lrScale: 1, plateauBest: null, plateauWait: 0, checkpointBest: null };
  const lrs: number[] = [];
  for (const loss of [1, 0.5, 0.499, 0.498, 0.497, 0.3, NaN, 0.3]) {
    plateauStep(plateau, s, loss);
    lrs.push(lrAt(plateau, 0, 0.1, s));
  }
  // 0.499 and 0.498 are not 1% better than 0.5: the second such epoch is more than patience 1, so the lr halves
  t.deepEqual(lrs, [0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.05, 0.025]);
  for (let i = 0; i < 10; i++) plateauStep(plateau, s, 1);
  t.is(lrAt(plateau, 0, 0.1, s), 0.02, 'never below minLr');
});

test('fit reports the lr of each epoch, and a schedule trains exactly as that lr set by hand epoch by epoch', async (t) => {
  const opts = { batchSize: 3, optimizer: { type: 'sgd' as const, lr: 0.5, momentum: 0.5 }, clipNorm: 1 };
  const scheduled = model();
  const h = await scheduled.fit(data, { ...opts, epochs: 4, lrSchedule: { type: 'step', stepSize: 2, gamma: 0.1 } });
  t.deepEqual(
    h.epochs.map((e) => e.lr),
    [0.5, 0.5, 0.5 * 0.1, 0.5 * 0.1],
  );
  const byHand = model();
  for (const lr of h.epochs.map((e) => e.lr)) await byHand.fit(data, { ...opts, epochs: 1, optimizer: { ...opts.optimizer, lr } });
  t.deepEqual(scheduled.getWeights(), byHand.getWeights());
  const plain = await model().fit(data, { epochs: 1, optimizer: 'adam' });
  t.is(plain.epochs[0]!.lr, 1e-3, "without a schedule: the optimizer's lr (Adam's default)");
  scheduled.dispose();
  byHand.dispose();
});

test('reduce-on-plateau lowers the lr when the validation loss stops improving', async (t) => {
  const m = model();
  // an lr too small to move the validation loss by 1%: every epoch after the first is a bad one
  const h = await m.fit(data, still(1e-9, { epochs: 5, lrSchedule: { type: 'plateau', factor: 0.5, patience: 1, threshold: 0.01 } }));
  t.deepEqual(
    h.epochs.map((e) => e.lr),
    [1e-9, 1e-9, 1e-9, 5e-10, 5e-10],
  );
  m.dispose();
});

test('early stopping: stops after patience epochs without improvement and can restore the best weights', async (t) => {
  const flat = model();
  const h = await flat.fit(data, still(1e-12, { epochs: 10, earlyStopping: { patience: 2, minDelta: 1e-3 } }));
  t.true(h.stoppedEarly);
  t.is(h.epochs.length, 3, 'epoch 0 sets the best; 1 and 2 do not beat it by minDelta');
  t.is(h.bestEpoch, 0);
  t.is(flat.epoch, 3);
  flat.dispose();

  // an lr so large that the first epoch is the best one: restoreBest ends with its weights
  const opts = { batchSize: 5, validation, optimizer: { type: 'sgd' as const, lr: 40 }, clipNorm: 1, shuffle: false };
  const diverging = model();
  const hd = await diverging.fit(data, { ...opts, epochs: 6, earlyStopping: { patience: 2, restoreBest: true } });
  t.true(hd.bestEpoch !== undefined && hd.bestEpoch < diverging.epoch - 1, `best epoch ${hd.bestEpoch} of ${diverging.epoch}`);
  const reference = model();
  await reference.fit(data, { ...opts, epochs: hd.bestEpoch! + 1 });
  t.deepEqual(diverging.getWeights(), reference.getWeights(), "the best epoch's weights");
  t.false((await model().fit(data, { epochs: 2, earlyStopping: { patience: 5 } })).stoppedEarly, 'not stopped: stoppedEarly false');
  diverging.dispose();
  reference.dispose();
});

test('checkpoint: saves every N epochs, or only at a new best, atomically', async (t) => {
  const dir = await tmp(t);
  const every = join(dir, 'every.rnnkit');
  const m = model();
  const saved: number[] = [];
  await m.fit(data, {
    epochs: 5,
    checkpoint: { path: every, every: 2 },
    onEpochEnd: async () => {
      try {
        const f = await load(every);
        saved.push(f.epoch);
        f.dispose();
      } catch {
        saved.push(-1);
      }
    },
  });
  t.deepEqual(saved, [-1, 2, 2, 4, 4], 'written after epochs 2 and 4');
  const best = join(dir, 'best.rnnkit');
  const h = await m.fit(data, {
    epochs: 4,
    validation,
    optimizer: { type: 'sgd', lr: 40 },
    clipNorm: 1,
    checkpoint: { path: best, keepBest: true },
  });
  const valLosses = h.epochs.map((e) => e.valLoss!);
  const bestAt = valLosses.indexOf(Math.min(...valLosses));
  const file = await load(best);
  t.is(
    file.epoch,
    h.epochs[bestAt]!.epoch + 1,
    `the file holds the best epoch (val losses ${valLosses.map((v) => v.toFixed(3)).join(', ')})`,
  );
  t.deepEqual((await readdir(dir)).sort(), ['best.rnnkit', 'every.rnnkit'], 'no temporary files');
  file.dispose();
  m.dispose();
});

test('resume: fit 2 + save + load + fit 2 equals fit 4, with a plateau schedule and a keepBest checkpoint', async (t) => {
  const dir = await tmp(t);
  const opts = (path: string): FitOptions => ({
    batchSize: 3,
    validation,
    optimizer: { type: 'adam', lr: 0.05 },
    lrSchedule: { type: 'plateau', factor: 0.5, patience: 0, threshold: 0.3 },
    checkpoint: { path, keepBest: true },
  });
  const straight = model();
  const h = await straight.fit(data, { ...opts(join(dir, 'a.rnnkit')), epochs: 4 });
  const first = model();
  const h1 = await first.fit(data, { ...opts(join(dir, 'b.rnnkit')), epochs: 2 });
  await first.save(join(dir, 'resume.rnnkit'));
  first.dispose();
  const resumed = await load(join(dir, 'resume.rnnkit'));
  const h2 = await resumed.fit(data, { ...opts(join(dir, 'b.rnnkit')), epochs: 2 });
  const lrs = [...h1.epochs, ...h2.epochs].map((e) => e.lr);
  t.deepEqual(
    lrs,
    h.epochs.map((e) => e.lr),
    `the plateau's state was saved: ${lrs.join(', ')}`,
  );
  t.true(new Set(lrs).size > 1, 'the schedule changed the lr in this run');
  t.deepEqual(resumed.getWeights(), straight.getWeights());
  t.is((await load(join(dir, 'b.rnnkit'))).epoch, (await load(join(dir, 'a.rnnkit'))).epoch, 'the best checkpoints agree');
  resumed.dispose();
  straight.dispose();
});

test('Seq2Seq.fit runs the same policies through the shared loop, and its file keeps their state', async (t) => {
  const dir = await tmp(t);
  const s = smallSeq2Seq(6, 4, { seed: 3 });
  const path = join(dir, 's2s.rnnkit');
  const h = await s.fit(REVERSE_PAIRS, {
    epochs: 6,
    batchSize: 2,
    validation: REVERSE_PAIRS,
    optimizer: { type: 'sgd', lr: 1e-12 },
    lrSchedule: { type: 'plateau', factor: 0.5, patience: 0, threshold: 0.01 },
    earlyStopping: { patience: 3 },
    checkpoint: { path, keepBest: true },
  });
  t.true(h.stoppedEarly);
  t.is(h.epochs.length, 4);
  t.deepEqual(
    h.epochs.map((e) => e.lr),
    [1e-12, 1e-12, 5e-13, 2.5e-13],
  );
  const loaded = await loadSeq2Seq(path);
  t.is(loaded.epoch, 1, 'the best (first) epoch was saved');
  s.dispose();
  loaded.dispose();
});

test('bad policy options are TypeErrors / RangeErrors naming the option', async (t) => {
  const m = model();
  const cases: [unknown, RegExp, typeof TypeError | typeof RangeError][] = [
    [{ lrSchedule: 'cosine' }, /for options\.lrSchedule but received string/, TypeError],
    [{ lrSchedule: { type: 'linear' } }, /for options\.lrSchedule\.type but received string 'linear'/, RangeError],
    [{ lrSchedule: { type: 'step' } }, /for options\.lrSchedule\.stepSize but received undefined/, TypeError],
    [{ lrSchedule: { type: 'step', stepSize: 0 } }, /in \[1, .*for options\.lrSchedule\.stepSize but received number 0/, RangeError],
    [{ lrSchedule: { type: 'step', stepSize: 2, gamma: 1.5 } }, /for options\.lrSchedule\.gamma but received number 1\.5/, RangeError],
    [{ lrSchedule: { type: 'exponential', gamma: 0 } }, /for options\.lrSchedule\.gamma but received number 0/, RangeError],
    [
      { lrSchedule: { type: 'cosine', epochs: 5, warmup: 5 } },
      /in \[0, 4\] for options\.lrSchedule\.warmup but received number 5/,
      RangeError,
    ],
    [{ lrSchedule: { type: 'plateau', factor: 1 } }, /for options\.lrSchedule\.factor but received number 1/, RangeError],
    [{ lrSchedule: { type: 'exponential', gamma: 0.5, stepSize: 2 } }, /unknown key 'stepSize'/, TypeError],
    [{ earlyStopping: true }, /for options\.earlyStopping but received boolean/, TypeError],
    [{ earlyStopping: { patience: -1 } }, /for options\.earlyStopping\.patience but received number -1/, RangeError],
    [{ earlyStopping: { restoreBest: 'yes' } }, /for options\.earlyStopping\.restoreBest but received string/, TypeError],
    [{ earlyStopping: { minDelta: -0.1 } }, /for options\.earlyStopping\.minDelta but received number -0\.1/, RangeError],
    [{ checkpoint: { path: '' } }, /a non-empty string for options\.checkpoint\.path but received string ''/, TypeError],
    [{ checkpoint: { path: 'x', every: 0 } }, /for options\.checkpoint\.every but received number 0/, RangeError],
    [{ checkpoint: { path: 'x', best: true } }, /unknown key 'best'/, TypeError],
  ];
  for (const [options, message, instanceOf] of cases) {
    await t.throwsAsync(m.fit(data, options as FitOptions), { instanceOf, message }, JSON.stringify(options));
  }
  t.is(m.epoch, 0, 'nothing trained');
  m.dispose();
});

test('a model file whose loop state is damaged fails with ERR_CHECKPOINT naming the file', async (t) => {
  const dir = await tmp(t);
  const file = join(dir, 'm.rnnkit');
  const m = model();
  await m.fit(data, { epochs: 1, validation, lrSchedule: { type: 'plateau' } });
  await m.save(file);
  const parts = decodeCheckpoint(await readFile(file), file);
  t.deepEqual(Object.keys(parts.header.loop as object).sort(), ['checkpointBest', 'lrScale', 'plateauBest', 'plateauWait']);
  for (const loop of [{ lrScale: 2, plateauBest: null, plateauWait: 0, checkpointBest: null }, { lrScale: 1 }, 'x']) {
    await writeFile(file, encodeCheckpoint({ header: { ...parts.header, loop }, arrays: parts.arrays }));
    const err = await t.throwsAsync(load(file), { instanceOf: RnnkitError });
    t.is((err as RnnkitError).code, 'ERR_CHECKPOINT');
    t.is(err!.message, `Invalid model file '${file}': its training loop state is damaged`);
  }
  m.dispose();
});

test('bucketOrder: a permutation whose batches hold rows of similar length, the partial batch last', (t) => {
  const N = 1000;
  const B = 8;
  const lengths = Array.from({ length: N }, (_, i) => 1 + ((i * 7919) % 40));
  const order = permutation(N, 1, 0);
  const bucketed = bucketOrder(order, lengths, B, { seed: 1, epoch: 0 });
  t.deepEqual(
    [...bucketed].sort((a, b) => a - b),
    Array.from({ length: N }, (_, i) => i),
  );
  t.deepEqual(bucketed, bucketOrder(order, lengths, B, { seed: 1, epoch: 0 }), 'deterministic');
  t.notDeepEqual(bucketed, bucketOrder(order, lengths, B, { seed: 1, epoch: 1 }), 'batches shuffled per epoch');
  // the padding of a batch: its longest row x its rows, minus its tokens
  const padding = (o: number[]) => {
    let pad = 0;
    for (let k = 0; k < o.length; k += B) {
      const l = o.slice(k, k + B).map((r) => lengths[r]!);
      pad += Math.max(...l) * l.length - l.reduce((a, b) => a + b, 0);
    }
    return pad;
  };
  t.true(padding(bucketed) * 10 < padding(order), `${padding(bucketed)} vs ${padding(order)} padded positions`);
  // 1001 rows in pools of 400: the last pool's 201 rows make 25 batches and one of a single row,
  // its longest, which comes last
  const lens = [...lengths, 5];
  const perm = permutation(N + 1, 1, 0);
  const odd = bucketOrder(perm, lens, B, { seed: 1, epoch: 0 });
  const lastPool = perm.slice(2 * BUCKET_POOL_BATCHES * B).sort((a, b) => lens[a]! - lens[b]!);
  t.is(odd.length, N + 1);
  t.is(odd[N], lastPool[lastPool.length - 1]);
  // without a shuffle: the pools' batches in order, sorted within each pool
  const plain = bucketOrder(order, lengths, B);
  const firstPool = plain.slice(0, BUCKET_POOL_BATCHES * B).map((r) => lengths[r]!);
  t.deepEqual(
    firstPool,
    [...firstPool].sort((a, b) => a - b),
  );
});

test('fit with bucketByLength: batches of similar length, deterministic, resumable, for Model and Seq2Seq', async (t) => {
  const words = Array.from({ length: 96 }, (_, i) => text[i % text.length]!.repeat(1 + (i % 4)));
  const lmData = languageModelData(
    words.map((s) => tok.encode(s)),
    { bos: tok.bosId, eos: tok.eosId },
  );
  const widths = (m: ReturnType<typeof model>) => {
    const seen: number[] = [];
    const step = m.trainStep.bind(m);
    m.trainStep = ((x, y, o) => {
      seen.push((x as { shape: number[] }).shape[1]!);
      return step(x, y, o);
    }) as typeof m.trainStep;
    return seen;
  };
  const run = async (options: FitOptions, epochs: number[]) => {
    const m = model();
    const seen = widths(m);
    const losses: number[] = [];
    for (const e of epochs) losses.push(...(await m.fit(lmData, { ...options, epochs: e, batchSize: 8 })).epochs.map((l) => l.loss));
    m.dispose();
    return { seen, losses };
  };
  const plain = await run({}, [2]);
  const bucketed = await run({ bucketByLength: true }, [2]);
  const sum = (a: number[]) => a.reduce((x, y) => x + y, 0);
  t.is(bucketed.seen.length, plain.seen.length);
  t.true(sum(bucketed.seen) < 0.8 * sum(plain.seen), `padded lengths ${sum(bucketed.seen)} vs ${sum(plain.seen)}`);
  t.deepEqual(await run({ bucketByLength: true }, [2]), bucketed, 'the same run twice');
  t.deepEqual((await run({ bucketByLength: true }, [1, 1])).losses, bucketed.losses, 'fit 1 + fit 1 = fit 2');
  t.true(bucketed.losses.every(Number.isFinite));

  const s = smallSeq2Seq(6, 4, { seed: 3 });
  const h = await s.fit(REVERSE_PAIRS, { epochs: 2, batchSize: 2, bucketByLength: true, optimizer: { type: 'adam', lr: 0.01 } });
  t.is(h.epochs.length, 2);
  t.true(h.epochs.every((e) => Number.isFinite(e.loss)));
  s.dispose();
});

test('bucketByLength: a TypeError when not a boolean, a RangeError for a stream', async (t) => {
  const m = model();
  await t.throwsAsync(m.fit(data, { bucketByLength: 'yes' as never }), {
    instanceOf: TypeError,
    message: /for options\.bucketByLength but received string/,
  });
  await t.throwsAsync(m.fit(textStream(tok.encode('anna bob carla'), { seqLen: 4 }), { bucketByLength: true }), {
    instanceOf: RangeError,
    message: /ragged rows .* for options\.bucketByLength/,
  });
  t.is(m.epoch, 0, 'nothing trained');
  m.dispose();
});
