#include "recurrent.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <system_error>
#include <thread>

#include "blas.h"
#include "cell_steps.h"
#include "embed.h"
#include "errors.h"
#include "ops.h"
#include "parallel.h"
#include "rng.h"
#include "stepgemm.h"

namespace rnnkit {
namespace {

// W^T of a (rows, cols) matrix into `buf` (cols, rows), rebuilt only when the
// parameters changed since it was made (cached == version).
template <class T>
const T* transposed(std::vector<T>& buf, uint64_t cached, uint64_t version, const T* W, int rows, int cols) {
  const int ld = transposedLd(rows, sizeof(T));
  if (buf.size() != (size_t)ld * cols) buf.assign((size_t)ld * cols, T(0));
  else if (cached == version) return buf.data();
  transposeInto(rows, cols, W, cols, buf.data(), ld);
  return buf.data();
}

// dst (rows, width) (+)= src times a per-sequence mask (B, width): time-major row
// t*B + b takes mask row b, the same at every step (variational dropout). Returns dst.
template <class T>
T* maskRows(T* dst, const T* src, size_t rows, int width, const T* mask, int B, bool accumulate) {
  for (size_t row = 0; row < rows; ++row) {
    const T* m = mask + (row % B) * width;
    T* o = dst + row * width;
    const T* x = src + row * width;
    for (int j = 0; j < width; ++j) o[j] = accumulate ? o[j] + x[j] * m[j] : x[j] * m[j];
  }
  return dst;
}

// The state at step t of a direction, for rows [b0, b1): the (B, ...) blocks of
// h and c at indices prev (h<t-1>) and cur (h<t>) of (T+1, B, H), of tanh(c),
// the gates and the GRU's aux at t. c, tc and aux may be null.
template <class T>
StepAt<T> stepAt(const Ctx& ctx, bool split, int t, int b0, int b1, int H, int GH, int prev, int cur, T* h, T* c, T* tc,
                 T* xp, T* aux, const T* rmask, T* rbuf) {
  const size_t BH = (size_t)ctx.B * H;
  auto at = [&](T* p, size_t i) { return p ? p + i * BH : nullptr; };
  StepAt<T> s{ctx,         split,      t,           b0,         b1,        H,       GH,
              at(h, prev), at(h, cur), at(c, prev), at(c, cur), at(tc, t), nullptr, nullptr};
  s.at = xp + (size_t)t * ctx.B * GH;
  s.aux = at(aux, t);
  s.rmask = rmask;
  s.rbuf = rbuf;
  return s;
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
    const std::vector<int> peep = peepholeShape(spec_);
    o.peep = peep.empty() ? 0 : add("weight_peephole_l0" + sfx, peep);
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
    const size_t end = o.peep ? o.peep + peepholeSize(spec_) : o.bhh + GH;
    for (size_t i = o.wih; i < end; ++i) params[i] = (T)((2 * rng.uniform() - 1) * k);
  }
}

template <class T>
Act<T> RecurrentLayer<T>::forward(const Ctx& ctx, const T* params, const Act<T>& in, const LayerIO<T>& io,
                                  int layerIndex) {
  layer_ = layerIndex;
  dropout_ = ctx.training && (spec_.inputDropout > 0 || spec_.recurrentDropout > 0);
  const int ld = dirs_ * H_;
  const size_t rows = spec_.returnSequences ? (size_t)ctx.T * ctx.B : (size_t)ctx.B;
  T* out = ensure(out_, rows * ld);
  for (int d = 0; d < dirs_; ++d) forwardDir(ctx, params, in, io, d, out + d * H_, ld);
  return outputAct<T>(out, (int)rows, ld, spec_.returnSequences);
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
    const T* x = in.data;  // (T*B, D)
    if (dropout_) {
      drawMasks(ctx, r, d);
      if (spec_.inputDropout > 0) {  // the same input mask at every step (row t*B + b has mask row b)
        x = maskRows(ensure(r.xm, TB * D_), x, TB, D_, r.inMask.data(), B, false);
      }
    }
    if (ctx.rowExact) rowExactGemmNT<T>(ctx.pool, (int)TB, GH, D_, x, D_, Wih, D_, xp, GH, true);
    else parallelGemm<T>(ctx.pool, false, true, (int)TB, GH, D_, T(1), x, D_, Wih, D_, T(1), xp, GH);
  }
  if (in.tokens && dropout_) drawMasks(ctx, r, d);
  const T* rmask = dropout_ && spec_.recurrentDropout > 0 ? r.recMask.data() : nullptr;
  T* rbuf = rmask ? ensure(rbuf_, BH) : nullptr;

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
  withCell(spec_, [&](auto cell) {
    using Cell = decltype(cell);
    T* tmp = ensure(tmp_, (size_t)B * GH);
    T* tmp2 = (lstm && spec_.peephole == Peephole::Full) ? ensure(tmp2_, (size_t)B * 3 * H) : nullptr;
    T* aux = Cell::kAux ? ensure(r.aux, TB * H) : nullptr;

    // 3. The recurrence: per step the cell's recurrent products and fused gate
    // kernels (cell_steps.h). Rows are independent, so the batch is split across
    // threads and each runs the whole time loop for its rows (no hand-off per step).
    // Split batches use the single-core step kernel on pre-transposed weights; an
    // unsplit batch (fewer than 16 rows, e.g. batch-1 sampling) goes through the gemm
    // seam on the original layout: rnnkit's small-row kernels, a large product split
    // across the pool by columns.
    // A rowExact call packs the recurrent weights in column panels instead (rowExactPanelGemm).
    const bool split = rowChunks(B) > 1, transpose = split && !ctx.rowExact;
    if (ctx.rowExact) {
      r.whhP.pack(Whh, GH, H, GH == 3 * H ? std::vector<int>{0, 2 * H, GH} : std::vector<int>{0, GH}, ctx.version);
      if (tmp2) r.peepP.pack(P, 3 * H, H, {0, 3 * H}, ctx.version);
    }
    const T* WhhT = transpose ? transposed(r.whhT, r.tVersion, ctx.version, Whh, GH, H) : nullptr;          // (H, GH)
    const T* PT = transpose && tmp2 ? transposed(r.peepT, r.tVersion, ctx.version, P, 3 * H, H) : nullptr;  // (H, 3H)
    if (transpose) r.tVersion = ctx.version;
    forRows(ctx.pool, B, [&](int b0, int b1, int) {
      for (int s = 0; s < Tn; ++s) {
        const int t = d == 0 ? s : Tn - 1 - s;
        T* at = xp + (size_t)t * B * GH;  // (B, GH) pre-activations in, gate activations out
        if (in.tokens)
          for (int b = b0; b < b1; ++b) {
            T* dst = at + (size_t)b * GH;
            if (ctx.active(t, b)) gatherRow(table, Wih, bih, GH, D_, in.tokens[(size_t)t * B + b], dst);
            else std::fill(dst, dst + GH, T(0));
          }
        const ForwardStep<T> step{
            stepAt(ctx, split, t, b0, b1, H, GH, prevIdx(d, t), curIdx(d, t), hb, cb, tcb, xp, aux, rmask, rbuf),
            tmp,
            tmp2,
            Whh,
            WhhT,
            P,
            PT,
            bhh,
            ctx.rowExact ? &r.whhP : nullptr,
            ctx.rowExact && tmp2 ? &r.peepP : nullptr};
        cell.forward(step);
        if (spec_.returnSequences) {
          for (int b = b0; b < b1; ++b) {
            T* o = out + ((size_t)t * B + b) * outLd;
            if (ctx.active(t, b)) std::memcpy(o, step.hc + b * H, sizeof(T) * H);
            else std::fill(o, o + H, T(0));
          }
        }
      }
    });
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
  withCell(spec_, [&](auto cell) {
    using Cell = decltype(cell);
    const int Tn = ctx.T, B = ctx.B, H = H_, GH = G_ * H_;
    const size_t TB = (size_t)Tn * B, BH = (size_t)B * H;
    Dir& r = dir_[d];
    const T* Wih = params + r.off.wih;
    const T* Whh = params + r.off.whh;
    const T* P = r.off.peep ? params + r.off.peep : nullptr;
    T* dWih = dParams + r.off.wih;
    T* dbih = dParams + r.off.bih;
    T* dbhh = dParams + r.off.bhh;
    T* dP = r.off.peep ? dParams + r.off.peep : nullptr;
    constexpr bool lstm = Cell::kCellState;
    constexpr bool recurrentGrad = Cell::kRecurrentGrad;  // dhp apart from dxp (GRU, reset after)
    const bool diag = lstm && spec_.peephole == Peephole::Diagonal;

    T* xp = r.xp.data();  // gate activations (T, B, GH); read only, like the states
    T* hb = r.h.data();
    T* cb = lstm ? r.c.data() : nullptr;
    T* tc = lstm ? r.tc.data() : nullptr;
    T* aux = Cell::kAux ? r.aux.data() : nullptr;
    T* dxp = ensure(r.dxp, TB * GH);
    T* dhp = recurrentGrad ? ensure(r.dhp, TB * GH) : dxp;
    T* dh = ensure(dh_, BH);
    T* dhn = ensure(dhn_, BH);
    T* dc = lstm ? ensure(dc_, BH) : nullptr;
    T* dcn = lstm ? ensure(dcn_, BH) : nullptr;
    const T* rmask = dropout_ && spec_.recurrentDropout > 0 ? r.recMask.data() : nullptr;
    T* rbuf = rmask ? ensure(rbuf_, BH) : nullptr;
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
    T* dPpart = diag ? ensure(dPpart_, (size_t)chunks * 3 * H) : nullptr;
    if (dPpart) std::fill(dPpart, dPpart + (size_t)chunks * 3 * H, T(0));
    // The bias gradients (column sums of dxp and dhp) and, for token inputs with a
    // small enough vocabulary, the per-token sums of dxp (the scatter behind dW_ih)
    // are summed by each thread over its rows as they are computed, while they are
    // in cache, into partials of its own, added in a fixed order afterwards.
    const bool scatterInLoop = in.tokens && useTransposedTable(ctx, D_) && (size_t)D_ * GH <= ((size_t)1 << 20);
    const size_t partLen = (size_t)(recurrentGrad ? 2 : 1) * GH + (scatterInLoop ? (size_t)D_ * GH : 0);
    T* parts = ensure(rowParts_, (size_t)chunks * partLen);
    std::fill(parts, parts + (size_t)chunks * partLen, T(0));
    forRows(ctx.pool, B, [&](int b0, int b1, int k) {
      T* dhc = dh;  // this thread's view of the ping-pong buffers (rows b0..b1)
      T* dhnc = dhn;
      T* dcc = dc;
      T* dcnc = dcn;
      T* dPk = dPpart ? dPpart + (size_t)k * 3 * H : dP;
      T* dbk = parts + (size_t)k * partLen;                                    // (GH) sum of dxp rows
      T* dbhk = recurrentGrad ? dbk + GH : nullptr;                            // (GH) sum of dhp rows
      T* dwtk = scatterInLoop ? dbk + (recurrentGrad ? 2 : 1) * GH : nullptr;  // (V, GH) per-token sums of dxp
      for (int s = 0; s < Tn; ++s) {
        const int t = d == 0 ? Tn - 1 - s : s;  // reverse of the processing order
        if (spec_.returnSequences)
          for (int b = b0; b < b1; ++b)
            if (ctx.active(t, b))
              for (int j = 0; j < H; ++j) dhc[b * H + j] += dOut[((size_t)t * B + b) * ld + j];
        T* dx = dxp + (size_t)t * B * GH;
        T* dhh = dhp + (size_t)t * B * GH;
        cell.backward(BackwardStep<T>{
            stepAt(ctx, chunks > 1, t, b0, b1, H, GH, prevIdx(d, t), curIdx(d, t), hb, cb, tc, xp, aux, rmask, rbuf),
            dx, dhh, dhc, dhnc, dcc, dcnc, tmp, Whh, P, dPk});
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

    // Weight gradients: one GEMM each over all T*B rows (h<t-1> times the recurrent mask, as the product saw it).
    const T* hprev = hb + (d == 0 ? 0 : BH);
    if (rmask) {
      hprev = maskRows(ensure(hprevM_, TB * H), hprev, TB, H, rmask, B, false);
    }
    cell.weightGrads(WeightGrads<T>{ctx, H, GH, (int)TB, dxp, dhp, hprev, lstm ? cb + (d == 0 ? 0 : BH) : nullptr, aux,
                                    dParams + r.off.whh, dP});
    for (int k = 0; k < chunks; ++k) {
      const T* dbk = parts + (size_t)k * partLen;
      for (int j = 0; j < GH; ++j) dbih[j] += dbk[j];
      const T* dbhk = recurrentGrad ? dbk + GH : dbk;  // dhp is dxp except for the GRU with the reset after
      for (int j = 0; j < GH; ++j) dbhh[j] += dbhk[j];
    }
    if (scatterInLoop) {
      T* dwt = ensure(r.dwt, (size_t)D_ * GH);  // the partials' sum, then transposed into dW_ih
      std::fill(dwt, dwt + (size_t)D_ * GH, T(0));
      for (int k = 0; k < chunks; ++k) {
        const T* dwtk = parts + (size_t)k * partLen + (recurrentGrad ? 2 : 1) * GH;
        for (size_t i = 0; i < (size_t)D_ * GH; ++i) dwt[i] += dwtk[i];
      }
      addTransposedTable(dwt, GH, D_, dWih);
    } else if (in.tokens) {
      scatterProjection(ctx, dxp, GH, D_, in.tokens, dWih, r.dwt);
    } else {
      const bool masked = dropout_ && spec_.inputDropout > 0;
      parallelGemm<T>(ctx.pool, true, false, GH, D_, (int)TB, T(1), dxp, GH, masked ? r.xm.data() : in.data, D_, T(1),
                      dWih, D_);
      if (dIn && !masked) {
        parallelGemm<T>(ctx.pool, false, false, (int)TB, D_, GH, T(1), dxp, GH, Wih, D_, d == 0 ? T(0) : T(1), dIn, D_);
      } else if (dIn) {  // dIn (+)= (dxp W_ih) times the input mask
        T* g = ensure(dxIn_, TB * D_);
        parallelGemm<T>(ctx.pool, false, false, (int)TB, D_, GH, T(1), dxp, GH, Wih, D_, T(0), g, D_);
        maskRows(dIn, g, TB, D_, r.inMask.data(), B, d != 0);
      }
    }
  });
}

// One mask per sequence (row b) and direction, the same at every step: keep with
// probability 1 - rate, scaled by 1 / (1 - rate) (inverted dropout, as the dropout layer).
template <class T>
void RecurrentLayer<T>::drawMasks(const Ctx& ctx, Dir& r, int d) {
  auto draw = [&](std::vector<T>& m, int width, double rate, uint64_t kind) {
    if (rate <= 0) return;
    T* p = ensure(m, (size_t)ctx.B * width);
    const T keep = T(1) / T(1 - rate);
    const uint64_t salt = (kind * 2 + (uint64_t)d) << 40;  // distinct streams per mask and direction
    for (size_t i = 0; i < (size_t)ctx.B * width; ++i)
      p[i] = hashUniform(ctx.seed, ctx.step, (uint64_t)layer_, salt + i) >= rate ? keep : T(0);
  };
  draw(r.inMask, D_, spec_.inputDropout, 1);
  draw(r.recMask, H_, spec_.recurrentDropout, 2);
}

template class RecurrentLayer<float>;
template class RecurrentLayer<double>;

}  // namespace rnnkit
