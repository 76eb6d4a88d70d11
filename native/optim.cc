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
void optimizerStep(T* p, const T* g, size_t n, const OptimizerSpec& opt, OptimizerState<T>& st) {
  if (st.type != (int)opt.type || st.m.size() != n) {
    st.reset();
    st.type = (int)opt.type;
    st.m.assign(n, T(0));
    if (opt.type != OptimizerSpec::Sgd) st.v.assign(n, T(0));
  }
  T* m = st.m.data();
  const double lr = opt.lr, wd = opt.weightDecay;
  if (opt.type == OptimizerSpec::Sgd) {
    const double mu = opt.momentum;
    const bool first = st.steps == 0;
    for (size_t i = 0; i < n; ++i) {
      double d = (double)g[i] + wd * p[i];
      if (mu > 0) {
        const double buf = first ? d : mu * m[i] + d;
        m[i] = (T)buf;
        d = opt.nesterov ? d + mu * buf : buf;
      }
      p[i] = (T)(p[i] - lr * d);
    }
  } else {
    T* v = st.v.data();
    const double b1 = opt.beta1, b2 = opt.beta2, eps = opt.eps;
    const int64_t t = st.steps + 1;
    const double bc1 = 1 - std::pow(b1, (double)t), bc2 = 1 - std::pow(b2, (double)t);
    const double stepSize = lr / bc1, sqrtBc2 = std::sqrt(bc2);
    const bool decoupled = opt.type == OptimizerSpec::AdamW;
    for (size_t i = 0; i < n; ++i) {
      double pi = p[i], gi = g[i];
      if (decoupled) pi *= 1 - lr * wd;
      else gi += wd * pi;
      const double mi = b1 * m[i] + (1 - b1) * gi;
      const double vi = b2 * v[i] + (1 - b2) * gi * gi;
      m[i] = (T)mi;
      v[i] = (T)vi;
      p[i] = (T)(pi - stepSize * mi / (std::sqrt(vi) / sqrtBc2 + eps));
    }
  }
  st.steps += 1;
}

template double l2norm<float>(const float*, size_t);
template double l2norm<double>(const double*, size_t);
template void clipGradients<float>(float*, size_t, double, double);
template void clipGradients<double>(double*, size_t, double, double);
template void optimizerStep<float>(float*, const float*, size_t, const OptimizerSpec&, OptimizerState<float>&);
template void optimizerStep<double>(double*, const double*, size_t, const OptimizerSpec&, OptimizerState<double>&);

}  // namespace rnnkit
