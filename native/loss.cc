#include "loss.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "errors.h"
#include "isa.h"
#include "ops.h"
#include "parallel.h"

namespace rnnkit {

namespace {

// Softmax cross-entropy of one row of logits z (K) against the target
// (1 - eps) onehot(cls) + eps/K: returns -(1 - eps) log p[cls] - (eps/K) sum_k log p[k],
// p = softmax(z), and writes g = (p - target) * scale. One exp per logit; eps = 0 is
// the plain one-hot loss, to the bit.
// The max and the sum run in 16 independent lanes so that they vectorise (a
// single running max or sum is an ordered reduction the compiler keeps scalar).
template <class T>
inline __attribute__((always_inline)) double crossEntropyRowImpl(const T* __restrict z, int K, int cls, T scale,
                                                                 double eps, T* __restrict g) {
  constexpr int L = 16;
  T lane[L];
  for (int l = 0; l < L; ++l) lane[l] = z[0];
  int k = 0;
  for (; k + L <= K; k += L)
    for (int l = 0; l < L; ++l) lane[l] = z[k + l] > lane[l] ? z[k + l] : lane[l];
  T m = lane[0];
  for (int l = 1; l < L; ++l) m = lane[l] > m ? lane[l] : m;
  for (; k < K; ++k) m = z[k] > m ? z[k] : m;
  for (int j = 0; j < K; ++j) g[j] = expT(z[j] - m);
  for (int l = 0; l < L; ++l) lane[l] = T(0);
  for (k = 0; k + L <= K; k += L)
    for (int l = 0; l < L; ++l) lane[l] += g[k + l];
  double s = 0;
  for (int l = 0; l < L; ++l) s += lane[l];
  for (; k < K; ++k) s += g[k];
  const T inv = (T)(1.0 / s) * scale;
  for (int j = 0; j < K; ++j) g[j] *= inv;
  const double lse = (double)m + std::log(s);  // log sum exp z: -log p[k] = lse - z[k]
  if (eps == 0) {
    g[cls] -= scale;
    return lse - (double)z[cls];
  }
  const T each = (T)(eps / K) * scale;
  double zsum = 0;
  for (int j = 0; j < K; ++j) {
    g[j] -= each;
    zsum += z[j];
  }
  g[cls] -= (T)(1 - eps) * scale;
  return lse - (1 - eps) * (double)z[cls] - eps / K * zsum;
}

RNNKIT_ISA_DISPATCH(double, crossEntropyRow, (const float* z, int K, int cls, float scale, double eps, float* g),
                    (z, K, cls, scale, eps, g), crossEntropyRowImpl<float>)
double crossEntropyRow(const double* z, int K, int cls, double scale, double eps, double* g) {
  return crossEntropyRowImpl<double>(z, K, cls, scale, eps, g);
}

}  // namespace

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
  gradIsPre = loss != LossType::Mse;
  if (loss == LossType::CrossEntropy && !targets.classes) throwRange("crossEntropy needs class-id targets");
  if (perElement && !targets.values) throwRange("this loss needs value targets");
  if (!(targets.labelSmoothing >= 0 && targets.labelSmoothing < 1))
    throwRange("Expected a number in [0, 1) for labelSmoothing but received " + std::to_string(targets.labelSmoothing));
  if (perElement && targets.labelSmoothing != 0) throwRange("labelSmoothing needs the crossEntropy loss");

  if (loss == LossType::CrossEntropy)  // checked first: the rows below run on worker threads, which cannot throw
    for (int r = 0; r < rows; ++r) {
      const int t = out.seq ? r / B : 0, b = out.seq ? r % B : r;
      if (out.seq && !ctx.active(t, b)) continue;
      const int32_t cls = targets.classes[out.seq ? (size_t)b * Tn + t : (size_t)b];
      if (cls < 0 || cls >= K)
        throwRange("Expected class ids in [0, " + std::to_string(K) + ") for targets but received " +
                   std::to_string(cls));
    }

  // Rows are independent: split across the model's threads, each summing its own
  // part of the loss, added in a fixed order.
  const int chunks = rowChunks(rows);
  std::vector<double> part(chunks, 0.0);
  forRows(ctx.pool, rows, [&](int r0, int r1, int chunk) {
    double total = 0;
    for (int r = r0; r < r1; ++r) {
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
          const T* z = lastAct == Activation::Softmax || lastAct == Activation::Linear ? logits + (size_t)r * K : y;
          total += crossEntropyRow(z, K, targets.classes[bf], scale, targets.labelSmoothing, g);
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
    part[chunk] = total;
  });
  double total = 0;
  for (int k = 0; k < chunks; ++k) total += part[k];
  return total / denom;
}

template double computeLoss<float>(LossType, Reduction, Activation, const Ctx&, const Act<float>&, const float*,
                                   const Targets<float>&, float*, bool&);
template double computeLoss<double>(LossType, Reduction, Activation, const Ctx&, const Act<double>&, const double*,
                                    const Targets<double>&, double*, bool&);

}  // namespace rnnkit
