#include "embedding.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "parallel.h"
#include "rng.h"

namespace rnnkit {

template <class T>
void EmbeddingLayer<T>::describe(int index, size_t& offset, std::vector<ParamInfo>& table) {
  wOff_ = offset;
  table.push_back({index, "weight", {V_, E_}, offset, (size_t)V_ * E_});
  offset += (size_t)V_ * E_;
}

// PyTorch's nn.Embedding initialisation: every entry ~ N(0, 1); the padding row zero.
template <class T>
void EmbeddingLayer<T>::init(T* params, uint64_t seed) {
  Rng rng(seed);
  T* W = params + wOff_;
  for (size_t i = 0; i < (size_t)V_ * E_; i += 2) {  // Box-Muller, two normals per pair of uniforms
    const double u1 = std::max(rng.uniform(), 1e-300), u2 = rng.uniform();
    const double r = std::sqrt(-2 * std::log(u1)), a = 2 * M_PI * u2;
    W[i] = (T)(r * std::cos(a));
    if (i + 1 < (size_t)V_ * E_) W[i + 1] = (T)(r * std::sin(a));
  }
  if (pad_ >= 0) std::fill(W + (size_t)pad_ * E_, W + (size_t)(pad_ + 1) * E_, T(0));
}

template <class T>
Act<T> EmbeddingLayer<T>::forward(const Ctx& ctx, const T* params, const Act<T>& in, const LayerIO<T>&, int) {
  const T* W = params + wOff_;  // (V, E)
  const int rows = in.rows, E = E_;
  T* y = ensure(out_, (size_t)rows * E);  // (T*B, E)
  forRows(ctx.pool, rows, [&](int r0, int r1, int) {
    for (int r = r0; r < r1; ++r) {
      T* dst = y + (size_t)r * E;
      if (!in.seq || ctx.active(r / ctx.B, r % ctx.B)) std::memcpy(dst, W + (size_t)in.tokens[r] * E, sizeof(T) * E);
      else std::fill(dst, dst + E, T(0));
    }
  });
  return outputAct<T>(y, rows, E, in.seq);
}

// Rows that share a token add into the same row of dW, so the scatter runs on
// one thread, in row order (a fixed order of the sums).
template <class T>
void EmbeddingLayer<T>::backward(const Ctx& ctx, const T*, T* dParams, const Act<T>& in, T* dOut, T*, const LayerIO<T>&,
                                 int) {
  if (frozen_) return;
  T* dW = dParams + wOff_;
  const int E = E_;
  for (int r = 0; r < in.rows; ++r) {
    const int32_t v = in.tokens[r];
    if (v == pad_ || (in.seq && !ctx.active(r / ctx.B, r % ctx.B))) continue;
    T* g = dW + (size_t)v * E;
    const T* d = dOut + (size_t)r * E;
    for (int j = 0; j < E; ++j) g[j] += d[j];
    if (sparse_ && !used_[v]) {
      used_[v] = 1;
      rows_.push_back(v);
    }
  }
  if (sparse_) std::sort(rows_.begin(), rows_.end());
}

template <class T>
void EmbeddingLayer<T>::clearRows() {
  for (int v : rows_) used_[v] = 0;
  rows_.clear();
}

template <class T>
void EmbeddingLayer<T>::markRows(const T* dParams) {
  clearRows();
  const T* dW = dParams + wOff_;
  for (int v = 0; v < V_; ++v) {
    const T* g = dW + (size_t)v * E_;
    if (std::any_of(g, g + E_, [](T x) { return x != T(0); })) {
      used_[v] = 1;
      rows_.push_back(v);
    }
  }
}

template class EmbeddingLayer<float>;
template class EmbeddingLayer<double>;

}  // namespace rnnkit
