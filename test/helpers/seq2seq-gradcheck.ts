/**
 * Finite-difference checks of a float64 Seq2Seq's gradients (encoder and
 * decoder): for chosen elements of every weight tensor, the analytic gradient
 * of `m.gradients(sources, targets, { training: false })` against the central
 * difference (f(w + eps) - f(w - eps)) / 2 eps, eps = 1e-5, with the metric of
 * test/helpers/gradcheck.ts: |a - n| / max(|a| + |n|, 1e-4) < 1e-5.
 */
import type { ExecutionContext } from 'ava';
import type { Seq2Seq } from '../../lib/index.js';

/**
 * Checks the elements `pick` chooses of each weight; returns the worst error and how
 * many checked elements had a non-negligible gradient.
 */
export async function checkSeq2SeqGradients(
  t: ExecutionContext,
  m: Seq2Seq,
  sources: number[][],
  targets: number[][],
  pick: (data: Float64Array, grad: ArrayLike<number>) => Iterable<number>,
): Promise<{ worst: number; checked: number }> {
  const g = await m.gradients(sources, targets, { training: false });
  let checked = 0;
  let worst = 0;
  for (const [part, model, grads] of [
    ['encoder', m.encoder, g.encoder],
    ['decoder', m.decoder, g.decoder],
  ] as const) {
    const w = model.getWeights();
    t.deepEqual(Object.keys(grads).sort(), Object.keys(w).sort(), `${part}: a gradient for every weight`);
    for (const name of Object.keys(w)) {
      const data = w[name]!.data as Float64Array;
      const ga = grads[name]!.data;
      for (const i of pick(data, ga)) {
        const f = async (v: number) => {
          const copy = Float64Array.from(data);
          copy[i] = v;
          model.setWeights({ [name]: copy });
          return (await m.gradients(sources, targets, { training: false })).loss;
        };
        const eps = 1e-5;
        const num = ((await f(data[i]! + eps)) - (await f(data[i]! - eps))) / (2 * eps);
        model.setWeights({ [name]: data });
        const ana = ga[i]!;
        const err = Math.abs(num - ana) / Math.max(Math.abs(num) + Math.abs(ana), 1e-4);
        worst = Math.max(worst, err);
        if (Math.abs(ana) > 1e-6) checked++;
        t.true(err < 1e-5, `${part} ${name}[${i}]: analytic ${ana}, numeric ${num}`);
      }
    }
  }
  t.log(`worst relative error ${worst.toExponential(2)} over ${checked} non-zero elements`);
  return { worst, checked };
}
