#include "optim.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "isa.h"

// Forced inline so the update compiles into each SIMD clone below.
#define RNNKIT_UPDATE inline __attribute__((always_inline))

namespace rnnkit {

// The sum of squares runs in 8 independent double lanes: one running sum is an
// ordered reduction the compiler keeps scalar, one add latency per weight
// (~0.12 ms per pass over LSTM-128's 107k weights, perf).
template <class T>
static double sumSquares(const T* g, size_t n) {
  constexpr size_t L = 8;
  double lane[L] = {};
  size_t i = 0;
  for (; i + L <= n; i += L)
    for (size_t l = 0; l < L; ++l) lane[l] += (double)g[i + l] * g[i + l];
  double s = 0;
  for (size_t l = 0; l < L; ++l) s += lane[l];
  for (; i < n; ++i) s += (double)g[i] * g[i];
  return s;
}

template <class T>
double l2norm(const T* g, size_t n) {
  return std::sqrt(sumSquares(g, n));
}

template <class T>
double l2norm(const T* g, const std::vector<Span>& spans) {
  double s = 0;
  for (const Span& r : spans) s += sumSquares(g + r.a, r.b - r.a);
  return std::sqrt(s);
}

template <class T>
void clipGradients(T* g, size_t n, double clipValue, double clipNorm, double norm) {
  if (clipValue > 0) {
    const T c = (T)clipValue;
    for (size_t i = 0; i < n; ++i) g[i] = std::min(std::max(g[i], -c), c);
    norm = -1;  // changed: measured again below
  }
  if (clipNorm > 0) {
    const double coef = clipNorm / ((norm >= 0 ? norm : l2norm(g, n)) + 1e-6);
    if (coef < 1)
      for (size_t i = 0; i < n; ++i) g[i] = (T)(g[i] * coef);
  }
}

template <class T>
void clipGradients(T* g, const std::vector<Span>& spans, double clipValue, double clipNorm, double norm) {
  if (clipValue > 0) {
    for (const Span& r : spans) clipGradients(g + r.a, r.b - r.a, clipValue, 0.0);
    norm = -1;
  }
  if (clipNorm > 0) {
    const double total = norm >= 0 ? norm : l2norm(g, spans);
    for (const Span& r : spans) clipGradients(g + r.a, r.b - r.a, 0.0, clipNorm, total);
  }
}

namespace {

// The scalars of one step, in the parameters' precision (torch.optim computes
// in the parameters' dtype too: float32 math for float32 weights).
template <class T>
struct StepScalars {
  T lr, wd, mu, b1, b2, eps, stepSize, sqrtBc2, decay, sparseStepSize;
};

// New (p, m, v) of element i, as torch.optim.SGD / Adam / AdamW compute them.
// Kind: 0 SGD, 1 Adam (L2 in the gradient), 2 AdamW (decoupled decay), 3 torch.optim.SparseAdam
// (the rows of a sparse embedding under Adam: the bias correction sqrt(1 - b2^t) is folded into
// the step size, so eps is added to sqrt(v) itself; m and v updated as m + (1 - b1)(g - m)).
template <class T, int Kind, bool Momentum, bool Nesterov, bool First>
RNNKIT_UPDATE void update(const StepScalars<T>& k, T p, T g, T m, T v, T& pn, T& mn, T& vn) {
  if (Kind == 0) {
    T d = g + k.wd * p;
    if (Momentum) {
      const T buf = First ? d : k.mu * m + d;
      mn = buf;
      d = Nesterov ? d + k.mu * buf : buf;
    } else {
      mn = m;
    }
    vn = v;
    pn = p - k.lr * d;
    return;
  }
  T pv = p, gi = g;
  if (Kind == 3) {
    gi += k.wd * pv;
    mn = m + (gi - m) * (T(1) - k.b1);
    vn = v + (gi * gi - v) * (T(1) - k.b2);
    pn = pv - k.sparseStepSize * (mn / (std::sqrt(vn) + k.eps));
    return;
  }
  if (Kind == 2) pv *= k.decay;
  else gi += k.wd * pv;
  mn = k.b1 * m + (T(1) - k.b1) * gi;
  vn = k.b2 * v + (T(1) - k.b2) * gi * gi;
  pn = pv - k.stepSize * mn / (std::sqrt(vn) / k.sqrtBc2 + k.eps);
}

template <class T>
RNNKIT_UPDATE bool finite(T x) {
  return std::fabs(x) <= std::numeric_limits<T>::max();  // false for NaN and +-Inf; vectorises
}

// Two passes over the contiguous block, each a straight vectorisable loop: the
// first only checks that every new weight and moment is finite (nothing is
// written otherwise: an absurd learning rate or a huge gradient leaves the model
// as it was), the second writes.
// Mode: Both (check, then write), CheckOnly, WriteOnly (several spans: every span is checked
// before any is written).
enum Mode { Both, CheckOnly, WriteOnly };
template <class T, int Kind, bool Momentum, bool Nesterov, bool First>
RNNKIT_UPDATE bool updateAll(const StepScalars<T>& k, T* __restrict p, const T* __restrict g, T* __restrict m,
                             T* __restrict v, size_t n, Mode mode) {
  if (mode != WriteOnly) {
    size_t bad = 0;
    for (size_t i = 0; i < n; ++i) {
      T pn, mn, vn;
      update<T, Kind, Momentum, Nesterov, First>(k, p[i], g[i], m ? m[i] : T(0), v ? v[i] : T(0), pn, mn, vn);
      bad += !(finite(pn) & finite(mn) & finite(vn));
    }
    if (bad) return false;
  }
  if (mode == CheckOnly) return true;
  for (size_t i = 0; i < n; ++i) {
    T pn, mn, vn;
    update<T, Kind, Momentum, Nesterov, First>(k, p[i], g[i], m ? m[i] : T(0), v ? v[i] : T(0), pn, mn, vn);
    p[i] = pn;
    if (m) m[i] = mn;
    if (v) v[i] = vn;
  }
  return true;
}

// sparse: the rows of a sparse embedding (Adam runs as SparseAdam there; the other optimizers
// have no sparse form of their own and keep theirs).
template <class T>
RNNKIT_UPDATE bool dispatch(const OptimizerSpec& opt, bool first, bool sparse, Mode mode, const StepScalars<T>& k, T* p,
                            const T* g, T* m, T* v, size_t n) {
  if (opt.type == OptimizerSpec::Adam) {
    if (sparse) return updateAll<T, 3, false, false, false>(k, p, g, m, v, n, mode);
    return updateAll<T, 1, false, false, false>(k, p, g, m, v, n, mode);
  }
  if (opt.type == OptimizerSpec::AdamW) return updateAll<T, 2, false, false, false>(k, p, g, m, v, n, mode);
  if (!(opt.momentum > 0)) return updateAll<T, 0, false, false, false>(k, p, g, nullptr, nullptr, n, mode);
  if (opt.nesterov) {
    if (first) return updateAll<T, 0, true, true, true>(k, p, g, m, nullptr, n, mode);
    return updateAll<T, 0, true, true, false>(k, p, g, m, nullptr, n, mode);
  }
  if (first) return updateAll<T, 0, true, false, true>(k, p, g, m, nullptr, n, mode);
  return updateAll<T, 0, true, false, false>(k, p, g, m, nullptr, n, mode);
}

// float: AVX-512 / AVX2 / baseline clones (sqrt and divide per weight); double: baseline.
RNNKIT_ISA_DISPATCH(bool, dispatchF32,
                    (const OptimizerSpec& opt, bool first, bool sparse, Mode mode, const StepScalars<float>& k,
                     float* p, const float* g, float* m, float* v, size_t n),
                    (opt, first, sparse, mode, k, p, g, m, v, n), dispatch<float>)
bool dispatchT(const OptimizerSpec& opt, bool first, bool sparse, Mode mode, const StepScalars<float>& k, float* p,
               const float* g, float* m, float* v, size_t n) {
  return dispatchF32(opt, first, sparse, mode, k, p, g, m, v, n);
}
bool dispatchT(const OptimizerSpec& opt, bool first, bool sparse, Mode mode, const StepScalars<double>& k, double* p,
               const double* g, double* m, double* v, size_t n) {
  return dispatch<double>(opt, first, sparse, mode, k, p, g, m, v, n);
}

}  // namespace

template <class T>
bool optimizerStep(T* p, const T* g, size_t n, const OptimizerSpec& opt, OptimizerState<T>& st) {
  return optimizerStep(p, g, n, std::vector<Span>{{0, n, false}}, opt, st);
}

template <class T>
bool optimizerStep(T* p, const T* g, size_t n, const std::vector<Span>& spans, const OptimizerSpec& opt,
                   OptimizerState<T>& st) {
  if (st.type != opt.type || st.m.size() != n) {
    st.reset();
    st.type = opt.type;
    st.m.assign(n, T(0));
    if (opt.type != OptimizerSpec::Sgd) st.v.assign(n, T(0));
  }
  const bool first = st.steps == 0, sgd = opt.type == OptimizerSpec::Sgd;
  const int64_t t = st.steps + 1;
  const double bc1 = 1 - std::pow(opt.beta1, (double)t), bc2 = 1 - std::pow(opt.beta2, (double)t);
  StepScalars<T> k;
  k.lr = (T)opt.lr;
  k.wd = (T)opt.weightDecay;
  k.mu = (T)opt.momentum;
  k.b1 = (T)opt.beta1;
  k.b2 = (T)opt.beta2;
  k.eps = (T)opt.eps;
  k.stepSize = (T)(opt.lr / bc1);
  k.sqrtBc2 = (T)std::sqrt(bc2);
  k.decay = (T)(1 - opt.lr * opt.weightDecay);
  k.sparseStepSize = (T)(opt.lr * std::sqrt(bc2) / bc1);
  T* m = sgd && !(opt.momentum > 0) ? nullptr : st.m.data();
  T* v = sgd ? nullptr : st.v.data();
  auto run = [&](const Span& r, Mode mode) {
    return dispatchT(opt, first, r.sparse, mode, k, p + r.a, g + r.a, m ? m + r.a : nullptr, v ? v + r.a : nullptr,
                     r.b - r.a);
  };
  if (spans.size() == 1) {
    if (!run(spans[0], Both)) return false;
  } else {
    for (const Span& r : spans)
      if (!run(r, CheckOnly)) return false;
    for (const Span& r : spans) run(r, WriteOnly);
  }
  st.steps += 1;
  return true;
}

template double l2norm<float>(const float*, size_t);
template double l2norm<double>(const double*, size_t);
template double l2norm<float>(const float*, const std::vector<Span>&);
template double l2norm<double>(const double*, const std::vector<Span>&);
template void clipGradients<float>(float*, const std::vector<Span>&, double, double, double);
template void clipGradients<double>(double*, const std::vector<Span>&, double, double, double);
template bool optimizerStep<float>(float*, const float*, size_t, const std::vector<Span>&, const OptimizerSpec&,
                                   OptimizerState<float>&);
template bool optimizerStep<double>(double*, const double*, size_t, const std::vector<Span>&, const OptimizerSpec&,
                                    OptimizerState<double>&);
template void clipGradients<float>(float*, size_t, double, double, double);
template void clipGradients<double>(double*, size_t, double, double, double);
template bool optimizerStep<float>(float*, const float*, size_t, const OptimizerSpec&, OptimizerState<float>&);
template bool optimizerStep<double>(double*, const double*, size_t, const OptimizerSpec&, OptimizerState<double>&);

}  // namespace rnnkit
