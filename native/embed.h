// Token inputs: the product of a one-hot x<t> (V wide) with W^T is row x<t> of W^T,
// so the input projection is a row gather and its gradient a scatter-add; no GEMM
// over the vocabulary ever runs.
//
// W is stored (N, V) row-major (PyTorch's layout), so a token's weights are a
// column. Two ways to reach it, chosen by size:
// - small vocabularies (V <= T*B): transpose W once into a (V, N) table (cached
//   until the parameters change, so step-by-step sampling pays nothing) and copy
//   contiguous rows; the gradient goes through a (V, N) scratch table;
// - large vocabularies (word level): read and write the strided column directly,
//   O(T*B*N) per call instead of O(V*N), so a 10k-word vocabulary costs nothing
//   beyond the tokens actually in the batch.
#pragma once
#include <algorithm>
#include <vector>

#include "layer.h"

namespace rnnkit {

inline bool useTransposedTable(const Ctx& ctx, int V) { return (size_t)V <= (size_t)ctx.T * ctx.B; }

// W^T (V, N) in `wt`, rebuilt only when the parameters changed (wtVersion ==
// ctx.version: up to date); nullptr when gathers should read W's columns directly.
template <class T>
const T* projectionTable(const Ctx& ctx, const T* W, int N, int V, std::vector<T>& wt, uint64_t& wtVersion) {
  if (wtVersion != ctx.version && !useTransposedTable(ctx, V)) return nullptr;
  if (wtVersion != ctx.version) {
    T* w = ensure(wt, (size_t)V * N);
    for (int n = 0; n < N; ++n)
      for (int v = 0; v < V; ++v) w[(size_t)v * N + n] = W[(size_t)n * V + v];
    wtVersion = ctx.version;
  }
  return wt.data();
}

// One row of the gather: dst (N) = W^T[tok] + bias, from the table or W's column.
template <class T>
inline void gatherRow(const T* table, const T* W, const T* bias, int N, int V, int32_t tok, T* dst) {
  if (table) {
    const T* src = table + (size_t)tok * N;
    for (int n = 0; n < N; ++n) dst[n] = src[n] + bias[n];
  } else {
    for (int n = 0; n < N; ++n) dst[n] = W[(size_t)n * V + tok] + bias[n];
  }
}

// out (T*B, N) = W^T[tokens] + bias for active rows, 0 for padded rows.
template <class T>
void gatherProjection(const Ctx& ctx, const T* W, const T* bias, int N, int V, const int32_t* tokens, T* out,
                      std::vector<T>& wt, uint64_t& wtVersion) {
  const T* table = projectionTable(ctx, W, N, V, wt, wtVersion);
  const size_t TB = (size_t)ctx.T * ctx.B;
  for (size_t row = 0; row < TB; ++row) {
    T* dst = out + row * N;
    if (ctx.active((int)(row / ctx.B), (int)(row % ctx.B))) gatherRow(table, W, bias, N, V, tokens[row], dst);
    else std::fill(dst, dst + N, T(0));
  }
}

// dW (N, V) += dwt^T for a (V, N) table of per-token gradient sums.
template <class T>
void addTransposedTable(const T* dwt, int N, int V, T* dW) {
  for (int n = 0; n < N; ++n)
    for (int v = 0; v < V; ++v) dW[(size_t)n * V + v] += dwt[(size_t)v * N + n];
}

// dW (N, V) += scatter of dOut (T*B, N) rows into the columns named by tokens (active rows only).
template <class T>
void scatterProjection(const Ctx& ctx, const T* dOut, int N, int V, const int32_t* tokens, T* dW,
                       std::vector<T>& scratch) {
  const size_t TB = (size_t)ctx.T * ctx.B;
  if (!useTransposedTable(ctx, V)) {
    for (size_t row = 0; row < TB; ++row) {
      if (!ctx.active((int)(row / ctx.B), (int)(row % ctx.B))) continue;
      const size_t tok = (size_t)tokens[row];
      const T* src = dOut + row * N;
      for (int n = 0; n < N; ++n) dW[(size_t)n * V + tok] += src[n];
    }
    return;
  }
  T* dwt = ensure(scratch, (size_t)V * N);
  std::fill(dwt, dwt + (size_t)V * N, T(0));
  for (size_t row = 0; row < TB; ++row) {
    if (!ctx.active((int)(row / ctx.B), (int)(row % ctx.B))) continue;
    T* dst = dwt + (size_t)tokens[row] * N;
    const T* src = dOut + row * N;
    for (int n = 0; n < N; ++n) dst[n] += src[n];
  }
  addTransposedTable(dwt, N, V, dW);
}

}  // namespace rnnkit
