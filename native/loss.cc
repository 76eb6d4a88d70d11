#include "loss.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "errors.h"
#include "ops.h"

namespace rnnkit {

template <class T>
double computeLoss(LossType loss, Reduction reduction, Activation lastAct, const Ctx& ctx, const Act<T>& out,
                   const T* logits, const Targets<T>& targets, T* dOut, bool& gradIsPre) {
  const int rows = out.rows, K = out.cols, B = ctx.B, Tn = ctx.T;
  // Valid rows and the batch-first index of each.
  size_t count = 0;
  for (int r = 0; r < rows; ++r)
    if (!out.seq || ctx.active(r / B, r % B)) ++count;
  const bool perElement = loss != LossType::CrossEntropy;
  const double denom = reduction == Reduction::Mean ? (double)count * (perElement ? K : 1) : 1.0;
  const T scale = (T)(1.0 / denom);
  double total = 0;
  gradIsPre = loss != LossType::Mse;
  if (loss == LossType::CrossEntropy && !targets.classes) throwRange("crossEntropy needs class-id targets");
  if (perElement && !targets.values) throwRange("this loss needs value targets");

  for (int r = 0; r < rows; ++r) {
    T* g = dOut + (size_t)r * K;
    const int t = out.seq ? r / B : 0, b = out.seq ? r % B : r;
    if (out.seq && !ctx.active(t, b)) {
      std::fill(g, g + K, T(0));
      continue;
    }
    const size_t bf = out.seq ? (size_t)b * Tn + t : (size_t)b;  // batch-first position
    const T* y = out.data + (size_t)r * K;
    switch (loss) {
      case LossType::CrossEntropy: {
        const int32_t cls = targets.classes[bf];
        if (cls < 0 || cls >= K)
          throwRange("Expected class ids in [0, " + std::to_string(K) + ") for targets but received " +
                     std::to_string(cls));
        const T* z = lastAct == Activation::Softmax || lastAct == Activation::Linear ? logits + (size_t)r * K : y;
        T m = z[0];
        for (int k = 1; k < K; ++k) m = std::max(m, z[k]);
        // one exp per logit: g holds exp(z - m), then the softmax times the scale
        for (int k = 0; k < K; ++k) g[k] = expT(z[k] - m);
        double s = 0;
        for (int k = 0; k < K; ++k) s += g[k];
        total += (double)m + std::log(s) - (double)z[cls];
        const T inv = (T)(1.0 / s) * scale;
        for (int k = 0; k < K; ++k) g[k] *= inv;
        g[cls] -= scale;
        break;
      }
      case LossType::BinaryCrossEntropy: {
        const T* z = logits + (size_t)r * K;
        const T* tv = targets.values + bf * K;
        for (int k = 0; k < K; ++k) {
          const double zz = z[k], yy = tv[k];
          total += std::max(zz, 0.0) - zz * yy + std::log1p(std::exp(-std::fabs(zz)));
          g[k] = (sigm(z[k]) - tv[k]) * scale;
        }
        break;
      }
      case LossType::Mse: {
        const T* tv = targets.values + bf * K;
        for (int k = 0; k < K; ++k) {
          const T e = y[k] - tv[k];
          total += (double)e * e;
          g[k] = T(2) * e * scale;
        }
        break;
      }
    }
  }
  return total / denom;
}

template double computeLoss<float>(LossType, Reduction, Activation, const Ctx&, const Act<float>&, const float*,
                                   const Targets<float>&, float*, bool&);
template double computeLoss<double>(LossType, Reduction, Activation, const Ctx&, const Act<double>&, const double*,
                                    const Targets<double>&, double*, bool&);

}  // namespace rnnkit
