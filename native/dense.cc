#include "dense.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "blas.h"
#include "embed.h"
#include "ops.h"
#include "parallel.h"
#include "rng.h"
#include "stepgemm.h"

namespace rnnkit {

template <class T>
void DenseLayer<T>::describe(int index, size_t& offset, std::vector<ParamInfo>& table) {
  if (!tied_) {
    wOff_ = offset;
    table.push_back({index, "weight", {K_, D_}, offset, (size_t)K_ * D_});
    offset += (size_t)K_ * D_;
  }
  bOff_ = offset;
  table.push_back({index, "bias", {K_}, offset, (size_t)K_});
  offset += K_;
}

// PyTorch's nn.Linear initialisation: weight and bias ~ U(-1/sqrt(D), 1/sqrt(D)); a
// tied weight keeps the embedding's values.
template <class T>
void DenseLayer<T>::init(T* params, uint64_t seed) {
  Rng rng(seed);
  const double k = 1.0 / std::sqrt((double)D_);
  for (size_t i = tied_ ? bOff_ : wOff_; i < bOff_ + K_; ++i) params[i] = (T)((2 * rng.uniform() - 1) * k);
}

// The products over all rows whose other operand is the weight matrix use the
// single-core step kernel on row chunks when the weights fit in cache (a
// language model's output layer: H x V = 128 x 64 is 32 KB); OpenBLAS's
// threads spent more time packing these narrow shapes than multiplying
// (perf: sgemm copies ~7% of RNN-128 training). Large weights (a word-level
// vocabulary) keep OpenBLAS, which blocks for the cache.
template <class T>
bool DenseLayer<T>::smallWeights(int rows) const {
  return rowChunks(rows) > 1 && (size_t)D_ * K_ <= ((size_t)1 << 16);
}

template <class T>
Act<T> DenseLayer<T>::forward(const Ctx& ctx, const T* params, const Act<T>& in, const LayerIO<T>&, int) {
  const T* W = params + wOff_;  // (K, D)
  const T* bias = params + bOff_;
  const int rows = in.rows, K = K_;
  T* y = ensure(out_, (size_t)rows * K);
  if (in.tokens) {
    gatherProjection(ctx, W, bias, K, D_, in.tokens, y, wt_, wtVersion_);
  } else {
    for (int r = 0; r < rows; ++r) std::memcpy(y + (size_t)r * K, bias, sizeof(T) * K);
    if (ctx.rowExact) {
      rowExactGemmNT<T>(ctx.pool, rows, K, D_, in.data, D_, W, D_, y, K, true);
    } else if (smallWeights(rows)) {  // y += in W^T, rows split across threads, W^T (D, K) cache-resident
      T* WT = ensure(wT_, (size_t)D_ * K);
      for (int k = 0; k < K; ++k)
        for (int d = 0; d < D_; ++d) WT[(size_t)d * K + k] = W[(size_t)k * D_ + d];
      forRows(ctx.pool, rows, [&](int r0, int r1, int) {
        stepGemm<T>(r1 - r0, K, D_, in.data + (size_t)r0 * D_, D_, WT, K, y + (size_t)r0 * K, K, true);
      });
    } else {
      parallelGemm<T>(ctx.pool, false, true, rows, K, D_, T(1), in.data, D_, W, D_, T(1), y, K);
    }
  }
  const Activation act = spec_.activation;
  if (act != Activation::Linear) {
    T* p = ensure(pre_, (size_t)rows * K);
    std::memcpy(p, y, sizeof(T) * rows * K);
    for (int r = 0; r < rows; ++r) {
      T* v = y + (size_t)r * K;
      switch (act) {
        case Activation::Softmax: {
          T m = v[0];
          for (int k = 1; k < K; ++k) m = std::max(m, v[k]);
          T s = 0;
          for (int k = 0; k < K; ++k) s += (v[k] = expT(v[k] - m));
          for (int k = 0; k < K; ++k) v[k] /= s;
          break;
        }
        case Activation::Sigmoid:
          for (int k = 0; k < K; ++k) v[k] = sigm(v[k]);
          break;
        case Activation::Tanh:
          for (int k = 0; k < K; ++k) v[k] = tanhT(v[k]);
          break;
        case Activation::Relu:
          for (int k = 0; k < K; ++k) v[k] = v[k] > T(0) ? v[k] : T(0);
          break;
        default: break;
      }
    }
  }
  if (in.seq)  // padded positions produce no output
    for (int r = 0; r < rows; ++r)
      if (!ctx.active(r / ctx.B, r % ctx.B)) std::fill(y + (size_t)r * K, y + (size_t)(r + 1) * K, T(0));
  return outputAct<T>(y, rows, K, in.seq);
}

template <class T>
void DenseLayer<T>::backward(const Ctx& ctx, const T* params, T* dParams, const Act<T>& in, T* dOut, T* dIn,
                             const LayerIO<T>& io, int) {
  const int rows = in.rows, K = K_;
  const T* y = out_.data();
  if (!io.gradIsPre) {  // dOut -> d(pre-activation), in place
    for (int r = 0; r < rows; ++r) {
      T* g = dOut + (size_t)r * K;
      const T* v = y + (size_t)r * K;
      switch (spec_.activation) {
        case Activation::Softmax: {
          T dot = 0;
          for (int k = 0; k < K; ++k) dot += g[k] * v[k];
          for (int k = 0; k < K; ++k) g[k] = v[k] * (g[k] - dot);
          break;
        }
        case Activation::Sigmoid:
          for (int k = 0; k < K; ++k) g[k] *= v[k] * (T(1) - v[k]);
          break;
        case Activation::Tanh:
          for (int k = 0; k < K; ++k) g[k] *= T(1) - v[k] * v[k];
          break;
        case Activation::Relu:
          for (int k = 0; k < K; ++k) g[k] = v[k] > T(0) ? g[k] : T(0);
          break;
        default: break;
      }
    }
  }
  T* dW = dParams + wOff_;
  T* db = dParams + bOff_;
  addColSums(dOut, rows, K, db);
  if (in.tokens) {
    scatterProjection(ctx, dOut, K, D_, in.tokens, dW, dwt_);
  } else {
    parallelGemm<T>(ctx.pool, true, false, K, D_, rows, T(1), dOut, K, in.data, D_, T(1), dW, D_);
    if (dIn && smallWeights(rows)) {  // dIn = dOut W, rows split across threads
      const T* W = params + wOff_;
      forRows(ctx.pool, rows, [&](int r0, int r1, int) {
        stepGemm<T>(r1 - r0, D_, K, dOut + (size_t)r0 * K, K, W, D_, dIn + (size_t)r0 * D_, D_, false);
      });
    } else if (dIn) {
      parallelGemm<T>(ctx.pool, false, false, rows, D_, K, T(1), dOut, K, params + wOff_, D_, T(0), dIn, D_);
    }
  }
}

template <class T>
Act<T> DropoutLayer<T>::forward(const Ctx& ctx, const T*, const Act<T>& in, const LayerIO<T>&, int layerIndex) {
  const size_t n = (size_t)in.rows * in.cols;
  T* y = ensure(out_, n);
  applied_ = ctx.training && rate_ > 0;
  if (!applied_) {
    std::memcpy(y, in.data, sizeof(T) * n);
  } else {
    T* m = ensure(mask_, n);
    const T scale = T(1) / T(1 - rate_);
    for (size_t i = 0; i < n; ++i) {
      m[i] = hashUniform(ctx.seed, ctx.step, (uint64_t)layerIndex, i) >= rate_ ? scale : T(0);
      y[i] = in.data[i] * m[i];
    }
  }
  Act<T> a = in;
  a.data = y;
  return a;
}

template <class T>
void DropoutLayer<T>::backward(const Ctx&, const T*, T*, const Act<T>& in, T* dOut, T* dIn, const LayerIO<T>&, int) {
  if (!dIn) return;
  const size_t n = (size_t)in.rows * in.cols;
  if (!applied_) std::memcpy(dIn, dOut, sizeof(T) * n);
  else
    for (size_t i = 0; i < n; ++i) dIn[i] = dOut[i] * mask_[i];
}

template class DenseLayer<float>;
template class DenseLayer<double>;
template class DropoutLayer<float>;
template class DropoutLayer<double>;

}  // namespace rnnkit
