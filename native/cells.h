// Per-row gate kernels of the recurrent cells, forward and backward.
//
// Dimension legend: H hidden units; gate blocks are stacked like PyTorch's
// weights (LSTM i, f, g, o; GRU r, z, n; minimal GRU u, c~). Each kernel works
// on one batch row: `a` holds the row's input projection x W_ih^T + b_ih on the
// way in and the post-activation gates on the way out (backward reads them),
// `q` the recurrent product h<t-1> W_hh^T. Every loop is a straight pass over
// contiguous memory through __restrict pointers, so the compiler vectorises
// them (with the branch-free float sigm / tanhT of ops.h). A `d` prefix marks a
// gradient; backward kernels write the gradient of the gate pre-activations
// (`g`, (G*H)) and their part of dh<t-1> / dc<t-1>.
#pragma once
#include "ops.h"

// Forced inline so that each kernel compiles into the SIMD clones of
// cells_dispatch.cc (AVX-512 / AVX2 / baseline), not only the baseline build.
#define RNNKIT_KERNEL inline __attribute__((always_inline))

namespace rnnkit {
namespace cells {

// ---- vanilla RNN: h = act(a + q + b_hh) ----
template <class T>
RNNKIT_KERNEL void rnnForward(int H, bool relu, const T* __restrict a, const T* __restrict q, const T* __restrict bhh,
                              T* __restrict h) {
  if (relu)
    for (int j = 0; j < H; ++j) {
      const T v = a[j] + q[j] + bhh[j];
      h[j] = v > T(0) ? v : T(0);
    }
  else
    for (int j = 0; j < H; ++j) h[j] = tanhT(a[j] + q[j] + bhh[j]);
}

template <class T>
RNNKIT_KERNEL void rnnBackward(int H, bool relu, const T* __restrict h, const T* __restrict dh, T* __restrict g,
                               T* __restrict dhPrev) {
  if (relu)
    for (int j = 0; j < H; ++j) g[j] = dh[j] * T(h[j] > T(0));
  else
    for (int j = 0; j < H; ++j) g[j] = dh[j] * (T(1) - h[j] * h[j]);
  for (int j = 0; j < H; ++j) dhPrev[j] = T(0);  // the recurrent GEMM adds g W_hh
}

// ---- LSTM: c = f c<t-1> + i g, h = o tanh(c) ----
// peep: diagonal peepholes (3H: i, f see c<t-1>, o sees c<t>) or nullptr;
// full: this row of c<t-1> P^T (3H: i, f, o) for full peepholes, or nullptr.
template <class T>
RNNKIT_KERNEL void lstmForward(int H, T* __restrict a, const T* __restrict q, const T* __restrict bhh,
                               const T* __restrict cp, const T* __restrict peep, const T* __restrict full,
                               T* __restrict c, T* __restrict tc, T* __restrict h) {
  const int G = 4 * H;
  for (int k = 0; k < G; ++k) a[k] += q[k] + bhh[k];
  if (peep)
    for (int j = 0; j < H; ++j) {
      a[j] += peep[j] * cp[j];
      a[H + j] += peep[H + j] * cp[j];
    }
  if (full)
    for (int j = 0; j < H; ++j) {
      a[j] += full[j];
      a[H + j] += full[H + j];
      a[3 * H + j] += full[2 * H + j];
    }
  for (int k = 0; k < 2 * H; ++k) a[k] = sigm(a[k]);
  for (int j = 0; j < H; ++j) a[2 * H + j] = tanhT(a[2 * H + j]);
  for (int j = 0; j < H; ++j) c[j] = a[H + j] * cp[j] + a[j] * a[2 * H + j];
  if (peep)
    for (int j = 0; j < H; ++j) a[3 * H + j] += peep[2 * H + j] * c[j];
  for (int j = 0; j < H; ++j) a[3 * H + j] = sigm(a[3 * H + j]);
  for (int j = 0; j < H; ++j) tc[j] = tanhT(c[j]);  // kept for backward
  for (int j = 0; j < H; ++j) h[j] = a[3 * H + j] * tc[j];
}

// dc<t-1> (without the full-peephole GEMM term) into dcPrev; diagonal peephole
// gradients accumulate into dPeep. Peep is a template flag so that each loop is
// branch-free and vectorises.
template <class T, bool Peep>
RNNKIT_KERNEL void lstmBackwardRow(int H, const T* __restrict a, const T* __restrict cp, const T* __restrict c,
                                   const T* __restrict tcs, const T* __restrict dh, const T* __restrict dc,
                                   const T* __restrict peep, T* __restrict g, T* __restrict dcPrev,
                                   T* __restrict dhPrev, T* __restrict dPeep) {
  for (int j = 0; j < H; ++j) {
    const T i = a[j], f = a[H + j], gg = a[2 * H + j], o = a[3 * H + j];
    const T tc = tcs[j];  // tanh(c<t>) from the forward pass
    const T dop = dh[j] * tc * o * (T(1) - o);
    T dct = dc[j] + dh[j] * o * (T(1) - tc * tc);
    if (Peep) dct += peep[2 * H + j] * dop;  // o<t> saw c<t>
    const T dip = dct * gg * i * (T(1) - i);
    const T dfp = dct * cp[j] * f * (T(1) - f);
    g[j] = dip;
    g[H + j] = dfp;
    g[2 * H + j] = dct * i * (T(1) - gg * gg);
    g[3 * H + j] = dop;
    T dcp = dct * f;
    if (Peep) dcp += peep[j] * dip + peep[H + j] * dfp;
    dcPrev[j] = dcp;
    dhPrev[j] = T(0);
  }
  if (Peep)
    for (int j = 0; j < H; ++j) {
      dPeep[j] += g[j] * cp[j];
      dPeep[H + j] += g[H + j] * cp[j];
      dPeep[2 * H + j] += g[3 * H + j] * c[j];
    }
}

template <class T>
RNNKIT_KERNEL void lstmBackward(int H, const T* a, const T* cp, const T* c, const T* tc, const T* dh, const T* dc,
                                const T* peep, T* g, T* dcPrev, T* dhPrev, T* dPeep) {
  if (peep) lstmBackwardRow<T, true>(H, a, cp, c, tc, dh, dc, peep, g, dcPrev, dhPrev, dPeep);
  else lstmBackwardRow<T, false>(H, a, cp, c, tc, dh, dc, peep, g, dcPrev, dhPrev, dPeep);
}

// ---- minimal GRU (the course's): h = u c~ + (1 - u) h<t-1> ----
template <class T>
RNNKIT_KERNEL void gruMinimalForward(int H, T* __restrict a, const T* __restrict q, const T* __restrict bhh,
                                     const T* __restrict hp, T* __restrict h) {
  for (int j = 0; j < H; ++j) a[j] = sigm(a[j] + q[j] + bhh[j]);
  for (int j = 0; j < H; ++j) a[H + j] = tanhT(a[H + j] + q[H + j] + bhh[H + j]);
  for (int j = 0; j < H; ++j) h[j] = a[j] * a[H + j] + (T(1) - a[j]) * hp[j];
}

template <class T>
RNNKIT_KERNEL void gruMinimalBackward(int H, const T* __restrict a, const T* __restrict hp, const T* __restrict dh,
                                      T* __restrict g, T* __restrict dhPrev) {
  for (int j = 0; j < H; ++j) {
    const T u = a[j], ct = a[H + j];
    g[j] = dh[j] * (ct - hp[j]) * u * (T(1) - u);
    g[H + j] = dh[j] * u * (T(1) - ct * ct);
    dhPrev[j] = dh[j] * (T(1) - u);
  }
}

// ---- GRU, reset after the product (PyTorch/cuDNN) ----
// n = tanh(a_n + r (q_n + b_hn)), h = (1 - z) n + z h<t-1>; hn keeps q_n + b_hn.
template <class T>
RNNKIT_KERNEL void gruAfterForward(int H, T* __restrict a, const T* __restrict q, const T* __restrict bhh,
                                   const T* __restrict hp, T* __restrict hn, T* __restrict h) {
  for (int k = 0; k < 2 * H; ++k) a[k] = sigm(a[k] + q[k] + bhh[k]);
  for (int j = 0; j < H; ++j) {
    hn[j] = q[2 * H + j] + bhh[2 * H + j];
    a[2 * H + j] = tanhT(a[2 * H + j] + a[j] * hn[j]);
  }
  for (int j = 0; j < H; ++j) h[j] = (T(1) - a[H + j]) * a[2 * H + j] + a[H + j] * hp[j];
}

// g: gradient of the input-side pre-activations; gh: of the recurrent side
// (q + b_hh), which differs in the n block (scaled by r).
template <class T>
RNNKIT_KERNEL void gruAfterBackward(int H, const T* __restrict a, const T* __restrict hn, const T* __restrict hp,
                                    const T* __restrict dh, T* __restrict g, T* __restrict gh, T* __restrict dhPrev) {
  for (int j = 0; j < H; ++j) {
    const T r = a[j], z = a[H + j], n = a[2 * H + j];
    const T dnp = dh[j] * (T(1) - z) * (T(1) - n * n);
    const T drp = dnp * hn[j] * r * (T(1) - r);
    const T dzp = dh[j] * (hp[j] - n) * z * (T(1) - z);
    g[j] = gh[j] = drp;
    g[H + j] = gh[H + j] = dzp;
    g[2 * H + j] = dnp;
    gh[2 * H + j] = dnp * r;
    dhPrev[j] = dh[j] * z;
  }
}

// ---- GRU, reset before the product (the course's form) ----
// Step 1: r, z and r h<t-1> (the input of the second recurrent GEMM).
template <class T>
RNNKIT_KERNEL void gruBeforeGates(int H, T* __restrict a, const T* __restrict q, const T* __restrict bhh,
                                  const T* __restrict hp, T* __restrict rh) {
  for (int k = 0; k < 2 * H; ++k) a[k] = sigm(a[k] + q[k] + bhh[k]);
  for (int j = 0; j < H; ++j) rh[j] = a[j] * hp[j];
}

// Step 2: n = tanh(a_n + (r h) W_hn^T + b_hn), h = (1 - z) n + z h<t-1>; qn = (r h) W_hn^T.
template <class T>
RNNKIT_KERNEL void gruBeforeOutput(int H, T* __restrict a, const T* __restrict qn, const T* __restrict bhn,
                                   const T* __restrict hp, T* __restrict h) {
  for (int j = 0; j < H; ++j) a[2 * H + j] = tanhT(a[2 * H + j] + qn[j] + bhn[j]);
  for (int j = 0; j < H; ++j) h[j] = (T(1) - a[H + j]) * a[2 * H + j] + a[H + j] * hp[j];
}

// Backward step 1: dn and dz (the n block feeds d(r h) = dn W_hn by GEMM).
template <class T>
RNNKIT_KERNEL void gruBeforeBackwardOutput(int H, const T* __restrict a, const T* __restrict hp, const T* __restrict dh,
                                           T* __restrict g, T* __restrict dhPrev) {
  for (int j = 0; j < H; ++j) {
    const T z = a[H + j], n = a[2 * H + j];
    g[2 * H + j] = dh[j] * (T(1) - z) * (T(1) - n * n);
    g[H + j] = dh[j] * (hp[j] - n) * z * (T(1) - z);
    dhPrev[j] = dh[j] * z;
  }
}

// Backward step 2: from d(r h), the reset gate's gradient and r's share of dh<t-1>.
template <class T>
RNNKIT_KERNEL void gruBeforeBackwardGates(int H, const T* __restrict a, const T* __restrict hp, const T* __restrict drh,
                                          T* __restrict g, T* __restrict dhPrev) {
  for (int j = 0; j < H; ++j) {
    const T r = a[j];
    g[j] = drh[j] * hp[j] * r * (T(1) - r);
    dhPrev[j] += drh[j] * r;
  }
}

}  // namespace cells
}  // namespace rnnkit
