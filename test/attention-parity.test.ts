/**
 * Attention parity with PyTorch: golden fixtures from
 * scripts/gen_attention_fixtures.py (a plain nn.Module written from the
 * equations, torch float64) in test/fixtures/attention/. For every fixture and
 * both dtypes: the loss and every gradient of the encoder and the decoder (the
 * attention weights included), and the teacher-forced logits and attention
 * matrices.
 *
 * Metric per tensor (test/helpers/fixtures.ts tensorDiff): max|a - b| /
 * max(max|b|, 1e-3); per scalar |a - b| / max(|b|, 1e-3).
 */
import test from 'ava';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { seq2seq, type Seq2Seq, type Seq2SeqConfig, type StateTensors } from '../lib/index.js';
import { floatArray, tensorDiff, type FixtureTensor } from './helpers/fixtures.js';

interface AttentionFixture {
  name: string;
  description: string;
  config: Omit<Seq2SeqConfig, 'dtype'>;
  sources: number[][];
  targets: number[][];
  weights: { encoder: Record<string, FixtureTensor>; decoder: Record<string, FixtureTensor> };
  grads: { encoder: Record<string, FixtureTensor>; decoder: Record<string, FixtureTensor> };
  loss: number;
  logits: FixtureTensor;
  attention: FixtureTensor;
}

const DIR = fileURLToPath(new URL('./fixtures/attention/', import.meta.url));
const FIXTURES: AttentionFixture[] = readdirSync(DIR)
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((f) => JSON.parse(readFileSync(join(DIR, f), 'utf8')) as AttentionFixture);
const TOL = { float32: 1e-5, float64: 1e-9 } as const;

test('the attention fixtures cover every score type, stacked and bidirectional encoders, stacked decoders, all cells', (t) => {
  t.is(FIXTURES.length, 4);
  t.deepEqual([...new Set(FIXTURES.map((f) => f.config.attention!.type))].sort(), ['additive', 'dot', 'general']);
});

/** The decoder's start from the encoder's final states (the identity bridge every fixture uses). */
function identityStart(m: Seq2Seq, final: StateTensors[], B: number) {
  const top = final.at(-1)!;
  const [dirs, , H] = top.h.shape as [number, number, number];
  const cat = (s: Float32Array | Float64Array) => {
    const out = new (s.constructor as Float64ArrayConstructor)(B * dirs * H);
    for (let d = 0; d < dirs; d++)
      for (let b = 0; b < B; b++) out.set(s.subarray((d * B + b) * H, (d * B + b + 1) * H), (b * dirs + d) * H);
    return { shape: [1, B, dirs * H], data: out };
  };
  const hasCell = m.decoder.config.layers.find((l) => l.type === 'lstm' || l.type === 'gru' || l.type === 'rnn')!.type === 'lstm';
  return [top.c && hasCell ? { h: cat(top.h.data), c: cat(top.c.data) } : { h: cat(top.h.data) }];
}

for (const fx of FIXTURES) {
  for (const dtype of ['float64', 'float32'] as const) {
    test(`${fx.name} (${dtype}): loss, every gradient, logits and attention match PyTorch — ${fx.description}`, async (t) => {
      const m = seq2seq({ ...fx.config, dtype });
      t.is(m.bridge, 'identity');
      for (const part of ['encoder', 'decoder'] as const) {
        const model = m[part];
        t.deepEqual([...model.weightNames].sort(), Object.keys(fx.weights[part]).sort(), `${part} weight names`);
        const w: Record<string, Float32Array | Float64Array> = {};
        for (const [k, v] of Object.entries(fx.weights[part])) {
          t.deepEqual(model.getWeights()[k]!.shape, v.shape, `${part} ${k} shape`);
          w[k] = floatArray(dtype, v.data);
        }
        model.setWeights(w);
      }
      const tol = TOL[dtype];
      let worst = 0;
      const check = (label: string, actual: ArrayLike<number>, expected: ArrayLike<number>) => {
        const d = tensorDiff(actual, expected);
        worst = Math.max(worst, d.rel);
        t.true(d.rel <= tol, `${label}: relative difference ${d.rel.toExponential(2)} > ${tol}`);
      };
      const g = await m.gradients(fx.sources, fx.targets, { training: false });
      const lossRel = Math.abs(g.loss - fx.loss) / Math.max(Math.abs(fx.loss), 1e-3);
      t.true(lossRel <= tol, `loss ${g.loss} vs ${fx.loss}`);
      for (const part of ['encoder', 'decoder'] as const)
        for (const [k, v] of Object.entries(fx.grads[part])) check(`${part} grad ${k}`, g[part][k]!.data, v.data);
      // teacher-forced logits and attention: the encoder, then the decoder over <bos> y with the memory
      const B = fx.sources.length;
      const enc = await m.encoder.forward(fx.sources);
      const tin = fx.targets.map((y) => [fx.config.bos, ...y]);
      const dec = await m.decoder.forward(tin, {
        initialState: identityStart(m, enc.finalState, B),
        memory: { data: enc.output.data, shape: enc.output.shape, lengths: fx.sources.map((s) => s.length) },
      });
      t.deepEqual(dec.output.shape, fx.logits.shape);
      t.deepEqual(dec.attention!.shape, fx.attention.shape);
      check('logits', dec.output.data, fx.logits.data);
      // rows past a target's length are zero in the fixture; compare the valid rows
      const [, Ty, Tx] = fx.attention.shape as [number, number, number];
      const valid = (data: ArrayLike<number>) =>
        Array.from(data).map((v, i) => (Math.floor(i / Tx) % Ty < tin[Math.floor(i / (Ty * Tx))]!.length ? v : 0));
      check('attention', valid(dec.attention!.data), fx.attention.data);
      t.log(`worst relative difference ${worst.toExponential(2)} (tolerance ${tol})`);
      m.dispose();
    });
  }
}
