/**
 * Finite-difference gradient checks through rnnkit's public API.
 *
 * The model must be built with dtype 'float64'. For a sampled subset of the
 * elements of every weight tensor (and of every initial state h0 / c0), the
 * analytic gradient from `model.gradients()` is compared with the central
 * difference
 *
 *     n = (f(w + eps) - f(w - eps)) / (2 eps)
 *
 * where f is the `loss` returned by `model.gradients()` after
 * `setWeights({ name: perturbed })` (or with a perturbed `initialState`).
 *
 * Error metric per element (symmetric relative error with an absolute floor):
 *
 *     err = |a - n| / max(|a| + |n|, floor)
 *
 * Step: eps = 1e-5 by default. The loss is known to ~1e-16 * |f| * (a few),
 * so round-off puts ~1e-15 * |f| / eps of absolute noise on n, while the
 * truncation error is ~eps^2 |f'''| / 6. Measured on an LSTM with a 'sum'
 * mse loss of ~19: |a - n| was 4e-9 at eps = 1e-6, 4e-10 at 1e-5 and 4e-11
 * at 1e-4, so 1e-6 spends a needless factor of 10 of the margin on noise.
 *
 * The floor (default 1e-4) keeps elements whose gradient is (close to) zero
 * from turning that noise into a large relative error: such elements are
 * effectively compared absolutely (|a - n| < tol * floor = 1e-9). Elements
 * with |a| + |n| above the floor are compared relatively; the whole suite's
 * worst element error is ~1e-6 against a tolerance of 1e-5, and a 1e-3
 * relative error planted in one analytic element gives err 5e-4.
 *
 * Kinks (ReLU): with `kinkGuard`, an element whose second difference
 * |f(w+eps) - 2 f(w) + f(w-eps)| / eps^2 exceeds `kinkCurvature` straddles a
 * point where the loss is not differentiable (a ReLU pre-activation crosses
 * 0 between w-eps and w+eps); it is recorded as skipped, not compared. A
 * smooth loss has a second derivative of O(1..100) here, a crossed kink one
 * of O(|slope jump| / eps) ~ 1e3..1e5 at eps = 1e-5.
 */
import { rng } from '../../examples/lib/random.js';
import type { ExecutionContext } from 'ava';

/** Row-major tensor as returned by the public API (data is Float64Array for dtype 'float64'). */
export interface Tensor {
  shape: number[];
  data: Float32Array | Float64Array;
}

export interface StateTensors {
  h: Tensor;
  c?: Tensor;
}

/** What the helper needs of a model; the public `sequential()` model satisfies it. */
export interface GradModel {
  getWeights(): Record<string, Tensor>;
  setWeights(weights: Record<string, Tensor | Float64Array>): void;
  gradients(
    inputs: any,
    targets: any,
    opts?: any,
  ): Promise<{ loss: number; grads: Record<string, Tensor>; initialStateGrads: StateTensors[] }>;
}

/** A given initial state of one recurrent layer (null: zeros). */
export type GivenState = { h: Tensor | Float64Array; c?: Tensor | Float64Array } | null;

export interface GradcheckSpec {
  model: GradModel;
  inputs: unknown;
  targets: unknown;
  lengths?: number[] | Int32Array;
  /** one entry per recurrent layer; omitted: no initialState option (zeros) */
  initialState?: GivenState[];
  /** passed to gradients() when defined */
  training?: boolean;
  /** elements checked per tensor (the largest-|analytic| one plus random others); default 6 */
  perTensor?: number;
  /** finite-difference step; default 1e-5 (see the file comment) */
  eps?: number;
  /** seed of the element sampler; default 1 */
  seed?: number;
  /** skip elements whose loss has a kink within +-eps (ReLU); default false */
  kinkGuard?: boolean;
  /** second-difference threshold of the kink guard; default 1e3 */
  kinkCurvature?: number;
  /** absolute floor of the error denominator; default 1e-4 */
  floor?: number;
}

export interface ElementCheck {
  /** flat index into the tensor */
  index: number;
  analytic: number;
  numeric: number;
  /** |a - n| / max(|a| + |n|, floor) */
  err: number;
}

export interface TensorCheck {
  /** weight name, or `state[<layer>].h` / `state[<layer>].c` */
  name: string;
  shape: number[];
  /** max |analytic| over the whole tensor */
  maxAbsGrad: number;
  checked: ElementCheck[];
  /** flat indices skipped by the kink guard */
  skipped: number[];
  /** the checked element with the largest err (undefined if none was checked) */
  worst?: ElementCheck;
}

export interface GradcheckResult {
  loss: number;
  weightNames: string[];
  gradNames: string[];
  weights: TensorCheck[];
  states: TensorCheck[];
}

/** mulberry32, the one seeded generator of tests, scripts and examples (examples/lib/random.ts). */
export { rng };

/** Uniform float in [lo, hi). */
export function uniform(r: () => number, lo: number, hi: number): number {
  return lo + (hi - lo) * r();
}

/** Uniform integer in [0, n). */
export function randint(r: () => number, n: number): number {
  return Math.floor(r() * n);
}

export function prod(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * Overwrites every weight with uniform(-scale, scale) values from a seeded
 * RNG, so the check does not depend on the library's initialiser (which may
 * zero biases) and all parameters, biases included, are generic.
 */
export function randomizeWeights(model: GradModel, seed: number, scale = 0.6): void {
  const r = rng(seed);
  const w = model.getWeights();
  const next: Record<string, Float64Array> = {};
  for (const name of Object.keys(w).sort()) {
    const data = new Float64Array(w[name]!.data.length);
    for (let i = 0; i < data.length; i++) data[i] = uniform(r, -scale, scale);
    next[name] = data;
  }
  model.setWeights(next);
}

function asArray(x: Tensor | Float64Array): Float64Array {
  const d = x instanceof Float64Array ? x : x.data;
  if (!(d instanceof Float64Array)) throw new TypeError('gradcheck: initial states must be Float64Array');
  return d;
}

/** Indices to check: the argmax of |g| first, then distinct random ones, k in all. */
function sampleIndices(g: ArrayLike<number>, k: number, r: () => number): number[] {
  const n = g.length;
  let best = 0;
  for (let i = 1; i < n; i++) if (Math.abs(g[i]!) > Math.abs(g[best]!)) best = i;
  const picked = [best];
  const seen = new Set(picked);
  const want = Math.min(k, n);
  while (picked.length < want) {
    const i = randint(r, n);
    if (!seen.has(i)) {
      seen.add(i);
      picked.push(i);
    }
  }
  return picked;
}

function maxAbs(g: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < g.length; i++) m = Math.max(m, Math.abs(g[i]!));
  return m;
}

/**
 * Runs the check and returns per-tensor results; asserts nothing itself
 * (see `assertGradcheck`) except that gradients() is deterministic and that
 * an explicit all-zero / given initial state reproduces the base loss.
 */
export async function gradcheck(spec: GradcheckSpec): Promise<GradcheckResult> {
  const { model, inputs, targets } = spec;
  const eps = spec.eps ?? 1e-5;
  const k = spec.perTensor ?? 6;
  const floor = spec.floor ?? 1e-4;
  const kinkCurvature = spec.kinkCurvature ?? 1e3;
  const r = rng(spec.seed ?? 1);

  const baseOpts: Record<string, unknown> = {};
  if (spec.lengths !== undefined) baseOpts.lengths = spec.lengths;
  if (spec.initialState !== undefined) baseOpts.initialState = spec.initialState;
  if (spec.training !== undefined) baseOpts.training = spec.training;

  const base = await model.gradients(inputs, targets, baseOpts);
  const f0 = base.loss;
  if (!Number.isFinite(f0)) throw new Error(`gradcheck: base loss is not finite: ${f0}`);

  // The central difference is meaningless unless f is a deterministic function
  // of the weights (dropout masks included: the contract fixes them across calls).
  const again = await model.gradients(inputs, targets, baseOpts);
  if (again.loss !== f0) throw new Error(`gradcheck: gradients() is not deterministic: loss ${f0} then ${again.loss}`);

  const weights = model.getWeights();
  const weightNames = Object.keys(weights);
  const gradNames = Object.keys(base.grads);

  // central difference with optional kink detection
  const diff = async (evalAt: (delta: number) => Promise<number>): Promise<{ numeric: number; kink: boolean }> => {
    const fp = await evalAt(+eps);
    const fm = await evalAt(-eps);
    const numeric = (fp - fm) / (2 * eps);
    const curvature = Math.abs(fp - 2 * f0 + fm) / (eps * eps);
    return { numeric, kink: spec.kinkGuard === true && curvature > kinkCurvature };
  };

  const check = async (
    name: string,
    shape: number[],
    analytic: ArrayLike<number>,
    evalAtElement: (index: number, delta: number) => Promise<number>,
  ): Promise<TensorCheck> => {
    const out: TensorCheck = { name, shape, maxAbsGrad: maxAbs(analytic), checked: [], skipped: [] };
    for (const index of sampleIndices(analytic, k, r)) {
      const { numeric, kink } = await diff((delta) => evalAtElement(index, delta));
      if (kink) {
        out.skipped.push(index);
        continue;
      }
      const a = analytic[index]!;
      const err = Math.abs(a - numeric) / Math.max(Math.abs(a) + Math.abs(numeric), floor);
      const e: ElementCheck = { index, analytic: a, numeric, err };
      out.checked.push(e);
      if (out.worst === undefined || err > out.worst.err) out.worst = e;
    }
    return out;
  };

  // ---- weights
  const weightChecks: TensorCheck[] = [];
  for (const name of weightNames) {
    const grad = base.grads[name];
    if (grad === undefined) continue; // reported by assertGradcheck via gradNames
    const orig = weights[name]!.data;
    if (!(orig instanceof Float64Array)) throw new TypeError(`gradcheck: weight ${name} is not Float64Array`);
    const evalAt = async (index: number, delta: number): Promise<number> => {
      const w = Float64Array.from(orig);
      w[index] = orig[index]! + delta;
      model.setWeights({ [name]: w });
      try {
        return (await model.gradients(inputs, targets, baseOpts)).loss;
      } finally {
        model.setWeights({ [name]: Float64Array.from(orig) });
      }
    };
    weightChecks.push(await check(name, weights[name]!.shape, grad.data, evalAt));
  }

  // ---- initial states: perturb around the given state (zeros where none was given),
  // always passing an explicit state for every recurrent layer.
  const stateChecks: TensorCheck[] = [];
  const sg = base.initialStateGrads;
  const given = spec.initialState;
  const explicit = sg.map((g, l) => {
    const gl = given?.[l] ?? null;
    const h = gl ? Float64Array.from(asArray(gl.h)) : new Float64Array(prod(g.h.shape));
    const c = g.c ? (gl?.c ? Float64Array.from(asArray(gl.c)) : new Float64Array(prod(g.c.shape))) : undefined;
    return { h, c, hShape: g.h.shape, cShape: g.c?.shape };
  });
  const stateOpt = (layer: number, which: 'h' | 'c', index: number, delta: number) =>
    explicit.map((s, l) => {
      const h = Float64Array.from(s.h);
      const c = s.c ? Float64Array.from(s.c) : undefined;
      if (l === layer) {
        const tgt = which === 'h' ? h : c!;
        tgt[index] = tgt[index]! + delta;
      }
      const st: { h: Tensor; c?: Tensor } = { h: { shape: s.hShape, data: h } };
      if (c) st.c = { shape: s.cShape!, data: c };
      return st;
    });
  if (sg.length > 0) {
    const fExplicit = (await model.gradients(inputs, targets, { ...baseOpts, initialState: stateOpt(-1, 'h', 0, 0) })).loss;
    if (Math.abs(fExplicit - f0) > 1e-12 * Math.max(1, Math.abs(f0))) {
      throw new Error(`gradcheck: explicit initial state (zeros for missing) gives loss ${fExplicit}, base ${f0}`);
    }
  }
  for (let l = 0; l < sg.length; l++) {
    for (const which of ['h', 'c'] as const) {
      const g = sg[l]![which];
      if (!g) continue;
      const evalAt = async (index: number, delta: number): Promise<number> =>
        (await model.gradients(inputs, targets, { ...baseOpts, initialState: stateOpt(l, which, index, delta) })).loss;
      stateChecks.push(await check(`state[${l}].${which}`, g.shape, g.data, evalAt));
    }
  }

  return { loss: f0, weightNames, gradNames, weights: weightChecks, states: stateChecks };
}

export interface AssertOptions {
  /** max allowed err per element; default 1e-5 */
  tol?: number;
  /** a tensor's largest |gradient| must exceed this (non-vacuous check); default 1e-6 */
  minGrad?: number;
  /** recurrent layers expected in initialStateGrads (count), when known */
  stateLayers?: number;
}

const fmt = (x: number) => x.toExponential(2);

/**
 * Asserts a gradcheck result: grads has exactly the weight names, every
 * tensor (weights and states) was checked on at least one element, has a
 * non-negligible gradient, and its worst element error is below `tol`.
 * Logs the worst element per tensor.
 */
export function assertGradcheck(t: ExecutionContext, res: GradcheckResult, opts: AssertOptions = {}): void {
  const tol = opts.tol ?? 1e-5;
  const minGrad = opts.minGrad ?? 1e-6;
  t.deepEqual([...res.gradNames].sort(), [...res.weightNames].sort(), 'grads keys must equal getWeights() keys');
  t.true(res.weightNames.length > 0, 'model has weights');
  if (opts.stateLayers !== undefined) t.is(res.states.filter((s) => s.name.endsWith('.h')).length, opts.stateLayers);

  let worstAll = 0;
  for (const c of [...res.weights, ...res.states]) {
    const w = c.worst;
    const skipped = c.skipped.length ? ` (${c.skipped.length} skipped at kinks)` : '';
    t.log(
      `${c.name.padEnd(34)} [${c.shape.join('x')}] max|g| ${fmt(c.maxAbsGrad)}  ` +
        (w
          ? `worst err ${fmt(w.err)} @${w.index}: analytic ${w.analytic.toPrecision(10)} numeric ${w.numeric.toPrecision(10)}`
          : 'no element checked') +
        skipped,
    );
    t.true(c.checked.length > 0, `${c.name}: at least one element checked`);
    t.true(c.maxAbsGrad > minGrad, `${c.name}: gradient is non-negligible (max |g| ${fmt(c.maxAbsGrad)})`);
    // the argmax element is checked unless it sat on a kink
    const big = c.checked.some((e) => Math.abs(e.analytic) > minGrad && Math.abs(e.numeric) > minGrad);
    t.true(big, `${c.name}: a checked element has a non-negligible analytic and numeric gradient`);
    for (const e of c.checked) {
      if (!(e.err < tol)) {
        t.fail(`${c.name}[${e.index}]: analytic ${e.analytic} vs numeric ${e.numeric} (err ${fmt(e.err)} >= ${fmt(tol)})`);
      }
    }
    if (w) worstAll = Math.max(worstAll, w.err);
  }
  t.log(`loss ${res.loss.toPrecision(12)}; worst err over all tensors ${fmt(worstAll)}`);
}
