/**
 * Parity with PyTorch: golden fixtures from scripts/gen_parity_fixtures.py
 * (torch, float64) in test/fixtures/parity/. For every fixture and for both
 * dtypes: outputs, final states, loss, every parameter gradient and the
 * initial-state gradients, then two 5-step training runs (Adam + clipNorm,
 * SGD momentum + clipValue) whose per-step losses and pre-clip gradient norms
 * must match torch's (a sparse embedding's runs: on a new batch each step, and
 * the weights after the last step too).
 *
 * Metric per tensor: max|a - b| / max(max|b|, 1e-3), i.e. relative to the
 * reference tensor's scale; per scalar: |a - b| / max(|b|, 1e-3).
 */
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { sequential, layers } from '../lib/index.js';
import {
  floatArray,
  loadParityFixtures,
  tensorDiff,
  type FixtureLayer,
  type FixtureState,
  type ParityFixture,
} from './helpers/fixtures.js';

type Dtype = 'float32' | 'float64';

const DTYPES: Dtype[] = ['float32', 'float64'];
/** tensor: outputs, loss, gradients; step: losses and grad norms of the training runs */
const TOL: Record<Dtype, { tensor: number; step: number }> = {
  float32: { tensor: 1e-5, step: 1e-4 },
  float64: { tensor: 1e-9, step: 1e-9 },
};
const MIN_FIXTURES = 17;

const fixtures = loadParityFixtures();

function buildLayer(spec: FixtureLayer) {
  const common = { units: spec.units, bidirectional: spec.bidirectional ?? false, returnSequences: spec.returnSequences ?? true };
  switch (spec.type) {
    case 'rnn':
      return layers.rnn({ ...common, activation: spec.activation as 'tanh' | 'relu' });
    case 'gru':
      return layers.gru({ ...common, resetAfter: spec.resetAfter ?? true, variant: spec.variant ?? 'full' });
    case 'lstm':
      return layers.lstm({ ...common, peephole: spec.peephole ?? false });
    case 'dense':
      return layers.dense({
        units: spec.units,
        activation: (spec.activation ?? 'linear') as 'linear',
        tieEmbedding: spec.tieEmbedding ?? false,
      });
    case 'embedding':
      return layers.embedding({
        dim: spec.dim!,
        ...(spec.paddingIdx !== undefined ? { paddingIdx: spec.paddingIdx } : {}),
        sparse: spec.sparse ?? false,
      });
    default:
      throw new Error(`parity fixture: unknown layer type ${JSON.stringify(spec)}`);
  }
}

/** The recurrent layers' state shapes [dirs, B, H], in order. */
function stateShapes(fx: ParityFixture): number[][] {
  const B = fx.tokens.length;
  return fx.config.layers.filter((l) => l.type !== 'dense' && l.type !== 'embedding').map((l) => [l.bidirectional ? 2 : 1, B, l.units]);
}

function buildModel(fx: ParityFixture, dtype: Dtype) {
  const model = sequential({
    input: { vocabSize: fx.config.input.vocabSize },
    layers: fx.config.layers.map(buildLayer),
    loss: fx.config.loss,
    reduction: fx.config.reduction,
    seed: 7,
    dtype,
  });
  const weights: Record<string, { shape: number[]; data: Float32Array | Float64Array }> = {};
  for (const [name, w] of Object.entries(fx.weights)) weights[name] = { shape: w.shape, data: floatArray(dtype, w.data) };
  model.setWeights(weights);
  return model;
}

function initialState(fx: ParityFixture, dtype: Dtype) {
  if (!fx.initialState) return undefined;
  const shapes = stateShapes(fx);
  return fx.initialState.map((s, k) => {
    const shape = shapes[k]!;
    const st: { h: { shape: number[]; data: Float32Array | Float64Array }; c?: { shape: number[]; data: Float32Array | Float64Array } } = {
      h: { shape, data: floatArray(dtype, s.h) },
    };
    if (s.c) st.c = { shape, data: floatArray(dtype, s.c) };
    return st;
  });
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** Collects comparisons, logs each, and fails once at the end with every violation listed. */
class Checker {
  readonly failures: string[] = [];
  worst = 0;
  constructor(
    private readonly t: ExecutionContext,
    private readonly tol: number,
  ) {}

  fail(msg: string) {
    this.failures.push(msg);
  }

  tensor(
    label: string,
    actual: { shape: readonly number[]; data: ArrayLike<number> } | undefined,
    expShape: readonly number[],
    expData: number[],
    tol = this.tol,
  ) {
    if (!actual) return this.fail(`${label}: missing`);
    if (!sameShape(actual.shape, expShape)) {
      return this.fail(`${label}: shape [${actual.shape.join(',')}], expected [${expShape.join(',')}]`);
    }
    if (actual.data.length !== expData.length) {
      return this.fail(`${label}: ${actual.data.length} elements, expected ${expData.length}`);
    }
    const d = tensorDiff(actual.data, expData);
    this.worst = Math.max(this.worst, d.rel);
    const line = `${label}: max|diff| ${d.maxAbs.toExponential(2)}, rel ${d.rel.toExponential(2)} (scale ${d.scale.toExponential(2)})`;
    this.t.log(line);
    if (!(d.rel <= tol)) this.fail(`${line} > ${tol}`);
  }

  scalar(label: string, actual: number, expected: number, tol = this.tol) {
    const d = Math.abs(actual - expected) / Math.max(Math.abs(expected), 1e-3);
    const rel = Number.isNaN(d) ? Number.POSITIVE_INFINITY : d;
    this.worst = Math.max(this.worst, rel);
    const line = `${label}: ${actual} vs torch ${expected}, rel ${rel.toExponential(2)}`;
    this.t.log(line);
    if (!(rel <= tol)) this.fail(`${line} > ${tol}`);
  }

  finish() {
    this.t.log(`worst relative difference ${this.worst.toExponential(2)} (tolerance ${this.tol})`);
    this.t.deepEqual(this.failures, []);
  }
}

function checkStates(
  ck: Checker,
  label: string,
  actual:
    | readonly { h: { shape: readonly number[]; data: ArrayLike<number> }; c?: { shape: readonly number[]; data: ArrayLike<number> } }[]
    | undefined,
  expected: FixtureState[],
  shapes: number[][],
) {
  if (!actual) return ck.fail(`${label}: missing`);
  if (actual.length !== expected.length) return ck.fail(`${label}: ${actual.length} entries, expected ${expected.length}`);
  expected.forEach((e, k) => {
    ck.tensor(`${label}[${k}].h`, actual[k]!.h, shapes[k]!, e.h);
    if (e.c) ck.tensor(`${label}[${k}].c`, actual[k]!.c, shapes[k]!, e.c);
    else if (actual[k]!.c) ck.fail(`${label}[${k}].c: present, expected none`);
  });
}

test('parity fixtures are present', (t) => {
  t.true(fixtures.length >= MIN_FIXTURES, `expected >= ${MIN_FIXTURES} fixtures, found ${fixtures.length}; run npm run fixtures`);
  for (const fx of fixtures) {
    t.deepEqual(Object.keys(fx.grads).sort(), Object.keys(fx.weights).sort(), fx.name);
    t.is(fx.steps.length, 2, fx.name);
  }
});

for (const fx of fixtures) {
  for (const dtype of DTYPES) {
    const tol = TOL[dtype];

    test(`${fx.name} [${dtype}]: forward, loss and gradients match torch`, async (t) => {
      t.log(fx.description);
      const ck = new Checker(t, tol.tensor);
      const model = buildModel(fx, dtype);
      try {
        const opts = { lengths: fx.lengths, initialState: initialState(fx, dtype) };
        const shapes = stateShapes(fx);

        // weights: same names and shapes both ways, and setWeights round-trips exactly
        // (fixture weights are float32-representable)
        const w = model.getWeights();
        for (const name of Object.keys(w)) if (!(name in fx.weights)) ck.fail(`model weight ${name} is not in the fixture`);
        for (const [name, e] of Object.entries(fx.weights)) {
          const a = w[name];
          if (!a) ck.fail(`fixture weight ${name} is missing from getWeights()`);
          else if (!sameShape(a.shape, e.shape)) ck.fail(`weight ${name}: shape [${a.shape.join(',')}], expected [${e.shape.join(',')}]`);
          else if (!(a.data instanceof (dtype === 'float32' ? Float32Array : Float64Array)))
            ck.fail(`weight ${name}: not a ${dtype} array`);
          else if (tensorDiff(a.data, e.data).maxAbs !== 0) ck.fail(`weight ${name}: getWeights() after setWeights() differs`);
        }

        const fwd = await model.forward(fx.tokens, opts);
        ck.tensor('forward output', fwd.output, fx.output.shape, fx.output.data);
        checkStates(ck, 'finalState', fwd.finalState, fx.finalState, shapes);

        const pred = await model.predict(fx.tokens, opts);
        ck.tensor('predict output', pred, fx.output.shape, fx.output.data);

        const smoothing = fx.labelSmoothing !== undefined ? { labelSmoothing: fx.labelSmoothing } : {};
        const g = await model.gradients(fx.tokens, fx.targets, { ...opts, ...smoothing });
        ck.scalar('loss', g.loss, fx.loss);
        for (const name of Object.keys(g.grads)) if (!(name in fx.grads)) ck.fail(`model gradient ${name} is not in the fixture`);
        for (const [name, e] of Object.entries(fx.grads)) {
          ck.tensor(`grad ${name}`, g.grads[name], e.shape, e.data);
        }
        if (fx.initialStateGrads) {
          checkStates(ck, 'initialStateGrads', g.initialStateGrads, fx.initialStateGrads, shapes);
        }
      } finally {
        model.dispose();
      }
      ck.finish();
    });

    for (const steps of fx.steps) {
      const clip = steps.clipNorm !== undefined ? `clipNorm ${steps.clipNorm}` : `clipValue ${steps.clipValue}`;
      const label = `${steps.optimizer.type}${steps.optimizer.momentum ? ' momentum ' + steps.optimizer.momentum : ''} lr ${steps.optimizer.lr}, ${clip}`;
      test(`${fx.name} [${dtype}]: ${steps.losses.length} trainSteps (${label}) match torch`, async (t) => {
        const ck = new Checker(t, tol.step);
        const model = buildModel(fx, dtype);
        try {
          const opts = {
            lengths: fx.lengths,
            initialState: initialState(fx, dtype),
            ...(fx.labelSmoothing !== undefined ? { labelSmoothing: fx.labelSmoothing } : {}),
            optimizer: steps.optimizer,
            ...(steps.clipNorm !== undefined ? { clipNorm: steps.clipNorm } : {}),
            ...(steps.clipValue !== undefined ? { clipValue: steps.clipValue } : {}),
          };
          for (let i = 0; i < steps.losses.length; i++) {
            const batch = steps.batches?.[i] ?? fx;
            const r = await model.trainStep(batch.tokens, batch.targets, opts);
            ck.scalar(`step ${i + 1} loss`, r.loss, steps.losses[i]!);
            ck.scalar(`step ${i + 1} gradNorm`, r.gradNorm, steps.gradNorms[i]!);
          }
          if (steps.finalWeights) {
            const w = model.getWeights();
            for (const [name, e] of Object.entries(steps.finalWeights))
              ck.tensor(`weight ${name} after the steps`, w[name], e.shape, e.data);
          }
        } finally {
          model.dispose();
        }
        ck.finish();
      });
    }
  }
}
