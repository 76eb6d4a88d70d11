#include "optim.h"

#include <algorithm>
#include <cmath>

namespace rnnkit {

template <class T>
double l2norm(const T* g, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; ++i) s += (double)g[i] * g[i];
  return std::sqrt(s);
}

template <class T>
void clipGradients(T* g, size_t n, double clipValue, double clipNorm) {
  if (clipValue > 0) {
    const T c = (T)clipValue;
    for (size_t i = 0; i < n; ++i) g[i] = std::min(std::max(g[i], -c), c);
  }
  if (clipNorm > 0) {
    const double coef = clipNorm / (l2norm(g, n) + 1e-6);
    if (coef < 1)
      for (size_t i = 0; i < n; ++i) g[i] = (T)(g[i] * coef);
  }
}

template <class T>
bool optimizerStep(T* p, const T* g, size_t n, const OptimizerSpec& opt, OptimizerState<T>& st) {
  if (st.type != (int)opt.type || st.m.size() != n) {
    st.reset();
    st.type = (int)opt.type;
    st.m.assign(n, T(0));
    if (opt.type != OptimizerSpec::Sgd) st.v.assign(n, T(0));
  }
  T* m = st.m.data();
  T* v = st.v.data();
  const double lr = opt.lr, wd = opt.weightDecay;
  const double mu = opt.momentum, b1 = opt.beta1, b2 = opt.beta2, eps = opt.eps;
  const bool first = st.steps == 0, sgd = opt.type == OptimizerSpec::Sgd;
  const int64_t t = st.steps + 1;
  const double bc1 = 1 - std::pow(b1, (double)t), bc2 = 1 - std::pow(b2, (double)t);
  const double stepSize = lr / bc1, sqrtBc2 = std::sqrt(bc2);
  const bool decoupled = opt.type == OptimizerSpec::AdamW;
  // The new (p, m, v) of element i, as torch.optim.SGD / Adam / AdamW compute them.
  auto next = [&](size_t i, T& pi, T& mi, T& vi) {
    if (sgd) {
      double d = (double)g[i] + wd * p[i];
      if (mu > 0) {
        const double buf = first ? d : mu * m[i] + d;
        mi = (T)buf;
        d = opt.nesterov ? d + mu * buf : buf;
      }
      pi = (T)(p[i] - lr * d);
      return;
    }
    double pv = p[i], gi = g[i];
    if (decoupled) pv *= 1 - lr * wd;
    else gi += wd * pv;
    const double m1 = b1 * m[i] + (1 - b1) * gi;
    const double v1 = b2 * v[i] + (1 - b2) * gi * gi;
    mi = (T)m1;
    vi = (T)v1;
    pi = (T)(pv - stepSize * m1 / (std::sqrt(v1) / sqrtBc2 + eps));
  };
  // First pass: would any weight or moment stop being finite (an absurd learning rate,
  // a huge gradient)? Then nothing is written and the caller reports it.
  for (size_t i = 0; i < n; ++i) {
    T pi = p[i], mi = T(0), vi = T(0);
    next(i, pi, mi, vi);
    if (!std::isfinite(pi) || !std::isfinite(mi) || !std::isfinite(vi)) return false;
  }
  for (size_t i = 0; i < n; ++i) {
    T pi = p[i], mi = T(0), vi = T(0);
    next(i, pi, mi, vi);
    p[i] = pi;
    if (!sgd || mu > 0) m[i] = mi;
    if (!sgd) v[i] = vi;
  }
  st.steps += 1;
  return true;
}

template double l2norm<float>(const float*, size_t);
template double l2norm<double>(const double*, size_t);
template void clipGradients<float>(float*, size_t, double, double);
template void clipGradients<double>(double*, size_t, double, double);
template bool optimizerStep<float>(float*, const float*, size_t, const OptimizerSpec&, OptimizerState<float>&);
template bool optimizerStep<double>(double*, const double*, size_t, const OptimizerSpec&, OptimizerState<double>&);

}  // namespace rnnkit
