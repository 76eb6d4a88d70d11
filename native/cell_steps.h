// Each recurrent cell in one place: its gate count and peephole parameters, the
// recurrent products and gate kernels of one forward step and of one backward
// step, and its recurrent weight gradients.
//
// RecurrentLayer (recurrent.cc) owns what every cell shares: the input projection,
// the initial state, the split of rows across threads and the time loop, padding
// (an inactive row carries its state forward and passes its gradient back),
// outputs, the bias and input gradients. It calls withCell() once per direction,
// so each cell's loop is compiled on its own, with no switch per step.
//
// Adding a cell: a struct here with the members of the others (kGates, the
// buffer flags, forward, backward, weightGrads), a case in withCell() and
// gatesOf(), and its gate kernels in cells.h / cells_dispatch.h.
//
// Shapes: B batch, H hidden, G gates, GH = G*H; every row pointer below is the
// whole batch's (B, ...) block at one time step, and a step touches rows [b0, b1).
#pragma once
#include <algorithm>
#include <cstring>
#include <vector>

#include "cells_dispatch.h"
#include "errors.h"
#include "layer.h"
#include "parallel.h"
#include "spec.h"
#include "stepgemm.h"

namespace rnnkit {

// Gates per cell: rnn 1; lstm 4 (i, f, g, o); gru 3 (r, z, n); minimal gru 2 (u, c~).
inline int gatesOf(const LayerSpec& s) {
  switch (s.type) {
    case LayerType::Rnn: return 1;
    case LayerType::Lstm: return 4;
    case LayerType::Gru: return s.gruMinimal ? 2 : 3;
    default: throwRange("not a recurrent layer");
  }
}

// The shape of one direction's peephole weights: [3H] diagonal, [3H, H] full, else none ({}).
inline std::vector<int> peepholeShape(const LayerSpec& s) {
  if (s.type != LayerType::Lstm || s.peephole == Peephole::None) return {};
  if (s.peephole == Peephole::Diagonal) return {3 * s.units};
  return {3 * s.units, s.units};
}
inline size_t peepholeSize(const LayerSpec& s) {
  const std::vector<int> shape = peepholeShape(s);
  size_t n = shape.empty() ? 0 : 1;
  for (int d : shape) n *= (size_t)d;
  return n;
}

// Parameters of a recurrent layer over `inCols` input columns: per direction
// weight_ih [GH, D], weight_hh [GH, H], bias_ih and bias_hh [GH], the peepholes.
inline size_t recurrentParams(const LayerSpec& s, int inCols) {
  const size_t GH = (size_t)gatesOf(s) * s.units, dirs = s.bidirectional ? 2 : 1;
  return dirs * (GH * ((size_t)inCols + s.units + 2) + peepholeSize(s));
}

// Where one thread's step runs: rows [b0, b1) at time t, and the layer's state
// there, as the forward pass wrote it (the backward pass only reads it).
template <class T>
struct StepAt {
  const Ctx& ctx;
  bool split;  // rows split across threads: the step kernel on W^T; else the gemm seam on W
  int t, b0, b1, H, GH;
  T* hp;                     // (B, H) h<t-1>
  T* hc;                     // (B, H) h<t>
  T* cp;                     // (B, H) LSTM c<t-1>, else null
  T* cc;                     // (B, H) LSTM c<t>, else null
  T* tc;                     // (B, H) LSTM tanh(c<t>), else null
  T* at;                     // (B, GH) gate pre-activations (input side) in, activations out
  T* aux;                    // (B, H) GRU: W_hn h<t-1> + b_hn (reset after) or r * h<t-1> (before), else null
  const T* rmask = nullptr;  // (B, H) recurrent dropout mask (scaled keep / 0), else null
  T* rbuf = nullptr;         // (B, H) with rmask: scratch of its product operand / gradient
  int M() const { return b1 - b0; }
  bool active(int b) const { return ctx.active(t, b); }
  template <class P>
  P* row(P* block, int b) const {  // row b of a (B, H) block
    return block + (size_t)b * H;
  }
  T* gates(int b) const { return at + (size_t)b * GH; }
};

// The leading dimension of a transposed weight (H, rows): rows, padded by a cache line
// where a row would span a multiple of 1 KB (rows a power-of-two stride apart share a
// few cache sets). One core, M = 1, stepGemm on W_hh^T: LSTM-256 31.0 us at ld = 4H,
// 25.7 padded; LSTM-512 194 and 168 (a loop of 2,000 stepGemm calls, 2026-12-07).
inline int transposedLd(int rows, size_t elem) { return rows * elem % 1024 == 0 ? rows + (int)(64 / elem) : rows; }

// A forward step: the recurrent products into tmp, then the gate kernels.
template <class T>
struct ForwardStep : StepAt<T> {
  T* tmp;                            // (B, GH) recurrent products
  T* tmp2;                           // (B, 3H) full-peephole products c<t-1> P^T, else null
  const T *Whh, *WhhT;               // (GH, H) and, split, its transpose (H, GH)
  const T *P, *PT;                   // peepholes and, full and split, P^T (H, 3H)
  const T* bhh;                      // (GH)
  const PackedWeights<T>*WhhP, *PP;  // rowExact: W_hh and (full) P packed, else null
  // C (M, N) = A (M, H) W[col0 .. col0+N)^T for W (rows, H) with transpose WT (H, rows)
  // (leading dimension transposedLd(rows)) or, rowExact, packed Wp
  void product(int N, const T* A, const T* W, const T* WT, const PackedWeights<T>* Wp, int rows, int col0, T* C,
               int ldc) const {
    const int M = this->M(), H = this->H, ld = transposedLd(rows, sizeof(T));
    if (this->ctx.rowExact) {  // a row split runs on its own thread already
      const auto [panels, n] = Wp->span(col0, N);
      rowExactPanelGemm<T>(this->split ? nullptr : this->ctx.pool, M, H, A, H, Wp->data.data(), panels, n, col0, C,
                           ldc);
    } else if (this->split) stepGemm<T>(M, N, H, A, H, WT + col0, ld, C, ldc, false);
    else parallelGemm<T>(this->ctx.pool, false, true, M, N, H, T(1), A, H, W + (size_t)col0 * H, H, T(0), C, ldc);
  }
  // tmp = h<t-1> (times the recurrent dropout mask) times the first N rows of W_hh, transposed
  void recurrentProduct(int N) const {
    const T* A = this->row(this->hp, this->b0);
    if (this->rmask) {
      const size_t n = (size_t)this->M() * this->H, at = (size_t)this->b0 * this->H;
      for (size_t i = 0; i < n; ++i) this->rbuf[at + i] = A[i] * this->rmask[at + i];
      A = this->rbuf + at;
    }
    product(N, A, Whh, WhhT, WhhP, this->GH, 0, tmp + (size_t)this->b0 * this->GH, this->GH);
  }
  const T* q(int b) const { return tmp + (size_t)b * this->GH; }
  // kernel(b) for each active row; a row past its length carries h (and c) unchanged.
  template <class F>
  void eachRow(F&& kernel) const {
    const size_t bytes = sizeof(T) * this->H;
    for (int b = this->b0; b < this->b1; ++b) {
      if (this->active(b)) {
        kernel(b);
      } else {
        std::memcpy(this->row(this->hc, b), this->row(this->hp, b), bytes);
        if (this->cc) std::memcpy(this->row(this->cc, b), this->row(this->cp, b), bytes);
      }
    }
  }
};

// A backward step: gradients from h<t> (dh) and c<t> (dc) to the gate
// pre-activations (dx, dhh) and to h<t-1> (dhn) and c<t-1> (dcn).
template <class T>
struct BackwardStep : StepAt<T> {
  T* dx;        // (B, GH) out: gradient of the input-side pre-activations
  T* dhh;       // (B, GH) out: of the recurrent-side ones (GRU reset after), else dx
  const T* dh;  // (B, H) gradient at h<t>
  T* dhn;       // (B, H) out: at h<t-1> (the gate kernels write, the products add)
  const T* dc;  // (B, H) LSTM gradient at c<t>, else null
  T* dcn;       // (B, H) LSTM out: at c<t-1>, else null
  T* tmp;       // (B, H) scratch (GRU reset before: d(r * h<t-1>))
  const T *Whh, *P;
  T* dP;  // this thread's diagonal peephole gradient (3H), else null
  // C (M, N) (+)= A (M, K) W (K, N), W row-major
  void product(int N, int K, const T* A, int lda, const T* W, int ldw, T* C, int ldc, bool acc) const {
    if (this->split) stepGemm<T>(this->M(), N, K, A, lda, W, ldw, C, ldc, acc);
    else
      parallelGemm<T>(this->ctx.pool, false, false, this->M(), N, K, T(1), A, lda, W, ldw, acc ? T(1) : T(0), C, ldc);
  }
  // dh<t-1> += G (M, K) W_hh rows [0, K) (times the recurrent dropout mask), for a gradient block G of rows GH wide
  void recurrentProduct(const T* G, int K) const {
    const int H = this->H, GH = this->GH;
    if (!this->rmask) return product(H, K, G + (size_t)this->b0 * GH, GH, Whh, H, this->row(dhn, this->b0), H, true);
    product(H, K, G + (size_t)this->b0 * GH, GH, Whh, H, this->row(this->rbuf, this->b0), H, false);
    const size_t n = (size_t)this->M() * H, at = (size_t)this->b0 * H;
    for (size_t i = 0; i < n; ++i) dhn[at + i] += this->rbuf[at + i] * this->rmask[at + i];
  }
  T* g(int b) const { return dx + (size_t)b * this->GH; }
  // kernel(b) for each active row; a row past its length passes dh (and dc)
  // through and has no gate gradient.
  template <class F>
  void eachRow(F&& kernel) const {
    const int GH = this->GH;
    const size_t bytes = sizeof(T) * this->H;
    for (int b = this->b0; b < this->b1; ++b) {
      if (this->active(b)) {
        kernel(b);
        continue;
      }
      std::fill(g(b), g(b) + GH, T(0));
      if (dhh != dx) std::fill(dhh + (size_t)b * GH, dhh + (size_t)(b + 1) * GH, T(0));
      std::memcpy(this->row(dhn, b), this->row(dh, b), bytes);
      if (dcn) std::memcpy(this->row(dcn, b), this->row(dc, b), bytes);
    }
  }
};

// The weight gradients over all T*B rows after the time loop (one GEMM each).
template <class T>
struct WeightGrads {
  const Ctx& ctx;
  int H, GH, TB;
  const T* dxp;    // (T*B, GH) input-side gate gradients
  const T* dhp;    // (T*B, GH) recurrent-side ones (dxp but for the GRU with the reset after)
  const T* hprev;  // (T*B, H) h<t-1> for every t, times the recurrent dropout mask when there is one
  const T* cprev;  // (T*B, H) c<t-1> for every t (LSTM), else null
  const T* aux;    // (T*B, H) the GRU's aux for every t, else null
  T* dWhh;         // (GH, H)
  T* dP;           // peephole gradient, else null
  // C (M, N) += A^T B over the T*B rows: A (T*B, M) with leading dimension lda, B (T*B, N).
  void gemm(int M, int N, const T* A, int lda, const T* Bm, T* C) const {
    parallelGemm<T>(ctx.pool, true, false, M, N, TB, T(1), A, lda, Bm, N, T(1), C, N);
  }
};

// dW_hh += dhp^T h<t-1>: what every cell but the GRU with the reset before does.
struct PlainRecurrentWeights {
  template <class T>
  void weightGrads(const WeightGrads<T>& w) const {
    w.gemm(w.GH, w.H, w.dhp, w.GH, w.hprev, w.dWhh);
  }
};

// h<t> = act(a + W_hh h<t-1> + b_hh)
struct RnnCell : PlainRecurrentWeights {
  static constexpr bool kCellState = false, kAux = false, kRecurrentGrad = false;
  bool relu;
  template <class T>
  void forward(const ForwardStep<T>& s) const {
    s.recurrentProduct(s.H);
    s.eachRow([&](int b) { cells::fast::rnnForward(s.H, relu, s.gates(b), s.q(b), s.bhh, s.row(s.hc, b)); });
  }
  template <class T>
  void backward(const BackwardStep<T>& s) const {
    s.eachRow(
        [&](int b) { cells::fast::rnnBackward(s.H, relu, s.row(s.hc, b), s.row(s.dh, b), s.g(b), s.row(s.dhn, b)); });
    s.recurrentProduct(s.dx, s.H);
  }
};

// The LSTM of the course, with optional peepholes: diagonal (i, f see c<t-1>, o
// sees c<t>) or full (i, f, o see c<t-1> through [3H, H]).
struct LstmCell : PlainRecurrentWeights {
  static constexpr bool kCellState = true, kAux = false, kRecurrentGrad = false;
  Peephole peephole;
  bool diag() const { return peephole == Peephole::Diagonal; }
  bool full() const { return peephole == Peephole::Full; }
  template <class T>
  void forward(const ForwardStep<T>& s) const {
    const int H = s.H;
    s.recurrentProduct(s.GH);
    if (full()) s.product(3 * H, s.row(s.cp, s.b0), s.P, s.PT, s.PP, 3 * H, 0, s.tmp2 + (size_t)s.b0 * 3 * H, 3 * H);
    const T* peep = diag() ? s.P : nullptr;
    s.eachRow([&](int b) {
      const T* fullq = full() ? s.tmp2 + (size_t)b * 3 * H : nullptr;
      cells::fast::lstmForward(H, s.gates(b), s.q(b), s.bhh, s.row(s.cp, b), peep, fullq, s.row(s.cc, b),
                               s.row(s.tc, b), s.row(s.hc, b));
    });
  }
  template <class T>
  void backward(const BackwardStep<T>& s) const {
    const int H = s.H;
    const T* peep = diag() ? s.P : nullptr;
    s.eachRow([&](int b) {
      cells::fast::lstmBackward(H, s.gates(b), s.row(s.cp, b), s.row(s.cc, b), s.row(s.tc, b), s.row(s.dh, b),
                                s.row(s.dc, b), peep, s.g(b), s.row(s.dcn, b), s.row(s.dhn, b), s.dP);
    });
    if (full()) {  // dc<t-1> += [di, df] P_if + do P_o
      const T* dxm = s.g(s.b0);
      s.product(H, 2 * H, dxm, s.GH, s.P, H, s.row(s.dcn, s.b0), H, true);
      s.product(H, H, dxm + 3 * H, s.GH, s.P + (size_t)2 * H * H, H, s.row(s.dcn, s.b0), H, true);
    }
    s.recurrentProduct(s.dx, s.GH);
  }
  template <class T>
  void weightGrads(const WeightGrads<T>& w) const {
    PlainRecurrentWeights::weightGrads(w);
    if (!full()) return;  // the diagonal peepholes' gradient is summed by the gate kernels
    const int H = w.H;
    w.gemm(2 * H, H, w.dxp, w.GH, w.cprev, w.dP);
    w.gemm(H, H, w.dxp + 3 * H, w.GH, w.cprev, w.dP + (size_t)2 * H * H);
  }
};

// The minimal GRU (one update gate u, candidate c~ from h<t-1>).
struct GruMinimalCell : PlainRecurrentWeights {
  static constexpr bool kCellState = false, kAux = false, kRecurrentGrad = false;
  template <class T>
  void forward(const ForwardStep<T>& s) const {
    s.recurrentProduct(s.GH);
    s.eachRow(
        [&](int b) { cells::fast::gruMinimalForward(s.H, s.gates(b), s.q(b), s.bhh, s.row(s.hp, b), s.row(s.hc, b)); });
  }
  template <class T>
  void backward(const BackwardStep<T>& s) const {
    s.eachRow([&](int b) {
      cells::fast::gruMinimalBackward(s.H, s.gates(b), s.row(s.hp, b), s.row(s.dh, b), s.g(b), s.row(s.dhn, b));
    });
    s.recurrentProduct(s.dx, s.GH);
  }
};

// PyTorch's GRU: the reset gate applied after the product, n = tanh(a_n + r * (W_hn h + b_hn)).
// The recurrent side has its own pre-activation gradient (dhh), since r scales only it.
struct GruAfterCell : PlainRecurrentWeights {
  static constexpr bool kCellState = false, kAux = true, kRecurrentGrad = true;
  template <class T>
  void forward(const ForwardStep<T>& s) const {
    s.recurrentProduct(s.GH);
    // aux: W_hn h<t-1> + b_hn; zero on rows past their length
    for (int b = s.b0; b < s.b1; ++b)
      if (!s.active(b)) std::fill(s.row(s.aux, b), s.row(s.aux, b) + s.H, T(0));
    s.eachRow([&](int b) {
      cells::fast::gruAfterForward(s.H, s.gates(b), s.q(b), s.bhh, s.row(s.hp, b), s.row(s.aux, b), s.row(s.hc, b));
    });
  }
  template <class T>
  void backward(const BackwardStep<T>& s) const {
    s.eachRow([&](int b) {
      cells::fast::gruAfterBackward(s.H, s.gates(b), s.row(s.aux, b), s.row(s.hp, b), s.row(s.dh, b), s.g(b),
                                    s.dhh + (size_t)b * s.GH, s.row(s.dhn, b));
    });
    s.recurrentProduct(s.dhh, s.GH);
  }
};

// The GRU of the course (Cho et al.): the reset gate before the product,
// n = tanh(a_n + W_hn (r * h<t-1>) + b_hn). Two recurrent products a step: [r, z]
// from h<t-1>, then n's from r * h<t-1> (kept in aux for the weight gradient).
struct GruBeforeCell {
  static constexpr bool kCellState = false, kAux = true, kRecurrentGrad = false;
  template <class T>
  void forward(const ForwardStep<T>& s) const {
    const int H = s.H, GH = s.GH;
    s.recurrentProduct(2 * H);
    for (int b = s.b0; b < s.b1; ++b) {
      if (s.active(b)) cells::fast::gruBeforeGates(H, s.gates(b), s.q(b), s.bhh, s.row(s.hp, b), s.row(s.aux, b));
      else std::fill(s.row(s.aux, b), s.row(s.aux, b) + H, T(0));
    }
    s.product(H, s.row(s.aux, s.b0), s.Whh, s.WhhT, s.WhhP, GH, 2 * H, s.tmp + (size_t)s.b0 * GH + 2 * H, GH);
    s.eachRow([&](int b) {
      cells::fast::gruBeforeOutput(H, s.gates(b), s.q(b) + 2 * H, s.bhh + 2 * H, s.row(s.hp, b), s.row(s.hc, b));
    });
  }
  // dn and dz, then d(r * h<t-1>) = dn W_hn, then dr.
  template <class T>
  void backward(const BackwardStep<T>& s) const {
    const int H = s.H, GH = s.GH;
    s.eachRow([&](int b) {
      cells::fast::gruBeforeBackwardOutput(H, s.gates(b), s.row(s.hp, b), s.row(s.dh, b), s.g(b), s.row(s.dhn, b));
    });
    s.product(H, H, s.g(s.b0) + 2 * H, GH, s.Whh + (size_t)2 * H * H, H, s.row(s.tmp, s.b0), H, false);
    for (int b = s.b0; b < s.b1; ++b)
      if (s.active(b))
        cells::fast::gruBeforeBackwardGates(H, s.gates(b), s.row(s.hp, b), s.row(s.tmp, b), s.g(b), s.row(s.dhn, b));
    s.recurrentProduct(s.dx, 2 * H);
  }
  // dW_hr, dW_hz from h<t-1>; dW_hn from r * h<t-1>.
  template <class T>
  void weightGrads(const WeightGrads<T>& w) const {
    const int H = w.H;
    w.gemm(2 * H, H, w.dxp, w.GH, w.hprev, w.dWhh);
    w.gemm(H, H, w.dxp + 2 * H, w.GH, w.aux, w.dWhh + (size_t)2 * H * H);
  }
};

// Calls f with the cell `s` describes (one instantiation of f per cell).
template <class F>
decltype(auto) withCell(const LayerSpec& s, F&& f) {
  switch (s.type) {
    case LayerType::Rnn: return f(RnnCell{{}, s.activation == Activation::Relu});
    case LayerType::Lstm: return f(LstmCell{{}, s.peephole});
    case LayerType::Gru:
      if (s.gruMinimal) return f(GruMinimalCell{});
      if (s.resetAfter) return f(GruAfterCell{});
      return f(GruBeforeCell{});
    default: throwRange("not a recurrent layer");
  }
}

}  // namespace rnnkit
