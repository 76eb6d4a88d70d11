#include "attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "blas.h"
#include "cells.h"
#include "isa.h"
#include "ops.h"
#include "parallel.h"
#include "rng.h"
#include "stepgemm.h"

namespace rnnkit {
namespace {

// The additive score of one decoder row over its source's L positions, the hot loop of
// additive attention (T*B*L*A tanh): score_j = v . tanh(q + K_j), th an A-wide scratch.
// tanh is not kept for the backward (T*B*L*A values: 26 MB at B=64, T=L=20, A=256):
// the backward recomputes it, which costs less than writing and reading it back.
// The dot product keeps 8 partial sums (vectorisable without reassociating a reduction).
template <class T>
RNNKIT_KERNEL void additiveScoresImpl(int L, int A, const T* __restrict q, const T* __restrict K, const T* __restrict v,
                                      T* __restrict th, T* __restrict scores) {
  for (int j = 0; j < L; ++j) {
    const T* __restrict k = K + (size_t)j * A;
    for (int a = 0; a < A; ++a) th[a] = tanhT(q[a] + k[a]);
    T acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int a = 0;
    for (; a + 8 <= A; a += 8)
      for (int i = 0; i < 8; ++i) acc[i] += v[a + i] * th[a + i];
    T sc = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for (; a < A; ++a) sc += v[a] * th[a];
    scores[j] = sc;
  }
}

// Its backward: g_j = d score_j -> dv += g_j th_j; through tanh into dq (the row's
// query) and dK_j (the source position's key), th_j recomputed as in the forward.
template <class T>
RNNKIT_KERNEL void additiveBackwardImpl(int L, int A, const T* __restrict g, const T* __restrict q,
                                        const T* __restrict K, const T* __restrict v, T* __restrict dq,
                                        T* __restrict dK, T* __restrict dv) {
  for (int j = 0; j < L; ++j) {
    const T gj = g[j];
    const T* __restrict k = K + (size_t)j * A;
    T* __restrict dk = dK + (size_t)j * A;
    for (int a = 0; a < A; ++a) {
      const T t = tanhT(q[a] + k[a]);
      dv[a] += gj * t;
      const T dp = gj * v[a] * (T(1) - t * t);
      dq[a] += dp;
      dk[a] += dp;
    }
  }
}

RNNKIT_ISA_DISPATCH(void, additiveScoresFloat,
                    (int L, int A, const float* q, const float* K, const float* v, float* th, float* scores),
                    (L, A, q, K, v, th, scores), additiveScoresImpl<float>)
RNNKIT_ISA_DISPATCH(void, additiveBackwardFloat,
                    (int L, int A, const float* g, const float* q, const float* K, const float* v, float* dq, float* dK,
                     float* dv),
                    (L, A, g, q, K, v, dq, dK, dv), additiveBackwardImpl<float>)

// float: the clone for isa(); double (gradient checks): the plain template.
void additiveScores(int L, int A, const float* q, const float* K, const float* v, float* th, float* scores) {
  additiveScoresFloat(L, A, q, K, v, th, scores);
}
void additiveScores(int L, int A, const double* q, const double* K, const double* v, double* th, double* scores) {
  additiveScoresImpl<double>(L, A, q, K, v, th, scores);
}
void additiveBackward(int L, int A, const float* g, const float* q, const float* K, const float* v, float* dq,
                      float* dK, float* dv) {
  additiveBackwardFloat(L, A, g, q, K, v, dq, dK, dv);
}
void additiveBackward(int L, int A, const double* g, const double* q, const double* K, const double* v, double* dq,
                      double* dK, double* dv) {
  additiveBackwardImpl<double>(L, A, g, q, K, v, dq, dK, dv);
}

}  // namespace

template <class T>
AttentionLayer<T>::AttentionLayer(const LayerSpec& spec, int inCols)
    : score_(spec.score), Hd_(inCols), E_(spec.memoryCols), U_(spec.units), A_(spec.attentionUnits) {}

template <class T>
void AttentionLayer<T>::describe(int index, size_t& offset, std::vector<ParamInfo>& table) {
  auto add = [&](size_t& at, const char* name, std::vector<int> shape) {
    size_t n = 1;
    for (int d : shape) n *= (size_t)d;
    at = offset;
    table.push_back({index, name, std::move(shape), offset, n});
    offset += n;
  };
  if (score_ == AttentionScore::General) add(wa_, "W_a", {Hd_, E_});
  if (score_ == AttentionScore::Additive) {
    add(ws_, "W_s", {A_, Hd_});
    add(wh_, "W_h", {A_, E_});
    add(v_, "v", {A_});
  }
  add(wc_, "W_c", {U_, E_ + Hd_});
  add(bc_, "b_c", {U_});
}

// Each tensor like nn.Linear's weight: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
template <class T>
void AttentionLayer<T>::init(T* params, uint64_t seed) {
  Rng rng(seed);
  auto fill = [&](size_t at, size_t n, int fanIn) {
    const double k = 1.0 / std::sqrt((double)fanIn);
    for (size_t i = at; i < at + n; ++i) params[i] = (T)((2 * rng.uniform() - 1) * k);
  };
  if (score_ == AttentionScore::General) fill(wa_, (size_t)Hd_ * E_, E_);
  if (score_ == AttentionScore::Additive) {
    fill(ws_, (size_t)A_ * Hd_, Hd_);
    fill(wh_, (size_t)A_ * E_, E_);
    fill(v_, (size_t)A_, A_);
  }
  fill(wc_, (size_t)U_ * (E_ + Hd_), E_ + Hd_);
  fill(bc_, (size_t)U_, E_ + Hd_);
}

template <class T>
size_t AttentionLayer<T>::workspaceBytes() const {
  return bytesOf(keys_) + bytesOf(query_) + bytesOf(th_) + bytesOf(alpha_) + bytesOf(z_) + bytesOf(out_) +
         bytesOf(dz_) + bytesOf(dAlpha_) + bytesOf(dKeys_) + bytesOf(dQuery_) + bytesOf(dvParts_) +
         bytesOf(transposed_);
}

// fn(b0, b1, chunk) over the batch rows: split across the pool, or on the caller in one
// chunk when rows share memory rows (their memory gradients would race).
template <class F>
static void eachRow(const Ctx& ctx, bool shared, F&& fn) {
  if (shared) fn(0, ctx.B, 0);
  else forRows(ctx.pool, ctx.B, fn);
}

// C (rows, N) = A (rows, K) W (N, K)^T (+ C when accumulate), on the row-exact kernel
// for a rowExact call.
template <class T>
static void productNT(const Ctx& ctx, int rows, int N, int K, const T* A, const T* W, T* C, bool accumulate) {
  if (ctx.rowExact) rowExactGemmNT<T>(ctx.pool, rows, N, K, A, K, W, K, C, N, accumulate);
  else parallelGemm<T>(ctx.pool, false, true, rows, N, K, T(1), A, K, W, K, accumulate ? T(1) : T(0), C, N);
}

template <class T>
Act<T> AttentionLayer<T>::forward(const Ctx& ctx, const T* params, const Act<T>& in, const LayerIO<T>& io, int) {
  const int B = ctx.B, Tn = ctx.T, rows = in.rows, Hd = Hd_, E = E_, A = A_, U = U_, ZW = E + Hd;
  const int memB = io.memoryB, Tm = io.memoryT;
  memT_ = Tm;
  const T* M = io.memory;
  const T* s = in.data;
  T* alpha = ensure(alpha_, (size_t)rows * Tm);
  T* z = ensure(z_, (size_t)rows * ZW);
  const T* keys = M;  // dot: the memory itself
  int kw = E;
  if (score_ == AttentionScore::General) {
    kw = Hd;
    productNT<T>(ctx, memB * Tm, Hd, E, M, params + wa_, ensure(keys_, (size_t)memB * Tm * Hd), false);
    keys = keys_.data();
  } else if (score_ == AttentionScore::Additive) {
    kw = A;
    productNT<T>(ctx, memB * Tm, A, E, M, params + wh_, ensure(keys_, (size_t)memB * Tm * A), false);
    productNT<T>(ctx, rows, A, Hd, s, params + ws_, ensure(query_, (size_t)rows * A), false);
    keys = keys_.data();
    ensure(th_, (size_t)rowChunks(B) * A);
  }
  const int lda = B * Tm;
  eachRow(ctx, false, [&](int b0, int b1, int chunk) {
    for (int b = b0; b < b1; ++b) {
      const int mb = io.memoryIndex ? io.memoryIndex[b] : b, L = io.memoryLengths[mb];
      const T* Kb = keys + (size_t)mb * Tm * kw;
      T* al = alpha + (size_t)b * Tm;
      if (score_ != AttentionScore::Additive) {
        stepGemmNT<T>(Tn, L, Hd, s + (size_t)b * Hd, B * Hd, Kb, kw, al, lda, false);
      } else {
        for (int t = 0; t < Tn; ++t) {
          const size_t r = (size_t)t * B + b;
          additiveScores(L, A, query_.data() + r * A, Kb, params + v_, th_.data() + (size_t)chunk * A,
                         al + (size_t)t * lda);
        }
      }
      for (int t = 0; t < Tn; ++t) {  // softmax over the source's own positions
        T* a = al + (size_t)t * lda;
        T m = a[0];
        for (int j = 1; j < L; ++j) m = std::max(m, a[j]);
        T sum = 0;
        for (int j = 0; j < L; ++j) sum += (a[j] = expT(a[j] - m));
        for (int j = 0; j < L; ++j) a[j] /= sum;
        std::fill(a + L, a + Tm, T(0));
      }
      // c = alpha M into z's first E columns, s after it
      stepGemm<T>(Tn, E, L, al, lda, M + (size_t)mb * Tm * E, E, z + (size_t)b * ZW, B * ZW, false);
      for (int t = 0; t < Tn; ++t) {
        const size_t r = (size_t)t * B + b;
        std::memcpy(z + r * ZW + E, s + r * Hd, sizeof(T) * Hd);
      }
    }
  });
  T* y = ensure(out_, (size_t)rows * U);
  for (int r = 0; r < rows; ++r) std::memcpy(y + (size_t)r * U, params + bc_, sizeof(T) * U);
  productNT<T>(ctx, rows, U, ZW, z, params + wc_, y, true);
  for (size_t i = 0; i < (size_t)rows * U; ++i) y[i] = tanhT(y[i]);
  for (int r = 0; r < rows; ++r)  // padded positions produce no output
    if (!ctx.active(r / B, r % B)) std::fill(y + (size_t)r * U, y + (size_t)(r + 1) * U, T(0));
  return outputAct<T>(y, rows, U, true);
}

template <class T>
void AttentionLayer<T>::backward(const Ctx& ctx, const T* params, T* dParams, const Act<T>& in, T* dOut, T* dIn,
                                 const LayerIO<T>& io, int) {
  const int B = ctx.B, Tn = ctx.T, rows = in.rows, Hd = Hd_, E = E_, A = A_, U = U_, ZW = E + Hd;
  const int memB = io.memoryB, Tm = memT_;
  const T* M = io.memory;
  const T* s = in.data;
  const T* y = out_.data();
  const T* z = z_.data();
  const T* alpha = alpha_.data();
  T* dM = io.dMemory;
  for (int r = 0; r < rows; ++r) {  // d(pre-activation) of the output, in place; nothing at padded positions
    T* g = dOut + (size_t)r * U;
    if (!ctx.active(r / B, r % B)) std::fill(g, g + U, T(0));
    else
      for (int k = 0; k < U; ++k) g[k] *= T(1) - y[(size_t)r * U + k] * y[(size_t)r * U + k];
  }
  addColSums(dOut, rows, U, dParams + bc_);
  parallelGemm<T>(ctx.pool, true, false, U, ZW, rows, T(1), dOut, U, z, ZW, T(1), dParams + wc_, ZW);
  T* dz = ensure(dz_, (size_t)rows * ZW);
  parallelGemm<T>(ctx.pool, false, false, rows, ZW, U, T(1), dOut, U, params + wc_, ZW, T(0), dz, ZW);
  for (int r = 0; r < rows; ++r) std::memcpy(dIn + (size_t)r * Hd, dz + (size_t)r * ZW + E, sizeof(T) * Hd);

  const int kw = score_ == AttentionScore::Dot ? E : score_ == AttentionScore::General ? Hd : A;
  const T* keys = score_ == AttentionScore::Dot ? M : keys_.data();
  // the gradient at the keys: the memory itself for dot
  T* dKeys = dM;
  if (score_ != AttentionScore::Dot) {
    dKeys = ensure(dKeys_, (size_t)memB * Tm * kw);
    std::fill(dKeys, dKeys + (size_t)memB * Tm * kw, T(0));
  }
  T* dQ = nullptr;
  T* dvParts = nullptr;
  const bool shared = io.memoryIndex != nullptr;
  const int chunks = shared ? 1 : rowChunks(B);
  if (score_ == AttentionScore::Additive) {
    dQ = ensure(dQuery_, (size_t)rows * A);
    std::fill(dQ, dQ + (size_t)rows * A, T(0));
    dvParts = ensure(dvParts_, (size_t)chunks * A);
    std::fill(dvParts, dvParts + (size_t)chunks * A, T(0));
  }
  T* dAlpha = ensure(dAlpha_, (size_t)rows * Tm);
  T* scratch = ensure(transposed_, (size_t)chunks * Tm * Tn);
  const int lda = B * Tm;
  eachRow(ctx, shared, [&](int b0, int b1, int chunk) {
    for (int b = b0; b < b1; ++b) {
      const int mb = io.memoryIndex ? io.memoryIndex[b] : b, L = io.memoryLengths[mb];
      const T* Mb = M + (size_t)mb * Tm * E;
      const T* al = alpha + (size_t)b * Tm;
      T* dal = dAlpha + (size_t)b * Tm;
      const T* dc = dz + (size_t)b * ZW;
      stepGemmNT<T>(Tn, L, E, dc, B * ZW, Mb, E, dal, lda, false);  // d alpha = dc M^T
      T* tr = scratch + (size_t)chunk * Tm * Tn;  // (L, Tn): a transpose for the step kernel (small: L x Tn)
      auto transpose = [&](const T* x) {
        for (int t = 0; t < Tn; ++t)
          for (int j = 0; j < L; ++j) tr[(size_t)j * Tn + t] = x[(size_t)t * lda + j];
      };
      transpose(al);
      stepGemm<T>(L, E, Tn, tr, Tn, dc, B * ZW, dM + (size_t)mb * Tm * E, E, true);  // dM += alpha^T dc
      for (int t = 0; t < Tn; ++t) {  // through the softmax: d score = alpha (d alpha - sum alpha d alpha)
        const T* a = al + (size_t)t * lda;
        T* g = dal + (size_t)t * lda;
        T dot = 0;
        for (int j = 0; j < L; ++j) dot += a[j] * g[j];
        for (int j = 0; j < L; ++j) g[j] = a[j] * (g[j] - dot);
      }
      const T* Kb = keys + (size_t)mb * Tm * kw;
      T* dKb = dKeys + (size_t)mb * Tm * kw;
      if (score_ != AttentionScore::Additive) {
        stepGemm<T>(Tn, Hd, L, dal, lda, Kb, kw, dIn + (size_t)b * Hd, B * Hd, true);  // ds += dscore K
        transpose(dal);
        stepGemm<T>(L, Hd, Tn, tr, Tn, s + (size_t)b * Hd, B * Hd, dKb, kw, true);  // dK += dscore^T s
      } else {
        T* dv = dvParts + (size_t)chunk * A;
        for (int t = 0; t < Tn; ++t) {
          const size_t r = (size_t)t * B + b;
          additiveBackward(L, A, dal + (size_t)t * lda, query_.data() + r * A, Kb, params + v_, dQ + r * A, dKb, dv);
        }
      }
    }
  });
  const int memRows = memB * Tm;
  if (score_ == AttentionScore::General) {
    parallelGemm<T>(ctx.pool, false, false, memRows, E, Hd, T(1), dKeys, Hd, params + wa_, E, T(1), dM, E);
    parallelGemm<T>(ctx.pool, true, false, Hd, E, memRows, T(1), dKeys, Hd, M, E, T(1), dParams + wa_, E);
  } else if (score_ == AttentionScore::Additive) {
    parallelGemm<T>(ctx.pool, false, false, rows, Hd, A, T(1), dQ, A, params + ws_, Hd, T(1), dIn, Hd);
    parallelGemm<T>(ctx.pool, true, false, A, Hd, rows, T(1), dQ, A, s, Hd, T(1), dParams + ws_, Hd);
    parallelGemm<T>(ctx.pool, false, false, memRows, E, A, T(1), dKeys, A, params + wh_, E, T(1), dM, E);
    parallelGemm<T>(ctx.pool, true, false, A, E, memRows, T(1), dKeys, A, M, E, T(1), dParams + wh_, E);
    T* dv = dParams + v_;
    for (int k = 0; k < chunks; ++k)  // in chunk order: the same sum whichever thread ran a chunk
      for (int a = 0; a < A; ++a) dv[a] += dvParts[(size_t)k * A + a];
  }
}

template class AttentionLayer<float>;
template class AttentionLayer<double>;

}  // namespace rnnkit
