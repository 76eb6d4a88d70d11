// Token inputs: the product of a one-hot x<t> (V wide) with W^T is row x<t> of W^T,
// so the input projection is a row gather and its gradient a scatter-add; no GEMM
// over the vocabulary ever runs.
#pragma once
#include <algorithm>
#include <vector>

#include "layer.h"

namespace rnnkit {

// out (T*B, N) = W^T[tokens] + bias for active rows, 0 for padded rows.
// W is (N, V) row-major; wt caches W^T (V, N), rebuilt only when the parameters
// changed since (wtVersion != ctx.version), so step-by-step sampling pays no transpose.
template <class T>
void gatherProjection(const Ctx& ctx, const T* W, const T* bias, int N, int V, const int32_t* tokens, T* out,
                      std::vector<T>& wt, uint64_t& wtVersion) {
  T* w = ensure(wt, (size_t)V * N);
  if (wtVersion != ctx.version) {
    for (int n = 0; n < N; ++n)
      for (int v = 0; v < V; ++v) w[(size_t)v * N + n] = W[(size_t)n * V + v];
    wtVersion = ctx.version;
  }
  const size_t TB = (size_t)ctx.T * ctx.B;
  for (size_t row = 0; row < TB; ++row) {
    T* dst = out + row * N;
    if (!ctx.active((int)(row / ctx.B), (int)(row % ctx.B))) {
      std::fill(dst, dst + N, T(0));
      continue;
    }
    const T* src = w + (size_t)tokens[row] * N;
    for (int n = 0; n < N; ++n) dst[n] = src[n] + bias[n];
  }
}

// dW (N, V) += scatter of dOut (T*B, N) rows into the columns named by tokens (active rows only).
template <class T>
void scatterProjection(const Ctx& ctx, const T* dOut, int N, int V, const int32_t* tokens, T* dW,
                       std::vector<T>& scratch) {
  T* dwt = ensure(scratch, (size_t)V * N);
  std::fill(dwt, dwt + (size_t)V * N, T(0));
  const size_t TB = (size_t)ctx.T * ctx.B;
  for (size_t row = 0; row < TB; ++row) {
    if (!ctx.active((int)(row / ctx.B), (int)(row % ctx.B))) continue;
    T* dst = dwt + (size_t)tokens[row] * N;
    const T* src = dOut + row * N;
    for (int n = 0; n < N; ++n) dst[n] += src[n];
  }
  for (int n = 0; n < N; ++n)
    for (int v = 0; v < V; ++v) dW[(size_t)n * V + v] += dwt[(size_t)v * N + n];
}

}  // namespace rnnkit
