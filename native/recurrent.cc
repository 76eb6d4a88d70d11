#include "recurrent.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "blas.h"
#include "embed.h"
#include "ops.h"
#include "errors.h"
#include "rng.h"

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
Act<T> RecurrentLayer<T>::forward(const Ctx& ctx, const T* params, const Act<T>& in, int) {
  const int ld = dirs_ * H_;
  const size_t rows = spec_.returnSequences ? (size_t)ctx.T * ctx.B : (size_t)ctx.B;
  T* out = ensure(out_, rows * ld);
  for (int d = 0; d < dirs_; ++d) forwardDir(ctx, params, in, d, out + d * H_, ld);
  Act<T> a;
  a.data = out;
  a.rows = (int)rows;
  a.cols = ld;
  a.seq = spec_.returnSequences;
  return a;
}

template <class T>
void RecurrentLayer<T>::forwardDir(const Ctx& ctx, const T* params, const Act<T>& in, int d, T* out, int outLd) {
  const int Tn = ctx.T, B = ctx.B, H = H_, GH = G_ * H_;
  const size_t TB = (size_t)Tn * B, BH = (size_t)B * H;
  Dir& r = dir_[d];
  const T* Wih = params + r.off.wih;  // (GH, D)
  const T* Whh = params + r.off.whh;  // (GH, H)
  const T* bih = params + r.off.bih;  // (GH)
  const T* bhh = params + r.off.bhh;  // (GH)
  const T* P = r.off.peep ? params + r.off.peep : nullptr;
  const bool lstm = spec_.type == LayerType::Lstm;

  // 1. Input projection for all steps: xp = X W_ih^T + b_ih  (T*B, GH).
  T* xp = ensure(r.xp, TB * GH);
  if (in.tokens) {
    gatherProjection(ctx, Wih, bih, GH, D_, in.tokens, xp, r.wt, r.wtVersion);
  } else {
    for (size_t row = 0; row < TB; ++row) std::memcpy(xp + row * GH, bih, sizeof(T) * GH);
    gemm<T>(false, true, (int)TB, GH, D_, T(1), in.data, D_, Wih, D_, T(1), xp, GH);
  }

  // 2. Initial state.
  T* hb = ensure(r.h, (TB + B) * H);  // (T+1, B, H)
  const size_t h0at = (d == 0 ? 0 : (size_t)Tn) * BH;
  if (h0) std::memcpy(hb + h0at, h0 + d * BH, sizeof(T) * BH);
  else std::fill(hb + h0at, hb + h0at + BH, T(0));
  T* cb = nullptr;
  if (lstm) {
    cb = ensure(r.c, (TB + B) * H);
    if (c0) std::memcpy(cb + h0at, c0 + d * BH, sizeof(T) * BH);
    else std::fill(cb + h0at, cb + h0at + BH, T(0));
  }
  T* tmp = ensure(tmp_, (size_t)B * GH);
  T* tmp2 = (lstm && spec_.peephole == Peephole::Full) ? ensure(tmp2_, (size_t)B * 3 * H) : nullptr;
  T* aux = spec_.type == LayerType::Gru && !spec_.gruMinimal ? ensure(r.aux, TB * H) : nullptr;

  // 3. The recurrence: per step one recurrent GEMM and one fused gate kernel.
  for (int s = 0; s < Tn; ++s) {
    const int t = d == 0 ? s : Tn - 1 - s;
    const T* hp = hb + prevIdx(d, t) * BH;  // (B, H)
    T* hc = hb + curIdx(d, t) * BH;         // (B, H)
    T* at = xp + (size_t)t * B * GH;         // (B, GH) pre-activations in, gate activations out
    switch (spec_.type) {
      case LayerType::Rnn: {
        gemm<T>(false, true, B, H, H, T(1), hp, H, Whh, H, T(0), tmp, H);
        const bool relu = spec_.activation == Activation::Relu;
        for (int b = 0; b < B; ++b) {
          if (!ctx.active(t, b)) {
            std::memcpy(hc + b * H, hp + b * H, sizeof(T) * H);
            continue;
          }
          for (int j = 0; j < H; ++j) {
            const T v = at[b * H + j] + tmp[b * H + j] + bhh[j];
            hc[b * H + j] = relu ? (v > T(0) ? v : T(0)) : std::tanh(v);
          }
        }
        break;
      }
      case LayerType::Lstm: {
        gemm<T>(false, true, B, GH, H, T(1), hp, H, Whh, H, T(0), tmp, GH);
        const T* cp = cb + prevIdx(d, t) * BH;
        T* cc = cb + curIdx(d, t) * BH;
        if (tmp2) gemm<T>(false, true, B, 3 * H, H, T(1), cp, H, P, H, T(0), tmp2, 3 * H);
        const bool diag = spec_.peephole == Peephole::Diagonal;
        for (int b = 0; b < B; ++b) {
          if (!ctx.active(t, b)) {
            std::memcpy(hc + b * H, hp + b * H, sizeof(T) * H);
            std::memcpy(cc + b * H, cp + b * H, sizeof(T) * H);
            continue;
          }
          T* a = at + (size_t)b * GH;
          const T* q = tmp + (size_t)b * GH;
          for (int j = 0; j < H; ++j) {
            const T cprev = cp[b * H + j];
            T pi = a[j] + q[j] + bhh[j];
            T pf = a[H + j] + q[H + j] + bhh[H + j];
            const T pg = a[2 * H + j] + q[2 * H + j] + bhh[2 * H + j];
            T po = a[3 * H + j] + q[3 * H + j] + bhh[3 * H + j];
            if (diag) {
              pi += P[j] * cprev;
              pf += P[H + j] * cprev;
            } else if (tmp2) {
              pi += tmp2[b * 3 * H + j];
              pf += tmp2[b * 3 * H + H + j];
              po += tmp2[b * 3 * H + 2 * H + j];
            }
            const T i = sigm(pi), f = sigm(pf), g = std::tanh(pg);
            const T c = f * cprev + i * g;
            if (diag) po += P[2 * H + j] * c;
            const T o = sigm(po);
            a[j] = i;
            a[H + j] = f;
            a[2 * H + j] = g;
            a[3 * H + j] = o;
            cc[b * H + j] = c;
            hc[b * H + j] = o * std::tanh(c);
          }
        }
        break;
      }
      case LayerType::Gru: {
        if (spec_.gruMinimal) {
          // u = sigm(.), c~ = tanh(.), h = u * c~ + (1 - u) * h<t-1>   (the course's simplified GRU)
          gemm<T>(false, true, B, GH, H, T(1), hp, H, Whh, H, T(0), tmp, GH);
          for (int b = 0; b < B; ++b) {
            if (!ctx.active(t, b)) {
              std::memcpy(hc + b * H, hp + b * H, sizeof(T) * H);
              continue;
            }
            T* a = at + (size_t)b * GH;
            const T* q = tmp + (size_t)b * GH;
            for (int j = 0; j < H; ++j) {
              const T u = sigm(a[j] + q[j] + bhh[j]);
              const T ct = std::tanh(a[H + j] + q[H + j] + bhh[H + j]);
              a[j] = u;
              a[H + j] = ct;
              hc[b * H + j] = u * ct + (T(1) - u) * hp[b * H + j];
            }
          }
        } else if (spec_.resetAfter) {
          // PyTorch/cuDNN: n = tanh(W_in x + b_in + r * (W_hn h + b_hn)), h = (1 - z) * n + z * h<t-1>
          gemm<T>(false, true, B, GH, H, T(1), hp, H, Whh, H, T(0), tmp, GH);
          T* ax = aux + (size_t)t * BH;
          for (int b = 0; b < B; ++b) {
            if (!ctx.active(t, b)) {
              std::memcpy(hc + b * H, hp + b * H, sizeof(T) * H);
              std::fill(ax + b * H, ax + (b + 1) * H, T(0));
              continue;
            }
            T* a = at + (size_t)b * GH;
            const T* q = tmp + (size_t)b * GH;
            for (int j = 0; j < H; ++j) {
              const T rg = sigm(a[j] + q[j] + bhh[j]);
              const T z = sigm(a[H + j] + q[H + j] + bhh[H + j]);
              const T hn = q[2 * H + j] + bhh[2 * H + j];
              const T n = std::tanh(a[2 * H + j] + rg * hn);
              a[j] = rg;
              a[H + j] = z;
              a[2 * H + j] = n;
              ax[b * H + j] = hn;
              hc[b * H + j] = (T(1) - z) * n + z * hp[b * H + j];
            }
          }
        } else {
          // The course form: n = tanh(W_in x + b_in + W_hn (r * h<t-1>) + b_hn).
          gemm<T>(false, true, B, 2 * H, H, T(1), hp, H, Whh, H, T(0), tmp, GH);
          T* rh = aux + (size_t)t * BH;  // (B, H) r * h<t-1>
          for (int b = 0; b < B; ++b) {
            T* a = at + (size_t)b * GH;
            const T* q = tmp + (size_t)b * GH;
            const bool on = ctx.active(t, b);
            for (int j = 0; j < H; ++j) {
              if (!on) {
                rh[b * H + j] = T(0);
                continue;
              }
              const T rg = sigm(a[j] + q[j] + bhh[j]);
              a[j] = rg;
              a[H + j] = sigm(a[H + j] + q[H + j] + bhh[H + j]);
              rh[b * H + j] = rg * hp[b * H + j];
            }
          }
          gemm<T>(false, true, B, H, H, T(1), rh, H, Whh + (size_t)2 * H * H, H, T(0), tmp + 2 * H, GH);
          for (int b = 0; b < B; ++b) {
            if (!ctx.active(t, b)) {
              std::memcpy(hc + b * H, hp + b * H, sizeof(T) * H);
              continue;
            }
            T* a = at + (size_t)b * GH;
            const T* q = tmp + (size_t)b * GH;
            for (int j = 0; j < H; ++j) {
              const T z = a[H + j];
              const T n = std::tanh(a[2 * H + j] + q[2 * H + j] + bhh[2 * H + j]);
              a[2 * H + j] = n;
              hc[b * H + j] = (T(1) - z) * n + z * hp[b * H + j];
            }
          }
        }
        break;
      }
      default: break;
    }
    if (spec_.returnSequences) {
      for (int b = 0; b < B; ++b) {
        T* o = out + ((size_t)t * B + b) * outLd;
        if (ctx.active(t, b)) std::memcpy(o, hc + b * H, sizeof(T) * H);
        else std::fill(o, o + H, T(0));
      }
    }
  }
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
                                 int) {
  const size_t BH = (size_t)ctx.B * H_;
  ensure(dh0_, dirs_ * BH);
  if (hasCell()) ensure(dc0_, dirs_ * BH);
  for (int d = 0; d < dirs_; ++d) backwardDir(ctx, params, dParams, in, d, dOut + d * H_, dirs_ * H_, dIn);
}

template <class T>
void RecurrentLayer<T>::backwardDir(const Ctx& ctx, const T* params, T* dParams, const Act<T>& in, int d,
                                    const T* dOut, int ld, T* dIn) {
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
  if (dhFinal)
    for (size_t k = 0; k < BH; ++k) dh[k] += dhFinal[d * BH + k];
  if (lstm) {
    if (dcFinal) std::memcpy(dc, dcFinal + d * BH, sizeof(T) * BH);
    else std::fill(dc, dc + BH, T(0));
  }

  for (int s = 0; s < Tn; ++s) {
    const int t = d == 0 ? Tn - 1 - s : s;  // reverse of the processing order
    if (spec_.returnSequences)
      for (int b = 0; b < B; ++b)
        if (ctx.active(t, b))
          for (int j = 0; j < H; ++j) dh[b * H + j] += dOut[((size_t)t * B + b) * ld + j];
    const T* hp = hb + prevIdx(d, t) * BH;
    const T* hc = hb + curIdx(d, t) * BH;
    const T* at = xp + (size_t)t * B * GH;
    T* dx = dxp + (size_t)t * B * GH;
    T* dhh = dhp + (size_t)t * B * GH;
    switch (spec_.type) {
      case LayerType::Rnn: {
        const bool relu = spec_.activation == Activation::Relu;
        for (int b = 0; b < B; ++b) {
          const bool on = ctx.active(t, b);
          for (int j = 0; j < H; ++j) {
            const size_t k = (size_t)b * H + j;
            if (!on) {
              dx[k] = T(0);
              dhn[k] = dh[k];
              continue;
            }
            const T hv = hc[k];
            dx[k] = dh[k] * (relu ? (hv > T(0) ? T(1) : T(0)) : T(1) - hv * hv);
            dhn[k] = T(0);
          }
        }
        gemm<T>(false, false, B, H, H, T(1), dx, H, Whh, H, T(1), dhn, H);
        break;
      }
      case LayerType::Lstm: {
        const T* cp = cb + prevIdx(d, t) * BH;
        const T* cc = cb + curIdx(d, t) * BH;
        for (int b = 0; b < B; ++b) {
          T* g4 = dx + (size_t)b * GH;
          if (!ctx.active(t, b)) {
            std::fill(g4, g4 + GH, T(0));
            std::memcpy(dhn + b * H, dh + b * H, sizeof(T) * H);
            std::memcpy(dcn + b * H, dc + b * H, sizeof(T) * H);
            continue;
          }
          const T* a = at + (size_t)b * GH;
          for (int j = 0; j < H; ++j) {
            const size_t k = (size_t)b * H + j;
            const T i = a[j], f = a[H + j], g = a[2 * H + j], o = a[3 * H + j];
            const T tc = std::tanh(cc[k]);
            const T dop = dh[k] * tc * o * (T(1) - o);
            T dct = dc[k] + dh[k] * o * (T(1) - tc * tc);
            if (diag) dct += P[2 * H + j] * dop;  // o<t> saw c<t>
            const T dip = dct * g * i * (T(1) - i);
            const T dfp = dct * cp[k] * f * (T(1) - f);
            const T dgp = dct * i * (T(1) - g * g);
            g4[j] = dip;
            g4[H + j] = dfp;
            g4[2 * H + j] = dgp;
            g4[3 * H + j] = dop;
            T dcp = dct * f;
            if (diag) {
              dcp += P[j] * dip + P[H + j] * dfp;
              dP[j] += dip * cp[k];
              dP[H + j] += dfp * cp[k];
              dP[2 * H + j] += dop * cc[k];
            }
            dcn[k] = dcp;
            dhn[k] = T(0);
          }
        }
        if (full) {  // dc<t-1> += [di, df] P_if + do P_o
          gemm<T>(false, false, B, H, 2 * H, T(1), dx, GH, P, H, T(1), dcn, H);
          gemm<T>(false, false, B, H, H, T(1), dx + 3 * H, GH, P + (size_t)2 * H * H, H, T(1), dcn, H);
        }
        gemm<T>(false, false, B, H, GH, T(1), dx, GH, Whh, H, T(1), dhn, H);
        break;
      }
      case LayerType::Gru: {
        if (spec_.gruMinimal) {
          for (int b = 0; b < B; ++b) {
            T* g2 = dx + (size_t)b * GH;
            if (!ctx.active(t, b)) {
              std::fill(g2, g2 + GH, T(0));
              std::memcpy(dhn + b * H, dh + b * H, sizeof(T) * H);
              continue;
            }
            const T* a = at + (size_t)b * GH;
            for (int j = 0; j < H; ++j) {
              const size_t k = (size_t)b * H + j;
              const T u = a[j], ct = a[H + j];
              g2[j] = dh[k] * (ct - hp[k]) * u * (T(1) - u);
              g2[H + j] = dh[k] * u * (T(1) - ct * ct);
              dhn[k] = dh[k] * (T(1) - u);
            }
          }
          gemm<T>(false, false, B, H, GH, T(1), dx, GH, Whh, H, T(1), dhn, H);
        } else if (gruAfter) {
          const T* ax = aux + (size_t)t * BH;
          for (int b = 0; b < B; ++b) {
            T* g3 = dx + (size_t)b * GH;
            T* q3 = dhh + (size_t)b * GH;
            if (!ctx.active(t, b)) {
              std::fill(g3, g3 + GH, T(0));
              std::fill(q3, q3 + GH, T(0));
              std::memcpy(dhn + b * H, dh + b * H, sizeof(T) * H);
              continue;
            }
            const T* a = at + (size_t)b * GH;
            for (int j = 0; j < H; ++j) {
              const size_t k = (size_t)b * H + j;
              const T rg = a[j], z = a[H + j], n = a[2 * H + j];
              const T dnp = dh[k] * (T(1) - z) * (T(1) - n * n);
              const T drp = dnp * ax[k] * rg * (T(1) - rg);
              const T dzp = dh[k] * (hp[k] - n) * z * (T(1) - z);
              g3[j] = q3[j] = drp;
              g3[H + j] = q3[H + j] = dzp;
              g3[2 * H + j] = dnp;
              q3[2 * H + j] = dnp * rg;  // the reset gate scales W_hn h + b_hn
              dhn[k] = dh[k] * z;
            }
          }
          gemm<T>(false, false, B, H, GH, T(1), dhh, GH, Whh, H, T(1), dhn, H);
        } else {
          // Reset before the product: first dn and dz, then d(r*h) = dn W_hn, then dr.
          for (int b = 0; b < B; ++b) {
            T* g3 = dx + (size_t)b * GH;
            if (!ctx.active(t, b)) {
              std::fill(g3, g3 + GH, T(0));
              std::memcpy(dhn + b * H, dh + b * H, sizeof(T) * H);
              continue;
            }
            const T* a = at + (size_t)b * GH;
            for (int j = 0; j < H; ++j) {
              const size_t k = (size_t)b * H + j;
              const T z = a[H + j], n = a[2 * H + j];
              g3[2 * H + j] = dh[k] * (T(1) - z) * (T(1) - n * n);
              g3[H + j] = dh[k] * (hp[k] - n) * z * (T(1) - z);
              dhn[k] = dh[k] * z;
            }
          }
          gemm<T>(false, false, B, H, H, T(1), dx + 2 * H, GH, Whh + (size_t)2 * H * H, H, T(0), tmp, H);
          for (int b = 0; b < B; ++b) {
            if (!ctx.active(t, b)) continue;
            T* g3 = dx + (size_t)b * GH;
            const T* a = at + (size_t)b * GH;
            for (int j = 0; j < H; ++j) {
              const size_t k = (size_t)b * H + j;
              const T rg = a[j], drh = tmp[k];
              g3[j] = drh * hp[k] * rg * (T(1) - rg);
              dhn[k] += drh * rg;
            }
          }
          gemm<T>(false, false, B, H, 2 * H, T(1), dx, GH, Whh, H, T(1), dhn, H);
        }
        break;
      }
      default: break;
    }
    std::swap(dh, dhn);
    if (lstm) std::swap(dc, dcn);
  }
  std::memcpy(dh0_.data() + d * BH, dh, sizeof(T) * BH);
  if (lstm) std::memcpy(dc0_.data() + d * BH, dc, sizeof(T) * BH);

  // Weight gradients: one GEMM each over all T*B rows.
  const T* hprevAll = hb + (d == 0 ? 0 : BH);  // (T*B, H): h<t-1> for every t
  if (gruBefore) {
    gemm<T>(true, false, 2 * H, H, (int)TB, T(1), dxp, GH, hprevAll, H, T(1), dWhh, H);
    gemm<T>(true, false, H, H, (int)TB, T(1), dxp + 2 * H, GH, aux, H, T(1), dWhh + (size_t)2 * H * H, H);
  } else {
    gemm<T>(true, false, GH, H, (int)TB, T(1), dhp, GH, hprevAll, H, T(1), dWhh, H);
  }
  addColSums(dhp, (int)TB, GH, dbhh);
  addColSums(dxp, (int)TB, GH, dbih);
  if (full) {
    const T* cprevAll = cb + (d == 0 ? 0 : BH);
    gemm<T>(true, false, 2 * H, H, (int)TB, T(1), dxp, GH, cprevAll, H, T(1), dP, H);
    gemm<T>(true, false, H, H, (int)TB, T(1), dxp + 3 * H, GH, cprevAll, H, T(1), dP + (size_t)2 * H * H, H);
  }
  if (in.tokens) {
    scatterProjection(ctx, dxp, GH, D_, in.tokens, dWih, r.dwt);
  } else {
    gemm<T>(true, false, GH, D_, (int)TB, T(1), dxp, GH, in.data, D_, T(1), dWih, D_);
    if (dIn) gemm<T>(false, false, (int)TB, D_, GH, T(1), dxp, GH, Wih, D_, d == 0 ? T(0) : T(1), dIn, D_);
  }
}

template class RecurrentLayer<float>;
template class RecurrentLayer<double>;

}  // namespace rnnkit
