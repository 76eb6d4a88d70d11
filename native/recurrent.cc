#include "recurrent.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <system_error>
#include <thread>

#include "blas.h"
#include "cells_dispatch.h"
#include "embed.h"
#include "errors.h"
#include "ops.h"
#include "parallel.h"
#include "rng.h"
#include "stepgemm.h"

namespace rnnkit {
namespace {

int gatesOf(const LayerSpec& s) {
  switch (s.type) {
    case LayerType::Rnn: return 1;
    case LayerType::Lstm: return 4;
    case LayerType::Gru: return s.gruMinimal ? 2 : 3;
    default: throwRange("not a recurrent layer");
  }
}

// W^T of a (rows, cols) matrix into `buf` (cols, rows), rebuilt only when the
// parameters changed since it was made (cached == version).
template <class T>
const T* transposed(std::vector<T>& buf, uint64_t cached, uint64_t version, const T* W, int rows, int cols) {
  if (buf.size() != (size_t)rows * cols) buf.assign((size_t)rows * cols, T(0));
  else if (cached == version) return buf.data();
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < cols; ++j) buf[(size_t)j * rows + i] = W[(size_t)i * cols + j];
  return buf.data();
}

}  // namespace

template <class T>
RecurrentLayer<T>::RecurrentLayer(const LayerSpec& spec, int inCols)
    : spec_(spec), D_(inCols), H_(spec.units), G_(gatesOf(spec)), dirs_(spec.bidirectional ? 2 : 1) {}

template <class T>
void RecurrentLayer<T>::describe(int index, size_t& offset, std::vector<ParamInfo>& table) {
  const int GH = G_ * H_;
  auto add = [&](const std::string& name, std::vector<int> shape) {
    size_t n = 1;
    for (int s : shape) n *= (size_t)s;
    table.push_back({index, name, shape, offset, n});
    size_t at = offset;
    offset += n;
    return at;
  };
  for (int d = 0; d < dirs_; ++d) {
    const std::string sfx = d ? "_reverse" : "";
    Offsets& o = dir_[d].off;
    o.wih = add("weight_ih_l0" + sfx, {GH, D_});
    o.whh = add("weight_hh_l0" + sfx, {GH, H_});
    o.bih = add("bias_ih_l0" + sfx, {GH});
    o.bhh = add("bias_hh_l0" + sfx, {GH});
    o.peep = 0;
    if (spec_.type == LayerType::Lstm && spec_.peephole == Peephole::Diagonal)
      o.peep = add("weight_peephole_l0" + sfx, {3 * H_});
    else if (spec_.type == LayerType::Lstm && spec_.peephole == Peephole::Full)
      o.peep = add("weight_peephole_l0" + sfx, {3 * H_, H_});
  }
}

// PyTorch's initialisation for recurrent layers: every parameter ~ U(-1/sqrt(H), 1/sqrt(H)).
template <class T>
void RecurrentLayer<T>::init(T* params, uint64_t seed) {
  Rng rng(seed);
  const double k = 1.0 / std::sqrt((double)H_);
  const int GH = G_ * H_;
  for (int d = 0; d < dirs_; ++d) {
    const Offsets& o = dir_[d].off;
    size_t end = o.bhh + GH;
    if (o.peep) end = o.peep + (spec_.peephole == Peephole::Diagonal ? 3 * (size_t)H_ : 3 * (size_t)H_ * H_);
    for (size_t i = o.wih; i < end; ++i) params[i] = (T)((2 * rng.uniform() - 1) * k);
  }
}

template <class T>
Act<T> RecurrentLayer<T>::forward(const Ctx& ctx, const T* params, const Act<T>& in, const LayerIO<T>& io, int) {
  const int ld = dirs_ * H_;
  const size_t rows = spec_.returnSequences ? (size_t)ctx.T * ctx.B : (size_t)ctx.B;
  T* out = ensure(out_, rows * ld);
  for (int d = 0; d < dirs_; ++d) forwardDir(ctx, params, in, io, d, out + d * H_, ld);
  Act<T> a;
  a.data = out;
  a.rows = (int)rows;
  a.cols = ld;
  a.seq = spec_.returnSequences;
  return a;
}

template <class T>
void RecurrentLayer<T>::forwardDir(const Ctx& ctx, const T* params, const Act<T>& in, const LayerIO<T>& io, int d,
                                   T* out, int outLd) {
  const int Tn = ctx.T, B = ctx.B, H = H_, GH = G_ * H_;
  const size_t TB = (size_t)Tn * B, BH = (size_t)B * H;
  Dir& r = dir_[d];
  const T* Wih = params + r.off.wih;  // (GH, D)
  const T* Whh = params + r.off.whh;  // (GH, H)
  const T* bih = params + r.off.bih;  // (GH)
  const T* bhh = params + r.off.bhh;  // (GH)
  const T* P = r.off.peep ? params + r.off.peep : nullptr;
  const bool lstm = spec_.type == LayerType::Lstm;

  // 1. Input projection for all steps: xp = X W_ih^T + b_ih  (T*B, GH). Token
  // inputs gather rows of W_ih^T instead, each thread its own rows, step by step
  // inside the recurrence (in parallel, and in cache when the step reads them).
  T* xp = ensure(r.xp, TB * GH);
  const T* table = nullptr;
  if (in.tokens) {
    table = projectionTable(ctx, Wih, GH, D_, r.wt, r.wtVersion);
  } else {
    for (size_t row = 0; row < TB; ++row) std::memcpy(xp + row * GH, bih, sizeof(T) * GH);
    parallelGemm<T>(ctx.pool, false, true, (int)TB, GH, D_, T(1), in.data, D_, Wih, D_, T(1), xp, GH);
  }

  // 2. Initial state.
  T* hb = ensure(r.h, (TB + B) * H);  // (T+1, B, H)
  const size_t h0at = (d == 0 ? 0 : (size_t)Tn) * BH;
  if (io.h0) std::memcpy(hb + h0at, io.h0 + d * BH, sizeof(T) * BH);
  else std::fill(hb + h0at, hb + h0at + BH, T(0));
  T* cb = nullptr;
  T* tcb = nullptr;
  if (lstm) {
    tcb = ensure(r.tc, TB * H);
    cb = ensure(r.c, (TB + B) * H);
    if (io.c0) std::memcpy(cb + h0at, io.c0 + d * BH, sizeof(T) * BH);
    else std::fill(cb + h0at, cb + h0at + BH, T(0));
  }
  T* tmp = ensure(tmp_, (size_t)B * GH);
  T* tmp2 = (lstm && spec_.peephole == Peephole::Full) ? ensure(tmp2_, (size_t)B * 3 * H) : nullptr;
  T* aux = spec_.type == LayerType::Gru && !spec_.gruMinimal ? ensure(r.aux, TB * H) : nullptr;

  // 3. The recurrence: per step one recurrent GEMM and one fused gate kernel.
  // Rows are independent, so the batch is split across threads and each runs
  // the whole time loop for its rows (no hand-off per step).
  // Split batches use the single-core step kernel on pre-transposed weights; an
  // unsplit batch (fewer than 16 rows, e.g. batch-1 sampling) goes through the gemm
  // seam on the original layout: rnnkit's small-row kernels, a large product split
  // across the pool by columns.
  const bool split = rowChunks(B) > 1;
  const T* WhhT = split ? transposed(r.whhT, r.tVersion, ctx.version, Whh, GH, H) : nullptr;          // (H, GH)
  const T* PT = split && tmp2 ? transposed(r.peepT, r.tVersion, ctx.version, P, 3 * H, H) : nullptr;  // (H, 3H)
  if (split) r.tVersion = ctx.version;
  // C (M, N) = A (M, H) W[rows col0 .. col0+N)^T for W (rows, H) with transpose WT (H, rows)
  auto product = [split, &ctx](int M, int N, int H_, const T* A, const T* W, const T* WT, int rows, int col0, T* C,
                               int ldc) {
    if (split) stepGemm<T>(M, N, H_, A, H_, WT + col0, rows, C, ldc, false);
    else parallelGemm<T>(ctx.pool, false, true, M, N, H_, T(1), A, H_, W + (size_t)col0 * H_, H_, T(0), C, ldc);
  };
  forRows(ctx.pool, B, [&](int b0, int b1, int) {
    const int M = b1 - b0;
    for (int s = 0; s < Tn; ++s) {
      const int t = d == 0 ? s : Tn - 1 - s;
      const T* hp = hb + prevIdx(d, t) * BH;  // (B, H)
      T* hc = hb + curIdx(d, t) * BH;         // (B, H)
      T* at = xp + (size_t)t * B * GH;        // (B, GH) pre-activations in, gate activations out
      if (in.tokens)
        for (int b = b0; b < b1; ++b) {
          T* dst = at + (size_t)b * GH;
          if (ctx.active(t, b)) gatherRow(table, Wih, bih, GH, D_, in.tokens[(size_t)t * B + b], dst);
          else std::fill(dst, dst + GH, T(0));
        }
      // Rows past their length carry the state (and c) unchanged.
      auto carry = [&](int b, const T* cp, T* cc) {
        std::memcpy(hc + b * H, hp + b * H, sizeof(T) * H);
        if (cc) std::memcpy(cc + b * H, cp + b * H, sizeof(T) * H);
      };
      T* tm = tmp + (size_t)b0 * GH;  // this thread's rows of tmp
      switch (spec_.type) {
        case LayerType::Rnn: {
          product(M, H, H, hp + b0 * H, Whh, WhhT, GH, 0, tm, GH);
          const bool relu = spec_.activation == Activation::Relu;
          for (int b = b0; b < b1; ++b) {
            if (!ctx.active(t, b)) carry(b, nullptr, nullptr);
            else cells::fast::rnnForward(H, relu, at + (size_t)b * H, tmp + (size_t)b * GH, bhh, hc + b * H);
          }
          break;
        }
        case LayerType::Lstm: {
          product(M, GH, H, hp + b0 * H, Whh, WhhT, GH, 0, tm, GH);
          const T* cp = cb + prevIdx(d, t) * BH;
          T* cc = cb + curIdx(d, t) * BH;
          if (tmp2) product(M, 3 * H, H, cp + b0 * H, P, PT, 3 * H, 0, tmp2 + (size_t)b0 * 3 * H, 3 * H);
          const T* peep = spec_.peephole == Peephole::Diagonal ? P : nullptr;
          for (int b = b0; b < b1; ++b) {
            if (!ctx.active(t, b)) carry(b, cp, cc);
            else
              cells::fast::lstmForward(H, at + (size_t)b * GH, tmp + (size_t)b * GH, bhh, cp + b * H, peep,
                                       tmp2 ? tmp2 + (size_t)b * 3 * H : nullptr, cc + b * H,
                                       tcb + (size_t)t * BH + b * H, hc + b * H);
          }
          break;
        }
        case LayerType::Gru: {
          if (spec_.gruMinimal) {
            product(M, GH, H, hp + b0 * H, Whh, WhhT, GH, 0, tm, GH);
            for (int b = b0; b < b1; ++b) {
              if (!ctx.active(t, b)) carry(b, nullptr, nullptr);
              else
                cells::fast::gruMinimalForward(H, at + (size_t)b * GH, tmp + (size_t)b * GH, bhh, hp + b * H,
                                               hc + b * H);
            }
          } else if (spec_.resetAfter) {
            product(M, GH, H, hp + b0 * H, Whh, WhhT, GH, 0, tm, GH);
            T* ax = aux + (size_t)t * BH;  // (B, H) W_hn h<t-1> + b_hn
            for (int b = b0; b < b1; ++b) {
              if (!ctx.active(t, b)) {
                carry(b, nullptr, nullptr);
                std::fill(ax + b * H, ax + (b + 1) * H, T(0));
              } else {
                cells::fast::gruAfterForward(H, at + (size_t)b * GH, tmp + (size_t)b * GH, bhh, hp + b * H, ax + b * H,
                                             hc + b * H);
              }
            }
          } else {
            // Two recurrent GEMMs: [r, z] from h<t-1>, then n's from r * h<t-1>.
            product(M, 2 * H, H, hp + b0 * H, Whh, WhhT, GH, 0, tm, GH);
            T* rh = aux + (size_t)t * BH;  // (B, H) r * h<t-1>
            for (int b = b0; b < b1; ++b) {
              if (!ctx.active(t, b)) std::fill(rh + b * H, rh + (b + 1) * H, T(0));
              else
                cells::fast::gruBeforeGates(H, at + (size_t)b * GH, tmp + (size_t)b * GH, bhh, hp + b * H, rh + b * H);
            }
            product(M, H, H, rh + b0 * H, Whh, WhhT, GH, 2 * H, tm + 2 * H, GH);
            for (int b = b0; b < b1; ++b) {
              if (!ctx.active(t, b)) carry(b, nullptr, nullptr);
              else
                cells::fast::gruBeforeOutput(H, at + (size_t)b * GH, tmp + (size_t)b * GH + 2 * H, bhh + 2 * H,
                                             hp + b * H, hc + b * H);
            }
          }
          break;
        }
        default: break;
      }
      if (spec_.returnSequences) {
        for (int b = b0; b < b1; ++b) {
          T* o = out + ((size_t)t * B + b) * outLd;
          if (ctx.active(t, b)) std::memcpy(o, hc + b * H, sizeof(T) * H);
          else std::fill(o, o + H, T(0));
        }
      }
    }
  });
  if (!spec_.returnSequences) {
    // The last valid output: the forward direction's state at lengths[b]-1, the
    // backward direction's at t = 0; both are the direction's final state.
    const T* fin = hb + (d == 0 ? (size_t)Tn : 0) * BH;
    for (int b = 0; b < B; ++b) std::memcpy(out + (size_t)b * outLd, fin + b * H, sizeof(T) * H);
  }
}

template <class T>
void RecurrentLayer<T>::finalState(const Ctx& ctx, T* h, T* c) const {
  const size_t BH = (size_t)ctx.B * H_;
  for (int d = 0; d < dirs_; ++d) {
    const size_t at = (d == 0 ? (size_t)ctx.T : 0) * BH;
    std::memcpy(h + d * BH, dir_[d].h.data() + at, sizeof(T) * BH);
    if (c && hasCell()) std::memcpy(c + d * BH, dir_[d].c.data() + at, sizeof(T) * BH);
  }
}

template <class T>
void RecurrentLayer<T>::backward(const Ctx& ctx, const T* params, T* dParams, const Act<T>& in, T* dOut, T* dIn,
                                 const LayerIO<T>& io, int) {
  const size_t BH = (size_t)ctx.B * H_;
  ensure(dh0_, dirs_ * BH);
  if (hasCell()) ensure(dc0_, dirs_ * BH);
  for (int d = 0; d < dirs_; ++d) backwardDir(ctx, params, dParams, in, io, d, dOut + d * H_, dirs_ * H_, dIn);
}

template <class T>
void RecurrentLayer<T>::backwardDir(const Ctx& ctx, const T* params, T* dParams, const Act<T>& in, const LayerIO<T>& io,
                                    int d, const T* dOut, int ld, T* dIn) {
  const int Tn = ctx.T, B = ctx.B, H = H_, GH = G_ * H_;
  const size_t TB = (size_t)Tn * B, BH = (size_t)B * H;
  Dir& r = dir_[d];
  const T* Wih = params + r.off.wih;
  const T* Whh = params + r.off.whh;
  const T* P = r.off.peep ? params + r.off.peep : nullptr;
  T* dWih = dParams + r.off.wih;
  T* dWhh = dParams + r.off.whh;
  T* dbih = dParams + r.off.bih;
  T* dbhh = dParams + r.off.bhh;
  T* dP = r.off.peep ? dParams + r.off.peep : nullptr;
  const bool lstm = spec_.type == LayerType::Lstm;
  const bool gruAfter = spec_.type == LayerType::Gru && !spec_.gruMinimal && spec_.resetAfter;
  const bool gruBefore = spec_.type == LayerType::Gru && !spec_.gruMinimal && !spec_.resetAfter;
  const bool diag = lstm && spec_.peephole == Peephole::Diagonal;
  const bool full = lstm && spec_.peephole == Peephole::Full;

  const T* xp = r.xp.data();  // gate activations (T, B, GH)
  const T* hb = r.h.data();
  const T* cb = lstm ? r.c.data() : nullptr;
  const T* aux = (gruAfter || gruBefore) ? r.aux.data() : nullptr;
  T* dxp = ensure(r.dxp, TB * GH);
  T* dhp = gruAfter ? ensure(r.dhp, TB * GH) : dxp;
  T* dh = ensure(dh_, BH);
  T* dhn = ensure(dhn_, BH);
  T* dc = lstm ? ensure(dc_, BH) : nullptr;
  T* dcn = lstm ? ensure(dcn_, BH) : nullptr;
  T* tmp = ensure(tmp_, (size_t)B * GH);

  // Gradient arriving at the final state: the last-step output's gradient, or zero.
  for (int b = 0; b < B; ++b)
    for (int j = 0; j < H; ++j) dh[b * H + j] = spec_.returnSequences ? T(0) : dOut[(size_t)b * ld + j];
  if (io.dhFinal)
    for (size_t k = 0; k < BH; ++k) dh[k] += io.dhFinal[d * BH + k];
  if (lstm) {
    if (io.dcFinal) std::memcpy(dc, io.dcFinal + d * BH, sizeof(T) * BH);
    else std::fill(dc, dc + BH, T(0));
  }

  // Rows are independent: each thread runs the whole reversed time loop for its
  // rows. The diagonal peephole gradient sums over rows, so each thread keeps
  // its own partial sum, added in a fixed order afterwards.
  const int chunks = rowChunks(B);
  // C (M, N) (+)= A (M, K) W (K, N), W row-major: the step kernel per row chunk,
  // or the gemm seam when the batch is not split (as in the forward pass)
  auto product = [split = chunks > 1, &ctx](int M, int N, int K, const T* A, int lda, const T* W, int ldw, T* C,
                                            int ldc, bool acc) {
    if (split) stepGemm<T>(M, N, K, A, lda, W, ldw, C, ldc, acc);
    else parallelGemm<T>(ctx.pool, false, false, M, N, K, T(1), A, lda, W, ldw, acc ? T(1) : T(0), C, ldc);
  };
  T* dPpart = diag ? ensure(dPpart_, (size_t)chunks * 3 * H) : nullptr;
  if (dPpart) std::fill(dPpart, dPpart + (size_t)chunks * 3 * H, T(0));
  // The bias gradients (column sums of dxp and dhp) and, for token inputs with a
  // small enough vocabulary, the per-token sums of dxp (the scatter behind dW_ih)
  // are summed by each thread over its rows as they are computed, while they are
  // in cache, into partials of its own, added in a fixed order afterwards.
  const bool scatterInLoop = in.tokens && useTransposedTable(ctx, D_) && (size_t)D_ * GH <= ((size_t)1 << 20);
  const size_t partLen = (size_t)(gruAfter ? 2 : 1) * GH + (scatterInLoop ? (size_t)D_ * GH : 0);
  T* parts = ensure(rowParts_, (size_t)chunks * partLen);
  std::fill(parts, parts + (size_t)chunks * partLen, T(0));
  forRows(ctx.pool, B, [&](int b0, int b1, int k) {
    const int M = b1 - b0;
    T* dhc = dh;  // this thread's view of the ping-pong buffers (rows b0..b1)
    T* dhnc = dhn;
    T* dcc = dc;
    T* dcnc = dcn;
    T* dPk = dPpart ? dPpart + (size_t)k * 3 * H : dP;
    T* dbk = parts + (size_t)k * partLen;                               // (GH) sum of dxp rows
    T* dbhk = gruAfter ? dbk + GH : nullptr;                            // (GH) sum of dhp rows
    T* dwtk = scatterInLoop ? dbk + (gruAfter ? 2 : 1) * GH : nullptr;  // (V, GH) per-token sums of dxp
    for (int s = 0; s < Tn; ++s) {
      const int t = d == 0 ? Tn - 1 - s : s;  // reverse of the processing order
      if (spec_.returnSequences)
        for (int b = b0; b < b1; ++b)
          if (ctx.active(t, b))
            for (int j = 0; j < H; ++j) dhc[b * H + j] += dOut[((size_t)t * B + b) * ld + j];
      const T* hp = hb + prevIdx(d, t) * BH;
      const T* hc = hb + curIdx(d, t) * BH;
      const T* at = xp + (size_t)t * B * GH;
      T* dx = dxp + (size_t)t * B * GH;
      T* dhh = dhp + (size_t)t * B * GH;
      // Rows past their length pass dh (and dc) through and have no gate gradient.
      auto pass = [&](int b, T* g, T* gh) {
        std::fill(g, g + GH, T(0));
        if (gh) std::fill(gh, gh + GH, T(0));
        std::memcpy(dhnc + b * H, dhc + b * H, sizeof(T) * H);
        if (lstm) std::memcpy(dcnc + b * H, dcc + b * H, sizeof(T) * H);
      };
      T* dxm = dx + (size_t)b0 * GH;  // this thread's rows
      T* dhnm = dhnc + (size_t)b0 * H;
      switch (spec_.type) {
        case LayerType::Rnn: {
          const bool relu = spec_.activation == Activation::Relu;
          for (int b = b0; b < b1; ++b) {
            if (!ctx.active(t, b)) pass(b, dx + (size_t)b * GH, nullptr);
            else cells::fast::rnnBackward(H, relu, hc + b * H, dhc + b * H, dx + (size_t)b * GH, dhnc + b * H);
          }
          product(M, H, H, dxm, H, Whh, H, dhnm, H, true);
          break;
        }
        case LayerType::Lstm: {
          const T* cp = cb + prevIdx(d, t) * BH;
          const T* cc = cb + curIdx(d, t) * BH;
          for (int b = b0; b < b1; ++b) {
            if (!ctx.active(t, b)) pass(b, dx + (size_t)b * GH, nullptr);
            else
              cells::fast::lstmBackward(H, at + (size_t)b * GH, cp + b * H, cc + b * H,
                                        r.tc.data() + (size_t)t * BH + b * H, dhc + b * H, dcc + b * H,
                                        diag ? P : nullptr, dx + (size_t)b * GH, dcnc + b * H, dhnc + b * H, dPk);
          }
          if (full) {  // dc<t-1> += [di, df] P_if + do P_o
            T* dcnm = dcnc + (size_t)b0 * H;
            product(M, H, 2 * H, dxm, GH, P, H, dcnm, H, true);
            product(M, H, H, dxm + 3 * H, GH, P + (size_t)2 * H * H, H, dcnm, H, true);
          }
          product(M, H, GH, dxm, GH, Whh, H, dhnm, H, true);
          break;
        }
        case LayerType::Gru: {
          if (spec_.gruMinimal) {
            for (int b = b0; b < b1; ++b) {
              if (!ctx.active(t, b)) pass(b, dx + (size_t)b * GH, nullptr);
              else
                cells::fast::gruMinimalBackward(H, at + (size_t)b * GH, hp + b * H, dhc + b * H, dx + (size_t)b * GH,
                                                dhnc + b * H);
            }
            product(M, H, GH, dxm, GH, Whh, H, dhnm, H, true);
          } else if (gruAfter) {
            const T* ax = aux + (size_t)t * BH;
            for (int b = b0; b < b1; ++b) {
              if (!ctx.active(t, b)) pass(b, dx + (size_t)b * GH, dhh + (size_t)b * GH);
              else
                cells::fast::gruAfterBackward(H, at + (size_t)b * GH, ax + b * H, hp + b * H, dhc + b * H,
                                              dx + (size_t)b * GH, dhh + (size_t)b * GH, dhnc + b * H);
            }
            product(M, H, GH, dhh + (size_t)b0 * GH, GH, Whh, H, dhnm, H, true);
          } else {
            // Reset before the product: dn and dz, then d(r*h) = dn W_hn, then dr.
            for (int b = b0; b < b1; ++b) {
              if (!ctx.active(t, b)) pass(b, dx + (size_t)b * GH, nullptr);
              else
                cells::fast::gruBeforeBackwardOutput(H, at + (size_t)b * GH, hp + b * H, dhc + b * H,
                                                     dx + (size_t)b * GH, dhnc + b * H);
            }
            product(M, H, H, dxm + 2 * H, GH, Whh + (size_t)2 * H * H, H, tmp + (size_t)b0 * H, H, false);
            for (int b = b0; b < b1; ++b)
              if (ctx.active(t, b))
                cells::fast::gruBeforeBackwardGates(H, at + (size_t)b * GH, hp + b * H, tmp + b * H,
                                                    dx + (size_t)b * GH, dhnc + b * H);
            product(M, H, 2 * H, dxm, GH, Whh, H, dhnm, H, true);
          }
          break;
        }
        default: break;
      }
      for (int b = b0; b < b1; ++b) {
        if (!ctx.active(t, b)) continue;
        const T* g = dx + (size_t)b * GH;
        for (int j = 0; j < GH; ++j) dbk[j] += g[j];
        if (dwtk) {
          T* w = dwtk + (size_t)in.tokens[(size_t)t * B + b] * GH;
          for (int j = 0; j < GH; ++j) w[j] += g[j];
        }
        if (dbhk) {
          const T* gh = dhh + (size_t)b * GH;
          for (int j = 0; j < GH; ++j) dbhk[j] += gh[j];
        }
      }
      std::swap(dhc, dhnc);
      if (lstm) std::swap(dcc, dcnc);
    }
  });
  if (Tn % 2) {  // every thread swapped Tn times: the final gradients are in the other buffer
    std::swap(dh, dhn);
    if (lstm) std::swap(dc, dcn);
  }
  if (dPpart)
    for (int k = 0; k < chunks; ++k)
      for (int j = 0; j < 3 * H; ++j) dP[j] += dPpart[(size_t)k * 3 * H + j];
  std::memcpy(dh0_.data() + d * BH, dh, sizeof(T) * BH);
  if (lstm) std::memcpy(dc0_.data() + d * BH, dc, sizeof(T) * BH);

  // Weight gradients: one GEMM each over all T*B rows.
  const T* hprevAll = hb + (d == 0 ? 0 : BH);  // (T*B, H): h<t-1> for every t
  if (gruBefore) {
    parallelGemm<T>(ctx.pool, true, false, 2 * H, H, (int)TB, T(1), dxp, GH, hprevAll, H, T(1), dWhh, H);
    parallelGemm<T>(ctx.pool, true, false, H, H, (int)TB, T(1), dxp + 2 * H, GH, aux, H, T(1), dWhh + (size_t)2 * H * H,
                    H);
  } else {
    parallelGemm<T>(ctx.pool, true, false, GH, H, (int)TB, T(1), dhp, GH, hprevAll, H, T(1), dWhh, H);
  }
  for (int k = 0; k < chunks; ++k) {
    const T* dbk = parts + (size_t)k * partLen;
    for (int j = 0; j < GH; ++j) dbih[j] += dbk[j];
    const T* dbhk = gruAfter ? dbk + GH : dbk;  // dhp is dxp except for the GRU with the reset after
    for (int j = 0; j < GH; ++j) dbhh[j] += dbhk[j];
  }
  if (full) {
    const T* cprevAll = cb + (d == 0 ? 0 : BH);
    parallelGemm<T>(ctx.pool, true, false, 2 * H, H, (int)TB, T(1), dxp, GH, cprevAll, H, T(1), dP, H);
    parallelGemm<T>(ctx.pool, true, false, H, H, (int)TB, T(1), dxp + 3 * H, GH, cprevAll, H, T(1),
                    dP + (size_t)2 * H * H, H);
  }
  if (scatterInLoop) {
    T* dwt = ensure(r.dwt, (size_t)D_ * GH);  // the partials' sum, then transposed into dW_ih
    std::fill(dwt, dwt + (size_t)D_ * GH, T(0));
    for (int k = 0; k < chunks; ++k) {
      const T* dwtk = parts + (size_t)k * partLen + (gruAfter ? 2 : 1) * GH;
      for (size_t i = 0; i < (size_t)D_ * GH; ++i) dwt[i] += dwtk[i];
    }
    addTransposedTable(dwt, GH, D_, dWih);
  } else if (in.tokens) {
    scatterProjection(ctx, dxp, GH, D_, in.tokens, dWih, r.dwt);
  } else {
    parallelGemm<T>(ctx.pool, true, false, GH, D_, (int)TB, T(1), dxp, GH, in.data, D_, T(1), dWih, D_);
    if (dIn)
      parallelGemm<T>(ctx.pool, false, false, (int)TB, D_, GH, T(1), dxp, GH, Wih, D_, d == 0 ? T(0) : T(1), dIn, D_);
  }
}

template class RecurrentLayer<float>;
template class RecurrentLayer<double>;

}  // namespace rnnkit
